#!/bin/sh
# Two training steps of a small MLP and a small CNN (with BatchNorm, pooling, dropout and
# augmentation, SGD with momentum and Adam), each followed by validation and a test evaluation,
# under oclgrind (tests/strict.sh): every kernel a training step, its metrics and the optimizer
# run, on a synthetic dataset small enough for the simulator.
#
# usage: tests/strict_training.sh PATH/TO/mnist-cl [OCLGRIND-OPTION...]
set -u
exe=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mnistcl-strict-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# 40 training and 12 test images of 12x12, 3 classes: a bright band whose row is the class.
python3 - "$tmp" <<'PY'
import struct, sys, random
random.seed(7)
def write(path, magic, dims, data):
    with open(path, 'wb') as f:
        f.write(struct.pack('>I', magic) + b''.join(struct.pack('>I', d) for d in dims))
        f.write(bytes(data))
for split, count in (('train', 40), ('t10k', 12)):
    pixels, labels = [], []
    for i in range(count):
        c = i % 3
        labels.append(c)
        for r in range(12):
            for col in range(12):
                band = 4 * c <= r < 4 * c + 4
                pixels.append(200 + random.randrange(50) if band else random.randrange(60))
    write('%s/%s-images-idx3-ubyte' % (sys.argv[1], split), 0x803, (count, 12, 12), pixels)
    write('%s/%s-labels-idx1-ubyte' % (sys.argv[1], split), 0x801, (count,), labels)
PY
cat > "$tmp/mlp.model" <<'M'
name strict-mlp
recipe epochs=1 batch_size=16 optimizer=adam lr=0.01 validation_split=0.2
flatten
dense 24 relu
dropout 0.25
dense classes softmax
M
cat > "$tmp/cnn.model" <<'M'
name strict-cnn
recipe epochs=1 batch_size=16 optimizer=sgd lr=0.05 momentum=0.9 validation_split=0.2
recipe augment=on rotation=8 shift=0.08 shear=0.3 zoom=0.08
conv2d 16 3x3 padding=same
batchnorm momentum=0.9
relu
maxpool 2
conv2d 32 3x3
batchnorm
relu
globalavgpool
dropout 0.2
dense classes softmax
M
# oclgrind 21.10's --uninitialized keeps the shadow of a released buffer for the next buffer
# created in its slot: a larger buffer first written by a kernel then reads as uninitialised
# past the old size (a 30-line program without mnist-cl shows it). The start-up GEMM check
# releases its buffers just before the trainer allocates, so a first training without that
# checker (the others still on) leaves the check's verdict in this run's cache, and the checked
# trainings then start without it. The kernels are the same: the build options (strict.sh) are
# set here for all runs, and the cache is keyed on them.
export MNIST_CL_CACHE_DIR="$tmp/cache"
warm=
for flag in "$@"; do
    case $flag in
    --uninitialized) export OCLGRIND_BUILD_OPTIONS=-cl-opt-disable ;;
    *) warm="$warm $flag" ;;
    esac
done
rc=0
echo "== mlp (warming the cache)"
# shellcheck disable=SC2086
"$here/strict.sh" $warm -- "$exe" train --data "$tmp" --model "$tmp/mlp.model" >/dev/null || rc=1
for model in mlp cnn; do
    echo "== $model"
    out=$("$here/strict.sh" "$@" -- "$exe" train --data "$tmp" --model "$tmp/$model.model" \
        --verbose 2) || rc=1
    printf '%s\n' "$out"
    # The last line must be there: CLBlast's program cache once crashed the process at exit,
    # after training, taking the buffered test line with it.
    case $out in
    *"Test loss:"*) ;;
    *) echo "$model: the run printed no 'Test loss:' line"; rc=1 ;;
    esac
done
exit $rc
