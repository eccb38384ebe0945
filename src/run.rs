//! Running a scenario: build the world, drive the engine in slices, stream
//! records to CSV, then write the summary and plots.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use models::world::{
    DaemonSpec, DependentKind, DependentSpec, GuestRef, MoveOutcome, ProbeSpec, Records, World,
};
use serde::Serialize;
use sim_core::stats::Summary;
use sim_core::{CoreSplit, Engine, SimDuration, SimTime};

use anyhow::Context;

use crate::output::{Staging, named, write_atomic};
use crate::plot::{LineChart, Mark, Series, Thinned, error_chart, line_chart};
use crate::scenario::{Follows, Scenario, ScenarioEvent};

/// Error statistics of one clock, in microseconds.
///
/// With no samples (`count` 0: a clock that never synchronised, a replay
/// without true times, every packet lost) there is no median or RMS: the
/// values are NaN, written as `null` in `summary.json`. Tables print them
/// as "—" (see [`ErrorStats::table_cells`]).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ErrorStats {
    /// Samples.
    pub count: u64,
    /// Median error.
    #[serde(default = "nan", deserialize_with = "nullable")]
    pub median: f64,
    /// Interquartile range.
    #[serde(default = "nan", deserialize_with = "nullable")]
    pub iqr: f64,
    /// 1st percentile.
    #[serde(default = "nan", deserialize_with = "nullable")]
    pub p01: f64,
    /// 99th percentile.
    #[serde(default = "nan", deserialize_with = "nullable")]
    pub p99: f64,
    /// Mean error.
    #[serde(default = "nan", deserialize_with = "nullable")]
    pub mean: f64,
    /// Root mean square.
    #[serde(default = "nan", deserialize_with = "nullable")]
    pub rms: f64,
    /// Largest absolute error.
    #[serde(default = "nan", deserialize_with = "nullable")]
    pub max_abs: f64,
}

/// A value with no samples behind it.
fn nan() -> f64 {
    f64::NAN
}

/// A number that may be `null` (NaN, which JSON cannot hold).
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl Default for ErrorStats {
    /// No samples.
    fn default() -> ErrorStats {
        ErrorStats {
            count: 0,
            median: f64::NAN,
            iqr: f64::NAN,
            p01: f64::NAN,
            p99: f64::NAN,
            mean: f64::NAN,
            rms: f64::NAN,
            max_abs: f64::NAN,
        }
    }
}

impl ErrorStats {
    /// From a summary of errors in seconds: finite values, or NaN for
    /// every value when there are no (finite) samples.
    pub fn from_summary(s: &Summary) -> ErrorStats {
        let us = |v: Option<f64>| v.filter(|x| x.is_finite()).map_or(f64::NAN, |x| x * 1e6);
        let [median, q25, q75, p01, p99] = s.quantiles([0.5, 0.25, 0.75, 0.01, 0.99]);
        ErrorStats {
            count: s.count(),
            median: us(median),
            iqr: us(q75.zip(q25).map(|(hi, lo)| hi - lo)),
            p01: us(p01),
            p99: us(p99),
            mean: us(s.mean()),
            rms: us(s.rms()),
            max_abs: us(s.max_abs()),
        }
    }

    /// Median, IQR, RMS and max |e| as the columns of a text table (see
    /// [`ErrorStats::table_header`]), each "—" when missing (NaN: no samples).
    pub fn table_cells(median: f64, iqr: f64, rms: f64, max_abs: f64) -> String {
        // Three decimals while they fit the column, fewer for large values,
        // then scientific notation: the columns stay aligned.
        let cell = |v: f64, width: usize| {
            if v.is_nan() {
                return format!("{:>width$}", "—");
            }
            // A value that rounds to zero shows no sign (the oracle's −0.000).
            let v = if v.abs() < 5e-4 { 0.0 } else { v };
            (0..=3)
                .rev()
                .map(|decimals| format!("{v:>width$.decimals$}"))
                .find(|text| text.len() <= width)
                .unwrap_or_else(|| format!("{:>width$}", format!("{v:.3e}")))
        };
        format!(
            "{} {} {} {}",
            cell(median, 12),
            cell(iqr, 10),
            cell(rms, 10),
            cell(max_abs, 12)
        )
    }

    /// This clock's [`ErrorStats::table_cells`].
    pub fn cells(&self) -> String {
        Self::table_cells(self.median, self.iqr, self.rms, self.max_abs)
    }

    /// The header of [`ErrorStats::table_cells`].
    pub fn table_header() -> String {
        format!(
            "{:>12} {:>10} {:>10} {:>12}",
            "median [µs]", "IQR [µs]", "RMS [µs]", "max|e| [µs]"
        )
    }
}

/// Metrics of one clock in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ClockSummary {
    /// Clock name.
    pub name: String,
    /// Where it is read.
    pub domain: String,
    /// Algorithm.
    pub algorithm: String,
    /// Error on the probe grid, µs.
    pub error_us: ErrorStats,
    /// Error at each exchange's Tf, after processing it, µs.
    pub error_at_exchange_us: ErrorStats,
    /// Host RTT overhead per exchange (measured RTT minus the network's), µs.
    pub host_rtt_us: ErrorStats,
    /// Stability of the error at octave observation intervals, when
    /// `probes.stability_max_tau_s` asks for it (left out otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stability: Vec<StabilityPoint>,
    /// For a daemon's clock, the counter value at which the daemon started
    /// (`vtsim replay` of its exchanges starts the algorithm there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_at_start: Option<u64>,
}

/// A clock's stability over one observation interval τ: how its error
/// wanders, as frequency (OADEV, MDEV) and as time (TDEV, MTIE). A value
/// is `null` until the run holds enough samples for it (`2τ` for OADEV,
/// `3τ` for MDEV and TDEV, `τ` for MTIE, after `metrics_from_s`).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct StabilityPoint {
    /// Observation interval τ, s.
    pub tau_s: f64,
    /// Second differences behind the OADEV estimate, `N − 2m` (its
    /// confidence).
    pub n: u64,
    /// Overlapping Allan deviation (dimensionless).
    pub oadev: Option<f64>,
    /// Modified Allan deviation (dimensionless).
    pub mdev: Option<f64>,
    /// Time deviation, µs.
    pub tdev_us: Option<f64>,
    /// Maximum time interval error: the largest peak-to-peak error within
    /// any window of τ, µs.
    pub mtie_us: Option<f64>,
}

impl StabilityPoint {
    fn from_allan(p: &sim_core::stats::AllanPoint) -> Self {
        StabilityPoint {
            tau_s: p.tau_s,
            n: p.n,
            oadev: p.oadev,
            mdev: p.mdev,
            tdev_us: p.tdev.map(|v| v * 1e6),
            mtie_us: p.mtie.map(|v| v * 1e6),
        }
    }
}

