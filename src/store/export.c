/* Model export: the weights as NumPy .npz, the inference graph as ONNX.
 *
 * npz: a zip archive of stored (uncompressed) .npy v1.0 files, one per named tensor of the
 * graph ("conv2d_1/kernel.npy"), each exactly the op's mcl_tensor_desc: Keras layouts, dtype
 * '<f4'. numpy.load() lists them without the ".npy", as numpy.savez writes them.
 *
 * ONNX (IR 7, opset 13): the graph stays in ONNX's native NCHW layout and the weights are
 * converted, node by node (see the emitters below):
 *   conv2d     Conv, W [KH, KW, C, F] -> [F, C, KH, KW]; pads [top, left, bottom, right] from
 *              the same geometry as mcl_window_out (the extra 'same' pixel bottom/right); Relu
 *   dense      Gemm(x, W [in, out], b), transB = 0; Relu
 *   batchnorm  BatchNormalization (inference: moving statistics), epsilon
 *   maxpool    MaxPool: padded positions never win, as in ONNX
 *   zeropad    Pad (constant 0), pads [0, 0, top, left, 0, 0, bottom, right] as an initializer
 *   relu, leakyrelu, globalavgpool, softmax(_xent): Relu, LeakyRelu, GlobalAveragePool,
 *              Softmax(axis=1, the channels)
 *   dropout    nothing (the identity at inference)
 *   flatten    Transpose(perm [0, 2, 3, 1]) then Flatten: our flatten reads (h, w, c) order, so
 *              the dense weights after it stay valid. The transpose is left out where the two
 *              orders coincide (one channel, or 1x1).
 * A flat [N, F] value that meets a spatial op is reshaped to [N, F, 1, 1] (which is what our
 * (F, 1, 1) shape means), and a [N, C, 1, 1] one that meets dense or the head is flattened.
 *
 * With logits (mcl_onnx_options) the softmax head is left out and the class scores before it
 * are the output "logits".
 *
 * What a deployer needs besides the weights travels with them: the ONNX model's metadata_props
 * (mnist-cl's version, the class count and names, the run's recipe, data and history, its test
 * metrics) and a graph doc_string that describes the run; the npz's "architecture" (the model
 * text), "recipe" and "class_names" string arrays and each BatchNorm's epsilon and momentum.
 *
 * Both formats are built in memory and written atomically (mcl_atomic_write). */
#include "store/export.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/atomic_file.h"
#include "core/byte_buf.h"
#include "core/error.h"
#include "core/text.h"
#include "graph/graph.h"
#include "onnx.pb-c.h"
#include "store/checkpoint.h"

static void store_f32(uint8_t *dst, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    for (int i = 0; i < 4; i++)
        dst[i] = (uint8_t)(v >> (8 * i));
}

static void store_i64(uint8_t *dst, int64_t value) {
    uint64_t v = (uint64_t)value;
    for (int i = 0; i < 8; i++)
        dst[i] = (uint8_t)(v >> (8 * i));
}

/* Little-endian floats, a block at a time. */
static void put_f32s(mcl_byte_buf *b, const float *src, size_t n) {
    uint8_t block[4096];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < sizeof block / 4 ? n - i : sizeof block / 4;
        for (size_t j = 0; j < k; j++)
            store_f32(block + 4 * j, src[i + j]);
        mcl_buf_put(b, block, 4 * k);
        i += k;
    }
}

/* zlib's crc32 takes uInt lengths: feed it in chunks. */
static uint32_t crc32_of(const uint8_t *data, size_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < n;) {
        size_t k = n - off > (1u << 30) ? (1u << 30) : n - off;
        crc = crc32(crc, data + off, (uInt)k);
        off += k;
    }
    return (uint32_t)crc;
}

static size_t elements(uint32_t ndim, const uint32_t *dims) {
    size_t count = 1;
    for (uint32_t i = 0; i < ndim; i++)
        count *= dims[i];
    return count;
}

/* ---------------------------------------------------------------- npy / npz */

/* The .npy v1.0 preamble: magic, version, the header dict (len bytes) padded with spaces and a
 * newline so that the data starts on a 64-byte boundary, as numpy writes it. */
static void put_npy_header(mcl_byte_buf *b, const char *header, size_t len) {
    size_t unpadded = 10 + len + 1, padded = (unpadded + 63) / 64 * 64;
    mcl_buf_put(b, "\x93NUMPY\x01\x00", 8);
    mcl_buf_put_u16(b, (uint16_t)(padded - 10));
    mcl_buf_put(b, header, len);
    for (size_t i = unpadded; i < padded; i++)
        mcl_buf_put(b, " ", 1);
    mcl_buf_put(b, "\n", 1);
}

/* A .npy v1.0 file: magic, version, u16 header length, the header dict padded with spaces and a
 * newline so that the data starts on a 64-byte boundary (as numpy writes it), then the data. */
