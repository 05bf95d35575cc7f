/* `servos completion bash`: the bash completion script, written from the
 * text each `servos VERB --help` prints (cli_compspec.h), so an option
 * documented there completes with nothing else to keep in step. Names
 * (containers, stacks, services, images) come at each <TAB> from the
 * hidden `servos __complete` (cli_complete_names.c). */
#include "cli/cli.h"
#include "cli/cli_compspec.h"
#include "cli/cli_helptext.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* The script's part that never changes: how a command line is read and
 * what each kind of argument completes with. */
static const char completion_body[] =
    "# The words of $1 that start with what is being completed.\n"
    "_servos_add()\n"
    "{\n"
    "    local IFS=$' \\t\\n' w\n"
    "    local -a ws\n"
    "    read -r -d '' -a ws <<<\"$1\"\n"
    "    for w in \"${ws[@]}\"; do\n"
    "        [[ $w == \"$_servos_cur\"* ]] && COMPREPLY+=(\"$w\")\n"
    "    done\n"
    "    return 0\n"
    "}\n"
    "\n"
    "_servos_files()\n"
    "{\n"
    "    local -a fs\n"
    "    compopt -o filenames 2>/dev/null\n"
    "    mapfile -t fs < <(compgen -f -- \"$_servos_cur\")\n"
    "    COMPREPLY+=(\"${fs[@]}\")\n"
    "}\n"
    "\n"
    "# Names the state holds now: containers, stacks, services [STACK], images.\n"
    "_servos_names()\n"
    "{\n"
    "    \"${_servos_cmd[@]}\" __complete \"$@\" 2>/dev/null\n"
    "}\n"
    "\n"
    "# Complete one argument of the kinds in $1 (comma-separated).\n"
    "_servos_kind()\n"
    "{\n"
    "    local k s IFS=$' \\t\\n'\n"
    "    for k in ${1//,/ }; do\n"
    "        case $k in\n"
    "        files) _servos_files ;;\n"
    "        image)\n"
    "            _servos_add host\n"
    "            _servos_add \"$(_servos_names images)\"\n"
    "            _servos_files\n"
    "            ;;\n"
    "        containers | stacks | images) _servos_add \"$(_servos_names \"$k\")\" ;;\n"
    "        services) _servos_add \"$(_servos_names services \"$_servos_stack\")\" ;;\n"
    "        services=)\n"
    "            for s in $(_servos_names services \"$_servos_stack\"); do\n"
    "                [[ $s= == \"$_servos_cur\"* ]] && COMPREPLY+=(\"$s=\")\n"
    "            done\n"
    "            compopt -o nospace 2>/dev/null\n"
    "            ;;\n"
    "        esac\n"
    "    done\n"
    "    return 0\n"
    "}\n"
    "\n"
    "# Sets _servos_k: the kinds the argument at index $1 takes ($pos).\n"
    "_servos_at()\n"
    "{\n"
    "    local IFS=$' \\t\\n'\n"
    "    local -a p=($pos)\n"
    "    local n=${#p[@]}\n"
    "    _servos_k=\n"
    "    if (($1 < n)); then\n"
    "        _servos_k=${p[$1]}\n"
    "    elif ((n > 0)) && [[ ${p[n - 1]} == *+ ]]; then\n"
    "        _servos_k=${p[n - 1]}\n"
    "    fi\n"
    "    _servos_k=${_servos_k%+}\n"
    "}\n"
    "\n"
    "# Readline replaces only what follows the last word-break character (\":\"\n"
    "# in alpine:3.20, \"=\" in --network=host): the candidates lose that prefix.\n"
    "_servos_trim()\n"
    "{\n"
    "    local wb=${COMP_WORDBREAKS-$' \\t\\n\"\\'@><=;|&(:'} pre= k\n"
    "    for ((k = 0; k < ${#_servos_cur}; k++)); do\n"
    "        [[ $wb == *\"${_servos_cur:k:1}\"* ]] && pre=${_servos_cur:0:k+1}\n"
    "    done\n"
    "    [[ -n $pre ]] && COMPREPLY=(\"${COMPREPLY[@]#\"$pre\"}\")\n"
    "    return 0\n"
    "}\n"
    "\n"
    "_servos()\n"
    "{\n"
    "    local IFS=$' \\t\\n' _servos_cur _servos_stack= _servos_want= _servos_k= line\n"
    "    local verb= sub= npos=0 i w n opts= argopts= stackopts= subs= pos=\n"
    "    local -a words _servos_cmd\n"
    "    COMPREPLY=()\n"
    "    # The line up to the cursor, split at blanks only (bash's own words\n"
    "    # also split at \":\" and \"=\").\n"
    "    if [[ -n ${COMP_LINE+set} && -n ${COMP_POINT+set} ]]; then\n"
    "        line=${COMP_LINE:0:COMP_POINT}\n"
    "        read -r -a words <<<\"$line\"\n"
    "        [[ -z $line || $line == *[[:space:]] ]] && words+=(\"\")\n"
    "    else\n"
    "        words=(\"${COMP_WORDS[@]:0:COMP_CWORD+1}\")\n"
    "    fi\n"
    "    n=$((${#words[@]} - 1))\n"
    "    ((n >= 1)) || return 0\n"
    "    _servos_cur=${words[n]}\n"
    "    _servos_cmd=(\"${words[0]}\")\n"
    "    for ((i = 1; i < n; i++)); do\n"
    "        w=${words[i]}\n"
    "        if [[ -z $verb ]]; then\n"
    "            case $w in\n"
    "            --root)\n"
    "                if ((i + 1 < n)); then\n"
    "                    _servos_cmd+=(--root \"${words[i + 1]}\")\n"
    "                    ((i++))\n"
    "                else\n"
    "                    _servos_want=--root\n"
    "                fi\n"
    "                ;;\n"
    "            --root=*) _servos_cmd+=(\"$w\") ;;\n"
    "            -*) ;;\n"
    "            *)\n"
    "                verb=$w\n"
    "                _servos_spec \"$verb\"\n"
    "                ;;\n"
    "            esac\n"
    "            continue\n"
    "        fi\n"
    "        case $w in\n"
    "        --*=*) [[ \" $stackopts \" == *\" ${w%%=*} \"* ]] && _servos_stack=${w#*=} ;;\n"
    "        -?*)\n"
    "            if [[ \" $argopts \" == *\" $w \"* ]]; then\n"
    "                if ((i + 1 < n)); then\n"
    "                    [[ \" $stackopts \" == *\" $w \"* ]] && _servos_stack=${words[i + 1]}\n"
    "                    ((i++))\n"
    "                else\n"
    "                    _servos_want=$w\n"
    "                fi\n"
    "            fi\n"
    "            ;;\n"
    "        *)\n"
    "            if [[ -n $subs && -z $sub ]]; then\n"
    "                sub=$w\n"
    "                _servos_spec \"$verb $sub\"\n"
    "            else\n"
    "                # After the command a container runs, the words are its own.\n"
    "                _servos_at \"$npos\"\n"
    "                [[ $_servos_k == command ]] && return 0\n"
    "                ((npos++))\n"
    "            fi\n"
    "            ;;\n"
    "        esac\n"
    "    done\n"
    "    if [[ -z $verb ]]; then\n"
    "        if [[ $_servos_want == --root ]]; then\n"
    "            _servos_files\n"
    "        elif [[ $_servos_cur == -* ]]; then\n"
    "            _servos_add \"$_servos_global\"\n"
    "        else\n"
    "            _servos_add \"$_servos_verbs\"\n"
    "        fi\n"
    "    elif [[ -n $_servos_want ]]; then\n"
    "        _servos_value \"$verb\" \"$_servos_want\"\n"
    "    elif [[ $_servos_cur == --*=* ]]; then\n"
    "        w=${_servos_cur%%=*}\n"
    "        _servos_cur=${_servos_cur#*=}\n"
    "        [[ \" $argopts \" == *\" $w \"* ]] && _servos_value \"$verb\" \"$w\"\n"
    "    else\n"
    "        _servos_at \"$npos\"\n"
    "        if [[ $_servos_k == command ]]; then\n"
    "            return 0\n"
    "        elif [[ $_servos_cur == -* ]]; then\n"
    "            _servos_add \"$opts\"\n"
    "        elif [[ -n $subs && -z $sub ]]; then\n"
    "            _servos_add \"$subs\"\n"
    "        else\n"
    "            _servos_kind \"$_servos_k\"\n"
    "        fi\n"
    "    fi\n"
    "    _servos_trim\n"
    "}\n"
    "\n"
    "complete -F _servos servos\n";

