/* mnist-cl train: Keras-like training with per-epoch lines and a live progress bar on a TTY. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--model", "NAME|FILE", "built-in model (see 'mnist-cl models') or model file; default mlp"},
    {"--epochs", "N", "number of epochs (default: the model's recipe)"},
    {"--batch-size", "N", "mini-batch size (default: the model's recipe)"},
    {"--lr", "F", "learning rate (default: the model's recipe, 0.001 for Adam)"},
    {"--lr-schedule", "constant|cosine|step", "learning-rate schedule over the whole run"},
    {"--lr-decay", "F", "step schedule: multiply the rate by F (default 0.5) every ..."},
    {"--lr-decay-epochs", "N", "... N epochs (default 10)"},
    {"--warmup-epochs", "N", "linear warm-up from 0 over the first N epochs (default 0)"},
    {"--optimizer", "adam|adamw|sgd|rmsprop",
     "optimizer with Keras's defaults: Adam, AdamW (weight decay 0.004), SGD (lr 0.01; "
     "--momentum, --nesterov) or RMSprop (--rho, --momentum, --centered)"},
    {"--momentum", "F", "SGD and RMSprop momentum in [0, 1) (default 0, as Keras)"},
    {"--nesterov", NULL, "SGD: Nesterov momentum (Keras SGD(nesterov=True); needs --momentum)"},
    {"--rho", "F", "RMSprop: discount of the squared-gradient average, in [0, 1) (default 0.9)"},
    {"--centered", NULL, "RMSprop: centered (normalise by the gradient's variance estimate)"},
    {"--weight-decay", "F",
     "decoupled weight decay, any optimizer (Keras weight_decay): each step w -= lr * F * w "
     "on every trainable variable, before the update (default 0; AdamW 0.004)"},
    {"--l2", "F",
     "L2 regulariser on every Dense/Conv2D kernel (Keras kernel_regularizer L2(F)): "
     "F * sum(w^2) joins the loss, and the reported losses"},
    {"--label-smoothing", "F",
     "smooth the one-hot targets to y (1 - F) + F / classes, F in [0, 1) (Keras's "
     "label_smoothing of the cross-entropy); the losses shown are the smoothed ones"},
    {"--clipnorm", "F", "clip each variable's gradient to L2 norm F (Keras clipnorm)"},
    {"--clipvalue", "F", "clip every gradient element to [-F, F] (Keras clipvalue)"},
    {"--global-clipnorm", "F",
     "clip all gradients together to L2 norm F (Keras global_clipnorm); at most one of the "
     "three clippings"},
    {"--reduce-lr-on-plateau", NULL,
     "Keras ReduceLROnPlateau: multiply the learning rate by --plateau-factor after "
     "--plateau-patience epochs without a lower val_loss (the training loss without a "
     "validation set); it scales the --lr-schedule's rate"},
    {"--plateau-factor", "F", "ReduceLROnPlateau factor, in (0, 1) (default 0.1)"},
    {"--plateau-patience", "N", "ReduceLROnPlateau patience in epochs (default 10)"},
    {"--plateau-min-delta", "F", "smallest decrease that counts as improvement (default 1e-4)"},
    {"--plateau-cooldown", "N", "epochs to wait after a reduction before counting (default 0)"},
    {"--plateau-min-lr", "F", "the reductions never take the rate below F (default 0)"},
    {"--validation-split", "F", "validate on the last fraction F of the training set, as Keras"},
    {"--augment", NULL,
     "random affine augmentation of training images on the device (Keras "
     "ImageDataGenerator); the model's ranges, else rotation 8, shift 0.08, "
     "shear 0.3, zoom 0.08"},
    {"--no-augment", NULL, "turn off augmentation a model's recipe turns on"},
    {"--rotation", "DEG", "augmentation: rotation range in degrees (turns augmentation on)"},
    {"--shift", "F", "augmentation: shift range as a fraction of width and height"},
    {"--shear", "DEG", "augmentation: shear-angle range in degrees"},
    {"--zoom", "F", "augmentation: zoom range (each axis scaled by 1 +- F)"},
    {"--seed", "N", "random seed for init, shuffling and dropout (default 42)"},
    {"--data", "PATH",
     "the data: a folder of IDX files (raw or .gz), a NumPy .npz such as Keras's mnist.npz (or "
     "a folder holding mnist.npz), or a folder of images with one subfolder per class "
     "(default $MNIST_CL_DATA, else data/mnist, else Keras's mnist.npz in ~/.keras/datasets; "
     "with --resume, the data the run recorded)"},
    {"--test-split", "F",
     "an image folder without train/ and test/ folders: test on this share of its files "
     "(default 0.2; the same files every run)"},
    {"--limit", "N", "train on the first N training images only (with --resume: as recorded)"},
    {"--classes", "N",
     "the number of classes, when some have no training sample on purpose (default: the "
     "largest label + 1, and every class must occur)"},
    {"--save", "FILE", "write a checkpoint at the end of every epoch (atomically)"},
    {"--save-best", NULL, "with --save: write it only when the validation loss improves"},
    {"--resume", "FILE",
     "continue the run a checkpoint stopped in (its model, recipe, seed, data, --limit and "
     "--classes; an option that contradicts them is refused)"},
    {"--early-stopping", "N",
     "stop after N epochs without a lower validation loss, keeping the "
     "best weights"},
    {"--history", "FILE", "write per-epoch metrics as CSV (or JSON if FILE ends in .json)"},
    {"--target-accuracy", "F",
     "evaluate the test set after every epoch and stop at the first epoch whose test accuracy "
     "is at least F (e.g. 0.99); prints the time it took from the start of mnist-cl"},
    {"--profile", NULL,
     "after training, print where the device time of the training steps went (per op and "
     "phase, from OpenCL event profiling)"},
    {"--verbose", "0|1|2", "0 silent, 1 progress bar (on a terminal), 2 one line per epoch"},
    {"--json", NULL,
     "print one JSON object on stdout at the end (recipe, data, per-epoch history, test "
     "metrics, speed, device); the progress and Keras lines go to stderr"},
    {"--help", NULL, "show this help"},
};
enum {
    OPT_MODEL,
    OPT_EPOCHS,
    OPT_BATCH,
    OPT_LR,
    OPT_SCHEDULE,
    OPT_LR_DECAY,
    OPT_LR_DECAY_EPOCHS,
    OPT_WARMUP,
    OPT_OPTIMIZER,
    OPT_MOMENTUM,
    OPT_NESTEROV,
    OPT_RHO,
    OPT_CENTERED,
    OPT_WEIGHT_DECAY,
    OPT_L2,
    OPT_LABEL_SMOOTHING,
    OPT_CLIPNORM,
    OPT_CLIPVALUE,
    OPT_GLOBAL_CLIPNORM,
    OPT_PLATEAU,
    OPT_PLATEAU_FACTOR,
    OPT_PLATEAU_PATIENCE,
    OPT_PLATEAU_MIN_DELTA,
    OPT_PLATEAU_COOLDOWN,
    OPT_PLATEAU_MIN_LR,
    OPT_VALSPLIT,
    OPT_AUGMENT,
    OPT_NO_AUGMENT,
    OPT_ROTATION,
    OPT_SHIFT,
    OPT_SHEAR,
    OPT_ZOOM,
    OPT_SEED,
    OPT_DATA,
    OPT_TEST_SPLIT,
    OPT_LIMIT,
    OPT_CLASSES,
    OPT_SAVE,
    OPT_SAVE_BEST,
    OPT_RESUME,
    OPT_EARLY_STOPPING,
    OPT_HISTORY,
    OPT_TARGET,
    OPT_PROFILE,
    OPT_VERBOSE,
    OPT_JSON,
    OPT_HELP,
    OPT_COUNT
};

typedef struct train_ui {
    int verbose;
    bool tty;
    bool bar_shown;
    bool show_lr; /* ReduceLROnPlateau is on: the epoch line shows the rate, as Keras's */
    /* Checkpoints and history, written after every epoch. */
    mcl_trainer *trainer;
    const char *save_path, *history_path;
    bool save_best;
    double best_val_loss;
    uint32_t best_epoch;
    bool failed; /* a write failed: err says why and training stops */
    mcl_error err;
    /* Throughput over the epochs after the first (which includes kernel compilation). */
    double train_seconds;
    uint32_t timed_epochs, steps;
    /* --target-accuracy: when the test set first reached it (epoch 0: not yet). */
    double start_seconds, reached_seconds, reached_accuracy, last_monitor_accuracy;
    uint32_t reached_epoch;
    uint32_t saved_epoch; /* the epoch whose end --save last wrote (0: none) */
} train_ui;

