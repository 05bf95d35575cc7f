#include "cli.h"
int sv_cmd_detect(int argc, char **argv) { (void)argc; (void)argv; return 1; }
int sv_cmd_list_platforms(int argc, char **argv) { (void)argc; (void)argv; return 1; }
