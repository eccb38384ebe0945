//! Sweeps end to end: results that do not depend on the number of worker
//! threads, interruption and `--resume`, fields varied together (linked),
//! and the bundled sweep files.
//!
//! The sweeps here are small (a LAN with one RADclock and one ntpd, two
//! simulated hours, a handful of runs) so each test takes about a second.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use algorithms::AlgorithmConfig;

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vtsim-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The base scenario of the test sweeps: RADclock and ntpd on a LAN.
const BASE: &str = r#"Scenario(
    name: "sweep-base",
    seed: 11,
    duration_s: 7200,
    hosts: [(name: "h", tsc_crystal: (skew_ppm: 30.0), counters: [(kind: Tsc)])],
    servers: [(name: "s", stratum: 1)],
    paths: [(min_rtt_us: 300, asymmetry_us: 20, forward: (queueing: Exponential(mean_us: 20)), backward: (queueing: Exponential(mean_us: 20)))],
    daemons: [
        (name: "radclock", host: "h", servers: [(server: "s", path: 0)], algorithm: Radclock(poll_period_s: 16)),
        (name: "ntpd", host: "h", servers: [(server: "s", path: 0)], algorithm: Ntpd(minpoll: 4, maxpoll: 4)),
    ],
    probes: (interval_s: 10, metrics_from_s: 1800),
    output: (plots: false),
)
"#;

/// RADclock's poll period as the axis, ntpd's exponents linked to it.
const POLL_VARY: &str = r#"
        (path: "daemons[0].algorithm.poll_period_s", values: LogRange(from: 8, to: 64, steps: 4)),
        (path: "daemons[1].algorithm.minpoll", values: Linked(to: "daemons[0].algorithm.poll_period_s", transform: Log2)),
        (path: "daemons[1].algorithm.maxpoll", values: Linked(to: "daemons[0].algorithm.poll_period_s", transform: Log2)),
"#;

/// Writes `base.ron` and `sweep.ron` (with `vary` entries and `seeds`) into
/// `dir`; returns the sweep file.
fn sweep_files(dir: &Path, vary: &str, seeds: u32) -> PathBuf {
    sweep_files_with(dir, vary, seeds, "")
}

/// [`sweep_files`] with more fields of the sweep (e.g. `duration_s: 60,`).
fn sweep_files_with(dir: &Path, vary: &str, seeds: u32, more: &str) -> PathBuf {
    std::fs::write(dir.join("base.ron"), BASE).unwrap();
    let sweep = dir.join("sweep.ron");
    std::fs::write(
        &sweep,
        format!(
            "Sweep(name: \"test\", base: \"base.ron\", vary: [{vary}], seeds: {seeds}, {more})\n"
        ),
    )
    .unwrap();
    sweep
}

/// `vtsim sweep <sweep> --out <out> -q <extra...>`.
fn vtsim_sweep(sweep: &Path, out: &Path, extra: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .arg("sweep")
        .arg(sweep)
        .arg("--out")
        .arg(out)
        .arg("-q")
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    o
}

