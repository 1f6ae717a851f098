/* The program binary cache: a second context loads the program from the cache and its kernels
 * still compute correctly; corrupt, truncated and foreign entries are ignored and rebuilt;
 * MNIST_CL_CACHE=0 turns it off. Each test points MNIST_CL_CACHE_DIR at its own folder. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device/device.h"
#include "device/program_cache.h"
#include "test_util.h"

/* Sets the variable `var` to test_tmp_dir/NAME (malloc'd, not created). */
static char *use_dir(const char *var, const char *name) {
    char *dir = malloc(strlen(test_tmp_dir) + strlen(name) + 2);
    sprintf(dir, "%s/%s", test_tmp_dir, name);
    ck_assert_int_eq(setenv(var, dir, 1), 0);
    return dir;
}

/* Points the cache at test_tmp_dir/NAME (not created: the cache makes its folders). */
static char *use_cache_dir(const char *name) {
    ck_assert_int_eq(unsetenv("MNIST_CL_CACHE"), 0);
    return use_dir("MNIST_CL_CACHE_DIR", name);
}

/* The one program entry in dir (malloc'd path), failing if there is not exactly one. Beside
 * it may stand its self-check verdicts (<hash>.<provider>.check). */
static char *only_entry(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "no cache folder %s", dir);
    char *found = NULL;
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".check") != NULL) continue;
        count++;
        ck_assert_msg(strstr(e->d_name, ".bin") != NULL, "unexpected file %s", e->d_name);
        free(found);
        found = malloc(strlen(dir) + strlen(e->d_name) + 2);
        sprintf(found, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    ck_assert_msg(count == 1, "%d files in the cache folder, want 1", count);
    return found;
}

/* A context, whether its program came from the cache, and a self-check of its kernels. */
static bool open_and_check(void) {
    mcl_context *ctx = test_context_create();
    ck_assert_ptr_nonnull(ctx);
    bool cached = ctx->program_from_cache;
    mcl_error err = {0};
    ck_assert_msg(mcl_context_self_check(ctx, &err) == MCL_OK, "%s", err.message);
    mcl_context_free(ctx);
    return cached;
}

static long file_size(const char *path) {
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    return (long)sb.st_size;
}

/* Cold: built from source, one entry written (folders created). Warm: loaded from it. */
START_TEST(test_second_context_loads_from_cache) {
    mcl_context *probe = test_context_create();
    if (probe == NULL) return;
    mcl_context_free(probe);
    char *dir = use_cache_dir("a/b/cache");
    ck_assert(!open_and_check());
    char *entry = only_entry(dir);
    ck_assert(open_and_check());
    ck_assert(open_and_check());
    free(entry);
    free(dir);
}
END_TEST

/* Damaged entries (a flipped byte in the binary, half a file, an empty file, another key's
 * header) are ignored: the program is rebuilt and the entry replaced by a valid one, then used.
 * The new entry need not have the first one's size: PoCL's binary carries the kernel variants
 * its own cache holds at build time, and the self-checks in between add some (a cold PoCL
 * cache on a fresh machine made the sizes differ). */
START_TEST(test_damaged_entries_are_rebuilt) {
    /* PoCL's own cache starts cold here, as on a fresh machine (this test runs in its own
     * process, before PoCL reads the variable). */
    char *pocl_dir = use_dir("POCL_CACHE_DIR", "pocl");
    mcl_context *probe = test_context_create();
    if (probe == NULL) return;
    mcl_context_free(probe);
    char *dir = use_cache_dir("cache");
    ck_assert(!open_and_check());
    char *entry = only_entry(dir);
    long size = file_size(entry);
    ck_assert_int_gt(size, 40);
    FILE *f = fopen(entry, "rb");
    unsigned char *good = malloc((size_t)size);
    ck_assert_int_eq(fread(good, 1, (size_t)size, f), size);
    fclose(f);
    unsigned char *bad = malloc((size_t)size);
    static const char *const damage[] = {"a flipped byte in the binary",
                                         "a flipped byte in the key", "half the file",
                                         "an empty file"};
    for (int c = 0; c < 4; c++) {
        memcpy(bad, good, (size_t)size);
        long keep = size;
        if (c == 0) bad[28 + (size - 32) / 2] ^= 0x40;
        if (c == 1) bad[10] ^= 0x01;
        if (c == 2) keep = size / 2;
        if (c == 3) keep = 0;
        test_write_file(entry, bad, (size_t)keep, 0);
        ck_assert_msg(!open_and_check(), "%s: the damaged entry was used", damage[c]);
        ck_assert_msg(mcl_program_cache_entry_valid(entry),
                      "%s: the entry was not replaced by a valid one", damage[c]);
        size_t now = 0;
        uint8_t *got = test_read_file(entry, &now);
        ck_assert_msg(now != (size_t)keep || memcmp(got, bad, now) != 0,
                      "%s: the damaged entry is still there", damage[c]);
        free(got);
        ck_assert_msg(open_and_check(), "%s: the rewritten entry is not used", damage[c]);
    }
    free(bad);
    free(good);
    free(entry);
    free(dir);
    free(pocl_dir);
}
END_TEST

