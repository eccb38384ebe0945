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
//! | `a-ntpd-day` | one simulated day, one bare-metal host, one ntpd at 16 s polling, 1 s error probes |
//! | `b-radclock-day` | the same with RADclock |
//! | `c-xen-year-half`, `c-xen-year` | one Xen host, 8 busy guests each running RADclock and ntpd (16 clocks) through the parametric scheduler model calibrated against the credit scheduler, 1 s probes, `errors.csv` decimated to 1 min; half a year and a year, to show that memory does not grow with simulated time |
//! | `d-sweep-jobs1`, `d-sweep-jobs2` | a poll-period sweep (4 periods × 2 seeds of a shortened `radclock-lan`) with 1 and 2 worker threads |
//!
//! Runs are in memory (records are drained and discarded between slices, as
//! [`crate::sweep::run_in_memory`] does); the sweep runs the same parallel
//! loop as `vtsim sweep` (rayon, one run per task) without its result
//! files. Set-up (the scheduler calibration of `c`) is timed
//! separately and excluded from the rates. `--quick` shortens `c` and the
//! sweep so the whole table takes seconds (for CI).

use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

/// Workload names, in the order the table lists them.
pub const WORKLOADS: [&str; 6] = [
    "a-ntpd-day",
    "b-radclock-day",
    "c-xen-year-half",
    "c-xen-year",
    "d-sweep-jobs1",
    "d-sweep-jobs2",
];

/// Seconds per day.
const DAY_S: f64 = 86_400.0;
/// Seconds per (365-day) year.
const YEAR_S: f64 = 365.0 * DAY_S;

/// One workload's measurement, as a child process reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Workload name.
    pub workload: String,
    /// Simulated time covered (summed over runs for a sweep), s.
    pub simulated_s: f64,
    /// Set-up before the timed part (calibration, scenario building), s.
    pub setup_wall_s: f64,
    /// Wall time of the timed part, s.
    pub wall_s: f64,
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
    let mut s = parse(
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
    let xen = s.hosts[0].xen.as_mut().context("the bench host runs Xen")?;
    let run = models::xen::parametric::CalibrationRun {
        duration_s: calibration_s,
        ..Default::default()
    };
    let mut rng: sim_core::SimRng = rand::SeedableRng::seed_from_u64(s.seed);
    xen.host = models::xen::parametric::calibrated_config(&xen.host, &run, &mut rng);
    Ok(s)
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
    })
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

/// Runs one workload in this process and measures it.
pub fn measure(workload: &str, quick: bool) -> anyhow::Result<Measurement> {
    let (c_full_s, calib_s, sweep_s) = durations(quick);
    let setup_start = Instant::now();
    let single = |s: Scenario, setup_wall_s: f64| -> anyhow::Result<Measurement> {
        let start = Instant::now();
        let summary = crate::sweep::run_in_memory(&s)?;
        let wall_s = start.elapsed().as_secs_f64();
        Ok(Measurement {
            workload: workload.to_string(),
            simulated_s: s.duration_s,
            setup_wall_s,
            wall_s,
            events: summary.events,
            runs: 1,
            peak_rss_kib: peak_rss_kib(),
        })
    };
    match workload {
        "a-ntpd-day" => single(
            one_daemon_day(workload, "Ntpd(minpoll: 4, maxpoll: 4)")?,
            setup_start.elapsed().as_secs_f64(),
        ),
        "b-radclock-day" => single(
            one_daemon_day(workload, "Radclock(poll_period_s: 16)")?,
            setup_start.elapsed().as_secs_f64(),
        ),
        "c-xen-year-half" | "c-xen-year" => {
            let d = if workload == "c-xen-year" {
                c_full_s
            } else {
                c_full_s / 2.0
            };
            let s = xen_host(workload, d, calib_s)?;
            single(s, setup_start.elapsed().as_secs_f64())
        }
        "d-sweep-jobs1" | "d-sweep-jobs2" => {
            let jobs = if workload == "d-sweep-jobs1" { 1 } else { 2 };
            let plan = sweep_plan(sweep_s)?;
            let scenarios = plan
                .runs()
                .iter()
                .map(|&(_, p, seed)| plan.scenario_for(&plan.points[p], seed))
                .collect::<Result<Vec<_>, _>>()?;
            let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
            let setup_wall_s = setup_start.elapsed().as_secs_f64();
            // The same parallel loop as `vtsim sweep`, without its result files.
            let start = Instant::now();
            let summaries = pool.install(|| {
                use rayon::prelude::*;
                scenarios
                    .par_iter()
                    .map(crate::sweep::run_in_memory)
                    .collect::<anyhow::Result<Vec<_>>>()
            })?;
            let wall_s = start.elapsed().as_secs_f64();
            Ok(Measurement {
                workload: workload.to_string(),
                simulated_s: scenarios.iter().map(|s| s.duration_s).sum(),
                setup_wall_s,
                wall_s,
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

/// The table of measurements, with the sweep speed-up when both sweep
/// workloads are present.
pub fn format_table(ms: &[Measurement]) -> String {
    let mut t = format!(
        "{:<16} {:>5} {:>12} {:>10} {:>10} {:>13} {:>13} {:>12}\n",
        "workload",
        "runs",
        "simulated",
        "setup [s]",
        "wall [s]",
        "events/s",
        "sim/wall",
        "peak RSS"
    );
    for m in ms {
        let sim = if m.simulated_s >= 2.0 * DAY_S {
            format!("{:.1} d", m.simulated_s / DAY_S)
        } else {
            format!("{:.0} s", m.simulated_s)
        };
        let eps = if m.events > 0 {
            format!("{:.3e}", m.events_per_s())
        } else {
            "-".into()
        };
        t.push_str(&format!(
            "{:<16} {:>5} {:>12} {:>10.3} {:>10.4} {:>13} {:>13.3e} {:>9.1} MB\n",
            m.workload,
            m.runs,
            sim,
            m.setup_wall_s,
            m.wall_s,
            eps,
            m.speed_ratio(),
            m.peak_rss_kib as f64 / 1024.0
        ));
    }
    let find = |n: &str| ms.iter().find(|m| m.workload == n);
    if let (Some(j1), Some(j2)) = (find("d-sweep-jobs1"), find("d-sweep-jobs2")) {
        t.push_str(&format!(
            "sweep speed-up with 2 jobs: {:.2}x\n",
            j1.wall_s / j2.wall_s.max(1e-12)
        ));
    }
    t
}

/// Runs every workload, each in its own child process, and returns the
/// table `vtsim bench` prints.
pub fn run_bench(quick: bool) -> anyhow::Result<String> {
    let ms = WORKLOADS
        .iter()
        .map(|w| measure_in_child(w, quick))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(format_table(&ms))
}

/// Entry point of `vtsim bench`: with a workload, measure it here and
/// return its JSON line (the child side); without, the whole table.
pub fn main(quick: bool, workload: Option<&str>) -> anyhow::Result<String> {
    match workload {
        Some(w) => Ok(serde_json::to_string(&measure(w, quick)?)? + "\n"),
        None => run_bench(quick),
    }
}
