/* Shared device helpers. Every other .cl file is compiled after this one into the same program.
 * OpenCL C 1.2 only: no fp64, no 2.0 features, no assumptions about work-group sizes. */

/* Philox4x32-10 (Salmon et al. 2011); must stay bit-identical to src/core/philox.c. */
inline uint4 philox4x32(uint4 c, uint2 k) {
    for (int round = 0; round < 10; round++) {
        uint hi0 = mul_hi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        uint hi1 = mul_hi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += (uint2)(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

/* A random word as a float in [0, 1) with 24 bits, as mcl_u32_to_unit_float on the host. */
inline float u32_to_unit_float(uint x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}
