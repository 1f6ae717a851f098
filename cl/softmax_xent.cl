/* Softmax fused with sparse categorical cross-entropy.
 * logits, probs: [n, K]; labels: [n]; sample_loss, sample_correct: [n].
 * Forward: probs = softmax(logits) (max-subtracted), loss = logsumexp - logit[label],
 * correct = (first argmax == label); with write_grad (training) also the gradient of the mean
 * loss, dlogits = (probs - onehot(label)) * loss_scale, loss_scale = 1/n. One work-item per
 * sample. Global size: (n). */
__kernel void softmax_xent_forward(__global const float *logits, __global const int *labels,
                                   __global float *probs, __global float *sample_loss,
                                   __global float *sample_correct, uint n, uint classes,
                                   int write_grad, __global float *dlogits, float loss_scale) {
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
    sample_loss[r] = log(sum) - (z[label] - zmax);
    sample_correct[r] = (arg == (uint)label) ? 1.0f : 0.0f;
    if (write_grad) {
        __global float *d = dlogits + (size_t)r * classes;
        for (uint k = 0; k < classes; k++)
            d[k] = (p[k] - (k == (uint)label ? 1.0f : 0.0f)) * loss_scale;
    }
}
