/* The checkpoint file format, version 1. Everything little-endian.
 *
 *   magic "MNISTCL" 0x1A (8 bytes), u32 format version, u32 section count
 *   sections, each: 4-byte tag, u64 payload length, payload
 *     "MODL"  the model description text (the model language)
 *     "SHAP"  u32 rows, cols, classes
 *     "RUN "  u64 seed, u32 epochs done, u32 training steps done, then the recipe: u32 epochs,
 *             batch size, optimizer, lr schedule, lr decay epochs, warm-up epochs, augment
 *             on/off; f32 lr, lr decay rate, momentum, validation split, rotation, shift,
 *             shear, zoom
 *     "TENS"  one named tensor: u32 name length, name (UTF-8, no NUL), u32 ndim, u32 dims[ndim],
 *             then prod(dims) f32 values. Names: "<node>/<tensor>" for weights and state
 *             ("conv2d_1/kernel", "batchnorm_1/moving_mean"); "optimizer/m", "optimizer/v"
 *             and "optimizer/mg" for the optimizer's state over the flat parameter vector
 *             (those it keeps: src/ops/optim.h)
 *     "OPT2"  the recipe's optimizer and regulariser options that RUN predates, and the state of
 *             ReduceLROnPlateau: f32 weight decay, L2, rho, label smoothing, clipnorm,
 *             clipvalue, global clipnorm; u32 Nesterov, centered, plateau on/off, plateau
 *             patience, plateau cooldown; f32 plateau factor, min_delta, min_lr; then f64 best
 *             monitored loss (IEEE-754 bits as u64), u32 epochs waited, u32 cooldown epochs
 *             left, f64 the factor applied to the rate so far. Absent in files written before
 *             it existed: those options off (rho 0.9) and the callback's state initial
 *     "OPTM"  u32 optimizer kind (0 Adam, 1 SGD, 2 AdamW, 3 RMSprop), u64 optimizer steps
 *             (present with the optimizer tensors)
 *     "HIST"  the run's per-epoch results: u32 count, then per epoch u32 epoch, u32 steps,
 *             u32 has validation, u32 improved, f64 loss, accuracy, val loss, val accuracy,
 *             learning rate, seconds, training seconds (absent if no epoch has finished)
 *     "EPOS"  only in a checkpoint written inside an epoch (after an interrupt): u32 steps of
 *             the unfinished epoch already taken (>= 1), f64 their loss sum, f64 their
 *             correct-prediction sum (IEEE-754 bits as u64)
 *     "CLSN"  the classes' names (an image folder's subfolders): u32 count (= classes), u32
 *             image preparation (0 MNIST's, 1 resize), then per class u32 length and that many
 *             bytes of name (no NUL, no control characters). Absent: the classes are unnamed
 *             ("0", "1", ...) and prepared as MNIST was, as in checkpoints written before
 *             names existed
 *     "DATA"  what the run trained on (mcl_data_record): u32 source length (1..4095), the source
 *             path (UTF-8, no NUL), u32 limit, classes, f32 validation split, u32 training,
 *             validation and test images, u32 fingerprint (absent in older checkpoints)
 *     "TEST"  the test metrics of these weights: u32 images (>= 1), f64 loss, f64 accuracy
 *             (absent until a run was evaluated; dropped once training changes the weights)
 *   trailer: "END!" and the CRC-32 (zlib) of every byte before the trailer
 *
 * Reading validates the size, magic, version and checksum before interpreting anything, then
 * bounds-checks every length; the tensors must be exactly those the model needs, with the
 * shapes it needs. Writing goes to a temporary file in the target's folder, then flush, fsync
 * and rename, so a crash never leaves a partial file under the target name. */
#define _POSIX_C_SOURCE 200809L
#include "store/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/atomic_file.h"
#include "core/byte_buf.h"
#include "core/read_file.h"
#include "data/dataset.h"

#define MAGIC "MNISTCL\x1a"
#define FORMAT_VERSION 1u
#define MAX_FILE_BYTES ((uint64_t)4 << 30)
#define MAX_SECTIONS (1u << 20)
#define MAX_NAME 256

/* ---------------------------------------------------------------- writing */

/* Sections are written as tag + a length patched in when the section ends. */
static size_t begin_section(mcl_byte_buf *b, const char tag[4], uint32_t *count) {
    mcl_buf_put(b, tag, 4);
    size_t at = b->len;
    mcl_buf_put_u64(b, 0);
    (*count)++;
    return at;
}

static void end_section(mcl_byte_buf *b, size_t at) {
    if (b->failed) return;
    uint64_t len = b->len - at - 8;
    for (int i = 0; i < 8; i++)
        b->data[at + i] = (uint8_t)(len >> (8 * i));
}

static void put_tensor(mcl_byte_buf *b, uint32_t *sections, const char *name, uint32_t ndim,
                       const uint32_t *dims, const float *values) {
    size_t at = begin_section(b, "TENS", sections);
    mcl_buf_put_u32(b, (uint32_t)strlen(name));
    mcl_buf_put(b, name, strlen(name));
    mcl_buf_put_u32(b, ndim);
    size_t count = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        mcl_buf_put_u32(b, dims[i]);
        count *= dims[i];
    }
    for (size_t i = 0; i < count; i++)
        mcl_buf_put_f32(b, values[i]);
    end_section(b, at);
}

/* Calls fn for every named weight/state tensor of the planned graph. */
typedef void (*tensor_fn)(const mcl_node *node, const mcl_tensor_desc *t, void *user);

