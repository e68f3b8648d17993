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
//! 2. each object's GNU hash table (or SysV one, in old objects) is
//!    searched for a defined, exported, default-version function; the
//!    first after this library is the answer.
//!
//! The walk stops at the first definition, at the latest in libc. When an
//! object before this library defines the name (libc, when the shim was
//! loaded with `dlopen` instead of preloaded; an earlier preload library),
//! the answer is `Unknown`. So the walk never passes libc, which is loaded
//! before the program starts and never unloaded: it never reads an object
//! another thread may be unloading (the list's tail, which `dlopen`
//! extends, lies beyond). Anything unusual (no `DT_DEBUG`, no `PT_PHDR`,
//! an object without a hash table, a definition that is not a plain
//! function) answers `Unknown` too, and `real::prepare` then asks `dlsym`
//! for everything at load time (`dlsym` itself found by `first`).

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
const DT_HASH: i64 = 4;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_DEBUG: i64 = 21;
const DT_GNU_HASH: i64 = 0x6fff_fef5;
const DT_VERSYM: i64 = 0x6fff_fff0;

const STT_FUNC: u8 = 2;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;
const SHN_UNDEF: u16 = 0;
const SHN_ABS: u16 = 0xfff1;
/// In a `DT_VERSYM` entry: a version other than the default one.
const VERSYM_HIDDEN: u16 = 0x8000;

unsafe extern "C" {
    /// This library's own dynamic section (defined by the linker): how it
    /// recognises itself in the loader's list.
    static _DYNAMIC: [Dyn; 0];
}

/// Which objects before this library a search also reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Before {
    /// The libraries before this one (not the program): if one defines
    /// the name, the answer is `Unknown`. Once, at load
    /// (`real::prepare`): that libc comes after this library is then
    /// known for the process.
    Checked,
    /// None: `prepare` has checked them.
    Skipped,
}

/// The next definition of `name` after this library.
pub fn find(name: &CStr, before: Before) -> Next {
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
        // SAFETY: the loader's list, up to the first object that defines
        // `name`: objects loaded before the program started, never
        // unloaded (see the module documentation).
        let object = unsafe { &*map };
        let program = map == head;
        map = object.next;
        if object.dynamic == ours {
            after_us = true;
            continue;
        }
        if !after_us && (before == Before::Skipped || program) {
            continue;
        }
        // SAFETY: a loaded object's dynamic section and tables.
        match unsafe { lookup(object, name, hash) } {
            Next::Absent => {}
            found if after_us => return found,
            // Defined by a library before us: libc may be there (the shim
            // loaded with dlopen), and the walk must not pass it.
            _ => return Next::Unknown,
        }
    }
    if after_us {
        Next::Absent
    } else {
        Next::Unknown
    }
}

/// The first definition of `name` in the whole list, as a reference from
/// the program would find it: how the shim finds `dlsym` itself (which it
/// does not import, saving every process that lookup) for the cases
/// `find` cannot tell. The walk stops at the first definition, libc's at
/// the latest for a libc function.
pub fn first(name: &CStr) -> Next {
    let Some(mut map) = loaded_objects() else {
        return Next::Unknown;
    };
    let hash = gnu_hash(name.to_bytes());
    while !map.is_null() {
        // SAFETY: the loader's list up to the first definition (see above).
        let object = unsafe { &*map };
        // SAFETY: a loaded object's dynamic section and tables.
        match unsafe { lookup(object, name, hash) } {
            Next::Absent => map = object.next,
            found => return found,
        }
    }
    Next::Absent
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
    // Load bias: where PT_PHDR is against where it says it is. Without
    // PT_PHDR it cannot be told (0 only for a program that is not
    // position-independent): `dlsym` then.
    let bias = headers
        .iter()
        .find(|h| h.p_type == libc::PT_PHDR)
        .map(|h| (phdr as usize).wrapping_sub(h.p_vaddr as usize))?;
    let dynamic = headers.iter().find(|h| h.p_type == libc::PT_DYNAMIC)?;
    let dynamic = bias.wrapping_add(dynamic.p_vaddr as usize) as *const Dyn;
    // SAFETY: the main program's mapped dynamic section, DT_NULL-ended.
    let debug = unsafe { entry(dynamic, DT_DEBUG) }? as *const RDebug;
    // SAFETY: the loader's r_debug, which it wrote into DT_DEBUG.
    let r_debug = unsafe { debug.as_ref() }?;
    // Versions 1 and 2 so far; the head of the structure stays.
    (r_debug.version >= 1 && !r_debug.map.is_null()).then_some(r_debug.map)
}

