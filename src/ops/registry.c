/* The op table: one line per op. A static_assert keeps it in step with mcl_op_kind. */
#include <assert.h>
#include <string.h>

#include "ops/op.h"

static const mcl_op *const op_table[] = {
    [MCL_OP_FLATTEN] = &mcl_op_flatten,
    [MCL_OP_DENSE] = &mcl_op_dense,
    [MCL_OP_RELU] = &mcl_op_relu,
    [MCL_OP_DROPOUT] = &mcl_op_dropout,
    [MCL_OP_SOFTMAX_XENT] = &mcl_op_softmax_xent,
};
static_assert(sizeof op_table / sizeof op_table[0] == MCL_OP_COUNT,
              "every mcl_op_kind needs a line in op_table");

const mcl_op *mcl_op_get(mcl_op_kind kind) {
    return (unsigned)kind < MCL_OP_COUNT ? op_table[kind] : NULL;
}

const mcl_op *mcl_op_find(const char *name, mcl_op_kind *kind_out) {
    for (unsigned k = 0; k < MCL_OP_COUNT; k++) {
        if (strcmp(op_table[k]->name, name) == 0) {
            if (kind_out != NULL) *kind_out = (mcl_op_kind)k;
            return op_table[k];
        }
    }
    return NULL;
}

mcl_status mcl_op_no_params_infer_same(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                       mcl_error *err) {
    (void)layer, (void)err;
    *out = in;
    return MCL_OK;
}

double mcl_op_zero_flops(const mcl_node *node) {
    (void)node;
    return 0.0;
}
