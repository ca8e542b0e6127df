#!/usr/bin/env bash
# Writes BENCHMARKS.md: training step, epoch time and allocation, float and integer inference,
# each benchmark run COUNT times (default 5); medians are reported. Not run by CI.
#
# Usage: scripts/bench.sh [COUNT] [all|mlp|cnn]
#
# The second argument picks the part to measure (default all): mlp, the MLP's benchmarks;
# cnn, the side-by-side section of issue 20's CNN against PyTorch and ONNX Runtime (it takes
# longest: CNN_COUNT, default 3, timed epochs of each training variant and of PyTorch at
# each thread count of TORCH_THREADS, default "1 2"; CNN_COUNT rounds of
# scripts/cnn_speed.sh; one `-arch cnn -qat` run of cmd/mnist for its peak RSS with
# -epochs RSS_EPOCHS, default 1). The part not measured is kept from the BENCHMARKS.md in
# place. The CNN part needs PyTorch in TORCH_PYTHON (default /usr/bin/python3, Debian's
# python3-torch; see scripts/torch_bench.py) and onnxruntime-node in TINYQ_ONNXRUNTIME (see
# scripts/cnn_speed.sh); without either, its rows say so.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}
part=${2:-all}
case $part in
all | mlp | cnn) ;;
*)
  echo "bench.sh: part $part, want all, mlp or cnn" >&2
  exit 2
  ;;
esac
if [ "$part" != all ] && ! grep -q '^<!-- cnn -->$' BENCHMARKS.md 2>/dev/null; then
  echo "bench.sh: BENCHMARKS.md has no CNN section marker to keep the other part: run scripts/bench.sh $count all" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
raw=$work/raw
: >"$raw"

# median of each metric per benchmark name, as table rows
summarize() {
  awk '
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
}' "$1"
}
# med SUMMARY NAME UNIT: the median of NAME's metric UNIT in SUMMARY (summarize's rows).
med() { echo "$1" | awk -F' [|] ' -v n="$2" -v u="$3" '$1 == "| " n && $2 == u { print $3 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
machine() {
  echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3-4)"
}

