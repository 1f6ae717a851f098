/* The model language through the public API: built-ins parse and have the Keras parameter
 * counts, recipes are read, comments and blank lines are allowed, and every kind of mistake is
 * rejected with the right status and a "source:LINE: ..." message naming the problem. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnistcl/mnistcl.h"
#include "test_util.h"

/* MNIST: 28x28 images, 10 classes. */
#define IMG_ROWS 28u
#define IMG_COLS 28u
#define NUM_CLASSES 10u
#define SUMMARY_BYTES (64u * 1024u)


/* Parses `text` as source "test.model" and asserts MCL_ERR_FORMAT with "test.model:LINE:" and
 * `phrase` in the message, and that *out stays NULL. */
static void assert_parse_error(const char *text, unsigned line, const char *phrase) {
    mcl_model *m = (mcl_model *)(uintptr_t)1; /* must be reset to NULL on failure */
    mcl_error err = {0};
    mcl_status st = mcl_model_parse(text, "test.model", &m, &err);
    char where[64];
    snprintf(where, sizeof where, "test.model:%u:", line);
    ck_assert_error(st, err, MCL_ERR_FORMAT, where, phrase);
    ck_assert_ptr_null(m);
}

/* Parses `text`, asserting success; the caller frees the model. */
static mcl_model *parse_ok(const char *text) {
    mcl_model *m = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_model_parse(text, "test.model", &m, &err);
    ck_assert_msg(st == MCL_OK, "parse failed: %s: %s", mcl_status_str(st), err.message);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* Asserts that the summary for 28x28 / 10 classes succeeds and reports `total` parameters of
 * which `trainable` are trainable (written with thousands separators, as Keras does). */
static void assert_params(const mcl_model *m, const char *total, const char *trainable) {
    char *buf = malloc(SUMMARY_BYTES);
    ck_assert_ptr_nonnull(buf);
    mcl_error err = {0};
    mcl_status st = mcl_model_summary(m, IMG_ROWS, IMG_COLS, NUM_CLASSES, buf, SUMMARY_BYTES, &err);
    ck_assert_msg(st == MCL_OK, "summary of '%s' failed: %s", mcl_model_name(m), err.message);
    char want[64];
    snprintf(want, sizeof want, "Total params: %s\n", total);
    ck_assert_msg(strstr(buf, want) != NULL, "summary of '%s' lacks '%s':\n%s", mcl_model_name(m),
                  want, buf);
    snprintf(want, sizeof want, "Trainable params: %s\n", trainable);
    ck_assert_msg(strstr(buf, want) != NULL, "summary lacks '%s':\n%s", want, buf);
    free(buf);
}

static void assert_total_params(const mcl_model *m, const char *total) {
    assert_params(m, total, total);
}

/* ---------------------------------------------------------------- built-in models */

/* Dense params = in*out + out. mlp: 784*256+256 + 256*128+128 + 128*10+10 = 235,146;
 * mlp50: 39,250 + 2,550 + 510 = 42,310; mlp128: 100,480 + 4,128 + 330 = 104,938;
 * dnn (1024-1024): 803,840 + 1,049,600 + 10,250 = 1,863,690. */
static const struct {
    const char *name;
    const char *total_params, *trainable;
} builtin_totals[] = {
    {"mlp", "235,146", "235,146"},
    {"mlp50", "42,310", "42,310"},
    {"mlp128", "104,938", "104,938"},
    {"dnn", "1,863,690", "1,863,690"},
    /* Keras's summary of the tutorial CNN: conv 320 + 9,248 + 18,496 + 36,928, dense 524,800 +
     * 5,130, BatchNorm 4 per channel (128 + 128 + 256 + 256 + 2,048) of which the moving mean
     * and variance (1,408 in all) are non-trainable. */
    {"cnn", "597,738", "596,330"},
    /* conv 320 + 18,496, dense 204,928 + 1,290, BatchNorm 4 per channel (128 + 256 + 512) of
     * which 448 non-trainable. */
    {"fast", "225,930", "225,482"},
    {"best", "597,738", "596,330"},
};
#define BUILTIN_TOTALS_COUNT (sizeof builtin_totals / sizeof builtin_totals[0])

START_TEST(test_builtin_param_counts) {
    mcl_model *m = NULL;
    mcl_error err = {0};
    const char *name = builtin_totals[_i].name;
    mcl_status st = mcl_model_builtin(name, &m, &err);
    ck_assert_msg(st == MCL_OK, "built-in '%s': %s", name, err.message);
    ck_assert_str_eq(mcl_model_name(m), name);
    assert_params(m, builtin_totals[_i].total_params, builtin_totals[_i].trainable);
    mcl_model_free(m);
}
END_TEST

/* Every entry of the built-in table parses, from its name and from its published source, and
 * this test knows its parameter count (so a new built-in needs a line above). */
START_TEST(test_every_builtin_is_listed_and_parses) {
    size_t count = mcl_model_builtin_count();
    ck_assert_uint_eq(count, BUILTIN_TOTALS_COUNT);
    for (size_t i = 0; i < count; i++) {
        const char *name = mcl_model_builtin_name(i);
        ck_assert_ptr_nonnull(name);
        ck_assert_ptr_nonnull(mcl_model_builtin_description(i));
        ck_assert_ptr_nonnull(mcl_model_builtin_source(i));
        size_t k = 0;
        while (k < BUILTIN_TOTALS_COUNT && strcmp(builtin_totals[k].name, name) != 0) k++;
        ck_assert_msg(k < BUILTIN_TOTALS_COUNT, "built-in '%s' has no expected parameter count",
                      name);
        mcl_model *m = parse_ok(mcl_model_builtin_source(i));
        ck_assert_str_eq(mcl_model_name(m), name);
        assert_params(m, builtin_totals[k].total_params, builtin_totals[k].trainable);
        mcl_model_free(m);
    }
    ck_assert_ptr_null(mcl_model_builtin_name(count));
    ck_assert_ptr_null(mcl_model_builtin_source(count));
}
END_TEST

START_TEST(test_unknown_builtin) {
    mcl_model *m = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_model_builtin("nosuch", &m, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "unknown model 'nosuch'", "mlp50");
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_recipe_mlp50) {
    mcl_model *m = NULL;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_model_builtin("mlp50", &m, &err), MCL_OK);
    const mcl_recipe *r = mcl_model_recipe(m);
    ck_assert_uint_eq(r->batch_size, 100);
    ck_assert_uint_eq(r->epochs, 5);
    ck_assert_int_eq(r->optimizer, MCL_OPTIMIZER_ADAM);
    ck_assert_float_eq_tol(r->learning_rate, 0.001f, 1e-9f);
    ck_assert_float_eq_tol(r->validation_split, 0.1f, 1e-7f);
    mcl_model_free(m);
}
END_TEST

