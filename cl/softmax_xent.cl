/* Softmax fused with sparse categorical cross-entropy, with Keras's label smoothing F.
 * logits, probs: [n, K]; labels: [n]; sample_loss, sample_correct: [n].
 * Forward: probs = softmax(logits) (max-subtracted); targets q = onehot(label) (1 - F) + F/K;
 * loss = logsumexp - sum_k q_k logit_k (= logsumexp - logit[label] when F = 0, computed so);
 * correct = (first argmax == label); with write_grad (training) also the gradient of the mean
 * loss, dlogits = (probs - q) * loss_scale, loss_scale = 1/n. One work-item per sample. Global
 * size: (n). */
__kernel void softmax_xent_forward(__global const float *logits, __global const int *labels,
                                   __global float *probs, __global float *sample_loss,
                                   __global float *sample_correct, uint n, uint classes,
                                   int write_grad, __global float *dlogits, float loss_scale,
                                   float smoothing) {
    uint r = get_global_id(0);
    if (r >= n) return;
    __global const float *z = logits + (size_t)r * classes;
    __global float *p = probs + (size_t)r * classes;
    float zmax = z[0];
    uint arg = 0;
    for (uint k = 1; k < classes; k++) {
        if (z[k] > zmax) {
            zmax = z[k];
            arg = k;
        }
    }
    float sum = softmax_row(z, zmax, p, classes);
    int label = labels[r];
    float target = z[label] - zmax;
    if (smoothing > 0.0f) {
        float all = 0.0f;
        for (uint k = 0; k < classes; k++)
            all += z[k] - zmax;
        target = (1.0f - smoothing) * target + smoothing / (float)classes * all;
    }
    sample_loss[r] = log(sum) - target;
    sample_correct[r] = (arg == (uint)label) ? 1.0f : 0.0f;
    if (write_grad) {
        __global float *d = dlogits + (size_t)r * classes;
        float off = smoothing / (float)classes, on = 1.0f - smoothing + off;
        for (uint k = 0; k < classes; k++)
            d[k] = (p[k] - (k == (uint)label ? on : off)) * loss_scale;
    }
}
