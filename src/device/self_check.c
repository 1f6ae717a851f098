/* `mnist-cl devices --check`: a small SGEMM through the context's GEMM provider (and CLBlast,
 * if that is not it) and one of mnist-cl's own kernels, each compared with a plain C reference. Odd
 * sizes and offsets exercise edge handling, which is where badly tuned GEMM parameters and broken
 * drivers go wrong. Also the SGEMM ceiling that `mnist-cl bench` measures its models against. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/atomic_file.h"
#include "core/philox.h"
#include "core/test_hook.h"
#include "device/gemm.h"
#include "device/program_cache.h"
#include "device/self_check.h"

/* fp32 GEMM with K=67 accumulates in different orders on device and host: an absolute margin
 * near zero (where terms cancel) and a relative one elsewhere, as CLBlast's own tester (longer
 * sums widen it, check_gemm_case). A correct SGEMM uses ~2% of this allowance; a wrong kernel
 * exceeds it by orders of magnitude. */
#define CHECK_ABS_TOL 1e-5
#define CHECK_REL_TOL 1e-4

/* The largest error as a multiple of the allowed error: <= 1 passes. */
static double max_scaled_error(const float *a, const float *b, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        double e = fabs((double)a[i] - b[i]) / (CHECK_ABS_TOL + CHECK_REL_TOL * fabs((double)b[i]));
        if (e > worst) worst = e;
    }
    return worst;
}

/* The products the self-check runs: odd sizes, offsets and alpha/beta where badly tuned
 * parameters and broken drivers go wrong, a transposed B, and the shapes of the models' weight
 * gradients, whose K is a batch of positions: llvmpipe silently cut loops of one work-item
 * after some tens of thousands of iterations (M=32 N=10 K=21632 came out wrong there; N*K past
 * 65536 is enough). Small enough for oclgrind to check in seconds. */
typedef struct check_case {
    size_t m, n, k;
    bool ta, tb;
    float alpha, beta;
} check_case;

static const check_case check_cases[] = {
    {37, 53, 67, true, false, 0.5f, 2.0f},
    {70, 45, 130, false, true, 1.0f, 0.0f},
    {8, 10, 9000, false, false, 1.0f, 0.0f},
    {9, 32, 4500, true, false, 1.0f, 1.0f},
};
#define CHECK_OFFSET 5 /* floats before each matrix */

/* The largest error of one product as a multiple of the allowed error, widened by sqrt(K / 67)
 * for long sums (fp32 rounding grows with them). */
