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

#include <signal.h> /* sig_atomic_t */
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

typedef enum mcl_log_level {
    MCL_LOG_DEBUG,
    MCL_LOG_INFO,
    MCL_LOG_WARN,
    MCL_LOG_ERROR
} mcl_log_level;
/* Receives multi-line diagnostics such as kernel build logs. */
typedef void (*mcl_log_fn)(mcl_log_level level, const char *message, void *user);

/* ---------------------------------------------------------------- datasets (IDX files) */

typedef struct mcl_dataset mcl_dataset;

typedef enum mcl_split { MCL_SPLIT_TRAIN, MCL_SPLIT_TEST } mcl_split;

/* Loads one split from a directory holding MNIST-style IDX files, raw or gzip-compressed:
 * train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz], or t10k-*. Also accepts the
 * "train-images.idx3-ubyte" spelling, and the other sources of mcl_dataset_load_with (an .npz
 * archive, an image folder) with its default options. Caller frees *out with mcl_dataset_free. */
mcl_status mcl_dataset_load(const char *dir, mcl_split split, mcl_dataset **out, mcl_error *err);

/* Where samples come from, and options for the sources that need them. mcl_dataset_load_with
 * takes PATH as one of:
 * - a folder of IDX files (as mcl_dataset_load);
 * - a NumPy .npz archive (a file ending in .npz, or any zip file), or a folder holding
 *   mnist.npz and no IDX files: Keras's mnist.npz (~/.keras/datasets/mnist.npz) or anything
 *   np.savez / np.savez_compressed wrote with x_train, y_train, x_test, y_test (images uint8
 *   [N, H, W] or [N, H, W, 1], integer labels 0..255); the test split is x_test / y_test;
 * - a folder of images with one subfolder per class (Keras image_dataset_from_directory,
 *   labels="inferred"): class names are the subfolder names sorted by strcmp (Python's sorted,
 *   as Keras does), label = index; .png, .jpg, .jpeg, .bmp and .gif files (any case) are read,
 *   also in nested folders, others are skipped, and names starting with '.' are ignored. With
 *   subfolders train/ and test/ (or validation/, or val/), those are the two splits and must
 *   have the same classes; otherwise the files are put in a fixed pseudo-random order (the
 *   same for every run) and the last test_split of them is the test split. Images become grey
 *   (luma; alpha over white) and are resized to rows x cols with TensorFlow's bilinear resize
 *   (mcl_image_resize_bilinear), rounded to 0..255. Memory: count * rows * cols bytes and the
 *   file list; one image file is decoded at a time. */
typedef struct mcl_data_options {
    float test_split;    /* image folders without a test/ folder; 0 means 0.2 */
    uint32_t rows, cols; /* image folders: the size images are resized to; 0 means 28x28 */
} mcl_data_options;
mcl_status mcl_dataset_load_with(const char *path, mcl_split split, const mcl_data_options *options,
                                 mcl_dataset **out, mcl_error *err);

typedef enum mcl_data_format { MCL_DATA_IDX, MCL_DATA_NPZ, MCL_DATA_FOLDER } mcl_data_format;
/* What a dataset was read from, for a summary such as Keras's "Found 1200 files belonging to 3
 * classes." */
typedef struct mcl_dataset_source {
    mcl_data_format format;
    /* MCL_DATA_FOLDER: the image files found in the folder the split was taken from (all of
     * them, both splits', when the test split is held out of one folder), the other files
     * skipped there, and whether the split is such a held-out share. */
    uint32_t files_found, files_skipped;
    bool held_out;
    const char *root; /* that folder (or the .npz file, or the IDX folder); borrowed */
} mcl_dataset_source;
void mcl_dataset_source_info(const mcl_dataset *ds, mcl_dataset_source *out);

/* How picture files become samples like a dataset's (and a model's inputs, in predict):
 * MNIST's preparation (mcl_image_load_mnist: IDX and .npz data, whose images were already made
 * that way) or a plain resize (mcl_image_load_resized: image folders). */
typedef enum mcl_image_prep { MCL_PREP_MNIST = 0, MCL_PREP_RESIZE = 1 } mcl_image_prep;
mcl_image_prep mcl_dataset_image_prep(const mcl_dataset *ds);
/* The name of class k: an image folder's subfolder name; NULL when the classes have no names
 * (IDX and .npz data, whose labels are the classes' numbers) or k is out of range. */
const char *mcl_dataset_class_name(const mcl_dataset *ds, uint32_t k);

/* Loads an explicit image file + label file pair (each raw or .gz). */
mcl_status mcl_dataset_load_files(const char *images_path, const char *labels_path,
                                  mcl_dataset **out, mcl_error *err);

/* Copies samples [first, first+count) into a new dataset. */
mcl_status mcl_dataset_subset(const mcl_dataset *src, uint32_t first, uint32_t count,
                              mcl_dataset **out, mcl_error *err);

/* The validation split (Keras's validation_split, which mcl_trainer_fit applies when it is
 * given no validation set): of `images` samples, the first *train_images =
 * int(images * (1 - split)) train and the rest validate. MCL_ERR_USAGE when split is outside
 * [0, 1) or leaves no training image. */
mcl_status mcl_validation_split_count(uint32_t images, float split, uint32_t *train_images,
                                      mcl_error *err);

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
/* With declared == 0: fails when a class in 0..max label has no sample (a corrupt label, such
 * as 200 in an MNIST file, would otherwise build a 201-class model), naming the file, the first
 * label past the gap and the empty classes. With declared > 0 (gaps intended): every label
 * must be below it. */
mcl_status mcl_dataset_check_classes(const mcl_dataset *ds, uint32_t declared, mcl_error *err);
void mcl_dataset_free(mcl_dataset *ds);
/* Image `index` (0-based) of an IDX images file (raw or .gz) as rows*cols floats in 0..1 (the
 * same scaling training uses); fails unless the file's images are rows x cols. */
