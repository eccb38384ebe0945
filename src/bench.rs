//! `vtsim bench`: how fast the simulator runs fixed workloads.
//!
//! A benchmark of a simulator is a rate: simulated seconds per wall second,
//! events handled per wall second, and the memory it took. This module
//! defines four fixed workloads and measures each one **in a fresh child
//! process** of the same binary (`vtsim bench --workload NAME`), so the peak
//! resident set (`VmHWM` from `/proc/self/status`) belongs to that workload
//! alone and no allocator state leaks from one measurement into the next.
//!
//! | workload | what |
//! |---|---|
//! | `engine` | the bare event loop: 1000 periodic timers whose handler only re-arms itself |
//! | `a-ntpd-day` | one simulated day, one bare-metal host, one ntpd at 16 s polling, 1 s error probes |
//! | `b-radclock-day` | the same with RADclock |
//! | `c-xen-year-half`, `c-xen-year` | one Xen host, 8 busy guests each running RADclock and ntpd (16 clocks) through the parametric scheduler model calibrated against the credit scheduler, 1 s probes, `errors.csv` decimated to 1 min; half a year and a year, to show that memory does not grow with simulated time |
//! | `d-sweep-jobs1`, `d-sweep-jobs2` | a poll-period sweep (4 periods × 2 seeds of a shortened `radclock-lan`) with 1 and 2 worker threads |
//!
//! Runs are in memory (records are drained and discarded between slices, as
//! [`crate::sweep::run_in_memory`] does). The single runs `a`, `b` and `c`
//! run as `vtsim run` runs a scenario on a machine with two cores or more:
//! `c`, whose guests are independent, in parts, one per core
//! ([`crate::partition`]; its events count those of every part), `a` and
//! `b` with helper threads for the crystals' noise and the probes'
//! statistics; the `cpu [s]` column (CPU time of all threads) shows it
//! beside the wall time. The sweep runs the same parallel
//! loop as `vtsim sweep` (rayon, one run per task) without its result
//! files. Set-up (the scheduler calibration of `c`) is timed
//! separately and excluded from the rates. `--quick` shortens the engine
//! run, `c` and the sweep so the whole table takes seconds (for CI).
//!
//! Each workload runs `--repeat` times (each in a fresh child; the one-day
//! workloads `a` and `b` at least nine times, the sweep pair in at least
//! five rounds), in quick mode too, and the table shows the run of median
//! wall time, with how many runs it was picked from (`measured`) and how
//! many simulations one run of the workload holds (`sims`: 8 for the
//! sweep), and the targets of the performance issue beside it: the engine
//! at least 10⁷ events/s, `a` within 12 ms, a year of `c` within 30 s and
//! 200 MB with no growth from half a year, and the sweep at least 1.8×
//! faster with two jobs.

use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use cpu_time::ProcessTime;
use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

/// Workload names, in the order the table lists them.
pub const WORKLOADS: [&str; 7] = [
    "engine",
    "a-ntpd-day",
    "b-radclock-day",
    "c-xen-year-half",
    "c-xen-year",
    "d-sweep-jobs1",
    "d-sweep-jobs2",
];

/// Seconds per day.
const DAY_S: f64 = 86_400.0;

/// Most runs per workload `--repeat` accepts: a full bench at 100 runs
/// already takes hours.
pub const MAX_REPEAT: usize = 100;
/// Seconds per (365-day) year.
const YEAR_S: f64 = 365.0 * DAY_S;

/// One workload's measurement, as a child process reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Workload name.
    pub workload: String,
    /// Simulated time covered (summed over runs for a sweep), s.
    pub simulated_s: f64,
    /// Set-up before the timed part, s: the scenario (for `c`, its
    /// parametric calibration runs) and a sweep's plan and worker pool.
    /// Building the world and the summary are timed, as `vtsim run` pays them.
    pub setup_wall_s: f64,
    /// Wall time of the timed part, s.
    pub wall_s: f64,
    /// CPU time of the timed part, all threads, s: above `wall_s` when
    /// helper threads or sweep workers ran beside the main thread.
    pub cpu_s: f64,
    /// Events handled (summed over runs for a sweep).
    pub events: u64,
    /// Runs in the workload.
    pub runs: usize,
    /// Peak resident set of the process (`VmHWM`), KiB; 0 where unreadable.
    pub peak_rss_kib: u64,
}