enum { BAR_WIDTH = 30 }; /* Keras's */

/* "step/steps [====>.....]" into out, with a bar `width` characters wide (at most BAR_WIDTH). */
static void format_bar(char *out, size_t size, uint32_t step, uint32_t steps, uint32_t width) {
    if (width > BAR_WIDTH) width = BAR_WIDTH;
    uint32_t filled = steps ? (uint32_t)((uint64_t)step * width / steps) : width;
    char bar[BAR_WIDTH + 1];
    for (uint32_t i = 0; i < width; i++)
        bar[i] = i < filled ? '=' : (i == filled && step < steps ? '>' : '.');
    bar[width] = '\0';
    int digits = snprintf(NULL, 0, "%u", steps);
    snprintf(out, size, "%*u/%u [%s]", digits, step, steps, bar);
}

static void print_bar(uint32_t step, uint32_t steps) {
    char text[128];
    format_bar(text, sizeof text, step, steps, BAR_WIDTH);
    fputs(text, stdout);
}

/* The only process-wide mutable state in mnist-cl: a signal handler can talk to the rest of
 * the program only through a volatile sig_atomic_t. The first Ctrl-C sets it and training
 * stops after the current step (mcl_fit_options.interrupt); the second exits at once. */
static volatile sig_atomic_t interrupt_requested;

static void write_stderr(const char *text, size_t len) {
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, text, len);
        if (n <= 0) return;
        text += n;
        len -= (size_t)n;
    }
}

static void on_sigint(int sig) {
    (void)sig;
    if (interrupt_requested) {
        static const char again[] = "\nInterrupted again: exiting now\n";
        write_stderr(again, sizeof again - 1);
        _exit(CLI_EXIT_INTERRUPTED);
    }
    interrupt_requested = 1;
    static const char first[] =
        "\nInterrupted: finishing the current step (Ctrl-C again to exit at once)\n";
    write_stderr(first, sizeof first - 1);
}

/* Installs on_sigint for the training loop; *old receives the handler to restore. */
static void catch_sigint(struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    interrupt_requested = 0;
    sigaction(SIGINT, &sa, old);
}

static bool on_progress(const mcl_progress *p, void *user) {
    train_ui *ui = user;
    double eta = p->step > 0 ? p->seconds / p->step * (p->steps - p->step) : 0.0;
    char tail[160], line[320];
    int tail_len = snprintf(tail, sizeof tail, " - ETA: %.0fs - loss: %.4f - accuracy: %.4f", eta,
                            p->loss, p->accuracy);
    /* The live line must fit the terminal (asked again each time: it may be resized): a line
     * that wraps is not overwritten by \r and leaves stale copies behind. The bar gives way
     * first, down to 10 characters, then the line is cut. */
    int columns = cli_terminal_columns(STDOUT_FILENO);
    char counter[64];
    format_bar(counter, sizeof counter, p->step, p->steps, 0);
    int room = columns - 1 - (int)strlen(counter) - tail_len;
    uint32_t width = room < 10 ? 10 : room > BAR_WIDTH ? BAR_WIDTH : (uint32_t)room;
    char bar[128];
    format_bar(bar, sizeof bar, p->step, p->steps, width);
    int len = snprintf(line, sizeof line, "%s%s", bar, tail);
    if (len >= columns) len = columns > 1 ? columns - 1 : 1;
    printf("\r%.*s\033[K", len, line);
    fflush(stdout);
    ui->bar_shown = true;
    return true;
}

/* After an epoch: history, then the checkpoint (every epoch, or only on improvement). */
static bool write_epoch_files(train_ui *ui, const mcl_epoch_result *r) {
    if (ui->history_path != NULL) {
        /* The trainer's history: with --resume it starts with the epochs before the stop. */
        size_t count = 0;
        const mcl_epoch_result *rows = mcl_trainer_history(ui->trainer, &count);
        if (mcl_history_write(ui->history_path, rows, count, &ui->err) != MCL_OK) return false;
    }
    if (r->improved) {
        ui->best_val_loss = r->val_loss;
        ui->best_epoch = r->epoch;
    }
    if (ui->save_path != NULL && (!ui->save_best || r->improved)) {
        if (mcl_trainer_save(ui->trainer, ui->save_path, &ui->err) != MCL_OK) return false;
        ui->saved_epoch = r->epoch;
        if (ui->save_best && ui->verbose > 0)
            printf("Epoch %u: val_loss improved to %.4f, saved %s\n", r->epoch, r->val_loss,
                   ui->save_path);
    }
    return true;
}

/* The optimizer's options and regularisation that this run uses, when any is on. */
static void print_optimizer_options(const mcl_recipe *r, bool validation) {
    char line[512] = "";
    size_t n = 0;
#define ADD(...) n += (size_t)snprintf(line + n, n < sizeof line ? sizeof line - n : 0, __VA_ARGS__)
    if (r->optimizer == MCL_OPTIMIZER_SGD || r->optimizer == MCL_OPTIMIZER_RMSPROP)
        if (r->momentum > 0.0f) ADD(", momentum %g", (double)r->momentum);
    if (r->nesterov) ADD(", Nesterov");
    if (r->optimizer == MCL_OPTIMIZER_RMSPROP)
        ADD(", rho %g%s", (double)r->rho, r->centered ? ", centered" : "");
    if (r->weight_decay > 0.0f) ADD(", weight decay %g", (double)r->weight_decay);
    if (r->l2 > 0.0f) ADD(", L2 %g on the kernels", (double)r->l2);
    if (r->label_smoothing > 0.0f) ADD(", label smoothing %g", (double)r->label_smoothing);
    if (r->clipnorm > 0.0f) ADD(", clipnorm %g", (double)r->clipnorm);
    if (r->clipvalue > 0.0f) ADD(", clipvalue %g", (double)r->clipvalue);
    if (r->global_clipnorm > 0.0f) ADD(", global_clipnorm %g", (double)r->global_clipnorm);
#undef ADD
    if (n > 0) printf("Optimizer: %s%s\n", mcl_optimizer_str(r->optimizer), line);
    const mcl_plateau *p = &r->plateau;
    if (p->enabled)
        printf("ReduceLROnPlateau: monitoring %s, factor %g, patience %u, min_delta %g, cooldown "
               "%u, min_lr %g\n",
               validation ? "val_loss"
                          : "loss (no validation set: add --validation-split F to watch val_loss)",
               (double)p->factor, p->patience, (double)p->min_delta, p->cooldown,
               (double)p->min_lr);
}

