// ort_cnn_model.js writes issue 20's CNN as ONNX models for ONNX Runtime, with random
// weights (its speed does not depend on them), so that scripts/ort_bench.js can time ONNX
// Runtime on the same network as tinyq's BenchmarkCNN (infer): 1x28x28 -> Conv(16, 5x5,
// pad 2) -> ReLU -> MaxPool 2x2 -> Conv(32, 5x5, pad 2) -> ReLU -> MaxPool 2x2 -> Flatten
// (1568) -> Gemm 128 -> ReLU -> Gemm 10, NCHW, opset 13, input "x" [N, 1, 28, 28] float32.
//
//	node scripts/ort_cnn_model.js DIR
//
// writes DIR/cnn_fp32.onnx and DIR/cnn_int8_qdq.onnx: the int8 model in the QDQ format
// ONNX Runtime's quantization tool writes for static quantization (uint8 activations,
// zero point 0 after each ReLU; int8 symmetric weights, per output channel for the
// convolutions and per tensor for the Gemms; int32 biases), which ONNX Runtime fuses into
// QLinearConv, uint8 MaxPool and QGemm (checked with onnxruntime-node 1.31's optimized
// model: 2 QLinearConv, 2 QGemm, one QuantizeLinear of the input). A dependency-free
// protobuf writer: no onnx package.
'use strict';
const fs = require('fs');
const path = require('path');

// Protobuf wire format.
function varint(n) {
  n = BigInt.asUintN(64, BigInt(n));
  const out = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const vint = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const bytes = (field, b) => Buffer.concat([key(field, 2), varint(b.length), b]);
const str = (field, s) => bytes(field, Buffer.from(s, 'utf8'));
const msg = (field, parts) => bytes(field, Buffer.concat(parts));
const f32 = (field, v) => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v);
  return Buffer.concat([key(field, 5), b]);
};

// ONNX messages (field numbers from onnx.proto).
const FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6;
function tensor(name, type, dims, raw) {
  return Buffer.concat([...dims.map((d) => vint(1, d)), vint(2, type), str(8, name), bytes(9, raw)]);
}
function attrInts(name, vals) {
  return Buffer.concat([str(1, name), vint(20, 7), ...vals.map((v) => vint(8, v))]);
}
function attrInt(name, v) {
  return Buffer.concat([str(1, name), vint(20, 2), vint(3, v)]);
}
function node(op, inputs, outputs, attrs = []) {
  return Buffer.concat([...inputs.map((s) => str(1, s)), ...outputs.map((s) => str(2, s)), str(3, outputs[0] + '_' + op), str(4, op), ...attrs.map((a) => msg(5, [a]))]);
}
function valueInfo(name, dims) {
  const shape = dims.map((d) => msg(1, [typeof d === 'string' ? str(2, d) : vint(1, d)]));
  return Buffer.concat([str(1, name), msg(2, [msg(1, [vint(1, FLOAT), msg(2, shape)])])]);
}
function model(nodes, inits, input, output) {
  const graph = Buffer.concat([...nodes.map((n) => msg(1, [n])), str(2, 'cnn'), ...inits.map((t) => msg(5, [t])), msg(11, [input]), msg(12, [output])]);
  return Buffer.concat([vint(1, 7), str(2, 'tinyq scripts/ort_cnn_model.js'), msg(7, [graph]), msg(8, [vint(2, 13)])]);
}

// Deterministic random numbers (a linear congruential generator).
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const floats = (n, scale) => {
  const b = Buffer.alloc(4 * n);
  for (let i = 0; i < n; i++) b.writeFloatLE(scale * (rand() - 0.5), 4 * i);
  return b;
};
const f32s = (vals) => {
  const b = Buffer.alloc(4 * vals.length);
  vals.forEach((v, i) => b.writeFloatLE(v, 4 * i));
  return b;
};
const i32s = (vals) => {
  const b = Buffer.alloc(4 * vals.length);
  vals.forEach((v, i) => b.writeInt32LE(v, 4 * i));
  return b;
};

// The layers: [name, kind, weight dims (ONNX layouts), outputs].
const layers = [
  ['c1', 'conv', [16, 1, 5, 5], 16],
  ['c2', 'conv', [32, 16, 5, 5], 32],
  ['d1', 'gemm', [1568, 128], 128],
  ['d2', 'gemm', [128, 10], 10],
];
const count = (dims) => dims.reduce((a, b) => a * b, 1);
const convAttrs = () => [attrInts('kernel_shape', [5, 5]), attrInts('pads', [2, 2, 2, 2]), attrInts('strides', [1, 1])];
const poolAttrs = () => [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])];