impl Measurement {
    /// Events per wall second.
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.wall_s.max(1e-12)
    }

    /// Simulated seconds per wall second.
    pub fn speed_ratio(&self) -> f64 {
        self.simulated_s / self.wall_s.max(1e-12)
    }
}

/// Peak resident set size of this process, KiB (`VmHWM`; 0 if unavailable,
/// e.g. off Linux).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The bare-metal host of workloads `a` and `b`: a TSC crystal as in
/// `scenarios/lan-basics.ron` (20 ppm skew, 1 ppm/°C on a daily 1 °C cycle
/// plus a random room process, white and flicker FM at 1e-9).
const BARE_HOST: &str = r#"(
    name: "host0",
    tsc_crystal: (
        skew_ppm: 20.0,
        temperature: (coeff_ppm_per_c: 1.0, diurnal_amplitude_c: 1.0, diurnal_period_s: 86400, room_sigma_c: 0.1, room_tau_s: 1800),
        noise: (white_fm_adev_1s: 1e-9, flicker_fm_adev: 1e-9),
    ),
    counters: [(kind: Tsc)],
)"#;

/// The LAN path of `scenarios/lan-basics.ron`.
const LAN_PATH: &str = r#"(min_rtt_us: 300, asymmetry_us: 20,
    forward: (queueing: Exponential(mean_us: 30)), backward: (queueing: Exponential(mean_us: 30)))"#;

fn parse(text: &str, name: &str) -> anyhow::Result<Scenario> {
    let s = Scenario::parse(text, name)?;
    let errors = s.validate();
    if !errors.is_empty() {
        anyhow::bail!(
            "bench scenario {name} is invalid: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(s)
}

/// Workload `a` (`algorithm` = `Ntpd(...)`) or `b` (`Radclock(...)`): one
/// day, one daemon, 1 s probes.
fn one_daemon_day(name: &str, algorithm: &str) -> anyhow::Result<Scenario> {
    parse(
        &format!(
            r#"Scenario(
    name: "{name}",
    seed: 1,
    duration_s: {DAY_S},
    hosts: [{BARE_HOST}],
    servers: [(name: "stratum1", stratum: 1)],
    paths: [{LAN_PATH}],
    daemons: [(name: "clock", host: "host0", servers: [(server: "stratum1", path: 0)], algorithm: {algorithm})],
    probes: (interval_s: 1.0),
    output: (errors_csv_interval_s: 60, exchanges: false, trace: false, plots: false),
)"#
        ),
        name,
    )
}

/// Guests of workload `c`.
const XEN_GUESTS: usize = 8;

/// Workload `c`: a Xen host with [`XEN_GUESTS`] busy guests, each running
/// RADclock (on the Xen clocksource) and ntpd, for `duration_s`; the
/// credit scheduler is replaced by the parametric model calibrated from it
/// (`calibration_s` of explicit simulation per busy-guest count).
fn xen_host(name: &str, duration_s: f64, calibration_s: f64) -> anyhow::Result<Scenario> {
    let guests =
        ["(workload: (busy_fraction: 0.3, burst_mean_ns: 5000000))"; XEN_GUESTS].join(", ");
    let mut daemons = Vec::new();
    for d in 1..=XEN_GUESTS {
        daemons.push(format!(
            r#"(name: "domu{d}-radclock", host: "xen", domain: {d}, counter: XenClocksource, servers: [(server: "stratum1", path: 0)], algorithm: Radclock(poll_period_s: 16))"#
        ));
        daemons.push(format!(
            r#"(name: "domu{d}-ntpd", host: "xen", domain: {d}, counter: XenClocksource, servers: [(server: "stratum1", path: 0)], algorithm: Ntpd(minpoll: 4, maxpoll: 6))"#
        ));
    }
    let daemons = daemons.join(",\n        ");
    let s = parse(
        &format!(
            r#"Scenario(
    name: "{name}",
    seed: 1,
    duration_s: {duration_s},
    hosts: [(
        name: "xen",
        tsc_crystal: (
            skew_ppm: 18.0,
            temperature: (coeff_ppm_per_c: 0.1, diurnal_amplitude_c: 0.5, diurnal_period_s: 1800, room_sigma_c: 0.05, room_tau_s: 3600),
            noise: (white_fm_adev_1s: 1e-9, flicker_fm_adev: 5e-10),
        ),
        platform_crystal: (
            skew_ppm: -31.0,
            temperature: (coeff_ppm_per_c: 0.1, diurnal_amplitude_c: 0.5, diurnal_period_s: 1800, room_sigma_c: 0.05, room_tau_s: 3600),
            noise: (white_fm_adev_1s: 1e-9, flicker_fm_adev: 5e-10),
        ),
        counters: [(kind: Tsc), (kind: Hpet)],
        xen: (host: (pcpus: 2, dom0: (affinity: [0]), guests: [{guests}])),
    )],
    servers: [(name: "stratum1", stratum: 1)],
    paths: [(min_rtt_us: 250, asymmetry_us: 20, forward: (queueing: Exponential(mean_us: 15)), backward: (queueing: Exponential(mean_us: 15)))],
    daemons: [
        {daemons}
    ],
    probes: (interval_s: 1.0, metrics_from_s: 7200),
    output: (errors_csv_interval_s: 60, exchanges: false, trace: false, plots: false),
)"#
        ),
        name,
    )?;
    let (calibrated, _) = crate::calibrate::calibrate(&s, calibration_s)?;
    Ok(calibrated)
}