static mcl_status check_gemm_case(mcl_context *ctx, bool clblast, const check_case *t,
                                  double *scaled, mcl_error *err) {
    size_t M = t->m, N = t->n, K = t->k, OFF = CHECK_OFFSET;
    size_t a_n = OFF + M * K, b_n = OFF + K * N, c_n = OFF + M * N;
    float *a = mcl_malloc(a_n * sizeof *a), *b = mcl_malloc(b_n * sizeof *b);
    float *c = mcl_malloc(c_n * sizeof *c), *ref = mcl_malloc(c_n * sizeof *ref);
    cl_mem da = NULL, db = NULL, dc = NULL;
    mcl_status st = MCL_OK;
    if (a == NULL || b == NULL || c == NULL || ref == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the GEMM self-check");
    for (size_t i = 0; st == MCL_OK && i < a_n; i++)
        a[i] = mcl_philox_uniform(1, 9, i) - 0.5f;
    for (size_t i = 0; st == MCL_OK && i < b_n; i++)
        b[i] = mcl_philox_uniform(2, 9, i) - 0.5f;
    for (size_t i = 0; st == MCL_OK && i < c_n; i++)
        c[i] = ref[i] = mcl_philox_uniform(3, 9, i);
    size_t lda = t->ta ? M : K, ldb = t->tb ? K : N;
    for (size_t i = 0; st == MCL_OK && i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (size_t k = 0; k < K; k++)
                acc += (double)(t->ta ? a[OFF + k * lda + i] : a[OFF + i * lda + k]) *
                       (t->tb ? b[OFF + j * ldb + k] : b[OFF + k * ldb + j]);
            float *r = &ref[OFF + i * N + j];
            *r = (float)(t->alpha * acc + (t->beta == 0.0f ? 0.0 : (double)t->beta * *r));
        }
    if (st == MCL_OK) st = mcl_buffer_create(ctx, a_n * sizeof(float), &da, "check matrix A", err);
    if (st == MCL_OK) st = mcl_buffer_create(ctx, b_n * sizeof(float), &db, "check matrix B", err);
    if (st == MCL_OK) st = mcl_buffer_create(ctx, c_n * sizeof(float), &dc, "check matrix C", err);
    cl_command_queue q = ctx->queue;
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(q, da, CL_TRUE, 0, a_n * 4, a, 0, NULL, NULL), err,
                          "uploading check data");
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(q, db, CL_TRUE, 0, b_n * 4, b, 0, NULL, NULL), err,
                          "uploading check data");
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(q, dc, CL_TRUE, 0, c_n * 4, c, 0, NULL, NULL), err,
                          "uploading check data");
    mcl_matrix ma = {da, OFF, lda, t->ta}, mb = {db, OFF, ldb, t->tb}, mc = {dc, OFF, N, false};
    if (st == MCL_OK)
        st = clblast ? mcl_gemm_clblast(ctx, M, N, K, t->alpha, ma, mb, t->beta, mc,
                                        "self-check SGEMM", err)
                     : mcl_gemm(ctx, M, N, K, t->alpha, ma, mb, t->beta, mc, "self-check SGEMM",
                                err);
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueReadBuffer(q, dc, CL_TRUE, 0, c_n * 4, c, 0, NULL, NULL), err,
                          "reading check results");
    /* Test hook: a provider that computes a wrong value, for the fallback's tests. */
    bool via_clblast = clblast || !mcl_gemm_tiled(ctx);
    if (st == MCL_OK && mcl_test_hook(via_clblast ? "wrong-clblast" : "wrong-tiled"))
        c[OFF] += 1.0f;
    if (st == MCL_OK) {
        double widen = K > 67 ? sqrt((double)K / 67.0) : 1.0;
        *scaled = max_scaled_error(c + OFF, ref + OFF, M * N) / widen;
    }
    if (da) mcl_cl_release_mem(da);
    if (db) mcl_cl_release_mem(db);
    if (dc) mcl_cl_release_mem(dc);
    free(a), free(b), free(c), free(ref);
    return st;
}

/* Every check case through one provider; MCL_ERR_CHECK_FAILED names the first that is wrong. */
static mcl_status check_gemm(mcl_context *ctx, bool clblast, mcl_error *err) {
    for (size_t i = 0; i < sizeof check_cases / sizeof check_cases[0]; i++) {
        const check_case *t = &check_cases[i];
        double e = 0.0;
        mcl_status st = check_gemm_case(ctx, clblast, t, &e, err);
        if (st != MCL_OK) return st;
        if (!(e <= 1.0))
            return mcl_fail(err, MCL_ERR_CHECK_FAILED,
                            "SGEMM by %s (%zux%zux%zu%s%s, offsets) disagrees with the CPU "
                            "reference: error %.3g x tolerance",
                            clblast ? "CLBlast" : mcl_context_gemm_name(ctx), t->m, t->n, t->k,
                            t->ta ? ", transposed A" : "", t->tb ? ", transposed B" : "", e);
    }
    return MCL_OK;
}

/* The SGD-with-momentum kernel, two steps, against the same arithmetic on the host. The first
 * step consumes (zeroes) the gradients, so the second is momentum alone. */
