#!/usr/bin/env node
// Runs an ONNX model exported by mnist-cl in a real ONNX runtime (onnxruntime-node, Microsoft's
// CPU build) and checks it against mnist-cl's own predictions and its checkpoint's record.
//
// usage: node onnx_runtime_check.js ORT_DIR MODEL.onnx probabilities|logits IMAGES_IDX N
//                                   PREDICT.json INFO.json
//   ORT_DIR       the onnxruntime-node package folder (node_modules/onnxruntime-node)
//   IMAGES_IDX    an IDX images file; its first N images are the batch
//   PREDICT.json  `mnist-cl predict CKPT --json --top CLASSES idx:0 ... idx:N-1` of the same
//                 checkpoint: every class's probability for each image, on mnist-cl's device
//   INFO.json     `mnist-cl info CKPT --json`: what the metadata must say
//
// 1. The session's input is 'images' and its only output the kind asked for.
// 2. One batch of N images [N, 1, rows, cols] (pixels / 255) runs; the probabilities (or the
//    softmax of the logits) match mnist-cl's within TOLERANCE, and every argmax is mnist-cl's
//    class.
// 3. metadata_props and the graph's doc_string, read back from the file with the small
//    protobuf reader below (onnxruntime-node does not expose custom metadata), hold
//    mnist_cl_version, classes, class_names, the recipe, seed, epochs, data and test metrics
//    that `info` reports for the checkpoint.
// Exits 1 with a message on the first problem.
'use strict';
const fs = require('fs');
const path = require('path');

// mnist-cl prints probabilities with 6 significant digits (%.6g); the device and
// onnxruntime accumulate in float32 in different orders. Both together stay far below 1e-4.
const TOLERANCE = 1e-4;

function fail(message) {
  console.error(`onnx_runtime_check: ${message}`);
  process.exit(1);
}

// ---------------------------------------------------------------- protobuf wire format

function varint(buf, at) {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    if (at >= buf.length) fail('truncated varint in the ONNX file');
    const byte = buf[at++];
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7n;
  }
}

// Calls fn(field, wireType, value) for every field of one message; value is a Buffer for
// length-delimited fields and a BigInt for varints.
function fields(buf, fn) {
  let at = 0;
  while (at < buf.length) {
    let key;
    [key, at] = varint(buf, at);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      let v;
      [v, at] = varint(buf, at);
      fn(field, wire, v);
    } else if (wire === 2) {
      let len;
      [len, at] = varint(buf, at);
      const end = at + Number(len);
      if (end > buf.length) fail('a field runs past the end of the ONNX file');
      fn(field, wire, buf.subarray(at, end));
      at = end;
    } else if (wire === 1) {
      at += 8;
    } else if (wire === 5) {
      at += 4;
    } else {
      fail(`wire type ${wire} in the ONNX file`);
    }
  }
}

// ModelProto.metadata_props (14: StringStringEntryProto {1 key, 2 value}) and
// ModelProto.graph (7) -> GraphProto.doc_string (10).
function readModelText(file) {
  const metadata = {};
  let doc = '';
  fields(fs.readFileSync(file), (field, wire, value) => {
    if (field === 14 && wire === 2) {
      let key = null;
      let text = null;
      fields(value, (f, w, v) => {
        if (f === 1 && w === 2) key = v.toString('utf8');
        if (f === 2 && w === 2) text = v.toString('utf8');
      });
      if (key === null || text === null) fail('a metadata entry without key or value');
      if (key in metadata) fail(`metadata key ${key} appears twice`);
      metadata[key] = text;
    } else if (field === 7 && wire === 2) {
      fields(value, (f, w, v) => {
        if (f === 10 && w === 2) doc = v.toString('utf8');
      });
    }
  });
  return {metadata, doc};
}

// ---------------------------------------------------------------- inputs

