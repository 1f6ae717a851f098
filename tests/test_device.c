/* The device layer's choices and guarantees: the kernel shapes per device class, device caps (the
 * environment's, their parsing, and that they bind), a build of every class's kernels without a
 * word from the compiler, the start-up GEMM check and its fallback, and the device chosen by
 * MNIST_CL_PLATFORM / MNIST_CL_DEVICE. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "device/program.h"
#include "device/gemm.h"
#include "test_util.h"

/* Each class's row is valid and its options carry every define the kernels check for. */
START_TEST(test_every_class_has_valid_shapes) {
    static const char *const defines[] = {"-DGEMM_TM=", "-DGEMM_VW=", "-DGEMM_NV=", "-DGEMM_KC=",
                                          "-DCONV_TP=", "-DCONV_VW=", "-DCONV_NV=", "-DCONV_TC=",
                                          "-DCONV_DW=", "-DCONV_RW=", "-DCONV_RC=", "-DVEC_W=",
                                          "-DVEC_ROWS=", "-DVEC_GROUP1=", "-DVEC_SPAN="};
    char seen[MCL_CLASS_COUNT][1024];
    for (int c = 0; c < MCL_CLASS_COUNT; c++) {
        mcl_kernel_shapes s = mcl_kernel_shapes_of_class((mcl_device_class)c);
        ck_assert_msg(mcl_kernel_shapes_valid(&s), "class %d", c);
        ck_assert_int_eq(s.device_class, c);
        ck_assert(mcl_program_options(&s, seen[c], sizeof seen[c]));
        ck_assert_msg(strstr(seen[c], "-cl-std=CL1.2") != NULL, "%s", seen[c]);
        for (size_t d = 0; d < sizeof defines / sizeof defines[0]; d++)
            ck_assert_msg(strstr(seen[c], defines[d]) != NULL, "class %d lacks %s", c, defines[d]);
        for (int o = 0; o < c; o++)
            ck_assert_msg(strcmp(seen[o], seen[c]) != 0, "classes %d and %d build alike", o, c);
        /* The accumulators of a tile fit the class's registers (32 with AVX-512, 16 else). */
        uint32_t registers = c == MCL_CLASS_CPU_16 ? 32 : 16;
        ck_assert_uint_le(s.gemm.rows * s.gemm.vectors + s.gemm.vectors + 1, registers);
        ck_assert_uint_le(s.conv_tiled.positions * s.conv_tiled.vectors + s.conv_tiled.vectors + 1,
                          registers);
        ck_assert_uint_le(s.conv_tiled.channels * s.conv_tiled.vectors + s.conv_tiled.vectors + 1,
                          registers);
    }
    mcl_kernel_shapes bad = mcl_kernel_shapes_of_class(MCL_CLASS_CPU_16);
    bad.gemm.vector = 3;
    ck_assert(!mcl_kernel_shapes_valid(&bad));
}
END_TEST

