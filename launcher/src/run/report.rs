//! `run --report FILE`: the table the shim counts into, and the JSON made
//! from it ([`ReportJson`], the schema) when the run ends.
//!
//! The launcher creates the table ([`Table`]: a memfd, so it has no path
//! another user could reach, costs no memory for unused slots, and is gone
//! with the last process holding it, however the run ends), seals its size
//! and hands it to PROG on an inherited descriptor named in
//! `MPTCPIZE_RS_REPORT`; every process of the tree that loads the shim
//! counts into a slot of its own, and the launcher reads its own descriptor
//! back when PROG ends. The layout is the shim's own definition,
//! `preload/src/report_layout.rs`, included below, so writer and reader
//! cannot drift.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::process::Command;

use layout::*;
use serde::Serialize;

/// The table's layout, from the contract with the shim (public for the
/// tests).
pub use mptcpize_contract::report_layout as layout;

pub const ENV_VAR: &str = mptcpize_contract::env::REPORT.name();

/// Lowest descriptor the table is moved to, out of the range programs
/// usually pick themselves (the shim's log uses 900 and up, per process).
pub const TABLE_FD_FLOOR: RawFd = 960;

/// Processes a run can record; more are counted as unrecorded.
pub const CAPACITY: u32 = 4096;

/// What one process's shim did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub converted: u64,
    pub fallback: u64,
    pub refused: u64,
    pub untouched: u64,
    /// Converted sockets swapped back to plain TCP by a connect-time rule
    /// (a loopback destination, `--exclude`, ...) or a rejected option:
    /// counted in `converted` too, but their connections were TCP.
    pub swapped: u64,
    /// errno → fallbacks and refusals with it (0: an errno past the table).
    pub errnos: BTreeMap<i32, u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub program: String,
    pub counts: Counts,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub processes: Vec<Process>,
    /// Processes that found the table full.
    pub unrecorded: u32,
}

/// The counter table of one run: a sealed memfd on a high descriptor,
/// close-on-exec in the launcher and passed on to PROG only
/// ([`Table::pass_to`]).
#[derive(Debug)]
pub struct Table {
    file: File,
    inode: u64,
}

impl Table {
    /// An empty table of [`CAPACITY`] slots.
    pub fn create() -> io::Result<Table> {
        let size = table_size(CAPACITY as usize).ok_or_else(|| io::Error::other("capacity"))?;
        let file = File::from(high_descriptor(memfd()?)?);
        // Only its owner may open it again (through /proc/PID/fd).
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.set_len(size as u64)?;
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&MAGIC);
        header[CAPACITY_AT..CAPACITY_AT + 4].copy_from_slice(&CAPACITY.to_ne_bytes());
        file.write_all_at(&header, 0)?;
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on our own descriptor.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let inode = file.metadata()?.ino();
        Ok(Table { file, inode })
    }

    /// The descriptor PROG inherits.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// The value of `MPTCPIZE_RS_REPORT`: `FD:INODE`.
    pub fn env_value(&self) -> OsString {
        format!("{}:{}", self.fd(), self.inode).into()
    }

    /// Makes `command`'s program inherit the table (and names it in its
    /// environment); this process keeps its own descriptor close-on-exec.
    pub fn pass_to(&self, command: &mut Command) {
        let fd = self.fd();
        command.env(ENV_VAR, self.env_value());
        // SAFETY: runs in the child between fork and exec and only calls
        // fcntl, which is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            })
        };
    }

    /// What the shims counted so far.
    pub fn read(&self) -> io::Result<Report> {
        let size = table_size(CAPACITY as usize).ok_or_else(|| io::Error::other("capacity"))?;
        let mut bytes = vec![0u8; size];
        self.file.read_exact_at(&mut bytes, 0)?;
        // The capacity this process made the table with, whatever a
        // program of the tree may have written over the shared field.
        bytes[CAPACITY_AT..CAPACITY_AT + 4].copy_from_slice(&CAPACITY.to_ne_bytes());
        parse(&bytes).ok_or_else(|| io::Error::other("not an mptcpize-rs report table"))
    }
}

/// A new memfd that can be sealed, close-on-exec, not executable where
/// the kernel knows that (6.3 and later; `vm.memfd_noexec=2` requires it).
fn memfd() -> io::Result<OwnedFd> {
    let name = c"mptcpize-rs-report";
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create with a NUL-terminated name; the result is ours.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | libc::MFD_NOEXEC_SEAL) };
    if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // SAFETY: as above, for kernels without MFD_NOEXEC_SEAL.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor memfd_create just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fd` moved to `TABLE_FD_FLOOR` or above, close-on-exec, out of the way