/// The content of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct RunSummary {
    /// Scenario name.
    pub scenario: String,
    /// Master seed.
    pub seed: u64,
    /// Simulated duration, s.
    pub duration_s: f64,
    /// vtsim version.
    pub version: String,
    /// Events handled, in all the run's worlds. Not written to
    /// `summary.json`: a partitioned run ([`crate::partition`]) handles the
    /// processes its parts share once in each part, so the count depends on
    /// the cores the run had.
    #[serde(skip)]
    pub events: u64,
    /// Worlds the run was split into ([`crate::partition`]; 1 for one
    /// world). Not written to `summary.json`, as it depends on the cores.
    #[serde(skip)]
    pub parts: usize,
    /// Per-clock metrics.
    pub clocks: Vec<ClockSummary>,
    /// CPU accounting of the domains of Xen hosts.
    #[serde(default)]
    pub domains: Vec<DomainSummary>,
    /// Live migrations: what the migration model planned.
    #[serde(default)]
    pub migrations: Vec<MigrationSummary>,
    /// Replication failovers: what each did to the guest's counter.
    #[serde(default)]
    pub failovers: Vec<FailoverSummary>,
}

/// One live migration's plan.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct MigrationSummary {
    /// The guest that moved, `host/domN`.
    #[serde(default)]
    pub from: String,
    /// Where it runs afterwards, `host/domN`.
    #[serde(default)]
    pub to: String,
    /// True time the migration starts, s.
    #[serde(default)]
    pub start_s: f64,
    /// Method.
    pub method: String,
    /// Time from start to the pause (iterative pre-copy), s.
    pub precopy_s: f64,
    /// Guest paused, ms.
    pub downtime_ms: f64,
    /// Start to completion, s.
    pub total_s: f64,
    /// Pages sent in all.
    pub pages_total: u64,
    /// Pages sent per round.
    pub pages_per_round: Vec<u64>,
    /// Why pre-copy stopped.
    pub stop_reason: String,
    /// False when the run ended before the migration completed (its
    /// figures are then the plan's, not all observed in the run).
    #[serde(default = "completed_by_default")]
    pub completed: bool,
    /// Post-copy's network page faults (left out for pre-copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_copy: Option<PostCopySummary>,
}

/// Summaries written before `completed` existed held only completed migrations.
fn completed_by_default() -> bool {
    true
}

/// The page faults a post-copy migration left the guest to take.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct PostCopySummary {
    /// Network-bound page faults.
    pub faults: u64,
    /// Of which on the hot set (writable working set).
    pub wws_faults: u64,
    /// Cost of one fault (RTT, page transfer, service), µs.
    pub fault_cost_us: f64,
    /// Time the guest stalled on faults in all, ms.
    pub stall_total_ms: f64,
    /// From resume until every page is on the target: the window in which
    /// the guest's timestamps can carry fault stalls, s.
    pub degradation_window_s: f64,
}

/// One replication failover: the follower goes live on its own host.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct FailoverSummary {
    /// The leader guest, `host/domN`.
    pub leader: String,
    /// The follower that went live, `host/domN`.
    pub follower: String,
    /// True time of the failover, s.
    pub at_s: f64,
    /// The guest's TSC just after failover minus the leader host's count at
    /// that instant, ticks: the jump an independent clock of the guest
    /// sees (a dependent clock reads the backup Dom0's parameters instead).
    /// Without a clamp, the two hosts' counter difference; with one, minus
    /// the ticks since the guest's last replayed read.
    pub tsc_jump_ticks: i64,
    /// `tsc_jump_ticks` at the follower TSC's nominal rate, s.
    pub tsc_jump_s: f64,
    /// True when `failover_monotone` clamped a backward step.
    pub clamped: bool,
    /// Log entries in flight at failover, lost with the leader.
    pub entries_lost: u64,
    /// Largest lag between a leader's read and its replay, µs.
    pub max_log_lag_us: f64,
}

/// CPU use of one domain over the run (fractions of one CPU).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct DomainSummary {
    /// Host name.
    pub host: String,
    /// Domain index (0 = Dom0).
    pub domain: usize,
    /// CPU its own vCPUs used. Dom0's includes the netback work it does
    /// for the guests, which each guest's `dom0_on_behalf_fraction` counts
    /// again: the aggregates of all domains add up to more than the CPU used.
    pub own_cpu_fraction: f64,
    /// Dom0 CPU spent on its packets (netback).
    pub dom0_on_behalf_fraction: f64,
    /// Own plus Dom0 on its behalf: what it really cost.
    pub aggregate_cpu_fraction: f64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets dropped (stopped domain, NIC or receive ring full,
    /// ShareGuard).
    pub dropped_packets: u64,
}

/// Options of one run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Output directory (default `out/<scenario>`).
    pub out: Option<PathBuf>,
    /// Override of the scenario's seed.
    pub seed: Option<u64>,
    /// Replace an existing output directory.
    pub force: bool,
    /// Show a progress bar on long runs.
    pub progress: bool,
    /// Use the machine's other cores: run a scenario that splits in parts
    /// on threads of their own, or else generate the crystals' noise and
    /// fold the probes' statistics on helper threads (see [`execute`]).
    /// Results do not depend on it.
    pub parallel: bool,
}

impl RunOptions {
    /// The output directory a run of `s` writes.
    pub fn target(&self, s: &Scenario) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("out").join(&s.name))
    }
}

/// Whether the machine has a core to spare for one run, for its parts or
/// its helper threads ([`RunOptions::parallel`]).
pub fn spare_core() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// Hands `world`'s helper work to helper threads if `helper_threads`,
/// kept off this thread's CPU ([`sim_core::CoreSplit`]); the split lasts
/// until the returned guard is dropped, which should be once the run and
/// its summary are done.
pub fn start_helpers(world: &mut World, helper_threads: bool) -> Option<CoreSplit> {
    if !helper_threads {
        return None;
    }
    let split = CoreSplit::take();
    world.use_helper_threads();
    split
}

/// How many probe-grid samples make one row of `errors.csv`: the error
/// statistics of `summary.json` use every sample, the file one in this
/// many (`output.errors_csv_interval_s` is a whole multiple of
/// `probes.interval_s`).
pub fn errors_csv_every(s: &Scenario) -> u64 {
    (s.output.errors_csv_interval_s / s.probes.interval_s)
        .round()
        .max(1.0) as u64
}