static void print_epoch(const train_ui *ui, const mcl_epoch_result *r) {
    double ms_per_step = 1000.0 * r->train_seconds / (r->steps - r->resumed_at);
    if (ui->verbose == 1) {
        if (ui->tty) printf("\r");
        print_bar(r->steps, r->steps);
        printf(" - %.0fs %.0fms/step", r->seconds, ms_per_step);
    } else {
        printf("%u/%u - %.0fs - %.0fms/step", r->steps, r->steps, r->seconds, ms_per_step);
    }
    printf(" - loss: %.4f - accuracy: %.4f", r->loss, r->accuracy);
    if (r->has_validation)
        printf(" - val_loss: %.4f - val_accuracy: %.4f", r->val_loss, r->val_accuracy);
    if (r->has_monitor)
        printf(" - test_loss: %.4f - test_accuracy: %.4f", r->monitor_loss, r->monitor_accuracy);
    /* With ReduceLROnPlateau Keras's logs carry the rate, printed as its progress bar does. */
    if (ui->show_lr)
        printf(r->learning_rate > 1e-3 ? " - learning_rate: %.4f" : " - learning_rate: %.4e",
               r->learning_rate);
    printf("%s\n", ui->tty ? "\033[K" : "");
    /* Keras prints the new rate as a Python float (0.00010000000474974513 for a float32
     * 0.001 * 0.1); six digits say the same. */
    if (r->lr_reduced)
        printf("Epoch %u: ReduceLROnPlateau reducing learning rate to %g.\n", r->epoch,
               r->reduced_learning_rate);
    fflush(stdout);
}

/* One profile table, largest first, under `title`; false when nothing was timed. */
static bool print_profile_table(const char *title, const char *column, const mcl_profile_row *rows,
                                size_t n) {
    double total = 0.0;
    for (size_t i = 0; i < n; i++)
        total += rows[i].seconds;
    if (n == 0 || !(total > 0.0)) return false;
    printf("\n%s:\n", title);
    printf("%-44s %9s %11s %10s %6s\n", column, "calls", "total s", "ms/call", "%");
    for (size_t i = 0; i < n; i++)
        printf("%-44s %9llu %11.3f %10.3f %5.1f%%\n", rows[i].name,
               (unsigned long long)rows[i].calls, rows[i].seconds,
               1000.0 * rows[i].seconds / (double)rows[i].calls, 100.0 * rows[i].seconds / total);
    printf("%-44s %9s %11.3f\n", "total", "", total);
    return true;
}

/* train --profile: the device time of the training steps by op and phase, then by kernel. */
static void print_profile(const mcl_trainer *trainer) {
    enum { CAP = 160 };
    mcl_profile_row rows[CAP];
    size_t n = mcl_trainer_profile(trainer, rows, CAP);
    if (!print_profile_table("Profile of the training steps (device time between markers; OpenCL "
                             "events)",
                             "op / phase", rows, n < CAP ? n : CAP)) {
        printf("\nProfile: no training steps were timed\n");
        return;
    }
    n = mcl_trainer_kernel_profile(trainer, rows, CAP);
    print_profile_table("The same steps by kernel (each launch's own device time)", "kernel", rows,
                        n < CAP ? n : CAP);
}

/* After Ctrl-C stopped the fit: says where, keeps the position in the checkpoint if --save was
 * given (not with --save-best, whose file holds the best epoch), and gives the exit code. */
static int report_interrupt(train_ui *ui, mcl_trainer *trainer, uint32_t batch,
                            uint32_t train_images) {
    uint32_t done = mcl_trainer_epochs_done(trainer), step = mcl_trainer_epoch_step(trainer);
    uint32_t steps = mcl_steps_per_epoch(train_images, batch);
    char where[96];
    if (step > 0)
        snprintf(where, sizeof where, "in epoch %u at step %u/%u", done + 1, step, steps);
    else
        snprintf(where, sizeof where, "after epoch %u", done);
    if (ui->save_path != NULL && !ui->save_best) {
        mcl_error err = {0};
        if (mcl_trainer_save(trainer, ui->save_path, &err) != MCL_OK) {
            cli_error("interrupted %s, and the checkpoint could not be written: %s", where,
                      err.message);
            return CLI_EXIT_FAILURE;
        }
        fprintf(stderr,
                "Stopped %s; saved %s. Continue with: mnist-cl train --resume %s --save %s\n",
                where, ui->save_path, ui->save_path, ui->save_path);
    } else if (ui->save_path != NULL) {
        fprintf(stderr, "Stopped %s; %s keeps the best epoch so far (%u)\n", where, ui->save_path,
                ui->best_epoch);
    } else {
        fprintf(stderr, "Stopped %s; nothing was saved (train with --save FILE to keep a run)\n",
                where);
    }
    return CLI_EXIT_INTERRUPTED;
}

static bool on_epoch(const mcl_epoch_result *r, void *user) {
    train_ui *ui = user;
    /* Throughput: whole epochs only, and not the first (kernel compilation). */
    if ((r->epoch > 1 || r->epochs == 1) && r->resumed_at == 0) {
        ui->train_seconds += r->train_seconds;
        ui->timed_epochs++;
        ui->steps = r->steps;
    }
    if (ui->verbose > 0) print_epoch(ui, r);
    if (!write_epoch_files(ui, r)) {
        ui->failed = true;
        return false;
    }
    if (r->reached_target) {
        ui->reached_epoch = r->epoch;
        ui->reached_accuracy = r->monitor_accuracy;
        ui->reached_seconds = cli_now() - ui->start_seconds;
    }
    ui->last_monitor_accuracy = r->monitor_accuracy;
    if (ui->verbose > 0 && r->epoch < r->epochs && !r->reached_target) {
        printf("Epoch %u/%u\n", r->epoch + 1, r->epochs);
        fflush(stdout);
    }
    return true;
}

/* --augment, --no-augment and the ranges. A range turns augmentation on. */
static bool apply_augment_options(const char **v, mcl_augment *a) {
    if (v[OPT_AUGMENT] && v[OPT_NO_AUGMENT]) {
        cli_error("--augment and --no-augment contradict each other");
        return false;
    }
    if (v[OPT_NO_AUGMENT]) {
        if (v[OPT_ROTATION] || v[OPT_SHIFT] || v[OPT_SHEAR] || v[OPT_ZOOM]) {
            cli_error("--no-augment cannot be combined with augmentation ranges");
            return false;
        }
        a->enabled = false;
        return true;
    }
    if (v[OPT_AUGMENT]) {
        a->enabled = true;
        if (a->rotation == 0.0f && a->shift == 0.0f && a->shear == 0.0f && a->zoom == 0.0f)
            *a = (mcl_augment){
                .enabled = true, .rotation = 8.0f, .shift = 0.08f, .shear = 0.3f, .zoom = 0.08f};
    }
    struct {
        int opt;
        const char *name;
        double max;
        float *dst;
    } ranges[] = {{OPT_ROTATION, "--rotation", 180.0, &a->rotation},
                  {OPT_SHIFT, "--shift", 1.0, &a->shift},
                  {OPT_SHEAR, "--shear", 89.0, &a->shear},
                  {OPT_ZOOM, "--zoom", 0.99, &a->zoom}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        if (v[ranges[i].opt] == NULL) continue;
        if (!cli_float(ranges[i].name, v[ranges[i].opt], 0.0, ranges[i].max, true, ranges[i].dst))
            return false;
        a->enabled = true;
    }
    return true;
}

