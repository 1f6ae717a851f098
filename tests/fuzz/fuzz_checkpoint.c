/* libFuzzer target for the checkpoint reader: any bytes must load cleanly or fail with a one-line
 * message, never crash, hang or leak. The corpus holds small valid checkpoints (with and without
 * optimizer state) to mutate. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mcl_checkpoint *ck = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_checkpoint_load_memory(data, size, "fuzz.ckpt", &ck, &err);
    if (st == MCL_OK) {
        if (ck == NULL) abort();
        mcl_checkpoint_free(ck);
    } else if (ck != NULL || err.message[0] == '\0' || strchr(err.message, '\n') != NULL) {
        abort();
    }
    return 0;
}
