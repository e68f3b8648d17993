//! `run --report FILE`: the table the shim counts into, and the JSON made
//! from it when the run ends.
//!
//! The launcher creates the table (a sparse file, so unused slots cost no
//! disk) and names it in `MPTCPIZE_RS_REPORT`; every process of the tree
//! that loads the shim counts into a slot of its own. The layout is the
//! shim's own definition, `preload/src/report_layout.rs`, included below, so
//! writer and reader cannot drift.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::Path;

use crate::json::Json;
use layout::*;

#[path = "../../preload/src/report_layout.rs"]
mod layout;

pub const ENV_VAR: &str = "MPTCPIZE_RS_REPORT";

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

/// Creates an empty table at `path` (which must not exist yet).
pub fn create_table(path: &Path) -> io::Result<()> {
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let mut header = [0u8; HEADER];
    header[..8].copy_from_slice(&MAGIC);
    header[CAPACITY_AT..CAPACITY_AT + 4].copy_from_slice(&CAPACITY.to_ne_bytes());
    std::os::unix::fs::FileExt::write_all_at(&file, &header, 0)?;
    file.set_len((HEADER + CAPACITY as usize * SLOT) as u64)
}

/// Reads a table the shim counted into.
pub fn read_table(path: &Path) -> io::Result<Report> {
    parse(&fs::read(path)?).ok_or_else(|| io::Error::other("not an mptcpize-rs report table"))
}

/// Parses the table's bytes (pure).
pub fn parse(bytes: &[u8]) -> Option<Report> {
    let u32_at = |at: usize| Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    if bytes.get(..8)? != MAGIC {
        return None;
    }
    let capacity = u32_at(CAPACITY_AT)? as usize;
    let used = (u32_at(NEXT_SLOT_AT)? as usize).min(capacity);
    let mut report = Report {
        processes: Vec::with_capacity(used),
        unrecorded: u32_at(UNRECORDED_AT)?,
    };
    for index in 0..used {
        let slot = HEADER + index * SLOT;
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
        let pid = u32_at(slot + PID)?;
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
}

impl Counts {
    pub fn add(&mut self, decision: Decision) {
        let errno = match decision {
            Decision::Converted => {
                self.converted += 1;
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
            let counts = &process.counts;
            total.converted += counts.converted;
            total.fallback += counts.fallback;
            total.refused += counts.refused;
            total.untouched += counts.untouched;
            total.swapped += counts.swapped;
            for (errno, count) in &counts.errnos {
                *total.errnos.entry(*errno).or_default() += count;
            }
        }
        total
    }

    /// The report as JSON: totals at the top, then one object per process.
    pub fn to_json(&self) -> String {
        let mut fields = counts_fields(&self.total());
        fields.push(("unrecorded_processes", Json::int(self.unrecorded)));
        let processes = self.processes.iter().map(|process| {
            let mut fields = vec![
                ("pid", Json::int(process.pid)),
                ("program", Json::str(&process.program)),
            ];
            fields.extend(counts_fields(&process.counts));
            Json::object(fields)
        });
        fields.push(("processes", Json::Array(processes.collect())));
        Json::object(fields).pretty() + "\n"
    }
}

fn counts_fields(counts: &Counts) -> Vec<(&'static str, Json)> {
    let count = |n: u64| Json::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let errnos = counts
        .errnos
        .iter()
        .map(|(errno, n)| (errno_name(*errno), count(*n)));
    vec![
        ("converted", count(counts.converted)),
        ("fallback", count(counts.fallback)),
        ("refused", count(counts.refused)),
        ("untouched", count(counts.untouched)),
        ("swapped_to_tcp", count(counts.swapped)),
        ("errno", Json::object(errnos)),
    ]
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
    fn empty_report_is_valid_json_shape() {
        let json = Report::default().to_json();
        assert!(json.ends_with("\"processes\": []\n}\n"), "{json}");
        assert!(json.contains("\"errno\": {}"), "{json}");
    }

    #[test]
    fn create_then_read_an_empty_table() {
        let dir = crate::test_support::ScratchDir::new("report");
        let path = dir.path().join("table");
        create_table(&path).unwrap();
        assert_eq!(read_table(&path).unwrap(), Report::default());
        assert!(create_table(&path).is_err(), "never overwrites");
    }
}
