//! The real `socket()`: the next definition after this library in the dynamic
//! lookup order (`dlsym(RTLD_NEXT)`), so the shim composes with other preload
//! libraries; the raw system call only if no such definition exists.

use core::sync::atomic::{AtomicUsize, Ordering};
use libc::c_int;

type SocketFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;

/// The resolved address of the next `socket`, 0 while unresolved.
static NEXT_SOCKET: AtomicUsize = AtomicUsize::new(0);

/// Looks the next `socket` up. Called from the load-time constructor, so the
/// hot path normally finds it ready; also called lazily if another library's
/// constructor opens a socket before ours has run.
pub fn resolve() -> usize {
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name has no other
    // preconditions; it returns null when there is no later definition.
    let address = unsafe { libc::dlsym(libc::RTLD_NEXT, c"socket".as_ptr()) } as usize;
    NEXT_SOCKET.store(address, Ordering::Relaxed);
    address
}

/// Calls the real `socket()`.
pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let mut address = NEXT_SOCKET.load(Ordering::Relaxed);
    if address == 0 {
        address = resolve();
    }
    if address == 0 {
        // SAFETY: socket(2) takes three integers and returns a descriptor or -1.
        return unsafe { libc::syscall(libc::SYS_socket, domain, ty, protocol) } as c_int;
    }
    // SAFETY: `address` is non-null and came from dlsym for the symbol
    // `socket`, whose C signature is `int socket(int, int, int)`.
    let next: SocketFn = unsafe { core::mem::transmute::<usize, SocketFn>(address) };
    // SAFETY: the arguments are plain integers, as socket() takes them.
    unsafe { next(domain, ty, protocol) }
}
