/* The program binary cache (see program_cache.h). Entry layout, little-endian:
 *
 *   magic "MCLPBIN1" (8 bytes), u64 key hash, u32 key check, u64 binary size, the binary,
 *   u32 CRC-32 of the binary */
#define _POSIX_C_SOURCE 200809L
#include "device/program_cache.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/atomic_file.h"
#include "core/byte_buf.h"

#define MAGIC "MCLPBIN1"
#define HEADER_BYTES (8 + 8 + 4 + 8)
/* Far above any real program binary (PoCL's for all of cl/ is a few hundred KiB). */
#define MAX_BINARY_BYTES ((uint64_t)256 << 20)

/* Key material is hashed as it is fed: FNV-1a 64 for the name, CRC-32 as a second check. */
typedef struct key_hasher {
    uint64_t fnv;
    uLong crc;
} key_hasher;

static void feed(key_hasher *h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h->fnv ^= p[i];
        h->fnv *= 0x100000001b3ull;
    }
    for (size_t off = 0; off < n;) {
        size_t k = n - off > (1u << 30) ? (1u << 30) : n - off;
        h->crc = crc32(h->crc, p + off, (uInt)k);
        off += k;
    }
}

/* A string with its length first, so that ("ab", "c") and ("a", "bc") differ. */
static void feed_text(key_hasher *h, const char *s) {
    uint64_t n = strlen(s);
    feed(h, &n, sizeof n);
    feed(h, s, (size_t)n);
}

bool mcl_cache_dir(char *out, size_t size) {
    const char *off = getenv("MNIST_CL_CACHE");
    if (off != NULL && strcmp(off, "0") == 0) return false;
    const char *dir = getenv("MNIST_CL_CACHE_DIR");
    if (dir != NULL && dir[0] != '\0') return (size_t)snprintf(out, size, "%s", dir) < size;
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg != NULL && xdg[0] == '/') return (size_t)snprintf(out, size, "%s/mnist-cl", xdg) < size;
    const char *home = getenv("HOME");
    if (home != NULL && home[0] == '/')
        return (size_t)snprintf(out, size, "%s/.cache/mnist-cl", home) < size;
    return false;
}

bool mcl_program_cache_key(const mcl_context *ctx, const char *const *texts, unsigned count,
                           const char *options, mcl_program_key *key) {
    memset(key, 0, sizeof *key);
    char dir[3900];
    if (!mcl_cache_dir(dir, sizeof dir)) return false;
    key_hasher h = {.fnv = 0xcbf29ce484222325ull, .crc = crc32(0L, Z_NULL, 0)};
    const mcl_device_info *d = &ctx->info;
    /* Oclgrind adds OCLGRIND_BUILD_OPTIONS to every build (the tests turn optimisation off for
     * its uninitialised-value checks), which changes the binary. */
    const char *sim = strstr(d->platform_name, "Oclgrind") != NULL
                          ? getenv("OCLGRIND_BUILD_OPTIONS")
                          : NULL;
    const char *const fields[] = {"mnist-cl program cache 1",
                                  MCL_VERSION,
                                  options,
                                  d->platform_name,
                                  d->platform_version,
                                  d->name,
                                  d->vendor,
                                  d->device_version,
                                  d->driver_version,
                                  sim != NULL ? sim : ""};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        feed_text(&h, fields[i]);
    for (unsigned i = 0; i < count; i++)
        feed_text(&h, texts[i]);
    key->hash = h.fnv;
    key->check = (uint32_t)h.crc;
    snprintf(key->path, sizeof key->path, "%s/%016llx.bin", dir, (unsigned long long)key->hash);
    return true;
}

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The binary (malloc'd) of the entry at `path` if the file is complete, its CRC holds and its
 * header carries the key's hash (and, when `check_too`, its check); else NULL. */
static unsigned char *read_entry(const char *path, const mcl_program_key *key, bool check_too,
                                 size_t *size) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    unsigned char header[HEADER_BYTES];
    unsigned char *binary = NULL;
    if (fread(header, 1, sizeof header, f) == sizeof header && memcmp(header, MAGIC, 8) == 0 &&
        get_le(header + 8, 8) == key->hash &&
        (!check_too || get_le(header + 16, 4) == key->check)) {
        uint64_t n = get_le(header + 20, 8);
        unsigned char trailer[5];
        if (n > 0 && n <= MAX_BINARY_BYTES && (binary = mcl_malloc((size_t)n)) != NULL) {
            /* Exactly n bytes and the CRC, then the end of the file. */
            if (fread(binary, 1, (size_t)n, f) != n || fread(trailer, 1, 5, f) != 4 ||
                get_le(trailer, 4) != (uint32_t)crc32(0L, binary, (uInt)n)) {
                free(binary);
                binary = NULL;
            } else {
                *size = (size_t)n;
            }
        }
    }
    fclose(f);
    return binary;
}