/* The class follows the device's type and native float vector width. */
START_TEST(test_class_from_properties) {
    mcl_device_info info = {.type = MCL_DEVICE_CPU};
    static const struct {
        mcl_device_type type;
        uint32_t width;
        mcl_device_class want;
    } cases[] = {
        {MCL_DEVICE_CPU, 16, MCL_CLASS_CPU_16}, {MCL_DEVICE_CPU, 8, MCL_CLASS_CPU_8},
        {MCL_DEVICE_CPU, 4, MCL_CLASS_CPU_4},   {MCL_DEVICE_CPU, 1, MCL_CLASS_SIMT},
        {MCL_DEVICE_GPU, 4, MCL_CLASS_SIMT},    {MCL_DEVICE_ACCELERATOR, 8, MCL_CLASS_CPU_8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        info.type = cases[i].type;
        info.native_vector_width_float = cases[i].width;
        ck_assert_int_eq(mcl_device_class_of(&info), cases[i].want);
    }
}
END_TEST

static mcl_status open_raw(mcl_context **ctx, mcl_error *err) {
    mcl_context_options opt = {.platform = -1, .device = -1};
    return mcl_context_create(&opt, ctx, err);
}

/* MNIST_CL_DEVICE_CAPS: lowered limits, the vector width's class, and clear refusals. */
START_TEST(test_caps_from_the_environment) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    mcl_device_info real = ctx->info;
    mcl_context_free(ctx);
    ck_assert_int_eq(setenv("MNIST_CL_DEVICE_CAPS", "work_group=16,local_mem=4096,vector_width=8",
                            1),
                     0);
    ctx = test_context_create();
    ck_assert_uint_eq(ctx->info.max_work_group_size, 16 < real.max_work_group_size ? 16
                                                         : real.max_work_group_size);
    for (int d = 0; d < 3; d++) ck_assert_uint_le(ctx->info.max_work_item_sizes[d], 16);
    ck_assert_uint_le(ctx->info.local_mem_bytes, 4096);
    ck_assert_int_eq(ctx->shapes.device_class,
                     real.type == MCL_DEVICE_GPU ? MCL_CLASS_SIMT : MCL_CLASS_CPU_8);
    ck_assert(ctx->capped);
    mcl_context_free(ctx);
    static const char *const bad[][2] = {{"work_group", "name=positive-number"},
                                         {"work_group=0", "name=positive-number"},
                                         {"colour=3", "unknown limit 'colour'"},
                                         {"vector_width=8x", "name=positive-number"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(setenv("MNIST_CL_DEVICE_CAPS", bad[i][0], 1), 0);
        mcl_error err = {0};
        mcl_status st = open_raw(&ctx, &err);
        ck_assert_error(st, err, MCL_ERR_USAGE, "MNIST_CL_DEVICE_CAPS", bad[i][1]);
        ck_assert_ptr_null(ctx);
    }
    unsetenv("MNIST_CL_DEVICE_CAPS");
}
END_TEST

/* The caps bind: a launch beyond the capped work-group size fails with the kernel's name, as on
 * a device that small, and launches left to the driver stay within them. */
START_TEST(test_caps_bind_launches) {
    mcl_context *ctx =
        test_context_create_options((mcl_context_options){.caps = {.max_work_group_size = 8}});
    if (ctx == NULL) return;
    cl_kernel k = NULL;
    mcl_error err = {0};
    ck_assert(mcl_kernel_create(ctx, "dense_bias_grad_finish", &k, &err) == MCL_OK);
    cl_mem partial = NULL, grads = NULL;
    ck_assert(mcl_buffer_create(ctx, 64 * sizeof(float), &partial, "test", &err) == MCL_OK);
    ck_assert(mcl_buffer_create(ctx, 64 * sizeof(float), &grads, "test", &err) == MCL_OK);
    cl_uint chunks = 1, out = 64, offset = 0;
    ck_assert(MCL_SET_ARGS(k, &err, MCL_ARG(partial), MCL_ARG(chunks), MCL_ARG(out),
                           MCL_ARG(grads), MCL_ARG(offset)) == MCL_OK);
    mcl_status st = mcl_enqueue_local(ctx, k, 1, (size_t[]){64}, (size_t[]){16}, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "dense_bias_grad_finish", "exceeds the device's 8");
    ck_assert(mcl_enqueue_local(ctx, k, 1, (size_t[]){64}, (size_t[]){8}, &err) == MCL_OK);
    ck_assert(mcl_enqueue(ctx, k, 1, (size_t[]){64}, &err) == MCL_OK); /* local chosen <= 8 */
    ck_assert_int_eq(clFinish(ctx->queue), CL_SUCCESS);
    clReleaseMemObject(partial);
    clReleaseMemObject(grads);
    clReleaseKernel(k);
    mcl_context_free(ctx);
}
END_TEST

/* Every class's kernels build from source (no cache of ours or PoCL's) without a diagnostic:
 * a GPU driver may refuse what a CPU compiler only warns about, and a user should not see
 * compiler output. */
START_TEST(test_every_class_builds_without_a_word) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/pocl", test_tmp_dir);
    ck_assert_int_eq(setenv("POCL_CACHE_DIR", dir, 1), 0); /* read once, at the first call */
    ck_assert_int_eq(setenv("MNIST_CL_CACHE", "0", 1), 0);
    static const uint32_t widths[] = {16, 8, 4, 1};
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        mcl_context *ctx = test_context_create_options(
            (mcl_context_options){.caps = {.vector_width = widths[i]}});
        if (ctx == NULL) return;
        ck_assert_msg(!ctx->program_from_cache, "built from a cache");
        ck_assert_msg(ctx->build_log == NULL, "vector width %u: the compiler said:\n%s",
                      widths[i], ctx->build_log);
        mcl_context_free(ctx);
    }
    unsetenv("MNIST_CL_CACHE");
}
END_TEST

typedef struct captured_log {
    char text[4096];
} captured_log;

static void capture(mcl_log_level level, const char *message, void *user) {
    captured_log *c = user;
    if (level >= MCL_LOG_WARN)
        strncat(c->text, message, sizeof c->text - strlen(c->text) - 1);
}

/* A provider that fails the start-up check gives way to the other with a warning when the
 * context chose it, is refused when it was asked for, and a device where both fail is refused.
 * The verdict is kept: a second context does not check again. */
