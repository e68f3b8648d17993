//! Minimal ELF inspection: just enough of the file header and program
//! headers to tell whether the dynamic loader (and so LD_PRELOAD) will be
//! involved when the kernel starts a program, and whether it is a Go
//! program (whose runtime makes raw system calls, bypassing LD_PRELOAD).
//!
//! Parsing is a pure function over the bytes of the file ([`inspect`]), so it
//! is easy to test; [`inspect_file`] reads only the few parts it needs (the
//! first KiB, the section header table, the section names), never the whole
//! binary.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
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
const PT_LOAD: u32 = 1;
/// Segment flag: writable (the data segment, where Go keeps its build info).
const PF_W: u32 = 2;
/// Name of the section the Go linker puts its build information in.
const GO_BUILDINFO_SECTION: &[u8] = b".go.buildinfo";
/// The build information starts with this, 16-byte aligned (Go's
/// `debug/buildinfo` searches for it the same way).
pub const GO_BUILDINFO_MAGIC: &[u8; 14] = b"\xff Go buildinf:";
/// How much of the data segment is searched for the magic when the file has
/// no section headers: the linker puts `.go.buildinfo` first in it.
const GO_MAGIC_SEARCH_LEN: usize = 64 * 1024;
/// Bounds on what is read for section names, so a corrupt header cannot
/// make us read a huge amount.
const MAX_SECTION_TABLE_LEN: u64 = 4 * 1024 * 1024;
const MAX_SECTION_NAMES_LEN: u64 = 1024 * 1024;
/// Section index values with special meaning (the real value is elsewhere).
const SHN_XINDEX: u16 = 0xffff;
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
    /// Built by the Go toolchain (a `.go.buildinfo` section, or Go's build
    /// information magic at the start of the data segment). Go's runtime
    /// makes system calls directly, so LD_PRELOAD cannot reach its sockets
    /// even when the program is dynamically linked (cgo).
    pub is_go: bool,
}

impl ElfInfo {
    /// True only when we are sure no dynamic loader runs for this file.
    /// Static-PIE binaries also count: they have no `PT_INTERP` either.
    pub fn is_statically_linked(&self) -> bool {
        self.is_elf && self.is_executable && self.program_headers_complete && !self.has_interp
    }
}

/// Inspects the bytes of a file (all of it, or a prefix: the program
/// headers must be in it; Go detection needs the parts it looks at).
/// Anything that is not ELF (scripts, truncated or garbled headers) yields
/// `is_elf == false`.
pub fn inspect(bytes: &[u8]) -> ElfInfo {
    inspect_image(bytes, &bytes)
}

/// Reads the first [`INSPECTED_PREFIX_LEN`] bytes of `path` for the headers,
/// and for Go detection the section names (or the start of the data
/// segment), and inspects them.
pub fn inspect_file(path: &Path) -> io::Result<ElfInfo> {
    inspect_open(&File::open(path)?)
}

/// [`inspect_file`] for a file already open (`enable` opens the ExecStart=
/// binary inside its tree).
pub fn inspect_open(file: &File) -> io::Result<ElfInfo> {
    // One read for the whole prefix (read_to_end would grow its buffer in
    // doubling reads): `run` is in the start-up path of every program.
    let mut prefix = vec![0; INSPECTED_PREFIX_LEN as usize];
    let len = file.read_at(&mut prefix, 0)?;
    prefix.truncate(len);
    Ok(inspect_image(&prefix, file))
}

/// Random access to the bytes of a file: exactly `len` bytes at `offset`,
/// or `None` if they are not all there.
trait Image {
    fn bytes_at(&self, offset: u64, len: u64) -> Option<Cow<'_, [u8]>>;
}

impl Image for &[u8] {
    fn bytes_at(&self, offset: u64, len: u64) -> Option<Cow<'_, [u8]>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.get(start..end).map(Cow::Borrowed)
    }
}

impl Image for File {
    fn bytes_at(&self, offset: u64, len: u64) -> Option<Cow<'_, [u8]>> {
        let mut buf = vec![0; usize::try_from(len).ok()?];
        self.read_exact_at(&mut buf, offset).ok()?;
        Some(Cow::Owned(buf))
    }
}

