#!/usr/bin/python3
"""Makes the PyTorch fixtures of tinyq's onnx tests: small models trained on MNIST by PyTorch,
exported by torch.onnx.export, with PyTorch's own outputs recorded beside them.

    /usr/bin/python3 onnx/testdata/make_fixtures.py MNIST_DIR [OUT_DIR]

MNIST_DIR holds the four IDX files (train-images-idx3-ubyte.gz, ...), for example the GoMNIST
module's data directory ($(go env GOMODCACHE)/github.com/petar/!go!m!n!i!s!t@*/data). Made with
Debian 12's python3-torch 1.13.1 and python3-onnx 1.12.0, on the CPU, one thread, seed 0.

For each model NAME it writes NAME.onnx and NAME.json:
  - "pixels": the first 32 test images' bytes (32 x 784, row-major), base64;
  - "logits": PyTorch's float32 logits of those images ([32][10]);
  - "predictions": PyTorch's class for each of the 10,000 test images, as a string of digits;
  - "correct" and "accuracy": PyTorch's test accuracy (images right, percent);
  - "normalize" (mlp_norm only): [mean, std] of the inputs (pixel/255 - mean)/std it was
    trained and recorded on (torchvision's Normalize((0.1307,), (0.3081,))).
Inputs are otherwise pixel/255 (tinyq's default preprocessing), shaped [N, 1, 28, 28].
"""
import base64
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, rows, cols)
    return np.frombuffer(data, np.uint8, offset=8)


class MatMulMLP(nn.Module):
    """The MLP written with explicit reshape, matmul and add: exports Reshape, MatMul and Add
    instead of Flatten and Gemm."""

    def __init__(self, mlp):
        super().__init__()
        self.mlp = mlp

    def forward(self, x):
        x = x.reshape(-1, 784)
        linears = [m for m in self.mlp if isinstance(m, nn.Linear)]
        for i, l in enumerate(linears):
            x = torch.matmul(x, l.weight.t()) + l.bias
            if i < len(linears) - 1:
                x = torch.relu(x)
        return x


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10))


def cnn(batch_norm):
    """A small CNN of the layers tinyq runs: Conv(8, 5x5, pad 2) [BatchNorm] ReLU MaxPool 2x2,
    Conv(16, 5x5, pad 2) [BatchNorm] ReLU MaxPool 2x2, Flatten (784 = 16x7x7, NCHW order),
    Linear 32, ReLU, Linear 10."""
    def block(cin, cout):
        ls = [nn.Conv2d(cin, cout, 5, padding=2)]
        if batch_norm:
            ls.append(nn.BatchNorm2d(cout))
        return ls + [nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*block(1, 8), *block(8, 16), nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def train(model, x, y, epochs=2, batch=64):
    """Trains model (built right after torch.manual_seed(0)) with Adam on shuffled batches."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            j = perm[i:i + batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[j]), y[j])
            loss.backward()
            opt.step()
    model.eval()
    return model


def record(name, model, export_model, opset, xt, yt, out, pixels, preserve=False, normalize=None):
    if normalize:
        xt = (xt - normalize[0]) / normalize[1]
    with torch.no_grad():
        logits = torch.cat([model(xt[i:i + 1000]) for i in range(0, len(xt), 1000)])
    pred = logits.argmax(1)
    correct = int((pred == yt).sum())
    path = os.path.join(out, name + ".onnx")
    # PRESERVE keeps BatchNormalization nodes (in inference mode, the model is in eval()):
    # the default, EVAL, folds them into the convolutions before export.
    mode = torch.onnx.TrainingMode.PRESERVE if preserve else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(export_model, xt[:1], path, opset_version=opset, input_names=["image"], training=mode,
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    rec = {
        "model": name, "opset": opset, "torch": torch.__version__,
        "pixels": base64.b64encode(pixels[:32].tobytes()).decode(),
        "logits": [[float(v) for v in row] for row in logits[:32].numpy()],
        "predictions": "".join(str(int(p)) for p in pred),
        "correct": correct, "accuracy": 100.0 * correct / len(yt),
    }
    if normalize:
        rec["normalize"] = list(normalize)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(rec, f)
    print(f"{name}: {correct}/{len(yt)} = {100.0 * correct / len(yt):.2f}% (opset {opset})")


def main():
    data = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
    x = torch.from_numpy(idx(os.path.join(data, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255)
    y = torch.from_numpy(idx(os.path.join(data, "train-labels-idx1-ubyte.gz")).astype(np.int64))
    pixels = idx(os.path.join(data, "t10k-images-idx3-ubyte.gz"))
    xt = torch.from_numpy(pixels.astype(np.float32) / 255)
    yt = torch.from_numpy(idx(os.path.join(data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64))
    which = sys.argv[3].split(",") if len(sys.argv) > 3 else ["mlp", "cnn"]
    if "mlp" in which:
        torch.manual_seed(0)
        m = train(mlp(), x, y)
        record("mlp", m, m, 13, xt, yt, out, pixels)
        record("mlp_matmul", m, MatMulMLP(m), 17, xt, yt, out, pixels)
        # torchvision's MNIST normalization, applied to the data (outside the model), as the
        # PyTorch MNIST example does.
        norm = (0.1307, 0.3081)
        torch.manual_seed(0)
        m = train(mlp(), (x - norm[0]) / norm[1], y)
        record("mlp_norm", m, m, 13, xt, yt, out, pixels, normalize=norm)
    if "cnn" in which:
        torch.manual_seed(0)
        m = train(cnn(False), x, y)
        record("cnn", m, m, 13, xt, yt, out, pixels)
        torch.manual_seed(0)
        m = train(cnn(True), x, y)
        record("cnn_bn", m, m, 17, xt, yt, out, pixels, preserve=True)


if __name__ == "__main__":
    main()