/// of the descriptors programs pick themselves (`exec 3>file`, socket
/// activation); kept where it is if the descriptor limit is lower.
fn high_descriptor(fd: OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on our own descriptor.
    let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, TABLE_FD_FLOOR) };
    if high < 0 {
        return Ok(fd);
    }
    // SAFETY: a descriptor fcntl just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(high) })
}

/// Parses the table's bytes (pure).
pub fn parse(bytes: &[u8]) -> Option<Report> {
    let u32_at = |at: usize| Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    if bytes.get(..8)? != MAGIC {
        return None;
    }
    let capacity = u32_at(CAPACITY_AT)? as usize;
    // Never more slots than the bytes hold, whatever the header says.
    let in_bytes = bytes.len().saturating_sub(HEADER).div_ceil(SLOT);
    let used = (u32_at(NEXT_SLOT_AT)? as usize).min(capacity).min(in_bytes);
    let mut report = Report {
        processes: Vec::with_capacity(used),
        unrecorded: u32_at(UNRECORDED_AT)?,
    };
    for index in 0..used {
        let slot = HEADER + index * SLOT;
        let pid = u32_at(slot + PID)?;
        if pid == 0 {
            continue; // claimed past a tampered header, or not written yet
        }
        let name = bytes.get(slot + COMM..slot + COMM + COMM_LEN)?;
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        let mut counts = Counts {
            converted: u64_at(slot + CONVERTED)?,
            untouched: u64_at(slot + UNTOUCHED)?,
            fallback: u64_at(slot + FELL_BACK)?,
            refused: u64_at(slot + REFUSED)?,
            swapped: u64_at(slot + SWAPPED)?,
            errnos: BTreeMap::new(),
        };
        for errno in 0..ERRNO_BUCKETS {
            let count = u64_at(slot + BY_ERRNO + 8 * errno)?;
            if count > 0 {
                counts.errnos.insert(errno as i32, count);
            }
        }
        report.processes.push(Process {
            pid,
            program: String::from_utf8_lossy(name).into_owned(),
            counts,
        });
    }
    Some(report)
}

/// One decision, as a process's counts record it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Converted,
    /// Plain TCP after all, with the errno that kept it from MPTCP.
    Fallback(i32),
    /// `--require-mptcp`: the call failed with this errno.
    Refused(i32),
    /// A converted socket swapped back to plain TCP by a connect-time rule
    /// (the seccomp supervisor's; the shim counts into the table).
    Swapped,
}

impl Counts {
    pub fn add(&mut self, decision: Decision) {
        let errno = match decision {
            Decision::Converted => {
                self.converted += 1;
                return;
            }
            Decision::Swapped => {
                self.swapped += 1;
                return;
            }
            Decision::Fallback(errno) => {
                self.fallback += 1;
                errno
            }
            Decision::Refused(errno) => {
                self.refused += 1;
                errno
            }
        };
        // The shim's buckets: larger errnos count as 0.
        let bucket = errno_bucket(errno) as i32;
        *self.errnos.entry(bucket).or_default() += 1;
    }
}

impl Report {
    /// Counts a decision made for process `pid` (the seccomp supervisor's
    /// tally; the shim counts into the table instead). `program` names a
    /// process seen for the first time.
    pub fn count(&mut self, pid: u32, program: impl FnOnce() -> String, decision: Decision) {
        // Most calls come from the process seen last: search from the end.
        let index = match self.processes.iter().rposition(|p| p.pid == pid) {
            Some(index) => index,
            None => {
                let counts = Counts::default();
                self.processes.push(Process {
                    pid,
                    program: program(),
                    counts,
                });
                self.processes.len() - 1
            }
        };
        self.processes[index].counts.add(decision);
    }

    /// Every process's counts added up.
    pub fn total(&self) -> Counts {
        let mut total = Counts::default();
        for process in &self.processes {
            // Saturating: every process of the tree writes its own slot, so
            // a count may be anything; a total never wraps or panics.
            let counts = &process.counts;
            total.converted = total.converted.saturating_add(counts.converted);
            total.fallback = total.fallback.saturating_add(counts.fallback);
            total.refused = total.refused.saturating_add(counts.refused);
            total.untouched = total.untouched.saturating_add(counts.untouched);
            total.swapped = total.swapped.saturating_add(counts.swapped);
            for (errno, count) in &counts.errnos {
                let sum = total.errnos.entry(*errno).or_default();
                *sum = sum.saturating_add(*count);
            }
        }
        total
    }

    /// The report as JSON ([`ReportJson`]), pretty-printed, with a final
    /// newline.
    pub fn to_json(&self) -> String {
        crate::terminal_json::to_pretty_string(&ReportJson::new(self)) + "\n"
    }
}

