#!/bin/sh
# The C unit tests (cmocka), in TAP for prove; the ASan build when present.
# One unit-test binary per .t file: tests/1N-unit-NAME.t runs test_NAME.
root=$(cd "$(dirname "$0")/.." && pwd)
name=$(basename "$0" .t)
name=${name#*-unit-}
bin=$root/build/tests/test_$name
[ -x "$root/build-asan/tests/test_$name" ] && bin=$root/build-asan/tests/test_$name
CMOCKA_MESSAGE_OUTPUT=TAP exec "$bin"