mcl_status mcl_idx_image(const char *path, uint32_t index, uint32_t rows, uint32_t cols, float *dst,
                         mcl_error *err);
/* Label `index` (0-based) of an IDX labels file (raw or .gz). */
mcl_status mcl_idx_label(const char *path, uint32_t index, uint32_t *label, mcl_error *err);

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
    size_t max_work_item_sizes[3];
    /* CL_DEVICE_NATIVE/PREFERRED_VECTOR_WIDTH_FLOAT: 16 on AVX-512 CPUs (PoCL), 8 with AVX2, 1
     * on GPUs and on drivers that vectorise across work-items. Decides the kernels' shapes. */
    uint32_t native_vector_width_float, preferred_vector_width_float;
    bool fp16, fp64;
} mcl_device_info;

/* Lists every device of every platform. *out is a malloc'd array the caller frees with
 * mcl_device_list_free. Fails with MCL_ERR_NO_PLATFORM when no OpenCL platform is installed. */
mcl_status mcl_device_list(mcl_device_info **out, size_t *count, mcl_error *err);
void mcl_device_list_free(mcl_device_info *list);

/* ---------------------------------------------------------------- context */

typedef struct mcl_context mcl_context;

/* Who multiplies the matrices of dense layers and of convolutions that go through im2col.
 * AUTO: mnist-cl's register-tiled kernels (cl/gemm.cl) on CPU devices, where they run 2-3x
 * faster than CLBlast's on PoCL, and CLBlast everywhere else. The environment variable
 * MNIST_CL_GEMM=clblast|tiled overrides AUTO. CLBlast also does what the tiled kernels do not
 * (both operands transposed). */
typedef enum mcl_gemm_choice {
    MCL_GEMM_AUTO = 0,
    MCL_GEMM_CLBLAST,
    MCL_GEMM_TILED
} mcl_gemm_choice;

/* Limits below the device's own, so that a test can check what a smaller device gets: the
 * kernels' launches and local memory then stay within them, and the kernel shapes follow the
 * vector width. 0 keeps the device's value. The environment variable MNIST_CL_DEVICE_CAPS
 * ("work_group=64,local_mem=16384,vector_width=8", and "class=cpu16|cpu8|cpu4|simt") sets the
 * same for a whole process. */
typedef struct mcl_device_caps {
    size_t max_work_group_size; /* also caps every dimension's work-item size */
    uint64_t local_mem_bytes;
    uint32_t vector_width; /* the native float vector width the shapes are chosen for */
    /* The kernel shapes of another device class, whatever the device's type: 1 the 16-wide CPU
     * class, 2 the 8-wide, 3 the 4-wide, 4 SIMT; 0 the device's own (a test can so run the CPU
     * kernels on a simulator that presents itself as a GPU). */
    uint32_t kernel_class;
} mcl_device_caps;

typedef struct mcl_context_options {
    int platform;   /* platform index, or -1 */
    int device;     /* device index within the platform, or -1 */
    mcl_log_fn log; /* NULL: diagnostics go to stderr */
    void *log_user;
    /* Create the queue with OpenCL event profiling, so that trainers on this context record
     * where training time goes (mcl_trainer_profile). Costs a marker per op and step. */
    bool profile;
    mcl_gemm_choice gemm;
    mcl_device_caps caps;
} mcl_context_options;

/* Default choice (platform and device both -1): the platform and device that the environment
 * variables MNIST_CL_PLATFORM and MNIST_CL_DEVICE name, if set, else the first GPU of any
 * platform, else the first device. With only a platform given: its first GPU, else its first
 * device. Compiles all of mnist-cl's kernels for the device (once: they are cached) and checks
 * the GEMM provider against a CPU reference (mcl_context_verify_gemm). */
mcl_status mcl_context_create(const mcl_context_options *options, mcl_context **out,
                              mcl_error *err);
const mcl_device_info *mcl_context_device(const mcl_context *ctx);
/* The GEMM provider the context uses: "CLBlast" or "mnist-cl tiled kernels". */
const char *mcl_context_gemm_name(const mcl_context *ctx);
/* One line on the kernels the context built: the device class they were shaped for and the
 * tiles and vector widths ("16-wide vector CPU (AVX-512 class): GEMM tile 8x32 ..."). */
void mcl_context_describe_kernels(const mcl_context *ctx, char *out, size_t size);
void mcl_context_free(mcl_context *ctx);

/* Runs a small SGEMM (by the context's GEMM provider) and one of mnist-cl's own kernels on the
 * device and compares them with a plain C reference. MCL_ERR_CHECK_FAILED names what disagreed. */
mcl_status mcl_context_self_check(mcl_context *ctx, mcl_error *err);

/* Device memory held by mnist-cl's buffers on this context: now, and the most at once since
 * the context was created or the peak was last reset (CLBlast's own scratch is not counted). */
void mcl_context_device_memory(const mcl_context *ctx, uint64_t *current, uint64_t *peak);
void mcl_context_reset_memory_peak(mcl_context *ctx);

/* GEMM tuning: CLBlast's direct-GEMM parameters searched on this device (mnist-cl tune). Each
 * candidate is timed on the default MLP's training GEMMs and its results checked against a CPU
 * reference; a wrong one is rejected whatever its speed. */