static mcl_status check_kernel(mcl_context *ctx, mcl_error *err) {
    enum { COUNT = 1001 }; /* no multiple of a vector: the kernel's tail runs too */
    float p[COUNT], g[COUNT], out[COUNT];
    for (int i = 0; i < COUNT; i++) {
        p[i] = mcl_philox_uniform(4, 9, (uint64_t)i) - 0.5f;
        g[i] = mcl_philox_uniform(5, 9, (uint64_t)i) - 0.5f;
    }
    cl_mem bufs[3] = {NULL, NULL, NULL}; /* params, grads, velocity */
    mcl_status st = MCL_OK;
    for (int i = 0; i < 3 && st == MCL_OK; i++)
        st = mcl_buffer_create(ctx, sizeof p, &bufs[i], "check buffer", err);
    cl_command_queue q = ctx->queue;
    const float zero = 0.0f;
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(q, bufs[0], CL_TRUE, 0, sizeof p, p, 0, NULL, NULL),
                          err, "uploading check data");
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(q, bufs[1], CL_TRUE, 0, sizeof g, g, 0, NULL, NULL),
                          err, "uploading check data");
    if (st == MCL_OK)
        st = mcl_fill(ctx, bufs[2], &zero, sizeof zero, 0, sizeof p, "zeroing check data", err);
    cl_kernel k = NULL;
    if (st == MCL_OK) st = mcl_kernel_create(ctx, "sgd_step", &k, err);
    cl_float lr = 0.1f, momentum = 0.9f, decay = 0.0f;
    cl_int nesterov = 0;
    for (int rep = 0; rep < 2 && st == MCL_OK; rep++) {
        cl_uint count = COUNT;
        size_t width = (size_t)ctx->shapes.vector.width * ctx->shapes.vector.span;
        st = MCL_SET_ARGS(k, err, MCL_ARG(bufs[0]), MCL_ARG(bufs[1]), MCL_ARG(bufs[2]),
                          MCL_ARG(count), MCL_ARG(lr), MCL_ARG(momentum), MCL_ARG(decay),
                          MCL_ARG(nesterov));
        if (st == MCL_OK)
            st = mcl_enqueue_vector(ctx, k, 1, (size_t[]){(COUNT + width - 1) / width}, NULL, err);
    }
    if (st == MCL_OK)
        st = MCL_CL_CHECK(
            clEnqueueReadBuffer(q, bufs[0], CL_TRUE, 0, sizeof out, out, 0, NULL, NULL), err,
            "reading check results");
    if (st == MCL_OK) {
        float ref[COUNT];
        for (int i = 0; i < COUNT; i++) {
            /* two steps from zero velocity: v1 = -lr g, v2 = m v1 - lr 0 */
            float v1 = -lr * g[i], v2 = momentum * v1;
            ref[i] = (p[i] + v1) + v2;
        }
        double e = max_scaled_error(out, ref, COUNT);
        if (!(e <= 1.0))
            st = mcl_fail(err, MCL_ERR_CHECK_FAILED,
                          "kernel sgd_step disagrees with the CPU reference: error %.3g x "
                          "tolerance",
                          e);
    }
    if (k != NULL) mcl_cl_release_kernel(k);
    for (int i = 0; i < 3; i++)
        if (bufs[i] != NULL) mcl_cl_release_mem(bufs[i]);
    return st;
}

/* Where the verdict of the start-up check of `provider` is kept: beside the program's cache
 * entry, keyed by the same hash (sources, options, device, driver, mnist-cl version), one file
 * per provider (<hash>.tiled.check, <hash>.clblast.check): with one file for both, runs that
 * alternate providers (MNIST_CL_GEMM) overwrote each other's verdict and each re-ran the check.
 * False when the cache is off. */
static bool verdict_path(const mcl_context *ctx, const char *provider, char *out, size_t size) {
    char dir[3900];
    if (ctx->program_hash == 0 || !mcl_cache_dir(dir, sizeof dir)) return false;
    return (size_t)snprintf(out, size, "%s/%016llx.%s.check", dir,
                            (unsigned long long)ctx->program_hash, provider) < size;
}

#define VERDICT_HEADER "mnist-cl self-check 1\n"

/* Whether a stored verdict says `provider` passed on this program and device. */
static bool verdict_says_pass(const mcl_context *ctx, const char *provider) {
    char path[4096], want[128], got[128] = {0};
    if (!verdict_path(ctx, provider, path, sizeof path)) return false;
    FILE *f = fopen(path, "rb");
    if (f == NULL) return false;
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    snprintf(want, sizeof want, "%s%s pass\n", VERDICT_HEADER, provider);
    return strcmp(got, want) == 0;
}

