/* NumPy .npz reader (see npz.h). The zip structures read, all little-endian (PKWARE APPNOTE):
 *
 *   end of central directory (EOCD, "PK\5\6", 22 bytes + comment) at the end of the file;
 *   before it, for zip64, a locator ("PK\6\7", 20 bytes) that points at the zip64 EOCD record
 *   ("PK\6\6", 56 bytes), whose 64-bit counts and offsets then replace the EOCD's;
 *   the central directory: one entry ("PK\1\2", 46 bytes + name + extra + comment) per member,
 *   with 0xFFFFFFFF sizes or offset replaced by those of its zip64 extra field (id 0x0001);
 *   each member's local header ("PK\3\4", 30 bytes + name + extra) and then its data.
 *
 * The central directory is authoritative for sizes and CRCs (np.savez writes a zip64 extra
 * field into every local header, and a writer that streams puts zeros there and a data
 * descriptor after the data). Checks run in the order that keeps a hostile file cheap: the end
 * record and the directory's bounds, every directory entry, then for one member its local
 * header, its claimed size against what deflate could produce from its compressed bytes, its
 * .npy header against the limits and against the member's size, and only then an allocation of
 * exactly the array's bytes. Reading checks for truncation, a corrupt stream, bytes past the
 * stream's end and the CRC-32. */
#define _POSIX_C_SOURCE 200809L
#include "data/npz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/read_file.h"

#define EOCD_BYTES 22u
#define EOCD_MAX_COMMENT 65535u
#define LOCATOR_BYTES 20u
#define EOCD64_BYTES 56u
#define ENTRY_BYTES 46u
#define LOCAL_BYTES 30u
#define ZIP64_EXTRA_ID 0x0001u
#define FLAG_ENCRYPTED 0x0001u
#define METHOD_STORED 0u
#define METHOD_DEFLATED 8u
/* The most deflate can expand: a 258-byte match coded in 2 bits. */
#define DEFLATE_MAX_RATIO 1032u
/* pread, crc32 and inflate take lengths that must stay below 2^31: work in chunks. */
#define IO_CHUNK (1u << 30)
#define INFLATE_INPUT_BYTES (1u << 16)
/* Labels are converted from their dtype through a scratch buffer of this many bytes. */
#define LABEL_CHUNK_BYTES (1u << 16)
#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_DIMS 8u
#define SHOWN_NAME_MAX 80u /* a member name quoted in a message is cut here */

struct mcl_npz {
    char *name;         /* for messages (owned copy) */
    int fd;             /* -1 when the archive is in memory */
    const uint8_t *mem; /* the archive in memory (borrowed), or NULL */
    uint64_t size;      /* bytes of the archive */
    uint8_t *directory; /* the central directory, [directory_bytes], owned */
    uint64_t directory_offset, directory_bytes, entries;
};

/* One central-directory entry, zip64 fields resolved. `name` points into npz->directory. */
typedef struct npz_entry {
    const uint8_t *name;
    uint16_t name_len, flags, method;
    uint32_t crc;
    uint64_t csize, usize, local_offset;
} npz_entry;

static uint16_t le16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint64_t be_or_le(const uint8_t *p, unsigned size, bool big) {
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)p[big ? size - 1 - i : i] << (8 * i);
    return v;
}

/* A name from the file made safe for a one-line message: printable ASCII, others as '?', cut
 * after SHOWN_NAME_MAX characters. */
static void show_name(char *out, size_t size, const uint8_t *name, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < size && i < SHOWN_NAME_MAX; i++)
        out[n++] = name[i] >= ' ' && name[i] <= '~' ? (char)name[i] : '?';
    if (len > SHOWN_NAME_MAX && n + 4 < size) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* ---------------------------------------------------------------- reading bytes */

/* Reads n bytes at offset, refusing a range that leaves the file; `what` names it. */
static mcl_status src_read(const mcl_npz *z, uint64_t offset, void *dst, size_t n, const char *what,
                           mcl_error *err) {
    if (offset > z->size || n > z->size - offset)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: truncated or corrupt zip: %s (%zu bytes at offset %llu) runs past "
                        "the end of the file (%llu bytes)",
                        z->name, what, n, (unsigned long long)offset, (unsigned long long)z->size);
    if (z->fd < 0) {
        if (n > 0) memcpy(dst, z->mem + offset, n);
        return MCL_OK;
    }
    uint8_t *p = dst;
    size_t done = 0;
    while (done < n) {
        size_t want = n - done > IO_CHUNK ? IO_CHUNK : n - done;
        ssize_t got = pread(z->fd, p + done, want, (off_t)(offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            char why[256];
            return mcl_fail(err, MCL_ERR_IO, "%s: cannot read %s: %s", z->name, what,
                            got < 0 ? mcl_errno_text(errno, why, sizeof why)
                                    : "the file became shorter while it was read");
        }
        done += (size_t)got;
    }
    return MCL_OK;
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n) {
    while (n > 0) {
        size_t k = n > IO_CHUNK ? IO_CHUNK : n;
        crc = (uint32_t)crc32(crc, p, (uInt)k);
        p += k;
        n -= k;
    }
    return crc;
}

/* ---------------------------------------------------------------- the central directory */

static mcl_status not_a_zip(const mcl_npz *z, mcl_error *err) {
    uint8_t head[4] = {0};
    bool zip_start = z->size >= 4 && src_read(z, 0, head, 4, "the first bytes", NULL) == MCL_OK &&
                     memcmp(head, "PK\3\4", 4) == 0;
    if (zip_start)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: truncated zip archive: it has no end-of-central-directory record",
                        z->name);
    return mcl_fail(err, MCL_ERR_FORMAT,
                    "%s: not a NumPy .npz archive (an .npz is a zip file; this one has no zip "
                    "end record)",
                    z->name);
}

