/* libFuzzer target for the model language: parse, then plan the graph for a 28x28 input with
 * 10 classes (shape inference) through the summary. Failures must be one-line messages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mnistcl/mnistcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (text == NULL) return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* the parser takes C text; embedded NULs just end it early */
    mcl_model *model = NULL;
    mcl_error err = {0};
    if (mcl_model_parse(text, "fuzz.model", &model, &err) == MCL_OK) {
        static char summary[64 * 1024];
        mcl_error serr = {0};
        if (mcl_model_summary(model, 28, 28, 10, summary, sizeof summary, &serr) != MCL_OK &&
            (serr.message[0] == '\0' || strchr(serr.message, '\n') != NULL))
            abort();
    } else if (model != NULL || err.message[0] == '\0' || strchr(err.message, '\n') != NULL) {
        abort();
    }
    mcl_model_free(model);
    free(text);
    return 0;
}
