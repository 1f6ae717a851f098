#!/bin/sh
# The same training on two OpenCL implementations gives the same numbers: the dnn model, one
# epoch on 128 MNIST images at batch 64, on PoCL (the ICD loader's default list) and on Mesa's
# rusticl (llvmpipe, alone on the list), must print the same training and test loss to 1e-4.
# rusticl runs the kernels GPUs get (CLBlast, the work-group kernels), so this also checks that
# both kernel paths train alike.
#
# usage: tests/cross_driver.sh PATH/TO/mnist-cl RUSTICL-ICD-FOLDER
set -u
exe=$1
icd=$2
skip() {
    if [ "${MNIST_CL_REQUIRE_DEVICE:-0}" = 1 ]; then
        echo "$1 (MNIST_CL_REQUIRE_DEVICE=1)" >&2
        exit 1
    fi
    echo "$1: skipped"
    exit 77
}
data=${MNIST_CL_DATA:-${MNIST_CL_SOURCE_ROOT:-.}/data/mnist}
[ -e "$data/train-images-idx3-ubyte" ] || [ -e "$data/train-images-idx3-ubyte.gz" ] ||
    skip "no MNIST in $data (tools/setup fetches it)"
OCL_ICD_VENDORS=$icd RUSTICL_ENABLE=llvmpipe "$exe" devices >/dev/null 2>&1 ||
    skip "Mesa's rusticl is not installed (tools/setup installs mesa-opencl-icd)"
run() { # ENV... : prints "train-loss test-loss device"
    env "$@" "$exe" --platform 0 train --data "$data" --model dnn --limit 128 --batch-size 64 \
        --epochs 1 --verbose 2 2>&1 |
        awk '/ - loss: / { for (i = 1; i <= NF; i++) if ($i == "loss:") l = $(i + 1) }
             /^Test loss: / { t = $3 }
             /^Trained on / { sub(/^Trained on /, ""); d = $0 }
             END { print l, t, d }'
}
pocl=$(run)
rusticl=$(run OCL_ICD_VENDORS="$icd" RUSTICL_ENABLE=llvmpipe)
echo "loss, test loss, device:"
echo "  $pocl"
echo "  $rusticl"
printf '%s\n%s\n' "$pocl" "$rusticl" | awk '
    { loss[NR] = $1; test[NR] = $2; if ($2 == "") bad = 1 }
    END {
        if (bad || NR != 2) { print "a run printed no loss"; exit 1 }
        d = loss[1] - loss[2]; if (d < 0) d = -d
        e = test[1] - test[2]; if (e < 0) e = -e
        if (e > d) d = e
        if (d > 1e-4) { printf "the drivers disagree by %g (> 1e-4)\n", d; exit 1 }
    }'