/* Reads the zip64 end record that the locator at locator_at points to, replacing the EOCD's
 * counts and offsets; *record_at receives where the record starts. */
static mcl_status read_zip64_end(const mcl_npz *z, uint64_t locator_at, uint64_t *entries,
                                 uint64_t *cd_size, uint64_t *cd_offset, uint64_t *record_at,
                                 mcl_error *err) {
    uint8_t loc[LOCATOR_BYTES], rec[EOCD64_BYTES];
    mcl_status st = src_read(z, locator_at, loc, sizeof loc, "the zip64 locator", err);
    if (st != MCL_OK) return st;
    uint32_t disk = le32(loc + 4), disks = le32(loc + 16);
    uint64_t at = le64(loc + 8);
    if (disk != 0 || disks != 1)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: the zip archive spans %u disks; only single-file archives are read",
                        z->name, disks);
    if (at > locator_at || locator_at - at < EOCD64_BYTES)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: corrupt zip64 locator: its end record at offset %llu does not fit "
                        "before the locator at %llu",
                        z->name, (unsigned long long)at, (unsigned long long)locator_at);
    st = src_read(z, at, rec, sizeof rec, "the zip64 end record", err);
    if (st != MCL_OK) return st;
    uint64_t record_size = le64(rec + 4);
    if (memcmp(rec, "PK\6\6", 4) != 0 || record_size != locator_at - at - 12)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: corrupt zip64 end record at offset %llu (wrong signature or size)",
                        z->name, (unsigned long long)at);
    if (le32(rec + 16) != 0 || le32(rec + 20) != 0 || le64(rec + 24) != le64(rec + 32))
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: the zip archive spans several disks; only single-file archives are "
                        "read",
                        z->name);
    *entries = le64(rec + 32);
    *cd_size = le64(rec + 40);
    *cd_offset = le64(rec + 48);
    *record_at = at;
    return MCL_OK;
}

/* Finds the end record (the last signature whose comment fits in the file, as Python's zipfile
 * does), follows a zip64 locator when there is one, and loads the central directory. */
static mcl_status read_directory(mcl_npz *z, mcl_error *err) {
    if (z->size < EOCD_BYTES) return not_a_zip(z, err);
    uint64_t tail =
        z->size < EOCD_BYTES + EOCD_MAX_COMMENT ? z->size : EOCD_BYTES + EOCD_MAX_COMMENT;
    uint8_t *buf = mcl_malloc(tail);
    if (buf == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory", z->name);
    mcl_status st = src_read(z, z->size - tail, buf, tail, "the zip end record", err);
    int64_t found = -1;
    for (int64_t i = (int64_t)(tail - EOCD_BYTES); st == MCL_OK && i >= 0 && found < 0; i--)
        if (memcmp(buf + i, "PK\5\6", 4) == 0 &&
            (uint64_t)i + EOCD_BYTES + le16(buf + i + 20) <= tail)
            found = i;
    uint8_t eocd[EOCD_BYTES] = {0};
    if (found >= 0) memcpy(eocd, buf + found, EOCD_BYTES);
    free(buf);
    if (st != MCL_OK) return st;
    if (found < 0) return not_a_zip(z, err);
    const uint64_t eocd_at = z->size - tail + (uint64_t)found;
    uint64_t entries = le16(eocd + 10), cd_size = le32(eocd + 12), cd_offset = le32(eocd + 16);
    uint64_t record_at = eocd_at; /* where the directory must end */
    if (le16(eocd + 4) != 0 || le16(eocd + 6) != 0 || le16(eocd + 8) != le16(eocd + 10))
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: the zip archive spans several disks; only single-file archives are "
                        "read",
                        z->name);
    uint8_t sig[4] = {0};
    if (eocd_at >= LOCATOR_BYTES) {
        st = src_read(z, eocd_at - LOCATOR_BYTES, sig, 4, "the zip64 locator", err);
        if (st != MCL_OK) return st;
    }
    if (memcmp(sig, "PK\6\7", 4) == 0) {
        st = read_zip64_end(z, eocd_at - LOCATOR_BYTES, &entries, &cd_size, &cd_offset, &record_at,
                            err);
        if (st != MCL_OK) return st;
    }
    if (cd_offset > record_at || cd_size != record_at - cd_offset)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: corrupt zip: the central directory (%llu bytes at offset %llu) does "
                        "not end where the end record begins (offset %llu)",
                        z->name, (unsigned long long)cd_size, (unsigned long long)cd_offset,
                        (unsigned long long)record_at);
    if (cd_size > MCL_NPZ_MAX_DIRECTORY_BYTES)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: the zip central directory is %llu bytes, more than the limit of %u",
                        z->name, (unsigned long long)cd_size, MCL_NPZ_MAX_DIRECTORY_BYTES);
    if (entries > cd_size / ENTRY_BYTES)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: corrupt zip: it claims %llu members but its central directory of "
                        "%llu bytes cannot hold them",
                        z->name, (unsigned long long)entries, (unsigned long long)cd_size);
    z->directory = mcl_malloc(cd_size + 1);
    if (z->directory == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory", z->name);
    z->directory_offset = cd_offset;
    z->directory_bytes = cd_size;
    z->entries = entries;
    return src_read(z, cd_offset, z->directory, cd_size, "the zip central directory", err);
}

