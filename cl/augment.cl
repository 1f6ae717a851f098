/* On-device data augmentation: gather_batch (cl/data.cl) plus a random affine transform per
 * image, with Keras ImageDataGenerator semantics (rotation, shift, shear, zoom) and zero fill.
 * src/ops/augment.c holds the same computation in C (mcl_augment_draw, the matrix, and
 * mcl_augment_reference, the resampling); keep the two in step, expression for expression. */

#define AUGMENT_DEG_TO_RAD 0.017453292f /* pi / 180 in float, as on the host */

/* A uniform draw in [-range, range) from a random word; a range of 0 gives exactly +-0. */
static inline float augment_symmetric(uint word, float range) {
    return (2.0f * u32_to_unit_float(word) - 1.0f) * range;
}

/* The transform of one image as a 2x3 matrix m mapping an OUTPUT pixel (row, col) to the INPUT
 * point it samples: in_row = m[0]*row + m[1]*col + m[2], in_col = m[3]*row + m[4]*col + m[5].
 * Random words: Philox, key = seed, counter = (sample, epoch, MCL_STREAM_AUGMENT = 4, block)
 * for blocks 0 and 1; words 0..5 are theta, row shift, col shift, shear, row zoom, col zoom.
 * ranges = (rotation degrees, shift fraction, shear degrees, zoom fraction). */
static inline void augment_matrix(uint2 key, uint sample, uint epoch, float4 ranges, uint rows, uint cols,
                           __local float *m) {
    uint4 w0 = philox4x32((uint4)(sample, epoch, 4u, 0u), key);
    uint4 w1 = philox4x32((uint4)(sample, epoch, 4u, 1u), key);
    float theta = augment_symmetric(w0.x, ranges.x) * AUGMENT_DEG_TO_RAD;
    float tx = augment_symmetric(w0.y, ranges.y * (float)rows);
    float ty = augment_symmetric(w0.z, ranges.y * (float)cols);
    float shear = augment_symmetric(w0.w, ranges.z) * AUGMENT_DEG_TO_RAD;
    float zx = 1.0f + augment_symmetric(w1.x, ranges.w);
    float zy = 1.0f + augment_symmetric(w1.y, ranges.w);
    float c = cos(theta), s = sin(theta);
    float csh = cos(shear), ssh = sin(shear);
    /* Linear part R(theta) @ Shear(shear) @ Zoom(zx, zy); translation R(theta) @ (tx, ty), as
     * Keras composes R @ Shift @ Shear @ Zoom. */
    float shz01 = -ssh * zy, shz11 = csh * zy;
    float a = c * zx, b = c * shz01 - s * shz11;
    float d = s * zx, e = s * shz01 + c * shz11;
    float tr = c * tx - s * ty, tc = s * tx + c * ty;
    /* About the pixel centre (size-1)/2, not Keras's size/2+0.5: a zero-range draw is then the
     * exact identity (the offsets come out as exact zeros). */
    float orow = 0.5f * (float)(rows - 1u), ocol = 0.5f * (float)(cols - 1u);
    m[0] = a, m[1] = b, m[2] = (tr + orow) - (a * orow + b * ocol);
    m[3] = d, m[4] = e, m[5] = (tc + ocol) - (d * orow + e * ocol);
}

/* A pixel of the uint8 image as a float 0..255, or 0 outside [0, rows) x [0, cols). The load
 * is clamped inside and always made, so the compiler can use a select instead of a branch. */
static inline float augment_tap(__global const uchar *image, int r, int c, int rows, int cols) {
    float p = (float)image[clamp(r, 0, rows - 1) * cols + clamp(c, 0, cols - 1)];
    return r >= 0 && r < rows && c >= 0 && c < cols ? p : 0.0f;
}

/* pixels: [count, rows*cols] uint8; labels_all: [count]; order: this epoch's sample order, of
 * which samples [base, base+n) are gathered. x: [n, rows*cols] float in 0..1; labels: [n].
 * One work-item per output pixel, and work-groups that never straddle two images: global size
 * (G*L, n), local size (L, 1) with G*L >= rows*cols (work-items past rows*cols only help with
 * the draw). The first work-item of a group draws the image's matrix into local memory: the
 * draw (two Philox blocks, two sin/cos pairs) costs far more than the resampling: one draw per
 * pixel made the kernel ~20x slower on a CPU device (PoCL). mcl_augment_enqueue picks L.
 * With every range 0 the output equals gather_batch's bit for bit: the sample point is the
 * pixel itself, the bilinear weights are exactly 1 and 0, and the 1/255 scale comes last. */
__kernel void gather_batch_augment(__global const uchar *pixels, __global const uchar *labels_all,
                                   __global const uint *order, uint base, uint rows, uint cols,
                                   __global float *x, __global int *labels, uint seed_lo,
                                   uint seed_hi, uint epoch, float rotation, float shift,
                                   float shear, float zoom) {
    __local float m[6];
    uint f = get_global_id(0), s = get_global_id(1);
    uint features = rows * cols;
    uint src = order[base + s];
    if (get_local_id(0) == 0)
        augment_matrix((uint2)(seed_lo, seed_hi), src, epoch,
                       (float4)(rotation, shift, shear, zoom), rows, cols, m);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (f >= features) return;
    float row = (float)(f / cols), col = (float)(f % cols);
    float in_r = m[0] * row + m[1] * col + m[2];
    float in_c = m[3] * row + m[4] * col + m[5];
    /* Bilinear with zero fill. A point outside (-1, rows) x (-1, cols) has only fill taps, so
     * it may be clamped onto that border (where it still gets exactly 0) to keep the float to
     * int conversions in range without a branch. */
    in_r = clamp(in_r, -1.0f, (float)rows);
    in_c = clamp(in_c, -1.0f, (float)cols);
    float r0f = floor(in_r), c0f = floor(in_c);
    float fr = in_r - r0f, fc = in_c - c0f;
    int r0 = (int)r0f, c0 = (int)c0f, ir = (int)rows, ic = (int)cols;
    __global const uchar *image = pixels + (size_t)src * features;
    float top = (1.0f - fc) * augment_tap(image, r0, c0, ir, ic) +
                fc * augment_tap(image, r0, c0 + 1, ir, ic);
    float bottom = (1.0f - fc) * augment_tap(image, r0 + 1, c0, ir, ic) +
                   fc * augment_tap(image, r0 + 1, c0 + 1, ir, ic);
    float v = (1.0f - fr) * top + fr * bottom;
    x[(size_t)s * features + f] = v * (1.0f / 255.0f);
    if (f == 0) labels[s] = labels_all[src];
}
