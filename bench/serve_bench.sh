#!/usr/bin/env bash
# The edge server under load (docs/serve.md, docs/benchmarks.md). For each model:
#  1. saturation: `serve --cuts input --threads 1` pinned to core 0, `loadgen
#     --precompute` pinned to core 1; the server's throughput at batch 1 and at
#     batch N beside `bench-engine --threads 1 [--batch N]` on the same tail
#     (the whole model: cut 0) pinned to core 0, in alternating rounds;
#  2. latency at 50% of saturation: p99 against the unloaded service time (one
#     client, one request at a time), the server with --batching adaptive;
#  3. a 10x overload burst against a small queue: BUSY replies, nothing lost or
#     corrupted, and the server's peak RSS growth against its stated bound.
# Usage: bench/serve_bench.sh [BUILD_DIR]   (env: MODELS, BATCH, ROUNDS, LINK, LATENCY_REQUESTS, POLL_MS)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
es="$build/edgesplit"
models=${MODELS:-"mobilenet_v2:alpha=1.0,res=224 resnet50"}
batch=${BATCH:-8}
rounds=${ROUNDS:-3}
link=${LINK:-udp}
poll_ms=${POLL_MS:-50}
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
py=/usr/bin/python3
json() { $py -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }

start_server() {  # model max_batch queue_limit [batching [extra...]] -> sets server_pid, addr
  local model=$1 mb=$2 ql=$3 batching=${4:-adaptive}
  shift $(($# < 4 ? $# : 4))
  taskset -c 0 "$es" serve "$model" --link "$link" --cuts input --threads 1 --max-batch "$mb" --queue-limit "$ql" --batching "$batching" \
    --id bench --insecure "$@" > "$out/ready" 2>"$out/serve.err" &
  server_pid=$!
  for _ in $(seq 600); do [[ -s "$out/ready" ]] && break; sleep 0.1; done
  [[ -s "$out/ready" ]] || { cat "$out/serve.err"; exit 1; }
  addr=$(json "$out/ready" "d['listening']")
}
stop_server() { kill -TERM "$server_pid"; wait "$server_pid" || true; }
loadgen() {  # model clients requests [extra...] -> $out/lg.json
  local model=$1 c=$2 r=$3; shift 3
  taskset -c 1 "$es" loadgen "$model" --connect "$addr" --link "$link" --cuts input --clients "$c" --requests "$r" \
    --precompute --threads 1 --timeout 120 --format json --insecure "$@" > "$out/lg.json"
}
engine() {  # model batch -> images/s
  local model=$1 b=$2 extra=()
  [[ $b -gt 1 ]] && extra=(--batch "$b")
  taskset -c 0 "$es" bench-engine "$model" --threads 1 --repeat 20 --format json "${extra[@]}" > "$out/be.json"
  json "$out/be.json" "d.get('images_per_s', $b * 1000.0 / d['median_ms'])"
}

echo "serve_bench: link $link, batch $batch, $rounds rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for model in $models; do
  echo "== $model"
  # Batch 1, batch N always batched (against the engine at batch N), and batch
  # N adaptive (--batching adaptive: batches only where they pay) against the better
  # of the engine's batch 1 and batch N.
  for mode in 1 "$batch" "$batch:adaptive"; do
    mb=${mode%%:*}
    ratios=()
    for r in $(seq "$rounds"); do
      if [[ $mode == *:adaptive ]]; then
        e=$($py -c "print(max($(engine "$model" 1), $(engine "$model" "$mb")))")
        start_server "$model" "$mb" 1024 adaptive
      else
        e=$(engine "$model" "$mb")
        start_server "$model" "$mb" 1024 always
      fi
      loadgen "$model" $((2 * mb + 2)) 12
      s=$(json "$out/lg.json" "d['throughput_rps']")
      lost=$(json "$out/lg.json" "d['lost'] + d['corrupted'] + d['busy']")
      stop_server
      ratio=$($py -c "print(f'{$s / $e:.3f}')")
      ratios+=("$ratio")
      echo "  batch $mode round $r: server $s req/s, bench-engine $e images/s, ratio $ratio (lost+corrupted+busy $lost)"
    done
    $py -c "import statistics,sys; v=sorted(map(float,sys.argv[1:])); print(f'  batch $mode: serving / engine median {statistics.median(v):.3f} (spread {v[0]:.3f}-{v[-1]:.3f}); bar >= 0.9')" "${ratios[@]}"
    [[ $mode == 1 ]] && sat1=$($py -c "print($s)")
  done

  # Latency: unloaded service time, then 50% of batch-1 saturation; the
  # server as it starts by default, then with its idle worker polling
  # (--busy-poll-ms POLL_MS: the core stays awake between requests), in
  # alternating rounds; the median ratio of each way with its spread.
  clients=4
  rate=$($py -c "print(0.5 * $sat1 / $clients)")
  requests=${LATENCY_REQUESTS:-$($py -c "print(max(150, int($rate * 10)))")}
  declare -A lat_ratios=()
  for r in $(seq "$rounds"); do
    for server in sleeps polls; do
      if [[ $server == polls ]]; then start_server "$model" "$batch" 1024 adaptive --busy-poll-ms "$poll_ms"; else start_server "$model" "$batch" 1024; fi
      loadgen "$model" 1 100
      unloaded=$(json "$out/lg.json" "d['p50_s']")
      # The same without back-to-back warmth: one client alone at one client's
      # rate (each request finds the server idle, after an idle gap as long as
      # the loaded run's: a VM's idle core and caches cool down in between).
      loadgen "$model" 1 "$($py -c "print(max(40, int($rate * 5)))")" --request-rate "$rate"
      paced=$(json "$out/lg.json" "d['p50_s']")
      paced99=$(json "$out/lg.json" "d['p99_s']")
      # Both ways a paced fleet sends: each client on its fixed seeded phase (the
      # worst case for the server), and spreading out of slots where requests
      # queue (the devices' default, docs/serve.md).
      for phases in fixed spread; do
        loadgen "$model" "$clients" "$requests" --request-rate "$rate" --phases "$phases"
        p99=$(json "$out/lg.json" "d['p99_s']")
        ratio=$($py -c "print(f'{$p99 / $unloaded:.2f}')")
        lat_ratios[$server/$phases]+=" $ratio"
        echo "  round $r, server $server: unloaded p50 $(printf %.4f "$unloaded") s (one client alone at that rate: p50 $(printf %.4f "$paced") s, p99 $(printf %.4f "$paced99") s); at 50% of saturation ($clients clients x $(printf %.2f "$rate")/s x $requests, phases $phases, $(json "$out/lg.json" "d['phase_shifts']") shifts, queue wait p99 $(json "$out/lg.json" "f\"{d['queue_wait_p99_s']:.4f}\"") s, at the server p99 $(json "$out/lg.json" "f\"{d['service_p99_s']:.4f}\"") s): p99 $(printf %.4f "$p99") s, ratio $ratio ($($py -c "print(f'{$p99 / $paced:.2f}')") against the lone client)"
      done
      stop_server
    done
  done
  for key in sleeps/fixed sleeps/spread polls/fixed polls/spread; do
    # shellcheck disable=SC2086
    $py -c "import statistics,sys; v=sorted(map(float,sys.argv[1:])); print(f'  p99 at 50% load / unloaded p50, server ${key%/*}, phases ${key#*/}: median {statistics.median(v):.2f} (spread {v[0]:.2f}-{v[-1]:.2f}); bar <= 2')" ${lat_ratios[$key]}
  done
  # The yardstick queueing theory gives: one FIFO server with a fixed service
  # time S at 50% load and Poisson arrivals (M/D/1) has p99 sojourn ~4.3 S.
  echo "  reference: M/D/1 at 50% load, p99 / S = $($py -c "
