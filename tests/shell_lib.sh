# Shared by the shell tests of mnist-cl's failure behaviour (soak.sh, disk_full.sh,
# concurrency.sh); sourced, not run. The caller sets nothing; this file reads the executable
# from $1 and defines:
#   EXE, TMP (removed at exit), REQUIRE_DEVICE
#   the harness: run ARGS (stdout, stderr, rc), want_* checks, result NAME, skip NAME WHY,
#     skip_no_device NAME, finish (the summary line and the exit status) -- TAP-like output
#     as tests/test_cli.sh prints it
#   write_dataset DIR TRAIN TEST SEED: a reproducible synthetic 28x28, 10-class IDX dataset
#   need_device: 0 if a device trains here; else skips (or fails under
#     MNIST_CL_REQUIRE_DEVICE=1) and returns 1
#   export_npz CKPT OUT, no_temp_files DIR
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 PATH/TO/mnist-cl" >&2
    exit 2
fi
case $1 in
/*) EXE=$1 ;;
*) EXE=$(pwd)/$1 ;;
esac
if [ ! -x "$EXE" ]; then
    echo "$0: '$EXE' is not an executable" >&2
    exit 2
fi
REQUIRE_DEVICE=${MNIST_CL_REQUIRE_DEVICE:-0}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mnistcl-$(basename "$0" .sh)-XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
OUT=$TMP/stdout
ERR=$TMP/stderr

count=0
passed=0
failed=0
rc=0
cmd=
reasons=

# run ARGS...: runs mnist-cl with stdin closed, keeping stdout, stderr and the exit code (rc).
run() {
    cmd="mnist-cl $*"
    reasons=
    "$EXE" "$@" </dev/null >"$OUT" 2>"$ERR"
    rc=$?
}

fail_because() {
    reasons="$reasons$1
"
}

want_rc() {
    [ "$rc" -eq "$1" ] || fail_because "exit code $rc, want $1"
}

want_stderr() {
    grep -qF -- "$1" "$ERR" || fail_because "stderr lacks '$1'"
}

# want_one_line_error: stderr is exactly one line, "mnist-cl: error: ...".
want_one_line_error() {
    [ "$(wc -l <"$ERR")" -eq 1 ] && grep -q '^mnist-cl: error: ' "$ERR" ||
        fail_because "stderr is not one 'mnist-cl: error:' line"
}

# want_same FILE COPY: FILE still holds exactly the bytes of COPY.
want_same() {
    cmp -s "$1" "$2" || fail_because "$1 changed"
}

result() {
    count=$((count + 1))
    if [ -z "$reasons" ]; then
        passed=$((passed + 1))
        echo "ok $count - $1"
        return
    fi
    failed=$((failed + 1))
    echo "not ok $count - $1"
    echo "# command: $cmd"
    printf '%s' "$reasons" | sed 's/^/#   /'
    echo "# stdout (first 20 lines):"
    head -n 20 "$OUT" 2>/dev/null | sed 's/^/#   | /'
    echo "# stderr (first 20 lines):"
    head -n 20 "$ERR" 2>/dev/null | sed 's/^/#   | /'
}

skip() {
    count=$((count + 1))
    passed=$((passed + 1))
    echo "ok $count - $1 # SKIP $2"
}

skip_no_device() {
    if [ "$REQUIRE_DEVICE" = 1 ]; then
        count=$((count + 1))
        failed=$((failed + 1))
        echo "not ok $count - $1"
        echo "# no usable OpenCL device and MNIST_CL_REQUIRE_DEVICE=1"
    else
        skip "$1" "no OpenCL device (set MNIST_CL_REQUIRE_DEVICE=1 to make this a failure)"
    fi
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# write_idx FILE KIND COUNT SEED: an IDX file of COUNT 28x28 images (KIND images) or labels
# 0..9 (KIND labels), big-endian header, bytes from a Park-Miller generator seeded with SEED
# (exact in awk's doubles), so the same seed gives the same file everywhere.
write_idx() {
    LC_ALL=C awk -v kind="$2" -v n="$3" -v seed="$4" '
        function be32(v) { printf "%c%c%c%c", int(v / 16777216) % 256, int(v / 65536) % 256,
                           int(v / 256) % 256, v % 256 }
        BEGIN {
            x = seed % 2147483646 + 1
            if (kind == "images") { printf "%c%c%c%c", 0, 0, 8, 3; be32(n); be32(28); be32(28);
                                    bytes = n * 784 }
            else { printf "%c%c%c%c", 0, 0, 8, 1; be32(n); bytes = n }
            for (i = 0; i < bytes; i++) {
                x = (x * 16807) % 2147483647
                b = int(x / 8388608)
                printf "%c", kind == "images" ? b : b % 10
            }
        }' >"$1"
}

# write_dataset DIR TRAIN TEST SEED: DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.
write_dataset() {
    mkdir -p "$1"
    write_idx "$1/train-images-idx3-ubyte" images "$2" "$4"
    write_idx "$1/train-labels-idx1-ubyte" labels "$2" $(($4 + 1))
    write_idx "$1/t10k-images-idx3-ubyte" images "$3" $(($4 + 2))
    write_idx "$1/t10k-labels-idx1-ubyte" labels "$3" $(($4 + 3))
}

# need_device NAME...: 0 when training works here; otherwise every NAME is skipped (failed under
# MNIST_CL_REQUIRE_DEVICE=1) and it returns 1.
need_device() {
    if "$EXE" devices </dev/null >/dev/null 2>&1; then
        return 0
    fi
    for name in "$@"; do skip_no_device "$name"; done
    return 1
}

# export_npz CKPT OUT: the checkpoint's weights as NumPy arrays (no timestamps inside: two
# checkpoints of bit-identical weights and BatchNorm state give byte-identical files).
export_npz() {
    "$EXE" export "$1" -o "$2" </dev/null >/dev/null 2>"$TMP/export.err"
}

# no_temp_files DIR: DIR holds no temporary file (NAME.tmp.PID.N) or lock file.
no_temp_files() {
    left=$(ls -A "$1" | grep -E '\.tmp\.[0-9]+\.[0-9]+$|\.lock$' || true)
    [ -z "$left" ] || fail_because "left behind in $1: $(echo $left)"
}
