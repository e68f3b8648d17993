#!/usr/bin/env bash
# Benchmarks mptcpize-rs against the reference `mptcpize` (Debian package
# mptcpd/mptcpize) and the raw baseline, side by side in one run, and writes
# BENCHMARKS.md at the top of the repository.
#
#   sudo tests/bench.sh
#
# Root, because it installs what is missing (mptcpd, mptcpize, valgrind, a C
# compiler; apt-get) and because the throughput figure builds the two-path
# test network (`mptcpize-rs demo`). Without root that row says so and the
# rest is measured. Settings (environment): BENCH_N1/BENCH_N2 socket loop
# lengths under callgrind (1000/2000), BENCH_ROUNDS launch rounds (1000),
# BENCH_OUT the report (BENCHMARKS.md).
#
# Figures:
#  1. User-space instructions added per intercepted socket(), counted with
#     valgrind's callgrind (deterministic): a C loop of N socket(AF_INET,
#     SOCK_STREAM, 0) + close(), run for N1 and N2; (I(N2)-I(N1))/(N2-N1)
#     cancels start-up. Baseline: the same loop calling socket(..., 262)
#     itself, without any wrapper. Each library is put in LD_PRELOAD
#     directly (what each `run` does); valgrind hands LD_PRELOAD on to the
#     program, and the loop prints SO_PROTOCOL of its last socket, which
#     must be 262, so the conversion is checked under valgrind too. Once
#     with a small environment and once with 60 more variables.
#     Also per loopback connect() (kept MPTCP, and swapped to TCP by the
#     default rules), per epoll_ctl() of a descriptor the shim does not
#     track, and callgrind's total for `true` with and without the library
#     (the start-up cost every exec pays).
#  2. Launch overhead: median wall time of ROUNDS interleaved rounds, each
#     running bare `true`, `mptcpize-rs run true`, `mptcpize run true` and
#     `mptcpize-rs run --loopback true` (an option before PROG)
#     (posix_spawn + waitpid, order rotated every round).
#  3. Memory added to a wrapped `sleep`: VmRSS, Pss and Private_Dirty
#     (smaps_rollup), median of 5; the libraries' file sizes and relocation
#     counts.
#  4. Throughput on the two-path network: `mptcpize-rs demo`'s "both paths
#     up" line (its sender under `mptcpize-rs run` against plain TCP).
#  5. Per-socket cost of the seccomp engine beside the preload engine, and
#     its per-connect cost of the connection rules (a loopback connect()
#     swapped to TCP, kept MPTCP, trapped but kept): tests/bench-engines.sh.
#  6. The shim before and after a change, in the same run: the shim of
#     BENCH_BEFORE (a git revision; default f1adac9, the last one before
#     issue 20's start-up work) is built in a temporary worktree and
#     measured beside the current one: instructions per socket()+close(),
#     per untouched UDP socket, per epoll_ctl ADD+DEL of a descriptor the
#     shim does not track, at start-up, its size and relocations, and the
#     wall time of a loopback connect() that is swapped to TCP, against bare
#     TCP and against the same connect kept MPTCP (`loopback=1`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
N1=${BENCH_N1:-1000}
N2=${BENCH_N2:-2000}
ROUNDS=${BENCH_ROUNDS:-1000}
ENGINE_N=20000
ENGINE_ROUNDS=3
DEMO_SECONDS=6
BEFORE=${BENCH_BEFORE:-f1adac9}
CONNECTS=${BENCH_CONNECTS:-2000}

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

# --- what it needs ----------------------------------------------------------
missing=()
command -v mptcpize >/dev/null || missing+=(mptcpd mptcpize)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
command -v readelf >/dev/null || missing+=(binutils)
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: run as root to install them"
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
REF_BIN=$(command -v mptcpize)
REF_LIB=$(dpkg -L libmptcpwrap0 mptcpize mptcpd 2>/dev/null | grep -m1 'libmptcpwrap\.so' || true)
[ -n "$REF_LIB" ] || die "the reference's libmptcpwrap.so is not installed"
REF_LIB=$(readlink -f "$REF_LIB")
REF_VERSION=$(dpkg-query -W -f '${Version}' mptcpize 2>/dev/null || echo unknown)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# What users install: the Makefile's build (a static-pie launcher), staged
# with make install, so the launcher finds the shim as it does on a system.
say "building and staging what make install installs"
make -s -C "$ROOT" build PREFIX=/usr >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log" >&2; die "make failed"; }
make -s -C "$ROOT" install PREFIX=/usr DESTDIR="$TMP/stage" >"$TMP/install.log" 2>&1 ||
	{ cat "$TMP/install.log" >&2; die "make install failed"; }
OURS_BIN=$TMP/stage/usr/bin/mptcpize-rs
OURS_LIB=$TMP/stage/usr/lib/mptcpize-rs/libmptcpize_preload.so
[ -x "$OURS_BIN" ] && [ -f "$OURS_LIB" ] || die "no $OURS_BIN or $OURS_LIB after make install"
# Written back to disk, as an installed library is: a page of a file not
# yet written back counts as Private_Dirty in every process mapping it.
sync -- "$OURS_BIN" "$OURS_LIB"