static void verdict_store_pass(mcl_context *ctx, const char *provider) {
    char path[4096], text[128];
    if (!verdict_path(ctx, provider, path, sizeof path)) return;
    int n = snprintf(text, sizeof text, "%s%s pass\n", VERDICT_HEADER, provider);
    mcl_error err = {0};
    if (mcl_atomic_write(path, text, (size_t)n, "self-check verdict", &err) != MCL_OK)
        mcl_log(ctx, MCL_LOG_DEBUG, "self-check verdict not kept: %s", err.message);
}

/* The start-up check of the context's GEMM provider (mcl_context_verify_gemm). */
static mcl_status verify_provider(mcl_context *ctx, mcl_error *err) {
    const char *provider = mcl_gemm_tiled(ctx) ? "tiled" : "clblast";
    if (verdict_says_pass(ctx, provider)) return MCL_OK;
    mcl_status st = check_gemm(ctx, false, err);
    if (st == MCL_OK) verdict_store_pass(ctx, provider);
    return st;
}

mcl_status mcl_context_verify_gemm(mcl_context *ctx, mcl_error *err) {
    mcl_error first = {0};
    mcl_status st = verify_provider(ctx, &first);
    if (st != MCL_ERR_CHECK_FAILED) {
        if (st != MCL_OK && err != NULL) *err = first;
        return st;
    }
    const char *name = mcl_context_gemm_name(ctx);
    const char *other = mcl_gemm_tiled(ctx) ? "clblast" : "tiled";
    if (mcl_gemm_chosen_explicitly(ctx))
        return mcl_fail(err, MCL_ERR_CHECK_FAILED,
                        "%s; %s gives wrong results on %s: choose the other GEMM provider "
                        "(MNIST_CL_GEMM=%s)",
                        first.message, name, ctx->info.name, other);
    /* AUTO chose a path this device gets wrong: the other one, if it passes. */
    st = mcl_gemm_use(ctx, !mcl_gemm_tiled(ctx), err);
    if (st == MCL_OK) st = verify_provider(ctx, err);
    if (st == MCL_ERR_CHECK_FAILED)
        return mcl_fail(err, MCL_ERR_CHECK_FAILED,
                        "neither GEMM provider gives correct results on %s: %s; the driver is "
                        "broken here ('mnist-cl devices --check' shows more)",
                        ctx->info.name, first.message);
    if (st == MCL_OK)
        mcl_log(ctx, MCL_LOG_WARN, "warning: %s; using %s instead on %s", first.message,
                mcl_context_gemm_name(ctx), ctx->info.name);
    return st;
}

mcl_status mcl_context_self_check(mcl_context *ctx, mcl_error *err) {
    mcl_status st = check_gemm(ctx, false, err);
    /* CLBlast too where the context multiplies with its own kernels (MNIST_CL_GEMM=clblast
     * would switch to it). */
    if (st == MCL_OK && mcl_gemm_tiled(ctx)) st = check_gemm(ctx, true, err);
    return st != MCL_OK ? st : check_kernel(ctx, err);
}

static double monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* cl/probe.cl's chains per work-item. */
#define PROBE_CHAINS 12

