#!/usr/bin/env bash
# Before/after of a change to the edge server's request path: two edgesplit
# binaries serve the same model in turn (`serve --cuts input --threads 1`
# pinned to core 0) under the same load generator (NEW's `loadgen
# --precompute`, pinned to core 1, CLIENTS devices x REQUESTS each), in
# alternating rounds (which side goes first swaps every round). Prints each
# round's throughput and the ratio new / old: median of the rounds and min..max.
#
# Usage: bench/ab_serve.sh OLD_BINARY NEW_BINARY
#   env: MODEL (mobilenet_v2:alpha=0.35,res=96: a small tail, so the serving
#        path's own cost shows), ROUNDS (12), CLIENTS (8), REQUESTS (150), LINK (udp)
set -euo pipefail
(($# == 2)) || { echo "usage: bench/ab_serve.sh OLD_BINARY NEW_BINARY" >&2; exit 1; }
old=$1 new=$2
for b in "$old" "$new"; do [[ -x $b ]] || { echo "ab_serve: $b is not an executable" >&2; exit 1; }; done
model=${MODEL:-mobilenet_v2:alpha=0.35,res=96}
rounds=${ROUNDS:-12}
link=${LINK:-udp}
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
py=/usr/bin/python3

run() {  # binary -> requests/s (fails when a result was lost or corrupted)
  taskset -c 0 "$1" serve "$model" --link "$link" --cuts input --threads 1 --insecure --id ab >"$out/ready" 2>"$out/serve.err" &
  local pid=$!
  for _ in $(seq 600); do [[ -s $out/ready ]] && break; sleep 0.1; done
  [[ -s $out/ready ]] || { cat "$out/serve.err" >&2; exit 1; }
  local addr
  addr=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['listening'])" "$out/ready")
  taskset -c 1 "$new" loadgen "$model" --connect "$addr" --link "$link" --cuts input --clients "${CLIENTS:-8}" \
    --requests "${REQUESTS:-150}" --precompute --threads 1 --format json --insecure >"$out/lg.json"
  kill -TERM "$pid"
  wait "$pid" || true
  rm -f "$out/ready"
  $py -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['lost'] == 0 and d['corrupted'] == 0, d; print(d['throughput_rps'])" "$out/lg.json"
}

ratios=()
for r in $(seq "$rounds"); do
  if ((r % 2)); then o=$(run "$old"); n=$(run "$new"); else n=$(run "$new"); o=$(run "$old"); fi
  ratio=$($py -c "print(f'{$n / $o:.3f}')")
  ratios+=("$ratio")
  printf 'round %2d  old %8.1f rps  new %8.1f rps  new/old %s\n' "$r" "$o" "$n" "$ratio"
done
$py -c "import statistics,sys; v=sorted(map(float, sys.argv[1:])); print(f'new/old throughput: median {statistics.median(v):.3f} ({v[0]:.3f}..{v[-1]:.3f}) over {len(v)} rounds')" "${ratios[@]}"
