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

none=$(best "$BIN/sockprobe")
preload=$(best "$BIN/mptcpize-rs" run --engine preload "$BIN/sockprobe")
seccomp=$(best "$BIN/mptcpize-rs" run --engine seccomp "$BIN/sockprobe")

printf 'socket()+close() of a TCP socket, %s iterations, best of %s (kernel %s)\n\n' \
	"$N" "$ROUNDS" "$(uname -r)"
printf '%-10s %14s %10s\n' engine "ns per socket" "vs none"
for row in "none $none" "preload $preload" "seccomp $seccomp"; do
	set -- $row
	awk -v name="$1" -v ns="$2" -v base="$none" \
		'BEGIN { printf "%-10s %14d %9.1fx\n", name, ns, ns / base }'
done
