/* A run's records as JSON (train --json, info --json, ONNX metadata): the recipe and the data
 * record. The keys are the model language's recipe keys (README "Model files"), so a recipe
 * read here can be written back as `recipe key=value` lines. */
#include <stdlib.h>

#include "core/text.h"
#include "mnistcl/mnistcl.h"

static const char *schedule_name(mcl_lr_schedule s) {
    return s == MCL_LR_COSINE ? "cosine" : s == MCL_LR_STEP ? "step" : "constant";
}

static void key_u32(mcl_text *t, const char *key, uint32_t v) {
    mcl_text_add(t, ", \"%s\": %u", key, v);
}

static void key_float(mcl_text *t, const char *key, float v) {
    mcl_text_add(t, ", \"%s\": ", key);
    mcl_text_json_float(t, v);
}

static void key_string(mcl_text *t, const char *key, const char *v) {
    mcl_text_add(t, ", \"%s\": ", key);
    mcl_text_json_string(t, v);
}

static mcl_status finish(mcl_text *t, char **out, mcl_error *err) {
    mcl_text_add(t, "}");
    *out = mcl_text_take(t);
    return *out != NULL
               ? MCL_OK
               : mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the JSON output");
}

/* One line per field: a new recipe field is one more line here. */
mcl_status mcl_recipe_json(const mcl_recipe *r, char **out, mcl_error *err) {
    mcl_text t = {0};
    mcl_text_add(&t, "{\"epochs\": %u", r->epochs);
    key_u32(&t, "batch_size", r->batch_size);
    key_string(&t, "optimizer", mcl_optimizer_str(r->optimizer));
    key_float(&t, "lr", r->learning_rate);
    key_string(&t, "lr_schedule", schedule_name(r->lr_schedule));
    key_float(&t, "lr_decay", r->lr_decay_rate);
    key_u32(&t, "lr_decay_epochs", r->lr_decay_epochs);
    key_u32(&t, "warmup_epochs", r->warmup_epochs);
    key_float(&t, "momentum", r->momentum);
    key_float(&t, "validation_split", r->validation_split);
    mcl_text_add(&t, ", \"augment\": %s", r->augment.enabled ? "true" : "false");
    key_float(&t, "rotation", r->augment.rotation);
    key_float(&t, "shift", r->augment.shift);
    key_float(&t, "shear", r->augment.shear);
    key_float(&t, "zoom", r->augment.zoom);
    key_float(&t, "weight_decay", r->weight_decay);
    key_float(&t, "l2", r->l2);
    key_float(&t, "rho", r->rho);
    mcl_text_add(&t, ", \"nesterov\": %s", r->nesterov ? "true" : "false");
    mcl_text_add(&t, ", \"centered\": %s", r->centered ? "true" : "false");
    key_float(&t, "label_smoothing", r->label_smoothing);
    key_float(&t, "clipnorm", r->clipnorm);
    key_float(&t, "clipvalue", r->clipvalue);
    key_float(&t, "global_clipnorm", r->global_clipnorm);
    /* ReduceLROnPlateau is a callback (command line only), not a model-language key. */
    mcl_text_add(&t, ", \"reduce_lr_on_plateau\": ");
    if (r->plateau.enabled) {
        mcl_text_add(&t, "{\"factor\": ");
        mcl_text_json_float(&t, r->plateau.factor);
        mcl_text_add(&t, ", \"patience\": %u, \"min_delta\": ", r->plateau.patience);
        mcl_text_json_float(&t, r->plateau.min_delta);
        mcl_text_add(&t, ", \"cooldown\": %u, \"min_lr\": ", r->plateau.cooldown);
        mcl_text_json_float(&t, r->plateau.min_lr);
        mcl_text_add(&t, "}");
    } else {
        mcl_text_add(&t, "null");
    }
    return finish(&t, out, err);
}

mcl_status mcl_data_record_json(const mcl_data_record *d, char **out, mcl_error *err) {
    mcl_text t = {0};
    mcl_text_add(&t, "{\"source\": ");
    mcl_text_json_string(&t, d->source);
    key_u32(&t, "limit", d->limit);
    key_u32(&t, "classes", d->classes);
    key_float(&t, "validation_split", d->validation_split);
    key_u32(&t, "train_images", d->train_images);
    key_u32(&t, "validation_images", d->val_images);
    key_u32(&t, "test_images", d->test_images);
    mcl_text_add(&t, ", \"fingerprint\": \"%08x\"", d->fingerprint);
    return finish(&t, out, err);
}
