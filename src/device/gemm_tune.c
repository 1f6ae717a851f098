/* GEMM tuning (see gemm_tune.h). The tuning file is text:
 *
 *   mnist-cl gemm tuning 1
 *   device=<name>|<vendor>|<driver version>|<platform version>
 *   XgemmDirect WGD=64 MDIMCD=16 NDIMCD=8 MDIMAD=16 NDIMBD=8 KWID=8 VWMD=4 VWND=8 PADA=0 PADB=0
 *   gflops=<tuned> default=<CLBlast's own parameters>
 *
 * The workload timed is the default MLP's training GEMMs at batch 128 (forward, weight and
 * input gradients of its three layers): the shapes whose speed decides an MLP epoch. */
#define _POSIX_C_SOURCE 200809L
#include "device/gemm_tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/atomic_file.h"
#include "core/philox.h"
#include "core/read_file.h"
#include "device/kernel_tuning.h"
#include "device/program_cache.h"

#define TUNING_HEADER "mnist-cl gemm tuning 1"
#define TUNING_MAX_BYTES 65536u
#define TIMED_REPEATS 5
/* A tuned configuration is kept only if it beats CLBlast's own by this factor. */
#define MIN_GAIN 1.05

/* Candidates, best first as measured on PoCL (AVX-512); a device keeps whichever is fastest
 * there. Each costs a kernel compilation (7-38 s on PoCL), so the list is short. */
static const mcl_gemm_direct_params candidates[] = {
    {{64, 16, 8, 16, 8, 8, 4, 8, 0, 0}},   {{64, 8, 8, 8, 8, 8, 8, 8, 0, 0}},
    {{64, 8, 16, 8, 16, 8, 8, 4, 0, 0}},   {{64, 16, 16, 16, 16, 16, 4, 4, 0, 0}},
    {{64, 16, 8, 16, 8, 16, 4, 8, 0, 0}},  {{32, 8, 8, 8, 8, 8, 4, 4, 0, 0}},
    {{32, 8, 8, 8, 8, 2, 4, 4, 1, 1}},     {{64, 16, 16, 16, 16, 8, 4, 4, 0, 0}},
    {{32, 16, 8, 16, 8, 8, 2, 4, 0, 0}},   {{64, 8, 8, 16, 16, 8, 8, 8, 1, 1}},
    {{32, 16, 16, 16, 16, 8, 2, 2, 1, 1}}, {{16, 8, 8, 8, 8, 8, 2, 2, 0, 0}},
};
#define CANDIDATE_COUNT (sizeof candidates / sizeof candidates[0])

bool mcl_gemm_direct_valid(const mcl_gemm_direct_params *p, uint64_t local_mem_bytes,
                           size_t max_group) {
    size_t wgd = p->v[0], mdimcd = p->v[1], ndimcd = p->v[2], mdimad = p->v[3], ndimbd = p->v[4],
           kwid = p->v[5], vwmd = p->v[6], vwnd = p->v[7], pada = p->v[8], padb = p->v[9];
    for (int i = 0; i < 8; i++)
        if (p->v[i] == 0 || p->v[i] > 256) return false;
    if (pada > 1 || padb > 1) return false;
    if (mdimcd * ndimcd > max_group) return false;
    if ((mdimcd * ndimcd) % mdimad != 0 || (mdimcd * ndimcd) % ndimbd != 0) return false;
    if (wgd % kwid != 0 || wgd % (mdimcd * vwmd) != 0 || wgd % (ndimcd * vwnd) != 0 ||
        wgd % (mdimad * vwmd) != 0 || wgd % (ndimbd * vwnd) != 0 ||
        wgd % (mdimcd * ndimcd / mdimad) != 0 || wgd % (mdimcd * ndimcd / ndimbd) != 0)
        return false;
    uint64_t local = (uint64_t)(wgd * (wgd + pada) + wgd * (wgd + padb)) * sizeof(float);
    return local <= local_mem_bytes;
}

void mcl_gemm_direct_format(const mcl_gemm_direct_params *p, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < MCL_GEMM_DIRECT_PARAMS && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s=%zu", i ? " " : "",
                                 mcl_gemm_direct_names[i], p->v[i]);
}

