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

# run_more ARGS...: run again within one case, keeping the failures found so far (run starts
# a case afresh).
run_more() {
    kept=$reasons
    run "$@"
    reasons="$kept$reasons"
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

# An .npz that NumPy wrote (np.savez_compressed: x_train [12, 5, 6], labels 0..2; the fuzz
# corpus's), and a folder of images with one subfolder per class, as Keras reads them.
NPZ=$ROOT/tests/fuzz/corpus/npz/savez-compressed.npz
# write_image_folder DIR N CLASS...: N images per class (PNGs of 12x12 and 16x10, one BMP), a
# bright band whose position is the class over noise, and one text file that is skipped.
write_image_folder() {
    python3 - "$@" <<'PYEOF'
import os, random, struct, sys, zlib
root, n, classes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rng = random.Random(len(classes))
def png(path, w, h, pix):
    raw = b"".join(b"\0" + bytes(pix[y * w:(y + 1) * w]) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
def bmp(path, w, h, pix):
    pad = (4 - 3 * w % 4) % 4
    data = b"".join(bytes(v for x in range(w) for v in (pix[y * w + x],) * 3) + b"\0" * pad
                    for y in reversed(range(h)))
    with open(path, "wb") as f:
        f.write(b"BM" + struct.pack("<IHHI", 54 + len(data), 0, 0, 54)
                + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0) + data)
for k, name in enumerate(classes):
    os.makedirs(os.path.join(root, name), exist_ok=True)
    for i in range(n):
        w, h = (12, 12) if i % 2 else (16, 10)
        pix = [rng.randrange(60) for _ in range(w * h)]
        for y in range(h * k // len(classes), h * (k + 1) // len(classes)):
            for x in range(w):
                pix[y * w + x] = 190 + rng.randrange(60)
        (bmp if i == n - 1 else png)(os.path.join(root, name, "%s%02d.%s" % (name, i, "bmp" if i == n - 1 else "png")), w, h, pix)
with open(os.path.join(root, classes[0], "notes.txt"), "w") as f:
    f.write("not an image")
PYEOF
}
FOLDER=$TMP/animals
write_image_folder "$FOLDER" 10 cat dog fish

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
want_stderr "--momentum applies to SGD and RMSprop only"
result "--momentum with Adam is refused, not ignored"

# eval's pictures are checked before any checkpoint is read or image evaluated.
run eval "$TMP/absent.ckpt" --errors-png "$TMP/errors.jpg"
want_rc 2
want_stderr "--errors-png: $TMP/errors.jpg: unknown image type '.jpg'"
run eval "$TMP/absent.ckpt" --errors-png "$TMP/no/such/dir/errors.png"
want_rc 2
want_stderr "--errors-png: cannot write '$TMP/no/such/dir/errors.png': the folder"
run eval "$TMP/absent.ckpt" --confusion-png "$TMP/cm.pdf"
want_rc 2
want_stderr "--confusion-png: $TMP/cm.pdf: unknown image type '.pdf'"
run eval "$TMP/absent.ckpt" --errors-max 5
want_rc 2
want_stderr "--errors-max sets the size of the --errors-png grid"
run eval "$TMP/absent.ckpt" --errors-png "$TMP/e.png" --errors-max 1001
want_rc 2
want_stderr "--errors-max"
result "eval --errors-png/--confusion-png/--errors-max are checked before any work"

# The optimizer and regulariser options: a value Keras refuses, or an option the chosen
# optimizer would ignore, is one usage line and exit 2, before any data is read (the data
# folder does not exist: reading it would exit 1).
bad_optimizer_option() { # PHRASE ARGS...
    phrase=$1
    shift
    run train --data "$TMP/absent-data" "$@"
    want_rc 2
    want_one_line_error
    want_stderr "$phrase"
}
reasons_all=
for case in \
    "--weight-decay: expected a number in [0,;--weight-decay -0.1" \
    "--l2: expected a number in [0,;--l2 -1" \
    "--label-smoothing: expected a number in [0, 1);--label-smoothing 1" \
    "--label-smoothing: expected a number in [0, 1);--label-smoothing -0.1" \
    "--nesterov applies to SGD only;--nesterov" \
    "--nesterov needs --momentum;--optimizer sgd --nesterov" \
    "--centered applies to RMSprop only;--optimizer adamw --centered" \
    "--rho applies to RMSprop only;--rho 0.9" \
    "--rho: expected a number in [0, 1);--optimizer rmsprop --rho 1.5" \
    "--clipnorm: the limit must be above 0;--clipnorm 0" \
    "--clipvalue: expected a number in [0,;--clipvalue -1" \
    "--global-clipnorm: the limit must be above 0;--global-clipnorm 0" \
    "only one of --clipnorm, --clipvalue and --global-clipnorm;--clipnorm 1 --global-clipnorm 2" \
    "--plateau-factor belongs to --reduce-lr-on-plateau;--plateau-factor 0.5" \
    "--plateau-factor: expected a number in [0, 1);--reduce-lr-on-plateau --plateau-factor 1" \
    "--plateau-factor: the factor must be in (0, 1);--reduce-lr-on-plateau --plateau-factor 0" \
    "--plateau-patience: expected an integer;--reduce-lr-on-plateau --plateau-patience -1" \
    "--plateau-min-lr: expected a number;--reduce-lr-on-plateau --plateau-min-lr -1" \
    "--momentum applies to SGD and RMSprop only;--optimizer adamw --momentum 0.9" \
    "expected 'adam', 'adamw', 'sgd' or 'rmsprop';--optimizer adagrad"; do
    # shellcheck disable=SC2086 # the arguments are split on purpose
    bad_optimizer_option "${case%%;*}" ${case#*;}
    reasons_all="$reasons_all$reasons"
done
reasons=$reasons_all
result "bad optimizer, clipping, regulariser and plateau options exit 2 before reading data"

run help train
want_rc 0
for o in "--optimizer adam|adamw|sgd|rmsprop" --nesterov --rho --centered --weight-decay --l2 \
    --label-smoothing --clipnorm --clipvalue --global-clipnorm --reduce-lr-on-plateau \
    --plateau-factor --plateau-patience --plateau-min-delta --plateau-cooldown --plateau-min-lr; do
    want_stdout "  $o"
done
result "train's help lists the optimizer, regulariser and plateau options"

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

run train --optimizer adagrad
want_rc 2
want_stderr "--optimizer"
want_stderr "adagrad"
result "train --optimizer adagrad exits 2"

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

printf 'not a zip archive' >"$TMP/bad.npz"
run train --data "$TMP/bad.npz"
want_rc 1
want_one_line_error
want_stderr "$TMP/bad.npz: not a NumPy .npz archive"
result "train --data on a damaged .npz exits 1 naming the file"

run train --data "$NPZ" --test-split 0.3
want_rc 2
want_stderr "--test-split applies to an image folder without train/ and test/ folders"
result "--test-split on an .npz (which has its own test set) is refused"

run train --data "$FOLDER" --classes 5
want_rc 2
want_stderr "--classes: the class folders of $FOLDER define its 3 classes"
result "--classes with an image folder is refused"

mkdir -p "$TMP/oneclass/cat"
cp "$FOLDER/cat/cat00.png" "$TMP/oneclass/cat/"
run train --data "$TMP/oneclass"
want_rc 1
want_one_line_error
want_stderr "$TMP/oneclass has one class folder (cat); a classifier needs at least 2"
result "an image folder with one class is refused"

cp -r "$FOLDER" "$TMP/broken-images"
printf 'not a png' >"$TMP/broken-images/dog/zz.png"
run train --data "$TMP/broken-images"
want_rc 1
want_one_line_error
want_stderr "$TMP/broken-images/dog/zz.png: not a PNG"
result "an image that does not decode is named"

mkdir -p "$TMP/splits/train" "$TMP/splits/test"
cp -r "$FOLDER/cat" "$FOLDER/dog" "$TMP/splits/train/"
cp -r "$FOLDER/cat" "$FOLDER/fish" "$TMP/splits/test/"
run train --data "$TMP/splits"
want_rc 1
want_stderr "$TMP/splits/train has the classes (cat, dog) but $TMP/splits/test has (cat, fish)"
result "train/ and test/ folders with different classes are refused"

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

    # ReduceLROnPlateau: nothing beats the first epoch by min_delta 100, so with patience 1 the
    # rate drops tenfold after every later epoch, printed as Keras prints it, in the epoch
    # lines and in the history's lr column.
    run train --data "$TINY" --model mlp50 --epochs 3 --batch-size 5 --verbose 2 \
        --reduce-lr-on-plateau --plateau-patience 1 --plateau-min-delta 100 \
        --history "$TMP/plateau.csv"
    want_rc 0
    want_stdout "ReduceLROnPlateau: monitoring val_loss, factor 0.1, patience 1"
    want_stdout "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.0001."
    want_stdout "Epoch 3: ReduceLROnPlateau reducing learning rate to 1e-05."
    want_stdout "learning_rate: 0.0010"
    want_stdout "learning_rate: 1.0000e-04"
    lrs=$(cut -d, -f6 "$TMP/plateau.csv" | tail -n +2 | tr '\n' ' ')
    [ "$lrs" = "0.001 0.001 0.0001 " ] ||
        fail_because "history lr column: '$lrs', want 0.001 0.001 0.0001"
    run train --data "$TINY" --model mlp50 --epochs 1 --batch-size 5 --verbose 2 \
        --reduce-lr-on-plateau --validation-split 0
    want_stdout "monitoring loss (no validation set"
    result "--reduce-lr-on-plateau reduces the rate as Keras's callback, printed and in the history"

    run train --data "$NPZ" --model mlp50 --epochs 1 --batch-size 4 --verbose 2
    want_rc 0
    want_stdout "Data: $NPZ: 10 training, 2 validation, 6 test images of 5x6, 3 classes"
    want_stdout "Test loss:"
    result "train --data FILE.npz (what np.savez_compressed writes)"

    run train --data "$FOLDER" --model mlp50 --epochs 3 --batch-size 8 --verbose 2 \
        --save "$TMP/animals.ckpt"
    want_rc 0
    want_stdout "Found 30 files belonging to 3 classes."
    want_stdout "Using 24 files for training."
    want_stdout "Using 6 files for testing."
    want_stdout "Skipped 1 file that is not .png, .jpg, .jpeg, .bmp or .gif images, or hidden."
    want_stdout "Data: $FOLDER: 21 training, 3 validation, 6 test images of 28x28, 3 classes (cat, dog, fish)"
    want_stdout "Test loss:"
    result "train --data on a folder of images with one subfolder per class, as Keras reads it"

    run eval "$TMP/animals.ckpt" --data "$FOLDER"
    want_rc 0
    want_stdout "Test loss:"
    want_stdout "(6 images)"
    want_line '^ +cat +[01]\.[0-9]{2} +[01]\.[0-9]{2} +[01]\.[0-9]{2} +[0-9]+$'
    want_line '^ +cat +dog +fish$'
    want_line '^ fish( +[0-9]+){3}$'
    run_more eval "$TMP/animals.ckpt" --data "$FOLDER" --json
    want_rc 0
    want_stdout '"name": "dog"'
    want_stdout '"fish": {"precision": '
    python3 -m json.tool <"$OUT" >/dev/null 2>&1 || fail_because "stdout is not valid JSON"
    run_more eval "$TMP/animals.ckpt" --data "$TINY"
    want_rc 2
    want_stderr "$TMP/animals.ckpt was trained on the classes (cat, dog, fish) but $TINY has (unnamed: the labels' numbers)"
    result "eval of a folder-trained checkpoint shows its class names, and refuses digits"

    run predict "$TMP/animals.ckpt" "$FOLDER/fish/fish03.png" "$FOLDER/cat/cat09.bmp"
    want_rc 0
    want_line "^$FOLDER/fish/fish03.png: (cat|dog|fish) \((cat|dog|fish) 0\.[0-9]{4}, "
    want_line "^$FOLDER/cat/cat09.bmp: (cat|dog|fish) "
    run_more predict --json "$TMP/animals.ckpt" "$FOLDER/dog/dog01.png"
    want_rc 0
    want_stdout '"name": "'
    python3 -m json.tool <"$OUT" >/dev/null 2>&1 || fail_because "stdout is not valid JSON"
    result "predict with a folder-trained checkpoint prints class names"

    # An ensemble's members must share their class names: cow instead of fish is refused.
    cp -r "$FOLDER" "$TMP/animals2"
    mv "$TMP/animals2/fish" "$TMP/animals2/cow"
    run train --data "$TMP/animals2" --model mlp50 --epochs 1 --batch-size 8 --verbose 0 \
        --save "$TMP/animals2.ckpt"
    want_rc 0
    run_more predict "$TMP/animals.ckpt" "$TMP/animals.ckpt" "$FOLDER/dog/dog01.png"
    want_rc 0
    want_line "^$FOLDER/dog/dog01.png: (cat|dog|fish) \((cat|dog|fish) 0\.[0-9]{4}, "
    run_more predict "$TMP/animals.ckpt" "$TMP/animals2.ckpt" "$FOLDER/dog/dog01.png"
    want_rc 2
    want_stderr "$TMP/animals.ckpt has the classes (cat, dog, fish) but $TMP/animals2.ckpt has (cat, cow, dog): an ensemble's members must have the same classes"
    run_more eval "$TMP/animals.ckpt" "$TMP/animals2.ckpt" --data "$FOLDER"
    want_rc 2
    want_stderr "$TMP/animals2.ckpt was trained on the classes (cat, cow, dog) but $FOLDER has (cat, dog, fish)"
    result "an ensemble of folder-trained checkpoints needs the same class names"

    # As a new user would: from a folder outside the checkout, with nothing but what
    # tf.keras.datasets.mnist.load_data() leaves in ~/.keras/datasets.
    mkdir -p "$TMP/newuser/.keras/datasets" "$TMP/newuser/work"
    cp "$NPZ" "$TMP/newuser/.keras/datasets/mnist.npz"
    here=$(pwd)
    cd "$TMP/newuser/work" || exit 1
    saved_data=${MNIST_CL_DATA-unset}
    unset MNIST_CL_DATA
    saved_home=$HOME saved_xdg=${XDG_DATA_HOME-unset}
    export HOME="$TMP/newuser" XDG_DATA_HOME="$TMP/newuser/nothing"
    run train --model mlp50 --epochs 1 --batch-size 4 --verbose 2
    want_rc 0
    want_stdout "Data: $TMP/newuser/.keras/datasets/mnist.npz: 10 training"
    run_more train --data ~/.keras/datasets --model mlp50 --epochs 1 --batch-size 4 --verbose 2
    want_rc 0
    want_stdout "Data: $TMP/newuser/.keras/datasets: 10 training"
    export HOME="$saved_home"
    [ "$saved_data" = unset ] || export MNIST_CL_DATA="$saved_data"
    if [ "$saved_xdg" = unset ]; then unset XDG_DATA_HOME; else export XDG_DATA_HOME="$saved_xdg"; fi
    cd "$here" || exit 1
    result "from any folder, Keras's ~/.keras/datasets/mnist.npz is found (and --data ~/.keras/datasets)"
else
    skip_no_device "devices --json prints valid JSON"
    skip_no_device "devices --check passes"
    skip_no_device "--platform 99 train exits 1"
    skip_no_device "train on a tiny synthetic dataset"
    skip_no_device "--reduce-lr-on-plateau reduces the rate as Keras's callback, printed and in the history"

    skip_no_device "train --data FILE.npz (what np.savez_compressed writes)"
    skip_no_device "train --data on a folder of images with one subfolder per class, as Keras reads it"
    skip_no_device "eval of a folder-trained checkpoint shows its class names, and refuses digits"
    skip_no_device "predict with a folder-trained checkpoint prints class names"
    skip_no_device "an ensemble of folder-trained checkpoints needs the same class names"
    skip_no_device "from any folder, Keras's ~/.keras/datasets/mnist.npz is found (and --data ~/.keras/datasets)"
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
    cp "$OUT" "$TMP/eval-a.json"
    if command -v python3 >/dev/null 2>&1; then
        python3 -m json.tool <"$OUT" >/dev/null 2>&1 || fail_because "stdout is not valid JSON"
    fi
    want_stdout '"confusion"'
    result "eval --json prints valid JSON"

    # sklearn's classification_report: its header, per-class rows with F1, then accuracy and
    # the macro and weighted averages, with 2 decimals; the JSON has output_dict's form.
    run eval "$CK/a.ckpt" --data "$DATA"
    want_rc 0
    want_line '^ {14}precision    recall  f1-score   support$'
    want_line '^ {11}7 ( +[01]\.[0-9]{2}){3} +1028$'
    want_line '^    accuracy {27}0\.[0-9]{2} +10000$'
    want_line '^   macro avg( +0\.[0-9]{2}){3} +10000$'
    want_line '^weighted avg( +0\.[0-9]{2}){3} +10000$'
    grep '^Test loss:' "$OUT" >"$TMP/eval-a.loss"
    sed -n '/precision/,$p' "$OUT" >"$TMP/eval-a.report"
    run eval "$CK/a.ckpt" --data "$DATA" --json
    if ! python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
r = d["classification_report"]
classes = [r[str(k)] for k in range(10)]
macro = sum(c["f1-score"] for c in classes) / 10
assert abs(r["macro avg"]["f1-score"] - macro) < 1e-5, (r["macro avg"], macro)
weighted = sum(c["precision"] * c["support"] for c in classes) / 10000
assert abs(r["weighted avg"]["precision"] - weighted) < 1e-5
assert abs(r["weighted avg"]["recall"] - d["accuracy"]) < 1e-4  # weighted recall = accuracy
for k, c in enumerate(classes):
    p, q = c["precision"], c["recall"]
    assert abs(c["f1-score"] - 2 * p * q / (p + q)) < 1e-5, (k, c)
    assert c["support"] == sum(d["confusion"][k])
    assert d["classes"][k]["f1-score"] == c["f1-score"]' "$OUT" 2>"$TMP/json.err"; then
        fail_because "eval --json: $(tail -1 "$TMP/json.err")"
    fi
    result "eval prints sklearn's classification report (text and --json)"

    # The misclassified images: as many tiles as asked for (of the mistakes the confusion
    # matrix counts), a PNG of the size eval reports, growing a row from 20 to 21 tiles.
    for m in 5 20 21; do
        run eval "$CK/a.ckpt" --data "$DATA" --json --errors-png "$TMP/errors-$m.png" --errors-max $m
        want_rc 0
        cp "$OUT" "$TMP/errors-$m.json"
    done
    run eval "$CK/a.ckpt" --data "$DATA" --errors-png "$TMP/errors.png"
    want_rc 0
    want_line '^Misclassified: [0-9]+ of 10000 test images; the 100 most confident drawn to .*errors\.png \([0-9]+x[0-9]+\)$'
    if ! python3 -c 'import json, struct, sys
sizes = {}
for m in (5, 20, 21):
    d = json.load(open("%s/errors-%d.json" % (sys.argv[1], m)))
    e = d["errors_png"]
    wrong = 10000 - sum(d["confusion"][k][k] for k in range(10))
    assert e["misclassified"] == wrong and e["shown"] == min(wrong, m), (e, wrong)
    png = open(e["file"], "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    w, h = struct.unpack(">II", png[16:24])
    assert (w, h) == (e["width"], e["height"]), ((w, h), e)
    sizes[m] = (w, h)
assert sizes[5][0] < sizes[20][0] == sizes[21][0], sizes  # 5 across, then 10
assert sizes[5][1] < sizes[20][1] < sizes[21][1], sizes   # 1, 2, 3 rows
line = [l for l in open(sys.argv[2]) if l.startswith("Misclassified:")][0]
assert line.split()[1] == str(wrong), line' "$TMP" "$OUT" 2>"$TMP/json.err"; then
        fail_because "eval --errors-png: $(tail -1 "$TMP/json.err")"
    fi
    result "eval --errors-png draws the misclassified test images, sized for their count"

    # Ensembles: a checkpoint with itself is the checkpoint; two checkpoints show each
    # member's result, the mean's, and the cost.
    run eval "$CK/a.ckpt" "$CK/a.ckpt" --data "$DATA"
    want_rc 0
    want_stdout "Ensemble of 2 checkpoints (the mean of their softmax probabilities):"
    grep '^Test loss:' "$OUT" | cmp -s - "$TMP/eval-a.loss" ||
        fail_because "loss or accuracy differ: $(grep '^Test loss:' "$OUT") vs $(cat "$TMP/eval-a.loss")"
    sed -n '/precision/,$p' "$OUT" | cmp -s - "$TMP/eval-a.report" ||
        fail_because "the report or the confusion matrix differ from the checkpoint's own"
    result "eval A A (an ensemble of a checkpoint with itself) reports what eval A does"

    run train --data "$DATA" --model mlp50 --epochs 1 --limit 5000 --seed 9 --save "$CK/b.ckpt" \
        --verbose 0
    run eval "$CK/a.ckpt" "$CK/b.ckpt" --data "$DATA" --json --errors-png "$TMP/ens.png"
    want_rc 0
    cp "$OUT" "$TMP/ens.json"
    run eval "$CK/b.ckpt" --data "$DATA" --json
    cp "$OUT" "$TMP/b.json"
    run eval "$CK/a.ckpt" "$CK/b.ckpt" --data "$DATA"
    want_rc 0
    want_line '^  .*/a\.ckpt \(model mlp50, 2 epochs, 42,310 params\): test loss: [0-9.]+ - test accuracy: [0-9.]+ \([0-9.]+ s\)$'
    want_line '^  .*/b\.ckpt \(model mlp50, 1 epoch, 42,310 params\)'
    want_line '^Test loss: [0-9.]+ - test accuracy: [0-9.]+ \(10000 images\)$'
    want_line '^Cost: 2 forward passes per image, 84,620 params in all; [0-9.]+ s for the 10000 images'
    want_line '^weighted avg( +0\.[0-9]{2}){3} +10000$'
    if ! python3 -c 'import json, sys
e = json.load(open(sys.argv[1] + "/ens.json"))
a = json.load(open(sys.argv[1] + "/eval-a.json"))
b = json.load(open(sys.argv[1] + "/b.json"))
m = e["ensemble"]
assert [x["checkpoint"].split("/")[-1] for x in m] == ["a.ckpt", "b.ckpt"], m
assert m[0]["accuracy"] == a["accuracy"] and m[1]["accuracy"] == b["accuracy"], m
assert abs(m[0]["loss"] - a["loss"]) < 1e-9 and m[0]["params"] == 42310
assert e["accuracy"] != a["accuracy"] or e["loss"] != a["loss"]  # b changed something
assert e["errors_png"]["misclassified"] == 10000 - sum(e["confusion"][k][k] for k in range(10))
assert abs(e["classification_report"]["accuracy"] - e["accuracy"]) < 1e-9' "$TMP" 2>"$TMP/json.err"; then
        fail_because "eval A B --json: $(tail -1 "$TMP/json.err")"
    fi
    result "eval A B evaluates an ensemble: each member's result, the mean's, the cost"

    for c in a b ab; do
        case $c in ab) cks="$CK/a.ckpt $CK/b.ckpt" ;; *) cks="$CK/$c.ckpt" ;; esac
        run predict $cks --json --top 10 "idx:$DATA/t10k-images-idx3-ubyte:0" \
            "idx:$DATA/t10k-images-idx3-ubyte:8" "$ROOT/tests/images/seven.jpg"
        want_rc 0
        cp "$OUT" "$TMP/predict-$c.json"
    done
    run predict "$CK/a.ckpt" "$CK/b.ckpt" "idx:$DATA/t10k-images-idx3-ubyte:0"
    want_rc 0
    want_line '^Ensemble of 2 checkpoints \(the mean of their softmax probabilities\): .*a\.ckpt, .*b\.ckpt$'
    want_line '^idx:.*:0: 7 \(7 0\.[0-9]+.*\) - true 7$'
    if ! python3 -c 'import json, sys
def probs(c):
    d = json.load(open("%s/predict-%s.json" % (sys.argv[1], c)))
    return [{t["class"]: t["probability"] for t in p["top"]} for p in d["predictions"]], d
a, _ = probs("a")
b, _ = probs("b")
ab, d = probs("ab")
assert len(d["checkpoints"]) == 2 and d["predictions"][0]["true_class"] == 7
differ = 0
for i in range(3):
    for k in range(10):
        assert abs(ab[i][k] - (a[i][k] + b[i][k]) / 2) < 2e-6, (i, k, ab[i][k], a[i][k], b[i][k])
        differ = max(differ, abs(a[i][k] - b[i][k]))
assert differ > 1e-3, "a and b predict alike: the check proves nothing"' "$TMP" 2>"$TMP/json.err"; then
        fail_because "predict A B: $(tail -1 "$TMP/json.err")"
    fi
    result "predict A B averages the two checkpoints' probabilities"

    run train --data "$TINY" --model mlp50 --epochs 1 --batch-size 5 --save "$CK/tiny.ckpt" \
        --verbose 0
    run eval "$CK/a.ckpt" "$CK/tiny.ckpt" --data "$DATA"
    want_rc 2
    want_stderr "$CK/tiny.ckpt takes 4x4 images but $CK/a.ckpt takes 28x28"
    want_one_line_error
    run predict "$CK/a.ckpt" "$CK/tiny.ckpt" "idx:$DATA/t10k-images-idx3-ubyte:0"
    want_rc 2
    want_stderr "$CK/tiny.ckpt takes 4x4 images"
    run predict "$CK/a.ckpt" "idx:$DATA/t10k-images-idx3-ubyte:0" "$CK/b.ckpt"
    want_rc 2
    want_stderr "'$CK/b.ckpt' is a checkpoint among the images: list every checkpoint before the first image"
    run predict "$CK/a.ckpt" "$CK/b.ckpt"
    want_rc 2
    want_stderr "predict got 2 checkpoints and no image"
    result "ensembles refuse checkpoints of other images, naming them; checkpoints come first"

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

    # The optimizer's options are part of the recorded recipe (the checkpoint's OPT2 section):
    # --resume refuses a new one, and continues the recorded ones, ReduceLROnPlateau's wait and
    # reductions included, to the weights of a run that was never stopped.
    run train --data "$DATA" --resume "$CK/a.ckpt" --weight-decay 0.1 --verbose 0
    want_rc 2
    want_stderr "--weight-decay cannot change"
    OPTS="--model mlp50 --limit 1000 --batch-size 50 --optimizer rmsprop --centered --momentum 0.5
        --l2 0.0005 --label-smoothing 0.1 --clipnorm 1 --reduce-lr-on-plateau
        --plateau-patience 2 --plateau-min-delta 10 --plateau-cooldown 1"
    # shellcheck disable=SC2086 # OPTS is split on purpose
    "$EXE" train --data "$DATA" $OPTS --epochs 5 --save "$CK/opt-whole.ckpt" --verbose 2 \
        </dev/null >"$TMP/opt-whole.out" 2>&1 || fail_because "the 5-epoch run failed"
    # shellcheck disable=SC2086
    "$EXE" train --data "$DATA" $OPTS --epochs 2 --save "$CK/opt-part.ckpt" --verbose 0 \
        </dev/null >/dev/null 2>&1 || fail_because "the 2-epoch run failed"
    run train --data "$DATA" --limit 1000 --resume "$CK/opt-part.ckpt" --epochs 5 \
        --save "$CK/opt-part.ckpt" --verbose 2
    want_rc 0
    want_stdout "Epoch 3: ReduceLROnPlateau reducing learning rate to 0.0001."
    grep -qF "Epoch 3: ReduceLROnPlateau reducing learning rate to 0.0001." "$TMP/opt-whole.out" ||
        fail_because "the uninterrupted run did not reduce the rate after epoch 3"
    "$EXE" export "$CK/opt-whole.ckpt" -o "$CK/opt-whole.npz" >/dev/null 2>&1 &&
        "$EXE" export "$CK/opt-part.ckpt" -o "$CK/opt-part.npz" >/dev/null 2>&1 &&
        cmp -s "$CK/opt-whole.npz" "$CK/opt-part.npz" ||
        fail_because "2 epochs + --resume to 5 differs from 5 epochs in one run"
    result "--resume keeps the optimizer options and the plateau state: the same final weights"

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

    # Real MNIST as Keras's mnist.npz (np.savez_compressed of the same arrays): the same run on
    # it and on the IDX files gives bit-identical weights. Needs a Python with numpy.
    numpy_python=
    for py in python3 /usr/bin/python3; do
        if "$py" -c 'import numpy' >/dev/null 2>&1; then numpy_python=$py; break; fi
    done
    if [ -n "$numpy_python" ]; then
        "$numpy_python" - "$DATA" "$CK/mnist.npz" <<'PYEOF'
import sys
import numpy as np
def idx(path):
    b = open(path, "rb").read()
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(b[3])]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * b[3]).reshape(dims)
d = sys.argv[1]
np.savez_compressed(sys.argv[2], x_train=idx(d + "/train-images-idx3-ubyte"),
                    y_train=idx(d + "/train-labels-idx1-ubyte"),
                    x_test=idx(d + "/t10k-images-idx3-ubyte"), y_test=idx(d + "/t10k-labels-idx1-ubyte"))
