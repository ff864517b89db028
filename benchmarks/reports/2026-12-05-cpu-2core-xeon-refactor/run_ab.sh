#!/usr/bin/env bash
# `refinet-edge bench` from two checkouts, interleaved A B A B A B on one machine in one run, so that the load of
# the moment hits both alike: A = the base commit, B = the refactored branch. Each checkout runs its own .venv.
#   usage: run_ab.sh A_CHECKOUT B_CHECKOUT OUT_DIR [PAIRS]
# Writes OUT_DIR/run{i}-{A,B}/report.json (+ .md, .html); summarise.py reads them. One untimed warm-up run per
# side first (the export under the scratch directory, Numba's cache), not kept.
set -euo pipefail
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd) out=$(mkdir -p "$3" && cd "$3" && pwd) pairs=${4:-3}
work=$(mktemp -d)
args=(bench --backend torch,onnxruntime --threads 1 --iterations 200 --warmup 10 --accuracy-frames 50 --no-power)
run() {  # side checkout out_subdir
    (cd "$2" && nice "$2/.venv/bin/refinet-edge" "${args[@]}" --work "$work/$1" --out "$3")
}
run A "$a" "$work/warm-A" && run B "$b" "$work/warm-B"
for i in $(seq 1 "$pairs"); do
    run A "$a" "$out/run$i-A"
    run B "$b" "$out/run$i-B"
done
rm -rf "$work"