START_TEST(test_recipe_defaults_and_every_key) {
    mcl_model *m = parse_ok("flatten\ndense classes softmax\n");
    const mcl_recipe *r = mcl_model_recipe(m);
    /* Keras-like defaults. */
    ck_assert_uint_eq(r->epochs, 10);
    ck_assert_uint_eq(r->batch_size, 128);
    ck_assert_int_eq(r->optimizer, MCL_OPTIMIZER_ADAM);
    ck_assert_float_eq_tol(r->learning_rate, 0.001f, 1e-9f);
    ck_assert_float_eq(r->validation_split, 0.0f);
    mcl_model_free(m);

    m = parse_ok("recipe epochs=3 batch_size=32 optimizer=sgd lr=0.05 momentum=0.9 "
                 "validation_split=0.25\nflatten\ndense classes softmax\n");
    r = mcl_model_recipe(m);
    ck_assert_uint_eq(r->epochs, 3);
    ck_assert_uint_eq(r->batch_size, 32);
    ck_assert_int_eq(r->optimizer, MCL_OPTIMIZER_SGD);
    ck_assert_float_eq_tol(r->learning_rate, 0.05f, 1e-9f);
    ck_assert_float_eq_tol(r->momentum, 0.9f, 1e-7f);
    ck_assert_float_eq_tol(r->validation_split, 0.25f, 1e-7f);
    mcl_model_free(m);

    /* The optimizer and regulariser keys, Keras's names; RMSprop's rho defaults to Keras's. */
    m = parse_ok("flatten\ndense classes softmax\n");
    ck_assert_float_eq(mcl_model_recipe(m)->rho, 0.9f);
    ck_assert(!mcl_model_recipe(m)->plateau.enabled);
    ck_assert_float_eq(mcl_model_recipe(m)->weight_decay, 0.0f);
    mcl_model_free(m);
    m = parse_ok("recipe optimizer=rmsprop rho=0.8 centered=on momentum=0.5 l2=0.01\n"
                 "recipe label_smoothing=0.1 clipnorm=1.5 weight_decay=0.001\n"
                 "flatten\ndense classes softmax\n");
    r = mcl_model_recipe(m);
    ck_assert_int_eq(r->optimizer, MCL_OPTIMIZER_RMSPROP);
    ck_assert_float_eq(r->rho, 0.8f);
    ck_assert(r->centered && !r->nesterov);
    ck_assert_float_eq(r->l2, 0.01f);
    ck_assert_float_eq(r->label_smoothing, 0.1f);
    ck_assert_float_eq(r->clipnorm, 1.5f);
    ck_assert_float_eq(r->weight_decay, 0.001f);
    mcl_model_free(m);
    /* AdamW takes Keras's weight decay 0.004 unless the recipe names one (before or after). */
    m = parse_ok("recipe optimizer=adamw\nflatten\ndense classes softmax\n");
    ck_assert_float_eq(mcl_model_recipe(m)->weight_decay, 0.004f);
    mcl_model_free(m);
    m = parse_ok("recipe weight_decay=0\nrecipe optimizer=adamw\nflatten\ndense classes softmax\n");
    ck_assert_float_eq(mcl_model_recipe(m)->weight_decay, 0.0f);
    mcl_model_free(m);
    m = parse_ok("recipe optimizer=sgd nesterov=on momentum=0.9 global_clipnorm=2\n"
                 "flatten\ndense classes softmax\n");
    r = mcl_model_recipe(m);
    ck_assert(r->nesterov);
    ck_assert_float_eq(r->global_clipnorm, 2.0f);
    mcl_model_free(m);
    m = parse_ok("recipe clipvalue=0.5\nflatten\ndense classes softmax\n");
    ck_assert_float_eq(mcl_model_recipe(m)->clipvalue, 0.5f);
    mcl_model_free(m);
    ck_assert_str_eq(mcl_optimizer_str(MCL_OPTIMIZER_ADAMW), "adamw");
    ck_assert_str_eq(mcl_optimizer_str(MCL_OPTIMIZER_RMSPROP), "rmsprop");
    ck_assert_str_eq(mcl_optimizer_str(MCL_OPTIMIZER_COUNT), "?");
}
END_TEST

