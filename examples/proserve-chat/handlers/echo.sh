# One JSON message a line in, one a line out: each message back as it came.
while read -r line; do
    printf '%s\n' "$line"
done
