//! The `epoll_ctl()` detour: registrations of converted, undecided sockets
//! are recorded (`registrations`) so that a swap carries them. Cost for
//! every other call: one bounds check and one load.

use crate::{fds, real, registrations, shared};
use libc::{c_int, epoll_event};

/// # Safety
/// As `epoll_ctl(2)`: `event` points to an `epoll_event` (or is null for
/// `EPOLL_CTL_DEL`).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut epoll_event,
) -> c_int {
    if fds::is_converted(fd) {
        return tracked(epfd, op, fd, event);
    }
    real::epoll_ctl(epfd, op, fd, event)
}

/// The call for a converted, undecided socket, then its record. Out of
/// line, so that other calls need no stack frame.
#[cold]
#[inline(never)]
fn tracked(epfd: c_int, op: c_int, fd: c_int, event: *mut epoll_event) -> c_int {
    let rc = real::epoll_ctl(epfd, op, fd, event);
    if rc == 0 {
        // SAFETY: the kernel accepted the call, so `event` was readable
        // when it needed one.
        unsafe { record(epfd, op, fd, event) };
    }
    rc
}

/// # Safety
/// `event` was accepted by the kernel for `op`.
unsafe fn record(epfd: c_int, op: c_int, fd: c_int, event: *const epoll_event) {
    let (events, data) = if op == libc::EPOLL_CTL_DEL || event.is_null() {
        (0, 0)
    } else {
        // SAFETY: see above; `epoll_event` is packed on x86_64.
        let event = unsafe { event.read_unaligned() };
        (event.events, event.u64)
    };
    if !registrations::record(epfd, op, fd, events, data) {
        shared::pin_tracked(
            fd,
            "epoll_ctl",
            "more epoll registrations than the shim carries",
        );
    }
}
