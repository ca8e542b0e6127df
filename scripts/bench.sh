#!/usr/bin/env bash
# Writes BENCHMARKS.md: training step, epoch time and allocation, float and integer inference,
# each benchmark run COUNT times (default 5); medians are reported. Usage: scripts/bench.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
go test -run '^$' -bench 'TrainStep|Inference' -benchmem -count "$count" ./train/ >>"$raw"
go test -run '^$' -bench 'Epoch' -benchtime 1x -count "$count" ./train/ >>"$raw"
go test -run '^$' -bench 'FP32Step|QATStep|QATStepLSQ' -count "$count" ./qat/ >>"$raw"
go test -run '^$' -bench 'Epochs' -benchtime 1x -count "$count" ./qat/ >>"$raw"
go test -run '^$' -bench 'Forward' -count "$count" ./crosstest/ >>"$raw"
go test -run '^$' -bench 'AccumulatePaths' -benchtime 200x -count "$count" ./qkernel/ >>"$raw"

# median of each metric per benchmark name
summary=$(awk '
/^Benchmark/ {
  name=$1; sub(/-[0-9]+$/, "", name)
  for (i = 3; i < NF; i += 2) { key = name "\t" $(i+1); vals[key] = vals[key] " " $i; if (!(key in seen)) { seen[key]=1; order[++n]=key } }
}
END {
  for (k = 1; k <= n; k++) {
    key = order[k]; m = split(substr(vals[key], 2), a, " ")
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    med = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    split(key, p, "\t")
    if (med >= 1000) printf "| %s | %s | %.0f | %d |\n", p[1], p[2], med, m
    else printf "| %s | %s | %.4g | %d |\n", p[1], p[2], med, m
  }
}' "$raw")

# ratio NUM DEN: median of NUM's metric over median of DEN's, both "name<TAB>unit" keys.
med() { echo "$summary" | awk -F' [|] ' -v n="$1" -v u="$2" '$1 == "| " n && $2 == u { print $3 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
qat=$(ratio "$(med BenchmarkQATStep ns/step)" "$(med BenchmarkFP32Step ns/step)")
lsq=$(ratio "$(med BenchmarkQATStepLSQ ns/step)" "$(med BenchmarkFP32Step ns/step)")
i8=$(ratio "$(med BenchmarkForward/w8a8-static samples/s)" "$(med BenchmarkForward/fp32 samples/s)")
i4=$(ratio "$(med BenchmarkForward/w4a4-static samples/s)" "$(med BenchmarkForward/fp32 samples/s)")
dyn=$(ratio "$(med BenchmarkForward/w8-dynamic samples/s)" "$(med BenchmarkForward/fp32 samples/s)")
qatEpoch=$(ratio "$(med BenchmarkEpochs/qat-w4a4 ns/op)" "$(med BenchmarkEpochs/fp32 ns/op)")
i8rt=$(ratio "$(med BenchmarkForward/w8a8-static samples/s)" "$(med BenchmarkForward/fp32-runtime samples/s)")
kernels=$(go run ./scripts/kernels.go)

tmp=$(mktemp BENCHMARKS.md.XXXX)
{
  echo "# Benchmarks"
  echo
  echo "Written by \`scripts/bench.sh $count\` on $(date -u +%Y-%m-%d). Each benchmark ran $count times;"
  echo "the table gives the median. The machine is shared and noisy: compare rows of one run, not runs."
  echo
  echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3-4)"
  echo "- Kernel paths (chosen at start; TINYQ_KERNEL picks another): $kernels. No cgo."
  echo
  echo "Ratios of medians from this run:"
  echo
  echo "- QAT W4A4 epoch / FP32 epoch: **${qatEpoch}x**; training step: ${qat}x (with LSQ: ${lsq}x)"
  echo "- Integer runtime throughput / FP32 inference through gorgonia's graph at batch 1000: **${i8}x** (W8A8 static), **${i4}x** (W4A4 static), ${dyn}x (W8 dynamic); W8A8 static / the runtime's FP32 model: ${i8rt}x"
  echo
  echo "What each benchmark measures: TrainStep and FP32Step, one FP32 training step at batch 128"
  echo "(784-256-128-10 MLP, Adam); Epoch, one epoch over 60,000 images, with the bytes it allocates;"
  echo "Epochs/fp32 and Epochs/qat-w4a4, one epoch of each driven the same way (the QAT ratio);"
  echo "QATStep, a W4A4 QAT step; Inference and Forward/fp32, float inference at batch 1000 through"
  echo "gorgonia's graph; Forward/fp32-runtime, the runtime's float model; Forward/w*, the integer"
  echo "runtime at batch 1000 on 1,000 MNIST test images (an untrained He-initialised model), and"
  echo "/bs1 one image per call; AccumulatePaths, the integer accumulation alone on every path this"
  echo "CPU supports, on synthetic inputs with 80% zeros scattered at random (MNIST's zeros cluster,"
  echo "so real images skip more)."
  echo
  echo "| benchmark | unit | median | runs |"
  echo "|---|---|---|---|"
  echo "$summary"
  echo
  echo "<details><summary>raw output</summary>"
  echo
  echo '```'
  grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$raw"
  echo '```'
  echo "</details>"
} >"$tmp"
chmod 644 "$tmp"
mv "$tmp" BENCHMARKS.md
echo "wrote BENCHMARKS.md"
