/* Host side of on-device augmentation: the per-image matrix and the bilinear oracle, written
 * expression for expression as cl/augment.cl computes them, and the kernel's enqueue. */
#include "ops/augment.h"

#include <math.h>

#include "core/philox.h"

#define AUGMENT_DEG_TO_RAD 0.017453292f /* pi / 180 in float, as cl/augment.cl */

/* A uniform draw in [-range, range) from a random word; a range of 0 gives exactly +-0. */
static float augment_symmetric(uint32_t word, float range) {
    return (2.0f * mcl_u32_to_unit_float(word) - 1.0f) * range;
}

void mcl_augment_draw(uint64_t seed, uint32_t sample, uint32_t epoch, const mcl_augment *a,
                      uint32_t rows, uint32_t cols, float m[6]) {
    /* Disabled: the ranges are 0, which the kernel receives too (see mcl_augment_enqueue). */
    float rotation = a->enabled ? a->rotation : 0.0f, shift = a->enabled ? a->shift : 0.0f;
    float shear_range = a->enabled ? a->shear : 0.0f, zoom = a->enabled ? a->zoom : 0.0f;
    const uint32_t c0[4] = {sample, epoch, MCL_STREAM_AUGMENT, 0};
    const uint32_t c1[4] = {sample, epoch, MCL_STREAM_AUGMENT, 1};
    mcl_philox_block w0 = mcl_philox4x32(c0, seed), w1 = mcl_philox4x32(c1, seed);
    float theta = augment_symmetric(w0.v[0], rotation) * AUGMENT_DEG_TO_RAD;
    float tx = augment_symmetric(w0.v[1], shift * (float)rows);
    float ty = augment_symmetric(w0.v[2], shift * (float)cols);
    float shear = augment_symmetric(w0.v[3], shear_range) * AUGMENT_DEG_TO_RAD;
    float zx = 1.0f + augment_symmetric(w1.v[0], zoom);
    float zy = 1.0f + augment_symmetric(w1.v[1], zoom);
    float c = cosf(theta), s = sinf(theta);
    float csh = cosf(shear), ssh = sinf(shear);
    /* Linear part R(theta) @ Shear(shear) @ Zoom(zx, zy); translation R(theta) @ (tx, ty), as
     * Keras's apply_affine_transform composes R @ Shift @ Shear @ Zoom. */
    float shz01 = -ssh * zy, shz11 = csh * zy;
    float ma = c * zx, mb = c * shz01 - s * shz11;
    float md = s * zx, me = s * shz01 + c * shz11;
    float tr = c * tx - s * ty, tc = s * tx + c * ty;
    /* About the pixel centre (size-1)/2, not Keras's size/2+0.5: a zero-range draw is then the
     * exact identity (the offsets come out as exact zeros), and the output of an unaugmented
     * run equals gather_batch's bit for bit. */
    float orow = 0.5f * (float)(rows - 1u), ocol = 0.5f * (float)(cols - 1u);
    m[0] = ma, m[1] = mb, m[2] = (tr + orow) - (ma * orow + mb * ocol);
    m[3] = md, m[4] = me, m[5] = (tc + ocol) - (md * orow + me * ocol);
}

/* A pixel as a float 0..255, or 0 outside [0, rows) x [0, cols). */
static float augment_tap(const uint8_t *image, int r, int c, int rows, int cols) {
    return r >= 0 && r < rows && c >= 0 && c < cols ? (float)image[r * cols + c] : 0.0f;
}