/// The value of the first `tag` entry of a dynamic section.
///
/// # Safety
/// `dynamic` points to a mapped dynamic section ending with DT_NULL.
unsafe fn entry(dynamic: *const Dyn, tag: i64) -> Option<usize> {
    let mut found = None;
    // SAFETY: the caller's promise.
    unsafe {
        each_entry(dynamic, |t, value| {
            if t == tag {
                found = Some(value);
            }
            found.is_some()
        })
    };
    found
}

/// Calls `f(tag, value)` on each entry of a dynamic section until it
/// returns true or the section ends.
///
/// # Safety
/// `dynamic` points to a mapped dynamic section ending with DT_NULL.
unsafe fn each_entry(dynamic: *const Dyn, mut f: impl FnMut(i64, usize) -> bool) {
    let mut at = dynamic;
    loop {
        // SAFETY: within the section, up to its DT_NULL (the caller's
        // promise).
        let item = unsafe { &*at };
        if item.tag == DT_NULL || f(item.tag, item.value) {
            return;
        }
        // SAFETY: not the last entry, so the next one exists.
        at = unsafe { at.add(1) };
    }
}

/// The tables a lookup reads, from one pass over `object`'s dynamic
/// section. The loader adds the load bias to these in place, except in a
/// read-only dynamic section (the vDSO's, which comes before the shim
/// anyway), which keeps file addresses: those are below the bias, as
/// objects are linked at low addresses and mapped high.
///
/// # Safety
/// `object` is a loaded object.
unsafe fn tables(object: &LinkMap) -> Tables {
    let mut tables = Tables::default();
    let at = |value: usize| {
        Some(if value < object.addr {
            value + object.addr
        } else {
            value
        })
    };
    // SAFETY: the caller's promise.
    unsafe {
        each_entry(object.dynamic, |tag, value| {
            match tag {
                DT_GNU_HASH => tables.gnu_hash = at(value),
                DT_HASH => tables.sysv_hash = at(value),
                DT_SYMTAB => tables.symbols = at(value),
                DT_STRTAB => tables.strings = at(value),
                DT_VERSYM => tables.versions = at(value),
                _ => {}
            }
            false
        })
    };
    tables
}

/// Where an object's symbol tables are.
#[derive(Default)]
struct Tables {
    gnu_hash: Option<usize>,
    sysv_hash: Option<usize>,
    symbols: Option<usize>,
    strings: Option<usize>,
    versions: Option<usize>,
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
    let tables = unsafe { tables(object) };
    let (Some(symbols), Some(strings)) = (tables.symbols, tables.strings) else {
        return Next::Unknown;
    };
    let symbols = Symbols {
        object,
        symbols: symbols as *const Sym,
        strings: strings as *const libc::c_char,
        versions: tables.versions.map(|v| v as *const u16),
    };
    // SAFETY: the tables of a loaded object, whose sizes they give.
    unsafe {
        match (tables.gnu_hash, tables.sysv_hash) {
            (Some(gnu), _) => symbols.in_gnu_hash(gnu as *const u32, name, hash),
            (None, Some(sysv)) => symbols.in_sysv_hash(sysv as *const u32, name),
            (None, None) => Next::Unknown,
        }
    }
}

/// One object's symbol table, with its strings and versions.
struct Symbols<'a> {
    object: &'a LinkMap,
    symbols: *const Sym,
    strings: *const libc::c_char,
    versions: Option<*const u16>,
}

