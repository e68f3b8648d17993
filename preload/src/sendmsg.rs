//! The `sendmsg()` detour: a converted, undecided socket sent to another
//! process with `SCM_RIGHTS` is shared and stays MPTCP (`shared`).
//!
//! The message is inspected only after the kernel accepted it, so the shim
//! never reads memory the kernel would have refused (EFAULT). Cost for
//! other messages: one load of `msg_controllen`.

use crate::{fds, real, shared};
use libc::{c_int, msghdr, ssize_t};

/// # Safety
/// As `sendmsg(2)`: `msg` points to a valid `msghdr`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let sent = real::sendmsg(fd, msg, flags);
    // SAFETY: the kernel has just read `*msg` without fault.
    if sent >= 0 && unsafe { (*msg).msg_controllen } != 0 {
        // SAFETY: as above, for the whole header and its control data.
        unsafe { pin_passed(msg) };
    }
    sent
}

/// Pins every tracked descriptor in the message's `SCM_RIGHTS` data.
///
/// # Safety
/// `msg` and its control data were accepted by the kernel.
#[cold]
#[inline(never)]
unsafe fn pin_passed(msg: *const msghdr) {
    // SAFETY: the CMSG macros walk the control buffer `msg` describes.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` lies inside the control buffer (CMSG_NXTHDR's bound).
        let header = unsafe { &*cmsg };
        if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN(0) is the header's size, a small constant.
            let data_len =
                (header.cmsg_len as usize).saturating_sub(unsafe { libc::CMSG_LEN(0) } as usize);
            // SAFETY: the data follows the header, `data_len` bytes long.
            let data = unsafe { libc::CMSG_DATA(cmsg) };
            for i in 0..data_len / size_of::<c_int>() {
                // SAFETY: within the data; descriptors may be unaligned.
                let fd = unsafe { data.cast::<c_int>().add(i).read_unaligned() };
                if fds::is_converted(fd) {
                    shared::pin_tracked(fd, "sendmsg", "sent to another process (SCM_RIGHTS)");
                }
            }
        }
        // SAFETY: as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
}
