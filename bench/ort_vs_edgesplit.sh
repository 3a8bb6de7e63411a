#!/usr/bin/env bash
# Speed of edgesplit (onednn backend) against ONNX Runtime on the same ONNX files.
#
# Usage: bench/ort_vs_edgesplit.sh [BUILD_DIR]      (default: build)
#   env: THREADS ("1 2"), ROUNDS (7), MODELS ("mobilenet_v2 resnet50"), REPEAT (20),
#        DTYPE (f32; int8: both engines run edgesplit's QDQ file from
#        `edgesplit quantize`, seeded random calibration),
#        ORT_VERSION (1.30), ORT_DIR (BUILD_DIR/ort_bench: the scratch folder),
#        PROFILE (unset; 1: after the rounds, one per-op profile of each engine
#        per model and thread count, ONNX Runtime's from enableProfiling,
#        written to ORT_DIR/profile_*.json, and the op types' totals printed),
#        BATCH (1; N > 1: both engines run batch N: edgesplit `bench-engine
#        --batch N` on the same file, ONNX Runtime a copy of it whose batch dim
#        is symbolic; times are per batch, the summary adds ms per image),
#        RT (unset; 1: both engines run under `chrt -f 10`, real-time
#        priority: on a machine loaded by other users' work this approximates a
#        quiet one for both engines alike; needs CAP_SYS_NICE; say so when
#        reporting figures taken with it)
#
# ONNX Runtime is a benchmark peer, never a build or test dependency: the
# script installs the npm package onnxruntime-node (its CPU library ships in
# the package; --ignore-scripts skips the install script, which only fetches
# GPU parts) into the scratch folder, at bench time, once.
#
# The torchvision models are exported once (tools/torch_bench.py export:
# seeded random weights, opset 13, 1x3x224x224 (Inception v3 299x299),
# batch 1). Then, ROUNDS times,
# for each model and thread count, it times ONNX Runtime (bench/ort_time.js:
# graph optimisation "all", intra-op threads = THREADS, REPEAT runs, median)
# and `edgesplit bench-engine --threads T --repeat REPEAT` (median of whole
# Invoke() calls), swapping which goes first every round so that drift in the
# machine's load hits both. The summary gives per model and thread count the
# median ratio edgesplit / ONNX Runtime over the rounds with its spread
# (min..max), of the medians and of the best-of-REPEAT runs (on a loaded
# machine the fastest run is the one least disturbed), and each engine's
# 1-to-2-thread speed-up. Load average is printed before, per round and after,
# with the OpenMP wait policy edgesplit ran with (openmp_env.cc chooses it
# from the load unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
threads_list=${THREADS:-"1 2"}
rounds=${ROUNDS:-7}
models=${MODELS:-"mobilenet_v2 resnet50"}
repeat=${REPEAT:-20}
dtype=${DTYPE:-f32}
batch=${BATCH:-1}
ort_version=${ORT_VERSION:-1.30}
ort_dir=${ORT_DIR:-$build/ort_bench}
python=/usr/bin/python3  # Debian's, with python3-torch
cli=$build/edgesplit
cache=$build/torch_bench  # shared with torch_vs_edgesplit.sh: the same exported files
results=$ort_dir/results_${dtype}_b$batch.jsonl
prio=()
if [[ -n ${RT:-} ]]; then
  prio=(chrt -f 10)
  "${prio[@]}" true || { echo "ort_vs_edgesplit: RT=1 needs chrt and CAP_SYS_NICE" >&2; exit 1; }
fi

[[ -x $cli ]] || { echo "ort_vs_edgesplit: $cli not built (cmake --build $build --target edgesplit)" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "ort_vs_edgesplit: needs node and npm (apt-get install nodejs npm)" >&2; exit 1; }
[[ $dtype == f32 || $dtype == int8 ]] || { echo "ort_vs_edgesplit: DTYPE must be f32 or int8" >&2; exit 1; }

mkdir -p "$ort_dir" "$cache"
if [[ ! -d $ort_dir/node_modules/onnxruntime-node ]]; then
  echo "installing onnxruntime-node@$ort_version into $ort_dir (bench only)" >&2
  (cd "$ort_dir" && { [[ -f package.json ]] || npm init -y >/dev/null; } &&
    npm install --ignore-scripts --no-audit --no-fund "onnxruntime-node@$ort_version" >&2)
