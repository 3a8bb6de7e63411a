#!/usr/bin/env bash
# Real network impairment (loss, rate, delay) in Linux network namespaces, so
# that real TCP can be tested under packet loss. Root only; traffic never
# leaves the namespaces.
#
#   scripts/netns.sh check                  # prints the mechanism, "netem" or "nftables"; exit 0 when
#                                           # namespaces and loss impairment of either kind work here
#   scripts/netns.sh up [--loss PCT] [--delay MS] [--rate RATE] [--bounded-rto]   # e.g. --loss 5 --rate 20mbit
#       joins namespaces es_a (10.77.0.1) and es_b (10.77.0.2) with a veth pair, impaired both ways
#   scripts/netns.sh loss-lo NS PCT [--bounded-rto]   # a fresh namespace NS whose loopback loses PCT% of packets
#   scripts/netns.sh dropped [NS...]        # packets the impairment dropped so far (default es_a es_b)
#   scripts/netns.sh down [NS...]           # removes the namespaces (default es_a es_b) and all in them
#
# Run a process inside with `ip netns exec NS CMD`. All commands are idempotent.
#
# Mechanisms. netem (sch_netem) is the first choice: loss, delay and rate on the
# sender's egress qdisc. Kernels without sch_netem get the same loss from an
# nftables rule (`numgen random`) at the receiver's *input* hook, so the sending
# TCP never learns of a drop locally, as on a real lossy network; rate comes from
# tbf; delay has no substitute there, so --delay > 0 then fails. Either way every
# packet, data or ACK, crosses one impairment once. Links get a 1500-byte MTU and
# no GSO, so loss strikes single MTU-sized packets, not 64 KiB super-packets.
# ES_NETNS_MECHANISM=netem|nftables forces one mechanism (to test the fallback).
#
# --bounded-rto turns TCP timestamps off and caps the RTO at 1 s in the
# namespaces. Under heavy two-way loss many retransmissions are spurious (the
# ACK was lost, not the data); their timestamp echo times the RTO wait itself,
# so the RTO grows to seconds and feeds on itself (20% loss: single requests of
# 30-40 s). Without timestamps Karn's rule ignores those samples; the cap bounds
# the exponential backoff (where the kernel has tcp_rto_max_ms, Linux 6.15+).
set -euo pipefail

A=es_a B=es_b VA=es_va VB=es_vb IPA=10.77.0.1 IPB=10.77.0.2
TABLE=es_loss

die() { echo "netns.sh: $*" >&2; exit 1; }

# Whether `kind` impairment works, tried in a throw-away namespace.
probe() {
  local kind=$1 ns=es_probe_$$ ok=0
  ip netns add "$ns" 2>/dev/null || die "cannot create network namespaces here"
  ip -n "$ns" link set lo up
  case "$kind" in
    netem) ip netns exec "$ns" tc qdisc add dev lo root netem loss 1% 2>/dev/null && ok=1 ;;
    nftables) command -v nft >/dev/null && nft_loss "$ns" 1 2>/dev/null && ok=1 ;;
  esac
  ip netns del "$ns"
  [[ $ok -eq 1 ]]
}

mechanism() {
  [[ $(id -u) -eq 0 ]] || die "needs root (ip netns, tc, nft)"
  command -v ip >/dev/null || die "iproute2 is not installed"
  local forced=${ES_NETNS_MECHANISM:-}
  case "$forced" in
    "") probe netem && { echo netem; return; }
        probe nftables && { echo nftables; return; }
        die "no loss impairment: the kernel has no sch_netem, and nftables (nft, nf_tables with numgen) is unavailable" ;;
    netem|nftables) probe "$forced" || die "ES_NETNS_MECHANISM=$forced does not work here"; echo "$forced" ;;
    *) die "ES_NETNS_MECHANISM must be netem or nftables, not '$forced'" ;;
  esac
}

# PCT as hundredths of a percent (0..10000), the resolution of the nftables rule.
basis_points() {
  awk -v p="$1" 'BEGIN { if (p !~ /^[0-9]+(\.[0-9]+)?$/ || p > 100) exit 1; printf "%d\n", p * 100 + 0.5 }' ||
    die "loss must be a percentage in 0..100, not '$1'"
}

# Drops PCT% of the packets that reach namespace NS's input hook, counted in
# the named counter "dropped" (`dropped` reads it).
nft_loss() {
  local ns=$1 bp
  bp=$(basis_points "$2")
  ip netns exec "$ns" nft -f - <<EOF
table inet $TABLE {
  counter dropped {}
  chain input {
    type filter hook input priority 0; policy accept;
    numgen random mod 10000 < $bp counter name "dropped" drop
  }
}
EOF
}

# tbf's bucket: 4 ms at RATE, at least 4 KiB; its queue holds 100 ms.
tbf() {
  local ns=$1 dev=$2 rate=$3
  ip netns exec "$ns" tc qdisc add dev "$dev" root tbf rate "$rate" burst "$(burst_bytes "$rate")" latency 100ms
}

burst_bytes() {
  awk -v r="$1" 'BEGIN {
    if (!match(r, /^[0-9]+(\.[0-9]+)?/)) exit 1
    n = substr(r, 1, RLENGTH); u = substr(r, RLENGTH + 1)
    m["bit"] = 1; m["kbit"] = 1e3; m["mbit"] = 1e6; m["gbit"] = 1e9; m[""] = 1
    m["bps"] = 8; m["kbps"] = 8e3; m["mbps"] = 8e6; m["gbps"] = 8e9
    if (!(u in m)) exit 1
    b = n * m[u] / 8 * 0.004
    printf "%d\n", b < 4096 ? 4096 : b }' || die "rate must look like 20mbit, 500kbit or 2mbps, not '$1'"
}

