/* On-device augmentation (cl/augment.cl, src/ops/augment.c): the kernel against the plain C
 * oracle, the exact identity against gather_batch, determinism, and what the drawn transforms
 * do to an image. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/philox.h"
#include "ops/augment.h"
#include "device/device.h"
#include "test_util.h"

/* Device vs oracle on outputs in 0..1. The matrices differ only where the device's sin/cos
 * (and fused multiply-adds) differ from the host's by a few ulps: a sample point moves by
 * ~1e-5 pixel at most, and bilinear output changes by at most that much times the steepest
 * pixel step (1). 1e-4 leaves ten times that. */
#define AUG_ABS_TOL 1e-4
#define ROWS 28
#define COLS 28
#define BATCH 32

static const mcl_augment tutorial = {
    .enabled = true, .rotation = 8.0f, .shift = 0.08f, .shear = 0.3f, .zoom = 0.08f};
static const mcl_augment large = {
    .enabled = true, .rotation = 30.0f, .shift = 0.2f, .shear = 20.0f, .zoom = 0.3f};

/* A host dataset and the device buffers the kernels read. */
typedef struct data {
    uint32_t count, rows, cols;
    uint8_t *pixels, *labels; /* [count, rows*cols], [count] */
    uint32_t *order;          /* [count] */
} data;

static float uniform(uint64_t seed, uint64_t i) {
    return mcl_philox_uniform(seed, 0xA06u, i);
}

/* Handwriting-like images: a few thick anti-aliased strokes, mostly inside a margin of 4 pixels
 * (like MNIST digits), every fourth image reaching the border so that zero fill is exercised
 * at the edges too. */
static void synth_image(uint8_t *img, uint32_t rows, uint32_t cols, uint64_t seed) {
    memset(img, 0, (size_t)rows * cols);
    float margin = (seed % 4 == 0) ? 0.0f : 4.0f;
    int strokes = 2 + (int)(uniform(seed, 0) * 3.0f);
    for (int k = 0; k < strokes; k++) {
        float pts[4];
        for (int j = 0; j < 4; j++) {
            float size = (float)((j % 2 == 0) ? rows : cols) - 1.0f;
            pts[j] =
                margin + uniform(seed, 1 + 4 * (uint64_t)k + (uint64_t)j) * (size - 2 * margin);
        }
        float width = 0.8f + 1.2f * uniform(seed, 100 + (uint64_t)k);
        float dr = pts[2] - pts[0], dc = pts[3] - pts[1], len2 = dr * dr + dc * dc + 1e-6f;
        for (uint32_t r = 0; r < rows; r++)
            for (uint32_t c = 0; c < cols; c++) {
                float t = (((float)r - pts[0]) * dr + ((float)c - pts[1]) * dc) / len2;
                t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
                float er = (float)r - (pts[0] + t * dr), ec = (float)c - (pts[1] + t * dc);
                float v = 255.0f * (width + 0.5f - sqrtf(er * er + ec * ec));
                v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
                uint8_t *p = &img[r * cols + c];
                if (v > (float)*p) *p = (uint8_t)v;
            }
    }
}

/* `count` synthetic images; order is a fixed permutation so that batch position and sample
 * index differ. */
static data data_synth(uint32_t count, uint32_t rows, uint32_t cols, uint64_t seed) {
    data d = {.count = count,
              .rows = rows,
              .cols = cols,
              .pixels = malloc((size_t)count * rows * cols),
              .labels = malloc(count),
              .order = malloc(count * sizeof(uint32_t))};
    for (uint32_t i = 0; i < count; i++) {
        synth_image(d.pixels + (size_t)i * rows * cols, rows, cols, seed * 1000 + i);
        d.labels[i] = (uint8_t)((i * 7 + 3) % 10);
        d.order[i] = (i * 13 + 5) % count; /* a permutation when gcd(13, count) = 1 */
    }
    return d;
}

static void data_free(data *d) {
    free(d->pixels);
    free(d->labels);
    free(d->order);
}