/// The poll-period sweep of workload `d`: `scenarios/radclock-lan.ron`'s
/// world (built in code, shortened to `duration_s`), RADclock's poll period
/// at 16, 64, 256 and 1024 s, two seeds each.
fn sweep_plan(duration_s: f64) -> anyhow::Result<crate::sweep::Plan> {
    let base = parse(
        &format!(
            r#"Scenario(
    name: "bench-poll-period",
    seed: 1,
    duration_s: {duration_s},
    hosts: [{BARE_HOST}],
    servers: [(name: "stratum1", stratum: 1)],
    paths: [{LAN_PATH}],
    daemons: [
        (name: "radclock", host: "host0", servers: [(server: "stratum1", path: 0)], algorithm: Radclock(poll_period_s: 16)),
        (name: "ntpd", host: "host0", servers: [(server: "stratum1", path: 0)], algorithm: Ntpd(minpoll: 4, maxpoll: 4)),
    ],
    probes: (interval_s: 1.0),
    output: (errors_csv_interval_s: 60, exchanges: false, trace: false, plots: false),
)"#
        ),
        "bench-poll-period",
    )?;
    let sweep = crate::sweep::Sweep {
        name: "bench-poll-period".into(),
        base: String::new(),
        vary: vec![crate::sweep::Vary {
            path: "daemons[0].algorithm.poll_period_s".into(),
            values: crate::sweep::Values::LogRange {
                from: 16.0,
                to: 1024.0,
                steps: 4,
            },
        }],
        seeds: 2,
        duration_s: None,
    };
    let points = [16.0, 64.0, 256.0, 1024.0]
        .iter()
        .map(|&p| vec![ron::Value::Number(ron::value::Number::F64(p.into()))])
        .collect();
    Ok(crate::sweep::Plan {
        sweep,
        base,
        points,
        sources: Vec::new(),
    })
}

/// Timers of the `engine` workload.
const ENGINE_TIMERS: u32 = 1000;

/// The `engine` workload's model: periodic 1 ms timers with distinct
/// phases whose handler does nothing but re-arm, so the measurement is the
/// queue and the dispatch alone.
struct Rearm;

impl sim_core::Model for Rearm {
    type Event = u32;
    fn handle(&mut self, now: sim_core::SimTime, timer: u32, s: &mut sim_core::Scheduler<u32>) {
        s.schedule(now + sim_core::SimDuration::from_millis(1), timer);
    }
}