/* Resolves the 0xFFFFFFFF fields of an entry from its zip64 extra field. */
static bool read_zip64_extra(const uint8_t *extra, size_t len, bool need_usize, bool need_csize,
                             bool need_offset, bool need_disk, npz_entry *e, uint32_t *disk) {
    while (len >= 4) {
        uint16_t id = le16(extra), size = le16(extra + 2);
        if (size > len - 4) return false;
        if (id == ZIP64_EXTRA_ID) {
            const uint8_t *p = extra + 4;
            size_t need = 8u * (need_usize + need_csize + need_offset) + 4u * need_disk;
            if (size < need) return false;
            if (need_usize) e->usize = le64(p), p += 8;
            if (need_csize) e->csize = le64(p), p += 8;
            if (need_offset) e->local_offset = le64(p), p += 8;
            if (need_disk) *disk = le32(p);
            return true;
        }
        extra += 4 + size;
        len -= 4 + (size_t)size;
    }
    return !(need_usize || need_csize || need_offset || need_disk);
}

/* Parses the directory entry at *pos (a byte offset into the directory) and advances *pos. */
static mcl_status parse_entry(const mcl_npz *z, uint64_t index, uint64_t *pos, npz_entry *e,
                              mcl_error *err) {
    const uint64_t left = z->directory_bytes - *pos;
    const uint8_t *d = z->directory + *pos;
    if (left < ENTRY_BYTES || memcmp(d, "PK\1\2", 4) != 0)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: corrupt zip: central directory entry %llu (at byte %llu of it) is "
                        "malformed",
                        z->name, (unsigned long long)index, (unsigned long long)*pos);
    uint16_t name_len = le16(d + 28), extra_len = le16(d + 30), comment_len = le16(d + 32);
    if (left - ENTRY_BYTES < (uint64_t)name_len + extra_len + comment_len)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: corrupt zip: central directory entry %llu runs past the directory",
                        z->name, (unsigned long long)index);
    memset(e, 0, sizeof *e);
    e->flags = le16(d + 8);
    e->method = le16(d + 10);
    e->crc = le32(d + 16);
    e->csize = le32(d + 20);
    e->usize = le32(d + 24);
    e->local_offset = le32(d + 42);
    e->name = d + ENTRY_BYTES;
    e->name_len = name_len;
    uint32_t disk = le16(d + 34);
    if (!read_zip64_extra(d + ENTRY_BYTES + name_len, extra_len, e->usize == 0xFFFFFFFFu,
                          e->csize == 0xFFFFFFFFu, e->local_offset == 0xFFFFFFFFu, disk == 0xFFFFu,
                          e, &disk)) {
        char shown[SHOWN_NAME_MAX + 8];
        show_name(shown, sizeof shown, e->name, name_len);
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: corrupt zip: its zip64 extra field is missing or malformed",
                        z->name, shown);
    }
    if (disk != 0)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: the zip archive spans several disks; only single-file archives are "
                        "read",
                        z->name);
    *pos += ENTRY_BYTES + (uint64_t)name_len + extra_len + comment_len;
    return MCL_OK;
}

static mcl_status check_directory(const mcl_npz *z, mcl_error *err) {
    uint64_t pos = 0;
    npz_entry e;
    for (uint64_t i = 0; i < z->entries; i++) {
        mcl_status st = parse_entry(z, i, &pos, &e, err);
        if (st != MCL_OK) return st;
    }
    if (pos != z->directory_bytes)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: corrupt zip: the central directory holds %llu bytes after its %llu "
                        "entries",
                        z->name, (unsigned long long)(z->directory_bytes - pos),
                        (unsigned long long)z->entries);
    return MCL_OK;
}

static bool entry_is(const npz_entry *e, const char *member) {
    size_t n = strlen(member);
    return e->name_len == n && memcmp(e->name, member, n) == 0;
}

/* Finds member `member` ("x_train.npy"); false with *err set when it is absent or twice. */
static mcl_status find_entry(const mcl_npz *z, const char *member, npz_entry *out, mcl_error *err) {
    uint64_t pos = 0, seen = 0;
    npz_entry e;
    char names[256] = "";
    for (uint64_t i = 0; i < z->entries; i++) {
        mcl_status st = parse_entry(z, i, &pos, &e, err);
        if (st != MCL_OK) return st;
        if (entry_is(&e, member)) {
            if (seen++ == 0) *out = e;
            continue;
        }
        size_t len = strlen(names);
        if (len + 40 < sizeof names) {
            char shown[SHOWN_NAME_MAX + 8];
            show_name(shown, sizeof shown, e.name, e.name_len);
            snprintf(names + len, sizeof names - len, "%s%.32s", len ? ", " : "", shown);
        } else if (len + 5 < sizeof names && strcmp(names + len - 3, "...") != 0) {
            strcat(names, ", ...");
        }
    }
    if (seen == 1) return MCL_OK;
    if (seen > 1)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: %s appears %llu times in the archive", z->name,
                        member, (unsigned long long)seen);
    return mcl_fail(err, MCL_ERR_FORMAT, "%s: the archive has no %s (it holds: %s)", z->name,
                    member, z->entries > 0 ? names : "nothing");
}

static mcl_status npz_open(mcl_npz *z, mcl_npz **out, mcl_error *err) {
    mcl_status st = read_directory(z, err);
    if (st == MCL_OK) st = check_directory(z, err);
    if (st != MCL_OK) {
        mcl_npz_close(z);
        return st;
    }
    *out = z;
    return MCL_OK;
}

mcl_status mcl_npz_open(const char *path, mcl_npz **out, mcl_error *err) {
    if (out == NULL || path == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_npz_open: path or out is NULL");
    *out = NULL;
    int fd = -1;
    struct stat st;
    mcl_status s = mcl_open_file(path, "an .npz archive", &fd, &st, err);
    if (s != MCL_OK) return s;
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mcl_fail(err, MCL_ERR_IO,
                        "%s: not a regular file: an .npz archive is read from its end, so it "
                        "cannot come from a pipe or device",
                        path);
    }
    mcl_npz *z = mcl_calloc(1, sizeof *z);
    if (z != NULL) z->name = mcl_strdup(path);
    if (z == NULL || z->name == NULL) {
        close(fd);
        free(z);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory", path);
    }
    z->fd = fd;
    z->size = (uint64_t)st.st_size;
    return npz_open(z, out, err);
}

