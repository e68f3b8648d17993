#!/usr/bin/env bash
# The project's test command: install the system tools the tests need (only
# those missing), then check formatting, lint, and run the whole test suite.
#
#   tests/run-all.sh          (as root: the network-namespace tests need it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '==> %s\n' "$*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	cat >&2 <<'MSG'
WARNING: not running as root. The tests that create network namespaces
         (ip netns) and run real servers and clients will FAIL.
         Run `sudo -E tests/run-all.sh` for the full suite.
MSG
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	fi
fi

have_pkg() {
	command -v dpkg-query >/dev/null 2>&1 &&
		dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

is_static() {
	# A static executable has no program interpreter.
	! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'program interpreter' &&
		LC_ALL=C readelf -h "$1" >/dev/null 2>&1
}

# package:command[,command...] -- the package is needed when a command is missing.
REQUIREMENTS=(
	iproute2:ip,ss
	curl:curl
	wget:wget
	iperf3:iperf3
	ncat:ncat
	python3:python3
	gcc:cc,gcc
	binutils:nm,readelf
	busybox-static:busybox
	golang-go:go
	debootstrap:debootstrap
	systemd-container:systemd-nspawn
	make:make
	# tests/packaging.rs: build both packages and lint them.
	rpm:rpmspec,rpmbuild
	dpkg-dev:dpkg-architecture,dpkg-shlibdeps
	lintian:lintian
	rpmlint:rpmlint
	xz-utils:xz
	git:git
	# tests/compat.rs: real programs under run, and the reference tool.
	nginx:nginx
	haproxy:haproxy
	nodejs:node
	mptcpize:mptcpize
)

missing=()
for req in "${REQUIREMENTS[@]}"; do
	pkg=${req%%:*}
	IFS=, read -r -a cmds <<<"${req#*:}"
	for c in "${cmds[@]}"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			missing+=("$pkg")
			break
		fi
	done
done
# The static-binary test needs a statically linked busybox specifically.
if command -v busybox >/dev/null 2>&1 && ! have_pkg busybox-static; then
	if ! command -v readelf >/dev/null 2>&1 || ! is_static "$(command -v busybox)"; then
		missing+=(busybox-static)
	fi
fi
# Headers for compiling the C fixture.
if command -v dpkg-query >/dev/null 2>&1 && ! have_pkg libc6-dev; then
	missing+=(libc6-dev)
fi

if [ "${#missing[@]}" -gt 0 ]; then
	# De-duplicate.
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if ! command -v apt-get >/dev/null 2>&1; then
		log "missing packages: ${missing[*]} (no apt-get here; install them by hand)"
		exit 1
	fi
	if [ "$(id -u)" -ne 0 ] && [ "${#SUDO[@]}" -eq 0 ]; then
		log "missing packages: ${missing[*]}; need root (or sudo) to install them"
		exit 1
	fi
	log "installing: ${missing[*]}"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
	log "cargo not found: install a Rust toolchain (https://rustup.rs)"
	exit 1
fi
for component in rustfmt clippy; do
	sub=${component/rustfmt/fmt}
	if ! cargo "$sub" --version >/dev/null 2>&1; then
		if command -v rustup >/dev/null 2>&1; then
			log "adding rustup component $component"
			rustup component add "$component"
		else
			log "cargo $sub is not available (install the $component component)"
			exit 1
		fi
	fi
done

log "cargo fmt --all -- --check"
cargo fmt --all -- --check
log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
# The man page/completion generator is behind a feature (see launcher/Cargo.toml).
log "cargo clippy -p mptcpize-rs --features gen --all-targets -- -D warnings"
cargo clippy -p mptcpize-rs --features gen --all-targets -- -D warnings
log "cargo test --workspace"
cargo test --workspace
log "all checks passed"