cl_program mcl_program_cache_load(mcl_context *ctx, const mcl_program_key *key,
                                  const char *options) {
    if (key->path[0] == '\0') return NULL;
    size_t size = 0;
    unsigned char *binary = read_entry(key->path, key, true, &size);
    if (binary == NULL) return NULL;
    const unsigned char *binaries[1] = {binary};
    cl_int rc = CL_SUCCESS, status = CL_SUCCESS;
    cl_program program = MCL_CL_CREATE(
        MCL_FAULT_CL_PROGRAM,
        clCreateProgramWithBinary(ctx->context, 1, &ctx->device, &size, binaries, &status, &rc),
        &rc);
    free(binary);
    if (rc != CL_SUCCESS || status != CL_SUCCESS) {
        if (program != NULL) mcl_cl_release_program(program);
        mcl_log(ctx, MCL_LOG_DEBUG, "program cache: %s refused by the driver (%s); rebuilding",
                key->path, mcl_cl_status_str(rc != CL_SUCCESS ? rc : status));
        return NULL;
    }
    rc = MCL_CL_CALL(clBuildProgram(program, 1, &ctx->device, options, NULL, NULL));
    if (rc != CL_SUCCESS) {
        mcl_cl_release_program(program);
        mcl_log(ctx, MCL_LOG_DEBUG, "program cache: %s did not build (%s); rebuilding", key->path,
                mcl_cl_status_str(rc));
        return NULL;
    }
    return program;
}



/* mkdir -p for the entry's folder (0755 for each part it creates). */
bool mcl_cache_make_folders(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (slash == NULL || slash == buf) return true;
    *slash = '\0';
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (MCL_FAULT_SYSCALL(mkdir(buf, 0755), EACCES, "program cache folder") != 0 &&
            errno != EEXIST)
            return false;
        *p = '/';
    }
    return MCL_FAULT_SYSCALL(mkdir(buf, 0755), EACCES, "program cache folder") == 0 ||
           errno == EEXIST;
}

/* Whether `name` is a program entry's file name: 16 hex digits and ".bin". */
static bool is_entry_name(const char *name) {
    if (strlen(name) != 16 + 4 || strcmp(name + 16, ".bin") != 0) return false;
    for (int i = 0; i < 16; i++)
        if (name[i] == '\0' || strchr("0123456789abcdef", name[i]) == NULL) return false;
    return true;
}

bool mcl_program_cache_entry_valid(const char *path) {
    /* The file is named by its key's hash, so the name checks the header's hash. */
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    if (!is_entry_name(name)) return false;
    mcl_program_key key = {.hash = strtoull(name, NULL, 16)};
    size_t size = 0;
    unsigned char *binary = read_entry(path, &key, false, &size);
    free(binary);
    return binary != NULL;
}

/* Keeps the newest MCL_PROGRAM_CACHE_KEEP entries in the folder of `kept` (the entry just
 * written, always kept) and removes older ones: every change of the sources, the driver or
 * mnist-cl makes a new entry (~1 MB on PoCL), and the cache must not grow without end. Other
 * files (GEMM tunings) are left alone. Best effort: what cannot be read or removed stays. */
