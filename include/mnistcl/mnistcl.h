/* mnist-cl public C API: train small networks on IDX image data on any OpenCL device.
 *
 * Conventions used by every function here:
 * - A function that can fail returns mcl_status and takes a trailing `mcl_error *err`
 *   (may be NULL). On failure err->status and a one-line err->message are filled in.
 * - Objects are opaque. `mcl_X_create` / `mcl_X_load` give the caller ownership; the caller
 *   releases it with `mcl_X_free` (which accepts NULL). Getters return borrowed pointers that
 *   live as long as the object they came from.
 * - There is no global mutable state; every object may be used from one thread at a time.
 *
 * Shape letters used in comments: N batch, F features (rows*cols for an image), K classes.
 */
#ifndef MNISTCL_H
#define MNISTCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MCL_VERSION "0.1.0"

typedef enum mcl_status {
    MCL_OK = 0,
    MCL_ERR_USAGE,         /* a caller-supplied argument or option is invalid */
    MCL_ERR_IO,            /* a file could not be opened, read or written */
    MCL_ERR_FORMAT,        /* a file's content is malformed (IDX, model text, ...) */
    MCL_ERR_NO_PLATFORM,   /* no OpenCL platform is installed */
    MCL_ERR_NO_DEVICE,     /* the requested platform/device does not exist */
    MCL_ERR_OPENCL,        /* an OpenCL call failed */
    MCL_ERR_BUILD,         /* an OpenCL program failed to build (log sent to the log callback) */
    MCL_ERR_GEMM,          /* a CLBlast call failed */
    MCL_ERR_HOST_MEMORY,   /* malloc failed */
    MCL_ERR_DEVICE_MEMORY, /* the model/batch does not fit in device memory */
    MCL_ERR_MODEL,         /* the model description is invalid for the data */
    MCL_ERR_DIVERGED,      /* training produced a non-finite loss */
    MCL_ERR_CHECK_FAILED,  /* a device self-check produced wrong numbers */
    MCL_STATUS_COUNT
} mcl_status;

/* A short stable name such as "MCL_ERR_FORMAT". Never NULL. */
const char *mcl_status_str(mcl_status status);

#define MCL_ERROR_MESSAGE_MAX 1024
typedef struct mcl_error {
    mcl_status status;
    char message[MCL_ERROR_MESSAGE_MAX]; /* one line, no trailing newline */
} mcl_error;

typedef enum mcl_log_level { MCL_LOG_DEBUG, MCL_LOG_INFO, MCL_LOG_WARN, MCL_LOG_ERROR } mcl_log_level;
/* Receives multi-line diagnostics such as kernel build logs. */
typedef void (*mcl_log_fn)(mcl_log_level level, const char *message, void *user);

/* ---------------------------------------------------------------- datasets (IDX files) */

typedef struct mcl_dataset mcl_dataset;

typedef enum mcl_split { MCL_SPLIT_TRAIN, MCL_SPLIT_TEST } mcl_split;

/* Loads one split from a directory holding MNIST-style IDX files, raw or gzip-compressed:
 * train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz], or t10k-*. Also accepts the
 * "train-images.idx3-ubyte" spelling. Caller frees *out with mcl_dataset_free. */
mcl_status mcl_dataset_load(const char *dir, mcl_split split, mcl_dataset **out, mcl_error *err);

/* Loads an explicit image file + label file pair (each raw or .gz). */
mcl_status mcl_dataset_load_files(const char *images_path, const char *labels_path,
                                  mcl_dataset **out, mcl_error *err);

/* Copies samples [first, first+count) into a new dataset. */
mcl_status mcl_dataset_subset(const mcl_dataset *src, uint32_t first, uint32_t count,
                              mcl_dataset **out, mcl_error *err);

/* Fails with MCL_ERR_FORMAT naming the label file and the first sample whose label is
 * >= num_classes. */
mcl_status mcl_dataset_check_labels(const mcl_dataset *ds, uint32_t num_classes, mcl_error *err);

uint32_t mcl_dataset_count(const mcl_dataset *ds);
uint32_t mcl_dataset_rows(const mcl_dataset *ds);
uint32_t mcl_dataset_cols(const mcl_dataset *ds);
/* Max label + 1 of the loaded labels file. A subset keeps its source's count, so a small
 * validation slice that lacks the last class does not shrink the model's output layer. */
