/* Checkpoints and what is built on them: save/load round trips, resuming a run bit-identically,
 * rejecting damaged files without touching anything, early stopping, learning-rate schedules
 * and the history file. Runs on a synthetic 3-class dataset (no MNIST needed). */
#define _GNU_SOURCE /* memmem */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "graph/trainer.h"
#include "store/checkpoint.h"
#include "test_util.h"

/* A model with every kind of state a checkpoint must carry: conv + BatchNorm (moving
 * statistics), dropout (RNG step counter), augmentation (epoch counter), Adam (moments, t). */
static const char *const model_text = "name ckpt_test\n"
                                      "recipe batch_size=40 epochs=3 validation_split=0.2\n"
                                      "recipe augment=on rotation=10 shift=0.1 zoom=0.1\n"
                                      "conv2d 16 3x3 padding=same\n"
                                      "batchnorm momentum=0.9\n"
                                      "relu\n"
                                      "maxpool 2\n"
                                      "flatten\n"
                                      "dropout 0.25\n"
                                      "dense 16 relu\n"
                                      "dense classes softmax\n";

typedef struct fixture {
    mcl_context *ctx;
    mcl_model *model;
    mcl_dataset *all, *train, *val;
    char *dir;
} fixture;

static bool fixture_open(fixture *f) {
    memset(f, 0, sizeof *f);
    f->ctx = test_context_create();
    if (f->ctx == NULL) return false;
    f->dir = test_mkdtemp();
    test_write_synthetic(f->dir, "train", 400, 21);
    mcl_error err = {0};
    ck_assert_msg(mcl_model_parse(model_text, "ckpt_test", &f->model, &err) == MCL_OK, "%s",
                  err.message);
    ck_assert(mcl_dataset_load(f->dir, MCL_SPLIT_TRAIN, &f->all, &err) == MCL_OK);
    ck_assert(mcl_dataset_subset(f->all, 0, 320, &f->train, &err) == MCL_OK);
    ck_assert(mcl_dataset_subset(f->all, 320, 80, &f->val, &err) == MCL_OK);
    return true;
}

static void fixture_close(fixture *f) {
    mcl_dataset_free(f->val);
    mcl_dataset_free(f->train);
    mcl_dataset_free(f->all);
    mcl_model_free(f->model);
    mcl_context_free(f->ctx);
    if (f->dir != NULL) test_rmtree(f->dir);
    free(f->dir);
}

static char *path_in(const fixture *f, const char *name) {
    char *p = malloc(strlen(f->dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", f->dir, name);
    return p;
}

static mcl_trainer *new_trainer(fixture *f, uint64_t seed) {
    mcl_trainer *t = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_create(f->ctx, f->model, 8, 10, 3, 40, seed, &t, &err) == MCL_OK,
                  "%s", err.message);
    return t;
}

static void fit(mcl_trainer *t, fixture *f, uint32_t epochs, uint32_t initial_epoch,
                uint64_t seed) {
    mcl_fit_options o = {
        .recipe = *mcl_model_recipe(f->model), .seed = seed, .initial_epoch = initial_epoch};
    o.recipe.epochs = epochs;
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_fit(t, f->train, f->val, &o, &err) == MCL_OK, "%s", err.message);
}

static float *params_of(mcl_trainer *t, uint64_t *n) {
    *n = mcl_trainer_param_count(t);
    float *p = malloc(*n * sizeof *p);
    mcl_error err = {0};
    ck_assert(mcl_trainer_read_params(t, p, &err) == MCL_OK);
    return p;
}

static float *predictions(mcl_trainer *t, const mcl_dataset *ds) {
    uint32_t n = mcl_dataset_count(ds);
    float *x = malloc((size_t)n * 80 * sizeof *x), *p = malloc((size_t)n * 3 * sizeof *p);
    for (size_t i = 0; i < (size_t)n * 80; i++)
        x[i] = mcl_dataset_pixels(ds)[i] / 255.0f;
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_predict(t, x, n, p, &err) == MCL_OK, "%s", err.message);
    free(x);
    return p;
}

/* Save, load, rebuild: the same weights, state and predictions, bit for bit. */
START_TEST(test_round_trip_is_exact) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_trainer *a = new_trainer(&f, 5);
    fit(a, &f, 1, 0, 5);
    char *path = path_in(&f, "a.ckpt");
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_save(a, path, &err) == MCL_OK, "%s", err.message);
    mcl_checkpoint *ck = NULL;
    ck_assert_msg(mcl_checkpoint_load(path, &ck, &err) == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(mcl_checkpoint_epoch(ck), 1);
    ck_assert_uint_eq(mcl_checkpoint_seed(ck), 5);
    ck_assert_uint_eq(mcl_checkpoint_recipe(ck)->batch_size, 40);
    ck_assert(mcl_checkpoint_recipe(ck)->augment.enabled);
    uint32_t rows, cols, classes;
    mcl_checkpoint_input(ck, &rows, &cols, &classes);
    ck_assert(rows == 8 && cols == 10 && classes == 3);
    ck_assert_str_eq(mcl_model_name(mcl_checkpoint_model(ck)), "ckpt_test");
    mcl_trainer *b = NULL;
    ck_assert_msg(mcl_trainer_create_from_checkpoint(f.ctx, ck, 64, &b, &err) == MCL_OK, "%s",
                  err.message);
    uint64_t na, nb;
    float *pa = params_of(a, &na), *pb = params_of(b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(memcmp(pa, pb, na * sizeof *pa) == 0, "weights changed in a round trip");
    /* Predictions use the BatchNorm moving statistics: equal predictions mean equal state. */
    float *ya = predictions(a, f.val), *yb = predictions(b, f.val);
    ck_assert_msg(memcmp(ya, yb, 80 * 3 * sizeof *ya) == 0, "predictions changed");
    /* Saving again gives the same bytes. */
    char *again = path_in(&f, "b.ckpt");
    ck_assert(mcl_trainer_save(b, again, &err) == MCL_OK);
    mcl_checkpoint *ck2 = NULL;
    ck_assert(mcl_checkpoint_load(again, &ck2, &err) == MCL_OK);
    ck_assert(memcmp(ck->params, ck2->params, ck->param_count * sizeof(float)) == 0);
    ck_assert(memcmp(ck->moment2, ck2->moment2, ck->param_count * sizeof(float)) == 0);
    free(pa), free(pb), free(ya), free(yb), free(path), free(again);
    mcl_checkpoint_free(ck);
    mcl_checkpoint_free(ck2);
    mcl_trainer_free(a);
    mcl_trainer_free(b);
    fixture_close(&f);
}
END_TEST

typedef struct val_log {
    uint32_t epochs;
    double val_loss[8];
} val_log;

static bool log_val(const mcl_epoch_result *r, void *user) {
    val_log *log = user;
    ck_assert(r->has_validation);
    if (log->epochs < 8) log->val_loss[log->epochs++] = r->val_loss;
    return true;
}

/* The recipe's validation_split is the library's, so the C API does what train
 * --validation-split does: a fit given all 400 images and no validation set trains on the first
 * 320 and validates on the last 80 (split 0.2), exactly as a fit handed those two sets. */
START_TEST(test_validation_split_in_the_library) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_error err = {0};
    uint32_t head = 0;
    ck_assert(mcl_validation_split_count(400, mcl_model_recipe(f.model)->validation_split, &head,
                                         &err) == MCL_OK);
    ck_assert_uint_eq(head, 320);
    val_log split_log = {0}, given_log = {0};
    mcl_fit_options o = {.recipe = *mcl_model_recipe(f.model), .seed = 6, .on_epoch = log_val};
    o.recipe.epochs = 2;
    mcl_trainer *split = new_trainer(&f, 6), *given = new_trainer(&f, 6);
    o.user = &split_log;
    ck_assert_msg(mcl_trainer_fit(split, f.all, NULL, &o, &err) == MCL_OK, "%s", err.message);
    o.user = &given_log;
    ck_assert_msg(mcl_trainer_fit(given, f.train, f.val, &o, &err) == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(split_log.epochs, 2);
    ck_assert_uint_eq(given_log.epochs, 2);
    for (uint32_t e = 0; e < 2; e++)
        ck_assert_msg(split_log.val_loss[e] == given_log.val_loss[e],
                      "epoch %u: val_loss %.9g with the library's split, %.9g with the sets", e + 1,
                      split_log.val_loss[e], given_log.val_loss[e]);
    uint64_t n1, n2;
    float *a = params_of(split, &n1), *b = params_of(given, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, n1 * sizeof *a) == 0, "the library's split trained differently");
    /* A split that leaves nothing to train on is the caller's mistake. */
    mcl_dataset *one = NULL;
    ck_assert(mcl_dataset_subset(f.all, 0, 1, &one, &err) == MCL_OK);
    mcl_status st = mcl_trainer_fit(split, one, NULL, &o, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "validation split of 0.2", "no training images");
    mcl_dataset_free(one);
    free(a), free(b);
    mcl_trainer_free(split);
    mcl_trainer_free(given);
    fixture_close(&f);
}
END_TEST

