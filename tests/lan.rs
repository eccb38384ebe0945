//! End-to-end physics of a LAN exchange, through the whole stack (scenario,
//! world, daemons, probes, outputs, replay).
//!
//! Sign convention: a clock's error is `C(t) − t`, so positive means the
//! clock is ahead. With a path asymmetry `A = d→ − d←` (forward minus
//! backward minimum delay), a two-way offset estimate assumes each
//! direction took half the RTT; the request really took `A/2` longer than
//! that, so the server's stamp looks early and the client sets its clock
//! `A/2` ahead: the naive clock's error at each exchange is `+A/2` plus
//! half the difference of the two queueing delays.

use std::path::{Path, PathBuf};

use algorithms::AlgorithmConfig;
use models::network::QueueingConfig;
use vtsim::replay::{config_from_sets, read_rows, replay, run_start_counter};
use vtsim::run::{ClockSummary, ErrorStats, RunOptions, RunSummary, run_scenario};
use vtsim::scenario::{DaemonConfig, Scenario};
use vtsim::sweep::run_in_memory;

fn bundled(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh directory for one test's outputs (removed first if left over).
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vtsim-lan-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `s` with its outputs in `test`'s fresh scratch directory.
fn run_in_scratch(s: &Scenario, test: &str) -> (PathBuf, RunSummary) {
    let opts = RunOptions {
        out: Some(scratch(test)),
        force: true,
        ..Default::default()
    };
    run_scenario(s, &opts).unwrap_or_else(|e| panic!("{e}"))
}

fn clock<'a>(s: &'a RunSummary, name: &str) -> &'a ClockSummary {
    s.clocks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no clock {name} in {:?}", s.clocks))
}

/// lan-basics cut to `hours`, with the naive daemon only, on a path of
/// `min_rtt_us` and `asymmetry_us`.
fn naive_lan(hours: f64, min_rtt_us: f64, asymmetry_us: f64) -> Scenario {
    let mut s = bundled("lan-basics.ron");
    s.duration_s = hours * 3600.0;
    s.paths[0].min_rtt_us = Some(min_rtt_us);
    s.paths[0].asymmetry_us = Some(asymmetry_us);
    s.daemons.retain(|d| d.name == "naive");
    assert_eq!(s.daemons.len(), 1, "lan-basics has a naive daemon");
    assert!(s.validate().is_empty(), "{:?}", s.validate());
    s
}

#[test]
fn symmetric_path_leaves_the_naive_clock_unbiased() {
    // Symmetric exponential queueing: the difference of the two delays has
    // median zero. Only the kernel's stamping latency on Tf (2 µs mean,
    // seen as extra backward delay) biases it, by about −0.7 µs.
    let s = naive_lan(24.0, 300.0, 0.0);
    let summary = run_in_memory(&s).unwrap();
    let e = &clock(&summary, "naive").error_at_exchange_us;
    assert!(
        e.count > 5000,
        "one exchange per 16 s for a day: {}",
        e.count
    );
    assert!(e.median.abs() < 2.0, "median {} µs", e.median);
    // Queueing of mean 30 µs each way: errors spread over tens of µs, so
    // the test would notice the queueing being dropped.
    assert!(e.iqr > 10.0 && e.iqr < 60.0, "IQR {} µs", e.iqr);
}

#[test]
fn asymmetry_biases_the_naive_clock_by_half_of_it() {
    for asym_us in [-200.0, 100.0, 400.0] {
        let s = naive_lan(24.0, 1000.0, asym_us);
        let summary = run_in_memory(&s).unwrap();
        let e = &clock(&summary, "naive").error_at_exchange_us;
        let expected = asym_us / 2.0;
        assert!(
            (e.median - expected).abs() < 0.05 * expected.abs(),
            "A = {asym_us} µs: median {} µs, expected A/2 = {expected} µs",
            e.median
        );
        // Forward longer means the clock runs ahead (positive error).
        assert_eq!(e.median > 0.0, asym_us > 0.0);
    }
}