/// Builds the world a scenario describes.
pub fn build_world(s: &Scenario) -> anyhow::Result<World> {
    let probe = ProbeSpec {
        interval: SimDuration::from_secs_f64(s.probes.interval_s),
        metrics_from: SimTime::from_secs_f64(s.probes.metrics_from_s),
        record_every: errors_csv_every(s),
        stability_max_m: s.probes.stability_max_m(s.duration_s),
    };
    let mut world = World::new(s.seed, probe);
    for h in &s.hosts {
        world.add_host(&s.host_as_run(h))?;
    }
    for sv in &s.servers {
        world.add_server(sv);
    }
    for p in &s.paths {
        world.add_path(p)?;
    }
    for d in &s.daemons {
        let host = s
            .hosts
            .iter()
            .position(|h| h.name == d.host)
            .ok_or_else(|| anyhow::anyhow!("no host {}", d.host))?;
        let servers = d
            .servers
            .iter()
            .map(|r| {
                let i = s.servers.iter().position(|sv| sv.name == r.server);
                i.map(|i| (i, r.path))
                    .ok_or_else(|| anyhow::anyhow!("no server {}", r.server))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        world.add_daemon(&DaemonSpec {
            name: d.name.clone(),
            host,
            domain: d.domain,
            counter: d.counter,
            core: d.core,
            servers,
            algorithm: d.algorithm.clone(),
        })?;
    }
    for c in &s.clocks {
        let host = s
            .hosts
            .iter()
            .position(|h| h.name == c.host)
            .ok_or_else(|| anyhow::anyhow!("no host {}", c.host))?;
        let kind = match c.follows {
            Follows::Radclock { store_latency_ms } => DependentKind::Radclock {
                store_latency: SimDuration::from_secs_f64(store_latency_ms * 1e-3),
            },
            Follows::NtpdWallclock => DependentKind::NtpdWallclock,
        };
        world.add_dependent(&DependentSpec {
            name: c.name.clone(),
            host,
            domain: c.domain,
            kind,
        })?;
    }
    let guest = |g: &crate::scenario::GuestLoc| -> anyhow::Result<GuestRef> {
        let host = s
            .hosts
            .iter()
            .position(|h| h.name == g.host)
            .ok_or_else(|| anyhow::anyhow!("no host {}", g.host))?;
        Ok(GuestRef {
            host,
            domain: g.domain,
        })
    };
    for ev in &s.events {
        match ev {
            ScenarioEvent::Migrate {
                at_s,
                from,
                to,
                migration,
                tsc_mode,
                path,
            } => {
                world.add_migration(
                    guest(from)?,
                    guest(to)?,
                    SimTime::from_secs_f64(*at_s),
                    migration,
                    *tsc_mode,
                    *path,
                )?;
            }
            ScenarioEvent::Failover {
                at_s,
                leader,
                follower,
                replication,
                path,
            } => {
                world.add_failover(
                    guest(leader)?,
                    guest(follower)?,
                    SimTime::from_secs_f64(*at_s),
                    replication,
                    *path,
                )?;
            }
        }
    }
    for dl in &s.dilation {
        world.add_dilation(
            guest(&crate::scenario::GuestLoc {
                host: dl.host.clone(),
                domain: dl.domain,
            })?,
            &dl.tdf,
            dl.dilated_reference,
        )?;
    }
    Ok(world)
}

/// One of a run's CSV files being written, with its path for errors.
struct CsvSink {
    path: PathBuf,
    w: csv::Writer<BufWriter<File>>,
}

impl CsvSink {
    /// Creates `path` and writes its header.
    fn create<I, T>(path: PathBuf, header: I) -> anyhow::Result<CsvSink>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let file = File::create(&path).map_err(|e| named("create", &path, e))?;
        let mut sink = CsvSink {
            w: csv::Writer::from_writer(BufWriter::new(file)),
            path,
        };
        sink.write(header)?;
        Ok(sink)
    }

    fn write<I, T>(&mut self, record: I) -> anyhow::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.w
            .write_record(record)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.w
            .flush()
            .map_err(|e| named("write", &self.path, e).into())
    }
}

/// Streams the rows of `errors.csv`, keeping each clock's plotted points.
struct ErrorSink {
    path: PathBuf,
    w: BufWriter<File>,
    /// Per clock, the plotted series; empty when the run draws no plots.
    plot: Vec<Thinned>,
    n_clocks: usize,
}

/// Streams each daemon's `exchanges.csv` and `trace.csv`.
struct DaemonSinks {
    exchanges: Vec<Option<CsvSink>>,
    traces: Vec<Option<CsvSink>>,
}

/// Column header of `exchanges.csv` (also read by `vtsim replay`).
pub const EXCHANGE_HEADER: [&str; 17] = [
    "server",
    "counter_hz",
    "ta",
    "tb",
    "te",
    "tf",
    "ta_true_ns",
    "tb_true_ns",
    "te_true_ns",
    "tf_true_ns",
    "forward_ns",
    "backward_ns",
    "lost",
    "error_s",
    "algorithm",
    "stratum",
    "server_changed",
];

/// A simulation time as the exact decimal of its nanoseconds (`0.3`, not
/// the `0.30000000000000004` its nearest `f64` would print as).
struct ExactSecs(SimTime);

