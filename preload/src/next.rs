//! Where the next definition of a wrapped function is: what
//! `dlsym(RTLD_NEXT, name)` answers, found without the dynamic loader's
//! lock, so that it may run in a signal handler.
//!
//! Why: the shim looks libc's functions up on their first call, not when
//! it loads (issue 20: most processes never open a socket). That first
//! call may be in a signal handler (`close`, `socket`, `connect`... are
//! async-signal-safe), and `dlsym` takes the loader's lock: a handler that
//! interrupts the same thread inside `dlopen` then waits for itself
//! forever (`tests/tests/startup.rs` caught exactly that).
//!
//! How, with the public ELF and `<link.h>` structures only:
//! 1. the main program's `DT_DEBUG` entry holds the loader's `r_debug`,
//!    whose `r_map` lists the loaded objects in load order (the order of
//!    the global lookup scope: the program, preloaded libraries, then
//!    their dependencies);
//! 2. starting after this library, each object's GNU hash table is
//!    searched for a defined, exported, default-version function.
//!
//! The walk stops at the first definition, at the latest in libc, which is
//! loaded before the program starts and never unloaded, so it never reads
//! an object another thread may be unloading. Anything unusual (no
//! `DT_DEBUG`, an object without a GNU hash table, an indirect function)
//! answers `Unknown`, and `real` asks `dlsym` after all.

use core::ffi::CStr;

/// What the search found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The address of the next definition.
    At(usize),
    /// No object after this one defines it.
    Absent,
    /// This search cannot tell; ask `dlsym`.
    Unknown,
}

/// `struct r_debug` of `<link.h>`.
#[repr(C)]
struct RDebug {
    version: libc::c_int,
    map: *const LinkMap,
}

/// The public head of `struct link_map` of `<link.h>`.
#[repr(C)]
struct LinkMap {
    /// Difference between the object's addresses in memory and in its file.
    addr: usize,
    name: *const libc::c_char,
    /// Its dynamic section.
    dynamic: *const Dyn,
    next: *const LinkMap,
}

/// `Elf64_Dyn`.
#[repr(C)]
struct Dyn {
    tag: i64,
    value: usize,
}

const DT_NULL: i64 = 0;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_DEBUG: i64 = 21;
const DT_GNU_HASH: i64 = 0x6fff_fef5;
const DT_VERSYM: i64 = 0x6fff_fff0;

const STT_FUNC: u8 = 2;
const STT_GNU_IFUNC: u8 = 10;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;
/// In a `DT_VERSYM` entry: a version other than the default one.
const VERSYM_HIDDEN: u16 = 0x8000;

unsafe extern "C" {
    /// This library's own dynamic section (defined by the linker): how it
    /// recognises itself in the loader's list.
    static _DYNAMIC: [Dyn; 0];
}

/// The next definition of `name` after this library.
pub fn find(name: &CStr) -> Next {
    let Some(head) = loaded_objects() else {
        return Next::Unknown;
    };
    // SAFETY: `_DYNAMIC` is the linker's symbol for our own dynamic
    // section; only its address is taken.
    let ours = unsafe { _DYNAMIC.as_ptr() };
    let hash = gnu_hash(name.to_bytes());
    let mut map = head;
    let mut after_us = false;
    while !map.is_null() {
        // SAFETY: the loader's list: initially loaded objects, never
        // unloaded (see the module documentation).
        let object = unsafe { &*map };
        if after_us {
            // SAFETY: a loaded object's dynamic section and tables.
            match unsafe { lookup(object, name, hash) } {
                Next::Absent => {}
                found => return found,
            }
        }
        after_us |= object.dynamic == ours;
        map = object.next;
    }
    if after_us {
        Next::Absent
    } else {
        Next::Unknown
    }
}

/// The head of the loader's list of loaded objects, from the `DT_DEBUG`
/// entry of the main program's dynamic section (found through the
/// auxiliary vector; `getauxval` is async-signal-safe).
fn loaded_objects() -> Option<*const LinkMap> {
    // SAFETY: getauxval has no preconditions.
    let (phdr, count) = unsafe {
        (
            libc::getauxval(libc::AT_PHDR) as *const libc::Elf64_Phdr,
            libc::getauxval(libc::AT_PHNUM) as usize,
        )
    };
    if phdr.is_null() {
        return None;
    }
    // SAFETY: the kernel's program headers of the main program.
    let headers = unsafe { core::slice::from_raw_parts(phdr, count) };
    // Load bias: where PT_PHDR is against where it says it is (0 for a
    // program that is not position-independent and has no PT_PHDR).
    let bias = headers
        .iter()
        .find(|h| h.p_type == libc::PT_PHDR)
        .map_or(0, |h| (phdr as usize).wrapping_sub(h.p_vaddr as usize));
    let dynamic = headers.iter().find(|h| h.p_type == libc::PT_DYNAMIC)?;
    let dynamic = bias.wrapping_add(dynamic.p_vaddr as usize) as *const Dyn;
    // SAFETY: the main program's mapped dynamic section, DT_NULL-ended.
    let debug = unsafe { entry(dynamic, DT_DEBUG) }? as *const RDebug;
    // SAFETY: the loader's r_debug, which it wrote into DT_DEBUG.
    let r_debug = unsafe { debug.as_ref() }?;
    (matches!(r_debug.version, 1 | 2) && !r_debug.map.is_null()).then_some(r_debug.map)
}

