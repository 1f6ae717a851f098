/* NumPy .npz archives as datasets: what np.savez and np.savez_compressed write, and what Keras's
 * tf.keras.datasets.mnist.load_data() keeps in ~/.keras/datasets/mnist.npz. An .npz is a zip
 * archive (stored or deflated members, zip64 where numpy writes it) of .npy files; Keras's holds
 * x_train.npy (uint8 [60000, 28, 28]), y_train.npy (uint8 [60000]), x_test.npy and y_test.npy.
 *
 * What is read: .npy format versions 1.0, 2.0 and 3.0, C order only; images of dtype uint8
 * ('|u1', '<u1') shaped [N, H, W] or [N, H, W, 1]; labels of any integer dtype of 1, 2, 4 or 8
 * bytes, either byte order, shaped [N] or [N, 1], each 0..255. The archive is read in place:
 * the central directory, then one member at a time straight into its final buffer, so memory
 * is the data's own size (N*H*W bytes for images, N for labels) plus small fixed buffers.
 *
 * Every count and offset is checked against the file before it is used, and the size a member
 * claims is checked against the .npy header, the limits of idx.h (the same as for IDX files)
 * and, for a deflated member, the most deflate can expand its compressed bytes to, all before
 * anything is allocated from it. Each member's CRC-32 is verified. Every failure is MCL_ERR_IO
 * (cannot open or read), MCL_ERR_FORMAT (malformed, unsupported or over-limit content) or
 * MCL_ERR_HOST_MEMORY, with a one-line message "FILE: MEMBER: problem" (or "FILE: problem" for
 * the archive as a whole). */
#ifndef MCL_DATA_NPZ_H
#define MCL_DATA_NPZ_H

#include <stddef.h>
#include <stdint.h>

#include "data/idx.h"
#include "mnistcl/mnistcl.h"

/* The central directory may hold at most this many bytes (a zip of 4 arrays needs ~300). */
#define MCL_NPZ_MAX_DIRECTORY_BYTES (16u << 20)
/* A .npy header (the dict after the magic) longer than this is refused; numpy writes ~118 bytes
 * and itself refuses more than 10000 by default. */
#define MCL_NPY_MAX_HEADER_BYTES 65536u

typedef struct mcl_npz mcl_npz;

/* Opens an archive and validates its central directory. The caller closes *out with
 * mcl_npz_close. `path` must be a regular file (a zip is read from its end). */
mcl_status mcl_npz_open(const char *path, mcl_npz **out, mcl_error *err);
/* The same for an archive held in memory (tests, the fuzz target); `data` must outlive *out and
 * `name` is used in messages. */
mcl_status mcl_npz_open_memory(const uint8_t *data, size_t size, const char *name, mcl_npz **out,
                               mcl_error *err);
void mcl_npz_close(mcl_npz *npz); /* NULL-safe */

/* Whether the archive has a member "<array>.npy". */
bool mcl_npz_has(const mcl_npz *npz, const char *array);

/* Reads member "<array>.npy" as images (uint8 [N, H, W] or [N, H, W, 1]). On success the caller
 * owns out->pixels (mcl_idx_images_free); on failure *out is zeroed. */
mcl_status mcl_npz_read_images(mcl_npz *npz, const char *array, mcl_idx_images *out,
                               mcl_error *err);
/* Reads member "<array>.npy" as labels (integers 0..255, [N] or [N, 1]). */
mcl_status mcl_npz_read_labels(mcl_npz *npz, const char *array, mcl_idx_labels *out,
                               mcl_error *err);

#endif