/// Runs the bare engine for `events` events; returns (events handled,
/// simulated seconds, wall seconds).
fn engine_run(events: u64) -> (u64, f64, f64) {
    let mut engine = sim_core::Engine::new(Rearm);
    for i in 0..ENGINE_TIMERS {
        engine.schedule(sim_core::SimTime::from_nanos(u64::from(i) * 1000), i);
    }
    // Each millisecond of simulated time handles one event per timer.
    let stop_ms = events / u64::from(ENGINE_TIMERS);
    let start = Instant::now();
    // The run handles events at its stop time too: stop a nanosecond early.
    let stats = engine.run_until(sim_core::SimTime::from_nanos(
        (stop_ms * 1_000_000).saturating_sub(1),
    ));
    let wall_s = start.elapsed().as_secs_f64();
    (stats.events, stop_ms as f64 * 1e-3, wall_s)
}

/// Durations of one mode: (`c` full duration, `c` calibration per
/// busy-guest count, sweep run duration), s.
fn durations(quick: bool) -> (f64, f64, f64) {
    if quick {
        (2.0 * DAY_S, 5.0, DAY_S / 4.0)
    } else {
        (YEAR_S, 20.0, 2.0 * DAY_S)
    }
}

/// The scenario of a single-run workload (`a`, `b` or either `c`), as the
/// bench runs it in `quick` mode or in full.
pub fn scenario_of(workload: &str, quick: bool) -> anyhow::Result<Scenario> {
    let (c_full_s, calib_s, _) = durations(quick);
    match workload {
        "a-ntpd-day" => one_daemon_day(workload, "Ntpd(minpoll: 4, maxpoll: 4)"),
        "b-radclock-day" => one_daemon_day(workload, "Radclock(poll_period_s: 16)"),
        "c-xen-year-half" => xen_host(workload, c_full_s / 2.0, calib_s),
        "c-xen-year" => xen_host(workload, c_full_s, calib_s),
        other => anyhow::bail!(
            "{other} is not a single-run workload; expected a-ntpd-day, b-radclock-day, c-xen-year-half or c-xen-year"
        ),
    }
}

/// Runs one workload in this process and measures it.
pub fn measure(workload: &str, quick: bool) -> anyhow::Result<Measurement> {
    let (_, _, sweep_s) = durations(quick);
    let setup_start = Instant::now();
    let single = |s: Scenario, setup_wall_s: f64| -> anyhow::Result<Measurement> {
        // As `vtsim run` runs it, which asks whether there is a spare core
        // for parts or helper threads while it reads its command line (the
        // question reads three files of the process's control group).
        let parallel = crate::run::spare_core();
        let start = Instant::now();
        let cpu = ProcessTime::try_now()?;
        let summary = crate::sweep::run_in_memory_with(&s, parallel)?;
        let wall_s = start.elapsed().as_secs_f64();
        Ok(Measurement {
            workload: workload.to_string(),
            simulated_s: s.duration_s,
            setup_wall_s,
            wall_s,
            cpu_s: cpu.try_elapsed()?.as_secs_f64(),
            events: summary.events,
            runs: 1,
            peak_rss_kib: peak_rss_kib(),
        })
    };
    match workload {
        "engine" => {
            let cpu = ProcessTime::try_now()?;
            let (events, simulated_s, wall_s) =
                engine_run(if quick { 2_000_000 } else { 20_000_000 });
            Ok(Measurement {
                workload: workload.to_string(),
                simulated_s,
                setup_wall_s: 0.0,
                wall_s,
                cpu_s: cpu.try_elapsed()?.as_secs_f64(),
                events,
                runs: 1,
                peak_rss_kib: peak_rss_kib(),
            })
        }
        "a-ntpd-day" | "b-radclock-day" | "c-xen-year-half" | "c-xen-year" => {
            let s = scenario_of(workload, quick)?;
            single(s, setup_start.elapsed().as_secs_f64())
        }
        "d-sweep-jobs1" | "d-sweep-jobs2" => {
            let jobs = if workload == "d-sweep-jobs1" { 1 } else { 2 };
            let plan = sweep_plan(sweep_s)?;
            let mut scenarios = plan
                .runs()
                .iter()
                .map(|&(_, p, seed)| plan.scenario_for(&plan.points[p], seed))
                .collect::<Result<Vec<_>, _>>()?;
            // Longest first, as `vtsim sweep` schedules them, so that two
            // workers finish together.
            scenarios.sort_by(|a, b| {
                crate::sweep::cost_estimate(b).total_cmp(&crate::sweep::cost_estimate(a))
            });
            let pool = crate::sweep::worker_pool(jobs)?;
            let setup_wall_s = setup_start.elapsed().as_secs_f64();
            // The scheduling of `vtsim sweep` (idle workers take the next
            // run, longest first), without its result files.
            let start = Instant::now();
            let cpu = ProcessTime::try_now()?;
            let results: Vec<Mutex<Option<crate::run::RunSummary>>> =
                scenarios.iter().map(|_| Mutex::new(None)).collect();
            let order: Vec<usize> = (0..scenarios.len()).collect();
            crate::sweep::run_in_order(&pool, &order, |&i| {
                let summary = crate::sweep::run_in_memory(&scenarios[i])?;
                *results[i].lock().expect("no panics while holding the lock") = Some(summary);
                Ok(())
            })?;
            let summaries: Vec<crate::run::RunSummary> = results
                .into_iter()
                .filter_map(|m| m.into_inner().expect("lock not poisoned"))
                .collect();
            let wall_s = start.elapsed().as_secs_f64();
            Ok(Measurement {
                workload: workload.to_string(),
                simulated_s: scenarios.iter().map(|s| s.duration_s).sum(),
                setup_wall_s,
                wall_s,
                cpu_s: cpu.try_elapsed()?.as_secs_f64(),
                events: summaries.iter().map(|s| s.events).sum(),
                runs: scenarios.len(),
                peak_rss_kib: peak_rss_kib(),
            })
        }
        other => anyhow::bail!(
            "unknown workload {other}; expected one of {}",
            WORKLOADS.join(", ")
        ),
    }
}

