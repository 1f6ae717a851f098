#!/bin/sh
# Writes that do not fit: the checkpoint, history, NumPy and ONNX exports and plot, each
# rewriting a file that already exists, (1) over the process's file size limit (ulimit -f, so
# that write() fails with EFBIG; with SIGXFSZ ignored by the shell, and with it at its default,
# which mnist-cl ignores itself) and (2) on a full file system (a small tmpfs, mounted in a
# mount namespace of its own; skipped, with the reason, where that is refused). Each must exit 1
# with one line naming the file, leave the old file byte for byte as it was, and leave no
# temporary file beside it.
#
# usage: tests/disk_full.sh PATH/TO/mnist-cl   (meson passes the executable)
. "$(dirname "$0")/shell_lib.sh"

# The unit of ulimit -f: 512 bytes in a POSIX shell (dash), 1024 in bash.
BLOCK=$( (
    ulimit -f 1
    trap '' XFSZ
    head -c 600 /dev/zero >"$TMP/probe" 2>/dev/null && echo 1024 || echo 512
))
rm -f "$TMP/probe"

# limited BYTES IGNORE ARGS...: runs mnist-cl under a file size limit of BYTES (rounded down to
# ulimit's unit), with SIGXFSZ ignored first when IGNORE is "ignore".
limited() {
    limit=$(($1 / BLOCK))
    ignore=$2
    shift 2
    cmd="(ulimit -f $limit) mnist-cl $*"
    reasons=
    (
        ulimit -f "$limit"
        [ "$ignore" = ignore ] && trap '' XFSZ
        exec "$EXE" "$@" </dev/null >"$OUT" 2>"$ERR"
    )
    rc=$?
}

# check_refused FILE ERRNO_TEXT: the run failed cleanly writing FILE, which is unchanged.
check_refused() {
    want_rc 1
    want_one_line_error
    want_stderr "$1: cannot write"
    want_stderr "$2"
    want_same "$1" "$1.orig"
    no_temp_files "$(dirname "$1")"
}

