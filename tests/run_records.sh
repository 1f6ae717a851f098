#!/bin/sh
# What a checkpoint records of its run, and the commands that read it: train --resume trains on
# the recorded data and refuses options that contradict it; eval and predict default to that
# data; info shows the record; train --json, models --json and summary --json print one JSON
# document each. Synthetic data in folders of its own, run from a folder outside the checkout
# with MNIST_CL_DATA pointing at other data, so that only the record can give the right answer
# (about 15 s).
#
# usage: tests/run_records.sh PATH/TO/mnist-cl   (meson passes the executable)
. "$(dirname "$0")/shell_lib.sh"

ROOT=${MNIST_CL_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}

want_stdout() {
    grep -qF -- "$1" "$OUT" || fail_because "stdout lacks '$1'"
}

# want_json PYTHON [ARG...]: stdout is one JSON document (python3 -m json.tool accepts it) for
# which the Python expression PYTHON holds, with the document as d and ARGs as sys.argv[3:].
want_json() {
    if ! python3 -m json.tool "$OUT" >/dev/null 2>"$TMP/json.err"; then
        fail_because "stdout is not one JSON document: $(tail -n 1 "$TMP/json.err")"
        return
    fi
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert eval("(" + sys.argv[2] + ")"), sys.argv[2]' "$OUT" "$@" 2>"$TMP/json.err" ||
        fail_because "JSON check failed: $(tail -n 1 "$TMP/json.err")"
}

# json_value FILE EXPR: prints EXPR evaluated on the JSON document in FILE.
json_value() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

# ---------------------------------------------------------------- without a device

run models --json
want_rc 0
want_json 'len(d["models"]) == 7 and d["models"][0]["name"] == "mlp" and
d["models"][0]["recipe"]["lr"] == 0.001 and d["models"][0]["recipe"]["batch_size"] == 128 and
"dense 256 relu" in d["models"][0]["source"] and d["models"][4]["recipe"]["augment"] is True'
result "models --json: every built-in with its recipe and model text"

run summary --model cnn --json
want_rc 0
want_json 'd["total_params"] == 597738 and d["non_trainable_params"] == 1408 and
d["layers"][0] == {"name": "conv2d_1", "type": "Conv2D", "output_shape": [None, 26, 26, 32],
"params": 320, "trainable_params": 320} and d["layers"][-1]["output_shape"] == [None, 10]'
result "summary --json: the Keras table's layers, shapes and totals"

run help info
want_rc 0
want_stdout "usage: mnist-cl info CHECKPOINT"
want_stdout "--json"
result "help info describes info"

run info "$TMP/nothing.ckpt"
want_rc 1
want_one_line_error
want_stderr "$TMP/nothing.ckpt"
result "info of a missing file: one line naming it, exit 1"

OLD=$ROOT/tests/fuzz/corpus/checkpoint/trained.ckpt
run info "$OLD"
want_rc 0
want_stdout "Data: not recorded (an older mnist-cl wrote this checkpoint)"
want_stdout "Test: not measured for these weights"
want_stdout "Total params:"
result "info of a checkpoint from before the run records: says what it lacks"

head -c 300 "$OLD" >"$TMP/cut.ckpt"
run info "$TMP/cut.ckpt"
want_rc 1
want_one_line_error
want_stderr "truncated"
run export "$OLD" -o "$TMP/w.npz" --logits
want_rc 2
want_stderr "--logits applies to ONNX only"
result "info of a truncated file: one line; export --logits to .npz is refused"

# ---------------------------------------------------------------- runs

DEVICE_CASES="resume-default resume-limit resume-data resume-relative resume-moved resume-old eval-default
predict-default info-record train-json test-metrics"
# shellcheck disable=SC2086
if ! need_device $DEVICE_CASES; then
    finish
    exit
fi

DATA=$TMP/digits
OTHER=$TMP/other
write_dataset "$DATA" 400 64 3
write_dataset "$OTHER" 700 32 5
mkdir "$TMP/work"
cd "$TMP/work" || exit 1
export MNIST_CL_DATA="$OTHER"
CK=$TMP/work/run.ckpt

run train --data "$DATA" --model mlp50 --limit 300 --validation-split 0.25 --epochs 1 \
    --save "$CK" --verbose 2
want_rc 0
want_stdout "Data: $DATA: 225 training, 75 validation, 64 test images"
first=$reasons
run train --resume "$CK" --epochs 2 --save "$CK" --verbose 2
reasons=$first$reasons
want_rc 0
want_stdout "Data: $DATA (as the checkpoint recorded it): 225 training, 75 validation, 64 test"
want_stdout "Epoch 2/2"
result "resume-default: --resume trains on the recorded data, --limit and split, not MNIST_CL_DATA's"

