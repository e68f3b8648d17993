#!/bin/sh
# Turn a staged `make install PREFIX=/usr DESTDIR=WORK/debian/mptcpize-rs`
# into OUTDIR/mptcpize-rs_VERSION_ARCH.deb with plain dpkg-deb (run by
# `make deb`; no debhelper, no cargo-deb). PKGLIBDIR is the shim's
# directory (/usr/lib/<multiarch>/mptcpize-rs).
#
#   packaging/deb.sh WORK VERSION OUTDIR PKGLIBDIR
#
# Depends comes from dpkg-shlibdeps when dpkg-dev is installed (it reads the
# libraries' symbols files), else from the binaries' NEEDED entries: each
# library's owning package, libc6 with the newest GLIBC_ symbol version used.
# No maintainer scripts: the package only ships files, so `dpkg -r` removes
# everything it installed.
set -eu

[ $# -eq 4 ] || { echo "usage: packaging/deb.sh WORK VERSION OUTDIR PKGLIBDIR" >&2; exit 2; }
work=$1 version=$2 outdir=$3 pkglibdir=$4
pkg=mptcpize-rs
here=$(cd "$(dirname "$0")" && pwd)
root=$work/debian/$pkg
arch=$(dpkg --print-architecture)
elves="$root/usr/bin/mptcpize-rs $root$pkglibdir/libmptcpize_preload.so"

for f in $elves; do
	[ -f "$f" ] || { echo "deb.sh: $f is missing (stage with make install)" >&2; exit 1; }
done

# The changelog states this version (lintian compares them).
changelog_version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$here/changelog")
[ "$changelog_version" = "$version" ] || {
	echo "deb.sh: packaging/changelog is for $changelog_version, not $version: add an entry" >&2
	exit 1
}

# Debian policy: compressed man pages and changelog (a native package's is
# changelog.gz), a copyright file in the doc directory.
gzip -9nf "$root"/usr/share/man/man1/*.1
gzip -9nc "$here/changelog" >"$root/usr/share/doc/$pkg/changelog.gz"
chmod 0644 "$root/usr/share/doc/$pkg/changelog.gz"
cat >"$root/usr/share/doc/$pkg/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: mptcpize-rs

Files: *
Copyright: 2026 the mptcpize-rs developers
License: MIT or Apache-2.0
 The full texts are LICENSE-MIT and LICENSE-APACHE in this directory
 (Apache-2.0 also in /usr/share/common-licenses/Apache-2.0).
EOF
chmod 0644 "$root/usr/share/doc/$pkg/copyright"

# DEBIAN/ marks the package root (dpkg-shlibdeps looks for it).
mkdir -p "$root/DEBIAN"
depends=
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
	printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$pkg" "$pkg" >"$work/debian/control"
	# shellcheck disable=SC2086 # $elves is a list of paths without spaces
	depends=$(cd "$work" && dpkg-shlibdeps -O $(for f in $elves; do printf -- '-e%s ' "${f#"$work"/}"; done) |
		sed -n 's/^shlibs:Depends=//p')
else
	libc_version=$(for f in $elves; do objdump -T "$f"; done |
		grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
	for lib in $(for f in $elves; do objdump -p "$f"; done | awk '$1 == "NEEDED" { print $2 }' | sort -u); do
		path=$(ldconfig -p | awk -v lib="$lib" '$1 == lib { print $NF; exit }')
		[ -n "$path" ] || { echo "deb.sh: cannot find $lib" >&2; exit 1; }
		# dpkg knows the path it installed: with merged /usr, either one.
		owner=
		for p in "$path" "$(readlink -f "$path")"; do
			[ -n "$owner" ] || owner=$(dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1)
		done
		[ -n "$owner" ] || { echo "deb.sh: no package owns $path" >&2; exit 1; }
		case $owner in
		libc6) dep="libc6${libc_version:+ (>= $libc_version)}" ;;
		*) dep=$owner ;;
		esac
		depends="${depends:+$depends, }$dep"
	done
fi
[ -n "$depends" ] || { echo "deb.sh: could not work out Depends" >&2; exit 1; }

installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: the mptcpize-rs developers <mptcpize-rs@example.invalid>
Installed-Size: $installed_size
Depends: $depends
Section: net
Priority: optional
Homepage: https://example.invalid/mptcpize-rs
Description: run unmodified programs over Multipath TCP
 mptcpize-rs gives unmodified Linux programs Multipath TCP (RFC 8684): an
 LD_PRELOAD shim (or, for static and Go programs, a seccomp supervisor)
 opens their TCP stream sockets as IPPROTO_MPTCP, so one connection can use
 several paths at once and survive the loss of one.
 .
 It can also enable MPTCP for systemd services through a drop-in, check
 whether MPTCP works on this host, and inspect the sockets of running
 processes.
 .
 The shim is installed at $pkglibdir/,
 a stable path that drop-ins point at across upgrades.
EOF
# What dpkg --verify checks the installed files against.
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
	>"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$outdir"
deb=$outdir/${pkg}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb.tmp.$$" >/dev/null
mv -f "$deb.tmp.$$" "$deb"
echo "$deb"
