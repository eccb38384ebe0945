//! The simulated world: hosts (bare metal or Xen), servers, paths, daemons
//! and dependent clocks wired into one event-driven model, with probes
//! comparing every clock against true time.
//!
//! One exchange, end to end (DESIGN.md §3):
//!
//! ```text
//!  Poll ─▶ [Xen: guest vCPU must run] kernel stamps Ta ─▶ [Xen: Dom0 netback] NIC
//!       ─▶ forward path ─▶ AtServer (Tb, Te) ─▶ backward path ─▶ NIC
//!       ─▶ [Xen: Dom0 netback, guest vCPU wake-up] kernel stamps Tf
//!       ─▶ algorithm.on_exchange ─▶ [Dom0 RADclock: XenStore publish] ─▶ next Poll
//!  Probe (every probe interval): error = clock(counter(t)) − t for every clock
//! ```
//!
//! On a Xen host the stamps are late by whatever the scheduler decides
//! ([`crate::xen`]); on bare metal by the kernel's stamping latency. A
//! daemon reads its counter source ([`CounterSource`]): a hardware counter,
//! the HPET through a hypercall in a DomU, or the Xen clocksource.
//!
//! Dependent clocks run no algorithm: a *dependent RADclock* reads the
//! counter and the parameters that its host's Dom0 RADclock last published
//! to the XenStore (visible after the store latency); the *dependent ntpd*
//! clock of the Xen status quo is the wall clock Dom0's ntpd pushes to the
//! hypervisor every 11 minutes plus Xen system time.
//!
//! The world does no I/O: records (error samples, exchanges, algorithm
//! traces) accumulate in [`Records`], which the runner drains between run
//! slices, so memory stays bounded however long the run.

use std::collections::VecDeque;

use algorithms::{
    AlgorithmConfig, ClockTime, CounterInfo, Exchange, FfClockParams, PollRequest, SyncAlgorithm,
    ticks_between,
};
use sim_core::stats::{AllanStream, Summary};
use sim_core::{Deferred, Fold, Model, RngStreams, Scheduler, SimDuration, SimRng, SimTime};

use crate::counter::WrapExtender;
use crate::dilation::{Tdf, TdfConfig};
use crate::host::{CounterSource, Host, HostConfig};
use crate::migration::{
    GuestTscMapping, MigrationConfig, MigrationPlan, PostCopyStats, TscMode, guest_tsc_after_resume,
};
use crate::network::{Flow, Path, PathConfig};
use crate::replication::{FailoverReport, LogKind, ReplicationConfig, ReplicationPair};
use crate::server::{Server, ServerConfig};
use crate::xen::{HostEvent, HostNote};

/// Where a daemon runs and whom it asks.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonSpec {
    /// Name, unique in the world; also the name of its clock.
    pub name: String,
    /// Index of the host it runs on.
    pub host: usize,
    /// Domain on that host (0: the bare-metal OS or Dom0; 1..: DomUs).
    pub domain: usize,
    /// The counter it stamps with.
    pub counter: CounterSource,
    /// The CPU core whose counter it reads (matters for per-core TSC offsets
    /// and Xen time records), unless its Xen host's scheduler places its
    /// vCPU ([`crate::host::Host::reading_core`]).
    pub core: usize,
    /// (server index, path index) for each server it polls.
    pub servers: Vec<(usize, usize)>,
    /// The algorithm it drives.
    pub algorithm: AlgorithmConfig,
}

/// What a dependent clock follows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DependentKind {
    /// RADclock parameters published by the host's Dom0 RADclock daemon
    /// through the XenStore, read against the shared counter.
    Radclock {
        /// XenStore write-to-visible latency.
        store_latency: SimDuration,
    },
    /// Xen's wall clock (pushed by the host's Dom0 ntpd) plus Xen system time.
    NtpdWallclock,
}

/// A clock in a domain that runs no synchronization of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct DependentSpec {
    /// Clock name.
    pub name: String,
    /// Host index.
    pub host: usize,
    /// Domain index on the host.
    pub domain: usize,
    /// What it follows.
    pub kind: DependentKind,
}

/// When and how the probes sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeSpec {
    /// Grid interval of error samples.
    pub interval: SimDuration,
    /// Samples before this time are recorded but excluded from metrics
    /// (convergence period).
    pub metrics_from: SimTime,
    /// Keep every `record_every`-th grid sample in [`Records`] (decimation
    /// of the written series; metrics use every sample).
    pub record_every: u64,
    /// Largest averaging factor `m` of each clock's stability metrics
    /// ([`ClockMetrics::stability`], at `m = 1, 2, 4, …` probe intervals);
    /// 0 computes none. Memory per clock grows with it (a ring of about
    /// `3m` samples), not with the run's length.
    pub stability_max_m: usize,
}

/// One exchange as recorded, with the true times of its events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExchangeRecord {
    /// Daemon index.
    pub daemon: u32,
    /// Server slot in the daemon's list.
    pub server: u32,
    /// Client counter at send.
    pub ta: u64,
    /// Server receive stamp, seconds.
    pub tb: f64,
    /// Server transmit stamp, seconds.
    pub te: f64,
    /// Client counter at receive (0 when lost).
    pub tf: u64,
    /// True time Ta was latched, ns.
    pub ta_true_ns: u64,
    /// True arrival time at the server, ns (0 when lost before it).
    pub tb_true_ns: u64,
    /// True departure time from the server, ns.
    pub te_true_ns: u64,
    /// True time Tf was latched, ns.
    pub tf_true_ns: u64,
    /// True forward one-way delay (client NIC to server), ns.
    pub forward_ns: u64,
    /// True backward one-way delay (server to client NIC), ns.
    pub backward_ns: u64,
    /// Host overhead: the RTT the client measured in true time minus the
    /// network's true RTT (NIC to NIC), ns; 0 when lost.
    pub host_rtt_ns: u64,
    /// The packet or its reply was lost (or the server was out).
    pub lost: bool,
    /// The daemon's clock error at Tf after processing the exchange, seconds.
    pub error_s: f64,
    /// Stratum in the reply; 0 when lost.
    pub stratum: u8,
    /// The server changed (reference or stratum) since this daemon's
    /// previous reply from it.
    pub server_changed: bool,
}

/// Records produced since the last drain.
#[derive(Debug, Default)]
pub struct Records {
    /// Grid times of recorded error rows.
    pub error_times: Vec<SimTime>,
    /// Row-major errors, seconds: one value per clock per recorded row.
    pub errors: Vec<f64>,
    /// Completed (or lost) exchanges.
    pub exchanges: Vec<ExchangeRecord>,
    /// Algorithm trace rows: (daemon, counter at Tf, true time ns, offset into `trace_values`).
    pub trace_rows: Vec<(u32, u64, u64, usize)>,
    /// Concatenated trace values (width per daemon: its algorithm's columns).
    pub trace_values: Vec<f64>,
}

impl Records {
    /// Empties every buffer, keeping capacity.
    pub fn clear(&mut self) {
        self.error_times.clear();
        self.errors.clear();
        self.exchanges.clear();
        self.trace_rows.clear();
        self.trace_values.clear();
    }
}

/// Streaming metrics of one clock, as the world holds them.
#[derive(Clone, Copy, Debug)]
pub struct ClockMetrics<'a> {
    /// Errors on the probe grid (after `metrics_from`), seconds.
    pub grid: &'a Summary,
    /// Errors at each exchange's Tf (after `metrics_from`), seconds.
    pub at_exchange: &'a Summary,
    /// Host RTT overhead of each exchange (daemons only), seconds.
    pub host_rtt: &'a Summary,
    /// OADEV, MDEV, TDEV and MTIE of the error on the probe grid (after
    /// `metrics_from`; a sample without a value is left out and the series
    /// closes over it), when [`ProbeSpec::stability_max_m`] asks for them.
    pub stability: Option<&'a AllanStream>,
}

/// One clock's statistics of its exchanges (after `metrics_from`).
#[derive(Debug, Default)]
struct ExchangeStats {
    at_exchange: Summary,
    host_rtt: Summary,
}

/// Every clock's statistics of the probe grid, fed whole probe rows (one
/// error per clock, in column order).
#[derive(Debug, Default)]
struct GridStats {
    grid: Vec<Summary>,
    stability: Vec<Option<AllanStream>>,
}

impl Fold for GridStats {
    type Item = f64;

    /// Folds the rows one clock at a time. A clock's statistics see the
    /// same samples in the same order as if each had been pushed at its
    /// probe; pushed as a column, their state stays in registers, and a
    /// `Summary::push` costs about half what it does between the rest of a
    /// probe's work.
    fn fold(&mut self, rows: &[f64]) {
        let width = self.grid.len();
        if width == 0 {
            return;
        }
        for (c, (grid, stability)) in self.grid.iter_mut().zip(&mut self.stability).enumerate() {
            let column = rows[c..].iter().step_by(width).copied();
            for e in column.clone() {
                if e.is_finite() {
                    grid.push(e);
                }
            }
            if let Some(s) = stability {
                for e in column {
                    s.push(e);
                }
            }
        }
    }
}

/// Describes a clock the probes follow.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockInfo {
    /// Clock name.
    pub name: String,
    /// Where it is read (`host` or `host/domN`).
    pub domain: String,
    /// Algorithm name (`dependent-radclock`, `dependent-ntpd` for dependent clocks).
    pub algorithm: String,
}

/// An exchange in flight.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    xid: u64,
    slot: usize,
    ta: u64,
    ta_true: SimTime,
    /// How long the kernel's read of Ta took: the packet leaves no earlier
    /// than that after the stack would have sent it.
    ta_read: SimDuration,
    nic_out: SimTime,
    nic_in: SimTime,
    tb: f64,
    te: f64,
    tb_true: SimTime,
    te_true: SimTime,
    stratum: u8,
    /// The server's change count in its reply.
    epoch: u32,
}

/// A daemon's own draws for one server slot, so that its exchanges do not
/// depend on which other daemons share the path or the server.
struct Link {
    /// Its packets' flow over the slot's path.
    flow: Flow,
    /// The server's draws (residence, stamp noise) for its requests.
    server_rng: SimRng,
}

struct Daemon {
    name: String,
    host: usize,
    domain: usize,
    source: CounterSource,
    core: usize,
    info: CounterInfo,
    servers: Vec<(usize, usize)>,
    /// Per server slot, its flow and its stream at the server.
    links: Vec<Link>,
    /// `None` for the oracle, which reads true time.
    alg: Option<Box<dyn SyncAlgorithm>>,
    /// The daemon's kernel: its counter reads' and stamps' latencies.
    kernel_rng: SimRng,
    oracle_poll_ticks: u64,
    oracle_next: u64,
    extender: WrapExtender,
    inflight: Vec<InFlight>,
    next_xid: u64,
    poll_gen: u64,
    trace_width: usize,
    /// Paused (its domain is migrating): no polls, no stamps.
    paused: bool,
    /// A request waits for its domain's vCPU to be stamped.
    sending: bool,
    /// Per server slot, the change count of the last reply received.
    seen_epochs: Vec<Option<u32>>,
    /// The guest's view of its TSC after migration or failover.
    mapping: GuestTscMapping,
    /// Its domain's time dilation, if any.
    dilation: Option<Tdf>,
    /// Dilate TSC reads too (trapped RDTSC); other sources always dilate.
    dilate_tsc: bool,
    /// Its server is dilated by the same factor (the meaningful setup).
    dilated_reference: bool,
    /// Replication pair (index into the moves) while it is a leader.
    leader_of: Option<usize>,
    /// Ticks its software extension has lost to missed wraps (exact count
    /// minus what it read), as of its last read.
    lost_ticks: u64,
    /// The counter's measured rate, for timing its polls.
    poll_rate: RateTracker,
    /// The counter value its algorithm was first advanced to: where the
    /// daemon started (a replay of its exchanges starts there too).
    started_at: Option<u64>,
    /// After a post-copy migration, until every page has arrived: when its
    /// guest resumed and the faults that stall its reads.
    post_copy: Option<(SimTime, PostCopyStats)>,
    /// What each of its TSC reads costs in a trap (an emulated TSC after
    /// migration); zero when RDTSC runs natively.
    tsc_trap: SimDuration,
}

impl Daemon {
    /// The host counter its reads come from: its own source, except a TSC
    /// that an emulated-TSC migration derives from Xen's system time.
    fn host_source(&self) -> CounterSource {
        tsc_base(self.source, &self.mapping)
    }

    /// Its algorithm with its timers run up to `counter`, the first such
    /// counter remembered as where the daemon started; `None` for the
    /// oracle, which has no algorithm. Always inlined: every probe reads
    /// through it, and out of line it cost a probe a few instructions.
    #[inline(always)]
    fn advance(&mut self, counter: u64) -> Option<&mut dyn SyncAlgorithm> {
        let alg = self.alg.as_mut()?;
        self.started_at.get_or_insert(counter);
        alg.advance(counter);
        Some(alg.as_mut())
    }
}

/// The rate at which a daemon's counter actually advances, measured from
/// the readings taken when its polls are scheduled.
///
/// A daemon's timer is due when its *counter* reaches the requested value.
/// Timing that from the nominal frequency is off by the counter's skew: a
/// counter 31 ppm slow is 0.5 ms short after a 16 s wait and needs two more
/// wake-ups, and one running fast has overshot by as much. The measured
/// rate puts the first wake-up within the counter's rate change over the
/// measuring span (tens of nanoseconds) of the due instant.
#[derive(Clone, Copy, Debug, Default)]
struct RateTracker {
    /// A reading (true time, guest counter) at least [`RATE_SPAN`] before
    /// the next measurement.
    anchor: Option<(SimTime, u64)>,
    /// The last measured rate, ticks per second.
    ticks_per_s: Option<f64>,
}

/// Shortest span measured: long enough that one tick of quantisation is
/// below 1e-9 of it for any counter of 1 GHz or more (ACPI PM at 3.58 MHz:
/// 7e-8).
const RATE_SPAN: SimDuration = SimDuration::from_secs(4);

/// Relative lateness aimed for when timing a poll from the measured rate:
/// above the rate change of a crystal over a measuring span (a few 1e-9),
/// so the first wake-up is nearly always due, and 160 ns on a 16 s wait.
const POLL_LATE_MARGIN: f64 = 1e-8;

