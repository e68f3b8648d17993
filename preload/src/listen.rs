//! The `listen()` detour: listeners stay MPTCP unless `--no-listen` or
//! `--exclude-port` (on the bound port) says plain TCP.

use crate::rules::Verdict;
use crate::{config, debug_log, fds, real, swap};
use libc::c_int;

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    if fds::is_converted(fd) {
        decide(fd);
    }
    real::listen(fd, backlog)
}

/// Applies the rules to a converted socket about to listen.
#[cold]
#[inline(never)]
fn decide(fd: c_int) {
    if let Verdict::Tcp(why) = config::rules().for_listen(swap::bound_port(fd)) {
        let result = swap::to_tcp(fd, None);
        if config::debug() {
            debug_log::swap(fd, "listen", None, why.describe(), result);
        }
    }
    fds::forget(fd);
}
