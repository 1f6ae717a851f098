/* mnist-cl plot HISTORY.csv -o OUT.png|OUT.svg [--title T]: a training history's loss and
 * accuracy curves as a picture. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--output", "FILE", "where to draw (also -o); .png (1200x500) or .svg picks the format"},
    {"--title", "T", "the title above the two panels (default: the history's file name)"},
    {"--help", NULL, "show this help"},
};
enum { OPT_OUTPUT, OPT_TITLE, OPT_HELP, OPT_COUNT };

int cmd_plot(const cli_global *g, int argc, char **argv) {
    (void)g; /* no device needed */
    const char *v[OPT_COUNT] = {0};
    const char *pos[1] = {0};
    size_t npos = 0;
    if (!cli_parse_positional("plot", argc, argv, options, OPT_COUNT, v, pos, 1, &npos))
        return CLI_EXIT_USAGE;
    if (v[OPT_HELP]) {
        cli_print_help("mnist-cl plot HISTORY.csv -o OUT.png|OUT.svg [--title T]",
                       "Draw the loss and accuracy curves of a training history (the CSV written "
                       "by 'train --history'), training and, where the run had it, validation, "
                       "in two panels against the epoch. The picture is written atomically.",
                       options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    if (npos != 1 || v[OPT_OUTPUT] == NULL) {
        cli_error("plot needs a history file and an output file: 'mnist-cl plot HISTORY.csv -o "
                  "OUT.png' (see 'mnist-cl plot --help')");
        return CLI_EXIT_USAGE;
    }
    mcl_error err = {0};
    if (mcl_plot_history_titled(pos[0], v[OPT_OUTPUT], v[OPT_TITLE], &err) != MCL_OK)
        return cli_fail(&err);
    printf("Training history drawn to %s\n", v[OPT_OUTPUT]);
    return CLI_EXIT_OK;
}
