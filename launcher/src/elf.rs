//! Minimal ELF inspection: just enough of the file header and program
//! headers to tell whether the dynamic loader (and so LD_PRELOAD) will be
//! involved when the kernel starts a program.
//!
//! Parsing is a pure function over a byte prefix of the file, so it is easy
//! to test and never needs the whole binary in memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// How many leading bytes of a file [`inspect_file`] reads. Linkers put the
/// program headers right after the 64-byte ELF header, so a few KiB covers
/// every ordinary executable; anything else is reported as inconclusive.
pub const INSPECTED_PREFIX_LEN: u64 = 8 * 1024;

const MAGIC: &[u8; 4] = b"\x7fELF";
const ELFCLASS32: u8 = 1;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ELFDATA2MSB: u8 = 2;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_INTERP: u32 = 3;
/// e_phnum value meaning "the real count is stored in section header 0".
const PN_XNUM: u16 = 0xffff;

/// What [`inspect`] learned about a file. Grows as later features (seccomp
/// engine, Go detection) need more facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ElfInfo {
    /// The bytes start with a well-formed ELF identification and header.
    pub is_elf: bool,
    /// The file is an executable or position-independent executable
    /// (`ET_EXEC` or `ET_DYN`), i.e. something execve can start.
    pub is_executable: bool,
    /// A `PT_INTERP` program header was seen: the kernel starts the dynamic
    /// loader first, which is what honours LD_PRELOAD.
    pub has_interp: bool,
    /// Every program header lay within the inspected bytes and was readable,
    /// so `has_interp == false` is conclusive.
    pub program_headers_complete: bool,
}

impl ElfInfo {
    /// True only when we are sure no dynamic loader runs for this file.
    /// Static-PIE binaries also count: they have no `PT_INTERP` either.
    pub fn is_statically_linked(&self) -> bool {
        self.is_elf && self.is_executable && self.program_headers_complete && !self.has_interp
    }
}

/// Inspects the leading bytes of a file. Anything that is not ELF
/// (scripts, truncated or garbled headers) yields `is_elf == false`.
pub fn inspect(bytes: &[u8]) -> ElfInfo {
    let Some(header) = Header::parse(bytes) else {
        return ElfInfo::default();
    };
    let (has_interp, program_headers_complete) = match header.scan_for_interp(bytes) {
        Some(found) => (found, true),
        None => (false, false),
    };
    ElfInfo {
        is_elf: true,
        is_executable: matches!(header.e_type, ET_EXEC | ET_DYN),
        has_interp,
        program_headers_complete,
    }
}

/// Reads the first [`INSPECTED_PREFIX_LEN`] bytes of `path` and inspects
/// them.
pub fn inspect_file(path: &Path) -> io::Result<ElfInfo> {
    let mut prefix = Vec::new();
    File::open(path)?
        .take(INSPECTED_PREFIX_LEN)
        .read_to_end(&mut prefix)?;
    Ok(inspect(&prefix))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Elf32,
    Elf64,
}

/// The few ELF header fields we need, already decoded.
struct Header {
    class: Class,
    big_endian: bool,
    e_type: u16,
    phoff: u64,
    phentsize: u16,
    phnum: u16,
}

