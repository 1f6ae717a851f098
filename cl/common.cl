/* Shared device helpers. Every other .cl file is compiled after this one into the same program.
 * OpenCL C 1.2 only: no fp64, no 2.0 features, no assumptions about work-group sizes. */

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

inline uint4 philox4x32(uint4 c, uint2 k) {
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
inline float u32_to_unit_float(uint x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}