static void for_each_tensor(const mcl_graph *g, tensor_fn fn, void *user) {
    for (uint32_t i = 0; i < g->node_count; i++) {
        const mcl_node *node = &g->nodes[i];
        if (node->op->tensors == NULL) continue;
        mcl_tensor_desc t[MCL_OP_MAX_TENSORS];
        uint32_t n = node->op->tensors(node, t);
        for (uint32_t k = 0; k < n; k++)
            fn(node, &t[k], user);
    }
}

static const float *tensor_data(const struct mcl_checkpoint *ck, const mcl_node *node,
                                const mcl_tensor_desc *t) {
    return t->state ? ck->state + node->state_offset + t->offset
                    : ck->params + node->param_offset + t->offset;
}

typedef struct write_ctx {
    const struct mcl_checkpoint *ck;
    mcl_byte_buf *buf;
    uint32_t *sections;
} write_ctx;

static void write_tensor(const mcl_node *node, const mcl_tensor_desc *t, void *user) {
    write_ctx *w = user;
    char name[MAX_NAME];
    snprintf(name, sizeof name, "%s/%s", node->name, t->name);
    put_tensor(w->buf, w->sections, name, t->ndim, t->dims, tensor_data(w->ck, node, t));
}

static void put_run(mcl_byte_buf *b, const struct mcl_checkpoint *ck, uint32_t *sections) {
    size_t at = begin_section(b, "RUN ", sections);
    const mcl_recipe *r = &ck->recipe;
    mcl_buf_put_u64(b, ck->seed);
    mcl_buf_put_u32(b, ck->epochs_done);
    mcl_buf_put_u32(b, ck->step);
    mcl_buf_put_u32(b, r->epochs);
    mcl_buf_put_u32(b, r->batch_size);
    mcl_buf_put_u32(b, (uint32_t)r->optimizer);
    mcl_buf_put_u32(b, (uint32_t)r->lr_schedule);
    mcl_buf_put_u32(b, r->lr_decay_epochs);
    mcl_buf_put_u32(b, r->warmup_epochs);
    mcl_buf_put_u32(b, r->augment.enabled ? 1u : 0u);
    const float f[] = {r->learning_rate,    r->lr_decay_rate, r->momentum,      r->validation_split,
                       r->augment.rotation, r->augment.shift, r->augment.shear, r->augment.zoom};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        mcl_buf_put_f32(b, f[i]);
    end_section(b, at);
}

static void put_f64(mcl_byte_buf *b, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    mcl_buf_put_u64(b, bits);
}

#define OPT2_BYTES (7 * 4 + 5 * 4 + 3 * 4 + 8 + 4 + 4 + 8)

static void put_optimizer_options(mcl_byte_buf *b, const struct mcl_checkpoint *ck,
                                  uint32_t *sections) {
    size_t at = begin_section(b, "OPT2", sections);
    const mcl_recipe *r = &ck->recipe;
    const mcl_plateau *p = &r->plateau;
    const float f[] = {r->weight_decay, r->l2,        r->rho,           r->label_smoothing,
                       r->clipnorm,     r->clipvalue, r->global_clipnorm};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        mcl_buf_put_f32(b, f[i]);
    const uint32_t u[] = {r->nesterov, r->centered, p->enabled, p->patience, p->cooldown};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        mcl_buf_put_u32(b, u[i]);
    mcl_buf_put_f32(b, p->factor);
    mcl_buf_put_f32(b, p->min_delta);
    mcl_buf_put_f32(b, p->min_lr);
    put_f64(b, ck->plateau.best);
    mcl_buf_put_u32(b, ck->plateau.wait);
    mcl_buf_put_u32(b, ck->plateau.cooldown);
    put_f64(b, ck->plateau.scale);
    end_section(b, at);
}

static void put_epoch_position(mcl_byte_buf *b, const struct mcl_checkpoint *ck,
                               uint32_t *sections) {
    if (ck->epoch_step == 0) return;
    size_t at = begin_section(b, "EPOS", sections);
    mcl_buf_put_u32(b, ck->epoch_step);
    put_f64(b, ck->epoch_loss_sum);
    put_f64(b, ck->epoch_correct_sum);
    end_section(b, at);
}

static void put_class_names(mcl_byte_buf *b, const struct mcl_checkpoint *ck, uint32_t *sections) {
    if (ck->class_names == NULL) return;
    size_t at = begin_section(b, "CLSN", sections);
    mcl_buf_put_u32(b, ck->classes);
    mcl_buf_put_u32(b, (uint32_t)ck->prep);
    for (uint32_t k = 0; k < ck->classes; k++) {
        mcl_buf_put_u32(b, (uint32_t)strlen(ck->class_names[k]));
        mcl_buf_put(b, ck->class_names[k], strlen(ck->class_names[k]));
    }
    end_section(b, at);
}

#define HISTORY_ROW_BYTES (4 * 4 + 7 * 8)

static void put_history(mcl_byte_buf *b, const struct mcl_checkpoint *ck, uint32_t *sections) {
    if (ck->history_count == 0) return;
    size_t at = begin_section(b, "HIST", sections);
    mcl_buf_put_u32(b, (uint32_t)ck->history_count);
    for (size_t i = 0; i < ck->history_count; i++) {
        const mcl_epoch_result *r = &ck->history[i];
        mcl_buf_put_u32(b, r->epoch);
        mcl_buf_put_u32(b, r->steps);
        mcl_buf_put_u32(b, r->has_validation ? 1u : 0u);
        mcl_buf_put_u32(b, r->improved ? 1u : 0u);
        const double f[] = {r->loss,          r->accuracy, r->val_loss,     r->val_accuracy,
                            r->learning_rate, r->seconds,  r->train_seconds};
        for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
            put_f64(b, f[k]);
    }
    end_section(b, at);
}