bool mcl_gemm_tuning_path(const mcl_context *ctx, char *out, size_t size) {
    return mcl_tuning_file_path(ctx, "gemm", out, size);
}

/* Parses a tuning file's text for ctx's device; false with `why` set if it is not usable. */
static bool parse_tuning(const mcl_context *ctx, char *text, mcl_gemm_direct_params *p,
                         const char **why) {
    char want[600];
    mcl_tuning_device_line(ctx, want, sizeof want);
    char *save = NULL;
    const char *header = strtok_r(text, "\n", &save);
    const char *device = strtok_r(NULL, "\n", &save);
    char *params = strtok_r(NULL, "\n", &save);
    if (header == NULL || strcmp(header, TUNING_HEADER) != 0) {
        *why = "not an mnist-cl GEMM tuning file of this version";
        return false;
    }
    if (device == NULL || strcmp(device, want) != 0) {
        *why = "it was made for another device or driver";
        return false;
    }
    if (params == NULL || strncmp(params, "XgemmDirect ", 12) != 0) {
        *why = "the XgemmDirect line is missing";
        return false;
    }
    char *psave = NULL;
    char *tok = strtok_r(params + 12, " ", &psave);
    for (int i = 0; i < MCL_GEMM_DIRECT_PARAMS; i++, tok = strtok_r(NULL, " ", &psave)) {
        size_t len = strlen(mcl_gemm_direct_names[i]);
        char *end = NULL;
        if (tok == NULL || strncmp(tok, mcl_gemm_direct_names[i], len) != 0 || tok[len] != '=' ||
            tok[len + 1] < '0' || tok[len + 1] > '9') {
            *why = "a parameter is missing, misnamed or out of order";
            return false;
        }
        unsigned long v = strtoul(tok + len + 1, &end, 10);
        if (*end != '\0' || v > 4096) {
            *why = "a parameter value is not a small number";
            return false;
        }
        p->v[i] = v;
    }
    if (tok != NULL) {
        *why = "the XgemmDirect line has extra fields";
        return false;
    }
    if (!mcl_gemm_direct_valid(p, ctx->info.local_mem_bytes, ctx->info.max_work_group_size)) {
        *why = "the parameters break the kernel's constraints on this device";
        return false;
    }
    return true;
}

void mcl_gemm_tuning_apply_stored(mcl_context *ctx) {
    mcl_gemm_set_tuned(ctx, false);
    const char *off = getenv("MNIST_CL_TUNING");
    if (off != NULL && strcmp(off, "0") == 0) return;
    char path[4096];
    if (!mcl_gemm_tuning_path(ctx, path, sizeof path)) return;
    FILE *probe = fopen(path, "rb");
    if (probe == NULL) return; /* never tuned: CLBlast's own parameters */
    fclose(probe);
    uint8_t *data = NULL;
    size_t size = 0;
    mcl_error err = {0};
    if (mcl_read_file(path, "a GEMM tuning file", TUNING_MAX_BYTES, &data, &size, &err) != MCL_OK) {
        mcl_log(ctx, MCL_LOG_WARN, "ignoring the GEMM tuning: %s", err.message);
        return;
    }
    char *text = mcl_calloc(size + 1, 1);
    mcl_gemm_direct_params p;
    const char *why = "out of host memory";
    bool ok = text != NULL;
    if (ok) {
        if (size > 0) memcpy(text, data, size);
        ok = parse_tuning(ctx, text, &p, &why);
    }
    free(text);
    free(data);
    if (!ok) {
        mcl_log(ctx, MCL_LOG_WARN, "ignoring the GEMM tuning in %s: %s (run 'mnist-cl tune')", path,
                why);
        return;
    }
    if (mcl_gemm_override_direct(ctx, &p, &err) != MCL_OK) {
        mcl_log(ctx, MCL_LOG_WARN, "ignoring the GEMM tuning in %s: %s", path, err.message);
        return;
    }
    mcl_gemm_set_tuned(ctx, true);
}

/* ---------------------------------------------------------------- the search */

typedef struct gemm_op {
    size_t m, n, k;
    bool ta, tb; /* A stored [k, m] / B stored [n, k] */
    cl_mem a, b, c;
    double *ref; /* [m, n] */
} gemm_op;

