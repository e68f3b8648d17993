//! The messages of the socket pair between the supervisor and its child
//! before exec: a tag byte, an errno, and at most one descriptor passed
//! with `SCM_RIGHTS`. The child sends from between fork and exec, so the
//! sending side is async-signal-safe (everything on the stack, one system
//! call); what the tags mean is [`super::spawn`]'s business.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::ffi;

/// One message as received.
#[derive(Debug)]
pub struct Message {
    pub tag: u8,
    /// 0 when the message carries none.
    pub errno: i32,
    pub fd: Option<OwnedFd>,
}

/// Room for one `cmsghdr` carrying one int, 8-byte aligned.
type ControlBuffer = [u64; 4];

/// A `msghdr` for one data buffer and the first `control_len` bytes of
/// `control`. Async-signal-safe.
fn message_header(
    iov: &mut libc::iovec,
    control: &mut ControlBuffer,
    control_len: usize,
) -> libc::msghdr {
    // SAFETY: msghdr is plain data; zero is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control_len;
    msg
}

/// Sends one byte `tag` with descriptor `fd` attached (SCM_RIGHTS).
/// Async-signal-safe: everything lives on the stack.
pub fn send_fd(socket: RawFd, tag: u8, fd: RawFd) -> Result<(), i32> {
    let mut control: ControlBuffer = [0; 4];
    let mut byte = tag;
    let mut iov = libc::iovec {
        iov_base: (&mut byte as *mut u8).cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is arithmetic.
    let control_len = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
    let msg = message_header(&mut iov, &mut control, control_len);
    // SAFETY: the control buffer (32 bytes) holds CMSG_SPACE(4) = 24 bytes,
    // so the first header and its data are inside it.
    let rc = unsafe {
        let header = libc::CMSG_FIRSTHDR(&msg);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<RawFd>(), fd);
        libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL)
    };
    if rc < 0 { Err(ffi::errno()) } else { Ok(()) }
}

/// Sends `tag` and `errno`, without a descriptor; errors are ignored (the
/// child exits right after). Async-signal-safe.
pub fn send_errno(socket: RawFd, tag: u8, errno: i32) {
    let mut message = [0u8; 5];
    message[0] = tag;
    message[1..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: send of a 5-byte stack buffer.
    unsafe {
        libc::send(
            socket,
            message.as_ptr().cast(),
            message.len(),
            libc::MSG_NOSIGNAL,
        )
    };
}

/// Receives one message. `Ok(None)` at end of file.
pub fn receive(socket: &OwnedFd) -> io::Result<Option<Message>> {
    let mut control: ControlBuffer = [0; 4];
    let mut data = [0u8; 5];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let control_len = size_of_val(&control);
    let mut msg = message_header(&mut iov, &mut control, control_len);
    let received = loop {
        // SAFETY: msg describes live buffers of the sizes given.
        let rc = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if rc >= 0 {
            break rc as usize;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    let mut fd = None;
    // SAFETY: the kernel filled `control` up to msg_controllen; the CMSG
    // macros walk only within it.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&msg);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<RawFd>());
                // The kernel installed this descriptor for us; we own it.
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            header = libc::CMSG_NXTHDR(&msg, header);
        }
    }
    if received == 0 {
        return Ok(None);
    }
    let errno = if received >= 5 {
        i32::from_ne_bytes([data[1], data[2], data[3], data[4]])
    } else {
        0
    };
    Ok(Some(Message {
        tag: data[0],
        errno,
        fd,
    }))
}