static bool stop_after_first(const mcl_epoch_result *r, void *user) {
    (void)user;
    return r->epoch < 1;
}

/* 3 epochs in one go vs 1 epoch, save, load, resume for 2: identical weights. Dropout masks,
 * shuffles, augmentation, Adam's moments and step, BatchNorm statistics and the position in
 * the cosine schedule all have to carry over. */
START_TEST(test_resume_is_bit_identical) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_model *cosine = NULL;
    mcl_error err = {0};
    char text[2048];
    snprintf(text, sizeof text, "%srecipe lr_schedule=cosine\n", model_text);
    ck_assert(mcl_model_parse(text, "cosine", &cosine, &err) == MCL_OK);
    mcl_model_free(f.model);
    f.model = cosine;
    mcl_trainer *whole = new_trainer(&f, 9);
    fit(whole, &f, 3, 0, 9);
    /* The interrupted run: the same 3-epoch recipe, stopped by its callback after epoch 1. */
    mcl_trainer *first = new_trainer(&f, 9);
    mcl_fit_options o = {.recipe = *mcl_model_recipe(f.model), .seed = 9};
    o.recipe.epochs = 3;
    o.on_epoch = stop_after_first;
    ck_assert(mcl_trainer_fit(first, f.train, f.val, &o, &err) == MCL_OK);
    ck_assert_uint_eq(mcl_trainer_epochs_done(first), 1);
    char *path = path_in(&f, "part.ckpt");
    ck_assert(mcl_trainer_save(first, path, &err) == MCL_OK);
    mcl_trainer_free(first);
    mcl_checkpoint *ck = NULL;
    ck_assert(mcl_checkpoint_load(path, &ck, &err) == MCL_OK);
    mcl_trainer *resumed = NULL;
    ck_assert(mcl_trainer_create_from_checkpoint(f.ctx, ck, 40, &resumed, &err) == MCL_OK);
    mcl_fit_options r = {.recipe = *mcl_checkpoint_recipe(ck),
                         .seed = mcl_checkpoint_seed(ck),
                         .initial_epoch = mcl_checkpoint_epoch(ck)};
    ck_assert_uint_eq(r.recipe.epochs, 3);
    ck_assert_msg(mcl_trainer_fit(resumed, f.train, f.val, &r, &err) == MCL_OK, "%s", err.message);
    uint64_t n1, n2;
    float *a = params_of(whole, &n1), *b = params_of(resumed, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, n1 * sizeof *a) == 0,
                  "1 epoch + resume 2 differs from 3 epochs in one run");
    float *ya = predictions(whole, f.val), *yb = predictions(resumed, f.val);
    ck_assert_msg(memcmp(ya, yb, 80 * 3 * sizeof *ya) == 0, "BatchNorm state differs");
    free(a), free(b), free(ya), free(yb), free(path);
    mcl_checkpoint_free(ck);
    mcl_trainer_free(whole);
    mcl_trainer_free(resumed);
    fixture_close(&f);
}
END_TEST

/* What the interrupted fit below records: its flag, raised from the progress callback at
 * step 2 of epoch 2 (as a SIGINT handler would raise it), and each epoch's training loss. */
typedef struct interrupt_log {
    volatile sig_atomic_t flag;
    double loss[8];
} interrupt_log;

static bool raise_at_step_2(const mcl_progress *p, void *user) {
    interrupt_log *log = user;
    if (p->epoch == 2 && p->step == 2) log->flag = 1;
    return true;
}

static bool log_loss(const mcl_epoch_result *r, void *user) {
    ((interrupt_log *)user)->loss[r->epoch] = r->loss;
    return true;
}

/* An interrupt inside an epoch stops after the current step, the checkpoint keeps the position,
 * and resuming from it ends with the same weights and the same epoch loss as a run that was
 * never interrupted. */
START_TEST(test_interrupt_mid_epoch_resumes_exactly) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_error err = {0};
    interrupt_log whole_log = {0}, part_log = {0};
    mcl_fit_options o = {
        .recipe = *mcl_model_recipe(f.model), .seed = 4, .on_epoch = log_loss, .user = &whole_log};
    mcl_trainer *whole = new_trainer(&f, 4);
    ck_assert_msg(mcl_trainer_fit(whole, f.train, f.val, &o, &err) == MCL_OK, "%s", err.message);
    mcl_trainer *part = new_trainer(&f, 4);
    o.user = &part_log;
    o.on_progress = raise_at_step_2;
    o.progress_interval_s = 0.0;
    o.interrupt = &part_log.flag;
    ck_assert_msg(mcl_trainer_fit(part, f.train, f.val, &o, &err) == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(mcl_trainer_epochs_done(part), 1);
    uint32_t at = mcl_trainer_epoch_step(part);
    ck_assert_msg(at >= 2 && at < 8, "stopped at step %u of 8", at);
    ck_assert(part_log.loss[2] == 0.0); /* epoch 2 was not reported */
    /* Another fit with a different batch size cannot continue inside the epoch. */
    mcl_fit_options bad = o;
    bad.recipe.batch_size = 20;
    bad.initial_epoch = 1;
    bad.interrupt = NULL;
    ck_assert_error(mcl_trainer_fit(part, f.train, f.val, &bad, &err), err, MCL_ERR_USAGE,
                    "steps into epoch 2", "batch size (40)");
    char *path = path_in(&f, "mid.ckpt");
    ck_assert(mcl_trainer_save(part, path, &err) == MCL_OK);
    mcl_trainer_free(part);
    mcl_checkpoint *ck = NULL;
    ck_assert_msg(mcl_checkpoint_load(path, &ck, &err) == MCL_OK, "%s", err.message);
    mcl_trainer *resumed = NULL;
    ck_assert(mcl_trainer_create_from_checkpoint(f.ctx, ck, 40, &resumed, &err) == MCL_OK);
    ck_assert_uint_eq(mcl_trainer_epoch_step(resumed), at);
    mcl_fit_options r = {.recipe = *mcl_checkpoint_recipe(ck),
                         .seed = mcl_checkpoint_seed(ck),
                         .initial_epoch = mcl_checkpoint_epoch(ck),
                         .on_epoch = log_loss,
                         .user = &part_log};
    ck_assert_msg(mcl_trainer_fit(resumed, f.train, f.val, &r, &err) == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(mcl_trainer_epoch_step(resumed), 0);
    uint64_t n1, n2;
    float *a = params_of(whole, &n1), *b = params_of(resumed, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, n1 * sizeof *a) == 0, "interrupted + resumed run differs");
    /* The interrupted epoch's loss: the same sums, added in another order at most. */
    for (int e = 1; e <= 3; e++)
        ck_assert_msg(fabs(part_log.loss[e] - whole_log.loss[e]) <= 1e-12 * whole_log.loss[e],
                      "epoch %d loss %.17g vs %.17g", e, part_log.loss[e], whole_log.loss[e]);
    /* The history came through the checkpoint: epochs 1-3, epoch 1 from before the stop. */
    size_t count = 0;
    const mcl_epoch_result *h = mcl_trainer_history(resumed, &count);
    ck_assert_uint_eq(count, 3);
    for (size_t e = 0; e < count; e++) {
        ck_assert_uint_eq(h[e].epoch, e + 1);
        ck_assert(h[e].has_validation);
        ck_assert(fabs(h[e].loss - whole_log.loss[e + 1]) <= 1e-12 * whole_log.loss[e + 1]);
    }
    free(a), free(b), free(path);
    mcl_checkpoint_free(ck);
    mcl_trainer_free(whole);
    mcl_trainer_free(resumed);
    fixture_close(&f);
}
END_TEST