impl Header {
    fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.get(..4)? != MAGIC {
            return None;
        }
        let class = match *bytes.get(4)? {
            ELFCLASS32 => Class::Elf32,
            ELFCLASS64 => Class::Elf64,
            _ => return None,
        };
        let big_endian = match *bytes.get(5)? {
            ELFDATA2LSB => false,
            ELFDATA2MSB => true,
            _ => return None,
        };
        let read = Reader { bytes, big_endian };
        // Field offsets differ between classes only from e_entry onwards,
        // because e_entry/e_phoff/e_shoff are word-sized.
        let (phoff, phentsize_at, phnum_at) = match class {
            Class::Elf32 => (u64::from(read.u32(28)?), 42, 44),
            Class::Elf64 => (read.u64(32)?, 54, 56),
        };
        Some(Header {
            class,
            big_endian,
            e_type: read.u16(16)?,
            phoff,
            phentsize: read.u16(phentsize_at)?,
            phnum: read.u16(phnum_at)?,
        })
    }

    /// `Some(found)` if every program header could be read, `None` if the
    /// table is malformed or extends past `bytes`.
    fn scan_for_interp(&self, bytes: &[u8]) -> Option<bool> {
        if self.phnum == PN_XNUM {
            return None;
        }
        let min_entry_size = match self.class {
            Class::Elf32 => 32,
            Class::Elf64 => 56,
        };
        if self.phentsize < min_entry_size {
            return None;
        }
        let read = Reader {
            bytes,
            big_endian: self.big_endian,
        };
        let mut found = false;
        for index in 0..u64::from(self.phnum) {
            let entry = index
                .checked_mul(u64::from(self.phentsize))?
                .checked_add(self.phoff)?;
            // p_type is the first u32 of a program header in both classes.
            // Check the whole entry fits so a truncated table is inconclusive.
            let end = entry.checked_add(u64::from(self.phentsize))?;
            if end > bytes.len() as u64 {
                return None;
            }
            let p_type = read.u32(usize::try_from(entry).ok()?)?;
            found |= p_type == PT_INTERP;
        }
        Some(found)
    }
}