#[test]
fn asymmetry_of_per_direction_queueing_shifts_only_the_mean() {
    // Queueing only on the forward direction: the naive error at exchange
    // is +q/2 per exchange, so its mean follows the queueing mean (40 µs →
    // +20 µs) while the minimum delays stay symmetric.
    let mut s = naive_lan(24.0, 300.0, 0.0);
    s.paths[0].forward.queueing = QueueingConfig::Exponential { mean_us: 40.0 };
    s.paths[0].backward.queueing = QueueingConfig::None;
    let summary = run_in_memory(&s).unwrap();
    let e = &clock(&summary, "naive").error_at_exchange_us;
    // Mean of Exp(40)/2 = 20 µs, less half the 2 µs mean Tf stamp latency.
    assert!((e.mean - 19.0).abs() < 1.5, "mean {} µs", e.mean);
    // Median of Exp(40)/2 = 20 ln 2 ≈ 13.9 µs.
    assert!((e.median - 13.9).abs() < 1.5, "median {} µs", e.median);
}

#[test]
fn oracle_error_is_within_one_counter_tick() {
    let mut s = bundled("lan-basics.ron");
    s.duration_s = 6.0 * 3600.0;
    s.daemons.retain(|d| d.name == "oracle");
    let summary = run_in_memory(&s).unwrap();
    let c = clock(&summary, "oracle");
    // The TSC of lan-basics ticks at 3 GHz: one tick is 1/3 ns.
    let tick_us = 1e6 / 3e9;
    assert!(c.error_us.count > 20_000, "{}", c.error_us.count);
    assert!(
        c.error_us.max_abs <= tick_us,
        "grid: max |e| {} µs > one tick {tick_us} µs",
        c.error_us.max_abs
    );
    assert!(
        c.error_at_exchange_us.max_abs <= tick_us,
        "exchanges: max |e| {} µs",
        c.error_at_exchange_us.max_abs
    );
    // The free-running clock on the same crystal is far off: the oracle
    // really reads true time, not the crystal.
    let mut free = bundled("lan-basics.ron");
    free.duration_s = 6.0 * 3600.0;
    free.daemons.retain(|d| d.name == "free-running");
    let f = run_in_memory(&free).unwrap();
    assert!(clock(&f, "free-running").error_us.max_abs > 100.0);
}

/// lan-basics' free-running clock alone for `hours`, its crystal with only
/// `skew_ppm` and white FM noise, stability metrics up to `max_tau_s`.
fn free_running(hours: f64, skew_ppm: f64, white_fm_adev_1s: f64, max_tau_s: f64) -> Scenario {
    let mut s = bundled("lan-basics.ron");
    s.duration_s = hours * 3600.0;
    s.daemons.retain(|d| d.name == "free-running");
    let crystal = &mut s.hosts[0].tsc_crystal;
    *crystal = models::oscillator::OscillatorConfig {
        skew_ppm,
        ..Default::default()
    };
    crystal.noise.white_fm_adev_1s = white_fm_adev_1s;
    s.probes.stability_max_tau_s = Some(max_tau_s);
    assert!(s.validate().is_empty(), "{:?}", s.validate());
    s
}