/// Measured rates further than this from nominal are discarded (a counter
/// that moved under the daemon, e.g. by migration); real skews are below
/// 500 ppm.
const RATE_PLAUSIBLE: f64 = 1e-3;

impl RateTracker {
    /// Records the reading `count` at `now`; returns the counter's rate in
    /// ticks per second, or `nominal_per_s` while none is measured.
    fn observe(&mut self, now: SimTime, count: u64, nominal_per_s: f64) -> f64 {
        match self.anchor {
            Some((t0, c0)) if now.saturating_since(t0) >= RATE_SPAN => {
                let span_s = now.saturating_since(t0).as_secs_f64();
                let rate = ticks_between(c0, count) / span_s;
                self.ticks_per_s =
                    ((rate / nominal_per_s - 1.0).abs() < RATE_PLAUSIBLE).then_some(rate);
                self.anchor = Some((now, count));
            }
            Some(_) => {}
            None => self.anchor = Some((now, count)),
        }
        self.ticks_per_s.unwrap_or(nominal_per_s)
    }
}

struct Dependent {
    host: usize,
    domain: usize,
    kind: DependentKind,
    /// How the guest's `rdtsc` maps the host's TSC (after an emulated-TSC
    /// migration or a failover): a dependent RADclock reading the TSC
    /// applies Dom0's parameters to what the guest reads.
    mapping: GuestTscMapping,
    /// The host counter under `mapping` when the guest last paused for a
    /// migration.
    tsc_at_pause: u64,
    /// Its guest is paused (migrating): the clock has no value.
    paused: bool,
}

/// The host counter behind a guest's reads of `source` through `mapping`.
fn tsc_base(source: CounterSource, mapping: &GuestTscMapping) -> CounterSource {
    if source == CounterSource::Tsc && mapping.from_system_time {
        CounterSource::XenClocksource
    } else {
        source
    }
}

impl Dependent {
    /// Whether this clock is read in guest `g`.
    fn in_guest(&self, g: GuestRef) -> bool {
        self.host == g.host && self.domain == g.domain
    }
}

/// What the XenStore of one host holds for dependent RADclocks.
#[derive(Default)]
struct Store {
    visible: Option<(CounterSource, FfClockParams)>,
    pending: VecDeque<(SimTime, CounterSource, FfClockParams)>,
}

/// A domain on a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestRef {
    /// Host index.
    pub host: usize,
    /// Domain index on that host.
    pub domain: usize,
}

enum MoveKind {
    Migration {
        plan: MigrationPlan,
        tsc_mode: TscMode,
        /// Each moved daemon's host counter at pause, as its reader
        /// counts it.
        paused_values: Vec<u64>,
    },
    Failover {
        pair: Box<ReplicationPair>,
    },
}

struct Move {
    from: GuestRef,
    to: GuestRef,
    path: Option<usize>,
    /// From the start of the move to the guest running at `to` with all
    /// its memory (after a post-copy, its last page arriving).
    window: (SimTime, SimTime),
    kind: MoveKind,
}

/// One migration or failover of a run (see [`World::moves`]).
#[derive(Clone, Debug)]
pub struct MoveRecord<'a> {
    /// The guest that moved (a failover's leader), named as clocks name
    /// their domain (`host/domN`).
    pub from: String,
    /// Where it runs afterwards (a failover's follower), likewise.
    pub to: String,
    /// True time the move starts (a failover's instant).
    pub start: SimTime,
    /// What happened.
    pub outcome: MoveOutcome<'a>,
}

/// What a move did.
#[derive(Clone, Copy, Debug)]
pub enum MoveOutcome<'a> {
    /// A live migration, as the migration model planned it.
    Migration(&'a MigrationPlan),
    /// A replication failover.
    Failover {
        /// What happened at failover; `None` if the run ended before it.
        report: Option<FailoverReport>,
        /// Largest lag between a leader's read and its replay.
        max_log_lag: SimDuration,
        /// Nominal frequency of the follower host's TSC, to read the
        /// report's ticks in seconds.
        follower_tsc_hz: u64,
    },
}

enum ClockKind {
    Daemon(usize),
    Dependent(usize),
}

/// The world's events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// Sample every clock's error.
    Probe,
    /// A daemon's poll timer (stale if `generation` is not current).
    Poll {
        /// Daemon index.
        daemon: u32,
        /// Schedule generation.
        generation: u64,
    },
    /// A request reaches its server.
    AtServer {
        /// Daemon index.
        daemon: u32,
        /// Exchange id.
        xid: u64,
    },
    /// A reply reaches the client host's NIC.
    AtClient {
        /// Daemon index.
        daemon: u32,
        /// Exchange id.
        xid: u64,
    },
    /// An event of a Xen host's scheduler.
    Xen {
        /// Host index.
        host: u32,
        /// The scheduler's event.
        event: HostEvent,
    },
    /// A XenStore write becomes visible on a host.
    StoreVisible {
        /// Host index.
        host: u32,
    },
    /// Dom0 pushes its wall clock to the hypervisor.
    WallclockPush {
        /// Host index.
        host: u32,
    },
    /// A migrating guest is paused (end of pre-copy).
    Pause {
        /// Move index.
        id: u32,
    },
    /// A migrated guest resumes on its destination.
    Resume {
        /// Move index.
        id: u32,
    },
    /// A replication follower goes live.
    Failover {
        /// Move index.
        id: u32,
    },
}

/// Errors building a world.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A reference to something that does not exist.
    #[error("{0}")]
    Reference(String),
    /// A model's configuration was rejected.
    #[error(transparent)]
    Config(#[from] algorithms::ConfigError),
}

/// Tokens carry (daemon, exchange id) through a Xen host.
const TOKEN_SHIFT: u32 = 40;

fn token(d: usize, xid: u64) -> u64 {
    ((d as u64) << TOKEN_SHIFT) | (xid & ((1 << TOKEN_SHIFT) - 1))
}

fn untoken(t: u64) -> (usize, u64) {
    ((t >> TOKEN_SHIFT) as usize, t & ((1 << TOKEN_SHIFT) - 1))
}

/// Most probe rows buffered before they are folded into the grid
/// statistics (or handed to the helper folding them: each hand-off may
/// wake it, tens of microseconds on a virtual machine): 64 KiB for one
/// clock, 1 MiB for the 16 clocks of a Xen host with eight guests.
const FOLD_ROWS: usize = 8192;

/// Largest block of probe rows, bytes: with many clocks a block holds
/// fewer rows ([`fold_rows`]), so that the blocks a helper thread keeps in
/// flight do not multiply the memory of a run.
const FOLD_BLOCK_BYTES: usize = 1 << 20;

/// Fewest probe rows in a block, however many clocks.
const MIN_FOLD_ROWS: usize = 64;

/// Probe rows per block for `clocks` clocks: [`FOLD_ROWS`] up to 16
/// clocks, then as many as fit in [`FOLD_BLOCK_BYTES`] (at least
/// [`MIN_FOLD_ROWS`]). The statistics see every row in order whatever the
/// block size, so it changes no result.
fn fold_rows(clocks: usize) -> usize {
    (FOLD_BLOCK_BYTES / (std::mem::size_of::<f64>() * clocks.max(1)))
        .clamp(MIN_FOLD_ROWS, FOLD_ROWS)
}

/// The simulated world.
pub struct World {
    streams: RngStreams,
    hosts: Vec<Host>,
    stores: Vec<Store>,
    servers: Vec<Server>,
    paths: Vec<Path>,
    daemons: Vec<Daemon>,
    dependents: Vec<Dependent>,
    kinds: Vec<ClockKind>,
    clocks: Vec<ClockInfo>,
    exchange_stats: Vec<ExchangeStats>,
    probe: ProbeSpec,
    /// Probes to come before the next one kept in [`Records`] (a
    /// countdown rather than a division per probe).
    probes_to_record: u64,
    records: Records,
    /// The probe row, while probes are before `metrics_from`.
    scratch: Vec<f64>,
    /// Probe rows (one error per clock) since `metrics_from` not yet handed
    /// to `grid_stats`: fewer than [`fold_rows`] rows.
    unfolded: Vec<f64>,
    /// Values in a block of `unfolded` rows, once the first probe row is
    /// kept (the clocks are all known by then).
    fold_len: usize,
    /// Each clock's statistics of the probe grid, folded a block of rows at
    /// a time.
    grid_stats: Deferred<GridStats>,
    /// The last counter value read by the current probe, with its (host,
    /// source, core): a probe reads every clock at one instant, and
    /// neighbouring clocks mostly share a source (the 16 clocks of a Xen
    /// host with eight guests read one clocksource value).
    last_probe_read: Option<(usize, CounterSource, usize, u64)>,
    /// When the last Xen host's boot calibration ends (zero without Xen):
    /// before it, some clocks may have no value yet.
    last_boot: SimTime,
    notes: Vec<HostNote>,
    moves: Vec<Move>,
    pending_moves: Vec<(SimTime, Event)>,
}

impl World {
    /// An empty world whose components draw from streams of `seed`.
    pub fn new(seed: u64, probe: ProbeSpec) -> Self {
        World {
            streams: RngStreams::new(seed),
            hosts: Vec::new(),
            stores: Vec::new(),
            servers: Vec::new(),
            paths: Vec::new(),
            daemons: Vec::new(),
            dependents: Vec::new(),
            kinds: Vec::new(),
            clocks: Vec::new(),
            exchange_stats: Vec::new(),
            probe,
            probes_to_record: 0,
            records: Records::default(),
            scratch: Vec::with_capacity(32),
            unfolded: Vec::new(),
            fold_len: 0,
            grid_stats: Deferred::inline(GridStats::default()),
            last_probe_read: None,
            last_boot: SimTime::ZERO,
            notes: Vec::with_capacity(16),
            moves: Vec::new(),
            pending_moves: Vec::new(),
        }
    }

    fn stream(&self, name: &str) -> SimRng {
        self.streams.stream(name)
    }

    /// Adds a host; returns its index.
    pub fn add_host(&mut self, cfg: &HostConfig) -> Result<usize, BuildError> {
        let streams = self.streams;
        self.hosts.push(Host::new(cfg, &|n| streams.stream(n))?);
        self.stores.push(Store::default());
        Ok(self.hosts.len() - 1)
    }

    /// Adds a server; returns its index. Each daemon's requests draw
    /// from a stream of its own at the server (see [`Self::add_daemon`]).
    pub fn add_server(&mut self, cfg: &ServerConfig) -> usize {
        self.servers.push(Server::new(cfg));
        self.servers.len() - 1
    }

    /// Adds a network path; returns its index. Its congestion and random
    /// shifts are drawn from the streams `path/{i}/forward` and
    /// `path/{i}/backward`; each daemon's packets over it are a flow of
    /// their own (see [`Self::add_daemon`]).
    pub fn add_path(&mut self, cfg: &PathConfig) -> Result<usize, BuildError> {
        let i = self.paths.len();
        let path = Path::new(
            cfg,
            self.stream(&format!("path/{i}/forward")),
            self.stream(&format!("path/{i}/backward")),
        )?;
        self.paths.push(path);
        Ok(i)
    }

    fn domain_label(&self, host: usize, domain: usize) -> String {
        let name = self.hosts[host].name();
        if self.hosts[host].is_xen() {
            format!("{name}/dom{domain}")
        } else {
            name.to_string()
        }
    }

    fn push_clock(&mut self, kind: ClockKind, info: ClockInfo) {
        self.kinds.push(kind);
        self.clocks.push(info);
        // Rows probed so far are one clock narrower.
        self.grid_stats.fold(&mut self.unfolded);
        let stability = match self.probe.stability_max_m {
            0 => None,
            m => AllanStream::new(self.probe.interval.as_secs_f64(), m),
        };
        let g = self.grid_stats.state_mut();
        g.grid.push(Summary::default());
        g.stability.push(stability);
        self.exchange_stats.push(ExchangeStats::default());
    }

    /// A daemon's flow over path `p` for its server slot `slot`, its
    /// streams named by `owner` (the daemon, and what moved it): another
    /// daemon's packets never shift its draws, and its draws are the same
    /// whichever other daemons the world holds.
    fn flow(&self, p: usize, owner: &str, slot: usize) -> Flow {
        self.paths[p].flow(
            self.stream(&format!("path/{p}/forward/{owner}/{slot}")),
            self.stream(&format!("path/{p}/backward/{owner}/{slot}")),
        )
    }

    /// Adds a daemon and its clock; returns the daemon's index. Every
    /// random draw of its exchanges comes from streams named after it (its
    /// kernel's, its flows over the paths, its streams at the servers) or
    /// after its domain (a Xen host's packet delays), so its realisation
    /// does not depend on the daemons of other domains.
    pub fn add_daemon(&mut self, spec: &DaemonSpec) -> Result<usize, BuildError> {
        let host = self.hosts.get(spec.host).ok_or_else(|| {
            BuildError::Reference(format!("daemon {}: no host #{}", spec.name, spec.host))
        })?;
        if !host.has_source(spec.counter) {
            return Err(BuildError::Reference(format!(
                "daemon {}: host {} cannot provide {:?}",
                spec.name,
                host.name(),
                spec.counter
            )));
        }
        for &(s, p) in &spec.servers {
            if s >= self.servers.len() || p >= self.paths.len() {
                return Err(BuildError::Reference(format!(
                    "daemon {}: server #{s} or path #{p} does not exist",
                    spec.name
                )));
            }
        }
        let (hz, bits) = host.source_info(spec.counter);
        let info = CounterInfo {
            nominal_hz: hz as f64,
        };
        let seed = {
            use rand::RngExt;
            self.stream(&format!("daemon/{}/algorithm", spec.name))
                .random::<u64>()
        };
        let alg = spec.algorithm.build(info, spec.servers.len(), seed);
        let trace_width = alg.as_ref().map_or(0, |a| a.trace_columns().len());
        let owner = format!("daemon/{}", spec.name);
        let links = spec
            .servers
            .iter()
            .enumerate()
            .map(|(slot, &(s, p))| Link {
                flow: self.flow(p, &owner, slot),
                server_rng: self.stream(&format!("server/{s}/{owner}/{slot}")),
            })
            .collect();
        self.daemons.push(Daemon {
            name: spec.name.clone(),
            host: spec.host,
            domain: spec.domain,
            source: spec.counter,
            core: spec.core,
            info,
            servers: spec.servers.clone(),
            links,
            alg,
            kernel_rng: self.stream(&format!("daemon/{}/kernel", spec.name)),
            oracle_poll_ticks: info.ticks_for(spec.algorithm.poll_period_s()).max(1),
            oracle_next: 0,
            extender: WrapExtender::new(bits),
            inflight: Vec::with_capacity(4),
            next_xid: 0,
            poll_gen: 0,
            trace_width,
            paused: false,
            sending: false,
            seen_epochs: vec![None; spec.servers.len()],
            mapping: GuestTscMapping::identity(),
            dilation: None,
            dilate_tsc: false,
            dilated_reference: false,
            leader_of: None,
            lost_ticks: 0,
            poll_rate: RateTracker::default(),
            started_at: None,
            post_copy: None,
            tsc_trap: SimDuration::ZERO,
        });
        let d = self.daemons.len() - 1;
        let info = ClockInfo {
            name: spec.name.clone(),
            domain: self.domain_label(spec.host, spec.domain),
            algorithm: spec.algorithm.name().into(),
        };
        self.push_clock(ClockKind::Daemon(d), info);
        Ok(d)
    }