/// Like [`vtsim_sweep`], and it must succeed.
fn sweep_ok(sweep: &Path, out: &Path, extra: &[&str]) {
    let o = vtsim_sweep(sweep, out, extra);
    assert!(
        o.status.success(),
        "vtsim sweep {extra:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Data rows of a results file (header excluded).
fn rows(p: &Path) -> Vec<String> {
    String::from_utf8(read(p))
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn results_do_not_depend_on_the_number_of_jobs() {
    let d = scratch("jobs");
    let sweep = sweep_files(&d, POLL_VARY, 2);
    sweep_ok(&sweep, &d.join("j1"), &["--jobs", "1"]);
    sweep_ok(&sweep, &d.join("j2"), &["--jobs", "2"]);
    for file in ["results.csv", "points.csv"] {
        assert!(
            read(&d.join("j1").join(file)) == read(&d.join("j2").join(file)),
            "{file} differs between --jobs 1 and --jobs 2"
        );
    }
    // 4 poll periods x 2 seeds, in grid order, every metric finite.
    let r = rows(&d.join("j1").join("results.csv"));
    assert_eq!(r.len(), 8);
    for (i, row) in r.iter().enumerate() {
        assert!(row.starts_with(&format!("{i},{},", i / 2)), "{row}");
        assert!(!row.contains("NaN") && !row.contains("inf"), "{row}");
    }
    // One plot per metric, each with a line and a band for both clocks.
    let plot = d
        .join("j1")
        .join("max_abs_us_vs_daemons_0__algorithm_poll_period_s");
    for ext in ["png", "svg"] {
        let p = plot.with_extension(ext);
        assert!(read(&p).len() > 1000, "{}", p.display());
    }
    let data = String::from_utf8(read(&plot.with_file_name(format!(
        "{}_data.csv",
        plot.file_name().unwrap().to_string_lossy()
    ))))
    .unwrap();
    assert!(
        data.starts_with("series,daemons[0].algorithm.poll_period_s,max_abs_us median,max_abs_us q25,max_abs_us q75\n"),
        "{data}"
    );
    for clock in ["radclock", "ntpd"] {
        assert_eq!(
            data.lines()
                .filter(|l| l.starts_with(&format!("{clock},")))
                .count(),
            4,
            "{clock}: one point per poll period\n{data}"
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn stability_metrics_become_sweep_columns_when_the_base_asks_for_them() {
    let d = scratch("stability");
    let sweep = sweep_files(&d, POLL_VARY, 1);
    sweep_ok(&sweep, &d.join("plain"), &[]);
    let plain = rows(&d.join("plain").join("results.csv"));
    std::fs::write(
        d.join("base.ron"),
        BASE.replace(
            "probes: (interval_s: 10, metrics_from_s: 1800)",
            "probes: (interval_s: 10, metrics_from_s: 1800, stability_max_tau_s: 640)",
        ),
    )
    .unwrap();
    sweep_ok(&sweep, &d.join("stab"), &[]);
    let header = |dir: &str| {
        std::fs::read_to_string(d.join(dir).join("results.csv"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert!(!header("plain").contains("tdev_us"), "{}", header("plain"));
    let head = header("stab");
    let names: Vec<&str> = head.split(',').collect();
    let r = rows(&d.join("stab").join("results.csv"));
    assert_eq!(r.len(), plain.len());
    for clock in ["radclock", "ntpd"] {
        for metric in ["tdev_us", "mtie_us"] {
            let col = names
                .iter()
                .position(|n| *n == format!("{clock}.{metric}"))
                .unwrap_or_else(|| panic!("no {clock}.{metric} in {head}"));
            for row in &r {
                let v: f64 = row.split(',').nth(col).unwrap().parse().unwrap();
                // A LAN clock wanders by a fraction of a µs to tens of µs
                // over 640 s.
                assert!(v > 0.01 && v < 1000.0, "{clock}.{metric} = {v} in {row}");
            }
        }
    }
    // The other columns are the same runs' same figures.
    let cell = |dir: &str, rows: &[String], i: usize, name: &str| {
        let col = header(dir).split(',').position(|n| n == name).unwrap();
        rows[i].split(',').nth(col).unwrap().to_string()
    };
    for i in 0..r.len() {
        for name in ["radclock.median_us", "ntpd.rms_us"] {
            assert_eq!(cell("plain", &plain, i, name), cell("stab", &r, i, name));
        }
    }
    assert!(
        d.join("stab")
            .join("mtie_us_vs_daemons_0__algorithm_poll_period_s.png")
            .exists()
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// A failover's TSC jump and log lag are columns of a sweep whose base
/// fails over: the jump is the hosts' 5 s offset less their 30 ppm rate
/// difference over the time before failover.
#[test]
fn failover_figures_become_sweep_columns() {
    let d = scratch("failover");
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/replication-failover.ron"),
    )
    .unwrap()
    .replace("duration_s: 18000", "duration_s: 1200")
    .replace("metrics_from_s: 7200", "metrics_from_s: 0")
    .replace("at_s: 9000", "at_s: 300");
    std::fs::write(d.join("base.ron"), base).unwrap();
    let sweep = d.join("sweep.ron");
    std::fs::write(
        &sweep,
        "Sweep(name: \"failover\", base: \"base.ron\", \
         vary: [(path: \"events[0].at_s\", values: List([300, 600, 900]))], seeds: 1)\n",
    )
    .unwrap();
    sweep_ok(&sweep, &d.join("out"), &[]);
    let text = std::fs::read_to_string(d.join("out").join("results.csv")).unwrap();
    let names: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no {name} in {names:?}"))
    };
    let (at, jump, lag) = (
        col("events[0].at_s"),
        col("failovers[0].tsc_jump_s"),
        col("failovers[0].max_log_lag_us"),
    );
    let r = rows(&d.join("out").join("results.csv"));
    assert_eq!(r.len(), 3);
    for row in &r {
        let cells: Vec<f64> = row
            .split(',')
            .map(|c| c.parse().unwrap_or(f64::NAN))
            .collect();
        let expect = 5.0 - 30e-6 * cells[at];
        assert!((cells[jump] - expect).abs() < 1e-3, "{row}");
        assert!((50.0..60.0).contains(&cells[lag]), "{row}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn interrupted_then_resumed_equals_uninterrupted() {
    let d = scratch("resume");
    let sweep = sweep_files(&d, POLL_VARY, 2);
    sweep_ok(&sweep, &d.join("whole"), &["--jobs", "2"]);
    let whole = read(&d.join("whole").join("results.csv"));

    // Stopped after 3 runs: those rows are kept, nothing is summarised.
    let part = d.join("part");
    sweep_ok(&sweep, &part, &["--jobs", "2", "--max-runs", "3"]);
    assert_eq!(rows(&part.join("results.csv")).len(), 3);
    assert!(!part.join("points.csv").exists());
    // Continuing without --resume is refused; with it, only the rest runs.
    let o = vtsim_sweep(&sweep, &part, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume"));
    sweep_ok(
        &sweep,
        &part,
        &["--jobs", "1", "--max-runs", "2", "--resume"],
    );
    assert_eq!(rows(&part.join("results.csv")).len(), 5);
    sweep_ok(&sweep, &part, &["--jobs", "2", "--resume"]);
    assert!(
        read(&part.join("results.csv")) == whole,
        "resumed results.csv differs from the uninterrupted one"
    );
    assert!(read(&part.join("points.csv")) == read(&d.join("whole").join("points.csv")));

    // A sweep whose values changed since does not resume over the old rows.
    let other = sweep_files(
        &d,
        &POLL_VARY.replace("from: 8, to: 64", "from: 16, to: 128"),
        2,
    );
    let o = vtsim_sweep(&other, &part, &["--resume"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot resume"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Nor over a row with a column too many.
    let sweep = sweep_files(&d, POLL_VARY, 2);
    let edited = d.join("edited");
    std::fs::create_dir_all(&edited).unwrap();
    for f in ["sweep.ron", "base.ron"] {
        std::fs::copy(d.join("whole").join(f), edited.join(f)).unwrap();
    }
    let text = String::from_utf8(whole.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let longer = format!("{},9", lines[2]);
    lines[2] = &longer;
    std::fs::write(edited.join("results.csv"), lines.join("\n") + "\n").unwrap();
    let o = vtsim_sweep(&sweep, &edited, &["--resume"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a run of this sweep"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_finished_sweep_prints_its_points() {
    let d = scratch("table");
    let sweep = sweep_files(&d, POLL_VARY, 2);
    // Interrupted: no table, the rows so far.
    let o = vtsim_sweep(&sweep, &d.join("part"), &["--max-runs", "3"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && !out.contains("median [µs]"), "{out}");
    assert!(out.contains("test: 3 of 8 runs done"), "{out}");
    assert!(out.contains("; to continue it: vtsim sweep "), "{out}");
    assert!(out.trim_end().ends_with(" --resume"), "{out}");
    let o = vtsim_sweep(&sweep, &d.join("whole"), &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    // A header, 4 points × 2 clocks, the note, the closing line.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1 + 8 + 1 + 1, "{out}");
    assert!(lines[0].contains("median [µs]"), "{out}");
    // A point is labelled by its axis: ntpd's exponents follow it.
    assert!(
        lines[1].contains("poll_period_s=8 ") && lines[1].contains("radclock"),
        "{out}"
    );
    assert!(
        !out.contains("minpoll") && !out.contains("maxpoll"),
        "{out}"
    );
    assert!(lines[9].starts_with("(each cell: the median over"), "{out}");
    assert!(lines[10].contains("8 of 8 runs done"), "{out}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// A finished sweep whose table is longer than the 64 rows `vtsim sweep`
/// prints says how many it left out and the command that prints them all,
/// which does.
#[test]
fn a_long_table_is_cut_with_a_pointer_to_the_whole() {
    let d = scratch("long");
    // 33 points × 2 clocks: 66 rows.
    let vary = r#"(path: "paths[0].asymmetry_us", values: LinRange(from: 0, to: 32, steps: 33))"#;
    let sweep = sweep_files_with(&d, vary, 1, "duration_s: 3600");
    let o = vtsim_sweep(&sweep, &d.join("out"), &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    // A header, 64 rows, the note, the pointer, the closing line.
    assert_eq!(lines.len(), 1 + 64 + 1 + 1 + 1, "{out}");
    assert!(lines[64].contains("asymmetry_us=31 ") && lines[64].contains("ntpd"));
    let pointer = lines[66];
    assert!(pointer.starts_with("(2 more rows left out: "), "{out}");
    let command = pointer.split('`').nth(1).unwrap();
    assert_eq!(
        command,
        format!("vtsim compare {}", d.join("out").display())
    );
    // Run as printed, from a directory without an earlier comparison.
    let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .args(command.split(' ').skip(1))
        .current_dir(&d)
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = all.lines().filter(|l| l.starts_with("out ")).count();
    assert_eq!(rows, 66, "{all}");
    assert!(all.contains("asymmetry_us=32 "), "{all}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// The bundled dirty-rate sweep: its migrations' downtime and total time
/// are in the printed table, as `results.csv` holds them (one seed, so
/// the medians are the runs' values), never a row of dashes.
#[test]
fn a_migration_sweep_prints_its_migrations() {
    let d = scratch("migrations");
    let sweep =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweeps/migration-dirty-rate.ron");
    let o = vtsim_sweep(&sweep, &d.join("out"), &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    let text = std::fs::read_to_string(d.join("out").join("results.csv")).unwrap();
    let names: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| names.iter().position(|n| *n == name).unwrap();
    let mut checked = 0;
    for row in rows(&d.join("out").join("results.csv")) {
        let cells: Vec<&str> = row.split(',').collect();
        for m in ["migrations[0]", "migrations[1]"] {
            let value = |metric: &str| {
                let x: f64 = cells[col(&format!("{m}.{metric}"))].parse().unwrap();
                format!("{x:.3}")
            };
            let (down, total) = (value("downtime_ms"), value("total_s"));
            assert!(
                out.lines().any(|l| {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    words.ends_with(&[m, &down, &total])
                }),
                "no row of {m} with {down} ms and {total} s:\n{out}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 14);
    // Each point is labelled once, by the axis; the linked rate of the
    // other migration follows it.
    for row in out
        .lines()
        .filter(|l| l.starts_with("migration-dirty-rate "))
    {
        assert_eq!(
            row.matches("cold_dirty_rate_mib_per_s=").count(),
            1,
            "{out}"
        );
    }
    assert!(
        out.lines()
            .all(|l| !(l.contains("migrations[") && l.contains('—'))),
        "{out}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn list_names_the_bundled_scenarios_and_sweeps() {
    let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .arg("list")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.contains("(invalid"), "{out}");
    let sweeps = out.split("sweeps in ").nth(1).expect("a sweeps section");
    assert!(
        sweeps.contains("poll-period.ron")
            && sweeps.contains("over 11 points × 5 seeds = 55 runs of poll-period-base"),
        "{out}"
    );
    // Base scenarios beside the sweeps are not sweeps.
    assert!(!sweeps.contains("poll-period-base.ron"), "{out}");
    assert!(out.contains("lan-basics.ron"), "{out}");
}

#[test]
fn validate_checks_a_sweep_at_every_point() {
    let d = scratch("validate");
    let sweep = sweep_files(&d, POLL_VARY, 3);
    let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .arg("validate")
        .arg(&sweep)
        .arg(d.join("base.ron"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains(
            "ok (sweep test: daemons[0].algorithm.poll_period_s over 4 points × 3 seeds = 12 runs of sweep-base)"
        )
            && out.contains("base.ron: ok (sweep-base)"),
        "{out}"
    );
    // A value out of range at one point fails, naming it.
    let bad = sweep_files(
        &d,
        r#"(path: "daemons[0].algorithm.poll_period_s", values: List([16, 2048]))"#,
        1,
    );
    let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .arg("validate")
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("poll_period_s = 2048"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_sweep_records_itself_and_resumes_only_the_same_sweep() {
    let d = scratch("records");
    let sweep = sweep_files_with(&d, POLL_VARY, 1, "duration_s: 3600");
    let whole = d.join("whole");
    sweep_ok(&sweep, &whole, &["--jobs", "2"]);
    let recorded = String::from_utf8(read(&whole.join("sweep.ron"))).unwrap();
    assert!(
        recorded.starts_with("// The sweep as run by vtsim ") && recorded.contains("duration_s: "),
        "{recorded}"
    );
    // The recorded pair repeats the sweep exactly.
    let again = d.join("again");
    sweep_ok(&whole.join("sweep.ron"), &again, &["--jobs", "1"]);
    for f in ["results.csv", "points.csv", "sweep.ron", "base.ron"] {
        assert!(read(&again.join(f)) == read(&whole.join(f)), "{f} differs");
    }

    // Stopped before any run finished: the records and the header are there.
    let part = d.join("part");
    sweep_ok(&sweep, &part, &["--max-runs", "0"]);
    assert!(rows(&part.join("results.csv")).is_empty());
    sweep_ok(&sweep, &part, &["--max-runs", "2", "--resume"]);
    assert_eq!(rows(&part.join("results.csv")).len(), 2);

    // An edited base scenario is not resumed over the rows of the old one.
    let edited = BASE.replace("skew_ppm: 30.0", "skew_ppm: 31.0");
    assert_ne!(edited, BASE);
    std::fs::write(d.join("base.ron"), &edited).unwrap();
    let o = vtsim_sweep(&sweep, &part, &["--resume"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("this sweep started with another base scenario")
            && err.contains("`skew_ppm: 30.0,` then, `skew_ppm: 31.0,` now"),
        "{err}"
    );
    assert_eq!(
        rows(&part.join("results.csv")).len(),
        2,
        "rows kept as they were"
    );

    // --force starts it over with the edited base.
    sweep_ok(&sweep, &part, &["--force"]);
    assert_eq!(rows(&part.join("results.csv")).len(), 4);
    let base = String::from_utf8(read(&part.join("base.ron"))).unwrap();
    assert!(base.contains("skew_ppm: 31.0"), "{base}");
    assert!(read(&part.join("results.csv")) != read(&whole.join("results.csv")));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn killed_sweep_keeps_whole_rows_and_resumes() {
    let d = scratch("kill");
    // Simulated days, so the sweep is still running when it is killed.
    let sweep = sweep_files_with(&d, POLL_VARY, 4, "duration_s: 86400");
    sweep_ok(&sweep, &d.join("whole"), &["--jobs", "2"]);
    let whole = read(&d.join("whole").join("results.csv"));
    // Kill the process (harder than Ctrl-C) once some rows are written.
    let out = d.join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .arg("sweep")
        .arg(&sweep)
        .arg("--out")
        .arg(&out)
        .args(["-q", "--jobs", "2"])
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let written = std::fs::read_to_string(out.join("results.csv"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if written >= 3 || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    child.wait().unwrap();
    // What is there are whole rows of the uninterrupted sweep.
    let kept = rows(&out.join("results.csv"));
    let all: Vec<String> = String::from_utf8(whole.clone())
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    for r in &kept {
        assert!(all.contains(r), "not a whole row: {r}");
    }
    assert!(
        kept.len() < all.len(),
        "the sweep ended before it was killed"
    );
    sweep_ok(&sweep, &out, &["--jobs", "2", "--resume"]);
    assert!(read(&out.join("results.csv")) == whole);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Ctrl-C (SIGINT) stops a sweep with the shell's status for it, 130,
/// after saying on stderr how many runs are kept and the command that
/// continues the sweep; that command finishes it.
#[test]
fn interrupted_sweep_says_how_to_resume() {
    let d = scratch("sigint");
    let sweep = sweep_files_with(&d, POLL_VARY, 4, "duration_s: 86400");
    let out = d.join("stopped");
    let child = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .arg("sweep")
        .arg(&sweep)
        .arg("--out")
        .arg(&out)
        .args(["-q", "--jobs", "2"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The header is written once the sweep is under way.
    let start = Instant::now();
    while !out.join("results.csv").exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{:?}: {stderr}", o.status);
    // A worker may finish its run between the count and the exit.
    let kept = rows(&out.join("results.csv")).len();
    let said: usize = stderr
        .split("test: interrupted with ")
        .nth(1)
        .and_then(|t| t.split(" of 16 runs done").next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stderr}"));
    assert!(
        said <= kept && kept <= said + 2 && kept < 16,
        "{kept}: {stderr}"
    );
    let resume = format!(
        "vtsim sweep {} --out {} --resume",
        sweep.display(),
        out.display()
    );
    let command = stderr
        .lines()
        .find_map(|l| l.split("to continue it: ").nth(1))
        .unwrap_or_else(|| panic!("no command in {stderr}"));
    assert_eq!(command, resume);
    // The command as printed (these paths need no quotes) completes it.
    let words: Vec<&str> = command.split(' ').skip(1).collect();
    let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .args(&words)
        .arg("-q")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(rows(&out.join("results.csv")).len(), 16);
    std::fs::remove_dir_all(&d).unwrap();
}

fn number(v: &ron::Value) -> f64 {
    match v {
        ron::Value::Number(n) => n.into_f64(),
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn linked_fields_follow_their_axis() {
    let d = scratch("linked");
    let vary = r#"
        (path: "daemons[0].algorithm.poll_period_s", values: List([8, 32, 1024])),
        (path: "daemons[1].algorithm.minpoll", values: Linked(to: "daemons[0].algorithm.poll_period_s", transform: Log2)),
        (path: "daemons[1].algorithm.maxpoll", values: Linked(to: "daemons[0].algorithm.poll_period_s", transform: Log2)),
        (path: "paths[0].asymmetry_us", values: List([10, 40])),
        (path: "paths[0].min_rtt_us", values: Linked(to: "paths[0].asymmetry_us", transform: Scale(10))),
        (path: "probes.metrics_from_s", values: Linked(to: "duration_s", transform: Scale(0.5))),
        (path: "duration_s", values: List([3600])),
    "#;
    let plan = vtsim::sweep::load(&sweep_files(&d, vary, 1)).unwrap();
    // Linked fields add no axis: 3 poll periods x 2 asymmetries x 1 duration.
    assert_eq!(plan.points.len(), 6);
    for p in &plan.points {
        let s = plan.scenario_for(p, 0).unwrap();
        let poll = match &s.daemons[0].algorithm {
            AlgorithmConfig::Radclock(c) => c.poll_period_s,
            other => panic!("{other:?}"),
        };
        let AlgorithmConfig::Ntpd(n) = &s.daemons[1].algorithm else {
            panic!("ntpd expected")
        };
        assert_eq!(2f64.powi(n.minpoll), poll, "{}", plan.point_text(p));
        assert_eq!(n.minpoll, n.maxpoll);
        let a = s.paths[0].asymmetry_us.unwrap();
        assert_eq!(s.paths[0].min_rtt_us, Some(10.0 * a));
        assert_eq!(s.probes.metrics_from_s, 1800.0);
        assert_eq!(number(&p[1]), poll.log2());
    }
    // The first axis is outermost; linked values sit in their own columns.
    assert_eq!(
        plan.points
            .iter()
            .map(|p| (number(&p[0]), number(&p[2]), number(&p[3]), number(&p[4])))
            .collect::<Vec<_>>(),
        [
            (8.0, 3.0, 10.0, 100.0),
            (8.0, 3.0, 40.0, 400.0),
            (32.0, 5.0, 10.0, 100.0),
            (32.0, 5.0, 40.0, 400.0),
            (1024.0, 10.0, 10.0, 100.0),
            (1024.0, 10.0, 40.0, 400.0),
        ]
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// Loads a sweep with these `vary` entries; returns its error text.
fn load_error(name: &str, vary: &str) -> String {
    let d = scratch(name);
    let e = match vtsim::sweep::load(&sweep_files(&d, vary, 1)) {
        Ok(_) => panic!("accepted: {vary}"),
        Err(e) => e.to_string(),
    };
    std::fs::remove_dir_all(&d).unwrap();
    e
}

#[test]
fn bad_linked_values_are_refused_clearly() {
    let poll = r#"(path: "daemons[0].algorithm.poll_period_s", values: List(["#;
    let linked = r#"])), (path: "daemons[1].algorithm.minpoll", values: Linked(to: "daemons[0].algorithm.poll_period_s", transform: Log2))"#;
    // ntpd refuses minpoll 2 (a 4 s poll): the field, its range, the point.
    let e = load_error("below", &format!("{poll}8, 4{linked}"));
    for part in [
        "daemons[1].algorithm.minpoll",
        "3..=17",
        "daemons[0].algorithm.poll_period_s = 4",
        "daemons[1].algorithm.minpoll = 2",
    ] {
        assert!(e.contains(part), "lacks {part:?}: {e}");
    }
    // 12 s is no power of two: log2 is no whole exponent. The error names
    // the linked field, which refused it, not only the point.
    let e = load_error("fraction", &format!("{poll}12{linked}"));
    for part in [
        "daemons[1].algorithm.minpoll: value does not fit the field",
        "daemons[1].algorithm.minpoll = 3.58",
    ] {
        assert!(e.contains(part), "lacks {part:?}: {e}");
    }
    // The logarithm of a negative number does not exist.
    let e = load_error(
        "negative",
        r#"(path: "paths[0].asymmetry_us", values: List([10, -10])),
           (path: "daemons[1].algorithm.minpoll", values: Linked(to: "paths[0].asymmetry_us", transform: Log2))"#,
    );
    for part in [
        "vary[1].values",
        "Log2 needs a positive number",
        "paths[0].asymmetry_us = -10",
    ] {
        assert!(e.contains(part), "lacks {part:?}: {e}");
    }
    // A link must name an axis: a varied field with values of its own.
    let e = load_error(
        "dangling",
        r#"(path: "daemons[0].algorithm.poll_period_s", values: List([16])),
           (path: "daemons[1].algorithm.minpoll", values: Linked(to: "daemons[0].algorithm.poll_period")),
           (path: "daemons[1].algorithm.maxpoll", values: Linked(to: "daemons[1].algorithm.minpoll"))"#,
    );
    for part in [
        "vary[1].values: Linked to \"daemons[0].algorithm.poll_period\"",
        "vary[2].values: Linked to \"daemons[1].algorithm.minpoll\"",
        "those are: daemons[0].algorithm.poll_period_s",
    ] {
        assert!(e.contains(part), "lacks {part:?}: {e}");
    }
    // A field varied twice.
    let e = load_error(
        "twice",
        r#"(path: "duration_s", values: List([60])),
           (path: "duration_s", values: Linked(to: "duration_s"))"#,
    );
    assert!(
        e.contains("vary[1].path: \"duration_s\" is already varied by vary[0]"),
        "{e}"
    );
}

#[test]
fn bundled_sweeps_load_and_every_point_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweeps");
    let mut sweeps = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        if !text.contains("Sweep(") {
            continue; // a base scenario
        }
        let plan = vtsim::sweep::load(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(!plan.runs().is_empty(), "{}", p.display());
        sweeps += 1;
    }
    assert!(sweeps >= 4);
    // The poll-period sweep pairs ntpd's exponents with RADclock's period.
    let plan = vtsim::sweep::load(&dir.join("poll-period.ron")).unwrap();
    for p in &plan.points {
        let s = plan.scenario_for(p, 0).unwrap();
        let (AlgorithmConfig::Radclock(r), AlgorithmConfig::Ntpd(n)) =
            (&s.daemons[0].algorithm, &s.daemons[1].algorithm)
        else {
            panic!("RADclock and ntpd expected")
        };
        assert_eq!(2f64.powi(n.minpoll), r.poll_period_s);
        assert_eq!(2f64.powi(n.maxpoll), r.poll_period_s);
    }
}

/// `vtsim validate` on a sweep file; returns its exit status and stderr.
fn validate(sweep: &Path) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .arg("validate")
        .arg(sweep)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (o.status.code(), stderr)
}

#[test]
fn a_sweep_name_must_name_a_folder_inside_the_output_root() {
    let d = scratch("name");
    let sweep = sweep_files(&d, POLL_VARY, 1);
    let text = std::fs::read_to_string(&sweep).unwrap();
    // Absolute, escaping `out/`, and `out/` itself (which --force would
    // replace whole).
    for name in ["/tmp/vtsim-abs-sweep", "../../evil", ""] {
        std::fs::write(
            &sweep,
            text.replace("name: \"test\"", &format!("name: {name:?}")),
        )
        .unwrap();
        let (code, err) = validate(&sweep);
        assert_eq!(code, Some(1), "{name:?}: {err}");
        assert!(
            err.contains(&format!("{}: 1 invalid value", sweep.display()))
                && err.contains("\n  name: must be non-empty, without '/'"),
            "{name:?}: {err}"
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn varying_the_seed_is_refused_in_favour_of_seeds() {
    let e = load_error("seed", r#"(path: "seed", values: List([1, 2]))"#);
    assert!(
        e.contains("vary[0].path: \"seed\" cannot be varied") && e.contains("seeds:"),
        "{e}"
    );
}

/// A sweep runs each point 1 to 10 000 times: the bounds are accepted, one
/// more is refused with the range.
#[test]
fn seeds_are_accepted_up_to_ten_thousand() {
    let d = scratch("seeds-range");
    let poll = r#"(path: "daemons[0].algorithm.poll_period_s", values: List([16, 32]))"#;
    for seeds in [1, 10_000] {
        let plan = vtsim::sweep::load(&sweep_files(&d, poll, seeds));
        assert!(plan.is_ok(), "seeds {seeds}: {}", plan.err().unwrap());
    }
    let e = vtsim::sweep::load(&sweep_files(&d, poll, 10_001))
        .err()
        .expect("10001 seeds accepted")
        .to_string();
    assert!(e.contains("seeds: 10001 is outside 1..=10000"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn varying_a_name_is_refused() {
    for path in ["daemons[0].name", "hosts[0].name", "name"] {
        let e = load_error(
            "vary-name",
            &format!(r#"(path: "{path}", values: List(["a", "A"]))"#),
        );
        assert!(
            e.contains(&format!("vary[0].path: \"{path}\" cannot be varied"))
                && e.contains("names"),
            "{e}"
        );
    }
}

#[test]
fn sweep_parameters_are_short_plain_names() {
    let long = format!("${}", "p".repeat(250));
    for path in ["$../../evil", "$", "$a b", long.as_str()] {
        let e = load_error(
            "parameter",
            &format!(r#"(path: "{path}", values: List([1, 2]))"#),
        );
        assert!(e.contains("vary[0].path: "), "{e}");
        assert!(
            e.contains("letters, digits") || e.contains("at most"),
            "{e}"
        );
    }
    // Field paths name plot files too.
    let e = load_error(
        "long-path",
        &format!(
            r#"(path: "daemons[{}].algorithm.poll_period_s", values: List([16]))"#,
            "0".repeat(200)
        ),
    );
    assert!(e.contains("vary[0].path: ") && e.contains("at most"), "{e}");
}

#[test]
fn a_resume_refuses_rows_it_cannot_read() {
    let d = scratch("garbled");
    let sweep = sweep_files_with(
        &d,
        r#"(path: "daemons[0].algorithm.poll_period_s", values: List([16, 32]))"#,
        1,
        "duration_s: 3600",
    );
    let out = d.join("out");
    sweep_ok(&sweep, &out, &[]);
    let results = out.join("results.csv");
    let text = String::from_utf8(read(&results)).unwrap();
    let points = read(&out.join("points.csv"));
    // The last cell of the second row (line 3).
    let (kept, _) = text.trim_end().rsplit_once(',').unwrap();
    let garbled = format!("{kept},garbage\n");
    std::fs::write(&results, &garbled).unwrap();
    let o = vtsim_sweep(&sweep, &out, &["--resume"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let columns = text.lines().next().unwrap().split(',').count();
    assert!(
        err.contains(&format!(
            "{}: line 3, column {columns} (",
            results.display()
        )) && err.contains("\"garbage\" is not a number"),
        "{err}"
    );
    assert!(read(&results) == garbled.as_bytes(), "results.csv changed");
    assert!(
        read(&out.join("points.csv")) == points,
        "points.csv changed"
    );
    // A row written twice is refused too, naming both lines.
    std::fs::write(
        &results,
        format!("{}{}\n", text, text.lines().nth(2).unwrap()),
    )
    .unwrap();
    let o = vtsim_sweep(&sweep, &out, &["--resume"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("line 4") && err.contains("line 3"),
        "{err}"
    );
    // Blank lines an editor left are no rows: the sweep resumes past them.
    let first_row: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&results, format!("{}\n\n\n", first_row.join("\n"))).unwrap();
    sweep_ok(&sweep, &out, &["--resume"]);
    assert!(
        read(&results) == text.as_bytes(),
        "resumed results.csv differs"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn each_run_is_the_base_seed_plus_its_index_and_its_row_says_so() {
    // Run i of a point simulates the base scenario with seed base + i, and
    // its row names that seed and holds that very run's metrics.
    let d = scratch("seeds");
    let sweep = sweep_files_with(
        &d,
        r#"(path: "daemons[0].algorithm.poll_period_s", values: List([16]))"#,
        3,
        "duration_s: 2400,",
    );
    sweep_ok(&sweep, &d.join("out"), &["--jobs", "1"]);
    let text = String::from_utf8(read(&d.join("out").join("results.csv"))).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = head
        .iter()
        .position(|c| *c == "radclock.max_abs_us")
        .unwrap();
    let mut base = vtsim::scenario::Scenario::parse(BASE, "base.ron").unwrap();
    base.duration_s = 2400.0;
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3);
    for (i, line) in (0u64..).zip(rows) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[2], (11 + i).to_string(), "seed column: {line}");
        let mut s = base.clone();
        s.seed = 11 + i;
        let alone = vtsim::sweep::run_in_memory(&s).unwrap();
        let radclock = alone.clocks.iter().find(|c| c.name == "radclock").unwrap();
        assert_eq!(cells[col], radclock.error_us.max_abs.to_string(), "{line}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// A lighter base than [`BASE`]: one naive daemon, so that checking a
/// grid of 10⁵ points takes about a second.
const LIGHT_BASE: &str = r#"Scenario(
    name: "light",
    seed: 11,
    duration_s: 7200,
    hosts: [(name: "h", counters: [(kind: Tsc)])],
    servers: [(name: "s", stratum: 1)],
    paths: [(min_rtt_us: 300, asymmetry_us: 20)],
    daemons: [(name: "naive", host: "h", servers: [(server: "s", path: 0)], algorithm: Naive(poll_period_s: 16))],
    output: (plots: false),
)
"#;

/// Runs `vtsim sweep` on a grid of `rtt_steps` minimum RTTs (1000 µs and
/// up) × `asymmetry_steps` asymmetries (up to 1000.5 µs), over
/// [`LIGHT_BASE`]. The asymmetry may not exceed the RTT, so only the last
/// point is bad, and only by the two values together. Returns the sweep's
/// stderr, then that of a sweep of the bad point alone.
fn last_point_refused(name: &str, rtt_steps: usize, asymmetry_steps: usize) -> (String, String) {
    let d = scratch(name);
    std::fs::write(d.join("base.ron"), LIGHT_BASE).unwrap();
    let sweep = d.join("sweep.ron");
    let out = d.join("out");
    let mut refused = Vec::new();
    for (rtt, asymmetry) in [
        (
            format!(
                "LinRange(from: {}, to: 1000, steps: {rtt_steps})",
                999 + rtt_steps
            ),
            format!("LinRange(from: 1, to: 1000.5, steps: {asymmetry_steps})"),
        ),
        ("List([1000])".to_string(), "List([1000.5])".to_string()),
    ] {
        std::fs::write(
            &sweep,
            format!(
                "Sweep(name: \"{name}\", base: \"base.ron\", vary: [\
                 (path: \"paths[0].min_rtt_us\", values: {rtt}), \
                 (path: \"paths[0].asymmetry_us\", values: {asymmetry})])\n"
            ),
        )
        .unwrap();
        let o = vtsim_sweep(&sweep, &out, &[]);
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        // Refused before any run: nothing written.
        assert!(!out.exists(), "{stderr}");
        refused.push(stderr);
    }
    std::fs::remove_dir_all(&d).unwrap();
    let alone = refused.pop().unwrap();
    (refused.pop().unwrap(), alone)
}

/// The last of 10⁵ points is checked like the first: a bad value there
/// (bad only with the other field's value at that point) is refused
/// before any run, naming the field, its valid range and the point, in
/// the words the point alone gets.
#[test]
fn a_bad_value_at_the_last_point_of_a_large_grid_is_refused() {
    let (grid, alone) = last_point_refused("last-point", 1000, 100);
    assert!(
        grid.contains(
            "  paths[0].asymmetry_us: 1000.5 is outside the valid range -1000..=1000 µs \
             (|asymmetry| ≤ min_rtt_us) (at paths[0].min_rtt_us = 1000, \
             paths[0].asymmetry_us = 1000.5)\n"
        ),
        "{grid}"
    );
    assert_eq!(grid, alone);
}

/// As [`a_bad_value_at_the_last_point_of_a_large_grid_is_refused`], at
/// point 999 999 of the largest grid a sweep may have (five seconds or
/// more).
#[test]
#[ignore = "slow: checks 10⁶ points"]
fn a_bad_value_at_the_last_point_of_the_largest_grid_is_refused() {
    let (grid, alone) = last_point_refused("largest", 1000, 1000);
    assert!(
        grid.contains("paths[0].asymmetry_us: 1000.5 is outside"),
        "{grid}"
    );
    assert_eq!(grid, alone);
}

/// Points are checked in parallel, but the error is the first bad point's
/// in grid order, the same on any number of threads, even when a later
/// stretch of the grid, which another thread reaches first, is all bad.
#[test]
fn the_first_bad_point_is_reported_whatever_the_number_of_threads() {
    let d = scratch("first-bad");
    // |asymmetry| ≤ 300 µs, the base's RTT: points 700 and 1500.. are bad.
    let values: Vec<String> = (0..3000)
        .map(|i| {
            if i == 700 || i >= 1500 {
                (1000 + i).to_string()
            } else {
                format!("{}.{:02}", i / 100, i % 100)
            }
        })
        .collect();
    let sweep = sweep_files(
        &d,
        &format!(
            "(path: \"paths[0].asymmetry_us\", values: List([{}]))",
            values.join(", ")
        ),
        1,
    );
    let errors: Vec<String> = [1, 2, 3, 8]
        .into_iter()
        .map(|threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            match pool.install(|| vtsim::sweep::load(&sweep)) {
                Ok(_) => panic!("accepted on {threads} threads"),
                Err(e) => e.to_string(),
            }
        })
        .collect();
    assert!(
        errors[0].contains(
            "paths[0].asymmetry_us: 1700 is outside the valid range -300..=300 µs \
             (|asymmetry| ≤ min_rtt_us) (at paths[0].asymmetry_us = 1700)"
        ),
        "{}",
        errors[0]
    );
    for e in &errors[1..] {
        assert_eq!(e, &errors[0]);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// A varied field whose values are not numbers (a queueing law: a variant
/// with fields written as a map, shown with `;` for its commas) still
/// resumes: only the metric columns after the varied ones must hold
/// numbers.
#[test]
fn a_sweep_varying_text_values_resumes() {
    let d = scratch("resume-text");
    let vary = r#"(path: "paths[0].forward.queueing", values: List([{"Exponential": {"mean_us": 20}}, {"Gamma": {"shape": 2, "mean_us": 20}}, "None"]))"#;
    let sweep = sweep_files(&d, vary, 1);
    sweep_ok(&sweep, &d.join("whole"), &[]);
    let whole = read(&d.join("whole").join("results.csv"));
    let text = String::from_utf8(whole.clone()).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains(r#",{"Gamma":{"mean_us":20;"shape":2}},"#)),
        "{text}"
    );
    let part = d.join("part");
    sweep_ok(&sweep, &part, &["--max-runs", "1"]);
    sweep_ok(&sweep, &part, &["--resume"]);
    assert!(read(&part.join("results.csv")) == whole);

    // Written as in a scenario, the variant reaches the field as its
    // fields alone: refused, saying how to write it.
    let named = sweep_files(
        &d,
        &vary.replace(
            r#"{"Gamma": {"shape": 2, "mean_us": 20}}"#,
            "Gamma(shape: 2, mean_us: 20)",
        ),
        1,
    );
    let o = vtsim_sweep(&named, &d.join("named"), &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("paths[0].forward.queueing: value does not fit the field")
            && stderr.contains(r#"a variant with fields is written as a map from its name to its fields, {"Name": {"field": value, …}}"#),
        "{stderr}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
