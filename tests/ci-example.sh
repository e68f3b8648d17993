#!/usr/bin/env bash
# Prove in CI that an application works over Multipath TCP and survives a
# path failure: python3's http.server and curl, both under mptcpize-rs, on a
# two-path testnet; path 1 fails in the middle of a download, which must
# complete intact over path 2. The README's "Testing your application in CI"
# runs this script as written, and so does this project's CI
# (tests/tests/testnet.rs). Replace the server and client commands with
# your own.
#
#   sudo tests/ci-example.sh            (MPTCPIZE_RS=path/to/mptcpize-rs, NAME=ci)
#
# Exit status 0 when every check passed; the failing check says what failed.
set -euo pipefail

MPTCPIZE_RS=${MPTCPIZE_RS:-mptcpize-rs}
NAME=${NAME:-ci}
SERVER=198.18.1.2 # path 1's server address; the server listens on all of them
work=$(mktemp -d)

cleanup() {
	"$MPTCPIZE_RS" testnet down "$NAME" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "ci-example: FAILED: $*" >&2
	exit 1
}

# Two 20 Mbit/s paths: slow enough that the download is still running when
# path 1 fails.
"$MPTCPIZE_RS" testnet up --name "$NAME" --paths 2 --rate 20

head -c 16M /dev/urandom >"$work/data.bin"
"$MPTCPIZE_RS" testnet exec "$NAME" server --mptcp -- \
	python3 -m http.server 8000 --bind 0.0.0.0 --directory "$work" >/dev/null 2>&1 &
disown # `testnet down` ends it; no job report then

# The server is up when a plain request gets an answer (at most 10 s).
for _ in $(seq 50); do
	if "$MPTCPIZE_RS" testnet exec "$NAME" client -- \
		curl -s -o /dev/null --max-time 2 "http://$SERVER:8000/"; then
		break
	fi
	sleep 0.2
done

# --require-mptcp: a socket that cannot be MPTCP fails instead of using TCP,
# so a download that succeeds used MPTCP.
"$MPTCPIZE_RS" testnet exec "$NAME" client --mptcp --require-mptcp -- \
	curl -s --max-time 60 -o "$work/got.bin" "http://$SERVER:8000/data.bin" &
download=$!
sleep 2
"$MPTCPIZE_RS" testnet path "$NAME" 1 down
wait "$download" || fail "the download did not complete after path 1 failed"
cmp -s "$work/data.bin" "$work/got.bin" || fail "the downloaded file differs"

# Path 2 carried data to the client: the download went on without path 1.
"$MPTCPIZE_RS" testnet status "$NAME" --json >"$work/status.json"
python3 - "$work/status.json" <<'EOF' || fail "path 2 carried too little"
import json, sys
status = json.load(open(sys.argv[1]))
paths = {p["path"]: p for p in status["paths"]}
assert not paths[1]["up"], "path 1 should be down"
received = paths[2]["rx_bytes"]
assert received > 4_000_000, f"path 2 received {received} bytes"
print(f"ci-example: ok: 16 MiB intact; path 2 received {received} bytes after path 1 failed")
EOF