/// The value of the first `tag` entry of a dynamic section.
///
/// # Safety
/// `dynamic` points to a mapped dynamic section ending with DT_NULL.
unsafe fn entry(dynamic: *const Dyn, tag: i64) -> Option<usize> {
    let mut at = dynamic;
    loop {
        // SAFETY: within the section, up to its DT_NULL (the caller's
        // promise).
        let item = unsafe { &*at };
        match item.tag {
            DT_NULL => return None,
            t if t == tag => return Some(item.value),
            // SAFETY: not the last entry, so the next one exists.
            _ => at = unsafe { at.add(1) },
        }
    }
}

/// A table address from `object`'s dynamic section. The loader adds the
/// load bias to these in place, except in a read-only dynamic section
/// (the vDSO's), which keeps file addresses: those are below the bias.
///
/// # Safety
/// `object` is a loaded object.
unsafe fn table(object: &LinkMap, tag: i64) -> Option<usize> {
    // SAFETY: the caller's promise.
    let value = unsafe { entry(object.dynamic, tag) }?;
    Some(if value < object.addr {
        value + object.addr
    } else {
        value
    })
}

/// `Elf64_Sym`.
#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    section: u16,
    value: u64,
    size: u64,
}

/// `name`'s default-version function definition in `object`, if any.
///
/// # Safety
/// `object` is a loaded object.
unsafe fn lookup(object: &LinkMap, name: &CStr, hash: u32) -> Next {
    // SAFETY: the caller's promise.
    let tables = unsafe {
        (
            table(object, DT_GNU_HASH),
            table(object, DT_SYMTAB),
            table(object, DT_STRTAB),
            table(object, DT_VERSYM),
        )
    };
    let (Some(gnu), Some(symbols), Some(strings), versions) = tables else {
        return Next::Unknown;
    };
    // The GNU hash table: nbuckets, symoffset, bloom size, bloom shift,
    // the bloom words, the buckets, the hash chains.
    let header = gnu as *const u32;
    // SAFETY: the four header words of a loaded object's GNU hash table,
    // then the arrays whose sizes they give.
    unsafe {
        let (buckets, offset, bloom_size, shift) =
            (*header, *header.add(1), *header.add(2), *header.add(3));
        if buckets == 0 || bloom_size == 0 {
            return Next::Absent;
        }
        let bloom = header.add(4) as *const u64;
        let word = *bloom.add((hash as usize / 64) % bloom_size as usize);
        let bits = (1u64 << (hash % 64)) | (1u64 << ((hash >> shift) % 64));
        if word & bits != bits {
            return Next::Absent;
        }
        let bucket = bloom.add(bloom_size as usize) as *const u32;
        let chain = bucket.add(buckets as usize);
        let mut index = *bucket.add((hash % buckets) as usize);
        if index < offset {
            return Next::Absent;
        }
        loop {
            let link = *chain.add((index - offset) as usize);
            if link | 1 == hash | 1 {
                let symbol = &*(symbols as *const Sym).add(index as usize);
                let hidden = versions.is_some_and(|v| {
                    let version = *(v as *const u16).add(index as usize);
                    version & VERSYM_HIDDEN != 0 || version == 0
                });
                let symbol_name = (strings as *const libc::c_char).add(symbol.name as usize);
                if !hidden && symbol.section != 0 && same_name(symbol_name, name) {
                    return match (symbol.info & 0xf, symbol.info >> 4) {
                        (STT_FUNC, STB_GLOBAL | STB_WEAK) => {
                            Next::At(object.addr.wrapping_add(symbol.value as usize))
                        }
                        // Its address comes from a resolver: dlsym calls it.
                        (STT_GNU_IFUNC, _) => Next::Unknown,
                        _ => Next::Absent,
                    };
                }
            }
            if link & 1 != 0 {
                return Next::Absent;
            }
            index += 1;
        }
    }
}

/// Whether the C string at `text` is `name`.
///
/// # Safety
/// `text` is NUL-terminated.
unsafe fn same_name(text: *const libc::c_char, name: &CStr) -> bool {
    let name = name.to_bytes_with_nul();
    name.iter().enumerate().all(|(i, &byte)| {
        // SAFETY: read in order, stopping at the first difference, so never
        // past `text`'s NUL (which differs from every byte of `name` but
        // its own NUL, where the walk ends).
        unsafe { *text.add(i) as u8 == byte }
    })
}

/// The GNU hash of a symbol name (DJB's: h * 33 + c from 5381).
pub fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(5381u32, |h, &c| {
        h.wrapping_mul(33).wrapping_add(u32::from(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_hashes() {
        // h * 33 + c from 5381; printf, exit and syscall are the usual
        // worked examples.
        assert_eq!(gnu_hash(b""), 0x0000_1505);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(gnu_hash(b"exit"), 0x7c96_7e3f);
        assert_eq!(gnu_hash(b"syscall"), 0xbac2_12a0);
    }

    /// In the test program nothing defines the wrapped functions before
    /// libc, so the next definition of each is what `dlsym` finds.
    #[test]
    fn finds_what_dlsym_finds() {
        for name in [
            c"socket",
            c"connect",
            c"listen",
            c"setsockopt",
            c"getsockopt",
            c"close",
            c"dup",
            c"dup2",
            c"dup3",
            c"epoll_ctl",
            c"sendmsg",
            c"fcntl",
            c"fcntl64",
        ] {
            // SAFETY: dlsym with a NUL-terminated name.
            let expected = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) } as usize;
            assert_ne!(expected, 0, "{name:?}");
            assert_eq!(find(name), Next::At(expected), "{name:?}");
        }
        assert_eq!(find(c"no_such_function_anywhere"), Next::Absent);
        // A data object, not a function.
        assert_eq!(find(c"environ"), Next::Absent);
    }
}
