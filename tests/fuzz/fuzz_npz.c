/* libFuzzer target for the NumPy .npz reader (Keras's mnist.npz): the input is an archive,
 * opened from memory (mcl_npz_open does the same reads through pread), and each of the four
 * arrays a dataset takes is read both as images and as labels, so every member goes through
 * both dtype and shape rules. A success must describe exactly what was read; a failure must be
 * a format (or memory) error with a one-line message that names the input. The CRC-32 check is
 * off in fuzzing builds (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) so that mutated members get
 * past it. The corpus is tests/fuzz/corpus/npz (tests/fuzz/npz_corpus.py wrote it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/npz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz-input"

static void check_failure(mcl_status st, const mcl_error *err) {
    if (st != MCL_ERR_FORMAT && st != MCL_ERR_HOST_MEMORY) abort();
    if (err->status != st || strchr(err->message, '\n') != NULL) abort();
    if (strncmp(err->message, NAME ": ", strlen(NAME ": ")) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const arrays[] = {"x_train", "y_train", "x_test", "y_test"};
    mcl_npz *npz = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_npz_open_memory(data, size, NAME, &npz, &err);
    if (st != MCL_OK) {
        check_failure(st, &err);
        if (npz != NULL) abort();
        return 0;
    }
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        (void)mcl_npz_has(npz, arrays[i]);
        mcl_idx_images img;
        st = mcl_npz_read_images(npz, arrays[i], &img, &err);
        if (st == MCL_OK) {
            if (img.count == 0 || img.rows == 0 || img.cols == 0 || img.pixels == NULL) abort();
            volatile uint8_t last = img.pixels[(size_t)img.count * img.rows * img.cols - 1];
            (void)last;
        } else {
            check_failure(st, &err);
            if (img.pixels != NULL) abort();
        }
        mcl_idx_images_free(&img);
        mcl_idx_labels lab;
        st = mcl_npz_read_labels(npz, arrays[i], &lab, &err);
        if (st == MCL_OK) {
            if (lab.count == 0 || lab.labels == NULL) abort();
            volatile uint8_t last = lab.labels[lab.count - 1];
            (void)last;
        } else {
            check_failure(st, &err);
            if (lab.labels != NULL) abort();
        }
        mcl_idx_labels_free(&lab);
    }
    mcl_npz_close(npz);
    return 0;
}