typedef struct mcl_tune_candidate {
    char params[160]; /* "WGD=64 MDIMCD=16 ..." */
    double gflops;    /* on the workload */
    double max_error; /* worst error against the reference, scaled: <= 1 passes */
    bool ran;         /* false: CLBlast could not build or run it (then also not correct) */
    bool correct;
} mcl_tune_candidate;
#define MCL_TUNE_MAX_CANDIDATES 32
typedef struct mcl_tune_result {
    double default_gflops; /* CLBlast's own parameters */
    double best_gflops;
    /* mnist-cl's tiled kernels on the same workload, where the context multiplies with them
     * (CPU devices); else 0. For comparison: tune changes CLBlast only. */
    double tiled_gflops;
    int best; /* index of the kept candidate; -1 when none beat the default by 5% */
    uint32_t count;
    mcl_tune_candidate candidates[MCL_TUNE_MAX_CANDIDATES];
    bool stored;  /* the best was written to path, for every later context on the device */
    bool removed; /* nothing was kept, and an earlier tuning at path was removed */
    char path[4096];
} mcl_tune_result;
/* Called with done = 0 for CLBlast's own parameters, then once per candidate. */
typedef void (*mcl_tune_progress_fn)(const mcl_tune_candidate *candidate, uint32_t done,
                                     uint32_t total, void *user);
/* Tries up to max_configs candidates (each costs a kernel compilation: seconds on PoCL). The
 * context must not already apply a stored tuning (create it with MNIST_CL_TUNING=0). Afterwards
 * CLBlast in this process keeps the last candidate tried: use a new process for real work. */
mcl_status mcl_gemm_tune(mcl_context *ctx, uint32_t max_configs, mcl_tune_progress_fn progress,
                         void *user, mcl_tune_result *out, mcl_error *err);
/* Whether the context applied a stored GEMM tuning when it was created. */
bool mcl_context_gemm_tuned(const mcl_context *ctx);

/* Tuning mnist-cl's own kernels (mnist-cl tune): the GEMM and convolution tiles of the
 * register-tiled kernels that CPU devices run, searched around the device class's defaults.
 * Each candidate is built in a context of its own, timed on the default MLP's training GEMMs
 * (GEMM) or the tutorial CNN's convolutions at batch 64, forward and both gradients (conv), and
 * checked against the CPU references; a wrong one is rejected whatever its speed. The fastest
 * correct tiles of each family, where they beat the defaults by 3%, are stored for every later
 * context on this device, driver and mnist-cl version (MNIST_CL_TUNING=0 ignores them). */
typedef struct mcl_kernel_candidate {
    char family[8]; /* "gemm" or "conv" */
    char shape[96]; /* "8x32 (8 rows x 2 float16)" */
    double gflops;  /* on the family's workload */
    double max_error;
    bool ran, correct;
} mcl_kernel_candidate;
#define MCL_KERNEL_TUNE_MAX 48
typedef struct mcl_kernel_tune_result {
    bool applicable;          /* false: the device takes no tiled kernels (GPUs: SIMT class) */
    char default_shapes[512]; /* the class's shapes, described */
    double gemm_default_gflops, conv_default_gflops;
    int gemm_best, conv_best; /* the kept candidate of each family; -1: the default stays */
    uint32_t count;
    mcl_kernel_candidate candidates[MCL_KERNEL_TUNE_MAX];
    bool stored;  /* the winners were written to path */
    bool removed; /* nothing won, and an earlier tuning at path was removed */
    char path[4096];
} mcl_kernel_tune_result;
/* Called with done = 0 for each family's defaults, then once per candidate. */
typedef void (*mcl_kernel_tune_progress_fn)(const mcl_kernel_candidate *candidate, uint32_t done,
                                            uint32_t total, void *user);
/* Tries up to max_configs candidates per family on the device that `options` chooses (each
 * compiles mnist-cl's kernels: seconds on PoCL). */
mcl_status mcl_kernels_tune(const mcl_context_options *options, uint32_t max_configs,
                            mcl_kernel_tune_progress_fn progress, void *user,
                            mcl_kernel_tune_result *out, mcl_error *err);

/* The device's peak multiply-add rate in GFLOP/s (2 flops per FMA), measured by a probe kernel
 * of independent vector FMA chains sized to the device (cl/probe.cl): the ceiling that bench
 * measures the SGEMM and the models against. */
mcl_status mcl_context_fma_peak_gflops(mcl_context *ctx, double *gflops, mcl_error *err);

/* The device's SGEMM throughput through the context's GEMM provider (mcl_context_gemm_name):
 * C = A*B on n x n matrices, one untimed call
 * (kernel compilation) then `repeats` timed ones; *gflops counts 2n^3 per call. */
mcl_status mcl_context_sgemm_gflops(mcl_context *ctx, uint32_t n, uint32_t repeats, double *gflops,
                                    mcl_error *err);

/* ---------------------------------------------------------------- models */

/* Keras's optimizers, with Keras's defaults (README "train"): Adam, SGD (with momentum, or
 * Nesterov momentum), AdamW (Adam with decoupled weight decay 0.004) and RMSprop. */
typedef enum mcl_optimizer {
    MCL_OPTIMIZER_ADAM,
    MCL_OPTIMIZER_SGD,
    MCL_OPTIMIZER_ADAMW,
    MCL_OPTIMIZER_RMSPROP,
    MCL_OPTIMIZER_COUNT
} mcl_optimizer;

/* The optimizer's name as the command line and model files spell it ("adamw"); "?" for a
 * value outside the enum. Never NULL. */
const char *mcl_optimizer_str(mcl_optimizer optimizer);

/* Learning rate over the steps of one fit: constant, or Keras CosineDecay to zero at the last
 * step (lr * (1 + cos(pi * step / steps)) / 2). */
/* Learning-rate schedules over the whole run, per step: constant; cosine decay to 0 (Keras
 * CosineDecay); step decay (multiplied by lr_decay_rate every lr_decay_epochs epochs). Any of
 * them may start with warmup_epochs of linear warm-up from 0. */
