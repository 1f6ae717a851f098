/* A parsed model description: layers as written plus the training recipe. Host-only. */
#ifndef MCL_GRAPH_MODEL_H
#define MCL_GRAPH_MODEL_H

#include "ops/op.h"

#define MCL_MODEL_MAX_LAYERS 256

struct mcl_model {
    char *text; /* the description as parsed (owned): checkpoints store it */
    char name[64];
    char source[256]; /* file name or "builtin:NAME", for messages */
    mcl_recipe recipe;
    uint32_t layer_count;
    mcl_layer layers[MCL_MODEL_MAX_LAYERS];
};

/* Keras-like defaults: Adam 1e-3, batch 128, 10 epochs, no validation split. */
mcl_recipe mcl_recipe_default(void);
/* Keras's defaults for the options of its optimizers and ReduceLROnPlateau. */
#define MCL_KERAS_RHO 0.9f
#define MCL_KERAS_ADAMW_WEIGHT_DECAY 0.004f
mcl_plateau mcl_plateau_default(void); /* off, factor 0.1, patience 10, min_delta 1e-4 */
/* The optimizer called `name` ("adamw", as mcl_optimizer_str spells it); false if none is. */
bool mcl_optimizer_parse(const char *name, mcl_optimizer *out);

#endif