static void expect_rejected(const char *path, const uint8_t *data, size_t size,
                            const char *phrase) {
    test_write_file(path, data, size, 0);
    mcl_checkpoint *ck = (mcl_checkpoint *)(uintptr_t)1;
    mcl_error err = {0};
    mcl_status st = mcl_checkpoint_load(path, &ck, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, phrase);
    ck_assert_ptr_null(ck);
}

/* Recomputes the CRC-32 trailer (over everything before its own 4 bytes) after an edit. */
static void reseal(uint8_t *data, size_t size) {
    uint32_t crc = (uint32_t)crc32(0L, data, (uInt)(size - 4));
    for (int i = 0; i < 4; i++)
        data[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

/* Truncated, bit-flipped, foreign and empty files are rejected with a message saying which. */
START_TEST(test_damaged_files_are_rejected) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_trainer *t = new_trainer(&f, 3);
    char *good = path_in(&f, "good.ckpt"), *bad = path_in(&f, "bad.ckpt");
    mcl_error err = {0};
    ck_assert(mcl_trainer_save(t, good, &err) == MCL_OK); /* before any training: no optimizer */
    size_t size;
    uint8_t *data = test_read_file(good, &size);
    mcl_checkpoint *ck = NULL;
    ck_assert_msg(mcl_checkpoint_load(good, &ck, &err) == MCL_OK, "%s", err.message);
    ck_assert(!ck->has_optimizer);
    mcl_checkpoint_free(ck);
    expect_rejected(bad, data, size / 2, "truncated");
    expect_rejected(bad, data, size - 1, "truncated");
    expect_rejected(bad, data, 0, "not an mnist-cl checkpoint");
    for (size_t at = 20; at < size - 8; at += size / 7) {
        uint8_t *copy = malloc(size);
        memcpy(copy, data, size);
        copy[at] ^= 0x10;
        expect_rejected(bad, copy, size, "checksum mismatch");
        free(copy);
    }
    const char png[] = "\x89PNG\r\n\x1a\n0000000000000000000000000000";
    expect_rejected(bad, (const uint8_t *)png, sizeof png - 1, "not an mnist-cl checkpoint");
    uint8_t *future = malloc(size);
    memcpy(future, data, size);
    future[8] = 99;
    expect_rejected(bad, future, size, "format version 99");
    free(future);
    /* A control character in a tensor name (found by fuzzing) is refused, not echoed into a
     * message, even under a valid checksum (the CRC covers all but its own last 4 bytes). */
    uint8_t *named = malloc(size);
    memcpy(named, data, size);
    uint8_t *slash = memmem(named, size, "/kernel", 7);
    ck_assert_ptr_nonnull(slash);
    *slash = '\n';
    reseal(named, size);
    expect_rejected(bad, named, size, "bad tensor name");
    /* Likewise an unknown section tag is shown with '?' for what cannot be printed. */
    memcpy(named, data, size);
    uint8_t *run = memmem(named, size, "RUN ", 4);
    ck_assert_ptr_nonnull(run);
    run[1] = '\n';
    reseal(named, size);
    expect_rejected(bad, named, size, "unknown checkpoint section 'R?N '");
    free(named);
    /* A missing file is an I/O error naming it. */
    char *missing = path_in(&f, "nope.ckpt");
    ck = NULL;
    mcl_status st = mcl_checkpoint_load(missing, &ck, &err);
    ck_assert_error(st, err, MCL_ERR_IO, missing, "cannot open");
    /* Saving into a folder that does not exist fails and creates nothing. */
    char *nowhere = path_in(&f, "no/such/dir/x.ckpt");
    st = mcl_trainer_save(t, nowhere, &err);
    ck_assert_error(st, err, MCL_ERR_IO, nowhere, "cannot create");
    struct stat sb;
    ck_assert(stat(nowhere, &sb) != 0);
    free(data), free(good), free(bad), free(missing), free(nowhere);
    mcl_trainer_free(t);
    fixture_close(&f);
}
END_TEST

/* The run records: the data a run trained on (DATA) and the test metrics of its weights
 * (TEST) survive a save and load and a trainer rebuilt from the checkpoint; TEST is dropped
 * once training changes the weights; a damaged DATA section is refused; and a checkpoint of
 * an mnist-cl that did not write them (the fuzz corpus's, from before) still loads, with
 * neither. */
START_TEST(test_data_and_test_records) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_trainer *t = new_trainer(&f, 9);
    fit(t, &f, 1, 0, 9);
    mcl_data_record rec = {.limit = 400, .classes = 3, .validation_split = 0.2f,
                           .train_images = 320, .val_images = 80, .test_images = 80,
                           .fingerprint = mcl_dataset_fingerprint(f.all)};
    snprintf(rec.source, sizeof rec.source, "%s", f.dir);
    mcl_trainer_set_data_record(t, &rec);
    mcl_eval_result test = {0};
    mcl_error err = {0};
    ck_assert(mcl_trainer_evaluate(t, f.val, 40, &test, &err) == MCL_OK);
    mcl_trainer_set_test_result(t, &test);
    char *path = path_in(&f, "r.ckpt"), *again = path_in(&f, "r2.ckpt");
    ck_assert_msg(mcl_trainer_save(t, path, &err) == MCL_OK, "%s", err.message);
    mcl_checkpoint *ck = NULL;
    ck_assert_msg(mcl_checkpoint_load(path, &ck, &err) == MCL_OK, "%s", err.message);
    const mcl_data_record *d = mcl_checkpoint_data_record(ck);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->source, f.dir);
    ck_assert(d->limit == 400 && d->classes == 3 && d->validation_split == 0.2f);
    ck_assert(d->train_images == 320 && d->val_images == 80 && d->test_images == 80);
    ck_assert_uint_eq(d->fingerprint, rec.fingerprint);
    const mcl_eval_result *r = mcl_checkpoint_test_result(ck);
    ck_assert_ptr_nonnull(r);
    ck_assert(r->count == 80 && r->loss == test.loss && r->accuracy == test.accuracy);
    size_t rows = 0;
    ck_assert_ptr_nonnull(mcl_checkpoint_history(ck, &rows));
    ck_assert_uint_eq(rows, 1);
    uint64_t trainable = 0, fixed = 0;
    mcl_checkpoint_param_counts(ck, &trainable, &fixed);
    ck_assert_uint_eq(trainable, mcl_trainer_param_count(t));
    ck_assert_uint_eq(fixed, mcl_trainer_state_count(t));
    /* A trainer from the checkpoint saves both again; after a step, only the data record. */
    mcl_trainer *b = NULL;
    ck_assert(mcl_trainer_create_from_checkpoint(f.ctx, ck, 40, &b, &err) == MCL_OK);
    ck_assert(mcl_trainer_save(b, again, &err) == MCL_OK);
    mcl_checkpoint *ck2 = NULL;
    ck_assert(mcl_checkpoint_load(again, &ck2, &err) == MCL_OK);
    ck_assert_ptr_nonnull(mcl_checkpoint_test_result(ck2));
    ck_assert_ptr_nonnull(mcl_checkpoint_data_record(ck2));
    mcl_checkpoint_free(ck2);
    fit(b, &f, 2, 1, 9);
    ck_assert(mcl_trainer_save(b, again, &err) == MCL_OK);
    ck_assert(mcl_checkpoint_load(again, &ck2, &err) == MCL_OK);
    ck_assert_ptr_null(mcl_checkpoint_test_result(ck2));
    ck_assert_str_eq(mcl_checkpoint_data_record(ck2)->source, f.dir);
    mcl_checkpoint_free(ck2);
    /* A DATA section whose source holds a control character is refused, even resealed. */
    size_t size;
    uint8_t *data = test_read_file(path, &size);
    uint8_t *tag = memmem(data, size, "DATA", 4);
    ck_assert_ptr_nonnull(tag);
    tag[4 + 8 + 4] = '\n'; /* the source's first byte */
    reseal(data, size);
    expect_rejected(again, data, size, "bad data section");
    free(data);
    /* A checkpoint written before DATA and TEST existed. */
    const char *root = getenv("MNIST_CL_SOURCE_ROOT");
    if (root != NULL) {
        char old[4096];
        snprintf(old, sizeof old, "%s/tests/fuzz/corpus/checkpoint/trained.ckpt", root);
        ck2 = NULL;
        ck_assert_msg(mcl_checkpoint_load(old, &ck2, &err) == MCL_OK, "%s", err.message);
        ck_assert_ptr_null(mcl_checkpoint_data_record(ck2));
        ck_assert_ptr_null(mcl_checkpoint_test_result(ck2));
        mcl_checkpoint_free(ck2);
    }
    free(path), free(again);
    mcl_checkpoint_free(ck);
    mcl_trainer_free(b);
    mcl_trainer_free(t);
    fixture_close(&f);
}
END_TEST

