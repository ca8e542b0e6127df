#!/usr/bin/env python3
"""PyTorch's numbers for tinyq's benchmarks, for side-by-side comparison (never used by tests).

The same 784-256-128-10 ReLU MLP on the same MNIST files (read from the Go module cache, pixels
/255): one FP32 training epoch (Adam, lr 1e-3, batch 128, shuffled; timed after a warm-up
epoch) and float inference at batch 1000 (1,000 test images) and batch 1. Prints the median of
--runs runs of each.

Usage (Debian's python3-torch, python3-numpy, libopenblas0-pthread; PyTorch 1.13 here):

    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 python3 scripts/torch_bench.py --threads 1
    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 python3 scripts/torch_bench.py --threads 2

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


def model():
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))


def epoch(m, opt, x, y, batch=128):
    perm = torch.randperm(len(x))
    for lo in range(0, len(x), batch):
        idx = perm[lo:lo + batch]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(m(x[idx]), y[idx])
        loss.backward()
        opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    d = mnist_dir()
    x, y = load(d, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    tx, _ = load(d, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

    m = model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    epoch(m, opt, x, y)  # warm-up
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        epoch(m, opt, x, y)
        times.append(time.perf_counter() - t)

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
    print(f"torch {torch.__version__} threads {args.threads} OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '')}")
    print(f"fp32 epoch {statistics.median(times):.3f} s (runs {' '.join(f'{t:.3f}' for t in times)})")
    print(f"inference batch 1000 {statistics.median(rates):.0f} samples/s")
    print(f"inference batch 1 {statistics.median(rates1):.0f} samples/s")


if __name__ == "__main__":
    main()
