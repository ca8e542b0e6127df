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
go test -run '^$' -bench 'Forward' -count "$count" ./ptq/ >>"$raw"
go test -run '^$' -bench 'MLP' -count "$count" ./qkernel/ >>"$raw" || true

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
    split(key, p, "\t"); printf "| %s | %s | %.6g | %d |\n", p[1], p[2], med, m
  }
}' "$raw")

tmp=$(mktemp BENCHMARKS.md.XXXX)
{
  echo "# Benchmarks"
  echo
  echo "Written by \`scripts/bench.sh $count\` on $(date -u +%Y-%m-%d). Each benchmark ran $count times;"
  echo "the table gives the median. The machine is shared and noisy: compare rows of one run, not runs."
  echo
  echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3-4)"
  echo "- Pure Go (CGO_ENABLED default, gonum's Go BLAS behind gorgonia)."
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
mv "$tmp" BENCHMARKS.md
echo "wrote BENCHMARKS.md"