static void put_npy(mcl_byte_buf *b, const float *data, uint32_t ndim, const uint32_t *dims) {
    char shape[MCL_NPY_MAX_DIMS * 12 + 8];
    size_t at = 0;
    shape[at++] = '(';
    for (uint32_t i = 0; i < ndim; i++)
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%u", i > 0 ? ", " : "", dims[i]);
    if (ndim == 1) shape[at++] = ',';
    shape[at++] = ')';
    shape[at] = '\0';
    char header[256];
    int len = snprintf(header, sizeof header,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    put_npy_header(b, header, (size_t)len);
    put_f32s(b, data, elements(ndim, dims));
}

/* A .npy v1.0 file of NumPy unicode strings ('<U' + the longest length in code points, each
 * string UTF-32LE padded with zeros, as numpy stores str arrays): one string as a 0-d array
 * (scalar), else a 1-D array of `count`. np.load reads it without allow_pickle. */
static void put_npy_strings(mcl_byte_buf *b, const char *const *strings, size_t count,
                            bool scalar) {
    size_t width = 1;
    for (size_t i = 0; i < count; i++) {
        size_t n = 0;
        uint32_t cp;
        for (const char *p = strings[i]; *p != '\0'; n++)
            p += mcl_utf8_decode(p, &cp);
        if (n > width) width = n;
    }
    char header[128];
    int len = scalar ? snprintf(header, sizeof header,
                                "{'descr': '<U%zu', 'fortran_order': False, 'shape': (), }", width)
                     : snprintf(header, sizeof header,
                                "{'descr': '<U%zu', 'fortran_order': False, 'shape': (%zu,), }",
                                width, count);
    put_npy_header(b, header, (size_t)len);
    for (size_t i = 0; i < count; i++) {
        size_t n = 0;
        uint32_t cp;
        for (const char *p = strings[i]; *p != '\0'; n++) {
            p += mcl_utf8_decode(p, &cp);
            mcl_buf_put_u32(b, cp);
        }
        for (; n < width; n++)
            mcl_buf_put_u32(b, 0);
    }
}

mcl_status mcl_npy_write(const char *path, const float *data, uint32_t ndim, const uint32_t *dims,
                         mcl_error *err) {
    if (path == NULL || (data == NULL && elements(ndim, dims) > 0) || ndim > MCL_NPY_MAX_DIMS)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_npy_write: bad arguments");
    mcl_byte_buf b = {0};
    put_npy(&b, data, ndim, dims);
    mcl_status st = b.failed ? mcl_fail(err, MCL_ERR_HOST_MEMORY,
                                        "%s: out of host memory for the NumPy array", path)
                             : mcl_atomic_write(path, b.data, b.len, "NumPy array", err);
    mcl_buf_free(&b);
    return st;
}

/* Plans the checkpoint's graph and checks its buffers cover it. Caller frees g->nodes. */
static mcl_status plan_checkpoint(const struct mcl_checkpoint *ck, const char *path, mcl_graph *g,
                                  mcl_error *err) {
    if (ck == NULL || ck->model == NULL || path == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "export needs a checkpoint and an output path");
    mcl_status st =
        mcl_graph_plan(ck->model, (mcl_shape){1, ck->rows, ck->cols}, ck->classes, g, err);
    if (st != MCL_OK) return st;
    if (ck->param_count < g->param_count || ck->state_count < g->state_count ||
        (g->param_count > 0 && ck->params == NULL) || (g->state_count > 0 && ck->state == NULL)) {
        free(g->nodes);
        g->nodes = NULL;
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "the checkpoint holds %zu parameters and %zu state values but its model "
                        "needs %zu and %zu",
                        ck->param_count, ck->state_count, g->param_count, g->state_count);
    }
    return MCL_OK;
}

static const float *tensor_data(const struct mcl_checkpoint *ck, const mcl_node *node,
                                const mcl_tensor_desc *t) {
    return t->state ? ck->state + node->state_offset + t->offset
                    : ck->params + node->param_offset + t->offset;
}

/* The zip fields mnist-cl writes: version 2.0, no flags, method 0 (stored), and a fixed
 * 1980-01-01 00:00 timestamp so that the same weights always give the same bytes. */
#define ZIP_VERSION 20
#define ZIP_MADE_BY_UNIX (3u << 8 | ZIP_VERSION)
#define ZIP_DOS_DATE ((0u << 9) | (1u << 5) | 1u)
#define ZIP_EXTERNAL_ATTR (0100644u << 16) /* a regular file, rw-r--r-- */
#define ZIP_MAX 0xFFFFFFFFu                /* beyond this a zip needs zip64 */

typedef struct zip_entry {
    char name[128]; /* a member name of at most 95 bytes and ".npy" */
    uint32_t crc, size, offset;
} zip_entry;

static void put_zip_header(mcl_byte_buf *b, bool central, const zip_entry *e) {
    mcl_buf_put_u32(b, central ? 0x02014b50u : 0x04034b50u);
    if (central) mcl_buf_put_u16(b, ZIP_MADE_BY_UNIX);
    mcl_buf_put_u16(b, ZIP_VERSION);
    mcl_buf_put_u16(b, 0); /* flags */
    mcl_buf_put_u16(b, 0); /* stored */
    mcl_buf_put_u16(b, 0); /* time */
    mcl_buf_put_u16(b, ZIP_DOS_DATE);
    mcl_buf_put_u32(b, e->crc);
    mcl_buf_put_u32(b, e->size); /* compressed */
    mcl_buf_put_u32(b, e->size);
    mcl_buf_put_u16(b, (uint16_t)strlen(e->name));
    mcl_buf_put_u16(b, 0); /* extra field length */
    if (central) {
        mcl_buf_put_u16(b, 0); /* comment length */
        mcl_buf_put_u16(b, 0); /* disk */
        mcl_buf_put_u16(b, 0); /* internal attributes */
        mcl_buf_put_u32(b, ZIP_EXTERNAL_ATTR);
        mcl_buf_put_u32(b, e->offset);
    }
    mcl_buf_put(b, e->name, strlen(e->name));
}

/* The archive being built: entries so far, the zip bytes, and one .npy at a time. */
typedef struct npz_builder {
    zip_entry *entries;
    size_t count, cap;
    mcl_byte_buf zip, npy;
    bool too_large;
} npz_builder;

/* Stores z->npy as the member "<name>.npy". */
static void npz_add(npz_builder *z, const char *name) {
    if (z->npy.failed || z->too_large || z->count == z->cap) {
        z->npy.failed = z->npy.failed || z->count == z->cap;
        return;
    }
    if (z->npy.len > ZIP_MAX || z->zip.len > ZIP_MAX) {
        z->too_large = true;
        return;
    }
    zip_entry *e = &z->entries[z->count++];
    snprintf(e->name, sizeof e->name, "%s.npy", name);
    e->crc = crc32_of(z->npy.data, z->npy.len);
    e->size = (uint32_t)z->npy.len;
    e->offset = (uint32_t)z->zip.len;
    put_zip_header(&z->zip, false, e);
    mcl_buf_put(&z->zip, z->npy.data, z->npy.len);
}

static void npz_add_floats(npz_builder *z, const char *name, const float *data, uint32_t ndim,
                           const uint32_t *dims) {
    z->npy.len = 0;
    put_npy(&z->npy, data, ndim, dims);
    npz_add(z, name);
}

static void npz_add_strings(npz_builder *z, const char *name, const char *const *strings,
                            size_t count, bool scalar) {
    z->npy.len = 0;
    put_npy_strings(&z->npy, strings, count, scalar);
    npz_add(z, name);
}

