// ort_bench.js times an ONNX model in ONNX Runtime (onnxruntime-node), for side-by-side
// speed figures with tinyq's BenchmarkCNN (go test ./infer -bench CNN): images per second
// at a batch size, on a number of intra-op threads, median of several timed runs after
// warm-up. The input is random pixels in [0, 1) of the model's first input, shaped
// [batch, ...SHAPE].
//
// Usage (onnxruntime-node installed with `npm install --prefix DIR onnxruntime-node`):
//
//	NODE_PATH=DIR/node_modules node scripts/ort_bench.js MODEL.onnx [BATCH=1000] [THREADS=2] [SHAPE=1,28,28] [RUNS=7]
//
// It prints one line: model, batch, threads, the median images/s and the median ms per run.
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [model, batchArg, threadsArg, shapeArg, runsArg] = process.argv.slice(2);
  if (!model) {
    console.error('ort_bench: usage: node scripts/ort_bench.js MODEL.onnx [BATCH] [THREADS] [SHAPE] [RUNS]');
    process.exit(2);
  }
  const batch = parseInt(batchArg || '1000', 10);
  const threads = parseInt(threadsArg || '2', 10);
  const shape = (shapeArg || '1,28,28').split(',').map((s) => parseInt(s, 10));
  const runs = parseInt(runsArg || '7', 10);
  if (!(batch > 0) || !(threads > 0) || !(runs > 0) || shape.some((d) => !(d > 0))) {
    console.error(`ort_bench: batch ${batchArg}, threads ${threadsArg}, shape ${shapeArg}, runs ${runsArg}: want positive integers`);
    process.exit(2);
  }
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const per = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(batch * per);
  for (let i = 0; i < x.length; i++) x[i] = Math.random();
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [batch, ...shape]) };
  // Warm-up: at least 1,000 images or 3 runs.
  for (let i = 0; i < Math.max(3, Math.ceil(1000 / batch)); i++) await session.run(feeds);
  // Each timed run covers at least 1,000 images (batch 1: 1,000 calls).
  const calls = Math.max(1, Math.ceil(1000 / batch));
  const rates = [];
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    for (let c = 0; c < calls; c++) await session.run(feeds);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push((calls * batch) / s);
  }
  rates.sort((a, b) => a - b);
  const med = rates[Math.floor(rates.length / 2)];
  console.log(`${model} batch ${batch} threads ${threads}: ${med.toFixed(0)} images/s (median of ${runs}; ${(1000 * calls * batch / med / calls).toFixed(3)} ms per call)`);
}

main().catch((e) => {
  console.error(`ort_bench: ${e.message}`);
  process.exit(1);
});
