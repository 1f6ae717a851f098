/* libFuzzer target for the command-line parser (src/cli/args.c): the global options
 * (cli_take_globals), a command's options and positional arguments (cli_parse_positional, with
 * a table of the kinds the commands use: values, flags, -o and -h), and the value parsers
 * (cli_u32, cli_u64, cli_float). Input: the first byte is how many positional arguments are
 * allowed (0-3), the rest the arguments, separated by NUL bytes (each its own allocation, so a
 * read past one's end is caught). Each call must either succeed silently, with results that
 * keep the parser's promises, or print exactly one line, "mnist-cl: error: ...".
 *
 * The parser reports on stderr, so the target points stderr at a memory stream for the
 * duration of one input and restores it before returning. That swap of the C library's
 * `stderr` (assignable in glibc, where libFuzzer and this target run) is the one piece of
 * process-wide state here; libFuzzer and the sanitizers write to file descriptor 2 through
 * their own handles and are not affected. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_ARGS = 256 };

typedef struct capture {
    FILE *stream;
    char *text;
    size_t len, mark;
} capture;

/* What the last call printed must be nothing (ok) or one "mnist-cl: error: " line. */
static void expect(capture *c, bool ok) {
    fflush(c->stream);
    const char *text = c->text + c->mark;
    size_t n = c->len - c->mark;
    c->mark = c->len;
    if (ok) {
        if (n != 0) abort();
        return;
    }
    static const char prefix[] = "mnist-cl: error: ";
    if (n <= sizeof prefix || memcmp(text, prefix, sizeof prefix - 1) != 0 ||
        memchr(text, '\n', n) != text + n - 1)
        abort();
}

/* Whether p points into one of the arguments (the option's own text or the one after it). */
static bool inside_an_argument(const char *p, char *const *argv, int argc) {
    for (int i = 0; i < argc; i++)
        if (p >= argv[i] && p <= argv[i] + strlen(argv[i])) return true;
    return false;
}

static void parse(capture *c, int argc, char **argv, size_t max_positional) {
    cli_global g = {.platform = -1, .device = -1};
    int n = argc;
    bool ok = cli_take_globals(&n, argv, &g);
    expect(c, ok);
    if (!ok) return;
    if (n > argc || g.platform < -1 || g.platform > 1023 || g.device < -1 || g.device > 1023)
        abort();
    for (int i = 0; i < n; i++)
        if (strcmp(argv[i], "--platform") == 0 || strcmp(argv[i], "--device") == 0 ||
            strncmp(argv[i], "--platform=", 11) == 0 || strncmp(argv[i], "--device=", 9) == 0)
            abort();

    static const cli_option options[] = {
        {"--output", "FILE", "a path (also -o)"},
        {"--epochs", "N", "an integer"},
        {"--seed", "N", "a 64-bit integer"},
        {"--lr", "F", "a number"},
        {"--flag", NULL, "a flag"},
        {"--help", NULL, "also -h"},
    };
    enum { OPTS = sizeof options / sizeof options[0] };
    const char *values[OPTS] = {0};
    const char *positional[3] = {0};
    size_t npositional = 99;
    ok = cli_parse_positional("fuzz", n, argv, options, OPTS, values, positional, max_positional,
                              &npositional);
    expect(c, ok);
    if (ok) {
        if (npositional > max_positional) abort();
        for (size_t i = 0; i < npositional; i++)
            if (!inside_an_argument(positional[i], argv, n)) abort();
        for (size_t k = 0; k < OPTS; k++) {
            if (values[k] == NULL) continue;
            if (options[k].metavar == NULL ? strcmp(values[k], "1") != 0
                                           : !inside_an_argument(values[k], argv, n))
                abort();
        }
        uint32_t epochs = 0;
        uint64_t seed = 0;
        float lr = 0;
        if (values[1] != NULL) {
            ok = cli_u32("--epochs", values[1], 1, 100000, &epochs);
            expect(c, ok);
            if (ok && (epochs < 1 || epochs > 100000)) abort();
        }
        if (values[2] != NULL) expect(c, cli_u64("--seed", values[2], &seed));
        if (values[3] != NULL) {
            ok = cli_float("--lr", values[3], 1e-12, 1e12, true, &lr);
            expect(c, ok);
            if (ok && !(lr >= 1e-12f * 0.999f && lr <= 1e12f * 1.001f)) abort();
        }
    }
    values[0] = NULL;
    ok = cli_parse("fuzz", n, argv, options, OPTS, values);
    expect(c, ok);
    /* Every argument through the number parsers, open ranges and half-open ones. */
    for (int i = 0; i < n; i++) {
        uint32_t u = 0;
        float f = 0;
        ok = cli_u32("--n", argv[i], 0, UINT32_MAX, &u);
        expect(c, ok);
        ok = cli_float("--x", argv[i], -1e30, 1e30, false, &f);
        expect(c, ok);
        if (ok && !isfinite(f)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t max_positional = data[0] % 4;
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    const uint8_t *p = data + 1, *end = data + size;
    while (p < end && argc < MAX_ARGS) {
        const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
        size_t len = (size_t)((nul != NULL ? nul : end) - p);
        argv[argc] = malloc(len + 1);
        if (argv[argc] == NULL) break;
        memcpy(argv[argc], p, len);
        argv[argc][len] = '\0';
        argc++;
        p += len + 1; /* past the NUL; past the end when there was none */
    }
    argv[argc] = NULL;
    /* cli_take_globals reorders argv; keep the allocations to free them. */
    char *owned[MAX_ARGS + 1];
    memcpy(owned, argv, sizeof argv);

    capture c = {0};
    c.stream = open_memstream(&c.text, &c.len);
    if (c.stream != NULL) {
        FILE *saved = stderr;
        stderr = c.stream;
        parse(&c, argc, argv, max_positional);
        stderr = saved;
        fclose(c.stream);
        free(c.text);
    }
    for (int i = 0; i < argc; i++)
        free(owned[i]);
    return 0;
}