/* --optimizer NAME: that optimizer with Keras's defaults for what the command line does not
 * set. Switching from the recipe's optimizer takes its learning rate (0.001; SGD 0.01, as
 * before) and weight decay (AdamW 0.004, the others none); naming the recipe's own optimizer
 * keeps the recipe's values (SGD always took 0.01, and still does). */
static bool apply_optimizer(const char **v, mcl_recipe *r) {
    mcl_optimizer kind;
    bool known = false;
    for (unsigned k = 0; k < MCL_OPTIMIZER_COUNT && !known; k++)
        if (strcmp(v[OPT_OPTIMIZER], mcl_optimizer_str((mcl_optimizer)k)) == 0) {
            kind = (mcl_optimizer)k;
            known = true;
        }
    if (!known) {
        cli_error("--optimizer: expected 'adam', 'adamw', 'sgd' or 'rmsprop', got '%s'",
                  v[OPT_OPTIMIZER]);
        return false;
    }
    bool switched = kind != r->optimizer;
    r->optimizer = kind;
    if (!v[OPT_LR] && (switched || kind == MCL_OPTIMIZER_SGD))
        r->learning_rate = kind == MCL_OPTIMIZER_SGD ? 0.01f : 0.001f;
    if (switched) {
        /* The recipe's Nesterov and centered flags were its own optimizer's. */
        r->weight_decay = kind == MCL_OPTIMIZER_ADAMW ? 0.004f : 0.0f;
        r->nesterov = false;
        r->centered = false;
    }
    return true;
}

/* A clipping limit: a number > 0. */
static bool clip_limit(const char *option, const char *text, float *out) {
    if (!cli_float(option, text, 0.0, 1e30, true, out)) return false;
    if (*out > 0.0f) return true;
    cli_error("%s: the limit must be above 0, got '%s' (leave the option out for no clipping)",
              option, text);
    return false;
}

/* The optimizers' options, the regularisers, clipping and ReduceLROnPlateau, once --optimizer
 * is settled; an option the chosen optimizer would ignore is refused. */
static bool apply_regularisation_options(const char **v, mcl_recipe *r) {
    if (v[OPT_NESTEROV] && r->optimizer != MCL_OPTIMIZER_SGD) {
        cli_error("--nesterov applies to SGD only, and this run uses %s: add --optimizer sgd",
                  mcl_optimizer_str(r->optimizer));
        return false;
    }
    if (v[OPT_NESTEROV] && !(r->momentum > 0.0f)) {
        cli_error("--nesterov needs --momentum above 0 (without momentum it is plain SGD)");
        return false;
    }
    r->nesterov = r->nesterov || v[OPT_NESTEROV] != NULL;
    static const int rmsprop_only[] = {OPT_RHO, OPT_CENTERED};
    for (int i = 0; i < 2; i++)
        if (v[rmsprop_only[i]] && r->optimizer != MCL_OPTIMIZER_RMSPROP) {
            cli_error("%s applies to RMSprop only, and this run uses %s: add --optimizer "
                      "rmsprop",
                      options[rmsprop_only[i]].name, mcl_optimizer_str(r->optimizer));
            return false;
        }
    if (v[OPT_RHO] && !cli_float("--rho", v[OPT_RHO], 0.0, 1.0, false, &r->rho)) return false;
    r->centered = r->centered || v[OPT_CENTERED] != NULL;
    if (v[OPT_WEIGHT_DECAY] &&
        !cli_float("--weight-decay", v[OPT_WEIGHT_DECAY], 0.0, 1e6, true, &r->weight_decay))
        return false;
    if (v[OPT_L2] && !cli_float("--l2", v[OPT_L2], 0.0, 1e6, true, &r->l2)) return false;
    if (v[OPT_LABEL_SMOOTHING] && !cli_float("--label-smoothing", v[OPT_LABEL_SMOOTHING], 0.0, 1.0,
                                             false, &r->label_smoothing))
        return false;
    /* Keras allows one clipping; one given here replaces the recipe's. */
    static const int clips[] = {OPT_CLIPNORM, OPT_CLIPVALUE, OPT_GLOBAL_CLIPNORM};
    float *limits[] = {&r->clipnorm, &r->clipvalue, &r->global_clipnorm};
    int given = -1;
    for (int i = 0; i < 3; i++) {
        if (!v[clips[i]]) continue;
        if (given >= 0) {
            cli_error("%s and %s: only one of --clipnorm, --clipvalue and --global-clipnorm can "
                      "be set (as Keras's optimizers say)",
                      options[clips[given]].name, options[clips[i]].name);
            return false;
        }
        given = i;
    }
    if (given >= 0) {
        float limit = 0.0f;
        if (!clip_limit(options[clips[given]].name, v[clips[given]], &limit)) return false;
        for (int i = 0; i < 3; i++)
            *limits[i] = i == given ? limit : 0.0f;
    }
    mcl_plateau *p = &r->plateau;
    for (int opt = OPT_PLATEAU_FACTOR; opt <= OPT_PLATEAU_MIN_LR; opt++)
        if (v[opt] && !v[OPT_PLATEAU]) {
            cli_error("%s belongs to --reduce-lr-on-plateau", options[opt].name);
            return false;
        }
    if (v[OPT_PLATEAU]) p->enabled = true;
    if (v[OPT_PLATEAU_FACTOR]) {
        /* Keras: "ReduceLROnPlateau does not support a factor >= 1.0". */
        if (!cli_float("--plateau-factor", v[OPT_PLATEAU_FACTOR], 0.0, 1.0, false, &p->factor))
            return false;
        if (!(p->factor > 0.0f)) {
            cli_error("--plateau-factor: the factor must be in (0, 1), got '%s'",
                      v[OPT_PLATEAU_FACTOR]);
            return false;
        }
    }
    if (v[OPT_PLATEAU_PATIENCE] &&
        !cli_u32("--plateau-patience", v[OPT_PLATEAU_PATIENCE], 0, 100000, &p->patience))
        return false;
    if (v[OPT_PLATEAU_MIN_DELTA] &&
        !cli_float("--plateau-min-delta", v[OPT_PLATEAU_MIN_DELTA], 0.0, 1e30, true, &p->min_delta))
        return false;
    if (v[OPT_PLATEAU_COOLDOWN] &&
        !cli_u32("--plateau-cooldown", v[OPT_PLATEAU_COOLDOWN], 0, 100000, &p->cooldown))
        return false;
    if (v[OPT_PLATEAU_MIN_LR] &&
        !cli_float("--plateau-min-lr", v[OPT_PLATEAU_MIN_LR], 0.0, 1e6, true, &p->min_lr))
        return false;
    return true;
}

