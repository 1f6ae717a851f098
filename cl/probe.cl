/* The device's peak multiply-add rate, for `mnist-cl bench` (src/device/self_check.c): each
 * work-item runs PROBE_CHAINS independent chains of GEMM_VW-wide multiply-adds (enough chains to
 * hide the FMA latency on every CPU: latency 4 x 2 ports = 8 in flight), nothing but registers
 * in the loop. The values stay in [0, 2]: acc = acc * 0.5 + 1 converges to 2. */
#ifndef GEMM_VW
#error "cl/probe.cl needs -DGEMM_VW (src/device/kernel_shapes.c)"
#endif
#define PROBE_CHAINS 12
#define probe_vec MCL_VEC(GEMM_VW)
#define probe_store MCL_VSTORE(GEMM_VW)

/* out: one vector per work-item (the sum of its chains, so nothing is optimised away).
 * Global size: any; flops = 2 * GEMM_VW * PROBE_CHAINS * iterations per work-item. */
__kernel void fma_peak(__global float *out, uint iterations, float scale, float offset) {
    size_t id = get_global_id(0);
    probe_vec acc[PROBE_CHAINS];
    #pragma unroll
    for (int c = 0; c < PROBE_CHAINS; c++)
        acc[c] = (probe_vec)((float)(id % 7u) * 0.125f + (float)c * 0.01f);
    for (uint i = 0; i < iterations; i++) {
        #pragma unroll
        for (int c = 0; c < PROBE_CHAINS; c++)
            acc[c] = fma(acc[c], (probe_vec)scale, (probe_vec)offset);
    }
    probe_vec sum = acc[0];
    #pragma unroll
    for (int c = 1; c < PROBE_CHAINS; c++)
        sum += acc[c];
    probe_store(sum, id, out);
}