#[test]
fn a_crystal_ramp_is_all_mtie_and_no_allan_deviation() {
    // A 20 ppm skew makes the free-running error a ramp: every window of τ
    // spans 20·τ µs of it, and second differences of a ramp vanish (to the
    // 1/3 ns counter tick).
    let summary = run_in_memory(&free_running(2.0, 20.0, 0.0, 1024.0)).unwrap();
    let st = &clock(&summary, "free-running").stability;
    let taus: Vec<f64> = st.iter().map(|p| p.tau_s).collect();
    assert_eq!(
        taus,
        (0..=10).map(|k| f64::from(1 << k)).collect::<Vec<_>>()
    );
    for p in st {
        let mtie = p.mtie_us.unwrap();
        assert!(
            (mtie - 20.0 * p.tau_s).abs() < 1e-3,
            "τ {} s: MTIE {mtie} µs",
            p.tau_s
        );
        let oadev = p.oadev.unwrap();
        assert!(oadev < 1e-9 / p.tau_s, "τ {} s: OADEV {oadev}", p.tau_s);
        assert!(
            p.tdev_us.unwrap() < 1e-3,
            "τ {} s: TDEV {:?}",
            p.tau_s,
            p.tdev_us
        );
    }
}

#[test]
fn white_fm_gives_the_configured_allan_deviation_through_the_whole_stack() {
    // The free-running clock's error is the crystal's phase: its OADEV must
    // be the configured σ_y(1 s)/√τ. A day of 1 s samples estimates it to a
    // few per cent up to τ = 256 s.
    let sigma = 1e-8;
    let summary = run_in_memory(&free_running(24.0, 0.0, sigma, 256.0)).unwrap();
    for p in &clock(&summary, "free-running").stability {
        let want = sigma / p.tau_s.sqrt();
        let got = p.oadev.unwrap();
        assert!(
            (got / want - 1.0).abs() < 0.1,
            "τ {} s: OADEV {got:e}, want {want:e}",
            p.tau_s
        );
        // White FM: MDEV/OADEV = 1/√2 for τ ≫ τ0, TDEV = τ·MDEV/√3.
        if p.tau_s >= 16.0 {
            let ratio = p.mdev.unwrap() / got;
            assert!(
                (ratio - 0.5f64.sqrt()).abs() < 0.08,
                "τ {} s: MDEV/OADEV {ratio}",
                p.tau_s
            );
        }
        // TDEV of white FM: τ·σ_y(τ)/(√2·√3) = σ·√(τ/6), from the
        // configured σ rather than from the run's own MDEV.
        if p.tau_s >= 16.0 {
            let tdev_s = p.tdev_us.unwrap() * 1e-6;
            let want = sigma * (p.tau_s / 6.0).sqrt();
            assert!(
                (tdev_s / want - 1.0).abs() < 0.15,
                "τ {} s: TDEV {tdev_s:e}, want {want:e}",
                p.tau_s
            );
        }
    }
}

#[test]
fn stability_is_written_only_when_asked_for() {
    let (on, summary) = run_in_scratch(&free_running(1.0, 20.0, 1e-9, 64.0), "stability");
    let dir = &on;
    let csv = std::fs::read_to_string(dir.join("stability.csv")).unwrap();
    assert!(csv.starts_with("clock,tau_s,n,oadev,mdev,tdev_us,mtie_us\nfree-running,1,"));
    assert_eq!(csv.lines().count(), 1 + 7, "τ = 1, 2, …, 64 s");
    for f in [
        "stability_oadev.png",
        "stability_tdev.svg",
        "stability_mtie_data.csv",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let json = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(json.contains("\"mtie_us\""));
    assert_eq!(clock(&summary, "free-running").stability.len(), 7);
    // The printed table: τ = 1, 16 and the longest, 64 s; MTIE 20 µs per s.
    let table = vtsim::run::stability_table(&summary).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0]
            .split_whitespace()
            .rev()
            .take(3)
            .eq(["64", "16", "1"]),
        "{table}"
    );
    assert!(lines[2].trim_start().starts_with("MTIE [µs]"), "{table}");
    let mtie_64: f64 = lines[2].split_whitespace().last().unwrap().parse().unwrap();
    assert!((mtie_64 - 1280.0).abs() < 0.1, "{table}");
    // A clock name longer than the first column widens it in every table.
    let mut long = summary.clone();
    long.clocks[0].name = "a-clock-whose-name-is-longer-than-the-column".into();
    for table in [
        vtsim::run::error_table(&long).unwrap(),
        vtsim::run::stability_table(&long).unwrap(),
    ] {
        let widths: Vec<usize> = table.lines().map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{table}");
        assert!(
            table.contains("a-clock-whose-name-is-longer-than-the-column "),
            "{table}"
        );
    }
    // Off by default: no file, and summary.json as before.
    let mut plain = free_running(1.0, 20.0, 1e-9, 64.0);
    plain.probes.stability_max_tau_s = None;
    let (off, summary) = run_in_scratch(&plain, "stability-off");
    assert!(!off.join("stability.csv").exists());
    assert!(
        !std::fs::read_to_string(off.join("summary.json"))
            .unwrap()
            .contains("stability")
    );
    assert!(clock(&summary, "free-running").stability.is_empty());
    assert!(vtsim::run::stability_table(&summary).is_none());
    // `compare` overlays the curves of the runs that have them.
    let out = scratch("stability-compare");
    vtsim::compare::compare(&[on.clone(), off.clone()], &out, false).unwrap();
    let data = std::fs::read_to_string(out.join("compare_stability_mtie_data.csv")).unwrap();
    let labels: std::collections::BTreeSet<&str> = data
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert!(
        labels.iter().all(|l| l.ends_with("/free-running")),
        "{labels:?}"
    );
    for d in [on, off, out] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// lan-basics cut to `hours` with radclock and ntpd (16 s) added, plots off.