typedef struct epoch_log {
    uint32_t epochs;
    double val_loss[64], lr[64];
} epoch_log;

static bool log_epoch(const mcl_epoch_result *r, void *user) {
    epoch_log *log = user;
    if (log->epochs < 64) {
        log->val_loss[log->epochs] = r->val_loss;
        log->lr[log->epochs] = r->learning_rate;
        log->epochs++;
    }
    return true;
}

/* A model that overfits 40 images: the validation loss turns up within a few epochs, early
 * stopping ends the run and the best epoch's weights come back. */
START_TEST(test_early_stopping_stops_and_restores) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_model *big = NULL;
    mcl_error err = {0};
    ck_assert(mcl_model_parse("flatten\ndense 256 relu\ndense 256 relu\ndense classes softmax\n",
                              "overfit", &big, &err) == MCL_OK);
    mcl_dataset *tiny = NULL;
    ck_assert(mcl_dataset_subset(f.all, 0, 40, &tiny, &err) == MCL_OK);
    mcl_trainer *t = NULL;
    ck_assert(mcl_trainer_create(f.ctx, big, 8, 10, 3, 8, 4, &t, &err) == MCL_OK);
    epoch_log log = {0};
    mcl_fit_options o = {.recipe = {.epochs = 60, .batch_size = 8, .learning_rate = 0.01f},
                         .seed = 4,
                         .on_epoch = log_epoch,
                         .user = &log,
                         .early_stopping_patience = 3};
    ck_assert_msg(mcl_trainer_fit(t, tiny, f.val, &o, &err) == MCL_OK, "%s", err.message);
    ck_assert_msg(log.epochs < 60, "early stopping never triggered");
    uint32_t best = 0;
    for (uint32_t e = 1; e < log.epochs; e++)
        if (log.val_loss[e] < log.val_loss[best]) best = e;
    ck_assert_uint_eq(log.epochs, best + 1 + 3); /* stopped after 3 epochs without improvement */
    mcl_eval_result r = {0};
    ck_assert(mcl_trainer_evaluate(t, f.val, 8, &r, &err) == MCL_OK);
    ck_assert_msg(fabs(r.loss - log.val_loss[best]) < 1e-6,
                  "restored weights give val loss %.6f, the best epoch had %.6f", r.loss,
                  log.val_loss[best]);
    /* Without a validation set it is a usage error. */
    ck_assert_int_eq(mcl_trainer_fit(t, tiny, NULL, &o, &err), MCL_ERR_USAGE);
    mcl_dataset_free(tiny);
    mcl_trainer_free(t);
    mcl_model_free(big);
    fixture_close(&f);
}
END_TEST

/* Step decay halves the rate every epoch; warm-up ramps it linearly first. 320 images in
 * batches of 40: 8 steps an epoch; the logged rate is that of the epoch's last step. */
START_TEST(test_step_decay_and_warmup) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_trainer *t = new_trainer(&f, 1);
    epoch_log log = {0};
    mcl_fit_options o = {.recipe = {.epochs = 4,
                                    .batch_size = 40,
                                    .learning_rate = 0.01f,
                                    .lr_schedule = MCL_LR_STEP,
                                    .lr_decay_rate = 0.5f,
                                    .lr_decay_epochs = 1,
                                    .warmup_epochs = 1},
                         .seed = 1,
                         .on_epoch = log_epoch,
                         .user = &log};
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_fit(t, f.train, f.val, &o, &err) == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(log.epochs, 4);
    /* epoch 1: warm-up ends at the full rate; then 0.01, 0.005, 0.0025 over the 3 epochs. */
    const double want[4] = {0.01, 0.01, 0.005, 0.0025};
    for (int e = 0; e < 4; e++)
        ck_assert_msg(fabs(log.lr[e] - want[e]) < 1e-9, "epoch %d: lr %.6g, want %.6g", e + 1,
                      log.lr[e], want[e]);
    mcl_trainer_free(t);
    fixture_close(&f);
}
END_TEST