/// The `--report` document: the counts of every process added up, then
/// one entry per process.
#[derive(Serialize)]
pub struct ReportJson<'a> {
    #[serde(flatten)]
    pub total: CountsJson,
    /// Processes that found the table full (counted nowhere else).
    pub unrecorded_processes: u32,
    pub processes: Vec<ProcessJson<'a>>,
}

/// One process of the run: who it was, then its counts.
#[derive(Serialize)]
pub struct ProcessJson<'a> {
    pub pid: u32,
    pub program: &'a str,
    #[serde(flatten)]
    pub counts: CountsJson,
}

/// What the shim did with the sockets of a process (or of all of them).
/// Each count is capped at `i64::MAX`, the largest integer every JSON
/// reader takes.
#[derive(Serialize)]
pub struct CountsJson {
    pub converted: i64,
    pub fallback: i64,
    pub refused: i64,
    pub untouched: i64,
    pub swapped_to_tcp: i64,
    /// The errnos of the fallbacks and refusals, by name (see
    /// [`errno_name`]), in ascending errno order.
    pub errno: ErrnoCountsJson,
}

/// `{"ENOPROTOOPT": 2, ...}`: a JSON object whose keys keep the order of
/// the errno numbers (not of the names).
pub struct ErrnoCountsJson(pub Vec<(String, i64)>);

impl Serialize for ErrnoCountsJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, count)| (name, count)))
    }
}

impl<'a> ReportJson<'a> {
    pub fn new(report: &'a Report) -> ReportJson<'a> {
        ReportJson {
            total: CountsJson::new(&report.total()),
            unrecorded_processes: report.unrecorded,
            processes: report
                .processes
                .iter()
                .map(|process| ProcessJson {
                    pid: process.pid,
                    program: &process.program,
                    counts: CountsJson::new(&process.counts),
                })
                .collect(),
        }
    }
}

impl CountsJson {
    pub fn new(counts: &Counts) -> CountsJson {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        CountsJson {
            converted: count(counts.converted),
            fallback: count(counts.fallback),
            refused: count(counts.refused),
            untouched: count(counts.untouched),
            swapped_to_tcp: count(counts.swapped),
            errno: ErrnoCountsJson(
                counts
                    .errnos
                    .iter()
                    .map(|(errno, n)| (errno_name(*errno), count(*n)))
                    .collect(),
            ),
        }
    }
}

/// The symbolic name of the errnos MPTCP fails with, the number otherwise.
fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EINVAL => "EINVAL",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        0 => "other",
        other => return other.to_string(),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pid, program, [converted, untouched, fallback, refused], (errno, count)s.
    type SlotSpec<'a> = (u32, &'a str, [u64; 4], &'a [(usize, u64)]);

