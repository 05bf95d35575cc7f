/* Shared body of the libFuzzer targets: write the input to a file with the
 * right extension and run the whole front (parse, evaluate, validate). */
#include "graph/graph.h"
#include "lua/sandbox.h"
#include "lua/load.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int fuzz_one(const uint8_t *data, size_t size, const char *ext)
{
    static char path[64];
    if (path[0] == '\0') {
        snprintf(path, sizeof(path), "/tmp/servos-fuzz-%d.%s", (int)getpid(), ext);
        sv_lua_instruction_limit = 2000000; /* loops end fast */
        sv_lua_memory_limit = 64u << 20;
        sv_lua_warnings = false; /* print() and io.write still reach stderr */
    }
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    sv_error_t err = NULL;
    struct sv_graph *g = NULL;
    if (sv_load_graph(path, NULL, &g, &err) == 0) {
        FILE *null = fopen("/dev/null", "w");
        sv_graph_json_print(g, null);
        fclose(null);
        sv_graph_free(g);
    }
    sv_error_free(&err);
    return 0;
}