PYEOF
        train_small --verbose 2 --seed 11 --save "$CK/idx.ckpt"
        want_rc 0
        grep -E '^Test loss:|^[0-9]+/[0-9]+ ' "$OUT" | sed 's/ - [0-9]*s - [0-9]*ms\/step//' >"$TMP/idx-run"
        run_more train --data "$CK/mnist.npz" --model mlp50 --epochs 1 --limit 2000 \
            --verbose 2 --seed 11 --save "$CK/npz.ckpt"
        want_rc 0
        want_stdout "Data: $CK/mnist.npz: 1800 training, 200 validation, 10000 test images of 28x28, 10 classes"
        grep -E '^Test loss:|^[0-9]+/[0-9]+ ' "$OUT" | sed 's/ - [0-9]*s - [0-9]*ms\/step//' >"$TMP/npz-run"
        cmp -s "$TMP/idx-run" "$TMP/npz-run" || fail_because "the losses differ: $(diff "$TMP/idx-run" "$TMP/npz-run")"
        same_weights "$CK/idx.ckpt" "$CK/npz.ckpt" || fail_because "the weights differ"
        result "training on MNIST as mnist.npz gives bit-identical weights to the IDX files"
    elif [ "$REQUIRE_DEVICE" = 1 ]; then
        cmd="python3 -c 'import numpy'"
        reasons=
        fail_because "no Python with numpy (tools/setup installs python3-numpy)"
        result "training on MNIST as mnist.npz gives bit-identical weights to the IDX files"
    else
        skip "training on MNIST as mnist.npz gives bit-identical weights to the IDX files" \
            "no Python with numpy"
    fi
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
        "eval prints sklearn's classification report (text and --json)" \
        "eval --errors-png draws the misclassified test images, sized for their count" \
        "eval A A (an ensemble of a checkpoint with itself) reports what eval A does" \
        "eval A B evaluates an ensemble: each member's result, the mean's, the cost" \
        "predict A B averages the two checkpoints' probabilities" \
        "ensembles refuse checkpoints of other images, naming them; checkpoints come first" \
        "predict classifies the first two test digits (7 and 2)" \
        "predict: a result or an error line for every image, a warning for a blank one, JPEG read" \
        "predict --json stays valid JSON for a file name that is not UTF-8, with errors inline" \
        "predict with an IDX index out of range exits 2" \
        "--resume refuses a recipe option that would change the recorded run" \
        "--resume keeps the optimizer options and the plateau state: the same final weights" \
        "train from any folder finds MNIST in the user's data folder; errors say what to do" \
        "a truncated checkpoint is refused and not overwritten" \
        "--save-best without validation exits 2" \
        "a diverging run (--lr 1e6) exits 1 and keeps the last good checkpoint" \
        "SIGKILL mid-run, then --resume: the same final weights as without the kill" \
        "SIGINT mid-epoch exits 130 with a checkpoint; --resume gives the same final weights" \
        "training on MNIST as mnist.npz gives bit-identical weights to the IDX files"; do
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