/* What main() reads before the verb, whatever the verbs' help says. */
static const char global_options[] = "--root --help -h --version -V";

static void emit_list(FILE *out, const char *var, const char *list)
{
    fprintf(out, "        %s='%s'\n", var, list ? list : "");
}

/* The case entries of _servos_value for one verb: an option's choices, or
 * the kind of name its value is. */
static void emit_values(FILE *out, const char *verb, const struct sv_compspec *cv)
{
    for (size_t i = 0; i < cv->n_o; i++) {
        const struct sv_compspec_opt *o = &cv->o[i];
        if (o->arg == NULL)
            continue;
        const char *kind = strstr(o->names, "--project-name") ? "stacks"
                           : sv_helptext_has_upper(o->arg, strlen(o->arg))
                               ? sv_compspec_kind(o->arg, strlen(o->arg), false)
                               : "none";
        if (o->values[0] == '\0' && strcmp(kind, "none") == 0)
            continue;
        fputs("    ", out);
        bool first = true;
        for (const char *s = o->names; *s;) {
            size_t k = strcspn(s, " ");
            fprintf(out, "%s'%s %.*s'", first ? "" : " | ", verb, (int)k, s);
            first = false;
            s += k + (s[k] == ' ');
        }
        fputs(")", out);
        if (o->values[0])
            fprintf(out, " _servos_add '%s'%s", o->values, strcmp(kind, "none") ? ";" : "");
        if (strcmp(kind, "none") != 0)
            fprintf(out, " _servos_kind %s", kind);
        fputs(" ;;\n", out);
    }
}