START_TEST(test_history_csv_and_json) {
    char *dir = test_mkdtemp();
    char csv[4200], json[4200];
    snprintf(csv, sizeof csv, "%s/h.csv", dir);
    snprintf(json, sizeof json, "%s/h.json", dir);
    mcl_epoch_result rows[2] = {
        {.epoch = 1, .loss = 0.5, .accuracy = 0.8, .learning_rate = 0.001, .seconds = 2.5},
        {.epoch = 2,
         .loss = 0.25,
         .accuracy = 0.9,
         .has_validation = true,
         .val_loss = 0.3,
         .val_accuracy = 0.88,
         .learning_rate = 0.0005,
         .seconds = 2.25}};
    mcl_error err = {0};
    ck_assert(mcl_history_write(csv, rows, 2, &err) == MCL_OK);
    ck_assert(mcl_history_write(json, rows, 2, &err) == MCL_OK);
    size_t n;
    uint8_t *text = test_read_file(csv, &n);
    const char want[] = "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n"
                        "1,0.5,0.8,,,0.001,2.500\n"
                        "2,0.25,0.9,0.3,0.88,0.0005,2.250\n";
    ck_assert_uint_eq(n, sizeof want - 1);
    ck_assert(memcmp(text, want, n) == 0);
    free(text);
    text = test_read_file(json, &n);
    ck_assert(memmem(text, n, "\"val_loss\": 0.3", 15) != NULL);
    free(text);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* The writer lock of --save and --history: held once, refused to a second holder (another
 * process, or this one again) with the holder's pid, given up when its holder is SIGKILLed,
 * and removing the temporary files of dead writers (only those) when acquired. */
START_TEST(test_writer_lock) {
    char *dir = test_mkdtemp();
    char path[4200], lockfile[4300], dead_tmp[4300], live_tmp[4300], other_tmp[4300];
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    snprintf(lockfile, sizeof lockfile, "%s.lock", path);
    pid_t dead = fork();
    ck_assert_int_ge(dead, 0);
    if (dead == 0) _exit(0);
    ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
    snprintf(dead_tmp, sizeof dead_tmp, "%s.tmp.%d.7", path, (int)dead);
    snprintf(live_tmp, sizeof live_tmp, "%s.tmp.%d.7", path, (int)getppid());
    snprintf(other_tmp, sizeof other_tmp, "%s/other.ckpt.tmp.%d.7", dir, (int)dead);
    test_write_file(dead_tmp, "x", 1, 0);
    test_write_file(live_tmp, "x", 1, 0);
    test_write_file(other_tmp, "x", 1, 0);

    mcl_file_lock *lock = NULL, *again = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_file_lock_acquire(path, &lock, &err) == MCL_OK, "%s", err.message);
    struct stat sb;
    ck_assert_msg(stat(dead_tmp, &sb) != 0, "a dead writer's temporary file stayed");
    ck_assert_msg(stat(live_tmp, &sb) == 0, "a live writer's temporary file was removed");
    ck_assert_msg(stat(other_tmp, &sb) == 0, "another file's temporary file was removed");
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "(pid %d)", (int)getpid());
#ifdef F_OFD_SETLK
    mcl_status st = mcl_file_lock_acquire(path, &again, &err);
    ck_assert_error(st, err, MCL_ERR_IO, "is being written by another mnist-cl", pid_text);
    ck_assert_ptr_null(again);
#endif
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t other = fork();
    ck_assert_int_ge(other, 0);
    if (other == 0) {
        mcl_error cerr = {0};
        mcl_file_lock *l = NULL;
        bool refused = mcl_file_lock_acquire(path, &l, &cerr) == MCL_ERR_IO &&
                       strstr(cerr.message, pid_text) != NULL;
        _exit(refused ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(other, &status, 0), other);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "another process was not refused with the holder's pid");
    mcl_file_lock_free(lock);
    ck_assert_msg(stat(lockfile, &sb) != 0, "the lock file stayed after the release");

    /* A holder killed with SIGKILL: its lock file stays, and blocks nobody. */
    pid_t holder = fork();
    ck_assert_int_ge(holder, 0);
    if (holder == 0) {
        mcl_file_lock *l = NULL;
        char byte = mcl_file_lock_acquire(path, &l, NULL) == MCL_OK ? 'y' : 'n';
        if (write(ready[1], &byte, 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char byte = 0;
    ck_assert_int_eq(read(ready[0], &byte, 1), 1);
    ck_assert_int_eq(byte, 'y');
    ck_assert(mcl_file_lock_acquire(path, &lock, &err) == MCL_ERR_IO);
    kill(holder, SIGKILL);
    ck_assert_int_eq(waitpid(holder, NULL, 0), holder);
    ck_assert_msg(stat(lockfile, &sb) == 0, "the killed holder's lock file is gone");
    ck_assert_msg(mcl_file_lock_acquire(path, &lock, &err) == MCL_OK, "%s", err.message);
    mcl_file_lock_free(lock);
    close(ready[0]);
    close(ready[1]);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- optimizer options */

/* A small MLP without dropout (training and inference forwards agree), 3 classes of 8x10. */
static const char *const small_mlp = "flatten\ndense 16 relu\ndense classes softmax\n";

static mcl_model *parse_model(const char *text) {
    mcl_model *m = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_model_parse(text, "test", &m, &err) == MCL_OK, "%s", err.message);
    return m;
}

static mcl_trainer *small_trainer(fixture *f, const mcl_model *m, uint64_t seed) {
    mcl_trainer *t = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_create(f->ctx, m, 8, 10, 3, 40, seed, &t, &err) == MCL_OK, "%s",
                  err.message);
    return t;
}

/* Every new option of the recipe, as the command line would set it. */
static mcl_recipe recipe_with(mcl_optimizer kind) {
    mcl_model *m = parse_model(small_mlp);
    mcl_recipe r = *mcl_model_recipe(m);
    mcl_model_free(m);
    r.batch_size = 40;
    r.epochs = 2;
    r.optimizer = kind;
    return r;
}

typedef struct option_case {
    const char *name;
    mcl_recipe recipe, without; /* `without`: the same run but for the option under test */
} option_case;

static size_t option_cases(option_case *out) {
    size_t n = 0;
    const mcl_recipe adam = recipe_with(MCL_OPTIMIZER_ADAM);
    mcl_recipe sgd = recipe_with(MCL_OPTIMIZER_SGD), rmsprop = recipe_with(MCL_OPTIMIZER_RMSPROP);
    sgd.learning_rate = 0.5f;
    out[n++] = (option_case){"adamw", recipe_with(MCL_OPTIMIZER_ADAMW), adam};
    out[n - 1].recipe.weight_decay = 0.004f;
    out[n++] = (option_case){"rmsprop", rmsprop, adam};
    out[n++] = (option_case){"rmsprop centered momentum", rmsprop, rmsprop};
    out[n - 1].recipe.centered = true;
    out[n - 1].recipe.momentum = 0.5f;
    mcl_recipe momentum = sgd;
    momentum.learning_rate = 0.05f;
    momentum.momentum = 0.9f;
    out[n++] = (option_case){"sgd nesterov", momentum, momentum};
    out[n - 1].recipe.nesterov = true;
    out[n++] = (option_case){"adam weight decay", adam, adam};
    out[n - 1].recipe.weight_decay = 0.1f;
    out[n++] = (option_case){"l2", adam, adam};
    out[n - 1].recipe.l2 = 0.01f;
    out[n++] = (option_case){"label smoothing", adam, adam};
    out[n - 1].recipe.label_smoothing = 0.2f;
    out[n++] = (option_case){"clipnorm", sgd, sgd};
    out[n - 1].recipe.clipnorm = 0.05f;
    out[n++] = (option_case){"clipvalue", sgd, sgd};
    out[n - 1].recipe.clipvalue = 0.002f;
    out[n++] = (option_case){"global_clipnorm", sgd, sgd};
    out[n - 1].recipe.global_clipnorm = 0.05f;
    /* ReduceLROnPlateau fires after epoch 2 (patience 0: every epoch that does not improve by
     * 100); epoch 3 shows it. */
    mcl_recipe three = adam;
    three.epochs = 3;
    out[n++] = (option_case){"plateau", three, three};
    out[n - 1].recipe.plateau.enabled = true;
    out[n - 1].recipe.plateau.patience = 0;
    out[n - 1].recipe.plateau.min_delta = 100.0f;
    return n;
}

static float *train_params(fixture *f, const mcl_model *m, const mcl_recipe *r, uint64_t seed,
                           uint64_t *count) {
    mcl_trainer *t = small_trainer(f, m, seed);
    mcl_fit_options o = {.recipe = *r, .seed = seed};
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_fit(t, f->train, f->val, &o, &err) == MCL_OK, "%s", err.message);
    float *p = params_of(t, count);
    mcl_trainer_free(t);
    return p;
}