# --- helper programs, compiled now ------------------------------------------
cat >"$TMP/sockloop.c" <<'EOF'
/* sockloop tcp|raw N: N x socket(AF_INET, SOCK_STREAM, 0 | IPPROTO_MPTCP)
 * + close(); prints SO_PROTOCOL of the last socket.
 * sockloop other N: N x socket(AF_INET, SOCK_DGRAM, 0) + setsockopt() +
 * connect() + close(): a descriptor the shim does not convert, through every
 * call it wraps.
 * sockloop epoll N: N x epoll_ctl(ADD) + epoll_ctl(DEL) of one pipe end: what
 * an event loop pays per registration of a descriptor the shim does not
 * track. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	if (strcmp(argv[1], "epoll") == 0) {
		int ep = epoll_create1(0), pipefd[2];
		struct epoll_event ev = { .events = EPOLLIN };
		if (ep < 0 || pipe(pipefd) != 0)
			return 1;
		for (long i = 0, n = atol(argv[2]); i < n; i++)
			if (epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev) != 0 ||
			    epoll_ctl(ep, EPOLL_CTL_DEL, pipefd[0], &ev) != 0) {
				perror("epoll_ctl");
				return 1;
			}
		printf("protocol 0\n");
		return 0;
	}
	int protocol = strcmp(argv[1], "raw") == 0 ? 262 : 0;
	int other = strcmp(argv[1], "other") == 0;
	long n = atol(argv[2]);
	int last = -1, one = 1;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, other ? SOCK_DGRAM : SOCK_STREAM, protocol);
		if (fd < 0) {
			perror("socket");
			return 1;
		}
		if (other && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
			      connect(fd, (struct sockaddr *)&to, sizeof to) != 0)) {
			perror("setsockopt/connect");
			return 1;
		}
		if (i == n - 1) {
			socklen_t len = sizeof last;
			getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &last, &len);
		}
		close(fd);
	}
	printf("protocol %d\n", last);
	return 0;
}
EOF
cat >"$TMP/launchtime.c" <<'EOF'
/* launchtime ROUNDS -- CMD... -- CMD...: every round runs each command once,
 * in an order rotated each round (posix_spawn, stdout to /dev/null, then
 * waitpid); prints "INDEX MEDIAN_NS" per command. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static long long now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int rounds = atoi(argv[1]);
	char **cmds[16];
	int n = 0;
	for (int i = 2; i < argc && n < 16; i++)
		if (strcmp(argv[i], "--") == 0) {
			argv[i] = NULL;
			cmds[n++] = &argv[i + 1];
		}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	long long *t = calloc((size_t)rounds * n, sizeof *t);
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < n; k++) {
			int c = (r + k) % n, status;
			pid_t pid;
			long long start = now();
			if (posix_spawn(&pid, cmds[c][0], &fa, NULL, cmds[c], environ) != 0) {
				perror("posix_spawn");
				return 1;
			}
			if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
			    WEXITSTATUS(status) != 0) {
				fprintf(stderr, "launchtime: %s failed\n", cmds[c][0]);
				return 1;
			}
			t[c * rounds + r] = now() - start;
		}
	for (int c = 0; c < n; c++) {
		qsort(&t[c * rounds], rounds, sizeof *t, cmp);
		printf("%d %lld\n", c, t[c * rounds + rounds / 2]);
	}
	return 0;
}
EOF
cat >"$TMP/connloop.c" <<'EOF'
/* connloop N: N x (socket + connect to our own 127.0.0.1 listener +
 * accept + close both), best of 3 runs; prints "NS_PER_CONNECT PROTOCOL"
 * (SO_PROTOCOL of the last client socket). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	long n = atol(argv[1]);
	struct sockaddr_in addr = { .sin_family = AF_INET };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof addr;
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, len) != 0 ||
	    listen(listener, 64) != 0 || getsockname(listener, (struct sockaddr *)&addr, &len) != 0) {
		perror("listener");
		return 1;
	}
	long long best = -1;
	int protocol = -1;
	for (int run = 0; run < 3; run++) {
		long long start = now();
		for (long i = 0; i < n; i++) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
				perror("connect");
				return 1;
			}
			int peer = accept(listener, NULL, NULL);
			if (i == n - 1) {
				socklen_t l = sizeof protocol;
				getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &l);
			}
			close(peer);
			close(fd);
		}
		long long took = (now() - start) / n;
		if (best < 0 || took < best)
			best = took;
	}
	printf("%lld %d\n", best, protocol);
	return 0;
}
EOF
cc -O2 -o "$TMP/sockloop" "$TMP/sockloop.c"
cc -O2 -o "$TMP/connloop" "$TMP/connloop.c"
cc -O2 -o "$TMP/launchtime" "$TMP/launchtime.c"

# --- 1. instructions per socket() -------------------------------------------
# A small environment, and the same with 60 more variables.
SMALL_ENV=(PATH=/usr/bin:/bin)
BIG_ENV=("${SMALL_ENV[@]}")
for i in $(seq -w 1 60); do BIG_ENV+=("BENCH_FILLER_$i=some value number $i"); done

# instructions ENVNAME LIB MODE N: callgrind's total for one sockloop run.
# under_callgrind ENVNAME LIB CMD...: runs CMD under callgrind with only
# the variables in the array ENVNAME (and LD_PRELOAD=LIB unless LIB is
# empty), passing its output on; `collected` then prints its total.
under_callgrind() {
	local -n envref=$1
	local preload=()
	[ -n "$2" ] && preload=("LD_PRELOAD=$2")
	shift 2
	env -i "${envref[@]}" "${preload[@]}" valgrind --tool=callgrind \
		--callgrind-out-file=/dev/null "$@" 2>"$TMP/vg.log" ||
		die "$1 failed under valgrind: $(tail -3 "$TMP/vg.log")"
}
collected() { awk '/Collected :/ { print $NF }' "$TMP/vg.log"; }

instructions() {
	local lib=$2 mode=$3 n=$4 out want=262
	[ "$mode" = other ] && want=17
	[ "$mode" = epoll ] && want=0
	out=$(under_callgrind "$1" "$lib" "$TMP/sockloop" "$mode" "$n") || exit 1
	[ "$out" = "protocol $want" ] ||
		die "sockloop $mode with ${lib:-no wrapper} made $out, not protocol $want, under valgrind"
	collected
}

# per_socket ENVNAME LIB MODE: instructions per loop iteration.
per_socket() {
	local a b
	a=$(instructions "$1" "$2" "$3" "$N1")
	b=$(instructions "$1" "$2" "$3" "$N2")
	awk -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%.1f", (b - a) / (n2 - n1) }'
}

say "counting instructions per socket() (callgrind, N=$N1 and $N2)"
declare -A INSN
for envname in SMALL_ENV BIG_ENV; do
	INSN[raw,$envname]=$(per_socket "$envname" "" raw)
	INSN[ref,$envname]=$(per_socket "$envname" "$REF_LIB" tcp)
	INSN[ours,$envname]=$(per_socket "$envname" "$OURS_LIB" tcp)
done
# A socket the shim leaves alone, through socket/setsockopt/connect/close:
# what the wrapped calls cost every other descriptor.
for who in raw ref ours; do
	case $who in raw) lib= ;; ref) lib=$REF_LIB ;; ours) lib=$OURS_LIB ;; esac
	INSN[other,$who]=$(per_socket SMALL_ENV "$lib" other)
done
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
INSN[other,ref,added]=$(sub "${INSN[other,ref]}" "${INSN[other,raw]}")
INSN[other,ours,added]=$(sub "${INSN[other,ours]}" "${INSN[other,raw]}")
for who in ref ours; do
	for envname in SMALL_ENV BIG_ENV; do
		INSN[$who,$envname,added]=$(sub "${INSN[$who,$envname]}" "${INSN[raw,$envname]}")
	done
done
# What loading the library adds to every process start (every exec of the
# wrapped program and of whatever it runs): callgrind's total for `true`.
# The loader copies and compares the library's path, so its work grows
# with the path's length: each library is loaded from a copy at a path of
# the same length (LIB/NAME.so, NAME four letters).
mkdir -p "$TMP/lib"
startup() {
	local copy=
	if [ -n "$1" ]; then
		copy=$TMP/lib/$2.so
		cp "$1" "$copy"
	fi
	under_callgrind SMALL_ENV "$copy" "$(type -P true)" >/dev/null
	collected
}
INSN[start,raw]=$(startup "")
INSN[start,ref,added]=$(( $(startup "$REF_LIB" refs) - INSN[start,raw] ))
INSN[start,ours,added]=$(( $(startup "$OURS_LIB" ours) - INSN[start,raw] ))
# What wrapping epoll_ctl costs every descriptor the shim does not track
# (the reference does not wrap it).
INSN[epoll,raw]=$(per_socket SMALL_ENV "" epoll)
for who in ref ours; do
	case $who in ref) lib=$REF_LIB ;; ours) lib=$OURS_LIB ;; esac
	INSN[epoll,$who,added]=$(sub "$(per_socket SMALL_ENV "$lib" epoll)" "${INSN[epoll,raw]}")
done
# per_connect LIB RULES WANT: instructions per loopback connect (connloop
# runs its loop three times: N1/10 and N2/10 connects each), checking the
# last client socket's protocol is WANT.
per_connect() {
	local a b out n1=$((N1 / 10)) n2=$((N2 / 10)) conn_env=("${SMALL_ENV[@]}")
	[ -n "$2" ] && conn_env+=("MPTCPIZE_RS_RULES=$2")
	out=$(under_callgrind conn_env "$1" "$TMP/connloop" "$n1") || exit 1
	[ "${out#* }" = "$3" ] || die "connloop with ${1:-no wrapper} ${2:+($2) }made protocol ${out#* }, not $3"
	a=$(collected)
	out=$(under_callgrind conn_env "$1" "$TMP/connloop" "$n2") || exit 1
	b=$(collected)
	awk -v a="$a" -v b="$b" -v n=$((3 * (n2 - n1))) 'BEGIN { printf "%.0f", (b - a) / n }'
}
say "counting instructions per loopback connect() (callgrind)"
INSN[conn,raw]=$(per_connect "" "" 6)
INSN[conn,ref]=$(per_connect "$REF_LIB" "" 262)
INSN[conn,kept]=$(per_connect "$OURS_LIB" "loopback=1" 262)
INSN[conn,swapped]=$(per_connect "$OURS_LIB" "" 6)

# --- 6. the shim before and after ----------------------------------------------
say "building the shim of $BEFORE for the before/after figures"
git -C "$ROOT" worktree add -q --detach "$TMP/before" "$BEFORE" >/dev/null 2>&1 ||
	die "cannot check out $BEFORE (set BENCH_BEFORE to a revision of this repository)"
trap 'git -C "$ROOT" worktree remove --force "$TMP/before" >/dev/null 2>&1; rm -rf "$TMP"' EXIT
cargo build -q --release --manifest-path "$TMP/before/Cargo.toml" -p mptcpize-preload \
	--target-dir "$TMP/before-target" || die "cannot build the shim of $BEFORE"
BEFORE_LIB=$TMP/before-target/release/libmptcpize_preload.so
for who in before ours; do
	case $who in before) lib=$BEFORE_LIB ;; ours) lib=$OURS_LIB ;; esac
	INSN[tcp,$who]=$(sub "$(per_socket SMALL_ENV "$lib" tcp)" "${INSN[raw,SMALL_ENV]}")
	INSN[other,$who,ba]=$(sub "$(per_socket SMALL_ENV "$lib" other)" "${INSN[other,raw]}")
	INSN[start,$who,ba]=$(($(startup "$lib" "${who:0:4}") - INSN[start,raw]))
done
for who in before ours; do
	case $who in before) lib=$BEFORE_LIB ;; ours) lib=$OURS_LIB ;; esac
	INSN[epoll,$who]=$(sub "$(per_socket SMALL_ENV "$lib" epoll)" "${INSN[epoll,raw]}")
done
say "timing loopback connects ($CONNECTS, best of 3)"
# connects LIB [RULES]: "NS PROTOCOL" per loopback connect.
connects() {
	env -i PATH=/usr/bin:/bin ${1:+LD_PRELOAD=$1} ${2:+MPTCPIZE_RS_RULES=$2} "$TMP/connloop" "$CONNECTS"
}
declare -A CONN
read -r CONN[bare] CONN[bare,p] < <(connects "")
read -r CONN[before] CONN[before,p] < <(connects "$BEFORE_LIB")
read -r CONN[ours] CONN[ours,p] < <(connects "$OURS_LIB")
read -r CONN[kept] CONN[kept,p] < <(connects "$OURS_LIB" "loopback=1")
[ "${CONN[ours,p]}" = 6 ] && [ "${CONN[before,p]}" = 6 ] && [ "${CONN[kept,p]}" = 262 ] ||
	die "connloop protocols: before ${CONN[before,p]}, ours ${CONN[ours,p]}, kept ${CONN[kept,p]} (want 6, 6, 262)"

# --- 2. launch overhead -----------------------------------------------------
say "timing launches ($ROUNDS interleaved rounds)"
TRUE=$(type -P true)
declare -A LAUNCH
while read -r index ns; do
	case $index in
	0) LAUNCH[bare]=$ns ;;
	1) LAUNCH[ours]=$ns ;;
	2) LAUNCH[ref]=$ns ;;
	3) LAUNCH[ours,opt]=$ns ;;
	esac
done < <("$TMP/launchtime" "$ROUNDS" -- "$TRUE" -- "$OURS_BIN" run true -- "$REF_BIN" run true \
	-- "$OURS_BIN" run --loopback true)
[ -n "${LAUNCH[ref]:-}" ] || die "launch timing failed"
ms() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e6 }'; }
LAUNCH[ours,over]=$((LAUNCH[ours] - LAUNCH[bare]))
LAUNCH[ref,over]=$((LAUNCH[ref] - LAUNCH[bare]))
LAUNCH[ours,opt,over]=$((LAUNCH[ours,opt] - LAUNCH[bare]))

# --- 3. memory --------------------------------------------------------------
say "measuring the memory of a wrapped sleep"
# memory CMD...: "VmRSS_KiB Pss_KiB Private_Dirty_KiB OWN_KiB" of
# `CMD sleep 5` half a second in; OWN is the Rss of the wrapper library's
# own mappings (0 bare).
memory() {
	"$@" sleep 5 &
	local pid=$! rss pss dirty own
	sleep 0.5
	if [ "$(cat "/proc/$pid/comm")" != sleep ]; then
		pid=$(pgrep -P "$pid" -x sleep | head -1)
	fi
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
	pss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")
	dirty=$(awk '/^Private_Dirty:/ { print $2 }' "/proc/$pid/smaps_rollup")
	own=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { lib = ($6 ~ /libmptcpwrap|libmptcpize_preload/) }
		lib && /^Rss:/ { kib += $2 } END { print kib + 0 }' "/proc/$pid/smaps")
	if [ $# -gt 0 ] && ! grep -qE 'libmptcpwrap|libmptcpize_preload' "/proc/$pid/maps"; then
		kill "$!" 2>/dev/null
		die "no wrapper library in the memory map of: $* sleep"
	fi
	kill "$!" 2>/dev/null
	wait "$!" 2>/dev/null || true
	echo "$rss $pss $dirty $own"
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(($# / 2 + 1))p"; }
declare -A MEM
for who in bare ours ref; do
	case $who in
	bare) cmd=() ;;
	ours) cmd=("$OURS_BIN" run) ;;
	ref) cmd=("$REF_BIN" run) ;;
	esac
	rss=() pss=() dirty=() own=()
	for _ in 1 2 3 4 5; do
		read -r r p d o < <(memory "${cmd[@]}")
		rss+=("$r") pss+=("$p") dirty+=("$d") own+=("$o")
	done
	MEM[$who,own]=$(median "${own[@]}")
	MEM[$who,rss]=$(median "${rss[@]}")
	MEM[$who,pss]=$(median "${pss[@]}")
	MEM[$who,dirty]=$(median "${dirty[@]}")
done
for who in ours ref; do
	MEM[$who,rss,added]=$((MEM[$who,rss] - MEM[bare,rss]))
	MEM[$who,pss,added]=$((MEM[$who,pss] - MEM[bare,pss]))
	MEM[$who,dirty,added]=$((MEM[$who,dirty] - MEM[bare,dirty]))
done
SIZE_OURS=$(stat -L -c %s "$OURS_LIB")
SIZE_REF=$(stat -L -c %s "$REF_LIB")
relocations() { readelf -rW "$1" | awk '/^ *[0-9a-f]+ +[0-9a-f]+ +R_/ { n++ } END { print n + 0 }'; }
RELOC_OURS=$(relocations "$OURS_LIB")
RELOC_REF=$(relocations "$REF_LIB")
SIZE_BEFORE=$(stat -L -c %s "$BEFORE_LIB")
RELOC_BEFORE=$(relocations "$BEFORE_LIB")

# --- 4. throughput on the two-path network ------------------------------------
if [ "$(id -u)" -eq 0 ]; then
	say "measuring throughput on the two-path network (mptcpize-rs demo, ${DEMO_SECONDS} s per transfer)"
	demo_line=$("$OURS_BIN" demo --seconds "$DEMO_SECONDS" 2>&1 | grep -m1 '^both paths up' || true)
	# both paths up      95.3 Mbit/s      181.8 Mbit/s  (1.91x)
	read -r TCP_MBIT MPTCP_MBIT TPUT_RATIO < <(echo "$demo_line" |
		awk '{ gsub(/[()x]/, "", $NF); print $4, $6, $NF }') || true
else
	say "not root: skipping the two-path throughput"
fi

# --- 5. engines -------------------------------------------------------------
say "per-socket cost of the engines (tests/bench-engines.sh $ENGINE_N $ENGINE_ROUNDS)"
engines=$(tests/bench-engines.sh "$ENGINE_N" "$ENGINE_ROUNDS")
engine_ns() { echo "$engines" | awk -v e="$1" '$1 == e { print $2 }'; }
ENG_NONE=$(engine_ns none)
ENG_PRELOAD=$(engine_ns preload)
ENG_SECCOMP=$(engine_ns seccomp)
CONN_NONE=$(engine_ns connect-none)
CONN_SWAPPED=$(engine_ns connect-swapped)
CONN_KEPT=$(engine_ns connect-kept)
CONN_TRAPPED=$(engine_ns connect-trapped)

# --- report -----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "—"; else printf "%.2fx", a / b }'; }
yes_no() { if awk "BEGIN { exit !($1) }"; then echo "**yes**"; else echo "**NO**"; fi; }
kib() { echo "$1 KiB"; }

small=${INSN[ours,SMALL_ENV,added]} big=${INSN[ours,BIG_ENV,added]}
insn_met=$(yes_no "$small <= 100 && $big <= 100 && ($big - $small) <= 1 && ($small - $big) <= 1")
launch_met=$(yes_no "${LAUNCH[ours,over]} <= ${LAUNCH[ref,over]}")
launch_opt_met=$(yes_no "${LAUNCH[ours,opt,over]} <= ${LAUNCH[ref,over]}")
start_met=$(yes_no "${INSN[start,ours,added]} <= ${INSN[start,ref,added]}")
own_met=$(yes_no "${MEM[ours,own]} <= ${MEM[ref,own]}")
dirty_met=$(yes_no "${MEM[ours,dirty,added]} <= ${MEM[ref,dirty,added]}")
if [ -n "${TPUT_RATIO:-}" ]; then
	tput_met=$(yes_no "$TPUT_RATIO >= 1.7")
	tput_cells="$TCP_MBIT Mbit/s (plain TCP, one path) | — | $MPTCP_MBIT Mbit/s | ${TPUT_RATIO}x TCP | ≥ 1.7x TCP | $tput_met"
else
	tput_cells="— | — | not measured (needs root) | — | ≥ 1.7x TCP | —"
fi

# Why a target this run did not meet is missed, said under the table.
missed_targets() {
	if [ "$own_met" != "**yes**" ]; then
		cat <<EOF
**The library's resident memory is missed** by $((MEM[ours,own] - MEM[ref,own])) KiB. Those pages
are its file's, clean and shared with every process
that maps it (Pss divides them among those processes), and the kernel maps a
faulting page's cached neighbours with it (fault-around, 64 KiB), so a
process maps about the whole file: $SIZE_OURS bytes against the reference's
$SIZE_REF, which has one function to hold. Ours holds the connection rules,
the invisible swap and its checks, the report table and the debug log, all
kept (issue 20 asks for every feature). Private_Dirty, the memory only that
process holds, is the row that tells what each process pays.
EOF
	fi
	if [ "$dirty_met" != "**yes**" ]; then
		echo
		echo "**Private memory is missed** by $((MEM[ours,dirty,added] - MEM[ref,dirty,added])) KiB in this run."
	fi
	if [ "$start_met" != "**yes**" ] || [ "$launch_opt_met" != "**yes**" ] || [ "$launch_met" != "**yes**" ]; then
		echo
		echo "**A start-up or launch target is missed in this run**: see the rows marked NO."
	fi
}

MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
	cat <<EOF
# Benchmarks

mptcpize-rs against the reference \`mptcpize\` (mptcpd $REF_VERSION, \`$REF_BIN\`,
library \`$REF_LIB\`) and the raw baseline, measured side by side in one run
of \`tests/bench.sh\`. Generated file: do not edit, run the command again.

- Machine: $(nproc) CPUs, $MODEL; kernel $(uname -r)
- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Command: \`sudo tests/bench.sh\` (from the repository's top directory)

| figure | raw baseline | mptcpize (reference) | mptcpize-rs | mptcpize-rs / reference | target | met |
| --- | ---: | ---: | ---: | ---: | --- | --- |
| user-space instructions added per \`socket()\`, environment of \`PATH\` only | ${INSN[raw,SMALL_ENV]} per socket()+close() | ${INSN[ref,SMALL_ENV,added]} | $small | $(ratio "$small" "${INSN[ref,SMALL_ENV,added]}") | ≤ 100, independent of the environment | $insn_met |
| user-space instructions added per \`socket()\`, \`PATH\` and 60 more variables | ${INSN[raw,BIG_ENV]} per socket()+close() | ${INSN[ref,BIG_ENV,added]} | $big | $(ratio "$big" "${INSN[ref,BIG_ENV,added]}") | ≤ 100, independent of the environment | $insn_met |
| user-space instructions added to a socket the shim leaves alone (UDP: \`socket()\`+\`setsockopt()\`+\`connect()\`+\`close()\`) | ${INSN[other,raw]} per iteration | ${INSN[other,ref,added]} | ${INSN[other,ours,added]} | | reported (the calls issue 8 wraps) | |
| user-space instructions added per \`epoll_ctl()\` ADD+DEL of a descriptor the shim does not track | ${INSN[epoll,raw]} per ADD+DEL | ${INSN[epoll,ref,added]} (not wrapped) | ${INSN[epoll,ours,added]} | | reported (the price of carrying registrations through a swap) | |
| user-space instructions per loopback \`connect()\` kept MPTCP (socket+connect+accept+close; \`--loopback\` for mptcpize-rs: no swap) | ${INSN[conn,raw]} (plain TCP) | ${INSN[conn,ref]} | ${INSN[conn,kept]} | $(ratio "${INSN[conn,kept]}" "${INSN[conn,ref]}") | reported | |
| user-space instructions per loopback \`connect()\` swapped to plain TCP (the default rules: loopback stays TCP) | ${INSN[conn,raw]} (plain TCP) | — (no rules: stays MPTCP) | ${INSN[conn,swapped]} | | reported (the swap: reading the destination, a new socket, the checks) | |
| user-space instructions added to a process start by loading the library (\`true\`) | ${INSN[start,raw]} (bare \`true\`) | ${INSN[start,ref,added]} | ${INSN[start,ours,added]} | $(ratio "${INSN[start,ours,added]}" "${INSN[start,ref,added]}") | ≤ the reference's | $start_met |
| launch: median wall time of \`run true\` | $(ms "${LAUNCH[bare]}") ms (bare \`true\`) | $(ms "${LAUNCH[ref]}") ms | $(ms "${LAUNCH[ours]}") ms | $(ratio "${LAUNCH[ours]}" "${LAUNCH[ref]}") | | |
| launch overhead over bare \`true\` | — | $(ms "${LAUNCH[ref,over]}") ms | $(ms "${LAUNCH[ours,over]}") ms | $(ratio "${LAUNCH[ours,over]}" "${LAUNCH[ref,over]}") | ≤ the reference's | $launch_met |
| launch overhead with an option before PROG (\`run --loopback true\`) | — | $(ms "${LAUNCH[ref,over]}") ms (\`run true\`) | $(ms "${LAUNCH[ours,opt,over]}") ms | $(ratio "${LAUNCH[ours,opt,over]}" "${LAUNCH[ref,over]}") | ≤ the reference's \`run true\` | $launch_opt_met |
| VmRSS of \`sleep 5\` | $(kib "${MEM[bare,rss]}") | $(kib "${MEM[ref,rss]}") | $(kib "${MEM[ours,rss]}") | | | |
| resident memory added (VmRSS; its noise here is ±64 KiB) | — | $(kib "${MEM[ref,rss,added]}") | $(kib "${MEM[ours,rss,added]}") | | reported | |
| resident memory of the library's own mappings (their Rss) | — | $(kib "${MEM[ref,own]}") | $(kib "${MEM[ours,own]}") | $(ratio "${MEM[ours,own]}" "${MEM[ref,own]}") | ≤ the reference's | $own_met |
| proportional memory added (Pss) | $(kib "${MEM[bare,pss]}") (bare Pss) | $(kib "${MEM[ref,pss,added]}") | $(kib "${MEM[ours,pss,added]}") | | reported | |
| private memory added (Private_Dirty: pages no other process shares) | $(kib "${MEM[bare,dirty]}") (bare) | $(kib "${MEM[ref,dirty,added]}") | $(kib "${MEM[ours,dirty,added]}") | | ≤ the reference's | $dirty_met |
| preload library: file size | — | $SIZE_REF bytes | $SIZE_OURS bytes | $(ratio "$SIZE_OURS" "$SIZE_REF") | | |
| preload library: relocations (\`readelf -r\`) | — | $RELOC_REF | $RELOC_OURS | $(ratio "$RELOC_OURS" "$RELOC_REF") | | |
| throughput, two 100 Mbit/s paths (\`mptcpize-rs demo\`) | $tput_cells |
| ns per \`socket()\`+\`close()\`, preload engine ($ENGINE_N iterations, best of $ENGINE_ROUNDS) | $ENG_NONE (plain TCP) | — | $ENG_PRELOAD | $(ratio "$ENG_PRELOAD" "$ENG_NONE") of raw | | |
| ns per \`socket()\`+\`close()\`, seccomp engine | $ENG_NONE (plain TCP) | — (no such engine) | $ENG_SECCOMP | $(ratio "$ENG_SECCOMP" "$ENG_NONE") of raw | reported | |
| ns per loopback \`connect()\`, seccomp engine, swapped to TCP (default rules; socket+connect+accept+close) | $CONN_NONE (plain TCP) | — (no such engine) | $CONN_SWAPPED | $(ratio "$CONN_SWAPPED" "$CONN_NONE") of raw | reported | |
| ns per loopback \`connect()\`, seccomp engine, kept MPTCP (\`--loopback\`: no \`connect()\` trap) | $CONN_NONE (plain TCP) | — | $CONN_KEPT | $(ratio "$CONN_KEPT" "$CONN_NONE") of raw | reported | |
| ns per loopback \`connect()\`, seccomp engine, trapped and kept MPTCP (\`--loopback --exclude-port 1\`: one round trip) | $CONN_NONE (plain TCP) | — | $CONN_TRAPPED | $(ratio "$CONN_TRAPPED" "$CONN_NONE") of raw | reported | |

$(missed_targets)

How each figure is taken:

- **Instructions**: valgrind's callgrind counts the user-space instructions of
  a C loop of N \`socket(AF_INET, SOCK_STREAM, 0)\` + \`close()\`, for
  N = $N1 and $N2; (I($N2) − I($N1)) / $((N2 - N1)) cancels start-up and is the cost
  of one iteration. The raw baseline is the same loop calling
  \`socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)\` itself with no wrapper;
  "added" is a wrapper's figure minus it. Each library is put in
  \`LD_PRELOAD\` directly, as each \`run\` would (valgrind passes \`LD_PRELOAD\`
  on to the program); the loop prints the protocol of its last socket, and
  the script checks it is 262 (MPTCP) under valgrind. The environment holds
  \`PATH\` only, then \`PATH\` and 60 more variables: the reference calls
  \`getenv()\` on every \`socket()\`, mptcpize-rs reads its settings once at load.
  The start-up row is callgrind's total for \`true\` with and without the
  library in \`LD_PRELOAD\`: the dynamic loader's work for the library
  (mapping it, its symbol lookups, relocating it) and its constructor, paid
  by every process the wrapped program starts with exec. Each library is
  loaded from a copy at a path of the same length (the loader's work on
  the path grows with it: about ten instructions a character). The \`epoll_ctl\`
  row is the same loop method over ADD+DEL of a pipe end; the \`connect()\`
  rows run the connect loop below under callgrind (N1/10 and N2/10
  connects, three times each) and check the protocol of the last socket.
- **Launch**: $ROUNDS rounds, each running bare \`$TRUE\`, \`mptcpize-rs run true\`,
  \`mptcpize run true\` and \`mptcpize-rs run --loopback true\` once
  (posix_spawn + waitpid, order rotated each round); the median of each.
  Absolute times on a shared machine are noise; compare within the table.
  \`run [OPTIONS] PROG ARGS...\` in the forms \`run --help\` shows is read
  without clap (\`cli::run_without_clap\`, held to clap by the tests);
  anything else goes through clap's parser, which costs page faults more
  than instructions.
- **Memory**: \`sleep 5\` bare and under each \`run\`, read half a second in:
  VmRSS from \`/proc/PID/status\`, Pss and Private_Dirty from
  \`/proc/PID/smaps_rollup\`, the Rss of the library's own mappings from
  \`/proc/PID/smaps\`; median of 5. VmRSS of the same \`sleep\` varies by
  tens of KiB from run to run here (its stack and heap pages), so the
  library's own mappings and Private_Dirty carry the targets. VmRSS and Pss count the
  library's file pages the process has mapped: clean pages of the page
  cache, shared with every other process using the library, and mapped
  whole because the kernel maps the cached neighbours of a faulting page
  (fault-around), so they grow with the file's size. Private_Dirty counts
  what only this process holds.
- **Throughput**: the "both paths up" line of \`mptcpize-rs demo --seconds $DEMO_SECONDS\`:
  two network namespaces joined by two paths shaped to 100 Mbit/s each; the
  demo's own sender and receiver, once as plain TCP, once under
  \`mptcpize-rs run\` (\`tests/multipath.rs\` asserts the same ≥ 1.7x with iperf3).
- **Engines**: \`tests/bench-engines.sh $ENGINE_N $ENGINE_ROUNDS\` (the probe program's loop of
  \`socket()\` + \`close()\`, wall time, best of $ENGINE_ROUNDS); both engines make MPTCP
  sockets, which cost more in the kernel than the plain TCP of the first column.

## The shim before and after issue 20 (start-up)

The shim of \`$BEFORE\` (\`BENCH_BEFORE\`) built and measured in the same run,
as above. Issue 20 moved the lookups of libc's functions from load time to
their first call (with a lookup that takes no lock, so a first call in a
signal handler is safe), cut the library's imports from 26 to 4 (its own
system calls through \`syscall()\`, its own memory functions, the
environment read from the constructor's arguments, \`dlsym\` found rather
than imported) and its relocations from 119 to 16.

| figure | raw baseline | before ($BEFORE) | after | after / before |
| --- | ---: | ---: | ---: | ---: |
| user-space instructions added per \`socket()\`+\`close()\` (TCP, converted) | ${INSN[raw,SMALL_ENV]} | ${INSN[tcp,before]} | ${INSN[tcp,ours]} | $(ratio "${INSN[tcp,ours]}" "${INSN[tcp,before]}") |
| user-space instructions added per UDP \`socket()\`+\`setsockopt()\`+\`connect()\`+\`close()\` | ${INSN[other,raw]} | ${INSN[other,before,ba]} | ${INSN[other,ours,ba]} | $(ratio "${INSN[other,ours,ba]}" "${INSN[other,before,ba]}") |
| user-space instructions added per \`epoll_ctl\` ADD+DEL of a descriptor the shim does not track | ${INSN[epoll,raw]} | ${INSN[epoll,before]} | ${INSN[epoll,ours]} | $(ratio "${INSN[epoll,ours]}" "${INSN[epoll,before]}") |
| user-space instructions added to a process start (\`true\`) | ${INSN[start,raw]} | ${INSN[start,before,ba]} | ${INSN[start,ours,ba]} | $(ratio "${INSN[start,ours,ba]}" "${INSN[start,before,ba]}") |
| file size | — | $SIZE_BEFORE bytes | $SIZE_OURS bytes | $(ratio "$SIZE_OURS" "$SIZE_BEFORE") |
| relocations | — | $RELOC_BEFORE | $RELOC_OURS | $(ratio "$RELOC_OURS" "$RELOC_BEFORE") |
| ns per loopback \`connect()\` swapped to TCP (socket+connect+accept+close, best of 3 × $CONNECTS) | ${CONN[bare]} (plain TCP) | ${CONN[before]} | ${CONN[ours]} | $(ratio "${CONN[ours]}" "${CONN[before]}") |
| ns per loopback \`connect()\` kept MPTCP (\`loopback=1\`: no swap) | ${CONN[bare]} (plain TCP) | — | ${CONN[kept]} | |

\`tests/bench-engines.sh\` output of this run:

\`\`\`
$engines
\`\`\`
EOF
} >"$OUT"
say "wrote $OUT"
cat "$OUT"
