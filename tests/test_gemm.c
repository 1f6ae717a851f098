#define _POSIX_C_SOURCE 200809L
/* mcl_gemm against a double-precision C reference, for both providers (CLBlast and the tiled
 * kernels of cl/gemm.cl), every layout the models use (A and/or B transposed), shapes on and
 * off the tile edges of the device's shapes (rows, columns, K chunks, and the degenerate 1s),
 * alpha/beta with beta == 0 never reading C (it starts as NaN there), and buffer offsets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "device/gemm.h"
#include "test_util.h"

/* fp32 sums of up to ~800 products of values in [-1, 1) in a different order than the double
 * reference: an absolute margin where terms cancel, a relative one elsewhere. A longer K
 * widens both by sqrt(K / 800), as the rounding error of a sum of random terms grows. A wrong
 * index or a missed tile or chunk is off by O(1). */
#define GEMM_ABS_TOL 1e-4
#define GEMM_REL_TOL 1e-4
#define GEMM_TOL_K 800.0

typedef struct gemm_case {
    size_t m, n, k;
    bool ta, tb;
    float alpha, beta;
    size_t offset; /* floats before each matrix */
    int epilogue;  /* tiled only: 1 adds a bias per column, 2 also ReLU */
} gemm_case;

/* The epilogue tests' bias for column j. */
static float bias_value(size_t j) {
    return 0.25f * (float)(j % 7) - 0.75f;
}

static void reference(const gemm_case *c, const float *a, const float *b, float *out) {
    size_t lda = c->ta ? c->m : c->k, ldb = c->tb ? c->k : c->n;
    for (size_t i = 0; i < c->m; i++)
        for (size_t j = 0; j < c->n; j++) {
            double acc = 0.0;
            for (size_t p = 0; p < c->k; p++) {
                double av = c->ta ? a[p * lda + i] : a[i * lda + p];
                double bv = c->tb ? b[j * ldb + p] : b[p * ldb + j];
                acc += av * bv;
            }
            float *o = &out[i * c->n + j];
            *o = (float)(c->alpha * acc + (c->beta == 0.0f ? 0.0 : (double)c->beta * *o));
            if (c->epilogue > 0) *o += bias_value(j);
            if (c->epilogue == 2 && *o < 0.0f) *o = 0.0f;
        }
}

static cl_mem upload(mcl_context *ctx, const float *data, size_t count, size_t offset) {
    cl_mem buf = NULL;
    mcl_error err = {0};
    size_t total = offset + (count > 0 ? count : 1);
    ck_assert_int_eq(mcl_buffer_create(ctx, total * sizeof(float), &buf, "test", &err), MCL_OK);
    float *host = calloc(total, sizeof *host);
    for (size_t i = 0; i < offset; i++)
        host[i] = NAN; /* anything reading before the view shows up */
    for (size_t i = 0; i < count; i++)
        host[offset + i] = data[i];
    ck_assert_int_eq(clEnqueueWriteBuffer(ctx->queue, buf, CL_TRUE, 0, total * sizeof(float), host,
                                          0, NULL, NULL),
                     CL_SUCCESS);
    free(host);
    return buf;
}