/// Runs `workload` in a child process of the current executable
/// (`vtsim bench --workload NAME [--quick]`) and reads its measurement.
fn measure_in_child(workload: &str, quick: bool) -> anyhow::Result<Measurement> {
    let exe = std::env::current_exe().context("locating the vtsim executable")?;
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "--workload", workload]);
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd
        .output()
        .with_context(|| format!("running workload {workload}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "workload {workload} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("workload {workload} printed no measurement"))?;
    Ok(serde_json::from_str(line)?)
}

/// Sweep speed-up of two jobs over one, when both sweep workloads are in `ms`.
fn sweep_speedup(ms: &[Measurement]) -> Option<f64> {
    let find = |n: &str| ms.iter().find(|m| m.workload == n);
    Some(speedup(find("d-sweep-jobs1")?, find("d-sweep-jobs2")?))
}

/// Wall time of the one-job run over that of the two-job run.
fn speedup(jobs1: &Measurement, jobs2: &Measurement) -> f64 {
    jobs1.wall_s / jobs2.wall_s.max(1e-12)
}

/// The performance target a workload is held to, and whether `m` meets
/// it; `None` where no target applies (`--quick` shortens `c`, whose
/// targets are for a full year).
pub fn target(m: &Measurement, all: &[Measurement], quick: bool) -> Option<(String, bool)> {
    const MIB: f64 = 1024.0;
    let rss_mb = m.peak_rss_kib as f64 / MIB;
    match m.workload.as_str() {
        "engine" => Some(("≥ 1e7 events/s".into(), m.events_per_s() >= 1e7)),
        "a-ntpd-day" => Some(("≤ 0.012 s".into(), m.wall_s <= 0.012)),
        "c-xen-year" if !quick => {
            let half = all.iter().find(|h| h.workload == "c-xen-year-half");
            // Flat memory: a year may not take 10 % more than half a year.
            let flat = half.is_none_or(|h| m.peak_rss_kib as f64 <= 1.1 * h.peak_rss_kib as f64);
            Some((
                "≤ 30 s, < 200 MB, flat".into(),
                m.wall_s <= 30.0 && rss_mb < 200.0 && flat,
            ))
        }
        "d-sweep-jobs2" => sweep_speedup(all).map(|x| ("≥ 1.8x speed-up".into(), x >= 1.8)),
        _ => None,
    }
}