/* ---------------------------------------------------------------- syntax that is accepted */

START_TEST(test_comments_blank_lines_and_case) {
    mcl_model *m = parse_ok("# a comment line\n"
                            "\n"
                            "   \t  \n"
                            "name tiny   # trailing comment\n"
                            "Flatten\n"
                            "DENSE 20 activation=relu\r\n"
                            "dropout 0.5\n"
                            "relu\n"
                            "dense 10, linear\n"
                            "softmax\n"
                            "# the end");
    ck_assert_str_eq(mcl_model_name(m), "tiny");
    /* 784*20+20 + 20*10+10 */
    assert_total_params(m, "15,910");
    mcl_model_free(m);
}
END_TEST

START_TEST(test_classes_follows_the_data) {
    mcl_model *m = parse_ok("flatten\ndense classes softmax\n");
    char buf[4096];
    mcl_error err = {0};
    /* 8x8 images, 3 classes: 64*3+3 = 195 */
    ck_assert_int_eq(mcl_model_summary(m, 8, 8, 3, buf, sizeof buf, &err), MCL_OK);
    ck_assert_msg(strstr(buf, "Total params: 195\n") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "(None, 3)") != NULL, "%s", buf);
    mcl_model_free(m);
}
END_TEST

START_TEST(test_summary_buffer_too_small) {
    mcl_model *m = NULL;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_model_builtin("mlp", &m, &err), MCL_OK);
    char buf[64];
    mcl_status st = mcl_model_summary(m, IMG_ROWS, IMG_COLS, NUM_CLASSES, buf, sizeof buf, &err);
    ck_assert_int_ne(st, MCL_OK);
    ck_assert_ptr_nonnull(memchr(buf, '\0', sizeof buf));
    mcl_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- parse errors */

