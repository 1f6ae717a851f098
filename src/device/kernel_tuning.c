/* Stored kernel shapes (see kernel_tuning.h). */
#define _POSIX_C_SOURCE 200809L
#include "device/kernel_tuning.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/atomic_file.h"
#include "core/read_file.h"
#include "device/program_cache.h"

#define HEADER "mnist-cl kernel tuning 1"
#define MAX_BYTES 4096u

void mcl_tuning_device_line(const mcl_context *ctx, char *out, size_t size) {
    const mcl_device_info *d = &ctx->info;
    snprintf(out, size, "device=%s|%s|%s|%s", d->name, d->vendor, d->driver_version,
             d->platform_version);
}

bool mcl_tuning_file_path(const mcl_context *ctx, const char *kind, char *out, size_t size) {
    char dir[3900], line[600];
    if (!mcl_cache_dir(dir, sizeof dir)) return false;
    mcl_tuning_device_line(ctx, line, sizeof line);
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the device line */
    for (const char *c = line; *c; c++) {
        h ^= (unsigned char)*c;
        h *= 0x100000001b3ull;
    }
    return (size_t)snprintf(out, size, "%s/%s-%016llx.tune", dir, kind, (unsigned long long)h) <
           size;
}

bool mcl_kernel_tuning_path(const mcl_context *ctx, char *out, size_t size) {
    return mcl_tuning_file_path(ctx, "kernels", out, size);
}

/* The text's shapes applied to *s, if it is a tuning of ctx's device; else `why` says not. */
static bool parse(const mcl_context *ctx, char *text, mcl_kernel_shapes *s, const char **why) {
    char device[600], version[64], cls[32];
    mcl_tuning_device_line(ctx, device, sizeof device);
    snprintf(version, sizeof version, "version=%s", MCL_VERSION);
    snprintf(cls, sizeof cls, "class=%d", (int)s->device_class);
    char *save = NULL;
    const char *lines[6];
    for (int i = 0; i < 6; i++)
        lines[i] = strtok_r(i == 0 ? text : NULL, "\n", &save);
    if (lines[0] == NULL || strcmp(lines[0], HEADER) != 0) {
        *why = "not an mnist-cl kernel tuning file of this version";
        return false;
    }
    if (lines[1] == NULL || strcmp(lines[1], device) != 0 || lines[2] == NULL ||
        strcmp(lines[2], version) != 0 || lines[3] == NULL || strcmp(lines[3], cls) != 0) {
        *why = "it was made for another device, driver or mnist-cl version";
        return false;
    }
    mcl_kernel_shapes t = *s;
    char tail;
    if (lines[4] == NULL || lines[5] == NULL ||
        sscanf(lines[4], "gemm rows=%u vectors=%u%c", &t.gemm.rows, &t.gemm.vectors, &tail) !=
            2 ||
        sscanf(lines[5], "conv positions=%u vectors=%u channels=%u images=%u%c",
               &t.conv_tiled.positions, &t.conv_tiled.vectors, &t.conv_tiled.channels,
               &t.conv_tiled.images, &tail) != 4) {
        *why = "the gemm or conv line is missing or malformed";
        return false;
    }
    if (!mcl_kernel_shapes_valid(&t)) {
        *why = "the shapes are outside what the kernels take";
        return false;
    }
    *s = t;
    return true;
}

void mcl_kernel_tuning_apply_stored(mcl_context *ctx) {
    ctx->kernels_tuned = false;
    const char *off = getenv("MNIST_CL_TUNING");
    if (off != NULL && strcmp(off, "0") == 0) return;
    char path[4096];
    if (!mcl_kernel_tuning_path(ctx, path, sizeof path)) return;
    FILE *probe = fopen(path, "rb");
    if (probe == NULL) return; /* never tuned: the class's shapes */
    fclose(probe);
    uint8_t *data = NULL;
    size_t size = 0;
    mcl_error err = {0};
    if (mcl_read_file(path, "a kernel tuning file", MAX_BYTES, &data, &size, &err) != MCL_OK) {
        mcl_log(ctx, MCL_LOG_WARN, "ignoring the kernel tuning: %s", err.message);
        return;
    }
    char *text = mcl_calloc(size + 1, 1);
    const char *why = "out of host memory";
    bool ok = text != NULL;
    if (ok) {
        memcpy(text, data, size);
        ok = parse(ctx, text, &ctx->shapes, &why);
    }
    free(text);
    free(data);
    if (!ok) {
        mcl_log(ctx, MCL_LOG_WARN, "ignoring the kernel tuning in %s: %s (run 'mnist-cl tune')",
                path, why);
        return;
    }
    ctx->kernels_tuned = true;
}

mcl_status mcl_kernel_tuning_store(const mcl_context *ctx, const mcl_kernel_shapes *s, char *path,
                                   size_t path_size, mcl_error *err) {
    if (!mcl_kernel_tuning_path(ctx, path, path_size))
        return mcl_fail(err, MCL_ERR_USAGE,
                        "no folder to keep the tuning in: MNIST_CL_CACHE=0, or neither "
                        "MNIST_CL_CACHE_DIR, XDG_CACHE_HOME nor HOME is set");
    char device[600], text[1200];
    mcl_tuning_device_line(ctx, device, sizeof device);
    int n = snprintf(text, sizeof text,
                     "%s\n%s\nversion=%s\nclass=%d\ngemm rows=%u vectors=%u\nconv positions=%u "
                     "vectors=%u channels=%u images=%u\n",
                     HEADER, device, MCL_VERSION, (int)s->device_class, s->gemm.rows,
                     s->gemm.vectors, s->conv_tiled.positions, s->conv_tiled.vectors,
                     s->conv_tiled.channels, s->conv_tiled.images);
    if (n <= 0 || (size_t)n >= sizeof text)
        return mcl_fail(err, MCL_ERR_USAGE, "the kernel tuning does not fit its file");
    if (!mcl_cache_make_folders(path))
        return mcl_fail(err, MCL_ERR_IO, "%s: cannot create its folder", path);
    return mcl_atomic_write(path, text, (size_t)n, "kernel tuning", err);
}
