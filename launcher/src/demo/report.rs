//! What one transfer measured, the figures derived from it, and the table
//! the demo prints. No I/O here, so every figure can be checked in tests.

/// One progress record of the receiver: `bytes` received `t_ms` after the
/// connection was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub t_ms: u64,
    pub bytes: u64,
}

/// Everything measured during one transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The receiver's progress, in time order.
    pub samples: Vec<Sample>,
    /// When path 1 went down (same clock as the samples).
    pub failure_ms: u64,
    /// When the sender stopped writing (its `--seconds`).
    pub end_ms: u64,
    /// Bytes the sender's connection accepted.
    pub sent: u64,
    /// Bytes the receiver got, and how many of them did not match.
    pub received: u64,
    pub bad: u64,
    /// The receiver saw the sender's FIN (the transfer ended properly).
    pub eof: bool,
    /// Subflows the connection used (1 for plain TCP).
    pub subflows: u64,
}

/// Bytes received by `t_ms`, interpolated linearly between samples (they
/// are 100 ms apart; at 200 Mbit/s that is 2.5 MB of difference).
pub fn bytes_at(samples: &[Sample], t_ms: u64) -> u64 {
    let mut before = Sample { t_ms: 0, bytes: 0 };
    for sample in samples {
        if sample.t_ms >= t_ms {
            let span = sample.t_ms - before.t_ms;
            if span == 0 {
                return sample.bytes;
            }
            let gained = sample.bytes.saturating_sub(before.bytes);
            let part = u128::from(gained) * u128::from(t_ms - before.t_ms) / u128::from(span);
            return before.bytes + part as u64;
        }
        before = *sample;
    }
    before.bytes
}

/// Rate in Mbit/s of `bytes` over `ms` milliseconds.
pub fn mbit_per_s(bytes: u64, ms: u64) -> f64 {
    if ms == 0 {
        return 0.0;
    }
    bytes as f64 * 8.0 / 1_000.0 / ms as f64
}

/// Below this share of one path's rate a transfer counts as standing still.
const STILL_SHARE: f64 = 0.1;

/// Slack for "until the sender stopped": the sender's clock starts at its
/// connect, a little before the receiver's (at the accept).
const END_SLACK_MS: u64 = 250;

/// Shortest stretch between samples to take a rate from: the receiver's
/// final record can come a few milliseconds after the one before it.
const MIN_SPAN_MS: u64 = 50;

impl Transfer {
    /// Rate while both paths were up: from the start to the failure.
    pub fn rate_before(&self) -> f64 {
        mbit_per_s(bytes_at(&self.samples, self.failure_ms), self.failure_ms)
    }

    /// Rate over the last second of sending (at most the second half of
    /// the time after the failure): what a stalled transfer still moves.
    pub fn rate_late(&self) -> f64 {
        let window = (self.end_ms.saturating_sub(self.failure_ms) / 2).min(1_000);
        let gained = bytes_at(&self.samples, self.end_ms)
            .saturating_sub(bytes_at(&self.samples, self.end_ms - window));
        mbit_per_s(gained, window)
    }

    /// When the last byte arrived: the first sample with the final count.
    fn last_byte(&self) -> Option<Sample> {
        let last = self.samples.last()?;
        self.samples.iter().find(|s| s.bytes >= last.bytes).copied()
    }

    /// Whether data kept arriving until the sender stopped. A stalled
    /// connection delivers what was in flight at the failure just after
    /// it, then nothing.
    pub fn continued(&self) -> bool {
        self.last_byte()
            .is_some_and(|end| end.t_ms > self.failure_ms && end.t_ms + END_SLACK_MS >= self.end_ms)
    }

    /// The progress from the failure to the last byte, as stretches
    /// between samples of at least [`MIN_SPAN_MS`].
    fn stretches_after_failure(&self) -> Vec<(Sample, Sample)> {
        let Some(end) = self.last_byte() else {
            return Vec::new();
        };
        let mut from = Sample {
            t_ms: self.failure_ms,
            bytes: bytes_at(&self.samples, self.failure_ms),
        };
        let mut stretches = Vec::new();
        for &to in &self.samples {
            if to.t_ms <= self.failure_ms || to.t_ms > end.t_ms {
                continue;
            }
            if to.t_ms - from.t_ms >= MIN_SPAN_MS {
                stretches.push((from, to));
                from = to;
            }
        }
        stretches
    }

