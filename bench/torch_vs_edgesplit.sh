#!/usr/bin/env bash
# f32 speed of edgesplit (onednn backend) against PyTorch on the same weights.
#
# Usage: bench/torch_vs_edgesplit.sh [BUILD_DIR]      (default: build)
#   env: THREADS (2), ROUNDS (7), MODELS ("mobilenet_v2 resnet50"), REPEAT (20),
#        DTYPE (f32; int8 times edgesplit's int8 graph, seeded random
#        calibration, against PyTorch's f32)
#
# Each torchvision model is exported to ONNX once (tools/torch_bench.py export:
# seeded weights, saved beside the ONNX file), so both engines run the same
# weights at 1x3x224x224, batch 1. Then, ROUNDS times, it alternates PyTorch
# (best of eager and torch.jit.freeze + optimize_for_inference, REPEAT
# invocations, median) and `edgesplit bench-engine --repeat REPEAT` (median),
# swapping which goes first every round so that drift in machine load hits
# both. Each round gives a ratio edgesplit / PyTorch; the summary prints the
# median ratio and its spread (min..max over rounds). Both run THREADS threads,
# set explicitly, with OMP_WAIT_POLICY=passive (what the CLI uses on a loaded machine).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
threads=${THREADS:-2}
rounds=${ROUNDS:-7}
models=${MODELS:-"mobilenet_v2 resnet50"}
repeat=${REPEAT:-20}
dtype=${DTYPE:-f32}
python=/usr/bin/python3  # Debian's, with python3-torch
cli=$build/edgesplit
cache=$build/torch_bench
results=$cache/results.jsonl
export OMP_WAIT_POLICY=passive

[[ -x $cli ]] || { echo "torch_vs_edgesplit: $cli not built (cmake --build $build --target edgesplit)" >&2; exit 1; }
mkdir -p "$cache"
for m in $models; do
  if [[ ! -f $cache/$m.onnx || ! -f $cache/$m.pt ]]; then
    echo "exporting $m to $cache/$m.onnx" >&2
    "$python" "$root/tools/torch_bench.py" export "$m" "$cache"
  fi
done

edgesplit_ms() {
  "$cli" bench-engine "$cache/$1.onnx" --backend onednn --dtype "$dtype" --threads "$threads" --repeat "$repeat" --format json |
    "$python" -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])'
}
torch_ms() {
  "$python" "$root/tools/torch_bench.py" time "$1" "$cache" --threads "$threads" --repeat "$repeat"
}

: > "$results"
for ((r = 1; r <= rounds; ++r)); do
  for m in $models; do
    if ((r % 2)); then
      t=$(torch_ms "$m"); e=$(edgesplit_ms "$m")
    else
      e=$(edgesplit_ms "$m"); t=$(torch_ms "$m")
    fi
    echo "{\"round\": $r, \"edgesplit_ms\": $e, \"torch\": $t}" >> "$results"
    "$python" -c 'import json,sys; d=json.loads(sys.argv[1]); t=d["torch"]; e=d["edgesplit_ms"]; r=d["round"]
print("round %d  %-14s edgesplit %8.2f ms  torch eager %8.2f ms  jit %8.2f ms  ratio %.2fx" % (r, t["model"], e, t["eager_ms"], t["jit_ms"], e / t["best_ms"]))' \
      "$(tail -n 1 "$results")"
  done
done

"$python" - "$results" "$threads" "$dtype" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\nsummary: {sys.argv[2]} threads, edgesplit {sys.argv[3]} vs PyTorch f32, 1x3x224x224, {max(r['round'] for r in rows)} rounds (ratio = edgesplit / best PyTorch)")
print(f"{'model':<14} {'edgesplit ms':>12} {'torch best ms':>13} {'ratio':>6} {'spread':>12}")
for model in dict.fromkeys(r["torch"]["model"] for r in rows):
    rs = [r for r in rows if r["torch"]["model"] == model]
    ratios = [r["edgesplit_ms"] / r["torch"]["best_ms"] for r in rs]
    print(f"{model:<14} {statistics.median(r['edgesplit_ms'] for r in rs):12.2f} "
          f"{statistics.median(r['torch']['best_ms'] for r in rs):13.2f} {statistics.median(ratios):5.2f}x "
          f"{min(ratios):5.2f}..{max(ratios):.2f}")
EOF