fn inspect_image(prefix: &[u8], image: &dyn Image) -> ElfInfo {
    let Some(header) = Header::parse(prefix) else {
        return ElfInfo::default();
    };
    let segments = header.program_headers(prefix);
    let has_interp = segments
        .as_ref()
        .is_some_and(|segments| segments.iter().any(|s| s.p_type == PT_INTERP));
    ElfInfo {
        is_elf: true,
        is_executable: matches!(header.e_type, ET_EXEC | ET_DYN),
        has_interp,
        program_headers_complete: segments.is_some(),
        is_go: header.is_go(segments.as_deref().unwrap_or_default(), image),
    }
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
    shoff: u64,
    shentsize: u16,
    shnum: u16,
    shstrndx: u16,
}

/// The fields of one program header we use.
#[derive(Debug, Clone, Copy)]
struct Segment {
    p_type: u32,
    p_flags: u32,
    p_offset: u64,
    p_filesz: u64,
}

/// The fields of one section header we use.
struct Section {
    name: u32,
    offset: u64,
    size: u64,
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
        let (phoff, shoff, phentsize_at) = match class {
            Class::Elf32 => (u64::from(read.u32(28)?), u64::from(read.u32(32)?), 42),
            Class::Elf64 => (read.u64(32)?, read.u64(40)?, 54),
        };
        // e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx follow
        // each other as u16s.
        let half = |index: usize| read.u16(phentsize_at + 2 * index);
        Some(Header {
            class,
            big_endian,
            e_type: read.u16(16)?,
            phoff,
            phentsize: half(0)?,
            phnum: half(1)?,
            shoff,
            shentsize: half(2)?,
            shnum: half(3)?,
            shstrndx: half(4)?,
        })
    }

    /// Every program header, or `None` if the table is malformed or
    /// extends past `bytes`.
    fn program_headers(&self, bytes: &[u8]) -> Option<Vec<Segment>> {
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
        let mut segments = Vec::with_capacity(usize::from(self.phnum));
        for index in 0..u64::from(self.phnum) {
            let entry = index
                .checked_mul(u64::from(self.phentsize))?
                .checked_add(self.phoff)?;
            // Check the whole entry fits so a truncated table is inconclusive.
            let end = entry.checked_add(u64::from(self.phentsize))?;
            if end > bytes.len() as u64 {
                return None;
            }
            let at = usize::try_from(entry).ok()?;
            // p_type comes first in both classes; the rest moves because
            // ELF64 puts p_flags second to align the 64-bit fields.
            segments.push(match self.class {
                Class::Elf32 => Segment {
                    p_type: read.u32(at)?,
                    p_offset: u64::from(read.u32(at + 4)?),
                    p_filesz: u64::from(read.u32(at + 16)?),
                    p_flags: read.u32(at + 24)?,
                },
                Class::Elf64 => Segment {
                    p_type: read.u32(at)?,
                    p_flags: read.u32(at + 4)?,
                    p_offset: read.u64(at + 8)?,
                    p_filesz: read.u64(at + 32)?,
                },
            });
        }
        Some(segments)
    }

    /// Whether Go build information is present: a section named
    /// `.go.buildinfo` when there is a section table, otherwise the magic at
    /// a 16-byte boundary near the start of the first writable segment.
    fn is_go(&self, segments: &[Segment], image: &dyn Image) -> bool {
        if let Some(found) = self.has_go_section(image) {
            return found;
        }
        let Some(data) = segments
            .iter()
            .find(|s| s.p_type == PT_LOAD && s.p_flags & PF_W != 0)
        else {
            return false;
        };
        let len = data.p_filesz.min(GO_MAGIC_SEARCH_LEN as u64);
        let Some(bytes) = image.bytes_at(data.p_offset, len) else {
            return false;
        };
        bytes
            .chunks(16)
            .any(|chunk| chunk.starts_with(GO_BUILDINFO_MAGIC))
    }

    /// `Some(found)` when the section table and its name table could be
    /// read, `None` when there is none or it is unreadable.
    fn has_go_section(&self, image: &dyn Image) -> Option<bool> {
        let min_entry_size = match self.class {
            Class::Elf32 => 40,
            Class::Elf64 => 64,
        };
        if self.shoff == 0
            || self.shnum == 0
            || self.shentsize < min_entry_size
            || self.shstrndx == SHN_XINDEX
            || self.shstrndx >= self.shnum
        {
            return None;
        }
        let table_len = u64::from(self.shnum) * u64::from(self.shentsize);
        if table_len > MAX_SECTION_TABLE_LEN {
            return None;
        }
        let table = image.bytes_at(self.shoff, table_len)?;
        let read = Reader {
            bytes: &table,
            big_endian: self.big_endian,
        };
        let section = |index: u16| -> Option<Section> {
            let at = usize::from(index) * usize::from(self.shentsize);
            Some(match self.class {
                Class::Elf32 => Section {
                    name: read.u32(at)?,
                    offset: u64::from(read.u32(at + 16)?),
                    size: u64::from(read.u32(at + 20)?),
                },
                Class::Elf64 => Section {
                    name: read.u32(at)?,
                    offset: read.u64(at + 24)?,
                    size: read.u64(at + 32)?,
                },
            })
        };
        let names = section(self.shstrndx)?;
        if names.size > MAX_SECTION_NAMES_LEN {
            return None;
        }
        let names = image.bytes_at(names.offset, names.size)?;
        let found = (0..self.shnum).filter_map(section).any(|s| {
            usize::try_from(s.name)
                .ok()
                .and_then(|start| names.get(start..))
                .and_then(|rest| rest.split(|&b| b == 0).next())
                == Some(GO_BUILDINFO_SECTION)
        });
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

    /// The integer of `N` bytes at `at`, in the file's byte order.
    fn int<const N: usize, T>(
        &self,
        at: usize,
        from_be: fn([u8; N]) -> T,
        from_le: fn([u8; N]) -> T,
    ) -> Option<T> {
        let raw = self.array(at)?;
        Some(if self.big_endian {
            from_be(raw)
        } else {
            from_le(raw)
        })
    }

    fn u16(&self, at: usize) -> Option<u16> {
        self.int(at, u16::from_be_bytes, u16::from_le_bytes)
    }

    fn u32(&self, at: usize) -> Option<u32> {
        self.int(at, u32::from_be_bytes, u32::from_le_bytes)
    }

    fn u64(&self, at: usize) -> Option<u64> {
        self.int(at, u64::from_be_bytes, u64::from_le_bytes)
    }
}