fn three_algorithms(hours: f64) -> Scenario {
    let mut s = bundled("lan-basics.ron");
    s.duration_s = hours * 3600.0;
    s.output.plots = false;
    // The naive daemon's host, counter and server, another algorithm.
    let naive = s
        .daemons
        .iter()
        .find(|d| d.name == "naive")
        .unwrap()
        .clone();
    for name in ["radclock", "ntpd"] {
        let mut algorithm = AlgorithmConfig::default_for(name).unwrap();
        if let AlgorithmConfig::Ntpd(c) = &mut algorithm {
            c.minpoll = 4;
            c.maxpoll = 4;
        }
        s.daemons.push(DaemonConfig {
            name: name.into(),
            algorithm,
            ..naive.clone()
        });
    }
    s.probes.metrics_from_s = 1800.0_f64.min(s.duration_s / 2.0);
    assert!(s.validate().is_empty(), "{:?}", s.validate());
    s
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    // Plots on: their data file must not replace the error series (it
    // once did, both being named errors.csv). The second run uses helper
    // threads (the crystal's noise, the probes' statistics): the bytes
    // must not change.
    let mut s = three_algorithms(2.0);
    assert!(!s.hosts[0].tsc_crystal.noise.is_zero(), "a noisy crystal");
    s.output.plots = true;
    let dirs: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|n| scratch(&format!("det-{n}")))
        .collect();
    let run = |dir: &Path, seed: Option<u64>, parallel: bool| {
        run_scenario(
            &s,
            &RunOptions {
                out: Some(dir.to_path_buf()),
                seed,
                force: true,
                progress: false,
                parallel,
            },
        )
        .unwrap()
    };
    run(&dirs[0], None, false);
    run(&dirs[1], None, true);
    run(&dirs[2], Some(s.seed + 1), false);
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    for f in [
        "summary.json",
        "errors.csv",
        "radclock/exchanges.csv",
        "ntpd/trace.csv",
    ] {
        assert_eq!(
            read(&dirs[0], f),
            read(&dirs[1], f),
            "{f} differs between identical runs"
        );
        assert_ne!(read(&dirs[0], f), read(&dirs[2], f), "{f} ignores the seed");
    }
    let header = String::from_utf8(read(&dirs[0], "errors.csv")).unwrap();
    assert!(
        header.starts_with("t_s,"),
        "{}",
        &header[..40.min(header.len())]
    );
    for d in &dirs {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Parses the `error_s` column of a run's exchanges file: the live
/// daemon's error at each Tf (empty for lost exchanges).
fn recorded_errors(path: &Path) -> Vec<(u64, f64)> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (tf, err, lost) = (col("tf"), col("error_s"), col("lost"));
    let mut out: Vec<(u64, f64)> = r
        .records()
        .map(|rec| rec.unwrap())
        .filter(|rec| &rec[lost] == "0")
        .map(|rec| (rec[tf].parse().unwrap(), rec[err].parse().unwrap()))
        .collect();
    out.sort_by_key(|&(tf, _)| tf);
    out
}