static void put_data(mcl_byte_buf *b, const struct mcl_checkpoint *ck, uint32_t *sections) {
    if (!ck->has_data) return;
    const mcl_data_record *d = &ck->data;
    size_t at = begin_section(b, "DATA", sections);
    size_t n = strnlen(d->source, sizeof d->source - 1);
    mcl_buf_put_u32(b, (uint32_t)n);
    mcl_buf_put(b, d->source, n);
    mcl_buf_put_u32(b, d->limit);
    mcl_buf_put_u32(b, d->classes);
    mcl_buf_put_f32(b, d->validation_split);
    mcl_buf_put_u32(b, d->train_images);
    mcl_buf_put_u32(b, d->val_images);
    mcl_buf_put_u32(b, d->test_images);
    mcl_buf_put_u32(b, d->fingerprint);
    end_section(b, at);
}

static void put_test(mcl_byte_buf *b, const struct mcl_checkpoint *ck, uint32_t *sections) {
    if (!ck->has_test) return;
    size_t at = begin_section(b, "TEST", sections);
    mcl_buf_put_u32(b, ck->test.count);
    put_f64(b, ck->test.loss);
    put_f64(b, ck->test.accuracy);
    end_section(b, at);
}

mcl_status mcl_checkpoint_write(const struct mcl_checkpoint *ck, const mcl_graph *plan,
                                const char *path, mcl_error *err) {
    mcl_byte_buf b = {0};
    uint32_t sections = 0;
    mcl_buf_put(&b, MAGIC, 8);
    mcl_buf_put_u32(&b, FORMAT_VERSION);
    size_t count_at = b.len;
    mcl_buf_put_u32(&b, 0);
    size_t at = begin_section(&b, "MODL", &sections);
    mcl_buf_put(&b, ck->model_text, strlen(ck->model_text));
    end_section(&b, at);
    at = begin_section(&b, "SHAP", &sections);
    mcl_buf_put_u32(&b, ck->rows);
    mcl_buf_put_u32(&b, ck->cols);
    mcl_buf_put_u32(&b, ck->classes);
    end_section(&b, at);
    put_run(&b, ck, &sections);
    put_optimizer_options(&b, ck, &sections);
    put_epoch_position(&b, ck, &sections);
    put_history(&b, ck, &sections);
    put_class_names(&b, ck, &sections);
    put_data(&b, ck, &sections);
    put_test(&b, ck, &sections);
    write_ctx w = {ck, &b, &sections};
    for_each_tensor(plan, write_tensor, &w);
    if (ck->has_optimizer) {
        at = begin_section(&b, "OPTM", &sections);
        mcl_buf_put_u32(&b, (uint32_t)ck->optimizer);
        mcl_buf_put_u64(&b, ck->optimizer_steps);
        end_section(&b, at);
        uint32_t dims[1] = {(uint32_t)ck->param_count};
        if (ck->moment1 != NULL) put_tensor(&b, &sections, "optimizer/m", 1, dims, ck->moment1);
        if (ck->moment2 != NULL) put_tensor(&b, &sections, "optimizer/v", 1, dims, ck->moment2);
        if (ck->moment3 != NULL) put_tensor(&b, &sections, "optimizer/mg", 1, dims, ck->moment3);
    }
    if (!b.failed)
        for (int i = 0; i < 4; i++)
            b.data[count_at + i] = (uint8_t)(sections >> (8 * i));
    mcl_buf_put(&b, "END!", 4);
    uint32_t crc = b.failed ? 0 : (uint32_t)crc32(0L, b.data, (uInt)0);
    if (!b.failed) {
        /* zlib's crc32 takes uInt lengths: feed it in chunks. */
        for (size_t off = 0; off < b.len;) {
            size_t n = b.len - off > (1u << 30) ? (1u << 30) : b.len - off;
            crc = (uint32_t)crc32(crc, b.data + off, (uInt)n);
            off += n;
        }
    }
    mcl_buf_put_u32(&b, crc);
    if (b.failed) {
        mcl_buf_free(&b);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory writing %s", path);
    }
    mcl_status st = mcl_atomic_write(path, b.data, b.len, "checkpoint", err);
    mcl_buf_free(&b);
    return st;
}

/* ---------------------------------------------------------------- reading */

typedef struct reader {
    const uint8_t *p, *end;
    const char *path;
    mcl_error *err;
} reader;

static mcl_status corrupt(const reader *r, const char *what) {
    return mcl_fail(r->err, MCL_ERR_FORMAT, "%s: corrupt checkpoint: %s", r->path, what);
}

static mcl_status out_of_memory(const reader *r) {
    return mcl_fail(r->err, MCL_ERR_HOST_MEMORY, "%s: out of host memory reading the checkpoint",
                    r->path);
}

static bool get(reader *r, void *dst, size_t n) {
    if ((size_t)(r->end - r->p) < n) return false;
    memcpy(dst, r->p, n);
    r->p += n;
    return true;
}