    /// Adds a dependent clock; returns its clock index.
    pub fn add_dependent(&mut self, spec: &DependentSpec) -> Result<usize, BuildError> {
        let host = self.hosts.get(spec.host).ok_or_else(|| {
            BuildError::Reference(format!("clock {}: no host #{}", spec.name, spec.host))
        })?;
        if !host.is_xen() {
            return Err(BuildError::Reference(format!(
                "clock {}: host {} does not run Xen",
                spec.name,
                host.name()
            )));
        }
        self.dependents.push(Dependent {
            host: spec.host,
            domain: spec.domain,
            kind: spec.kind,
            mapping: GuestTscMapping::identity(),
            tsc_at_pause: 0,
            paused: false,
        });
        let algorithm = match spec.kind {
            DependentKind::Radclock { .. } => "dependent-radclock",
            DependentKind::NtpdWallclock => "dependent-ntpd",
        };
        let info = ClockInfo {
            name: spec.name.clone(),
            domain: self.domain_label(spec.host, spec.domain),
            algorithm: algorithm.into(),
        };
        self.push_clock(ClockKind::Dependent(self.dependents.len() - 1), info);
        Ok(self.clocks.len() - 1)
    }

    /// The probes' period: [`Event::Probe`] is due at time zero and every
    /// period after, and is not re-scheduled by the world (the engine
    /// delivers it, see [`sim_core::Engine::schedule_every`]).
    pub fn probe_interval(&self) -> SimDuration {
        self.probe.interval
    }

    /// The events that start a run besides the probes: every daemon's first
    /// poll, every Xen host's scheduler and wall-clock pushes.
    pub fn start(&mut self, sched: &mut impl FnMut(SimTime, Event)) {
        for (t, e) in std::mem::take(&mut self.pending_moves) {
            sched(t, e);
        }
        let held = self.slots_awaiting_a_guest();
        for h in 0..self.hosts.len() {
            if let Some(x) = self.hosts[h].hypervisor() {
                self.last_boot = self.last_boot.max(x.time.booted_at());
                x.out.clear();
                x.sched.start(SimTime::ZERO, &mut x.out);
                for g in held.iter().filter(|g| g.host == h) {
                    x.sched.hold(SimTime::ZERO, g.domain, &mut x.out);
                }
                let next_push = x.time.next_wallclock_push();
                sched(next_push, Event::WallclockPush { host: h as u32 });
            }
            self.flush_host(h, SimTime::ZERO, sched);
        }
        for d in 0..self.daemons.len() {
            match self.hosts[self.daemons[d].host].hypervisor() {
                // Domains (Dom0 included) run once Xen has booted.
                Some(x) => sched(
                    x.time.booted_at(),
                    Event::Poll {
                        daemon: d as u32,
                        generation: self.daemons[d].poll_gen,
                    },
                ),
                None => self.schedule_poll(d, SimTime::ZERO, sched),
            }
        }
    }

    /// The clocks being probed, in column order.
    pub fn clocks(&self) -> &[ClockInfo] {
        &self.clocks
    }

    /// For a clock of a daemon with an algorithm, the counter value at which
    /// the daemon started (`None` for dependent and oracle clocks, or one
    /// never advanced).
    pub fn clock_start_counter(&self, clock: usize) -> Option<u64> {
        match self.kinds[clock] {
            ClockKind::Daemon(d) => self.daemons[d].started_at,
            ClockKind::Dependent(_) => None,
        }
    }

    /// From now on, hands to helper threads what the run never reads back
    /// at once: every noisy host crystal's noise grid, generated ahead of
    /// the reads (a thread per crystal,
    /// [`crate::oscillator::Oscillator::generate_noise_ahead`]), and the
    /// probes' grid statistics, folded behind (one thread). A run then uses
    /// a second core; its results are bit-identical.
    pub fn use_helper_threads(&mut self) {
        for h in &mut self.hosts {
            h.hardware().generate_noise_ahead();
        }
        self.grid_stats.move_to_helper();
    }

