//! # Semi-active replication
//!
//! A *leader* VM runs normally while a *follower* on another host executes
//! the same instruction stream (research note `virt-models.md` §4.3; seed
//! 003, Stodden's Xen/VLS; Bressoud & Schneider 1995). Everything the
//! leader sees that is not determined by its own state — interrupt delivery
//! points, I/O input data, and the results of counter reads such as RDTSC —
//! is logged and shipped to the follower, which injects the *leader's*
//! values when it reaches the same point. The follower's guest clock is
//! therefore the leader's clock, delayed by the log link:
//!
//! ```text
//!   leader:   rdtsc → 1000 ──log──►  (latency + serialisation)
//!   follower:            ...stall... rdtsc → 1000 (the leader's value)
//! ```
//!
//! * The follower stalls when it reaches an event whose entry has not
//!   arrived, so its lag is at least the link latency.
//! * **Output commit**: leader output is held until the follower has
//!   acknowledged the log up to that point: one more log-link round trip.
//! * **Failover**: the follower replays what has arrived, then goes live on
//!   its *own* host's counter. With `failover_monotone` the new offset is
//!   chosen so the first live read is not below the last replayed value; the
//!   step the guest sees is recorded either way.
//!
//! ```
//! use models::replication::{ReplicationConfig, ReplicationPair};
//! use sim_core::{SimDuration, SimTime};
//! let mut pair = ReplicationPair::new(ReplicationConfig::default()).unwrap();
//! let t = SimTime::from_secs(1);
//! assert_eq!(pair.leader_read(t, 42_000), 42_000);
//! assert_eq!(pair.follower_read(t), None); // still on the wire
//! let later = t + SimDuration::from_millis(1);
//! assert_eq!(pair.follower_read(later), Some(42_000));
//! ```

use std::collections::VecDeque;

use algorithms::ConfigError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimTime};

pub use crate::migration::GuestTscMapping;

/// Kind of nondeterministic input in the log (§4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogKind {
    /// Result of a counter read (RDTSC, or a pvclock read built on it).
    Rdtsc,
    /// Interrupt delivery point.
    Irq,
    /// Input data from a device.
    IoIn,
}

/// One logged nondeterministic input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Sequence number, from 0, in leader execution order.
    pub seq: u64,
    /// What was logged.
    pub kind: LogKind,
    /// The value the leader saw (counter value, vector, data word).
    pub value: u64,
}

/// Replication parameters (§4.3, §7 "Semi-active").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// One-way latency of the log link, µs (default 50, LAN \[E\] §7; 0..=1e6).
    pub log_latency_us: f64,
    /// Log link bandwidth, Mb/s (default 1000 \[E\] §7; 1..=1e6).
    pub log_bandwidth_mbit_per_s: f64,
    /// Bytes per log entry on the wire (default 32 \[E\] §7, 16–64; 1..=65 536).
    pub entry_bytes: u64,
    /// Hold leader output until the follower acknowledged the log
    /// (default true, §4.3).
    pub output_commit: bool,
    /// Leader traps every RDTSC to log it (default true, §4.3). Without
    /// it, the follower's guest reads its own host's TSC, so at failover
    /// the guest's TSC moves by the two hosts' difference, unclamped.
    pub intercept_rdtsc: bool,
    /// Cost of trapping one RDTSC on the leader, ns, added to the native
    /// read (default 140: 20 × 7 ns, Xen's 15–20× figure for emulated
    /// rdtsc, §1.2/§7 note M; 0..=1e6). An emulated TSC's trap
    /// ([`crate::migration::TscMode::read_trap`]) is the same figure less
    /// the native read, 133 ns, the trapped read totalling 140 ns.
    pub rdtsc_exit_ns: f64,
    /// At failover, offset the follower's counter so time never goes back
    /// (default true, §4.3).
    pub failover_monotone: bool,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            log_latency_us: 50.0,
            log_bandwidth_mbit_per_s: 1000.0,
            entry_bytes: 32,
            output_commit: true,
            intercept_rdtsc: true,
            rdtsc_exit_ns: 140.0,
            failover_monotone: true,
        }
    }
}