/// The table of measurements with their targets, and the sweep speed-up
/// when both sweep workloads are present. Beside each workload: `sims`,
/// the simulations one measurement runs (a sweep's runs), and `measured`,
/// how many measurements (or sweep rounds) of it the row was picked from
/// with `--repeat repeat` (at least nine for the one-day workloads and
/// five rounds for the sweep pair).
pub fn format_table(ms: &[Measurement], quick: bool, repeat: usize) -> String {
    let mut t = format!(
        "{:<16} {:>5} {:>8} {:>12} {:>10} {:>10} {:>9} {:>13} {:>13} {:>12}  {:<24} {}\n",
        "workload",
        "sims",
        "measured",
        "simulated [s]",
        "setup [s]",
        "wall [s]",
        "cpu [s]",
        "events/s",
        "sim/wall",
        "peak RSS",
        "target",
        "met"
    );
    for m in ms {
        // One unit for every row, so that rows compare at a glance.
        let sim = format!("{:.4e}", m.simulated_s);
        let eps = if m.events > 0 {
            format!("{:.3e}", m.events_per_s())
        } else {
            "-".into()
        };
        let (goal, met) = match target(m, ms, quick) {
            Some((goal, true)) => (goal, "yes"),
            Some((goal, false)) => (goal, "NO"),
            None => ("-".into(), ""),
        };
        t.push_str(&format!(
            "{:<16} {:>5} {:>8} {:>12} {:>10.3} {:>10.4} {:>9.4} {:>13} {:>13.3e} {:>9.1} MB  {:<24} {}\n",
            m.workload,
            m.runs,
            measurements(&m.workload, repeat),
            sim,
            m.setup_wall_s,
            m.wall_s,
            m.cpu_s,
            eps,
            m.speed_ratio(),
            m.peak_rss_kib as f64 / 1024.0,
            goal,
            met
        ));
    }
    if let Some(x) = sweep_speedup(ms) {
        t.push_str(&format!(
            "sweep speed-up with 2 jobs: {x:.2}x (median round)\n"
        ));
    }
    t
}

/// The measurement of median wall time among `runs` (which must not be
/// empty); with an even count, the faster of the middle two.
fn median_run(mut runs: Vec<Measurement>) -> Measurement {
    runs.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    let mid = (runs.len() - 1) / 2;
    runs.swap_remove(mid)
}

/// Rounds of the sweep pair at the least: a round costs a few seconds, and
/// the two-core speed-up is the figure most disturbed by whatever else the
/// machine runs.
const SWEEP_ROUNDS_MIN: usize = 5;

/// Runs of a one-day workload (`a`, `b`) at the least: each takes tens of
/// milliseconds, so a machine's slow spells move one run by half its time
/// (20 to 31 ms for `a`), and the median of three can land on one.
const SHORT_RUNS_MIN: usize = 9;

/// How many times `vtsim bench --repeat repeat` measures `workload` (in
/// rounds for the sweep pair), whether `--quick` or not: `repeat`, and at
/// least [`SHORT_RUNS_MIN`] for the one-day workloads and
/// [`SWEEP_ROUNDS_MIN`] rounds for the sweep pair.
fn measurements(workload: &str, repeat: usize) -> usize {
    if workload.ends_with("-day") {
        repeat.max(SHORT_RUNS_MIN)
    } else if workload.starts_with("d-sweep") {
        repeat.max(SWEEP_ROUNDS_MIN)
    } else {
        repeat
    }
}

/// One round of the sweep workloads: one job, two jobs, and two one-job
/// sweeps in separate processes at once.
struct SweepRound {
    jobs1: Measurement,
    jobs2: Measurement,
    /// Throughput of the two simultaneous one-job sweeps over one alone:
    /// the speed-up this machine's two cores give to independent work.
    machine: f64,
}

