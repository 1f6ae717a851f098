/* Sums per-sample loss and correctness of one batch into slot `slot` of `step_metrics`
 * ([slots, 2] floats: loss sum, correct count). One work-group; its size must be a power of
 * two (the host queries what the device allows). Fixed reduction order: deterministic. */
__kernel void metrics_reduce(__global const float *sample_loss,
                             __global const float *sample_correct, uint n,
                             __global float *step_metrics, uint slot, __local float *scratch) {
    uint lid = get_local_id(0), size = get_local_size(0);
    float loss = 0.0f, correct = 0.0f;
    for (uint i = lid; i < n; i += size) {
        loss += sample_loss[i];
        correct += sample_correct[i];
    }
    scratch[lid] = loss;
    scratch[size + lid] = correct;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint stride = size / 2; stride > 0; stride /= 2) {
        if (lid < stride) {
            scratch[lid] += scratch[lid + stride];
            scratch[size + lid] += scratch[size + lid + stride];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        step_metrics[2 * slot] = scratch[0];
        step_metrics[2 * slot + 1] = scratch[size];
    }
}
