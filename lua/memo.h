/* The name memo: `servos ps`, `logs`, `down`... typed in a stack's
 * directory need only the stack's name, and evaluating the Envirofile for
 * it was most of their time. Each evaluation of one file whose inputs were
 * all recorded (lua/inputs.h) leaves <state root>/memo/<hash of the file's
 * absolute path>: the name, and the files and variables it read with a
 * hash of each. The memo answers only while every one of them is as it
 * was; otherwise the file is evaluated again (and the memo rewritten). */
#ifndef SV_MEMO_H
#define SV_MEMO_H

#include "lua/inputs.h"

/* Best effort: a memo that cannot be written is only a slower next time. */
void sv_memo_save(const char *abs_path, const char *stack, const struct sv_inputs *in);
/* The stack name abs_path evaluates to, or NULL (no memo, or a stale one). */
char *sv_memo_stack(const char *abs_path);

#endif
