#!/bin/sh
# End-to-end tests of the mnist-cl command line: exit codes and messages of every command, and a
# short training run on real MNIST when it is present.
#
# usage: tests/test_cli.sh PATH/TO/mnist-cl   (meson passes the executable)
# environment:
#   MNIST_CL_SOURCE_ROOT      the repository root (meson sets it); real data is looked for in
#                             $MNIST_CL_DATA, else $MNIST_CL_SOURCE_ROOT/data/mnist
#   MNIST_CL_REQUIRE_DEVICE   1: a missing OpenCL device is a failure, not a skip (CI sets it)
#   MNIST_CL_EXPECT_PLATFORM  the platform name 'devices' must list (default: PoCL's)
#
# Output is TAP-like: one "ok N - name" / "not ok N - name" line per case, diagnostics on
# "#" lines, then "P passed, F failed". Exits 1 if any case failed.
set -u

# The harness (run, want_rc, want_stderr, result, skip, skip_no_device, finish), EXE,
# TMP (removed at exit), OUT/ERR and REQUIRE_DEVICE come from shell_lib.sh, which the
# failure-behaviour tests share.
. "$(dirname "$0")/shell_lib.sh"

ROOT=${MNIST_CL_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
DATA=${MNIST_CL_DATA:-$ROOT/data/mnist}
EXPECT_PLATFORM=${MNIST_CL_EXPECT_PLATFORM:-Portable Computing Language}

# ---------------------------------------------------------------- checks beyond shell_lib's

want_nonzero() {
    [ "$rc" -ne 0 ] || fail_because "exit code 0, want a failure"
}

# want_text PHRASE: stdout or stderr contains PHRASE (a fixed string).
want_text() {
    cat "$OUT" "$ERR" | grep -qF -- "$1" || fail_because "output lacks '$1'"
}

want_stdout() {
    grep -qF -- "$1" "$OUT" || fail_because "stdout lacks '$1'"
}

# want_not_stdout PHRASE: stdout does not contain PHRASE.
want_not_stdout() {
    ! grep -qF -- "$1" "$OUT" || fail_because "stdout holds '$1'"
}

# want_line REGEX: some line of stdout matches the extended regular expression.
want_line() {
    grep -qE -- "$1" "$OUT" || fail_because "no stdout line matches /$1/"
}

want_empty_stdout() {
    [ ! -s "$OUT" ] || fail_because "stdout is not empty"
}

# ---------------------------------------------------------------- fixtures

# A tiny valid dataset: 10 images of 4x4 (all zero) with labels 0..9, as train and t10k.
# Its training run is meaningless but exercises the whole path quickly on any device.
TINY=$TMP/tiny
mkdir "$TINY"
write_tiny_split() { # PREFIX
    {
        printf '\000\000\010\003\000\000\000\012\000\000\000\004\000\000\000\004'
        dd if=/dev/zero bs=160 count=1 2>/dev/null
    } >"$TINY/$1-images-idx3-ubyte"
    printf '\000\000\010\001\000\000\000\012\000\001\002\003\004\005\006\007\010\011' \
        >"$TINY/$1-labels-idx1-ubyte"
}
write_tiny_split train
write_tiny_split t10k

# A folder of gzip IDX files (tools/gpu-bundle's) is unpacked first: the cases below copy and
# index the raw files by name.
if [ ! -r "$DATA/train-images-idx3-ubyte" ] && [ -r "$DATA/train-images-idx3-ubyte.gz" ]; then
    mkdir "$TMP/mnist"
    for f in "$DATA"/*-ubyte.gz; do
        gzip -dc "$f" >"$TMP/mnist/$(basename "$f" .gz)" || exit 1
    done
    DATA=$TMP/mnist
fi

have_data=0
if [ -r "$DATA/train-images-idx3-ubyte" ] && [ -r "$DATA/train-labels-idx1-ubyte" ] &&
    [ -r "$DATA/t10k-images-idx3-ubyte" ] && [ -r "$DATA/t10k-labels-idx1-ubyte" ]; then
    have_data=1
fi

# A data folder whose train-images file stops after 100 bytes (real MNIST if present).
TRUNC=$TMP/truncated
mkdir "$TRUNC"
if [ "$have_data" -eq 1 ]; then src=$DATA; else src=$TINY; fi
cp "$src/train-labels-idx1-ubyte" "$src/t10k-images-idx3-ubyte" "$src/t10k-labels-idx1-ubyte" \
    "$TRUNC/"
dd if="$src/train-images-idx3-ubyte" of="$TRUNC/train-images-idx3-ubyte" bs=100 count=1 \
    2>/dev/null

# A model file with an unknown layer on line 3.
BROKEN=$TMP/broken.model
printf '# a broken model\nflatten\nconv9 32\ndense classes softmax\n' >"$BROKEN"

# A model file whose third conv kernel no longer fits the shrinking image (line 5).
NOFIT=$TMP/nofit.model
printf 'conv2d 8 5x5\nmaxpool 2\nconv2d 8 5x5\nmaxpool 2\nconv2d 8 5x5\nflatten\ndense classes softmax\n' \
    >"$NOFIT"

# ---------------------------------------------------------------- commands without a device

run help
want_rc 0
for c in devices models summary train; do want_stdout "  $c "; done
result "help exits 0 and lists the commands"

run
want_rc 2
want_stdout "usage: mnist-cl"
result "no command prints the usage and exits 2"

run --version
want_rc 0
want_line '^mnist-cl [0-9]+\.[0-9]+\.[0-9]+$'
result "--version prints the version"

run models
want_rc 0
for m in mlp mlp50 mlp128 dnn cnn; do want_line "^${m}[[:space:]]"; done
want_stdout "recipe: epochs 5, batch 100"
result "models lists mlp, mlp50, mlp128, dnn and cnn with their recipes"

run summary --model cnn
want_rc 0
want_stdout "conv2d_1 (Conv2D)"
want_stdout "(None, 26, 26, 32)"
want_stdout "batchnorm_1 (BatchNormalization)"
want_stdout "Total params: 597,738"
want_stdout "Non-trainable params: 1,408"
result "summary --model cnn matches Keras's table"

run summary --model "$NOFIT"
want_rc 2
want_stderr "$NOFIT:5:"
want_stderr "does not fit"
result "summary of a model whose kernel does not fit names FILE:5:"

run summary --model mlp50
want_rc 0
want_stdout "Total params: 42,310"
result "summary --model mlp50 shows 42,310 parameters"

for c in devices models summary train eval predict plot export bench tune info; do
    run "$c" --help
    want_rc 0
    want_stdout "usage: mnist-cl"
    want_stdout "--help"
    result "$c --help exits 0"
done

KHIST=$TMP/keras-history.json
printf '{"loss": [0.5, 0.3], "accuracy": [0.8, 0.9], "lr": [0.01, 0.001]}' >"$KHIST"
run plot "$KHIST" -o "$TMP/keras-history.png"
want_rc 0
[ -s "$TMP/keras-history.png" ] || fail_because "no picture"
printf 'epoch,accuracy,loss,val_accuracy,val_loss\n0,0.8,0.5,0.85,0.4\n' >"$TMP/csvlogger.csv"
run plot "$TMP/csvlogger.csv" -o "$TMP/csvlogger.svg"
want_rc 0
result "plot reads Keras's History.history JSON and a CSVLogger file"

run train --save "$TMP/no/such/dir/x.ckpt" --data "$TINY" --epochs 1
want_rc 2
want_stderr "--save: cannot write '$TMP/no/such/dir/x.ckpt': the folder '$TMP/no/such/dir' does not exist"
want_not_stdout "Epoch 1/"
result "train --save into a missing folder fails before training"

run train --history "$TMP" --data "$TINY" --epochs 1
want_rc 2
want_stderr "is a folder, not a file"
result "train --history naming a folder fails before training"

run train --momentum 0.9 --data "$TINY" --epochs 1
want_rc 2
want_stderr "--momentum applies to SGD only"
result "--momentum with Adam is refused, not ignored"

# The tiny set with its last label (9) corrupted to 200: classes 9-199 would have no sample.
GAPS=$TMP/gaps
mkdir "$GAPS"
cp "$TINY"/* "$GAPS"/
printf '\000\000\010\001\000\000\000\012\000\001\002\003\004\005\006\007\010\310' \
    >"$GAPS/train-labels-idx1-ubyte"
run train --data "$GAPS" --epochs 1
want_rc 1
want_stderr "$GAPS/train-labels-idx1-ubyte: label 200 at index 9 makes 201 classes, but 191 of them have no samples (9-199)"
want_stderr "--classes N"
result "a label that leaves classes without samples is refused, naming the file and the gap"

run frobnicate
want_rc 2
want_stderr "unknown command 'frobnicate'"
result "an unknown command exits 2"

run trian
want_rc 2
want_stderr "did you mean 'train'?"
result "a mistyped command gets a 'did you mean'"

run train --epoch 3
want_rc 2
want_stderr "did you mean '--epochs'?"
result "a mistyped option gets a 'did you mean'"

run help train
want_rc 0
want_stdout "usage: mnist-cl [--platform P] [--device D] train"
want_stdout "--lr-schedule"
result "help train prints train's help"

export COLUMNS=50
run train --help
unset COLUMNS
want_rc 0
if awk 'length > 50 { bad = 1 } END { exit !bad }' "$OUT"; then
    fail_because "a line of the help is wider than COLUMNS=50"
fi
want_line '^  --lr-schedule constant\|cosine\|step$'
result "train --help wraps to the terminal width, long options on their own line"

KERASNAMES=$TMP/keras-names.model
printf 'conv2d 4 3x3\nMaxPooling2D 2\nbatchnormalization\nflatten\nDropout 0.3\ndense classes softmax\n' >"$KERASNAMES"
run summary --model "$KERASNAMES"
want_rc 0
want_stdout "(MaxPooling2D)"
want_stdout "(BatchNormalization)"
result "Keras class names (MaxPooling2D, any case) are accepted as layer names"

BADDROP=$TMP/bad-dropout.model
printf 'flatten\ndropout 1.5\ndense classes softmax\n' >"$BADDROP"
run summary --model "$BADDROP"
want_rc 2
want_stderr "$BADDROP:2: dropout rate must be in [0, 1), got 1.5"
result "a bad dropout rate is named, and a bad model file exits 2 like an unknown model"

run train --bogus
want_rc 2
want_stderr "unknown option '--bogus'"
result "train --bogus exits 2"

run train --batch-size 0
want_rc 2
want_stderr "--batch-size"
result "train --batch-size 0 exits 2 naming --batch-size"

# Control characters in an argument are quoted as escapes: the error stays one line, and an
# escape sequence never reaches the terminal.
run train --epochs "$(printf '5\n\033[2J')"
want_rc 2
[ "$(wc -l <"$ERR")" -eq 1 ] || fail_because "the error is not one line"
want_stderr "got '5\\n\\x1b[2J'"
result "an argument with a newline and an escape sequence gives a one-line error"

run train --optimizer rmsprop
want_rc 2
want_stderr "--optimizer"
want_stderr "rmsprop"
result "train --optimizer rmsprop exits 2"

run train --validation-split 1.5
want_rc 2
want_stderr "--validation-split"
result "train --validation-split 1.5 exits 2"

run train --rotation -5
want_rc 2
want_stderr "--rotation"
result "train --rotation -5 exits 2"

run train --augment --no-augment
want_rc 2
want_stderr "--no-augment"
result "train --augment --no-augment exits 2"

run train --model nosuch
want_rc 2
want_stderr "unknown model 'nosuch'"
result "train --model nosuch exits 2"

run train --model "$BROKEN"
want_rc 2
want_stderr "$BROKEN:3:"
want_stderr "conv9"
result "train with a broken model file names FILE:3:"

run train --data /nonexistent
want_rc 1
want_stderr "does not exist"
want_stderr "/nonexistent"
result "train --data /nonexistent exits 1"

run train --data "$TRUNC"
want_rc 1
want_stderr "truncated"
want_stderr "$TRUNC/train-images-idx3-ubyte"
result "train on a truncated train-images file exits 1"

# ---------------------------------------------------------------- devices

have_device=0
run devices
if [ "$rc" -eq 0 ]; then
    have_device=1
    want_stdout "Platform 0:"
    want_stdout "Device 0:"
    want_stdout "$EXPECT_PLATFORM"
    result "devices exits 0 and lists a device of '$EXPECT_PLATFORM'"
elif [ "$REQUIRE_DEVICE" != 1 ] && grep -qF "no OpenCL platform" "$ERR"; then
    want_rc 1
    result "devices without an OpenCL platform exits 1 (no device here)"
else
    want_rc 0
    result "devices exits 0 and lists a device of '$EXPECT_PLATFORM'"
fi

BNMODEL=$TMP/bn.model
printf 'flatten\ndense 8\nbatchnorm\nrelu\ndense classes softmax\n' >"$BNMODEL"
if [ "$have_device" -eq 1 ]; then
    run train --data "$TINY" --model "$BNMODEL" --epochs 1 --batch-size 5 --verbose 2
    want_rc 0
    want_stderr "BatchNorm's moving statistics have seen only 2 steps at momentum 0.99"
    want_stderr "lower the momentum"
    run train --data "$TINY" --model mlp50 --epochs 1 --batch-size 5 --verbose 2
    want_rc 0
    [ -s "$ERR" ] && fail_because "a model without BatchNorm warned: $(head -1 "$ERR")"
    result "evaluation on BatchNorm statistics that saw too few steps is warned about"
else
    skip_no_device "evaluation on BatchNorm statistics that saw too few steps is warned about"
fi

if [ "$have_device" -eq 1 ]; then
    run devices --json
    want_rc 0
    want_stdout '"devices"'
    if command -v python3 >/dev/null 2>&1; then
        python3 -m json.tool <"$OUT" >/dev/null 2>&1 || fail_because "stdout is not valid JSON"
    else
        echo "# python3 not found: the JSON is not validated"
    fi
    result "devices --json prints valid JSON"

    run devices --check
    want_rc 0
    want_stdout "check: PASS"
    result "devices --check passes"

    run --platform 99 train --data "$TINY"
    want_rc 1
    want_stderr "platform 99 does not exist"
    result "--platform 99 train exits 1"

    run train --data "$TINY" --model mlp50 --epochs 1 --batch-size 5 --verbose 2
    want_rc 0
    want_stdout "Epoch 1/1"
    want_line '^Model: mlp50, [0-9,]+ params; .*, 1 epoch, seed'
    want_stdout "val_accuracy"
    want_stdout "Test loss:"
    result "train on a tiny synthetic dataset"
else
    skip_no_device "devices --json prints valid JSON"
    skip_no_device "devices --check passes"
    skip_no_device "--platform 99 train exits 1"
    skip_no_device "train on a tiny synthetic dataset"
fi

# ---------------------------------------------------------------- no OpenCL at all

# The ICD loader reads its vendor list from OCL_ICD_VENDORS: an empty folder is a machine with no
# OpenCL driver installed.
# (Set and restored explicitly: POSIX leaves it unspecified whether "VAR=x func" persists.)
mkdir "$TMP/no-vendors"
saved_vendors_set=${OCL_ICD_VENDORS+x}
saved_vendors=${OCL_ICD_VENDORS-}
export OCL_ICD_VENDORS="$TMP/no-vendors"
run devices
want_rc 1
want_stderr "no OpenCL platform is installed"
want_stderr "pocl-opencl-icd"
result "devices with no OpenCL driver says how to install one"

run train --data "$TINY"
want_rc 1
want_stderr "no OpenCL platform is installed"
result "train with no OpenCL driver fails cleanly"

if [ -n "$saved_vendors_set" ]; then
    OCL_ICD_VENDORS=$saved_vendors
else
    unset OCL_ICD_VENDORS
fi

# ---------------------------------------------------------------- training on real MNIST

train_small() { # extra ARGS...
    run train --data "$DATA" --model mlp50 --epochs 1 --limit 2000 "$@"
}

# -h and -o are short for --help and --output wherever the long option exists.
run train -h
want_rc 0
want_stdout "usage: mnist-cl"
run eval x.ckpt -o out.png
want_rc 2
want_stderr "unknown option '-o' for 'eval'"
result "-h is --help for every command; -o only where --output exists"

if [ "$have_device" -eq 1 ] && [ "$have_data" -eq 1 ]; then
    train_small --verbose 2
    want_rc 0
    want_stdout "Epoch 1/1"
    want_stdout "val_accuracy"
    want_stdout "Test loss:"
    want_stdout "Speed:"
    # stdout is a file, not a TTY: no progress bar, no terminal control characters.
    tr -d '\r\033' <"$OUT" >"$TMP/stripped"
    cmp -s "$TMP/stripped" "$OUT" ||
        fail_because "stdout holds a carriage return or an escape sequence"
    result "train mlp50 for 1 epoch on 2000 images (--verbose 2)"

    train_small --verbose 2 --profile
    want_rc 0
    want_stdout "Profile of the training steps"
    want_stdout "dense_1 backward"
    want_stdout "optimizer update"
    want_line "^total +[0-9]+\.[0-9]+$"
    result "train --profile prints the time per op and phase"

    run bench --models mlp50 --steps 2 --infer 100 --sgemm-size 64 --json --data "$DATA"
    want_rc 0
    if ! python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
m = d["models"][0]
assert d["sgemm_gflops"] > 0 and d["fma_peak_gflops"] > 0 and m["model"] == "mlp50"
assert m["batch"] == 100 and 0 < d["sgemm_percent_of_peak"] < 150
for k in ("steps_per_s", "epoch_s", "images_per_s", "gflops", "peak_percent",
          "inference_images_per_s", "device_peak_mib", "host_peak_mib"):
    assert m[k] > 0, k' "$OUT" 2>"$TMP/json.err"; then
        fail_because "bench --json: $(tail -1 "$TMP/json.err")"
    fi
    result "bench --json measures a model: every figure positive, valid JSON"

    run bench --models mlp50,nosuch --steps 2 --data "$DATA"
    want_rc 2
    want_stderr "nosuch"
    result "bench with an unknown model exits 2 and names it"

    # tune, in a cache folder of its own so that the rest of the suite keeps CLBlast's defaults.
    MNIST_CL_CACHE_DIR="$TMP/tune-cache" run tune --max-configs 1 --json
    want_rc 0
    if ! python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
b = d["clblast"]
assert b["default_gflops"] > 0 and len(b["candidates"]) == 1
c = b["candidates"][0]
assert c["gflops"] > 0 and c["correct"] is True
assert b["stored"] == (b["best"] == 0)
k = d["kernels"]
if k["applicable"]:
    assert k["gemm_default_gflops"] > 0 and k["conv_default_gflops"] > 0
    assert 1 <= len(k["candidates"]) <= 2
    assert all(c["ran"] and c["correct"] and c["gflops"] > 0 for c in k["candidates"])' "$OUT" 2>"$TMP/json.err"; then
        fail_because "tune --json: $(tail -1 "$TMP/json.err")"
    fi
    result "tune --max-configs 1 measures, checks and reports one candidate"

    train_small --verbose 2 --seed 7
    rc1=$rc
    grep -E '^Test loss:|^[0-9]+/[0-9]+ ' "$OUT" | sed 's/.* - loss:/loss:/' >"$TMP/seed7a"
    train_small --verbose 2 --seed 7
    [ "$rc1" -eq 0 ] || fail_because "first run: exit code $rc1, want 0"
    want_rc 0
    grep -E '^Test loss:|^[0-9]+/[0-9]+ ' "$OUT" | sed 's/.* - loss:/loss:/' >"$TMP/seed7b"
    grep -q '^Test loss:' "$TMP/seed7b" || fail_because "no 'Test loss:' line"
    if ! cmp -s "$TMP/seed7a" "$TMP/seed7b"; then
        fail_because "the two runs differ:"
        fail_because "$(diff "$TMP/seed7a" "$TMP/seed7b")"
    fi
    result "the same --seed gives the same losses and test result"

    train_small --verbose 0
    want_rc 0
    want_empty_stdout
    result "train --verbose 0 prints nothing on stdout"

    run train --data "$DATA" --model cnn --epochs 1 --limit 640 --verbose 2
    want_rc 0
    want_stdout "Augmentation: rotation 8 deg, shift 0.08, shear 0.3 deg, zoom 0.08"
    want_stdout "Test loss:"
    result "train the tutorial CNN (augmented) for 1 epoch on 640 images"

    run train --data "$DATA" --model "$NOFIT" --epochs 1 --limit 100
    want_rc 2
    want_stderr "$NOFIT:5:"
    result "train with a kernel that does not fit names FILE:5:"
    # ---------------------------------------------------------------- checkpoints
    CK=$TMP/ck
    mkdir "$CK"
    run train --data "$DATA" --model mlp50 --epochs 2 --limit 10000 --save "$CK/a.ckpt" \
        --history "$CK/h.csv" --verbose 2
    want_rc 0
    [ -s "$CK/a.ckpt" ] || fail_because "no checkpoint written"
    [ "$(wc -l <"$CK/h.csv")" -eq 3 ] || fail_because "history should have a header and 2 rows"
    ls "$CK" | grep -q tmp && fail_because "a temporary file was left behind"
    result "train --save and --history write a checkpoint and a CSV"

    run eval "$CK/a.ckpt" --data "$DATA"
    want_rc 0
    want_stdout "Test loss:"
    want_stdout "precision"
    want_stdout "Confusion matrix"
    result "eval prints loss, accuracy, per-class precision/recall and the confusion matrix"

    run eval "$CK/a.ckpt" --data "$DATA" --json
    want_rc 0
    if command -v python3 >/dev/null 2>&1; then
        python3 -m json.tool <"$OUT" >/dev/null 2>&1 || fail_because "stdout is not valid JSON"
    fi
    want_stdout '"confusion"'
    result "eval --json prints valid JSON"

    run predict "$CK/a.ckpt" "idx:$DATA/t10k-images-idx3-ubyte:0" "idx:$DATA/t10k-images-idx3-ubyte:1"
    want_rc 0
    want_line '^idx:.*:0: 7 \(7 0\.[0-9]+'
    want_line '^idx:.*:1: 2 '
    result "predict classifies the first two test digits (7 and 2)"

    printf 'not an image' >"$TMP/garbage.bin"
    printf 'P5\n28 28\n255\n' >"$TMP/blank.pgm"
    head -c 784 /dev/zero >>"$TMP/blank.pgm"
    run predict "$CK/a.ckpt" "idx:$DATA/t10k-images-idx3-ubyte:0" "$TMP/garbage.bin" \
        "$TMP/blank.pgm" "$ROOT/tests/images/seven.jpg"
    want_rc 1
    want_line '^idx:.*:0: 7 \(.*\) - true 7$'
    want_line '/blank.pgm: [0-9] '
    want_line 'seven.jpg: 7 '
    want_stderr "garbage.bin: not a PNG, PGM, JPEG, BMP or GIF image"
    want_stderr "blank.pgm has no ink"
    want_stderr "1 of 4 images could not be read"
    result "predict: a result or an error line for every image, a warning for a blank one, JPEG read"

    latin1=$TMP/lat$(printf '\351').pgm
    cp "$TMP/blank.pgm" "$latin1"
    run predict "$CK/a.ckpt" --json "$latin1" "$TMP/garbage.bin"
    want_rc 1
    if ! python3 -c 'import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))["predictions"]
assert d[0]["image"].endswith("lat\ufffd.pgm") and "class" in d[0], d[0]
assert "not a PNG" in d[1]["error"], d[1]' "$OUT" 2>"$TMP/json.err"; then
        fail_because "predict --json: $(tail -1 "$TMP/json.err")"
    fi
    result "predict --json stays valid JSON for a file name that is not UTF-8, with errors inline"

    run predict "$CK/a.ckpt" "idx:$DATA/t10k-images-idx3-ubyte:99999"
    want_rc 2
    want_stderr "out of range"
    result "predict with an IDX index out of range exits 2"

    # From a folder that is not the checkout, without --data or MNIST_CL_DATA: the user's data
    # folder ($XDG_DATA_HOME/mnist-cl/mnist, where tools/setup links MNIST) is found.
    mkdir -p "$TMP/elsewhere" "$TMP/xdg/mnist-cl"
    ln -s "$DATA" "$TMP/xdg/mnist-cl/mnist"
    here=$(pwd)
    cd "$TMP/elsewhere" || exit 1
    saved_data=${MNIST_CL_DATA-unset}
    unset MNIST_CL_DATA
    saved_xdg=${XDG_DATA_HOME-unset}
    export XDG_DATA_HOME="$TMP/xdg"
    run train --model mlp50 --limit 500 --epochs 1 --verbose 2
    want_rc 0
    want_stdout "Data: $TMP/xdg/mnist-cl/mnist: 450 training"
    export XDG_DATA_HOME="$TMP/nothing-here"
    run train --model mlp50 --limit 500 --epochs 1
    want_rc 1
    want_stderr "run tools/setup (it fetches MNIST and links it to $TMP/nothing-here/mnist-cl/mnist"
    run train --data "$TMP/absent" --epochs 1
    want_stderr "data folder '$TMP/absent' does not exist; check the folder given to --data"
    [ "$saved_data" = unset ] || export MNIST_CL_DATA="$saved_data"
    if [ "$saved_xdg" = unset ]; then unset XDG_DATA_HOME; else export XDG_DATA_HOME="$saved_xdg"; fi
    cd "$here" || exit 1
    result "train from any folder finds MNIST in the user's data folder; errors say what to do"

    run train --data "$DATA" --resume "$CK/a.ckpt" --lr 0.1 --verbose 0
    want_rc 2
    want_stderr "--lr cannot change"
    result "--resume refuses a recipe option that would change the recorded run"

    # A damaged checkpoint is refused, and --resume/--save of it leaves it untouched.
    head -c 1000 "$CK/a.ckpt" >"$CK/bad.ckpt"
    cp "$CK/bad.ckpt" "$CK/bad.orig"
    run eval "$CK/bad.ckpt" --data "$DATA"
    want_rc 1
    want_stderr "$CK/bad.ckpt"
    want_stderr "truncated"
    run train --data "$DATA" --resume "$CK/bad.ckpt" --save "$CK/bad.ckpt" --verbose 0
    want_rc 1
    cmp -s "$CK/bad.ckpt" "$CK/bad.orig" || fail_because "the damaged checkpoint was overwritten"
    result "a truncated checkpoint is refused and not overwritten"

    run train --data "$DATA" --model mlp50 --save-best --save "$CK/x.ckpt" --validation-split 0
    want_rc 2
    want_stderr "--validation-split"
    result "--save-best without validation exits 2"

    # Two checkpoints hold bit-identical weights and BatchNorm state: their NumPy exports (no
    # timestamps inside) are byte-identical. (The checkpoints themselves also carry the run's
    # history, whose per-epoch seconds differ from run to run.)
    same_weights() {
        "$EXE" export "$1" -o "$CK/a.npz" >/dev/null 2>&1 &&
            "$EXE" export "$2" -o "$CK/b.npz" >/dev/null 2>&1 &&
            cmp -s "$CK/a.npz" "$CK/b.npz"
    }

    # SIGKILL in the middle of a run, then --resume: the final weights are bit-identical to an
    # uninterrupted run's. Batches of 8 make an epoch last a few seconds (mlp50's usual epoch
    # takes a quarter of a second here), so the signals below land in epoch 2, not after the end.
    SLOW="--batch-size 8"
    "$EXE" train --data "$DATA" --model mlp50 --epochs 3 $SLOW --save "$CK/whole.ckpt" \
        --verbose 0 </dev/null >/dev/null 2>&1
    rc1=$?
    "$EXE" train --data "$DATA" --model mlp50 --epochs 3 $SLOW --save "$CK/killed.ckpt" \
        --verbose 0 </dev/null >/dev/null 2>&1 &
    pid=$!
    n=0
    while [ ! -s "$CK/killed.ckpt" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
    sleep 0.4
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    rc_killed=$?
    run train --data "$DATA" --resume "$CK/killed.ckpt" --save "$CK/killed.ckpt" --verbose 2
    [ "$rc1" -eq 0 ] || fail_because "the uninterrupted run failed ($rc1)"
    [ "$rc_killed" -eq 137 ] ||
        fail_because "the run ended ($rc_killed) before SIGKILL: nothing was interrupted"
    want_rc 0
    same_weights "$CK/whole.ckpt" "$CK/killed.ckpt" ||
        fail_because "killed + resumed run differs from the uninterrupted one"
    result "SIGKILL mid-run, then --resume: the same final weights as without the kill"

    # Divergence: a non-finite loss stops the run with exit 1 and the message, and the good
    # checkpoint already at --save is left as it was (diverged weights are never written). A
    # resumed run cannot be made to diverge by a new --lr: --resume refuses recipe changes.
    run train --data "$DATA" --model mlp50 --epochs 1 --limit 2000 --save "$CK/good.ckpt" \
        --verbose 0
    cp "$CK/good.ckpt" "$CK/good.orig"
    run train --data "$DATA" --model mlp50 --save "$CK/good.ckpt" --limit 2000 \
        --epochs 2 --optimizer sgd --lr 1e6 --verbose 0
    want_rc 1
    want_stderr "training diverged: the loss became non-finite at epoch 1"
    want_stderr "--lr"
    cmp -s "$CK/good.ckpt" "$CK/good.orig" || fail_because "the good checkpoint was overwritten"
    result "a diverging run (--lr 1e6) exits 1 and keeps the last good checkpoint"

    # Ctrl-C (SIGINT) in the middle of epoch 2: the step finishes, the checkpoint keeps the
    # position inside the epoch, the exit code is 130, and --resume ends where the
    # uninterrupted run did, bit for bit.
    "$EXE" train --data "$DATA" --model mlp50 --epochs 3 $SLOW --save "$CK/int.ckpt" \
        --verbose 2 </dev/null >"$OUT" 2>"$ERR" &
    pid=$!
    n=0
    while [ ! -s "$CK/int.ckpt" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
    sleep 0.4
    kill -INT $pid 2>/dev/null
    wait $pid
    rc=$?
    reasons=
    cmd="mnist-cl train ... (SIGINT)"
    want_rc 130
    want_stderr "Stopped "
    want_stderr "Continue with: mnist-cl train --resume"
    interrupted_reasons=$reasons
    run train --data "$DATA" --resume "$CK/int.ckpt" --save "$CK/int.ckpt" --verbose 2
    reasons="$interrupted_reasons$reasons"
    want_rc 0
    same_weights "$CK/whole.ckpt" "$CK/int.ckpt" ||
        fail_because "interrupted + resumed run differs from the uninterrupted one"
    result "SIGINT mid-epoch exits 130 with a checkpoint; --resume gives the same final weights"
else
    for name in "train mlp50 for 1 epoch on 2000 images (--verbose 2)" \
        "train --profile prints the time per op and phase" \
        "bench --json measures a model: every figure positive, valid JSON" \
        "bench with an unknown model exits 2 and names it" \
        "tune --max-configs 1 measures, checks and reports one candidate" \
        "the same --seed gives the same losses and test result" \
        "train --verbose 0 prints nothing on stdout" \
        "train the tutorial CNN (augmented) for 1 epoch on 640 images" \
        "train with a kernel that does not fit names FILE:5:" \
        "train --save and --history write a checkpoint and a CSV" \
        "eval prints loss, accuracy, per-class precision/recall and the confusion matrix" \
        "eval --json prints valid JSON" \
        "predict classifies the first two test digits (7 and 2)" \
        "predict: a result or an error line for every image, a warning for a blank one, JPEG read" \
        "predict --json stays valid JSON for a file name that is not UTF-8, with errors inline" \
        "predict with an IDX index out of range exits 2" \
        "--resume refuses a recipe option that would change the recorded run" \
        "train from any folder finds MNIST in the user's data folder; errors say what to do" \
        "a truncated checkpoint is refused and not overwritten" \
        "--save-best without validation exits 2" \
        "a diverging run (--lr 1e6) exits 1 and keeps the last good checkpoint" \
        "SIGKILL mid-run, then --resume: the same final weights as without the kill" \
        "SIGINT mid-epoch exits 130 with a checkpoint; --resume gives the same final weights"; do
        if [ "$have_device" -eq 1 ] && [ "$REQUIRE_DEVICE" = 1 ]; then
            count=$((count + 1))
            failed=$((failed + 1))
            echo "not ok $count - $name"
            echo "# no MNIST in $DATA and MNIST_CL_REQUIRE_DEVICE=1 (run tools/setup)"
        elif [ "$have_device" -eq 1 ]; then
            skip "$name" "no MNIST in $DATA (run tools/setup)"
        else
            skip_no_device "$name"
        fi
    done
fi

finish
