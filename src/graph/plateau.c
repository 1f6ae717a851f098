/* ReduceLROnPlateau, following Keras 3's callback line by line (mode "min" for a loss):
 *
 *   if cooldown_counter > 0: cooldown_counter -= 1; wait = 0
 *   if current < best - min_delta: best = current; wait = 0
 *   elif not in cooldown: wait += 1
 *       if wait >= patience and old_lr > float32(min_lr):
 *           new_lr = max(old_lr * factor, min_lr); cooldown_counter = cooldown; wait = 0
 *
 * Keras sets the optimizer's learning rate to new_lr (and refuses to run on an optimizer with
 * a schedule). Here the reduction is a factor on top of the schedule instead, so the two
 * compose: with a constant schedule that is Keras's behaviour, and with cosine or step decay
 * the decay goes on from the reduced rate. */
#include "graph/plateau.h"

#include <math.h>

mcl_plateau_state mcl_plateau_initial(void) {
    return (mcl_plateau_state){.best = INFINITY, .wait = 0, .cooldown = 0, .scale = 1.0};
}

double mcl_plateau_lr(const mcl_plateau_state *s, const mcl_plateau *p, double scheduled) {
    if (!p->enabled || s->scale >= 1.0) return scheduled;
    double reduced = scheduled * s->scale;
    if (reduced < p->min_lr) reduced = p->min_lr;
    return reduced < scheduled ? reduced : scheduled;
}

bool mcl_plateau_epoch_end(mcl_plateau_state *s, const mcl_plateau *p, double current,
                           double last_scheduled, float last_lr, float *new_lr) {
    if (!p->enabled) return false;
    if (s->cooldown > 0) {
        s->cooldown--;
        s->wait = 0;
    }
    if (current < s->best - (double)p->min_delta) {
        s->best = current;
        s->wait = 0;
        return false;
    }
    if (s->cooldown > 0) return false;
    s->wait++;
    if (s->wait < p->patience || !(last_lr > p->min_lr)) return false;
    s->scale *= p->factor;
    *new_lr = (float)mcl_plateau_lr(s, p, last_scheduled);
    s->cooldown = p->cooldown;
    s->wait = 0;
    return true;
}