import random
random.seed(7); t = free = 0.0; s = []
for _ in range(200000):
    t += random.expovariate(0.5); start = max(t, free); free = start + 1; s.append(free - t)
s.sort(); print(f'{s[int(len(s) * 0.99)]:.2f}')")"
  # And for these very arrivals: loadgen's clients are periodic, each with its
  # seeded phase (splitmix64 of client+1, as in loadgen.cc), so a FIFO server
  # with a fixed service time S gives this p99 / S (the queueing floor of
  # --phases fixed; spreading moves the clients off it).
  echo "  reference: these $clients clients' arrivals at 50% load, fixed service, p99 / S = $($py -c "
M = (1 << 64) - 1
def phase(seed):
    z = (seed + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return ((z ^ (z >> 31)) >> 11) / 9007199254740992.0
c, n = $clients, $requests
period = c / 0.5  # in units of S
arrivals = sorted((r + phase(k + 1)) * period for k in range(c) for r in range(n))
free, s = 0.0, []
for t in arrivals:
    start = max(t, free); free = start + 1; s.append(free - t)
s.sort(); print(f'{s[int(len(s) * 0.99)]:.2f}')")"

  # Overload: 10x the batch-1 saturation rate against a 16-request queue.
  start_server "$model" "$batch" 16
  rss0=$(awk '/VmRSS/ {print $2 * 1024}' /proc/"$server_pid"/status)
  bound=$(json "$out/ready" "d['memory_bound_bytes']")
  clients=64
  rate=$($py -c "print(10 * $sat1 / $clients)")
  loadgen "$model" "$clients" 20 --request-rate "$rate"
  hwm=$(awk '/VmHWM/ {print $2 * 1024}' /proc/"$server_pid"/status)
  echo "  overload 10x ($clients clients x $(printf %.1f "$rate")/s): $(json "$out/lg.json" "f\"sent {d['sent']} completed {d['completed']} busy {d['busy']} lost {d['lost']} corrupted {d['corrupted']}\"")"
  echo "  server RSS: $((rss0 >> 20)) MiB ready, peak $((hwm >> 20)) MiB; growth $(((hwm - rss0) >> 20)) MiB vs stated bound $((bound >> 20)) MiB"
  stop_server
done
