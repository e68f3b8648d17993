//! The real functions the shim wraps: the next definition after this library
//! in the dynamic lookup order (`dlsym(RTLD_NEXT)`), so the shim composes
//! with other preload libraries; the raw system call only if no such
//! definition exists.
//!
//! Inside the shim, these must be used instead of `libc::socket`,
//! `libc::close`, ...: a call to a name the shim itself exports would land in
//! its own hook.
//!
//! Each is looked up on its first call, not when the library loads: a
//! process that never calls it never pays the lookup (issue 20). That
//! first call may be in a signal handler, where `dlsym` could wait forever
//! for the loader's lock, so `next` finds the definition without it. Where
//! `next` cannot tell (see there), `prepare` looks every one up with
//! `dlsym` at load instead, before any handler can run. Threads that race
//! to a first call store the same address (`tests/tests/startup.rs`).

use core::ffi::CStr;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::next::{Before, Next};
use libc::{c_int, c_void, epoll_event, msghdr, sockaddr, socklen_t, ssize_t};

/// A slot's value before its lookup.
const UNRESOLVED: usize = 0;
/// A slot's value when nothing after this library defines the function:
/// the system call is made instead. Never a function's address, and with
/// `UNRESOLVED` below every one, so the usual path tests one comparison.
const NONE: usize = 1;

/// Looks `name` up and caches its address in `slot` (or `NONE`).
fn lookup(slot: &AtomicUsize, name: &CStr) -> usize {
    let address = match crate::next::find(name, Before::Skipped) {
        Next::At(address) => address,
        Next::Absent => NONE,
        Next::Unknown => with_dlsym(found_dlsym(), name),
    };
    slot.store(address, Ordering::Relaxed);
    address
}

/// `dlsym`'s C signature.
type Dlsym = unsafe extern "C" fn(*mut c_void, *const libc::c_char) -> *mut c_void;

/// `dlsym` itself, found by `next::first`, not imported: an import is a
/// lookup the loader makes in every process, and `dlsym` is needed only
/// where `next` cannot tell. None without the loader's list (no
/// `DT_DEBUG`).
fn found_dlsym() -> Option<Dlsym> {
    match crate::next::first(c"dlsym") {
        // SAFETY: the address of libc's `dlsym` (or of a library's that
        // interposes it), whose C signature `Dlsym` spells out.
        Next::At(address) => Some(unsafe { core::mem::transmute::<usize, Dlsym>(address) }),
        Next::Absent | Next::Unknown => None,
    }
}