/* The members that describe the model beside its weights: the model text, the run's recipe
 * (JSON), the class names, and each BatchNorm's epsilon and momentum (scalars, Keras's config
 * names). */
static mcl_status npz_add_description(npz_builder *z, const struct mcl_checkpoint *ck,
                                      const mcl_graph *g, mcl_error *err) {
    for (uint32_t i = 0; i < g->node_count; i++) {
        const mcl_node *node = &g->nodes[i];
        if (node->layer.kind != MCL_OP_BATCHNORM) continue;
        char name[96];
        snprintf(name, sizeof name, "%s/epsilon", node->name);
        npz_add_floats(z, name, &node->layer.epsilon, 0, NULL);
        snprintf(name, sizeof name, "%s/momentum", node->name);
        npz_add_floats(z, name, &node->layer.momentum, 0, NULL);
    }
    const char *text = ck->model_text != NULL ? ck->model_text : "";
    npz_add_strings(z, "architecture", &text, 1, true);
    char *recipe = NULL;
    mcl_status st = mcl_recipe_json(&ck->recipe, &recipe, err);
    if (st != MCL_OK) return st;
    const char *r = recipe;
    npz_add_strings(z, "recipe", &r, 1, true);
    free(recipe);
    char(*names)[32] = mcl_calloc(ck->classes, sizeof *names);
    const char **list = mcl_calloc(ck->classes, sizeof *list);
    if (names != NULL && list != NULL) {
        for (uint32_t k = 0; k < ck->classes; k++)
            list[k] = mcl_checkpoint_class_label(ck, k, names[k], sizeof names[k]);
        npz_add_strings(z, "class_names", list, ck->classes, false);
    } else {
        z->npy.failed = true;
    }
    free(names);
    free(list);
    return MCL_OK;
}

mcl_status mcl_export_npz(const mcl_checkpoint *ck, const char *path, mcl_error *err) {
    mcl_graph g = {0};
    mcl_status st = plan_checkpoint(ck, path, &g, err);
    if (st != MCL_OK) return st;
    npz_builder z = {.cap = (size_t)g.node_count * (MCL_OP_MAX_TENSORS + 2) + 4};
    z.entries = mcl_calloc(z.cap, sizeof *z.entries);
    z.npy.failed = z.entries == NULL;
    for (uint32_t i = 0; i < g.node_count && !z.too_large && !z.npy.failed; i++) {
        const mcl_node *node = &g.nodes[i];
        mcl_tensor_desc t[MCL_OP_MAX_TENSORS];
        uint32_t nt = node->op->tensors != NULL ? node->op->tensors(node, t) : 0;
        for (uint32_t k = 0; k < nt; k++) {
            char name[96];
            snprintf(name, sizeof name, "%s/%s", node->name, t[k].name);
            npz_add_floats(&z, name, tensor_data(ck, node, &t[k]), t[k].ndim, t[k].dims);
        }
    }
    if (!z.npy.failed && !z.too_large) st = npz_add_description(&z, ck, &g, err);
    zip_entry *entries = z.entries;
    size_t count = z.count;
    bool too_large = z.too_large;
    mcl_byte_buf zip = z.zip, npy = z.npy;
    size_t central_at = zip.len;
    for (size_t i = 0; i < count; i++)
        put_zip_header(&zip, true, &entries[i]);
    size_t central_size = zip.len - central_at;
    mcl_buf_put_u32(&zip, 0x06054b50u); /* end of central directory */
    mcl_buf_put_u16(&zip, 0);           /* this disk */
    mcl_buf_put_u16(&zip, 0);           /* the disk with the central directory */
    mcl_buf_put_u16(&zip, (uint16_t)count);
    mcl_buf_put_u16(&zip, (uint16_t)count);
    mcl_buf_put_u32(&zip, (uint32_t)central_size);
    mcl_buf_put_u32(&zip, (uint32_t)central_at);
    mcl_buf_put_u16(&zip, 0); /* comment length */
    if (st != MCL_OK) {
        /* err says why */
    } else if (too_large || central_at > ZIP_MAX || count > 0xFFFFu) {
        st = mcl_fail(err, MCL_ERR_MODEL,
                      "cannot export '%s': the weights exceed the 4 GiB a zip without zip64 holds",
                      path);
    } else if (entries == NULL || zip.failed || npy.failed) {
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory exporting '%s'", path);
    } else {
        st = mcl_atomic_write(path, zip.data, zip.len, "NumPy archive", err);
    }
    mcl_buf_free(&npy);
    mcl_buf_free(&zip);
    free(entries);
    free(g.nodes);
    return st;
}

/* ---------------------------------------------------------------- ONNX */

#define ONNX_IR_VERSION 7
#define ONNX_OPSET 13
#define ONNX_INPUT "images"
#define ONNX_OUTPUT "probabilities"
#define ONNX_LOGITS "logits"
/* Most ONNX nodes and initializers one graph node becomes (dense: Transpose, Flatten, Gemm,
 * Relu; batchnorm: four initializers), and most attributes of one ONNX node (Conv: 3). */
#define ONNX_NODES_PER_LAYER 4
#define ONNX_INITS_PER_LAYER 4
#define ONNX_MAX_ATTRS 4

/* Builds the protobuf-c message tree. Every allocation goes through ob_alloc and is freed at
 * once by ob_free, so a half-built tree on an allocation failure needs no unwinding: helpers
 * return NULL once `failed` is set, and the caller checks the flag before packing. */
typedef struct onnx_builder {
    void **blocks;
    size_t block_count, block_cap;
    bool failed;
    Onnx__NodeProto **nodes;
    size_t node_count, node_cap;
    Onnx__TensorProto **inits;
    size_t init_count, init_cap;
    /* The value the next layer reads and its layout: rank 4 is NCHW [N, C, H, W], rank 2 is
     * [N, C*H*W]; `shape` is the graph's (C, H, W) for it. */
    const char *value;
    int rank;
    mcl_shape shape;
} onnx_builder;

