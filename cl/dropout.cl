/* Inverted dropout in training: kept elements are scaled by 1/(1-rate). (Inference is the
 * identity, a buffer copy enqueued by src/ops/dropout.c.)
 * The mask is not stored: backward regenerates it from the same Philox draws, so it costs no
 * memory and is reproducible. The count elements are seen as four quarters of
 * Q = ceil(count / 4): word w of Philox block b, counter (b, step, layer, 3 =
 * MCL_STREAM_DROPOUT) and key seed, decides element w * Q + b. A work-item draws DROP_LANES
 * blocks side by side, one per vector lane, and writes four contiguous runs of DROP_LANES
 * elements, for VEC_W * VEC_SPAN blocks in all: Philox is most of the cost, and in vector lanes
 * it runs many blocks at once (one block per work-item stayed scalar on PoCL: 53 us for 32768
 * elements). Global size: ceil(Q / (VEC_W * VEC_SPAN)).
 *
 * The lanes are half of VEC_W: a round's 64-bit products then fill whole registers (VEC_W of
 * them would be twice the register width: ulong8 does not fit AVX2's registers, and the
 * compiler warns that it changes the calling convention), with no joining of half vectors
 * (which oclgrind 21.10's uninitialised-value checker crashes on) and no mul_hi (several times
 * slower on PoCL). */
#if !defined(VEC_W) || !defined(VEC_SPAN)
#error "cl/dropout.cl needs -DVEC_W and -DVEC_SPAN (src/device/kernel_shapes.c)"
#endif
#if VEC_W == 4
#define DROP_LANES 2
#define DROP_LANE_IDS ((uint2)(0u, 1u))
#elif VEC_W == 8
#define DROP_LANES 4
#define DROP_LANE_IDS ((uint4)(0u, 1u, 2u, 3u))
#elif VEC_W == 16
#define DROP_LANES 8
#define DROP_LANE_IDS ((uint8)(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u))
#else
#error "cl/dropout.cl supports VEC_W of 4, 8 or 16"
#endif
#define drop_vec MCL_VEC(DROP_LANES)
#define drop_uvec MCL_CAT(uint, DROP_LANES)
#define drop_ulvec MCL_CAT(ulong, DROP_LANES)
#define drop_to_ulong MCL_CAT(convert_ulong, DROP_LANES)
#define drop_to_uint MCL_CAT(convert_uint, DROP_LANES)
#define drop_load MCL_VLOAD(DROP_LANES)
#define drop_store MCL_VSTORE(DROP_LANES)

/* One Philox round on DROP_LANES blocks at once: common.cl's PHILOX_ROUND in vector lanes, the
 * high words from 64-bit products. */
#define DROP_ROUND(c0, c1, c2, c3, k0, k1)                                                        \
    {                                                                                              \
        drop_ulvec p0_ = drop_to_ulong(c0) * (ulong)0xD2511F53u;                                   \
        drop_ulvec p1_ = drop_to_ulong(c2) * (ulong)0xCD9E8D57u;                                   \
        c0 = drop_to_uint(p1_ >> 32) ^ c1 ^ k0;                                                    \
        c1 = drop_to_uint(p1_);                                                                    \
        c2 = drop_to_uint(p0_ >> 32) ^ c3 ^ k1;                                                    \
        c3 = drop_to_uint(p0_);                                                                    \
        k0 += 0x9E3779B9u;                                                                         \
        k1 += 0xBB67AE85u;                                                                         \
    }

/* The keep factors (scale or 0) of one word per lane, from the word's 24-bit uniform. */
static inline drop_vec dropout_factors(drop_uvec word, float rate, float scale) {
    drop_vec u = MCL_CAT(convert_float, DROP_LANES)(word >> 8) * (1.0f / 16777216.0f);
    return select((drop_vec)0.0f, (drop_vec)scale, u >= (drop_vec)rate);
}

/* dst[i] = src[i] * factor[i - first] for i in [first, end), end - first <= DROP_LANES: one of
 * the four runs. */
static inline void dropout_run(__global const float *src, __global float *dst, uint first,
                               uint end, drop_vec factor) {
    if (first + DROP_LANES <= end) {
        drop_store(drop_load(0, src + first) * factor, 0, dst + first);
        return;
    }
    float f[DROP_LANES];
    drop_store(factor, 0, f);
    for (uint j = 0; first + j < end; j++)
        dst[first + j] = src[first + j] * f[j];
}

VEC_KERNEL void dropout_apply(__global const float *src, __global float *dst, uint count,
                              uint quarter, float rate, uint seed_lo, uint seed_hi, uint step,
                              uint layer) {
    float scale = 1.0f / (1.0f - rate);
    uint first = get_global_id(0) * (VEC_W * VEC_SPAN);
    for (uint b0 = first; b0 < min(quarter, first + VEC_W * VEC_SPAN); b0 += DROP_LANES) {
        drop_uvec c0 = (drop_uvec)b0 + DROP_LANE_IDS, c1 = (drop_uvec)step, c2 = (drop_uvec)layer,
                  c3 = (drop_uvec)3u, k0 = (drop_uvec)seed_lo, k1 = (drop_uvec)seed_hi;
        DROP_ROUND(c0, c1, c2, c3, k0, k1)
        DROP_ROUND(c0, c1, c2, c3, k0, k1)
        DROP_ROUND(c0, c1, c2, c3, k0, k1)
        DROP_ROUND(c0, c1, c2, c3, k0, k1)
        DROP_ROUND(c0, c1, c2, c3, k0, k1)
        DROP_ROUND(c0, c1, c2, c3, k0, k1)
        DROP_ROUND(c0, c1, c2, c3, k0, k1)
        DROP_ROUND(c0, c1, c2, c3, k0, k1)
        DROP_ROUND(c0, c1, c2, c3, k0, k1)
        DROP_ROUND(c0, c1, c2, c3, k0, k1)
        /* Lanes at b >= Q would reach into the next quarter, and the last quarter may be
         * short. */
        uint blocks = min((uint)DROP_LANES, quarter - b0);
        drop_vec f0 = dropout_factors(c0, rate, scale), f1 = dropout_factors(c1, rate, scale);
        drop_vec f2 = dropout_factors(c2, rate, scale), f3 = dropout_factors(c3, rate, scale);
        dropout_run(src, dst, b0, min(count, b0 + blocks), f0);
        dropout_run(src, dst, quarter + b0, min(count, quarter + b0 + blocks), f1);
        dropout_run(src, dst, 2 * quarter + b0, min(count, 2 * quarter + b0 + blocks), f2);
        dropout_run(src, dst, 3 * quarter + b0, min(count, 3 * quarter + b0 + blocks), f3);
    }
}