START_TEST(test_gemm_check_falls_back) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache", test_tmp_dir);
    ck_assert_int_eq(setenv("MNIST_CL_CACHE_DIR", dir, 1), 0);
    unsetenv("MNIST_CL_GEMM");
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    bool tiled_first = mcl_gemm_tiled(ctx); /* what AUTO takes on this device */
    mcl_context_free(ctx);
    /* With the verdict for AUTO's provider stored, a hook does not change the choice. */
    ck_assert_int_eq(setenv("MNIST_CL_TEST_HOOKS", tiled_first ? "wrong-tiled" : "wrong-clblast",
                            1),
                     0);
    ctx = test_context_create();
    ck_assert_int_eq(mcl_gemm_tiled(ctx), tiled_first);
    mcl_context_free(ctx);
    /* Without it (another cache folder), the fallback. */
    snprintf(dir, sizeof dir, "%s/cache2", test_tmp_dir);
    ck_assert_int_eq(setenv("MNIST_CL_CACHE_DIR", dir, 1), 0);
    captured_log log = {{0}};
    ctx = test_context_create_options((mcl_context_options){.log = capture, .log_user = &log});
    ck_assert_int_eq(mcl_gemm_tiled(ctx), !tiled_first);
    ck_assert_msg(strstr(log.text, "disagrees with the CPU reference") != NULL &&
                      strstr(log.text, "instead") != NULL,
                  "no warning: '%s'", log.text);
    mcl_context_free(ctx);
    /* Asked for, the failing provider is refused. */
    snprintf(dir, sizeof dir, "%s/cache3", test_tmp_dir);
    ck_assert_int_eq(setenv("MNIST_CL_CACHE_DIR", dir, 1), 0);
    mcl_context_options opt = {.platform = -1, .device = -1,
                               .gemm = tiled_first ? MCL_GEMM_TILED : MCL_GEMM_CLBLAST};
    mcl_error err = {0};
    ctx = NULL;
    mcl_status st = mcl_context_create(&opt, &ctx, &err);
    ck_assert_error(st, err, MCL_ERR_CHECK_FAILED, "gives wrong results", "MNIST_CL_GEMM=");
    ck_assert_ptr_null(ctx);
    /* Both wrong: refused. */
    ck_assert_int_eq(setenv("MNIST_CL_TEST_HOOKS", "wrong-tiled,wrong-clblast", 1), 0);
    snprintf(dir, sizeof dir, "%s/cache4", test_tmp_dir);
    ck_assert_int_eq(setenv("MNIST_CL_CACHE_DIR", dir, 1), 0);
    st = open_raw(&ctx, &err);
    ck_assert_error(st, err, MCL_ERR_CHECK_FAILED, "neither GEMM provider", "devices --check");
    unsetenv("MNIST_CL_TEST_HOOKS");
}
END_TEST

/* MNIST_CL_PLATFORM / MNIST_CL_DEVICE choose the default device; bad values are refused. */
START_TEST(test_device_from_the_environment) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    uint32_t platform = ctx->info.platform_index, device = ctx->info.device_index;
    mcl_context_free(ctx);
    char p[16], d[16];
    snprintf(p, sizeof p, "%u", platform);
    snprintf(d, sizeof d, "%u", device);
    ck_assert_int_eq(setenv("MNIST_CL_PLATFORM", p, 1), 0);
    ck_assert_int_eq(setenv("MNIST_CL_DEVICE", d, 1), 0);
    mcl_error err = {0};
    ck_assert_msg(open_raw(&ctx, &err) == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(ctx->info.platform_index, platform);
    ck_assert_uint_eq(ctx->info.device_index, device);
    mcl_context_free(ctx);
    ck_assert_int_eq(setenv("MNIST_CL_DEVICE", "900", 1), 0);
    ck_assert_error(open_raw(&ctx, &err), err, MCL_ERR_NO_DEVICE, "device 900", "mnist-cl devices");
    ck_assert_int_eq(setenv("MNIST_CL_PLATFORM", "gpu", 1), 0);
    ck_assert_error(open_raw(&ctx, &err), err, MCL_ERR_USAGE, "MNIST_CL_PLATFORM", "'gpu'");
    unsetenv("MNIST_CL_PLATFORM");
    unsetenv("MNIST_CL_DEVICE");
}
END_TEST

int main(void) {
    /* These tests set the variables themselves; a suite-wide choice would skew them. */
    unsetenv("MNIST_CL_DEVICE_CAPS");
    unsetenv("MNIST_CL_TEST_HOOKS");
    Suite *s = suite_create("device");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(tc, test_every_class_has_valid_shapes);
    tcase_add_test(tc, test_class_from_properties);
    tcase_add_test(tc, test_caps_from_the_environment);
    tcase_add_test(tc, test_caps_bind_launches);
    tcase_add_test(tc, test_every_class_builds_without_a_word);
    tcase_add_test(tc, test_gemm_check_falls_back);
    tcase_add_test(tc, test_device_from_the_environment);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