/* Applies command-line overrides to the model's recipe. */
static bool apply_options(const char **v, mcl_recipe *r, uint64_t *seed, uint32_t *limit,
                          int *verbose) {
    uint32_t u = 0;
    if (v[OPT_EPOCHS] && !cli_u32("--epochs", v[OPT_EPOCHS], 1, 100000, &r->epochs)) return false;
    if (v[OPT_BATCH] && !cli_u32("--batch-size", v[OPT_BATCH], 1, 1u << 24, &r->batch_size))
        return false;
    if (v[OPT_LR] && !cli_float("--lr", v[OPT_LR], 1e-12, 1e12, true, &r->learning_rate))
        return false;
    if (v[OPT_MOMENTUM] && !cli_float("--momentum", v[OPT_MOMENTUM], 0.0, 1.0, false, &r->momentum))
        return false;
    /* Checked after --optimizer below: an option that would be ignored is refused. */
    if (v[OPT_VALSPLIT] &&
        !cli_float("--validation-split", v[OPT_VALSPLIT], 0.0, 1.0, false, &r->validation_split))
        return false;
    if (v[OPT_OPTIMIZER] && !apply_optimizer(v, r)) return false;
    if (v[OPT_SCHEDULE]) {
        if (strcmp(v[OPT_SCHEDULE], "constant") == 0) {
            r->lr_schedule = MCL_LR_CONSTANT;
        } else if (strcmp(v[OPT_SCHEDULE], "cosine") == 0) {
            r->lr_schedule = MCL_LR_COSINE;
        } else if (strcmp(v[OPT_SCHEDULE], "step") == 0) {
            r->lr_schedule = MCL_LR_STEP;
        } else {
            cli_error("--lr-schedule: expected 'constant', 'cosine' or 'step', got '%s'",
                      v[OPT_SCHEDULE]);
            return false;
        }
    }
    if (v[OPT_MOMENTUM] && r->optimizer != MCL_OPTIMIZER_SGD &&
        r->optimizer != MCL_OPTIMIZER_RMSPROP) {
        cli_error("--momentum applies to SGD and RMSprop only, and this run uses %s: add "
                  "--optimizer sgd (or rmsprop), or drop --momentum",
                  mcl_optimizer_str(r->optimizer));
        return false;
    }
    if (!apply_regularisation_options(v, r)) return false;
    if (r->lr_schedule == MCL_LR_STEP && r->lr_decay_epochs == 0) {
        r->lr_decay_epochs = 10;
        r->lr_decay_rate = 0.5f;
    }
    if (v[OPT_LR_DECAY] &&
        !cli_float("--lr-decay", v[OPT_LR_DECAY], 1e-6, 1.0, true, &r->lr_decay_rate))
        return false;
    if (v[OPT_LR_DECAY_EPOCHS] &&
        !cli_u32("--lr-decay-epochs", v[OPT_LR_DECAY_EPOCHS], 1, 100000, &r->lr_decay_epochs))
        return false;
    if ((v[OPT_LR_DECAY] || v[OPT_LR_DECAY_EPOCHS]) && r->lr_schedule != MCL_LR_STEP) {
        cli_error("--lr-decay and --lr-decay-epochs belong to '--lr-schedule step'");
        return false;
    }
    if (v[OPT_WARMUP] && !cli_u32("--warmup-epochs", v[OPT_WARMUP], 0, 100000, &r->warmup_epochs))
        return false;
    if (!apply_augment_options(v, &r->augment)) return false;
    if (v[OPT_SEED] && !cli_u64("--seed", v[OPT_SEED], seed)) return false;
    if (v[OPT_LIMIT] && !cli_u32("--limit", v[OPT_LIMIT], 1, UINT32_MAX, limit)) return false;
    if (v[OPT_VERBOSE]) {
        if (!cli_u32("--verbose", v[OPT_VERBOSE], 0, 2, &u)) return false;
        *verbose = (int)u;
    }
    return true;
}

typedef struct train_run {
    mcl_file_lock *save_lock, *history_lock; /* this process alone writes --save, --history */
    mcl_checkpoint *checkpoint;              /* --resume */
    mcl_model *model;
    mcl_dataset *all, *limited, *test;
    const mcl_dataset *train;    /* all or limited: the fit splits off the validation set */
    uint32_t train_images, val_images; /* of the split (mcl_validation_split_count) */
    mcl_context *ctx;
    mcl_trainer *trainer;
} train_run;

static void train_run_free(train_run *r) {
    mcl_trainer_free(r->trainer);
    mcl_context_free(r->ctx);
    mcl_dataset_free(r->test);
    mcl_dataset_free(r->limited);
    mcl_dataset_free(r->all);
    mcl_model_free(r->model);
    mcl_checkpoint_free(r->checkpoint);
    mcl_file_lock_free(r->history_lock);
    mcl_file_lock_free(r->save_lock);
}

/* After the test evaluation: the checkpoint at --save keeps the test metrics of its weights
 * (section TEST, which info and export show). When the trainer still holds the weights that
 * were saved last it is saved again; otherwise (--save-best kept an earlier epoch, or early
 * stopping restored other weights after the last save) the file's own weights are evaluated. */
static mcl_status store_test_result(const train_ui *ui, train_run *run, uint32_t done,
                                    uint32_t patience, uint32_t batch, mcl_error *err) {
    bool restored = patience > 0 && ui->best_epoch > 0 && ui->best_epoch != done;
    if (ui->saved_epoch == 0) return MCL_OK; /* nothing was written */
    if (ui->saved_epoch == done && !restored)
        return mcl_trainer_save(run->trainer, ui->save_path, err);
    mcl_checkpoint *ck = NULL;
    mcl_trainer *saved = NULL;
    mcl_eval_result own = {0};
    mcl_status st = mcl_checkpoint_load(ui->save_path, &ck, err);
    if (st == MCL_OK) st = mcl_trainer_create_from_checkpoint(run->ctx, ck, batch, &saved, err);
    if (st == MCL_OK) st = mcl_trainer_evaluate(saved, run->test, batch, &own, err);
    if (st == MCL_OK) {
        mcl_trainer_set_test_result(saved, &own);
        st = mcl_trainer_save(saved, ui->save_path, err);
    }
    mcl_trainer_free(saved);
    mcl_checkpoint_free(ck);
    return st;
}

/* Loads the data and counts the validation split that the fit will make (the last fraction,
 * as Keras), refusing one that leaves nothing to train on before any device work. */
static mcl_status load_data(train_run *r, const char *dir, uint32_t limit, float split,
                            uint32_t declared_classes, float test_split, mcl_error *err) {
    const mcl_data_options opt = {.test_split = test_split};
    mcl_status st = mcl_dataset_load_with(dir, MCL_SPLIT_TRAIN, &opt, &r->all, err);
    if (st == MCL_OK) st = mcl_dataset_load_with(dir, MCL_SPLIT_TEST, &opt, &r->test, err);
    mcl_dataset_source src = {0};
    mcl_dataset_source_info(r->all, &src);
    if (st == MCL_OK && test_split > 0.0f && !(src.format == MCL_DATA_FOLDER && src.held_out))
        st = cli_set_error(err, MCL_ERR_USAGE,
                           "--test-split applies to an image folder without train/ and test/ "
                           "folders; %s has its own test set",
                           dir);
    if (st == MCL_OK && declared_classes > 0 && mcl_dataset_class_name(r->all, 0) != NULL)
        st = cli_set_error(err, MCL_ERR_USAGE,
                           "--classes: the class folders of %s define its %u classes", dir,
                           mcl_dataset_num_classes(r->all));
    if (st == MCL_OK) st = mcl_dataset_check_classes(r->all, declared_classes, err);
    if (st == MCL_OK && declared_classes > 0)
        st = mcl_dataset_check_classes(r->test, declared_classes, err);
    if (st != MCL_OK) return st;
    r->train = r->all;
    uint32_t count = mcl_dataset_count(r->all);
    if (limit > 0 && limit < count) {
        st = mcl_dataset_subset(r->all, 0, limit, &r->limited, err);
        if (st != MCL_OK) return st;
        r->train = r->limited;
        count = limit;
    }
    st = mcl_validation_split_count(count, split, &r->train_images, err);
    r->val_images = count - r->train_images;
    return st;
}

