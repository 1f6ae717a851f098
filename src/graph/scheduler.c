#include "graph/scheduler.h"

#include "core/philox.h"

/* Uniform integer in [0, bound) from a stream of random words (Lemire's method with rejection,
 * so there is no modulo bias). `draw` advances through the counter space of this position. */
static uint32_t bounded(uint64_t seed, uint32_t epoch, uint32_t position, uint32_t bound) {
    uint32_t attempt = 0;
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        const uint32_t counter[4] = {position, epoch, MCL_STREAM_SHUFFLE, attempt++};
        uint32_t x = mcl_philox4x32(counter, seed).v[0];
        uint64_t m = (uint64_t)x * bound;
        if ((uint32_t)m >= threshold) return (uint32_t)(m >> 32);
    }
}

void mcl_epoch_order(uint64_t seed, uint32_t epoch, uint32_t n, uint32_t *order) {
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = bounded(seed, epoch, i - 1, i);
        uint32_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}