static void *ob_alloc(onnx_builder *b, size_t size) {
    if (b->failed) return NULL;
    if (b->block_count == b->block_cap) {
        size_t cap = b->block_cap > 0 ? 2 * b->block_cap : 256;
        void **p = mcl_realloc(b->blocks, cap * sizeof *p);
        if (p == NULL) {
            b->failed = true;
            return NULL;
        }
        b->blocks = p;
        b->block_cap = cap;
    }
    void *p = mcl_calloc(1, size > 0 ? size : 1);
    if (p == NULL) {
        b->failed = true;
        return NULL;
    }
    b->blocks[b->block_count++] = p;
    return p;
}

static void ob_free(onnx_builder *b) {
    for (size_t i = 0; i < b->block_count; i++)
        free(b->blocks[i]);
    free(b->blocks);
}

/* "a" or "a/b" in builder memory. */
static char *ob_name(onnx_builder *b, const char *a, const char *suffix) {
    size_t n = strlen(a) + (suffix != NULL ? strlen(suffix) + 1 : 0) + 1;
    char *s = ob_alloc(b, n);
    if (s != NULL) snprintf(s, n, "%s%s%s", a, suffix != NULL ? "/" : "", suffix ? suffix : "");
    return s;
}

/* Appends a node reading inputs[0..n_in) and writing `output`, which becomes b->value. */
static Onnx__NodeProto *ob_node(onnx_builder *b, const char *op_type, const char *name,
                                const char *const *inputs, size_t n_in, const char *output) {
    Onnx__NodeProto *node = ob_alloc(b, sizeof *node);
    char **in = ob_alloc(b, n_in * sizeof *in);
    char **out = ob_alloc(b, sizeof *out);
    Onnx__AttributeProto **attrs = ob_alloc(b, ONNX_MAX_ATTRS * sizeof *attrs);
    if (node == NULL || in == NULL || out == NULL || attrs == NULL) return NULL;
    if (b->node_count == b->node_cap) { /* cannot happen: the capacity is an upper bound */
        b->failed = true;
        return NULL;
    }
    onnx__node_proto__init(node);
    for (size_t i = 0; i < n_in; i++)
        in[i] = ob_name(b, inputs[i], NULL);
    out[0] = ob_name(b, output, NULL);
    node->n_input = n_in;
    node->input = in;
    node->n_output = 1;
    node->output = out;
    node->name = ob_name(b, name, NULL);
    node->op_type = ob_name(b, op_type, NULL);
    node->attribute = attrs;
    b->nodes[b->node_count++] = node;
    b->value = out[0];
    return node;
}

/* A node whose only input is the current value. */
static Onnx__NodeProto *ob_unary(onnx_builder *b, const char *op_type, const char *name,
                                 const char *output) {
    const char *in[1] = {b->value};
    return b->failed ? NULL : ob_node(b, op_type, name, in, 1, output);
}

static Onnx__AttributeProto *ob_attr(onnx_builder *b, Onnx__NodeProto *node, const char *name,
                                     Onnx__AttributeProto__AttributeType type) {
    if (node == NULL || b->failed) return NULL;
    Onnx__AttributeProto *a = ob_alloc(b, sizeof *a);
    if (a == NULL || node->n_attribute == ONNX_MAX_ATTRS) {
        b->failed = true;
        return NULL;
    }
    onnx__attribute_proto__init(a);
    a->name = ob_name(b, name, NULL);
    a->has_type = true;
    a->type = type;
    node->attribute[node->n_attribute++] = a;
    return a;
}

static void ob_attr_int(onnx_builder *b, Onnx__NodeProto *node, const char *name, int64_t v) {
    Onnx__AttributeProto *a = ob_attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a == NULL) return;
    a->has_i = true;
    a->i = v;
}

static void ob_attr_float(onnx_builder *b, Onnx__NodeProto *node, const char *name, float v) {
    Onnx__AttributeProto *a = ob_attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a == NULL) return;
    a->has_f = true;
    a->f = v;
}