/* "cat, dog, fish" (cut after about 200 characters), or "" for unnamed classes. */
static void class_names_text(const mcl_dataset *ds, char *out, size_t size) {
    size_t n = 0;
    out[0] = '\0';
    for (uint32_t k = 0; k < mcl_dataset_num_classes(ds) && mcl_dataset_class_name(ds, k); k++) {
        if (n > 200 || n + 8 >= size) {
            snprintf(out + n, size - n, ", ...");
            return;
        }
        n += (size_t)snprintf(out + n, size - n, "%s%s", k ? ", " : "",
                              mcl_dataset_class_name(ds, k));
        if (n >= size) n = size - 1;
    }
}

/* An image folder's files, as Keras's image_dataset_from_directory reports them. */
static void print_folder_summary(const train_run *r) {
    mcl_dataset_source train, test;
    mcl_dataset_source_info(r->all, &train);
    mcl_dataset_source_info(r->test, &test);
    if (train.format != MCL_DATA_FOLDER) return;
    uint32_t classes = mcl_dataset_num_classes(r->all);
    printf("Found %u files belonging to %u classes.\n", train.files_found, classes);
    if (train.held_out) {
        printf("Using %u files for training.\nUsing %u files for testing.\n",
               mcl_dataset_count(r->all), mcl_dataset_count(r->test));
    } else {
        printf("Found %u files belonging to %u classes.\n", test.files_found, classes);
    }
    uint32_t skipped = train.files_skipped + (train.held_out ? 0 : test.files_skipped);
    if (skipped > 0)
        printf("Skipped %u file%s that %s not .png, .jpg, .jpeg, .bmp or .gif images, or "
               "hidden.\n",
               skipped, skipped == 1 ? "" : "s", skipped == 1 ? "is" : "are");
}

