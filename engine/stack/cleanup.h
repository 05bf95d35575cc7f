/* Cleanup attributes (core/util.h's idiom) for resources of lower folders
 * and libraries that declare none of their own yet: a store row, a graph,
 * a jansson value, a directory stream. Each gives way to one its owner declares, so this file can
 * go once they do. */
#ifndef SV_STACK_CLEANUP_H
#define SV_STACK_CLEANUP_H

#include "core/store.h"
#include "graph/graph.h"

#include <dirent.h>
#include <jansson.h>

#ifndef cleanup_row
#define cleanup_row __attribute__((cleanup(sv_ctr_row_clear)))
#endif

#ifndef cleanup_graph
static inline void sv_cleanup_graph(struct sv_graph **g)
{
    sv_graph_free(*g);
}
#define cleanup_graph __attribute__((cleanup(sv_cleanup_graph)))
#endif

#ifndef cleanup_json
static inline void sv_cleanup_json(json_t **j)
{
    json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(sv_cleanup_json)))
#endif

#ifndef cleanup_dir
static inline void sv_cleanup_dir(DIR **d)
{
    if (*d)
        closedir(*d);
}
#define cleanup_dir __attribute__((cleanup(sv_cleanup_dir)))
#endif

#endif
