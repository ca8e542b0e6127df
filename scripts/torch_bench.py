#!/usr/bin/env python3
"""PyTorch's numbers for tinyq's benchmarks, for side-by-side comparison (never used by tests).

The same network as tinyq's on the same MNIST files (read from the Go module cache, pixels
/255): --model mlp (default), the 784-256-128-10 ReLU MLP; --model cnn, issue 20's CNN
(conv 16 5x5 pad 2, ReLU, max pool 2, conv 32 5x5 pad 2, ReLU, max pool 2, flatten 1568,
dense 128, ReLU, dense 10; NCHW, PyTorch's native layout). One FP32 training epoch (Adam,
lr 1e-3, batch 128, shuffled; timed after a warm-up: a whole epoch for the MLP, --warmup
batches for the CNN) and float inference at batch 1000 (1,000 test images) and batch 1.
Prints the median of --runs runs of each, with the process's CPU seconds per epoch (user +
system of every thread: the figure to compare on a loaded machine).

Usage (Debian's python3-torch, python3-numpy, libopenblas0-pthread; PyTorch 1.13 here; it is
/usr/bin/python3, not a python3 of pyenv's earlier on PATH):

    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/torch_bench.py --threads 1
    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/torch_bench.py --threads 2
    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/torch_bench.py --model cnn --threads 2

PyTorch's default on a 2-core machine (2 threads, OpenBLAS also threaded) oversubscribes the
cores; the two settings above are its best. Debian's OpenBLAS 0.3.21 does not recognise the
benchmark machine's CPU and falls back to its generic "Prescott" kernels (OPENBLAS_VERBOSE=2
prints the core), 2-4x slower: OPENBLAS_CORETYPE=SkylakeX (or Cooperlake) selects its
AVX-512 kernels.
"""
import argparse
import glob
import gzip
import os
import statistics
import subprocess
import time

import numpy as np
import torch


def mnist_dir():
    modcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    dirs = sorted(glob.glob(os.path.join(modcache, "github.com/petar/!go!m!n!i!s!t@*/data")))
    if not dirs:
        raise SystemExit("MNIST not in the Go module cache: run go run ./cmd/mnist once")
    return dirs[-1]


def load(d, images, labels):
    with gzip.open(os.path.join(d, images)) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
    with gzip.open(os.path.join(d, labels)) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def model(kind):
    torch.manual_seed(1)
    if kind == "cnn":
        return torch.nn.Sequential(
            torch.nn.Unflatten(1, (1, 28, 28)),
            torch.nn.Conv2d(1, 16, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(1568, 128), torch.nn.ReLU(),
            torch.nn.Linear(128, 10))
    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))


def blas():
    """The BLAS library PyTorch's matrix products run on (Debian's torch links libblas.so.3,
    whichever package provides it), from this process's memory map after a product."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and line.split()[-1].startswith("/")}
    return sorted(os.path.realpath(p) for p in libs)


def epoch(m, opt, x, y, batch=128, limit=None):
    perm = torch.randperm(len(x))
    end = len(x) if limit is None else min(len(x), limit * batch)
    for lo in range(0, end, batch):
        idx = perm[lo:lo + batch]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(m(x[idx]), y[idx])
        loss.backward()
        opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    ap.add_argument("--warmup", type=int, default=20, help="CNN: warm-up batches before the timed epochs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    libs = blas()
    if not any("openblas" in p for p in libs):
        # Without libopenblas0-pthread, libblas.so.3 is Debian's reference BLAS: PyTorch's
        # dense layers run 10-40x slower, and every figure would understate PyTorch.
        raise SystemExit(f"torch_bench.py: PyTorch's BLAS is {libs or 'unknown'}, not OpenBLAS: install libopenblas0-pthread")
    d = mnist_dir()
    x, y = load(d, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    tx, _ = load(d, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

    m = model(args.model)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    epoch(m, opt, x, y, limit=args.warmup if args.model == "cnn" else None)  # warm-up
    times, cpu = [], []
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.process_time()
        epoch(m, opt, x, y)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)

    m.eval()
    batch = tx[:1000].contiguous()
    with torch.no_grad():
        for _ in range(20):
            m(batch)
        rates = []
        for _ in range(args.runs):
            n, t = 0, time.perf_counter()
            while time.perf_counter() - t < 0.5:
                m(batch)
                n += 1
            rates.append(n * 1000 / (time.perf_counter() - t))
        rates1 = []
        for _ in range(args.runs):
            n, t = 0, time.perf_counter()
            while time.perf_counter() - t < 0.5:
                m(batch[n % 1000:n % 1000 + 1])
                n += 1
            rates1.append(n / (time.perf_counter() - t))
    print(f"torch {torch.__version__} model {args.model} threads {args.threads} OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '')} blas {' '.join(libs)}")
    print(f"fp32 epoch {statistics.median(times):.3f} s (runs {' '.join(f'{t:.3f}' for t in times)})")
    print(f"fp32 epoch cpu {statistics.median(cpu):.3f} s (runs {' '.join(f'{t:.3f}' for t in cpu)})")
    print(f"inference batch 1000 {statistics.median(rates):.0f} samples/s")
    print(f"inference batch 1 {statistics.median(rates1):.0f} samples/s")


if __name__ == "__main__":
    main()
