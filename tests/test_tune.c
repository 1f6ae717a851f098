/* GEMM tuning: the stored file is applied only when it is valid for this device and driver,
 * an applied tuning still computes correctly, MNIST_CL_TUNING=0 ignores it, and a one-candidate
 * search measures, checks and stores (or not) as it says. Each test gets its own cache folder. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "device/gemm_tune.h"
#include "device/kernel_tuning.h"
#include "test_util.h"

typedef struct log_capture {
    char text[4096];
} log_capture;

static void capture(mcl_log_level level, const char *message, void *user) {
    (void)level;
    log_capture *c = user;
    size_t used = strlen(c->text);
    snprintf(c->text + used, sizeof c->text - used, "%s\n", message);
}

/* A context logging into `log` (NULL: stderr), with the cache in test_tmp_dir/cache. */
static mcl_context *open_context(log_capture *log) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache", test_tmp_dir);
    ck_assert_int_eq(setenv("MNIST_CL_CACHE_DIR", dir, 1), 0);
    /* CLBlast multiplies, so that what is tuned is what runs (CPU devices default to the
     * tiled kernels). */
    mcl_context_options opt = {.gemm = MCL_GEMM_CLBLAST};
    if (log != NULL) {
        memset(log, 0, sizeof *log);
        opt.log = capture;
        opt.log_user = log;
    }
    return test_context_create_options(opt);
}

static void write_tuning(const mcl_context *ctx, const char *params, const char *device_line) {
    char path[4096], folder[4096], text[2048];
    ck_assert(mcl_gemm_tuning_path(ctx, path, sizeof path));
    snprintf(folder, sizeof folder, "%s", path);
    *strrchr(folder, '/') = '\0';
    mkdir(folder, 0755);
    const mcl_device_info *d = mcl_context_device(ctx);
    char line[700];
    if (device_line == NULL)
        snprintf(line, sizeof line, "device=%s|%s|%s|%s", d->name, d->vendor, d->driver_version,
                 d->platform_version);
    else
        snprintf(line, sizeof line, "%s", device_line);
    snprintf(text, sizeof text, "mnist-cl gemm tuning 1\n%s\nXgemmDirect %s\ngflops=1 default=1\n",
             line, params);
    test_write_file(path, text, strlen(text), 0);
}

#define GOOD "WGD=64 MDIMCD=16 NDIMCD=8 MDIMAD=16 NDIMBD=8 KWID=8 VWMD=4 VWND=8 PADA=0 PADB=0"

START_TEST(test_constraints) {
    mcl_gemm_direct_params good = {{64, 16, 8, 16, 8, 8, 4, 8, 0, 0}};
    ck_assert(mcl_gemm_direct_valid(&good, 65536, 1024));
    mcl_gemm_direct_params p = good;
    p.v[0] = 48; /* WGD not a multiple of MDIMCD * VWMD */
    ck_assert(!mcl_gemm_direct_valid(&p, 65536, 1024));
    p = good;
    p.v[8] = 2; /* padding is 0 or 1 */
    ck_assert(!mcl_gemm_direct_valid(&p, 65536, 1024));
    ck_assert(!mcl_gemm_direct_valid(&good, 16384, 1024)); /* 2 * 64 * 64 floats of local */
    ck_assert(!mcl_gemm_direct_valid(&good, 65536, 64));   /* 16 x 8 work-items */
    char text[200];
    mcl_gemm_direct_format(&good, text, sizeof text);
    ck_assert_str_eq(text, GOOD);
}
END_TEST

