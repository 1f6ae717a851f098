/* Shared helpers for the Check suites. */
#ifndef MCL_TEST_UTIL_H
#define MCL_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "device/device.h"
#include "mnistcl/mnistcl.h"

/* Runs a suite (Check's default fork mode), frees it, and returns the process exit status. */
int test_run_suite(Suite *suite);

/* A checked fixture (tcase_add_checked_fixture) giving each test its own temporary directory,
 * test_tmp_dir, made before and removed after the test in the test's own process. */
extern char *test_tmp_dir;
void test_tmp_setup(void);
void test_tmp_teardown(void);

/* Creates a fresh temporary directory; the returned path is malloc'd (caller frees) and the
 * directory is removed by test_rmtree. */
char *test_mkdtemp(void);
void test_rmtree(const char *path);
/* Reads a whole file (which must exist) into a malloc'd buffer the caller frees; a NUL follows
 * the `*size` bytes, so text can be used as a string. */
uint8_t *test_read_file(const char *path, size_t *size);
/* Writes `size` bytes to `path`, raw or gzip-compressed. */
void test_write_file(const char *path, const void *data, size_t size, int gzip);

/* Opens the default OpenCL device. When none exists: returns NULL, unless
 * MNIST_CL_REQUIRE_DEVICE=1, in which case the test fails. */
mcl_context *test_context_create(void);
/* The same with OpenCL event profiling on the queue (mcl_context_options.profile). */
mcl_context *test_context_create_with(bool profile);
/* The same with the caller's options (log, profile, GEMM provider); platform and device are
 * the test defaults. */
mcl_context *test_context_create_options(mcl_context_options opt);

/* Device buffers for the tests that drive kernels directly (assert on failure): a buffer of
 * `bytes` (caller releases it with clReleaseMemObject), one holding a copy of `src`, and
 * blocking copies to and from one. */
cl_mem test_buffer(mcl_context *ctx, size_t bytes);
cl_mem test_buffer_from(mcl_context *ctx, const void *src, size_t bytes);
void test_upload(mcl_context *ctx, cl_mem m, const void *src, size_t bytes);
void test_download(mcl_context *ctx, cl_mem m, void *dst, size_t bytes);

/* Deterministic uniform floats in [lo, hi). */
void test_fill_uniform(float *dst, size_t n, float lo, float hi, uint64_t seed);

/* Largest |a-b| / (abs_tol + rel_tol*|b|) over n elements: <= 1 means "within tolerance".
 * A NaN or inf in either input yields +inf. */
double test_max_scaled_error(const float *a, const float *b, size_t n, double abs_tol,
                             double rel_tol);

/* A dataset that is not digits: `count` images of 3 classes of 8x10 pixels (a bright band whose
 * position is the class, over noise from `seed`), written as DIR/PREFIX-images-idx3-ubyte.gz
 * and DIR/PREFIX-labels-idx1-ubyte.gz. Small models learn it to near-perfect accuracy. */
void test_write_synthetic(const char *dir, const char *prefix, uint32_t count, uint64_t seed);

/* Directory of real MNIST (MNIST_CL_DATA or <source root>/data/mnist) if its files exist,
 * else NULL (static storage). */
const char *test_mnist_dir(void);

/* Asserts a failure: the returned status and err.status are `want`, and err.message is one line
 * containing both phrases (typically the file it names and what is wrong). */
#define ck_assert_error(st, err, want, phrase1, phrase2)                                           \
    do {                                                                                           \
        ck_assert_msg((st) == (want), "status %s, want %s (message: %s)", mcl_status_str(st),      \
                      mcl_status_str(want), (err).message);                                        \
        ck_assert_int_eq((err).status, (want));                                                    \
        ck_assert_msg(strstr((err).message, (phrase1)) != NULL, "message '%s' lacks '%s'",         \
                      (err).message, (phrase1));                                                   \
        ck_assert_msg(strstr((err).message, (phrase2)) != NULL, "message '%s' lacks '%s'",         \
                      (err).message, (phrase2));                                                   \
        ck_assert_msg(strchr((err).message, '\n') == NULL, "message is not one line: '%s'",        \
                      (err).message);                                                              \
    } while (0)

#endif