# cnn_section prints BENCHMARKS.md's CNN section (issue 20's targets), measured now.
cnn_section() {
  local n=${CNN_COUNT:-3} threads=${TORCH_THREADS:-1 2} py=${TORCH_PYTHON:-/usr/bin/python3} rssEpochs=${RSS_EPOCHS:-1}
  local craw=$work/cnn_raw start load0 torchv="" t r
  : >"$craw"
  start=$(date -u '+%Y-%m-%d %H:%M')
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  go test -c -o "$work/qat.test" ./qat/
  if ! "$py" -c 'import torch' 2>/dev/null; then
    echo "bench.sh: no PyTorch in $py (TORCH_PYTHON): the CNN section leaves it out" >&2
    threads=""
  fi
  # Rounds alternate tinyq and PyTorch so that both see the same load.
  for r in $(seq "$n"); do
    echo "bench.sh: CNN training round $r of $n" >&2
    "$work/qat.test" -test.run '^$' -test.bench 'CNNEpochs' -test.benchtime 1x >>"$craw"
    for t in $threads; do
      OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 "$py" scripts/torch_bench.py --model cnn --threads "$t" --runs 1 >"$work/torch" 2>&1 || {
        cat "$work/torch" >&2
        return 1
      }
      torchv=$(awk '/^torch/ { print $2 }' "$work/torch")
      awk -v t="$t" '
        /^fp32 epoch [0-9]/ { wall = $3 }
        /^fp32 epoch cpu/ { cpu = $4 }
        /^inference batch 1000 / { b1000 = $4 }
        /^inference batch 1 / { b1 = $4 }
        END {
          printf "BenchmarkTorchCNNEpoch/threads%s 1 %.0f ns/op %s cpu-s/epoch\n", t, wall * 1e9, cpu
          printf "BenchmarkTorchCNN/fp32/batch1000/threads%s 1 %s images/s\n", t, b1000
          printf "BenchmarkTorchCNN/fp32/batch1/threads%s 1 %s images/s\n", t, b1
        }' "$work/torch" >>"$craw"
    done
  done
  # PyTorch's best setting, by wall time and by CPU time (with 2 threads on a loaded machine
  # its OpenMP workers spin waiting for each other, which counts as CPU time).
  local summ best="" bestWall=0 bestC="" bestCPU=0 w c
  summ=$(summarize "$craw")
  for t in $threads; do
    w=$(med "$summ" "BenchmarkTorchCNNEpoch/threads$t" ns/op)
    c=$(med "$summ" "BenchmarkTorchCNNEpoch/threads$t" cpu-s/epoch)
    if [ -z "$best" ] || awk -v a="$w" -v b="$bestWall" 'BEGIN { exit !(a < b) }'; then best=$t bestWall=$w; fi
    if [ -z "$bestC" ] || awk -v a="$c" -v b="$bestCPU" 'BEGIN { exit !(a < b) }'; then bestC=$t bestCPU=$c; fi
  done
  local fw fc qw8 qc8 qw4 qc4 tw="" tc=""
  fw=$(med "$summ" BenchmarkCNNEpochs/fp32 ns/op)
  fc=$(med "$summ" BenchmarkCNNEpochs/fp32 cpu-s/epoch)
  qw8=$(med "$summ" BenchmarkCNNEpochs/qat-w8a8 ns/op)
  qc8=$(med "$summ" BenchmarkCNNEpochs/qat-w8a8 cpu-s/epoch)
  qw4=$(med "$summ" BenchmarkCNNEpochs/qat-w4a4 ns/op)
  qc4=$(med "$summ" BenchmarkCNNEpochs/qat-w4a4 cpu-s/epoch)
  if [ -n "$best" ]; then
    tw=$bestWall tc=$bestCPU
  fi

  # Inference against ONNX Runtime (scripts/cnn_speed.sh: its own alternating rounds).
  local speed=""
  if [ -n "${TINYQ_ONNXRUNTIME:-}" ]; then
    echo "bench.sh: CNN inference, $n rounds" >&2
    speed=$(scripts/cnn_speed.sh "$n")
  else
    echo "bench.sh: TINYQ_ONNXRUNTIME unset: the CNN section leaves ONNX Runtime out" >&2
  fi
  # sp MODEL COLUMN: cnn_speed.sh's median (2 tinyq, 3 ONNX Runtime, 4 ratio) for MODEL.
  sp() { echo "$speed" | awk -v m="$1" -v c="$2" '$1 " " $2 == m { print $(c + 1) }'; }

  # Peak RSS of a whole cmd/mnist run (its own binary, not go run's).
  echo "bench.sh: peak RSS of mnist -arch cnn -qat -quiet -epochs $rssEpochs" >&2
  go build -o "$work/mnist" ./cmd/mnist
  local rssArgs="-arch cnn -qat -quiet -epochs $rssEpochs" rss secs
  rss="" secs=""
  if /usr/bin/time -f '%M %e' -o "$work/rss" "$work/mnist" $rssArgs >"$work/mnist.out"; then
    read -r rss secs <"$work/rss"
  else
    echo "bench.sh: mnist $rssArgs failed:" >&2
    cat "$work/rss" >&2
  fi

  # row LABEL TINYQ REF RATIO TARGET: a table row; TARGET is "<= x" or ">= x" (met: yes/no).
  row() {
    local met
    met=$(awk -v r="$4" -v t="$5" 'BEGIN { split(t, p, " "); if (t == "-") print "-"; else if (r == "n/a" || r == "") print "n/a"; else if (p[1] == "<=") print (r + 0 <= p[2] + 0) ? "yes" : "**no**"; else print (r + 0 >= p[2] + 0) ? "yes" : "**no**" }')
    echo "| $1 | $2 | $3 | ${4:-n/a} | $5 | $met |"
  }
  s() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { if (v == "") print "n/a"; else printf "%.1f", v / d }'; }
  echo "<!-- cnn -->"
  echo "## Issue 20's CNN side by side"
  echo
  echo "Written by \`CNN_COUNT=$n TORCH_THREADS=\"${TORCH_THREADS:-1 2}\" RSS_EPOCHS=$rssEpochs scripts/bench.sh $count $part\` from $start"
  echo "to $(date -u '+%H:%M') UTC. Load average (1, 5, 15 minutes) at the start $load0, at the end"
  echo "$(cut -d' ' -f1-3 /proc/loadavg): the machine is shared, so wall times are inflated; the process's CPU"
  echo "seconds (user + system, all threads) are the steadier figure for the training epochs."
  echo
  machine
  echo "- The network: conv 16 5x5 pad 2, ReLU, max pool 2, conv 32 5x5 pad 2, ReLU, max pool 2,"
  echo "  flatten 1568, dense 128, ReLU, dense 10 (3.02M multiply-adds per image); batch 128, Adam lr 1e-3,"
  echo "  60,000 MNIST training images, no translations; each epoch timed after 10 (tinyq) or 20"
  echo "  (PyTorch) warm-up batches; $n rounds, alternating tinyq and PyTorch; medians."
  echo "- tinyq: \`go test ./qat -bench CNNEpochs -benchtime 1x\` (GOMAXPROCS ${GOMAXPROCS:-unset: all $(nproc) cores});"
  echo "  QAT is Spec(b, b) (observed ranges, cmd/mnist's recipe at 8 and 4 bits) on the same network."
  echo "- PyTorch ${torchv:-(not found)}: \`OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 $py scripts/torch_bench.py --model cnn --threads T\`"
  echo "  for T in ${threads:-(none)}; its best setting here: ${best:+--threads $best} by median wall time, ${bestC:+--threads $bestC} by"
  echo "  median CPU time (each ratio below is against PyTorch's best in that measure)."
  echo "- Inference: \`TINYQ_ONNXRUNTIME=DIR scripts/cnn_speed.sh $n\` (infer's BenchmarkCNN against"
  echo "  onnxruntime-node on ${ORT_THREADS:-2} intra-op threads, fp32 and the int8 QDQ model)."
  echo "- Peak RSS: \`/usr/bin/time -f %M\` of the built \`mnist $rssArgs\` ($(s "$secs") s wall$([ "$rssEpochs" != 5 ] && echo "; -epochs $rssEpochs instead of the default 5 to keep the script short: the peak is set by one epoch's buffers, not the number of epochs"))."
  echo
  echo "| measure | tinyq | reference | ratio | target | met |"
  echo "|---|---|---|---|---|---|"
  row "FP32 epoch, wall s (PyTorch ${best:+--threads $best})" "$(s "$fw" 1e9)" "$(s "$tw" 1e9)" "$(ratio "$fw" "$tw")" "<= 0.75"
  row "FP32 epoch, CPU s (PyTorch ${bestC:+--threads $bestC})" "$(s "$fc")" "$(s "$tc")" "$(ratio "$fc" "$tc")" "<= 0.75"
  row "QAT W8A8 epoch / FP32 epoch, wall s" "$(s "$qw8" 1e9)" "$(s "$fw" 1e9)" "$(ratio "$qw8" "$fw")" "<= 1.5"
  row "QAT W8A8 epoch / FP32 epoch, CPU s" "$(s "$qc8")" "$(s "$fc")" "$(ratio "$qc8" "$fc")" "<= 1.5"
  row "QAT W4A4 epoch / FP32 epoch, wall s" "$(s "$qw4" 1e9)" "$(s "$fw" 1e9)" "$(ratio "$qw4" "$fw")" "<= 1.5"
  row "QAT W4A4 epoch / FP32 epoch, CPU s" "$(s "$qc4")" "$(s "$fc")" "$(ratio "$qc4" "$fc")" "<= 1.5"
  row "int8 batch 1000, images/s (ONNX Runtime int8 QDQ)" "$(sp "int8 batch1000" 2)" "$(sp "int8 batch1000" 3)" "$(sp "int8 batch1000" 4)" ">= 2"
  row "int8 batch 1, images/s (ONNX Runtime int8 QDQ)" "$(sp "int8 batch1" 2)" "$(sp "int8 batch1" 3)" "$(sp "int8 batch1" 4)" ">= 2"
  row "fp32 batch 1000, images/s (ONNX Runtime fp32)" "$(sp "fp32 batch1000" 2)" "$(sp "fp32 batch1000" 3)" "$(sp "fp32 batch1000" 4)" ">= 1"
  row "fp32 batch 1, images/s (ONNX Runtime fp32)" "$(sp "fp32 batch1" 2)" "$(sp "fp32 batch1" 3)" "$(sp "fp32 batch1" 4)" "-"
  if [ -n "$best" ]; then
    local p1000 p1
    p1000=$(med "$summ" "BenchmarkTorchCNN/fp32/batch1000/threads$best" images/s)
    p1=$(med "$summ" "BenchmarkTorchCNN/fp32/batch1/threads$best" images/s)
    row "fp32 batch 1000, images/s (PyTorch --threads $best)" "$(sp "fp32 batch1000" 2)" "$p1000" "$(ratio "$(sp "fp32 batch1000" 2)" "$p1000")" "-"
    row "fp32 batch 1, images/s (PyTorch --threads $best)" "$(sp "fp32 batch1" 2)" "$p1" "$(ratio "$(sp "fp32 batch1" 2)" "$p1")" "-"
  fi
  row "peak RSS of \`mnist $rssArgs\`, MiB (1.5 GiB = 1536 MiB)" "$(s "$rss" 1024)" "-" "$(s "$rss" 1024)" "<= 1536"
  echo
  echo "Medians of every measurement (PyTorch's as pseudo-benchmarks: BenchmarkTorchCNNEpoch is its"
  echo "epoch; BenchmarkTorchCNN its inference, fp32):"
  echo
  echo "| benchmark | unit | median | runs |"
  echo "|---|---|---|---|"
  echo "$summ"
  echo
  echo "<details><summary>raw output</summary>"
  echo
  echo '```'
  grep -E '^Benchmark' "$craw"
  if [ -n "$speed" ]; then
    echo
    echo "$speed"
  fi
  echo '```'
  echo "</details>"
}