typedef enum mcl_lr_schedule { MCL_LR_CONSTANT, MCL_LR_COSINE, MCL_LR_STEP } mcl_lr_schedule;

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

/* Keras's ReduceLROnPlateau callback (its defaults in the comments): after `patience` epochs
 * whose monitored loss (val_loss, or the training loss without a validation set) is not below
 * the best so far by more than min_delta, the learning rate is multiplied by `factor`, then
 * `cooldown` epochs pass before counting again. It multiplies whatever the schedule gives (with
 * a constant schedule this is Keras exactly), and never takes the rate below min_lr (nor lifts
 * it above the schedule's). */
typedef struct mcl_plateau {
    bool enabled;
    float factor;      /* 0.1, in (0, 1) */
    uint32_t patience; /* 10 */
    float min_delta;   /* 1e-4 */
    uint32_t cooldown; /* 0 */
    float min_lr;      /* 0 */
} mcl_plateau;

typedef struct mcl_recipe {
    uint32_t epochs;
    uint32_t batch_size;
    mcl_optimizer optimizer;
    float learning_rate;
    mcl_lr_schedule lr_schedule;
    float lr_decay_rate; /* step decay: factor per lr_decay_epochs (e.g. 0.5) */
    uint32_t lr_decay_epochs;
    uint32_t warmup_epochs; /* linear warm-up before the schedule; 0 = none */
    float momentum;         /* SGD and RMSprop */
    float validation_split; /* the last fraction of the training set, as Keras does */
    mcl_augment augment;
    /* Keras optimizer arguments and regularisation (0 / false: off; README "train"). */
    float weight_decay; /* decoupled, every optimizer: w -= lr * weight_decay * w each step,
                           before the update, on every trainable variable (AdamW: 0.004) */
    float l2;           /* kernel_regularizer=L2(l2) on every Dense/Conv2D kernel: l2 * sum(w^2)
                           joins the loss (and the reported losses), 2 l2 w the gradient */
    float rho;          /* RMSprop's discount of the squared-gradient average (0.9) */
    bool nesterov;      /* SGD: Nesterov momentum */
    bool centered;      /* RMSprop: divide by the variance estimate, not the raw second moment */
    float label_smoothing; /* CategoricalCrossentropy(label_smoothing): targets y (1 - F) + F/K */
    /* Gradient clipping before the update, at most one of them (> 0: on): each variable's
     * gradient to this L2 norm; each element to [-clipvalue, clipvalue]; all gradients
     * together to this norm. */
    float clipnorm, clipvalue, global_clipnorm;
    mcl_plateau plateau;
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
    uint32_t resumed_at;  /* steps of this epoch taken before this fit (a mid-epoch resume) */
    double seconds;       /* the whole epoch, validation included (as Keras prints it) */
    double train_seconds; /* the training steps alone, device work included */
    double loss, accuracy;
    bool has_validation;
    double val_loss, val_accuracy;
    double learning_rate; /* at the end of the epoch */
    /* ReduceLROnPlateau fired at the end of this epoch: the rate the next step starts from. */
    bool lr_reduced;
    double reduced_learning_rate;
    bool improved;        /* validation loss is the best so far (Keras ModelCheckpoint's test) */
    /* The held-out set of mcl_fit_options.monitor after this epoch (inference mode), and
     * whether its accuracy reached mcl_fit_options.target_accuracy (the fit then stops). */
    bool has_monitor;
    double monitor_loss, monitor_accuracy;
    bool reached_target;
} mcl_epoch_result;

/* Return false from a callback to stop training after the current step. The fit call then
 * returns MCL_OK; if it stopped inside an epoch the trainer remembers where
 * (mcl_trainer_epoch_step), and a later fit or a checkpoint continues from that step. */
typedef bool (*mcl_progress_fn)(const mcl_progress *progress, void *user);
typedef bool (*mcl_epoch_fn)(const mcl_epoch_result *result, void *user);