mcl_status mcl_npz_open_memory(const uint8_t *data, size_t size, const char *name, mcl_npz **out,
                               mcl_error *err) {
    if (out == NULL || name == NULL || (data == NULL && size > 0))
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_npz_open_memory: bad arguments");
    *out = NULL;
    mcl_npz *z = mcl_calloc(1, sizeof *z);
    if (z != NULL) z->name = mcl_strdup(name);
    if (z == NULL || z->name == NULL) {
        free(z);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory", name);
    }
    z->fd = -1;
    z->mem = data;
    z->size = size;
    return npz_open(z, out, err);
}

void mcl_npz_close(mcl_npz *z) {
    if (z == NULL) return;
    if (z->fd >= 0) close(z->fd);
    free(z->directory);
    free(z->name);
    free(z);
}

bool mcl_npz_has(const mcl_npz *z, const char *array) {
    char member[128];
    if (z == NULL || snprintf(member, sizeof member, "%s.npy", array) >= (int)sizeof member)
        return false;
    uint64_t pos = 0;
    npz_entry e;
    for (uint64_t i = 0; i < z->entries; i++) {
        if (parse_entry(z, i, &pos, &e, NULL) != MCL_OK) return false;
        if (entry_is(&e, member)) return true;
    }
    return false;
}

/* ---------------------------------------------------------------- one member's bytes */

typedef struct member_reader {
    const mcl_npz *z;
    const char *member; /* "x_train.npy", for messages */
    npz_entry e;
    uint64_t in_pos, in_left; /* the stored or compressed bytes: next offset, how many remain */
    uint64_t out_done;        /* uncompressed bytes delivered so far */
    uint32_t crc;
    bool deflated, inflating, stream_end;
    z_stream zs;
    uint8_t *input; /* [INFLATE_INPUT_BYTES] for a deflated member */
} member_reader;

static const char *method_name(uint16_t method) {
    switch (method) {
    case 1:
        return "shrunk";
    case 6:
        return "imploded";
    case 9:
        return "deflate64";
    case 12:
        return "bzip2";
    case 14:
        return "LZMA";
    case 93:
        return "Zstandard";
    case 95:
        return "xz";
    case 99:
        return "AES-encrypted";
    default:
        return "unknown";
    }
}

static void member_close(member_reader *m) {
    if (m->inflating) inflateEnd(&m->zs);
    free(m->input);
    m->inflating = false;
    m->input = NULL;
}

/* Finds the member, checks its local header, and makes it ready to read from its first byte. */
static mcl_status member_open(const mcl_npz *z, const char *member, member_reader *m,
                              mcl_error *err) {
    memset(m, 0, sizeof *m);
    m->z = z;
    m->member = member;
    mcl_status st = find_entry(z, member, &m->e, err);
    if (st != MCL_OK) return st;
    const npz_entry *e = &m->e;
    if (e->flags & FLAG_ENCRYPTED)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: the member is encrypted; NumPy never "
                        "encrypts an .npz",
                        z->name, member);
    if (e->method != METHOD_STORED && e->method != METHOD_DEFLATED)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: zip compression method %u (%s) is not supported: np.savez "
                        "stores members (0) and np.savez_compressed deflates them (8)",
                        z->name, member, e->method, method_name(e->method));
    if (e->method == METHOD_STORED && e->csize != e->usize)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: corrupt zip: a stored member of %llu bytes that occupies %llu",
                        z->name, member, (unsigned long long)e->usize,
                        (unsigned long long)e->csize);
    if (e->method == METHOD_DEFLATED && e->usize / DEFLATE_MAX_RATIO > e->csize)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: corrupt zip: it claims to inflate to %llu bytes, more than "
                        "deflate can make of its %llu compressed bytes",
                        z->name, member, (unsigned long long)e->usize,
                        (unsigned long long)e->csize);
    uint8_t local[LOCAL_BYTES];
    st = src_read(z, e->local_offset, local, sizeof local, "a member's local header", err);
    if (st != MCL_OK) return st;
    if (memcmp(local, "PK\3\4", 4) != 0)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: %s: corrupt zip: no local header at offset %llu",
                        z->name, member, (unsigned long long)e->local_offset);
    uint16_t name_len = le16(local + 26), extra_len = le16(local + 28);
    uint8_t *name = name_len == e->name_len ? mcl_malloc((size_t)name_len + 1) : NULL;
    if (name_len == e->name_len && name == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory", z->name);
    if (name != NULL)
        st = src_read(z, e->local_offset + LOCAL_BYTES, name, name_len, "a member's local header",
                      err);
    bool same = name != NULL && st == MCL_OK && memcmp(name, e->name, name_len) == 0;
    free(name);
    if (st != MCL_OK) return st;
    if (!same || le16(local + 8) != e->method)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: corrupt zip: the local header disagrees with the central "
                        "directory (name or compression method)",
                        z->name, member);
    const uint64_t data_at = e->local_offset + LOCAL_BYTES + name_len + extra_len;
    if (data_at > z->directory_offset || e->csize > z->directory_offset - data_at)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: truncated or corrupt zip: the member's %llu bytes at offset "
                        "%llu run into the central directory (offset %llu)",
                        z->name, member, (unsigned long long)e->csize, (unsigned long long)data_at,
                        (unsigned long long)z->directory_offset);
    m->in_pos = data_at;
    m->in_left = e->csize;
    m->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    m->deflated = e->method == METHOD_DEFLATED;
    if (m->deflated) {
        m->input = mcl_malloc(INFLATE_INPUT_BYTES);
        if (m->input == NULL || inflateInit2(&m->zs, -MAX_WBITS) != Z_OK) {
            member_close(m);
            return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: %s: cannot allocate zlib state", z->name,
                            member);
        }
        m->inflating = true;
    }
    return MCL_OK;
}