/// A synthetic little-endian ELF64 executable with program headers of the
/// given types, for other rooms' tests (`[1]`: static, `[3, 1]`: with an
/// interpreter).
#[cfg(test)]
pub(crate) fn synthetic_elf64(p_types: &[u32]) -> Vec<u8> {
    tests::synthetic(Class::Elf64, false, 2, p_types)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PT_DYNAMIC: u32 = 2;

    /// Builds a synthetic ELF image: header immediately followed by program
    /// headers of the given types (the usual linker layout).
    pub(super) fn synthetic(
        class: Class,
        big_endian: bool,
        e_type: u16,
        p_types: &[u32],
    ) -> Vec<u8> {
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

    // Each case spells out its bytes and everything it expects: the lines
    // the cases share are their checks, not logic to factor out.
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

    /// Writes `value` as a `width`-byte integer at `at` in the given order.
    fn put_int(out: &mut [u8], big_endian: bool, at: usize, value: u64, width: usize) {
        let be = value.to_be_bytes();
        let le = value.to_le_bytes();
        let field = if big_endian {
            &be[8 - width..]
        } else {
            &le[..width]
        };
        out[at..at + width].copy_from_slice(field);
    }

    /// Appends a section name table and a section table naming `names`
    /// (plus the null section and `.shstrtab`), and points the header at it.
    fn with_sections(mut out: Vec<u8>, class: Class, big_endian: bool, names: &[&str]) -> Vec<u8> {
        let mut strtab = vec![0u8];
        let mut name_offsets = Vec::new();
        for name in names.iter().chain([&".shstrtab"]) {
            name_offsets.push(strtab.len() as u64);
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
        }
        let strtab_at = out.len();
        out.extend_from_slice(&strtab);
        while out.len() % 8 != 0 {
            out.push(0);
        }
        let table_at = out.len();
        let entsize = if class == Class::Elf64 { 64 } else { 40 };
        let count = names.len() + 2;
        out.resize(table_at + entsize * count, 0);
        for (index, name) in name_offsets.iter().enumerate() {
            let at = table_at + entsize * (index + 1);
            put_int(&mut out, big_endian, at, *name, 4);
            let (offset_at, size_at, width) = match class {
                Class::Elf32 => (at + 16, at + 20, 4),
                Class::Elf64 => (at + 24, at + 32, 8),
            };
            put_int(&mut out, big_endian, offset_at, strtab_at as u64, width);
            put_int(&mut out, big_endian, size_at, strtab.len() as u64, width);
        }
        let (shoff_at, shoff_width, halves_at) = match class {
            Class::Elf32 => (32, 4, 46),
            Class::Elf64 => (40, 8, 58),
        };
        put_int(&mut out, big_endian, shoff_at, table_at as u64, shoff_width);
        put_int(&mut out, big_endian, halves_at, entsize as u64, 2);
        put_int(&mut out, big_endian, halves_at + 2, count as u64, 2);
        put_int(&mut out, big_endian, halves_at + 4, (count - 1) as u64, 2);
        out
    }

    #[test]
    fn go_buildinfo_section_means_go_in_every_layout() {
        for (class, big_endian) in all_layouts() {
            let plain = synthetic(class, big_endian, ET_EXEC, &[PT_LOAD]);
            let go = with_sections(
                plain.clone(),
                class,
                big_endian,
                &[".text", ".go.buildinfo", ".data"],
            );
            let info = inspect(&go);
            assert!(info.is_go, "{class:?} be={big_endian}");
            assert!(info.is_statically_linked());
            let not_go = with_sections(plain, class, big_endian, &[".text", ".go.buildinfo2"]);
            assert!(!inspect(&not_go).is_go, "{class:?} be={big_endian}");
        }
    }

    #[test]
    fn dynamically_linked_go_is_still_go() {
        let bytes = synthetic(Class::Elf64, false, ET_DYN, &[PT_INTERP, PT_LOAD]);
        let info = inspect(&with_sections(
            bytes,
            Class::Elf64,
            false,
            &[".go.buildinfo"],
        ));
        assert!(info.is_go);
        assert!(info.has_interp);
        assert!(!info.is_statically_linked());
    }

    #[test]
    fn go_magic_in_the_data_segment_without_section_headers() {
        // One writable PT_LOAD whose file data starts at 4096, with the
        // magic at a 16-byte boundary a little way in.
        let mut bytes = synthetic(Class::Elf64, false, ET_EXEC, &[PT_LOAD]);
        let ph = 64;
        put_int(&mut bytes, false, ph + 4, u64::from(PF_W), 4);
        put_int(&mut bytes, false, ph + 8, 4096, 8);
        put_int(&mut bytes, false, ph + 32, 256, 8);
        bytes.resize(4096 + 256, 0);
        let mut misaligned = bytes.clone();
        bytes[4096 + 32..4096 + 46].copy_from_slice(GO_BUILDINFO_MAGIC);
        assert!(inspect(&bytes).is_go);
        misaligned[4096 + 33..4096 + 47].copy_from_slice(GO_BUILDINFO_MAGIC);
        assert!(!inspect(&misaligned).is_go, "only 16-byte boundaries count");
        // Not writable: not the data segment.
        put_int(&mut bytes, false, ph + 4, 5, 4);
        assert!(!inspect(&bytes).is_go);
    }

    #[test]
    fn corrupt_section_tables_are_not_go() {
        let bytes = synthetic(Class::Elf64, false, ET_EXEC, &[PT_LOAD]);
        let go = with_sections(bytes, Class::Elf64, false, &[".go.buildinfo"]);
        for (at, value, width) in [
            (40, u64::MAX, 8), // e_shoff past the end
            (58, 8, 2),        // e_shentsize too small
            (62, 0xffff, 2),   // e_shstrndx = SHN_XINDEX
            (62, 9, 2),        // e_shstrndx out of range
        ] {
            let mut corrupt = go.clone();
            put_int(&mut corrupt, false, at, value, width);
            assert!(!inspect(&corrupt).is_go, "field at {at} = {value:#x}");
        }
    }

    #[test]
    fn real_c_programs_are_not_go() {
        let info = inspect_file(Path::new("/bin/sh")).expect("read /bin/sh");
        assert!(!info.is_go);
        if let Ok(info) = inspect_file(Path::new("/bin/busybox")) {
            assert!(!info.is_go);
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