static void ob_attr_ints(onnx_builder *b, Onnx__NodeProto *node, const char *name, const int64_t *v,
                         size_t n) {
    Onnx__AttributeProto *a = ob_attr(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *ints = ob_alloc(b, n * sizeof *ints);
    if (a == NULL || ints == NULL) return;
    memcpy(ints, v, n * sizeof *ints);
    a->n_ints = n;
    a->ints = ints;
}

/* An initializer of the given type and shape whose raw_data (little-endian) the caller fills.
 * Returns NULL after a failure. */
static Onnx__TensorProto *ob_tensor(onnx_builder *b, const char *name,
                                    Onnx__TensorProto__DataType type, const int64_t *dims,
                                    size_t ndim) {
    size_t count = 1;
    for (size_t i = 0; i < ndim; i++)
        count *= (size_t)dims[i];
    size_t elem = type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8 : 4;
    Onnx__TensorProto *t = ob_alloc(b, sizeof *t);
    int64_t *d = ob_alloc(b, ndim * sizeof *d);
    uint8_t *raw = ob_alloc(b, count * elem);
    if (t == NULL || d == NULL || raw == NULL) return NULL;
    if (b->init_count == b->init_cap) {
        b->failed = true;
        return NULL;
    }
    onnx__tensor_proto__init(t);
    memcpy(d, dims, ndim * sizeof *d);
    t->n_dims = ndim;
    t->dims = d;
    t->has_data_type = true;
    t->data_type = type;
    t->name = ob_name(b, name, NULL);
    t->has_raw_data = true;
    t->raw_data.len = count * elem;
    t->raw_data.data = raw;
    b->inits[b->init_count++] = t;
    return t;
}

/* Float initializer "<layer>/<what>" copied in order from src; returns its name. */
static const char *ob_floats(onnx_builder *b, const char *layer, const char *what, const float *src,
                             const int64_t *dims, size_t ndim) {
    char *name = ob_name(b, layer, what);
    Onnx__TensorProto *t =
        name != NULL ? ob_tensor(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, ndim) : NULL;
    if (t == NULL) return NULL;
    for (size_t i = 0; i < t->raw_data.len / 4; i++)
        store_f32(t->raw_data.data + 4 * i, src[i]);
    return t->name;
}

/* 1-D int64 initializer "<layer>/<what>"; returns its name. */
static const char *ob_int64s(onnx_builder *b, const char *layer, const char *what,
                             const int64_t *src, size_t n) {
    char *name = ob_name(b, layer, what);
    int64_t dims[1] = {(int64_t)n};
    Onnx__TensorProto *t =
        name != NULL ? ob_tensor(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, dims, 1) : NULL;
    if (t == NULL) return NULL;
    for (size_t i = 0; i < n; i++)
        store_i64(t->raw_data.data + 8 * i, src[i]);
    return t->name;
}

/* A float tensor's type; a negative dim is the symbolic batch size "N". */
static Onnx__ValueInfoProto *ob_value_info(onnx_builder *b, const char *name, const int64_t *dims,
                                           size_t ndim) {
    Onnx__ValueInfoProto *vi = ob_alloc(b, sizeof *vi);
    Onnx__TypeProto *type = ob_alloc(b, sizeof *type);
    Onnx__TypeProto__Tensor *tensor = ob_alloc(b, sizeof *tensor);
    Onnx__TensorShapeProto *shape = ob_alloc(b, sizeof *shape);
    Onnx__TensorShapeProto__Dimension **dim = ob_alloc(b, ndim * sizeof *dim);
    if (vi == NULL || type == NULL || tensor == NULL || shape == NULL || dim == NULL) return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(type);
    onnx__type_proto__tensor__init(tensor);
    onnx__tensor_shape_proto__init(shape);
    for (size_t i = 0; i < ndim; i++) {
        dim[i] = ob_alloc(b, sizeof *dim[i]);
        if (dim[i] == NULL) return NULL;
        onnx__tensor_shape_proto__dimension__init(dim[i]);
        if (dims[i] < 0) {
            dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim[i]->dim_param = ob_name(b, "N", NULL);
        } else {
            dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim[i]->dim_value = dims[i];
        }
    }
    shape->n_dim = ndim;
    shape->dim = dim;
    tensor->has_elem_type = true;
    tensor->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor->shape = shape;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    vi->name = ob_name(b, name, NULL);
    vi->type = type;
    return vi;
}

/* [N, C, H, W] -> [N, C*H*W] in our (h, w, c) order, under the name `output`. */
static void to_flat(onnx_builder *b, const char *name, const char *output) {
    if (b->rank == 2) return;
    mcl_shape s = b->shape;
    if (s.c > 1 && s.h * s.w > 1) {
        char *nhwc = ob_name(b, name, "nhwc");
        Onnx__NodeProto *t = nhwc != NULL ? ob_unary(b, "Transpose", nhwc, nhwc) : NULL;
        ob_attr_ints(b, t, "perm", (const int64_t[]){0, 2, 3, 1}, 4);
    }
    ob_attr_int(b, ob_unary(b, "Flatten", name, output), "axis", 1);
    b->rank = 2;
}

/* [N, F] -> [N, F, 1, 1] (Reshape's 0 keeps the batch size). */
static void to_nchw(onnx_builder *b, const char *layer) {
    if (b->rank == 4) return;
    const char *shape =
        ob_int64s(b, layer, "nchw_shape", (const int64_t[]){0, (int64_t)b->shape.c, 1, 1}, 4);
    char *name = ob_name(b, layer, "nchw");
    if (shape == NULL || name == NULL) return;
    ob_node(b, "Reshape", name, (const char *const[]){b->value, shape}, 2, name);
    b->rank = 4;
}

/* What an emitter gets: the node, its parameter and state slices, and the name its final value
 * must carry (the node's name, or "probabilities" for the last one). */
typedef struct onnx_layer {
    const mcl_node *node;
    const float *params, *state;
    const char *output;
} onnx_layer;

typedef mcl_status (*onnx_emit_fn)(onnx_builder *b, const onnx_layer *L, mcl_error *err);

static mcl_status cannot_export(const onnx_layer *L, const char *why, mcl_error *err) {
    return mcl_fail(err, MCL_ERR_MODEL, "cannot export layer %s to ONNX: %s", L->node->name, why);
}

/* Leading and trailing padding of one axis, the geometry of mcl_window_out: 'same' puts the
 * extra pixel at the end; 'valid' has none. */
static void window_pads(uint32_t in, uint32_t k, uint32_t s, mcl_padding padding, int64_t *before,
                        int64_t *after) {
    uint32_t lead = 0;
    uint32_t out = mcl_window_out(in, k, s, padding, &lead);
    int64_t span = (int64_t)(out - 1) * s + k;
    int64_t total = span > in ? span - in : 0;
    *before = lead;
    *after = total > lead ? total - lead : 0;
}

/* Emits Relu after a layer with a fused activation, or names the value `output` directly. */
static mcl_status activation_output(onnx_builder *b, const onnx_layer *L, const char **value_name,
                                    mcl_error *err) {
    switch (L->node->layer.activation) {
    case MCL_ACT_LINEAR:
        *value_name = L->output;
        return MCL_OK;
    case MCL_ACT_RELU:
        *value_name = ob_name(b, L->node->name, "linear");
        return MCL_OK;
    case MCL_ACT_SOFTMAX:
        break; /* the graph turns it into a softmax node */
    }
    return cannot_export(L, "unexpected fused activation", err);
}

static void activation_finish(onnx_builder *b, const onnx_layer *L) {
    if (L->node->layer.activation == MCL_ACT_RELU) ob_unary(b, "Relu", L->node->name, L->output);
}

static mcl_status emit_flatten(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    (void)err;
    to_flat(b, L->node->name, L->output);
    return MCL_OK;
}

static mcl_status emit_dense(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    const mcl_node *n = L->node;
    uint32_t in = n->in_shape.c, units = n->out_shape.c;
    const char *linear = NULL;
    mcl_status st = activation_output(b, L, &linear, err);
    if (st != MCL_OK) return st;
    char *flat = ob_name(b, n->name, "flatten");
    if (flat != NULL) to_flat(b, flat, flat);
    const char *w = ob_floats(b, n->name, "kernel", L->params, (int64_t[]){in, units}, 2);
    const char *bias =
        ob_floats(b, n->name, "bias", L->params + (size_t)in * units, (int64_t[]){units}, 1);
    if (b->failed) return MCL_OK;
    /* y = x W + b: Gemm's defaults (alpha = beta = 1, no transposes) with W as Keras stores it. */
    ob_node(b, "Gemm", linear, (const char *const[]){b->value, w, bias}, 3, linear);
    activation_finish(b, L);
    return MCL_OK;
}

static mcl_status emit_conv2d(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    const mcl_node *n = L->node;
    const mcl_layer *l = &n->layer;
    uint32_t C = n->in_shape.c, F = n->out_shape.c, KH = l->kernel_h, KW = l->kernel_w;
    const char *linear = NULL;
    mcl_status st = activation_output(b, L, &linear, err);
    if (st != MCL_OK) return st;
    to_nchw(b, n->name);
    /* W [KH, KW, C, F] -> [F, C, KH, KW]. */
    char *wname = ob_name(b, n->name, "kernel");
    Onnx__TensorProto *w = wname != NULL ? ob_tensor(b, wname, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                                                     (int64_t[]){F, C, KH, KW}, 4)
                                         : NULL;
    const char *bias =
        ob_floats(b, n->name, "bias", L->params + (size_t)KH * KW * C * F, (int64_t[]){F}, 1);
    if (w == NULL || bias == NULL) return MCL_OK;
    for (uint32_t f = 0; f < F; f++)
        for (uint32_t c = 0; c < C; c++)
            for (uint32_t kh = 0; kh < KH; kh++)
                for (uint32_t kw = 0; kw < KW; kw++)
                    store_f32(w->raw_data.data + 4 * (((size_t)(f * C + c) * KH + kh) * KW + kw),
                              L->params[(((size_t)kh * KW + kw) * C + c) * F + f]);
    int64_t top, bottom, left, right;
    window_pads(n->in_shape.h, KH, l->stride_h, l->padding, &top, &bottom);
    window_pads(n->in_shape.w, KW, l->stride_w, l->padding, &left, &right);
    Onnx__NodeProto *conv =
        ob_node(b, "Conv", linear, (const char *const[]){b->value, w->name, bias}, 3, linear);
    ob_attr_ints(b, conv, "kernel_shape", (int64_t[]){KH, KW}, 2);
    ob_attr_ints(b, conv, "strides", (int64_t[]){l->stride_h, l->stride_w}, 2);
    ob_attr_ints(b, conv, "pads", (int64_t[]){top, left, bottom, right}, 4);
    activation_finish(b, L);
    return MCL_OK;
}

static mcl_status emit_maxpool(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    (void)err;
    const mcl_node *n = L->node;
    const mcl_layer *l = &n->layer;
    /* A zero stride means "the window", as in maxpool.c. */
    uint32_t sh = l->stride_h != 0 ? l->stride_h : l->kernel_h;
    uint32_t sw = l->stride_w != 0 ? l->stride_w : l->kernel_w;
    int64_t top, bottom, left, right;
    window_pads(n->in_shape.h, l->kernel_h, sh, l->padding, &top, &bottom);
    window_pads(n->in_shape.w, l->kernel_w, sw, l->padding, &left, &right);
    to_nchw(b, n->name);
    Onnx__NodeProto *pool = ob_unary(b, "MaxPool", n->name, L->output);
    ob_attr_ints(b, pool, "kernel_shape", (int64_t[]){l->kernel_h, l->kernel_w}, 2);
    ob_attr_ints(b, pool, "strides", (int64_t[]){sh, sw}, 2);
    ob_attr_ints(b, pool, "pads", (int64_t[]){top, left, bottom, right}, 4);
    return MCL_OK;
}

static mcl_status emit_batchnorm(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    (void)err;
    const mcl_node *n = L->node;
    int64_t c = n->in_shape.c;
    const char *in[5] = {
        b->value,
        ob_floats(b, n->name, "gamma", L->params, &c, 1),
        ob_floats(b, n->name, "beta", L->params + c, &c, 1),
        ob_floats(b, n->name, "moving_mean", L->state, &c, 1),
        ob_floats(b, n->name, "moving_variance", L->state + c, &c, 1),
    };
    if (b->failed) return MCL_OK;
    Onnx__NodeProto *bn = ob_node(b, "BatchNormalization", n->name, in, 5, L->output);
    ob_attr_float(b, bn, "epsilon", n->layer.epsilon);
    return MCL_OK;
}

static mcl_status emit_relu(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    (void)err;
    ob_unary(b, "Relu", L->node->name, L->output);
    return MCL_OK;
}

static mcl_status emit_leakyrelu(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    (void)err;
    ob_attr_float(b, ob_unary(b, "LeakyRelu", L->node->name, L->output), "alpha",
                  L->node->layer.alpha);
    return MCL_OK;
}

static mcl_status emit_dropout(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    (void)b, (void)L, (void)err;
    return MCL_OK;
}

static mcl_status emit_zeropad(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    (void)err;
    const mcl_layer *l = &L->node->layer;
    to_nchw(b, L->node->name);
    /* [x1_begin, x2_begin, ..., x1_end, x2_end, ...] over N, C, H, W; mode 'constant' and value
     * 0 are Pad's defaults. */
    const char *pads = ob_int64s(
        b, L->node->name, "pads",
        (const int64_t[]){0, 0, l->pad_top, l->pad_left, 0, 0, l->pad_bottom, l->pad_right}, 8);
    if (pads != NULL)
        ob_node(b, "Pad", L->node->name, (const char *const[]){b->value, pads}, 2, L->output);
    return MCL_OK;
}

static mcl_status emit_globalavgpool(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    (void)err;
    to_nchw(b, L->node->name);
    ob_unary(b, "GlobalAveragePool", L->node->name, L->output);
    return MCL_OK;
}

/* Softmax over the channels: axis 1 of NCHW (opset 13 normalises that one axis) or of [N, C].
 * A 1x1 input is flattened first, so the head yields [N, classes]. */
static mcl_status emit_softmax(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    (void)err;
    if (b->rank == 4 && b->shape.h * b->shape.w == 1) {
        char *flat = ob_name(b, L->node->name, "flatten");
        if (flat != NULL) to_flat(b, flat, flat);
    }
    ob_attr_int(b, ob_unary(b, "Softmax", L->node->name, L->output), "axis", 1);
    return MCL_OK;
}

/* Indexed by mcl_op_kind, from the op list's emitter column (src/ops/op_list.h); a NULL entry
 * is an op that cannot be exported. */
static const onnx_emit_fn onnx_emitters[MCL_OP_COUNT] = {
#define MCL_OP_EMITTER(kind, name, emitter) [MCL_OP_##kind] = emitter,
    MCL_OP_LIST(MCL_OP_EMITTER)
#undef MCL_OP_EMITTER
};

/* The head when the graph ends in logits: the class scores the softmax would read, flattened
 * from a [N, classes, 1, 1] value, or passed on under the output's name. */
static mcl_status emit_logits(onnx_builder *b, const onnx_layer *L, mcl_error *err) {
    if (b->rank == 4 && b->shape.h * b->shape.w == 1) {
        to_flat(b, L->node->name, L->output);
        return MCL_OK;
    }
    if (b->rank == 4) return cannot_export(L, "the softmax does not read flat class scores", err);
    ob_unary(b, "Identity", L->node->name, L->output);
    return MCL_OK;
}

static bool is_softmax_head(const mcl_node *node) {
    return node->layer.kind == MCL_OP_SOFTMAX_XENT || node->layer.kind == MCL_OP_SOFTMAX;
}

/* Builds the graph's nodes and initializers into b; the last value is named `output`. */
static mcl_status build_graph(onnx_builder *b, const struct mcl_checkpoint *ck, const mcl_graph *g,
                              const char *output, bool logits, mcl_error *err) {
    b->value = ONNX_INPUT;
    b->rank = 4;
    for (uint32_t i = 0; i < g->node_count && !b->failed; i++) {
        const mcl_node *node = &g->nodes[i];
        bool last = i + 1 == g->node_count;
        onnx_layer L = {node, ck->params != NULL ? ck->params + node->param_offset : NULL,
                        ck->state != NULL ? ck->state + node->state_offset : NULL,
                        last ? output : node->name};
        onnx_emit_fn emit = onnx_emitters[node->layer.kind];
        if (last && logits && is_softmax_head(node)) emit = emit_logits;
        if (emit == NULL)
            return mcl_fail(err, MCL_ERR_MODEL,
                            "cannot export layer %s to ONNX: %s has no ONNX "
                            "equivalent in mnist-cl's exporter",
                            node->name, node->op->name);
        b->shape = node->in_shape;
        mcl_status st = emit(b, &L, err);
        if (st != MCL_OK) return st;
    }
    if (b->failed) return MCL_OK;
    const mcl_node *last = &g->nodes[g->node_count - 1];
    if (strcmp(b->value, output) != 0 || b->rank != 2 || !is_softmax_head(last))
        return mcl_fail(err, MCL_ERR_MODEL,
                        "cannot export layer %s to ONNX: the model must end in a softmax over "
                        "flat class scores",
                        last->name);
    return MCL_OK;
}

/* ---------------------------------------------------------------- ONNX: what the model is */

/* The class names as a JSON array: ["0", "1", ...]. */
static void class_names_json(mcl_text *t, const struct mcl_checkpoint *ck) {
    mcl_text_add(t, "[");
    for (uint32_t k = 0; k < ck->classes; k++) {
        char name[32];
        mcl_text_add(t, "%s", k ? ", " : "");
        mcl_text_json_string(t, mcl_checkpoint_class_label(ck, k, name, sizeof name));
    }
    mcl_text_add(t, "]");
}

/* One line on the run: what was trained how, on what, and how well it did on the test set. */
static void describe_run(mcl_text *t, const struct mcl_checkpoint *ck, const char *output) {
    const mcl_recipe *r = &ck->recipe;
    static const char *const schedules[] = {"", ", cosine decay", ", step decay"};
    mcl_text_add(t, "%s, trained by mnist-cl %s for %u epoch%s (%s lr %g%s, batch %u", ck->model->name,
                 MCL_VERSION, ck->epochs_done, ck->epochs_done == 1 ? "" : "s",
                 mcl_optimizer_str(r->optimizer), (double)r->learning_rate,
                 schedules[r->lr_schedule <= MCL_LR_STEP ? r->lr_schedule : 0], r->batch_size);
    if (r->validation_split > 0.0f)
        mcl_text_add(t, ", validation split %g", (double)r->validation_split);
    if (r->augment.enabled) mcl_text_add(t, ", augmented");
    mcl_text_add(t, ", seed %llu)", (unsigned long long)ck->seed);
    if (ck->has_data)
        mcl_text_add(t, " on %u training images of %s", ck->data.train_images, ck->data.source);
    mcl_text_add(t, "; %ux%u images, %u classes. ", ck->rows, ck->cols, ck->classes);
    if (ck->has_test)
        mcl_text_add(t, "Test accuracy %.4f, loss %.4f, on %u test images. ", ck->test.accuracy,
                     ck->test.loss, ck->test.count);
    else
        mcl_text_add(t, "Not evaluated on a test set. ");
    mcl_text_add(t,
                 "Input 'images' [N, 1, %u, %u]: grey pixels / 255, in 0..1, light ink on dark "
                 "as MNIST. Output '%s' [N, %u]%s.",
                 ck->rows, ck->cols, output, ck->classes,
                 strcmp(output, ONNX_LOGITS) == 0 ? ": class scores before the softmax"
                                                  : ": softmax over the classes");
}

/* The graph's doc string: the run, then the layers in the model language (its recipe lines
 * are left out: they are the model's defaults, and the run's own recipe is in the metadata). */
static char *graph_doc(const struct mcl_checkpoint *ck, const char *output) {
    mcl_text t = {0};
    describe_run(&t, ck, output);
    mcl_text_add(&t, "\nLayers (mnist-cl model language; the run's recipe is the metadata "
                     "entry 'recipe'):\n");
    const char *text = ck->model_text != NULL ? ck->model_text : "";
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (p < line + n && (*p == ' ' || *p == '\t'))
            p++;
        bool recipe = (size_t)(line + n - p) >= 6 && strncmp(p, "recipe", 6) == 0 &&
                      (p + 6 == line + n || p[6] == ' ' || p[6] == '\t');
        if (!recipe && p < line + n) mcl_text_add(&t, "%.*s\n", (int)n, line);
        line += n + (end != NULL ? 1 : 0);
    }
    return mcl_text_take(&t);
}

