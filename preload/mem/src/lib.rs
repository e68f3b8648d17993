//! `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp` inside the shim.
//!
//! The compiler calls these for copies, fills and comparisons. Taken from
//! libc, each would be one more symbol the dynamic loader looks up in every
//! process the shim is preloaded into, about 760 instructions apiece, paid
//! even by a process that never opens a socket (issue 20). Defined here,
//! the linker binds the shim's calls to them when it builds the library,
//! and rustc's export list for the library (the wrapped calls only) keeps
//! them local: the program's own `memcpy` is still libc's.
//!
//! Simple loops (aligned words, then bytes): the shim copies and compares
//! a few dozen bytes at a time, off its hot paths. `no_builtins` keeps the compiler from turning
//! the loops back into calls to the functions they implement.
//!
//! The names are given in assembly (`.globl NAME` / `.set NAME, FUNCTION`)
//! rather than with `#[no_mangle]`, which would export them and replace
//! libc's for the whole program. The preload crate links this one only in
//! the library, never in its unit tests.
#![no_std]
#![no_builtins]

core::arch::global_asm!(
    ".globl memcpy",
    ".set memcpy, {copy}",
    ".globl memmove",
    ".set memmove, {moving}",
    ".globl memset",
    ".set memset, {fill}",
    ".globl memcmp",
    ".set memcmp, {compare}",
    ".globl bcmp",
    ".set bcmp, {compare}",
    copy = sym copy,
    moving = sym moving,
    fill = sym fill,
    compare = sym compare,
);

/// `memcpy`: `n` bytes from `src` to `dst`, which do not overlap. Eight
/// bytes at a time when both are 8-aligned, else byte by byte.
///
/// Nothing here may make the compiler emit a call to a memory function (an
/// array expression, `read_unaligned`): in the unoptimised build that call
/// would land here again.
///
/// # Safety
/// As `memcpy(3)`.
unsafe extern "C" fn copy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    let mut done = 0;
    if (dst as usize | src as usize) % WORD == 0 {
        while done + WORD <= n {
            // SAFETY: the caller's promise: both ranges are valid for `n`
            // bytes; both pointers are 8-aligned, and so is `done`.
            unsafe { *dst.add(done).cast::<u64>() = *src.add(done).cast::<u64>() };
            done += WORD;
        }
    }
    while done < n {
        // SAFETY: as above.
        unsafe { *dst.add(done) = *src.add(done) };
        done += 1;
    }
    dst
}

/// `memmove`: as `copy`, for ranges that may overlap.
///
/// # Safety
/// As `memmove(3)`.
unsafe extern "C" fn moving(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if dst.cast_const() <= src || dst.cast_const() >= src.wrapping_add(n) {
        // SAFETY: forwards, each word is read before it can be written over.
        return unsafe { copy(dst, src, n) };
    }
    let mut left = n;
    while left > 0 {
        left -= 1;
        // SAFETY: as `copy`; backwards, byte by byte, so the overlap above
        // is read before it is written over.
        unsafe { *dst.add(left) = *src.add(left) };
    }
    dst
}

/// `memset`: `n` bytes at `dst` set to `byte`.
///
/// # Safety
/// As `memset(3)`.
unsafe extern "C" fn fill(dst: *mut u8, byte: i32, n: usize) -> *mut u8 {
    let byte = byte as u8;
    let mut done = 0;
    if dst as usize % WORD == 0 {
        let word = u64::from(byte) * 0x0101_0101_0101_0101;
        while done + WORD <= n {
            // SAFETY: the caller's promise: `dst` is valid for `n` bytes;
            // it is 8-aligned, and so is `done`.
            unsafe { *dst.add(done).cast::<u64>() = word };
            done += WORD;
        }
    }
    while done < n {
        // SAFETY: as above.
        unsafe { *dst.add(done) = byte };
        done += 1;
    }
    dst
}

/// `memcmp` (and `bcmp`, which only needs zero or not): the first
/// differing byte's difference, as unsigned bytes.
///
/// # Safety
/// As `memcmp(3)`.
unsafe extern "C" fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller's promise: both ranges are valid for `n` bytes.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

const WORD: usize = 8;