impl std::fmt::Display for ExactSecs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.0.as_nanos();
        let (whole, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl ErrorSink {
    /// Creates `errors.csv` in `dir` with a column per clock of `names`.
    fn new(dir: &Path, names: &[String], plots: bool) -> anyhow::Result<ErrorSink> {
        let path = dir.join("errors.csv");
        let file = File::create(&path).map_err(|e| named("create", &path, e))?;
        let mut w = BufWriter::new(file);
        let mut header = String::from("t_s");
        for name in names {
            header.push_str(&format!(",{name}_error_us"));
        }
        writeln!(w, "{header}").map_err(|e| named("write", &path, e))?;
        Ok(ErrorSink {
            path,
            w,
            // Nothing to thin when no plot will be drawn.
            plot: if plots {
                vec![Thinned::new(1000); names.len()]
            } else {
                Vec::new()
            },
            n_clocks: names.len(),
        })
    }

    /// Writes rows of `errors.csv` (and keeps their plotted points): one
    /// per time, `errors` holding each row's clocks in column order.
    fn write(&mut self, times: &[SimTime], errors: &[f64]) -> anyhow::Result<()> {
        self.write_rows(times, errors)
            .map_err(|e| named("write", &self.path, e).into())
    }

    fn write_rows(&mut self, times: &[SimTime], errors: &[f64]) -> std::io::Result<()> {
        for (row, t) in times.iter().enumerate() {
            let ts = t.as_secs_f64();
            write!(self.w, "{}", ExactSecs(*t))?;
            for c in 0..self.n_clocks {
                let e = errors[row * self.n_clocks + c];
                write!(self.w, ",{}", e * 1e6)?;
                if let Some(p) = self.plot.get_mut(c) {
                    p.push(ts / 3600.0, e * 1e6);
                }
            }
            writeln!(self.w)?;
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<Vec<Thinned>> {
        self.w.flush().map_err(|e| named("write", &self.path, e))?;
        Ok(self.plot)
    }
}

impl DaemonSinks {
    /// Creates the files `s` asks for of each of `world`'s daemons, in a
    /// folder of `dir` named after it.
    fn new(dir: &Path, s: &Scenario, world: &World) -> anyhow::Result<DaemonSinks> {
        let mut exchanges = Vec::new();
        let mut traces = Vec::new();
        for (i, name) in world.daemon_names().enumerate() {
            let ddir = dir.join(name);
            if s.output.exchanges || s.output.trace {
                std::fs::create_dir_all(&ddir).map_err(|e| named("create directory", &ddir, e))?;
            }
            exchanges.push(if s.output.exchanges {
                Some(CsvSink::create(
                    ddir.join("exchanges.csv"),
                    EXCHANGE_HEADER,
                )?)
            } else {
                None
            });
            let cols = world.trace_columns(i);
            traces.push(if s.output.trace && !cols.is_empty() {
                let mut header = vec!["tf", "tf_true_s"];
                header.extend_from_slice(cols);
                Some(CsvSink::create(ddir.join("trace.csv"), header)?)
            } else {
                None
            });
        }
        Ok(DaemonSinks { exchanges, traces })
    }

    /// Writes the exchanges and trace rows of `r`.
    fn write(&mut self, world: &World, r: &Records) -> anyhow::Result<()> {
        let clocks = world.clocks();
        for x in &r.exchanges {
            if let Some(w) = self.exchanges[x.daemon as usize].as_mut() {
                let hz = world.counter_hz(x.daemon as usize);
                w.write([
                    x.server.to_string(),
                    hz.to_string(),
                    x.ta.to_string(),
                    x.tb.to_string(),
                    x.te.to_string(),
                    if x.lost {
                        String::new()
                    } else {
                        x.tf.to_string()
                    },
                    x.ta_true_ns.to_string(),
                    x.tb_true_ns.to_string(),
                    x.te_true_ns.to_string(),
                    if x.lost {
                        String::new()
                    } else {
                        x.tf_true_ns.to_string()
                    },
                    x.forward_ns.to_string(),
                    x.backward_ns.to_string(),
                    u8::from(x.lost).to_string(),
                    if x.lost {
                        String::new()
                    } else {
                        x.error_s.to_string()
                    },
                    clocks[x.daemon as usize].algorithm.clone(),
                    if x.lost {
                        String::new()
                    } else {
                        x.stratum.to_string()
                    },
                    if x.lost {
                        String::new()
                    } else {
                        u8::from(x.server_changed).to_string()
                    },
                ])?;
            }
        }
        for &(d, tf, tf_true_ns, offset) in &r.trace_rows {
            if let Some(w) = self.traces[d as usize].as_mut() {
                let width = world.trace_columns(d as usize).len();
                let mut rec = vec![
                    tf.to_string(),
                    ExactSecs(SimTime::from_nanos(tf_true_ns)).to_string(),
                ];
                rec.extend(
                    r.trace_values[offset..offset + width]
                        .iter()
                        .map(|v| v.to_string()),
                );
                w.write(&rec)?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        for w in self
            .exchanges
            .iter_mut()
            .chain(self.traces.iter_mut())
            .flatten()
        {
            w.flush()?;
        }
        Ok(())
    }
}

/// The length of [`drive`]'s slices of a run of `duration`, ns.
///
/// Slices bound the memory of buffered records and pace the progress bar:
/// 256 of them, but none longer than an hour of simulated time, so the
/// records held at once do not grow with the run's length.
fn slice_ns(duration: SimTime) -> u64 {
    const SLICES: u64 = 256;
    const MAX_SLICE_NS: u64 = 3_600_000_000_000;
    (duration.as_nanos() / SLICES).clamp(1, MAX_SLICE_NS)
}

/// Runs the world for `duration`, calling `progress(fraction)` between
/// slices and `drain` with the records of each slice.
pub fn drive(
    world: World,
    duration: SimTime,
    mut drain: impl FnMut(&World, &mut Records) -> anyhow::Result<()>,
    mut progress: impl FnMut(f64),
) -> anyhow::Result<(World, u64)> {
    let mut engine = Engine::new(world);
    // Registered before the other initial events, so the probe at time
    // zero comes first among the events due then.
    let every = engine.model().probe_interval();
    engine.schedule_every(SimTime::ZERO, every, models::world::Event::Probe);
    let mut initial = Vec::new();
    engine.model_mut().start(&mut |t, e| initial.push((t, e)));
    for (t, e) in initial {
        engine.schedule(t, e);
    }
    let step = slice_ns(duration);
    let mut until = SimTime::ZERO;
    while until < duration {
        until = SimTime::from_nanos((until.as_nanos() + step).min(duration.as_nanos()));
        engine.run_until(until);
        let w = engine.model_mut();
        let mut records = std::mem::take(w.records_mut());
        drain(engine.model(), &mut records)?;
        *engine.model_mut().records_mut() = records;
        progress(until.as_nanos() as f64 / duration.as_nanos() as f64);
    }
    let events = engine.events();
    Ok((engine.into_model(), events))
}

/// The domains' CPU use over a run of `duration_s` from their accounts.
fn domain_summaries(
    accounts: Vec<(String, usize, models::xen::DomainCpu)>,
    duration_s: f64,
) -> Vec<DomainSummary> {
    let secs = duration_s.max(1e-9);
    accounts
        .into_iter()
        .map(|(host, domain, c)| {
            let own = c.own_cpu_ns as f64 * 1e-9 / secs;
            let dom0 = c.dom0_on_behalf_ns as f64 * 1e-9 / secs;
            DomainSummary {
                host,
                domain,
                own_cpu_fraction: own,
                dom0_on_behalf_fraction: dom0,
                aggregate_cpu_fraction: own + dom0,
                rx_packets: c.rx_packets,
                tx_packets: c.tx_packets,
                dropped_packets: c.dropped_packets,
            }
        })
        .collect()
}

/// Summarises a finished world.
pub fn summarize(s: &Scenario, world: &mut World, events: u64) -> RunSummary {
    let domains = domain_summaries(
        world.cpu_accounts(SimTime::from_secs_f64(s.duration_s)),
        s.duration_s,
    );
    let infos = world.clocks().to_vec();
    let starts: Vec<_> = (0..infos.len())
        .map(|i| world.clock_start_counter(i))
        .collect();
    let mut migrations = Vec::new();
    let mut failovers = Vec::new();
    for m in world.moves() {
        let (from, to) = (m.from, m.to);
        match m.outcome {
            MoveOutcome::Migration(p) => migrations.push(MigrationSummary {
                from,
                to,
                start_s: m.start.as_secs_f64(),
                method: format!("{:?}", p.method),
                precopy_s: p.precopy_time.as_secs_f64(),
                downtime_ms: p.downtime.as_secs_f64() * 1e3,
                total_s: p.total_time.as_secs_f64(),
                pages_total: p.pages_total,
                pages_per_round: p.rounds.iter().map(|r| r.pages_sent).collect(),
                stop_reason: p
                    .stop_reason
                    .map_or_else(|| "none".to_string(), |r| format!("{r:?}")),
                completed: (m.start + p.total_time).as_secs_f64() <= s.duration_s,
                post_copy: p.post_copy.map(|pc| PostCopySummary {
                    faults: pc.faults,
                    wws_faults: pc.wws_faults,
                    fault_cost_us: pc.fault_cost.as_secs_f64() * 1e6,
                    stall_total_ms: pc.stall_total.as_secs_f64() * 1e3,
                    degradation_window_s: pc.degradation_window.as_secs_f64(),
                }),
            }),
            // A failover at the run's very end has not happened.
            MoveOutcome::Failover {
                report: Some(r),
                max_log_lag,
                follower_tsc_hz,
            } => failovers.push(FailoverSummary {
                leader: from,
                follower: to,
                at_s: r.at.as_secs_f64(),
                tsc_jump_ticks: r.jump_ticks.clamp(i64::MIN.into(), i64::MAX.into()) as i64,
                tsc_jump_s: r.jump_ticks as f64 / follower_tsc_hz as f64,
                clamped: r.clamped,
                entries_lost: r.entries_lost,
                max_log_lag_us: max_log_lag.as_secs_f64() * 1e6,
            }),
            MoveOutcome::Failover { report: None, .. } => {}
        }
    }
    RunSummary {
        migrations,
        failovers,
        domains,
        scenario: s.name.clone(),
        seed: s.seed,
        duration_s: s.duration_s,
        version: env!("CARGO_PKG_VERSION").to_string(),
        events,
        parts: 1,
        clocks: infos
            .into_iter()
            .zip(starts)
            .zip(world.metrics())
            .map(|((c, counter_at_start), m)| ClockSummary {
                name: c.name,
                domain: c.domain,
                algorithm: c.algorithm,
                error_us: ErrorStats::from_summary(m.grid),
                error_at_exchange_us: ErrorStats::from_summary(m.at_exchange),
                host_rtt_us: ErrorStats::from_summary(m.host_rtt),
                stability: m.stability.map_or_else(Vec::new, |a| {
                    a.points().iter().map(StabilityPoint::from_allan).collect()
                }),
                counter_at_start,
            })
            .collect(),
    }
}

/// A table column's width: the longest of `cells` (in characters), at
/// least `min`.
pub(crate) fn column_width<S: AsRef<str>>(cells: impl Iterator<Item = S>, min: usize) -> usize {
    cells
        .map(|c| c.as_ref().chars().count())
        .fold(min, usize::max)
}

/// Width of the first column of the run's tables: the longest clock name,
/// at least 28 characters.
fn name_width(summary: &RunSummary) -> usize {
    column_width(summary.clocks.iter().map(|c| &c.name), 28)
}

/// The clocks' errors on the probe grid as a text table, or `None` when the
/// run has no clock.
pub fn error_table(summary: &RunSummary) -> Option<String> {
    if summary.clocks.is_empty() {
        return None;
    }
    let w = name_width(summary);
    let mut t = format!("{:<w$} {}\n", "clock", ErrorStats::table_header());
    for c in &summary.clocks {
        t.push_str(&format!("{:<w$} {}\n", c.name, c.error_us.cells()));
    }
    if summary.clocks.iter().any(|c| c.error_us.count == 0) {
        t.push_str("— = no samples\n");
    }
    Some(t)
}

/// The stability metrics as a text table, TDEV and MTIE per clock at every
/// fourth octave of τ (1, 16, 256, … probe intervals) and the longest, or
/// `None` when the run computed none. "—" marks a τ the run was too short to estimate.
pub fn stability_table(summary: &RunSummary) -> Option<String> {
    let first = summary.clocks.iter().find(|c| !c.stability.is_empty())?;
    let mut taus: Vec<f64> = first.stability.iter().step_by(4).map(|p| p.tau_s).collect();
    if let Some(last) = first.stability.last()
        && taus.last() != Some(&last.tau_s)
    {
        taus.push(last.tau_s);
    }
    let w = name_width(summary);
    let mut t = format!("{:<w$} {:<10}", "stability", "τ [s]");
    for tau in &taus {
        t.push_str(&format!(" {tau:>10}"));
    }
    t.push('\n');
    let cell = |v: Option<f64>| v.map_or_else(|| format!("{:>10}", "—"), |v| format!(" {v:>9.3}"));
    for c in summary.clocks.iter().filter(|c| !c.stability.is_empty()) {
        let at = |tau: f64| c.stability.iter().find(|p| p.tau_s == tau);
        for (i, (label, pick)) in [
            (
                "TDEV [µs]",
                (|p: &StabilityPoint| p.tdev_us) as fn(&StabilityPoint) -> Option<f64>,
            ),
            ("MTIE [µs]", |p: &StabilityPoint| p.mtie_us),
        ]
        .into_iter()
        .enumerate()
        {
            let name = if i == 0 { c.name.as_str() } else { "" };
            t.push_str(&format!("{name:<w$} {label:<10}"));
            for &tau in &taus {
                t.push_str(&format!(" {}", cell(at(tau).and_then(pick))));
            }
            t.push('\n');
        }
    }
    Some(t)
}

/// The run's moves to mark on the error figure: each migration from its
/// start to the guest running at the destination, each failover's instant,
/// in the panels of the clocks of the guest that moved.
fn marks(summary: &RunSummary) -> Vec<Mark> {
    let of_guest = |domain: &str| -> Vec<usize> {
        let clocks = summary.clocks.iter().enumerate();
        clocks
            .filter(|(_, c)| c.domain == domain)
            .map(|(i, _)| i)
            .collect()
    };
    let migrations = summary.migrations.iter().enumerate().map(|(i, m)| Mark {
        from_h: m.start_s / 3600.0,
        to_h: (m.start_s + m.total_s) / 3600.0,
        label: format!("migration {}: {} → {}", i + 1, m.from, m.to),
        series: of_guest(&m.from),
    });
    let failovers = summary.failovers.iter().map(|f| Mark {
        from_h: f.at_s / 3600.0,
        to_h: f.at_s / 3600.0,
        label: format!("failover: {} → {}", f.leader, f.follower),
        series: of_guest(&f.leader),
    });
    migrations.chain(failovers).collect()
}

/// The migrations and failovers as a text table (what each did to the
/// guest), or `None` when the run had none.
pub fn moves_table(summary: &RunSummary) -> Option<String> {
    if summary.migrations.is_empty() && summary.failovers.is_empty() {
        return None;
    }
    let names: Vec<String> = summary
        .migrations
        .iter()
        .map(|m| format!("{} → {}", m.from, m.to))
        .chain(
            summary
                .failovers
                .iter()
                .map(|f| format!("{} → {}", f.leader, f.follower)),
        )
        .collect();
    let w = column_width(names.iter(), 28);
    let mut names = names.into_iter();
    let mut t = String::new();
    if !summary.migrations.is_empty() {
        t.push_str(&format!(
            "{:<w$} {:<11} {:>9} {:>9} {:>10} {:>9} {:>6} {:>9}  {}\n",
            "migration",
            "method",
            "start [s]",
            "copy [s]",
            "down [ms]",
            "total [s]",
            "rounds",
            "pages",
            "stopped by"
        ));
        for (m, name) in summary.migrations.iter().zip(names.by_ref()) {
            let stop = match (m.completed, m.stop_reason.as_str()) {
                (false, _) => "(not completed)",
                (true, "none") => "—",
                (true, reason) => reason,
            };
            t.push_str(&format!(
                "{name:<w$} {:<11} {:>9.1} {:>9.3} {:>10.3} {:>9.3} {:>6} {:>9}  {stop}\n",
                m.method,
                m.start_s,
                m.precopy_s,
                m.downtime_ms,
                m.total_s,
                m.pages_per_round.len(),
                m.pages_total,
            ));
        }
        let unfinished = summary.migrations.iter().filter(|m| !m.completed).count();
        if unfinished > 0 {
            t.push_str(&format!(
                "({unfinished} of these did not complete before the run ended: their figures are \
                 the plan's; `completed: false` in summary.json)\n"
            ));
        }
    }
    if !summary.failovers.is_empty() {
        t.push_str(&format!(
            "{:<w$} {:>9} {:>14} {:>8} {:>13} {:>6}\n",
            "failover", "at [s]", "TSC jump [s]", "clamped", "log lag [µs]", "lost"
        ));
        for (f, name) in summary.failovers.iter().zip(names) {
            t.push_str(&format!(
                "{name:<w$} {:>9.1} {:>14.6} {:>8} {:>13.1} {:>6}\n",
                f.at_s,
                f.tsc_jump_s,
                if f.clamped { "yes" } else { "no" },
                f.max_log_lag_us,
                f.entries_lost
            ));
        }
    }
    Some(t)
}

/// The Xen domains' CPU use as a text table, or `None` when there are no
/// Xen hosts or no domain used enough CPU to show in it (idle guests that
/// only keep time: `summary.json` keeps the exact fractions).
pub fn domains_table(summary: &RunSummary) -> Option<String> {
    // Below half of the last digit shown, every cell would read 0.000.
    if summary
        .domains
        .iter()
        .all(|d| d.aggregate_cpu_fraction < 5e-4)
    {
        return None;
    }
    let label = |d: &DomainSummary| format!("{}/dom{}", d.host, d.domain);
    let w = column_width(summary.domains.iter().map(label), 28);
    let mut t = format!(
        "{:<w$} {:>12} {:>12} {:>12}\n",
        "domain (CPU, of one pCPU)", "own", "Dom0 for it", "aggregate"
    );
    for d in &summary.domains {
        t.push_str(&format!(
            "{:<w$} {:>12.3} {:>12.3} {:>12.3}\n",
            label(d),
            d.own_cpu_fraction,
            d.dom0_on_behalf_fraction,
            d.aggregate_cpu_fraction
        ));
    }
    Some(t)
}

/// Writes `stability.csv` (one row per clock and τ) and, with `plots`,
/// OADEV, TDEV and MTIE against τ per clock ([`stability_plots`]).
fn write_stability(
    dir: &Path,
    name: &str,
    summary: &RunSummary,
    plots: bool,
) -> anyhow::Result<()> {
    let cell = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["clock", "tau_s", "n", "oadev", "mdev", "tdev_us", "mtie_us"])?;
    for c in &summary.clocks {
        for p in &c.stability {
            w.write_record([
                c.name.clone(),
                p.tau_s.to_string(),
                p.n.to_string(),
                cell(p.oadev),
                cell(p.mdev),
                cell(p.tdev_us),
                cell(p.mtie_us),
            ])?;
        }
    }
    write_atomic(&dir.join("stability.csv"), &w.into_inner()?)?;
    if !plots {
        return Ok(());
    }
    let clocks: Vec<(String, &[StabilityPoint])> = summary
        .clocks
        .iter()
        .map(|c| (c.name.clone(), c.stability.as_slice()))
        .collect();
    stability_plots(dir, "stability", name, &clocks)
}

/// Draws `<prefix>_oadev`, `<prefix>_tdev` and `<prefix>_mtie` (log-log,
/// one line per named clock, with their data as CSV) in `dir`.
pub(crate) fn stability_plots(
    dir: &Path,
    prefix: &str,
    title: &str,
    clocks: &[(String, &[StabilityPoint])],
) -> anyhow::Result<()> {
    type Pick = fn(&StabilityPoint) -> Option<f64>;
    let charts: [(&str, &str, &str, Pick); 3] = [
        ("oadev", "overlapping Allan deviation", "OADEV", |p| p.oadev),
        ("tdev", "time deviation", "TDEV [µs]", |p| p.tdev_us),
        ("mtie", "maximum time interval error", "MTIE [µs]", |p| {
            p.mtie_us
        }),
    ];
    for (metric, what, y_label, pick) in charts {
        let series: Vec<Series> = clocks
            .iter()
            .map(|(name, points)| Series {
                name: name.clone(),
                points: points
                    .iter()
                    .filter_map(|p| pick(p).map(|v| (p.tau_s, v)))
                    .collect(),
            })
            .collect();
        let stem = format!("{prefix}_{metric}");
        let title = format!("{title}: {what} of the clock error");
        line_chart(
            dir,
            &stem,
            &LineChart {
                title: &title,
                x_label: "observation interval τ [s]",
                y_label,
                series: &series,
                points: false,
                log_x: true,
                log_y: true,
            },
        )
        .map_err(|e| anyhow::anyhow!("plotting {stem}: {e}"))?;
    }
    Ok(())
}

/// Runs a scenario into its output directory; returns the directory and summary.
pub fn run_scenario(
    scenario: &Scenario,
    opts: &RunOptions,
) -> anyhow::Result<(PathBuf, RunSummary)> {
    let mut s = scenario.clone();
    if let Some(seed) = opts.seed {
        s.seed = seed;
    }
    let staging = Staging::new(&opts.target(&s), opts.force)?;
    let names = clock_names(&s);
    let mut errors = ErrorSink::new(staging.dir(), &names, s.output.plots)?;
    let bar = crate::progress::DelayedBar::new(opts.progress, &s.name);
    let summary = execute(
        &s,
        opts.parallel,
        Some(staging.dir()),
        |times, e| errors.write(times, e),
        |f| bar.set_fraction(f),
    )?;
    bar.finish();
    let plot = errors.finish()?;
    write_atomic(
        &staging.dir().join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    write_atomic(&staging.dir().join("scenario.ron"), s.to_ron().as_bytes())?;
    if summary.clocks.iter().any(|c| !c.stability.is_empty()) {
        write_stability(staging.dir(), &s.name, &summary, s.output.plots)?;
    }
    // A run without clocks has no error to plot: no empty chart either.
    if s.output.plots && !names.is_empty() {
        let series: Vec<Series> = names
            .into_iter()
            .zip(plot)
            .map(|(name, t)| Series {
                name,
                points: t.into_points(),
            })
            .collect();
        let title = format!("{}: clock error", s.name);
        error_chart(staging.dir(), "errors", &title, &series, &marks(&summary))
            .map_err(|e| anyhow::anyhow!("plotting: {e}"))?;
    }
    let dir = staging.commit()?;
    Ok((dir, summary))
}

/// The clocks of a run of `s`, in column order: its daemons', then its
/// dependent clocks.
fn clock_names(s: &Scenario) -> Vec<String> {
    s.daemons
        .iter()
        .map(|d| d.name.clone())
        .chain(s.clocks.iter().map(|c| c.name.clone()))
        .collect()
}

/// Runs `s` and summarises it.
///
/// With `parallel`, a scenario that splits ([`crate::partition`]) runs in
/// as many parts as there are cores, each on a thread of its own; one that
/// does not runs with helper threads ([`World::use_helper_threads`]).
/// Without, it runs on this thread alone. The results are the same.
///
/// `files`, if given, is the folder for each daemon's `exchanges.csv` and
/// `trace.csv`. `rows` receives the rows of `errors.csv` slice by slice
/// (their times, and each row's errors in the run's column order, s), and
/// `progress` the fraction of the run done.
pub fn execute(
    s: &Scenario,
    parallel: bool,
    files: Option<&Path>,
    mut rows: impl FnMut(&[SimTime], &[f64]) -> anyhow::Result<()>,
    progress: impl FnMut(f64),
) -> anyhow::Result<RunSummary> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = if parallel {
        crate::partition::split(s, cores)
    } else {
        Vec::new()
    };
    if parts.len() > 1 {
        return execute_parts(s, &parts, files, rows, progress);
    }
    let mut world = build_world(s)?;
    let split = start_helpers(&mut world, parallel);
    let mut sinks = files.map(|d| DaemonSinks::new(d, s, &world)).transpose()?;
    let (mut world, events) = drive(
        world,
        SimTime::from_secs_f64(s.duration_s),
        |w, r| {
            rows(&r.error_times, &r.errors)?;
            if let Some(k) = sinks.as_mut() {
                k.write(w, r)?;
            }
            r.clear();
            Ok(())
        },
        progress,
    )?;
    if let Some(k) = sinks {
        k.finish()?;
    }
    let summary = summarize(s, &mut world, events);
    drop(split);
    Ok(summary)
}

/// One slice of a part's `errors.csv` rows, in the part's columns.
struct PartRows {
    times: Vec<SimTime>,
    errors: Vec<f64>,
}

/// A part that stopped because the run no longer takes its rows (another
/// part failed, or writing the rows did): not the error to report.
#[derive(Debug, thiserror::Error)]
#[error("the run stopped")]
struct Stopped;

/// What a part hands back.
struct PartResult {
    summary: RunSummary,
    accounts: Vec<(String, usize, models::xen::DomainCpu)>,
}

/// [`execute`] of `s` in `parts`, each on a thread of its own: the rows of
/// each slice are joined as every part delivers them (so no part runs more
/// than two slices ahead of the slowest), and the summaries merged.
fn execute_parts(
    s: &Scenario,
    parts: &[crate::partition::Part],
    files: Option<&Path>,
    mut rows: impl FnMut(&[SimTime], &[f64]) -> anyhow::Result<()>,
    mut progress: impl FnMut(f64),
) -> anyhow::Result<RunSummary> {
    let duration = SimTime::from_secs_f64(s.duration_s);
    let slices = duration.as_nanos().div_ceil(slice_ns(duration)).max(1);
    let n_clocks = s.daemons.len();
    let results = std::thread::scope(|scope| {
        let mut receivers = Vec::new();
        let mut handles = Vec::new();
        for (index, part) in parts.iter().enumerate() {
            let (tx, rx) = std::sync::mpsc::sync_channel::<PartRows>(2);
            receivers.push(rx);
            handles.push(scope.spawn(move || -> anyhow::Result<PartResult> {
                // A part per CPU, each kept on its own (see `pin_worker`).
                sim_core::pin_worker(index, parts.len());
                let world = build_world(&part.scenario)?;
                let mut sinks = files
                    .map(|d| DaemonSinks::new(d, &part.scenario, &world))
                    .transpose()?;
                let (mut world, events) = drive(
                    world,
                    duration,
                    |w, r| {
                        if let Some(k) = sinks.as_mut() {
                            k.write(w, r)?;
                        }
                        let slice = PartRows {
                            times: std::mem::take(&mut r.error_times),
                            errors: std::mem::take(&mut r.errors),
                        };
                        r.clear();
                        tx.send(slice).map_err(|_| Stopped)?;
                        Ok(())
                    },
                    |_| {},
                )?;
                if let Some(k) = sinks {
                    k.finish()?;
                }
                Ok(PartResult {
                    summary: summarize(&part.scenario, &mut world, events),
                    accounts: world.cpu_accounts(duration),
                })
            }));
        }
        let mut merged: Vec<f64> = Vec::new();
        let mut written = Ok(());
        'slices: for k in 1..=slices {
            let mut got = Vec::with_capacity(parts.len());
            for rx in &receivers {
                match rx.recv() {
                    Ok(slice) => got.push(slice),
                    // The part failed: its error is reported below.
                    Err(_) => break 'slices,
                }
            }
            let times = &got[0].times;
            merged.clear();
            merged.resize(times.len() * n_clocks, 0.0);
            for (part, slice) in parts.iter().zip(&got) {
                let width = part.columns.len();
                for (row, errors) in slice.errors.chunks_exact(width.max(1)).enumerate() {
                    for (&col, &e) in part.columns.iter().zip(errors) {
                        merged[row * n_clocks + col] = e;
                    }
                }
            }
            written = rows(times, &merged);
            if written.is_err() {
                break;
            }
            progress(k as f64 / slices as f64);
        }
        // Parts still running find their rows refused and stop.
        drop(receivers);
        let results: Vec<anyhow::Result<PartResult>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        written.map(|()| results)
    })?;
    let mut failures = results.iter().filter_map(|r| r.as_ref().err());
    if let Some(e) = failures.find(|e| !e.is::<Stopped>()) {
        return Err(anyhow::anyhow!("{e:#}"));
    }
    let (summaries, accounts): (Vec<RunSummary>, Vec<_>) = results
        .into_iter()
        .map(|r| r.map(|r| (r.summary, r.accounts)))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let mut clocks: Vec<Option<ClockSummary>> = vec![None; n_clocks];
    let mut events = 0;
    let mut first = None;
    for (part, mut summary) in parts.iter().zip(summaries) {
        events += summary.events;
        for (&c, clock) in part.columns.iter().zip(summary.clocks.drain(..)) {
            clocks[c] = Some(clock);
        }
        first.get_or_insert(summary);
    }
    let first = first.context("a partitioned run has parts")?;
    Ok(RunSummary {
        clocks: clocks
            .into_iter()
            .collect::<Option<_>>()
            .context("every clock runs in one part")?,
        domains: domain_summaries(
            crate::partition::merge_accounts(parts, &accounts),
            s.duration_s,
        ),
        events,
        parts: parts.len(),
        ..first
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_keep_their_columns_for_large_values() {
        let row = ErrorStats::table_cells(891_365.664, 865_080.232, 1_009_927.214, 1.7e14);
        assert_eq!(row, "  891365.664 865080.232 1009927.21     1.700e14");
        assert_eq!(row.len(), ErrorStats::table_header().chars().count());
        let tiny = ErrorStats::table_cells(-0.0, -4e-4, 4e-4, 5e-4);
        assert_eq!(tiny, "       0.000      0.000      0.000        0.001");
    }

    #[test]
    fn probe_statistics_see_every_sample_after_metrics_from_in_order() {
        // Folded in blocks, each clock's grid statistics and stability
        // metrics must equal pushing every recorded sample one by one, in
        // line or on a helper thread: 3 h 20 min of 1 s probes is not a
        // whole number of blocks, and the first 20 min are left out.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lan-basics.ron");
        let mut s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        s.duration_s = 12_000.0;
        s.probes.metrics_from_s = 1_200.0;
        s.probes.stability_max_tau_s = Some(64.0);
        s.output.errors_csv_interval_s = s.probes.interval_s;
        for helpers in [false, true] {
            let (mut times, mut errors) = (Vec::new(), Vec::new());
            let mut world = build_world(&s).unwrap();
            if helpers {
                world.use_helper_threads();
            }
            let (mut world, _) = drive(
                world,
                SimTime::from_secs_f64(s.duration_s),
                |_, r| {
                    times.append(&mut r.error_times);
                    errors.append(&mut r.errors);
                    Ok(())
                },
                |_| {},
            )
            .unwrap();
            let width = world.clocks().len();
            let from = SimTime::from_secs_f64(s.probes.metrics_from_s);
            assert_eq!(times.len(), 12_001, "probes at 0, 1, …, 12 000 s");
            for (c, m) in world.metrics().enumerate() {
                let mut grid = Summary::new();
                let mut stability = sim_core::stats::AllanStream::new(1.0, 64).unwrap();
                for (t, row) in times.iter().zip(errors.chunks(width)) {
                    if *t >= from {
                        grid.push(row[c]);
                        stability.push(row[c]);
                    }
                }
                assert_eq!(m.grid.count(), 10_801, "clock {c}");
                assert_eq!(*m.grid, grid, "clock {c}, helpers {helpers}");
                let folded = m.stability.expect("asked for").points();
                assert_eq!(folded, stability.points(), "clock {c}, helpers {helpers}");
            }
        }
    }

    #[test]
    fn output_errors_name_the_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lan-basics.ron");
        let mut s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        s.output.exchanges = true;
        let world = build_world(&s).unwrap();
        // A directory that is a regular file: nothing can be created in it.
        let dir = std::env::temp_dir().join(format!("vtsim-sinks-{}", std::process::id()));
        std::fs::write(&dir, "a file").unwrap();
        let e = ErrorSink::new(&dir, &clock_names(&s), false).err().unwrap();
        let e = format!("{e:#}");
        let errors_csv = dir.join("errors.csv").display().to_string();
        assert!(e.contains(&format!("cannot create {errors_csv}: ")), "{e}");
        let e = format!("{:#}", DaemonSinks::new(&dir, &s, &world).err().unwrap());
        assert!(e.contains("cannot create directory"), "{e}");
        let e = write_atomic(&dir.join("summary.json"), b"{}").unwrap_err();
        assert!(e.to_string().contains("summary.json"), "{e}");
        std::fs::remove_file(&dir).unwrap();
        // A full disk, while rows stream and when they are flushed.
        #[cfg(target_os = "linux")]
        {
            let full = Path::new("/dev/full");
            let dir = std::env::temp_dir().join(format!("vtsim-sinks-d-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut sink = ErrorSink::new(&dir, &clock_names(&s), false).unwrap();
            sink.w = BufWriter::new(File::create(full).unwrap());
            sink.path = full.to_path_buf();
            let (mut times, mut errors) = (Vec::new(), Vec::new());
            for i in 0..10_000 {
                times.push(SimTime::from_secs(i));
                errors.extend(std::iter::repeat_n(1e-6, sink.n_clocks));
            }
            let e = format!("{:#}", sink.write(&times, &errors).unwrap_err());
            assert!(e.contains("cannot write /dev/full: "), "{e}");
            assert!(e.contains("No space left"), "{e}");
            let mut csv = CsvSink::create(full.to_path_buf(), ["a", "b"]).unwrap();
            let e = format!("{:#}", csv.flush().unwrap_err());
            assert!(e.contains("cannot write /dev/full: "), "{e}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// What a run wrote: `errors.csv`'s rows as bits, `summary.json`, and
    /// each daemon file's path and bytes.
    type Written = (Vec<u64>, String, Vec<(String, Vec<u8>)>);

    /// Runs `s` in `parts` parts (one: a single world on this thread) into
    /// a fresh folder and reads back what it wrote.
    fn partitioned(s: &Scenario, parts: usize) -> Written {
        let dir = std::env::temp_dir().join(format!("vtsim-parts-{}-{parts}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut bits = Vec::new();
        let rows = |times: &[SimTime], errors: &[f64]| {
            bits.extend(times.iter().map(|t| t.as_nanos()));
            bits.extend(errors.iter().map(|e| e.to_bits()));
            Ok(())
        };
        let summary = if parts == 1 {
            execute(s, false, Some(&dir), rows, |_| {}).unwrap()
        } else {
            let split = crate::partition::split(s, parts);
            assert_eq!(split.len(), parts);
            execute_parts(s, &split, Some(&dir), rows, |_| {}).unwrap()
        };
        assert_eq!(summary.parts, parts);
        let mut files = Vec::new();
        for d in &s.daemons {
            for f in ["exchanges.csv", "trace.csv"] {
                let path = dir.join(&d.name).join(f);
                if let Ok(bytes) = std::fs::read(&path) {
                    files.push((path.display().to_string(), bytes));
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
        (bits, serde_json::to_string_pretty(&summary).unwrap(), files)
    }

    #[test]
    fn a_run_in_parts_writes_the_bytes_of_one_world() {
        // Eight busy guests of a parametric Xen host, each with RADclock and
        // ntpd, and an ntpd in Dom0: nine groups.
        let mut s = crate::bench::scenario_of("c-xen-year-half", true).unwrap();
        s.duration_s = 3.0 * 3600.0;
        s.probes.metrics_from_s = 600.0;
        s.output.errors_csv_interval_s = 10.0;
        s.output.exchanges = true;
        s.output.trace = true;
        let mut dom0 = s.daemons[1].clone();
        dom0.name = "dom0-ntpd".into();
        dom0.domain = 0;
        s.daemons.insert(4, dom0);
        assert_eq!(crate::partition::groups(&s).len(), 9);
        let (rows, summary, files) = partitioned(&s, 1);
        assert!(rows.len() > 1000 && files.len() == 2 * s.daemons.len());
        assert!(summary.contains("\"dom0-ntpd\""), "{summary}");
        for parts in [2, 3, 9] {
            let (r, sm, f) = partitioned(&s, parts);
            assert!(r == rows, "{parts} parts: errors.csv differs");
            assert_eq!(sm, summary, "{parts} parts");
            for ((name, a), (_, b)) in f.iter().zip(&files) {
                assert!(a == b, "{parts} parts: {name} differs");
            }
        }
    }

    #[test]
    fn a_failing_part_or_row_writer_stops_the_run_with_its_error() {
        let mut s = crate::bench::scenario_of("c-xen-year-half", true).unwrap();
        s.duration_s = 3600.0;
        s.output.exchanges = true;
        let parts = crate::partition::split(&s, 2);
        assert_eq!(parts.len(), 2);
        // The rows are refused at the third slice: the parts, two slices
        // ahead at most, find their rows refused and stop.
        let mut slices = 0;
        let e = execute_parts(
            &s,
            &parts,
            None,
            |_, _| {
                slices += 1;
                if slices == 3 {
                    anyhow::bail!("disk full")
                }
                Ok(())
            },
            |_| {},
        )
        .unwrap_err();
        assert_eq!(format!("{e:#}"), "disk full");
        // A part that cannot create its daemons' files: its error, not
        // the other part's refused rows.
        let file = std::env::temp_dir().join(format!("vtsim-parts-file-{}", std::process::id()));
        std::fs::write(&file, "a file").unwrap();
        let e = execute_parts(&s, &parts, Some(&file), |_, _| Ok(()), |_| {}).unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("cannot create directory"), "{e}");
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn times_print_as_their_exact_decimal() {
        let show = |ns: u64| ExactSecs(SimTime::from_nanos(ns)).to_string();
        assert_eq!(show(300_000_000), "0.3");
        assert_eq!(show(3_600_000_000_000), "3600");
        assert_eq!(show(1_000_000_001), "1.000000001");
        assert_eq!(show(0), "0");
    }
}
