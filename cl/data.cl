/* Batch assembly from the uint8 dataset resident on the device.
 * pixels: [count, F] uint8; labels_all: [count]; order: this epoch's sample order.
 * x: [n, F] float in 0..1; labels: [n]. Global size: (F, n). */
__kernel void gather_batch(__global const uchar *pixels, __global const uchar *labels_all,
                           __global const uint *order, uint base, uint features,
                           __global float *x, __global int *labels) {
    uint f = get_global_id(0), s = get_global_id(1);
    if (f >= features) return;
    uint src = order[base + s];
    x[(size_t)s * features + f] = (float)pixels[(size_t)src * features + f] * (1.0f / 255.0f);
    if (f == 0) labels[s] = labels_all[src];
}