/* Refills the inflate input; fails when the compressed bytes are used up. */
static mcl_status member_refill(member_reader *m, mcl_error *err) {
    if (m->in_left == 0)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: truncated or corrupt: the compressed data (%llu bytes) ends "
                        "before its deflate stream does, after %llu of %llu bytes",
                        m->z->name, m->member, (unsigned long long)m->e.csize,
                        (unsigned long long)m->out_done, (unsigned long long)m->e.usize);
    size_t k = m->in_left > INFLATE_INPUT_BYTES ? INFLATE_INPUT_BYTES : (size_t)m->in_left;
    mcl_status st = src_read(m->z, m->in_pos, m->input, k, "compressed data", err);
    if (st != MCL_OK) return st;
    m->in_pos += k;
    m->in_left -= k;
    m->zs.next_in = m->input;
    m->zs.avail_in = (uInt)k;
    return MCL_OK;
}

/* One inflate call; *got receives the bytes produced. */
static mcl_status member_inflate(member_reader *m, uint8_t *dst, size_t want, size_t *got,
                                 mcl_error *err) {
    *got = 0;
    if (m->zs.avail_in == 0) {
        mcl_status st = member_refill(m, err);
        if (st != MCL_OK) return st;
    }
    m->zs.next_out = dst;
    m->zs.avail_out = (uInt)want;
    int r = inflate(&m->zs, Z_NO_FLUSH);
    *got = want - m->zs.avail_out;
    if (r == Z_STREAM_END) {
        m->stream_end = true;
        return MCL_OK;
    }
    if (r == Z_OK || (r == Z_BUF_ERROR && m->zs.avail_in == 0)) return MCL_OK;
    if (r == Z_MEM_ERROR)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: %s: out of host memory inflating",
                        m->z->name, m->member);
    return mcl_fail(err, MCL_ERR_FORMAT, "%s: %s: corrupt deflate data after %llu bytes: %s",
                    m->z->name, m->member, (unsigned long long)(m->out_done + *got),
                    m->zs.msg != NULL ? m->zs.msg : "invalid stream");
}

/* Reads exactly n uncompressed bytes; the caller keeps out_done + n within the member's size. */
static mcl_status member_read(member_reader *m, uint8_t *dst, size_t n, mcl_error *err) {
    if (!m->deflated) {
        mcl_status st = src_read(m->z, m->in_pos, dst, n, "a member's data", err);
        if (st != MCL_OK) return st;
        m->in_pos += n;
        m->in_left -= n;
    } else {
        size_t done = 0;
        while (done < n) {
            if (m->stream_end)
                return mcl_fail(err, MCL_ERR_FORMAT,
                                "%s: %s: truncated or corrupt: its deflate stream ends after %llu "
                                "bytes but the archive says it holds %llu",
                                m->z->name, m->member, (unsigned long long)(m->out_done + done),
                                (unsigned long long)m->e.usize);
            size_t want = n - done > IO_CHUNK ? IO_CHUNK : n - done, got = 0;
            mcl_status st = member_inflate(m, dst + done, want, &got, err);
            done += got;
            if (st != MCL_OK) return st;
        }
    }
    m->crc = crc_update(m->crc, dst, n);
    m->out_done += n;
    return MCL_OK;
}

/* After all of the member's bytes were read: the deflate stream ends there, nothing follows it,
 * and the CRC-32 matches the central directory's. */
static mcl_status member_finish(member_reader *m, mcl_error *err) {
    while (m->deflated && !m->stream_end) {
        uint8_t extra;
        size_t got = 0;
        mcl_status st = member_inflate(m, &extra, 1, &got, err);
        if (st != MCL_OK) return st;
        if (got > 0)
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: %s: corrupt zip: the member inflates to more than the %llu bytes "
                            "the archive says it holds",
                            m->z->name, m->member, (unsigned long long)m->e.usize);
    }
    uint64_t unused = m->in_left + (m->deflated ? m->zs.avail_in : 0);
    if (m->deflated && unused > 0)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: corrupt zip: %llu compressed bytes follow the end of the "
                        "member's deflate stream",
                        m->z->name, m->member, (unsigned long long)unused);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (m->crc != m->e.crc)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: CRC-32 mismatch (stored %08x, computed %08x): the archive is "
                        "damaged",
                        m->z->name, m->member, m->e.crc, m->crc);
#endif
    return MCL_OK;
}

/* ---------------------------------------------------------------- the .npy header */

typedef struct npy_header {
    char descr[16];
    bool fortran_order;
    uint32_t ndim;
    uint64_t dims[NPY_MAX_DIMS];
    uint64_t bytes; /* magic + version + length + the dict: where the data starts */
} npy_header;

typedef struct dict_parser {
    const char *p, *start, *end;
} dict_parser;

static void skip_space(dict_parser *d) {
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r'))
        d->p++;
}

static bool take(dict_parser *d, char c) {
    skip_space(d);
    if (d->p >= d->end || *d->p != c) return false;
    d->p++;
    return true;
}

static bool take_word(dict_parser *d, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0) return false;
    d->p += n;
    return true;
}