impl ReplicationConfig {
    /// Checks every field; errors name the field and its valid range.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut e = Vec::new();
        let f = |n: &str| format!("{path}.{n}");
        ConfigError::check_range(
            &mut e,
            &f("log_latency_us"),
            self.log_latency_us,
            0.0,
            1e6,
            "µs",
        );
        ConfigError::check_range(
            &mut e,
            &f("log_bandwidth_mbit_per_s"),
            self.log_bandwidth_mbit_per_s,
            1.0,
            1e6,
            "Mb/s",
        );
        ConfigError::check_range(
            &mut e,
            &f("entry_bytes"),
            self.entry_bytes as f64,
            1.0,
            65_536.0,
            "B",
        );
        ConfigError::check_range(
            &mut e,
            &f("rdtsc_exit_ns"),
            self.rdtsc_exit_ns,
            0.0,
            1e6,
            "ns",
        );
        e
    }

    /// The log link this configuration describes.
    pub fn link(&self) -> LogLink {
        LogLink {
            latency: SimDuration::from_secs_f64(self.log_latency_us * 1e-6),
            bandwidth_bps: self.log_bandwidth_mbit_per_s * 1e6,
        }
    }
}

/// The leader→follower log channel: FIFO, serialised at `bandwidth_bps`,
/// then `latency` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLink {
    /// One-way propagation latency.
    pub latency: SimDuration,
    /// Bandwidth, bit/s.
    pub bandwidth_bps: f64,
}

/// What happened at failover.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailoverReport {
    /// True time of the failover.
    pub at: SimTime,
    /// Last counter value the follower's guest saw (replayed from the log:
    /// a daemon's read or its kernel's tick read, whichever is later).
    pub last_replayed: Option<u64>,
    /// Entries still in flight, lost with the leader.
    pub entries_lost: u64,
    /// Guest-visible step: follower host count − last replayed value,
    /// ticks (negative: the follower's counter is behind).
    pub step_ticks: i128,
    /// The guest's TSC just after failover minus the leader host's count
    /// at that instant, ticks: the discontinuity an independent clock of
    /// the guest sees. Without a clamp, the two hosts' counter difference;
    /// with one, minus the ticks since the last replayed read.
    pub jump_ticks: i128,
    /// True when a backward step was clamped by `failover_monotone`.
    pub clamped: bool,
    /// Mapping from the follower host's counter to the guest's from now on.
    pub mapping: GuestTscMapping,
}

/// A leader/follower pair with the log between them.
#[derive(Clone, Debug)]
pub struct ReplicationPair {
    cfg: ReplicationConfig,
    link: LogLink,
    next_seq: u64,
    link_free_at: SimTime,
    /// Entries on the link: (entry, logged at, arrives at).
    in_flight: VecDeque<(LogEntry, SimTime, SimTime)>,
    last_replayed_rdtsc: Option<u64>,
    max_lag: SimDuration,
    failover: Option<FailoverReport>,
}

