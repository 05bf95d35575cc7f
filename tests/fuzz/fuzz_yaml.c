/* libFuzzer target: the YAML front (libyaml -> Lua, Compose and ProServe
 * mappings, graph validation). make fuzz runs it. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one(data, size, "yaml");
}