/* A Python string literal without escapes, 'x' or "x", into out (at most size-1 characters). */
static bool take_string(dict_parser *d, char *out, size_t size) {
    skip_space(d);
    if (d->p >= d->end || (*d->p != '\'' && *d->p != '"')) return false;
    char quote = *d->p++;
    size_t n = 0;
    while (d->p < d->end && *d->p != quote) {
        if (*d->p == '\\' || *d->p < ' ' || *d->p > '~' || n + 1 >= size) return false;
        out[n++] = *d->p++;
    }
    if (d->p >= d->end) return false;
    d->p++;
    out[n] = '\0';
    return true;
}

/* A non-negative Python int (an 'L' suffix, as Python 2 wrote longs, is allowed). */
static bool take_uint(dict_parser *d, uint64_t *v) {
    skip_space(d);
    if (d->p >= d->end || *d->p < '0' || *d->p > '9') return false;
    uint64_t x = 0;
    while (d->p < d->end && *d->p >= '0' && *d->p <= '9') {
        if (x > (UINT64_MAX - 9) / 10) return false;
        x = x * 10 + (uint64_t)(*d->p++ - '0');
    }
    if (d->p < d->end && *d->p == 'L') d->p++;
    *v = x;
    return true;
}

/* "(60000, 28, 28)", "(60000,)" or "()". */
static bool take_shape(dict_parser *d, npy_header *h) {
    if (!take(d, '(')) return false;
    h->ndim = 0;
    bool comma = false;
    for (;;) {
        if (take(d, ')')) break;
        if (h->ndim == NPY_MAX_DIMS || !take_uint(d, &h->dims[h->ndim])) return false;
        h->ndim++;
        comma = take(d, ',');
        if (!comma) {
            if (!take(d, ')')) return false;
            break;
        }
    }
    return h->ndim != 1 || comma; /* "(5)" is an int in Python, not a tuple */
}

static mcl_status bad_header(const member_reader *m, const dict_parser *d, const char *what,
                             mcl_error *err) {
    char shown[SHOWN_NAME_MAX + 8];
    show_name(shown, sizeof shown, (const uint8_t *)d->start, (size_t)(d->end - d->start));
    return mcl_fail(err, MCL_ERR_FORMAT, "%s: %s: malformed .npy header (%s) at byte %ld: %s",
                    m->z->name, m->member, what, (long)(d->p - d->start), shown);
}

/* The dict numpy writes: {'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), } padded
 * with spaces and a newline. Exactly these three keys, each once, as numpy requires. */
static mcl_status parse_dict(const member_reader *m, const char *text, size_t len, npy_header *h,
                             mcl_error *err) {
    dict_parser d = {text, text, text + len};
    bool have_descr = false, have_order = false, have_shape = false;
    if (!take(&d, '{')) return bad_header(m, &d, "expected '{'", err);
    for (;;) {
        if (take(&d, '}')) break;
        char key[32];
        if (!take_string(&d, key, sizeof key)) return bad_header(m, &d, "expected a key", err);
        if (!take(&d, ':')) return bad_header(m, &d, "expected ':'", err);
        skip_space(&d);
        bool *seen = NULL;
        if (strcmp(key, "descr") == 0) {
            seen = &have_descr;
            if (d.p < d.end && *d.p == '[')
                return mcl_fail(err, MCL_ERR_FORMAT,
                                "%s: %s: a structured dtype (a list of fields) is not supported",
                                m->z->name, m->member);
            if (!take_string(&d, h->descr, sizeof h->descr))
                return bad_header(m, &d, "expected a dtype string", err);
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &have_order;
            if (take_word(&d, "True"))
                h->fortran_order = true;
            else if (take_word(&d, "False"))
                h->fortran_order = false;
            else
                return bad_header(m, &d, "fortran_order must be True or False", err);
        } else if (strcmp(key, "shape") == 0) {
            seen = &have_shape;
            if (!take_shape(&d, h))
                return bad_header(m, &d, "shape must be a tuple of at most 8 integers", err);
        } else {
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: %s: the .npy header has a key '%s' besides descr, fortran_order "
                            "and shape",
                            m->z->name, m->member, key);
        }
        if (*seen) return bad_header(m, &d, "a key appears twice", err);
        *seen = true;
        if (!take(&d, ',')) {
            if (!take(&d, '}')) return bad_header(m, &d, "expected ',' or '}'", err);
            break;
        }
    }
    skip_space(&d);
    if (d.p != d.end) return bad_header(m, &d, "text after the dict", err);
    if (!have_descr || !have_order || !have_shape)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: %s: the .npy header lacks '%s'", m->z->name,
                        m->member,
                        !have_descr   ? "descr"
                        : !have_order ? "fortran_order"
                                      : "shape");
    if (h->fortran_order)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: the array is in Fortran order; only C order is read (save "
                        "np.ascontiguousarray(x) instead)",
                        m->z->name, m->member);
    return MCL_OK;
}