static void run_case(mcl_context *ctx, const gemm_case *c, const char *provider) {
    size_t a_n = c->m * c->k, b_n = c->k * c->n, c_n = c->m * c->n;
    float *a = malloc((a_n + 1) * sizeof *a), *b = malloc((b_n + 1) * sizeof *b);
    float *start = malloc((c_n + 1) * sizeof *start), *want = malloc((c_n + 1) * sizeof *want);
    float *got = malloc((c_n + 1) * sizeof *got);
    test_fill_uniform(a, a_n, -1.0f, 1.0f, 11 + c->m);
    test_fill_uniform(b, b_n, -1.0f, 1.0f, 12 + c->n);
    test_fill_uniform(start, c_n, -1.0f, 1.0f, 13 + c->k);
    for (size_t i = 0; c->beta == 0.0f && i < c_n; i++)
        start[i] = NAN; /* beta == 0 must overwrite C, not scale it */
    for (size_t i = 0; i < c_n; i++)
        want[i] = start[i];
    reference(c, a, b, want);
    cl_mem da = upload(ctx, a, a_n, c->offset), db = upload(ctx, b, b_n, c->offset);
    cl_mem dc = upload(ctx, start, c_n, c->offset);
    mcl_error err = {0};
    mcl_matrix ma = {da, c->offset, c->ta ? c->m : c->k, c->ta};
    mcl_matrix mb = {db, c->offset, c->tb ? c->k : c->n, c->tb};
    mcl_matrix mc = {dc, c->offset, c->n, false};
    mcl_status st;
    cl_mem bias = NULL;
    if (c->epilogue > 0) {
        float *host_bias = malloc((c->n + 1) * sizeof *host_bias);
        for (size_t j = 0; j < c->n; j++)
            host_bias[j] = bias_value(j);
        bias = upload(ctx, host_bias, c->n, 5);
        free(host_bias);
        mcl_gemm_epilogue epi = {bias, 5, c->epilogue == 2};
        st = mcl_gemm_with_epilogue(ctx, c->m, c->n, c->k, c->alpha, ma, mb, c->beta, mc, &epi,
                                    "test", &err);
    } else {
        st = mcl_gemm(ctx, c->m, c->n, c->k, c->alpha, ma, mb, c->beta, mc, "test", &err);
    }
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    if (c_n > 0)
        ck_assert_int_eq(clEnqueueReadBuffer(ctx->queue, dc, CL_TRUE, c->offset * sizeof(float),
                                             c_n * sizeof(float), got, 0, NULL, NULL),
                         CL_SUCCESS);
    double widen = c->k > GEMM_TOL_K ? sqrt((double)c->k / GEMM_TOL_K) : 1.0;
    double e = test_max_scaled_error(got, want, c_n, GEMM_ABS_TOL * widen, GEMM_REL_TOL * widen);
    ck_assert_msg(e <= 1.0,
                  "%s: %zux%zux%zu %s%s alpha %g beta %g offset %zu epilogue %d: error %.3g x "
                  "tolerance",
                  provider, c->m, c->n, c->k, c->ta ? "T" : "N", c->tb ? "T" : "N",
                  (double)c->alpha, (double)c->beta, c->offset, c->epilogue, e);
    if (bias != NULL) clReleaseMemObject(bias);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(a);
    free(b);
    free(start);
    free(want);
    free(got);
}

static mcl_context *open_with(mcl_gemm_choice choice) {
    return test_context_create_options((mcl_context_options){.gemm = choice});
}

/* Every size class against each tile edge of the context's tiled shape, in every layout, for
 * one provider. */
static void run_grid(mcl_gemm_choice choice, const char *provider) {
    mcl_context *ctx = open_with(choice);
    if (ctx == NULL) return;
    const mcl_gemm_shape *g = &ctx->shapes.gemm;
    size_t tm = g->rows, tn = (size_t)g->vector * g->vectors;
    const size_t ms[] = {1, tm - 1 > 0 ? tm - 1 : 2, tm, tm + 1, 4 * tm + 1, 128};
    const size_t ns[] = {1, 10, tn - 1, tn, tn + 18, 2 * tn + 1, 256};
    static const size_t ks[] = {1, 15, 16, 17, 100};
    for (int layout = 0; layout < 4; layout++)
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
            for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
                for (size_t p = 0; p < sizeof ks / sizeof ks[0]; p++) {
                    /* Mix alpha, beta and offsets across the grid rather than multiply it. */
                    size_t pick = i + j + p + (size_t)layout;
                    gemm_case c = {ms[i],
                                   ns[j],
                                   ks[p],
                                   layout & 1,
                                   (layout & 2) != 0,
                                   pick % 3 == 0 ? 1.0f : 0.5f,
                                   pick % 2 == 0 ? 0.0f : (pick % 4 == 1 ? 1.0f : -2.0f),
                                   pick % 5 == 0 ? 3 : 0,
                                   0};
                    run_case(ctx, &c, provider);
                }
    mcl_context_free(ctx);
}

START_TEST(test_tiled_grid) {
    run_grid(MCL_GEMM_TILED, "tiled");
}
END_TEST

START_TEST(test_clblast_grid) {
    run_grid(MCL_GEMM_CLBLAST, "CLBlast");
}
END_TEST

/* The MLP's and the CNN's real shapes (forward, dW, dX of 784-256-128-10 at batch 128, and
 * the first conv's im2col product), where the fast paths and many tiles run. */