/* Same seed, same weights bit for bit, for every new option; and every option changes what
 * training does (the weights differ from the same run without it). */
START_TEST(test_every_option_is_deterministic_and_matters) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_model *m = parse_model(small_mlp);
    option_case cases[16];
    size_t n = option_cases(cases);
    for (size_t i = 0; i < n; i++) {
        uint64_t c1, c2, c3;
        float *a = train_params(&f, m, &cases[i].recipe, 3, &c1);
        float *b = train_params(&f, m, &cases[i].recipe, 3, &c2);
        float *base = train_params(&f, m, &cases[i].without, 3, &c3);
        ck_assert_uint_eq(c1, c2);
        ck_assert_msg(memcmp(a, b, c1 * sizeof *a) == 0, "%s: the same seed gave other weights",
                      cases[i].name);
        ck_assert_msg(memcmp(a, base, c1 * sizeof *a) != 0, "%s changed nothing", cases[i].name);
        free(a), free(b), free(base);
    }
    mcl_model_free(m);
    fixture_close(&f);
}
END_TEST

/* The losses Keras reports: with an L2 regulariser, data loss + l2 * sum(kernel w^2), in
 * evaluation and in training; with label smoothing, -sum_k q_k log p_k with the smoothed
 * targets q; accuracy unchanged. Evaluated against the host from the trainer's own weights and
 * predictions. */
START_TEST(test_reported_loss_includes_l2_and_smoothing) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_model *plain = parse_model(small_mlp);
    char text[256];
    snprintf(text, sizeof text, "recipe l2=0.01\n%s", small_mlp);
    mcl_model *l2 = parse_model(text);
    snprintf(text, sizeof text, "recipe label_smoothing=0.2\n%s", small_mlp);
    mcl_model *smooth = parse_model(text);
    mcl_trainer *tp = small_trainer(&f, plain, 8), *tl = small_trainer(&f, l2, 8),
                *ts = small_trainer(&f, smooth, 8);
    mcl_error err = {0};
    mcl_eval_result ep, el, es;
    ck_assert(mcl_trainer_evaluate(tp, f.val, 40, &ep, &err) == MCL_OK);
    ck_assert(mcl_trainer_evaluate(tl, f.val, 40, &el, &err) == MCL_OK);
    ck_assert(mcl_trainer_evaluate(ts, f.val, 40, &es, &err) == MCL_OK);
    /* The kernels of dense 80x16 and 16x3, in mcl_trainer_read_params's order. */
    uint64_t n = 0;
    float *w = params_of(tl, &n);
    ck_assert_uint_eq(n, 80 * 16 + 16 + 16 * 3 + 3);
    double sum = 0.0;
    for (size_t i = 0; i < 80 * 16; i++) sum += (double)w[i] * w[i];
    for (size_t i = 80 * 16 + 16; i < 80 * 16 + 16 + 48; i++) sum += (double)w[i] * w[i];
    double penalty = 0.01 * sum;
    ck_assert_msg(fabs(el.loss - ep.loss - penalty) < 1e-5 * (1.0 + penalty),
                  "evaluation loss with L2 %.7f, without %.7f: the term is %.7f", el.loss, ep.loss,
                  penalty);
    ck_assert(el.accuracy == ep.accuracy && es.accuracy == ep.accuracy);
    float *probs = predictions(ts, f.val);
    double smoothed = 0.0;
    for (uint32_t i = 0; i < 80; i++) {
        uint8_t label = mcl_dataset_labels(f.val)[i];
        for (uint32_t k = 0; k < 3; k++) {
            double q = (k == label ? 0.8 : 0.0) + 0.2 / 3.0;
            smoothed -= q * log((double)probs[3 * i + k]);
        }
    }
    smoothed /= 80;
    ck_assert_msg(fabs(es.loss - smoothed) < 1e-5, "smoothed evaluation loss %.7f, want %.7f",
                  es.loss, smoothed);
    ck_assert_msg(fabs(es.loss - ep.loss) > 1e-3, "label smoothing left the loss as it was");
    /* Training: at a negligible rate the weights stay put, so the epoch's loss is the
     * evaluation loss of the training set. */
    mcl_eval_result tr_plain, tr_smooth;
    ck_assert(mcl_trainer_evaluate(tp, f.train, 40, &tr_plain, &err) == MCL_OK);
    ck_assert(mcl_trainer_evaluate(ts, f.train, 40, &tr_smooth, &err) == MCL_OK);
    epoch_log log_l2 = {0}, log_smooth = {0};
    mcl_fit_options o = {.recipe = *mcl_model_recipe(l2), .seed = 8, .on_epoch = log_epoch,
                         .user = &log_l2};
    o.recipe.epochs = 1;
    o.recipe.batch_size = 40;
    o.recipe.learning_rate = 1e-9f;
    ck_assert(mcl_trainer_fit(tl, f.train, NULL, &o, &err) == MCL_OK);
    o.recipe = *mcl_model_recipe(smooth);
    o.recipe.epochs = 1;
    o.recipe.batch_size = 40;
    o.recipe.learning_rate = 1e-9f;
    o.user = &log_smooth;
    ck_assert(mcl_trainer_fit(ts, f.train, NULL, &o, &err) == MCL_OK);
    size_t hn = 0;
    const mcl_epoch_result *hl = mcl_trainer_history(tl, &hn);
    ck_assert_uint_eq(hn, 1);
    ck_assert_msg(fabs(hl[0].loss - (tr_plain.loss + penalty)) < 1e-4,
                  "training loss with L2 %.6f, want %.6f + %.6f", hl[0].loss, tr_plain.loss,
                  penalty);
    const mcl_epoch_result *hs = mcl_trainer_history(ts, &hn);
    ck_assert_msg(fabs(hs[0].loss - tr_smooth.loss) < 1e-4,
                  "smoothed training loss %.6f, want %.6f", hs[0].loss, tr_smooth.loss);
    free(w), free(probs);
    mcl_trainer_free(tp);
    mcl_trainer_free(tl);
    mcl_trainer_free(ts);
    mcl_model_free(plain);
    mcl_model_free(l2);
    mcl_model_free(smooth);
    fixture_close(&f);
}
END_TEST