static mcl_status read_npy_header(member_reader *m, npy_header *h, mcl_error *err) {
    memset(h, 0, sizeof *h);
    const uint64_t size = m->e.usize;
    uint8_t head[12];
    if (size < 10)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: not a .npy file: %llu bytes cannot hold its header", m->z->name,
                        m->member, (unsigned long long)size);
    mcl_status st = member_read(m, head, 8, err);
    if (st != MCL_OK) return st;
    if (memcmp(head, NPY_MAGIC, 6) != 0)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: %s: not a .npy file (wrong magic bytes)",
                        m->z->name, m->member);
    const unsigned major = head[6], minor = head[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: .npy format version %u.%u is not supported (1.0, 2.0 and 3.0 "
                        "are)",
                        m->z->name, m->member, major, minor);
    const unsigned len_bytes = major == 1 ? 2 : 4;
    if (size < 8u + len_bytes)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: %s: truncated .npy header", m->z->name,
                        m->member);
    st = member_read(m, head + 8, len_bytes, err);
    if (st != MCL_OK) return st;
    const uint64_t len = len_bytes == 2 ? le16(head + 8) : le32(head + 8);
    h->bytes = 8u + len_bytes + len;
    if (len > MCL_NPY_MAX_HEADER_BYTES)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: the .npy header is %llu bytes, more than the limit of %u",
                        m->z->name, m->member, (unsigned long long)len, MCL_NPY_MAX_HEADER_BYTES);
    if (h->bytes > size)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: truncated: the .npy header of %llu bytes runs past the member's "
                        "%llu bytes",
                        m->z->name, m->member, (unsigned long long)len, (unsigned long long)size);
    char *text = mcl_malloc(len + 1);
    if (text == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: %s: out of host memory", m->z->name,
                        m->member);
    st = member_read(m, (uint8_t *)text, len, err);
    if (st == MCL_OK) st = parse_dict(m, text, len, h, err);
    free(text);
    return st;
}

/* "(60000, 28, 28)" for messages. */
static void shape_text(const npy_header *h, char *out, size_t size) {
    size_t n = (size_t)snprintf(out, size, "(");
    for (uint32_t i = 0; i < h->ndim && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%llu", i ? ", " : "",
                              (unsigned long long)h->dims[i]);
    if (n < size) snprintf(out + n, size - n, h->ndim == 1 ? ",)" : ")");
}

/* An integer dtype: '<' / '>' / '|' then 'u' or 'i' then the byte count. */
typedef struct npy_int_type {
    bool is_signed, big_endian;
    unsigned size;
} npy_int_type;

static bool parse_int_dtype(const char *descr, npy_int_type *t) {
    if (strlen(descr) != 3 || (descr[0] != '<' && descr[0] != '>' && descr[0] != '|') ||
        (descr[1] != 'u' && descr[1] != 'i') || !strchr("1248", descr[2]))
        return false;
    t->size = (unsigned)(descr[2] - '0');
    if (descr[0] == '|' && t->size != 1) return false;
    t->is_signed = descr[1] == 'i';
    t->big_endian = descr[0] == '>';
    return true;
}

/* The member's size must be exactly the header plus the array: checked before allocating. */
static mcl_status check_member_size(const member_reader *m, const npy_header *h,
                                    uint64_t data_bytes, mcl_error *err) {
    const uint64_t held = m->e.usize - h->bytes;
    if (held == data_bytes) return MCL_OK;
    char shape[160];
    shape_text(h, shape, sizeof shape);
    if (held < data_bytes)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: truncated: the header says %s '%s' (%llu bytes) but the member "
                        "holds %llu bytes of data",
                        m->z->name, m->member, shape, h->descr, (unsigned long long)data_bytes,
                        (unsigned long long)held);
    return mcl_fail(err, MCL_ERR_FORMAT,
                    "%s: %s: %llu unexpected bytes after the data (the header says %s '%s', "
                    "%llu bytes)",
                    m->z->name, m->member, (unsigned long long)(held - data_bytes), shape, h->descr,
                    (unsigned long long)data_bytes);
}

/* The count limit of idx.h, with the noun of what is counted. */
static mcl_status check_count(const member_reader *m, uint64_t count, const char *noun,
                              mcl_error *err) {
    if (count == 0)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: %s: the array holds 0 %s; expected at least 1",
                        m->z->name, m->member, noun);
    if (count > MCL_IDX_MAX_COUNT)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: %s: the array holds %llu %s, more than the limit of %u", m->z->name,
                        m->member, (unsigned long long)count, noun, MCL_IDX_MAX_COUNT);
    return MCL_OK;
}

/* ---------------------------------------------------------------- arrays */

static mcl_status member_name(const mcl_npz *z, const char *array, char *out, size_t size,
                              mcl_error *err) {
    if (z == NULL || array == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "npz reading: the archive or array name is NULL");
    if (snprintf(out, size, "%s.npy", array) >= (int)size)
        return mcl_fail(err, MCL_ERR_USAGE, "npz reading: array name '%.40s...' is too long",
                        array);
    return MCL_OK;
}

/* Opens the member holding `array` (its name "<array>.npy" into member[size], which m points
 * at for messages, so it must outlive m) and reads its .npy header into *h and its shape as text
 * into shape. On failure before the member is open, m->z is NULL and nothing needs closing. */
static mcl_status open_array(mcl_npz *z, const char *array, char *member, size_t size,
                             member_reader *m, npy_header *h, char *shape, size_t shape_size,
                             mcl_error *err) {
    m->z = NULL;
    mcl_status st = member_name(z, array, member, size, err);
    if (st != MCL_OK) return st;
    st = member_open(z, member, m, err);
    if (st == MCL_OK) st = read_npy_header(m, h, err);
    if (st == MCL_OK) shape_text(h, shape, shape_size);
    return st;
}