/* Files that must not be applied: each is ignored with a warning naming the reason. */
START_TEST(test_bad_files_are_ignored) {
    log_capture log;
    mcl_context *ctx = open_context(&log);
    if (ctx == NULL) return;
    ck_assert(!mcl_context_gemm_tuned(ctx)); /* no file yet: nothing said */
    ck_assert_str_eq(log.text, "");
    static const struct {
        const char *params, *device, *reason;
    } bad[] = {
        {GOOD, "device=another GPU|x|1|y", "another device"},
        {"WGD=64 MDIMCD=16 NDIMCD=8 MDIMAD=16 NDIMBD=8 KWID=8 VWMD=4 VWND=8 PADA=0", NULL,
         "missing"},
        {"WGD=64 MDIMCD=16 NDIMCD=8 MDIMAD=16 NDIMBD=8 KWID=8 VWMD=4 VWND=8 PADB=0 PADA=0", NULL,
         "out of order"},
        {"WGD=48 MDIMCD=16 NDIMCD=8 MDIMAD=16 NDIMBD=8 KWID=8 VWMD=4 VWND=8 PADA=0 PADB=0", NULL,
         "constraints"},
        {"WGD=64 MDIMCD=16 NDIMCD=8 MDIMAD=16 NDIMBD=8 KWID=8 VWMD=4 VWND=8 PADA=0 PADB=0 X=1",
         NULL, "extra"},
        {"WGD=6x4 MDIMCD=16 NDIMCD=8 MDIMAD=16 NDIMBD=8 KWID=8 VWMD=4 VWND=8 PADA=0 PADB=0", NULL,
         "not a small number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_tuning(ctx, bad[i].params, bad[i].device);
        log_capture again;
        mcl_context *c2 = open_context(&again);
        ck_assert_ptr_nonnull(c2);
        ck_assert_msg(!mcl_context_gemm_tuned(c2), "case %zu was applied", i);
        ck_assert_msg(strstr(again.text, "ignoring the GEMM tuning") != NULL &&
                          strstr(again.text, bad[i].reason) != NULL,
                      "case %zu logged: %s", i, again.text);
        mcl_context_free(c2);
    }
    mcl_context_free(ctx);
}
END_TEST

/* A valid file is applied, GEMMs still match the CPU reference, MNIST_CL_TUNING=0 skips it. */
START_TEST(test_valid_file_is_applied) {
    mcl_context *ctx = open_context(NULL);
    if (ctx == NULL) return;
    write_tuning(ctx, GOOD, NULL);
    mcl_context_free(ctx);
    ctx = open_context(NULL);
    ck_assert(mcl_context_gemm_tuned(ctx));
    mcl_error err = {0};
    ck_assert_msg(mcl_context_self_check(ctx, &err) == MCL_OK, "%s", err.message);
    mcl_context_free(ctx);
    ck_assert_int_eq(setenv("MNIST_CL_TUNING", "0", 1), 0);
    ctx = open_context(NULL);
    ck_assert(!mcl_context_gemm_tuned(ctx));
    mcl_context_free(ctx);
    ck_assert_int_eq(unsetenv("MNIST_CL_TUNING"), 0);
}
END_TEST

/* One candidate: the default and the candidate are measured and checked; the file exists
 * exactly when the result says it was stored; a tuned context refuses to tune again. */
START_TEST(test_tune_one_candidate) {
    ck_assert_int_eq(setenv("MNIST_CL_TUNING", "0", 1), 0);
    mcl_context *ctx = open_context(NULL);
    if (ctx == NULL) return;
    mcl_tune_result *r = malloc(sizeof *r);
    mcl_error err = {0};
    ck_assert_msg(mcl_gemm_tune(ctx, 1, NULL, NULL, r, &err) == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(r->count, 1);
    ck_assert(r->default_gflops > 0.0);
    ck_assert(r->candidates[0].gflops > 0.0);
    ck_assert_msg(r->candidates[0].correct, "candidate 1 computes wrong results here (%g)",
                  r->candidates[0].max_error);
    char path[4096];
    ck_assert(mcl_gemm_tuning_path(ctx, path, sizeof path));
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb) == 0, r->stored);
    if (r->stored) {
        ck_assert_str_eq(r->path, path);
        ck_assert_int_eq(r->best, 0);
        ck_assert(r->best_gflops >= 1.05 * r->default_gflops);
        ck_assert_int_eq(unsetenv("MNIST_CL_TUNING"), 0);
        mcl_context *tuned = open_context(NULL);
        ck_assert(mcl_context_gemm_tuned(tuned));
        ck_assert_int_eq(mcl_gemm_tune(tuned, 1, NULL, NULL, r, &err), MCL_ERR_USAGE);
        mcl_context_free(tuned);
    }
    free(r);
    mcl_context_free(ctx);
}
END_TEST

/* A stored kernel tuning is applied only when it is for this device, version and class and
 * its shapes are ones the kernels take; MNIST_CL_TUNING=0 ignores it; an applied one computes
 * correctly (the start-up check passes under it). */