static bool get_u32(reader *r, uint32_t *v) {
    uint8_t x[4];
    if (!get(r, x, 4)) return false;
    *v = (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
    return true;
}

static bool get_u64(reader *r, uint64_t *v) {
    uint32_t lo, hi;
    if (!get_u32(r, &lo) || !get_u32(r, &hi)) return false;
    *v = (uint64_t)hi << 32 | lo;
    return true;
}

static bool get_f32(reader *r, float *f) {
    uint32_t v;
    if (!get_u32(r, &v)) return false;
    memcpy(f, &v, 4);
    return true;
}

static bool get_f64(reader *r, double *f) {
    uint64_t v;
    if (!get_u64(r, &v)) return false;
    memcpy(f, &v, 8);
    return true;
}

/* HIST: bounded by the section's length before anything is allocated. */
static mcl_status read_history(reader *r, const uint8_t *section_end, struct mcl_checkpoint *ck) {
    uint32_t count = 0;
    if (ck->history != NULL || !get_u32(r, &count) || count == 0 ||
        (uint64_t)count * HISTORY_ROW_BYTES != (uint64_t)(section_end - r->p))
        return corrupt(r, "bad history section");
    ck->history = mcl_calloc(count, sizeof *ck->history);
    if (ck->history == NULL) return out_of_memory(r);
    ck->history_count = count;
    for (uint32_t i = 0; i < count; i++) {
        mcl_epoch_result *h = &ck->history[i];
        uint32_t u[4] = {0}; /* the length check above guarantees the bytes */
        for (int k = 0; k < 4; k++)
            get_u32(r, &u[k]);
        double *f[] = {&h->loss,          &h->accuracy, &h->val_loss,     &h->val_accuracy,
                       &h->learning_rate, &h->seconds,  &h->train_seconds};
        for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
            get_f64(r, f[k]);
        if (i > 0 && u[0] != ck->history[i - 1].epoch + 1)
            return corrupt(r, "history epochs are not consecutive");
        if (u[0] == 0 || u[2] > 1 || u[3] > 1) return corrupt(r, "bad history section");
        h->epoch = u[0];
        h->steps = u[1];
        h->has_validation = u[2] == 1;
        h->improved = u[3] == 1;
    }
    return MCL_OK;
}

/* CLSN: every length bounded by the section before the one allocation of the names. */
static mcl_status read_class_names(reader *r, const uint8_t *section_end,
                                   struct mcl_checkpoint *ck) {
    uint32_t count = 0, prep = 0;
    if (ck->class_names != NULL || section_end - r->p < 8 || !get_u32(r, &count) ||
        !get_u32(r, &prep) || count != ck->classes || prep > MCL_PREP_RESIZE)
        return corrupt(r, "bad class names section");
    const uint8_t *names = r->p;
    size_t bytes = (size_t)count * sizeof(char *);
    for (uint32_t k = 0; k < count; k++) {
        uint32_t len = 0;
        if (section_end - r->p < 4 || !get_u32(r, &len) || len > (size_t)(section_end - r->p) ||
            !mcl_class_name_valid((const char *)r->p, len))
            return corrupt(r, "bad class name");
        r->p += len;
        bytes += len + 1u;
    }
    ck->class_names = mcl_malloc(bytes);
    if (ck->class_names == NULL) return out_of_memory(r);
    char *at = (char *)(ck->class_names + count);
    for (uint32_t k = 0; k < count; k++) {
        uint32_t len = (uint32_t)names[0] | (uint32_t)names[1] << 8 | (uint32_t)names[2] << 16 |
                       (uint32_t)names[3] << 24;
        memcpy(at, names + 4, len);
        at[len] = '\0';
        ck->class_names[k] = at;
        at += len + 1;
        names += 4 + len;
    }
    ck->prep = (mcl_image_prep)prep;
    return MCL_OK;
}

/* DATA: the source is non-empty printable text without NUL (it reaches messages). */
static mcl_status read_data(reader *r, const uint8_t *section_end, struct mcl_checkpoint *ck) {
    mcl_data_record *d = &ck->data;
    uint32_t n = 0;
    if (ck->has_data || !get_u32(r, &n) || n == 0 || n >= sizeof d->source ||
        (uint64_t)(section_end - r->p) != (uint64_t)n + 7 * 4 || !get(r, d->source, n))
        return corrupt(r, "bad data section");
    d->source[n] = '\0';
    for (uint32_t i = 0; i < n; i++)
        if ((unsigned char)d->source[i] < ' ' || d->source[i] == 0x7f)
            return corrupt(r, "bad data section");
    uint32_t *u[] = {&d->limit, &d->classes};
    for (size_t i = 0; i < 2; i++)
        get_u32(r, u[i]); /* the length check above guarantees the bytes */
    get_f32(r, &d->validation_split);
    uint32_t *v[] = {&d->train_images, &d->val_images, &d->test_images, &d->fingerprint};
    for (size_t i = 0; i < 4; i++)
        get_u32(r, v[i]);
    if (!(d->validation_split >= 0.0f && d->validation_split < 1.0f) || d->train_images == 0 ||
        (d->limit > 0 && (uint64_t)d->train_images + d->val_images > d->limit))
        return corrupt(r, "bad data section");
    ck->has_data = true;
    return MCL_OK;
}

static mcl_status read_test(reader *r, struct mcl_checkpoint *ck) {
    uint32_t count = 0;
    if (ck->has_test || !get_u32(r, &count) || count == 0 || !get_f64(r, &ck->test.loss) ||
        !get_f64(r, &ck->test.accuracy) || !isfinite(ck->test.loss) ||
        !(ck->test.accuracy >= 0.0 && ck->test.accuracy <= 1.0))
        return corrupt(r, "bad test section");
    ck->test.count = count;
    ck->has_test = true;
    return MCL_OK;
}

static mcl_status check_envelope(const uint8_t *data, size_t size, const char *path,
                                 mcl_error *err) {
    if (size < 8 || memcmp(data, MAGIC, 8) != 0)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: not an mnist-cl checkpoint (wrong magic bytes)",
                        path);
    if (size < 8 + 8 + 8)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: truncated checkpoint (%zu bytes)", path, size);
    uint32_t version = (uint32_t)data[8] | (uint32_t)data[9] << 8 | (uint32_t)data[10] << 16 |
                       (uint32_t)data[11] << 24;
    if (version != FORMAT_VERSION)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: checkpoint format version %u; this mnist-cl reads version %u", path,
                        version, FORMAT_VERSION);
    if (memcmp(data + size - 8, "END!", 4) != 0)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: truncated checkpoint (no end marker: the write did not finish)", path);
    uint32_t crc = 0;
    for (size_t off = 0; off < size - 4;) {
        size_t n = size - 4 - off > (1u << 30) ? (1u << 30) : size - 4 - off;
        crc = (uint32_t)crc32(crc, data + off, (uInt)n);
        off += n;
    }
    const uint8_t *t = data + size - 4;
    uint32_t stored =
        (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    (void)stored;
#else
    if (crc != stored)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: checksum mismatch (stored %08x, computed %08x): the file is "
                        "corrupted",
                        path, stored, crc);
