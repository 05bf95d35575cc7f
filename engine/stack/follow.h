/* Following a stack's logs: every replica's log files (across their
 * rotations) printed to stdout as "service-N | line", for `servos logs`
 * and an attached `servos up`. */
#ifndef SV_STACK_FOLLOW_H
#define SV_STACK_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>

struct sv_follow;

/* The logs of stack's replicas: all, or those of service or replica only
 * (SERVICE or SERVICE-N). colour: prefixes in a colour per service;
 * timestamps: each line after the time it arrived. Never NULL. */
struct sv_follow *sv_follow_open(const char *stack, const char *only, bool colour, bool timestamps);
/* How many replicas' logs it follows (0: none matched, or none is up). */
size_t sv_follow_count(const struct sv_follow *f);
/* Start each log tail lines before its end (see sv_log_reader_seek). */
void sv_follow_seek(struct sv_follow *f, long tail);
/* Print the complete lines each log has gained since the last call. */
void sv_follow_print(struct sv_follow *f);
void sv_follow_free(struct sv_follow *f);
static inline void sv_follow_freep(struct sv_follow **f)
{
    sv_follow_free(*f);
}
#define cleanup_follow __attribute__((cleanup(sv_follow_freep)))

#endif