uint32_t mcl_dataset_num_classes(const mcl_dataset *ds);
const uint8_t *mcl_dataset_pixels(const mcl_dataset *ds); /* [count, rows*cols], 0..255 */
const uint8_t *mcl_dataset_labels(const mcl_dataset *ds); /* [count] */
const char *mcl_dataset_images_path(const mcl_dataset *ds);
const char *mcl_dataset_labels_path(const mcl_dataset *ds);
void mcl_dataset_free(mcl_dataset *ds);

/* ---------------------------------------------------------------- devices */

typedef enum mcl_device_type {
    MCL_DEVICE_CPU,
    MCL_DEVICE_GPU,
    MCL_DEVICE_ACCELERATOR,
    MCL_DEVICE_OTHER
} mcl_device_type;

const char *mcl_device_type_str(mcl_device_type type); /* "CPU", "GPU", ... */

typedef struct mcl_device_info {
    uint32_t platform_index, device_index;
    char platform_name[128];
    char platform_version[128];
    char name[128];
    char vendor[128];
    char driver_version[64];
    char device_version[64];   /* "OpenCL 3.0 ..." */
    char opencl_c_version[64]; /* "OpenCL C 1.2 ..." */
    mcl_device_type type;
    uint32_t compute_units;
    uint32_t clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    bool fp16, fp64;
} mcl_device_info;

/* Lists every device of every platform. *out is a malloc'd array the caller frees with
 * mcl_device_list_free. Fails with MCL_ERR_NO_PLATFORM when no OpenCL platform is installed. */
mcl_status mcl_device_list(mcl_device_info **out, size_t *count, mcl_error *err);
void mcl_device_list_free(mcl_device_info *list);

/* ---------------------------------------------------------------- context */

typedef struct mcl_context mcl_context;

typedef struct mcl_context_options {
    int platform;   /* platform index, or -1 */
    int device;     /* device index within the platform, or -1 */
    mcl_log_fn log; /* NULL: diagnostics go to stderr */
    void *log_user;
} mcl_context_options;

/* Default choice (platform and device both -1): the first GPU of any platform, else the first
 * device. With only a platform given: its first GPU, else its first device. Compiles all of
 * mnist-cl's kernels for the device. */
mcl_status mcl_context_create(const mcl_context_options *options, mcl_context **out,
                              mcl_error *err);
const mcl_device_info *mcl_context_device(const mcl_context *ctx);
void mcl_context_free(mcl_context *ctx);

/* Runs a small SGEMM through CLBlast and one of mnist-cl's own kernels on the context's device
 * and compares them with a plain C reference. MCL_ERR_CHECK_FAILED names what disagreed. */
mcl_status mcl_context_self_check(mcl_context *ctx, mcl_error *err);

/* ---------------------------------------------------------------- models */

typedef enum mcl_optimizer { MCL_OPTIMIZER_ADAM, MCL_OPTIMIZER_SGD } mcl_optimizer;

/* Learning rate over the steps of one fit: constant, or Keras CosineDecay to zero at the last
 * step (lr * (1 + cos(pi * step / steps)) / 2). */
typedef enum mcl_lr_schedule { MCL_LR_CONSTANT, MCL_LR_COSINE } mcl_lr_schedule;

/* A training recipe: the defaults a model ships with, overridable by the caller. */
/* On-device data augmentation (Keras ImageDataGenerator semantics): each training image gets
 * its own random affine transform, drawn from the seed, the epoch and the image's index, and
 * is resampled bilinearly with zero fill outside. Validation and test images are never
 * augmented. */
typedef struct mcl_augment {
    bool enabled;
    float rotation; /* degrees: the angle is uniform in [-rotation, rotation] */
    float shift;    /* fraction of the width (height): shifts uniform in [-shift, shift] */
    float shear;    /* degrees: the shear angle is uniform in [-shear, shear] */
    float zoom;     /* each axis is scaled by a factor uniform in [1 - zoom, 1 + zoom] */
} mcl_augment;

typedef struct mcl_recipe {
    uint32_t epochs;
    uint32_t batch_size;
    mcl_optimizer optimizer;
    float learning_rate;
    mcl_lr_schedule lr_schedule;
    float momentum;         /* SGD only */
    float validation_split; /* the last fraction of the training set, as Keras does */
    mcl_augment augment;
} mcl_recipe;

typedef struct mcl_model mcl_model;

/* Parses a model description (one layer per line; see README "Model files"). `source_name`
 * is used in error messages ("file:line: ..."). Caller frees with mcl_model_free. */
