/* The epoch order (mcl_epoch_order): a permutation of 0..n-1 for every n, a function of
 * (seed, epoch) only, different across epochs and seeds, and uniform over positions; and the
 * two rules that size an epoch: steps per epoch and the validation split. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/scheduler.h"
#include "test_util.h"

#define MNIST_TRAIN_COUNT 60000u

/* Asserts that order[0..n) holds every value of 0..n-1 exactly once. */
static void assert_permutation(const uint32_t *order, uint32_t n) {
    bool *seen = calloc(n > 0 ? n : 1, sizeof *seen);
    ck_assert_ptr_nonnull(seen);
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_msg(order[i] < n, "order[%u] = %u is out of range for n = %u", i, order[i], n);
        ck_assert_msg(!seen[order[i]], "value %u appears twice (n = %u)", order[i], n);
        seen[order[i]] = true;
    }
    free(seen);
}

static uint32_t *order_create(uint64_t seed, uint32_t epoch, uint32_t n) {
    uint32_t *order = malloc((n > 0 ? n : 1) * sizeof *order);
    ck_assert_ptr_nonnull(order);
    mcl_epoch_order(seed, epoch, n, order);
    return order;
}

START_TEST(test_permutation_mnist_size) {
    for (uint32_t epoch = 0; epoch < 3; epoch++) {
        uint32_t *order = order_create(42, epoch, MNIST_TRAIN_COUNT);
        assert_permutation(order, MNIST_TRAIN_COUNT);
        free(order);
    }
}
END_TEST

START_TEST(test_permutation_small_sizes) {
    static const uint32_t sizes[] = {1, 2, 3, 7, 100, 101};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (uint32_t epoch = 0; epoch < 20; epoch++) {
            uint32_t *order = order_create(7, epoch, sizes[s]);
            assert_permutation(order, sizes[s]);
            free(order);
        }
    }
}
END_TEST

START_TEST(test_n_one_is_identity) {
    uint32_t order[1] = {12345};
    mcl_epoch_order(99, 3, 1, order);
    ck_assert_uint_eq(order[0], 0);
}
END_TEST

/* With n = 2 both orders must occur over a few epochs: the shuffle is not a no-op. */
START_TEST(test_n_two_takes_both_orders) {
    int swapped = 0, kept = 0;
    for (uint32_t epoch = 0; epoch < 64; epoch++) {
        uint32_t order[2];
        mcl_epoch_order(5, epoch, 2, order);
        assert_permutation(order, 2);
        if (order[0] == 1) swapped++;
        else kept++;
    }
    ck_assert_int_gt(swapped, 0);
    ck_assert_int_gt(kept, 0);
}
END_TEST

START_TEST(test_n_zero_does_not_crash) {
    mcl_epoch_order(1, 0, 0, NULL);
    uint32_t sentinel[1] = {0xdeadbeefu};
    mcl_epoch_order(1, 0, 0, sentinel);
    ck_assert_uint_eq(sentinel[0], 0xdeadbeefu);
}
END_TEST

START_TEST(test_same_seed_and_epoch_is_identical) {
    uint32_t *a = order_create(1234, 5, MNIST_TRAIN_COUNT);
    uint32_t *b = order_create(1234, 5, MNIST_TRAIN_COUNT);
    ck_assert_mem_eq(a, b, MNIST_TRAIN_COUNT * sizeof *a);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_epochs_differ) {
    uint32_t *e0 = order_create(42, 0, MNIST_TRAIN_COUNT);
    uint32_t *e1 = order_create(42, 1, MNIST_TRAIN_COUNT);
    ck_assert_msg(memcmp(e0, e1, MNIST_TRAIN_COUNT * sizeof *e0) != 0,
                  "epochs 0 and 1 have the same order");
    /* Not merely different somewhere: two independent permutations share ~1 fixed position. */
    uint32_t same = 0;
    for (uint32_t i = 0; i < MNIST_TRAIN_COUNT; i++) same += e0[i] == e1[i];
    ck_assert_uint_lt(same, 20);
    /* And epoch 0 is actually shuffled, not the identity. */
    uint32_t fixed = 0;
    for (uint32_t i = 0; i < MNIST_TRAIN_COUNT; i++) fixed += e0[i] == i;
    ck_assert_uint_lt(fixed, 20);
    free(e0);
    free(e1);
}
END_TEST

START_TEST(test_seeds_differ) {
    uint32_t *s1 = order_create(1, 0, MNIST_TRAIN_COUNT);
    uint32_t *s2 = order_create(2, 0, MNIST_TRAIN_COUNT);
    /* Seeds that differ only above bit 32 must differ too (the key is 64-bit). */
    uint32_t *s3 = order_create(1 + (UINT64_C(1) << 32), 0, MNIST_TRAIN_COUNT);
    ck_assert_msg(memcmp(s1, s2, MNIST_TRAIN_COUNT * sizeof *s1) != 0,
                  "seeds 1 and 2 give the same order");
    ck_assert_msg(memcmp(s1, s3, MNIST_TRAIN_COUNT * sizeof *s1) != 0,
                  "seeds 1 and 1+2^32 give the same order");
    uint32_t same = 0;
    for (uint32_t i = 0; i < MNIST_TRAIN_COUNT; i++) same += s1[i] == s2[i];
    ck_assert_uint_lt(same, 20);
    free(s1);
    free(s2);
    free(s3);
}
END_TEST