/// `dlsym(RTLD_NEXT, name)`, or `NONE` (also without `dlsym`: the system
/// call then). From `prepare` at load time, and on a first call only where
/// `next` could tell for `socket` but not for this name (a library before
/// libc defining it oddly).
fn with_dlsym(dlsym: Option<Dlsym>, name: &CStr) -> usize {
    let Some(dlsym) = dlsym else {
        return NONE;
    };
    // SAFETY: dlsym with RTLD_NEXT (next after its caller: this library)
    // and a NUL-terminated name; null when there is no later definition.
    match unsafe { dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize {
        0 => NONE,
        address => address,
    }
}

/// The C name of a wrapped function, at compile time.
const fn c_name(name_with_nul: &'static str) -> &'static CStr {
    match CStr::from_bytes_with_nul(name_with_nul.as_bytes()) {
        Ok(name) => name,
        Err(_) => panic!("a function name is a C string"),
    }
}

/// Defines `pub fn $name(args) -> $ret` calling the next `$name`, looked up
/// on the first call, or the system call `$sys` if there is none.
macro_rules! next {
    ($($slot:ident: fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $sys:expr;)*) => {
        $(
            static $slot: AtomicUsize = AtomicUsize::new(0);

            #[inline(always)]
            pub fn $name($($arg: $ty),*) -> $ret {
                type Next = unsafe extern "C" fn($($ty),*) -> $ret;
                /// Calls the function at `address`.
                #[inline(always)]
                fn call(address: usize, $($arg: $ty),*) -> $ret {
                    // SAFETY: `address` is non-null and came from dlsym for
                    // the symbol `$name`, whose C signature `Next` spells out.
                    let next: Next = unsafe { core::mem::transmute::<usize, Next>(address) };
                    // SAFETY: the caller's arguments, passed through unchanged.
                    unsafe { next($($arg),*) }
                }
                /// The first call (or every call without a next
                /// definition): out of line, so the usual path is a load
                /// and a jump.
                #[cold]
                #[inline(never)]
                fn unresolved($($arg: $ty),*) -> $ret {
                    const NAME: &CStr = c_name(concat!(stringify!($name), "\0"));
                    let address = match $slot.load(Ordering::Relaxed) {
                        UNRESOLVED => lookup(&$slot, NAME),
                        address => address,
                    };
                    if address == NONE {
                        // SAFETY: the system call of the same name takes the
                        // same arguments, passed through unchanged.
                        return unsafe { libc::syscall($sys, $($arg),*) } as $ret;
                    }
                    call(address, $($arg),*)
                }
                match $slot.load(Ordering::Relaxed) {
                    address if address > NONE => call(address, $($arg),*),
                    _ => unresolved($($arg),*),
                }
            }
        )*

        /// Called once from the load-time constructor: finds out whether
        /// `next` can find the next `socket` (reading the libraries before
        /// this one too), and where it cannot, looks every wrapped
        /// function up with `dlsym` now, so that no first call asks
        /// `dlsym` from a signal handler. Where it can, nothing is stored:
        /// the slots' page stays untouched (one private page less in
        /// every process) until a first call looks its function up.
        pub fn prepare() {
            match crate::next::find(c"socket", Before::Checked) {
                Next::At(_) | Next::Absent => {}
                Next::Unknown => {
                    let dlsym = found_dlsym();
                    $( $slot.store(
                        with_dlsym(dlsym, c_name(concat!(stringify!($name), "\0"))),
                        Ordering::Relaxed,
                    ); )*
                    NEXT_FCNTL.store(with_dlsym(dlsym, c"fcntl"), Ordering::Relaxed);
                }
            }
        }
    };
}

next! {
    NEXT_SOCKET: fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int = libc::SYS_socket;
    NEXT_CONNECT: fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int =
        libc::SYS_connect;
    NEXT_LISTEN: fn listen(fd: c_int, backlog: c_int) -> c_int = libc::SYS_listen;
    NEXT_SETSOCKOPT: fn setsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *const c_void,
        len: socklen_t
    ) -> c_int = libc::SYS_setsockopt;
    NEXT_GETSOCKOPT: fn getsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *mut c_void,
        len: *mut socklen_t
    ) -> c_int = libc::SYS_getsockopt;
    NEXT_CLOSE: fn close(fd: c_int) -> c_int = libc::SYS_close;
    NEXT_DUP: fn dup(old: c_int) -> c_int = libc::SYS_dup;
    NEXT_DUP2: fn dup2(old: c_int, new: c_int) -> c_int = libc::SYS_dup2;
    NEXT_DUP3: fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int = libc::SYS_dup3;
    NEXT_EPOLL_CTL: fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut epoll_event) -> c_int =
        libc::SYS_epoll_ctl;
    NEXT_SENDMSG: fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t =
        libc::SYS_sendmsg;
}

/// `fcntl` is variadic, so the macro's fixed signatures do not fit it. Both
/// the shim's `fcntl` and `fcntl64` forward here: in glibc they are one
/// function under two names.
static NEXT_FCNTL: AtomicUsize = AtomicUsize::new(0);

/// The next `fcntl(fd, cmd, arg)`; `arg` is passed whether or not `cmd`
/// takes one, as a C caller's register would be (the callee ignores it).
pub fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    let mut address = NEXT_FCNTL.load(Ordering::Relaxed);
    if address == UNRESOLVED {
        address = lookup(&NEXT_FCNTL, c"fcntl");
    }
    if address == NONE {
        // SAFETY: the system call takes the same three arguments.
        return unsafe { libc::syscall(libc::SYS_fcntl, fd, cmd, arg) } as c_int;
    }
    type Next = unsafe extern "C" fn(c_int, c_int, ...) -> c_int;
    // SAFETY: `address` came from dlsym for `fcntl`, a C variadic function;
    // calling it as variadic sets up the call as a C caller would.
    let next: Next = unsafe { core::mem::transmute::<usize, Next>(address) };
    // SAFETY: the caller's arguments, passed through unchanged.
    unsafe { next(fd, cmd, arg) }
}