/// Bounds-checked fixed-endian integer reads.
struct Reader<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl Reader<'_> {
    fn array<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.bytes.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let raw = self.array(at)?;
        Some(if self.big_endian {
            u16::from_be_bytes(raw)
        } else {
            u16::from_le_bytes(raw)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let raw = self.array(at)?;
        Some(if self.big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        })
    }

    fn u64(&self, at: usize) -> Option<u64> {
        let raw = self.array(at)?;
        Some(if self.big_endian {
            u64::from_be_bytes(raw)
        } else {
            u64::from_le_bytes(raw)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PT_LOAD: u32 = 1;
    const PT_DYNAMIC: u32 = 2;

    /// Builds a synthetic ELF image: header immediately followed by program
    /// headers of the given types (the usual linker layout).
    fn synthetic(class: Class, big_endian: bool, e_type: u16, p_types: &[u32]) -> Vec<u8> {
        let (header_len, phentsize) = match class {
            Class::Elf32 => (52usize, 32usize),
            Class::Elf64 => (64, 56),
        };
        let mut out = vec![0u8; header_len + phentsize * p_types.len()];
        out[..4].copy_from_slice(MAGIC);
        out[4] = if class == Class::Elf64 {
            ELFCLASS64
        } else {
            ELFCLASS32
        };
        out[5] = if big_endian { ELFDATA2MSB } else { ELFDATA2LSB };
        out[6] = 1; // EI_VERSION
        let mut put = |at: usize, value: u64, width: usize| {
            let be = value.to_be_bytes();
            let le = value.to_le_bytes();
            let field = if big_endian {
                &be[8 - width..]
            } else {
                &le[..width]
            };
            out[at..at + width].copy_from_slice(field);
        };
        put(16, u64::from(e_type), 2);
        match class {
            Class::Elf32 => {
                put(28, header_len as u64, 4);
                put(42, phentsize as u64, 2);
                put(44, p_types.len() as u64, 2);
            }
            Class::Elf64 => {
                put(32, header_len as u64, 8);
                put(54, phentsize as u64, 2);
                put(56, p_types.len() as u64, 2);
            }
        }
        for (index, p_type) in p_types.iter().enumerate() {
            put(header_len + index * phentsize, u64::from(*p_type), 4);
        }
        out
    }

    fn all_layouts() -> [(Class, bool); 4] {
        [
            (Class::Elf32, false),
            (Class::Elf32, true),
            (Class::Elf64, false),
            (Class::Elf64, true),
        ]
    }

    #[test]
    fn dynamic_executable_has_interp_in_every_layout() {
        for (class, big_endian) in all_layouts() {
            let bytes = synthetic(
                class,
                big_endian,
                ET_DYN,
                &[6, PT_INTERP, PT_LOAD, PT_DYNAMIC],
            );
            let info = inspect(&bytes);
            assert!(info.is_elf, "{class:?} be={big_endian}");
            assert!(info.is_executable);
            assert!(info.has_interp, "{class:?} be={big_endian}");
            assert!(info.program_headers_complete);
            assert!(!info.is_statically_linked());
        }
    }

    #[test]
    fn static_executable_has_no_interp_in_every_layout() {
        for (class, big_endian) in all_layouts() {
            let bytes = synthetic(class, big_endian, ET_EXEC, &[PT_LOAD, PT_LOAD]);
            let info = inspect(&bytes);
            assert!(info.is_elf);
            assert!(!info.has_interp);
            assert!(info.program_headers_complete);
            assert!(info.is_statically_linked(), "{class:?} be={big_endian}");
        }
    }

    #[test]
    fn static_pie_counts_as_static() {
        let bytes = synthetic(Class::Elf64, false, ET_DYN, &[PT_LOAD, PT_DYNAMIC]);
        assert!(inspect(&bytes).is_statically_linked());
    }

    #[test]
    fn wrong_endianness_does_not_find_interp() {
        // Same bytes read with the other byte order: PT_INTERP becomes
        // 0x03000000, proving the endianness flag is honoured.
        let mut bytes = synthetic(Class::Elf64, false, ET_EXEC, &[PT_INTERP]);
        bytes[5] = ELFDATA2MSB;
        let info = inspect(&bytes);
        // phoff/phentsize/phnum are now garbage, so the table is unreadable.
        assert!(info.is_elf);
        assert!(!info.has_interp);
        assert!(!info.is_statically_linked());
    }

    #[test]
    fn relocatable_objects_are_not_called_static() {
        let bytes = synthetic(Class::Elf64, false, 1 /* ET_REL */, &[]);
        let info = inspect(&bytes);
        assert!(info.is_elf);
        assert!(!info.is_executable);
        assert!(!info.is_statically_linked());
    }

    #[test]
    fn truncated_program_headers_are_inconclusive() {
        let bytes = synthetic(Class::Elf64, false, ET_EXEC, &[PT_LOAD, PT_INTERP]);
        let info = inspect(&bytes[..bytes.len() - 1]);
        assert!(info.is_elf);
        assert!(!info.program_headers_complete);
        assert!(!info.is_statically_linked());
    }

    #[test]
    fn undersized_phentsize_is_inconclusive() {
        let mut bytes = synthetic(Class::Elf64, false, ET_EXEC, &[PT_LOAD]);
        bytes[54] = 8;
        assert!(!inspect(&bytes).program_headers_complete);
    }

    #[test]
    fn pn_xnum_is_inconclusive() {
        let mut bytes = synthetic(Class::Elf64, false, ET_EXEC, &[]);
        bytes[56] = 0xff;
        bytes[57] = 0xff;
        assert!(!inspect(&bytes).program_headers_complete);
    }

    #[test]
    fn huge_phoff_does_not_overflow() {
        let mut bytes = synthetic(Class::Elf64, false, ET_EXEC, &[PT_LOAD]);
        bytes[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        let info = inspect(&bytes);
        assert!(info.is_elf);
        assert!(!info.program_headers_complete);
    }

    #[test]
    fn non_elf_inputs() {
        for bytes in [
            &b""[..],
            b"\x7fEL",
            b"#!/bin/sh\necho hi\n",
            b"\x7fELF\x03\x01", // unknown class
            b"\x7fELF\x02\x00", // unknown data encoding
            b"\x7fELF\x02\x01", // header cut short
        ] {
            assert_eq!(inspect(bytes), ElfInfo::default(), "{bytes:?}");
        }
    }

    #[test]
    fn bin_sh_is_dynamically_linked() {
        // /bin/sh may be a symlink (dash, bash); inspect_file follows it.
        let info = inspect_file(Path::new("/bin/sh")).expect("read /bin/sh");
        assert!(info.is_elf);
        assert!(info.is_executable);
        assert!(info.program_headers_complete);
        assert!(info.has_interp);
        assert!(!info.is_statically_linked());
    }

    #[test]
    fn inspect_file_reports_missing_files() {
        assert!(inspect_file(Path::new("/nonexistent/mptcpize-rs")).is_err());
    }
}