    /// Streaming metrics per clock, in column order, with every probe so
    /// far folded in (a helper folding them is waited for and stops; later
    /// probes are folded on this thread).
    pub fn metrics(&mut self) -> impl ExactSizeIterator<Item = ClockMetrics<'_>> {
        // The state comes back first and the rows not handed over yet are
        // folded here, rather than waiting for a helper that has kept up
        // to wake for them (its wake-up took longer than their fold).
        self.grid_stats.state_mut();
        self.grid_stats.fold(&mut self.unfolded);
        let g = self.grid_stats.state_mut();
        g.grid
            .iter()
            .zip(&g.stability)
            .zip(&self.exchange_stats)
            .map(|((grid, stability), x)| ClockMetrics {
                grid,
                at_exchange: &x.at_exchange,
                host_rtt: &x.host_rtt,
                stability: stability.as_ref(),
            })
    }

    /// Trace column names of daemon `d`'s algorithm.
    pub fn trace_columns(&self, d: usize) -> &'static [&'static str] {
        self.daemons[d]
            .alg
            .as_ref()
            .map_or(&[], |a| a.trace_columns())
    }

    /// Nominal counter frequency of daemon `d`'s counter, Hz.
    pub fn counter_hz(&self, d: usize) -> f64 {
        self.daemons[d].info.nominal_hz
    }

    /// Daemon names, by index.
    pub fn daemon_names(&self) -> impl Iterator<Item = &str> {
        self.daemons.iter().map(|d| d.name.as_str())
    }

    /// Records since the last drain; the caller clears them.
    pub fn records_mut(&mut self) -> &mut Records {
        &mut self.records
    }

    /// CPU accounting of every domain of every Xen host up to `end`, the
    /// run's end: (host name, domain index, accounting).
    pub fn cpu_accounts(&mut self, end: SimTime) -> Vec<(String, usize, crate::xen::DomainCpu)> {
        let mut out = Vec::new();
        for h in &mut self.hosts {
            let name = h.name().to_string();
            if let Some(x) = h.hypervisor() {
                for d in 0..x.sched.domains() {
                    out.push((name.clone(), d, x.sched.cpu_account_at(d, end)));
                }
            }
        }
        out
    }

    /// The error of daemon `d`'s clock at counter value `counter` read at
    /// true time `true_ns`, after running its timers.
    fn daemon_error(&mut self, d: usize, counter: u64, true_ns: u64) -> f64 {
        let daemon = &mut self.daemons[d];
        match daemon.advance(counter) {
            Some(alg) => alg.read(counter) - ClockTime::from_nanos(i128::from(true_ns)),
            None => {
                self.hosts[daemon.host].oracle_error_s(daemon.source, SimTime::from_nanos(true_ns))
            }
        }
    }

    /// The error of clock `c` at true time `t` as an ideal observer reads it.
    fn clock_error(&mut self, c: usize, t: SimTime) -> f64 {
        if t < self.last_boot && self.unbooted(c, t) {
            return f64::NAN;
        }
        match self.kinds[c] {
            // A paused guest runs nothing, so no clock of it can be read.
            ClockKind::Daemon(d) if self.daemons[d].paused => f64::NAN,
            ClockKind::Dependent(i) if self.dependents[i].paused => f64::NAN,
            ClockKind::Daemon(d) => {
                let counter = self.daemon_probe_value(d, t);
                let reference = self.reference_ns(d, t.as_nanos());
                self.daemon_error(d, counter, reference)
            }
            ClockKind::Dependent(i) => {
                let (h, domain, kind) = (
                    self.dependents[i].host,
                    self.dependents[i].domain,
                    self.dependents[i].kind,
                );
                match kind {
                    DependentKind::Radclock { .. } => match self.stores[h].visible {
                        Some((src, params)) => {
                            let base = tsc_base(src, &self.dependents[i].mapping);
                            let core = self.hosts[h].reading_core(base, domain, 0);
                            let raw = self.probe_value(h, base, core, t);
                            let value = if src == CounterSource::Tsc {
                                self.dependents[i].mapping.guest(raw)
                            } else {
                                raw
                            };
                            params.read(value) - ClockTime::from_nanos(i128::from(t.as_nanos()))
                        }
                        None => f64::NAN,
                    },
                    DependentKind::NtpdWallclock => {
                        let src = CounterSource::XenClocksource;
                        let core = self.hosts[h].reading_core(src, domain, 0);
                        let st = self.probe_value(h, src, core, t);
                        match self.hosts[h].hypervisor() {
                            Some(x) if x.time.wallclock().version > 0 => {
                                let utc = x.time.wallclock().utc_ns(st);
                                (i128::from(utc) - i128::from(t.as_nanos())) as f64 * 1e-9
                            }
                            _ => f64::NAN,
                        }
                    }
                }
            }
        }
    }

    /// Schedules a live migration of the guest `from` to `to`, starting at
    /// `at`; the plan (pre-copy rounds, downtime) comes from the migration
    /// model. `path` replaces the path of every server of the guest's
    /// daemons after the move (a new host sees a new network path).
    pub fn add_migration(
        &mut self,
        from: GuestRef,
        to: GuestRef,
        at: SimTime,
        cfg: &MigrationConfig,
        tsc_mode: TscMode,
        path: Option<usize>,
    ) -> Result<MigrationPlan, BuildError> {
        self.check_guest(from)?;
        self.check_guest(to)?;
        let id = self.moves.len();
        let mut rng = self.stream(&format!("migration/{id}"));
        let plan = crate::migration::plan(cfg, &mut rng).map_err(|errs| {
            BuildError::Config(
                errs.into_iter()
                    .next()
                    .unwrap_or_else(|| algorithms::ConfigError::new("migration", "invalid")),
            )
        })?;
        let pause = at + plan.precopy_time;
        // Post-copy runs the guest at `to` while the source still serves
        // its pages: the move lasts until the last one has arrived.
        let window = (at, (pause + plan.downtime).max(at + plan.total_time));
        self.check_no_overlap(from, to, window)?;
        self.pending_moves
            .push((pause, Event::Pause { id: id as u32 }));
        self.pending_moves
            .push((pause + plan.downtime, Event::Resume { id: id as u32 }));
        self.moves.push(Move {
            from,
            to,
            path,
            window,
            kind: MoveKind::Migration {
                plan: plan.clone(),
                tsc_mode,
                paused_values: Vec::new(),
            },
        });
        Ok(plan)
    }

    /// Makes the guest `leader` a semi-actively replicated leader whose
    /// follower runs on `follower`; the follower goes live at `at`.
    pub fn add_failover(
        &mut self,
        leader: GuestRef,
        follower: GuestRef,
        at: SimTime,
        cfg: &ReplicationConfig,
        path: Option<usize>,
    ) -> Result<(), BuildError> {
        self.check_guest(leader)?;
        self.check_guest(follower)?;
        self.check_no_overlap(leader, follower, (at, at))?;
        let pair = ReplicationPair::new(cfg.clone()).map_err(|errs| {
            BuildError::Config(
                errs.into_iter()
                    .next()
                    .unwrap_or_else(|| algorithms::ConfigError::new("replication", "invalid")),
            )
        })?;
        let id = self.moves.len();
        for d in &mut self.daemons {
            if d.host == leader.host && d.domain == leader.domain {
                d.leader_of = Some(id);
            }
        }
        self.pending_moves
            .push((at, Event::Failover { id: id as u32 }));
        self.moves.push(Move {
            from: leader,
            to: follower,
            path,
            window: (at, at),
            kind: MoveKind::Failover {
                pair: Box::new(pair),
            },
        });
        Ok(())
    }

    /// Dilates time in a domain from the start of the run: its counters
    /// (the TSC only if `cfg.dilate_rdtsc`) run `cfg.factor` times slower;
    /// with `dilated_reference` its servers' clocks are dilated by the same
    /// factor. Its clocks are judged against dilated true time.
    pub fn add_dilation(
        &mut self,
        guest: GuestRef,
        cfg: &TdfConfig,
        dilated_reference: bool,
    ) -> Result<(), BuildError> {
        self.check_guest(guest)?;
        let tdf = cfg.at(SimTime::ZERO, 0).map_err(BuildError::Config)?;
        for d in &mut self.daemons {
            if d.host == guest.host && d.domain == guest.domain {
                d.dilation = Some(tdf);
                d.dilate_tsc = cfg.dilate_rdtsc;
                d.dilated_reference = dilated_reference;
            }
        }
        Ok(())
    }

    fn check_guest(&self, g: GuestRef) -> Result<(), BuildError> {
        if g.host >= self.hosts.len() {
            return Err(BuildError::Reference(format!("no host #{}", g.host)));
        }
        if g.domain == 0 {
            // Dom0 is the host's control domain: it neither migrates nor is
            // replaced by a guest.
            return Err(BuildError::Reference(format!(
                "domain 0 of host {} is Dom0; migrations and failovers move guests (domain 1 and up)",
                self.hosts[g.host].name()
            )));
        }
        Ok(())
    }

    /// A guest is moved by one migration or failover at a time: a move
    /// (the `moves.len()`-th event) over `window` may not share a domain
    /// slot with an earlier-listed move whose window overlaps it.
    fn check_no_overlap(
        &self,
        from: GuestRef,
        to: GuestRef,
        window: (SimTime, SimTime),
    ) -> Result<(), BuildError> {
        let id = self.moves.len();
        for (j, m) in self.moves.iter().enumerate() {
            let shared = [m.from, m.to]
                .into_iter()
                .find(|slot| *slot == from || *slot == to);
            if let Some(slot) = shared
                && window.0 <= m.window.1
                && m.window.0 <= window.1
            {
                return Err(BuildError::Reference(format!(
                    "events[{id}] ({:.3}–{:.3} s) overlaps events[{j}] ({:.3}–{:.3} s), \
                     which also moves domain {} of host {}; a guest is moved by one \
                     event at a time",
                    window.0.as_secs_f64(),
                    window.1.as_secs_f64(),
                    m.window.0.as_secs_f64(),
                    m.window.1.as_secs_f64(),
                    slot.domain,
                    self.hosts[slot.host].name()
                )));
            }
        }
        Ok(())
    }

    /// Domain slots that a migration fills before any guest has run in
    /// them: they stay offline (no workload, no packets) until it arrives.
    fn slots_awaiting_a_guest(&self) -> Vec<GuestRef> {
        let mut order: Vec<&Move> = self.moves.iter().collect();
        order.sort_by_key(|m| m.window.0);
        let mut seen = Vec::new();
        let mut held = Vec::new();
        for m in order {
            if matches!(m.kind, MoveKind::Migration { .. }) && !seen.contains(&m.to) {
                held.push(m.to);
            }
            seen.extend([m.from, m.to]);
        }
        held
    }

    /// Holds a Xen domain slot offline (`hold`) or brings it online, a
    /// guest resuming there.
    fn set_slot(
        &mut self,
        g: GuestRef,
        now: SimTime,
        hold: bool,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        let Some(x) = self.hosts[g.host].hypervisor() else {
            return;
        };
        x.out.clear();
        if hold {
            x.sched.hold(now, g.domain, &mut x.out);
        } else {
            x.sched.release(now, g.domain, &mut x.out);
            self.hosts[g.host].pvclock_resume(g.domain);
        }
        self.flush_host(g.host, now, sched);
    }

    fn guest_daemons(&self, g: GuestRef) -> Vec<usize> {
        (0..self.daemons.len())
            .filter(|&d| self.daemons[d].host == g.host && self.daemons[d].domain == g.domain)
            .collect()
    }

    /// Drops daemon `d`'s requests in flight at `now` (its guest paused or
    /// its host failed), recording them as lost.
    fn drop_inflight(&mut self, d: usize, now: SimTime) {
        if self.daemons[d].sending
            && let Some(xid) = self.daemons[d].next_xid.checked_sub(1)
            && self.daemons[d].inflight.iter().any(|f| f.xid == xid)
        {
            // A request still waiting for its vCPU: the send call had
            // returned, as for a request the host drops before its stamp
            // (`HostNote::Dropped`), so it is stamped as it is lost, with
            // the counter exactly at the cut (no trap, no log entry).
            let counter = self.daemon_value(d, now);
            self.sent(
                d,
                xid,
                now,
                crate::host::Stamp {
                    counter,
                    at: now,
                    done: now,
                },
            );
        }
        let mut flights = std::mem::take(&mut self.daemons[d].inflight);
        for f in &mut flights {
            // What had not happened by `now` never will.
            if f.tb_true > now {
                (f.tb, f.tb_true) = (0.0, SimTime::ZERO);
            }
            if f.te_true > now {
                (f.te, f.te_true) = (0.0, SimTime::ZERO);
            }
            self.record_lost(d, f);
        }
        let daemon = &mut self.daemons[d];
        daemon.inflight = flights;
        daemon.inflight.clear();
        daemon.sending = false;
        daemon.poll_gen += 1;
    }

    fn on_pause(&mut self, now: SimTime, id: usize, sched: &mut impl FnMut(SimTime, Event)) {
        let from = self.moves[id].from;
        let ds = self.guest_daemons(from);
        let mut values = Vec::with_capacity(ds.len());
        for &d in &ds {
            values.push(self.daemon_host_count(d, now));
            self.drop_inflight(d, now);
            self.daemons[d].paused = true;
        }
        // The guest stops running on the source for good.
        self.set_slot(from, now, true, sched);
        if let MoveKind::Migration { paused_values, .. } = &mut self.moves[id].kind {
            *paused_values = values;
        }
        for i in 0..self.dependents.len() {
            if self.dependents[i].in_guest(from) {
                let base = tsc_base(CounterSource::Tsc, &self.dependents[i].mapping);
                let core = self.hosts[from.host].reading_core(base, from.domain, 0);
                self.dependents[i].tsc_at_pause = self.hosts[from.host].value_at(base, now, core);
                self.dependents[i].paused = true;
            }
        }
    }

    /// Moves a guest's daemons and dependent clocks to `to`.
    fn relocate(
        &mut self,
        id: usize,
        now: SimTime,
        mappings: &[GuestTscMapping],
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        let (from, to, path) = (self.moves[id].from, self.moves[id].to, self.moves[id].path);
        let (post_copy, tsc_trap) = match &self.moves[id].kind {
            MoveKind::Migration { plan, tsc_mode, .. } => {
                (plan.post_copy.map(|pc| (now, pc)), tsc_mode.read_trap())
            }
            MoveKind::Failover { .. } => (None, SimDuration::ZERO),
        };
        let ds = self.guest_daemons(from);
        for (k, &d) in ds.iter().enumerate() {
            if let Some(m) = mappings.get(k) {
                self.daemons[d].mapping = *m;
            }
            if let Some(p) = path {
                // New flows over the new path, from streams of their own
                // (a flow started again from its first draw would repeat
                // itself).
                let owner = format!("daemon/{}/move/{id}", self.daemons[d].name);
                let flows: Vec<Flow> = (0..self.daemons[d].links.len())
                    .map(|slot| self.flow(p, &owner, slot))
                    .collect();
                for (link, flow) in self.daemons[d].links.iter_mut().zip(flows) {
                    link.flow = flow;
                }
            }
            let (_, bits) = self.hosts[to.host].source_info(self.daemons[d].host_source());
            let daemon = &mut self.daemons[d];
            daemon.host = to.host;
            daemon.domain = to.domain;
            daemon.paused = false;
            daemon.sending = false;
            daemon.leader_of = None;
            daemon.extender = WrapExtender::new(bits);
            daemon.lost_ticks = 0;
            // A new host's counter runs at its own rate.
            daemon.poll_rate = RateTracker::default();
            daemon.post_copy = post_copy;
            if daemon.source == CounterSource::Tsc {
                daemon.tsc_trap = tsc_trap;
            }
            if let Some(p) = path {
                for s in &mut daemon.servers {
                    s.1 = p;
                }
            }
            self.schedule_poll(d, now, sched);
        }
        for dep in self.dependents.iter_mut().filter(|dep| dep.in_guest(from)) {
            dep.host = to.host;
            dep.domain = to.domain;
            dep.paused = false;
        }
    }

    fn on_resume(&mut self, now: SimTime, id: usize, sched: &mut impl FnMut(SimTime, Event)) {
        let (from, to) = (self.moves[id].from, self.moves[id].to);
        let ds = self.guest_daemons(from);
        let (mode, paused) = match &self.moves[id].kind {
            MoveKind::Migration {
                tsc_mode,
                paused_values,
                ..
            } => (*tsc_mode, paused_values.clone()),
            MoveKind::Failover { .. } => return,
        };
        let mut mappings = Vec::with_capacity(ds.len());
        for (k, &d) in ds.iter().enumerate() {
            mappings.push(if self.daemons[d].source == CounterSource::Tsc {
                let at_pause = paused.get(k).copied().unwrap_or(0);
                let (on_source, core) = (self.daemons[d].mapping, self.daemons[d].core);
                let core = self.hosts[to.host].reading_core(
                    CounterSource::XenClocksource,
                    to.domain,
                    core,
                );
                self.tsc_after_resume(id, mode, on_source, at_pause, core, now)
            } else {
                // Other sources are the destination's own: the pvclock
                // records of the new hypervisor, its HPET.
                GuestTscMapping::identity()
            });
        }
        // The guest's dependent clocks read its TSC through the same
        // emulation as its daemons.
        for i in 0..self.dependents.len() {
            let dep = &self.dependents[i];
            if dep.in_guest(from) {
                let (on_source, at_pause) = (dep.mapping, dep.tsc_at_pause);
                let core =
                    self.hosts[to.host].reading_core(CounterSource::XenClocksource, to.domain, 0);
                self.dependents[i].mapping =
                    self.tsc_after_resume(id, mode, on_source, at_pause, core, now);
            }
        }
        self.set_slot(to, now, false, sched);
        self.relocate(id, now, &mappings, sched);
    }

    /// The TSC mapping through which the guest of migration `id` (TSC
    /// `mode`) reads its TSC when it resumes at `now` on the CPU `core` of
    /// the destination, having read the source's counter through
    /// `on_source` and paused when that counter was `at_pause`.
    fn tsc_after_resume(
        &mut self,
        id: usize,
        mode: TscMode,
        on_source: GuestTscMapping,
        at_pause: u64,
        core: usize,
        now: SimTime,
    ) -> GuestTscMapping {
        let (from, to) = (self.moves[id].from.host, self.moves[id].to.host);
        let base = tsc_base(CounterSource::Tsc, &on_source);
        let (src_hz, _) = self.hosts[from].source_info(base);
        let dst_ns = match mode {
            TscMode::Native => 0,
            TscMode::Emulated => self.hosts[to].value_at(CounterSource::XenClocksource, now, core),
        };
        guest_tsc_after_resume(mode, on_source, at_pause, src_hz, dst_ns)
    }

    fn on_failover(&mut self, now: SimTime, id: usize, sched: &mut impl FnMut(SimTime, Event)) {
        let (from, to) = (self.moves[id].from, self.moves[id].to);
        let ds = self.guest_daemons(from);
        let mut mappings = Vec::with_capacity(ds.len());
        for &d in &ds {
            self.drop_inflight(d, now);
            let src = self.daemons[d].source;
            let core = self.daemons[d].core;
            let dst_core = self.hosts[to.host].reading_core(src, to.domain, core);
            let dst_now = self.hosts[to.host].value_at(src, now, dst_core);
            let mapping = match &mut self.moves[id].kind {
                MoveKind::Failover { pair } if src == CounterSource::Tsc => {
                    let leader_core = self.hosts[from.host].reading_core(src, from.domain, core);
                    let leader_now = self.hosts[from.host].value_at(src, now, leader_core);
                    let replayed_at = now
                        .as_nanos()
                        .saturating_sub(pair.link().latency.as_nanos());
                    let leader_replayed = self.hosts[from.host].value_at(
                        src,
                        SimTime::from_nanos(replayed_at),
                        leader_core,
                    );
                    pair.failover(now, dst_now, leader_now, leader_replayed)
                        .mapping
                }
                _ => GuestTscMapping::identity(),
            };
            mappings.push(mapping);
        }
        // The leader's host failed: its guest no longer runs there.
        self.set_slot(from, now, true, sched);
        let tsc = CounterSource::Tsc;
        let dst_core = self.hosts[to.host].reading_core(tsc, to.domain, 0);
        let dst_now = self.hosts[to.host].value_at(tsc, now, dst_core);
        let leader_core = self.hosts[from.host].reading_core(tsc, from.domain, 0);
        let leader_now = self.hosts[from.host].value_at(tsc, now, leader_core);
        if let MoveKind::Failover { pair } = &mut self.moves[id].kind {
            let replayed_at = now
                .as_nanos()
                .saturating_sub(pair.link().latency.as_nanos());
            let leader_replayed =
                self.hosts[from.host].value_at(tsc, SimTime::from_nanos(replayed_at), leader_core);
            let report = pair.failover(now, dst_now, leader_now, leader_replayed);
            for dep in self.dependents.iter_mut().filter(|dep| dep.in_guest(from)) {
                dep.mapping = report.mapping;
            }
            // The follower's kernel is the leader's, pvclock last value
            // included (no resume clears it): having replayed the leader's
            // timer-tick reads up to a log latency ago, it never returns
            // less than the leader's system time then (system time counts
            // nanoseconds: now's less the latency), however far behind the
            // new host's system time is. Without interception the
            // follower's kernel read its own host's records all along.
            if report.last_replayed.is_some() {
                let xcs = CounterSource::XenClocksource;
                let latency_ns = pair.link().latency.as_nanos();
                let core = self.hosts[from.host].reading_core(xcs, from.domain, 0);
                let tick_ns = self.hosts[from.host]
                    .value_at(xcs, now, core)
                    .saturating_sub(latency_ns);
                if let Some(last_ns) =
                    self.hosts[from.host].pvclock_tick(from.domain, core, tick_ns)
                {
                    self.hosts[to.host].set_pvclock_last(to.domain, last_ns);
                }
            }
        }
        self.relocate(id, now, &mappings, sched);
    }

    /// Migrations and failovers, in the order they were added, with what
    /// the migration model planned and what each failover did.
    pub fn moves(&self) -> impl Iterator<Item = MoveRecord<'_>> {
        self.moves.iter().map(|m| MoveRecord {
            from: self.domain_label(m.from.host, m.from.domain),
            to: self.domain_label(m.to.host, m.to.domain),
            start: m.window.0,
            outcome: match &m.kind {
                MoveKind::Migration { plan, .. } => MoveOutcome::Migration(plan),
                MoveKind::Failover { pair } => MoveOutcome::Failover {
                    report: pair.report(),
                    max_log_lag: pair.max_lag(),
                    follower_tsc_hz: self.hosts[m.to.host].source_info(CounterSource::Tsc).0,
                },
            },
        })
    }

    /// Daemon `d`'s counter as its guest sees it at `t`, read exactly (no
    /// latency). A reader that miscounted wraps keeps its miscount until its
    /// next read, so its view is the exact count less the lost wraps.
    fn daemon_value(&mut self, d: usize, t: SimTime) -> u64 {
        let raw = self.daemon_host_count(d, t);
        self.guest_view(d, raw)
    }

    /// The CPU on which daemon `d` reads its counter (see
    /// [`crate::host::Host::reading_core`]).
    fn read_core(&self, d: usize) -> usize {
        let dm = &self.daemons[d];
        self.hosts[dm.host].reading_core(dm.host_source(), dm.domain, dm.core)
    }

    /// Daemon `d`'s host counter at `t` as its reader counts it (less the
    /// wraps it lost), before the guest mapping and dilation.
    fn daemon_host_count(&mut self, d: usize, t: SimTime) -> u64 {
        let (h, src, core) = (
            self.daemons[d].host,
            self.daemons[d].host_source(),
            self.read_core(d),
        );
        self.hosts[h]
            .value_at(src, t, core)
            .wrapping_sub(self.daemons[d].lost_ticks)
    }

    /// Host `h`'s `source` on `core` at the current probe's instant `t`,
    /// read once for a run of clocks that share it (see `last_probe_read`).
    fn probe_value(&mut self, h: usize, source: CounterSource, core: usize, t: SimTime) -> u64 {
        match self.last_probe_read {
            Some((hh, s, c, v)) if (hh, s, c) == (h, source, core) => v,
            _ => {
                let v = self.hosts[h].value_at(source, t, core);
                self.last_probe_read = Some((h, source, core, v));
                v
            }
        }
    }

    /// Whether clock `c` has no value at `t` because its Xen host has not
    /// booted: a guest's clocks run once it has, and the Xen clocksource
    /// has no record to extrapolate before (reading it would read the
    /// counters ahead of time).
    fn unbooted(&mut self, c: usize, t: SimTime) -> bool {
        let (h, reads_xen_time) = match self.kinds[c] {
            ClockKind::Daemon(d) => (
                self.daemons[d].host,
                self.daemons[d].host_source() == CounterSource::XenClocksource,
            ),
            ClockKind::Dependent(i) => (self.dependents[i].host, true),
        };
        reads_xen_time
            && self.hosts[h]
                .hypervisor()
                .is_some_and(|x| t < x.time.booted_at())
    }

    /// The counter value daemon `d`'s clock shows to a probe at `t`. A
    /// probe observes without reading on the daemon's behalf, so under
    /// [`crate::host::CounterExtension::ReadsOnly`] the register is extended
    /// from the daemon's own last read: a daemon that reads less often than
    /// the counter wraps shows every wrap it has missed.
    fn daemon_probe_value(&mut self, d: usize, t: SimTime) -> u64 {
        let (h, src, core) = (
            self.daemons[d].host,
            self.daemons[d].host_source(),
            self.read_core(d),
        );
        let exact = self.probe_value(h, src, core, t);
        let seen = self.hosts[h]
            .peek_extended(src, exact, &self.daemons[d].extender)
            .unwrap_or_else(|| exact.wrapping_sub(self.daemons[d].lost_ticks));
        self.guest_view(d, seen)
    }

    /// A kernel read of daemon `d`'s counter requested at `at`.
    fn daemon_read(&mut self, d: usize, at: SimTime) -> crate::host::Stamp {
        let (h, src, core, domain) = (
            self.daemons[d].host,
            self.daemons[d].host_source(),
            self.read_core(d),
            self.daemons[d].domain,
        );
        let mut at = at;
        if let Some(m) = self.daemons[d].leader_of
            && let MoveKind::Failover { pair } = &self.moves[m].kind
        {
            // A replicated leader traps its counter reads to log them.
            at += pair.leader_read_cost();
        }
        // A trapped RDTSC reads the counter only once the trap has run.
        at += self.daemons[d].tsc_trap;
        if let Some((resumed, pc)) = self.daemons[d].post_copy {
            let since = at.saturating_since(resumed);
            if since >= pc.degradation_window {
                self.daemons[d].post_copy = None;
            } else {
                // The read waits while its vCPU is stalled on a page fault.
                at += pc.stall(since, &mut self.daemons[d].kernel_rng);
            }
        }
        let mut stamp = {
            let daemon = &mut self.daemons[d];
            self.hosts[h].read(
                src,
                domain,
                at,
                core,
                &mut daemon.extender,
                &mut daemon.kernel_rng,
            )
        };
        // Only a narrow counter's reader can miss wraps; a pvclock read that
        // the kernel's monotonic clamp held back has lost nothing for good.
        self.daemons[d].lost_ticks = if src == CounterSource::XenClocksource {
            0
        } else {
            let exact = self.hosts[h].value_at(src, stamp.at, core);
            exact.wrapping_sub(stamp.counter)
        };
        if let Some(m) = self.daemons[d].leader_of {
            // The leader logs what its guest read, in the guest's TSC ticks
            // (a pvclock read is an RDTSC plus shared memory), so that the
            // follower's counter can take over from the last replayed value.
            let logged = match self.daemons[d].source {
                CounterSource::Tsc => Some(self.daemons[d].mapping.guest(stamp.counter)),
                CounterSource::XenClocksource => {
                    Some(self.hosts[h].value_at(CounterSource::Tsc, stamp.at, core))
                }
                _ => None,
            };
            if let MoveKind::Failover { pair } = &mut self.moves[m].kind {
                match logged {
                    Some(tsc) => {
                        pair.leader_read(stamp.at, tsc);
                    }
                    // An HPET hypercall's result is device input.
                    None => {
                        pair.log_input(stamp.at, LogKind::IoIn, stamp.counter);
                    }
                }
                // The follower replays in lockstep, one log latency behind.
                pair.catch_up(stamp.at);
            }
        }
        stamp.counter = self.guest_view(d, stamp.counter);
        stamp
    }

    /// Applies the guest's TSC mapping and time dilation to a host value.
    fn guest_view(&self, d: usize, value: u64) -> u64 {
        let dm = &self.daemons[d];
        let is_tsc = dm.source == CounterSource::Tsc;
        let v = if is_tsc {
            dm.mapping.guest(value)
        } else {
            value
        };
        match dm.dilation {
            Some(tdf) => tdf.counter(v, 0, !is_tsc || dm.dilate_tsc),
            None => v,
        }
    }

    /// Guest counter ticks per host tick (mapping scale and dilation).
    fn guest_rate(&self, d: usize) -> f64 {
        let dm = &self.daemons[d];
        let is_tsc = dm.source == CounterSource::Tsc;
        let scale = if is_tsc { dm.mapping.scale() } else { 1.0 };
        let dil = match dm.dilation {
            Some(tdf) if !is_tsc || dm.dilate_tsc => 1.0 / tdf.factor,
            _ => 1.0,
        };
        (scale * dil).max(1e-12)
    }

    /// The reference time against which daemon `d`'s clock is judged: true
    /// time, or the dilated time its guest should perceive.
    fn reference_ns(&self, d: usize, true_ns: u64) -> u64 {
        match self.daemons[d].dilation {
            Some(tdf) => tdf.virt_ns(SimTime::from_nanos(true_ns)),
            None => true_ns,
        }
    }

    fn next_request(&self, d: usize) -> Option<PollRequest> {
        let daemon = &self.daemons[d];
        if daemon.servers.is_empty() || daemon.paused || daemon.sending {
            return None;
        }
        match daemon.alg.as_ref() {
            Some(alg) => alg.next_poll(),
            None => Some(PollRequest {
                server: 0,
                at: daemon.oracle_next,
            }),
        }
    }

    fn schedule_poll(&mut self, d: usize, now: SimTime, sched: &mut impl FnMut(SimTime, Event)) {
        self.schedule_poll_at_count(d, now, None, sched);
    }

    /// [`Self::schedule_poll`], given daemon `d`'s count at `now` if the
    /// caller has it: read again after a read at another instant, the same
    /// count cost a second evaluation of the crystal and the counter.
    fn schedule_poll_at_count(
        &mut self,
        d: usize,
        now: SimTime,
        now_count: Option<u64>,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        let Some(request) = self.next_request(d) else {
            return;
        };
        let now_count = now_count.unwrap_or_else(|| self.daemon_value(d, now));
        // A dilated or rescaled guest counter advances more slowly per
        // physical second.
        let (host_hz, _) =
            self.hosts[self.daemons[d].host].source_info(self.daemons[d].host_source());
        let nominal_per_s = host_hz as f64 * self.guest_rate(d);
        let daemon = &mut self.daemons[d];
        daemon.poll_gen += 1;
        let generation = daemon.poll_gen;
        let ticks_per_s = daemon.poll_rate.observe(now, now_count, nominal_per_s);
        // Round up to a whole nanosecond so a timer that is due in a
        // fraction of a nanosecond still moves time forward.
        let ahead_ticks = ticks_between(now_count, request.at);
        let wait_ns = if ahead_ticks > 0.0 {
            (ahead_ticks / ticks_per_s * (1e9 * (1.0 + POLL_LATE_MARGIN)))
                .ceil()
                .max(1.0)
        } else {
            0.0
        };
        let mut wait = SimDuration::from_nanos(wait_ns as u64);
        // The daemon sleeps on its guest kernel's timers, which a dilated
        // kernel runs in perceived time whatever counter the daemon reads:
        // a counter that escapes dilation (a user-level RDTSC) runs at the
        // physical rate, so the wait it implies is stretched.
        if let Some(tdf) = daemon.dilation
            && daemon.source == CounterSource::Tsc
            && !daemon.dilate_tsc
        {
            wait = tdf.timeout_phys(wait);
        }
        sched(
            now + wait,
            Event::Poll {
                daemon: d as u32,
                generation,
            },
        );
    }

    fn on_poll(
        &mut self,
        now: SimTime,
        d: usize,
        generation: u64,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        if self.daemons[d].poll_gen != generation {
            return;
        }
        let Some(request) = self.next_request(d) else {
            return;
        };
        let (host, domain) = (self.daemons[d].host, self.daemons[d].domain);
        let now_count = self.daemon_value(d, now);
        if ticks_between(now_count, request.at) > 0.0 {
            // The counter runs slow: the timer is not due yet in counter terms.
            self.schedule_poll(d, now, sched);
            return;
        }
        let slot = request
            .server
            .min(self.daemons[d].servers.len().saturating_sub(1));
        let daemon = &mut self.daemons[d];
        let xid = daemon.next_xid;
        daemon.next_xid += 1;
        let flight = InFlight {
            xid,
            slot,
            ta: 0,
            ta_true: now,
            ta_read: SimDuration::ZERO,
            nic_out: now,
            nic_in: now,
            tb: 0.0,
            te: 0.0,
            tb_true: SimTime::ZERO,
            te_true: SimTime::ZERO,
            stratum: 0,
            epoch: 0,
        };
        daemon.inflight.push(flight);
        if self.hosts[host].is_xen() {
            // The send waits for the domain's vCPU; the stamp and the NIC
            // departure come back as scheduler notes.
            if let Some(x) = self.hosts[host].hypervisor() {
                x.out.clear();
                x.sched
                    .packet_from_guest(now, domain, token(d, xid), &mut x.out);
            }
            // A request the host drops at once (its guest's device queue is
            // full, or the guest is stopped) comes back as a `Dropped` note,
            // handled in `flush_host` as a drop before the send stamp.
            self.daemons[d].sending = true;
            self.flush_host(host, now, sched);
            self.schedule_poll(d, now, sched);
        } else {
            let at = now + self.hosts[host].sample_stamp_latency(&mut self.daemons[d].kernel_rng);
            let lost_ticks = self.daemons[d].lost_ticks;
            self.stamp_send(d, xid, at);
            self.depart(d, xid, at, sched);
            // The count at `now` is still `now_count` unless the stamp's
            // read found wraps the reader had missed.
            let known = (self.daemons[d].lost_ticks == lost_ticks).then_some(now_count);
            self.schedule_poll_at_count(d, now, known, sched);
        }
    }

    /// The kernel stamps request `xid` of daemon `d` at `at` (Ta).
    fn stamp_send(&mut self, d: usize, xid: u64, at: SimTime) {
        let stamp = self.daemon_read(d, at);
        self.sent(d, xid, at, stamp);
    }

    /// Request `xid` of daemon `d` left with Ta = `stamp`, read from `at`.
    fn sent(&mut self, d: usize, xid: u64, at: SimTime, stamp: crate::host::Stamp) {
        if let Some(f) = self.daemons[d].inflight.iter_mut().find(|f| f.xid == xid) {
            f.ta = stamp.counter;
            f.ta_true = stamp.at;
            f.ta_read = stamp.done.saturating_since(at);
            f.nic_out = stamp.at;
        }
        let daemon = &mut self.daemons[d];
        daemon.sending = false;
        let slot = daemon
            .inflight
            .iter()
            .find(|f| f.xid == xid)
            .map_or(0, |f| f.slot);
        match daemon.advance(stamp.counter) {
            Some(alg) => alg.on_transmit(slot, stamp.counter),
            None => daemon.oracle_next = stamp.counter.saturating_add(daemon.oracle_poll_ticks),
        }
    }

    /// The request leaves the client's NIC at `at`.
    fn depart(&mut self, d: usize, xid: u64, at: SimTime, sched: &mut impl FnMut(SimTime, Event)) {
        let Some(i) = self.daemons[d].inflight.iter().position(|f| f.xid == xid) else {
            return;
        };
        let slot = self.daemons[d].inflight[i].slot;
        let (_, path) = self.daemons[d].servers[slot];
        let f = &self.daemons[d].inflight[i];
        self.daemons[d].inflight[i].nic_out = (at + f.ta_read).max(f.ta_true);
        let mut out = self.daemons[d].inflight[i].nic_out;
        if let Some(m) = self.daemons[d].leader_of
            && let MoveKind::Failover { pair } = &self.moves[m].kind
        {
            // Output commit: held until the follower acknowledged the log.
            out = pair.leader_output_release(out);
            self.daemons[d].inflight[i].nic_out = out;
        }
        // The NIC's queue holds the burst of any migration leaving this
        // host: the request goes on the wire after it.
        let host = self.daemons[d].host;
        let wire =
            out + self.stream_wait(out, |m| m.from.host == host, MigrationPlan::source_nic_wait);
        let flow = &mut self.daemons[d].links[slot].flow;
        match self.paths[path].forward_delay(flow, wire) {
            Some(delay) => {
                self.daemons[d].inflight[i].tb_true = wire + delay;
                sched(
                    wire + delay,
                    Event::AtServer {
                        daemon: d as u32,
                        xid,
                    },
                );
            }
            None => {
                let f = self.daemons[d].inflight.swap_remove(i);
                self.record_lost(d, &f);
            }
        }
    }

    /// How long a packet at `t` waits behind the streams of the migrations
    /// under way that it `crosses` (those leaving its host at the NIC,
    /// those arriving at its switch port), each timed by `wait` from its
    /// start. A migration between two domains of one host copies within it
    /// and crosses no link. The waits of concurrent streams add up, as if
    /// each packet found their bursts queued one behind the other.
    fn stream_wait(
        &self,
        t: SimTime,
        crosses: impl Fn(&Move) -> bool,
        wait: fn(&MigrationPlan, SimDuration) -> SimDuration,
    ) -> SimDuration {
        let mut total = SimDuration::ZERO;
        for m in &self.moves {
            if let MoveKind::Migration { plan, .. } = &m.kind
                && m.from.host != m.to.host
                && t >= m.window.0
                && crosses(m)
            {
                total = total + wait(plan, t.saturating_since(m.window.0));
            }
        }
        total
    }

    fn flight_mut(&mut self, d: usize, xid: u64) -> Option<&mut InFlight> {
        self.daemons[d].inflight.iter_mut().find(|f| f.xid == xid)
    }

    fn on_server(
        &mut self,
        now: SimTime,
        d: usize,
        xid: u64,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        let Some(i) = self.daemons[d].inflight.iter().position(|f| f.xid == xid) else {
            return;
        };
        let slot = self.daemons[d].inflight[i].slot;
        let (server, path) = self.daemons[d].servers[slot];
        let link = &mut self.daemons[d].links[slot];
        let Some(reply) = self.servers[server].reply(now, &mut link.server_rng) else {
            let f = self.daemons[d].inflight.swap_remove(i);
            self.record_lost(d, &f);
            return;
        };
        let scale = match self.daemons[d].dilation {
            Some(tdf) if self.daemons[d].dilated_reference => 1.0 / tdf.factor,
            _ => 1.0,
        };
        let f = &mut self.daemons[d].inflight[i];
        f.tb = reply.tb_s * scale;
        f.te = reply.te_s * scale;
        f.te_true = reply.departure;
        f.stratum = reply.stratum;
        f.epoch = reply.epoch;
        let flow = &mut self.daemons[d].links[slot].flow;
        match self.paths[path].backward_delay(flow, reply.departure) {
            Some(delay) => {
                // The switch port toward a migration's destination carries
                // its stream too.
                let port = reply.departure + delay;
                let host = self.daemons[d].host;
                let wait = self.stream_wait(
                    port,
                    |m| m.to.host == host,
                    MigrationPlan::destination_port_wait,
                );
                sched(
                    port + wait,
                    Event::AtClient {
                        daemon: d as u32,
                        xid,
                    },
                )
            }
            None => {
                let f = self.daemons[d].inflight.swap_remove(i);
                self.record_lost(d, &f);
            }
        }
    }

    fn on_client(
        &mut self,
        now: SimTime,
        d: usize,
        xid: u64,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        let (host, domain) = (self.daemons[d].host, self.daemons[d].domain);
        let paused = self.daemons[d].paused;
        let Some(f) = self.flight_mut(d, xid) else {
            return;
        };
        f.nic_in = now;
        if paused {
            // The domain is paused (migrating): the reply is dropped.
            if let Some(i) = self.daemons[d].inflight.iter().position(|f| f.xid == xid) {
                let f = self.daemons[d].inflight.swap_remove(i);
                self.record_lost(d, &f);
            }
            return;
        }
        if self.hosts[host].is_xen() {
            if let Some(x) = self.hosts[host].hypervisor() {
                x.out.clear();
                x.sched
                    .packet_from_nic(now, domain, token(d, xid), &mut x.out);
            }
            self.flush_host(host, now, sched);
        } else {
            let at = now + self.hosts[host].sample_stamp_latency(&mut self.daemons[d].kernel_rng);
            self.receive(d, xid, at, sched);
        }
    }

    /// The kernel stamps the reply of `xid` at `at` (Tf); the algorithm runs.
    fn receive(&mut self, d: usize, xid: u64, at: SimTime, sched: &mut impl FnMut(SimTime, Event)) {
        let Some(i) = self.daemons[d].inflight.iter().position(|f| f.xid == xid) else {
            return;
        };
        let flight = self.daemons[d].inflight.swap_remove(i);
        let (host, src, domain) = (
            self.daemons[d].host,
            self.daemons[d].source,
            self.daemons[d].domain,
        );
        let stamp = self.daemon_read(d, at);
        if ticks_between(flight.ta, stamp.counter) < 0.0 {
            // The counter moved back under the exchange (migration to
            // another host's counter): the stamps are meaningless together.
            // An equal reading is a real exchange on a counter coarser than
            // the round trip.
            self.record_lost(d, &flight);
            self.schedule_poll(d, at, sched);
            return;
        }
        // A client sees a change in the reply itself (stratum, reference):
        // only replies it received count.
        let seen = &mut self.daemons[d].seen_epochs[flight.slot];
        let server_changed = seen.is_some_and(|e| e != flight.epoch);
        *seen = Some(flight.epoch);
        let ex = Exchange {
            server: flight.slot,
            ta: flight.ta,
            tb: flight.tb,
            te: flight.te,
            tf: stamp.counter,
            stratum: flight.stratum,
            server_changed,
        };
        let mut stepped = false;
        if let Some(alg) = self.daemons[d].advance(stamp.counter) {
            let steps = alg.steps();
            alg.on_exchange(&ex);
            stepped = alg.steps() != steps;
        }
        // Linux's Xen Dom0 pushes a set clock to the hypervisor at once
        // (`xen_pvclock_gtod_notify` with `was_set`).
        if stepped
            && domain == 0
            && self.hosts[host].hypervisor().is_some()
            && self.wallclock_source(host) == Some(d)
        {
            self.push_wallclock(at, host, sched);
        }
        let tf_true_ns = self.reference_ns(d, stamp.at.as_nanos());
        let error_s = self.daemon_error(d, stamp.counter, tf_true_ns);
        let network = flight.nic_in.saturating_since(flight.nic_out);
        let host_rtt = stamp
            .at
            .saturating_since(flight.ta_true)
            .as_nanos()
            .saturating_sub(network.as_nanos());
        if stamp.at >= self.probe.metrics_from {
            let c = self.clock_of_daemon(d);
            if error_s.is_finite() {
                self.exchange_stats[c].at_exchange.push(error_s);
            }
            self.exchange_stats[c].host_rtt.push(host_rtt as f64 * 1e-9);
        }
        self.records.exchanges.push(ExchangeRecord {
            daemon: d as u32,
            server: flight.slot as u32,
            ta: flight.ta,
            tb: flight.tb,
            te: flight.te,
            tf: stamp.counter,
            // A dilated domain's true times are given in its dilated timescale.
            ta_true_ns: self.reference_ns(d, flight.ta_true.as_nanos()),
            tb_true_ns: self.reference_ns(d, flight.tb_true.as_nanos()),
            te_true_ns: self.reference_ns(d, flight.te_true.as_nanos()),
            tf_true_ns,
            forward_ns: flight.tb_true.saturating_since(flight.nic_out).as_nanos(),
            backward_ns: flight.nic_in.saturating_since(flight.te_true).as_nanos(),
            host_rtt_ns: host_rtt,
            lost: false,
            error_s,
            stratum: flight.stratum,
            server_changed,
        });
        let daemon = &self.daemons[d];
        if let Some(alg) = daemon.alg.as_ref() {
            if daemon.trace_width > 0 {
                let offset = self.records.trace_values.len();
                alg.trace_row(&mut self.records.trace_values);
                // Pad or cut to the declared width so rows always line up.
                self.records
                    .trace_values
                    .resize(offset + daemon.trace_width, f64::NAN);
                self.records
                    .trace_rows
                    .push((d as u32, stamp.counter, tf_true_ns, offset));
            }
            // A Dom0 feedforward daemon publishes to its host's XenStore.
            if domain == 0
                && self.hosts[host].is_xen()
                && let Some(params) = alg.ff_params()
            {
                self.publish(host, src, params, at, sched);
            }
        }
        self.schedule_poll(d, at, sched);
    }

    fn clock_of_daemon(&self, d: usize) -> usize {
        self.kinds
            .iter()
            .position(|k| matches!(k, ClockKind::Daemon(x) if *x == d))
            .unwrap_or(0)
    }

    fn publish(
        &mut self,
        host: usize,
        src: CounterSource,
        params: FfClockParams,
        now: SimTime,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        // The store holds Dom0's latest parameters whether or not a guest
        // reads them yet: one that migrates here finds them at once. Its
        // latency is a reader's setting: one on this host, else any.
        let latency = |on_host: bool| {
            self.dependents.iter().find_map(|dep| match dep.kind {
                DependentKind::Radclock { store_latency } if !on_host || dep.host == host => {
                    Some(store_latency)
                }
                _ => None,
            })
        };
        let Some(latency) = latency(true).or_else(|| latency(false)) else {
            return;
        };
        let visible_at = now + latency;
        self.stores[host]
            .pending
            .push_back((visible_at, src, params));
        sched(visible_at, Event::StoreVisible { host: host as u32 });
    }

    fn on_store(&mut self, now: SimTime, host: usize) {
        let store = &mut self.stores[host];
        while let Some(&(at, src, params)) = store.pending.front() {
            if at > now {
                break;
            }
            store.visible = Some((src, params));
            store.pending.pop_front();
        }
    }

    /// The periodic push of Dom0's time to Xen's wall clock (Linux's
    /// 11-minute sync). A push for a step since (see [`Self::receive`])
    /// re-armed the period: the event armed before it is stale.
    fn on_wallclock_push(
        &mut self,
        now: SimTime,
        host: usize,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        if self.hosts[host]
            .hypervisor()
            .is_some_and(|x| now < x.time.next_wallclock_push())
        {
            return;
        }
        self.push_wallclock(now, host, sched);
    }

    /// The daemon whose clock Dom0 of `host` pushes to Xen's wall clock:
    /// its first ntpd.
    fn wallclock_source(&self, host: usize) -> Option<usize> {
        self.daemons.iter().position(|d| {
            d.host == host && d.domain == 0 && d.alg.as_ref().is_some_and(|a| a.name() == "ntpd")
        })
    }

    /// Dom0 of a Xen host pushes its time to the hypervisor's wall clock
    /// and re-arms the 11-minute push.
    fn push_wallclock(
        &mut self,
        now: SimTime,
        host: usize,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        // Dom0's ntpd on this host supplies the time; without one, Dom0 keeps
        // pushing its free-running view (the TSC at its nominal rate).
        let utc_ns = match self.wallclock_source(host) {
            Some(d) => {
                let (src, core) = (self.daemons[d].source, self.read_core(d));
                let value = self.hosts[host].value_at(src, now, core);
                let alg = self.daemons[d]
                    .advance(value)
                    .expect("checked: has an algorithm");
                let reading = alg.read(value);
                let ns = (reading - ClockTime::ZERO) * 1e9;
                ns.max(0.0).round() as u64
            }
            None => {
                let tsc = self.hosts[host].value_at(CounterSource::Tsc, now, 0);
                let (hz, _) = self.hosts[host].source_info(CounterSource::Tsc);
                (u128::from(tsc) * 1_000_000_000 / u128::from(hz.max(1))) as u64
            }
        };
        let h = &mut self.hosts[host];
        if let Some(next) = h.push_wallclock(now, utc_ns) {
            sched(next, Event::WallclockPush { host: host as u32 });
        }
    }

    fn on_xen(
        &mut self,
        now: SimTime,
        host: usize,
        event: HostEvent,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        if let Some(x) = self.hosts[host].hypervisor() {
            x.out.clear();
            x.sched.handle(now, event, &mut x.out);
        }
        self.flush_host(host, now, sched);
    }

    /// Schedules a Xen host's follow-up events and acts on its notes.
    fn flush_host(&mut self, host: usize, now: SimTime, sched: &mut impl FnMut(SimTime, Event)) {
        let mut notes = std::mem::take(&mut self.notes);
        notes.clear();
        if let Some(x) = self.hosts[host].hypervisor() {
            for &(t, event) in &x.out.events {
                sched(
                    t,
                    Event::Xen {
                        host: host as u32,
                        event,
                    },
                );
            }
            notes.extend_from_slice(&x.out.notes);
            x.out.clear();
        }
        for note in &notes {
            match *note {
                HostNote::SendStamped { token: tk, at, .. } => {
                    let (d, xid) = untoken(tk);
                    // A stamp the parametric model scheduled for a request
                    // dropped since (a failover) has nothing left to stamp.
                    if d < self.daemons.len()
                        && !self.daemons[d].paused
                        && self.daemons[d].inflight.iter().any(|f| f.xid == xid)
                    {
                        self.stamp_send(d, xid, at.max(now));
                        self.schedule_poll(d, at.max(now), sched);
                    }
                }
                HostNote::ToNic { token: tk, at, .. } => {
                    let (d, xid) = untoken(tk);
                    if d < self.daemons.len() {
                        self.depart(d, xid, at.max(now), sched);
                    }
                }
                HostNote::Delivered { token: tk, at, .. } => {
                    let (d, xid) = untoken(tk);
                    if d < self.daemons.len() {
                        self.receive(d, xid, at.max(now), sched);
                    }
                }
                HostNote::Dropped { token: tk, .. } => {
                    let (d, xid) = untoken(tk);
                    if d < self.daemons.len()
                        && self.daemons[d].sending
                        && xid + 1 == self.daemons[d].next_xid
                    {
                        // A request dropped before its send stamp (refused at
                        // once, or its guest stopped with it queued): the send
                        // call had returned (IP reports a qdisc drop only to a
                        // socket with IP_RECVERR, `ip_push_pending_frames`), so
                        // the daemon's timer moves on and the exchange is lost.
                        self.stamp_send(d, xid, now);
                        self.schedule_poll(d, now, sched);
                    }
                    if d < self.daemons.len()
                        && let Some(i) = self.daemons[d].inflight.iter().position(|f| f.xid == xid)
                    {
                        let f = self.daemons[d].inflight.swap_remove(i);
                        self.record_lost(d, &f);
                    }
                }
            }
        }
        self.notes = notes;
    }

    fn on_probe(&mut self, now: SimTime) {
        let record = self.probes_to_record == 0;
        self.probes_to_record = if record {
            self.probe.record_every.max(1) - 1
        } else {
            self.probes_to_record - 1
        };
        self.last_probe_read = None;
        // The row goes straight to the rows awaiting the statistics, or to
        // the scratch row before `metrics_from`.
        let folded = now >= self.probe.metrics_from;
        let mut rows = std::mem::take(if folded {
            &mut self.unfolded
        } else {
            &mut self.scratch
        });
        if !folded {
            rows.clear();
        } else if rows.capacity() == 0 {
            self.fold_len = fold_rows(self.kinds.len()) * self.kinds.len();
            // A block's size at once: grown by doubling, the first block
            // was copied five times and faulted in twice over.
            rows.reserve_exact(self.fold_len);
        }
        let start = rows.len();
        for c in 0..self.kinds.len() {
            rows.push(self.clock_error(c, now));
        }
        if record {
            self.records.error_times.push(now);
            self.records.errors.extend_from_slice(&rows[start..]);
        }
        if folded {
            if rows.len() >= self.fold_len {
                self.grid_stats.fold(&mut rows);
            }
            self.unfolded = rows;
        } else {
            self.scratch = rows;
        }
    }

    fn record_lost(&mut self, d: usize, f: &InFlight) {
        self.records.exchanges.push(ExchangeRecord {
            daemon: d as u32,
            server: f.slot as u32,
            ta: f.ta,
            tb: f.tb,
            te: f.te,
            tf: 0,
            // In a dilated domain's timescale, as for completed exchanges.
            ta_true_ns: self.reference_ns(d, f.ta_true.as_nanos()),
            tb_true_ns: self.reference_ns(d, f.tb_true.as_nanos()),
            te_true_ns: self.reference_ns(d, f.te_true.as_nanos()),
            tf_true_ns: 0,
            forward_ns: f.tb_true.saturating_since(f.nic_out).as_nanos(),
            backward_ns: 0,
            host_rtt_ns: 0,
            lost: true,
            error_s: f64::NAN,
            stratum: 0,
            server_changed: false,
        });
    }
}

