/* Keras's ReduceLROnPlateau callback as the trainer runs it: its state between epochs and its
 * on_epoch_end (src/graph/plateau.c). Host-only; the state goes into checkpoints, so a resumed
 * run reduces the rate exactly when the uninterrupted one would have. */
#ifndef MCL_GRAPH_PLATEAU_H
#define MCL_GRAPH_PLATEAU_H

#include <stdbool.h>
#include <stdint.h>

#include "mnistcl/mnistcl.h"

typedef struct mcl_plateau_state {
    double best;       /* the lowest monitored loss so far (+inf before the first epoch) */
    uint32_t wait;     /* epochs without improvement, outside cooldown (Keras's `wait`) */
    uint32_t cooldown; /* epochs of cooldown left (Keras's `cooldown_counter`) */
    double scale;      /* the product of the reductions so far: 1 until it first fires */
} mcl_plateau_state;

/* The state of a run that has not started (Keras's _reset). */
mcl_plateau_state mcl_plateau_initial(void);

/* The rate of a step whose schedule gives `scheduled`: scheduled * scale, held at min_lr when
 * the reductions would take it below (but never above `scheduled`); `scheduled` unchanged
 * while the callback is off or has not fired. */
double mcl_plateau_lr(const mcl_plateau_state *s, const mcl_plateau *p, double scheduled);

/* Keras's on_epoch_end for a monitored loss `current`, `last_scheduled` being the schedule's rate
 * at the epoch's last step and `last_lr` the rate that step used: returns true when it reduced
 * the rate, with *new_lr the rate it reduced that step's to. */
bool mcl_plateau_epoch_end(mcl_plateau_state *s, const mcl_plateau *p, double current,
                           double last_scheduled, float last_lr, float *new_lr);

#endif
