/* Philox4x32-10, a counter-based random number generator (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC 2011). The same function runs here and on the device
 * (cl/common.cl), so shuffles, weight init and dropout masks depend only on (seed, counter):
 * reproducible for a seed, on any device, in any order of evaluation. */
#ifndef MCL_CORE_PHILOX_H
#define MCL_CORE_PHILOX_H

#include <stdint.h>

typedef struct mcl_philox_block {
    uint32_t v[4];
} mcl_philox_block;

/* Four random words from a 128-bit counter and a 64-bit key. */
mcl_philox_block mcl_philox4x32(const uint32_t counter[4], uint64_t key);

/* Streams separate the uses of one seed so they never share counters: init and shuffle put the
 * stream in counter word 2 (word 3 = 0), augmentation puts 4 in word 2 and its block (0, 1) in
 * word 3, dropout (whose word 2 is the layer index) puts 3 in word 3. */
enum mcl_rng_stream {
    MCL_STREAM_INIT = 1,    /* weight initialisation: counter = (element, tensor) */
    MCL_STREAM_SHUFFLE = 2, /* epoch shuffles: counter = (position, epoch) */
    MCL_STREAM_DROPOUT = 3, /* dropout masks: counter = (block, step, layer, 3), src/ops/dropout.c */
    MCL_STREAM_AUGMENT = 4, /* augmentation: counter = (sample, epoch, stream, block) */
};

/* One uniform word / float in [0, 1) for (seed, stream, index). */
uint32_t mcl_philox_u32(uint64_t seed, uint32_t stream, uint64_t index);
float mcl_philox_uniform(uint64_t seed, uint32_t stream, uint64_t index);

/* Converts a random word to a float in [0, 1) with 24 bits of precision (as cl/common.cl). */
static inline float mcl_u32_to_unit_float(uint32_t x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

#endif
