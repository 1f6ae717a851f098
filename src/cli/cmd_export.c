/* mnist-cl export CHECKPOINT -o OUT.onnx|OUT.npz: a trained model as ONNX or NumPy weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--output", "FILE", "where to write (also -o); .onnx or .npz picks the format"},
    {"--format", "onnx|npz", "the format, whatever the file is called"},
    {"--logits", NULL,
     "ONNX: end the graph before the softmax, with output 'logits' (class scores) instead of "
     "'probabilities'"},
    {"--help", NULL, "show this help"},
};
enum { OPT_OUTPUT, OPT_FORMAT, OPT_LOGITS, OPT_HELP, OPT_COUNT };

typedef enum export_format { FORMAT_UNKNOWN, FORMAT_ONNX, FORMAT_NPZ } export_format;

static export_format format_named(const char *name) {
    if (strcasecmp(name, "onnx") == 0) return FORMAT_ONNX;
    if (strcasecmp(name, "npz") == 0) return FORMAT_NPZ;
    return FORMAT_UNKNOWN;
}

static export_format format_of_path(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash != NULL ? slash + 1 : path, '.');
    return dot != NULL ? format_named(dot + 1) : FORMAT_UNKNOWN;
}

int cmd_export(const cli_global *g, int argc, char **argv) {
    (void)g; /* no device needed */
    const char *v[OPT_COUNT] = {0};
    const char *pos[1] = {0};
    size_t npos = 0;
    if (!cli_parse_positional("export", argc, argv, options, OPT_COUNT, v, pos, 1, &npos))
        return CLI_EXIT_USAGE;
    if (v[OPT_HELP]) {
        cli_print_help("mnist-cl export CHECKPOINT -o OUT.onnx|OUT.npz [--format onnx|npz] "
                       "[--logits]",
                       "Write a trained model for use elsewhere. ONNX (opset 13): input 'images' "
                       "[N, 1, rows, cols] with pixels scaled to 0..1, output 'probabilities' "
                       "(or 'logits') [N, classes], for any ONNX runtime; its metadata_props "
                       "hold mnist_cl_version, classes, class_names, the run's recipe, seed, "
                       "epochs, history and data, and test_accuracy, test_loss and "
                       "test_samples when the run was evaluated, and the graph's doc string "
                       "describes the run. NPZ: one float32 array per weight tensor in Keras "
                       "layouts ('dense_1/kernel' [in, out], 'conv2d_1/kernel' [KH, KW, C, F], "
                       "'batchnorm_1/moving_mean', ...), each BatchNorm's 'epsilon' and "
                       "'momentum', and the strings 'architecture' (the model text), 'recipe' "
                       "(JSON) and 'class_names', for numpy.load. The file is written "
                       "atomically.",
                       options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    if (npos != 1 || v[OPT_OUTPUT] == NULL) {
        cli_error("export needs a checkpoint and an output file: 'mnist-cl export CHECKPOINT -o "
                  "OUT.onnx' (see 'mnist-cl export --help')");
        return CLI_EXIT_USAGE;
    }
    const char *out = v[OPT_OUTPUT];
    export_format format = FORMAT_UNKNOWN;
    if (v[OPT_FORMAT] != NULL) {
        format = format_named(v[OPT_FORMAT]);
        if (format == FORMAT_UNKNOWN) {
            cli_error("--format: expected onnx or npz, got '%s'", v[OPT_FORMAT]);
            return CLI_EXIT_USAGE;
        }
    } else {
        format = format_of_path(out);
        if (format == FORMAT_UNKNOWN) {
            cli_error("cannot tell the format of '%s' from its name: end it in .onnx or .npz, or "
                      "give --format onnx|npz",
                      out);
            return CLI_EXIT_USAGE;
        }
    }
    if (v[OPT_LOGITS] && format != FORMAT_ONNX) {
        cli_error("--logits applies to ONNX only (the NumPy export holds weights, not a graph)");
        return CLI_EXIT_USAGE;
    }
    mcl_error err = {0};
    mcl_checkpoint *ck = NULL;
    if (mcl_checkpoint_load(pos[0], &ck, &err) != MCL_OK) return cli_fail(&err);
    mcl_onnx_options onnx = {.logits = v[OPT_LOGITS] != NULL};
    mcl_status st = format == FORMAT_ONNX ? mcl_export_onnx_with(ck, out, &onnx, &err)
                                          : mcl_export_npz(ck, out, &err);
    if (st == MCL_OK) {
        uint32_t rows = 0, cols = 0, classes = 0;
        mcl_checkpoint_input(ck, &rows, &cols, &classes);
        if (format == FORMAT_ONNX)
            printf("wrote %s: ONNX opset 13, input images [N, 1, %u, %u], output %s [N, %u]\n",
                   out, rows, cols, onnx.logits ? "logits" : "probabilities", classes);
        else
            printf("wrote %s: the weights as NumPy arrays (Keras layouts)\n", out);
    }
    mcl_checkpoint_free(ck);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}