mcl_status mcl_npz_read_images(mcl_npz *z, const char *array, mcl_idx_images *out, mcl_error *err) {
    if (out == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_npz_read_images: out is NULL");
    memset(out, 0, sizeof *out);
    char member[128], shape[160] = "";
    member_reader m;
    npy_header h;
    mcl_status st = open_array(z, array, member, sizeof member, &m, &h, shape, sizeof shape, err);
    if (st != MCL_OK && m.z == NULL) return st;
    npy_int_type t;
    if (st == MCL_OK && (!parse_int_dtype(h.descr, &t) || t.size != 1 || t.is_signed))
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: %s: images of dtype '%s' are not supported: they must be uint8 "
                      "('|u1'), 0..255 as in Keras's mnist.npz",
                      z->name, member, h.descr);
    if (st == MCL_OK && !(h.ndim == 3 || (h.ndim == 4 && h.dims[3] == 1)))
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: %s: images of shape %s: expected [count, rows, cols] or [count, rows, "
                      "cols, 1]%s",
                      z->name, member, shape,
                      h.ndim == 4 && h.dims[3] == 3 ? " (these are colour: convert them to grey)"
                                                    : "");
    if (st == MCL_OK) st = check_count(&m, h.dims[0], "images", err);
    if (st == MCL_OK && (h.dims[1] == 0 || h.dims[2] == 0 || h.dims[1] > MCL_IDX_MAX_SIDE ||
                         h.dims[2] > MCL_IDX_MAX_SIDE))
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: %s: images of shape %s: rows and cols must each be 1..%u", z->name,
                      member, shape, MCL_IDX_MAX_SIDE);
    uint64_t bytes = 0;
    if (st == MCL_OK) {
        bytes = h.dims[0] * h.dims[1] * h.dims[2]; /* < 1e8 * 2^24: no overflow */
        if (bytes > MCL_IDX_MAX_DATA_BYTES || bytes > SIZE_MAX)
            st = mcl_fail(err, MCL_ERR_FORMAT,
                          "%s: %s: images of shape %s (%llu bytes), more than the 8 GiB limit",
                          z->name, member, shape, (unsigned long long)bytes);
    }
    if (st == MCL_OK) st = check_member_size(&m, &h, bytes, err);
    uint8_t *pixels = NULL;
    if (st == MCL_OK && (pixels = mcl_malloc((size_t)bytes)) == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: %s: out of host memory for %llu bytes",
                      z->name, member, (unsigned long long)bytes);
    if (st == MCL_OK) st = member_read(&m, pixels, (size_t)bytes, err);
    if (st == MCL_OK) st = member_finish(&m, err);
    member_close(&m);
    if (st != MCL_OK) {
        free(pixels);
        return st;
    }
    out->count = (uint32_t)h.dims[0];
    out->rows = (uint32_t)h.dims[1];
    out->cols = (uint32_t)h.dims[2];
    out->pixels = pixels;
    return MCL_OK;
}

/* Converts `n` labels of type t from src to uint8 in dst; index0 is the first one's index. */
static mcl_status convert_labels(const member_reader *m, const npy_int_type *t, const uint8_t *src,
                                 size_t n, uint64_t index0, uint8_t *dst, mcl_error *err) {
    for (size_t i = 0; i < n; i++) {
        uint64_t raw = be_or_le(src + i * t->size, t->size, t->big_endian);
        bool negative = t->is_signed && (raw >> (8 * t->size - 1)) & 1;
        if (negative || raw > 255) {
            char value[32];
            if (negative) {
                /* Sign-extend: the two's complement value as a signed number. */
                uint64_t ext = t->size == 8 ? raw : raw | ~((UINT64_C(1) << (8 * t->size)) - 1);
                snprintf(value, sizeof value, "-%llu", (unsigned long long)(~ext + 1));
            } else {
                snprintf(value, sizeof value, "%llu", (unsigned long long)raw);
            }
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: %s: label %s at index %llu is outside 0..255 (a label is a "
                            "class number)",
                            m->z->name, m->member, value, (unsigned long long)(index0 + i));
        }
        dst[i] = (uint8_t)raw;
    }
    return MCL_OK;
}

mcl_status mcl_npz_read_labels(mcl_npz *z, const char *array, mcl_idx_labels *out, mcl_error *err) {
    if (out == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_npz_read_labels: out is NULL");
    memset(out, 0, sizeof *out);
    char member[128], shape[160] = "";
    member_reader m;
    npy_header h;
    mcl_status st = open_array(z, array, member, sizeof member, &m, &h, shape, sizeof shape, err);
    if (st != MCL_OK && m.z == NULL) return st;
    npy_int_type t = {0};
    if (st == MCL_OK && !parse_int_dtype(h.descr, &t))
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: %s: labels of dtype '%s' are not supported: they must be integers "
                      "('|u1', '<i8', ...)",
                      z->name, member, h.descr);
    if (st == MCL_OK && !(h.ndim == 1 || (h.ndim == 2 && h.dims[1] == 1)))
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: %s: labels of shape %s: expected [count] or [count, 1]", z->name, member,
                      shape);
    if (st == MCL_OK) st = check_count(&m, h.dims[0], "labels", err);
    const uint64_t count = st == MCL_OK ? h.dims[0] : 0;
    if (st == MCL_OK) st = check_member_size(&m, &h, count * t.size, err);
    uint8_t *labels = NULL, *chunk = NULL;
    if (st == MCL_OK && ((labels = mcl_malloc((size_t)count)) == NULL ||
                         (chunk = mcl_malloc(LABEL_CHUNK_BYTES)) == NULL))
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: %s: out of host memory for %llu labels",
                      z->name, member, (unsigned long long)count);
    const size_t per_chunk = LABEL_CHUNK_BYTES / (t.size ? t.size : 1);
    for (uint64_t at = 0; st == MCL_OK && at < count; at += per_chunk) {
        size_t n = count - at < per_chunk ? (size_t)(count - at) : per_chunk;
        st = member_read(&m, chunk, n * t.size, err);
        if (st == MCL_OK) st = convert_labels(&m, &t, chunk, n, at, labels + at, err);
    }
    if (st == MCL_OK) st = member_finish(&m, err);
    member_close(&m);
    free(chunk);
    if (st != MCL_OK) {
        free(labels);
        return st;
    }
    out->count = (uint32_t)count;
    out->labels = labels;
    return MCL_OK;
}