if [ "$part" != cnn ]; then
go test -run '^$' -bench 'TrainStep|Inference' -benchmem -count "$count" ./train/ >>"$raw"
go test -run '^$' -bench '^BenchmarkEpoch$' -benchtime 1x -count "$count" ./train/ >>"$raw"
go test -run '^$' -bench 'FP32Step|QATStep|QATStepLSQ' -count "$count" ./qat/ >>"$raw"
go test -run '^$' -bench '^BenchmarkEpochs$' -benchtime 1x -count "$count" ./qat/ >>"$raw"
go test -run '^$' -bench 'Forward' -count "$count" ./crosstest/ >>"$raw"
go test -run '^$' -bench 'AccumulatePaths' -benchtime 200x -count "$count" ./qkernel/ >>"$raw"

summary=$(summarize "$raw")
qat=$(ratio "$(med "$summary" BenchmarkQATStep ns/step)" "$(med "$summary" BenchmarkFP32Step ns/step)")
lsq=$(ratio "$(med "$summary" BenchmarkQATStepLSQ ns/step)" "$(med "$summary" BenchmarkFP32Step ns/step)")
i8=$(ratio "$(med "$summary" BenchmarkForward/w8a8-static samples/s)" "$(med "$summary" BenchmarkForward/fp32 samples/s)")
i4=$(ratio "$(med "$summary" BenchmarkForward/w4a4-static samples/s)" "$(med "$summary" BenchmarkForward/fp32 samples/s)")
dyn=$(ratio "$(med "$summary" BenchmarkForward/w8-dynamic samples/s)" "$(med "$summary" BenchmarkForward/fp32 samples/s)")
qatEpoch=$(ratio "$(med "$summary" BenchmarkEpochs/qat-w4a4 ns/op)" "$(med "$summary" BenchmarkEpochs/fp32 ns/op)")
i8rt=$(ratio "$(med "$summary" BenchmarkForward/w8a8-static samples/s)" "$(med "$summary" BenchmarkForward/fp32-runtime samples/s)")
kernels=$(go run ./scripts/kernels.go)

{
  echo "# Benchmarks"
  echo
  echo "Written by \`scripts/bench.sh $count\` on $(date -u +%Y-%m-%d). Each benchmark ran $count times;"
  echo "the table gives the median. The machine is shared and noisy: compare rows of one run, not runs."
  echo
  machine
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
  echo
} >"$work/mlp.md"
else
  sed '/^<!-- cnn -->$/,$d' BENCHMARKS.md >"$work/mlp.md"
fi

if [ "$part" != mlp ]; then
  cnn_section >"$work/cnn.md"
else
  sed -n '/^<!-- cnn -->$/,$p' BENCHMARKS.md >"$work/cnn.md"
fi

tmp=$(mktemp BENCHMARKS.md.XXXX)
cat "$work/mlp.md" "$work/cnn.md" >"$tmp"
chmod 644 "$tmp"
mv "$tmp" BENCHMARKS.md
echo "wrote BENCHMARKS.md"
