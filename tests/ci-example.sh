#!/usr/bin/env bash
# Prove in CI that an application works over Multipath TCP and survives a
# path failure: python3's http.server and curl, both under mptcpize-rs, on a
# two-path testnet; path 1 fails in the middle of a download, which must
# complete intact over path 2. The README's "Testing your application in CI"
# runs this script as written, and so does this project's CI
# (tests/tests/testnet.rs, as root and as sudo's caller). Replace the server
# and client commands with your own.
#
#   sudo tests/ci-example.sh    (MPTCPIZE_RS=path/to/mptcpize-rs, TESTNET_NAME=ci)
#
# Under sudo, `testnet exec` runs the commands as sudo's caller: the files
# they use are made readable and writable for that user.
# Exit status 0 when every check passed; the failing check says what failed.
set -euo pipefail

MPTCPIZE_RS=${MPTCPIZE_RS:-mptcpize-rs}
TESTNET=${TESTNET_NAME:-ci}
SERVER=198.18.1.2 # path 1's server address; the server listens on all of them
work=$(mktemp -d)
made=

cleanup() {
	# Only a testnet this script made: `up` refuses a name in use.
	if [ -n "$made" ]; then
		"$MPTCPIZE_RS" testnet down "$TESTNET" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "ci-example: FAILED: $*" >&2
	exit 1
}

# path 2's received bytes and whether a client subflow runs on path 2,
# from `testnet status --json`.
path2() {
	"$MPTCPIZE_RS" testnet status "$TESTNET" --json | python3 -c '
import json, sys
status = json.load(sys.stdin)
received = next(p["rx_bytes"] for p in status["paths"] if p["path"] == 2)
subflow = any(s["path"] == 2 and s["side"] == "client" for s in status["subflows"])
print(received, int(subflow))'
}

# Two 20 Mbit/s paths: slow enough that the download is still running when
# path 1 fails.
"$MPTCPIZE_RS" testnet up --name "$TESTNET" --paths 2 --rate 20
made=1

chmod 755 "$work"
head -c 16M /dev/urandom >"$work/data.bin"
chmod 644 "$work/data.bin"
mkdir "$work/download"
chown "${SUDO_UID:-0}:${SUDO_GID:-0}" "$work/download"

"$MPTCPIZE_RS" testnet exec "$TESTNET" server --mptcp -- \
	python3 -m http.server 8000 --bind 0.0.0.0 --directory "$work" >/dev/null 2>&1 &
disown # `testnet down` ends it; no job report then

# The server is up when a plain request gets an answer (at most 10 s).
deadline=$((SECONDS + 10))
until "$MPTCPIZE_RS" testnet exec "$TESTNET" client -- \
	curl -fs -o /dev/null --max-time 1 "http://$SERVER:8000/"; do
	[ "$SECONDS" -lt "$deadline" ] || fail "the server did not answer within 10 s"
	sleep 0.2
done

# --require-mptcp: a socket that cannot be MPTCP fails instead of using TCP,
# so a download that succeeds used MPTCP.
"$MPTCPIZE_RS" testnet exec "$TESTNET" client --mptcp --require-mptcp -- \
	curl -fsS --max-time 60 -o "$work/download/data.bin" "http://$SERVER:8000/data.bin" &
download=$!

# Fail path 1 once the connection has a subflow on path 2 (at most 10 s).
deadline=$((SECONDS + 10))
until read -r before subflow < <(path2) && [ "$subflow" = 1 ]; do
	[ "$SECONDS" -lt "$deadline" ] || fail "no subflow on path 2 within 10 s"
	sleep 0.2
done
"$MPTCPIZE_RS" testnet path "$TESTNET" 1 down

wait "$download" || fail "the download did not complete after path 1 failed"
cmp -s "$work/data.bin" "$work/download/data.bin" || fail "the downloaded file differs"

# Path 2 carried what was left: at least 2 MB more since path 1 failed.
read -r after _ < <(path2)
[ $((after - before)) -gt 2000000 ] ||
	fail "path 2 received only $((after - before)) bytes after path 1 failed"
echo "ci-example: ok: 16 MiB intact; path 2 received $((after - before)) bytes after path 1 failed"
