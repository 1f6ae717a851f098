#!/usr/bin/env python3
"""Checks an ONNX model exported by mnist-cl against probabilities computed by the C reference.

usage: onnx_check.py [--logits] [--expect-meta META.json] MODEL.onnx INPUTS.npy EXPECTED.npy

1. onnx.checker.check_model(full_check=True): schema, opset and strict shape inference.
2. The interface mnist-cl promises: IR 7, opset 13, input 'images' [N, 1, rows, cols] with a
   symbolic N, output 'probabilities' [N, classes] (with --logits: 'logits', whose softmax is
   compared with EXPECTED instead).
3. The metadata_props every export carries (mnist_cl_version, model, classes, class_names as a
   JSON list of that many names, output, recipe as a JSON object, seed, epochs) and a graph
   doc_string that names the model; with --expect-meta, each key of META.json must have exactly
   that value, a key whose value is null must be absent, and the phrases listed under
   "doc_contains" must be in the graph's doc_string.
4. Runs the graph with the small NumPy interpreter below (Debian's python3-onnx has neither a
   reference evaluator nor onnxruntime) on INPUTS and compares with EXPECTED: max |diff| < 1e-4.
   The interpreter follows the ONNX operator specifications, written independently of the
   exporter's C code, and knows only the node types the exporter emits; anything else fails.
5. If onnxruntime is importable, runs it too and compares the same way.

Exits non-zero with a message on the first problem.
"""
import json
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Probabilities: the C reference accumulates in double and rounds per layer to float32, the
# interpreter works in float64; what is left is float32 rounding of the activations.
TOLERANCE = 1e-4


class CheckError(Exception):
    pass


