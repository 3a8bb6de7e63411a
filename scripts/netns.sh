#!/usr/bin/env bash
# Joins two network namespaces with a veth pair and applies Linux netem
# (rate, delay, loss) to it, so that real TCP can be tested under loss.
#
#   scripts/netns.sh up   [--loss PCT] [--delay MS] [--rate RATE]   # e.g. --loss 5 --delay 2 --rate 20mbit
#   scripts/netns.sh down
#   scripts/netns.sh check   # exit 0 when namespaces and netem both work here (root + sch_netem)
#
# Namespaces es_a (10.77.0.1) and es_b (10.77.0.2); run a process inside with
#   ip netns exec es_a CMD
# Traffic never leaves the two namespaces. Root only.
set -euo pipefail

A=es_a B=es_b VA=es_va VB=es_vb IPA=10.77.0.1 IPB=10.77.0.2

die() { echo "netns.sh: $*" >&2; exit 1; }

down() {
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}

check() {
  [[ $(id -u) -eq 0 ]] || die "needs root (ip netns, tc)"
  command -v ip >/dev/null || die "iproute2 is not installed"
  local probe=es_probe_$$
  ip netns add "$probe" 2>/dev/null || die "cannot create network namespaces here"
  ip -n "$probe" link set lo up
  if ! ip netns exec "$probe" tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
    ip netns del "$probe"
    die "netem is unavailable (kernel without sch_netem)"
  fi
  ip netns del "$probe"
}

up() {
  local loss=0 delay=0 rate=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --loss) loss="$2"; shift 2 ;;
      --delay) delay="$2"; shift 2 ;;
      --rate) rate="$2"; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  check
  down
  ip netns add "$A"
  ip netns add "$B"
  ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B"
  ip -n "$A" addr add "$IPA/24" dev "$VA"
  ip -n "$B" addr add "$IPB/24" dev "$VB"
  for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
  ip -n "$A" link set "$VA" up
  ip -n "$B" link set "$VB" up
  local args=(delay "${delay}ms" loss "${loss}%")
  [[ -n "$rate" ]] && args+=(rate "$rate")
  # Impair both directions, so data and ACKs see the same medium.
  ip netns exec "$A" tc qdisc add dev "$VA" root netem "${args[@]}"
  ip netns exec "$B" tc qdisc add dev "$VB" root netem "${args[@]}"
  echo "netns.sh: $A ($IPA) <-> $B ($IPB): netem ${args[*]}"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  check) check ;;
  *) die "usage: netns.sh up [--loss PCT] [--delay MS] [--rate RATE] | down | check" ;;
esac