/* MNIST_CL_CACHE=0: nothing is read or written. */
START_TEST(test_cache_can_be_turned_off) {
    mcl_context *probe = test_context_create();
    if (probe == NULL) return;
    mcl_context_free(probe);
    char *dir = use_cache_dir("off");
    ck_assert_int_eq(setenv("MNIST_CL_CACHE", "0", 1), 0);
    ck_assert(!open_and_check());
    ck_assert(!open_and_check());
    struct stat sb;
    ck_assert_msg(stat(dir, &sb) != 0, "the cache folder was created with MNIST_CL_CACHE=0");
    free(dir);
}
END_TEST

/* Old entries (other sources, drivers or versions) beyond MCL_PROGRAM_CACHE_KEEP are removed,
 * oldest first, when a new one is written; the new entry and other files stay. */
/* The inodes of the self-check verdicts in dir (files named *.check), at most 4; with `keep`,
 * the first also gets a second name (so that its inode is not reused once a rewrite frees it). */
static int verdict_inodes(const char *dir, ino_t *out, bool keep) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 6, ".check") != 0) continue;
        char path[4300], kept[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        ck_assert_int_eq(stat(path, &sb), 0);
        ck_assert_int_lt(count, 4);
        if (keep && count == 0) {
            snprintf(kept, sizeof kept, "%s/first-verdict.kept", dir);
            ck_assert_int_eq(link(path, kept), 0);
        }
        out[count++] = sb.st_ino;
    }
    closedir(d);
    return count;
}

/* A context of each provider, then the first again: each keeps its own start-up check verdict,
 * so the third context finds the tiled verdict and writes nothing. (With one verdict file the
 * CLBlast context's overwrote the tiled one's, and every change of provider re-ran the check.) */
START_TEST(test_each_provider_keeps_its_verdict) {
    mcl_context *probe = test_context_create();
    if (probe == NULL) return;
    mcl_context_free(probe);
    char *dir = use_cache_dir("verdicts");
    static const char *const providers[] = {"tiled", "clblast", "tiled"};
    ino_t tiled = 0, now[4];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(setenv("MNIST_CL_GEMM", providers[i], 1), 0);
        mcl_context_free(test_context_create());
        if (i == 0) {
            ck_assert_int_eq(verdict_inodes(dir, now, true), 1);
            tiled = now[0];
        }
    }
    ck_assert_int_eq(unsetenv("MNIST_CL_GEMM"), 0);
    int count = verdict_inodes(dir, now, false);
    bool kept = false;
    for (int i = 0; i < count; i++)
        kept |= now[i] == tiled;
    ck_assert_msg(kept, "the tiled verdict was written again: the CLBlast context replaced it");
    ck_assert_int_eq(count, 2);
    free(dir);
}
END_TEST

START_TEST(test_old_entries_are_evicted) {
    mcl_context *probe = test_context_create();
    if (probe == NULL) return;
    mcl_context_free(probe);
    char *dir = use_cache_dir("evict");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    enum { OLD = MCL_PROGRAM_CACHE_KEEP + 3 };
    char path[4300];
    for (int i = 0; i < OLD; i++) {
        /* Entry i (with its self-check verdicts, which go with it, and the one verdict file
         * of older versions) is i hours older than the first; none is a valid entry, which is
         * fine. */
        static const char *const verdicts[] = {"tiled.check", "clblast.check", "check"};
        for (int v = 0; v < 3; v++) {
            snprintf(path, sizeof path, "%s/%016x.%s", dir, 0xa0 + i, verdicts[v]);
            test_write_file(path, "stale", 5, 0);
        }
        snprintf(path, sizeof path, "%s/%016x.bin", dir, 0xa0 + i);
        test_write_file(path, "stale", 5, 0);
        struct timespec times[2] = {{1000000000 - i * 3600, 0}, {1000000000 - i * 3600, 0}};
        ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
    }
    snprintf(path, sizeof path, "%s/gemm-0123456789abcdef.tune", dir);
    test_write_file(path, "not a program", 13, 0);
    ck_assert(!open_and_check()); /* builds, writes its entry, evicts */
    int entries = 0;
    bool newest_old_kept = false, oldest_kept = false, tuning_kept = false;
    int newest_checks_kept = 0, oldest_checks_kept = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        entries += strstr(e->d_name, ".bin") != NULL;
        newest_old_kept |= strcmp(e->d_name, "00000000000000a0.bin") == 0;
        oldest_kept |= strcmp(e->d_name, "00000000000000aa.bin") == 0;
        newest_checks_kept +=
            strncmp(e->d_name, "00000000000000a0.", 17) == 0 && strstr(e->d_name, "check") != NULL;
        oldest_checks_kept +=
            strncmp(e->d_name, "00000000000000aa.", 17) == 0 && strstr(e->d_name, "check") != NULL;
        tuning_kept |= strstr(e->d_name, ".tune") != NULL;
    }
    closedir(d);
    ck_assert_int_eq(entries, MCL_PROGRAM_CACHE_KEEP);
    ck_assert_msg(newest_old_kept && !oldest_kept, "eviction did not go oldest first");
    ck_assert_msg(newest_checks_kept == 3 && oldest_checks_kept == 0,
                  "an evicted entry's self-check verdicts stayed (or a kept one's went)");
    ck_assert(tuning_kept);
    ck_assert(open_and_check()); /* the new entry is among those kept */
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("cache");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(tc, test_second_context_loads_from_cache);
    tcase_add_test(tc, test_damaged_entries_are_rebuilt);
    tcase_add_test(tc, test_cache_can_be_turned_off);
    tcase_add_test(tc, test_old_entries_are_evicted);
    tcase_add_test(tc, test_each_provider_keeps_its_verdict);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
