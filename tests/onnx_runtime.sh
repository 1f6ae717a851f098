#!/bin/sh
# ONNX exports run in a real ONNX runtime: onnxruntime-node (Microsoft's CPU build, which
# tools/setup installs into build-tools/onnxruntime) loads an MLP and a CNN with BatchNorm
# trained here, each exported with probabilities and with logits, runs a batch of 16 images and
# must agree with `mnist-cl predict` on the same checkpoint within 1e-4
# (tests/onnx_runtime_check.js), and the metadata_props it reads back must say what `mnist-cl
# info --json` says of the checkpoint. Synthetic data, so it runs anywhere (about 10 s).
#
# usage: tests/onnx_runtime.sh PATH/TO/mnist-cl   (meson passes the executable)
# environment:
#   MNIST_CL_ONNXRUNTIME_NODE  the onnxruntime-node package folder (default:
#                              $MNIST_CL_SOURCE_ROOT/build-tools/onnxruntime/node_modules/onnxruntime-node)
#   MNIST_CL_REQUIRE_DEVICE    1: a missing node, onnxruntime-node or OpenCL device is a
#                              failure, not a skip (CI sets it)
. "$(dirname "$0")/shell_lib.sh"

ROOT=${MNIST_CL_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
ORT=${MNIST_CL_ONNXRUNTIME_NODE:-$ROOT/build-tools/onnxruntime/node_modules/onnxruntime-node}
CHECK=$ROOT/tests/onnx_runtime_check.js
NAMES="mlp-probabilities mlp-logits cnn-probabilities cnn-logits"

# missing WHY: every case fails under MNIST_CL_REQUIRE_DEVICE=1 and is skipped otherwise.
missing() {
    for name in $NAMES; do
        if [ "$REQUIRE_DEVICE" = 1 ]; then
            count=$((count + 1))
            failed=$((failed + 1))
            echo "not ok $count - onnxruntime-node runs the $name export"
            echo "# $1 and MNIST_CL_REQUIRE_DEVICE=1 (run tools/setup)"
        else
            skip "onnxruntime-node runs the $name export" "$1 (tools/setup installs it)"
        fi
    done
    finish
    exit
}

command -v node >/dev/null 2>&1 || missing "no node on PATH"
[ -f "$ORT/package.json" ] || missing "no onnxruntime-node in $ORT"
node -e "require(process.argv[1])" "$ORT" >"$TMP/ort.err" 2>&1 ||
    missing "onnxruntime-node in $ORT does not load: $(head -n 1 "$TMP/ort.err")"
# shellcheck disable=SC2086
need_device $NAMES || {
    finish
    exit
}

DATA=$TMP/data
write_dataset "$DATA" 600 64 11
BNCNN=$TMP/bn-cnn.model
# Momentum 0.5: BatchNorm's moving statistics describe the data after one short epoch.
cat >"$BNCNN" <<'EOF'
name bn-cnn
recipe epochs=1 batch_size=32 validation_split=0.1
conv2d 8 3x3 padding=same
batchnorm momentum=0.5
relu
maxpool 2
conv2d 8 3x3
batchnorm momentum=0.5
relu
maxpool 2
flatten
dense 16
batchnorm momentum=0.5
relu
dense classes softmax
EOF

N=16
images=
i=0
while [ $i -lt $N ]; do
    images="$images idx:$i"
    i=$((i + 1))
done

# step ARGS...: runs mnist-cl ARGS; a failure is kept in $setup, for every case that needs it.
step() {
    run "$@"
    [ "$rc" -eq 0 ] || setup="${setup}mnist-cl $1 exited $rc: $(head -n 1 "$ERR")
"
}

for model in mlp cnn; do
    case $model in
    mlp) spec=mlp50 ;;
    cnn) spec=$BNCNN ;;
    esac
    ck=$TMP/$model.ckpt
    setup=
    step train --data "$DATA" --model "$spec" --epochs 1 --save "$ck" --verbose 0
    step info "$ck" --json
    cp "$OUT" "$TMP/$model.info.json"
    # idx:N is test image N of the data the checkpoint recorded: no --data needed.
    # shellcheck disable=SC2086
    step predict "$ck" --json --top 10 $images
    cp "$OUT" "$TMP/$model.predict.json"
    for kind in probabilities logits; do
        flag=
        [ $kind = logits ] && flag=--logits
        onnx=$TMP/$model-$kind.onnx
        step export "$ck" -o "$onnx" $flag
        cmd="node tests/onnx_runtime_check.js ... $model-$kind.onnx $kind"
        node "$CHECK" "$ORT" "$onnx" $kind "$DATA/t10k-images-idx3-ubyte" $N \
            "$TMP/$model.predict.json" "$TMP/$model.info.json" >"$OUT" 2>"$ERR"
        rc=$?
        reasons=$setup
        want_rc 0
        sed 's/^/# /' "$OUT"
        result "onnxruntime-node runs the $model-$kind export"
    done
done

finish
