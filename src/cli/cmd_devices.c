/* mnist-cl devices [--json] [--check] */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--json", NULL, "print the list as JSON"},
    {"--check", NULL,
     "run a small SGEMM and one of mnist-cl's kernels on each device against "
     "a CPU reference and report pass/fail"},
    {"--help", NULL, "show this help"},
};
enum { OPT_JSON, OPT_CHECK, OPT_HELP, OPT_COUNT };

/* What --check found on one device: the verdict, the reason for a failure, and what the
 * context chose (GEMM provider and kernel shapes). */
typedef struct device_check {
    bool ok;
    char detail[MCL_ERROR_MESSAGE_MAX];
    char gemm[64];
    char kernels[512];
} device_check;

static void print_json_device(const mcl_device_info *d, const device_check *check) {
    printf("    {\"platform\": %u, \"device\": %u, \"platform_name\": ", d->platform_index,
           d->device_index);
    cli_json_string(d->platform_name);
    printf(", \"platform_version\": ");
    cli_json_string(d->platform_version);
    printf(", \"name\": ");
    cli_json_string(d->name);
    printf(", \"vendor\": ");
    cli_json_string(d->vendor);
    printf(", \"type\": \"%s\", \"compute_units\": %u, \"clock_mhz\": %u, ",
           mcl_device_type_str(d->type), d->compute_units, d->clock_mhz);
    printf("\"global_mem_bytes\": %llu, \"local_mem_bytes\": %llu, \"max_alloc_bytes\": %llu, ",
           (unsigned long long)d->global_mem_bytes, (unsigned long long)d->local_mem_bytes,
           (unsigned long long)d->max_alloc_bytes);
    printf("\"max_work_group_size\": %zu, \"opencl_c_version\": ", d->max_work_group_size);
    cli_json_string(d->opencl_c_version);
    printf(", \"driver_version\": ");
    cli_json_string(d->driver_version);
    printf(", \"fp16\": %s, \"fp64\": %s, \"native_vector_width_float\": %u",
           d->fp16 ? "true" : "false", d->fp64 ? "true" : "false", d->native_vector_width_float);
    if (check != NULL) {
        printf(", \"check\": \"%s\"", check->ok ? "pass" : "fail");
        if (!check->ok) {
            printf(", \"check_detail\": ");
            cli_json_string(check->detail);
        } else {
            printf(", \"gemm\": ");
            cli_json_string(check->gemm);
            printf(", \"kernels\": ");
            cli_json_string(check->kernels);
        }
    }
    printf("}");
}

static void print_text_device(const mcl_device_info *d, uint32_t *last_platform) {
    if (*last_platform != d->platform_index) {
        printf("Platform %u: %s (%s)\n", d->platform_index, d->platform_name, d->platform_version);
        *last_platform = d->platform_index;
    }
    printf("  Device %u: %s\n", d->device_index, d->name);
    printf("    vendor %s, type %s, %u compute units at %u MHz\n", d->vendor,
           mcl_device_type_str(d->type), d->compute_units, d->clock_mhz);
    printf("    global memory %.2f GiB (largest buffer %.2f GiB), local memory %llu KiB\n",
           (double)d->global_mem_bytes / (1 << 30), (double)d->max_alloc_bytes / (1 << 30),
           (unsigned long long)(d->local_mem_bytes / 1024));
    printf("    max work-group size %zu, %s, fp16 %s, fp64 %s, native float vector %u\n",
           d->max_work_group_size, d->opencl_c_version, d->fp16 ? "yes" : "no",
           d->fp64 ? "yes" : "no", d->native_vector_width_float);
    printf("    driver %s\n", d->driver_version);
}

/* Opens a context on the device and runs the self-check. */
static device_check check_device(const mcl_device_info *d) {
    mcl_context_options opt = {.platform = (int)d->platform_index, .device = (int)d->device_index};
    mcl_context *ctx = NULL;
    mcl_error err = {0};
    device_check c = {0};
    mcl_status st = mcl_context_create(&opt, &ctx, &err);
    if (st == MCL_OK) {
        snprintf(c.gemm, sizeof c.gemm, "%s", mcl_context_gemm_name(ctx));
        mcl_context_describe_kernels(ctx, c.kernels, sizeof c.kernels);
        st = mcl_context_self_check(ctx, &err);
    }
    mcl_context_free(ctx);
    c.ok = st == MCL_OK;
    snprintf(c.detail, sizeof c.detail, "%s", c.ok ? "" : err.message);
    return c;
}

int cmd_devices(const cli_global *g, int argc, char **argv) {
    (void)g;
    const char *values[OPT_COUNT] = {0};
    if (!cli_parse("devices", argc, argv, options, OPT_COUNT, values)) return CLI_EXIT_USAGE;
    if (values[OPT_HELP]) {
        cli_print_help("mnist-cl devices [--json] [--check]",
                       "List every OpenCL platform and device with its indices, for --platform "
                       "and --device.",
                       options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    bool json = values[OPT_JSON] != NULL, check = values[OPT_CHECK] != NULL;
    mcl_device_info *list = NULL;
    size_t count = 0;
    mcl_error err = {0};
    if (mcl_device_list(&list, &count, &err) != MCL_OK) return cli_fail(&err);
    if (count == 0) {
        mcl_device_list_free(list);
        cli_error("OpenCL platforms are installed but none has a device; install a driver, e.g. "
                  "'sudo apt-get install pocl-opencl-icd'");
        return CLI_EXIT_FAILURE;
    }
    int failures = 0;
    uint32_t last_platform = UINT32_MAX;
    if (json) printf("{\n  \"devices\": [\n");
    for (size_t i = 0; i < count; i++) {
        device_check c = {.ok = true};
        if (check) {
            c = check_device(&list[i]);
            failures += !c.ok;
        }
        if (json) {
            print_json_device(&list[i], check ? &c : NULL);
            printf("%s\n", i + 1 < count ? "," : "");
        } else {
            print_text_device(&list[i], &last_platform);
            if (check && c.ok)
                printf("    kernels: %s; GEMM: %s\n    check: PASS\n", c.kernels, c.gemm);
            else if (check)
                printf("    check: FAIL: %s\n", c.detail);
        }
    }
    if (json) printf("  ]\n}\n");
    mcl_device_list_free(list);
    if (failures > 0) {
        cli_error("%d device%s failed the check", failures, failures == 1 ? "" : "s");
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}
