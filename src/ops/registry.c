/* The op table, indexed by mcl_op_kind, made from the op list (op_list.h): an op cannot be in
 * the enum without its entry. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ops/op.h"

static const mcl_op *const op_table[MCL_OP_COUNT] = {
#define MCL_OP_ENTRY(kind, name, emitter) [MCL_OP_##kind] = &mcl_op_##name,
    MCL_OP_LIST(MCL_OP_ENTRY)
#undef MCL_OP_ENTRY
};

const mcl_op *mcl_op_get(mcl_op_kind kind) {
    return (unsigned)kind < MCL_OP_COUNT ? op_table[kind] : NULL;
}

const mcl_op *mcl_op_find(const char *name, mcl_op_kind *kind_out) {
    /* Our names first, then Keras's class names in any case (MaxPooling2D, maxpooling2d, the
     * names summary prints). */
    for (int pass = 0; pass < 2; pass++)
        for (unsigned k = 0; k < MCL_OP_COUNT; k++) {
            const mcl_op *op = op_table[k];
            bool match = pass == 0 ? strcmp(op->name, name) == 0
                                   : op->keras_name != NULL && strcasecmp(op->keras_name, name) == 0;
            if (match) {
                if (kind_out != NULL) *kind_out = (mcl_op_kind)k;
                return op;
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

size_t mcl_op_no_params(const mcl_layer *layer, mcl_shape in, mcl_shape out) {
    (void)layer, (void)in, (void)out;
    return 0;
}

bool mcl_parse_u32(const char *s, uint32_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || !isdigit((unsigned char)s[0]) || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool mcl_parse_float(const char *s, float *out) {
    char *end = NULL;
    errno = 0;
    float v = strtof(s, &end);
    if (errno != 0 || end == s || *end != '\0') return false;
    *out = v;
    return true;
}

bool mcl_parse_size2(const char *s, uint32_t max, uint32_t *h, uint32_t *w) {
    char buf[32];
    if (strlen(s) >= sizeof buf) return false;
    strcpy(buf, s);
    char *x = strchr(buf, 'x');
    if (x != NULL) *x = '\0';
    if (!mcl_parse_u32(buf, h)) return false;
    if (x == NULL)
        *w = *h;
    else if (!mcl_parse_u32(x + 1, w))
        return false;
    return *h >= 1 && *w >= 1 && *h <= max && *w <= max;
}

const char *mcl_arg_value(const char *arg, const char *key) {
    size_t n = strlen(key);
    return strncmp(arg, key, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

bool mcl_parse_activation(const char *s, mcl_activation *out) {
    const char *v = mcl_arg_value(s, "activation");
    if (v != NULL) s = v;
    if (strcmp(s, "relu") == 0)
        *out = MCL_ACT_RELU;
    else if (strcmp(s, "linear") == 0)
        *out = MCL_ACT_LINEAR;
    else if (strcmp(s, "softmax") == 0)
        *out = MCL_ACT_SOFTMAX;
    else
        return false;
    return true;
}

mcl_status mcl_parse_padding(const char *op, const char *value, mcl_padding *out,
                             mcl_error *err) {
    if (strcmp(value, "valid") == 0)
        *out = MCL_PADDING_VALID;
    else if (strcmp(value, "same") == 0)
        *out = MCL_PADDING_SAME;
    else
        return mcl_fail(err, MCL_ERR_FORMAT, "%s padding must be 'valid' or 'same', got '%s'", op,
                        value);
    return MCL_OK;
}

uint32_t mcl_window_out(uint32_t in, uint32_t k, uint32_t s, mcl_padding padding,
                        uint32_t *pad_before) {
    *pad_before = 0;
    if (s == 0 || k == 0) return 0;
    if (padding == MCL_PADDING_SAME) {
        uint32_t out = (in + s - 1) / s;
        uint64_t span = (uint64_t)(out - 1) * s + k;
        uint32_t total = span > in ? (uint32_t)(span - in) : 0;
        *pad_before = total / 2;
        return out;
    }
    return k > in ? 0 : (in - k) / s + 1;
}
