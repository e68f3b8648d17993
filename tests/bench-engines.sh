#!/usr/bin/env bash
# Per-socket cost of each engine of `mptcpize-rs run`: a loop of
# socket(AF_INET, SOCK_STREAM, 0) + close() in the probe program
# (`sockprobe bench N`, dynamically linked, so both engines can reach it),
# run without mptcpize-rs, under --engine preload and under --engine seccomp.
# Each figure is the best of ROUNDS runs, in ns per socket()+close() pair.
#
#   tests/bench-engines.sh [N] [ROUNDS]      (defaults: 20000 3; no root)
#
# "none" makes plain TCP sockets; both engines make MPTCP sockets, which
# cost more in the kernel: compare preload with "none" for the kernel's
# MPTCP cost, and seccomp with preload for the supervisor's round trip.
#
# Then the per-connect cost of the connection rules under the seccomp
# engine (`sockprobe bench-connect N/10`: socket() + connect() to its own
# 127.0.0.1 listener + accept() + close(), best of ROUNDS), side by side:
#   connect-none       plain TCP, no mptcpize-rs
#   connect-swapped    seccomp, default rules: the loopback connect() is
#                      sent to the supervisor and swapped to TCP
#   connect-kept       seccomp --loopback: kept MPTCP, no connect() trap
#   connect-trapped    seccomp --loopback --exclude-port 1: every connect()
#                      makes the round trip, the rules keep it MPTCP
# The listener is made with socket() too, so under the engine it is MPTCP
# (as a converted server's would be). The client's protocol is checked:
# 6 (TCP) for none and swapped, 262 (MPTCP) for kept and trapped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-20000}
ROUNDS=${2:-3}

cargo build -q --release --workspace --bins --lib
BIN=target/release
[ -n "${CARGO_TARGET_DIR:-}" ] && BIN=$CARGO_TARGET_DIR/release

best() {
	local best=
	for _ in $(seq "$ROUNDS"); do
		local ns
		ns=$(env -u LD_PRELOAD -u MPTCPIZE_RS_DEBUG -u MPTCPIZE_RS_LOG "$@" bench "$N" |
			awk '/^ns_per_socket/ { print $2 }')
		if [ -z "$ns" ]; then
			echo "no figure from: $*" >&2
			exit 1
		fi
		if [ -z "$best" ] || [ "$ns" -lt "$best" ]; then best=$ns; fi
	done
	echo "$best"
}

# best_connect PROTOCOL CMD...: the best ns per connect of ROUNDS runs of
# `CMD bench-connect N/10`, each checked to end with PROTOCOL.
best_connect() {
	local want=$1 best=
	shift
	for _ in $(seq "$ROUNDS"); do
		local out ns protocol
		out=$(env -u LD_PRELOAD -u MPTCPIZE_RS_DEBUG -u MPTCPIZE_RS_LOG -u MPTCPIZE_RS_RULES \
			"$@" bench-connect "$CONNECTS")
		ns=$(echo "$out" | awk '/^ns_per_connect/ { print $2 }')
		protocol=$(echo "$out" | awk '/^protocol/ { print $2 }')
		if [ -z "$ns" ] || [ "$protocol" != "$want" ]; then
			echo "want protocol $want, got: $out from: $*" >&2
			exit 1
		fi
		if [ -z "$best" ] || [ "$ns" -lt "$best" ]; then best=$ns; fi
	done
	echo "$best"
}

CONNECTS=$((N / 10))
none=$(best "$BIN/sockprobe")
preload=$(best "$BIN/mptcpize-rs" run --engine preload "$BIN/sockprobe")
seccomp=$(best "$BIN/mptcpize-rs" run --engine seccomp "$BIN/sockprobe")
# The same without SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6+), which
# the supervisor otherwise turns on.
nosync=$(best env MPTCPIZE_RS_BENCH_NO_SYNC_WAKE_UP=1 "$BIN/mptcpize-rs" run --engine seccomp \
	"$BIN/sockprobe")

printf 'socket()+close() of a TCP socket, %s iterations, best of %s (kernel %s)\n\n' \
	"$N" "$ROUNDS" "$(uname -r)"
printf '%-24s %14s %10s\n' engine "ns per socket" "vs none"
for row in "none $none" "preload $preload" "seccomp $seccomp" "seccomp-no-sync-wake-up $nosync"; do
	set -- $row
	awk -v name="$1" -v ns="$2" -v base="$none" \
		'BEGIN { printf "%-24s %14d %9.1fx\n", name, ns, ns / base }'
done

seccomp_run=("$BIN/mptcpize-rs" run --engine seccomp)
c_none=$(best_connect 6 "$BIN/sockprobe")
c_swapped=$(best_connect 6 "${seccomp_run[@]}" "$BIN/sockprobe")
c_kept=$(best_connect 262 "${seccomp_run[@]}" --loopback "$BIN/sockprobe")
c_trapped=$(best_connect 262 "${seccomp_run[@]}" --loopback --exclude-port 1 "$BIN/sockprobe")

printf '\nloopback connect() under the seccomp engine (socket+connect+accept+close), %s iterations, best of %s\n\n' \
	"$CONNECTS" "$ROUNDS"
printf '%-16s %14s %10s\n' case "ns per connect" "vs none"
for row in "connect-none $c_none" "connect-swapped $c_swapped" "connect-kept $c_kept" \
	"connect-trapped $c_trapped"; do
	set -- $row
	awk -v name="$1" -v ns="$2" -v base="$c_none" \
		'BEGIN { printf "%-16s %14d %9.1fx\n", name, ns, ns / base }'
done
