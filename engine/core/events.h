/* What happened: containers created, started, dead (with their exit code,
 * an OOM kill), healthy or not, restarted, removed; stacks applied and
 * taken down; images pulled and removed. Kept in the state store (its
 * events table, core/store.c), in order, each with an id no other event
 * ever gets, so a reader that saw up to id N asks for what came after
 * (`servos serve`'s /v1/events, resumed with Last-Event-ID). Containers'
 * events are written by the store itself (triggers); the others by
 * whoever knows them, through sv_events_add. About the last 10,000 are
 * kept. */
#ifndef SV_EVENTS_H
#define SV_EVENTS_H

#include "core/store.h"

#include <stdint.h>

struct sv_event {
    int64_t id;
    int64_t time; /* unix ms */
    const char *type;
    /* Each NULL (or -1 for numbers) when the event has none. */
    const char *container, *name, *stack, *service;
    int replica;
    int exit_code, oom, restarts;
    const char *health, *detail;
};

/* Record an event of type about stack (may be NULL), with detail (a
 * short text, or NULL). st NULL: the store opened just for it. Best
 * effort: an event that cannot be written is not worth failing the work
 * it tells of, so errors are only returned. */
int sv_events_add(struct sv_store *st, const char *type, const char *stack, const char *detail,
                  sv_error_t *err);
/* The id of the latest event (0: none yet). */
int sv_events_last(struct sv_store *st, int64_t *id, sv_error_t *err);
/* The id of the oldest event still kept (0: none). */
int sv_events_first(struct sv_store *st, int64_t *id, sv_error_t *err);
/* Hand fn the events after id `after`, oldest first, at most limit of
 * them; the event's strings live until fn returns. Returns how many, or
 * -1. */
int sv_events_since(struct sv_store *st, int64_t after, int limit,
                    void (*fn)(void *ud, const struct sv_event *e), void *ud, sv_error_t *err);

#endif
