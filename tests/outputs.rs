//! What a run writes: `errors.csv` rows on the grid of
//! `output.errors_csv_interval_s`, in the header's column order, and the
//! statistics of `summary.json` over the samples after `metrics_from_s`.
//!
//! Two free-running clocks drift apart at known rates (one fast, one slow),
//! so each column and statistic can be told from the other.

use std::path::PathBuf;

use vtsim::run::{RunOptions, run_scenario};
use vtsim::scenario::Scenario;

/// A TSC 40 ppm fast and an HPET 10 ppm slow, probed every 0.1 s for 3 s.
const TWO_FREE: &str = r#"Scenario(
    name: "two-free",
    duration_s: 3,
    hosts: [(name: "h", tsc_crystal: (skew_ppm: 40.0), platform_crystal: (skew_ppm: -10.0),
             counters: [(kind: Tsc), (kind: Hpet)])],
    daemons: [
        (name: "fast", host: "h", servers: [], algorithm: FreeRunning()),
        (name: "slow", host: "h", counter: Hpet, servers: [], algorithm: FreeRunning()),
    ],
    probes: (interval_s: 0.1, metrics_from_s: 1),
    output: (errors_csv_interval_s: 0.3, exchanges: false, trace: false, plots: false),
)"#;

/// Runs `s` into a fresh directory named after `tag`; returns it.
fn run(s: &Scenario, tag: &str) -> PathBuf {
    let out = std::env::temp_dir().join(format!("vtsim-outputs-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let opts = RunOptions {
        out: Some(out.clone()),
        ..RunOptions::default()
    };
    run_scenario(s, &opts).unwrap();
    out
}

/// The rows of `errors.csv` in `dir`, cells split, header first.
fn errors_csv(dir: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join("errors.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn errors_csv_rows_fall_on_their_interval_in_header_order() {
    let s = Scenario::parse(TWO_FREE, "two-free.ron").unwrap();
    let dir = run(&s, "grid");
    let rows = errors_csv(&dir);
    assert_eq!(rows[0], ["t_s", "fast_error_us", "slow_error_us"]);
    // 0.3 s is three probes of 0.1 s, though 0.3 / 0.1 is just below 3 in
    // binary: one row every third probe, the run's end included.
    let times: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        times,
        [
            "0", "0.3", "0.6", "0.9", "1.2", "1.5", "1.8", "2.1", "2.4", "2.7", "3"
        ]
    );
    // Each column is its own clock's: after 3 s the fast clock is ahead
    // by about 40 ppm (120 µs), the slow one behind by about 10 ppm (30 µs).
    let last = rows.last().unwrap();
    let (fast, slow): (f64, f64) = (last[1].parse().unwrap(), last[2].parse().unwrap());
    assert!((100.0..140.0).contains(&fast), "{last:?}");
    assert!((-40.0..-20.0).contains(&slow), "{last:?}");

    // Statistics over the probes from metrics_from_s (1 s) on, each in its
    // own field: 21 samples, the 1st percentile below the 99th.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for (clock, sign) in [("fast", 1.0), ("slow", -1.0)] {
        let c = summary["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == clock)
            .unwrap();
        let e = &c["error_us"];
        assert_eq!(e["count"], 21, "{clock}: {e}");
        let get = |k: &str| e[k].as_f64().unwrap();
        assert!(
            get("p01") < get("median") && get("median") < get("p99"),
            "{clock}: {e}"
        );
        // The error grows steadily, so its largest magnitude is at the end.
        let end = if sign > 0.0 { fast } else { slow };
        assert!((get("max_abs") - end.abs()).abs() < 1.0, "{clock}: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_errors_csv_interval_below_the_probe_interval_writes_every_probe() {
    let mut s = Scenario::parse(TWO_FREE, "two-free.ron").unwrap();
    s.output.errors_csv_interval_s = 0.05;
    assert!(s.validate().is_empty(), "{:?}", s.validate());
    let dir = run(&s, "every");
    // Probes at 0, 0.1, ..., 3 s: 31 rows after the header.
    assert_eq!(errors_csv(&dir).len(), 32);
    std::fs::remove_dir_all(&dir).unwrap();
}