START_TEST(test_unknown_layer) {
    /* Line 3, after a comment and a blank line: line numbers count every line. */
    assert_parse_error("# comment\n\nconv9 32\nflatten\ndense classes softmax\n", 3,
                       "unknown layer 'conv9'");
}
END_TEST

START_TEST(test_dense_without_units) {
    assert_parse_error("flatten\n\ndense\ndense classes softmax\n", 3, "dense takes units");
    assert_parse_error("flatten\ndense relu\ndense classes softmax\n", 2,
                       "dense units must be a positive integer");
    assert_parse_error("flatten\ndense 0 relu\ndense classes softmax\n", 2,
                       "dense units must be a positive integer");
    assert_parse_error("flatten\ndense -5\ndense classes softmax\n", 2,
                       "dense units must be a positive integer");
}
END_TEST

START_TEST(test_bad_dropout_rate) {
    static const char *const rates[] = {"1.5", "-0.1", "abc", "1", "nan", ""};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "# rate %s\nflatten\ndropout %s\ndense classes softmax\n",
                 rates[i], rates[i]);
        assert_parse_error(text, 3, "in [0, 1), got");
    }
}
END_TEST

START_TEST(test_unknown_activation) {
    assert_parse_error("flatten\ndense 64 tanh\ndense classes softmax\n", 2,
                       "unknown activation 'tanh'");
    assert_parse_error("flatten\ndense 64 activation=gelu\ndense classes softmax\n", 2,
                       "unknown activation 'gelu'");
}
END_TEST

START_TEST(test_unknown_recipe_key) {
    assert_parse_error("\nrecipe epochs=2 colour=blue\nflatten\ndense classes softmax\n", 2,
                       "unknown recipe key 'colour'");
    /* A near miss of a real key is still an unknown key, not a bad value. */
    assert_parse_error("recipe epoch=5\nflatten\ndense classes softmax\n", 1,
                       "unknown recipe key 'epoch'");
    assert_parse_error("recipe size=5\nflatten\ndense classes softmax\n", 1,
                       "unknown recipe key 'size'");
}
END_TEST

START_TEST(test_bad_recipe_value) {
    assert_parse_error("recipe epochs=zero\nflatten\ndense classes softmax\n", 1,
                       "bad value 'zero' for recipe key 'epochs'");
    assert_parse_error("recipe epochs=0\nflatten\ndense classes softmax\n", 1,
                       "bad value '0' for recipe key 'epochs'");
    assert_parse_error("recipe batch_size=-1\nflatten\ndense classes softmax\n", 1,
                       "for recipe key 'batch_size'");
    assert_parse_error("recipe optimizer=adagrad\nflatten\ndense classes softmax\n", 1,
                       "bad value 'adagrad' for recipe key 'optimizer'");
    assert_parse_error("recipe label_smoothing=1\nflatten\ndense classes softmax\n", 1,
                       "bad value '1' for recipe key 'label_smoothing'");
    assert_parse_error("recipe weight_decay=-0.1\nflatten\ndense classes softmax\n", 1,
                       "for recipe key 'weight_decay'");
    assert_parse_error("recipe clipnorm=0\nflatten\ndense classes softmax\n", 1,
                       "for recipe key 'clipnorm'");
    assert_parse_error("recipe nesterov=yes\nflatten\ndense classes softmax\n", 1,
                       "for recipe key 'nesterov'");
    assert_parse_error("recipe lr=-1\nflatten\ndense classes softmax\n", 1,
                       "for recipe key 'lr'");
    assert_parse_error("recipe validation_split=1.5\nflatten\ndense classes softmax\n", 1,
                       "for recipe key 'validation_split'");
    assert_parse_error("recipe momentum=1\nflatten\ndense classes softmax\n", 1,
                       "for recipe key 'momentum'");
    assert_parse_error("recipe epochs\nflatten\ndense classes softmax\n", 1, "key=value");
}
END_TEST

START_TEST(test_softmax_not_last) {
    assert_parse_error("flatten\ndense classes softmax\ndense 10\n", 2,
                       "softmax must be the last layer");
    assert_parse_error("flatten\ndense 10\nsoftmax\nrelu\n", 3, "softmax must be the last layer");
}
END_TEST

