/* The epoch order: a seeded permutation of the training indices, new every epoch. */
#ifndef MCL_GRAPH_SCHEDULER_H
#define MCL_GRAPH_SCHEDULER_H

#include <stdint.h>

/* Fills order[0..n) with a permutation of 0..n-1 that depends only on (seed, epoch):
 * Fisher-Yates driven by Philox with counter (position, epoch), unbiased bounded draws. */
void mcl_epoch_order(uint64_t seed, uint32_t epoch, uint32_t n, uint32_t *order);

#endif