typedef struct onnx_metadata {
    Onnx__StringStringEntryProto *entries[16];
    size_t count;
} onnx_metadata;

/* Adds key = value (copied into builder memory); a NULL value (a failed allocation) fails b. */
static void meta_add(onnx_builder *b, onnx_metadata *m, const char *key, const char *value) {
    if (value == NULL || m->count == sizeof m->entries / sizeof m->entries[0]) b->failed = true;
    if (b->failed) return;
    Onnx__StringStringEntryProto *e = ob_alloc(b, sizeof *e);
    if (e == NULL) return;
    onnx__string_string_entry_proto__init(e);
    e->key = ob_name(b, key, NULL);
    e->value = ob_name(b, value, NULL);
    m->entries[m->count++] = e;
}

/* meta_add with a JSON document that the caller made (and this frees). */
static void meta_add_owned(onnx_builder *b, onnx_metadata *m, const char *key, char *value) {
    meta_add(b, m, key, value);
    free(value);
}

static void meta_add_u64(onnx_builder *b, onnx_metadata *m, const char *key, uint64_t v) {
    char s[32];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    meta_add(b, m, key, s);
}

static void meta_add_double(onnx_builder *b, onnx_metadata *m, const char *key, double v) {
    char s[40];
    snprintf(s, sizeof s, "%.6g", v);
    meta_add(b, m, key, s);
}