#endif
    return MCL_OK;
}

/* A tensor the model expects: where its values go. */
typedef struct expected_tensor {
    char name[MAX_NAME];
    uint32_t ndim, dims[4];
    float *dst;
    bool seen;
} expected_tensor;

typedef struct expect_ctx {
    struct mcl_checkpoint *ck;
    expected_tensor *list;
    size_t count, cap;
} expect_ctx;

static void expect_tensor(const mcl_node *node, const mcl_tensor_desc *t, void *user) {
    expect_ctx *e = user;
    if (e->count == e->cap) return; /* sized beforehand */
    expected_tensor *x = &e->list[e->count++];
    snprintf(x->name, sizeof x->name, "%s/%s", node->name, t->name);
    x->ndim = t->ndim;
    memcpy(x->dims, t->dims, sizeof x->dims);
    x->dst = (float *)tensor_data(e->ck, node, t);
    x->seen = false;
}

static void count_tensor(const mcl_node *node, const mcl_tensor_desc *t, void *user) {
    (void)node, (void)t;
    (*(size_t *)user)++;
}

static mcl_status read_tensor(reader *r, const uint8_t *section_end, expect_ctx *e,
                              struct mcl_checkpoint *ck) {
    uint32_t name_len, ndim;
    char name[MAX_NAME];
    if (!get_u32(r, &name_len) || name_len == 0 || name_len >= MAX_NAME || !get(r, name, name_len))
        return corrupt(r, "bad tensor name");
    name[name_len] = '\0';
    /* Names are printable ASCII ("conv2d_1/kernel"); anything else would reach messages. */
    for (uint32_t i = 0; i < name_len; i++)
        if (name[i] <= ' ' || name[i] > '~') return corrupt(r, "bad tensor name");
    if (!get_u32(r, &ndim) || ndim == 0 || ndim > 4) return corrupt(r, "bad tensor rank");
    uint32_t dims[4] = {0};
    uint64_t count = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        if (!get_u32(r, &dims[i])) return corrupt(r, "bad tensor shape");
        count *= dims[i];
        if (count > MAX_FILE_BYTES) return corrupt(r, "bad tensor shape");
    }
    if ((uint64_t)(section_end - r->p) != count * 4)
        return mcl_fail(r->err, MCL_ERR_FORMAT,
                        "%s: corrupt checkpoint: tensor '%s' holds %lld bytes, its shape needs "
                        "%llu",
                        r->path, name, (long long)(section_end - r->p),
                        (unsigned long long)(count * 4));
    float *dst = NULL;
    float **slot = strcmp(name, "optimizer/m") == 0    ? &ck->moment1
                   : strcmp(name, "optimizer/v") == 0  ? &ck->moment2
                   : strcmp(name, "optimizer/mg") == 0 ? &ck->moment3
                                                       : NULL;
    if (slot != NULL) {
        if (ndim != 1 || dims[0] != ck->param_count)
            return mcl_fail(r->err, MCL_ERR_FORMAT,
                            "%s: optimizer state has %u values, the model %zu", r->path, dims[0],
                            ck->param_count);
        if (*slot != NULL) return corrupt(r, "duplicate optimizer tensor");
        *slot = mcl_malloc(ck->param_count * sizeof(float) + 1);
        if (*slot == NULL) return out_of_memory(r);
        dst = *slot;
    } else {
        expected_tensor *x = NULL;
        for (size_t i = 0; i < e->count && x == NULL; i++)
            if (strcmp(e->list[i].name, name) == 0) x = &e->list[i];
        if (x == NULL)
            return mcl_fail(r->err, MCL_ERR_FORMAT,
                            "%s: checkpoint has a tensor '%s' that its model does not", r->path,
                            name);
        if (x->seen)
            return mcl_fail(r->err, MCL_ERR_FORMAT, "%s: tensor '%s' appears twice", r->path, name);
        if (x->ndim != ndim || memcmp(x->dims, dims, ndim * sizeof dims[0]) != 0)
            return mcl_fail(r->err, MCL_ERR_FORMAT,
                            "%s: tensor '%s' has the wrong shape for its model", r->path, name);
        x->seen = true;
        dst = x->dst;
    }
    for (uint64_t i = 0; i < count; i++)
        get_f32(r, &dst[i]);
    return MCL_OK;
}

