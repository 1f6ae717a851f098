/* Batch assembly from the uint8 dataset resident on the device.
 * pixels: [count, F] uint8; labels_all: [count]; order: this epoch's sample order.
 * x: [n, F] float in 0..1; labels: [n]. A work-item converts VEC_SPAN vectors of VEC_W pixels
 * of one row (PoCL left the one-pixel form scalar: 90 us for a batch of 128 MNIST images); a
 * row that the vectors do not divide ends with a scalar tail. Global size:
 * (ceil(F / (VEC_W * VEC_SPAN)), n). */
#if !defined(VEC_W) || !defined(VEC_SPAN)
#error "cl/data.cl needs -DVEC_W and -DVEC_SPAN (src/device/kernel_shapes.c)"
#endif

VEC_KERNEL void gather_batch(__global const uchar *pixels, __global const uchar *labels_all,
                             __global const uint *order, uint base, uint features,
                             __global float *x, __global int *labels) {
    uint f0 = get_global_id(0) * (VEC_W * VEC_SPAN), s = get_global_id(1);
    uint src = order[base + s];
    __global const uchar *in = pixels + (size_t)src * features;
    __global float *out = x + (size_t)s * features;
    if (f0 == 0) labels[s] = labels_all[src];
    uint end = min(features, f0 + VEC_W * VEC_SPAN), f = f0;
    for (; f + VEC_W <= end; f += VEC_W)
        MCL_VSTORE(VEC_W)(MCL_CAT(convert_float, VEC_W)(MCL_VLOAD(VEC_W)(0, in + f)) *
                              (1.0f / 255.0f),
                          0, out + f);
    for (; f < end; f++)
        out[f] = (float)in[f] * (1.0f / 255.0f);
}