START_TEST(test_last_layer_not_softmax) {
    assert_parse_error("flatten\ndense 64 relu\n\ndense classes\n# end\n", 4,
                       "the last layer must end in softmax");
    assert_parse_error("flatten\ndense classes relu\n", 2, "the last layer must end in softmax");
}
END_TEST

START_TEST(test_empty_model) {
    static const char *const texts[] = {"", "\n\n", "# only a comment\n", "name empty\n",
                                        "recipe epochs=1\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        mcl_model *m = NULL;
        mcl_error err = {0};
        mcl_status st = mcl_model_parse(texts[i], "test.model", &m, &err);
        ck_assert_error(st, err, MCL_ERR_FORMAT, "test.model", "no layers");
        ck_assert_ptr_null(m);
    }
}
END_TEST

START_TEST(test_layer_arguments) {
    assert_parse_error("flatten 3\ndense classes softmax\n", 1, "flatten takes no arguments");
    assert_parse_error("flatten\nrelu now\ndense classes softmax\n", 2, "relu takes no arguments");
    assert_parse_error("name\nflatten\ndense classes softmax\n", 1, "'name' takes one word");
}
END_TEST

/* ---------------------------------------------------------------- errors against the data */

START_TEST(test_units_differ_from_classes) {
    mcl_model *m = parse_ok("flatten\ndense 64 relu\ndense 12 softmax\n");
    char buf[4096];
    mcl_error err = {0};
    mcl_status st = mcl_model_summary(m, IMG_ROWS, IMG_COLS, NUM_CLASSES, buf, sizeof buf, &err);
    ck_assert_error(st, err, MCL_ERR_MODEL, "test.model:3:", "classes");
    ck_assert_msg(strstr(err.message, "12") != NULL, "message '%s' lacks the 12 outputs",
                  err.message);
    mcl_model_free(m);
}
END_TEST

START_TEST(test_dense_needs_flatten) {
    mcl_model *m = parse_ok("# no flatten\ndense 64 relu\ndense classes softmax\n");
    char buf[4096];
    mcl_error err = {0};
    mcl_status st = mcl_model_summary(m, IMG_ROWS, IMG_COLS, NUM_CLASSES, buf, sizeof buf, &err);
    ck_assert_error(st, err, MCL_ERR_MODEL, "test.model", "flatten");
    ck_assert_msg(strstr(err.message, "test.model:2:") != NULL ||
                      strstr(err.message, "line 2:") != NULL,
                  "message '%s' lacks the line number", err.message);
    mcl_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- convolutional layers */

/* LeNet-5 (LeCun et al. 1998) with 'same' padding on the first layer, as usually written for
 * 28x28 MNIST: conv 6x5x5 (156) -> pool -> conv 16x5x5 (2,416) -> pool -> 120 (48,120) ->
 * 84 (10,164) -> 10 (850) = 61,706 parameters. */
static const char *const lenet =
    "name lenet5\n"
    "conv2d 6 5x5 padding=same relu   # 28x28x6\n"
    "maxpool 2                        # 14x14x6\n"
    "conv2d 16 5 activation=relu      # 10x10x16\n"
    "maxpool 2x2 stride=2             # 5x5x16\n"
    "flatten\n"
    "dense 120 relu\n"
    "dense 84 relu\n"
    "dense classes softmax\n";

START_TEST(test_lenet_shapes_and_params) {
    mcl_model *m = parse_ok(lenet);
    assert_total_params(m, "61,706");
    char *buf = malloc(SUMMARY_BYTES);
    mcl_error err = {0};
    ck_assert_int_eq(mcl_model_summary(m, IMG_ROWS, IMG_COLS, NUM_CLASSES, buf, SUMMARY_BYTES,
                                       &err),
                     MCL_OK);
    const char *want[] = {"conv2d_1 (Conv2D)",     "(None, 28, 28, 6)",  "(None, 14, 14, 6)",
                          "(None, 10, 10, 16)",    "(None, 5, 5, 16)",   "(None, 400)",
                          "maxpool_2 (MaxPooling2D)", "dense_3 (Dense)"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(buf, want[i]) != NULL, "summary lacks '%s':\n%s", want[i], buf);
    free(buf);
    mcl_model_free(m);
}
END_TEST

/* Strides and padding: 'same' with stride 2 gives ceil(28/2) = 14, 'valid' floor((28-3)/2)+1 =
 * 13; a pointwise conv keeps the size; global average pooling flattens. */
START_TEST(test_conv_strides_padding_and_pooling) {
    mcl_model *m = parse_ok("conv2d 8 3x3 stride=2 padding=same\n"
                            "zeropad 1\n"
                            "conv2d 8 3 stride=2\n"
                            "batchnorm\n"
                            "leakyrelu alpha=0.1\n"
                            "conv2d classes 1x1\n"
                            "globalavgpool\n"
                            "softmax\n");
    char *buf = malloc(SUMMARY_BYTES);
    mcl_error err = {0};
    ck_assert_int_eq(mcl_model_summary(m, IMG_ROWS, IMG_COLS, NUM_CLASSES, buf, SUMMARY_BYTES,
                                       &err),
                     MCL_OK);
    const char *want[] = {"(None, 14, 14, 8)", "(None, 16, 16, 8)", "(None, 7, 7, 8)",
                          "(None, 7, 7, 10)", "(None, 10)", "BatchNormalization",
                          "LeakyReLU", "GlobalAveragePooling2D", "ZeroPadding2D"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(buf, want[i]) != NULL, "summary lacks '%s':\n%s", want[i], buf);
    /* 80 + 584 + 32 BN (16 trainable) + 90 */
    ck_assert_msg(strstr(buf, "Total params: 786\n") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "Non-trainable params: 16\n") != NULL, "%s", buf);
    free(buf);
    mcl_model_free(m);
}
END_TEST