#[test]
fn replaying_a_runs_exchanges_reproduces_its_errors_exactly() {
    let mut s = three_algorithms(3.0);
    // ntpd with a frequency preset has state before its first exchange: its
    // clock runs at the preset from the daemon's start, which the replay
    // finds in the run's summary.json.
    for d in &mut s.daemons {
        if let AlgorithmConfig::Ntpd(c) = &mut d.algorithm {
            c.drift_ppm = Some(-5.0);
        }
    }
    // Halfway the server changes to stratum 15, which ntpd refuses: the
    // replay must see that too.
    s.servers[0]
        .faults
        .push(models::server::ServerFault::Changed {
            at_s: s.duration_s / 2.0,
            stratum: 15,
        });
    let (dir, summary) = run_in_scratch(&s, "replay");
    for d in &s.daemons {
        if matches!(
            d.algorithm,
            AlgorithmConfig::Oracle(_) | AlgorithmConfig::FreeRunning(_)
        ) {
            continue;
        }
        let file = dir.join(&d.name).join("exchanges.csv");
        let rows = read_rows(&file).unwrap();
        // Every client sees the change once, in its first reply after it.
        let changed: Vec<_> = rows.iter().filter(|r| r.server_changed).collect();
        assert_eq!(changed.len(), 1, "{}", d.name);
        assert_eq!(changed[0].stratum, 15, "{}", d.name);
        // Through the CLI's path (name and --set) for the naive clock, the
        // scenario's own configuration for the others.
        let cfg = if d.name == "naive" {
            config_from_sets("naive", &["poll_period_s=16".into()]).unwrap()
        } else {
            d.algorithm.clone()
        };
        assert_eq!(cfg, d.algorithm);
        let start = run_start_counter(&file);
        assert_eq!(start, clock(&summary, &d.name).counter_at_start);
        assert!(
            start.is_some(),
            "{}: the run records where it started",
            d.name
        );
        let r = replay(&rows, &cfg, 0, s.probes.metrics_from_s, start).unwrap();
        let live = &clock(&summary, &d.name).error_at_exchange_us;
        let again = ErrorStats::from_summary(&r.at_exchange);
        assert!(live.count > 300, "{}: {} exchanges", d.name, live.count);
        assert_eq!(&again, live, "{}: replayed metrics differ", d.name);
        // Exchange by exchange, bit for bit.
        let recorded = recorded_errors(&file);
        assert_eq!(recorded.len(), r.errors.len(), "{}", d.name);
        for (i, (a, b)) in recorded.iter().zip(&r.errors).enumerate() {
            assert_eq!(a.0, b.0, "{}: exchange {i}: tf", d.name);
            assert_eq!(
                a.1.to_bits(),
                b.1.to_bits(),
                "{}: exchange {i}: live {} s, replay {} s",
                d.name,
                a.1,
                b.1
            );
        }
        // A different algorithm over the same stamps gives other errors.
        if d.name == "naive" {
            let other = replay(
                &rows,
                &AlgorithmConfig::default_for("radclock").unwrap(),
                0,
                s.probes.metrics_from_s,
                None,
            )
            .unwrap();
            assert_ne!(ErrorStats::from_summary(&other.at_exchange), again);
        }
    }
    // Through the command line, the replay records what it ran: the
    // algorithm with every parameter, --set ones included, and the span
    // of the stamps as its duration.
    let file = dir.join("naive").join("exchanges.csv");
    let out = dir.join("replayed");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .arg("replay")
        .arg(&file)
        .args(["--algo", "radclock", "--set", "poll_period_s=64"])
        .args(["--metrics-from-s", "600", "--seed", "7", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let record = std::fs::read_to_string(out.join("replay.ron")).unwrap();
    for expected in [
        "// The replay as run by vtsim ",
        &format!("exchanges: \"{}\"", file.display()),
        "algorithm: Radclock(",
        "poll_period_s: 64",
        "metrics_from_s: 600.0",
        "seed: 7",
    ] {
        assert!(record.contains(expected), "{expected} not in {record}");
    }
    let replayed: RunSummary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(
        (replayed.duration_s - s.duration_s).abs() < 20.0,
        "duration {} s for stamps over a {} s run",
        replayed.duration_s,
        s.duration_s
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A daemon's poll timer is due when its counter reaches the requested
/// value, not after the nominal wait in true time: on lan-basics' crystal,
/// 20 ppm fast, the nominal wait would send each request 320 µs of counter
/// late. Naive asks for `Ta + 16 s`, so the spacing of successive `Ta`,
/// read on the counter, is 16 s plus the kernel's stamping latency (2 µs
/// mean) and the timer's aimed lateness (1e-8 of the wait).
#[test]
fn a_daemons_timer_runs_on_its_counter() {
    let mut s = naive_lan(1.0, 300.0, 0.0);
    s.output.exchanges = true;
    let (dir, _) = run_in_scratch(&s, "timer");
    let rows = read_rows(&dir.join("naive/exchanges.csv")).unwrap();
    assert!(rows.len() > 200, "{} exchanges", rows.len());
    let mut late_us: Vec<f64> = rows
        .windows(2)
        .map(|w| ((w[1].ta - w[0].ta) as f64 / w[0].counter_hz - 16.0) * 1e6)
        .collect();
    late_us.sort_by(f64::total_cmp);
    let median = late_us[late_us.len() / 2];
    assert!(
        (0.0..10.0).contains(&median),
        "median Ta spacing beyond 16 s: {median} µs"
    );
    assert!(
        late_us[0] > -10.0,
        "a request left early: {} µs",
        late_us[0]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupted_exchange_files_are_rejected_with_their_row() {
    let s = three_algorithms(0.25);
    let (dir, _) = run_in_scratch(&s, "corrupt");
    let text = std::fs::read_to_string(dir.join("naive/exchanges.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    assert!(lines.len() > 10, "{} lines", lines.len());
    assert!(read_rows(&dir.join("naive/exchanges.csv")).is_ok());
    // Rewrites data row 3 (line 4) of the file with `edit`.
    let corrupt = |name: &str, edit: &dyn Fn(&mut Vec<String>)| -> String {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let mut fields: Vec<String> = out[3].split(',').map(String::from).collect();
        edit(&mut fields);
        out[3] = fields.join(",");
        let path = dir.join(format!("{name}.csv"));
        std::fs::write(&path, out.join("\n") + "\n").unwrap();
        read_rows(&path).expect_err(name).to_string()
    };
    let tf = col("tf");
    let ta = col("ta");
    let tb = col("tb");
    let e = corrupt("text", &|f| f[tb] = "12.5x".into());
    assert!(
        e.contains("line 4") && e.contains("tb") && e.contains("12.5x"),
        "{e}"
    );
    let e = corrupt("text-int", &|f| f[ta] = "soon".into());
    assert!(e.contains("line 4") && e.contains("ta"), "{e}");
    let e = corrupt("backwards", &|f| {
        let a: u64 = f[ta].parse().unwrap();
        f[tf] = (a - 1).to_string();
    });
    assert!(e.contains("line 4") && e.contains("is before ta"), "{e}");
    let e = corrupt("short", &|f| f.truncate(tf));
    assert!(e.contains("line 4"), "{e}");
    // A column missing from the header is named.
    let no_tf: String = lines
        .iter()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.remove(tf);
            f.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join("no-tf.csv");
    std::fs::write(&path, no_tf).unwrap();
    let e = read_rows(&path).unwrap_err().to_string();
    assert!(e.contains("missing column \"tf\""), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A kernel that extends a narrow counter only on its own reads
/// (`ReadsOnly`) loses every whole wrap between two reads: a daemon that
/// never reads shows the raw register, so its clock falls back by exactly
/// one wrap period `2^bits / f` at each wrap, while a daemon reading every
/// second (faster than the wrap) keeps the full count.
#[test]
fn a_reader_slower_than_the_wrap_loses_exactly_one_period_per_wrap() {
    let s = Scenario::parse(
        r#"Scenario(
    name: "wrap",
    seed: 7,
    duration_s: 30,
    hosts: [(name: "h", counter_extension: ReadsOnly, counters: [(kind: AcpiPm)])],
    servers: [(name: "s")],
    paths: [()],
    daemons: [
        (name: "polling", host: "h", counter: AcpiPm, servers: [(server: "s", path: 0)], algorithm: FreeRunning(poll_period_s: 1)),
        (name: "idle", host: "h", counter: AcpiPm, servers: [], algorithm: FreeRunning()),
    ],
    probes: (interval_s: 0.5),
    output: (errors_csv_interval_s: 0.5, plots: false),
)"#,
        "wrap.ron",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dir = scratch("wrap");
    let opts = RunOptions {
        out: Some(dir.clone()),
        ..Default::default()
    };
    let (_, summary) = run_scenario(&s, &opts).unwrap();
    assert!(clock(&summary, "polling").error_us.max_abs < 1.0);
    let mut r = csv::Reader::from_path(dir.join("errors.csv")).unwrap();
    let idle: Vec<f64> = r
        .records()
        .map(|rec| rec.unwrap()[2].parse::<f64>().unwrap() * 1e-6)
        .collect();
    let jumps: Vec<f64> = idle
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| d.abs() > 1e-3)
        .collect();
    // ACPI PM: 24 bits at 3.579545 MHz wrap every 4.687 s: 6 wraps in 30 s.
    let period_s = f64::from(1u32 << 24) / 3_579_545.0;
    assert_eq!(jumps.len(), 6, "{jumps:?}");
    for j in jumps {
        assert!((j + period_s).abs() < 1e-6, "jump {j} s, wrap {period_s} s");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each daemon's kernel draws its read and stamping latencies from its own
/// stream: a second daemon on the same host and counter, talking to its own
/// server over its own path, leaves the first one's run unchanged to the
/// last bit (common random numbers for comparisons).
#[test]
fn another_daemon_on_the_host_leaves_a_clock_unchanged() {
    let mut alone = bundled("lan-basics.ron");
    alone.duration_s = 6.0 * 3600.0;
    alone.daemons.retain(|d| d.name == "naive");
    let mut shared = alone.clone();
    let mut server = shared.servers[0].clone();
    server.name = "stratum1-b".into();
    shared.servers.push(server);
    shared.paths.push(shared.paths[0].clone());
    let mut other = shared.daemons[0].clone();
    other.name = "ntpd".into();
    other.servers = vec![vtsim::scenario::ServerRef {
        server: "stratum1-b".into(),
        path: 1,
    }];
    other.algorithm = AlgorithmConfig::Ntpd(Default::default());
    shared.daemons.push(other);
    let a = run_in_memory(&alone).unwrap();
    let b = run_in_memory(&shared).unwrap();
    let naive = |r: &RunSummary| r.clocks.iter().find(|c| c.name == "naive").unwrap().clone();
    assert_eq!(naive(&a), naive(&b));
    assert!(b.events > a.events);
}
