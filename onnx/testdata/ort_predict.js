// Runs an ONNX model in ONNX Runtime (the npm package onnxruntime-node) and prints the
// predicted class of each input, one digit per image on one line. tinyq's onnx tests run it
// to compare ONNX Runtime's predictions with tinyq's runtime.
//
//   NODE_PATH=DIR/node_modules node ort_predict.js MODEL.onnx INPUTS.f32 N BATCH [LOGITS.f32]
//
// INPUTS.f32 holds N inputs as little-endian float32, each the model's flat input (already
// preprocessed, e.g. pixel/255), fed as [batch, 1, H, W] of the model's input shape in
// batches of BATCH. If LOGITS.f32 is given, the logits are written there as float32.
// onnxruntime-node installs without its scripts: npm install --ignore-scripts onnxruntime-node
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inputs, nArg, batchArg, logitsPath] = process.argv.slice(2);
  const n = parseInt(nArg, 10), batch = parseInt(batchArg, 10);
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  const session = await ort.InferenceSession.create(model, opts);
  const buf = fs.readFileSync(inputs);
  const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const size = x.length / n;
  const input = session.inputNames[0], output = session.outputNames[0];
  let shape = null;
  if (Array.isArray(session.inputMetadata) && session.inputMetadata[0] && session.inputMetadata[0].shape) {
    shape = session.inputMetadata[0].shape.slice(1);
  }
  if (!shape || shape.some((d) => typeof d !== 'number')) shape = [size];
  let classes = 0, out = '';
  const all = [];
  for (let lo = 0; lo < n; lo += batch) {
    const rows = Math.min(batch, n - lo);
    const t = new ort.Tensor('float32', x.subarray(lo * size, (lo + rows) * size), [rows, ...shape]);
    const res = await session.run({ [input]: t });
    const y = res[output].data;
    classes = y.length / rows;
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (y[r * classes + c] > y[r * classes + best]) best = c;
      out += String(best);
    }
    if (logitsPath) all.push(Float32Array.from(y));
  }
  if (logitsPath) {
    const flat = new Float32Array(n * classes);
    let k = 0;
    for (const a of all) { flat.set(a, k); k += a.length; }
    fs.writeFileSync(logitsPath, Buffer.from(flat.buffer));
  }
  process.stdout.write(out + '\n');
}

main().catch((e) => { process.stderr.write(String(e && e.message || e) + '\n'); process.exit(1); });
