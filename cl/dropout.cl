/* Inverted dropout: kept elements are scaled by 1/(1-rate) in training; identity in inference.
 * The mask is not stored: backward regenerates it from the same Philox counter
 * (element/4, step, layer, 3 = MCL_STREAM_DROPOUT) and key (seed), so it costs no memory and is reproducible.
 * Each work-item handles four consecutive elements (one Philox block). Global size:
 * ceil(count/4). */
inline float dropout_factor(uint word, float rate, float scale) {
    return u32_to_unit_float(word) >= rate ? scale : 0.0f;
}

__kernel void dropout_apply(__global const float *src, __global float *dst, uint count,
                            float rate, uint seed_lo, uint seed_hi, uint step, uint layer,
                            int training) {
    uint g = get_global_id(0);
    uint first = g * 4u;
    if (first >= count) return;
    if (!training) {
        for (uint j = 0; j < 4u && first + j < count; j++) dst[first + j] = src[first + j];
        return;
    }
    float scale = 1.0f / (1.0f - rate);
    uint4 w = philox4x32((uint4)(g, step, layer, 3u), (uint2)(seed_lo, seed_hi));
    uint words[4] = {w.x, w.y, w.z, w.w};
    for (uint j = 0; j < 4u && first + j < count; j++)
        dst[first + j] = src[first + j] * dropout_factor(words[j], rate, scale);
}
