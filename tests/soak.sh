#!/bin/sh
# Kill-and-resume soak: a checkpointed training run (--save, --history) is killed with SIGKILL at
# 20 moments drawn from a seeded generator and resumed after each with --resume X --save X; it
# must end with weights bit-identical to an uninterrupted run's, the same history (but the
# seconds), and no temporary or lock file left. After every kill the checkpoint must still load.
#
# usage: tests/soak.sh PATH/TO/mnist-cl   (meson passes the executable)
# environment: MNIST_CL_SOAK_SEED (default 1) replays another set of moments;
#   MNIST_CL_REQUIRE_DEVICE=1 makes a missing device a failure.
#
# The moments: kill k ("0" or "1") epochs after the run's start as the history shows them, plus
# a fraction of a period (for k = 0 the start-up and one epoch, else one epoch), both measured
# here first. A kill so lands in start-up (context, kernels, checkpoint load), in the training
# steps, or in the history and checkpoint writes at an epoch's end; and a run gains at most
# about two epochs before its kill, so 20 kills never reach the end of EPOCHS = 64 (a run that
# ends before its kill fails the test: the moments would no longer be what they claim). Data:
# a synthetic 512-image set; the default MLP (its dropout masks must resume exactly too).
. "$(dirname "$0")/shell_lib.sh"

SEED=${MNIST_CL_SOAK_SEED:-1}
KILLS=20
EPOCHS=64
D=$TMP/run
mkdir "$D"
write_dataset "$TMP/data" 512 64 11
TRAIN="--data $TMP/data --batch-size 32"

now_ms() {
    t=$(date +%s%N)
    case $t in
    *N) echo $(($(date +%s) * 1000)) ;;
    *) echo $((t / 1000000)) ;;
    esac
}

# rows FILE: epochs in a history CSV (0 if it does not exist yet).
rows() {
    if [ -f "$1" ]; then echo $(($(wc -l <"$1") - 1)); else echo 0; fi
}

# The seeded moments, one "k fraction_in_thousandths" line per kill: Park-Miller again, so the
# same seed gives the same moments with any awk.
LC_ALL=C awk -v seed="$SEED" -v n="$KILLS" 'BEGIN {
    x = seed % 2147483646 + 1
    for (i = 0; i < n; i++) {
        x = (x * 16807) % 2147483647; k = int(x / 1073741824)
        x = (x * 16807) % 2147483647; f = int(x / 2147483647 * 1000)
        print k, f
    }
}' >"$TMP/moments"

name="SIGKILL at $KILLS seeded moments (seed $SEED), resumed each time: the same weights and history as an uninterrupted run"
if need_device "$name"; then
    # A warm-up (kernels into the program cache), then the period measurements and the
    # uninterrupted reference.
    "$EXE" train $TRAIN --epochs 1 --verbose 0 </dev/null >/dev/null 2>&1
    t0=$(now_ms)
    "$EXE" train $TRAIN --epochs 1 --verbose 0 --save "$TMP/one.ckpt" </dev/null >/dev/null 2>&1
    t1=$(now_ms)
    run train $TRAIN --epochs $EPOCHS --verbose 0 --save "$TMP/whole.ckpt" \
        --history "$TMP/whole.csv"
    t2=$(now_ms)
    [ "$rc" -eq 0 ] || fail_because "the uninterrupted run failed ($rc)"
    epoch_ms=$(((t2 - t1 - (t1 - t0)) / (EPOCHS - 1)))
    [ "$epoch_ms" -ge 5 ] || epoch_ms=5
    start_ms=$((t1 - t0 - epoch_ms))
    [ "$start_ms" -ge 5 ] || start_ms=5
    echo "# seed $SEED (MNIST_CL_SOAK_SEED replays another); start-up ${start_ms} ms, epoch ${epoch_ms} ms"

    X=$D/run.ckpt
    H=$D/run.csv
    kill_no=0
    during_write=0
    while read -r k f && [ -z "$reasons" ]; do
        kill_no=$((kill_no + 1))
        if [ -f "$X" ]; then
            "$EXE" train --data "$TMP/data" --resume "$X" --save "$X" --history "$H" --verbose 0 \
                </dev/null >"$OUT" 2>"$ERR" &
        else
            "$EXE" train $TRAIN --epochs $EPOCHS --save "$X" --history "$H" --verbose 0 \
                </dev/null >"$OUT" 2>"$ERR" &
        fi
        pid=$!
        if [ "$k" -eq 0 ]; then
            period=$((start_ms + epoch_ms))
        else
            target=$(($(rows "$H") + k))
            n=0
            while [ "$(rows "$H")" -lt "$target" ] && kill -0 $pid 2>/dev/null && [ $n -lt 3000 ]; do
                sleep 0.01
                n=$((n + 1))
            done
            period=$epoch_ms
        fi
        delay=$((period * f / 1000))
        sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        rc_killed=$?
        cmd="kill $kill_no: $k epochs + $delay ms into a run"
        if [ "$rc_killed" -ne 137 ]; then
            fail_because "kill $kill_no: the run ended ($rc_killed) before its SIGKILL"
            fail_because "$(cat "$ERR")"
            break
        fi
        ls -A "$D" | grep -q '\.tmp\.' && during_write=$((during_write + 1))
        if [ -f "$X" ] && ! export_npz "$X" "$TMP/check.npz"; then
            fail_because "kill $kill_no: the checkpoint no longer loads: $(cat "$TMP/export.err")"
            break
        fi
        echo "# kill $kill_no: $k epochs + $delay ms; the history then had $(rows "$H") epochs"
    done <"$TMP/moments"
    echo "# $during_write of $kill_no kills left a temporary file (killed in the middle of a write)"

    if [ -z "$reasons" ]; then
        run train --data "$TMP/data" --resume "$X" --save "$X" --history "$H" --verbose 0
        want_rc 0
        export_npz "$TMP/whole.ckpt" "$TMP/whole.npz" || fail_because "export: $(cat "$TMP/export.err")"
        export_npz "$X" "$TMP/run.npz" || fail_because "export: $(cat "$TMP/export.err")"
        cmp -s "$TMP/whole.npz" "$TMP/run.npz" ||
            fail_because "the killed and resumed run's weights differ from the uninterrupted run's"
        # The histories agree but for the seconds column.
        cut -d, -f1-6 "$TMP/whole.csv" >"$TMP/whole.cut"
        cut -d, -f1-6 "$H" >"$TMP/run.cut"
        cmp -s "$TMP/whole.cut" "$TMP/run.cut" ||
            fail_because "the histories differ: $(diff "$TMP/whole.cut" "$TMP/run.cut" | head -5)"
        rm -f "$TMP/run.npz"
        no_temp_files "$D"
    fi
    result "$name"
fi

finish