START_TEST(test_tiled_model_shapes) {
    mcl_context *ctx = open_with(MCL_GEMM_TILED);
    if (ctx == NULL) return;
    ck_assert_str_eq(mcl_context_gemm_name(ctx), "mnist-cl tiled kernels");
    const gemm_case cases[] = {
        {128, 256, 784, false, false, 1.0f, 0.0f, 0, 0}, {784, 256, 128, true, false, 1.0f, 1.0f, 0, 0},
        {128, 128, 256, false, false, 1.0f, 0.0f, 0, 0}, {256, 128, 128, true, false, 1.0f, 1.0f, 0, 0},
        {128, 256, 128, false, true, 1.0f, 0.0f, 0, 0},  {128, 10, 128, false, false, 1.0f, 0.0f, 0, 0},
        {128, 128, 10, false, true, 1.0f, 0.0f, 0, 0},   {1000, 32, 9, false, false, 1.0f, 0.0f, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(ctx, &cases[i], "tiled");
    mcl_context_free(ctx);
}
END_TEST

/* A long K: the tiled kernels split it into chunks (GEMM_KC) whose sums are added in order. On
 * and off the chunk edge, a narrow N (a column per work-item), and the products that broke on
 * llvmpipe, which silently cut a work-item's loops after some tens of thousands of iterations:
 * M=32 N=10 K=21632 and the first conv's filter gradient over a batch of 64 (9 x 32, K =
 * 64*26*26). Both providers. */
static void run_long_k(mcl_gemm_choice choice, const char *provider) {
    mcl_context *ctx = open_with(choice);
    if (ctx == NULL) return;
    size_t kc = ctx->shapes.gemm.k_chunk;
    const gemm_case cases[] = {
        {8, 10, 1152, false, false, 1.0f, 0.0f, 0, 0},     {32, 10, 21632, false, false, 1.0f, 0.0f, 0, 0},
        {9, 32, 43264, true, false, 1.0f, 1.0f, 0, 0},     {17, 40, kc, false, false, 0.5f, 0.0f, 2, 0},
        {17, 40, kc + 1, true, false, 1.0f, -2.0f, 0, 0}, {5, 70, 2 * kc + 5, false, true, 1.0f, 1.0f, 3, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(ctx, &cases[i], provider);
    mcl_context_free(ctx);
}

/* The tiled kernels' epilogue (bias, bias + ReLU) on every output path: whole tiles, the ragged
 * last window, a narrow N, a transposed A or B, and a K split into chunks, where the
 * reduction applies it. CLBlast applies none and says so. */
START_TEST(test_tiled_epilogue) {
    mcl_context *ctx = open_with(MCL_GEMM_TILED);
    if (ctx == NULL) return;
    ck_assert(mcl_gemm_fuses_epilogue(ctx));
    const mcl_gemm_shape *g = &ctx->shapes.gemm;
    size_t tn = (size_t)g->vector * g->vectors, kc = g->k_chunk;
    const gemm_case cases[] = {
        {128, 256, 100, false, false, 1.0f, 0.0f, 0, 1}, {37, tn + 5, 33, false, false, 1.0f, 0.0f, 2, 2},
        {9, 10, 50, true, false, 0.5f, 1.0f, 0, 2},      {20, 2 * tn, 17, false, true, 1.0f, 0.0f, 0, 1},
        {12, tn + 1, kc + 7, false, false, 1.0f, -1.0f, 1, 2}, {6, 7, kc + 3, true, false, 1.0f, 0.0f, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(ctx, &cases[i], "tiled");
    mcl_context_free(ctx);
    ctx = open_with(MCL_GEMM_CLBLAST);
    ck_assert(!mcl_gemm_fuses_epilogue(ctx));
    mcl_error err = {0};
    mcl_gemm_epilogue epi = {NULL, 0, false};
    mcl_matrix none = {NULL, 0, 1, false};
    ck_assert_int_eq(mcl_gemm_with_epilogue(ctx, 1, 1, 1, 1.0f, none, none, 0.0f, none, &epi, "x",
                                            &err),
                     MCL_ERR_USAGE);
    mcl_context_free(ctx);
}
END_TEST

START_TEST(test_tiled_long_k) {
    run_long_k(MCL_GEMM_TILED, "tiled");
}
END_TEST

START_TEST(test_clblast_long_k) {
    run_long_k(MCL_GEMM_CLBLAST, "CLBlast");
}
END_TEST

/* MNIST_CL_GEMM picks the provider when the caller leaves it to AUTO; a bad value is refused. */
START_TEST(test_env_choice) {
    ck_assert_int_eq(setenv("MNIST_CL_GEMM", "clblast", 1), 0);
    mcl_context *ctx = open_with(MCL_GEMM_AUTO);
    if (ctx == NULL) return;
    ck_assert_str_eq(mcl_context_gemm_name(ctx), "CLBlast");
    mcl_context_free(ctx);
    ck_assert_int_eq(setenv("MNIST_CL_GEMM", "tiled", 1), 0);
    ctx = open_with(MCL_GEMM_AUTO);
    ck_assert_str_eq(mcl_context_gemm_name(ctx), "mnist-cl tiled kernels");
    mcl_context_free(ctx);
    /* An explicit choice wins over the environment. */
    ctx = open_with(MCL_GEMM_CLBLAST);
    ck_assert_str_eq(mcl_context_gemm_name(ctx), "CLBlast");
    mcl_context_free(ctx);
    ck_assert_int_eq(setenv("MNIST_CL_GEMM", "fast", 1), 0);
    mcl_context_options opt = {.platform = -1, .device = -1};
    mcl_error err = {0};
    mcl_status st = mcl_context_create(&opt, &ctx, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "MNIST_CL_GEMM", "'fast'");
    ck_assert_ptr_null(ctx);
    unsetenv("MNIST_CL_GEMM");
}
END_TEST

/* A buffer can outlive its context: the driver may hold it (PoCL releases buffers from its own
 * threads, after mcl_context_free) or a caller may retain it. Its destructor callback then runs
 * after the context is gone and must not touch it: under ASan that was a use-after-free, and
 * under load a deadlock at exit while ASan printed the report. Here the test holds the buffer. */
START_TEST(test_buffer_outlives_its_context) {
    mcl_context *ctx = open_with(MCL_GEMM_TILED);
    if (ctx == NULL) return;
    gemm_case c = {64, 96, 80, false, true, 1.0f, 0.0f, 0, 0}; /* uses the context's scratch */
    run_case(ctx, &c, "tiled");
    mcl_error err = {0};
    cl_mem kept = NULL;
    ck_assert_int_eq(mcl_buffer_create(ctx, 4096, &kept, "a buffer the test keeps", &err), MCL_OK);
    ck_assert_int_eq(clRetainMemObject(kept), CL_SUCCESS);
    ck_assert_int_eq(clReleaseMemObject(kept), CL_SUCCESS); /* the creator's reference */
    uint64_t current = 0, peak = 0;
    mcl_context_device_memory(ctx, &current, &peak);
    ck_assert_uint_ge(current, 4096);
    mcl_context_free(ctx);
    ck_assert_int_eq(clReleaseMemObject(kept), CL_SUCCESS); /* its callback runs now */
}
END_TEST

/* CLBlast keeps the programs it compiles in a process-wide cache keyed by the OpenCL context,
 * and each holds a reference to that context. mcl_context_free must empty that cache: left to
 * CLBlast's static destructor at exit, the programs were released after their context (a crash
 * under oclgrind: "corrupted double-linked list"), and a later context at the same address
 * could be handed another context's program. The test holds the OpenCL context itself and
 * checks that nothing else does after the free. */
START_TEST(test_free_leaves_no_clblast_program) {
    mcl_context *ctx = open_with(MCL_GEMM_CLBLAST);
    if (ctx == NULL) return;
    gemm_case c = {33, 20, 47, false, false, 1.0f, 0.0f, 0, 0};
    run_case(ctx, &c, "CLBlast");
    cl_context cl = ctx->context;
    ck_assert_int_eq(clRetainContext(cl), CL_SUCCESS);
    mcl_context_free(ctx);
    /* A driver may drop its own references a little later: rusticl releases a freed queue's and
     * buffers' hold on the context from a worker thread (2-7 remained right after the free in a
     * third of the runs). A program cached by CLBlast never goes away, so waiting up to 5 s
     * keeps the test's meaning. */
    cl_uint refs = 0;
    for (int wait_ms = 0;; wait_ms += 10) {
        ck_assert_int_eq(clGetContextInfo(cl, CL_CONTEXT_REFERENCE_COUNT, sizeof refs, &refs, NULL),
                         CL_SUCCESS);
        if (refs == 1 || wait_ms >= 5000) break;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    ck_assert_msg(refs == 1, "after mcl_context_free, %u references to the OpenCL context remain "
                             "besides the test's (a CLBlast program cached for it?)", refs - 1);
    ck_assert_int_eq(clReleaseContext(cl), CL_SUCCESS);
}
END_TEST

int main(void) {
    unsetenv("MNIST_CL_GEMM"); /* the tests choose providers themselves */
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_tiled_grid);
    tcase_add_test(tc, test_clblast_grid);
    tcase_add_test(tc, test_tiled_model_shapes);
    tcase_add_test(tc, test_tiled_epilogue);
    tcase_add_test(tc, test_tiled_long_k);
    tcase_add_test(tc, test_clblast_long_k);
    tcase_add_test(tc, test_env_choice);
    tcase_add_test(tc, test_buffer_outlives_its_context);
    tcase_add_test(tc, test_free_leaves_no_clblast_program);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