impl ReplicationPair {
    /// A pair with an empty log. Invalid configurations are returned.
    pub fn new(cfg: ReplicationConfig) -> Result<Self, Vec<ConfigError>> {
        let errors = cfg.validate("replication");
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ReplicationPair {
            link: cfg.link(),
            cfg,
            next_seq: 0,
            link_free_at: SimTime::ZERO,
            in_flight: VecDeque::with_capacity(1024),
            last_replayed_rdtsc: None,
            max_lag: SimDuration::ZERO,
            failover: None,
        })
    }

    /// Serialisation time of one entry.
    fn entry_time(&self) -> SimDuration {
        SimDuration::from_secs_f64(self.cfg.entry_bytes as f64 * 8.0 / self.link.bandwidth_bps)
    }

    /// Appends an entry logged at `t`; returns its sequence number.
    pub fn log_input(&mut self, t: SimTime, kind: LogKind, value: u64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.failover.is_some() {
            return seq;
        }
        let depart = t.max(self.link_free_at) + self.entry_time();
        self.link_free_at = depart;
        self.in_flight
            .push_back((LogEntry { seq, kind, value }, t, depart + self.link.latency));
        seq
    }

    /// The leader's guest reads its counter at `t`; the host count is
    /// returned unchanged, and logged for the follower if RDTSC is
    /// intercepted (otherwise the follower's guest reads its own host's
    /// counter, and nothing of the leader's reaches it).
    pub fn leader_read(&mut self, t: SimTime, leader_count: u64) -> u64 {
        if self.cfg.intercept_rdtsc {
            self.log_input(t, LogKind::Rdtsc, leader_count);
        }
        leader_count
    }

    /// Extra leader CPU time per counter read (the trap), if intercepted.
    pub fn leader_read_cost(&self) -> SimDuration {
        if self.cfg.intercept_rdtsc {
            SimDuration::from_secs_f64(self.cfg.rdtsc_exit_ns * 1e-9)
        } else {
            SimDuration::ZERO
        }
    }

    /// The follower, in lockstep with the leader, replays every entry that
    /// has arrived by `t`, each as it arrives (it reaches each logged point
    /// no earlier than the leader did, and stalls there until the entry is
    /// in).
    pub fn catch_up(&mut self, t: SimTime) {
        while let Some(&(entry, logged, arrival)) = self.in_flight.front() {
            if arrival > t {
                return;
            }
            self.in_flight.pop_front();
            if entry.kind == LogKind::Rdtsc {
                self.last_replayed_rdtsc = Some(entry.value);
            }
            self.max_lag = self.max_lag.max(arrival - logged);
        }
    }

    /// The follower's guest reaches its next counter read at `t`: replays
    /// every earlier entry, and returns the leader's value if its entry has
    /// arrived, or `None` (the follower stalls until
    /// [`next_arrival`](Self::next_arrival)).
    pub fn follower_read(&mut self, t: SimTime) -> Option<u64> {
        while let Some(&(entry, logged, arrival)) = self.in_flight.front() {
            if arrival > t {
                return None;
            }
            self.in_flight.pop_front();
            if entry.kind == LogKind::Rdtsc {
                self.last_replayed_rdtsc = Some(entry.value);
                self.max_lag = self.max_lag.max(t - logged);
                return Some(entry.value);
            }
        }
        None
    }

    /// Arrival time of the next unreplayed entry.
    pub fn next_arrival(&self) -> Option<SimTime> {
        self.in_flight.front().map(|&(_, _, a)| a)
    }

    /// Entries logged but not yet replayed.
    pub fn backlog(&self) -> usize {
        self.in_flight.len()
    }

    /// When leader output produced at `t` may leave: after the follower has
    /// acknowledged every entry logged so far (a commit marker behind them
    /// on the link, then the ack back). Without output commit, `t`.
    pub fn leader_output_release(&self, t: SimTime) -> SimTime {
        if !self.cfg.output_commit {
            return t;
        }
        let marker_arrival = t.max(self.link_free_at) + self.entry_time() + self.link.latency;
        marker_arrival + self.link.latency
    }

    /// The follower goes live at `t` on its own host, whose counter reads
    /// `follower_host_count` then, while the failed leader's host would
    /// read `leader_host_count`. Arrived entries are replayed first; the
    /// rest are lost with the leader. Returns the report (also kept).
    ///
    /// The guest's kernel reads its counter at every timer tick, and the
    /// follower has replayed those reads up to about one link latency
    /// before `t`: `leader_replayed_count` is the leader's counter then.
    /// The monotone offset keeps the guest above it as well as above the
    /// last daemon read replayed, which may be a poll period old.
    pub fn failover(
        &mut self,
        t: SimTime,
        follower_host_count: u64,
        leader_host_count: u64,
        leader_replayed_count: u64,
    ) -> FailoverReport {
        if let Some(r) = self.failover {
            return r;
        }
        self.catch_up(t);
        let lost = self.in_flight.len() as u64;
        self.in_flight.clear();
        // Without interception nothing is logged, the kernel's reads neither.
        let last = self.cfg.intercept_rdtsc.then(|| {
            self.last_replayed_rdtsc
                .map_or(leader_replayed_count, |l| l.max(leader_replayed_count))
        });
        let step = last.map_or(0, |l| i128::from(follower_host_count) - i128::from(l));
        let (mapping, clamped) = match last {
            Some(l) if self.cfg.failover_monotone && follower_host_count <= l => {
                let off =
                    (i128::from(l) + 1 - i128::from(follower_host_count)).min(i128::from(i64::MAX));
                (GuestTscMapping::with_offset(off as i64), true)
            }
            _ => (GuestTscMapping::identity(), false),
        };
        let report = FailoverReport {
            at: t,
            last_replayed: last,
            entries_lost: lost,
            step_ticks: step,
            jump_ticks: i128::from(mapping.guest(follower_host_count))
                - i128::from(leader_host_count),
            clamped,
            mapping,
        };
        self.failover = Some(report);
        report
    }

    /// A counter read by the (former) follower's guest after failover;
    /// `None` before failover.
    pub fn read_after_failover(&self, follower_host_count: u64) -> Option<u64> {
        self.failover.map(|r| r.mapping.guest(follower_host_count))
    }

    /// What happened at failover, once it has happened.
    pub fn report(&self) -> Option<FailoverReport> {
        self.failover
    }

    /// Largest lag seen between a leader read and its replay: the queue
    /// behind the link's bandwidth, the link latency and any follower stall.
    pub fn max_lag(&self) -> SimDuration {
        self.max_lag
    }

    /// The link in use.
    pub fn link(&self) -> LogLink {
        self.link
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> ReplicationPair {
        ReplicationPair::new(ReplicationConfig::default()).unwrap()
    }

    #[test]
    fn follower_reads_the_leaders_values_after_the_link_latency() {
        let mut p = pair();
        let lat = p.link().latency;
        let mut leader = Vec::new();
        for i in 0..100u64 {
            let t = SimTime::from_nanos(10_000 * i);
            leader.push((t, p.leader_read(t, 3_000 * i + 17)));
            if i % 7 == 0 {
                p.log_input(t, LogKind::Irq, 32);
            }
        }
        for (t, v) in leader {
            // Not there yet at the leader's own instant.
            assert_eq!(p.follower_read(t), None);
            // Irq entries are replayed on the way to the next Rdtsc; the
            // read completes when its own entry arrives.
            let mut at = p.next_arrival().unwrap();
            let mut got = p.follower_read(at);
            while got.is_none() {
                at = p.next_arrival().unwrap();
                got = p.follower_read(at);
            }
            assert!(at - t >= lat, "lag {:?} below latency {lat:?}", at - t);
            assert_eq!(got, Some(v), "follower must see the leader's value");
        }
        assert_eq!(p.backlog(), 0);
        assert!(p.max_lag() >= lat);
    }

    #[test]
    fn bursts_queue_behind_the_link_bandwidth() {
        let cfg = ReplicationConfig {
            log_bandwidth_mbit_per_s: 1.0,
            ..ReplicationConfig::default()
        };
        let mut p = ReplicationPair::new(cfg).unwrap();
        let t = SimTime::from_secs(1);
        for i in 0..10 {
            p.leader_read(t, i);
        }
        // Ten 32-byte entries at 1 Mb/s: the last leaves after 2.56 ms.
        let mut last = SimTime::ZERO;
        while let Some(a) = p.next_arrival() {
            last = a;
            p.follower_read(a);
        }
        assert_eq!((last - t).as_nanos(), 2_560_000 + 50_000);
        assert_eq!(p.max_lag(), last - t);
    }

    #[test]
    fn catching_up_late_counts_the_links_lag_not_the_callers() {
        let mut p = pair();
        let lat = p.link().latency;
        let mut t = SimTime::from_secs(1);
        for i in 0..4u64 {
            p.leader_read(t, 1_000 * i);
            // The world replays at the leader's next read, 16 s later.
            t += SimDuration::from_secs(16);
            p.catch_up(t);
        }
        assert_eq!(p.backlog(), 0);
        assert!(
            p.max_lag() >= lat && p.max_lag() < lat + lat,
            "{:?}",
            p.max_lag()
        );
        assert_eq!(
            p.failover(t, 9_000_000, 9_000_000, 0).last_replayed,
            Some(3_000)
        );
    }

    #[test]
    fn output_commit_adds_a_round_trip() {
        let mut p = pair();
        let (lat, entry) = (p.link().latency, p.entry_time());
        let t = SimTime::from_secs(2);
        // Nothing on the link: the marker's own serialisation, then there
        // and back.
        assert_eq!(p.leader_output_release(t) - t, entry + lat + lat);
        // An entry logged at t is still on the link: the marker waits for it.
        p.leader_read(t, 5);
        assert_eq!(p.leader_output_release(t) - t, entry + entry + lat + lat);
        // A burst of ten at 1 Mb/s delays the release by the burst's drain.
        let mut slow = ReplicationPair::new(ReplicationConfig {
            log_bandwidth_mbit_per_s: 1.0,
            ..ReplicationConfig::default()
        })
        .unwrap();
        for i in 0..10 {
            slow.leader_read(t, i);
        }
        let e = slow.entry_time();
        assert_eq!(e, SimDuration::from_nanos(256_000));
        assert_eq!(
            slow.leader_output_release(t) - t,
            SimDuration::from_nanos(11 * e.as_nanos()) + lat + lat
        );
        let np = ReplicationPair::new(ReplicationConfig {
            output_commit: false,
            ..ReplicationConfig::default()
        })
        .unwrap();
        assert_eq!(np.leader_output_release(t), t);
        assert_eq!(p.leader_read_cost(), SimDuration::from_nanos(140));
    }

    #[test]
    fn failover_is_monotone_when_the_follower_counter_is_behind() {
        let mut p = pair();
        let t = SimTime::from_secs(3);
        p.leader_read(t, 1_000_000);
        p.leader_read(t + SimDuration::from_micros(1), 1_003_000);
        // A read logged just before the crash is lost with the leader.
        let crash = t + SimDuration::from_micros(200);
        p.leader_read(t + SimDuration::from_micros(190), 1_600_000);
        let r = p.failover(crash, 400_000, 1_700_000, 0);
        assert_eq!(r.last_replayed, Some(1_003_000));
        assert_eq!(r.entries_lost, 1);
        assert_eq!(r.step_ticks, 400_000 - 1_003_000);
        assert!(r.clamped);
        // The guest resumes just past its last replayed read: it loses the
        // ticks the leader counted since.
        assert_eq!(r.jump_ticks, 1_003_001 - 1_700_000);
        let first = p.read_after_failover(400_000).unwrap();
        assert!(first > 1_003_000);
        assert_eq!(p.read_after_failover(400_100).unwrap(), first + 100);
        // Without the monotone choice the guest sees time go back.
        let mut q = ReplicationPair::new(ReplicationConfig {
            failover_monotone: false,
            ..ReplicationConfig::default()
        })
        .unwrap();
        q.leader_read(t, 1_000_000);
        let r = q.failover(crash, 400_000, 1_700_000, 0);
        assert!(!r.clamped);
        assert_eq!(r.jump_ticks, 400_000 - 1_700_000);
        assert!(q.read_after_failover(400_000).unwrap() < 1_000_000);
    }

    #[test]
    fn failover_keeps_the_guest_above_its_kernels_last_replayed_tick() {
        // The last daemon read is old; the kernel's tick reads replayed up
        // to a link latency ago put the guest's counter at 1 690 000.
        let mut p = pair();
        let t = SimTime::from_secs(3);
        p.leader_read(t, 1_000_000);
        let crash = t + SimDuration::from_secs(10);
        let r = p.failover(crash, 400_000, 1_700_000, 1_690_000);
        assert_eq!(r.last_replayed, Some(1_690_000));
        assert!(r.clamped);
        assert_eq!(r.jump_ticks, 1_690_001 - 1_700_000);
    }

    #[test]
    fn failover_ahead_keeps_the_host_counter() {
        let mut p = pair();
        let t = SimTime::from_secs(3);
        p.leader_read(t, 1_000);
        let r = p.failover(t + SimDuration::from_millis(1), 9_000, 4_000, 0);
        assert_eq!(r.step_ticks, 8_000);
        assert_eq!(r.jump_ticks, 5_000);
        assert!(!r.clamped);
        assert_eq!(p.read_after_failover(9_000), Some(9_000));
        assert_eq!(p.follower_read(t + SimDuration::from_secs(1)), None);
    }

    #[test]
    fn without_interception_the_follower_keeps_its_own_counter() {
        let mut p = ReplicationPair::new(ReplicationConfig {
            intercept_rdtsc: false,
            ..ReplicationConfig::default()
        })
        .unwrap();
        assert_eq!(p.leader_read_cost(), SimDuration::ZERO);
        let t = SimTime::from_secs(3);
        assert_eq!(p.leader_read(t, 1_000_000), 1_000_000);
        let r = p.failover(t + SimDuration::from_millis(1), 400_000, 1_700_000, 0);
        assert_eq!(r.last_replayed, None);
        assert!(!r.clamped);
        assert_eq!(r.jump_ticks, 400_000 - 1_700_000);
        assert_eq!(p.read_after_failover(400_100), Some(400_100));
    }

    #[test]
    fn invalid_config_names_fields() {
        let cfg = ReplicationConfig {
            log_bandwidth_mbit_per_s: 0.0,
            ..ReplicationConfig::default()
        };
        let errs = ReplicationPair::new(cfg).unwrap_err();
        assert_eq!(errs[0].field, "replication.log_bandwidth_mbit_per_s");
    }

    #[test]
    fn failover_replays_an_entry_arriving_at_its_instant() {
        // The entry logged at t arrives at t + 256 ns + 50 µs; a failover at
        // exactly that instant has it in hand: nothing is lost.
        let mut p = pair();
        let t = SimTime::from_secs(3);
        p.leader_read(t, 1_000_000);
        let arrival = p.next_arrival().unwrap();
        assert_eq!(arrival - t, p.entry_time() + p.link().latency);
        let r = p.failover(arrival, 2_000_000, 2_000_000, 0);
        assert_eq!(r.entries_lost, 0);
        assert_eq!(r.last_replayed, Some(1_000_000));
    }

    #[test]
    fn a_late_follower_read_counts_its_stall_in_the_lag() {
        // The entry is in after 50.256 µs, but the follower only reaches
        // its read 1 ms after the leader's: the guest's view lags by 1 ms.
        let mut p = pair();
        let t = SimTime::from_secs(1);
        p.leader_read(t, 77);
        let late = t + SimDuration::from_millis(1);
        assert_eq!(p.follower_read(late), Some(77));
        assert_eq!(p.max_lag(), SimDuration::from_millis(1));
    }

    #[test]
    fn monotone_failover_moves_an_equal_counter_past_the_last_read() {
        // A counter reads a new value each tick: if the follower's host
        // reads exactly the last replayed value, its first live read must
        // still be past it.
        let mut p = pair();
        let t = SimTime::from_secs(3);
        p.leader_read(t, 500_000);
        let r = p.failover(t + SimDuration::from_millis(1), 500_000, 600_000, 0);
        assert!(r.clamped);
        assert_eq!(r.step_ticks, 0);
        assert_eq!(p.read_after_failover(500_000), Some(500_001));
    }

    #[test]
    fn nothing_is_logged_after_failover() {
        // The leader is gone: a late leader read is neither shipped nor
        // replayed, and the report stays the one made at failover.
        let mut p = pair();
        let t = SimTime::from_secs(3);
        p.leader_read(t, 1_000);
        let r = p.failover(t + SimDuration::from_millis(1), 9_000, 4_000, 0);
        let later = t + SimDuration::from_millis(2);
        assert_eq!(p.leader_read(later, 5_000), 5_000);
        assert_eq!(p.backlog(), 0);
        assert_eq!(p.next_arrival(), None);
        assert_eq!(p.failover(later, 1, 1, 0), r);
    }

    #[test]
    fn without_interception_nothing_of_the_leaders_reaches_the_follower() {
        let mut p = ReplicationPair::new(ReplicationConfig {
            intercept_rdtsc: false,
            ..ReplicationConfig::default()
        })
        .unwrap();
        let t = SimTime::from_secs(3);
        p.leader_read(t, 1_000_000);
        assert_eq!(p.backlog(), 0);
        assert_eq!(p.follower_read(t + SimDuration::from_secs(1)), None);
        // Nothing is held up behind it either.
        let release = p.leader_output_release(t);
        assert_eq!(
            release - t,
            p.entry_time() + p.link().latency + p.link().latency
        );
    }

    #[test]
    fn the_last_replayed_value_is_the_last_counter_read_not_other_input() {
        // An interrupt vector and a device word logged after the read are
        // replayed too, but are not counter values.
        let mut p = pair();
        let t = SimTime::from_secs(3);
        p.leader_read(t, 1_000_000);
        p.log_input(t + SimDuration::from_micros(1), LogKind::Irq, 32);
        p.log_input(t + SimDuration::from_micros(2), LogKind::IoIn, 7);
        let crash = t + SimDuration::from_millis(1);
        let r = p.failover(crash, 400_000, 1_700_000, 0);
        assert_eq!(r.entries_lost, 0);
        assert_eq!(r.last_replayed, Some(1_000_000));
        assert_eq!(p.read_after_failover(400_000), Some(1_000_001));
    }
}