static void evict_old_entries(const char *kept) {
    char folder[4096];
    snprintf(folder, sizeof folder, "%s", kept);
    char *slash = strrchr(folder, '/');
    if (slash == NULL) return;
    *slash = '\0';
    const char *kept_name = slash + 1;
    struct entry {
        char name[32];
        struct timespec mtime;
    } entries[64];
    size_t count = 0;
    DIR *d = opendir(folder);
    if (d == NULL) return;
    for (struct dirent *e; (e = readdir(d)) != NULL && count < 64;) {
        if (!is_entry_name(e->d_name) || strcmp(e->d_name, kept_name) == 0) continue;
        char path[4200];
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", folder, e->d_name) >= (int)sizeof path ||
            stat(path, &st) != 0)
            continue;
        memcpy(entries[count].name, e->d_name, 16 + 4 + 1); /* is_entry_name: 20 characters */
        entries[count++].mtime = st.st_mtim;
    }
    closedir(d);
    /* Remove the oldest until the kept entry and the newest KEEP - 1 others remain. */
    while (count > MCL_PROGRAM_CACHE_KEEP - 1) {
        size_t oldest = 0;
        for (size_t i = 1; i < count; i++) {
            const struct timespec *a = &entries[i].mtime, *o = &entries[oldest].mtime;
            if (a->tv_sec < o->tv_sec || (a->tv_sec == o->tv_sec && a->tv_nsec < o->tv_nsec))
                oldest = i;
        }
        char path[4200];
        if (snprintf(path, sizeof path, "%s/%s", folder, entries[oldest].name) < (int)sizeof path)
            remove(path);
        /* The self-check's verdicts for that program go with it (self_check.c), and the one
         * file for both providers that mnist-cl kept before. */
        static const char *const verdicts[] = {".tiled.check", ".clblast.check", ".check"};
        for (size_t v = 0; v < sizeof verdicts / sizeof verdicts[0]; v++)
            if (snprintf(path, sizeof path, "%s/%.16s%s", folder, entries[oldest].name,
                         verdicts[v]) < (int)sizeof path)
                remove(path);
        entries[oldest] = entries[--count];
    }
}

void mcl_program_cache_store(mcl_context *ctx, const mcl_program_key *key, cl_program program) {
    if (key->path[0] == '\0') return;
    size_t size = 0;
    if (MCL_CL_CALL(clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL)) !=
            CL_SUCCESS ||
        size == 0 || size > MAX_BINARY_BYTES)
        return; /* a driver that gives no binary: nothing to cache */
    unsigned char *binary = mcl_malloc(size);
    unsigned char *binaries[1] = {binary};
    mcl_byte_buf b = {0};
    if (binary != NULL &&
        MCL_CL_CALL(clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof binaries, binaries,
                                     NULL)) == CL_SUCCESS) {
        mcl_buf_put(&b, MAGIC, 8);
        mcl_buf_put_u64(&b, key->hash);
        mcl_buf_put_u32(&b, key->check);
        mcl_buf_put_u64(&b, size);
        mcl_buf_put(&b, binary, size);
        mcl_buf_put_u32(&b, (uint32_t)crc32(0L, binary, (uInt)size));
        mcl_error err = {0};
        if (b.failed)
            mcl_log(ctx, MCL_LOG_WARN, "program cache: out of memory; %s not written", key->path);
        else if (!mcl_cache_make_folders(key->path))
            mcl_log(ctx, MCL_LOG_WARN, "program cache: cannot create the folder of %s: %s",
                    key->path, strerror(errno));
        else if (mcl_atomic_write(key->path, b.data, b.len, "program cache entry", &err) != MCL_OK)
            mcl_log(ctx, MCL_LOG_WARN, "program cache: %s", err.message);
        else
            evict_old_entries(key->path);
    }
    mcl_buf_free(&b);
    free(binary);
}
