# mptcpize-rs: build, install and package like a system tool.
#
#   make                          release build + man pages + completions
#   sudo make install             into PREFIX (default /usr/local); no cargo run
#   sudo make uninstall           removes exactly what install put there
#   make deb                      target/debian/mptcpize-rs_VERSION_ARCH.deb (/usr)
#   make rpm                      target/rpm/*.rpm and *.src.rpm (packaging/mptcpize-rs.spec)
#   make test                     tests/run-all.sh (as root for the full suite)
#
# Use the same PREFIX (and LIBDIR, BINDIR, LAUNCHER_LINK if you set them)
# for `make` and `make install`: the launcher is built knowing both its
# directory and the shim's. It looks for the shim where PKGLIBDIR is
# relative to its own directory first (so a staged DESTDIR tree works too),
# then in PKGLIBDIR; `install` refuses a build made for other directories.
# `install` never runs cargo (root often has no toolchain): run `make` first.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
# The library directory: `make deb` passes Debian's multiarch one
# (/usr/lib/x86_64-linux-gnu), the rpm spec %{_libdir} (/usr/lib64).
LIBDIR ?= $(PREFIX)/lib
# The shim's stable, unversioned home: systemd drop-ins written by
# `mptcpize-rs enable` point here, so it must not move between versions.
PKGLIBDIR ?= $(LIBDIR)/mptcpize-rs
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
MAN1DIR ?= $(MANDIR)/man1
DOCDIR ?= $(DATADIR)/doc/mptcpize-rs
# Fedora keeps licence texts apart (the spec passes %{_licensedir}/mptcpize-rs).
LICENSEDIR ?= $(DOCDIR)
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
# zsh: site-functions is upstream's (and Fedora's) place; Debian packages
# use vendor-completions (what `make deb` passes).
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d

CARGO ?= cargo
CARGO_FLAGS ?= --locked
INSTALL ?= install

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
# Honours CARGO_TARGET_DIR like cargo does (relative: to the current directory).
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),$(ROOT)/target))
RELEASE_DIR := $(TARGET_DIR)/release
GEN_DIR := $(TARGET_DIR)/gen
DEB_DIR := $(TARGET_DIR)/debian
RPM_DIR := $(TARGET_DIR)/rpm
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(ROOT)/Cargo.toml | head -n 1)

# `make install`'s launcher is a static-pie executable: `run` is in the
# start-up path of every program it wraps, and a static binary starts
# without the dynamic loader's work (measured: 0.3 ms less per launch; see
# BENCHMARKS.md). The packages link it dynamically (LAUNCHER_LINK=dynamic),
# as distributions want: glibc's updates then reach it (see
# packaging/README.md). crt-static applies to the host target only (not to
# the shim, a shared library, nor to build scripts and proc-macros): with an
# explicit --target, RUSTFLAGS reach only the target's crates. A RUSTFLAGS
# from the environment (an rpm build's %set_build_flags) is kept.
LAUNCHER_LINK ?= static
LAUNCHER_RUSTFLAGS = $(strip $(RUSTFLAGS) $(if $(filter static,$(LAUNCHER_LINK)),-C target-feature=+crt-static))
HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
LAUNCHER_DIR := $(TARGET_DIR)/$(HOST)/release
BIN := $(LAUNCHER_DIR)/mptcpize-rs
SHIM := $(RELEASE_DIR)/libmptcpize_preload.so
DOCS := README.md
LICENSES := LICENSE-MIT LICENSE-APACHE
# What the build was made for; `install` checks it (see the top).
BUILT_FOR := $(GEN_DIR)/built-for
BUILT_FOR_TEXT = BINDIR=$(BINDIR) PKGLIBDIR=$(PKGLIBDIR) LAUNCHER_LINK=$(LAUNCHER_LINK)

.PHONY: all build install uninstall deb rpm test clean

all: build

# cargo decides what is stale; the generator is cheap and always rerun (its
# output depends on BINDIR and PKGLIBDIR). It is a separate, never-installed
# binary behind the `gen` feature (see launcher/src/bin/gen.rs), built in the dev
# profile: clap_mangen/clap_complete never reach the shipped binary.
build:
	@case '$(LAUNCHER_LINK)' in static|dynamic) ;; \
		*) echo 'LAUNCHER_LINK is static or dynamic, not $(LAUNCHER_LINK)' >&2; exit 1 ;; esac
	$(CARGO) build --release $(CARGO_FLAGS) \
		--manifest-path '$(ROOT)/Cargo.toml' --target-dir '$(TARGET_DIR)' \
		-p mptcpize-preload
	MPTCPIZE_RS_LIBDIR='$(PKGLIBDIR)' MPTCPIZE_RS_BINDIR='$(BINDIR)' \
	$(if $(LAUNCHER_RUSTFLAGS),RUSTFLAGS='$(LAUNCHER_RUSTFLAGS)') \
		$(CARGO) build --release $(CARGO_FLAGS) --target '$(HOST)' \
		--manifest-path '$(ROOT)/Cargo.toml' --target-dir '$(TARGET_DIR)' \
		-p mptcpize-rs --bin mptcpize-rs
	$(CARGO) run --quiet $(CARGO_FLAGS) \
		--manifest-path '$(ROOT)/Cargo.toml' --target-dir '$(TARGET_DIR)' \
		-p mptcpize-rs --features gen --bin mptcpize-rs-gen -- '$(GEN_DIR)' \
		--libdir '$(PKGLIBDIR)' --bindir '$(BINDIR)'
	printf '%s\n' '$(BUILT_FOR_TEXT)' >'$(BUILT_FOR).$$$$' && mv -f '$(BUILT_FOR).$$$$' '$(BUILT_FOR)'