/* The model's metadata_props: what a deployer needs to use and trust the file. */
static void build_metadata(onnx_builder *b, onnx_metadata *m, const struct mcl_checkpoint *ck,
                           const char *output) {
    meta_add(b, m, "mnist_cl_version", MCL_VERSION);
    meta_add(b, m, "model", ck->model->name);
    meta_add_u64(b, m, "classes", ck->classes);
    mcl_text names = {0};
    class_names_json(&names, ck);
    meta_add_owned(b, m, "class_names", mcl_text_take(&names));
    meta_add(b, m, "output", output);
    char *json = NULL;
    meta_add_owned(b, m, "recipe", mcl_recipe_json(&ck->recipe, &json, NULL) == MCL_OK ? json : NULL);
    meta_add_u64(b, m, "seed", ck->seed);
    meta_add_u64(b, m, "epochs", ck->epochs_done);
    if (ck->history_count > 0) {
        json = NULL;
        meta_add_owned(b, m, "history",
                       mcl_history_json(ck->history, ck->history_count, &json, NULL) == MCL_OK
                           ? json
                           : NULL);
    }
    if (ck->has_data) {
        json = NULL;
        meta_add_owned(b, m, "data",
                       mcl_data_record_json(&ck->data, &json, NULL) == MCL_OK ? json : NULL);
    }
    if (ck->has_test) {
        meta_add_double(b, m, "test_accuracy", ck->test.accuracy);
        meta_add_double(b, m, "test_loss", ck->test.loss);
        meta_add_u64(b, m, "test_samples", ck->test.count);
    }
}