/* Every position receives every value with probability 1/n. With DRAWS = 20000 and n = 4 the
 * standard deviation of each observed frequency is sqrt(0.25 * 0.75 / 20000) = 0.31%, so a
 * margin of 2% is more than 6 sigma: a fair shuffle never fails, while a biased one (e.g. the
 * classic "swap with any index" bug, which puts values at a position 21%..29% of the time)
 * does. */
#define UNIFORM_N 4u
#define UNIFORM_DRAWS 20000u
#define UNIFORM_MARGIN 0.02

static void assert_uniform(uint32_t counts[UNIFORM_N][UNIFORM_N], const char *what) {
    for (uint32_t pos = 0; pos < UNIFORM_N; pos++) {
        for (uint32_t v = 0; v < UNIFORM_N; v++) {
            double freq = (double)counts[pos][v] / UNIFORM_DRAWS;
            ck_assert_msg(freq > 1.0 / UNIFORM_N - UNIFORM_MARGIN &&
                              freq < 1.0 / UNIFORM_N + UNIFORM_MARGIN,
                          "%s: position %u holds value %u in %.2f%% of draws, want 25%% +- 2%%",
                          what, pos, v, 100.0 * freq);
        }
    }
}

START_TEST(test_uniform_over_epochs) {
    uint32_t counts[UNIFORM_N][UNIFORM_N] = {{0}};
    for (uint32_t epoch = 0; epoch < UNIFORM_DRAWS; epoch++) {
        uint32_t order[UNIFORM_N];
        mcl_epoch_order(42, epoch, UNIFORM_N, order);
        for (uint32_t pos = 0; pos < UNIFORM_N; pos++) counts[pos][order[pos]]++;
    }
    assert_uniform(counts, "seed 42, epochs 0..19999");
}
END_TEST

START_TEST(test_uniform_over_seeds) {
    uint32_t counts[UNIFORM_N][UNIFORM_N] = {{0}};
    for (uint32_t seed = 0; seed < UNIFORM_DRAWS; seed++) {
        uint32_t order[UNIFORM_N];
        mcl_epoch_order(seed, 0, UNIFORM_N, order);
        for (uint32_t pos = 0; pos < UNIFORM_N; pos++) counts[pos][order[pos]]++;
    }
    assert_uniform(counts, "seeds 0..19999, epoch 0");
}
END_TEST

/* The steps-per-epoch rule: whole batches plus a partial last one. */
START_TEST(test_steps_per_epoch) {
    ck_assert_uint_eq(mcl_steps_per_epoch(60000, 128), 469);
    ck_assert_uint_eq(mcl_steps_per_epoch(54000, 100), 540);
    ck_assert_uint_eq(mcl_steps_per_epoch(1, 128), 1);
    ck_assert_uint_eq(mcl_steps_per_epoch(0, 128), 0);
    ck_assert_uint_eq(mcl_steps_per_epoch(5, 0), 0);
    ck_assert_uint_eq(mcl_steps_per_epoch(UINT32_MAX, 2), UINT32_MAX / 2 + 1);
}
END_TEST

/* The validation split rule (Keras: int(count * (1 - split))), float rounding undone. */
START_TEST(test_validation_split_count) {
    mcl_error err = {0};
    uint32_t head = 0;
    ck_assert(mcl_validation_split_count(60000, 0.1f, &head, &err) == MCL_OK);
    ck_assert_uint_eq(head, 54000);
    ck_assert(mcl_validation_split_count(3000, 0.1f, &head, &err) == MCL_OK);
    ck_assert_uint_eq(head, 2700);
    ck_assert(mcl_validation_split_count(7, 0.0f, &head, &err) == MCL_OK);
    ck_assert_uint_eq(head, 7);
    mcl_status st = mcl_validation_split_count(1, 0.5f, &head, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "validation split of 0.5", "out of 1");
    st = mcl_validation_split_count(10, 1.0f, &head, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "validation split", "[0, 1)");
    st = mcl_validation_split_count(10, -0.1f, &head, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "validation split", "[0, 1)");
}
END_TEST

static Suite *scheduler_suite(void) {
    Suite *s = suite_create("scheduler");
    TCase *tc = tcase_create("epoch_order");
    tcase_add_test(tc, test_permutation_mnist_size);
    tcase_add_test(tc, test_permutation_small_sizes);
    tcase_add_test(tc, test_n_one_is_identity);
    tcase_add_test(tc, test_n_two_takes_both_orders);
    tcase_add_test(tc, test_n_zero_does_not_crash);
    tcase_add_test(tc, test_same_seed_and_epoch_is_identical);
    tcase_add_test(tc, test_epochs_differ);
    tcase_add_test(tc, test_seeds_differ);
    tcase_add_test(tc, test_uniform_over_epochs);
    tcase_add_test(tc, test_uniform_over_seeds);
    tcase_add_test(tc, test_steps_per_epoch);
    tcase_add_test(tc, test_validation_split_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return test_run_suite(scheduler_suite());
}