run train --resume "$CK" --epochs 3 --limit 400
want_rc 2
want_one_line_error
want_stderr "--resume continues $CK on --limit 300, as it was trained; --limit 400 would train on other images"
r=$reasons
run train --resume "$CK" --epochs 3 --validation-split 0.1
reasons=$r$reasons
want_rc 2
want_stderr "--validation-split 0.25 as it was trained; --validation-split 0.1"
r=$reasons
run train --resume "$CK" --epochs 3 --classes 12
reasons=$r$reasons
want_rc 2
want_stderr "--classes 12 contradicts it"
r=$reasons
run train --resume "$CK" --epochs 3 --limit 300 --validation-split 0.25 --data "$DATA" \
    --save "$CK" --verbose 2
reasons=$r$reasons
want_rc 0
want_stdout "Epoch 3/3"
result "resume-limit: a --limit, split or --classes that contradicts the run is refused (exit 2); the same values are fine"

run train --resume "$CK" --epochs 4 --data "$OTHER"
want_rc 2
want_one_line_error
want_stderr "--resume continues $CK on the data it was trained on, $DATA; --data $OTHER is other data"
result "resume-data: --data naming other data is refused with the reason"

# A relative --data is recorded as an absolute path: the run resumes from any folder.
cd "$TMP" || exit 1
run train --data digits --model mlp50 --limit 200 --epochs 1 --save "$TMP/work/rel.ckpt" \
    --verbose 0
want_rc 0
cd "$TMP/work" || exit 1
r=$reasons
run train --resume rel.ckpt --epochs 2 --verbose 2
reasons=$r$reasons
want_rc 0
want_stdout "Data: $(cd "$DATA" && pwd -P) (as the checkpoint recorded it): 180 training, 20 validation"
result "resume-relative: a relative --data is recorded absolute, so --resume works from another folder"

mv "$DATA" "$TMP/moved"
run train --resume "$CK" --epochs 4
want_rc 1
want_one_line_error
want_stderr "$CK was trained on the data in $DATA, which no longer exists; pass --data DIR"
r=$reasons
run eval "$CK"
reasons=$r$reasons
want_rc 1
want_stderr "which no longer exists; pass --data DIR"
r=$reasons
run train --resume "$CK" --epochs 4 --data "$OTHER"
reasons=$r$reasons
want_rc 2
want_stderr "--data $OTHER holds other training data than $CK was trained on"
r=$reasons
cp "$CK" "$TMP/before-move.ckpt"
run train --resume "$CK" --epochs 4 --data "$TMP/moved" --save "$CK" --verbose 2
reasons=$r$reasons
want_rc 0
want_stdout "Data: $TMP/moved: 225 training, 75 validation"
mv "$TMP/moved" "$DATA"
cp "$TMP/before-move.ckpt" "$CK"
result "resume-moved: gone data is said so; --data elsewhere must hold the same training set"

# A checkpoint of an mnist-cl that did not record its data: the same file without DATA.
python3 - "$CK" "$TMP/old.ckpt" <<'EOF' || fail_because "could not strip the DATA section"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
body, at, count = bytearray(data[:16]), 16, struct.unpack_from("<I", data, 12)[0]
kept = 0
while at < len(data) - 8:
    tag, length = data[at:at + 4], struct.unpack_from("<Q", data, at + 4)[0]
    if tag not in (b"DATA", b"TEST"):
        body += data[at:at + 12 + length]
        kept += 1
    at += 12 + length
struct.pack_into("<I", body, 12, kept)
body += b"END!"
open(sys.argv[2], "wb").write(bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))))
EOF
run train --resume "$TMP/old.ckpt" --epochs 4 --data "$DATA" --limit 300 --verbose 2
want_rc 0
want_stderr "$TMP/old.ckpt does not record the data it was trained on (an older mnist-cl wrote it): resuming on $DATA with the --limit given"
want_stdout "Data: $DATA: 225 training, 75 validation"
result "resume-old: a checkpoint without a data record resumes on the options given, with a note"

run eval "$CK"
want_rc 0
want_stdout "Data: $DATA (as the checkpoint recorded it)"
want_stdout "Test loss:"
want_stdout "(64 images)"
r=$reasons
run eval "$CK" --data "$OTHER"
reasons=$r$reasons
want_rc 0
want_stdout "Data: $OTHER"
want_stdout "(32 images)"
result "eval-default: eval evaluates on the data the checkpoint recorded; --data overrides it"

