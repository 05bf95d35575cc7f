#!/bin/sh
# The C unit tests (cmocka), in TAP for prove; the ASan build when present.
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/tests/test_parsers
[ -x "$root/build-asan/tests/test_parsers" ] && bin=$root/build-asan/tests/test_parsers
CMOCKA_MESSAGE_OUTPUT=TAP exec "$bin"
