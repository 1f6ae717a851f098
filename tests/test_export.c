/* Model export: .npz weights read back by numpy, and ONNX models checked by onnx's checker and
 * run by tests/onnx_check.py against the C reference forward of the same random-weight
 * checkpoint. Checkpoints are built by hand (model, shapes, random params and state), so these
 * tests need neither a device nor the checkpoint file format. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "graph/graph.h"
#include "store/checkpoint.h"
#include "store/export.h"
#include "test_util.h"

#define PYTHON "/usr/bin/python3"
#define TEST_IMAGES 5

/* ---------------------------------------------------------------- checkpoints by hand */

typedef struct test_model {
    struct mcl_checkpoint *ck;
    mcl_graph g; /* the plan: nodes, offsets */
} test_model;

/* Random values by tensor role, kept in ranges where activations neither vanish nor saturate
 * the softmax (so the probabilities compared are informative). */
static void fill_tensor(const mcl_tensor_desc *t, float *dst, uint64_t seed) {
    size_t count = 1;
    for (uint32_t i = 0; i < t->ndim; i++)
        count *= t->dims[i];
    if (strcmp(t->name, "kernel") == 0) {
        size_t fan_in = count / t->dims[t->ndim - 1];
        float limit = 1.5f * sqrtf(3.0f / (float)fan_in);
        test_fill_uniform(dst, count, -limit, limit, seed);
    } else if (strcmp(t->name, "gamma") == 0) {
        test_fill_uniform(dst, count, 0.5f, 1.5f, seed);
    } else if (strcmp(t->name, "moving_variance") == 0) {
        test_fill_uniform(dst, count, 0.5f, 2.0f, seed); /* must be positive */
    } else {
        test_fill_uniform(dst, count, -0.3f, 0.3f, seed); /* bias, beta, moving_mean */
    }
}