mcl_status mcl_model_parse(const char *text, const char *source_name, mcl_model **out,
                           mcl_error *err);
/* Reads and parses a model file. */
mcl_status mcl_model_load_file(const char *path, mcl_model **out, mcl_error *err);
/* A built-in model by name ("mlp", "mlp50", ...). */
mcl_status mcl_model_builtin(const char *name, mcl_model **out, mcl_error *err);
size_t mcl_model_builtin_count(void);
const char *mcl_model_builtin_name(size_t index);
const char *mcl_model_builtin_description(size_t index);
const char *mcl_model_builtin_source(size_t index); /* the model text */

const char *mcl_model_name(const mcl_model *model);
const mcl_recipe *mcl_model_recipe(const mcl_model *model);
/* Writes a Keras-style summary (layer, output shape, params) for the given input. */
mcl_status mcl_model_summary(const mcl_model *model, uint32_t rows, uint32_t cols,
                             uint32_t num_classes, char *buf, size_t buf_size, mcl_error *err);
void mcl_model_free(mcl_model *model);

/* ---------------------------------------------------------------- training */

typedef struct mcl_trainer mcl_trainer;

typedef struct mcl_progress {
    uint32_t epoch, epochs; /* 1-based epoch */
    uint32_t step, steps;   /* steps of this epoch completed on the device so far */
    double seconds;         /* since the epoch started */
    double loss, accuracy;  /* running means over completed steps */
} mcl_progress;

typedef struct mcl_epoch_result {
    uint32_t epoch, epochs;
    uint32_t steps;
    double seconds;       /* the whole epoch, validation included (as Keras prints it) */
    double train_seconds; /* the training steps alone, device work included */
    double loss, accuracy;
    bool has_validation;
    double val_loss, val_accuracy;
} mcl_epoch_result;

/* Return false from a callback to stop training after the current step (the fit call then
 * returns MCL_OK with the epochs done so far). */
typedef bool (*mcl_progress_fn)(const mcl_progress *progress, void *user);
typedef bool (*mcl_epoch_fn)(const mcl_epoch_result *result, void *user);

typedef struct mcl_fit_options {
    mcl_recipe recipe;
    uint64_t seed;
    mcl_progress_fn on_progress;   /* may be NULL */
    double progress_interval_s;    /* how often on_progress may fire (it reads the device) */
    mcl_epoch_fn on_epoch;         /* may be NULL */
    void *user;
} mcl_fit_options;

typedef struct mcl_eval_result {
    uint32_t count;
    double loss, accuracy;
} mcl_eval_result;

/* Builds the model on the context's device for inputs of rows x cols and num_classes outputs,
 * with room for batches of up to max_batch samples. Weights are initialised from `seed`
 * (Glorot uniform, zero biases). The trainer borrows ctx; ctx must outlive it. */
mcl_status mcl_trainer_create(mcl_context *ctx, const mcl_model *model, uint32_t rows,
                              uint32_t cols, uint32_t num_classes, uint32_t max_batch,
                              uint64_t seed, mcl_trainer **out, mcl_error *err);

/* Trains on `train`, validating on `val` (may be NULL) after every epoch. Uploads both datasets
 * to the device once. Reproducible for a given seed on a given device. A later call continues
 * from the current weights and optimizer state (a different optimizer starts with fresh state). */
mcl_status mcl_trainer_fit(mcl_trainer *trainer, const mcl_dataset *train, const mcl_dataset *val,
                           const mcl_fit_options *options, mcl_error *err);

/* Inference-mode loss and accuracy over a whole dataset. */
mcl_status mcl_trainer_evaluate(mcl_trainer *trainer, const mcl_dataset *data,
                                uint32_t batch_size, mcl_eval_result *out, mcl_error *err);

/* Total trainable parameters and the floating-point operations of one training step per sample
 * (forward + backward), used for GFLOP/s reports. */
uint64_t mcl_trainer_param_count(const mcl_trainer *trainer);
double mcl_trainer_train_flops_per_sample(const mcl_trainer *trainer);

/* Copies all parameters (in model order, each layer's weights then biases) into `dst`, which
 * holds mcl_trainer_param_count() floats. Blocks until the device is idle. */
mcl_status mcl_trainer_read_params(mcl_trainer *trainer, float *dst, mcl_error *err);

void mcl_trainer_free(mcl_trainer *trainer);

#ifdef __cplusplus
}
#endif
#endif