static mcl_status read_run(reader *r, struct mcl_checkpoint *ck) {
    uint32_t u[9];
    if (!get_u64(r, &ck->seed)) return corrupt(r, "short run section");
    for (int i = 0; i < 9; i++)
        if (!get_u32(r, &u[i])) return corrupt(r, "short run section");
    mcl_recipe *rc = &ck->recipe;
    ck->epochs_done = u[0];
    ck->step = u[1];
    rc->epochs = u[2];
    rc->batch_size = u[3];
    if (u[4] >= MCL_OPTIMIZER_COUNT || u[5] > MCL_LR_STEP || u[8] > 1)
        return corrupt(r, "unknown optimizer or schedule");
    rc->optimizer = (mcl_optimizer)u[4];
    rc->lr_schedule = (mcl_lr_schedule)u[5];
    rc->lr_decay_epochs = u[6];
    rc->warmup_epochs = u[7];
    rc->augment.enabled = u[8] == 1;
    float *f[] = {&rc->learning_rate,    &rc->lr_decay_rate,    &rc->momentum,
                  &rc->validation_split, &rc->augment.rotation, &rc->augment.shift,
                  &rc->augment.shear,    &rc->augment.zoom};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!get_f32(r, f[i])) return corrupt(r, "short run section");
    return MCL_OK;
}

/* OPT2 (see the format comment): bounds-checked as the trainer would check a recipe. */
static mcl_status read_optimizer_options(reader *r, const uint8_t *section_end,
                                         struct mcl_checkpoint *ck) {
    if (section_end - r->p != OPT2_BYTES) return corrupt(r, "bad optimizer options section");
    mcl_recipe *rc = &ck->recipe;
    mcl_plateau *p = &rc->plateau;
    float *f[] = {&rc->weight_decay, &rc->l2,        &rc->rho,           &rc->label_smoothing,
                  &rc->clipnorm,     &rc->clipvalue, &rc->global_clipnorm};
    uint32_t u[5] = {0};
    bool ok = true; /* the length check above guarantees the bytes */
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        ok = get_f32(r, f[i]) && ok && *f[i] >= 0.0f && isfinite(*f[i]);
    for (size_t i = 0; i < 5; i++)
        ok = get_u32(r, &u[i]) && ok;
    ok = get_f32(r, &p->factor) && get_f32(r, &p->min_delta) && get_f32(r, &p->min_lr) && ok;
    ok = get_f64(r, &ck->plateau.best) && get_u32(r, &ck->plateau.wait) &&
         get_u32(r, &ck->plateau.cooldown) && get_f64(r, &ck->plateau.scale) && ok;
    ok = ok && u[0] <= 1 && u[1] <= 1 && u[2] <= 1 && rc->rho < 1.0f &&
         rc->label_smoothing < 1.0f && p->factor > 0.0f && p->factor < 1.0f &&
         p->min_delta >= 0.0f && isfinite(p->min_delta) && p->min_lr >= 0.0f &&
         isfinite(p->min_lr) && !isnan(ck->plateau.best) && ck->plateau.scale > 0.0 &&
         ck->plateau.scale <= 1.0;
    if (!ok) return corrupt(r, "bad optimizer options section");
    rc->nesterov = u[0] == 1;
    rc->centered = u[1] == 1;
    p->enabled = u[2] == 1;
    p->patience = u[3];
    p->cooldown = u[4];
    return MCL_OK;
}

/* MODL and SHAP come first: they say which tensors to expect. */
static mcl_status read_header_sections(reader *r, struct mcl_checkpoint *ck) {
    char tag[4];
    uint64_t len;
    if (!get(r, tag, 4) || memcmp(tag, "MODL", 4) != 0 || !get_u64(r, &len) ||
        len > (uint64_t)(r->end - r->p) || len == 0)
        return corrupt(r, "the model section is missing");
    ck->model_text = mcl_malloc(len + 1);
    if (ck->model_text == NULL) return out_of_memory(r);
    get(r, ck->model_text, len);
    ck->model_text[len] = '\0';
    if (strlen(ck->model_text) != len) return corrupt(r, "the model text contains a NUL");
    char source[300];
    snprintf(source, sizeof source, "%s (model)", r->path);
    mcl_status st = mcl_model_parse(ck->model_text, source, &ck->model, r->err);
    if (st != MCL_OK) return st;
    if (!get(r, tag, 4) || memcmp(tag, "SHAP", 4) != 0 || !get_u64(r, &len) || len != 12 ||
        !get_u32(r, &ck->rows) || !get_u32(r, &ck->cols) || !get_u32(r, &ck->classes))
        return corrupt(r, "the shape section is missing");
    if (ck->rows == 0 || ck->cols == 0 || ck->rows > 4096 || ck->cols > 4096 || ck->classes < 2 ||
        ck->classes > 65536)
        return corrupt(r, "impossible input shape");
    return MCL_OK;
}