def attributes(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def spatial_pads(attrs, rank):
    """ONNX pads [x1_begin, x2_begin, ..., x1_end, x2_end] over the spatial axes."""
    pads = list(attrs.get("pads", [0] * (2 * (rank - 2))))
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise CheckError("auto_pad is not supported by this checker")
    half = len(pads) // 2
    return list(zip(pads[:half], pads[half:]))


def windows(x, kernel, strides, pads, fill):
    """Yields (kh, kw, view) with view[n, c, oh, ow] = padded x[n, c, oh*sh + kh, ow*sw + kw]."""
    (pt, pb), (pl, pr) = pads
    padded = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    kh_, kw_ = kernel
    sh, sw = strides
    oh = (padded.shape[2] - kh_) // sh + 1
    ow = (padded.shape[3] - kw_) // sw + 1
    for kh in range(kh_):
        for kw in range(kw_):
            yield kh, kw, padded[:, :, kh:kh + sh * (oh - 1) + 1:sh, kw:kw + sw * (ow - 1) + 1:sw]


def op_conv(inputs, attrs):
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else np.zeros(w.shape[0])
    if x.ndim != 4:
        raise CheckError(f"Conv on a {x.ndim}-D input")
    if attrs.get("group", 1) != 1 or any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise CheckError("Conv with groups or dilations is not supported by this checker")
    kernel = tuple(attrs.get("kernel_shape", w.shape[2:]))
    if kernel != tuple(w.shape[2:]) or w.shape[1] != x.shape[1]:
        raise CheckError(f"Conv weights {w.shape} do not fit input {x.shape} / kernel {kernel}")
    strides = attrs.get("strides", [1, 1])
    y = None
    for kh, kw, view in windows(x, kernel, strides, spatial_pads(attrs, 4), 0.0):
        term = np.einsum("nchw,fc->nfhw", view, w[:, :, kh, kw])
        y = term if y is None else y + term
    return y + b.reshape(1, -1, 1, 1)


def op_maxpool(inputs, attrs):
    x = inputs[0]
    if attrs.get("ceil_mode", 0) != 0 or any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise CheckError("MaxPool with ceil_mode or dilations is not supported by this checker")
    kernel = attrs["kernel_shape"]
    strides = attrs.get("strides", [1, 1])
    y = None
    # Padding never wins: it is -inf.
    for _, _, view in windows(x, kernel, strides, spatial_pads(attrs, 4), -np.inf):
        y = view.copy() if y is None else np.maximum(y, view)
    return y


def op_pad(inputs, attrs):
    x, pads = inputs[0], [int(p) for p in inputs[1]]
    value = float(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else 0.0
    mode = attrs.get("mode", b"constant")
    if mode not in (b"constant", "constant"):
        raise CheckError(f"Pad mode {mode} is not supported by this checker")
    r = x.ndim
    if len(pads) != 2 * r or min(pads) < 0:
        raise CheckError(f"Pad pads {pads} do not fit a {r}-D input")
    return np.pad(x, list(zip(pads[:r], pads[r:])), constant_values=value)


def op_batchnorm(inputs, attrs):
    x, scale, bias, mean, var = inputs
    eps = attrs.get("epsilon", 1e-5)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(
        shape) + bias.reshape(shape)


def op_gemm(inputs, attrs):
    a, b = inputs[0], inputs[1]
    if attrs.get("transA", 0):
        a = a.T
    if attrs.get("transB", 0):
        b = b.T
    y = attrs.get("alpha", 1.0) * (a @ b)
    if len(inputs) > 2:
        y = y + attrs.get("beta", 1.0) * inputs[2]
    return y


def op_softmax(inputs, attrs):
    x = inputs[0]
    axis = attrs.get("axis", -1)  # opset 13: one axis
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def op_flatten(inputs, attrs):
    x = inputs[0]
    axis = attrs.get("axis", 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def op_reshape(inputs, attrs):
    x, shape = inputs[0], [int(s) for s in inputs[1]]
    if attrs.get("allowzero", 0):
        raise CheckError("Reshape allowzero is not supported by this checker")
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


OPS = {
    "Conv": op_conv,
    "MaxPool": op_maxpool,
    "Pad": op_pad,
    "BatchNormalization": op_batchnorm,
    "Gemm": op_gemm,
    "Softmax": op_softmax,
    "Flatten": op_flatten,
    "Reshape": op_reshape,
    "Relu": lambda i, a: np.maximum(i[0], 0.0),
    "LeakyRelu": lambda i, a: np.where(i[0] > 0, i[0], a.get("alpha", 0.01) * i[0]),
    "GlobalAveragePool": lambda i, a: i[0].mean(axis=tuple(range(2, i[0].ndim)), keepdims=True),
    "Transpose": lambda i, a: np.transpose(i[0], a.get("perm")),
    "Identity": lambda i, a: i[0],
}


def run_numpy(model, images):
    values = {t.name: numpy_helper.to_array(t).astype(np.float64)
              if t.data_type == onnx.TensorProto.FLOAT else numpy_helper.to_array(t)
              for t in model.graph.initializer}
    values[model.graph.input[0].name] = images.astype(np.float64)
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise CheckError(f"node {node.name}: domain '{node.domain}' is not ONNX's")
        if node.op_type not in OPS:
            raise CheckError(f"node {node.name}: op {node.op_type} is not one mnist-cl emits")
        missing = [i for i in node.input if i and i not in values]
        if missing:
            raise CheckError(f"node {node.name} reads {missing}, which nothing wrote before it")
        inputs = [values[i] if i else None for i in node.input]
        if len(node.output) != 1:
            raise CheckError(f"node {node.name} has {len(node.output)} outputs, expected 1")
        values[node.output[0]] = OPS[node.op_type](inputs, attributes(node))
    return values[model.graph.output[0].name]


def dims(value_info):
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        out.append(d.dim_param if d.HasField("dim_param") else d.dim_value)
    return out


REQUIRED_META = ("mnist_cl_version", "model", "classes", "class_names", "output", "recipe",
                 "seed", "epochs")


def check_metadata(model, output, classes, expect):
    meta = {p.key: p.value for p in model.metadata_props}
    if len(meta) != len(model.metadata_props):
        raise CheckError("metadata_props holds a key twice")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CheckError(f"metadata_props lacks {missing}: {sorted(meta)}")
    if meta["mnist_cl_version"] != model.producer_version:
        raise CheckError(f"mnist_cl_version {meta['mnist_cl_version']!r} is not the producer's "
                         f"{model.producer_version!r}")
    if meta["output"] != output or int(meta["classes"]) != classes:
        raise CheckError(f"output {meta['output']!r} / classes {meta['classes']!r}, expected "
                         f"{output!r} / {classes}")
    names = json.loads(meta["class_names"])
    if not isinstance(names, list) or len(names) != classes or not all(
            isinstance(n, str) and n for n in names):
        raise CheckError(f"class_names {meta['class_names']!r} is not a list of {classes} names")
    recipe = json.loads(meta["recipe"])
    if not isinstance(recipe, dict) or not {"epochs", "batch_size", "optimizer", "lr"} <= set(
            recipe):
        raise CheckError(f"recipe {meta['recipe']!r} is not a recipe object")
    for key in ("history", "data"):
        if key in meta:
            json.loads(meta[key])
    if meta["model"] not in model.graph.doc_string:
        raise CheckError(f"the graph's doc_string does not name the model {meta['model']!r}")
    for key, want in (expect or {}).items():
        if key == "doc_contains":  # phrases the graph's doc_string must hold
            for phrase in want:
                if phrase not in model.graph.doc_string:
                    raise CheckError(f"the graph's doc_string lacks {phrase!r}: "
                                     f"{model.graph.doc_string!r}")
            continue
        if want is None and key in meta:
            raise CheckError(f"metadata {key} = {meta[key]!r}, expected no such key")
        if want is not None and meta.get(key) != want:
            raise CheckError(f"metadata {key} = {meta.get(key)!r}, expected {want!r}")
    print(f"metadata: {len(meta)} entries OK")


def softmax_rows(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def check_interface(model, images, expected, output):
    if model.ir_version != 7:
        raise CheckError(f"ir_version {model.ir_version}, expected 7")
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get("", opsets.get("ai.onnx")) != 13:
        raise CheckError(f"opset imports {opsets}, expected ai.onnx 13")
    if model.producer_name != "mnist-cl":
        raise CheckError(f"producer_name '{model.producer_name}', expected 'mnist-cl'")
    graph = model.graph
    if [i.name for i in graph.input] != ["images"]:
        raise CheckError(f"inputs {[i.name for i in graph.input]}, expected ['images']")
    if [o.name for o in graph.output] != [output]:
        raise CheckError(f"outputs {[o.name for o in graph.output]}, expected [{output!r}]")
    for vi in list(graph.input) + list(graph.output):
        if vi.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            raise CheckError(f"{vi.name} is not float")
    want_in = ["N", 1, images.shape[2], images.shape[3]]
    if dims(graph.input[0]) != want_in or images.shape[1] != 1:
        raise CheckError(f"images dims {dims(graph.input[0])}, expected {want_in}")
    want_out = ["N", expected.shape[1]]
    if dims(graph.output[0]) != want_out:
        raise CheckError(f"{output} dims {dims(graph.output[0])}, expected {want_out}")


def compare(what, got, expected):
    if got.shape != expected.shape:
        raise CheckError(f"{what}: shape {got.shape}, expected {expected.shape}")
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    worst = float(diff.max()) if diff.size else 0.0
    if not np.all(np.isfinite(got)) or worst >= TOLERANCE:
        idx = np.unravel_index(int(np.nanargmax(diff)), diff.shape)
        raise CheckError(f"{what}: max |diff| {worst:.3g} >= {TOLERANCE} at {idx}: got "
                         f"{got[idx]!r}, expected {expected[idx]!r}")
    print(f"{what}: max |diff| {worst:.3g} over {expected.size} probabilities")


def main(argv):
    args = argv[1:]
    logits, expect = False, None
    while args and args[0].startswith("--"):
        if args[0] == "--logits":
            logits, args = True, args[1:]
        elif args[0] == "--expect-meta" and len(args) > 1:
            with open(args[1]) as f:
                expect = json.load(f)
            args = args[2:]
        else:
            break
    if len(args) != 3:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    model_path, inputs_path, expected_path = args
    output = "logits" if logits else "probabilities"
    # Probabilities as they are, or the softmax of the logits.
    to_probs = softmax_rows if logits else (lambda x: x)
    try:
        model = onnx.load(model_path)
        onnx.checker.check_model(model, full_check=True)
        images = np.load(inputs_path)
        expected = np.load(expected_path)
        check_interface(model, images, expected, output)
        check_metadata(model, output, expected.shape[1], expect)
        compare("numpy interpreter", to_probs(run_numpy(model, images)), expected)
        try:
            import onnxruntime
        except ImportError:
            onnxruntime = None
        if onnxruntime is not None:
            session = onnxruntime.InferenceSession(model_path,
                                                   providers=["CPUExecutionProvider"])
            got = session.run([output], {"images": images.astype(np.float32)})[0]
            compare("onnxruntime", to_probs(got.astype(np.float64)), expected)
    except (CheckError, onnx.checker.ValidationError, onnx.shape_inference.InferenceError,
            json.JSONDecodeError) as e:
        print(f"onnx_check: {model_path}: {e}", file=sys.stderr)
        return 1
    print(f"onnx_check: {model_path}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