void mcl_augment_reference(const uint8_t *image, uint32_t rows, uint32_t cols, const float m[6],
                           float *out) {
    int ir = (int)rows, ic = (int)cols;
    for (uint32_t f = 0; f < rows * cols; f++) {
        float row = (float)(f / cols), col = (float)(f % cols);
        float in_r = m[0] * row + m[1] * col + m[2];
        float in_c = m[3] * row + m[4] * col + m[5];
        float v = 0.0f;
        /* Outside (-1, rows) x (-1, cols) every tap is fill; also catches NaN. */
        if (in_r > -1.0f && in_r < (float)rows && in_c > -1.0f && in_c < (float)cols) {
            float r0f = floorf(in_r), c0f = floorf(in_c);
            float fr = in_r - r0f, fc = in_c - c0f;
            int r0 = (int)r0f, c0 = (int)c0f;
            float top = (1.0f - fc) * augment_tap(image, r0, c0, ir, ic) +
                        fc * augment_tap(image, r0, c0 + 1, ir, ic);
            float bottom = (1.0f - fc) * augment_tap(image, r0 + 1, c0, ir, ic) +
                           fc * augment_tap(image, r0 + 1, c0 + 1, ir, ic);
            v = (1.0f - fr) * top + fr * bottom;
        }
        out[f] = v * (1.0f / 255.0f);
    }
}

mcl_status mcl_augment_enqueue(mcl_context *ctx, cl_kernel kernel, cl_mem pixels, cl_mem labels_all,
                               cl_mem order, uint32_t base, uint32_t n, uint32_t rows,
                               uint32_t cols, const mcl_augment *a, uint64_t seed, uint32_t epoch,
                               cl_mem x, cl_mem labels, mcl_error *err) {
    cl_uint b = base, r = rows, c = cols, e = epoch;
    cl_uint seed_lo = (cl_uint)seed, seed_hi = (cl_uint)(seed >> 32);
    cl_float rotation = a->enabled ? a->rotation : 0.0f, shift = a->enabled ? a->shift : 0.0f;
    cl_float shear = a->enabled ? a->shear : 0.0f, zoom = a->enabled ? a->zoom : 0.0f;
    mcl_status st = MCL_SET_ARGS(kernel, err, MCL_ARG(pixels), MCL_ARG(labels_all), MCL_ARG(order),
                                 MCL_ARG(b), MCL_ARG(r), MCL_ARG(c), MCL_ARG(x), MCL_ARG(labels),
                                 MCL_ARG(seed_lo), MCL_ARG(seed_hi), MCL_ARG(e), MCL_ARG(rotation),
                                 MCL_ARG(shift), MCL_ARG(shear), MCL_ARG(zoom));
    if (st != MCL_OK) return st;
    size_t features = (size_t)rows * cols;
    if (features == 0 || n == 0) return MCL_OK; /* an empty batch is a no-op, as mcl_enqueue */
    /* Work-groups of `local` pixels of one image (the kernel draws each image's matrix once per
     * group): as few groups per image as the kernel and the device allow, padded to a whole
     * number of groups, at most groups-1 spare work-items per image. */
    size_t max_local = 0;
    st = mcl_kernel_group_limit(ctx, kernel, 0, 0, &max_local, err);
    if (st != MCL_OK) return st;
    size_t groups = (features + max_local - 1) / max_local;
    size_t local = (features + groups - 1) / groups;
    const size_t global_size[2] = {groups * local, n}, local_size[2] = {local, 1};
    return mcl_enqueue_local(ctx, kernel, 2, global_size, local_size, err);
}

mcl_status mcl_gather_enqueue(mcl_context *ctx, cl_kernel kernel, cl_mem pixels, cl_mem labels_all,
                              cl_mem order, uint32_t base, uint32_t n, uint32_t features,
                              cl_mem x, cl_mem labels, mcl_error *err) {
    cl_uint b = base, f = features;
    mcl_status st = MCL_SET_ARGS(kernel, err, MCL_ARG(pixels), MCL_ARG(labels_all), MCL_ARG(order),
                                 MCL_ARG(b), MCL_ARG(f), MCL_ARG(x), MCL_ARG(labels));
    size_t per_item = (size_t)ctx->shapes.vector.width * ctx->shapes.vector.span;
    return st != MCL_OK ? st
                        : mcl_enqueue_vector(ctx, kernel, 2,
                                             (size_t[]){(features + per_item - 1) / per_item, n},
                                             NULL, err);
}
