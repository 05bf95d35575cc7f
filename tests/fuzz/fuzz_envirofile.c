/* libFuzzer target: the Envirofile front (sandboxed Lua evaluation, DSL,
 * graph validation). make fuzz runs it. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one(data, size, "lua");
}