typedef struct mcl_fit_options {
    mcl_recipe recipe;
    uint64_t seed;
    mcl_progress_fn on_progress; /* may be NULL */
    double progress_interval_s;  /* how often on_progress may fire (it reads the device) */
    mcl_epoch_fn on_epoch;       /* may be NULL */
    void *user;
    /* Keras's initial_epoch: epochs already done (a resumed run trains initial_epoch+1 ..
     * recipe.epochs, with the learning-rate schedule where it left off). */
    uint32_t initial_epoch;
    /* Early stopping on validation loss (Keras EarlyStopping(restore_best_weights=True)): stop
     * after this many epochs without improvement and restore the best weights. 0 = off. */
    uint32_t early_stopping_patience;
    /* If not NULL, polled after every step (no device synchronisation): non-zero stops the fit
     * as a false return from on_progress does. Meant for a flag set by a SIGINT handler. */
    const volatile sig_atomic_t *interrupt;
    /* A held-out set (the test set, for time-to-accuracy runs) evaluated after every epoch;
     * with target_accuracy > 0 the fit stops after the first epoch whose accuracy on it is at
     * least that. NULL: none. */
    const mcl_dataset *monitor;
    double target_accuracy;
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

/* Trains on `train`, validating on `val` after every epoch. The trainer takes the class names
 * and image preparation of `train` (mcl_dataset_class_name), which checkpoints then keep. With val
 * NULL and recipe.validation_split > 0 the last fraction of `train` is the validation set and is
 * not trained on (mcl_validation_split_count), as Keras's validation_split; a given val is used as
 * it is. recipe.batch_size must be 1..max_batch of mcl_trainer_create. Uploads the datasets to
 * the device once. Reproducible for a given seed on a given device. A later call continues
 * from the current weights, optimizer state and ReduceLROnPlateau state (a different optimizer,
 * or RMSprop with momentum or centering switched, starts with fresh optimizer state). */
mcl_status mcl_trainer_fit(mcl_trainer *trainer, const mcl_dataset *train, const mcl_dataset *val,
                           const mcl_fit_options *options, mcl_error *err);

/* Inference-mode loss and accuracy over a whole dataset, in batches of batch_size, which must be
 * 1..max_batch of mcl_trainer_create (MCL_ERR_USAGE otherwise). */
mcl_status mcl_trainer_evaluate(mcl_trainer *trainer, const mcl_dataset *data, uint32_t batch_size,
                                mcl_eval_result *out, mcl_error *err);
/* The same in one pass, also writing every sample's class probabilities to probs, a caller's
 * buffer of mcl_dataset_count(data) * classes floats (for a confusion matrix); NULL skips them. */
mcl_status mcl_trainer_evaluate_probs(mcl_trainer *trainer, const mcl_dataset *data,
                                      uint32_t batch_size, mcl_eval_result *out, float *probs,
                                      mcl_error *err);

/* The steps of one epoch over `images` samples in batches of batch_size: the last batch may be
 * partial (ceil(images / batch_size); 0 for a batch size of 0). The rule the trainer runs by. */
uint32_t mcl_steps_per_epoch(uint32_t images, uint32_t batch_size);

/* Total trainable parameters and the floating-point operations of one training step per sample
 * (forward + backward), used for GFLOP/s reports. */
uint64_t mcl_trainer_param_count(const mcl_trainer *trainer);
/* How much of BatchNorm's moving statistics is still their initial value (mean 0, variance 1)
 * after the steps trained so far: momentum^steps for the slowest layer (0 without BatchNorm).
 * Evaluation uses those statistics: above ~0.1 they do not yet describe the data, and a short
 * run can score near chance in evaluation while training looks fine. *steps and *momentum say
 * why. */
double mcl_trainer_bn_initial_share(const mcl_trainer *trainer, uint32_t *steps, float *momentum);
/* The non-trainable values (BatchNorm's moving statistics): Keras's "Non-trainable params". */
uint64_t mcl_trainer_state_count(const mcl_trainer *trainer);
double mcl_trainer_train_flops_per_sample(const mcl_trainer *trainer);

/* Copies all parameters (in model order, each layer's weights then biases) into `dst`, which
 * holds mcl_trainer_param_count() floats. Blocks until the device is idle. */
mcl_status mcl_trainer_read_params(mcl_trainer *trainer, float *dst, mcl_error *err);

void mcl_trainer_free(mcl_trainer *trainer);

/* ---------------------------------------------------------------- checkpoints and export */

/* A trained model on the host: its description, input shape, weights, BatchNorm state and, for
 * resuming, the optimizer and trainer state. Read from / written to the checkpoint format
 * (versioned, little-endian, named tensors, CRC-32 over the whole file). */
typedef struct mcl_checkpoint mcl_checkpoint;

/* Reads and fully validates a checkpoint (magic, version, sizes, checksum) before returning it.
 * A truncated, corrupted or foreign file fails with MCL_ERR_FORMAT naming the file and the
 * problem. Caller frees with mcl_checkpoint_free. */
mcl_status mcl_checkpoint_load(const char *path, mcl_checkpoint **out, mcl_error *err);
/* The model inside (owned by the checkpoint) and the image size / classes it was trained on. */
const mcl_model *mcl_checkpoint_model(const mcl_checkpoint *ck);
void mcl_checkpoint_input(const mcl_checkpoint *ck, uint32_t *rows, uint32_t *cols,
                          uint32_t *classes);
/* Epochs completed when it was written, the recipe and seed of the run that wrote it. */
uint32_t mcl_checkpoint_epoch(const mcl_checkpoint *ck);
const mcl_recipe *mcl_checkpoint_recipe(const mcl_checkpoint *ck);
uint64_t mcl_checkpoint_seed(const mcl_checkpoint *ck);
/* The class names of the data it was trained on (mcl_dataset_class_name), NULL when they have
 * none (IDX or .npz data: the classes are "0", "1", ...) or k is out of range; and how its
 * inputs are made from picture files. Checkpoints written before class names existed have
 * none and MCL_PREP_MNIST. */
const char *mcl_checkpoint_class_name(const mcl_checkpoint *ck, uint32_t k);
mcl_image_prep mcl_checkpoint_image_prep(const mcl_checkpoint *ck);
void mcl_checkpoint_free(mcl_checkpoint *ck);

/* Writes the trainer's model, weights, BatchNorm state, optimizer state, epoch and step counters
 * and recipe to `path`, atomically (temporary file, fsync, rename): a crash never leaves a
 * partial file there. Blocks until the device is idle. */
mcl_status mcl_trainer_save(mcl_trainer *trainer, const char *path, mcl_error *err);
/* A trainer with everything a checkpoint holds restored, for batches up to max_batch: fitting
 * it with initial_epoch = mcl_checkpoint_epoch(ck) and the checkpoint's recipe and seed
 * continues the run bit-identically (same device). ck may be freed afterwards. */
mcl_status mcl_trainer_create_from_checkpoint(mcl_context *ctx, const mcl_checkpoint *ck,
                                              uint32_t max_batch, mcl_trainer **out,
                                              mcl_error *err);
uint32_t mcl_trainer_epochs_done(const mcl_trainer *trainer);
/* Steps already taken in the unfinished epoch mcl_trainer_epochs_done + 1 when a fit stopped
 * inside it (interrupt or callback); 0 at an epoch boundary. Checkpoints keep it, and resuming
 * such a checkpoint (same data and batch size) is still bit-identical to an uninterrupted run. */
uint32_t mcl_trainer_epoch_step(const mcl_trainer *trainer);

/* One line of a training profile: device time of one op's forward or backward, or of a phase
 * (data, loss sums, gradient zeroing, optimizer, gaps between steps), summed over steps. */
typedef struct mcl_profile_row {
    char name[96]; /* "conv2d_2 backward", "optimizer update", ... */
    uint64_t calls;
    double seconds;
} mcl_profile_row;
/* The profile of every training step so far, largest first, when the trainer's context was
 * created with options.profile (else 0 rows). Fills rows up to capacity; returns the total. */
size_t mcl_trainer_profile(const mcl_trainer *trainer, mcl_profile_row *rows, size_t capacity);
/* The same training steps by kernel: every launch's own device time (OpenCL events), summed per
 * kernel name ("conv2d_backward_filter_tiled", "CLBlast SGEMM"), largest first. */
size_t mcl_trainer_kernel_profile(const mcl_trainer *trainer, mcl_profile_row *rows,
                                  size_t capacity);
/* Every epoch of the run so far, earliest first, including those before a resume (checkpoints
 * carry the history). Owned by the trainer; valid until its next fit or free. */
const mcl_epoch_result *mcl_trainer_history(const mcl_trainer *trainer, size_t *count);

/* Writes per-epoch results as CSV (header epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds;
 * empty val_ fields without validation) or, for a path ending in .json, as JSON; atomically. */
mcl_status mcl_history_write(const char *path, const mcl_epoch_result *rows, size_t count,
                             mcl_error *err);

/* Inference: class probabilities probs[n, classes] for images[n, rows*cols] with values in
 * 0..1 (as the data's 0..255 / 255), in batches of the trainer's maximum. */
mcl_status mcl_trainer_predict(mcl_trainer *trainer, const float *images, uint32_t n, float *probs,
                               mcl_error *err);

/* Weights as NumPy .npz (one float32 array per tensor, named "conv2d_1/kernel" etc., Keras
 * layouts; each BatchNorm's "<name>/epsilon" and "<name>/momentum" scalars; the strings
 * "architecture" (the model text), "recipe" (JSON) and "class_names") and as ONNX (opset 13,
 * input "images" [N, 1, rows, cols] in 0..1, output "probabilities" [N, classes]; metadata_props
 * and a graph doc string that describe the run, see mcl_export_onnx_with). Both write
 * atomically: a failure leaves no file at `path`. */
mcl_status mcl_export_npz(const mcl_checkpoint *ck, const char *path, mcl_error *err);
mcl_status mcl_export_onnx(const mcl_checkpoint *ck, const char *path, mcl_error *err);

/* A claim to be the only process rewriting `path` (a checkpoint or history that a run writes
 * after every epoch): an advisory lock (fcntl) on PATH.lock, a small file beside it holding the
 * owner's pid. It never waits: when another process holds it, this fails with MCL_ERR_IO and
 * "PATH is being written by another mnist-cl (pid N); ...". The system drops the lock when its
 * owner dies in any way (kill -9 included), so a PATH.lock left behind blocks nobody. Acquiring
 * also removes the temporary files (PATH.tmp.PID.N) of writers of PATH that died in the middle
 * of a write. The caller owns *out; mcl_file_lock_free releases it and removes PATH.lock. */
typedef struct mcl_file_lock mcl_file_lock;
mcl_status mcl_file_lock_acquire(const char *path, mcl_file_lock **out, mcl_error *err);
void mcl_file_lock_free(mcl_file_lock *lock);

/* ---------------------------------------------------------------- reports and ensembles */

/* The class a row of probabilities[classes] predicts: the first of the largest (argmax with ties
 * to the lower class, as NumPy's and the device's). */
uint32_t mcl_predicted_class(const float *probs, uint32_t classes);

/* Overwrites counts[true * classes + predicted] (classes * classes entries) with the (true,
 * predicted) pairs of n samples: probs [n, classes] (mcl_predicted_class of each row) and labels
 * [n], each below classes. */
void mcl_confusion_counts(const float *probs, const uint8_t *labels, uint32_t n, uint32_t classes,
                          uint32_t *counts);

/* One row of sklearn's classification_report: a class's, or an average over classes. */
typedef struct mcl_class_scores {
    double precision; /* TP / (TP + FP); 0 when the class is never predicted */
    double recall;    /* TP / (TP + FN); 0 when the class has no true sample */
    double f1;        /* 2 TP / (2 TP + FP + FN); 0 when both are 0 */
    uint64_t support; /* true samples of the class: TP + FN (an average row: all samples) */
    uint64_t predicted; /* samples predicted as the class: TP + FP (an average row: all) */
} mcl_class_scores;

typedef struct mcl_report_summary {
    uint64_t total;  /* samples */
    double accuracy; /* correct / total (sklearn's "accuracy" row) */
    mcl_class_scores macro_avg;    /* the plain mean over the reported classes */
    mcl_class_scores weighted_avg; /* the mean weighted by support */
    /* Classes in the report: those with a true or a predicted sample (sklearn's default
     * labels, unique_labels(y_true, y_pred)); a class with neither is all zero and left out. */
    uint32_t reported;
    /* Reported classes whose precision (never predicted) or recall (no true sample) is
     * ill-defined and set to 0.0, as sklearn's zero_division="warn" does (and warns). */
    uint32_t no_predictions, no_support;
} mcl_report_summary;

/* sklearn.metrics.classification_report from a confusion matrix counts[true * classes +
 * predicted]: per_class (a caller's array of `classes` entries) gets every class's row,
 * *summary the accuracy and the macro and weighted averages. The averages take the ill-defined
 * zeros as zeros, as sklearn does with its default zero_division. */
void mcl_classification_report(const uint32_t *counts, uint32_t classes,
                               mcl_class_scores *per_class, mcl_report_summary *summary);
/* The report as sklearn's classification_report(digits=digits) prints it: a header line, a blank
 * line, one row per reported class named names[k] (NULL names: the class numbers), a blank line,
 * then the accuracy, macro avg and weighted avg rows; every line ends in "\n". Writes at most
 * size bytes into buf (NUL-terminated when size > 0) and returns the length of the whole text,
 * as snprintf does. digits is clamped to 0..10. */
size_t mcl_classification_report_format(const mcl_class_scores *per_class, uint32_t classes,
                                        const mcl_report_summary *summary,
                                        const char *const *names, int digits, char *buf,
                                        size_t size);

/* Ensembles: several checkpoints whose softmax probabilities are averaged per image (the models
 * may differ; they must take the same images and have the same classes). One model is on the
 * device at a time: each is built on ctx, run and freed before the next. */

/* Whether cks[0..count) can form an ensemble: every one takes cks[0]'s rows x cols images and
 * has its number of classes. MCL_ERR_MODEL with one line naming names[i] (its path) and both
 * shapes otherwise; MCL_ERR_USAGE for count 0. */
mcl_status mcl_ensemble_check(const mcl_checkpoint *const *cks, const char *const *names,
                              size_t count, mcl_error *err);
/* Called after each member's evaluation, with its trainer (for its parameter count or BatchNorm
 * state; freed after the call) and its own result. */
typedef void (*mcl_ensemble_member_fn)(size_t member, const mcl_trainer *trainer,
                                       const mcl_eval_result *result, void *user);
/* Evaluates each checkpoint on `data` in inference mode in batches of batch_size and averages
 * their probabilities into probs [mcl_dataset_count(data) * classes] (required). *out gets the
 * ensemble's accuracy (mcl_predicted_class of the averaged rows) and loss: the mean of
 * -ln(mean probability of the true class), floored at FLT_MIN, and not clipped at 1e-7 as
 * Keras's crossentropy of probabilities is, so that an ensemble of one checkpoint reports the
 * checkpoint's own loss. on_member may be NULL. Fails as mcl_ensemble_check and
 * mcl_trainer_evaluate_probs do, and with MCL_ERR_MODEL when data's images are not the
 * checkpoints' size. */
mcl_status mcl_ensemble_evaluate(mcl_context *ctx, const mcl_checkpoint *const *cks,
                                 const char *const *names, size_t count, const mcl_dataset *data,
                                 uint32_t batch_size, mcl_ensemble_member_fn on_member, void *user,
                                 mcl_eval_result *out, float *probs, mcl_error *err);
/* The averaged probabilities probs [n, classes] of images [n, rows*cols] (values 0..1), in
 * batches of up to batch_size (>= 1). */
mcl_status mcl_ensemble_predict(mcl_context *ctx, const mcl_checkpoint *const *cks,
                                const char *const *names, size_t count, const float *images,
                                uint32_t n, uint32_t batch_size, float *probs, mcl_error *err);
/* Whether path is a readable file that starts with a checkpoint's magic bytes (nothing more is
 * checked: mcl_checkpoint_load validates the rest). Tells checkpoints from images on a command
 * line. */
bool mcl_file_is_checkpoint(const char *path);

/* ---------------------------------------------------------------- run records */

/* What a run trained on, as `train` records it in its checkpoints (section DATA), so that
 * --resume, eval and predict use the same data and `info` can say what it was. */
typedef struct mcl_data_record {
    char source[4096];      /* absolute path of the data (a folder of IDX files, or a file) */
    uint32_t limit;         /* --limit: the first N training images; 0 = all of them */
    uint32_t classes;       /* --classes as declared; 0 = the labels' largest + 1 */
    float validation_split; /* the recipe's, repeated so the record reads on its own */
    uint32_t train_images, val_images, test_images; /* what the run had of each */
    /* mcl_dataset_fingerprint of the training set as loaded (before --limit): tells the same
     * data at a new place from other data. */
    uint32_t fingerprint;
} mcl_data_record;

/* CRC-32 of a dataset's count, image size, labels and pixels: equal for the same images and
 * labels however they were stored (raw or gzip, moved or copied). */
uint32_t mcl_dataset_fingerprint(const mcl_dataset *ds);

/* The record the trainer's checkpoints carry from now on (copied). */
void mcl_trainer_set_data_record(mcl_trainer *trainer, const mcl_data_record *record);
/* Test-set metrics of the trainer's current weights (copied): its checkpoints carry them
 * (section TEST) until the next training step changes the weights. */
void mcl_trainer_set_test_result(mcl_trainer *trainer, const mcl_eval_result *test);

/* A checkpoint's data record and test metrics; NULL when it has none (written by an mnist-cl
 * that did not record them, or by a run that has not been evaluated). Owned by ck. */
const mcl_data_record *mcl_checkpoint_data_record(const mcl_checkpoint *ck);
const mcl_eval_result *mcl_checkpoint_test_result(const mcl_checkpoint *ck);
/* The run's per-epoch results, earliest first (NULL and 0 before the first epoch ended). */
const mcl_epoch_result *mcl_checkpoint_history(const mcl_checkpoint *ck, size_t *count);
/* Steps of the unfinished epoch already taken (a checkpoint written at Ctrl-C); 0 otherwise. */
uint32_t mcl_checkpoint_epoch_step(const mcl_checkpoint *ck);
/* The model description as the run wrote it (the model language). */
const char *mcl_checkpoint_model_text(const mcl_checkpoint *ck);
/* Trainable parameters and non-trainable state values (BatchNorm's moving statistics). */
void mcl_checkpoint_param_counts(const mcl_checkpoint *ck, uint64_t *trainable,
                                 uint64_t *non_trainable);
/* The name of class k (< classes) into buf: mcl_checkpoint_class_name when the checkpoint
 * names its classes, else the digit k ("0".."9", "10", ...). Returns buf. */
const char *mcl_checkpoint_class_label(const mcl_checkpoint *ck, uint32_t k, char *buf,
                                      size_t size);

/* JSON documents, for scripts (train --json, info --json, models --json) and ONNX metadata.
 * Each *out is a malloc'd NUL-terminated string the caller frees with free().
 * A recipe: {"epochs": 10, "batch_size": 128, "optimizer": "adam", "lr": 0.001, ...} with the
 * model language's recipe keys. */
mcl_status mcl_recipe_json(const mcl_recipe *recipe, char **out, mcl_error *err);
/* Per-epoch results as `train --history FILE.json` writes them: {"epochs": [{...}, ...]}. */
mcl_status mcl_history_json(const mcl_epoch_result *rows, size_t count, char **out,
                            mcl_error *err);
/* A data record: {"source": "/...", "limit": 0, ...}. */
mcl_status mcl_data_record_json(const mcl_data_record *record, char **out, mcl_error *err);
/* mcl_model_summary as JSON: {"model": NAME, "layers": [{"name", "type", "output_shape",
 * "params"}, ...], "total_params", "trainable_params", "non_trainable_params"}. */
mcl_status mcl_model_summary_json(const mcl_model *model, uint32_t rows, uint32_t cols,
                                  uint32_t num_classes, char **out, mcl_error *err);
/* s as a JSON string with its quotes into out (snprintf-style: at most size - 1 bytes and a
 * NUL); '"', '\\' and control characters escaped, bytes that are not UTF-8 as \ufffd. Returns
 * the length of the whole quoted string (0 only when out of memory). */
size_t mcl_json_quote(const char *s, char *out, size_t size);

/* ONNX export choices: with logits, the graph ends before the softmax and its output is
 * "logits" [N, classes] (for a runtime that applies its own softmax or wants scores). */
typedef struct mcl_onnx_options {
    bool logits;
} mcl_onnx_options;
/* mcl_export_onnx with options (NULL: the defaults, probabilities). */
mcl_status mcl_export_onnx_with(const mcl_checkpoint *ck, const char *path,
                                const mcl_onnx_options *options, mcl_error *err);

/* ---------------------------------------------------------------- images and plots */

/* Reads a PNG (any bit depth, grey, RGB, palette, with or without alpha) or a PGM (P2/P5) of any
 * size and converts it the way MNIST was made: to grey, inverted if it is dark on light, the ink
 * scaled to fit a 20x20 box (for 28x28; proportionally otherwise) and centred by its centre of
 * mass in rows x cols. dst: rows*cols floats in 0..1. */
mcl_status mcl_image_load_mnist(const char *path, uint32_t rows, uint32_t cols, float *dst,
                                mcl_error *err);
/* Reads an image file (PNG, PGM, JPEG, BMP, GIF) the way an image folder's files become samples
 * (MCL_PREP_RESIZE): grey, resized to rows x cols with TensorFlow's bilinear resize, rounded to
 * 0..255, then / 255. dst: rows*cols floats in 0..1. */
mcl_status mcl_image_load_resized(const char *path, uint32_t rows, uint32_t cols, float *dst,
                                  mcl_error *err);
/* Writes an 8-bit grey PNG (atomically). */
mcl_status mcl_image_write_png(const char *path, const uint8_t *pixels, uint32_t width,
                               uint32_t height, mcl_error *err);

/* Draws loss and accuracy against epoch, training and validation, from a history CSV written by
 * training (see mcl_history_*), as PNG or SVG by the extension of out_path. */
mcl_status mcl_plot_history(const char *csv_path, const char *out_path, mcl_error *err);
/* mcl_plot_history with a title above both panels; NULL or "" gives the default,
 * "Training history (<file name of the CSV>)". */
mcl_status mcl_plot_history_titled(const char *csv_path, const char *out_path, const char *title,
                                   mcl_error *err);
/* Draws a confusion matrix (counts[true * classes + predicted]) as a heat map with counts. */
mcl_status mcl_plot_confusion(const uint32_t *counts, uint32_t classes, const char *out_path,
                              mcl_error *err);
/* Whether the plots can write out_path: MCL_ERR_USAGE unless it ends in .png or .svg (any
 * case). Lets a caller refuse a bad name before the work whose result it would draw. */
mcl_status mcl_plot_check_path(const char *out_path, mcl_error *err);

/* A grid of the misclassified images of a labelled dataset, as the tutorials draw them: each
 * tile the image enlarged (dark ink on white) with "true T → pred P (confidence)" beneath, the
 * most confident mistakes first (ties by index), under the title "M of N misclassified". */
typedef struct mcl_errors_plot_options {
    uint32_t max_images;            /* tiles at most, 1..MCL_PLOT_ERRORS_MAX; 0: 100 */
    const char *const *class_names; /* [classes] the captions' labels; NULL: the class numbers */
    const char *subtitle;           /* a line under the title (what was evaluated), or NULL */
} mcl_errors_plot_options;
#define MCL_PLOT_ERRORS_MAX 1000u
typedef struct mcl_errors_plot_info {
    uint32_t misclassified; /* of the dataset */
    uint32_t shown;         /* tiles drawn: min(misclassified, max_images) */
    uint32_t width, height; /* of the picture, pixels (points of an SVG) */
} mcl_errors_plot_info;
/* Draws the grid for `data` (its labels and pixels) and probs [count * classes] from an
 * evaluation (mcl_trainer_evaluate_probs, mcl_ensemble_evaluate) to out_path, PNG or SVG by its
 * extension, atomically. With no mistake the picture holds the title alone. info may be NULL. */
mcl_status mcl_plot_errors(const mcl_dataset *data, const float *probs, uint32_t classes,
                           const mcl_errors_plot_options *options, const char *out_path,
                           mcl_errors_plot_info *info, mcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
