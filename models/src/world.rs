//! The simulated world: hosts, servers, paths and daemons wired into one
//! event-driven model, with probes comparing every clock against true time.
//!
//! One exchange, end to end (DESIGN.md §3):
//!
//! ```text
//!  Poll ─▶ kernel stamps Ta ─▶ forward path ─▶ AtServer (Tb, Te) ─▶ backward path
//!       ─▶ AtClient: kernel stamps Tf ─▶ algorithm.on_exchange ─▶ next Poll
//!  Probe (every probe interval): error = clock(counter(t)) − t for every clock
//! ```
//!
//! The world does no I/O: records (error samples, exchanges, algorithm
//! traces) accumulate in [`Records`], which the runner drains between run
//! slices, so memory stays bounded however long the run.

use algorithms::{AlgorithmConfig, ClockTime, CounterInfo, Exchange, SyncAlgorithm};
use sim_core::stats::Summary;
use sim_core::{Model, RngStreams, Scheduler, SimDuration, SimRng, SimTime};

use crate::counter::{CounterKind, WrapExtender};
use crate::host::{Host, HostConfig};
use crate::network::{Path, PathConfig};
use crate::server::{Server, ServerConfig};

/// Where a daemon runs and whom it asks.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonSpec {
    /// Name, unique in the world; also the name of its clock.
    pub name: String,
    /// Index of the host it runs on.
    pub host: usize,
    /// The counter it stamps with.
    pub counter: CounterKind,
    /// The CPU core whose counter it reads (matters for per-core TSC offsets).
    pub core: usize,
    /// (server index, path index) for each server it polls.
    pub servers: Vec<(usize, usize)>,
    /// The algorithm it drives.
    pub algorithm: AlgorithmConfig,
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
    /// True forward one-way delay (NIC to server), ns.
    pub forward_ns: u64,
    /// True backward one-way delay (server to client NIC), ns.
    pub backward_ns: u64,
    /// The packet or its reply was lost (or the server was out).
    pub lost: bool,
    /// The daemon's clock error at Tf after processing the exchange, seconds.
    pub error_s: f64,
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

/// Streaming metrics of one clock.
#[derive(Clone, Debug, Default)]
pub struct ClockMetrics {
    /// Errors on the probe grid (after `metrics_from`), seconds.
    pub grid: Summary,
    /// Errors at each exchange's Tf (after `metrics_from`), seconds.
    pub at_exchange: Summary,
}

/// Describes a clock the probes follow.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockInfo {
    /// Clock name.
    pub name: String,
    /// Where it is read (host or domain name).
    pub domain: String,
    /// Algorithm name.
    pub algorithm: String,
}

/// An exchange in flight.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    xid: u64,
    slot: usize,
    ta: u64,
    ta_true: SimTime,
    tb: f64,
    te: f64,
    tb_true: SimTime,
    te_true: SimTime,
    stratum: u8,
    changed: bool,
}

struct Daemon {
    name: String,
    host: usize,
    counter_idx: usize,
    core: usize,
    info: CounterInfo,
    servers: Vec<(usize, usize)>,
    /// `None` for the oracle, which reads true time.
    alg: Option<Box<dyn SyncAlgorithm>>,
    oracle_poll_ticks: u64,
    oracle_next: u64,
    extender: WrapExtender,
    inflight: Vec<InFlight>,
    next_xid: u64,
    poll_gen: u64,
    trace_width: usize,
}