int cmd_train(const cli_global *g, int argc, char **argv) {
    const char *v[OPT_COUNT] = {0};
    if (!cli_parse("train", argc, argv, options, OPT_COUNT, v)) return CLI_EXIT_USAGE;
    if (v[OPT_HELP]) {
        cli_print_help("mnist-cl [--platform P] [--device D] train [options]",
                       "Train a model on IDX data (MNIST by default), Keras's mnist.npz or a "
                       "folder of images, print Keras-style "
                       "per-epoch loss/accuracy/val lines, then evaluate on the test set.\n"
                       "The same seed on the same device gives the same result.",
                       options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    train_run run = {0};
    mcl_error err = {0};
    /* --json: stdout carries the one JSON document at the end; until then everything that
     * would go there (the Keras lines, the progress bar on a terminal) goes to stderr. */
    int json_fd = -1;
    if (v[OPT_JSON]) {
        fflush(stdout);
        json_fd = dup(STDOUT_FILENO);
        if (json_fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
            cli_error("--json: cannot set stdout aside: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
    }
    if (v[OPT_RESUME] && (v[OPT_MODEL] || v[OPT_SEED])) {
        cli_error("--resume continues a run with its own model and seed; drop --model/--seed");
        return CLI_EXIT_USAGE;
    }
    if (v[OPT_RESUME]) {
        /* A resumed run is the run that was recorded: changing its recipe would silently give
         * a different result than the uninterrupted run (only --epochs may extend it). The data
         * options (--data, --limit, --classes, --validation-split) are checked against what
         * the checkpoint recorded (cli_resume_data): the same value is fine. */
        static const int fixed[] = {OPT_BATCH,    OPT_LR,         OPT_SCHEDULE,   OPT_LR_DECAY,
                                    OPT_LR_DECAY_EPOCHS, OPT_WARMUP, OPT_OPTIMIZER, OPT_MOMENTUM,
                                    OPT_AUGMENT,    OPT_NO_AUGMENT, OPT_ROTATION,
                                    OPT_SHIFT,    OPT_SHEAR,      OPT_ZOOM,
                                    /* the optimizer's options, recorded in the OPT2 section */
                                    OPT_NESTEROV, OPT_RHO, OPT_CENTERED, OPT_WEIGHT_DECAY, OPT_L2,
                                    OPT_LABEL_SMOOTHING, OPT_CLIPNORM, OPT_CLIPVALUE,
                                    OPT_GLOBAL_CLIPNORM, OPT_PLATEAU, OPT_PLATEAU_FACTOR,
                                    OPT_PLATEAU_PATIENCE, OPT_PLATEAU_MIN_DELTA,
                                    OPT_PLATEAU_COOLDOWN, OPT_PLATEAU_MIN_LR};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            if (v[fixed[i]]) {
                cli_error("--resume continues %s with the recipe it recorded; %s cannot change "
                          "(start a new run to change it; only --epochs extends a run)",
                          v[OPT_RESUME], options[fixed[i]].name);
                return CLI_EXIT_USAGE;
            }
    }
    /* Every output must be writable before a minute is spent training. */
    if ((v[OPT_SAVE] && !cli_check_output(v[OPT_SAVE], "--save")) ||
        (v[OPT_HISTORY] && !cli_check_output(v[OPT_HISTORY], "--history")))
        return CLI_EXIT_USAGE;
    if (v[OPT_SAVE_BEST] && !v[OPT_SAVE]) {
        cli_error("--save-best needs --save FILE");
        return CLI_EXIT_USAGE;
    }
    if (v[OPT_SAVE] && v[OPT_HISTORY] && strcmp(v[OPT_SAVE], v[OPT_HISTORY]) == 0) {
        cli_error("--save and --history name the same file '%s'", v[OPT_SAVE]);
        return CLI_EXIT_USAGE;
    }
    /* Before any work: a second mnist-cl writing the same files is refused at once. */
    if ((v[OPT_SAVE] && mcl_file_lock_acquire(v[OPT_SAVE], &run.save_lock, &err) != MCL_OK) ||
        (v[OPT_HISTORY] &&
         mcl_file_lock_acquire(v[OPT_HISTORY], &run.history_lock, &err) != MCL_OK)) {
        train_run_free(&run);
        return cli_fail(&err);
    }
    uint64_t seed = 42;
    mcl_recipe recipe;
    uint32_t initial_epoch = 0;
    if (v[OPT_RESUME]) {
        if (mcl_checkpoint_load(v[OPT_RESUME], &run.checkpoint, &err) != MCL_OK) {
            train_run_free(&run);
            return cli_fail(&err);
        }
        recipe = *mcl_checkpoint_recipe(run.checkpoint);
        seed = mcl_checkpoint_seed(run.checkpoint);
        initial_epoch = mcl_checkpoint_epoch(run.checkpoint);
    } else {
        if (cli_load_model(v[OPT_MODEL] ? v[OPT_MODEL] : "mlp", &run.model, &err) != MCL_OK) {
            train_run_free(&run);
            return cli_fail(&err);
        }
        recipe = *mcl_model_recipe(run.model);
    }
    const mcl_model *model = run.checkpoint ? mcl_checkpoint_model(run.checkpoint) : run.model;
    uint32_t limit = 0, patience = 0;
    int verbose = 1;
    float target = 0.0f;
    if (v[OPT_TARGET] && (!cli_float("--target-accuracy", v[OPT_TARGET], 0.0, 1.0, true, &target) ||
                          !(target > 0.0f))) {
        if (target == 0.0f && v[OPT_TARGET] != NULL)
            cli_error("--target-accuracy: the target must be above 0");
        train_run_free(&run);
        return CLI_EXIT_USAGE;
    }
    if (!apply_options(v, &recipe, &seed, &limit, &verbose) ||
        (v[OPT_EARLY_STOPPING] &&
         !cli_u32("--early-stopping", v[OPT_EARLY_STOPPING], 1, 100000, &patience))) {
        train_run_free(&run);
        return CLI_EXIT_USAGE;
    }
    if ((patience > 0 || v[OPT_SAVE_BEST]) && !(recipe.validation_split > 0.0f)) {
        cli_error("%s watches the validation loss: add --validation-split F (e.g. 0.1)",
                  patience > 0 ? "--early-stopping" : "--save-best");
        train_run_free(&run);
        return CLI_EXIT_USAGE;
    }
    if (initial_epoch > recipe.epochs) {
        cli_error("%s has already trained %u epoch%s; ask for more with --epochs N", v[OPT_RESUME],
                  initial_epoch, initial_epoch == 1 ? "" : "s");
        train_run_free(&run);
        return CLI_EXIT_USAGE;
    }
    uint32_t declared_classes = 0;
    float test_split = 0.0f;
    if ((v[OPT_CLASSES] && !cli_u32("--classes", v[OPT_CLASSES], 2, 256, &declared_classes)) ||
        (v[OPT_TEST_SPLIT] &&
         (!cli_float("--test-split", v[OPT_TEST_SPLIT], 0.0, 1.0, false, &test_split) ||
          !(test_split > 0.0f)))) {
        if (v[OPT_TEST_SPLIT] && test_split == 0.0f) cli_error("--test-split must be above 0");
        train_run_free(&run);
        return CLI_EXIT_USAGE;
    }
    /* A resumed run trains on the data it recorded; a new one on --data or the default. */
    cli_data_choice data = {0};
    if (run.checkpoint != NULL) {
        cli_resume_given given = {.data = v[OPT_DATA],
                                  .has_limit = v[OPT_LIMIT] != NULL,
                                  .limit = limit,
                                  .has_classes = v[OPT_CLASSES] != NULL,
                                  .classes = declared_classes,
                                  .has_split = v[OPT_VALSPLIT] != NULL,
                                  .split = recipe.validation_split};
        int code = CLI_EXIT_USAGE;
        if (!cli_resume_data(v[OPT_RESUME], run.checkpoint, &given, &data, &limit,
                             &declared_classes, &code)) {
            train_run_free(&run);
            return code;
        }
    } else {
        cli_choose_data(v[OPT_DATA], &data);
    }
    const char *dir = data.dir;
    mcl_status st =
        load_data(&run, dir, limit, recipe.validation_split, declared_classes, test_split, &err);
    if (st != MCL_OK) cli_data_choice_advice(&err, &data);
    if (st == MCL_OK && run.checkpoint != NULL)
        st = cli_check_resume_fingerprint(v[OPT_RESUME], run.checkpoint, &data, run.all, &err);
    mcl_context_options copt = {
        .platform = g->platform, .device = g->device, .profile = v[OPT_PROFILE] != NULL};
    if (st == MCL_OK) st = mcl_context_create(&copt, &run.ctx, &err);
    uint32_t classes = st != MCL_OK         ? 0
                       : declared_classes > 0 ? declared_classes
                                              : mcl_dataset_num_classes(run.all);
    if (st == MCL_OK && run.checkpoint != NULL) {
        uint32_t rows, cols, ck_classes;
        mcl_checkpoint_input(run.checkpoint, &rows, &cols, &ck_classes);
        if (rows != mcl_dataset_rows(run.all) || cols != mcl_dataset_cols(run.all) ||
            ck_classes != classes)
            st = cli_set_error(&err, MCL_ERR_MODEL,
                               "%s was trained on %ux%u images of %u classes but %s has %ux%u "
                               "images of %u classes",
                               v[OPT_RESUME], rows, cols, ck_classes, dir,
                               mcl_dataset_rows(run.all), mcl_dataset_cols(run.all), classes);
        else if (cli_check_class_names(run.checkpoint, v[OPT_RESUME], run.all, dir, &err) != MCL_OK)
            st = err.status;
        else
            st = mcl_trainer_create_from_checkpoint(run.ctx, run.checkpoint, recipe.batch_size,
                                                    &run.trainer, &err);
    } else if (st == MCL_OK) {
        st =
            mcl_trainer_create(run.ctx, model, mcl_dataset_rows(run.all), mcl_dataset_cols(run.all),
                               classes, recipe.batch_size, seed, &run.trainer, &err);
    }
    if (st != MCL_OK) {
        train_run_free(&run);
        return cli_fail(&err);
    }
    /* What the checkpoints record of the data (DATA): --resume, eval and info read it. */
    mcl_data_record record = {.limit = limit,
                              .classes = declared_classes,
                              .validation_split = recipe.validation_split,
                              .train_images = run.train_images,
                              .val_images = run.val_images,
                              .test_images = mcl_dataset_count(run.test),
                              .fingerprint = mcl_dataset_fingerprint(run.all)};
    if (!cli_abs_path(dir, record.source, sizeof record.source))
        snprintf(record.source, sizeof record.source, "%s", dir);
    mcl_trainer_set_data_record(run.trainer, &record);
    const mcl_device_info *dev = mcl_context_device(run.ctx);
    train_ui ui = {.verbose = verbose,
                   .tty = isatty(STDOUT_FILENO) == 1,
                   .trainer = run.trainer,
                   .save_path = v[OPT_SAVE],
                   .save_best = v[OPT_SAVE_BEST] != NULL,
                   .history_path = v[OPT_HISTORY],
                   .start_seconds = g->start_seconds,
                   .show_lr = recipe.plateau.enabled};
    if (verbose > 0) {
        printf("Device: %s (%s, %s) [platform %u, device %u]; GEMM: %s\n", dev->name,
               mcl_device_type_str(dev->type), dev->platform_name, dev->platform_index,
               dev->device_index, mcl_context_gemm_name(run.ctx));
        print_folder_summary(&run);
        char names[320];
        class_names_text(run.all, names, sizeof names);
        printf("Data: %s%s: %u training, %u validation, %u test images of %ux%u, %u classes%s%s%s\n",
               dir, cli_data_origin_note(&data), run.train_images, run.val_images, mcl_dataset_count(run.test),
               mcl_dataset_rows(run.all), mcl_dataset_cols(run.all), classes, names[0] ? " (" : "",
               names, names[0] ? ")" : "");
        static const char *const schedules[] = {"", " (cosine decay)", " (step decay)"};
        /* Keras's counts: total params, and the trainable ones when some are not. */
        uint64_t trainable = mcl_trainer_param_count(run.trainer);
        uint64_t fixed = mcl_trainer_state_count(run.trainer);
        char total_text[32], trainable_text[32], params[96];
        cli_thousands(trainable + fixed, total_text, sizeof total_text);
        cli_thousands(trainable, trainable_text, sizeof trainable_text);
        if (fixed > 0)
            snprintf(params, sizeof params, "%s params (%s trainable)", total_text,
                     trainable_text);
        else
            snprintf(params, sizeof params, "%s params", total_text);
        printf("Model: %s, %s; %s lr %g%s, batch %u, %u epoch%s, seed %llu\n",
               mcl_model_name(model), params, mcl_optimizer_str(recipe.optimizer),
               (double)recipe.learning_rate, schedules[recipe.lr_schedule], recipe.batch_size,
               recipe.epochs, recipe.epochs == 1 ? "" : "s", (unsigned long long)seed);
        print_optimizer_options(&recipe, run.val_images > 0);
        const mcl_augment *a = &recipe.augment;
        if (a->enabled)
            printf("Augmentation: rotation %g deg, shift %g, shear %g deg, zoom %g\n",
                   (double)a->rotation, (double)a->shift, (double)a->shear, (double)a->zoom);
        uint32_t resume_step = run.checkpoint != NULL ? mcl_trainer_epoch_step(run.trainer) : 0;
        if (resume_step > 0)
            printf("Resuming %s in epoch %u at step %u\n", v[OPT_RESUME], initial_epoch + 1,
                   resume_step);
        else if (initial_epoch > 0)
            printf("Resuming %s after epoch %u\n", v[OPT_RESUME], initial_epoch);
        if (initial_epoch < recipe.epochs)
            printf("Epoch %u/%u\n", initial_epoch + 1, recipe.epochs);
        fflush(stdout);
    }
    mcl_fit_options fit = {.recipe = recipe,
                           .seed = seed,
                           .on_progress = verbose == 1 && ui.tty ? on_progress : NULL,
                           .progress_interval_s = 0.25,
                           .on_epoch = on_epoch,
                           .user = &ui,
                           .initial_epoch = initial_epoch,
                           .early_stopping_patience = patience,
                           .interrupt = &interrupt_requested,
                           .monitor = target > 0.0f ? run.test : NULL,
                           .target_accuracy = target};
    struct sigaction old_sigint;
    catch_sigint(&old_sigint);
    st = mcl_trainer_fit(run.trainer, run.train, NULL, &fit, &err);
    sigaction(SIGINT, &old_sigint, NULL);
    if (st == MCL_OK && ui.failed) {
        err = ui.err;
        st = err.status;
    }
    if (st != MCL_OK) {
        if (ui.bar_shown) printf("\n");
        train_run_free(&run);
        return cli_fail(&err);
    }
    uint32_t done = mcl_trainer_epochs_done(run.trainer);
    if (interrupt_requested) {
        if (ui.bar_shown) printf("\n");
        int code = report_interrupt(&ui, run.trainer, recipe.batch_size, run.train_images);
        train_run_free(&run);
        return code;
    }
    if (patience > 0 && verbose > 0 && ui.best_epoch > 0)
        printf("%s: restored the weights of epoch %u (val_loss %.4f)\n",
               done < recipe.epochs ? "Early stopping" : "Best epoch", ui.best_epoch,
               ui.best_val_loss);
    if (target > 0.0f && verbose > 0) {
        if (ui.reached_epoch > 0)
            printf("Reached test accuracy %.4f (target %.4f) after epoch %u: %.2f s from the start "
                   "of mnist-cl\n",
                   ui.reached_accuracy, (double)target, ui.reached_epoch, ui.reached_seconds);
        else
            printf("Test accuracy %.4f did not reach the target %.4f in %u epoch%s\n",
                   ui.last_monitor_accuracy, (double)target, done, done == 1 ? "" : "s");
    }
    mcl_eval_result test = {0};
    if (verbose > 0) cli_warn_batchnorm(run.trainer);
    st = mcl_trainer_evaluate(run.trainer, run.test, recipe.batch_size, &test, &err);
    if (st == MCL_OK) {
        mcl_trainer_set_test_result(run.trainer, &test);
        if (ui.save_path != NULL) st = store_test_result(&ui, &run, done, patience, recipe.batch_size, &err);
    }
    /* Throughput of the training steps, over the whole epochs after the first. */
    double epoch_s = ui.timed_epochs > 0 ? ui.train_seconds / ui.timed_epochs : 0.0;
    double images_per_s = epoch_s > 0.0 ? run.train_images / epoch_s : 0.0;
    double gflops = images_per_s * mcl_trainer_train_flops_per_sample(run.trainer) * 1e-9;
    double ms_per_step = ui.steps > 0 ? 1000.0 * epoch_s / ui.steps : 0.0;
    if (st == MCL_OK && verbose > 0) {
        printf("Test loss: %.4f - test accuracy: %.4f (%u images)\n", test.loss, test.accuracy,
               test.count);
        if (ui.timed_epochs > 0)
            printf("Speed: %.3f s/epoch, %.2f ms/step, %.0f images/s, %.2f GFLOP/s "
                   "(training steps, mean of %u epoch%s%s)\n",
                   epoch_s, ms_per_step, images_per_s, gflops, ui.timed_epochs,
                   ui.timed_epochs == 1 ? "" : "s", recipe.epochs > 1 ? " after the first" : "");
        printf("Trained on %s (%s, platform %u, device %u)\n", dev->name,
               mcl_device_type_str(dev->type), dev->platform_index, dev->device_index);
    }
    if (st == MCL_OK && v[OPT_PROFILE] != NULL) print_profile(run.trainer);
    if (st == MCL_OK && json_fd >= 0) {
        /* Everything so far went to stderr; the document alone goes to the real stdout. */
        fflush(stdout);
        if (dup2(json_fd, STDOUT_FILENO) < 0)
            st = cli_set_error(&err, MCL_ERR_IO, "--json: cannot restore stdout: %s",
                               strerror(errno));
        close(json_fd);
        size_t rows = 0;
        const mcl_epoch_result *history = mcl_trainer_history(run.trainer, &rows);
        cli_train_report report = {.model = model,
                                   .recipe = &recipe,
                                   .seed = seed,
                                   .data = &record,
                                   .resumed_from = v[OPT_RESUME],
                                   .initial_epoch = initial_epoch,
                                   .epochs_done = done,
                                   .history = history,
                                   .history_count = rows,
                                   .trainable_params = mcl_trainer_param_count(run.trainer),
                                   .non_trainable_params = mcl_trainer_state_count(run.trainer),
                                   .test = &test,
                                   .device = dev,
                                   .gemm = mcl_context_gemm_name(run.ctx),
                                   .checkpoint = v[OPT_SAVE],
                                   .wall_seconds = cli_now() - g->start_seconds,
                                   .timed_epochs = ui.timed_epochs,
                                   .epoch_seconds = epoch_s,
                                   .ms_per_step = ms_per_step,
                                   .images_per_second = images_per_s,
                                   .gflops = gflops,
                                   .patience = patience,
                                   .best_epoch = ui.best_epoch,
                                   .best_val_loss = ui.best_val_loss,
                                   .target = target,
                                   .reached_epoch = ui.reached_epoch,
                                   .reached_seconds = ui.reached_seconds};
        if (st == MCL_OK) st = cli_print_train_json(&report, &err);
    }
    if (st == MCL_OK && v[OPT_PROFILE] != NULL) print_profile(run.trainer);
    train_run_free(&run);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}