/* The default MLP (784-256-128-10) at batch 128: forward, weight gradients, input gradients. */
static const struct {
    size_t m, n, k;
    bool ta, tb;
} workload[] = {
    {128, 256, 784, false, false}, {128, 128, 256, false, false}, {128, 10, 128, false, false},
    {784, 256, 128, true, false},  {256, 128, 128, true, false},  {128, 10, 128, true, false},
    {128, 256, 128, false, true},  {128, 128, 10, false, true},
};
#define WORKLOAD_OPS (sizeof workload / sizeof workload[0])

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct mcl_gemm_workload {
    gemm_op ops[WORKLOAD_OPS];
};

static void free_ops(gemm_op *ops) {
    for (size_t i = 0; i < WORKLOAD_OPS; i++) {
        if (ops[i].a != NULL) mcl_cl_release_mem(ops[i].a);
        if (ops[i].b != NULL) mcl_cl_release_mem(ops[i].b);
        if (ops[i].c != NULL) mcl_cl_release_mem(ops[i].c);
        free(ops[i].ref);
    }
}

void mcl_gemm_workload_free(mcl_gemm_workload *w) {
    if (w == NULL) return;
    free_ops(w->ops);
    free(w);
}

static mcl_status upload_random(mcl_context *ctx, size_t count, uint64_t stream, cl_mem *out,
                                float *host, mcl_error *err) {
    for (size_t i = 0; i < count; i++)
        host[i] = 2.0f * mcl_philox_uniform(0x7u, stream, i) - 1.0f;
    mcl_status st = mcl_buffer_create(ctx, count * sizeof(float), out, "a tuning matrix", err);
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(ctx->queue, *out, CL_TRUE, 0, count * sizeof(float),
                                               host, 0, NULL, NULL),
                          err, "uploading a tuning matrix");
    return st;
}

/* Random inputs on the device and their products on the host (in double). */
static mcl_status setup_ops(mcl_context *ctx, gemm_op *ops, mcl_error *err) {
    mcl_status st = MCL_OK;
    for (size_t i = 0; i < WORKLOAD_OPS && st == MCL_OK; i++) {
        gemm_op *o = &ops[i];
        o->m = workload[i].m, o->n = workload[i].n, o->k = workload[i].k;
        o->ta = workload[i].ta, o->tb = workload[i].tb;
        float *a = mcl_malloc(o->m * o->k * sizeof *a), *b = mcl_malloc(o->k * o->n * sizeof *b);
        o->ref = mcl_malloc(o->m * o->n * sizeof *o->ref);
        if (a == NULL || b == NULL || o->ref == NULL)
            st = mcl_fail(err, MCL_ERR_HOST_MEMORY,
                          "out of host memory for the GEMM tuning's workload");
        if (st == MCL_OK) st = upload_random(ctx, o->m * o->k, 2 * i, &o->a, a, err);
        if (st == MCL_OK) st = upload_random(ctx, o->k * o->n, 2 * i + 1, &o->b, b, err);
        if (st == MCL_OK)
            st = mcl_buffer_create(ctx, o->m * o->n * sizeof(float), &o->c, "a tuning result", err);
        for (size_t r = 0; r < o->m && st == MCL_OK; r++)
            for (size_t c = 0; c < o->n; c++) {
                double s = 0.0;
                for (size_t q = 0; q < o->k; q++)
                    s += (double)(o->ta ? a[q * o->m + r] : a[r * o->k + q]) *
                         (double)(o->tb ? b[c * o->k + q] : b[q * o->n + c]);
                o->ref[r * o->n + c] = s;
            }
        free(a);
        free(b);
    }
    return st;
}

/* Runs the workload through CLBlast, or with `tiled` through mcl_gemm (the tiled kernels). */
static mcl_status run_ops(mcl_context *ctx, gemm_op *ops, bool tiled, mcl_error *err) {
    mcl_status st = MCL_OK;
    for (size_t i = 0; i < WORKLOAD_OPS && st == MCL_OK; i++) {
        gemm_op *o = &ops[i];
        mcl_matrix a = {o->a, 0, o->ta ? o->m : o->k, o->ta};
        mcl_matrix b = {o->b, 0, o->tb ? o->k : o->n, o->tb};
        mcl_matrix c = {o->c, 0, o->n, false};
        st = (tiled ? mcl_gemm : mcl_gemm_clblast)(ctx, o->m, o->n, o->k, 1.0f, a, b, 0.0f, c,
                                                   "the tuning workload", err);
    }
    return st;
}