/* Runs gather_batch_augment (a != NULL) or gather_batch (a == NULL) over order[base, base+n)
 * into x [n, rows*cols] and labels [n]. */
static void run_gather(mcl_context *ctx, const data *d, uint32_t base, uint32_t n,
                       const mcl_augment *a, uint64_t seed, uint32_t epoch, float *x,
                       int32_t *labels) {
    size_t features = (size_t)d->rows * d->cols;
    cl_mem pixels = test_buffer_from(ctx, d->pixels, d->count * features);
    cl_mem labels_all = test_buffer_from(ctx, d->labels, d->count);
    cl_mem order = test_buffer_from(ctx, d->order, d->count * sizeof(uint32_t));
    cl_mem dx = test_buffer(ctx, n * features * sizeof(float));
    cl_mem dlabels = test_buffer(ctx, n * sizeof(int32_t));
    cl_kernel kernel = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_kernel_create(ctx, a != NULL ? "gather_batch_augment" : "gather_batch",
                                    &kernel, &err) == MCL_OK,
                  "%s", err.message);
    mcl_status st;
    if (a != NULL) {
        st = mcl_augment_enqueue(ctx, kernel, pixels, labels_all, order, base, n, d->rows, d->cols,
                                 a, seed, epoch, dx, dlabels, &err);
    } else {
        st = mcl_gather_enqueue(ctx, kernel, pixels, labels_all, order, base, n,
                                (uint32_t)features, dx, dlabels, &err);
    }
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    test_download(ctx, dx, x, n * features * sizeof(float));
    test_download(ctx, dlabels, labels, n * sizeof(int32_t));
    clReleaseKernel(kernel);
    cl_mem bufs[] = {pixels, labels_all, order, dx, dlabels};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        clReleaseMemObject(bufs[i]);
}

static bool is_identity(const float m[6]) {
    return m[0] == 1.0f && m[1] == 0.0f && m[2] == 0.0f && m[3] == 0.0f && m[4] == 1.0f &&
           m[5] == 0.0f;
}

/* Device vs mcl_augment_reference (with mcl_augment_draw's matrix) for every image of a batch,
 * and the labels. */
static void check_against_reference(mcl_context *ctx, const data *d, uint32_t base, uint32_t n,
                                    const mcl_augment *a, uint64_t seed, uint32_t epoch) {
    size_t features = (size_t)d->rows * d->cols;
    float *x = malloc(n * features * sizeof(float)), *want = malloc(features * sizeof(float));
    int32_t *labels = malloc(n * sizeof(int32_t));
    run_gather(ctx, d, base, n, a, seed, epoch, x, labels);
    for (uint32_t s = 0; s < n; s++) {
        uint32_t src = d->order[base + s];
        float m[6];
        mcl_augment_draw(seed, src, epoch, a, d->rows, d->cols, m);
        ck_assert_msg(!is_identity(m), "sample %u drew the identity", src);
        mcl_augment_reference(d->pixels + src * features, d->rows, d->cols, m, want);
        double e = test_max_scaled_error(x + s * features, want, features, AUG_ABS_TOL, 0.0);
        ck_assert_msg(e <= 1.0, "image %u (sample %u, %ux%u): error %.3g x tolerance", s, src,
                      d->rows, d->cols, e);
        ck_assert_int_eq(labels[s], d->labels[src]);
    }
    free(x);
    free(want);
    free(labels);
}