/* ReduceLROnPlateau against Keras's rules, traced by hand: patience 2, cooldown 1, min_delta
 * 0.01, factor 0.5, min_lr 0.3, a constant rate of 1. */
START_TEST(test_plateau_follows_keras) {
    mcl_plateau p = {.enabled = true, .factor = 0.5f, .patience = 2, .min_delta = 0.01f,
                     .cooldown = 1, .min_lr = 0.3f};
    mcl_plateau_state s = mcl_plateau_initial();
    const double loss[10] = {1.0, 0.995, 0.992, 0.985, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6};
    /* e1 best; e2, e3 not below 1.0 - 0.01: wait 1, 2, so 0.5 and a cooldown; e4 the cooldown
     * ends and 0.985 is a new best; e5 best; e6, e7 wait 1, 2: 0.25, held at min_lr 0.3;
     * e8 the cooldown ends, wait 1; e9, e10 wait 2, 3, but the rate is min_lr already. */
    const float want_lr[10] = {1, 1, 0.5f, 0.5f, 0.5f, 0.5f, 0.3f, 0.3f, 0.3f, 0.3f};
    const bool want_reduced[10] = {0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
    float lr = 1.0f;
    for (int e = 0; e < 10; e++) {
        float reduced = 0.0f;
        bool fired = mcl_plateau_epoch_end(&s, &p, loss[e], 1.0, lr, &reduced);
        ck_assert_msg(fired == want_reduced[e], "epoch %d: fired %d", e + 1, fired);
        if (fired) lr = reduced;
        ck_assert_msg(fabsf((float)mcl_plateau_lr(&s, &p, 1.0) - want_lr[e]) < 1e-6f,
                      "epoch %d: rate %g, want %g", e + 1, mcl_plateau_lr(&s, &p, 1.0),
                      (double)want_lr[e]);
        ck_assert(!fired || reduced == want_lr[e]);
    }
    ck_assert_uint_eq(s.wait, 3); /* Keras keeps counting once the rate is at min_lr */
    /* With a schedule: the reduction scales it, min_lr never lifts it above the schedule's own
     * rate, and off means off. */
    ck_assert(fabs(mcl_plateau_lr(&s, &p, 0.2) - 0.2) < 1e-12);
    ck_assert(fabs(mcl_plateau_lr(&s, &p, 4.0) - 1.0) < 1e-12);
    p.enabled = false;
    ck_assert(mcl_plateau_lr(&s, &p, 4.0) == 4.0);
}
END_TEST

static bool stop_at_epoch(const mcl_epoch_result *r, void *user) {
    return r->epoch < *(const uint32_t *)user;
}

/* A trainer rebuilt from a checkpoint of `t` (which is freed). */
static mcl_trainer *through_checkpoint(fixture *f, mcl_trainer *t, const char *name,
                                       mcl_checkpoint **ck) {
    char *path = path_in(f, name);
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_save(t, path, &err) == MCL_OK, "%s", err.message);
    mcl_trainer_free(t);
    ck_assert_msg(mcl_checkpoint_load(path, ck, &err) == MCL_OK, "%s", err.message);
    mcl_trainer *back = NULL;
    ck_assert_msg(mcl_trainer_create_from_checkpoint(f->ctx, *ck, 40, &back, &err) == MCL_OK,
                  "%s", err.message);
    free(path);
    return back;
}

/* 4 epochs in one go vs stopped after 2 and after 3, each time saved, loaded and resumed: the
 * same weights and rates, for RMSprop (centered, momentum: all three state vectors) with L2,
 * clipping, label smoothing, weight decay and ReduceLROnPlateau, whose wait (1 after epoch 2)
 * and reduction (after epoch 3) must both come through. And the options round-trip. */
START_TEST(test_resume_with_optimizer_options_is_bit_identical) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_model *m = parse_model(small_mlp);
    mcl_recipe r = recipe_with(MCL_OPTIMIZER_RMSPROP);
    r.epochs = 4;
    r.centered = true;
    r.momentum = 0.5f;
    r.rho = 0.8f;
    r.l2 = 0.001f;
    r.weight_decay = 0.01f;
    r.label_smoothing = 0.1f;
    r.clipnorm = 0.5f;
    r.plateau = (mcl_plateau){.enabled = true, .factor = 0.5f, .patience = 2,
                              .min_delta = 100.0f, .cooldown = 1, .min_lr = 1e-5f};
    epoch_log whole_log = {0}, part_log = {0};
    mcl_trainer *whole = small_trainer(&f, m, 12);
    mcl_fit_options o = {.recipe = r, .seed = 12, .on_epoch = log_epoch, .user = &whole_log};
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_fit(whole, f.train, f.val, &o, &err) == MCL_OK, "%s", err.message);
    ck_assert(whole_log.lr[2] == r.learning_rate && whole_log.lr[3] < r.learning_rate);

    mcl_trainer *part = small_trainer(&f, m, 12);
    uint32_t stop = 2;
    mcl_fit_options po = {.recipe = r, .seed = 12, .on_epoch = stop_at_epoch, .user = &stop};
    ck_assert(mcl_trainer_fit(part, f.train, f.val, &po, &err) == MCL_OK);
    ck_assert_uint_eq(part->plateau.wait, 1);
    mcl_checkpoint *ck = NULL;
    part = through_checkpoint(&f, part, "opt2.ckpt", &ck);
    /* What went in came out. */
    const mcl_recipe *cr = mcl_checkpoint_recipe(ck);
    ck_assert(cr->optimizer == MCL_OPTIMIZER_RMSPROP && cr->centered && !cr->nesterov);
    ck_assert(cr->rho == r.rho && cr->momentum == r.momentum && cr->l2 == r.l2 &&
              cr->weight_decay == r.weight_decay && cr->label_smoothing == r.label_smoothing &&
              cr->clipnorm == r.clipnorm && cr->clipvalue == 0.0f && cr->global_clipnorm == 0.0f);
    ck_assert(cr->plateau.enabled && cr->plateau.factor == 0.5f && cr->plateau.patience == 2 &&
              cr->plateau.min_delta == 100.0f && cr->plateau.cooldown == 1 &&
              cr->plateau.min_lr == 1e-5f);
    ck_assert(ck->moment1 != NULL && ck->moment2 != NULL && ck->moment3 != NULL);
    ck_assert(ck->plateau.wait == 1 && ck->plateau.scale == 1.0 && isfinite(ck->plateau.best));
    ck_assert(part->plateau.best == ck->plateau.best);
    mcl_checkpoint_free(ck);
    stop = 3;
    po.initial_epoch = 2;
    ck_assert(mcl_trainer_fit(part, f.train, f.val, &po, &err) == MCL_OK);
    ck_assert(part->plateau.scale == 0.5 && part->plateau.cooldown == 1);
    part = through_checkpoint(&f, part, "opt3.ckpt", &ck);
    ck_assert(ck->plateau.scale == 0.5 && ck->plateau.cooldown == 1);
    mcl_fit_options ro = {.recipe = *mcl_checkpoint_recipe(ck),
                          .seed = mcl_checkpoint_seed(ck),
                          .initial_epoch = mcl_checkpoint_epoch(ck),
                          .on_epoch = log_epoch,
                          .user = &part_log};
    mcl_checkpoint_free(ck);
    ck_assert_msg(mcl_trainer_fit(part, f.train, f.val, &ro, &err) == MCL_OK, "%s", err.message);
    uint64_t n1, n2;
    float *a = params_of(whole, &n1), *b = params_of(part, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, n1 * sizeof *a) == 0,
                  "2 + 1 + 1 epochs through checkpoints differ from 4 in one run");
    ck_assert(part_log.epochs == 1 && part_log.lr[0] == whole_log.lr[3]);
    free(a), free(b);
    mcl_trainer_free(whole);
    mcl_trainer_free(part);
    mcl_model_free(m);
    fixture_close(&f);
}
END_TEST