# One-packet segments: TCP hands the link MTU-sized packets, so a drop loses one.
small_packets() {
  local ns=$1 dev=$2
  ip -n "$ns" link set "$dev" mtu 1500 gso_max_segs 1 gso_max_size 1500
}

# Impairs what namespace NS sends (netem) or receives (nftables) on DEV.
impair() {
  local mech=$1 ns=$2 dev=$3 loss=$4 delay=$5 rate=$6
  small_packets "$ns" "$dev"
  if [[ $mech == netem ]]; then
    local args=(loss "${loss}%")
    awk -v d="$delay" 'BEGIN { exit !(d > 0) }' && args+=(delay "${delay}ms")
    [[ -n $rate ]] && args+=(rate "$rate")
    ip netns exec "$ns" tc qdisc add dev "$dev" root netem "${args[@]}"
  else
    nft_loss "$ns" "$loss"
    [[ -n $rate ]] && tbf "$ns" "$dev" "$rate"
  fi
  return 0
}

# TCP settings of namespace NS for --bounded-rto (see the top).
bounded_rto() {
  ip netns exec "$1" sh -c 'echo 0 > /proc/sys/net/ipv4/tcp_timestamps
    f=/proc/sys/net/ipv4/tcp_rto_max_ms; [ ! -e $f ] || echo 1000 > $f'
}

down() {
  local ns
  [[ $# -gt 0 ]] || set -- "$A" "$B"
  for ns in "$@"; do ip netns del "$ns" 2>/dev/null || true; done
}

up() {
  local loss=0 delay=0 rate="" bounded=0 mech
  while [[ $# -gt 0 ]]; do
    if [[ $1 == --bounded-rto ]]; then bounded=1; shift; continue; fi
    [[ $# -ge 2 ]] || die "$1 needs a value"
    case "$1" in
      --loss) loss="$2" ;;
      --delay) delay="$2" ;;
      --rate) rate="$2" ;;
      *) die "unknown option $1" ;;
    esac
    shift 2
  done
  basis_points "$loss" >/dev/null
  [[ $delay =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "delay must be milliseconds, not '$delay'"
  [[ -z $rate ]] || burst_bytes "$rate" >/dev/null
  mech=$(mechanism)
  if [[ $mech == nftables ]] && awk -v d="$delay" 'BEGIN { exit !(d > 0) }'; then
    die "--delay needs netem (sch_netem), which this kernel lacks; nftables gives loss and tbf rate only"
  fi
  down
  ip netns add "$A"
  ip netns add "$B"
  ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B"
  ip -n "$A" addr add "$IPA/24" dev "$VA"
  ip -n "$B" addr add "$IPB/24" dev "$VB"
  for ns in "$A" "$B"; do
    ip -n "$ns" link set lo up
    [[ $bounded -eq 0 ]] || bounded_rto "$ns"
  done
  # Both directions, so data and ACKs see the same medium.
  impair "$mech" "$A" "$VA" "$loss" "$delay" "$rate"
  impair "$mech" "$B" "$VB" "$loss" "$delay" "$rate"
  ip -n "$A" link set "$VA" up
  ip -n "$B" link set "$VB" up
  echo "netns.sh: $A ($IPA) <-> $B ($IPB): $mech loss ${loss}% delay ${delay}ms rate ${rate:-unlimited}"
}

loss_lo() {
  [[ $# -eq 2 || ( $# -eq 3 && $3 == --bounded-rto ) ]] || die "usage: netns.sh loss-lo NS PCT [--bounded-rto]"
  local ns=$1 loss=$2 bounded=${3:-} mech
  basis_points "$loss" >/dev/null
  mech=$(mechanism)
  down "$ns"
  ip netns add "$ns"
  # Loopback packets cross the egress qdisc and the input hook once each.
  impair "$mech" "$ns" lo "$loss" 0 ""
  ip -n "$ns" link set lo up
  [[ -z $bounded ]] || bounded_rto "$ns"
  echo "netns.sh: $ns loopback: $mech loss ${loss}%${bounded:+ (TCP: no timestamps, RTO <= 1 s)}"
}

# Sum over the namespaces of what netem's qdiscs or the nftables rule dropped.
dropped() {
  local ns total=0 n
  [[ $# -gt 0 ]] || set -- "$A" "$B"
  for ns in "$@"; do
    ip netns pids "$ns" >/dev/null 2>&1 || die "no namespace $ns"
    if n=$(ip netns exec "$ns" nft list counter inet "$TABLE" dropped 2>/dev/null); then
      n=$(sed -n 's/.*packets \([0-9]*\).*/\1/p' <<<"$n")
    else  # netem: "Sent ... (dropped N, ..." per qdisc
      n=$(ip netns exec "$ns" tc -s qdisc show | awk '/qdisc netem/ { m = 1 } m && /dropped/ {
            sub(/.*dropped /, ""); sub(/,.*/, ""); s += $0; m = 0 } END { print s + 0 }')
    fi
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

case "${1:-}" in
  check) mechanism ;;
  up) shift; up "$@" ;;
  loss-lo) shift; loss_lo "$@" ;;
  dropped) shift; dropped "$@" ;;
  down) shift; down "$@" ;;
  *) die "usage: netns.sh check | up [--loss PCT] [--delay MS] [--rate RATE] [--bounded-rto] | loss-lo NS PCT [--bounded-rto]" \
         "| dropped [NS...] | down [NS...]" ;;
esac