static test_model model_create(const char *text, uint32_t rows, uint32_t cols, uint32_t classes,
                               uint64_t seed) {
    test_model m = {0};
    mcl_error err = {0};
    m.ck = calloc(1, sizeof *m.ck);
    ck_assert_ptr_nonnull(m.ck);
    mcl_status st = mcl_model_parse(text, "test", &m.ck->model, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    m.ck->model_text = strdup(text);
    m.ck->rows = rows;
    m.ck->cols = cols;
    m.ck->classes = classes;
    st = mcl_graph_plan(m.ck->model, (mcl_shape){1, rows, cols}, classes, &m.g, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    m.ck->param_count = m.g.param_count;
    m.ck->state_count = m.g.state_count;
    m.ck->params = calloc(m.g.param_count + 1, sizeof(float));
    m.ck->state = calloc(m.g.state_count + 1, sizeof(float));
    ck_assert(m.ck->params != NULL && m.ck->state != NULL);
    for (uint32_t i = 0; i < m.g.node_count; i++) {
        const mcl_node *node = &m.g.nodes[i];
        mcl_tensor_desc t[MCL_OP_MAX_TENSORS];
        uint32_t nt = node->op->tensors != NULL ? node->op->tensors(node, t) : 0;
        for (uint32_t k = 0; k < nt; k++) {
            float *base =
                t[k].state ? m.ck->state + node->state_offset : m.ck->params + node->param_offset;
            fill_tensor(&t[k], base + t[k].offset, seed * 1000 + i * 10 + k);
        }
    }
    return m;
}

static void model_free(test_model *m) {
    mcl_model_free(m->ck->model);
    free(m->ck->model_text);
    free(m->ck->params);
    free(m->ck->state);
    free(m->ck);
    free(m->g.nodes);
}

/* Inference-mode probabilities [n, classes] by chaining every node's reference forward. */
static float *reference_probabilities(const test_model *m, const float *images, uint32_t n) {
    size_t size = (size_t)n * m->ck->rows * m->ck->cols;
    float *x = malloc(size * sizeof *x);
    ck_assert_ptr_nonnull(x);
    memcpy(x, images, size * sizeof *x);
    int32_t labels[TEST_IMAGES] = {0};
    float loss[TEST_IMAGES], correct[TEST_IMAGES];
    ck_assert_uint_le(n, TEST_IMAGES);
    mcl_ref_exec ex = {.params = m->ck->params,
                       .state = m->ck->state,
                       .labels = labels,
                       .sample_loss = loss,
                       .sample_correct = correct,
                       .n = n,
                       .training = false};
    for (uint32_t i = 0; i < m->g.node_count; i++) {
        const mcl_node *node = &m->g.nodes[i];
        float *y = malloc((size_t)n * mcl_shape_size(node->out_shape) * sizeof *y);
        ck_assert_ptr_nonnull(y);
        node->op->reference_forward(node, &ex, x, y);
        free(x);
        x = y;
    }
    return x;
}

/* ---------------------------------------------------------------- running Python */

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Runs PYTHON with the given arguments (NULL-terminated); returns its exit status, -1 if it
 * could not run or died from a signal. */
static int run_python(const char *const *args) {
    const char *argv[16] = {PYTHON};
    size_t n = 1;
    for (; args[n - 1] != NULL && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execv(PYTHON, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

static bool require_tools(void) {
    const char *req = getenv("MNIST_CL_REQUIRE_DEVICE");
    return req != NULL && strcmp(req, "1") == 0;
}

/* True if PYTHON with numpy and onnx can run. Otherwise the test fails when
 * MNIST_CL_REQUIRE_DEVICE=1 (CI has them), else it notes the gap and passes. */
static bool python_ready(void) {
    const char *args[] = {"-c", "import numpy, onnx", NULL};
    if (access(PYTHON, X_OK) == 0 && run_python(args) == 0) return true;
    ck_assert_msg(!require_tools(), "%s with numpy and onnx is needed (MNIST_CL_REQUIRE_DEVICE=1)",
                  PYTHON);
    fprintf(stderr, "note: no %s with numpy and onnx: the exported files are not checked\n",
            PYTHON);
    return false;
}

/* tests/onnx_check.py under MNIST_CL_SOURCE_ROOT (meson test sets it); NULL, with the same
 * rule as python_ready, when it is not set. */
static char *onnx_check_script(void) {
    const char *root = getenv("MNIST_CL_SOURCE_ROOT");
    if (root != NULL) return path_in(root, "tests/onnx_check.py");
    ck_assert_msg(!require_tools(), "MNIST_CL_SOURCE_ROOT is not set (meson test sets it)");
    fprintf(stderr, "note: MNIST_CL_SOURCE_ROOT is not set: the ONNX model is not checked\n");
    return NULL;
}

/* Reads NPZ with numpy and compares it with MANIFEST ("name dim dim ..." per line, in order)
 * and VALUES (every tensor's values, flattened and concatenated in manifest order): the same
 * names and no others, the shapes, dtype float32, and bit-identical values. Besides the
 * weights: 'architecture' is the model text in TEXT, 'recipe' a JSON recipe, 'class_names'
 * CLASSES names, and BATCHNORMS ("name epsilon momentum" per line) each layer's scalars. */
static const char npz_check_py[] =
    "import json, sys, numpy as np\n"
    "npz, manifest, values, text, classes, batchnorms = sys.argv[1:7]\n"
    "flat = np.load(values)\n"
    "with np.load(npz) as d:\n"
    "    assert str(d['architecture']) == open(text).read(), 'architecture'\n"
    "    assert d['architecture'].shape == (), d['architecture'].shape\n"
    "    r = json.loads(str(d['recipe']))\n"
    "    assert {'epochs', 'batch_size', 'optimizer', 'lr'} <= set(r), r\n"
    "    assert list(d['class_names']) == [str(k) for k in range(int(classes))], "
    "d['class_names']\n"
    "    described = {'architecture', 'recipe', 'class_names'}\n"
    "    for line in open(batchnorms):\n"
    "        name, eps, mom = line.split()\n"
    "        for key, want in (('epsilon', eps), ('momentum', mom)):\n"
    "            a = d[name + '/' + key]\n"
    "            assert a.dtype == np.dtype('<f4') and a.shape == (), (name, key, a)\n"
    "            assert a == np.float32(want), (name, key, a, want)\n"
    "            described.add(name + '/' + key)\n"
    "    off, names = 0, []\n"
    "    for line in open(manifest):\n"
    "        name, *dims = line.split()\n"
    "        shape = tuple(int(s) for s in dims)\n"
    "        names.append(name)\n"
    "        a = d[name]\n"
    "        assert a.dtype == np.dtype('<f4'), (name, a.dtype)\n"
    "        assert a.shape == shape, (name, a.shape, shape)\n"
    "        want = flat[off:off + a.size].reshape(shape)\n"
    "        assert np.array_equal(a, want), (name, 'values differ')\n"
    "        off += a.size\n"
    "    assert off == flat.size, (off, flat.size)\n"
    "    assert sorted(d.files) == sorted(names + list(described)), (sorted(d.files), "
    "sorted(names))\n"
    "print('npz check: %d arrays OK' % len(names))\n";

/* ---------------------------------------------------------------- the checks */

/* Exports the model as npz and checks it with numpy. `expect` lists "name d0 d1 ..." lines that
 * must appear in the manifest (the naming and Keras layouts the API promises). */
static void check_npz(const test_model *m, const char *const *expect) {
    char *npz = path_in(test_tmp_dir, "weights.npz");
    char *manifest_path = path_in(test_tmp_dir, "manifest.txt");
    char *values_path = path_in(test_tmp_dir, "values.npy");
    mcl_error err = {0};
    mcl_status st = mcl_export_npz(m->ck, npz, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);

    size_t total = 0;
    char manifest[8192] = "";
    for (int pass = 0; pass < 2; pass++) {
        float *values = pass == 1 ? malloc((total + 1) * sizeof *values) : NULL;
        size_t at = 0;
        for (uint32_t i = 0; i < m->g.node_count; i++) {
            const mcl_node *node = &m->g.nodes[i];
            mcl_tensor_desc t[MCL_OP_MAX_TENSORS];
            uint32_t nt = node->op->tensors != NULL ? node->op->tensors(node, t) : 0;
            for (uint32_t k = 0; k < nt; k++) {
                size_t count = 1;
                char line[128];
                int len = snprintf(line, sizeof line, "%s/%s", node->name, t[k].name);
                for (uint32_t d = 0; d < t[k].ndim; d++) {
                    count *= t[k].dims[d];
                    len += snprintf(line + len, sizeof line - (size_t)len, " %u", t[k].dims[d]);
                }
                if (pass == 0) {
                    total += count;
                    strncat(manifest, line, sizeof manifest - strlen(manifest) - 2);
                    strcat(manifest, "\n");
                } else {
                    const float *src = t[k].state ? m->ck->state + node->state_offset
                                                  : m->ck->params + node->param_offset;
                    memcpy(values + at, src + t[k].offset, count * sizeof *values);
                    at += count;
                }
            }
        }
        if (pass == 1) {
            uint32_t dims[1] = {(uint32_t)total};
            st = mcl_npy_write(values_path, values, 1, dims, &err);
            ck_assert_msg(st == MCL_OK, "%s", err.message);
            free(values);
        }
    }
    for (const char *const *e = expect; *e != NULL; e++) {
        char want[128];
        snprintf(want, sizeof want, "%s\n", *e);
        ck_assert_msg(strstr(manifest, want) != NULL, "no tensor '%s' in:\n%s", *e, manifest);
    }
    test_write_file(manifest_path, manifest, strlen(manifest), 0);
    char *text_path = path_in(test_tmp_dir, "model.txt");
    char *bn_path = path_in(test_tmp_dir, "batchnorms.txt");
    test_write_file(text_path, m->ck->model_text, strlen(m->ck->model_text), 0);
    char batchnorms[4096] = "", classes[16];
    for (uint32_t i = 0; i < m->g.node_count; i++) {
        const mcl_layer *l = &m->g.nodes[i].layer;
        if (l->kind != MCL_OP_BATCHNORM) continue;
        size_t len = strlen(batchnorms);
        snprintf(batchnorms + len, sizeof batchnorms - len, "%s %.9g %.9g\n", m->g.nodes[i].name,
                 (double)l->epsilon, (double)l->momentum);
    }
    test_write_file(bn_path, batchnorms, strlen(batchnorms), 0);
    snprintf(classes, sizeof classes, "%u", m->ck->classes);
    if (python_ready()) {
        const char *args[] = {"-c",      npz_check_py, npz,     manifest_path, values_path,
                              text_path, classes,      bn_path, NULL};
        ck_assert_msg(run_python(args) == 0, "numpy disagrees with %s (see above)", npz);
    }
    free(npz);
    free(manifest_path);
    free(values_path);
    free(text_path);
    free(bn_path);
}

/* Exports ONNX, with probabilities and with logits, writes random 0..1 images and the C
 * reference's probabilities for them, and has tests/onnx_check.py check and run both models
 * (and, with expect_meta, a JSON object of metadata values, check those too). */
static void check_onnx_meta(const test_model *m, const char *expect_meta) {
    char *onnx = path_in(test_tmp_dir, "model.onnx");
    char *logits = path_in(test_tmp_dir, "logits.onnx");
    char *inputs_path = path_in(test_tmp_dir, "inputs.npy");
    char *expected_path = path_in(test_tmp_dir, "expected.npy");
    char *meta_path = path_in(test_tmp_dir, "meta.json");
    test_write_file(meta_path, expect_meta != NULL ? expect_meta : "{}",
                    strlen(expect_meta != NULL ? expect_meta : "{}"), 0);
    mcl_error err = {0};
    mcl_status st = mcl_export_onnx(m->ck, onnx, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    st = mcl_export_onnx_with(m->ck, logits, &(mcl_onnx_options){.logits = true}, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);

    uint32_t rows = m->ck->rows, cols = m->ck->cols, classes = m->ck->classes;
    float *images = malloc((size_t)TEST_IMAGES * rows * cols * sizeof *images);
    ck_assert_ptr_nonnull(images);
    test_fill_uniform(images, (size_t)TEST_IMAGES * rows * cols, 0.0f, 1.0f, 77);
    float *probs = reference_probabilities(m, images, TEST_IMAGES);
    for (uint32_t r = 0; r < TEST_IMAGES; r++) {
        double sum = 0.0;
        for (uint32_t k = 0; k < classes; k++)
            sum += probs[r * classes + k];
        ck_assert_msg(fabs(sum - 1.0) < 1e-4, "reference row %u sums to %g", r, sum);
    }
    st = mcl_npy_write(inputs_path, images, 4, (uint32_t[]){TEST_IMAGES, 1, rows, cols}, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    st = mcl_npy_write(expected_path, probs, 2, (uint32_t[]){TEST_IMAGES, classes}, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    char *script = onnx_check_script();
    if (script != NULL && python_ready()) {
        const char *args[] = {script,      "--expect-meta", meta_path, onnx, inputs_path,
                              expected_path, NULL};
        ck_assert_msg(run_python(args) == 0, "onnx_check.py rejects %s (see above)", onnx);
        const char *largs[] = {script,      "--logits",  "--expect-meta", meta_path, logits,
                               inputs_path, expected_path, NULL};
        ck_assert_msg(run_python(largs) == 0, "onnx_check.py rejects %s (see above)", logits);
    }
    free(script);
    free(images);
    free(probs);
    free(onnx);
    free(logits);
    free(inputs_path);
    free(expected_path);
    free(meta_path);
}

static void check_onnx(const test_model *m) {
    check_onnx_meta(m, NULL);
}

static const char mlp_text[] = "name mlp-test\n"
                               "flatten\n"
                               "dense 32 relu\n"
                               "dropout 0.2\n"
                               "dense 16 relu\n"
                               "dense classes softmax\n";

START_TEST(test_mlp) {
    test_model m = model_create(mlp_text, 12, 10, 7, 1);
    const char *expect[] = {"dense_1/kernel 120 32", "dense_1/bias 32", "dense_2/kernel 32 16",
                            "dense_3/kernel 16 7",   "dense_3/bias 7",  NULL};
    check_npz(&m, expect);
    check_onnx(&m);
    model_free(&m);
}
END_TEST

/* Odd, non-square sizes so that every 'same' padding is uneven (the extra pixel at the
 * bottom/right) and a swapped H/W shows:
 *   20x17x1 -conv valid-> 18x15x4 -zeropad 1 0 2 1-> 19x18x4 -conv 3 s2 same-> 10x9x6
 *   -maxpool 3 s2 same-> 5x5x6 -conv 2 same-> 5x5x8 -maxpool 2-> 2x2x8 -flatten-> 32 */
static const char cnn_text[] = "name cnn-test\n"
                               "conv2d 4 3 relu\n"
                               "zeropad 1 0 2 1\n"
                               "conv2d 6 3 stride=2 padding=same\n"
                               "batchnorm epsilon=0.01\n"
                               "leakyrelu 0.2\n"
                               "maxpool 3 stride=2 padding=same\n"
                               "conv2d 8 2 padding=same relu\n"
                               "maxpool 2\n"
                               "flatten\n"
                               "dense 16\n"
                               "batchnorm\n"
                               "relu\n"
                               "leakyrelu\n"
                               "dropout 0.1\n"
                               "dense classes softmax\n";

START_TEST(test_cnn) {
    test_model m = model_create(cnn_text, 20, 17, 10, 2);
    const char *expect[] = {"conv2d_1/kernel 3 3 1 4",
                            "conv2d_1/bias 4",
                            "conv2d_2/kernel 3 3 4 6",
                            "conv2d_3/kernel 2 2 6 8",
                            "batchnorm_1/gamma 6",
                            "batchnorm_1/beta 6",
                            "batchnorm_1/moving_mean 6",
                            "batchnorm_1/moving_variance 6",
                            "batchnorm_2/moving_variance 16",
                            "dense_1/kernel 32 16",
                            "dense_2/kernel 16 10",
                            NULL};
    check_npz(&m, expect);
    check_onnx(&m);
    model_free(&m);
}
END_TEST

/* No dense layer: a 1x1 convolution to the classes, averaged over the image. */
static const char allconv_text[] = "name allconv-test\n"
                                   "conv2d 8 3 padding=same relu\n"
                                   "maxpool 2\n"
                                   "conv2d 12 3 stride=2 relu\n"
                                   "batchnorm\n"
                                   "conv2d classes 1x1\n"
                                   "globalavgpool\n"
                                   "softmax\n";

START_TEST(test_allconv) {
    test_model m = model_create(allconv_text, 16, 16, 5, 3);
    const char *expect[] = {"conv2d_3/kernel 1 1 12 5", "conv2d_3/bias 5", NULL};
    check_npz(&m, expect);
    check_onnx(&m);
    model_free(&m);
}
END_TEST

/* Layouts the common models never produce: spatial ops after dense (a flat value reshaped to
 * [N, F, 1, 1]) and dense after globalavgpool without a flatten. */
static const char odd_text[] = "name odd-test\n"
                               "flatten\n"
                               "dense 12 relu\n"
                               "conv2d 5 1x1\n"
                               "zeropad 1\n"
                               "maxpool 2 stride=1\n"
                               "globalavgpool\n"
                               "dense classes softmax\n";

START_TEST(test_odd_layouts) {
    test_model m = model_create(odd_text, 6, 5, 4, 4);
    const char *expect[] = {"dense_1/kernel 30 12", "conv2d_1/kernel 1 1 12 5", NULL};
    check_npz(&m, expect);
    check_onnx(&m);
    model_free(&m);
}
END_TEST

/* What a deployer reads: the recipe the run used (not the model's defaults), the data it
 * trained on and its test metrics, in metadata_props and the graph's doc string; and none of
 * the test keys for a checkpoint that was never evaluated. */
START_TEST(test_metadata) {
    test_model m = model_create(cnn_text, 20, 17, 10, 8);
    struct mcl_checkpoint *ck = m.ck;
    ck->recipe = mcl_recipe_default();
    ck->recipe.epochs = 3;
    ck->recipe.batch_size = 32;
    ck->recipe.learning_rate = 0.0025f;
    ck->recipe.validation_split = 0.1f;
    ck->seed = 7;
    ck->epochs_done = 3;
    mcl_epoch_result rows[3] = {{.epoch = 1, .loss = 0.9, .accuracy = 0.7},
                                {.epoch = 2, .loss = 0.5, .accuracy = 0.8},
                                {.epoch = 3, .loss = 0.4, .accuracy = 0.85}};
    ck->history = rows;
    ck->history_count = 3;
    char *recipe = NULL;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_recipe_json(&ck->recipe, &recipe, &err), MCL_OK);
    ck_assert_ptr_nonnull(strstr(recipe, "\"lr\": 0.0025,"));
    ck_assert_ptr_nonnull(strstr(recipe, "\"batch_size\": 32,"));
    /* Not evaluated, no data record: no test keys, and the doc string says so. */
    char meta[2048];
    snprintf(meta, sizeof meta,
             "{\"recipe\": %s, \"seed\": \"7\", \"epochs\": \"3\", \"classes\": \"10\", "
             "\"model\": \"cnn-test\", \"class_names\": \"[\\\"0\\\", \\\"1\\\", \\\"2\\\", "
             "\\\"3\\\", \\\"4\\\", \\\"5\\\", \\\"6\\\", \\\"7\\\", \\\"8\\\", \\\"9\\\"]\", "
             "\"mnist_cl_version\": \"%s\", \"test_accuracy\": null, \"test_samples\": null, "
             "\"data\": null, \"doc_contains\": [\"cnn-test, trained by mnist-cl\", "
             "\"for 3 epochs (adam lr 0.0025, batch 32, validation split 0.1, seed 7)\", "
             "\"Not evaluated\", \"conv2d 4 3 relu\"]}",
             "RECIPE", MCL_VERSION);
    /* The recipe value is itself a JSON string inside the expectation. */
    char quoted[1024];
    ck_assert_uint_lt(mcl_json_quote(recipe, quoted, sizeof quoted), sizeof quoted);
    char *at = strstr(meta, "RECIPE");
    ck_assert_ptr_nonnull(at);
    char expect[4096];
    snprintf(expect, sizeof expect, "%.*s%s%s", (int)(at - meta), meta, quoted, at + 6);
    check_onnx_meta(&m, expect);

    ck->has_test = true;
    ck->test = (mcl_eval_result){.count = 10000, .loss = 0.0701, .accuracy = 0.9788};
    ck->has_data = true;
    ck->data = (mcl_data_record){.source = "/data/my \"digits\"", .validation_split = 0.1f,
                                 .train_images = 4500, .val_images = 500, .test_images = 10000,
                                 .limit = 5000, .fingerprint = 0xdeadbeef};
    snprintf(expect, sizeof expect,
             "{\"test_accuracy\": \"0.9788\", \"test_loss\": \"0.0701\", \"test_samples\": "
             "\"10000\", \"doc_contains\": [\"Test accuracy 0.9788, loss 0.0701, on 10000 test "
             "images\", \"on 4500 training images of /data/my \\\"digits\\\"\"]}");
    check_onnx_meta(&m, expect);
    ck->history = NULL;
    ck->history_count = 0;
    free(recipe);
    model_free(&m);
}
END_TEST

/* The same checkpoint gives the same bytes (fixed zip timestamps, no pointers or clocks). */
START_TEST(test_deterministic_and_replaces) {
    test_model m = model_create(cnn_text, 20, 17, 10, 5);
    mcl_error err = {0};
    for (int format = 0; format < 2; format++) {
        char *a = path_in(test_tmp_dir, format ? "a.onnx" : "a.npz");
        char *b = path_in(test_tmp_dir, format ? "b.onnx" : "b.npz");
        /* b exists beforehand: the export replaces it. */
        test_write_file(b, "old", 3, 0);
        mcl_status (*fn)(const mcl_checkpoint *, const char *, mcl_error *) =
            format ? mcl_export_onnx : mcl_export_npz;
        ck_assert_int_eq(fn(m.ck, a, &err), MCL_OK);
        ck_assert_int_eq(fn(m.ck, b, &err), MCL_OK);
        size_t na, nb;
        void *da = test_read_file(a, &na), *db = test_read_file(b, &nb);
        ck_assert_uint_gt(na, 3);
        ck_assert_uint_eq(na, nb);
        ck_assert(memcmp(da, db, na) == 0);
        free(da);
        free(db);
        free(a);
        free(b);
    }
    model_free(&m);
}
END_TEST

static size_t dir_entries(const char *path) {
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

START_TEST(test_unwritable_path) {
    test_model m = model_create(mlp_text, 12, 10, 7, 6);
    char *missing = path_in(test_tmp_dir, "no-such-folder");
    char *npz = path_in(missing, "w.npz"), *onnx = path_in(missing, "m.onnx");
    mcl_error err = {0};
    mcl_status st = mcl_export_npz(m.ck, npz, &err);
    ck_assert_error(st, err, MCL_ERR_IO, "no-such-folder/w.npz", "No such file");
    err = (mcl_error){0};
    st = mcl_export_onnx(m.ck, onnx, &err);
    ck_assert_error(st, err, MCL_ERR_IO, "no-such-folder/m.onnx", "No such file");
    struct stat sb;
    ck_assert_int_ne(stat(missing, &sb), 0);
    /* A folder in the way: the temporary file is made, then the rename fails; it is removed. */
    char *folder = path_in(test_tmp_dir, "taken.onnx");
    ck_assert_int_eq(mkdir(folder, 0755), 0);
    err = (mcl_error){0};
    st = mcl_export_onnx(m.ck, folder, &err);
    ck_assert_error(st, err, MCL_ERR_IO, "taken.onnx", "taken.onnx");
    ck_assert_uint_eq(dir_entries(test_tmp_dir), 1);
    ck_assert_uint_eq(dir_entries(folder), 0);
    free(folder);
    free(missing);
    free(npz);
    free(onnx);
    model_free(&m);
}
END_TEST

START_TEST(test_checkpoint_too_small) {
    test_model m = model_create(mlp_text, 12, 10, 7, 7);
    m.ck->param_count -= 1;
    char *npz = path_in(test_tmp_dir, "w.npz"), *onnx = path_in(test_tmp_dir, "m.onnx");
    mcl_error err = {0};
    mcl_status st = mcl_export_npz(m.ck, npz, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, "parameters", "needs");
    err = (mcl_error){0};
    st = mcl_export_onnx(m.ck, onnx, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, "parameters", "needs");
    ck_assert_uint_eq(dir_entries(test_tmp_dir), 0);
    free(npz);
    free(onnx);
    model_free(&m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("export");
    tcase_add_checked_fixture(tc, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(tc, test_mlp);
    tcase_add_test(tc, test_cnn);
    tcase_add_test(tc, test_allconv);
    tcase_add_test(tc, test_odd_layouts);
    tcase_add_test(tc, test_metadata);
    tcase_add_test(tc, test_deterministic_and_replaces);
    tcase_add_test(tc, test_unwritable_path);
    tcase_add_test(tc, test_checkpoint_too_small);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
