/* Softmax fused with sparse categorical cross-entropy.
 * logits, probs: [n, K]; labels: [n]; sample_loss, sample_correct: [n].
 * Forward: probs = softmax(logits) (max-subtracted), loss = logsumexp - logit[label],
 * correct = (first argmax == label). One work-item per sample. Global size: (n). */
__kernel void softmax_xent_forward(__global const float *logits, __global const int *labels,
                                   __global float *probs, __global float *sample_loss,
                                   __global float *sample_correct, uint n, uint classes) {
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
    float sum = 0.0f;
    for (uint k = 0; k < classes; k++) {
        float e = exp(z[k] - zmax);
        p[k] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (uint k = 0; k < classes; k++) p[k] *= inv;
    int label = labels[r];
    sample_loss[r] = log(sum) - (z[label] - zmax);
    sample_correct[r] = (arg == (uint)label) ? 1.0f : 0.0f;
}

/* dlogits = (probs - onehot(label)) * loss_scale, with loss_scale = 1/n for a batch mean.
 * Global size: (K, n). */
__kernel void softmax_xent_backward(__global const float *probs, __global const int *labels,
                                    __global float *dlogits, uint classes, float loss_scale) {
    uint k = get_global_id(0), r = get_global_id(1);
    if (k >= classes) return;
    size_t i = (size_t)r * classes + k;
    float onehot = (labels[r] == (int)k) ? 1.0f : 0.0f;
    dlogits[i] = (probs[i] - onehot) * loss_scale;
}