/* A checkpoint written before the OPT2 section existed (here: a new one with the section cut
 * out) still loads, with those options off and RMSprop's rho at Keras's 0.9, and resumes; a
 * damaged OPT2 is refused. */
START_TEST(test_checkpoint_without_opt2_loads) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_trainer *t = new_trainer(&f, 2);
    fit(t, &f, 1, 0, 2);
    char *good = path_in(&f, "new.ckpt"), *old = path_in(&f, "old.ckpt");
    mcl_error err = {0};
    ck_assert(mcl_trainer_save(t, good, &err) == MCL_OK);
    size_t size = 0;
    uint8_t *data = test_read_file(good, &size);
    uint8_t *at = memmem(data, size, "OPT2", 4);
    ck_assert_ptr_nonnull(at);
    uint64_t len = 0;
    for (int i = 0; i < 8; i++)
        len |= (uint64_t)at[4 + i] << (8 * i);
    size_t cut = 12 + (size_t)len, offset = (size_t)(at - data);
    uint8_t *stripped = malloc(size);
    memcpy(stripped, data, offset);
    memcpy(stripped + offset, data + offset + cut, size - offset - cut);
    size_t stripped_size = size - cut;
    uint32_t sections = (uint32_t)stripped[12] | (uint32_t)stripped[13] << 8;
    sections--;
    stripped[12] = (uint8_t)sections;
    stripped[13] = (uint8_t)(sections >> 8);
    reseal(stripped, stripped_size);
    test_write_file(old, stripped, stripped_size, 0);
    mcl_checkpoint *ck = NULL;
    ck_assert_msg(mcl_checkpoint_load(old, &ck, &err) == MCL_OK, "%s", err.message);
    const mcl_recipe *r = mcl_checkpoint_recipe(ck);
    ck_assert(r->weight_decay == 0.0f && r->l2 == 0.0f && r->label_smoothing == 0.0f &&
              r->clipnorm == 0.0f && r->clipvalue == 0.0f && r->global_clipnorm == 0.0f &&
              !r->nesterov && !r->centered && r->rho == 0.9f && !r->plateau.enabled &&
              r->plateau.factor == 0.1f && r->plateau.patience == 10);
    ck_assert(isinf(ck->plateau.best) && ck->plateau.scale == 1.0 && ck->plateau.wait == 0);
    mcl_trainer *back = NULL;
    ck_assert(mcl_trainer_create_from_checkpoint(f.ctx, ck, 40, &back, &err) == MCL_OK);
    mcl_fit_options o = {.recipe = *r, .seed = 2, .initial_epoch = 1};
    o.recipe.epochs = 2;
    ck_assert_msg(mcl_trainer_fit(back, f.train, f.val, &o, &err) == MCL_OK, "%s", err.message);
    mcl_checkpoint_free(ck);
    /* OPT2 with a label smoothing of 2 (the fourth float) is refused, checksum or not. */
    memcpy(stripped, data, size);
    float two = 2.0f;
    memcpy(stripped + offset + 12 + 12, &two, 4);
    reseal(stripped, size);
    expect_rejected(old, stripped, size, "bad optimizer options section");
    free(data), free(stripped), free(good), free(old);
    mcl_trainer_free(back);
    mcl_trainer_free(t);
    fixture_close(&f);
}
END_TEST

/* The library refuses what Keras refuses, and what the chosen optimizer would ignore, before
 * any work: MCL_ERR_USAGE with a message that says which. */
START_TEST(test_fit_refuses_bad_optimizer_options) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_model *m = parse_model(small_mlp);
    mcl_trainer *t = small_trainer(&f, m, 1);
    struct {
        const char *phrase;
        mcl_recipe recipe;
    } cases[9];
    for (int i = 0; i < 9; i++) cases[i].recipe = recipe_with(MCL_OPTIMIZER_ADAM);
    cases[0].phrase = "only one of clipnorm, clipvalue and global_clipnorm";
    cases[0].recipe.clipnorm = cases[0].recipe.clipvalue = 1.0f;
    cases[1].phrase = "Nesterov momentum belongs to SGD, not adam";
    cases[1].recipe.nesterov = true;
    cases[2].phrase = "centered belongs to RMSprop, not adam";
    cases[2].recipe.centered = true;
    cases[3].phrase = "label smoothing must be in [0, 1)";
    cases[3].recipe.label_smoothing = 1.0f;
    cases[4].phrase = "weight decay and the L2 factor must be >= 0";
    cases[4].recipe.weight_decay = -0.1f;
    cases[5].phrase = "weight decay and the L2 factor must be >= 0";
    cases[5].recipe.l2 = NAN;
    cases[6].phrase = "ReduceLROnPlateau needs a factor in (0, 1)";
    cases[6].recipe.plateau.enabled = true;
    cases[6].recipe.plateau.factor = 1.0f;
    cases[7].phrase = "RMSprop's rho must be in [0, 1)";
    cases[7].recipe.optimizer = MCL_OPTIMIZER_RMSPROP;
    cases[7].recipe.rho = 1.0f;
    cases[8].phrase = "gradient clipping limits must be > 0";
    cases[8].recipe.global_clipnorm = -1.0f;
    for (int i = 0; i < 9; i++) {
        mcl_fit_options o = {.recipe = cases[i].recipe, .seed = 1};
        mcl_error err = {0};
        mcl_status st = mcl_trainer_fit(t, f.train, f.val, &o, &err);
        ck_assert_error(st, err, MCL_ERR_USAGE, cases[i].phrase, cases[i].phrase);
    }
    ck_assert_uint_eq(mcl_trainer_epochs_done(t), 0);
    mcl_trainer_free(t);
    mcl_model_free(m);
    fixture_close(&f);
}
END_TEST

static Suite *checkpoint_suite(void) {
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_round_trip_is_exact);
    tcase_add_test(tc, test_validation_split_in_the_library);
    tcase_add_test(tc, test_resume_is_bit_identical);
    tcase_add_test(tc, test_interrupt_mid_epoch_resumes_exactly);
    tcase_add_test(tc, test_damaged_files_are_rejected);
    tcase_add_test(tc, test_data_and_test_records);
    tcase_add_test(tc, test_early_stopping_stops_and_restores);
    tcase_add_test(tc, test_step_decay_and_warmup);
    tcase_add_test(tc, test_history_csv_and_json);
    tcase_add_test(tc, test_writer_lock);
    tcase_add_test(tc, test_every_option_is_deterministic_and_matters);
    tcase_add_test(tc, test_reported_loss_includes_l2_and_smoothing);
    tcase_add_test(tc, test_plateau_follows_keras);
    tcase_add_test(tc, test_resume_with_optimizer_options_is_bit_identical);
    tcase_add_test(tc, test_checkpoint_without_opt2_loads);
    tcase_add_test(tc, test_fit_refuses_bad_optimizer_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return test_run_suite(checkpoint_suite());
}