mcl_status mcl_export_onnx(const mcl_checkpoint *ck, const char *path, mcl_error *err) {
    return mcl_export_onnx_with(ck, path, NULL, err);
}

mcl_status mcl_export_onnx_with(const mcl_checkpoint *ck, const char *path,
                                const mcl_onnx_options *options, mcl_error *err) {
    mcl_graph g = {0};
    mcl_status st = plan_checkpoint(ck, path, &g, err);
    if (st != MCL_OK) return st;
    bool logits = options != NULL && options->logits;
    const char *output = logits ? ONNX_LOGITS : ONNX_OUTPUT;
    onnx_builder b = {0};
    b.node_cap = (size_t)g.node_count * ONNX_NODES_PER_LAYER;
    b.init_cap = (size_t)g.node_count * ONNX_INITS_PER_LAYER;
    b.nodes = ob_alloc(&b, b.node_cap * sizeof *b.nodes);
    b.inits = ob_alloc(&b, b.init_cap * sizeof *b.inits);
    st = build_graph(&b, ck, &g, output, logits, err);
    onnx_metadata meta = {0};
    if (st == MCL_OK) build_metadata(&b, &meta, ck, output);
    char *doc = st == MCL_OK ? graph_doc(ck, output) : NULL;

    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    Onnx__ValueInfoProto *inputs[1] = {
        ob_value_info(&b, ONNX_INPUT, (int64_t[]){-1, 1, ck->rows, ck->cols}, 4)};
    Onnx__ValueInfoProto *outputs[1] = {
        ob_value_info(&b, output, (int64_t[]){-1, ck->classes}, 2)};
    graph.n_node = b.node_count;
    graph.node = b.nodes;
    graph.name = ob_name(&b, ck->model->name, NULL);
    graph.n_initializer = b.init_count;
    graph.initializer = b.inits;
    graph.doc_string = doc != NULL ? ob_name(&b, doc, NULL) : NULL;
    if (st == MCL_OK && doc == NULL) b.failed = true;
    free(doc);
    graph.n_input = 1;
    graph.input = inputs;
    graph.n_output = 1;
    graph.output = outputs;
    opset.has_version = true;
    opset.version = ONNX_OPSET;
    model.has_ir_version = true;
    model.ir_version = ONNX_IR_VERSION;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.producer_name = ob_name(&b, "mnist-cl", NULL);
    model.producer_version = ob_name(&b, MCL_VERSION, NULL);
    model.doc_string = ob_name(&b,
                               logits ? "images: [N, 1, rows, cols] floats in 0..1 (pixel / 255); "
                                        "logits: [N, classes] (softmax gives the probabilities)"
                                      : "images: [N, 1, rows, cols] floats in 0..1 (pixel / 255); "
                                        "probabilities: [N, classes]",
                               NULL);
    model.n_metadata_props = meta.count;
    model.metadata_props = meta.entries;
    model.graph = &graph;

    uint8_t *bytes = NULL;
    size_t size = 0;
    if (st == MCL_OK && !b.failed) {
        size = onnx__model_proto__get_packed_size(&model);
        bytes = mcl_malloc(size > 0 ? size : 1);
        if (bytes != NULL) onnx__model_proto__pack(&model, bytes);
    }
    if (st == MCL_OK && bytes == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory exporting '%s'", path);
    if (st == MCL_OK) st = mcl_atomic_write(path, bytes, size, "ONNX model", err);
    free(bytes);
    ob_free(&b);
    free(g.nodes);
    return st;
}