impl Symbols<'_> {
    /// Searches the GNU hash table at `header` (nbuckets, symoffset, bloom
    /// size, bloom shift, the bloom words, the buckets, the hash chains).
    ///
    /// # Safety
    /// `header` is the object's GNU hash table.
    unsafe fn in_gnu_hash(&self, header: *const u32, name: &CStr, hash: u32) -> Next {
        // SAFETY: the caller's promise: the four header words, then the
        // arrays whose sizes they give.
        unsafe {
            let (buckets, offset, bloom_size, shift) =
                (*header, *header.add(1), *header.add(2), *header.add(3));
            if buckets == 0 || bloom_size == 0 {
                return Next::Absent;
            }
            let bloom = header.add(4) as *const u64;
            let word = *bloom.add((hash as usize / 64) % bloom_size as usize);
            let bits = (1u64 << (hash % 64)) | (1u64 << (hash.wrapping_shr(shift) % 64));
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
                if link | 1 == hash | 1
                    && let Some(found) = self.judge(index, name)
                {
                    return found;
                }
                if link & 1 != 0 {
                    return Next::Absent;
                }
                index += 1;
            }
        }
    }

    /// Searches the SysV hash table at `header` (nbucket, nchain, the
    /// buckets, the chains), which older objects carry alone.
    ///
    /// # Safety
    /// `header` is the object's SysV hash table.
    unsafe fn in_sysv_hash(&self, header: *const u32, name: &CStr) -> Next {
        // SAFETY: the caller's promise: two header words, then the arrays
        // whose sizes they give; chain indexes stay below nchain.
        unsafe {
            let (buckets, chains) = (*header, *header.add(1));
            if buckets == 0 {
                return Next::Absent;
            }
            let bucket = header.add(2);
            let chain = bucket.add(buckets as usize);
            let mut index = *bucket.add((sysv_hash(name.to_bytes()) % buckets) as usize);
            // At most nchain steps, whatever the table says.
            for _ in 0..chains {
                if index == 0 || index >= chains {
                    break;
                }
                if let Some(found) = self.judge(index, name) {
                    return found;
                }
                index = *chain.add(index as usize);
            }
            Next::Absent
        }
    }

    /// What symbol `index` means for a search of `name`: None when it is
    /// another name, a hidden version or undefined.
    ///
    /// # Safety
    /// `index` is within the symbol table.
    unsafe fn judge(&self, index: u32, name: &CStr) -> Option<Next> {
        // SAFETY: the caller's promise; names are NUL-terminated strings of
        // the object's string table.
        unsafe {
            let symbol = &*self.symbols.add(index as usize);
            let hidden = self
                .versions
                .is_some_and(|v| *v.add(index as usize) & VERSYM_HIDDEN != 0);
            let symbol_name = self.strings.add(symbol.name as usize);
            if hidden || symbol.section == SHN_UNDEF || !same_name(symbol_name, name) {
                return None;
            }
            let plain = symbol.info == (STB_GLOBAL << 4 | STT_FUNC)
                || symbol.info == (STB_WEAK << 4 | STT_FUNC);
            Some(if plain && symbol.section != SHN_ABS && symbol.value != 0 {
                Next::At(self.object.addr.wrapping_add(symbol.value as usize))
            } else {
                // An indirect function, an untyped or absolute symbol...:
                // what `dlsym` makes of it.
                Next::Unknown
            })
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

/// The SysV ELF hash of a symbol name.
pub fn sysv_hash(name: &[u8]) -> u32 {
    name.iter().fold(0u32, |h, &c| {
        let h = (h << 4).wrapping_add(u32::from(c));
        let high = h & 0xf000_0000;
        (h ^ (high >> 24)) & !high
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
    fn sysv_hashes() {
        // The ELF specification's algorithm; printf and exit are the usual
        // worked examples.
        assert_eq!(sysv_hash(b""), 0);
        assert_eq!(sysv_hash(b"printf"), 0x077905a6);
        assert_eq!(sysv_hash(b"exit"), 0x0006cf04);
    }

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
            for before in [Before::Checked, Before::Skipped] {
                assert_eq!(find(name, before), Next::At(expected), "{name:?}");
            }
        }
        assert_eq!(
            find(c"no_such_function_anywhere", Before::Checked),
            Next::Absent
        );
        // SAFETY: as above.
        let dlsym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"dlsym".as_ptr()) } as usize;
        assert_eq!(first(c"dlsym"), Next::At(dlsym));
        // A data object, not a function: what dlsym makes of it.
        assert_eq!(find(c"environ", Before::Checked), Next::Unknown);
    }
}
