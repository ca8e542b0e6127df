#!/usr/bin/env bash
# Side-by-side inference speed of issue 20's CNN: tinyq (infer's BenchmarkCNN: fp32 and
# W8A8 static, batch 1000 and 1) and ONNX Runtime (onnxruntime-node, 2 intra-op threads)
# on the same network (scripts/ort_cnn_model.js: fp32 and int8 QDQ), alternating ROUNDS
# times so that both see the same load; prints the median images/s of each and tinyq's
# ratio to ONNX Runtime.
#
# Usage: TINYQ_ONNXRUNTIME=DIR scripts/cnn_speed.sh [ROUNDS]   (DIR/node_modules holds
# onnxruntime-node: npm install --prefix DIR onnxruntime-node; GOMAXPROCS as for tinyq)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
ort=${TINYQ_ONNXRUNTIME:?cnn_speed.sh: set TINYQ_ONNXRUNTIME to the directory whose node_modules holds onnxruntime-node}
threads=${ORT_THREADS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node scripts/ort_cnn_model.js "$tmp" >/dev/null
go test -c -o "$tmp/infer.test" ./infer
for _ in $(seq "$rounds"); do
  "$tmp/infer.test" -test.run '^$' -test.bench 'BenchmarkCNN' -test.benchtime 1s |
    awk '/images\/s/ { split($1, p, "/"); sub(/-[0-9]+$/, "", p[3]); m = (p[2] == "fp32") ? "fp32" : "int8"; print "tinyq", m, p[3], $(NF-1) }'
  for b in 1000 1; do
    for m in fp32 int8_qdq; do
      NODE_PATH="$ort/node_modules" node scripts/ort_bench.js "$tmp/cnn_$m.onnx" "$b" "$threads" 1,28,28 3 |
        awk -v m="${m%_qdq}" -v b="batch$b" '{ for (i = 1; i < NF; i++) if ($(i+1) == "images/s") print "ort", m, b, $i }'
    done
  done
done >"$tmp/raw"
awk '
{ key = $2 " " $3; v[$1, key] = v[$1, key] " " $4; keys[key] = 1 }
function median(s,   a, n, i, j, t) {
  n = split(substr(s, 2), a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
  for (k in keys) {
    t = median(v["tinyq", k]); o = median(v["ort", k])
    printf "%-16s %14.0f %14.0f %8.2f\n", k, t, o, (o > 0) ? t / o : 0
  }
}' "$tmp/raw" | sort >"$tmp/table"
printf "%-16s %14s %14s %8s\n" "model" "tinyq img/s" "ORT img/s" "ratio"
cat "$tmp/table"
