//! A real systemd, booted as PID 1 in a throwaway container.
//!
//! [`SystemdContainer::boot`] starts `systemd-nspawn --boot` over an overlay
//! of a cached Debian root filesystem ([`rootfs()`]: Debian 12, systemd 252;
//! [`SystemdContainer::boot_suite`] with [`SUITE_SYSTEMD_257`] boots Debian
//! 13, systemd 257, cached beside it by [`rootfs_of`]), in its own PID, mount,
//! UTS, IPC, cgroup and network namespaces, and waits until
//! `systemctl is-system-running` says `running` (or `degraded`). Commands run
//! inside with `nsenter` ([`SystemdContainer::exec`]); files go in with
//! [`SystemdContainer::write`] and [`SystemdContainer::install`].
//!
//! Typical use (as root):
//!
//! ```ignore
//! let c = SystemdContainer::boot();
//! c.install_mptcpize_rs(); // /usr/local/bin/mptcpize-rs + the shim
//! c.write("/etc/systemd/system/web.service", "[Service]\nExecStart=...\n");
//! c.daemon_reload();
//! c.exec_ok(&["mptcpize-rs", "enable", "web.service", "--now"]);
//! c.wait_for_mptcp_listen(8080, LONG);
//! c.restart("web.service");
//! println!("{}", c.ss(&["-ltnM"]));
//! // Dropping `c` powers the container off and removes everything.
//! ```
//!
//! How it is put together (and why):
//! - The root filesystem is made once with `debootstrap --variant=minbase`
//!   and kept in `/var/cache/mptcpize-rs-tests/` (outside the repository,
//!   reused by later runs). It is built in a `build-*` directory and renamed
//!   into place when complete; concurrent builders are serialized with
//!   flock(2). debootstrap runs in private mount and PID namespaces, so an
//!   interrupted build leaves no mounts or processes behind.
//! - Each container gets an overlayfs mount (lower = the cache, upper/work in
//!   a fresh temporary directory): the cache is never modified. The overlay
//!   is mounted in a private mount namespace that only `systemd-nspawn` and
//!   the container live in, so the host's mount table never shows it, and
//!   the kernel drops it when the last of them exits (even after SIGKILL).
//!   The same namespace gets its own tmpfs on `/run/systemd/nspawn`, where
//!   nspawn keeps per-machine state that it would otherwise leave on the
//!   host when `/run` is not a tmpfs.
//! - This host has no systemd as PID 1, so nspawn runs with
//!   `--register=no --keep-unit` (no machined, no transient scope: it would
//!   need the system bus otherwise). With `--keep-unit` nspawn creates its
//!   `payload`/`supervisor` cgroups below its own cgroup, so every container
//!   is first moved to its own cgroup (`mptcpize-rs-tests/NAME` in each
//!   hierarchy nspawn uses); without that, parallel containers would share
//!   `/payload`. The same cgroup lets the guard kill everything on drop.
//! - The container gets the unified (cgroup v2) hierarchy
//!   (`SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1`) even on a hybrid host: systemd
//!   boots cleanly, but without cgroup controllers (they are bound to v1
//!   on such hosts), so resource limits (`MemoryMax=`...) have no effect.
//! - The container never sees the host's `/`, so its `systemd-tmpfiles`
//!   cleans only the overlay's `/tmp`, never the host's.
//! - Commands run with `nsenter --all --root --wd` (the container's
//!   namespaces and root, a clean environment); they stay in the host's
//!   cgroup and die with the container's PID namespace.
//! - Cleanup: dropping the guard sends SIGTERM to nspawn (the container
//!   shuts down, bounded by [`STOP_TIMEOUT`]), then kills whatever is left
//!   in its cgroups and removes them and the temporary directory. If the
//!   test process dies without dropping it (SIGKILL, abort), a watcher
//!   process per container (reading a pipe only the test process can write)
//!   sees EOF and does the same; anything that escapes even that is swept
//!   by the next [`SystemdContainer::boot`] (names carry the owner's PID).
//!
//! Where each part lives:
//! - [`rootfs()`]: building and caching the Debian root filesystem
//!   (`rootfs.rs`, with the flock(2) of concurrent builders in `lock.rs`).
//! - [`SystemdContainer::boot`] and dropping it: the nspawn child, waiting
//!   for systemd, powering off (`container.rs`).
//! - Commands and files inside a running container (`commands.rs`).
//! - A client namespace joined to the container by two paths, with MPTCP
//!   set up on both ends, for data over MPTCP from outside
//!   ([`SystemdContainer::link_two_paths`], `paths.rs`).
//! - The containers' cgroups (`cgroups.rs`) and mount points (`mounts.rs`).
//! - The watcher of each container and the sweep of what dead test
//!   processes left behind (`leftovers.rs`).

mod cgroups;
mod commands;
mod container;
mod leftovers;
mod lock;
mod mounts;
mod paths;
mod rootfs;

pub use commands::{CONTAINER_LAUNCHER, CONTAINER_SHIM, EXEC_TIMEOUT};
pub use container::{BOOT_TIMEOUT, STOP_TIMEOUT, SystemdContainer};
pub use paths::{ContainerPaths, PATH_RATE_MBIT};
pub use rootfs::{
    DEBOOTSTRAP_TIMEOUT, DEFAULT_CACHE_DIR, DEFAULT_MIRROR, INCLUDE, SUITE, SUITE_SYSTEMD_257,
    debian_mirror, rootfs, rootfs_of,
};
