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

#endif
