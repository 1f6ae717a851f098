/* An on-disk cache of built OpenCL programs, so that a second run skips the kernel compiler.
 *
 * An entry is keyed by a hash of everything that decides the binary: the kernel sources, the
 * build options, the platform's name and version, the device's name, vendor, version and driver
 * version, and mnist-cl's version. It lives in $MNIST_CL_CACHE_DIR, else
 * $XDG_CACHE_HOME/mnist-cl, else $HOME/.cache/mnist-cl, and is written atomically. An entry
 * that is truncated, corrupt (CRC-32), for another key, or that the driver refuses is ignored
 * and rebuilt from source. MNIST_CL_CACHE=0 turns the cache off. The cache never fails a build:
 * its own problems become a warning in the log at most. */
#ifndef MCL_DEVICE_PROGRAM_CACHE_H
#define MCL_DEVICE_PROGRAM_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "device/device.h"

/* The folder the cache lives in (see above), or false when it is off or cannot be named. The
 * GEMM tuning file lives there too. */
bool mcl_cache_dir(char *out, size_t size);
/* Creates the folders above the file `path` (mkdir -p, 0755); false if one cannot be made. */
bool mcl_cache_make_folders(const char *path);

typedef struct mcl_program_key {
    uint64_t hash;   /* FNV-1a 64 of the key material: names the file */
    uint32_t check;  /* CRC-32 of the same material: stored inside, checked on load */
    char path[4096]; /* the entry's file; empty when the cache is off */
} mcl_program_key;

/* Computes the key of `count` source texts built with `options` on ctx's device, and where its
 * entry lives. Returns false (and leaves key->path empty) when the cache is off. */
bool mcl_program_cache_key(const mcl_context *ctx, const char *const *texts, unsigned count,
                           const char *options, mcl_program_key *key);

/* A program built from the cached binary, or NULL when there is no usable entry (the caller
 * builds from source). */
cl_program mcl_program_cache_load(mcl_context *ctx, const mcl_program_key *key,
                                  const char *options);

/* Whether the file at `path` is a complete entry: its header carries the hash its name says, and
 * its binary's CRC-32 holds. */
bool mcl_program_cache_entry_valid(const char *path);

/* Program entries kept per cache folder: a store removes the oldest beyond this. */
#define MCL_PROGRAM_CACHE_KEEP 8

/* Writes the built program's binary as the key's entry; failures are logged as warnings. It is
 * called right after the build, before any kernel runs. Even so, the same source does not always
 * store the same bytes: PoCL's binary carries the work-group-specialised variants its own kernel
 * cache (~/.cache/pocl) holds for the program at that moment, and launches add variants there.
 * Only the entry's validity and its key are stable, not its size. */
void mcl_program_cache_store(mcl_context *ctx, const mcl_program_key *key, cl_program program);

#endif