START_TEST(test_conv_argument_errors) {
    assert_parse_error("conv2d 32\nflatten\ndense classes softmax\n", 1, "kernel");
    assert_parse_error("\nconv2d 32 0x3\nflatten\ndense classes softmax\n", 2, "kernel size");
    assert_parse_error("conv2d 32 3x3 padding=full\nflatten\ndense classes softmax\n", 1,
                       "padding");
    assert_parse_error("conv2d 32 3x3 stride=0\nflatten\ndense classes softmax\n", 1, "stride");
    assert_parse_error("conv2d 32 3x3 gelu\nflatten\ndense classes softmax\n", 1, "gelu");
    assert_parse_error("conv2d -4 3x3\nflatten\ndense classes softmax\n", 1, "filters");
    /* The syntax is shown with a bad argument list. */
    assert_parse_error("conv2d 32 3x3 stride=x\nflatten\ndense classes softmax\n", 1,
                       "syntax: conv2d FILTERS");
    assert_parse_error("maxpool\nflatten\ndense classes softmax\n", 1, "maxpool");
    assert_parse_error("batchnorm momentum=2\nflatten\ndense classes softmax\n", 1,
                       "batchnorm");
    assert_parse_error("globalavgpool 2\nflatten\ndense classes softmax\n", 1,
                       "globalavgpool takes no arguments");
}
END_TEST

/* A shape that does not fit is reported at its line when the model meets the data. */
START_TEST(test_kernel_larger_than_input) {
    mcl_model *m = parse_ok("conv2d 8 5x5\nmaxpool 2\nconv2d 8 5x5\nmaxpool 2\n"
                            "conv2d 8 5x5\nflatten\ndense classes softmax\n");
    char buf[4096];
    mcl_error err = {0};
    mcl_status st = mcl_model_summary(m, IMG_ROWS, IMG_COLS, NUM_CLASSES, buf, sizeof buf, &err);
    /* 28 -> 24 -> 12 -> 8 -> 4: a 5x5 kernel does not fit 4x4. */
    ck_assert_error(st, err, MCL_ERR_MODEL, "test.model:5:", "5x5 kernel does not fit a 4x4");
    mcl_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- model files */


START_TEST(test_load_file_ok) {
    char path[4200];
    snprintf(path, sizeof path, "%s/small.model", test_tmp_dir);
    const char *text = "name small\nflatten\ndense 50 relu\ndense 50 relu\ndense classes softmax\n";
    test_write_file(path, text, strlen(text), 0);
    mcl_model *m = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_model_load_file(path, &m, &err) == MCL_OK, "%s", err.message);
    ck_assert_str_eq(mcl_model_name(m), "small");
    assert_total_params(m, "42,310");
    mcl_model_free(m);
}
END_TEST