    /// Whether `stretch` moved less than [`STILL_SHARE`] of a path's rate.
    fn is_still(path_rate_mbit: u32, (from, to): &(Sample, Sample)) -> bool {
        let rate = mbit_per_s(to.bytes.saturating_sub(from.bytes), to.t_ms - from.t_ms);
        rate < STILL_SHARE * f64::from(path_rate_mbit)
    }

    /// How long the transfer stood still between the failure and its last
    /// byte: MPTCP takes a moment to give up on the dead path and to resend
    /// on the other what was in flight on it.
    pub fn pause_ms(&self, path_rate_mbit: u32) -> u64 {
        self.stretches_after_failure()
            .iter()
            .filter(|stretch| Transfer::is_still(path_rate_mbit, stretch))
            .map(|(from, to)| to.t_ms - from.t_ms)
            .sum()
    }

    /// Rate on the path left: from the end of the last standstill to the
    /// last stretch that moved (up to the last byte, so including what was
    /// still buffered when the sender stopped). The first stretch is left
    /// out when there is more: it also delivers data that crossed path 2
    /// earlier and waited behind the gap path 1 left, which would overstate
    /// the rate.
    pub fn rate_resumed(&self, path_rate_mbit: u32) -> f64 {
        let stretches = self.stretches_after_failure();
        let still = |stretch: &(Sample, Sample)| Transfer::is_still(path_rate_mbit, stretch);
        let Some(last_moving) = stretches.iter().rposition(|s| !still(s)) else {
            return 0.0;
        };
        let moving_from = stretches[..last_moving]
            .iter()
            .rposition(still)
            .map_or(0, |last_still| last_still + 1);
        let moving = &stretches[moving_from..=last_moving];
        let from = moving.get(1).unwrap_or(&moving[0]).0;
        let to = moving[moving.len() - 1].1;
        mbit_per_s(to.bytes.saturating_sub(from.bytes), to.t_ms - from.t_ms)
    }

    /// Bytes received that match the pattern.
    pub fn intact(&self) -> u64 {
        self.received.saturating_sub(self.bad)
    }

    /// Bytes sent that never arrived intact: missing plus corrupted.
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received) + self.bad
    }
}

/// The demo's settings, as far as the report needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub rate_mbit: u32,
    pub seconds: u64,
}

/// The two-line introduction printed before the transfers.
pub fn introduction(setup: &Setup) -> String {
    format!(
        "Two paths of {} Mbit/s between two network namespaces \
         (198.18.1.0/24 and 198.18.2.0/24).\n\
         Each transfer runs {} s; path 1 goes down after {}.\n",
        setup.rate_mbit,
        setup.seconds,
        seconds_text(failure_ms(setup.seconds)),
    )
}

/// When path 1 goes down: half way through the transfer.
pub fn failure_ms(seconds: u64) -> u64 {
    seconds * 1_000 / 2
}