function fp32Model() {
  const nodes = [], inits = [];
  let x = 'x';
  for (const [name, kind, dims, out] of layers) {
    inits.push(tensor(name + '_w', FLOAT, dims, floats(count(dims), 0.1)));
    inits.push(tensor(name + '_b', FLOAT, [out], floats(out, 0.1)));
    if (kind === 'conv') {
      nodes.push(node('Conv', [x, name + '_w', name + '_b'], [name + '_y'], convAttrs()));
      nodes.push(node('Relu', [name + '_y'], [name + '_r']));
      nodes.push(node('MaxPool', [name + '_r'], [name + '_p'], poolAttrs()));
      x = name + '_p';
      if (name === 'c2') {
        nodes.push(node('Flatten', [x], ['flat'], [attrInt('axis', 1)]));
        x = 'flat';
      }
    } else if (name === 'd1') {
      nodes.push(node('Gemm', [x, name + '_w', name + '_b'], [name + '_y']));
      nodes.push(node('Relu', [name + '_y'], [name + '_r']));
      x = name + '_r';
    } else {
      nodes.push(node('Gemm', [x, name + '_w', name + '_b'], ['logits']));
    }
  }
  return model(nodes, inits, valueInfo('x', ['N', 1, 28, 28]), valueInfo('logits', ['N', 10]));
}

function qdqModel() {
  const nodes = [], inits = [];
  const scalar = (name, type, v) => inits.push(tensor(name, type, [], type === FLOAT ? f32s([v]) : type === INT32 ? i32s([v]) : Buffer.from([v & 0xff])));
  // Activation quantizers: uint8, zero point 0 (inputs in [0, 1) and ReLU outputs).
  const actScale = { x: 1 / 255, c1: 1 / 16, c2: 1 / 16, d1: 1 / 16 };
  for (const [n, s] of Object.entries(actScale)) {
    scalar(n + '_s', FLOAT, s);
    scalar(n + '_z', UINT8, 0);
  }
  const qdq = (input, q, out) => {
    nodes.push(node('QuantizeLinear', [input, q + '_s', q + '_z'], [out + '_q']));
    nodes.push(node('DequantizeLinear', [out + '_q', q + '_s', q + '_z'], [out + '_dq']));
    return out + '_dq';
  };
  let x = qdq('x', 'x', 'in'), xq = 'x';
  for (const [name, kind, dims, out] of layers) {
    const w = Buffer.alloc(count(dims));
    for (let i = 0; i < w.length; i++) w.writeInt8(Math.floor(rand() * 255) - 127, i);
    const perChannel = kind === 'conv';
    const ws = perChannel ? Array.from({ length: out }, () => 0.1 / 127) : [0.1 / 127];
    inits.push(tensor(name + '_wq', INT8, dims, w));
    inits.push(tensor(name + '_ws', FLOAT, perChannel ? [out] : [], f32s(ws)));
    inits.push(tensor(name + '_wz', INT8, perChannel ? [out] : [], Buffer.alloc(ws.length)));
    nodes.push(node('DequantizeLinear', [name + '_wq', name + '_ws', name + '_wz'], [name + '_w'], perChannel ? [attrInt('axis', 0)] : []));
    const bs = ws.map((s) => s * actScale[xq]);
    inits.push(tensor(name + '_bq', INT32, [out], i32s(Array.from({ length: out }, () => Math.floor(rand() * 2000) - 1000))));
    inits.push(tensor(name + '_bs', FLOAT, perChannel ? [out] : [], f32s(bs)));
    inits.push(tensor(name + '_bz', INT32, perChannel ? [out] : [], i32s(bs.map(() => 0))));
    nodes.push(node('DequantizeLinear', [name + '_bq', name + '_bs', name + '_bz'], [name + '_b'], perChannel ? [attrInt('axis', 0)] : []));
    if (kind === 'conv') {
      nodes.push(node('Conv', [x, name + '_w', name + '_b'], [name + '_y'], convAttrs()));
      nodes.push(node('Relu', [name + '_y'], [name + '_r']));
      x = qdq(name + '_r', name, name + '_r');
      nodes.push(node('MaxPool', [x], [name + '_p'], poolAttrs()));
      x = qdq(name + '_p', name, name + '_p');
      if (name === 'c2') {
        nodes.push(node('Flatten', [x], ['flat'], [attrInt('axis', 1)]));
        x = qdq('flat', name, 'flat');
      }
    } else if (name === 'd1') {
      nodes.push(node('Gemm', [x, name + '_w', name + '_b'], [name + '_y']));
      nodes.push(node('Relu', [name + '_y'], [name + '_r']));
      x = qdq(name + '_r', name, name + '_r');
    } else {
      nodes.push(node('Gemm', [x, name + '_w', name + '_b'], ['logits']));
    }
    xq = name;
  }
  return model(nodes, inits, valueInfo('x', ['N', 1, 28, 28]), valueInfo('logits', ['N', 10]));
}

const dir = process.argv[2];
if (!dir) {
  console.error('ort_cnn_model: usage: node scripts/ort_cnn_model.js DIR');
  process.exit(2);
}
try {
  fs.writeFileSync(path.join(dir, 'cnn_fp32.onnx'), fp32Model());
  fs.writeFileSync(path.join(dir, 'cnn_int8_qdq.onnx'), qdqModel());
} catch (e) {
  console.error(`ort_cnn_model: ${dir}: ${e.message}`);
  process.exit(1);
}
console.log(`wrote ${path.join(dir, 'cnn_fp32.onnx')} and ${path.join(dir, 'cnn_int8_qdq.onnx')}`);
