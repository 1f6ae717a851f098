#!/bin/sh
# Processes that share files:
# - Two trainings given the same --save (or --history) path: the second refuses at once, naming
#   the first one's pid; the first finishes with the file it would have written alone.
# - A holder killed with SIGKILL leaves its lock file behind, which blocks nobody.
# - Four trainings at once (two of one device class, two of others) sharing one fresh program
#   cache folder that already holds 8 stale entries to evict: no crash, each run's weights equal
#   its class's run without any cache (the classes' weights differ, so no process ran another's
#   kernels), no temporary file left, and every entry valid afterwards (the next wave loads
#   them all and rewrites none).
#
# usage: tests/concurrency.sh PATH/TO/mnist-cl   (meson passes the executable)
. "$(dirname "$0")/shell_lib.sh"

write_dataset "$TMP/data" 512 64 31
TRAIN="--data $TMP/data --verbose 0"
D=$TMP/out
mkdir "$D"

# wait_for FILE: until FILE is there and not empty (at most 60 s). A lock file is not empty
# once its owner holds the lock (it writes its pid then).
wait_for() {
    n=0
    while [ ! -s "$1" ] && [ $n -lt 6000 ]; do
        sleep 0.01
        n=$((n + 1))
    done
}

if need_device "a second training with the same --save path refuses, naming the first's pid" \
    "a second training with the same --history path refuses" \
    "the first training's checkpoint is the one it writes alone; no lock file left" \
    "a SIGKILLed lock holder blocks nobody: --resume X --save X runs" \
    "4 trainings sharing one fresh program cache: each gets its own class's kernels" \
    "the shared cache: no temporary file, every entry valid, stale entries evicted"; then
    # The reference: the same run alone (and a warm program cache for the lock cases).
    run train $TRAIN --epochs 20 --batch-size 8 --save "$D/alone.ckpt"
    [ "$rc" -eq 0 ] || { echo "# the reference run failed: $(cat "$ERR")"; exit 1; }

    "$EXE" train $TRAIN --epochs 20 --batch-size 8 --save "$D/x.ckpt" --history "$D/x.csv" \
        </dev/null >"$TMP/first.out" 2>"$TMP/first.err" &
    first=$!
    wait_for "$D/x.ckpt.lock"
    run train $TRAIN --epochs 1 --save "$D/x.ckpt"
    want_rc 1
    want_one_line_error
    want_stderr "$D/x.ckpt is being written by another mnist-cl (pid $first)"
    kill -0 $first 2>/dev/null || fail_because "the first run was over before the second started"
    result "a second training with the same --save path refuses, naming the first's pid"

    run train $TRAIN --epochs 1 --save "$D/y.ckpt" --history "$D/x.csv"
    want_rc 1
    want_one_line_error
    want_stderr "$D/x.csv is being written by another mnist-cl (pid $first)"
    [ ! -e "$D/y.ckpt" ] && [ ! -e "$D/y.ckpt.lock" ] ||
        fail_because "the refused run left y.ckpt or its lock behind"
    result "a second training with the same --history path refuses"

    wait $first
    rc=$?
    cmd="mnist-cl train ... --save $D/x.ckpt (the first)"
    reasons=
    want_rc 0
    export_npz "$D/alone.ckpt" "$TMP/alone.npz" && export_npz "$D/x.ckpt" "$TMP/x.npz" &&
        cmp -s "$TMP/alone.npz" "$TMP/x.npz" ||
        fail_because "x.ckpt differs from the run alone's checkpoint"
    [ "$(wc -l <"$D/x.csv")" -eq 21 ] || fail_because "x.csv should have a header and 20 rows"
    no_temp_files "$D"
    result "the first training's checkpoint is the one it writes alone; no lock file left"

    "$EXE" train $TRAIN --epochs 20 --batch-size 8 --save "$D/k.ckpt" </dev/null >/dev/null 2>&1 &
    holder=$!
    wait_for "$D/k.ckpt"
    kill -9 $holder 2>/dev/null
    wait $holder 2>/dev/null
    rc_killed=$?
    run train --data "$TMP/data" --resume "$D/k.ckpt" --save "$D/k.ckpt" --verbose 0
    [ "$rc_killed" -eq 137 ] || fail_because "the holder ended ($rc_killed) before its SIGKILL"
    want_rc 0
    export_npz "$D/k.ckpt" "$TMP/k.npz" && cmp -s "$TMP/alone.npz" "$TMP/k.npz" ||
        fail_because "the resumed run's weights differ from the run alone's"
    no_temp_files "$D"
    result "a SIGKILLed lock holder blocks nobody: --resume X --save X runs"

    # The program cache. A small CNN, whose weights after two epochs differ between these device
    # classes' kernels (different tiles sum in different orders): a process that ran another
    # class's program would end with that class's weights. References: each class alone, with
    # no cache at all.
    C=$TMP/cache
    mkdir "$C"
    printf 'conv2d 8 3x3 relu\nmaxpool 2\nflatten\ndense 32 relu\ndense classes softmax\n' \
        >"$TMP/small.model"
    CNN="--model $TMP/small.model --epochs 2"
    classes="cpu16 cpu16 cpu4 simt"
    for class in cpu16 cpu4 simt; do
        MNIST_CL_CACHE=0 MNIST_CL_DEVICE_CAPS=class=$class \
            "$EXE" train $TRAIN $CNN --save "$D/ref-$class.ckpt" </dev/null >/dev/null 2>&1 &&
            export_npz "$D/ref-$class.ckpt" "$TMP/ref-$class.npz" ||
            { echo "# the reference run of class $class failed"; exit 1; }
    done
    cmp -s "$TMP/ref-cpu16.npz" "$TMP/ref-cpu4.npz" || cmp -s "$TMP/ref-cpu16.npz" "$TMP/ref-simt.npz" ||
        cmp -s "$TMP/ref-cpu4.npz" "$TMP/ref-simt.npz" &&
        echo "# note: two classes give the same weights here; a mix-up between them would not show" 
    # Eight stale entries (and their self-check verdicts), older than anything written now,
    # a0 the oldest.
    for i in 0 1 2 3 4 5 6 7; do
        echo stale >"$C/00000000000000a$i.bin"
        echo stale >"$C/00000000000000a$i.check"
        touch -t 20000101000$i "$C/00000000000000a$i.bin"
    done
    # wave TAG: the four trainings at once; their exit codes and weights in $TMP/TAG-N.*
    wave() {
        i=0
        pids=
        for class in $classes; do
            i=$((i + 1))
            MNIST_CL_CACHE_DIR=$C MNIST_CL_DEVICE_CAPS=class=$class \
                "$EXE" train $TRAIN $CNN --save "$D/$1-$i.ckpt" </dev/null \
                >/dev/null 2>"$TMP/$1-$i.err" &
            pids="$pids $!"
        done
        i=0
        for pid in $pids; do
            i=$((i + 1))
            wait $pid
            echo $? >"$TMP/$1-$i.rc"
        done
    }
    # check_wave TAG: every run exited 0 with its class's reference weights.
    check_wave() {
        i=0
        for class in $classes; do
            i=$((i + 1))
            wrc=$(cat "$TMP/$1-$i.rc")
            if [ "$wrc" -ne 0 ]; then
                fail_because "$1 run $i ($class): exit code $wrc: $(head -n 3 "$TMP/$1-$i.err")"
            elif ! export_npz "$D/$1-$i.ckpt" "$TMP/$1-$i.npz" ||
                ! cmp -s "$TMP/$1-$i.npz" "$TMP/ref-$class.npz"; then
                fail_because "$1 run $i ($class): its weights differ from its class's reference"
            fi
        done
    }
    cmd="4 x mnist-cl train (classes $classes) sharing MNIST_CL_CACHE_DIR, fresh"
    reasons=
    wave cold
    check_wave cold
    result "4 trainings sharing one fresh program cache: each gets its own class's kernels"

    # Every entry valid: a second wave loads each from the cache, so none is rebuilt and
    # rewritten (a rewrite would give it a new inode).
    cmd="the shared cache after the first wave"
    reasons=
    no_temp_files "$C"
    ls -i "$C" | sort >"$TMP/inodes-before"
    fresh=$(ls "$C" | grep -c '\.bin$' || true)
    [ "$fresh" -le 8 ] || fail_because "$fresh entries in the cache, at most 8 should stay"
    ls "$C" | grep -q '^00000000000000a0\.bin$' && fail_because "the oldest stale entry was not evicted"
    wave warm
    check_wave warm
    ls -i "$C" | sort >"$TMP/inodes-after"
    cmp -s "$TMP/inodes-before" "$TMP/inodes-after" ||
        fail_because "the second wave rewrote entries: $(diff "$TMP/inodes-before" "$TMP/inodes-after" | grep '^[<>]' | head -4 | tr '\n' ' ')"
    result "the shared cache: no temporary file, every entry valid, stale entries evicted"
fi

finish
