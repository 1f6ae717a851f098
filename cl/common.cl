/* Shared device helpers. Every other .cl file is compiled after this one into the same program.
 * OpenCL C 1.2 only: no fp64, no 2.0 features, no assumptions about work-group sizes.
 * Helpers are `static inline`: under C99 inline rules a plain `inline` function has no
 * external definition, and a driver that does not inline a call (GPU compilers may not) would
 * call a symbol that does not exist. */

/* Token pasting for vector types and loads of a width given as a -D option:
 * MCL_VEC(8) is float8, MCL_VLOAD(8) is vload8. */
#define MCL_CAT_(a, b) a##b
#define MCL_CAT(a, b) MCL_CAT_(a, b)
#define MCL_VEC(w) MCL_CAT(float, w)
#define MCL_IVEC(w) MCL_CAT(int, w)
#define MCL_VLOAD(w) MCL_CAT(vload, w)
#define MCL_VSTORE(w) MCL_CAT(vstore, w)

/* The streaming kernels' qualifier: work-groups of one work-item where the shape table says so
 * (CPU devices, src/device/kernel_shapes.c; launched by mcl_enqueue_vector). */
#ifndef VEC_GROUP1
#error "cl/common.cl needs -DVEC_GROUP1 (src/device/kernel_shapes.c)"
#endif
#if VEC_GROUP1
#define VEC_KERNEL __kernel __attribute__((reqd_work_group_size(1, 1, 1)))
#else
#define VEC_KERNEL __kernel
#endif

/* Philox4x32-10 (Salmon et al. 2011); must stay bit-identical to src/core/philox.c. */
/* One Philox round on scalars. The high words come from 64-bit products, and the ten rounds are
 * written out: PoCL vectorises that across work-items, but neither a loop over the rounds nor
 * mul_hi (4-5x slower for dropout). */
#define PHILOX_ROUND(c0, c1, c2, c3, k0, k1)                                                      \
    {                                                                                              \
        ulong p0_ = (ulong)0xD2511F53u * c0, p1_ = (ulong)0xCD9E8D57u * c2;                        \
        uint n0_ = (uint)(p1_ >> 32) ^ c1 ^ k0, n2_ = (uint)(p0_ >> 32) ^ c3 ^ k1;                 \
        c0 = n0_;                                                                                  \
        c1 = (uint)p1_;                                                                            \
        c2 = n2_;                                                                                  \
        c3 = (uint)p0_;                                                                            \
        k0 += 0x9E3779B9u;                                                                         \
        k1 += 0xBB67AE85u;                                                                         \
    }

static inline uint4 philox4x32(uint4 c, uint2 k) {
    uint c0 = c.x, c1 = c.y, c2 = c.z, c3 = c.w, k0 = k.x, k1 = k.y;
    PHILOX_ROUND(c0, c1, c2, c3, k0, k1)
    PHILOX_ROUND(c0, c1, c2, c3, k0, k1)
    PHILOX_ROUND(c0, c1, c2, c3, k0, k1)
    PHILOX_ROUND(c0, c1, c2, c3, k0, k1)
    PHILOX_ROUND(c0, c1, c2, c3, k0, k1)
    PHILOX_ROUND(c0, c1, c2, c3, k0, k1)
    PHILOX_ROUND(c0, c1, c2, c3, k0, k1)
    PHILOX_ROUND(c0, c1, c2, c3, k0, k1)
    PHILOX_ROUND(c0, c1, c2, c3, k0, k1)
    PHILOX_ROUND(c0, c1, c2, c3, k0, k1)
    return (uint4)(c0, c1, c2, c3);
}

/* A random word as a float in [0, 1) with 24 bits, as mcl_u32_to_unit_float on the host. */
static inline float u32_to_unit_float(uint x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

/* One row of softmax over n values, in index order (deterministic): p[k] = exp(z[k] - zmax) /
 * sum, where zmax is the row's maximum, found by the caller (which may want the argmax too).
 * Returns the sum of the exponentials. The standalone softmax and the loss head both use it. */
static inline float softmax_row(__global const float *z, float zmax, __global float *p, uint n) {
    float sum = 0.0f;
    for (uint k = 0; k < n; k++) {
        float e = exp(z[k] - zmax);
        p[k] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (uint k = 0; k < n; k++) p[k] *= inv;
    return sum;
}