START_TEST(test_matches_reference) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    data d = data_synth(BATCH + 8, ROWS, COLS, 1);
    check_against_reference(ctx, &d, 5, BATCH, &tutorial, 0x5EEDull, 0);
    check_against_reference(ctx, &d, 3, BATCH, &large, 0x123456789ABCDEFull, 7);
    data_free(&d);
    /* Not square: a row/column mix-up cannot hide. */
    data wide = data_synth(BATCH, 20, 31, 2);
    check_against_reference(ctx, &wide, 0, BATCH, &large, 99, 3);
    data_free(&wide);
    /* Larger than one work-group on any device (PoCL allows 4096): several groups per image,
     * the last one padded. */
    data big = data_synth(4, 61, 71, 3);
    check_against_reference(ctx, &big, 0, 4, &large, 5, 0);
    data_free(&big);
    /* Real digits where MNIST is present (the synthetic ones above are enough without). */
    const char *dir = test_mnist_dir();
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    if (dir != NULL) {
        ck_assert_msg(mcl_dataset_load(dir, MCL_SPLIT_TEST, &ds, &err) == MCL_OK, "%s",
                      err.message);
        uint32_t count = BATCH, rows = mcl_dataset_rows(ds), cols = mcl_dataset_cols(ds);
        data real = {.count = count,
                     .rows = rows,
                     .cols = cols,
                     .pixels = malloc((size_t)count * rows * cols),
                     .labels = malloc(count),
                     .order = malloc(count * sizeof(uint32_t))};
        memcpy(real.pixels, mcl_dataset_pixels(ds), (size_t)count * rows * cols);
        memcpy(real.labels, mcl_dataset_labels(ds), count);
        for (uint32_t i = 0; i < count; i++)
            real.order[i] = count - 1 - i;
        check_against_reference(ctx, &real, 0, count, &tutorial, 42, 1);
        check_against_reference(ctx, &real, 0, count, &large, 42, 2);
        data_free(&real);
        mcl_dataset_free(ds);
    }
    mcl_context_free(ctx);
}
END_TEST

/* Zero ranges (or a disabled recipe) reproduce gather_batch bit for bit, and the draw is the
 * exact identity. */
START_TEST(test_identity_is_exact) {
    mcl_augment zero = {.enabled = true};
    mcl_augment disabled = large;
    disabled.enabled = false;
    float m[6];
    for (uint32_t sample = 0; sample < 100; sample++) {
        mcl_augment_draw(7, sample, sample % 5, &zero, ROWS, COLS, m);
        ck_assert(is_identity(m));
        mcl_augment_draw(7, sample, sample % 5, &disabled, 20, 31, m);
        ck_assert(is_identity(m));
    }
    data d = data_synth(BATCH + 8, ROWS, COLS, 3);
    size_t features = ROWS * COLS;
    float *out = malloc(features * sizeof(float));
    mcl_augment_reference(d.pixels, ROWS, COLS, (const float[6]){1, 0, 0, 0, 1, 0}, out);
    for (size_t f = 0; f < features; f++)
        ck_assert(out[f] == (float)d.pixels[f] * (1.0f / 255.0f));
    free(out);

    mcl_context *ctx = test_context_create();
    if (ctx == NULL) {
        data_free(&d);
        return;
    }
    size_t bytes = BATCH * features * sizeof(float);
    float *plain = malloc(bytes), *aug = malloc(bytes);
    int32_t plain_labels[BATCH], aug_labels[BATCH];
    run_gather(ctx, &d, 6, BATCH, NULL, 0, 0, plain, plain_labels);
    const mcl_augment *cases[] = {&zero, &disabled};
    for (int k = 0; k < 2; k++) {
        memset(aug, 0xFF, bytes);
        run_gather(ctx, &d, 6, BATCH, cases[k], 0xABCDEFull, 4, aug, aug_labels);
        ck_assert_msg(memcmp(plain, aug, bytes) == 0, "case %d differs from gather_batch", k);
        ck_assert_mem_eq(plain_labels, aug_labels, sizeof plain_labels);
    }
    free(plain);
    free(aug);
    data_free(&d);
    mcl_context_free(ctx);
}
END_TEST

static bool image_equal(const float *a, const float *b, size_t features) {
    return memcmp(a, b, features * sizeof(float)) == 0;
}

/* Same (seed, sample, epoch), same image; a new epoch or seed, a new image; the transform
 * follows the sample index, not the batch position. */