/// "3 s", or "2.5 s" for odd durations.
fn seconds_text(ms: u64) -> String {
    if ms % 1_000 == 0 {
        format!("{} s", ms / 1_000)
    } else {
        format!("{:.1} s", ms as f64 / 1_000.0)
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

fn lost_text(bytes: u64) -> String {
    match bytes {
        1 => "1 byte lost".to_string(),
        n if n < 1_000 => format!("{n} bytes lost"),
        n if n < 1_000_000 => format!("{:.1} kB lost", n as f64 / 1e3),
        n => format!("{} MB lost", megabytes(n)),
    }
}

/// The results table, plain TCP beside MPTCP.
pub fn table(setup: &Setup, tcp: &Transfer, mptcp: &Transfer) -> String {
    let speedup = if tcp.rate_before() > 0.0 {
        format!("  ({:.2}x)", mptcp.rate_before() / tcp.rate_before())
    } else {
        String::new()
    };
    let after = |transfer: &Transfer, path: &str| {
        let rate = setup.rate_mbit;
        if transfer.continued() {
            format!(
                "continued{path} ({:.1} Mbit/s), {:.1} s pause",
                transfer.rate_resumed(rate),
                transfer.pause_ms(rate) as f64 / 1_000.0
            )
        } else {
            format!("stalled ({:.1} Mbit/s)", transfer.rate_late())
        }
    };
    let delivered = |transfer: &Transfer| {
        format!(
            "{} of {} MB, {}",
            megabytes(transfer.intact()),
            megabytes(transfer.sent),
            lost_text(transfer.lost())
        )
    };
    let rows = [
        [
            String::new(),
            "plain TCP".to_string(),
            "MPTCP (mptcpize-rs run)".to_string(),
        ],
        [
            "both paths up".to_string(),
            format!("{:.1} Mbit/s", tcp.rate_before()),
            format!("{:.1} Mbit/s{speedup}", mptcp.rate_before()),
        ],
        [
            "subflows".to_string(),
            tcp.subflows.to_string(),
            mptcp.subflows.to_string(),
        ],
        [
            "path 1 down".to_string(),
            after(tcp, ""),
            after(mptcp, " on path 2"),
        ],
        [
            "delivered intact".to_string(),
            delivered(tcp),
            delivered(mptcp),
        ],
    ];
    let width = |column: usize| rows.iter().map(|row| row[column].len()).max().unwrap_or(0) + 3;
    let (first, second) = (width(0), width(1));
    let mut text = String::new();
    for [label, tcp, mptcp] in &rows {
        let line = format!("{label:first$}{tcp:second$}{mptcp}");
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// The closing sentence when MPTCP did everything it should.
pub fn conclusion(tcp: &Transfer) -> String {
    let tcp = if tcp.continued() {
        ""
    } else {
        "; plain TCP, with its one path, stalled"
    };
    format!(
        "MPTCP used both paths at once, kept going when path 1 failed and delivered\n\
         every byte intact{tcp}.\n"
    )
}

/// What keeps the MPTCP transfer from showing multipath at work; empty when
/// it did: two subflows, data kept flowing after the failure, nothing lost.
pub fn mptcp_problems(mptcp: &Transfer) -> Vec<String> {
    let mut problems = Vec::new();
    if mptcp.subflows < 2 {
        problems.push(format!(
            "the MPTCP connection used {} subflow(s) instead of 2",
            mptcp.subflows
        ));
    }
    if !mptcp.continued() {
        problems.push(format!(
            "the MPTCP transfer did not continue on path 2 after path 1 went down \
             ({:.1} Mbit/s at the end)",
            mptcp.rate_late()
        ));
    }
    if mptcp.bad > 0 {
        problems.push(format!("{} bytes arrived corrupted", mptcp.bad));
    }
    if mptcp.received < mptcp.sent {
        problems.push(format!(
            "{} of the {} bytes sent never arrived",
            mptcp.sent - mptcp.received,
            mptcp.sent
        ));
    }
    if !mptcp.eof {
        problems.push("the MPTCP connection did not end properly".to_string());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(u64, u64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(t_ms, bytes)| Sample { t_ms, bytes })
            .collect()
    }

    /// A transfer of 6 s failing at 3 s that moves `before` bytes per
    /// second, then `after` bytes per second, sampled every 100 ms.
    fn steady(before: u64, after: u64, subflows: u64) -> Transfer {
        let mut points = Vec::new();
        let mut bytes = 0;
        for step in 1..=60 {
            bytes += if step <= 30 { before } else { after } / 10;
            points.push((step * 100, bytes));
        }
        Transfer {
            samples: samples(&points),
            failure_ms: 3_000,
            end_ms: 6_000,
            sent: bytes,
            received: bytes,
            bad: 0,
            eof: true,
            subflows,
        }
    }

    const SETUP: Setup = Setup {
        rate_mbit: 100,
        seconds: 6,
    };

    #[test]
    fn bytes_at_interpolates() {
        let s = samples(&[(100, 1_000), (200, 3_000), (300, 3_000)]);
        assert_eq!(bytes_at(&s, 0), 0);
        assert_eq!(bytes_at(&s, 50), 500);
        assert_eq!(bytes_at(&s, 100), 1_000);
        assert_eq!(bytes_at(&s, 150), 2_000);
        assert_eq!(bytes_at(&s, 250), 3_000);
        assert_eq!(bytes_at(&s, 10_000), 3_000);
        assert_eq!(bytes_at(&[], 10), 0);
        // Two samples at the same time (the receiver's final record).
        let s = samples(&[(100, 10), (100, 20)]);
        assert_eq!(bytes_at(&s, 100), 10);
        assert_eq!(bytes_at(&s, 101), 20);
    }

    #[test]
    fn rates() {
        assert_eq!(mbit_per_s(12_500_000, 1_000), 100.0);
        assert_eq!(mbit_per_s(1, 0), 0.0);
        let t = steady(12_500_000, 6_250_000, 2);
        assert!((t.rate_before() - 100.0).abs() < 1e-9);
        assert!((t.rate_late() - 50.0).abs() < 1e-9);
        assert!((t.rate_resumed(100) - 50.0).abs() < 1e-9);
        assert_eq!(t.pause_ms(100), 0);
        assert!(t.continued());
    }

    #[test]
    fn a_stall_is_not_continuing() {
        let t = steady(12_500_000, 0, 1);
        assert_eq!(t.rate_late(), 0.0);
        assert!(!t.continued());
    }

    #[test]
    fn a_stall_after_what_was_in_flight_is_a_stall() {
        // Plain TCP: what was in flight arrives just after the failure,
        // then nothing until the receiver gives up.
        let mut t = steady(12_500_000, 0, 1);
        for sample in &mut t.samples[30..] {
            sample.bytes += 100_000;
        }
        assert_eq!(t.rate_late(), 0.0);
        assert!(!t.continued());
    }

    /// As measured (kernel 6.18, 100 Mbit/s paths, 4 s): both paths until
    /// 2 s, then what was in flight on path 2, a trickle while MPTCP gives
    /// up on path 1, from 3.2 s path 2's rate, and the final record when
    /// the last byte arrived just after the sender stopped.
    fn mptcp_trace() -> Transfer {
        let mut points = vec![];
        for step in 1..=20 {
            points.push((step * 100, step * 2_300_000));
        }
        let mut bytes = 46_000_000 + 1_200_000;
        points.push((2_100, bytes));
        for step in 1..=11 {
            points.push((2_100 + step * 100, bytes + step * 10_000));
        }
        bytes += 110_000;
        for step in 1..=11 {
            bytes += 1_180_000;
            points.push((3_200 + step * 100, bytes));
        }
        points.push((4_350, bytes + 590_000));
        let received = points.last().unwrap().1;
        Transfer {
            samples: samples(&points),
            failure_ms: 2_000,
            end_ms: 4_000,
            sent: received,
            received,
            bad: 0,
            eof: true,
            subflows: 2,
        }
    }

    #[test]
    fn pause_and_rate_on_the_remaining_path() {
        let t = mptcp_trace();
        assert!((t.rate_before() - 184.0).abs() < 1e-9);
        assert!(t.continued());
        // 2.1 s to 3.2 s trickles at 0.8 Mbit/s: standing still on
        // 100 Mbit/s paths, but not on 7 Mbit/s ones.
        assert_eq!(t.pause_ms(100), 1_100);
        assert_eq!(t.pause_ms(9), 1_100);
        assert_eq!(t.pause_ms(7), 0);
        // From 3.3 s (the stretch from 3.2 s left out) to 4.35 s.
        let rate = t.rate_resumed(100);
        assert!(
            (rate - mbit_per_s(12_390_000, 1_050)).abs() < 1e-9,
            "{rate}"
        );
        // Stopping well before the sender did is not continuing.
        let mut early = t.clone();
        early.end_ms = 4_700;
        assert!(!early.continued());
    }

    #[test]
    fn short_last_stretches_do_not_count() {
        // The final record 5 ms after a sample with no more data, and one
        // 5 ms after the failure.
        let mut t = mptcp_trace();
        let last = *t.samples.last().unwrap();
        t.samples.push(Sample {
            t_ms: last.t_ms + 5,
            bytes: last.bytes,
        });
        t.samples.insert(
            20,
            Sample {
                t_ms: 2_005,
                bytes: 46_000_000,
            },
        );
        assert_eq!(t.pause_ms(100), 1_100);
        assert!((t.rate_resumed(100) - mbit_per_s(12_390_000, 1_050)).abs() < 1e-9);
    }

    #[test]
    fn trailing_trickles_are_not_the_rate() {
        // The last byte arrives in a slow stretch after the drain.
        let mut t = mptcp_trace();
        let last = *t.samples.last().unwrap();
        t.samples.push(Sample {
            t_ms: last.t_ms + 200,
            bytes: last.bytes + 1_448,
        });
        assert!((t.rate_resumed(100) - mbit_per_s(12_390_000, 1_050)).abs() < 1e-9);
        assert_eq!(t.pause_ms(100), 1_300);
    }

    #[test]
    fn no_rate_without_data_after_the_failure() {
        let t = steady(12_500_000, 0, 1);
        assert_eq!(t.rate_resumed(100), 0.0);
        let empty = Transfer {
            samples: vec![],
            ..t
        };
        assert_eq!(empty.rate_resumed(100), 0.0);
        assert_eq!(empty.pause_ms(100), 0);
        assert!(!empty.continued());
    }

    #[test]
    fn losses() {
        let mut t = steady(1_000_000, 0, 1);
        assert_eq!((t.intact(), t.lost()), (3_000_000, 0));
        t.sent += 500;
        t.bad = 7;
        assert_eq!(t.intact(), 2_999_993);
        assert_eq!(t.lost(), 507);
        assert_eq!(lost_text(0), "0 bytes lost");
        assert_eq!(lost_text(1), "1 byte lost");
        assert_eq!(lost_text(507), "507 bytes lost");
        assert_eq!(lost_text(73_340), "73.3 kB lost");
        assert_eq!(lost_text(1_300_000), "1.3 MB lost");
    }

    #[test]
    fn introduction_names_rate_duration_and_failure() {
        let text = introduction(&SETUP);
        assert!(text.contains("Two paths of 100 Mbit/s"), "{text}");
        assert!(
            text.contains("runs 6 s; path 1 goes down after 3 s."),
            "{text}"
        );
        let odd = introduction(&Setup {
            rate_mbit: 5,
            seconds: 5,
        });
        assert!(odd.contains("after 2.5 s."), "{odd}");
    }

    #[test]
    fn table_layout() {
        let mut tcp = steady(11_875_000, 0, 1);
        tcp.sent += 1_300_000;
        let mptcp = steady(23_750_000, 11_875_000, 2);
        let text = table(&SETUP, &tcp, &mptcp);
        let expected = [
            "                   plain TCP                      MPTCP (mptcpize-rs run)",
            "both paths up      95.0 Mbit/s                    190.0 Mbit/s  (2.00x)",
            "subflows           1                              2",
            "path 1 down        stalled (0.0 Mbit/s)           \
             continued on path 2 (95.0 Mbit/s), 0.0 s pause",
            "delivered intact   35.6 of 36.9 MB, 1.3 MB lost   106.9 of 106.9 MB, 0 bytes lost",
            "",
        ]
        .join("\n");
        assert_eq!(text, expected, "got:\n{text}");
    }

    #[test]
    fn table_with_a_pause() {
        let tcp = steady(11_875_000, 0, 1);
        let text = table(&SETUP, &tcp, &mptcp_trace());
        assert!(
            text.contains("continued on path 2 (94.4 Mbit/s), 1.1 s pause\n"),
            "{text}"
        );
    }

    #[test]
    fn conclusion_mentions_the_tcp_stall_only_if_there_was_one() {
        let stalled = conclusion(&steady(11_875_000, 0, 1));
        assert!(
            stalled.starts_with("MPTCP used both paths at once"),
            "{stalled}"
        );
        assert!(stalled.contains("stalled"), "{stalled}");
        let kept_going = conclusion(&steady(11_875_000, 11_875_000, 1));
        assert!(kept_going.ends_with("every byte intact.\n"), "{kept_going}");
    }

    #[test]
    fn problems_of_a_good_and_a_bad_mptcp_run() {
        assert!(mptcp_problems(&steady(23_750_000, 11_875_000, 2)).is_empty());
        let mut bad = steady(11_875_000, 0, 1);
        bad.sent += 10;
        bad.bad = 1;
        bad.eof = false;
        let problems = mptcp_problems(&bad);
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].contains("1 subflow(s)"));
        assert!(problems[1].contains("did not continue"));
        assert!(problems[2].contains("1 bytes arrived corrupted"));
        assert!(problems[3].contains("10 of the"));
    }
}