/* Times the workload (one untimed pass: compilation) and checks every product against the
 * reference: *max_error is the worst |c - ref| / (1e-3 + 1e-3 |ref|) (<= 1 passes). */
static mcl_status measure(mcl_context *ctx, gemm_op *ops, bool tiled, double *gflops,
                          double *max_error, mcl_error *err) {
    mcl_status st = run_ops(ctx, ops, tiled, err);
    if (st == MCL_OK) st = MCL_CL_CHECK(clFinish(ctx->queue), err, "waiting for the tuning");
    double start = now_seconds();
    for (int r = 0; r < TIMED_REPEATS && st == MCL_OK; r++)
        st = run_ops(ctx, ops, tiled, err);
    if (st == MCL_OK) st = MCL_CL_CHECK(clFinish(ctx->queue), err, "waiting for the tuning");
    double seconds = now_seconds() - start, flops = 0.0;
    *max_error = 0.0;
    for (size_t i = 0; i < WORKLOAD_OPS && st == MCL_OK; i++) {
        gemm_op *o = &ops[i];
        flops += 2.0 * (double)o->m * o->n * o->k * TIMED_REPEATS;
        float *c = mcl_malloc(o->m * o->n * sizeof *c);
        if (c == NULL)
            return mcl_fail(err, MCL_ERR_HOST_MEMORY,
                            "out of host memory for the GEMM tuning's results");
        st = MCL_CL_CHECK(clEnqueueReadBuffer(ctx->queue, o->c, CL_TRUE, 0, o->m * o->n * sizeof *c,
                                              c, 0, NULL, NULL),
                          err, "reading a tuning result");
        for (size_t j = 0; j < o->m * o->n && st == MCL_OK; j++) {
            double e = fabs((double)c[j] - o->ref[j]) / (1e-3 + 1e-3 * fabs(o->ref[j]));
            if (!(e <= *max_error)) *max_error = isfinite(e) ? e : INFINITY;
        }
        free(c);
    }
    *gflops = seconds > 0.0 ? flops / seconds * 1e-9 : 0.0;
    return st;
}

mcl_status mcl_gemm_workload_create(mcl_context *ctx, mcl_gemm_workload **out, mcl_error *err) {
    *out = mcl_calloc(1, sizeof **out);
    if (*out == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY,
                        "out of host memory for the GEMM tuning's workload");
    mcl_status st = setup_ops(ctx, (*out)->ops, err);
    if (st != MCL_OK) {
        mcl_gemm_workload_free(*out);
        *out = NULL;
    }
    return st;
}

mcl_status mcl_gemm_workload_measure(mcl_context *ctx, mcl_gemm_workload *w, bool tiled,
                                     double *gflops, double *max_error, mcl_error *err) {
    return measure(ctx, w->ops, tiled, gflops, max_error, err);
}

static mcl_status store(mcl_context *ctx, const mcl_gemm_direct_params *p, double gflops,
                        double default_gflops, char *path, size_t path_size, mcl_error *err) {
    if (!mcl_gemm_tuning_path(ctx, path, path_size))
        return mcl_fail(err, MCL_ERR_USAGE,
                        "no folder to keep the tuning in: MNIST_CL_CACHE=0, or neither "
                        "MNIST_CL_CACHE_DIR, XDG_CACHE_HOME nor HOME is set");
    char line[600], params[256], text[1200];
    mcl_tuning_device_line(ctx, line, sizeof line);
    mcl_gemm_direct_format(p, params, sizeof params);
    int n = snprintf(text, sizeof text, "%s\n%s\nXgemmDirect %s\ngflops=%.2f default=%.2f\n",
                     TUNING_HEADER, line, params, gflops, default_gflops);
    if (!mcl_cache_make_folders(path))
        return mcl_fail(err, MCL_ERR_IO, "%s: cannot create its folder", path);
    return mcl_atomic_write(path, text, (size_t)n, "GEMM tuning", err);
}

