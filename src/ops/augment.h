/* On-device data augmentation (Keras ImageDataGenerator semantics with zero fill): the
 * gather_batch_augment kernel of cl/augment.cl, the helper that enqueues it, and the plain C
 * computation it must match (the per-image matrix and a bilinear resampling oracle).
 *
 * Each image gets a random affine transform drawn from Philox with key = seed and counter =
 * (sample index in the dataset, epoch, MCL_STREAM_AUGMENT, block 0 and 1), so an image's
 * transform depends only on (seed, sample, epoch): not on the batch, its position in the batch,
 * the device or the order of evaluation.
 *
 * It sits with the ops, not in data/, because it launches kernels: data/ reads files on the
 * host and never touches the device (the layer order in tests/layering.py). */
#ifndef MCL_OPS_AUGMENT_H
#define MCL_OPS_AUGMENT_H

#include <stdint.h>

#include "device/device.h"

/* The transform of one image as a 2x3 matrix mapping an OUTPUT pixel (row, col) to the INPUT
 * point it samples (the convention of scipy's affine_transform, which Keras uses):
 *   in_row = m[0]*row + m[1]*col + m[2],   in_col = m[3]*row + m[4]*col + m[5].
 * It is R(theta) @ Shift(tx, ty) @ Shear(s) @ Zoom(zx, zy) about the pixel centre
 * ((rows-1)/2, (cols-1)/2), with theta in [-rotation, rotation] degrees, tx in
 * [-shift*rows, shift*rows], ty in [-shift*cols, shift*cols], s in [-shear, shear] degrees and
 * zx, zy in [1-zoom, 1+zoom] independently. A disabled `a` (or all ranges 0) gives exactly
 * the identity {1, 0, 0, 0, 1, 0} (up to the sign of zeros). The ranges are taken as given:
 * the caller validates them (finite, >= 0). Computed in float with the same expressions as the
 * kernel; only sin/cos may differ from the device's by a few ulps. */
void mcl_augment_draw(uint64_t seed, uint32_t sample, uint32_t epoch, const mcl_augment *a,
                      uint32_t rows, uint32_t cols, float m[6]);

/* The plain C oracle of the kernel's resampling: out[rows*cols] = bilinear sample of
 * image[rows*cols] (uint8) at m applied to each output pixel, taps outside the image counting
 * as 0, scaled by 1/255 as the last step. Nothing is allocated; the caller owns both buffers. */
void mcl_augment_reference(const uint8_t *image, uint32_t rows, uint32_t cols, const float m[6],
                           float *out);

/* Sets the arguments of `kernel` and enqueues it on ctx->queue: x[s] and labels[s] for s < n
 * become the augmented image and the label of sample order[base + s] of (pixels, labels_all)
 * for this (seed, epoch). A disabled `a` gathers without transforming, bit-identical to
 * gather_batch. One work-item per output pixel in work-groups of whole parts of one image
 * (global (G*L, n), local (L, 1), L as large as the kernel allows, G*L >= rows*cols), so each
 * work-group draws its image's transform once.
 *
 * Ownership: `kernel` is the caller's, made with mcl_kernel_create(ctx, "gather_batch_augment",
 * ...) and released with clReleaseKernel; it may be reused for any number of calls but not
 * shared between threads, since its arguments are set here. All buffers are the caller's:
 * pixels [count, rows*cols] uint8, labels_all [count] uint8, order [>= base+n] uint32,
 * x [>= n, rows*cols] float, labels [>= n] int32. Nothing is allocated; the call does not wait
 * for the kernel. On failure returns the status recorded in *err and enqueues nothing. */
mcl_status mcl_augment_enqueue(mcl_context *ctx, cl_kernel kernel, cl_mem pixels, cl_mem labels_all,
                               cl_mem order, uint32_t base, uint32_t n, uint32_t rows,
                               uint32_t cols, const mcl_augment *a, uint64_t seed, uint32_t epoch,
                               cl_mem x, cl_mem labels, mcl_error *err);

/* The same without augmentation through cl/data.cl's gather_batch (`kernel`, made with
 * mcl_kernel_create(ctx, "gather_batch", ...)): x[s] = pixels of sample order[base + s] / 255
 * and labels[s] its label, for s < n, `features` pixels each. Same ownership rules. */
mcl_status mcl_gather_enqueue(mcl_context *ctx, cl_kernel kernel, cl_mem pixels, cl_mem labels_all,
                              cl_mem order, uint32_t base, uint32_t n, uint32_t features,
                              cl_mem x, cl_mem labels, mcl_error *err);

#endif