START_TEST(test_determinism) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    data d = data_synth(BATCH, ROWS, COLS, 4);
    size_t features = ROWS * COLS, bytes = BATCH * features * sizeof(float);
    float *x1 = malloc(bytes), *x2 = malloc(bytes);
    int32_t labels[BATCH];
    run_gather(ctx, &d, 0, BATCH, &tutorial, 11, 2, x1, labels);
    run_gather(ctx, &d, 0, BATCH, &tutorial, 11, 2, x2, labels);
    ck_assert(memcmp(x1, x2, bytes) == 0);
    const struct {
        uint64_t seed;
        uint32_t epoch;
    } other[] = {{11, 3}, {12, 2}};
    for (int k = 0; k < 2; k++) {
        run_gather(ctx, &d, 0, BATCH, &tutorial, other[k].seed, other[k].epoch, x2, labels);
        for (uint32_t s = 0; s < BATCH; s++)
            ck_assert_msg(!image_equal(x1 + s * features, x2 + s * features, features),
                          "image %u unchanged for seed %llu epoch %u", s,
                          (unsigned long long)other[k].seed, other[k].epoch);
    }

    /* One picture under every sample index: different samples get different transforms, and a
     * sample repeated at another position (and another batch) gets the same one. */
    data same = data_synth(BATCH, ROWS, COLS, 5);
    for (uint32_t i = 1; i < BATCH; i++)
        memcpy(same.pixels + i * features, same.pixels, features);
    for (uint32_t i = 0; i < BATCH; i++)
        same.order[i] = i < 16 ? i : i - 16;
    run_gather(ctx, &same, 0, BATCH, &tutorial, 11, 2, x1, labels);
    for (uint32_t s = 0; s < 16; s++) {
        ck_assert(image_equal(x1 + s * features, x1 + (s + 16) * features, features));
        for (uint32_t t = 0; t < s; t++)
            ck_assert_msg(!image_equal(x1 + s * features, x1 + t * features, features),
                          "samples %u and %u got the same transform", s, t);
    }
    run_gather(ctx, &same, 16, 16, &tutorial, 11, 2, x2, labels);
    ck_assert(memcmp(x1, x2, 16 * features * sizeof(float)) == 0);
    data_free(&same);
    free(x1);
    free(x2);
    data_free(&d);
    mcl_context_free(ctx);
}
END_TEST

/* The oracle itself on transforms whose result is known exactly. */
START_TEST(test_reference_known_transforms) {
    data d = data_synth(1, ROWS, COLS, 6);
    const uint8_t *in = d.pixels;
    float out[ROWS * COLS];
    /* Half-turn about the centre (13.5, 13.5): a flip of both axes, every tap exact. */
    mcl_augment_reference(in, ROWS, COLS, (const float[6]){-1, 0, 27, 0, -1, 27}, out);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            ck_assert(out[r * COLS + c] ==
                      (float)in[(ROWS - 1 - r) * COLS + (COLS - 1 - c)] * (1.0f / 255.0f));
    /* Sampling one row down and 2.5 columns left: the last row is fill, columns interpolate. */
    mcl_augment_reference(in, ROWS, COLS, (const float[6]){1, 0, 1, 0, 1, -2.5f}, out);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            float a = r + 1 < ROWS && c >= 3 ? in[(r + 1) * COLS + c - 3] : 0.0f;
            float b = r + 1 < ROWS && c >= 2 ? in[(r + 1) * COLS + c - 2] : 0.0f;
            ck_assert_float_eq_tol(out[r * COLS + c], (0.5f * a + 0.5f * b) / 255.0f, 1e-6f);
        }
    data_free(&d);
}
END_TEST

/* Centre of mass (row, col) and sum of a ROWS x COLS image. */
static void moments(const float *x, float *row, float *col, double *sum) {
    double s = 0, sr = 0, sc = 0;
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            double v = x[r * COLS + c];
            s += v, sr += v * r, sc += v * c;
        }
    *sum = s;
    *row = (float)(sr / s);
    *col = (float)(sc / s);
}