impl Model for World {
    type Event = Event;

    fn handle(&mut self, now: SimTime, event: Event, sched: &mut Scheduler<Event>) {
        let mut push = |t: SimTime, e: Event| sched.schedule(t, e);
        match event {
            Event::Probe => self.on_probe(now),
            Event::Poll { daemon, generation } => {
                self.on_poll(now, daemon as usize, generation, &mut push)
            }
            Event::AtServer { daemon, xid } => self.on_server(now, daemon as usize, xid, &mut push),
            Event::AtClient { daemon, xid } => self.on_client(now, daemon as usize, xid, &mut push),
            Event::Xen { host, event } => self.on_xen(now, host as usize, event, &mut push),
            Event::StoreVisible { host } => self.on_store(now, host as usize),
            Event::WallclockPush { host } => self.on_wallclock_push(now, host as usize, &mut push),
            Event::Pause { id } => self.on_pause(now, id as usize, &mut push),
            Event::Resume { id } => self.on_resume(now, id as usize, &mut push),
            Event::Failover { id } => self.on_failover(now, id as usize, &mut push),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::{CounterConfig, CounterKind};
    use crate::host::XenSetup;
    use crate::migration::MigrationMethod;
    use crate::xen::{DomainConfig, XenHostConfig};
    use rand::SeedableRng;
    use sim_core::Engine;

    /// A Xen host whose TSC runs at `tsc_hz`, with one idle guest.
    fn xen_host(name: &str, tsc_hz: u64) -> HostConfig {
        HostConfig {
            name: name.into(),
            counters: vec![
                CounterConfig {
                    nominal_hz: Some(tsc_hz),
                    ..CounterConfig::default()
                },
                CounterConfig {
                    kind: CounterKind::Hpet,
                    ..CounterConfig::default()
                },
            ],
            xen: Some(XenSetup {
                host: XenHostConfig {
                    guests: vec![DomainConfig::default()],
                    ..XenHostConfig::default()
                },
                ..XenSetup::default()
            }),
            ..HostConfig::default()
        }
    }

    /// An empty world (seed 7) probing its clocks every second.
    fn probed_world() -> World {
        World::new(
            7,
            ProbeSpec {
                interval: SimDuration::from_secs(1),
                metrics_from: SimTime::ZERO,
                record_every: 1,
                stability_max_m: 0,
            },
        )
    }

    /// An engine running `world` from its start, probes included.
    fn started(world: World) -> Engine<World> {
        let mut engine = Engine::new(world);
        let every = engine.model().probe_interval();
        engine.schedule_every(SimTime::ZERO, every, Event::Probe);
        let mut initial = Vec::new();
        engine.model_mut().start(&mut |t, e| initial.push((t, e)));
        for (t, e) in initial {
            engine.schedule(t, e);
        }
        engine
    }

    /// A world of Xen hosts with TSCs at `tsc_hz`, and a naive daemon in
    /// guest 1 of the first, reading its TSC and polling `server` over
    /// `path` every 16 s.
    fn guest_daemon_world(tsc_hz: &[u64], server: &ServerConfig, path: &PathConfig) -> World {
        let mut world = probed_world();
        for (i, &hz) in tsc_hz.iter().enumerate() {
            world.add_host(&xen_host(&format!("h{i}"), hz)).unwrap();
        }
        world.add_server(server);
        world.add_path(path).unwrap();
        world
            .add_daemon(&DaemonSpec {
                name: "guest".into(),
                host: 0,
                domain: 1,
                counter: CounterSource::Tsc,
                core: 0,
                servers: vec![(0, 0)],
                algorithm: naive(),
            })
            .unwrap();
        world
    }

    /// The naive algorithm with its default 16 s poll period.
    fn naive() -> AlgorithmConfig {
        AlgorithmConfig::default_for("naive").expect("registered")
    }

    /// Stop-and-copy of an 8 MiB guest: paused at once for 67 ms of copy
    /// at 1 Gb/s plus 20 ms of state transfer and resume.
    fn small_stop_and_copy() -> MigrationConfig {
        MigrationConfig {
            method: MigrationMethod::StopAndCopy,
            memory_mib: 8.0,
            ..MigrationConfig::default()
        }
    }

    /// Runs `world` to `until`; returns its exchange records.
    fn run_exchanges(world: World, until: SimTime) -> Vec<ExchangeRecord> {
        let mut engine = started(world);
        engine.run_until(until);
        std::mem::take(&mut engine.model_mut().records_mut().exchanges)
    }

    /// A guest's requests in flight when it pauses for a migration are
    /// lost: the replies reach a paused guest, or one resumed on another
    /// host whose kernel never sent the requests. Each is recorded as lost
    /// once, with only what happened before the pause (a server stamp
    /// taken after it is not the guest's to know), and none completes as
    /// an exchange whose Ta was read before the pause and Tf after the
    /// resume: with an emulated TSC, which does not count the downtime,
    /// such stamps would put the server ~½ downtime off. The path takes
    /// 100 ms each way and the server holds each request 100 ms, so a reply
    /// comes back 300 ms after its request left, after the 87 ms pause; the
    /// guest pauses once while a request is on its way to the server
    /// (50 ms after a poll) and once while the server holds it (150 ms).
    #[test]
    fn requests_in_flight_at_a_migration_pause_are_lost_once() {
        let server = ServerConfig {
            residence_min_us: 100_000.0,
            ..ServerConfig::default()
        };
        let path = PathConfig::from_min_delays(100_000.0, 100_000.0);
        let mut world = guest_daemon_world(&[2_000_000_000; 2], &server, &path);
        let booted = world.hosts[0].hypervisor().expect("Xen").time.booted_at();
        let poll_period_s = naive().poll_period_s();
        let (a, b) = (
            GuestRef { host: 0, domain: 1 },
            GuestRef { host: 1, domain: 1 },
        );
        // Polls come at boot and every 16 s of the guest's TSC, which
        // misses each downtime.
        let (mut pauses, mut missed) = (Vec::new(), SimDuration::ZERO);
        for (polls, from, to, after_poll_s) in [(2.0, a, b, 0.05), (5.0, b, a, 0.15)] {
            let pause =
                booted + missed + SimDuration::from_secs_f64(polls * poll_period_s + after_poll_s);
            let plan = world
                .add_migration(
                    from,
                    to,
                    pause,
                    &small_stop_and_copy(),
                    TscMode::Emulated,
                    None,
                )
                .unwrap();
            missed = missed + plan.downtime;
            pauses.push(pause.as_nanos());
        }
        let exchanges = run_exchanges(world, SimTime::from_secs(120));
        for (i, x) in exchanges.iter().enumerate() {
            assert!(
                exchanges[..i].iter().all(|y| y.ta_true_ns != x.ta_true_ns),
                "request sent at {} ns recorded twice",
                x.ta_true_ns
            );
        }
        for &pause_ns in &pauses {
            // Requests sent in the second before the pause (an exchange
            // takes 300 ms) that were lost or answered after it.
            let cut: Vec<&ExchangeRecord> = exchanges
                .iter()
                .filter(|x| (pause_ns - 1_000_000_000..pause_ns).contains(&x.ta_true_ns))
                .filter(|x| x.lost || x.tf_true_ns > pause_ns)
                .collect();
            assert_eq!(cut.len(), 1, "{cut:?}");
            let x = cut[0];
            assert!(x.lost, "an exchange spanning the pause completed: {x:?}");
            assert!(
                x.tb_true_ns <= pause_ns && x.te_true_ns <= pause_ns,
                "{x:?}"
            );
        }
    }

    /// Post-copy resumes the guest on the destination while its memory is
    /// still on the source (Hines & Gopalan, §4.2): until the last page has
    /// arrived the source serves its faults, so the guest cannot move on.
    /// A 256 MiB guest takes 2.1 s at 1 Gb/s to arrive; a move starting 1 s
    /// after its resume is refused, one after the last page is not.
    #[test]
    fn a_guest_cannot_move_on_before_its_post_copy_pages_arrive() {
        let path = PathConfig::from_min_delays(100.0, 100.0);
        let mut world = guest_daemon_world(&[2_000_000_000; 3], &ServerConfig::default(), &path);
        let (a, b, c) = (
            GuestRef { host: 0, domain: 1 },
            GuestRef { host: 1, domain: 1 },
            GuestRef { host: 2, domain: 1 },
        );
        let post_copy = MigrationConfig {
            method: MigrationMethod::PostCopy,
            memory_mib: 256.0,
            ..MigrationConfig::default()
        };
        let start = SimTime::from_secs(100);
        let plan = world
            .add_migration(a, b, start, &post_copy, TscMode::Emulated, None)
            .unwrap();
        let pages_in = start + plan.total_time;
        assert!(plan.total_time > plan.downtime + SimDuration::from_secs(2));
        let early = world.add_migration(
            b,
            c,
            start + plan.downtime + SimDuration::from_secs(1),
            &small_stop_and_copy(),
            TscMode::Emulated,
            None,
        );
        assert!(
            matches!(&early, Err(BuildError::Reference(e)) if e.contains("overlaps events[0]")),
            "a move while pages are still on the source: {:?}",
            early.map(|p| p.total_time)
        );
        let later = pages_in + SimDuration::from_millis(1);
        world
            .add_migration(b, c, later, &small_stop_and_copy(), TscMode::Emulated, None)
            .unwrap();
    }

    /// A daemon's timer is due when its counter reaches the requested
    /// value, timed from the counter's measured rate. A guest that moves,
    /// with a native TSC, from a 2 GHz host to a 3 GHz one counts 1.5× as
    /// fast from its resume: the rate measured on the source no longer
    /// holds, and the daemon must time its polls there from the new
    /// counter's own rate. The new count is ahead of the old, so the poll
    /// due by the old count goes at the resume; the next is due 32e9 ticks
    /// later (16 s at the 2 GHz the daemon booted with), 10.67 s of true
    /// time. The guest moves 1 s after a poll, within the 4 s span over
    /// which a rate is measured, so a rate kept from the source would time
    /// that poll 16 s out, 16e9 ticks late.
    #[test]
    fn a_daemon_times_its_polls_with_the_new_hosts_counter_after_a_move() {
        const SRC_HZ: f64 = 2e9;
        const DST_HZ: f64 = 3e9;
        let poll_period_s = naive().poll_period_s();
        let mut world = guest_daemon_world(
            &[SRC_HZ as u64, DST_HZ as u64],
            &ServerConfig::default(),
            &PathConfig::from_rtt(250.0, 0.0),
        );
        let booted_s = world.hosts[0]
            .hypervisor()
            .expect("Xen")
            .time
            .booted_at()
            .as_secs_f64();
        // Polls at boot and every 16 s (plus a few µs of vCPU wake-up each).
        let pause = SimTime::from_secs_f64(booted_s + 2.0 * poll_period_s + 1.0);
        let plan = world
            .add_migration(
                GuestRef { host: 0, domain: 1 },
                GuestRef { host: 1, domain: 1 },
                pause,
                &small_stop_and_copy(),
                TscMode::Native,
                None,
            )
            .unwrap();
        let resume_ns = (pause + plan.downtime).as_nanos();
        let exchanges = run_exchanges(world, SimTime::from_secs(70));
        let after: Vec<&ExchangeRecord> = exchanges
            .iter()
            .filter(|x| x.ta_true_ns >= resume_ns)
            .collect();
        assert!(after.len() >= 2, "{after:?}");
        let period_ticks = poll_period_s * SRC_HZ;
        let ticks = after[1].ta.wrapping_sub(after[0].ta) as f64;
        let true_s = (after[1].ta_true_ns - after[0].ta_true_ns) as f64 * 1e-9;
        assert!(
            (ticks / period_ticks - 1.0).abs() < 1e-4,
            "{ticks} ticks between polls, want {period_ticks}"
        );
        let want_s = period_ticks / DST_HZ;
        assert!(
            (true_s / want_s - 1.0).abs() < 1e-4,
            "{true_s} s between polls, want {want_s} s"
        );
    }

    /// A parametric Xen host (two pCPUs, Dom0 pinned to the first) whose
    /// three guests run the bench's busy workload, the second churning,
    /// calibrated from the explicit credit scheduler as the bench's host is.
    fn parametric_xen_host() -> HostConfig {
        use crate::xen::{Churn, Workload};
        let busy = Workload {
            busy_fraction: 0.3,
            burst_mean_ns: 5_000_000,
            ..Workload::default()
        };
        let churning = Workload {
            churn: Some(Churn {
                on_mean_s: 300.0,
                off_mean_s: 100.0,
                start_on: true,
            }),
            ..busy.clone()
        };
        let explicit = XenHostConfig {
            pcpus: 2,
            dom0: DomainConfig {
                affinity: vec![0],
                ..DomainConfig::dom0()
            },
            guests: [busy.clone(), churning, busy]
                .into_iter()
                .map(|workload| DomainConfig {
                    workload,
                    ..DomainConfig::default()
                })
                .collect(),
            ..XenHostConfig::default()
        };
        let run = crate::xen::parametric::CalibrationRun {
            duration_s: 5.0,
            ..Default::default()
        };
        let mut rng = SimRng::seed_from_u64(1);
        let host = crate::xen::parametric::calibrated_config(&explicit, &run, &mut rng);
        let mut cfg = xen_host("xen", 2_000_000_000);
        cfg.xen.as_mut().unwrap().host = host;
        cfg
    }

    /// The exchanges of the RADclock daemon `target` in guest 1 of the
    /// parametric Xen host, added after `others` (name, host, domain,
    /// algorithm), with their daemon index cleared. A bare-metal host is
    /// always there; the path has congestion, random shifts and bursty
    /// loss each way.
    fn target_exchanges(
        xen: &HostConfig,
        others: &[(&str, usize, usize, &str)],
        until: SimTime,
    ) -> Vec<ExchangeRecord> {
        let mut world = probed_world();
        world.add_host(xen).unwrap();
        world
            .add_host(&HostConfig {
                name: "metal".into(),
                ..HostConfig::default()
            })
            .unwrap();
        world.add_server(&ServerConfig::default());
        let path = PathConfig::from_rtt(250.0, 20.0).with_shared_processes(30.0);
        world.add_path(&path).unwrap();
        let spec = |name: &str, host, domain, algorithm: &str| DaemonSpec {
            name: name.into(),
            host,
            domain,
            counter: if host == 0 {
                CounterSource::XenClocksource
            } else {
                CounterSource::Tsc
            },
            core: 0,
            servers: vec![(0, 0)],
            algorithm: AlgorithmConfig::default_for(algorithm).expect("registered"),
        };
        for &(name, host, domain, algorithm) in others {
            world
                .add_daemon(&spec(name, host, domain, algorithm))
                .unwrap();
        }
        let target = world.add_daemon(&spec("target", 0, 1, "radclock")).unwrap();
        run_exchanges(world, until)
            .into_iter()
            .filter(|x| x.daemon as usize == target)
            .map(|x| ExchangeRecord { daemon: 0, ..x })
            .collect()
    }

    /// What partitioning a run by guest needs: a daemon's exchanges do
    /// not depend on the daemons of other domains of its host (whose
    /// packets share the path, the server and the host's parametric
    /// delays, and one of which churns) nor on those of other hosts.
    #[test]
    fn a_daemons_exchanges_do_not_depend_on_other_domains_daemons() {
        let xen = parametric_xen_host();
        let until = SimTime::from_secs(30 * 24 * 3600);
        let alone = target_exchanges(&xen, &[], until);
        let crowded = target_exchanges(
            &xen,
            &[
                ("guest2-radclock", 0, 2, "radclock"),
                ("guest2-ntpd", 0, 2, "ntpd"),
                ("guest3-ntpd", 0, 3, "ntpd"),
                ("metal-ntpd", 1, 0, "ntpd"),
            ],
            until,
        );
        let lost = alone.iter().filter(|x| x.lost).count();
        // A month of 16 s polls, with the path's and the host's losses.
        assert!(
            alone.len() > 150_000 && lost > 10_000,
            "{} exchanges, {lost} lost",
            alone.len()
        );
        assert_eq!(alone.len(), crowded.len());
        // Bit for bit, the error of a lost exchange (NaN) included.
        let bits =
            |x: &ExchangeRecord| (ExchangeRecord { error_s: 0.0, ..*x }, x.error_s.to_bits());
        for (i, (a, c)) in alone.iter().zip(&crowded).enumerate() {
            assert_eq!(bits(a), bits(c), "exchange {i}");
        }
    }

    /// Two Xen hosts on paths without queueing (100 µs each way), each
    /// Dom0 polling with the naive algorithm, and a guest on the first
    /// polling too, every second plus 0.618 or 0.414 of Xen's 7812 µs
    /// rate-limit slot, so that their requests meet the slots at phases
    /// spread evenly over them; with `migration`, the guest moves to the
    /// second host at 10 s.
    fn stream_world(migration: Option<&MigrationConfig>) -> (World, Option<MigrationPlan>) {
        let mut world = probed_world();
        for name in ["source", "destination"] {
            world.add_host(&xen_host(name, 2_000_000_000)).unwrap();
        }
        world.add_server(&ServerConfig::default());
        let mut path = PathConfig::from_min_delays(100.0, 100.0);
        path.forward.queueing = crate::network::QueueingConfig::None;
        path.backward.queueing = crate::network::QueueingConfig::None;
        world.add_path(&path).unwrap();
        let slot_s = 7812e-6;
        for (name, host, domain, step) in [
            ("source-dom0", 0, 0, 0.618_034),
            ("guest", 0, 1, 0.414_214),
            ("destination-dom0", 1, 0, 0.618_034),
        ] {
            let mut algorithm = naive();
            if let AlgorithmConfig::Naive(c) = &mut algorithm {
                c.poll_period_s = 1.0 + step * slot_s;
            }
            world
                .add_daemon(&DaemonSpec {
                    name: name.into(),
                    host,
                    domain,
                    counter: CounterSource::Tsc,
                    core: 0,
                    servers: vec![(0, 0)],
                    algorithm,
                })
                .unwrap();
        }
        let plan = migration.map(|cfg| {
            world
                .add_migration(
                    GuestRef { host: 0, domain: 1 },
                    GuestRef { host: 1, domain: 1 },
                    SimTime::from_secs(10),
                    cfg,
                    TscMode::Emulated,
                    None,
                )
                .unwrap()
        });
        (world, plan)
    }

    /// The migration stream leaves the source host by the NIC its domains'
    /// requests leave by, in Xen's rate-limited bursts: while the guest's
    /// idle 4 GiB goes at 100 × 2²⁰ bit/s (328 s), a request waits for the
    /// rest of the 819.2 µs burst it finds on the wire, so the forward
    /// delays of Dom0's and the guest's requests rise by 43 µs on average
    /// (D²/2P), one request in ten (D/P) delayed. Each rises by exactly
    /// what the plan gives for its NIC time. Replies reaching the
    /// destination wait at most for one segment of a burst at its switch
    /// port; its requests and the moved guest's after the move, and every
    /// packet of the same world without the migration, take the path's
    /// 100 µs.
    #[test]
    fn a_migration_stream_delays_the_source_hosts_requests() {
        let cfg = MigrationConfig {
            memory_mib: 4096.0,
            wws_mib: 0.0,
            cold_dirty_rate_mib_per_s: 0.0,
            ..MigrationConfig::default()
        };
        let path_ns = 100_000;
        let (world, plan) = stream_world(Some(&cfg));
        let plan = plan.expect("planned");
        let start = SimTime::from_secs(10);
        let round0 = plan.rounds[0].duration;
        assert!((round0.as_secs_f64() - 327.68).abs() < 1e-6, "{round0:?}");
        let end = start + plan.total_time;
        let until = end + SimDuration::from_secs(30);
        let (quiet, _) = stream_world(None);
        for x in run_exchanges(quiet, until) {
            assert_eq!((x.forward_ns, x.backward_ns), (path_ns, path_ns), "{x:?}");
        }
        let exchanges = run_exchanges(world, until);
        // The time since the start of a packet at `ns` during the move.
        let during = |ns: u64| {
            (start.as_nanos()..end.as_nanos())
                .contains(&ns)
                .then(|| SimDuration::from_nanos(ns - start.as_nanos()))
        };
        let (mut precopy_waits, mut held_at_port) = (Vec::new(), 0);
        for x in exchanges.iter().filter(|x| !x.lost) {
            let (sent, arrived) = (x.tb_true_ns - x.forward_ns, x.te_true_ns + path_ns);
            let (extra_out, extra_in) = (x.forward_ns - path_ns, x.backward_ns - path_ns);
            let want_out = match during(sent) {
                Some(t) if x.daemon < 2 => plan.source_nic_wait(t).as_nanos(),
                _ => 0,
            };
            assert_eq!(extra_out, want_out, "{x:?}");
            if x.daemon < 2 && during(sent).is_some_and(|t| t < round0) {
                precopy_waits.push(extra_out as f64);
            }
            let want_in = match during(arrived) {
                Some(t) if x.daemon == 2 => plan.destination_port_wait(t).as_nanos(),
                _ => 0,
            };
            assert_eq!(extra_in, want_in, "{x:?}");
            assert!(extra_in <= 11_584, "{x:?}");
            held_at_port += usize::from(extra_in > 0);
        }
        assert!(held_at_port > 0, "no reply met a burst at the destination");
        let (burst_ns, slot_ns) = (819_200.0, 7_812_000.0);
        let n = precopy_waits.len() as f64;
        assert!(n > 600.0, "{n} requests during the first round");
        let share = precopy_waits.iter().filter(|&&w| w > 0.0).count() as f64 / n;
        let mean_ns = precopy_waits.iter().sum::<f64>() / n;
        println!("{n} requests in round 0: {share:.3} delayed, {mean_ns:.0} ns mean added delay");
        assert!(
            (share - burst_ns / slot_ns).abs() < 0.015,
            "{share} delayed"
        );
        let want_ns = burst_ns * burst_ns / (2.0 * slot_ns);
        assert!(
            (mean_ns / want_ns - 1.0).abs() < 0.1,
            "{mean_ns} ns vs {want_ns}"
        );
        let moved: Vec<&ExchangeRecord> = exchanges
            .iter()
            .filter(|x| x.daemon == 1 && x.ta_true_ns > end.as_nanos() && !x.lost)
            .collect();
        assert!(moved.len() > 20, "{} exchanges after the move", moved.len());
    }

    /// A follower runs its guest's kernel in lockstep with the leader's, so
    /// at failover that kernel still holds the pvclock "last value" of the
    /// leader's timer-tick reads, replayed up to one log latency before the
    /// failure. On a follower host whose system time is behind (its
    /// platform crystal 100 ppm slow: ~10 ms after 100 s), the guest's Xen
    /// clocksource holds at that value rather than stepping back, until the
    /// new host's system time passes it; from then on it reads that time.
    #[test]
    fn a_failover_holds_the_xen_clocksource_at_the_leaders_last_value() {
        let mut world = probed_world();
        world.add_host(&xen_host("leader", 2_000_000_000)).unwrap();
        let mut slow_host = xen_host("follower", 2_000_000_000);
        slow_host.platform_crystal.skew_ppm = -100.0;
        world.add_host(&slow_host).unwrap();
        let (leader, follower) = (
            GuestRef { host: 0, domain: 1 },
            GuestRef { host: 1, domain: 1 },
        );
        let at = SimTime::from_secs(100);
        let cfg = ReplicationConfig::default();
        world
            .add_failover(leader, follower, at, &cfg, None)
            .unwrap();
        let mut engine = started(world);
        engine.run_until(at + SimDuration::from_nanos(1));
        let hosts = &mut engine.model_mut().hosts;
        let xcs = CounterSource::XenClocksource;
        let leader_ns = hosts[0].value_at(xcs, at, 0);
        let behind_ns = leader_ns - hosts[1].value_at(xcs, at, 0);
        assert!(behind_ns > 5_000_000, "follower behind by {behind_ns} ns");
        let replayed_ns = leader_ns - cfg.link().latency.as_nanos();
        let mut ext = WrapExtender::new(64);
        let mut rng = SimRng::seed_from_u64(1);
        let mut read = |hosts: &mut Vec<Host>, t: SimTime| {
            hosts[1]
                .read(xcs, follower.domain, t, 0, &mut ext, &mut rng)
                .counter
        };
        let held = read(hosts, at + SimDuration::from_micros(1));
        assert_eq!(
            held as i64 - replayed_ns as i64,
            0,
            "read after failover minus the leader's last replayed value, ns"
        );
        // Once the follower's system time has passed it, the guest reads
        // that time, ~10 ms behind the leader's: the hold is no offset.
        let later = at + SimDuration::from_nanos(2 * behind_ns);
        let own_ns = hosts[1].value_at(xcs, later, 0);
        let after = read(hosts, later);
        assert!(
            after >= own_ns && after - own_ns < 10_000,
            "{after} vs {own_ns}"
        );
    }

    #[test]
    fn fold_blocks_are_bounded_in_bytes_beyond_sixteen_clocks() {
        for clocks in [0, 1, 16] {
            assert_eq!(fold_rows(clocks), FOLD_ROWS, "{clocks} clocks");
        }
        assert_eq!(fold_rows(17), FOLD_BLOCK_BYTES / (8 * 17));
        assert!(fold_rows(1000) * 1000 * 8 <= FOLD_BLOCK_BYTES);
        assert_eq!(fold_rows(1_000_000), MIN_FOLD_ROWS);
    }

    #[test]
    fn rate_tracker_measures_over_spans_and_rejects_jumps() {
        let nominal = 1e9;
        let skewed = nominal * (1.0 - 31e-6);
        let count = |s: f64| (s * skewed) as u64;
        let mut r = RateTracker::default();
        let at = |s: u64| SimTime::from_secs(s);
        // Nominal until a span of RATE_SPAN has been seen.
        assert_eq!(r.observe(at(0), count(0.0), nominal), nominal);
        assert_eq!(r.observe(at(1), count(1.0), nominal), nominal);
        let measured = r.observe(at(16), count(16.0), nominal);
        assert!((measured / skewed - 1.0).abs() < 1e-9, "{measured}");
        // Kept between spans.
        assert_eq!(r.observe(at(17), count(17.0), nominal), measured);
        // A counter that jumped (a move to another host) is not a rate.
        let jumped = r.observe(at(40), count(40.0) + 1_000_000_000, nominal);
        assert_eq!(jumped, nominal);
    }
}