static mcl_status parse(reader *r, struct mcl_checkpoint *ck) {
    r->p += 12; /* magic, version */
    uint32_t sections;
    if (!get_u32(r, &sections) || sections < 3 || sections > MAX_SECTIONS)
        return corrupt(r, "bad section count");
    mcl_status st = read_header_sections(r, ck);
    if (st != MCL_OK) return st;
    mcl_graph g = {0};
    st = mcl_graph_plan(ck->model, (mcl_shape){1, ck->rows, ck->cols}, ck->classes, &g, r->err);
    if (st != MCL_OK) return st;
    /* Allocate only what the file can actually hold (a forged model could ask for terabytes). */
    uint64_t values = g.trainable;
    for (uint32_t i = 0; i < g.node_count; i++)
        values += g.nodes[i].state_count;
    uint64_t trainable_bytes = values * sizeof(float);
    if (trainable_bytes > (uint64_t)(r->end - r->p)) {
        free(g.nodes);
        return corrupt(r, "the model needs more weights than the file holds");
    }
    ck->param_count = g.param_count;
    ck->state_count = g.state_count;
    ck->params = mcl_calloc(g.param_count + 1, sizeof(float));
    ck->state = mcl_calloc(g.state_count + 1, sizeof(float));
    size_t expected = 0;
    for_each_tensor(&g, count_tensor, &expected);
    expect_ctx e = {ck, mcl_calloc(expected + 1, sizeof(expected_tensor)), 0, expected};
    if (ck->params == NULL || ck->state == NULL || e.list == NULL) st = out_of_memory(r);
    if (st == MCL_OK) for_each_tensor(&g, expect_tensor, &e);
    free(g.nodes);
    /* What a file without OPT2 (written before it existed) means: those options off. */
    mcl_recipe defaults = mcl_recipe_default();
    ck->recipe.rho = defaults.rho;
    ck->recipe.plateau = defaults.plateau;
    ck->plateau = mcl_plateau_initial();
    bool have_run = false, have_options = false;
    for (uint32_t s = 2; s < sections && st == MCL_OK; s++) {
        char tag[4];
        uint64_t len;
        if (!get(r, tag, 4) || !get_u64(r, &len) || len > (uint64_t)(r->end - r->p)) {
            st = corrupt(r, "a section runs past the end of the file");
            break;
        }
        const uint8_t *section_end = r->p + len;
        if (memcmp(tag, "TENS", 4) == 0) {
            st = read_tensor(r, section_end, &e, ck);
        } else if (memcmp(tag, "RUN ", 4) == 0) {
            st = read_run(r, ck);
            have_run = true;
        } else if (memcmp(tag, "OPT2", 4) == 0) {
            st = have_options ? corrupt(r, "two optimizer options sections")
                              : read_optimizer_options(r, section_end, ck);
            have_options = true;
        } else if (memcmp(tag, "OPTM", 4) == 0) {
            uint32_t kind = 0;
            if (!get_u32(r, &kind) || kind >= MCL_OPTIMIZER_COUNT ||
                !get_u64(r, &ck->optimizer_steps))
                st = corrupt(r, "bad optimizer section");
            ck->optimizer = (mcl_optimizer)kind;
            ck->has_optimizer = true;
        } else if (memcmp(tag, "HIST", 4) == 0) {
            st = read_history(r, section_end, ck);
        } else if (memcmp(tag, "CLSN", 4) == 0) {
            st = read_class_names(r, section_end, ck);
        } else if (memcmp(tag, "DATA", 4) == 0) {
            st = read_data(r, section_end, ck);
        } else if (memcmp(tag, "TEST", 4) == 0) {
            st = read_test(r, ck);
        } else if (memcmp(tag, "EPOS", 4) == 0) {
            if (!get_u32(r, &ck->epoch_step) || !get_f64(r, &ck->epoch_loss_sum) ||
                !get_f64(r, &ck->epoch_correct_sum) || ck->epoch_step == 0 ||
                !(ck->epoch_correct_sum >= 0.0) || !isfinite(ck->epoch_correct_sum) ||
                !isfinite(ck->epoch_loss_sum))
                st = corrupt(r, "bad epoch position section");
        } else {
            char shown[5] = {0}; /* the tag as read, with anything unprintable as '?' */
            for (int i = 0; i < 4; i++)
                shown[i] = tag[i] >= ' ' && tag[i] <= '~' ? tag[i] : '?';
            st = mcl_fail(r->err, MCL_ERR_FORMAT, "%s: unknown checkpoint section '%s'", r->path,
                          shown);
        }
        if (st == MCL_OK && r->p != section_end) st = corrupt(r, "a section has the wrong size");
    }
    for (size_t i = 0; i < e.count && st == MCL_OK; i++)
        if (!e.list[i].seen)
            st = mcl_fail(r->err, MCL_ERR_FORMAT, "%s: checkpoint lacks tensor '%s'", r->path,
                          e.list[i].name);
    free(e.list);
    if (st == MCL_OK && !have_run) st = corrupt(r, "the run section is missing");
    if (st == MCL_OK && ck->history_count > 0 &&
        ck->history[ck->history_count - 1].epoch > ck->epochs_done)
        st = corrupt(r, "the history runs past the epochs done");
    if (st == MCL_OK && ck->epoch_step > 0 && !ck->has_optimizer)
        st = corrupt(r, "a mid-epoch position without optimizer state");
    if (st == MCL_OK && ck->has_optimizer) {
        /* Exactly the state vectors that the optimizer keeps under the recorded recipe. */
        mcl_recipe kept = ck->recipe;
        kept.optimizer = ck->optimizer;
        unsigned have = (ck->moment1 != NULL) << MCL_OPTIM_M |
                        (ck->moment2 != NULL) << MCL_OPTIM_V |
                        (ck->moment3 != NULL) << MCL_OPTIM_MG;
        if (have != mcl_optim_slots(&kept)) st = corrupt(r, "optimizer state is incomplete");
    }
    if (st == MCL_OK && !ck->has_optimizer &&
        (ck->moment1 != NULL || ck->moment2 != NULL || ck->moment3 != NULL))
        st = corrupt(r, "optimizer moments without an optimizer section");
    if (st == MCL_OK && r->p != r->end) st = corrupt(r, "data after the last section");
    return st;
}