install:
	@for f in '$(BIN)' '$(SHIM)' '$(GEN_DIR)/man/mptcpize-rs.1' '$(GEN_DIR)/completions/mptcpize-rs.bash' '$(BUILT_FOR)'; do \
		test -f "$$f" || { echo "$$f is missing: run \`make PREFIX=$(PREFIX)\` first" >&2; exit 1; }; \
	done
	@test "$$(cat '$(BUILT_FOR)')" = '$(BUILT_FOR_TEXT)' || { \
		echo "the build is for $$(cat '$(BUILT_FOR)'), not $(BUILT_FOR_TEXT):" \
			"run \`make\` with the same PREFIX (and LIBDIR, BINDIR, LAUNCHER_LINK) first" >&2; exit 1; }
	$(INSTALL) -d -m 0755 '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(PKGLIBDIR)' '$(DESTDIR)$(MAN1DIR)' \
		'$(DESTDIR)$(DOCDIR)' '$(DESTDIR)$(LICENSEDIR)' \
		'$(DESTDIR)$(BASHCOMPDIR)' '$(DESTDIR)$(ZSHCOMPDIR)' '$(DESTDIR)$(FISHCOMPDIR)'
	$(INSTALL) -m 0755 '$(BIN)' '$(DESTDIR)$(BINDIR)/mptcpize-rs'
	$(INSTALL) -m 0644 '$(SHIM)' '$(DESTDIR)$(PKGLIBDIR)/libmptcpize_preload.so'
	$(INSTALL) -m 0644 '$(GEN_DIR)'/man/*.1 '$(DESTDIR)$(MAN1DIR)/'
	$(INSTALL) -m 0644 '$(GEN_DIR)/completions/mptcpize-rs.bash' '$(DESTDIR)$(BASHCOMPDIR)/mptcpize-rs'
	$(INSTALL) -m 0644 '$(GEN_DIR)/completions/_mptcpize-rs' '$(DESTDIR)$(ZSHCOMPDIR)/_mptcpize-rs'
	$(INSTALL) -m 0644 '$(GEN_DIR)/completions/mptcpize-rs.fish' '$(DESTDIR)$(FISHCOMPDIR)/mptcpize-rs.fish'
	cd '$(ROOT)' && $(INSTALL) -m 0644 $(DOCS) '$(DESTDIR)$(DOCDIR)/'
	cd '$(ROOT)' && $(INSTALL) -m 0644 $(LICENSES) '$(DESTDIR)$(LICENSEDIR)/'

# Our own directories go when empty; shared ones (bin, man1, completion
# dirs...) only inside a DESTDIR staging tree, never on the live system.
uninstall:
	rm -f '$(DESTDIR)$(BINDIR)/mptcpize-rs' \
		'$(DESTDIR)$(PKGLIBDIR)/libmptcpize_preload.so' \
		'$(DESTDIR)$(MAN1DIR)/mptcpize-rs.1' '$(DESTDIR)$(MAN1DIR)'/mptcpize-rs-*.1 \
		'$(DESTDIR)$(BASHCOMPDIR)/mptcpize-rs' \
		'$(DESTDIR)$(ZSHCOMPDIR)/_mptcpize-rs' \
		'$(DESTDIR)$(FISHCOMPDIR)/mptcpize-rs.fish'
	cd '$(DESTDIR)$(DOCDIR)' 2>/dev/null && rm -f $(DOCS) || true
	cd '$(DESTDIR)$(LICENSEDIR)' 2>/dev/null && rm -f $(LICENSES) || true
	rmdir '$(DESTDIR)$(PKGLIBDIR)' '$(DESTDIR)$(DOCDIR)' '$(DESTDIR)$(LICENSEDIR)' 2>/dev/null || :
	@if [ -n '$(DESTDIR)' ] && [ -d '$(DESTDIR)' ]; then \
		cd '$(DESTDIR)' && for d in '$(BINDIR)' '$(PKGLIBDIR)' '$(MAN1DIR)' '$(DOCDIR)' '$(LICENSEDIR)' \
			'$(BASHCOMPDIR)' '$(ZSHCOMPDIR)' '$(FISHCOMPDIR)'; do \
			d=$${d#/}; while [ -n "$$d" ]; do \
				if [ -d "$$d" ]; then rmdir "$$d" 2>/dev/null || break; fi; \
				case $$d in */*) d=$${d%/*} ;; *) break ;; esac; \
			done; \
		done; \
	fi

# Debian's multiarch library directory: dpkg-dev's name for it, else the
# compiler's.
DEB_MULTIARCH = $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || $(CC) -print-multiarch 2>/dev/null)
DEB_SETTINGS = PREFIX=/usr LIBDIR=/usr/lib/$(DEB_MULTIARCH) LAUNCHER_LINK=dynamic

# A plain dpkg-deb package from a staged `make install PREFIX=/usr` (no
# extra tooling; see packaging/deb.sh). Safe to run concurrently: each run
# stages in its own directory and renames the .deb into place.
deb:
	@test -n '$(DEB_MULTIARCH)' || { echo 'make deb: no multiarch directory (install dpkg-dev)' >&2; exit 1; }
	$(MAKE) -f '$(ROOT)/Makefile' build $(DEB_SETTINGS)
	mkdir -p '$(DEB_DIR)'
	set -e; work=$$(mktemp -d '$(DEB_DIR)/build.XXXXXX'); \
	trap 'rm -rf "$$work"' EXIT; \
	$(MAKE) -f '$(ROOT)/Makefile' install $(DEB_SETTINGS) DESTDIR="$$work/debian/mptcpize-rs" \
		ZSHCOMPDIR=/usr/share/zsh/vendor-completions; \
	'$(ROOT)/packaging/deb.sh' "$$work" '$(VERSION)' '$(DEB_DIR)' '/usr/lib/$(DEB_MULTIARCH)/mptcpize-rs'

# rpmbuild checks BuildRequires against the rpm database, which on a system
# that is not rpm-based (Debian) knows none of its packages: skip it there.
RPMBUILD_FLAGS = $(shell rpm -q --quiet rpm 2>/dev/null || echo --nodeps)

# Binary and source rpms from packaging/mptcpize-rs.spec: the sources are
# the git checkout's files (committed or not, minus the ignored ones), the
# crates Cargo.lock pins go in a second tarball (`cargo vendor`), so the
# source rpm builds offline. The spec's own build runs in rpmbuild's tree,
# without this make's settings (MAKEFLAGS) or target directory. rpm's
# brp-compress needs bash but says #!/bin/sh, which is dash on Debian
# (where it then compresses no man page): it is run with bash. Safe to run
# concurrently, like `deb`.
rpm:
	@git -C '$(ROOT)' rev-parse --git-dir >/dev/null 2>&1 || \
		{ echo 'make rpm: packs the files of a git checkout; $(ROOT) is not one' >&2; exit 1; }
	@test -z '$(RPMBUILD_FLAGS)' || \
		echo 'make rpm: rpmbuild $(RPMBUILD_FLAGS): this rpm database lists no system packages, so BuildRequires go unchecked' >&2
	mkdir -p '$(RPM_DIR)'
	set -e; work=$$(mktemp -d '$(RPM_DIR)/build.XXXXXX'); \
	trap 'rm -rf "$$work"' EXIT; \
	src=mptcpize-rs-$(VERSION); mkdir "$$work/SOURCES"; \
	git -C '$(ROOT)' ls-files -z --cached --others --exclude-standard >"$$work/files"; \
	tar -C '$(ROOT)' --null -T "$$work/files" --sort=name --owner=0 --group=0 --numeric-owner \
		--transform "s,^,$$src/," -czf "$$work/SOURCES/$$src.tar.gz"; \
	$(CARGO) vendor $(CARGO_FLAGS) --quiet --versioned-dirs \
		--manifest-path '$(ROOT)/Cargo.toml' "$$work/vendor" >/dev/null; \
	tar -C "$$work" --sort=name --owner=0 --group=0 --numeric-owner \
		-cJf "$$work/SOURCES/$$src-vendor.tar.xz" vendor; \
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CARGO_TARGET_DIR \
		rpmbuild -ba $(RPMBUILD_FLAGS) --define "_topdir $$work" \
		--define '__brp_compress /bin/bash %{_rpmconfigdir}/brp-compress %{?_prefix}' \
		'$(ROOT)/packaging/mptcpize-rs.spec'; \
	for f in "$$work"/RPMS/*/*.rpm "$$work"/SRPMS/*.src.rpm; do \
		mv -f "$$f" '$(RPM_DIR)/'; echo '$(RPM_DIR)/'"$${f##*/}"; \
	done

test:
	'$(ROOT)/tests/run-all.sh'

clean:
	$(CARGO) clean --manifest-path '$(ROOT)/Cargo.toml' --target-dir '$(TARGET_DIR)'
