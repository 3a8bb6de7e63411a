#!/usr/bin/env bash
# Sealed vs plain steady-state round trip at the paper's cut (issue 13, docs/security.md):
# MobileNetV2-0.35 @224 int8 split after block_16_project_BN (5,488-byte cut tensor),
# `device --emulate esp32s3 --link espnow` against `serve --link espnow`, one plain
# server and one sealed server side by side. Rounds alternate plain/sealed; each round
# is one device run of REQUESTS requests (the handshake is made before the first and
# is not in any round trip). Prints per round the median total_s (the paper's round
# trip: emulated head + exchange) and exchange_s (request out, tail, reply back), and
# the median and range of the sealed/plain ratios.
# Usage: bench/secure_link_bench.sh [BUILD_DIR]   (env: ROUNDS=5 REQUESTS=4 SCALE=0.25)
set -euo pipefail
build="${1:-build}"
es="$build/edgesplit"
rounds="${ROUNDS:-5}" requests="${REQUESTS:-4}" scale="${SCALE:-0.25}"
model="mobilenet_v2:alpha=0.35,res=224" cut=block_16_project_BN
out="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$out"' EXIT
"$es" keygen -o "$out/server" >/dev/null
"$es" keygen -o "$out/device" >/dev/null
echo "device $(cat "$out/device.pub")" > "$out/allow"
common=(--dtype int8 --link espnow --threads 1 --cuts "$cut")
"$es" serve "$model" "${common[@]}" --insecure > "$out/plain.line" 2>"$out/plain.err" & pids+=($!)
"$es" serve "$model" "${common[@]}" --key "$out/server" --allow "$out/allow" > "$out/sealed.line" 2>"$out/sealed.err" & pids+=($!)
for _ in $(seq 600); do [[ -s "$out/plain.line" && -s "$out/sealed.line" ]] && break; sleep 0.1; done
addr() { python3 -c "import json;print(json.load(open('$1'))['listening'])"; }
plain_addr=$(addr "$out/plain.line") sealed_addr=$(addr "$out/sealed.line")
run() {  # plain|sealed -> "total exchange" medians
  local extra=(--insecure) at="$plain_addr"
  [[ $1 == sealed ]] && extra=(--key "$out/device" --server-key "$out/server.pub") && at="$sealed_addr"
  "$es" device "$model" --dtype int8 --connect "$at" --link espnow --split "$cut" --emulate esp32s3 \
    --time-scale "$scale" --requests "$requests" --format json "${extra[@]}" |
    python3 -c "import json,sys,statistics as s; r=json.load(sys.stdin)['requests']; assert all(q['outcome']=='server' and q['verified'] for q in r), r; print(s.median(q['total_s'] for q in r), s.median(q['exchange_s'] for q in r))"
}
echo "secure_link_bench: $model int8, cut $cut, espnow, esp32s3 emulated, time scale $scale, $rounds rounds x $requests requests; load: $(uptime | sed 's/.*load average: //')"
ratios=()
for r in $(seq "$rounds"); do
  read -r pt pe < <(run plain)
  read -r st se < <(run sealed)
  echo "round $r: plain total $pt s exchange $pe s | sealed total $st s exchange $se s"
  ratios+=("$pt $pe $st $se")
done
printf '%s\n' "${ratios[@]}" | python3 -c "
import sys, statistics as s
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
for name, a, b in (('total (round trip)', 0, 2), ('exchange', 1, 3)):
    q = [r[b] / r[a] for r in rows]
    print(f'sealed/plain {name}: median {s.median(q):.4f} [{min(q):.4f}..{max(q):.4f}]')
"
echo "load after: $(uptime | sed 's/.*load average: //')"