/* The drawn matrices have the structure and ranges each setting promises, and the device
 * output moves and preserves ink as they say. */
START_TEST(test_draw_sanity) {
    const float pi = 3.14159265f;
    mcl_augment shift_only = {.enabled = true, .shift = 0.1f};
    mcl_augment rotation_only = {.enabled = true, .rotation = 30.0f};
    mcl_augment zoom_only = {.enabled = true, .zoom = 0.3f};
    mcl_augment shear_only = {.enabled = true, .shear = 20.0f};
    float lo = 1.0f, hi = -1.0f; /* extreme rotation angles, in units of the range */
    for (uint32_t sample = 0; sample < 2000; sample++) {
        float m[6];
        mcl_augment_draw(3, sample, 1, &shift_only, ROWS, COLS, m);
        ck_assert(m[0] == 1.0f && m[1] == 0.0f && m[3] == 0.0f && m[4] == 1.0f);
        ck_assert(fabsf(m[2]) <= 0.1f * ROWS && fabsf(m[5]) <= 0.1f * COLS);
        mcl_augment_draw(3, sample, 1, &rotation_only, ROWS, COLS, m);
        ck_assert_float_eq_tol(m[0], m[4], 1e-6f);
        ck_assert_float_eq_tol(m[1], -m[3], 1e-6f);
        ck_assert_float_eq_tol(m[0] * m[0] + m[3] * m[3], 1.0f, 1e-5f);
        float angle = atan2f(m[3], m[0]) / (30.0f * pi / 180.0f);
        ck_assert(angle >= -1.0001f && angle <= 1.0001f);
        lo = fminf(lo, angle), hi = fmaxf(hi, angle);
        /* The centre stays put under rotation, zoom and shear. */
        ck_assert_float_eq_tol(m[0] * 13.5f + m[1] * 13.5f + m[2], 13.5f, 1e-5f);
        ck_assert_float_eq_tol(m[3] * 13.5f + m[4] * 13.5f + m[5], 13.5f, 1e-5f);
        mcl_augment_draw(3, sample, 1, &zoom_only, ROWS, COLS, m);
        ck_assert(m[1] == 0.0f && m[3] == 0.0f);
        ck_assert(m[0] >= 0.7f && m[0] <= 1.3f && m[4] >= 0.7f && m[4] <= 1.3f);
        ck_assert_float_eq_tol(m[0] * 13.5f + m[2], 13.5f, 1e-5f);
        mcl_augment_draw(3, sample, 1, &shear_only, ROWS, COLS, m);
        float det = m[0] * m[4] - m[1] * m[3];
        ck_assert(m[0] == 1.0f && m[3] == 0.0f);
        ck_assert(det >= cosf(20.0f * pi / 180.0f) - 1e-6f && det <= 1.0f);
    }
    ck_assert(lo < -0.95f && hi > 0.95f); /* the draws span the whole range */

    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    /* Content well inside the image, so shifts and rotations clip nothing: bilinear resampling
     * then keeps the sum exactly and moves the centre of mass exactly with a translation. */
    data d = data_synth(BATCH, ROWS, COLS, 7);
    for (uint32_t i = 0; i < BATCH; i++) {
        uint8_t *img = d.pixels + i * ROWS * COLS;
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLS; c++)
                if ((r - 13.5f) * (r - 13.5f) + (c - 13.5f) * (c - 13.5f) > 9.0f * 9.0f)
                    img[r * COLS + c] = 0;
    }
    size_t features = ROWS * COLS;
    float *plain = malloc(BATCH * features * sizeof(float));
    float *x = malloc(BATCH * features * sizeof(float));
    int32_t labels[BATCH];
    run_gather(ctx, &d, 0, BATCH, NULL, 0, 0, plain, labels);
    run_gather(ctx, &d, 0, BATCH, &shift_only, 5, 0, x, labels);
    for (uint32_t s = 0; s < BATCH; s++) {
        float m[6], r0, c0, r1, c1;
        double sum0, sum1;
        mcl_augment_draw(5, d.order[s], 0, &shift_only, ROWS, COLS, m);
        moments(plain + s * features, &r0, &c0, &sum0);
        moments(x + s * features, &r1, &c1, &sum1);
        /* The output at p samples the input at p + (m[2], m[5]): the ink moves by minus that. */
        float moved_r = r1 - r0, moved_c = c1 - c0;
        ck_assert_float_eq_tol(moved_r, -m[2], 0.02f);
        ck_assert_float_eq_tol(moved_c, -m[5], 0.02f);
        ck_assert(fabsf(moved_r) <= 0.1f * ROWS + 0.02f && fabsf(moved_c) <= 0.1f * COLS + 0.02f);
        ck_assert_double_eq_tol(sum1, sum0, 1e-3 * sum0);
        ck_assert_int_eq(labels[s], d.labels[d.order[s]]);
    }
    run_gather(ctx, &d, 0, BATCH, &rotation_only, 5, 0, x, labels);
    for (uint32_t s = 0; s < BATCH; s++) {
        float r0, c0, r1, c1;
        double sum0, sum1;
        moments(plain + s * features, &r0, &c0, &sum0);
        moments(x + s * features, &r1, &c1, &sum1);
        /* Bilinear resampling blurs a little but keeps the ink within a few percent. */
        ck_assert_msg(fabs(sum1 - sum0) <= 0.05 * sum0, "image %u: sum %.2f -> %.2f", s, sum0,
                      sum1);
        ck_assert(!image_equal(plain + s * features, x + s * features, features));
    }
    free(plain);
    free(x);
    data_free(&d);
    mcl_context_free(ctx);
}
END_TEST