START_TEST(test_kernel_tuning_file) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache", test_tmp_dir);
    ck_assert_int_eq(setenv("MNIST_CL_CACHE_DIR", dir, 1), 0);
    unsetenv("MNIST_CL_TUNING");
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    ck_assert(!ctx->kernels_tuned);
    mcl_kernel_shapes s = ctx->shapes;
    s.gemm.rows = s.gemm.rows > 4 ? s.gemm.rows - 2 : s.gemm.rows + 2;
    s.conv_tiled.channels = s.conv_tiled.channels == 8 ? 4 : 8;
    char path[4096];
    mcl_error err = {0};
    ck_assert_msg(mcl_kernel_tuning_store(ctx, &s, path, sizeof path, &err) == MCL_OK, "%s",
                  err.message);
    mcl_context *tuned = test_context_create();
    ck_assert(tuned->kernels_tuned);
    ck_assert_uint_eq(tuned->shapes.gemm.rows, s.gemm.rows);
    ck_assert_uint_eq(tuned->shapes.conv_tiled.channels, s.conv_tiled.channels);
    mcl_context_free(tuned);
    ck_assert_int_eq(setenv("MNIST_CL_TUNING", "0", 1), 0);
    tuned = test_context_create();
    ck_assert(!tuned->kernels_tuned);
    ck_assert_uint_eq(tuned->shapes.gemm.rows, ctx->shapes.gemm.rows);
    mcl_context_free(tuned);
    unsetenv("MNIST_CL_TUNING");
    /* Files that must not apply: another device, another version, a bad shape, truncated. */
    size_t size = 0;
    char *good = (char *)test_read_file(path, &size);
    char bad[4][2048];
    snprintf(bad[0], sizeof bad[0], "%s", good);
    *strstr(bad[0], "device=") = 'D';
    snprintf(bad[1], sizeof bad[1], "%s", good);
    strstr(bad[1], "version=")[8] = '9';
    snprintf(bad[2], sizeof bad[2], "%s", good);
    memcpy(strstr(bad[2], "vectors="), "vectors=9", 9);
    snprintf(bad[3], sizeof bad[3], "%.*s", (int)(strstr(good, "conv") - good), good);
    for (int i = 0; i < 4; i++) {
        test_write_file(path, bad[i], strlen(bad[i]), 0);
        log_capture log = {{0}};
        tuned = test_context_create_options((mcl_context_options){.log = capture, .log_user = &log});
        ck_assert_msg(!tuned->kernels_tuned, "bad file %d was applied", i);
        ck_assert_msg(strstr(log.text, "ignoring the kernel tuning") != NULL, "file %d: '%s'", i,
                      log.text);
        mcl_context_free(tuned);
    }
    free(good);
    mcl_context_free(ctx);
}
END_TEST

/* A search with one candidate per family measures the defaults and the candidates, checks
 * them, and stores a winner only when it beats the defaults. */
START_TEST(test_kernel_search) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache", test_tmp_dir);
    ck_assert_int_eq(setenv("MNIST_CL_CACHE_DIR", dir, 1), 0);
    ck_assert_int_eq(setenv("MNIST_CL_TUNING", "0", 1), 0);
    mcl_context *probe = test_context_create();
    if (probe == NULL) return;
    mcl_context_free(probe);
    mcl_kernel_tune_result *k = malloc(sizeof *k);
    mcl_error err = {0};
    mcl_context_options opt = {.platform = -1, .device = -1};
    ck_assert_msg(mcl_kernels_tune(&opt, 1, NULL, NULL, k, &err) == MCL_OK, "%s", err.message);
    if (k->applicable) {
        ck_assert(k->gemm_default_gflops > 0.0 && k->conv_default_gflops > 0.0);
        ck_assert_uint_eq(k->count, 2);
        for (uint32_t i = 0; i < k->count; i++)
            ck_assert_msg(k->candidates[i].ran && k->candidates[i].correct, "%s %s: error %g",
                          k->candidates[i].family, k->candidates[i].shape,
                          k->candidates[i].max_error);
        struct stat sb;
        ck_assert_int_eq(k->stored, k->gemm_best >= 0 || k->conv_best >= 0);
        if (k->stored) ck_assert_int_eq(stat(k->path, &sb), 0);
    } else {
        ck_assert_uint_eq(k->count, 0);
    }
    free(k);
    unsetenv("MNIST_CL_TUNING");
}
END_TEST

int main(void) {
    Suite *s = suite_create("tune");
    TCase *tc = tcase_create("tune");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(tc, test_constraints);
    tcase_add_test(tc, test_bad_files_are_ignored);
    tcase_add_test(tc, test_valid_file_is_applied);
    tcase_add_test(tc, test_tune_one_candidate);
    tcase_add_test(tc, test_kernel_tuning_file);
    tcase_add_test(tc, test_kernel_search);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
