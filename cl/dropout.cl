/* Inverted dropout in training: kept elements are scaled by 1/(1-rate). (Inference is the
 * identity, a buffer copy enqueued by src/ops/dropout.c.)
 * The mask is not stored: backward regenerates it from the same Philox counter
 * (element/4, step, layer, 3 = MCL_STREAM_DROPOUT) and key (seed), so it costs no memory and is reproducible.
 * Each work-item handles four consecutive elements (one Philox block). Global size:
 * ceil(count/4). */
inline float dropout_factor(uint word, float rate, float scale) {
    return u32_to_unit_float(word) >= rate ? scale : 0.0f;
}

__kernel void dropout_apply(__global const float *src, __global float *dst, uint count,
                            float rate, uint seed_lo, uint seed_hi, uint step, uint layer) {
    uint g = get_global_id(0);
    uint first = g * 4u;
    float scale = 1.0f / (1.0f - rate);
    uint4 w = philox4x32((uint4)(g, step, layer, 3u), (uint2)(seed_lo, seed_hi));
    float4 factor = (float4)(dropout_factor(w.x, rate, scale), dropout_factor(w.y, rate, scale),
                             dropout_factor(w.z, rate, scale), dropout_factor(w.w, rate, scale));
    /* Straight-line code for whole blocks lets PoCL vectorise across work-items; early
     * returns or a loop over a private array kept it scalar (3x slower). */
    if (first + 4u <= count) {
        vstore4(vload4(g, src) * factor, g, dst);
    } else {
        float f[4] = {factor.x, factor.y, factor.z, factor.w};
        for (uint j = 0; first + j < count; j++)
            dst[first + j] = src[first + j] * f[j];
    }
}
