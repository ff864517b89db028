#!/usr/bin/env bash
# Re-measure every report the README quotes for the shipped weights, into benchmarks/reports/$PREFIX-*.
#
#   bash scripts/measure_weights.sh PREFIX OLD_ONNX_DIR
#
# PREFIX e.g. 2026-12-05-cpu-2core-xeon-v8; OLD_ONNX_DIR an `export` of the previous weights (for the bench's
# same-run latency comparison). Generated data and ONNX files go under runs/ (git-ignored).
set -euo pipefail
prefix=$1
old_onnx=$2
r=benchmarks/reports
step() { echo "== $(date -u +%H:%M:%S) $*"; }

step accuracy
python scripts/measure_shipped_accuracy.py "$r/$prefix-accuracy/accuracy.json"

step ood suite
mkdir -p "$r/$prefix-ood"
refinet-edge evaluate --suite ood --cache runs/ood --json "$r/$prefix-ood/ood_suite.json" > "$r/$prefix-ood/ood_suite.txt"

step export, calibrate, compare
python scripts/measure_export.py "$r/$prefix-export" --onnx-dir runs/onnx-$prefix

step lifted baseline and camera transfer
mkdir -p "$r/$prefix-transfer"
for c_v in "itop_side side" "itop_top top" "d435_640x480 side"; do set -- $c_v
  [ -d runs/base/$1_$2 ] || refinet-edge synth --out runs/base/$1_$2 --split test --frames 2000 --seed 1 --camera $1 --view $2
  refinet-edge evaluate --data runs/base/$1_$2 --view $2 --split test --swap-prob 0 --outlier-prob 0 \
    --json "$r/$prefix-transfer/transfer_$1_$2.json" > /dev/null
done

step bench: previous and new weights, onnxruntime fp32 and torch, one run each, interleaved
mkdir -p "$r/$prefix-bench"
for k in 1 2; do
  refinet-edge bench --backend onnxruntime --precision fp32 --batch 1 --threads 1 --onnx "$old_onnx" \
    --iterations 300 --out "$r/$prefix-bench/previous_onnxruntime_$k" > /dev/null
  refinet-edge bench --backend torch,onnxruntime --precision fp32 --batch 1 --threads 1 --onnx runs/onnx-$prefix \
    --iterations 300 --out "$r/$prefix-bench/new_$k" > /dev/null
done
step done
