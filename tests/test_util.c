#define _XOPEN_SOURCE 700
#include "test_util.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/philox.h"

int test_run_suite(Suite *suite) {
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

char *test_mkdtemp(void) {
    const char *base = getenv("TMPDIR");
    char templ[4096];
    snprintf(templ, sizeof templ, "%s/mnistcl-test-XXXXXX", base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(templ));
    return strdup(templ);
}

char *test_tmp_dir;

void test_tmp_setup(void) {
    test_tmp_dir = test_mkdtemp();
}

void test_tmp_teardown(void) {
    test_rmtree(test_tmp_dir);
    free(test_tmp_dir);
    test_tmp_dir = NULL;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void test_rmtree(const char *path) {
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void test_write_file(const char *path, const void *data, size_t size, int gzip) {
    if (gzip) {
        gzFile gz = gzopen(path, "wb");
        ck_assert_ptr_nonnull(gz);
        if (size > 0) ck_assert_int_eq(gzwrite(gz, data, (unsigned)size), (int)size);
        ck_assert_int_eq(gzclose(gz), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        if (size > 0) ck_assert_uint_eq(fwrite(data, 1, size, f), size);
        ck_assert_int_eq(fclose(f), 0);
    }
}

mcl_context *test_context_create(void) {
    return test_context_create_with(false);
}

mcl_context *test_context_create_with(bool profile) {
    return test_context_create_options((mcl_context_options){.profile = profile});
}

mcl_context *test_context_create_options(mcl_context_options opt) {
    /* The default device, or the one MNIST_CL_PLATFORM / MNIST_CL_DEVICE name: the suite runs
     * on any device. */
    opt.platform = -1;
    opt.device = -1;
    mcl_context *ctx = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_context_create(&opt, &ctx, &err);
    if (st == MCL_OK) return ctx;
    /* Only a machine without OpenCL may skip: a device that is there but cannot build or check
     * mnist-cl's kernels is a failure. */
    if (st != MCL_ERR_NO_PLATFORM && st != MCL_ERR_NO_DEVICE)
        ck_abort_msg("creating a context failed: %s", err.message);
    const char *req = getenv("MNIST_CL_REQUIRE_DEVICE");
    if (req != NULL && strcmp(req, "1") == 0)
        ck_abort_msg("no usable OpenCL device (MNIST_CL_REQUIRE_DEVICE=1): %s", err.message);
    fprintf(stderr, "note: no OpenCL device, device test passes vacuously: %s\n", err.message);
    return NULL;
}

cl_mem test_buffer(mcl_context *ctx, size_t bytes) {
    cl_mem m = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_buffer_create(ctx, bytes, &m, "test buffer", &err) == MCL_OK, "%s",
                  err.message);
    return m;
}

cl_mem test_buffer_from(mcl_context *ctx, const void *src, size_t bytes) {
    cl_mem m = test_buffer(ctx, bytes);
    test_upload(ctx, m, src, bytes);
    return m;
}

void test_upload(mcl_context *ctx, cl_mem m, const void *src, size_t bytes) {
    ck_assert_int_eq(clEnqueueWriteBuffer(ctx->queue, m, CL_TRUE, 0, bytes, src, 0, NULL, NULL),
                     CL_SUCCESS);
}

void test_download(mcl_context *ctx, cl_mem m, void *dst, size_t bytes) {
    ck_assert_int_eq(clEnqueueReadBuffer(ctx->queue, m, CL_TRUE, 0, bytes, dst, 0, NULL, NULL),
                     CL_SUCCESS);
}

void test_fill_uniform(float *dst, size_t n, float lo, float hi, uint64_t seed) {
    for (size_t i = 0; i < n; i++)
        dst[i] = lo + (hi - lo) * mcl_philox_uniform(seed, 0x7e57u, (uint64_t)i);
}

double test_max_scaled_error(const float *a, const float *b, size_t n, double abs_tol,
                             double rel_tol) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        double e = fabs((double)a[i] - (double)b[i]) / (abs_tol + rel_tol * fabs((double)b[i]));
        if (e > worst) worst = e;
    }
    return worst;
}

const char *test_mnist_dir(void) {
    static char dir[4096];
    const char *env = getenv("MNIST_CL_DATA");
    if (env != NULL) {
        snprintf(dir, sizeof dir, "%s", env);
    } else {
        const char *root = getenv("MNIST_CL_SOURCE_ROOT");
        snprintf(dir, sizeof dir, "%s/data/mnist", root ? root : ".");
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte", dir);
    if (access(probe, R_OK) == 0) return dir;
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", dir);
    if (access(probe, R_OK) == 0) return dir;
    return NULL;
}

void test_write_synthetic(const char *dir, const char *prefix, uint32_t count, uint64_t seed) {
    enum { R = 8, C = 10 };
    size_t px = (size_t)count * R * C;
    uint8_t *img = malloc(16 + px), *lab = malloc(8 + count);
    const uint8_t ih[16] = {0,
                            0,
                            8,
                            3,
                            (uint8_t)(count >> 24),
                            (uint8_t)(count >> 16),
                            (uint8_t)(count >> 8),
                            (uint8_t)count,
                            0,
                            0,
                            0,
                            R,
                            0,
                            0,
                            0,
                            C};
    const uint8_t lh[8] = {0,
                           0,
                           8,
                           1,
                           (uint8_t)(count >> 24),
                           (uint8_t)(count >> 16),
                           (uint8_t)(count >> 8),
                           (uint8_t)count};
    memcpy(img, ih, 16);
    memcpy(lab, lh, 8);
    float noise[R * C];
    for (uint32_t i = 0; i < count; i++) {
        uint8_t cls = (uint8_t)(i % 3);
        lab[8 + i] = cls;
        test_fill_uniform(noise, R * C, 0.0f, 80.0f, seed * 1000003u + i);
        for (int p = 0; p < R * C; p++) {
            int row = p / C;
            bool band = row >= cls * 3 && row < cls * 3 + 2;
            img[16 + (size_t)i * R * C + p] = (uint8_t)(noise[p] + (band ? 150.0f : 0.0f));
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    test_write_file(path, img, 16 + px, 1);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    test_write_file(path, lab, 8 + count, 1);
    free(img);
    free(lab);
}

uint8_t *test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    *size = (size_t)n;
    return buf;
}
