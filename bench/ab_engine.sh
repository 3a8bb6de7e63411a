#!/usr/bin/env bash
# Before/after of an engine change: two edgesplit binaries, the same ONNX
# files, alternating rounds (swapping which goes first), `bench-engine`
# whole-Invoke medians and best-of-REPEAT runs; prints the ratio new / old per
# model and thread count (median of the rounds and min..max).
#
# Usage: bench/ab_engine.sh OLD_BINARY NEW_BINARY MODEL.onnx...
#   env: THREADS ("1 2"), ROUNDS (5), REPEAT (20), OLD_ENV / NEW_ENV (extra
#        environment for one side, e.g. OLD_ENV=OMP_WAIT_POLICY=passive to
#        replay the wait policy an old binary ran with), RT (unset; 1: both
#        under `chrt -f 10`, see ort_vs_edgesplit.sh)
set -euo pipefail
(($# >= 3)) || { echo "usage: bench/ab_engine.sh OLD_BINARY NEW_BINARY MODEL.onnx..." >&2; exit 1; }
old=$1 new=$2
shift 2
for b in "$old" "$new"; do [[ -x $b ]] || { echo "ab_engine: $b is not an executable" >&2; exit 1; }; done
threads_list=${THREADS:-"1 2"}
rounds=${ROUNDS:-5}
repeat=${REPEAT:-20}
prio=()
[[ -n ${RT:-} ]] && prio=(chrt -f 10)
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT

run() {  # side binary model threads -> "median min"
  local extra=${OLD_ENV:-}
  [[ $1 == new ]] && extra=${NEW_ENV:-}
  env $extra "${prio[@]}" "$2" bench-engine "$3" --backend onednn --threads "$4" --repeat "$repeat" --format json |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["median_ms"], d["min_ms"], d["openmp_wait"])'
}

echo "ab_engine: old $old ${OLD_ENV:-}, new $new ${NEW_ENV:-}; $rounds rounds of $repeat${RT:+, chrt -f 10}; $(uptime)"
for ((r = 1; r <= rounds; ++r)); do
  for m in "$@"; do
    for t in $threads_list; do
      if ((r % 2)); then
        read -r om omin ow < <(run old "$old" "$m" "$t"); read -r nm nmin nw < <(run new "$new" "$m" "$t")
      else
        read -r nm nmin nw < <(run new "$new" "$m" "$t"); read -r om omin ow < <(run old "$old" "$m" "$t")
      fi
      echo "$r $(basename "$m" .onnx) $t $om $omin $nm $nmin" >> "$rows"
      printf 'round %d  %-22s %d thread(s)  old %8.2f ms (%s)  new %8.2f ms (%s)  load %s\n' \
        "$r" "$(basename "$m")" "$t" "$om" "$ow" "$nm" "$nw" "$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
echo "load after: $(uptime)"
/usr/bin/python3 - "$rows" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"\n{'model':<22} {'threads':>7} {'old ms':>8} {'new ms':>8} {'new/old':>7} {'spread':>11}   {'best-of old':>11} {'new':>7} {'new/old':>7}")
for key in dict.fromkeys((r[1], r[2]) for r in rows):
    rs = [[float(x) for x in r[3:]] for r in rows if (r[1], r[2]) == key]
    med = statistics.median
    ratio = [r[2] / r[0] for r in rs]
    best = [r[3] / r[1] for r in rs]
    print(f"{key[0]:<22} {key[1]:>7} {med(r[0] for r in rs):8.2f} {med(r[2] for r in rs):8.2f} {med(ratio):7.2f} "
          f"{min(ratio):5.2f}..{max(ratio):.2f}   {med(r[1] for r in rs):11.2f} {med(r[3] for r in rs):7.2f} {med(best):7.2f}")
EOF