fi
export NODE_PATH=$ort_dir/node_modules

for m in $models; do
  if [[ ! -f $cache/$m.onnx ]]; then
    echo "exporting $m to $cache/$m.onnx" >&2
    "$python" "$root/tools/torch_bench.py" export "$m" "$cache"
  fi
  if [[ $dtype == int8 && ! -f $cache/${m}_int8.onnx ]]; then
    echo "quantizing $m to $cache/${m}_int8.onnx (edgesplit quantize, seeded random calibration)" >&2
    "$cli" quantize "$cache/$m.onnx" -o "$cache/${m}_int8.onnx" >&2
  fi
done
file_of() { if [[ $dtype == int8 ]]; then echo "$cache/${1}_int8.onnx"; else echo "$cache/$1.onnx"; fi; }
# ONNX Runtime's file for batch > 1: the same graph with a symbolic batch dim
# (inputs, outputs; intermediate shapes dropped for it to infer again).
ort_file_of() {
  local f; f=$(file_of "$1")
  if ((batch == 1)); then echo "$f"; return; fi
  local out=${f%.onnx}_batchN.onnx
  if [[ ! -f $out ]]; then
    "$python" - "$f" "$out" <<'EOF'
import onnx, sys
m = onnx.load(sys.argv[1])
for v in list(m.graph.input) + list(m.graph.output):
    v.type.tensor_type.shape.dim[0].dim_param = "N"
del m.graph.value_info[:]
onnx.save(m, sys.argv[2])
EOF
  fi
  echo "$out"
}

edgesplit_ms() {  # model threads
  "${prio[@]}" "$cli" bench-engine "$(file_of "$1")" --backend onednn --threads "$2" --repeat "$repeat" --batch "$batch" --format json |
    "$python" -c 'import json,sys; d=json.load(sys.stdin); print(d["median_ms"], d["min_ms"], d.get("openmp_wait", "?"))'
}
ort_ms() {  # model threads
  "${prio[@]}" node "$root/bench/ort_time.js" "$(ort_file_of "$1")" --threads "$2" --repeat "$repeat" --batch "$batch" |
    "$python" -c 'import json,sys; d=json.load(sys.stdin); print(d["median_ms"], d["min_ms"])'
}

echo "ort_vs_edgesplit: $dtype, batch $batch, threads {$threads_list}, $rounds rounds of $repeat runs${RT:+, both engines under chrt -f 10}; $(uptime)"
: > "$results"
for ((r = 1; r <= rounds; ++r)); do
  for m in $models; do
    for t in $threads_list; do
      if ((r % 2)); then
        read -r o omin < <(ort_ms "$m" "$t"); read -r e emin wait < <(edgesplit_ms "$m" "$t")
      else
        read -r e emin wait < <(edgesplit_ms "$m" "$t"); read -r o omin < <(ort_ms "$m" "$t")
      fi
      echo "{\"round\": $r, \"model\": \"$m\", \"threads\": $t, \"edgesplit_ms\": $e, \"ort_ms\": $o, \"edgesplit_min_ms\": $emin, \"ort_min_ms\": $omin, \"openmp_wait\": \"$wait\"}" >> "$results"
      printf 'round %d  %-13s %d thread(s)  edgesplit %8.2f ms  onnxruntime %8.2f ms  ratio %.2f  (edgesplit %s; load %s)\n' \
        "$r" "$m" "$t" "$e" "$o" "$("$python" -c "print($e / $o)")" "$wait" "$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
echo "load after: $(uptime)"

"$python" - "$results" "$dtype" "$(node -p "require('onnxruntime-node/package.json').version")" "$batch" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = statistics.median
batch = int(sys.argv[4])
size = "224x224" + (" (inception_v3 299x299)" if any(r["model"] == "inception_v3" for r in rows) else "")
print(f"\nsummary: {sys.argv[2]}, {batch}x3x{size}, {max(r['round'] for r in rows)} alternating rounds, "
      f"ONNX Runtime {sys.argv[3]} (ratio = edgesplit / ONNX Runtime, per round; median and min..max)")