/* The _servos_spec case entries of one verb: its options, those that take
 * a value and those whose value is a stack, its sub-commands, and what
 * each argument takes (for the verb alone and for each sub-command). */
static void emit_spec(FILE *out, const char *name, const struct sv_compspec *cv)
{
    cleanup_free char *opts = NULL;
    cleanup_free char *argopts = NULL;
    cleanup_free char *stackopts = NULL;
    for (size_t k = 0; k < cv->n_o; k++) {
        const struct sv_compspec_opt *o = &cv->o[k];
        sv_compspec_list_add(&opts, o->names, strlen(o->names));
        if (o->arg)
            sv_compspec_list_add(&argopts, o->names, strlen(o->names));
        if (o->arg && (strstr(o->names, "--project-name") ||
                       strcmp(sv_compspec_kind(o->arg, strlen(o->arg), false), "stacks") == 0))
            sv_compspec_list_add(&stackopts, o->names, strlen(o->names));
    }
    const char *pos = "";
    for (size_t k = 0; k < cv->n_l; k++)
        if (cv->l[k].sub == NULL)
            pos = cv->l[k].pos;
    fprintf(out, "    '%s')\n", name);
    emit_list(out, "opts", opts);
    emit_list(out, "argopts", argopts);
    emit_list(out, "stackopts", stackopts);
    emit_list(out, "subs", cv->subs);
    emit_list(out, "pos", pos);
    fputs("        ;;\n", out);
    for (size_t k = 0; k < cv->n_l; k++)
        if (cv->l[k].sub)
            fprintf(out, "    '%s %s') pos='%s' ;;\n", name, cv->l[k].sub, cv->l[k].pos);
}

static int completion_bash(void)
{
    FILE *out = stdout;
    struct sv_compspec *cvs = sv_xcalloc(sv_verb_count, sizeof(*cvs));
    cleanup_free char *verbs = NULL;
    for (size_t i = 0; i < sv_verb_count; i++) {
        const char *name = sv_verbs[i].name;
        if (!sv_compspec_shell_safe(name))
            continue;
        cleanup_free char *text = sv_helptext_read(&sv_verbs[i]);
        struct sv_helptext h;
        sv_helptext_parse(text, &h);
        sv_compspec_parse(&cvs[i], name, &h);
        sv_helptext_free(&h);
        sv_compspec_list_add(&verbs, name, strlen(name));
    }
    sv_compspec_list_add(&verbs, "help", 4);

    fputs("# bash completion for servos(1), written by `servos completion bash` from\n"
          "# the text each command's --help prints: the verbs, their options and the\n"
          "# options' choices. Container, stack, service and image names come from\n"
          "# `servos __complete` at each <TAB>. Load it with\n"
          "#   source <(servos completion bash)\n"
          "# or install it as share/bash-completion/completions/servos (make install).\n"
          "\n",
          out);
    fprintf(out, "_servos_verbs='%s'\n", verbs);
    fprintf(out, "_servos_global='%s'\n\n", global_options);
    fputs("# Sets opts, argopts (those that take a value), stackopts (whose value is\n"
          "# a stack), subs (sub-commands) and pos (what each argument takes) for\n"
          "# \"VERB\" or \"VERB SUB-COMMAND\".\n"
          "_servos_spec()\n{\n    case $1 in\n",
          out);
    for (size_t i = 0; i < sv_verb_count; i++)
        if (sv_compspec_shell_safe(sv_verbs[i].name))
            emit_spec(out, sv_verbs[i].name, &cvs[i]);
    fputs("    'help')\n", out);
    emit_list(out, "opts", "--man");
    fputs("        subs=$_servos_verbs\n        ;;\n    esac\n}\n\n", out);

    fputs("# Completes the value of option $2 of verb $1.\n"
          "_servos_value()\n{\n    case \"$1 $2\" in\n",
          out);
    for (size_t i = 0; i < sv_verb_count; i++)
        if (sv_compspec_shell_safe(sv_verbs[i].name))
            emit_values(out, sv_verbs[i].name, &cvs[i]);
    fputs("    esac\n    return 0\n}\n\n", out);
    fputs(completion_body, out);

    for (size_t i = 0; i < sv_verb_count; i++)
        sv_compspec_free(&cvs[i]);
    free(cvs);
    return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}

int sv_cmd_completion(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("completion");
    if (sv_cli_wants_help(argc, argv))
        return sv_cli_usage(v, false);
    if (argc > 1 && argv[1][0] == '-')
        return sv_cli_misuse(v, "unknown option \"%s\"", argv[1]);
    if (argc != 2 || strcmp(argv[1], "bash") != 0)
        return sv_cli_misuse(v, "which shell? only bash is known");
    return completion_bash();
}
