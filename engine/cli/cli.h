/* The command line: one function per verb, each with its own --help. The
 * CLI parses, calls the engine, prints; no engine logic lives here.
 * cli_verbs.c holds the table of verbs, cli_usage.c finds one and says
 * how it is used, main.c reads the global options and dispatches. */
#ifndef SV_CLI_H
#define SV_CLI_H

#include "core/util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct sv_verb {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage; /* full --help text */
};

/* cli_usage.c: true when argv holds -h or --help (before a "--"). */
bool sv_cli_wants_help(int argc, char **argv);
/* Print usage to stdout (help), or its first line to stderr (misuse);
 * returns the exit code. */
int sv_cli_usage(const struct sv_verb *v, bool error);
/* A misuse in one line: "servos VERB: WHAT; usage: ..." (what is wrong,
 * then what to type); returns 2. */
int sv_cli_misuse(const struct sv_verb *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same for what getopt_long just refused: c is its '?' or ':' (an
 * optstring that starts with "+:" tells a missing value apart). */
int sv_cli_bad_option(const struct sv_verb *v, int c, char **argv);
/* Its WHAT alone ("unknown option "--x"", "-t needs a value"), to free. */
char *sv_cli_option_error(int c, char **argv);
/* What a verb does with one of its options: set it in args; -1 refuses
 * the value ("bad value for --NAME"), -2 when it said what is wrong. */
typedef int sv_cli_opt_fn(void *args, int c, const char *arg);
struct option;
/* A verb's options, each handed to on with args; -h/--help prints its
 * usage; an unknown option, a missing value or a refused one is said in
 * one line (shortopts starts with "+:"). Returns optind, or -1 when the
 * verb ends here with the exit code in *code. */
int sv_cli_parse_opts(const struct sv_verb *v, int argc, char **argv, const char *shortopts,
                      const struct option *longopts, sv_cli_opt_fn *on, void *args, int *code);

/* main.c: our stdout and stderr, where they are a terminal, made
 * write-only (before a container is given them). */
void sv_main_stdio_writeonly(void);

/* The verbs, each in the cli_*.c its name says. */
int sv_cmd_config(int argc, char **argv);
int sv_cmd_detect(int argc, char **argv);
int sv_cmd_list_platforms(int argc, char **argv);
int sv_cmd_version(int argc, char **argv);
int sv_cmd_run(int argc, char **argv);
int sv_cmd_ls(int argc, char **argv);
int sv_cmd_stop(int argc, char **argv);
int sv_cmd_rm(int argc, char **argv);
int sv_cmd_logs(int argc, char **argv);
int sv_cmd_exec(int argc, char **argv);
int sv_cmd_up(int argc, char **argv);
int sv_cmd_apply(int argc, char **argv);
int sv_cmd_down(int argc, char **argv);
int sv_cmd_ps(int argc, char **argv);
int sv_cmd_scale(int argc, char **argv);
int sv_cmd_restart(int argc, char **argv);
int sv_cmd_pull(int argc, char **argv);
int sv_cmd_proserve_host(int argc, char **argv);
int sv_cmd_proserve_lua(int argc, char **argv);
int sv_cmd_image(int argc, char **argv);
int sv_cmd_export(int argc, char **argv);
/* servos' version (cli_version.c). */
extern const char sv_cli_version[];
int sv_cmd_build(int argc, char **argv);
int sv_cmd_serve(int argc, char **argv);
/* servos completion bash (cli_completion.c) and servos help --man
 * (cli_man.c), both written from what --help prints; main_usage prints
 * the main help. servos __complete KIND (cli_complete_names.c): the names
 * the completion offers. */
int sv_cmd_completion(int argc, char **argv);
int sv_man_print(void (*main_usage)(FILE *out));
int sv_cmd_complete(int argc, char **argv);
/* Stack parts of logs and exec (cli_stack.c). */
int sv_cli_stack_logs(const char *project, const char *only, bool follow, long tail,
                      bool timestamps);
char *sv_cli_stack_replica_ref(const char *project, const char *ref);
/* ref names no container: say why in one line (no such stack, no stack
 * here to look for a service in, or which replicas the stack has). */
void sv_cli_stack_say_missing(const char *verb, const char *project, const char *ref);

extern const struct sv_verb sv_verbs[];
extern const size_t sv_verb_count;
const struct sv_verb *sv_cli_find(const char *name);

#endif