impl SweepRound {
    fn measure(quick: bool) -> anyhow::Result<Self> {
        let jobs1 = measure_in_child("d-sweep-jobs1", quick)?;
        let jobs2 = measure_in_child("d-sweep-jobs2", quick)?;
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| measure_in_child("d-sweep-jobs1", quick));
            let b = measure_in_child("d-sweep-jobs1", quick);
            (a.join().expect("the measuring thread does not panic"), b)
        });
        let slower = a?.wall_s.max(b?.wall_s);
        Ok(SweepRound {
            machine: 2.0 * jobs1.wall_s / slower.max(1e-12),
            jobs1,
            jobs2,
        })
    }

    fn speedup(&self) -> f64 {
        speedup(&self.jobs1, &self.jobs2)
    }
}

/// `xs` sorted, to two decimals, comma-separated.
fn sorted_list(mut xs: Vec<f64>) -> String {
    xs.sort_by(f64::total_cmp);
    let s: Vec<String> = xs.iter().map(|x| format!("{x:.2}")).collect();
    s.join(", ")
}

/// What the columns `sims` and `measured` count, and which measurement a
/// row shows: the same words in every mode, the counts being in the table.
const FOOTER: &str = "(each row: the one of median wall time among its `measured` measurements, \
     each in a fresh process (the sweep pair: the round of median speed-up); \
     `sims`: simulations per measurement)\n";

/// Runs every workload `repeat` times, each in its own child process, and
/// returns the table `vtsim bench` prints (median runs). The sweep
/// workloads run in rounds (at least five) of one job, two
/// jobs, and two one-job sweeps at once, so that a slow spell of the
/// machine slows both sides of a speed-up, and the speed-up can be read
/// against what the machine's two cores give independent processes. The
/// table shows the round whose speed-up is the median.
pub fn run_bench(quick: bool, repeat: usize) -> anyhow::Result<String> {
    if !(1..=MAX_REPEAT).contains(&repeat) {
        anyhow::bail!("--repeat {repeat}: runs per workload must be in 1..={MAX_REPEAT}");
    }
    let mut ms = Vec::new();
    for w in WORKLOADS.iter().filter(|w| !w.starts_with("d-sweep")) {
        let runs = (0..measurements(w, repeat))
            .map(|_| measure_in_child(w, quick))
            .collect::<anyhow::Result<Vec<_>>>()?;
        ms.push(median_run(runs));
    }
    let mut rounds = (0..measurements("d-sweep-jobs1", repeat))
        .map(|_| SweepRound::measure(quick))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let speedups = sorted_list(rounds.iter().map(SweepRound::speedup).collect());
    let machine = sorted_list(rounds.iter().map(|r| r.machine).collect());
    rounds.sort_by(|a, b| a.speedup().total_cmp(&b.speedup()));
    let n = rounds.len();
    let median = rounds.swap_remove((n - 1) / 2);
    ms.extend([median.jobs1, median.jobs2]);
    let mut table = format_table(&ms, quick, repeat);
    table.push_str(&format!(
        "sweep speed-up in {n} rounds, sorted: {speedups}\n\
         two one-job sweeps at once, throughput over one alone (the machine's two cores): {machine}\n"
    ));
    table.push_str(FOOTER);
    table.push_str("where the time goes, and what each target would take: docs/PERFORMANCE.md\n");
    Ok(table)
}