D=$TMP/out
mkdir "$D"
write_dataset "$TMP/data" 512 64 21
TRAIN="--data $TMP/data --verbose 0"
if need_device "checkpoint over the file size limit: exit 1, one line, the old file intact" \
    "history over the file size limit" "NumPy export over the file size limit" \
    "ONNX export over the file size limit" "plot over the file size limit" \
    "SIGXFSZ at its default: mnist-cl ignores it and reports EFBIG the same way" \
    "full file system: checkpoint, history, exports and plot refused, old files intact"; then
    # The old files: a 40-epoch run (its history is about 2 KB), its exports and its plot; and
    # a warm program cache, so the limited runs below write nothing else.
    run train $TRAIN --epochs 40 --validation-split 0.25 --save "$D/a.ckpt" --history "$D/h.csv"
    [ "$rc" -eq 0 ] || { echo "# the first run failed: $(cat "$ERR")"; exit 1; }
    "$EXE" export "$D/a.ckpt" -o "$D/w.npz" >/dev/null &&
        "$EXE" export "$D/a.ckpt" -o "$D/w.onnx" >/dev/null &&
        "$EXE" plot "$D/h.csv" -o "$D/p.png" >/dev/null || exit 1
    for f in a.ckpt h.csv w.npz w.onnx p.png; do cp "$D/$f" "$D/$f.orig"; done
    echo "# ulimit -f counts blocks of $BLOCK bytes here; a.ckpt $(wc -c <"$D/a.ckpt") bytes, h.csv $(wc -c <"$D/h.csv")"

    limited 1000000 ignore train $TRAIN --resume "$D/a.ckpt" --save "$D/a.ckpt" --epochs 41
    check_refused "$D/a.ckpt" "File too large"
    want_stderr "the previous version is unchanged"
    result "checkpoint over the file size limit: exit 1, one line, the old file intact"

    limited 1024 ignore train $TRAIN --resume "$D/a.ckpt" --history "$D/h.csv" --epochs 41
    check_refused "$D/h.csv" "File too large"
    result "history over the file size limit"

    limited 100000 ignore export "$D/a.ckpt" -o "$D/w.npz"
    check_refused "$D/w.npz" "File too large"
    result "NumPy export over the file size limit"

    limited 100000 ignore export "$D/a.ckpt" -o "$D/w.onnx"
    check_refused "$D/w.onnx" "File too large"
    result "ONNX export over the file size limit"

    limited 40000 ignore plot "$D/h.csv" -o "$D/p.png"
    check_refused "$D/p.png" "File too large"
    result "plot over the file size limit"

    # export loads no OpenCL driver: nothing else (PoCL's LLVM has a handler) catches the signal.
    limited 100000 default export "$D/a.ckpt" -o "$D/w.npz"
    check_refused "$D/w.npz" "File too large"
    sigxfsz_reasons=$reasons
    limited 1000000 default train $TRAIN --resume "$D/a.ckpt" --save "$D/a.ckpt" --epochs 41
    check_refused "$D/a.ckpt" "File too large"
    reasons=$sigxfsz_reasons$reasons
    result "SIGXFSZ at its default: mnist-cl ignores it and reports EFBIG the same way"

    # A full file system: a tmpfs of 8 MiB in a private mount namespace (root in CI; a user
    # namespace elsewhere), holding copies of the old files and then a filler up to the last
    # byte. The commands run inside; their results are checked out here, against the copies
    # in $D.
    F=$TMP/full
    R=$TMP/full-results
    mkdir "$F" "$R"
    userns=
    [ "$(id -u)" -eq 0 ] || userns=-r
    unshare $userns -m --propagation private sh -c '
        F=$1 R=$2 D=$3 EXE=$4 DATA=$5
        mount -t tmpfs -o size=8m mnistcl-full "$F" 2>"$R/mount.err" || exit 0
        touch "$R/mounted"
        for f in a.ckpt h.csv w.npz w.onnx p.png; do cp "$D/$f" "$F/$f"; done
        dd if=/dev/zero of="$F/filler" bs=4096 2>/dev/null
        df -k "$F" | tail -n 1 >"$R/df"
        go() { # NAME ARGS...: rc, stderr and the folder listing afterwards
            n=$1; shift
            "$EXE" "$@" </dev/null >/dev/null 2>"$R/$n.err"; echo $? >"$R/$n.rc"
        }
        go ckpt train --data "$DATA" --verbose 0 --resume "$F/a.ckpt" --save "$F/a.ckpt" --epochs 41
        go hist train --data "$DATA" --verbose 0 --resume "$F/a.ckpt" --history "$F/h.csv" --epochs 41
        go npz export "$F/a.ckpt" -o "$F/w.npz"
        go onnx export "$F/a.ckpt" -o "$F/w.onnx"
        go png plot "$F/h.csv" -o "$F/p.png"
        for f in a.ckpt h.csv w.npz w.onnx p.png; do
            cmp -s "$F/$f" "$D/$f.orig" || echo "$f" >>"$R/changed"
        done
        ls -A "$F" >"$R/listing"
    ' sh "$F" "$R" "$D" "$EXE" "$TMP/data" 2>"$R/unshare.err"
    name="full file system: checkpoint, history, exports and plot refused, old files intact"
    if [ ! -f "$R/mounted" ]; then
        why=$(cat "$R/unshare.err" "$R/mount.err" 2>/dev/null | head -n 1)
        skip "$name" "cannot mount a small tmpfs here (${why:-unshare or mount refused})"
    else
        cmd="mnist-cl ... on a full tmpfs ($(cat "$R/df"))"
        reasons=
        for c in ckpt:a.ckpt hist:h.csv npz:w.npz onnx:w.onnx png:p.png; do
            n=${c%%:*}
            file=$F/${c#*:}
            echo "# $n: $(cat "$R/$n.err")"
            [ "$(cat "$R/$n.rc")" -eq 1 ] || fail_because "$n: exit code $(cat "$R/$n.rc"), want 1"
            [ "$(wc -l <"$R/$n.err")" -eq 1 ] || fail_because "$n: stderr is not one line"
            grep -qF "$file: cannot write" "$R/$n.err" ||
                fail_because "$n: stderr lacks '$file: cannot write': $(cat "$R/$n.err")"
            grep -qF "No space left on device" "$R/$n.err" ||
                fail_because "$n: stderr lacks 'No space left on device': $(cat "$R/$n.err")"
        done
        [ ! -f "$R/changed" ] || fail_because "changed: $(cat "$R/changed")"
        left=$(grep -E '\.tmp\.|\.lock$' "$R/listing" || true)
        [ -z "$left" ] || fail_because "left behind: $left"
        result "$name"
    fi
fi

finish