run predict "$CK" idx:0 idx:63 --json
want_rc 0
want_json 'len(d["predictions"]) == 2 and all("true_class" in p for p in d["predictions"])'
label0=$(od -An -tu1 -j8 -N1 "$DATA/t10k-labels-idx1-ubyte" | tr -d ' ')
[ "$(json_value "$OUT" 'd["predictions"][0]["true_class"]')" = "$label0" ] ||
    fail_because "idx:0's true class is not the recorded data's first test label ($label0)"
r=$reasons
run predict "$CK" idx:64
reasons=$r$reasons
want_rc 2
want_stderr "idx:64: the test set of $DATA (as the checkpoint recorded it) holds 64 images"
r=$reasons
run predict "$CK" idx:40 --data "$OTHER"
reasons=$r$reasons
want_rc 2
want_stderr "the test set of $OTHER holds 32 images"
result "predict-default: idx:N is test image N of the recorded data (or of --data), with its label"

run info "$CK"
want_rc 0
want_stdout "Data: $DATA, --limit 300: 225 training, 75 validation, 64 test images of 28x28, 10 classes"
want_stdout "Recipe: epochs 3, batch 100, adam lr 0.001, validation split 0.25; seed 42"
want_stdout "Epochs: 3 of 3 done"
want_stdout "History:"
grep -qE '^ +3 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ ' "$OUT" || fail_because "no history row for epoch 3"
want_stdout "Test: loss "
want_stdout "on 64 test images"
r=$reasons
run info "$CK" --json
reasons=$r$reasons
want_rc 0
want_json 'd["data"]["source"] == sys.argv[3] and d["data"]["limit"] == 300 and
d["data"]["train_images"] == 225 and d["recipe"]["validation_split"] == 0.25 and
d["epochs_done"] == 3 and len(d["history"]["epochs"]) == 3 and d["test"]["images"] == 64 and
d["model"]["summary"]["total_params"] == 42310 and d["class_names"][9] == "9" and
d["checksum_ok"] is True' "$DATA"
result "info-record: the model, recipe, data, epochs, history and test metrics, as text and JSON"

run train --data "$DATA" --model mlp50 --epochs 2 --limit 300 --json --save "$TMP/work/j.ckpt"
want_rc 0
want_json 'd["epochs_done"] == 2 and len(d["history"]["epochs"]) == 2 and
d["test"]["images"] == 64 and 0 <= d["test"]["accuracy"] <= 1 and
d["recipe"]["epochs"] == 2 and d["data"]["limit"] == 300 and d["data"]["source"] == sys.argv[3]
and d["device"]["name"] and d["device"]["driver_version"] and d["speed"]["wall_seconds"] > 0 and
d["speed"]["samples_per_second"] > 0 and d["checkpoint"].endswith("j.ckpt")' "$DATA"
want_stderr "Epoch 1/2"
want_stderr "Test loss:"
result "train-json: one JSON document on stdout (recipe, data, history, test, speed, device); the Keras lines on stderr"

# The test metrics a checkpoint keeps are those of its own weights: with --save-best the file
# holds the best epoch, not the last, and eval of the file must agree with what info says.
SB=$TMP/work/best.ckpt
# (On this data the validation loss is lowest after epoch 2 of 6, seed 42.)
run train --data "$DATA" --model mlp50 --epochs 6 --batch-size 20 --lr 0.003 --save "$SB" \
    --save-best --verbose 0
want_rc 0
run info "$SB" --json
cp "$OUT" "$TMP/best-info.json"
[ "$(json_value "$TMP/best-info.json" 'd["epochs_done"] < 6')" = True ] ||
    fail_because "the best epoch is the last: this case no longer tells the file's weights from the last ones"
run eval "$SB" --json
want_rc 0
want_json 'abs(d["accuracy"] - float(sys.argv[3])) < 1e-9 and abs(d["loss"] - float(sys.argv[4]))
< 1e-5 and d["count"] == 64' "$(json_value "$TMP/best-info.json" 'd["test"]["accuracy"]')" \
    "$(json_value "$TMP/best-info.json" 'd["test"]["loss"]')"
r=$reasons
run info "$TMP/work/j.ckpt" --json
cp "$OUT" "$TMP/j-info.json"
run eval "$TMP/work/j.ckpt" --json
reasons=$r$reasons
want_json 'abs(d["accuracy"] - float(sys.argv[3])) < 1e-9' \
    "$(json_value "$TMP/j-info.json" 'd["test"]["accuracy"]')"
result "test-metrics: the checkpoint keeps the test accuracy of its own weights (also with --save-best)"

finish