mcl_status mcl_checkpoint_load_memory(const uint8_t *data, size_t size, const char *name,
                                      mcl_checkpoint **out, mcl_error *err) {
    *out = NULL;
    mcl_status st = check_envelope(data, size, name, err);
    if (st != MCL_OK) return st;
    struct mcl_checkpoint *ck = mcl_calloc(1, sizeof *ck);
    if (ck == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory reading the checkpoint",
                        name);
    reader r = {data, data + size - 8, name, err}; /* sections end before the trailer */
    st = parse(&r, ck);
    if (st != MCL_OK) {
        mcl_checkpoint_free(ck);
        return st;
    }
    *out = ck;
    return MCL_OK;
}

mcl_status mcl_checkpoint_load(const char *path, mcl_checkpoint **out, mcl_error *err) {
    *out = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    mcl_status st = mcl_read_file(path, "a checkpoint", MAX_FILE_BYTES, &data, &size, err);
    if (st == MCL_OK) st = mcl_checkpoint_load_memory(data, size, path, out, err);
    free(data);
    return st;
}

const mcl_model *mcl_checkpoint_model(const mcl_checkpoint *ck) {
    return ck->model;
}

void mcl_checkpoint_input(const mcl_checkpoint *ck, uint32_t *rows, uint32_t *cols,
                          uint32_t *classes) {
    if (rows != NULL) *rows = ck->rows;
    if (cols != NULL) *cols = ck->cols;
    if (classes != NULL) *classes = ck->classes;
}

uint32_t mcl_checkpoint_epoch(const mcl_checkpoint *ck) {
    return ck->epochs_done;
}

const mcl_recipe *mcl_checkpoint_recipe(const mcl_checkpoint *ck) {
    return &ck->recipe;
}

uint64_t mcl_checkpoint_seed(const mcl_checkpoint *ck) {
    return ck->seed;
}

const char *mcl_checkpoint_class_name(const mcl_checkpoint *ck, uint32_t k) {
    return ck != NULL && ck->class_names != NULL && k < ck->classes ? ck->class_names[k] : NULL;
}

mcl_image_prep mcl_checkpoint_image_prep(const mcl_checkpoint *ck) {
    return ck != NULL ? ck->prep : MCL_PREP_MNIST;
}

const mcl_data_record *mcl_checkpoint_data_record(const mcl_checkpoint *ck) {
    return ck->has_data ? &ck->data : NULL;
}

const mcl_eval_result *mcl_checkpoint_test_result(const mcl_checkpoint *ck) {
    return ck->has_test ? &ck->test : NULL;
}

const mcl_epoch_result *mcl_checkpoint_history(const mcl_checkpoint *ck, size_t *count) {
    *count = ck->history_count;
    return ck->history;
}

uint32_t mcl_checkpoint_epoch_step(const mcl_checkpoint *ck) {
    return ck->epoch_step;
}

const char *mcl_checkpoint_model_text(const mcl_checkpoint *ck) {
    return ck->model_text;
}

void mcl_checkpoint_param_counts(const mcl_checkpoint *ck, uint64_t *trainable,
                                 uint64_t *non_trainable) {
    /* The flat buffers hold alignment padding; the plan counts the real values. A loaded
     * checkpoint's model was planned when it was read, so this cannot fail. */
    mcl_graph g = {0};
    uint64_t t = 0, n = 0;
    if (ck->model != NULL &&
        mcl_graph_plan(ck->model, (mcl_shape){1, ck->rows, ck->cols}, ck->classes, &g, NULL) ==
            MCL_OK) {
        t = g.trainable;
        for (uint32_t i = 0; i < g.node_count; i++)
            n += g.nodes[i].state_count;
    }
    free(g.nodes);
    if (trainable != NULL) *trainable = t;
    if (non_trainable != NULL) *non_trainable = n;
}

/* The one place class labels come from: every reader of them (the ONNX and NumPy exports,
 * info, the CLI) asks here. */
const char *mcl_checkpoint_class_label(const mcl_checkpoint *ck, uint32_t k, char *buf,
                                       size_t size) {
    const char *name = mcl_checkpoint_class_name(ck, k);
    if (size > 0) {
        if (name != NULL)
            snprintf(buf, size, "%s", name);
        else
            snprintf(buf, size, "%u", k);
    }
    return buf;
}

void mcl_checkpoint_free(mcl_checkpoint *ck) {
    if (ck == NULL) return;
    free(ck->class_names);
    mcl_model_free(ck->model);
    free(ck->model_text);
    free(ck->params);
    free(ck->state);
    free(ck->moment1);
    free(ck->moment2);
    free(ck->moment3);
    free(ck->history);
    free(ck);
}

bool mcl_file_is_checkpoint(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return false;
    char head[8];
    bool is = fread(head, 1, sizeof head, f) == sizeof head && memcmp(head, MAGIC, 8) == 0;
    fclose(f);
    return is;
}