print(f"{'model':<14} {'threads':>7} {'edgesplit ms':>12} {'onnxrt ms':>10} {'ratio':>6} {'spread':>11}   "
      f"{'best-of: edgesplit':>18} {'onnxrt':>7} {'ratio':>6} {'spread':>11}")
for model in dict.fromkeys(r["model"] for r in rows):
    for t in sorted({r["threads"] for r in rows}):
        rs = [r for r in rows if r["model"] == model and r["threads"] == t]
        ratios = [r["edgesplit_ms"] / r["ort_ms"] for r in rs]
        best = [r["edgesplit_min_ms"] / r["ort_min_ms"] for r in rs]
        print(f"{model:<14} {t:>7} {med(r['edgesplit_ms'] for r in rs):12.2f} {med(r['ort_ms'] for r in rs):10.2f} "
              f"{med(ratios):6.2f} {min(ratios):5.2f}..{max(ratios):.2f}   "
              f"{med(r['edgesplit_min_ms'] for r in rs):18.2f} {med(r['ort_min_ms'] for r in rs):7.2f} "
              f"{med(best):6.2f} {min(best):5.2f}..{max(best):.2f}")
if batch > 1:
    print(f"\nper image (median ms per batch / {batch}; images/s)")
    for model in dict.fromkeys(r["model"] for r in rows):
        for t in sorted({r["threads"] for r in rows}):
            rs = [r for r in rows if r["model"] == model and r["threads"] == t]
            e, o = med(r["edgesplit_ms"] for r in rs) / batch, med(r["ort_ms"] for r in rs) / batch
            print(f"{model:<14} {t:>7}  edgesplit {e:7.2f} ms ({1000 / e:6.1f}/s)  onnxrt {o:7.2f} ms ({1000 / o:6.1f}/s)")
threads = sorted({r["threads"] for r in rows})
if 1 in threads and 2 in threads:
    print("\nspeed-up 1 -> 2 threads (per round, median and min..max; of the medians, then of the best-of)")
    for model in dict.fromkeys(r["model"] for r in rows):
        for engine in ("edgesplit", "ort"):
            line = f"{model:<14} {engine:<10}"
            for key in (engine + "_ms", engine + "_min_ms"):
                one = {r["round"]: r[key] for r in rows if r["model"] == model and r["threads"] == 1}
                two = {r["round"]: r[key] for r in rows if r["model"] == model and r["threads"] == 2}
                s = [one[k] / two[k] for k in one if k in two]
                line += f" {med(s):5.2f}x  {min(s):.2f}..{max(s):.2f}   "
            print(line)
EOF

if [[ -n ${PROFILE:-} ]]; then
  for m in $models; do
    for t in $threads_list; do
      "${prio[@]}" node "$root/bench/ort_time.js" "$(file_of "$m")" --threads "$t" --repeat "$repeat" \
        --profile "$ort_dir/profile_ort_${m}_${dtype}_t$t.json" >/dev/null
      "${prio[@]}" "$cli" bench-engine "$(file_of "$m")" --backend onednn --threads "$t" --repeat "$repeat" --format json \
        > "$ort_dir/profile_edgesplit_${m}_${dtype}_t$t.json"
      "$python" - "$ort_dir" "$m" "$dtype" "$t" <<'EOF'
import collections, json, sys
d, m, dt, t = sys.argv[1:]
ort = json.load(open(f"{d}/profile_ort_{m}_{dt}_t{t}.json"))
es = json.load(open(f"{d}/profile_edgesplit_{m}_{dt}_t{t}.json"))["layers"]
def by_op(rows):
    c = collections.Counter()
    for r in rows: c[r["op"]] += r["median_ms"]
    return c
print(f"\nper-op totals (sum of per-node medians), {m} {dt}, {t} thread(s); files in {d}")
for name, c in (("onnxruntime", by_op(ort)), ("edgesplit", by_op(es))):
    print(f"  {name:<12} {sum(c.values()):7.2f} ms  " + ", ".join(f"{k} {v:.2f}" for k, v in c.most_common()))
EOF
    done
  done
fi