mcl_status mcl_context_fma_peak_gflops(mcl_context *ctx, double *gflops, mcl_error *err) {
    *gflops = 0.0;
    bool simt = ctx->shapes.device_class == MCL_CLASS_SIMT;
    size_t vw = ctx->shapes.gemm.vector;
    /* CPU devices: a few work-groups of one per compute unit, which the driver spreads over its
     * threads. SIMT devices: enough work-items to fill every compute unit. */
    size_t items = (size_t)ctx->info.compute_units * (simt ? 2048u : 4u);
    cl_mem out = NULL;
    cl_kernel k = NULL;
    mcl_status st = mcl_buffer_create(ctx, items * vw * sizeof(float), &out, "the FMA probe", err);
    if (st == MCL_OK) st = mcl_kernel_create(ctx, "fma_peak", &k, err);
    cl_float scale = 0.5f, offset = 1.0f;
    double seconds = 0.0;
    cl_uint iterations = 1024;
    /* Double the work until a run takes 50 ms (the first run also compiles the kernel). */
    for (int tries = 0; st == MCL_OK && tries < 24; tries++) {
        st = MCL_SET_ARGS(k, err, MCL_ARG(out), MCL_ARG(iterations), MCL_ARG(scale), MCL_ARG(offset));
        if (st == MCL_OK) st = MCL_CL_CHECK(clFinish(ctx->queue), err, "waiting for the FMA probe");
        double start = monotonic_seconds();
        if (st == MCL_OK)
            st = simt ? mcl_enqueue(ctx, k, 1, &items, err)
                      : mcl_enqueue_local(ctx, k, 1, &items, (size_t[]){1}, err);
        if (st == MCL_OK) st = MCL_CL_CHECK(clFinish(ctx->queue), err, "waiting for the FMA probe");
        seconds = monotonic_seconds() - start;
        if (tries > 0 && seconds >= 0.05) break;
        if (iterations < (1u << 30)) iterations *= 2;
    }
    if (st == MCL_OK && seconds > 0.0)
        *gflops = 2.0 * (double)vw * PROBE_CHAINS * iterations * (double)items / seconds * 1e-9;
    if (k != NULL) mcl_cl_release_kernel(k);
    if (out != NULL) mcl_cl_release_mem(out);
    return st;
}

mcl_status mcl_context_sgemm_gflops(mcl_context *ctx, uint32_t n, uint32_t repeats, double *gflops,
                                    mcl_error *err) {
    *gflops = 0.0;
    if (n == 0 || repeats == 0)
        return mcl_fail(err, MCL_ERR_USAGE, "the SGEMM size and repeat count must be positive");
    size_t bytes = (size_t)n * n * sizeof(float);
    cl_mem m[3] = {NULL, NULL, NULL};
    static const char *const names[3] = {"SGEMM ceiling matrix A", "SGEMM ceiling matrix B",
                                         "SGEMM ceiling matrix C"};
    mcl_status st = MCL_OK;
    const float fill[3] = {0.5f, 0.25f, 0.0f};
    for (int i = 0; i < 3 && st == MCL_OK; i++) {
        st = mcl_buffer_create(ctx, bytes, &m[i], names[i], err);
        if (st == MCL_OK)
            st = mcl_fill(ctx, m[i], &fill[i], sizeof fill[i], 0, bytes,
                          "filling an SGEMM ceiling matrix", err);
    }
    double start = 0.0;
    for (uint32_t r = 0; r <= repeats && st == MCL_OK; r++) {
        mcl_matrix a = {m[0], 0, n, false}, b = {m[1], 0, n, false}, c = {m[2], 0, n, false};
        st = mcl_gemm(ctx, n, n, n, 1.0f, a, b, 0.0f, c, "the SGEMM ceiling", err);
        /* The first call may compile the GEMM kernel for the device: not timed. */
        if (st == MCL_OK && r == 0) {
            st = MCL_CL_CHECK(clFinish(ctx->queue), err, "waiting for the SGEMM ceiling");
            start = monotonic_seconds();
        }
    }
    if (st == MCL_OK) st = MCL_CL_CHECK(clFinish(ctx->queue), err, "waiting for the SGEMM ceiling");
    if (st == MCL_OK) {
        double seconds = monotonic_seconds() - start;
        *gflops = 2.0 * n * n * (double)n * repeats / (seconds > 0.0 ? seconds : 1e-9) * 1e-9;
    }
    for (int i = 0; i < 3; i++)
        if (m[i] != NULL) mcl_cl_release_mem(m[i]);
    /* The packed B of a large product stays in the context's scratch: give it back, so that it
     * does not count towards what a model trained next needs. */
    mcl_scratch_release(ctx);
    return st;
}