function readIdxImages(file, n) {
  const buf = fs.readFileSync(file);
  if (buf.length < 16 || buf.readUInt32BE(0) !== 0x00000803) fail(`${file}: not an IDX images file`);
  const count = buf.readUInt32BE(4);
  const rows = buf.readUInt32BE(8);
  const cols = buf.readUInt32BE(12);
  if (count < n || buf.length < 16 + count * rows * cols) fail(`${file}: fewer than ${n} images`);
  const data = new Float32Array(n * rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = buf[16 + i] / 255;
  return {data, rows, cols};
}

function softmax(row) {
  const top = Math.max(...row);
  const e = row.map((x) => Math.exp(x - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

function argmax(row) {
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
  return best;
}

function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function main(argv) {
  if (argv.length !== 7) fail('usage: onnx_runtime_check.js ORT_DIR MODEL KIND IMAGES N PREDICT INFO');
  const [ortDir, model, kind, imagesFile, nText, predictFile, infoFile] = argv;
  if (kind !== 'probabilities' && kind !== 'logits') fail(`kind '${kind}'`);
  const ort = require(path.resolve(ortDir));
  const n = Number(nText);
  const info = JSON.parse(fs.readFileSync(infoFile, 'utf8'));
  const predictions = JSON.parse(fs.readFileSync(predictFile, 'utf8')).predictions;
  const classes = info.classes;
  if (predictions.length !== n) fail(`${predictFile} holds ${predictions.length} predictions, not ${n}`);

  // 1-2: the session and one batch.
  const session = await ort.InferenceSession.create(model, {executionProviders: ['cpu']});
  if (!sameJson(session.inputNames, ['images'])) fail(`inputs ${session.inputNames}`);
  if (!sameJson(session.outputNames, [kind])) fail(`outputs ${session.outputNames}, want ${kind}`);
  const {data, rows, cols} = readIdxImages(imagesFile, n);
  if (rows !== info.input.rows || cols !== info.input.cols) fail(`images are ${rows}x${cols}`);
  const feeds = {images: new ort.Tensor('float32', data, [n, 1, rows, cols])};
  const out = (await session.run(feeds))[kind];
  if (!sameJson(out.dims, [n, classes])) fail(`${kind} dims ${out.dims}, want [${n}, ${classes}]`);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const raw = Array.from(out.data.slice(i * classes, (i + 1) * classes));
    const got = kind === 'logits' ? softmax(raw) : raw;
    const want = new Array(classes).fill(null);
    for (const t of predictions[i].top) want[t.class] = t.probability;
    if (want.includes(null)) fail(`${predictFile}: image ${i} lacks some classes (use --top ${classes})`);
    for (let k = 0; k < classes; k++) worst = Math.max(worst, Math.abs(got[k] - want[k]));
    if (argmax(raw) !== predictions[i].class) {
      fail(`image ${i}: onnxruntime says class ${argmax(raw)}, mnist-cl ${predictions[i].class}`);
    }
  }
  if (!(worst < TOLERANCE)) fail(`max |onnxruntime - mnist-cl| ${worst} >= ${TOLERANCE}`);

  // 3: what the file says about the run.
  const {metadata: meta, doc} = readModelText(model);
  const want = {
    mnist_cl_version: info.mnist_cl_version,
    model: info.model.name,
    classes: String(classes),
    output: kind,
    seed: String(info.seed),
    epochs: String(info.epochs_done),
  };
  for (const [key, value] of Object.entries(want)) {
    if (meta[key] !== value) fail(`metadata ${key} = ${JSON.stringify(meta[key])}, want ${value}`);
  }
  if (!sameJson(JSON.parse(meta.class_names), info.class_names)) fail(`class_names ${meta.class_names}`);
  if (!sameJson(JSON.parse(meta.recipe), info.recipe)) fail(`recipe ${meta.recipe}`);
  if (!sameJson(JSON.parse(meta.data), info.data)) fail(`data ${meta.data}`);
  if (!sameJson(JSON.parse(meta.history), info.history)) fail('history differs from info\'s');
  if (info.test === null) fail(`${infoFile}: the checkpoint has no test metrics`);
  if (Number(meta.test_accuracy) !== info.test.accuracy || Number(meta.test_loss) !== info.test.loss ||
      Number(meta.test_samples) !== info.test.images) {
    fail(`test metrics ${meta.test_accuracy}/${meta.test_loss}/${meta.test_samples}, info says ` +
         `${JSON.stringify(info.test)}`);
  }
  const phrases = [`${info.model.name}, trained by mnist-cl ${info.mnist_cl_version}`,
                   `on ${info.data.train_images} training images of ${info.data.source}`,
                   `on ${info.test.images} test images`, `Output '${kind}'`];
  for (const phrase of phrases) {
    if (!doc.includes(phrase)) fail(`the graph's doc_string lacks '${phrase}': ${doc}`);
  }
  // The accuracy in 4 decimals (C's rounding of a tie may differ from toFixed's).
  const said = /Test accuracy ([0-9.]+)/.exec(doc);
  if (said === null || Math.abs(Number(said[1]) - info.test.accuracy) > 0.5e-4 + 1e-12) {
    fail(`the graph's doc_string does not give the test accuracy ${info.test.accuracy}: ${doc}`);
  }
  console.log(`onnx_runtime_check: ${path.basename(model)}: onnxruntime ${ort.env.versions.common}, ` +
              `${n} images, max |diff| ${worst.toExponential(2)} < ${TOLERANCE}, ` +
              `${Object.keys(meta).length} metadata entries match info`);
}

main(process.argv.slice(2)).catch((e) => fail(e.stack || String(e)));