/// The world's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// A reply reaches the client's NIC.
    AtClient {
        /// Daemon index.
        daemon: u32,
        /// Exchange id.
        xid: u64,
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

/// The simulated world.
pub struct World {
    streams: RngStreams,
    hosts: Vec<Host>,
    servers: Vec<Server>,
    paths: Vec<Path>,
    daemons: Vec<Daemon>,
    clocks: Vec<ClockInfo>,
    metrics: Vec<ClockMetrics>,
    probe: ProbeSpec,
    probe_count: u64,
    records: Records,
    scratch: Vec<f64>,
}

impl World {
    /// An empty world whose components draw from streams of `seed`.
    pub fn new(seed: u64, probe: ProbeSpec) -> Self {
        World {
            streams: RngStreams::new(seed),
            hosts: Vec::new(),
            servers: Vec::new(),
            paths: Vec::new(),
            daemons: Vec::new(),
            clocks: Vec::new(),
            metrics: Vec::new(),
            probe,
            probe_count: 0,
            records: Records::default(),
            scratch: Vec::with_capacity(32),
        }
    }

    fn stream(&self, name: &str) -> SimRng {
        self.streams.stream(name)
    }

    /// Adds a host; returns its index.
    pub fn add_host(&mut self, cfg: &HostConfig) -> usize {
        let streams = self.streams;
        self.hosts.push(Host::new(cfg, &|n| streams.stream(n)));
        self.hosts.len() - 1
    }

    /// Adds a server; returns its index.
    pub fn add_server(&mut self, cfg: &ServerConfig) -> usize {
        let rng = self.stream(&format!("server/{}", self.servers.len()));
        self.servers.push(Server::new(cfg, rng));
        self.servers.len() - 1
    }

    /// Adds a network path; returns its index.
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

    /// Adds a daemon and its clock; returns the daemon's index.
    pub fn add_daemon(&mut self, spec: &DaemonSpec) -> Result<usize, BuildError> {
        let host = self.hosts.get(spec.host).ok_or_else(|| {
            BuildError::Reference(format!("daemon {}: no host #{}", spec.name, spec.host))
        })?;
        let counter_idx = host.counter_index(spec.counter).ok_or_else(|| {
            BuildError::Reference(format!(
                "daemon {}: host {} has no {:?} counter",
                spec.name,
                host.name(),
                spec.counter
            ))
        })?;
        for &(s, p) in &spec.servers {
            if s >= self.servers.len() || p >= self.paths.len() {
                return Err(BuildError::Reference(format!(
                    "daemon {}: server #{s} or path #{p} does not exist",
                    spec.name
                )));
            }
        }
        let counter = host.counter(counter_idx);
        let info = CounterInfo {
            nominal_hz: counter.nominal_hz() as f64,
        };
        let extender = WrapExtender::new(counter.bits());
        let seed = {
            use rand::RngExt;
            self.stream(&format!("daemon/{}/algorithm", spec.name))
                .random::<u64>()
        };
        let alg = spec.algorithm.build(info, spec.servers.len(), seed);
        let trace_width = alg.as_ref().map_or(0, |a| a.trace_columns().len());
        let host_name = host.name().to_string();
        self.daemons.push(Daemon {
            name: spec.name.clone(),
            host: spec.host,
            counter_idx,
            core: spec.core,
            info,
            servers: spec.servers.clone(),
            alg,
            oracle_poll_ticks: info.ticks_for(spec.algorithm.poll_period_s()).max(1),
            oracle_next: 0,
            extender,
            inflight: Vec::with_capacity(4),
            next_xid: 0,
            poll_gen: 0,
            trace_width,
        });
        self.clocks.push(ClockInfo {
            name: spec.name.clone(),
            domain: host_name,
            algorithm: spec.algorithm.name().into(),
        });
        self.metrics.push(ClockMetrics::default());
        Ok(self.daemons.len() - 1)
    }

    /// The events that start a run: the first probe and every daemon's first poll.
    pub fn start(&mut self, sched: &mut impl FnMut(SimTime, Event)) {
        sched(SimTime::ZERO, Event::Probe);
        for d in 0..self.daemons.len() {
            self.schedule_poll(d, SimTime::ZERO, sched);
        }
    }

    /// The clocks being probed, in column order.
    pub fn clocks(&self) -> &[ClockInfo] {
        &self.clocks
    }

    /// Streaming metrics per clock, in column order.
    pub fn metrics(&self) -> &[ClockMetrics] {
        &self.metrics
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

    /// The clock reading of daemon `d` at counter `t`, after running its timers.
    fn read_clock(&mut self, d: usize, counter: u64, true_ns: u64) -> f64 {
        let daemon = &mut self.daemons[d];
        match daemon.alg.as_mut() {
            Some(alg) => {
                alg.advance(counter);
                alg.read(counter) - ClockTime::from_nanos(i128::from(true_ns))
            }
            None => {
                // The oracle inverts the counter exactly: only the part of a
                // tick not yet counted remains.
                let host = &mut self.hosts[daemon.host];
                let x = host.crystal_error_s(daemon.counter_idx, SimTime::from_nanos(true_ns));
                oracle_error_s(daemon.info.nominal_hz, true_ns, x)
            }
        }
    }

    fn schedule_poll(&mut self, d: usize, now: SimTime, sched: &mut impl FnMut(SimTime, Event)) {
        let daemon = &mut self.daemons[d];
        if daemon.servers.is_empty() {
            return; // a free-running clock with nobody to ask
        }
        let due = match daemon.alg.as_ref() {
            Some(alg) => alg.next_poll().map(|p| p.at),
            None => Some(daemon.oracle_next),
        };
        let Some(due) = due else { return };
        daemon.poll_gen += 1;
        let generation = daemon.poll_gen;
        let (host, idx, core, f) = (
            daemon.host,
            daemon.counter_idx,
            daemon.core,
            daemon.info.nominal_hz,
        );
        let now_count = self.hosts[host].count_at(idx, now, core);
        let wait_s = if due > now_count {
            (due - now_count) as f64 / f
        } else {
            0.0
        };
        sched(
            now + SimDuration::from_secs_f64(wait_s),
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
        let (host, idx, core) = (
            self.daemons[d].host,
            self.daemons[d].counter_idx,
            self.daemons[d].core,
        );
        let request = match self.daemons[d].alg.as_ref() {
            Some(alg) => alg.next_poll(),
            None => Some(algorithms::PollRequest {
                server: 0,
                at: self.daemons[d].oracle_next,
            }),
        };
        let Some(request) = request else { return };
        let now_count = self.hosts[host].count_at(idx, now, core);
        if now_count < request.at {
            // The counter runs slow: the timer is not due yet in counter terms.
            self.schedule_poll(d, now, sched);
            return;
        }
        let slot = request
            .server
            .min(self.daemons[d].servers.len().saturating_sub(1));
        let send_at = now + self.hosts[host].sample_stamp_latency();
        let stamp = {
            let daemon = &mut self.daemons[d];
            self.hosts[host].read(idx, send_at, core, &mut daemon.extender)
        };
        let daemon = &mut self.daemons[d];
        match daemon.alg.as_mut() {
            Some(alg) => {
                alg.advance(stamp.counter);
                alg.on_transmit(slot, stamp.counter);
            }
            None => daemon.oracle_next = stamp.counter.saturating_add(daemon.oracle_poll_ticks),
        }
        let xid = daemon.next_xid;
        daemon.next_xid += 1;
        let (_, path) = daemon.servers[slot];
        let mut flight = InFlight {
            xid,
            slot,
            ta: stamp.counter,
            ta_true: stamp.at,
            tb: 0.0,
            te: 0.0,
            tb_true: SimTime::ZERO,
            te_true: SimTime::ZERO,
            stratum: 0,
            changed: false,
        };
        match self.paths[path].forward_delay(stamp.at) {
            Some(delay) => {
                flight.tb_true = stamp.at + delay;
                self.daemons[d].inflight.push(flight);
                sched(
                    flight.tb_true,
                    Event::AtServer {
                        daemon: d as u32,
                        xid,
                    },
                );
            }
            None => self.record_lost(d, &flight),
        }
        self.schedule_poll(d, now, sched);
    }

    fn take_inflight(&mut self, d: usize, xid: u64) -> Option<InFlight> {
        let list = &mut self.daemons[d].inflight;
        let i = list.iter().position(|f| f.xid == xid)?;
        Some(list.swap_remove(i))
    }

    fn on_server(
        &mut self,
        now: SimTime,
        d: usize,
        xid: u64,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        let Some(mut flight) = self.take_inflight(d, xid) else {
            return;
        };
        let (server, path) = self.daemons[d].servers[flight.slot];
        let Some(reply) = self.servers[server].reply(now) else {
            self.record_lost(d, &flight);
            return;
        };
        flight.tb = reply.tb_s;
        flight.te = reply.te_s;
        flight.te_true = reply.departure;
        flight.stratum = reply.stratum;
        flight.changed = reply.changed;
        match self.paths[path].backward_delay(reply.departure) {
            Some(delay) => {
                self.daemons[d].inflight.push(flight);
                sched(
                    reply.departure + delay,
                    Event::AtClient {
                        daemon: d as u32,
                        xid,
                    },
                );
            }
            None => self.record_lost(d, &flight),
        }
    }

    fn on_client(
        &mut self,
        now: SimTime,
        d: usize,
        xid: u64,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        let Some(flight) = self.take_inflight(d, xid) else {
            return;
        };
        let (host, idx, core) = (
            self.daemons[d].host,
            self.daemons[d].counter_idx,
            self.daemons[d].core,
        );
        let stamp_at = now + self.hosts[host].sample_stamp_latency();
        let stamp = {
            let daemon = &mut self.daemons[d];
            self.hosts[host].read(idx, stamp_at, core, &mut daemon.extender)
        };
        let ex = Exchange {
            server: flight.slot,
            ta: flight.ta,
            tb: flight.tb,
            te: flight.te,
            tf: stamp.counter,
            stratum: flight.stratum,
            server_changed: flight.changed,
        };
        if let Some(alg) = self.daemons[d].alg.as_mut() {
            alg.advance(stamp.counter);
            alg.on_exchange(&ex);
        }
        let tf_true_ns = stamp.at.as_nanos();
        let error_s = self.read_clock(d, stamp.counter, tf_true_ns);
        if stamp.at >= self.probe.metrics_from && error_s.is_finite() {
            self.metrics[d].at_exchange.push(error_s);
        }
        self.records.exchanges.push(ExchangeRecord {
            daemon: d as u32,
            server: flight.slot as u32,
            ta: flight.ta,
            tb: flight.tb,
            te: flight.te,
            tf: stamp.counter,
            ta_true_ns: flight.ta_true.as_nanos(),
            tb_true_ns: flight.tb_true.as_nanos(),
            te_true_ns: flight.te_true.as_nanos(),
            tf_true_ns,
            forward_ns: flight.tb_true.saturating_since(flight.ta_true).as_nanos(),
            backward_ns: now.saturating_since(flight.te_true).as_nanos(),
            lost: false,
            error_s,
        });
        let daemon = &self.daemons[d];
        if let Some(alg) = daemon.alg.as_ref()
            && daemon.trace_width > 0
        {
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
        self.schedule_poll(d, now, sched);
    }

    fn on_probe(&mut self, now: SimTime, sched: &mut impl FnMut(SimTime, Event)) {
        let record = self.probe_count.is_multiple_of(self.probe.record_every.max(1));
        self.probe_count += 1;
        let t_ns = now.as_nanos();
        let mut row = std::mem::take(&mut self.scratch);
        row.clear();
        for d in 0..self.daemons.len() {
            let (host, idx, core) = (
                self.daemons[d].host,
                self.daemons[d].counter_idx,
                self.daemons[d].core,
            );
            let count = self.hosts[host].count_at(idx, now, core);
            let counter = match self.hosts[host].extension() {
                crate::host::CounterExtension::KernelTick => count,
                // A probe reads like the daemon would, through its extension.
                crate::host::CounterExtension::ReadsOnly => {
                    let reg = self.hosts[host].counter(idx).register_of(count);
                    {
                        let mut peek = self.daemons[d].extender;
                        peek.extend(reg)
                    }
                }
            };
            let e = self.read_clock(d, counter, t_ns);
            if now >= self.probe.metrics_from && e.is_finite() {
                self.metrics[d].grid.push(e);
            }
            row.push(e);
        }
        if record {
            self.records.error_times.push(now);
            self.records.errors.extend_from_slice(&row);
        }
        self.scratch = row;
        sched(now + self.probe.interval, Event::Probe);
    }

    fn record_lost(&mut self, d: usize, f: &InFlight) {
        self.records.exchanges.push(ExchangeRecord {
            daemon: d as u32,
            server: f.slot as u32,
            ta: f.ta,
            tb: f.tb,
            te: f.te,
            tf: 0,
            ta_true_ns: f.ta_true.as_nanos(),
            tb_true_ns: f.tb_true.as_nanos(),
            te_true_ns: f.te_true.as_nanos(),
            tf_true_ns: 0,
            forward_ns: f.tb_true.saturating_since(f.ta_true).as_nanos(),
            backward_ns: 0,
            lost: true,
            error_s: f64::NAN,
        });
    }
}

/// The oracle's error: the fraction of a tick not yet counted at true time
/// `t`, as seconds (≤ 0, above one tick).
fn oracle_error_s(nominal_hz: f64, true_ns: u64, crystal_error_s: f64) -> f64 {
    let f = nominal_hz.round() as u64;
    // frac(f·t) exactly from integers, then add f·x.
    let ticks_frac = ((u128::from(true_ns) * u128::from(f)) % 1_000_000_000) as f64 * 1e-9;
    let total = ticks_frac + crystal_error_s * nominal_hz;
    -(total - total.floor()) / nominal_hz
}

impl Model for World {
    type Event = Event;

    fn handle(&mut self, now: SimTime, event: Event, sched: &mut Scheduler<Event>) {
        let mut push = |t: SimTime, e: Event| sched.schedule(t, e);
        match event {
            Event::Probe => self.on_probe(now, &mut push),
            Event::Poll { daemon, generation } => {
                self.on_poll(now, daemon as usize, generation, &mut push)
            }
            Event::AtServer { daemon, xid } => self.on_server(now, daemon as usize, xid, &mut push),
            Event::AtClient { daemon, xid } => self.on_client(now, daemon as usize, xid, &mut push),
        }
    }
}
