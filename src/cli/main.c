#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static void print_usage(void) {
    printf("usage: mnist-cl [--platform P] [--device D] COMMAND [options]\n"
           "\n"
           "Train neural networks on MNIST-class IDX data on any OpenCL device.\n"
           "\n"
           "commands:\n"
           "  devices    list OpenCL platforms and devices (--json, --check)\n"
           "  models     list the built-in models and their default recipes\n"
           "  summary    print a model's layers, output shapes and parameter counts\n"
           "  train      train a model, validate each epoch, evaluate on the test set\n"
           "  eval       evaluate a checkpoint: accuracy, precision/recall, confusion matrix\n"
           "  predict    classify PNG/PGM images (or IDX entries) with a checkpoint\n"
           "  plot       draw a training history's loss and accuracy curves (PNG or SVG)\n"
           "  export     write a checkpoint's weights as ONNX or NumPy .npz\n"
           "  info       show a checkpoint's model, recipe, data, history and test metrics\n"
           "  bench      speed and memory of each model on the device, against its SGEMM ceiling\n"
           "  tune       search CLBlast's GEMM parameters for the device and keep the best\n"
           "  help       show this help\n"
           "\n"
           "global options (before or after the command):\n"
           "  --platform P   OpenCL platform index (see 'mnist-cl devices')\n"
           "  --device D     device index within the platform\n"
           "  --version      print the version\n"
           "\n"
           "Default device: the first GPU of any platform, else the first device.\n"
           "'mnist-cl COMMAND --help' describes each command.\n"
           "\n"
           "environment:\n"
           "  MNIST_CL_DATA        default --data folder (else ./data/mnist, else\n"
           "                       ~/.local/share/mnist-cl/mnist, linked there by tools/setup,\n"
           "                       else Keras's ~/.keras/datasets/mnist.npz)\n"
           "  KERAS_HOME           where Keras keeps datasets/mnist.npz (default ~/.keras)\n"
           "  MNIST_CL_GEMM        clblast|tiled: who multiplies matrices (default: mnist-cl's\n"
           "                       tiled kernels on CPU devices, CLBlast on the others)\n"
           "  MNIST_CL_CACHE=0     do not read or write the compiled-kernel cache\n"
           "  MNIST_CL_CACHE_DIR   where that cache lives (else ~/.cache/mnist-cl)\n"
           "  MNIST_CL_TUNING=0    ignore a stored 'tune' result\n"
           "  MNIST_CL_FUSE=0      run BatchNorm and a following ReLU as two steps\n"
           "  MNIST_CL_PLATFORM, MNIST_CL_DEVICE\n"
           "                       the default device when --platform/--device are not given\n"
           "  MNIST_CL_DEVICE_CAPS limits below the device's, and another device class's kernel\n"
           "                       shapes: work_group=64,local_mem=16384,vector_width=8,\n"
           "                       class=cpu16|cpu8|cpu4|simt (what the tests use)\n"
           "\n" CLI_EXIT_CODES_HELP "\n");
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    cli_global g = {.platform = -1, .device = -1, .start_seconds = cli_now()};
#ifdef SIGXFSZ
    /* Over the file size limit (ulimit -f) a write then fails with EFBIG, which every writer
     * reports naming the file and cleans up after, instead of the signal killing the process
     * and leaving its temporary file behind. */
    signal(SIGXFSZ, SIG_IGN);
#endif
    int n = argc - 1;
    char **args = argv + 1;
    if (!cli_take_globals(&n, args, &g)) return CLI_EXIT_USAGE;
    if (n == 0) {
        print_usage();
        return CLI_EXIT_USAGE;
    }
    const char *cmd = args[0];
    char help_flag[] = "--help";
    char *help_args[] = {NULL, help_flag};
    if (strcmp(cmd, "help") == 0 && n >= 2) {
        /* mnist-cl help train: the command's own help, as git does. */
        cmd = args[1];
        help_args[0] = args[1];
        args = help_args;
        n = 2;
    } else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        print_usage();
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("mnist-cl %s\n", MCL_VERSION);
        return CLI_EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*run)(const cli_global *, int, char **);
    } commands[] = {
        {"devices", cmd_devices}, {"models", cmd_models}, {"summary", cmd_summary},
        {"train", cmd_train},     {"eval", cmd_eval},     {"predict", cmd_predict},
        {"plot", cmd_plot},       {"export", cmd_export}, {"bench", cmd_bench},
        {"tune", cmd_tune},       {"info", cmd_info},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0) {
            int rc = commands[i].run(&g, n - 1, args + 1);
            /* Now, not at exit: the shared libraries' destructors (a driver's, CLBlast's) run
             * before the C library flushes its buffers, and one that fails would lose the
             * last lines a piped stdout holds. */
            fflush(stdout);
            return rc;
        }
    enum { COMMANDS = sizeof commands / sizeof commands[0] };
    const char *names[COMMANDS];
    for (size_t i = 0; i < COMMANDS; i++)
        names[i] = commands[i].name;
    const char *near = cli_closest(cmd, strlen(cmd), names, COMMANDS);
    if (near != NULL)
        cli_error("unknown command '%s'; did you mean '%s'? ('mnist-cl help' lists them)", cmd,
                  near);
    else
        cli_error("unknown command '%s'; run 'mnist-cl help' for the list", cmd);
    return CLI_EXIT_USAGE;
}