mcl_status mcl_gemm_tune(mcl_context *ctx, uint32_t max_configs, mcl_tune_progress_fn progress,
                         void *user, mcl_tune_result *out, mcl_error *err) {
    memset(out, 0, sizeof *out);
    out->best = -1;
    if (mcl_context_gemm_tuned(ctx))
        return mcl_fail(err, MCL_ERR_USAGE,
                        "this context already applies a stored tuning; tune on a context created "
                        "with MNIST_CL_TUNING=0 so that CLBlast's own parameters are the baseline");
    if (max_configs > MCL_TUNE_MAX_CANDIDATES) max_configs = MCL_TUNE_MAX_CANDIDATES;
    uint32_t total = 0;
    for (size_t i = 0; i < CANDIDATE_COUNT; i++)
        total += mcl_gemm_direct_valid(&candidates[i], ctx->info.local_mem_bytes,
                                       ctx->info.max_work_group_size);
    if (total > max_configs) total = max_configs;
    mcl_gemm_direct_params best_params = {{0}};
    gemm_op ops[WORKLOAD_OPS];
    memset(ops, 0, sizeof ops);
    mcl_status st = setup_ops(ctx, ops, err);
    double error = 0.0;
    if (st == MCL_OK) st = measure(ctx, ops, false, &out->default_gflops, &error, err);
    if (st == MCL_OK && !(error <= 1.0))
        st = mcl_fail(err, MCL_ERR_CHECK_FAILED,
                      "CLBlast's own GEMM parameters give wrong results on %s (scaled error %.3g); "
                      "the driver or CLBlast is broken here",
                      ctx->info.name, error);
    if (st == MCL_OK && progress != NULL) {
        mcl_tune_candidate baseline = {
            .gflops = out->default_gflops, .max_error = error, .ran = true, .correct = true};
        snprintf(baseline.params, sizeof baseline.params, "CLBlast's own parameters");
        progress(&baseline, 0, total, user);
    }
    for (size_t i = 0; i < CANDIDATE_COUNT && out->count < max_configs && st == MCL_OK; i++) {
        if (!mcl_gemm_direct_valid(&candidates[i], ctx->info.local_mem_bytes,
                                   ctx->info.max_work_group_size))
            continue;
        mcl_tune_candidate *c = &out->candidates[out->count];
        mcl_gemm_direct_format(&candidates[i], c->params, sizeof c->params);
        st = mcl_gemm_override_direct(ctx, &candidates[i], err);
        if (st == MCL_OK) st = measure(ctx, ops, false, &c->gflops, &c->max_error, err);
        /* A candidate this driver cannot compile or run is rejected, not fatal. */
        c->ran = st == MCL_OK;
        if (st == MCL_ERR_GEMM) {
            st = MCL_OK;
            c->gflops = 0.0;
            c->max_error = INFINITY;
        }
        c->correct = c->ran && c->max_error <= 1.0;
        if (st == MCL_OK && c->correct && c->gflops > out->best_gflops) {
            out->best_gflops = c->gflops;
            out->best = (int)out->count;
        }
        out->count++;
        if (st == MCL_OK && out->best == (int)out->count - 1) best_params = candidates[i];
        if (st == MCL_OK && progress != NULL) progress(c, out->count, total, user);
    }
    if (st == MCL_OK && mcl_gemm_tiled(ctx)) {
        st = measure(ctx, ops, true, &out->tiled_gflops, &error, err);
        if (st == MCL_OK && !(error <= 1.0))
            st = mcl_fail(err, MCL_ERR_CHECK_FAILED,
                          "mnist-cl's tiled GEMM kernels give wrong results on %s (scaled error "
                          "%.3g)",
                          ctx->info.name, error);
    }
    if (st == MCL_OK && out->best >= 0 && out->best_gflops < MIN_GAIN * out->default_gflops)
        out->best = -1; /* no candidate beat CLBlast's own parameters clearly */
    if (st == MCL_OK && out->best >= 0)
        st = store(ctx, &best_params, out->best_gflops, out->default_gflops, out->path,
                   sizeof out->path, err);
    out->stored = st == MCL_OK && out->best >= 0;
    /* Nothing better than CLBlast's own: an earlier tuning must not outlive this result. */
    if (st == MCL_OK && out->best < 0 && mcl_gemm_tuning_path(ctx, out->path, sizeof out->path))
        out->removed = unlink(out->path) == 0;
    free_ops(ops);
    return st;
}