START_TEST(test_load_file_error_names_file_and_line) {
    char path[4200];
    snprintf(path, sizeof path, "%s/broken.model", test_tmp_dir);
    const char *text = "# broken\nflatten\nconv9 32\ndense classes softmax\n";
    test_write_file(path, text, strlen(text), 0);
    mcl_model *m = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_model_load_file(path, &m, &err);
    char where[4300];
    snprintf(where, sizeof where, "%s:3:", path);
    ck_assert_error(st, err, MCL_ERR_FORMAT, where, "unknown layer 'conv9'");
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_load_missing_file) {
    char path[4200];
    snprintf(path, sizeof path, "%s/nosuch.model", test_tmp_dir);
    mcl_model *m = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_model_load_file(path, &m, &err);
    ck_assert_error(st, err, MCL_ERR_IO, path, "cannot open");
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_load_directory) {
    mcl_model *m = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_model_load_file(test_tmp_dir, &m, &err);
    ck_assert_int_ne(st, MCL_OK);
    ck_assert_int_eq(err.status, st);
    ck_assert_msg(strstr(err.message, test_tmp_dir) != NULL, "message '%s' does not name the path",
                  err.message);
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_load_binary_file) {
    char path[4200];
    snprintf(path, sizeof path, "%s/binary.model", test_tmp_dir);
    static const char bytes[] = {'f', 'l', 'a', 't', 't', 'e', 'n', '\0', '\n'};
    test_write_file(path, bytes, sizeof bytes, 0);
    mcl_model *m = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_model_load_file(path, &m, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "NUL");
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_free_is_null_safe) {
    mcl_model_free(NULL);
}
END_TEST

static Suite *model_suite(void) {
    Suite *s = suite_create("model");
    TCase *builtin = tcase_create("builtin");
    tcase_add_loop_test(builtin, test_builtin_param_counts, 0, (int)BUILTIN_TOTALS_COUNT);
    tcase_add_test(builtin, test_every_builtin_is_listed_and_parses);
    tcase_add_test(builtin, test_unknown_builtin);
    tcase_add_test(builtin, test_recipe_mlp50);
    suite_add_tcase(s, builtin);

    TCase *lang = tcase_create("language");
    tcase_add_test(lang, test_recipe_defaults_and_every_key);
    tcase_add_test(lang, test_comments_blank_lines_and_case);
    tcase_add_test(lang, test_classes_follows_the_data);
    tcase_add_test(lang, test_summary_buffer_too_small);
    tcase_add_test(lang, test_unknown_layer);
    tcase_add_test(lang, test_dense_without_units);
    tcase_add_test(lang, test_bad_dropout_rate);
    tcase_add_test(lang, test_unknown_activation);
    tcase_add_test(lang, test_unknown_recipe_key);
    tcase_add_test(lang, test_bad_recipe_value);
    tcase_add_test(lang, test_softmax_not_last);
    tcase_add_test(lang, test_last_layer_not_softmax);
    tcase_add_test(lang, test_empty_model);
    tcase_add_test(lang, test_layer_arguments);
    tcase_add_test(lang, test_units_differ_from_classes);
    tcase_add_test(lang, test_dense_needs_flatten);
    tcase_add_test(lang, test_free_is_null_safe);
    tcase_add_test(lang, test_lenet_shapes_and_params);
    tcase_add_test(lang, test_conv_strides_padding_and_pooling);
    tcase_add_test(lang, test_conv_argument_errors);
    tcase_add_test(lang, test_kernel_larger_than_input);
    suite_add_tcase(s, lang);

    TCase *files = tcase_create("files");
    tcase_add_checked_fixture(files, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(files, test_load_file_ok);
    tcase_add_test(files, test_load_file_error_names_file_and_line);
    tcase_add_test(files, test_load_missing_file);
    tcase_add_test(files, test_load_directory);
    tcase_add_test(files, test_load_binary_file);
    suite_add_tcase(s, files);
    return s;
}

int main(void) {
    return test_run_suite(model_suite());
}