    /// A table as the shim leaves it, built by hand.
    fn table(slots: &[SlotSpec], unrecorded: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; HEADER + slots.len() * SLOT];
        bytes[..8].copy_from_slice(&MAGIC);
        let count = (slots.len() as u32).to_ne_bytes();
        bytes[CAPACITY_AT..CAPACITY_AT + 4].copy_from_slice(&count);
        bytes[NEXT_SLOT_AT..NEXT_SLOT_AT + 4].copy_from_slice(&count);
        bytes[UNRECORDED_AT..UNRECORDED_AT + 4].copy_from_slice(&unrecorded.to_ne_bytes());
        for (i, (pid, name, [conv, untouched, fallback, refused], errnos)) in
            slots.iter().enumerate()
        {
            let slot = HEADER + i * SLOT;
            bytes[slot + PID..slot + PID + 4].copy_from_slice(&pid.to_ne_bytes());
            bytes[slot + COMM..slot + COMM + name.len()].copy_from_slice(name.as_bytes());
            for (offset, value) in [
                (CONVERTED, conv),
                (UNTOUCHED, untouched),
                (FELL_BACK, fallback),
                (REFUSED, refused),
            ] {
                bytes[slot + offset..slot + offset + 8].copy_from_slice(&value.to_ne_bytes());
            }
            for (errno, count) in *errnos {
                let at = slot + BY_ERRNO + 8 * errno;
                bytes[at..at + 8].copy_from_slice(&count.to_ne_bytes());
            }
        }
        bytes
    }

    #[test]
    fn parses_and_sums() {
        let bytes = table(
            &[
                (10, "curl", [3, 1, 0, 0], &[]),
                (11, "sh\"x", [0, 2, 2, 0], &[(92, 2)]),
            ],
            1,
        );
        let mut bytes = bytes;
        bytes[HEADER + SWAPPED..HEADER + SWAPPED + 8].copy_from_slice(&2u64.to_ne_bytes());
        let report = parse(&bytes).unwrap();
        assert_eq!(report.processes.len(), 2);
        assert_eq!(report.processes[0].counts.swapped, 2);
        assert_eq!(report.processes[1].program, "sh\"x");
        assert_eq!(report.unrecorded, 1);
        let total = report.total();
        assert_eq!(
            (total.converted, total.fallback, total.untouched),
            (3, 2, 3)
        );
        assert_eq!(total.errnos[&92], 2);
        let json = report.to_json();
        assert!(
            json.starts_with("{\n  \"converted\": 3,\n  \"fallback\": 2,"),
            "{json}"
        );
        assert!(json.contains("\"ENOPROTOOPT\": 2"), "{json}");
        assert!(json.contains("\"swapped_to_tcp\": 2,"), "{json}");
        assert!(json.contains("\"program\": \"sh\\\"x\""), "{json}");
        assert!(json.contains("\"unrecorded_processes\": 1"), "{json}");
    }

    #[test]
    fn counting_in_process() {
        let mut report = Report::default();
        report.count(7, || "busybox".into(), Decision::Converted);
        report.count(
            7,
            || unreachable!("known process"),
            Decision::Fallback(libc::ENOPROTOOPT),
        );
        report.count(8, || "sh".into(), Decision::Refused(9999));
        assert_eq!(report.processes.len(), 2);
        let total = report.total();
        assert_eq!((total.converted, total.fallback, total.refused), (1, 1, 1));
        assert_eq!(
            total.errnos,
            BTreeMap::from([(0, 1), (libc::ENOPROTOOPT, 1)])
        );
    }

    #[test]
    fn rejects_other_files() {
        assert_eq!(parse(b"not a table"), None);
        assert_eq!(parse(&[]), None);
        let mut truncated = table(&[(1, "a", [1, 0, 0, 0], &[])], 0);
        truncated.truncate(HEADER + 30);
        assert_eq!(parse(&truncated), None);
    }

    #[test]
    fn slots_nobody_wrote_are_skipped() {
        let bytes = table(&[(0, "", [0; 4], &[]), (12, "sh", [1, 0, 0, 0], &[])], 0);
        let report = parse(&bytes).unwrap();
        assert_eq!(report.processes.len(), 1);
        assert_eq!(report.processes[0].pid, 12);
    }

    #[test]
    fn reading_trusts_our_capacity_not_the_shared_one() {
        let table = Table::create().unwrap();
        table
            .file
            .write_all_at(&u32::MAX.to_ne_bytes(), CAPACITY_AT as u64)
            .unwrap();
        table
            .file
            .write_all_at(&u32::MAX.to_ne_bytes(), NEXT_SLOT_AT as u64)
            .unwrap();
        assert_eq!(table.read().unwrap().processes, vec![]);
    }

    /// The table is written by every program of the tree: whatever bytes
    /// it holds (a valid table with random bytes and fields changed, cut
    /// anywhere), parsing never panics, never lists more processes than
    /// the bytes hold slots, and never a slot nobody wrote.
    #[test]
    fn any_table_bytes_parse_or_are_refused_without_panic() {
        let (mut rng, cases) = crate::test_support::Rng::from_env();
        let seed = rng.seed();
        let fields = [
            CAPACITY_AT,
            NEXT_SLOT_AT,
            UNRECORDED_AT,
            HEADER + PID,
            HEADER + SLOT + PID,
        ];
        for case in 0..cases {
            let mut bytes = table(
                &[(1, "a", [1, 0, 0, 0], &[]), (2, "b", [0; 4], &[(9, 1)])],
                0,
            );
            for _ in 0..rng.below(8) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            for _ in 0..rng.below(3) {
                let at = *rng.pick(&fields);
                let random = rng.next() as u32;
                let value = *rng.pick(&[0, 1, 2, 3, u32::MAX, random]);
                bytes[at..at + 4].copy_from_slice(&value.to_ne_bytes());
            }
            bytes.truncate(rng.below(bytes.len() + 1));
            if let Some(report) = parse(&bytes) {
                // Slots starting inside the bytes (the last one's unused
                // tail may be cut).
                let slots = bytes.len().saturating_sub(HEADER).div_ceil(SLOT);
                assert!(
                    report.processes.len() <= slots,
                    "case {case}, seed {seed}: {} processes from {slots} slots",
                    report.processes.len()
                );
                assert!(
                    report.processes.iter().all(|p| p.pid != 0),
                    "case {case}, seed {seed}"
                );
                let _ = report.to_json();
            }
        }
    }

    /// The whole document, byte for byte: the totals, then each process;
    /// errnos in number order ("other", errno 0, first); counts past
    /// `i64::MAX` capped; a program name's controls escaped.
    #[test]
    fn json_document() {
        let counts = |converted: u64, errnos: &[(i32, u64)]| Counts {
            converted,
            errnos: errnos.iter().copied().collect(),
            ..Counts::default()
        };
        let report = Report {
            processes: vec![
                Process {
                    pid: 4,
                    program: "a\u{1b}\u{9b}b".into(),
                    counts: counts(1 << 63, &[(libc::ENOPROTOOPT, 1), (0, 2)]),
                },
                Process {
                    pid: 5,
                    program: "c".into(),
                    counts: counts(1, &[(libc::EINVAL, 3)]),
                },
            ],
            unrecorded: 0,
        };
        let errnos =
            "\"errno\": {\n    \"other\": 2,\n    \"EINVAL\": 3,\n    \"ENOPROTOOPT\": 1\n  }";
        let expected = format!(
            "{{\n  \"converted\": 9223372036854775807,\n  \"fallback\": 0,\n  \"refused\": 0,\n  \
             \"untouched\": 0,\n  \"swapped_to_tcp\": 0,\n  {errnos},\n  \
             \"unrecorded_processes\": 0,\n  \"processes\": [\n    {{\n      \"pid\": 4,\n      \
             \"program\": \"a\\u001b\\u009bb\",\n      \"converted\": 9223372036854775807,\n      \
             \"fallback\": 0,\n      \"refused\": 0,\n      \"untouched\": 0,\n      \
             \"swapped_to_tcp\": 0,\n      \"errno\": {{\n        \"other\": 2,\n        \
             \"ENOPROTOOPT\": 1\n      }}\n    }},\n    {{\n      \"pid\": 5,\n      \
             \"program\": \"c\",\n      \"converted\": 1,\n      \"fallback\": 0,\n      \
             \"refused\": 0,\n      \"untouched\": 0,\n      \"swapped_to_tcp\": 0,\n      \
             \"errno\": {{\n        \"EINVAL\": 3\n      }}\n    }}\n  ]\n}}\n"
        );
        assert_eq!(report.to_json(), expected);
    }

    #[test]
    fn empty_report_is_valid_json_shape() {
        let json = Report::default().to_json();
        assert!(json.ends_with("\"processes\": []\n}\n"), "{json}");
        assert!(json.contains("\"errno\": {}"), "{json}");
    }

    #[test]
    fn create_then_read_an_empty_table() {
        let table = Table::create().unwrap();
        assert_eq!(table.read().unwrap(), Report::default());
        let fd = table.fd();
        assert!(fd >= TABLE_FD_FLOOR, "on a high descriptor: {fd}");
        // SAFETY: fcntl on the table's descriptor.
        let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
        let wanted = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        assert_eq!(seals & wanted, wanted, "sealed: {seals:#x}");
        // SAFETY: as above.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_eq!(
            flags & libc::FD_CLOEXEC,
            libc::FD_CLOEXEC,
            "not leaked to others"
        );
        let meta = table.file.metadata().unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(meta.len() as usize, table_size(CAPACITY as usize).unwrap());
        assert!(table.file.set_len(1).is_err(), "cannot shrink");
        assert!(table.file.set_len(meta.len() + 1).is_err(), "cannot grow");
        let value = table.env_value().into_string().unwrap();
        assert_eq!(value, format!("{fd}:{}", meta.ino()));
    }

    #[test]
    fn the_program_inherits_the_table_and_reads_it() {
        let table = Table::create().unwrap();
        let mut command = Command::new("/bin/sh");
        command.args([
            "-c",
            "test -e /proc/self/fd/$1 && printf %s \"$MPTCPIZE_RS_REPORT\"",
        ]);
        command.arg("sh").arg(table.fd().to_string());
        table.pass_to(&mut command);
        let out = command.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            out.stdout,
            table.env_value().into_string().unwrap().into_bytes()
        );
    }

    #[test]
    fn totals_saturate_instead_of_wrapping() {
        let huge = || Process {
            pid: 1,
            program: "x".into(),
            counts: Counts {
                converted: u64::MAX,
                errnos: [(1, u64::MAX)].into_iter().collect(),
                ..Counts::default()
            },
        };
        let report = Report {
            processes: vec![huge(), huge()],
            ..Report::default()
        };
        let total = report.total();
        assert_eq!(total.converted, u64::MAX);
        assert_eq!(total.errnos[&1], u64::MAX);
    }
}