/* An empty batch enqueues nothing; a kernel of the wrong signature is a clean error. */
START_TEST(test_enqueue_edges) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    data d = data_synth(4, ROWS, COLS, 8);
    cl_mem pixels = test_buffer_from(ctx, d.pixels, 4 * ROWS * COLS);
    cl_mem labels_all = test_buffer_from(ctx, d.labels, 4);
    cl_mem order = test_buffer_from(ctx, d.order, 4 * sizeof(uint32_t));
    cl_mem x = test_buffer(ctx, 4 * ROWS * COLS * sizeof(float));
    cl_mem labels = test_buffer(ctx, 4 * sizeof(int32_t));
    cl_kernel kernel = NULL, wrong = NULL;
    mcl_error err = {0};
    ck_assert(mcl_kernel_create(ctx, "gather_batch_augment", &kernel, &err) == MCL_OK);
    ck_assert(mcl_kernel_create(ctx, "gather_batch", &wrong, &err) == MCL_OK);
    ck_assert(mcl_augment_enqueue(ctx, kernel, pixels, labels_all, order, 0, 0, ROWS, COLS,
                                  &tutorial, 1, 0, x, labels, &err) == MCL_OK);
    mcl_status st = mcl_augment_enqueue(ctx, wrong, pixels, labels_all, order, 0, 4, ROWS, COLS,
                                        &tutorial, 1, 0, x, labels, &err);
    ck_assert_error(st, err, MCL_ERR_OPENCL, "setting argument", "kernel 'gather_batch'");
    ck_assert_int_eq(clFinish(ctx->queue), CL_SUCCESS);
    clReleaseKernel(kernel);
    clReleaseKernel(wrong);
    cl_mem bufs[] = {pixels, labels_all, order, x, labels};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        clReleaseMemObject(bufs[i]);
    data_free(&d);
    mcl_context_free(ctx);
}
END_TEST

int main(void) {
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("augment");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_reference_known_transforms);
    tcase_add_test(tc, test_identity_is_exact);
    tcase_add_test(tc, test_matches_reference);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_draw_sanity);
    tcase_add_test(tc, test_enqueue_edges);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