/// Entry point of `vtsim bench`: with a workload, measure it here and
/// return its JSON line (the child side); without, the whole table.
pub fn main(quick: bool, repeat: usize, workload: Option<&str>) -> anyhow::Result<String> {
    match workload {
        Some(w) => Ok(serde_json::to_string(&measure(w, quick)?)? + "\n"),
        None => run_bench(quick, repeat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(workload: &str, wall_s: f64, events: u64, rss_kib: u64) -> Measurement {
        Measurement {
            workload: workload.into(),
            simulated_s: DAY_S,
            setup_wall_s: 0.0,
            wall_s,
            cpu_s: wall_s,
            events,
            runs: 1,
            peak_rss_kib: rss_kib,
        }
    }

    #[test]
    fn targets_are_judged_from_the_measurements() {
        let all = vec![
            m("engine", 1.0, 20_000_000, 1),
            m("a-ntpd-day", 0.020, 1, 1),
            m("c-xen-year-half", 20.0, 1, 100_000),
            m("c-xen-year", 25.0, 1, 105_000),
            m("d-sweep-jobs1", 10.0, 1, 1),
            m("d-sweep-jobs2", 5.2, 1, 1),
        ];
        let met = |i: usize, quick| target(&all[i], &all, quick).map(|t| t.1);
        assert_eq!(met(0, false), Some(true));
        assert_eq!(met(1, false), Some(false));
        assert_eq!(met(2, false), None);
        assert_eq!(met(3, false), Some(true));
        assert_eq!(met(3, true), None, "a quick c is not a year");
        assert_eq!(met(5, false), Some(true));
        let mut grown = all.clone();
        grown[3].peak_rss_kib = 150_000;
        assert_eq!(target(&grown[3], &grown, false).map(|t| t.1), Some(false));
    }

    #[test]
    fn median_run_picks_the_middle_wall_time() {
        let runs = vec![m("a", 3.0, 1, 1), m("a", 1.0, 1, 1), m("a", 2.0, 1, 1)];
        assert_eq!(median_run(runs).wall_s, 2.0);
        let runs = vec![m("a", 4.0, 1, 1), m("a", 1.0, 1, 1)];
        assert_eq!(median_run(runs).wall_s, 1.0);
    }

    #[test]
    fn the_simulated_column_has_one_unit() {
        let mut short = m("a-ntpd-day", 1.0, 1, 1);
        short.simulated_s = 600.0;
        let mut long = m("c-xen-year", 1.0, 1, 1);
        long.simulated_s = YEAR_S;
        let t = format_table(&[short, m("engine", 1.0, 1, 1), long], false, 3);
        assert!(t.lines().next().unwrap().contains("simulated [s]"), "{t}");
        for v in ["6.0000e2", "8.6400e4", "3.1536e7"] {
            assert!(t.contains(v), "{v} missing:\n{t}");
        }
        assert!(!t.contains(" d "), "{t}");
    }

    /// `--quick` runs each workload once by default, except the one-day
    /// workloads (nine times) and the sweep pair (five rounds): each row
    /// says how many measurements it was picked from, and how many
    /// simulations one measurement runs.
    #[test]
    fn each_row_counts_its_measurements() {
        let mut sweep = m("d-sweep-jobs2", 1.0, 1, 1);
        sweep.runs = 8;
        let ms = [
            m("a-ntpd-day", 0.02, 1, 1),
            m("c-xen-year", 1.0, 1, 1),
            sweep,
        ];
        // A workload's `sims` and `measured` cells.
        let count = |t: &str, w: &str| -> (String, String) {
            let line = t.lines().find(|l| l.starts_with(w)).unwrap();
            let words: Vec<&str> = line.split_whitespace().collect();
            (words[1].to_string(), words[2].to_string())
        };
        let quick = format_table(&ms, true, 1);
        let head: Vec<&str> = quick.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(head[1..3], ["sims", "measured"], "{quick}");
        assert_eq!(
            count(&quick, "a-ntpd-day"),
            ("1".into(), "9".into()),
            "{quick}"
        );
        assert_eq!(
            count(&quick, "c-xen-year"),
            ("1".into(), "1".into()),
            "{quick}"
        );
        assert_eq!(
            count(&quick, "d-sweep-jobs2"),
            ("8".into(), "5".into()),
            "{quick}"
        );
        let full = format_table(&ms, false, 12);
        assert_eq!(count(&full, "a-ntpd-day").1, "12", "{full}");
        assert_eq!(count(&full, "c-xen-year").1, "12", "{full}");
        assert_eq!(measurements("b-radclock-day", 3), 9);
        assert_eq!(measurements("engine", 3), 3);
        assert_eq!(measurements("d-sweep-jobs1", 3), 5);
    }

    #[test]
    fn zero_repeats_is_an_error_naming_the_range() {
        let e = run_bench(true, 0).unwrap_err().to_string();
        assert!(e.contains("1..=100"), "{e}");
        let e = run_bench(true, MAX_REPEAT + 1).unwrap_err().to_string();
        assert!(e.contains("1..=100"), "{e}");
    }

    #[test]
    fn the_bare_engine_handles_every_event() {
        let (events, simulated_s, _) = engine_run(100_000);
        assert_eq!(events, 100_000);
        assert!((simulated_s - 0.1).abs() < 1e-12);
    }
}
