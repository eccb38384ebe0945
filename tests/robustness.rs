//! Robustness: whatever a scenario, sweep or exchange file contains, vtsim
//! answers with a clear error or a correct result, never a panic, a hang, a
//! non-finite number in a summary, or a half-written output.
//!
//! Three kinds of tests:
//! - the command line on a catalogue of bad inputs (each must fail with a
//!   non-zero exit, a message naming the place, and no panic); with
//!   `VTSIM_ROBUSTNESS_TABLE=<file>` set, the catalogue is also written as
//!   the Markdown table of `docs/ROBUSTNESS.md`;
//! - properties over random inputs (proptest): round trips, finite
//!   summaries, deterministic algorithms, a CSV reader that never panics;
//! - the output directory contract and a year-long run with flat memory.

use std::path::{Path, PathBuf};
use std::process::Command;

use algorithms::AlgorithmConfig;
use proptest::prelude::*;
use vtsim::replay::{Row, read_rows, replay};
use vtsim::run::{RunOptions, build_world, drive, run_scenario, summarize};
use vtsim::scenario::{Scenario, default_scenario};

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vtsim-robustness-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// True if every number in a JSON tree is finite (serde_json writes NaN
/// and ±inf as `null`, so a null counts as non-finite), except in a
/// statistic without samples (`"count": 0`), whose values are all `null`.
fn all_finite(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        serde_json::Value::Array(a) => a.iter().all(all_finite),
        serde_json::Value::Object(o) if o.get("count") == Some(&serde_json::json!(0)) => {
            o.iter().all(|(k, v)| k == "count" || v.is_null())
        }
        serde_json::Value::Object(o) => o.values().all(all_finite),
        serde_json::Value::Bool(_) | serde_json::Value::String(_) => true,
    }
}

// ---------------------------------------------------------------------------
// The command line on bad inputs.
// ---------------------------------------------------------------------------

/// A small valid scenario the bad inputs are derived from.
const TINY: &str = r#"Scenario(
    name: "tiny",
    seed: 7,
    duration_s: 60,
    hosts: [(name: "h", counters: [(kind: Tsc)])],
    servers: [(name: "s")],
    paths: [(min_rtt_us: 300, asymmetry_us: 20)],
    daemons: [(name: "n", host: "h", servers: [(server: "s", path: 0)], algorithm: Naive(poll_period_s: 16))],
    probes: (interval_s: 1.0),
    output: (plots: false),
)
"#;

/// `TINY` with one piece of text replaced (which must occur).
fn tiny_with(from: &str, to: &str) -> String {
    assert!(TINY.contains(from), "{from:?} is not in TINY");
    TINY.replacen(from, to, 1)
}

/// A valid exchange file (two exchanges) the bad CSV inputs start from.
const CSV_OK: &str = "server,counter_hz,ta,tb,te,tf,tf_true_ns,lost\n\
0,1000000000,1000,0.000002,0.000003,5000,5000,0\n\
0,1000000000,16000001000,16.000002,16.000003,16000005000,16000005000,0\n";

/// One bad input: files written into a fresh directory, a command, and
/// what the error must say.
struct Case {
    /// What is wrong, for the table.
    what: &'static str,
    /// Files (name, content) written into the case's directory.
    files: Vec<(&'static str, Vec<u8>)>,
    /// Directories created before the command (e.g. an existing output).
    dirs: Vec<&'static str>,
    /// Arguments; `{d}` is replaced by the case's directory.
    args: Vec<&'static str>,
    /// Substrings the error output must contain.
    expect: Vec<&'static str>,
}

fn case(
    what: &'static str,
    file: (&'static str, impl Into<Vec<u8>>),
    args: &[&'static str],
    expect: &[&'static str],
) -> Case {
    files_case(what, vec![(file.0, file.1.into())], args, expect)
}

/// A case with several files and no directory made beforehand.
fn files_case(
    what: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    args: &[&'static str],
    expect: &[&'static str],
) -> Case {
    Case {
        what,
        files,
        dirs: Vec::new(),
        args: args.to_vec(),
        expect: expect.to_vec(),
    }
}

/// Validate a scenario text written as `bad.ron`.
fn scenario_case(what: &'static str, text: impl Into<Vec<u8>>, expect: &[&'static str]) -> Case {
    case(
        what,
        ("bad.ron", text),
        &["validate", "{d}/bad.ron"],
        expect,
    )
}

/// A sweep file `sweep.ron` beside `TINY` as `base.ron`.
fn sweep_case(what: &'static str, sweep: &str, expect: &[&'static str]) -> Case {
    Case {
        what,
        files: vec![
            ("base.ron", TINY.into()),
            ("sweep.ron", sweep.as_bytes().to_vec()),
        ],
        dirs: Vec::new(),
        args: vec!["sweep", "{d}/sweep.ron", "--out", "{d}/out", "-q"],
        expect: expect.to_vec(),
    }
}

/// Replay an exchange file `x.csv` through the naive baseline.
fn csv_case(what: &'static str, text: impl Into<Vec<u8>>, expect: &[&'static str]) -> Case {
    case(
        what,
        ("x.csv", text),
        &["replay", "{d}/x.csv", "--algo", "naive", "--out", "{d}/out"],
        expect,
    )
}

/// A sweep's `points.csv` with one axis and one clock's median.
const SWEEP_POINTS: &str = "point,paths[0].asymmetry_us,rc.median_us.median,rc.median_us.q25,rc.median_us.q75\n0,-100,-50,-51,-49\n";

/// A run's `summary.json` with one clock, `c`.
const RUN_SUMMARY: &str = r#"{"scenario": "s", "seed": 1, "duration_s": 60.0, "version": "0", "events": 1,
"clocks": [{"name": "c", "domain": "h", "algorithm": "naive",
"error_us": {"count": 1, "median": 1.0, "iqr": 0.0, "p01": 1.0, "p99": 1.0, "mean": 1.0, "rms": 1.0, "max_abs": 1.0},
"error_at_exchange_us": {"count": 0}, "host_rtt_us": {"count": 0}}]}"#;

/// `vtsim compare` of two runs, `a` (whole) and `b`, whose `errors.csv`
/// is `errors` (none when `None`).
fn compare_errors_case(what: &'static str, errors: Option<&str>, expect: &[&'static str]) -> Case {
    let mut files = vec![
        ("a/summary.json", RUN_SUMMARY.into()),
        ("a/errors.csv", b"t_s,c_error_us\n0,1.5\n".to_vec()),
        ("b/summary.json", RUN_SUMMARY.into()),
    ];
    if let Some(text) = errors {
        files.push(("b/errors.csv", text.as_bytes().to_vec()));
    }
    files_case(
        what,
        files,
        &["compare", "{d}/a", "{d}/b", "--out", "{d}/out"],
        expect,
    )
}

fn sweep_text(vary: &str) -> String {
    format!("Sweep(name: \"sw\", base: \"base.ron\", vary: [{vary}], duration_s: Some(30))")
}

fn cases() -> Vec<Case> {
    let poll = "(path: \"daemons[0].algorithm.poll_period_s\", values: List([8, 16]))";
    vec![
        // --- scenario syntax and types ---
        scenario_case(
            "file cut short (missing closing parenthesis)",
            TINY.trim_end().trim_end_matches(')'),
            &["bad.ron:", "Unexpected end of RON"],
        ),
        scenario_case(
            "typo in a top-level field (`seeed`)",
            tiny_with("seed: 7", "seeed: 7"),
            &["bad.ron:3:", "seeed"],
        ),
        scenario_case(
            "typo in a nested field (`skew_pmm`)",
            tiny_with(
                "(name: \"h\",",
                "(name: \"h\", tsc_crystal: (skew_pmm: 3.0),",
            ),
            &["bad.ron:5:", "skew_pmm"],
        ),
        scenario_case(
            "text where a number is expected",
            tiny_with("duration_s: 60", "duration_s: \"long\""),
            &[
                "bad.ron:4:17",
                "duration_s: expected a number, found `\"long\"`",
            ],
        ),
        scenario_case(
            "negative seed (u64)",
            tiny_with("seed: 7", "seed: -7"),
            &[
                "bad.ron:3:11",
                "seed: expected an integer in 0..=18446744073709551615, found `-7`",
            ],
        ),
        scenario_case(
            "seed beyond 64 bits",
            tiny_with("seed: 7", "seed: 99999999999999999999999"),
            &["bad.ron:3:11", "seed: expected an integer in 0..=18446744073709551615"],
        ),
        scenario_case(
            "float where an integer is expected (`seed: 7.0`)",
            tiny_with("seed: 7", "seed: 7.0"),
            &[
                "bad.ron:3:11",
                "seed: expected an integer in 0..=18446744073709551615, found `7.0`",
            ],
        ),
        scenario_case(
            "a number with a stray letter (`duration_s: 60s`)",
            tiny_with("duration_s: 60", "duration_s: 60s"),
            &["bad.ron:4:17", "duration_s: expected a number, found `60s`"],
        ),
        scenario_case(
            "byte-sized field beyond 255 (`stratum: 300`)",
            tiny_with("(name: \"s\")", "(name: \"s\", stratum: 300)"),
            &[
                "bad.ron:6:36",
                "servers[0].stratum: expected an integer in 1..=15 (stratum), found `300`",
            ],
        ),
        scenario_case(
            "optional struct in two pairs of parentheses (`Some((...))`)",
            tiny_with(
                "asymmetry_us: 20)",
                "asymmetry_us: 20, forward: (congestion: Some((mean_on_s: 600))))",
            ),
            &[
                "bad.ron:7:76",
                "paths[0].forward.congestion: expected a field name after `Some(`, found a second `(`",
                "`(field: value, …)`, `Some(field: value, …)` or `None`",
            ],
        ),
        scenario_case(
            "struct name inside `Some(...)`",
            tiny_with(
                "asymmetry_us: 20)",
                "asymmetry_us: 20, forward: (congestion: Some(CongestionConfig(mean_on_s: 600))))",
            ),
            &[
                "bad.ron:7:76",
                "paths[0].forward.congestion: expected a field name after `Some(`, found the struct name `CongestionConfig`",
            ],
        ),
        scenario_case(
            "typo inside `Some(...)` (RON would name the struct around it)",
            tiny_with(
                "asymmetry_us: 20)",
                "asymmetry_us: 20, forward: (congestion: Some(mean_onn_s: 600)))",
            ),
            &[
                "bad.ron:7:76",
                "paths[0].forward.congestion: Unexpected field named `mean_onn_s`, expected one of `mean_on_s`",
            ],
        ),
        scenario_case(
            "required field missing (`duration_s`)",
            tiny_with("duration_s: 60,", ""),
            &["bad.ron:", "duration_s"],
        ),
        scenario_case(
            "unknown algorithm",
            tiny_with("Naive(poll_period_s: 16)", "Chrony(poll_period_s: 16)"),
            &["bad.ron:8:", "Chrony"],
        ),
        scenario_case(
            "unknown counter kind",
            tiny_with("(kind: Tsc)", "(kind: Tcs)"),
            &["bad.ron:5:", "Tcs"],
        ),
        scenario_case(
            "JSON instead of RON",
            "{\"name\": \"x\", \"duration_s\": 10}",
            &["bad.ron:1:"],
        ),
        scenario_case("empty file", "", &["bad.ron:1:1"]),
        scenario_case(
            "binary, not UTF-8",
            vec![0xff, 0xfe, 0x00, 0x41],
            &["bad.ron:1:1: cannot read: invalid UTF-8 (byte 0xFF)"],
        ),
        scenario_case(
            "Latin-1, not UTF-8 (`é` as the one byte 0xE9)",
            tiny_with("name: \"tiny\"", "name: \"tény\"")
                .chars()
                .map(|c| u8::try_from(c).expect("Latin-1"))
                .collect::<Vec<u8>>(),
            &["bad.ron:2:13: cannot read: invalid UTF-8 (byte 0xE9); save the file as UTF-8 text"],
        ),
        case(
            "file does not exist",
            ("unrelated.txt", ""),
            &["validate", "{d}/missing.ron"],
            &["missing.ron: cannot read"],
        ),
        // --- impossible values ---
        scenario_case(
            "daemon name of 70 emoji (280 bytes: too long for a file name once staged)",
            tiny_with("(name: \"n\", host", &format!("(name: \"{}\", host", "😀".repeat(70))),
            &["daemons[0].name", "280 bytes; at most 200"],
        ),
        scenario_case(
            "scenario name of 70 emoji",
            tiny_with("name: \"tiny\"", &format!("name: \"{}\"", "😀".repeat(70))),
            &["name: 280 bytes; at most 200"],
        ),
        scenario_case(
            "daemon named like a run's file, in capitals (`Errors_data.CSV`)",
            tiny_with("(name: \"n\", host", "(name: \"Errors_data.CSV\", host"),
            &["daemons[0].name", "ends in .csv"],
        ),
        scenario_case(
            "zero duration",
            tiny_with("duration_s: 60", "duration_s: 0"),
            &["duration_s", "0.001..="],
        ),
        scenario_case(
            "negative duration",
            tiny_with("duration_s: 60", "duration_s: -5"),
            &["duration_s", "-5 is outside"],
        ),
        scenario_case(
            "NaN duration",
            tiny_with("duration_s: 60", "duration_s: NaN"),
            &["duration_s", "NaN is outside"],
        ),
        scenario_case(
            "infinite duration",
            tiny_with("duration_s: 60", "duration_s: inf"),
            &["duration_s", "inf is outside"],
        ),
        scenario_case(
            "zero probe interval",
            tiny_with("interval_s: 1.0", "interval_s: 0"),
            &["probes.interval_s", "0.001..=86400 s"],
        ),
        scenario_case(
            "metrics_from_s beyond the run",
            tiny_with("interval_s: 1.0", "interval_s: 1.0, metrics_from_s: 100"),
            &["probes.metrics_from_s", "100 is outside"],
        ),
        scenario_case(
            "poll period below 1 s",
            tiny_with("poll_period_s: 16", "poll_period_s: 0.5"),
            &["daemons[0].algorithm.poll_period_s", "1..=1024 s"],
        ),
        scenario_case(
            "negative minimum RTT",
            tiny_with("min_rtt_us: 300", "min_rtt_us: -300"),
            &["paths[0].min_rtt_us", "µs"],
        ),
        scenario_case(
            "asymmetry larger than the RTT",
            tiny_with("asymmetry_us: 20", "asymmetry_us: 900"),
            &["paths[0].asymmetry_us", "|asymmetry| ≤ min_rtt_us"],
        ),
        scenario_case(
            "both RTT and per-direction delays",
            tiny_with(
                "asymmetry_us: 20",
                "asymmetry_us: 20, forward: (min_delay_us: 10)",
            ),
            &["paths[0].min_rtt_us", "one way only"],
        ),
        scenario_case(
            "empty scenario name",
            tiny_with("name: \"tiny\"", "name: \"\""),
            &["name: must be non-empty"],
        ),
        scenario_case(
            "scenario name escaping the output dir",
            tiny_with("name: \"tiny\"", "name: \"../etc\""),
            &["name: must be non-empty, without '/'"],
        ),
        // --- dangling references and duplicates ---
        scenario_case(
            "daemon on an unknown host",
            tiny_with("host: \"h\"", "host: \"nowhere\""),
            &["daemons[0].host", "no host named \"nowhere\""],
        ),
        scenario_case(
            "daemon polls an unknown server",
            tiny_with("(server: \"s\"", "(server: \"ghost\""),
            &["daemons[0].servers[0].server", "no server named \"ghost\""],
        ),
        scenario_case(
            "path index out of range",
            tiny_with("path: 0)", "path: 4)"),
            &["daemons[0].servers[0].path", "4 is not a path index (0..1)"],
        ),
        scenario_case(
            "counter the host does not have",
            tiny_with("host: \"h\",", "host: \"h\", counter: Hpet,"),
            &["daemons[0].counter", "cannot provide Hpet"],
        ),
        scenario_case(
            "synchronizing daemon without servers",
            tiny_with("servers: [(server: \"s\", path: 0)]", "servers: []"),
            &["daemons[0].servers", "at least one server"],
        ),
        scenario_case(
            "several servers for an algorithm that follows one",
            tiny_with(
                "servers: [(server: \"s\", path: 0)]",
                "servers: [(server: \"s\", path: 0), (server: \"s\", path: 0)]",
            ),
            &["daemons[0].servers", "2 servers given, but naive follows one server"],
        ),
        scenario_case(
            "two daemons with the same name",
            tiny_with(
                "daemons: [(name: \"n\", host: \"h\", servers: [(server: \"s\", path: 0)], algorithm: Naive(poll_period_s: 16))]",
                "daemons: [(name: \"n\", host: \"h\", servers: [(server: \"s\", path: 0)], algorithm: Naive()), (name: \"n\", host: \"h\", servers: [(server: \"s\", path: 0)], algorithm: Naive())]",
            ),
            &["daemons[1].name", "used twice"],
        ),
        scenario_case(
            "several problems at once",
            tiny_with("duration_s: 60", "duration_s: -1").replacen("host: \"h\"", "host: \"x\"", 1),
            &["2 invalid values", "duration_s", "daemons[0].host"],
        ),
        // --- sweeps ---
        sweep_case(
            "sweep varies a field that does not exist",
            &sweep_text("(path: \"daemons[0].algorithm.pol_period_s\", values: List([8]))"),
            &[
                "daemons[0].algorithm.pol_period_s",
                "no field \"pol_period_s\"",
            ],
        ),
        sweep_case(
            "sweep index out of range",
            &sweep_text("(path: \"daemons[3].algorithm.poll_period_s\", values: List([8]))"),
            &["index 3 out of range (0..1)"],
        ),
        sweep_case(
            "sweep value out of range",
            &sweep_text("(path: \"daemons[0].algorithm.poll_period_s\", values: List([0.1]))"),
            &["daemons[0].algorithm.poll_period_s", "1..=1024 s"],
        ),
        sweep_case(
            "sweep value of the wrong type",
            &sweep_text("(path: \"duration_s\", values: List([\"long\"]))"),
            &[
                "duration_s: value does not fit the field",
                "(at duration_s = \"long\")",
            ],
        ),
        sweep_case(
            "sweep with nothing to vary",
            &sweep_text(""),
            &["vary: name at least one field"],
        ),
        sweep_case(
            "sweep with zero seeds",
            &format!("Sweep(name: \"sw\", base: \"base.ron\", vary: [{poll}], seeds: 0)"),
            &["seeds: 0 is outside 1..=10000"],
        ),
        sweep_case(
            "logarithmic range through zero",
            &sweep_text("(path: \"duration_s\", values: LogRange(from: 0, to: 10, steps: 3))"),
            &["vary[0].values", "must be positive for logarithmic spacing"],
        ),
        sweep_case(
            "linear range of no steps",
            &sweep_text("(path: \"duration_s\", values: LinRange(from: 1, to: 60, steps: 0))"),
            &["vary[0].values", "steps must be at least 1"],
        ),
        sweep_case(
            "empty list of values",
            &sweep_text("(path: \"duration_s\", values: List([]))"),
            &["vary[0].values", "the list needs at least one value"],
        ),
        sweep_case(
            "list with one value twice (0 and -0.0)",
            &sweep_text("(path: \"paths[0].asymmetry_us\", values: List([0, 20, -0.0]))"),
            &["vary[0].values", "values 0 and 2 are the same value"],
        ),
        sweep_case(
            "sweep grid of 10^12 runs",
            &sweep_text(
                "(path: \"duration_s\", values: LinRange(from: 1, to: 60, steps: 1000000000000))",
            ),
            &["vary", "1000000000000 runs; at most 1000000"],
        ),
        sweep_case(
            "sweep base scenario missing",
            &format!("Sweep(name: \"sw\", base: \"nothere.ron\", vary: [{poll}])"),
            &["nothere.ron: cannot read"],
        ),
        sweep_case(
            "sweep syntax error",
            "Sweep(name: \"sw\", base: \"base.ron\", vary: [(path: 3)])",
            &[
                "sweep.ron:1:51",
                "vary[0].path: expected a string in double quotes, found `3`",
            ],
        ),
        sweep_case(
            "sweep seeds not a whole number (`seeds: 2.5`)",
            "Sweep(name: \"sw\", base: \"base.ron\", seeds: 2.5, vary: [])",
            &[
                "sweep.ron:1:44",
                "seeds: expected an integer in 0..=4294967295, found `2.5`",
            ],
        ),
        sweep_case(
            "sweep over variant names written bare",
            &sweep_text("(path: \"daemons[0].counter\", values: List([Tsc, Hpet]))"),
            &["daemons[0].counter = ()", "write a variant name as a string"],
        ),
        sweep_case(
            "sweep value NaN on an optional field",
            &sweep_text("(path: \"paths[0].asymmetry_us\", values: List([20, NaN]))"),
            &[
                "paths[0].asymmetry_us: NaN is not a finite number",
                "write None to leave the field unset",
            ],
        ),
        // --- exchange files ---
        csv_case(
            "exchange file without the `ta` column",
            CSV_OK.replacen("ta,", "t_a,", 1),
            &["missing column \"ta\""],
        ),
        csv_case(
            "text in a number",
            CSV_OK.replacen("0.000002", "abc", 1),
            &["line 2", "column \"tb\"", "\"abc\" is not a finite number"],
        ),
        csv_case(
            "text in a number after a blank line (the file's line is named)",
            CSV_OK.replacen("0,1000000000,16", "\n0,1000000000,16", 1).replacen("16.000002", "abc", 1),
            &["line 4", "column \"tb\"", "\"abc\" is not a finite number"],
        ),
        csv_case(
            "NaN server stamp",
            CSV_OK.replacen("0.000002", "NaN", 1),
            &["line 2", "\"NaN\" is not a finite number"],
        ),
        csv_case(
            "negative counter",
            CSV_OK.replacen(",1000,", ",-1000,", 1),
            &["line 2", "column \"ta\"", "not a non-negative integer"],
        ),
        csv_case(
            "tf before ta",
            CSV_OK.replacen(",5000,5000,", ",500,5000,", 1),
            &["line 2", "tf (500) is before ta (1000)"],
        ),
        csv_case(
            "te before tb",
            CSV_OK.replacen("0.000003", "0.000001", 1),
            &["line 2", "te (0.000001) is before tb (0.000002)"],
        ),
        csv_case(
            "zero counter frequency",
            CSV_OK.replacen("0,1000000000,1000", "0,0,1000", 1),
            &["line 2", "counter_hz 0 is outside 1..=1e12 Hz"],
        ),
        csv_case(
            "absurd server index (would allocate 10^18 peers)",
            CSV_OK.replacen("\n0,", "\n1000000000000000000,", 1),
            &["line 2", "server 1000000000000000000 is outside 0..256"],
        ),
        csv_case(
            "server stamp of 10^28 s (overflowed the algorithms' clock)",
            CSV_OK.replacen("16.000003", "45888888888888888888888888888.9", 1),
            &[
                "line 3",
                "te (45888888888888890000000000000 s) is outside -1e11..=1e11 s",
            ],
        ),
        csv_case(
            "counter reading of 5 billion years",
            "counter_hz,ta,tb,te,tf\n100,18446744073709551000,1.5,1.5001,18446744073709551600\n",
            &[
                "line 2",
                "ta (18446744073709551000) is 1.8446744073709552e17 s of counting",
            ],
        ),
        csv_case(
            "reply 7 years after its request",
            CSV_OK.replacen(",5000,5000,", ",223235211339537882,5000,", 1),
            &[
                "line 2",
                "round trip tf − ta is 223235211.3395369 s; at most 3600 s",
            ],
        ),
        csv_case(
            "exchanges spanning 100 years",
            format!(
                "{CSV_OK}0,1000000000,3155760000000001000,3155760000.000002,3155760000.000003,3155760000000005000,,0\n"
            ),
            &["the exchanges span 3.1557600000000043e9 s of counter time; at most 6.31152e8 s"],
        ),
        csv_case(
            "counter frequency changes within the file",
            CSV_OK.replacen("\n0,1000000000,16", "\n0,2000000000,16", 1),
            &["line 3", "differs from line 2"],
        ),
        csv_case(
            "reply missing but not marked lost",
            CSV_OK.replacen(",5000,5000,0", ",,,0", 1),
            &["line 2", "tf is empty but the exchange is not marked lost"],
        ),
        csv_case(
            "lost is neither 0 nor 1",
            CSV_OK.replacen(",5000,5000,0", ",5000,5000,2", 1),
            &["line 2", "column \"lost\"", "neither 0 nor 1"],
        ),
        csv_case(
            "a column named twice",
            CSV_OK.replacen("te,tf,", "te,ta,", 1),
            &["column \"ta\" appears more than once"],
        ),
        csv_case(
            "unterminated quote",
            format!("{CSV_OK}0,\"1000000000,1,2,3,4\n"),
            &["x.csv"],
        ),
        csv_case(
            "header only, no exchanges",
            "counter_hz,ta,tb,te,tf\n",
            &["no exchanges"],
        ),
        csv_case("empty exchange file", "", &["x.csv"]),
        case(
            "exchange file is a device (/dev/zero never ends)",
            ("unrelated.txt", ""),
            &["replay", "/dev/zero", "--algo", "naive", "--out", "{d}/out"],
            &["/dev/zero: not a regular file"],
        ),
        case(
            "exchange file does not exist",
            ("unrelated.txt", ""),
            &[
                "replay",
                "{d}/none.csv",
                "--algo",
                "naive",
                "--out",
                "{d}/out",
            ],
            &["none.csv: cannot read"],
        ),
        case(
            "replay started after its first stamp",
            ("x.csv", CSV_OK),
            &[
                "replay",
                "{d}/x.csv",
                "--algo",
                "ntpd",
                "--start-counter",
                "18446744073709551615",
                "--out",
                "{d}/out",
            ],
            &["start counter 18446744073709551615 is after the first stamp"],
        ),
        case(
            "unknown algorithm for replay",
            ("x.csv", CSV_OK),
            &[
                "replay",
                "{d}/x.csv",
                "--algo",
                "chrony",
                "--out",
                "{d}/out",
            ],
            &["unknown algorithm \"chrony\""],
        ),
        case(
            "calibrate a scenario without a Xen host",
            ("s.ron", TINY),
            &["calibrate", "{d}/s.ron", "--out", "{d}/fast.ron"],
            &["no Xen host with an explicit scheduler (credit or SEDF) to calibrate"],
        ),
        case(
            "calibrate for no time",
            ("s.ron", TINY),
            &[
                "calibrate",
                "{d}/s.ron",
                "--out",
                "{d}/fast.ron",
                "--seconds",
                "0",
            ],
            &["calibration time 0 s is outside the valid range (0, 86400] s"],
        ),
        case(
            "calibrated scenario written over its own input",
            ("s.ron", TINY),
            &["calibrate", "{d}/s.ron", "--out", "{d}/s.ron", "--force"],
            &["is the scenario itself"],
        ),
        case(
            "replay parameter that does not exist",
            ("x.csv", CSV_OK),
            &[
                "replay",
                "{d}/x.csv",
                "--algo",
                "naive",
                "--set",
                "pol=3",
                "--out",
                "{d}/out",
            ],
            &["--set", "pol"],
        ),
        case(
            "replay parameter out of range",
            ("x.csv", CSV_OK),
            &[
                "replay",
                "{d}/x.csv",
                "--algo",
                "naive",
                "--set",
                "poll_period_s=0",
                "--out",
                "{d}/out",
            ],
            &["poll_period_s", "1..=1024 s"],
        ),
        case(
            "replay of the oracle (needs true time)",
            ("x.csv", CSV_OK),
            &[
                "replay",
                "{d}/x.csv",
                "--algo",
                "oracle",
                "--out",
                "{d}/out",
            ],
            &["oracle needs true time"],
        ),
        // --- output directories ---
        Case {
            what: "run into an existing directory without --force",
            files: vec![("tiny.ron", TINY.into())],
            dirs: vec!["out"],
            args: vec!["run", "{d}/tiny.ron", "--out", "{d}/out", "-q"],
            expect: vec!["already exists", "--force"],
        },
        Case {
            what: "replay into an existing directory without --force",
            files: vec![("x.csv", CSV_OK.into())],
            dirs: vec!["out"],
            args: vec!["replay", "{d}/x.csv", "--algo", "naive", "--out", "{d}/out"],
            expect: vec!["already exists", "--force"],
        },
        Case {
            what: "sweep into a non-empty directory without --resume",
            files: vec![
                ("base.ron", TINY.into()),
                ("sweep.ron", sweep_text(poll).into()),
                ("out/keep.txt", Vec::new()),
            ],
            dirs: vec!["out"],
            args: vec!["sweep", "{d}/sweep.ron", "--out", "{d}/out", "-q"],
            expect: vec!["already exists", "--resume", "--force"],
        },
        Case {
            what: "sweep --resume into a directory that holds no sweep",
            files: vec![
                ("base.ron", TINY.into()),
                ("sweep.ron", sweep_text(poll).into()),
                ("out/keep.txt", Vec::new()),
            ],
            dirs: vec!["out"],
            args: vec!["sweep", "{d}/sweep.ron", "--out", "{d}/out", "--resume", "-q"],
            expect: vec!["DIR/out holds no results.csv", "not a sweep to resume"],
        },
        Case {
            what: "sweep --resume after the sweep file changed",
            files: vec![
                ("base.ron", TINY.into()),
                ("sweep.ron", sweep_text(poll).into()),
                ("out/results.csv", b"run,point,seed\n".to_vec()),
                ("out/sweep.ron", b"// an older sweep\n".to_vec()),
            ],
            dirs: vec!["out"],
            args: vec!["sweep", "{d}/sweep.ron", "--out", "{d}/out", "--resume", "-q"],
            expect: vec![
                "DIR/out/sweep.ron: this sweep started with another sweep file (line 1:",
                "cannot resume",
                "--force",
            ],
        },
        Case {
            what: "sweep --resume of a directory that recorded no sweep",
            files: vec![
                ("base.ron", TINY.into()),
                ("sweep.ron", sweep_text(poll).into()),
                ("out/results.csv", b"run,point,seed\n".to_vec()),
            ],
            dirs: vec!["out"],
            args: vec!["sweep", "{d}/sweep.ron", "--out", "{d}/out", "--resume", "-q"],
            expect: vec!["DIR/out/sweep.ron is missing", "cannot resume"],
        },
        files_case(
            "sweep --force onto a directory vtsim did not write",
            vec![
                ("base.ron", TINY.into()),
                ("sweep.ron", sweep_text(poll).into()),
                ("out/notes.txt", b"mine".to_vec()),
            ],
            &["sweep", "{d}/sweep.ron", "--out", "{d}/out", "--force", "-q"],
            &["DIR/out is not empty and holds no results.csv", "--force only replaces"],
        ),
        files_case(
            "sweep --force onto the directory holding the sweep file",
            vec![
                ("p/base.ron", TINY.into()),
                ("p/sweep.ron", sweep_text(poll).into()),
                ("p/results.csv", b"run\n".to_vec()),
            ],
            &["sweep", "{d}/p/sweep.ron", "--out", "{d}/p", "--force", "-q"],
            &["DIR/p contains the input file DIR/p/sweep.ron"],
        ),
        files_case(
            "sweep with both --force and --resume",
            vec![
                ("base.ron", TINY.into()),
                ("sweep.ron", sweep_text(poll).into()),
            ],
            &[
                "sweep",
                "{d}/sweep.ron",
                "--out",
                "{d}/out",
                "--force",
                "--resume",
                "-q",
            ],
            &["'--force' cannot be used with '--resume'"],
        ),
        files_case(
            "a device instead of a scenario file",
            Vec::new(),
            &["validate", "/dev/zero"],
            &["/dev/zero", "not a regular file"],
        ),
        files_case(
            "output path under a regular file",
            vec![("tiny.ron", TINY.into()), ("file", Vec::new())],
            &["run", "{d}/tiny.ron", "--out", "{d}/file/out", "-q"],
            &["error:"],
        ),
        files_case(
            "--force onto a regular file",
            vec![("tiny.ron", TINY.into()), ("afile", b"keep".to_vec())],
            &["run", "{d}/tiny.ron", "--out", "{d}/afile", "--force", "-q"],
            &["DIR/afile is not a directory", "--force only replaces"],
        ),
        files_case(
            "--force onto a directory vtsim did not write",
            vec![("tiny.ron", TINY.into()), ("p/notes.txt", b"mine".to_vec())],
            &["run", "{d}/tiny.ron", "--out", "{d}/p", "--force", "-q"],
            &["DIR/p is not empty and holds no summary.json"],
        ),
        files_case(
            "--force onto the directory holding the scenario",
            vec![("p/tiny.ron", TINY.into())],
            &["run", "{d}/p/tiny.ron", "--out", "{d}/p", "--force", "-q"],
            &["DIR/p contains the input file DIR/p/tiny.ron"],
        ),
        files_case(
            "--force onto the directory holding an empirical delay file",
            vec![
                ("tiny.ron", TINY.replace("asymmetry_us: 20", "asymmetry_us: 20, forward: (queueing: Empirical(File(path: \"p/delays.txt\")))").into()),
                ("p/delays.txt", b"10\n20\n".to_vec()),
                ("p/summary.json", b"{}".to_vec()),
            ],
            &["run", "tiny.ron", "--out", "{d}/p", "--force", "-q"],
            &["DIR/p contains the input file p/delays.txt"],
        ),
        csv_case(
            "an exchange row with a cell missing",
            "server,counter_hz,ta,tb,te,tf,tf_true_ns,lost\n0,1000000000,1000\n",
            &["DIR/x.csv: line 2: 3 cells where the header has 8"],
        ),
        files_case(
            "--seed and --set seed together",
            vec![("tiny.ron", TINY.into())],
            &["run", "{d}/tiny.ron", "--seed", "3", "--set", "seed=4", "--out", "{d}/out", "-q"],
            &["--seed and --set seed=... both set the seed"],
        ),
        files_case(
            "--set with an unclosed index",
            vec![("tiny.ron", TINY.into())],
            &["run", "{d}/tiny.ron", "--set", "daemons[0.name=x", "--out", "{d}/out", "-q"],
            &["daemons[0.name: \"[0\" is not an index in brackets"],
        ),
        scenario_case(
            "an ntpd whose shortest poll outlasts the run",
            TINY.replace("Naive(poll_period_s: 16)", "Ntpd(minpoll: 10, maxpoll: 10)"),
            &["daemons[0].algorithm.minpoll: 1024 s is not shorter than duration_s"],
        ),
        scenario_case(
            "a failover whose follower is Dom0",
            include_str!("../scenarios/replication-failover.ron")
                .replace("follower: (host: \"backup\", domain: 1)", "follower: (host: \"backup\", domain: 0)"),
            &["events[0].follower.domain: 0 is Dom0"],
        ),
        scenario_case(
            "a dilated Dom0",
            include_str!("../scenarios/time-dilation.ron").replace(
                "(host: \"xen\", domain: 2, tdf:",
                "(host: \"xen\", domain: 0, tdf:",
            ),
            &["dilation[0].domain: 0 is Dom0"],
        ),
        files_case(
            "a counter that would pass 2^63 within the run",
            vec![(
                "tiny.ron",
                TINY.replace("duration_s: 60", "duration_s: 157788000")
                    .replace(
                        "counters: [(kind: Tsc)]",
                        "counters: [(kind: Tsc, nominal_hz: 10000000000, tsc: (invariant: false, pstate: (schedule: [(at_s: 0, factor: 10)])))]",
                    )
                    .into(),
            )],
            &["validate", "{d}/tiny.ron"],
            &["hosts[0].counters[0]", "past the 2^63"],
        ),
        files_case(
            "a device as an empirical delay file",
            vec![(
                "tiny.ron",
                TINY.replace("asymmetry_us: 20", "asymmetry_us: 20, forward: (queueing: Empirical(File(path: \"/dev/zero\")))").into(),
            )],
            &["validate", "{d}/tiny.ron"],
            &["paths[0].forward.queueing.path", "/dev/zero", "not a regular file"],
        ),
        files_case(
            "an empirical delay file that is not UTF-8",
            vec![
                ("d.txt", b"120\n130 \xb5s\n".to_vec()),
                (
                    "tiny.ron",
                    TINY.replace("asymmetry_us: 20", "asymmetry_us: 20, forward: (queueing: Empirical(File(path: \"d.txt\")))").into(),
                ),
            ],
            &["validate", "{d}/tiny.ron"],
            &["paths[0].forward.queueing.path", "line 2 column 5: invalid UTF-8 (byte 0xB5)"],
        ),
        files_case(
            "--force onto the directory holding the exchange file",
            vec![
                ("p/x.csv", CSV_OK.into()),
                ("p/summary.json", b"{}".to_vec()),
            ],
            &[
                "replay",
                "{d}/p/x.csv",
                "--algo",
                "naive",
                "--out",
                "{d}/p",
                "--force",
            ],
            &["DIR/p contains the input file DIR/p/x.csv"],
        ),
        files_case(
            "--force onto the current directory",
            vec![("tiny.ron", TINY.into()), ("summary.json", b"{}".to_vec())],
            &["run", "tiny.ron", "--out", "{d}", "--force", "-q"],
            &["DIR is the current directory"],
        ),
        files_case(
            "--force onto the current directory as \".\"",
            vec![("tiny.ron", TINY.into())],
            &["run", "tiny.ron", "--out", ".", "--force", "-q"],
            &["--out must name a directory"],
        ),
        files_case(
            "sweep onto a regular file",
            vec![
                ("base.ron", TINY.into()),
                ("sweep.ron", sweep_text(poll).into()),
                ("afile", b"keep".to_vec()),
            ],
            &[
                "sweep",
                "{d}/sweep.ron",
                "--out",
                "{d}/afile",
                "--resume",
                "-q",
            ],
            &["DIR/afile is not a directory"],
        ),
        files_case(
            "sweep with --jobs 0",
            vec![
                ("base.ron", TINY.into()),
                ("sweep.ron", sweep_text(poll).into()),
            ],
            &[
                "sweep",
                "{d}/sweep.ron",
                "--out",
                "{d}/out",
                "--jobs",
                "0",
                "-q",
            ],
            &["--jobs", "1..=1024"],
        ),
        files_case(
            "sweep with --jobs 100000",
            vec![
                ("base.ron", TINY.into()),
                ("sweep.ron", sweep_text(poll).into()),
            ],
            &[
                "sweep",
                "{d}/sweep.ron",
                "--out",
                "{d}/out",
                "--jobs",
                "100000",
                "-q",
            ],
            &["--jobs", "1..=1024"],
        ),
        case(
            "bench with --repeat 0",
            ("unrelated.txt", ""),
            &["bench", "--quick", "--repeat", "0"],
            &["--repeat", "1..=100"],
        ),
        case(
            "replay with --metrics-from-s NaN",
            ("x.csv", CSV_OK),
            &[
                "replay",
                "{d}/x.csv",
                "--algo",
                "naive",
                "--metrics-from-s",
                "NaN",
                "--out",
                "{d}/out",
            ],
            &["--metrics-from-s", "not a finite number of seconds"],
        ),
        case(
            "compare of a directory that does not exist",
            ("unrelated.txt", ""),
            &["compare", "{d}/none", "--out", "{d}/out"],
            &["DIR/none/summary.json"],
        ),
        compare_errors_case(
            "compare of a run without errors.csv",
            None,
            &["DIR/b/errors.csv is missing", "DIR/b is not a whole run directory"],
        ),
        compare_errors_case(
            "compare of a run whose errors.csv holds a cell that is not a number",
            Some("t_s,c_error_us\n0,1.5\n60,1.2.3\n"),
            &["DIR/b/errors.csv: line 3, column 2 (c_error_us): \"1.2.3\" is not a number"],
        ),
        compare_errors_case(
            "compare of a run whose errors.csv has a row with a cell missing",
            Some("t_s,c_error_us\n0,1.5\n60\n"),
            &["DIR/b/errors.csv: line 3 has 1 cell, the header 2"],
        ),
        files_case(
            "validate a sweep one of whose points cannot be built",
            vec![
                (
                    "base.ron",
                    include_str!("../scenarios/migration-downtime.ron")
                        .replace(
                            "at_s: 120, from: (host: \"source\", domain: 2)",
                            "at_s: 61, from: (host: \"source\", domain: 2)",
                        )
                        .into_bytes(),
                ),
                (
                    "sweep.ron",
                    b"Sweep(name: \"s\", base: \"base.ron\", vary: [(path: \"events[1].from.domain\", values: List([2, 1]))])".to_vec(),
                ),
            ],
            &["validate", "{d}/sweep.ron"],
            &[
                "DIR/sweep.ron: 1 invalid value",
                "moves out with events[0] (at 60 s) (at events[1].from.domain = 1)",
            ],
        ),
        files_case(
            "run given a sweep file",
            vec![
                ("base.ron", TINY.into()),
                ("sweep.ron", sweep_text(poll).into()),
            ],
            &["run", "{d}/sweep.ron", "--out", "{d}/out", "-q"],
            &["DIR/sweep.ron:1:1: this is a sweep file", "vtsim sweep"],
        ),
        files_case(
            "sweep given a scenario",
            vec![("tiny.ron", TINY.into())],
            &["sweep", "{d}/tiny.ron", "--out", "{d}/out", "-q"],
            &["this is a scenario, not a sweep file", "vtsim run"],
        ),
        files_case(
            "compare into an earlier comparison without --force",
            vec![
                ("s/points.csv", SWEEP_POINTS.into()),
                ("out/compare_sweeps.csv", b"old".to_vec()),
            ],
            &["compare", "{d}/s", "--out", "{d}/out"],
            &["DIR/out already exists", "--force"],
        ),
        files_case(
            "compare --force onto a directory that holds no comparison",
            vec![
                ("s/points.csv", SWEEP_POINTS.into()),
                ("out/notes.txt", b"mine".to_vec()),
            ],
            &["compare", "{d}/s", "--out", "{d}/out", "--force"],
            &["DIR/out is not empty and holds no compare.csv or compare_sweeps.csv"],
        ),
        files_case(
            "reproduce into an existing directory without --force",
            vec![("out/FIDELITY.md", b"my table".to_vec())],
            &["reproduce", "--quick", "--out", "{d}/out"],
            &["DIR/out already exists", "--force"],
        ),
        files_case(
            "reproduce --force onto a directory that holds no reproduction",
            vec![("out/notes.txt", b"mine".to_vec())],
            &["reproduce", "--quick", "--out", "{d}/out", "--force"],
            &["DIR/out is not empty and holds no FIDELITY.md", "--force only replaces"],
        ),
        scenario_case(
            "a guest migrated on while its first migration is under way",
            include_str!("../scenarios/migration-downtime.ron").replace(
                "at_s: 120, from: (host: \"source\", domain: 2), to: (host: \"destination\", domain: 2)",
                "at_s: 61, from: (host: \"destination\", domain: 1), to: (host: \"source\", domain: 1)",
            ),
            &["bad.ron", "overlaps events[0]"],
        ),
        files_case(
            "a sweep one of whose points moves a guest during its first migration",
            vec![
                (
                    "base.ron",
                    include_str!("../scenarios/migration-downtime.ron")
                        .replace(
                            "at_s: 120, from: (host: \"source\", domain: 2), to: (host: \"destination\", domain: 2)",
                            "at_s: 300, from: (host: \"destination\", domain: 1), to: (host: \"source\", domain: 1)",
                        )
                        .into(),
                ),
                (
                    "sweep.ron",
                    b"Sweep(name: \"sw\", base: \"base.ron\", vary: [(path: \"events[1].at_s\", values: List([300, 61]))])".to_vec(),
                ),
            ],
            &["sweep", "{d}/sweep.ron", "--out", "{d}/out", "-q"],
            &[
                "error: DIR/sweep.ron: 1 invalid value",
                "vary: events[1] (61.000",
                "overlaps events[0]",
                "(at events[1].at_s = 61)",
            ],
        ),
        scenario_case(
            "a credit cap above 100 % per vCPU",
            include_str!("../scenarios/migration-downtime.ron").replacen(
                "guests: [(affinity: [1]), (affinity: [1])]",
                "guests: [(affinity: [1], cap_pct: 150), (affinity: [1])]",
                1,
            ),
            &["bad.ron", "guests[0].cap_pct", "0..=100"],
        ),
        scenario_case(
            "a credit cap under the SEDF scheduler",
            include_str!("../scenarios/isolation-sedf-dc.ron").replacen(
                "guests: [(sedf: (period_ns: 100000000, slice_ns: 60000000, extratime: false),",
                "guests: [(cap_pct: 50, sedf: (period_ns: 100000000, slice_ns: 60000000, extratime: false),",
                1,
            ),
            &["bad.ron", "hosts[0].xen.host.guests[0].cap_pct", "sedf.slice_ns"],
        ),
        scenario_case(
            "a dilated domain with a credit cap of its own",
            include_str!("../scenarios/time-dilation.ron").replacen(
                "(affinity: [1]), (affinity: [1])]",
                "(affinity: [1]), (affinity: [1], cap_pct: 20)]",
                1,
            ),
            &["bad.ron", "dilation[1].tdf.dilate_cpu_share", "keep one of them"],
        ),
        scenario_case(
            "a dilated domain's 1/TDF CPU share under SEDF",
            include_str!("../scenarios/isolation-sedf-dc.ron").replacen(
                "    probes:",
                "    dilation: [(host: \"sedf\", domain: 1, tdf: (factor: 2.0))],\n    probes:",
                1,
            ),
            &["bad.ron", "dilation[0].tdf.dilate_cpu_share", "extratime: false"],
        ),
        scenario_case(
            "a dependent RADclock with no Dom0 RADclock to follow",
            include_str!("../scenarios/vet-migration.ron").replace(
                "algorithm: Radclock(poll_period_s: 16)),\n        (name: \"dom0-kultarr",
                "algorithm: Naive(poll_period_s: 16)),\n        (name: \"dom0-kultarr",
            ),
            &[
                "bad.ron",
                "follows",
                "no daemon on host \"tastiger\" runs Radclock",
            ],
        ),
        scenario_case(
            "a dependent clock placed in a migration's destination slot",
            include_str!("../scenarios/vet-migration.ron").replace(
                "(name: \"guest-dependent-radclock\", host: \"tastiger\"",
                "(name: \"guest-dependent-radclock\", host: \"kultarr\"",
            ),
            &["bad.ron", "clocks[0].domain", "empty until events[0]"],
        ),
        scenario_case(
            "a time dilation factor below 1",
            include_str!("../scenarios/time-dilation.ron").replacen(
                "tdf: (factor: 10.0)",
                "tdf: (factor: 1e-300)",
                1,
            ),
            &["bad.ron", "dilation[1].tdf.factor", "[1, 1000]"],
        ),
        scenario_case(
            "a dependent clock in a time-dilated domain",
            include_str!("../scenarios/vet-migration.ron").replace(
                "    probes:",
                "    dilation: [(host: \"tastiger\", domain: 1, tdf: (factor: 2.0, dilate_rdtsc: true))],\n    probes:",
            ),
            &["bad.ron", "clocks[0].domain", "not modelled"],
        ),
        scenario_case(
            "stability metrics over a τ shorter than the probe interval",
            include_str!("../scenarios/lan-basics.ron").replacen(
                "probes: (interval_s: 1.0)",
                "probes: (interval_s: 1.0, stability_max_tau_s: 0.5)",
                1,
            ),
            &["bad.ron", "probes.stability_max_tau_s", "1..=262144 s"],
        ),
        set_case(
            "`run --set` on a field that does not exist",
            "durashun_s=5",
            &["durashun_s", "no field \"durashun_s\"", "(in --set durashun_s=5)"],
        ),
        set_case(
            "`run --set` past the end of a list",
            "daemons[7].name=x",
            &["daemons[7].name", "index 7 out of range (0..3)"],
        ),
        set_case(
            "`run --set` without a value",
            "duration_s",
            &["--set", "\"duration_s\" is not PATH=VALUE"],
        ),
        set_case(
            "`run --set` with a value of the wrong type",
            "seed=-1",
            &["seed", "-1 does not fit the field"],
        ),
        set_case(
            "`run --set` of a whole variant with fields",
            "paths[0].forward.queueing=Exponential(mean_us: 50)",
            &["paths[0].forward.queueing", "write it as a map from its name to its fields"],
        ),
        set_case(
            "`run --set` of NaN on an optional field",
            "paths[0].asymmetry_us=NaN",
            &[
                "paths[0].asymmetry_us: NaN is not a finite number",
                "write None to leave the field unset",
            ],
        ),
        set_case(
            "`run --set` of a number too large for a float (1e400)",
            "duration_s=1e400",
            &["duration_s: inf is not a finite number"],
        ),
        set_case(
            "`run --set` of `()`",
            "paths[0].asymmetry_us=()",
            &["paths[0].asymmetry_us: () is not a value"],
        ),
        case(
            "`run --seed` with `--set 'seed =9'` (spaced)",
            ("s.ron", include_str!("../scenarios/lan-basics.ron")),
            &[
                "run", "{d}/s.ron", "--out", "{d}/out", "--seed", "7", "--set", "seed =9",
            ],
            &["--seed and --set seed=... both set the seed"],
        ),
        set_case(
            "`run --set` with a value out of range",
            "duration_s=0",
            &["duration_s", "valid range"],
        ),
        sweep_case(
            "sweep shortening its runs to a NaN duration",
            &format!("Sweep(name: \"sw\", base: \"base.ron\", vary: [{poll}], duration_s: Some(NaN))"),
            &["sweep.ron", "duration_s: NaN is outside the valid range 0.001..=631152000 s"],
        ),
        sweep_case(
            "sweep varying an empty field path",
            &sweep_text("(path: \"\", values: List([8, 16]))"),
            &["vary[0].path: the path is empty"],
        ),
        sweep_case(
            "linear range whose span overflows a float (-1e308 to 1e308)",
            &sweep_text(
                "(path: \"paths[0].asymmetry_us\", values: LinRange(from: -1e308, to: 1e308, steps: 3))",
            ),
            &["vary[0].values", "to − from is beyond a float's range"],
        ),
        sweep_case(
            "logarithmic range whose ratio overflows a float (1e-300 to 1e300)",
            &sweep_text("(path: \"duration_s\", values: LogRange(from: 1e-300, to: 1e300, steps: 3))"),
            &["vary[0].values", "to / from is beyond a float's range"],
        ),
        sweep_case(
            "random values whose span overflows a float",
            &sweep_text(
                "(path: \"paths[0].asymmetry_us\", values: Random(from: -1.7e308, to: 1.7e308, count: 2))",
            ),
            &["vary[0].values", "to − from is beyond a float's range"],
        ),
        set_case(
            "`run --set` with nothing before `=`",
            "=5",
            &["--set", "\"=5\" names no field before '='"],
        ),
    ]
}

/// `vtsim run` of a bundled scenario with one bad `--set` override.
fn set_case(what: &'static str, set: &'static str, expect: &[&'static str]) -> Case {
    case(
        what,
        ("s.ron", include_str!("../scenarios/lan-basics.ron")),
        &["run", "{d}/s.ron", "--out", "{d}/out", "--set", set],
        expect,
    )
}

/// Runs the catalogue; returns (case, exit code, first line of the error).
fn run_cases() -> Vec<(Case, i32, String)> {
    let bin = env!("CARGO_BIN_EXE_vtsim");
    let root = scratch("cli");
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for (i, c) in cases().into_iter().enumerate() {
        let d = root.join(format!("case{i:02}"));
        std::fs::create_dir_all(&d).unwrap();
        for sub in &c.dirs {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        for (name, bytes) in &c.files {
            let p = d.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        let ds = d.display().to_string();
        let args: Vec<String> = c.args.iter().map(|a| a.replace("{d}", &ds)).collect();
        let o = Command::new(bin)
            .args(&args)
            .current_dir(&d)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).replace(&ds, "DIR");
        let code = o.status.code().unwrap_or(-1);
        if code == 0 {
            failures.push(format!(
                "{}: accepted\n{}",
                c.what,
                String::from_utf8_lossy(&o.stdout)
            ));
        }
        if stderr.contains("panicked") {
            failures.push(format!("{}: panicked\n{stderr}", c.what));
        }
        let planned = c.dirs.contains(&"out") || c.files.iter().any(|f| f.0.starts_with("out/"));
        if !planned && d.join("out").exists() {
            failures.push(format!("{}: refused, yet created out/", c.what));
        }
        for e in &c.expect {
            if !stderr.contains(e) {
                failures.push(format!("{}: error lacks {e:?}:\n{stderr}", c.what));
            }
        }
        out.push((c, code, stderr.trim().to_string()));
    }
    std::fs::remove_dir_all(&root).unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    out
}

#[test]
fn cli_refuses_every_bad_input_clearly() {
    let results = run_cases();
    assert!(results.len() >= 30);
    if let Ok(path) = std::env::var("VTSIM_ROBUSTNESS_TABLE") {
        let mut md = String::from(
            "| # | bad input | command | exit | what vtsim says |\n|---|---|---|---|---|\n",
        );
        for (i, (c, code, err)) in results.iter().enumerate() {
            let cmd = c
                .args
                .iter()
                .map(|a| a.replace("{d}/", "").replace("{d}", "DIR"))
                .collect::<Vec<_>>()
                .join(" ");
            let msg = err.replace('|', "\\|").replace('\n', "<br>");
            // A double-backtick code span shows the message's own
            // backticks as the program prints them.
            md.push_str(&format!(
                "| {} | {} | `vtsim {}` | {} | `` {} `` |\n",
                i + 1,
                c.what,
                cmd,
                code,
                msg
            ));
        }
        std::fs::write(path, md).unwrap();
    }
}

#[test]
fn a_byte_order_mark_is_ignored() {
    // Some Windows editors start UTF-8 files with U+FEFF.
    let d = scratch("bom");
    let file = d.join("bom.ron");
    std::fs::write(&file, format!("\u{feff}{TINY}")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok (tiny)"));
    std::fs::remove_dir_all(&d).unwrap();
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

#[test]
fn dump_defaults_round_trips() {
    let s = default_scenario();
    let text = s.to_ron();
    let back = Scenario::parse(&text, "dump").unwrap();
    assert_eq!(back, s);
    assert_eq!(back.to_ron(), text);
    // The CLI prints the same text.
    let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .arg("dump-defaults")
        .output()
        .unwrap();
    assert!(o.status.success());
    let printed = String::from_utf8(o.stdout).unwrap();
    assert_eq!(Scenario::parse(&printed, "stdout").unwrap(), s);
}

/// `run --set` runs the scenario with its overrides and records them in the
/// `scenario.ron` it writes: running that file gives the same summary.
#[test]
fn run_set_overrides_are_recorded() {
    let d = scratch("set");
    let run = |args: &[&str], out: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
            .arg("run")
            .args(args)
            .arg("--out")
            .arg(d.join(out))
            .arg("-q")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(d.join(out).join("summary.json")).unwrap()
    };
    let lan = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/lan-basics.ron");
    let set = run(
        &[
            lan,
            "--set",
            "duration_s=3600",
            "--set",
            "daemons[1].algorithm.poll_period_s=64",
        ],
        "set",
    );
    assert!(set.contains("\"duration_s\": 3600.0"), "{set}");
    let recorded = d.join("set").join("scenario.ron");
    let text = std::fs::read_to_string(&recorded).unwrap();
    assert!(text.contains("poll_period_s: 64.0"), "{text}");
    let again = run(&[recorded.to_str().unwrap()], "again");
    assert_eq!(set, again);
    std::fs::remove_dir_all(&d).unwrap();
}

/// A small scenario with the given knobs: one host with a TSC and an HPET,
/// one server over one path, and one daemon per algorithm under test.
#[allow(clippy::too_many_arguments)]
fn small(
    seed: u64,
    duration_s: f64,
    min_rtt_us: f64,
    asym_frac: f64,
    queue_mean_us: f64,
    skew_ppm: f64,
    poll_period_s: f64,
    probe_s: f64,
) -> Scenario {
    let text = format!(
        r#"Scenario(
    name: "prop",
    seed: {seed},
    duration_s: {duration_s:?},
    hosts: [(name: "h", tsc_crystal: (skew_ppm: {skew_ppm:?}), platform_crystal: (skew_ppm: {skew2:?}),
             counters: [(kind: Tsc), (kind: Hpet)])],
    servers: [(name: "s")],
    paths: [(min_rtt_us: {min_rtt_us:?}, asymmetry_us: {asym:?},
             forward: (queueing: Exponential(mean_us: {queue_mean_us:?})),
             backward: (queueing: Exponential(mean_us: {queue_mean_us:?})))],
    daemons: [
        (name: "free", host: "h", counter: Hpet, servers: [], algorithm: FreeRunning()),
        (name: "naive", host: "h", servers: [(server: "s", path: 0)], algorithm: Naive(poll_period_s: {poll_period_s:?})),
        (name: "oracle", host: "h", servers: [(server: "s", path: 0)], algorithm: Oracle(poll_period_s: {poll_period_s:?})),
        (name: "radclock", host: "h", servers: [(server: "s", path: 0)], algorithm: Radclock(poll_period_s: {poll_period_s:?})),
        (name: "ntpd", host: "h", servers: [(server: "s", path: 0)], algorithm: Ntpd()),
    ],
    probes: (interval_s: {probe_s:?}),
    output: (errors_csv_interval_s: {probe_s:?}, plots: false),
)"#,
        skew2 = -skew_ppm / 2.0,
        asym = asym_frac * min_rtt_us,
    );
    Scenario::parse(&text, "prop.ron").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Runs in memory (no files) and summarises.
fn run_summary(s: &Scenario) -> vtsim::run::RunSummary {
    let world = build_world(s).unwrap();
    let (mut world, events) = drive(
        world,
        sim_core::SimTime::from_secs_f64(s.duration_s),
        |_, r| {
            r.clear();
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    summarize(s, &mut world, events)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn perturbed_scenarios_round_trip(
        seed in any::<u64>(),
        duration_s in 1.0f64..1e6,
        skew_ppm in -500.0f64..500.0,
        rtt in 0.0f64..1e5,
        frac in -1.0f64..1.0,
    ) {
        let s = small(seed, duration_s, rtt, frac, 10.0, skew_ppm, 16.0, 1.0);
        let back = Scenario::parse(&s.to_ron(), "rt").unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn valid_perturbations_give_finite_summaries(
        seed in any::<u64>(),
        duration_s in 30.0f64..400.0,
        rtt in 0.0f64..2e5,
        frac in -1.0f64..1.0,
        queue in 0.0f64..5e4,
        skew_ppm in -200.0f64..200.0,
        poll in 1.0f64..64.0,
        probe_s in 0.05f64..5.0,
    ) {
        let s = small(seed, duration_s, rtt, frac, queue, skew_ppm, poll, probe_s);
        prop_assume!(s.validate().is_empty());
        let summary = run_summary(&s);
        let json = serde_json::to_value(&summary).unwrap();
        prop_assert!(all_finite(&json), "non-finite number: {}", json);
        prop_assert_eq!(summary.clocks.len(), 5);
        for c in &summary.clocks {
            prop_assert!(c.error_us.count > 0, "{} has no probe samples", c.name);
        }
    }

    /// Replaying the same stream twice through a fresh algorithm gives the
    /// same outputs bit for bit (no hidden global state, no time-of-day).
    #[test]
    fn replay_is_deterministic(
        seed in any::<u64>(),
        n in 2usize..80,
        skew_ppm in -100.0f64..100.0,
        delays in proptest::collection::vec((100u64..50_000, 100u64..50_000, any::<bool>()), 80),
    ) {
        let rows = synthetic_rows(n, skew_ppm, &delays);
        for name in ["naive", "radclock", "ntpd", "free-running"] {
            let cfg = AlgorithmConfig::default_for(name).unwrap();
            let a = replay(&rows, &cfg, seed, 0.0, None).unwrap();
            let b = replay(&rows, &cfg, seed, 0.0, None).unwrap();
            let bits = |r: &vtsim::replay::Replay| -> Vec<u64> {
                r.errors.iter().map(|(tf, e)| tf ^ e.to_bits())
                    .chain(r.trace.iter().flat_map(|(_, v)| v.iter().map(|x| x.to_bits())))
                    .collect()
            };
            prop_assert_eq!(bits(&a), bits(&b), "{} differs between two replays", name);
            prop_assert_eq!(a.errors.len(), rows.iter().filter(|r| r.tf.is_some()).count());
        }
    }

    /// The exchange reader answers Ok or Err on arbitrary bytes, and a
    /// replay of whatever it accepts does not panic.
    #[test]
    fn csv_reader_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        csv_reader_survives(&bytes);
    }

    /// Same, on text shaped like an exchange file (header plus rows of
    /// plausible and implausible cells), which reaches the row checks.
    #[test]
    fn csv_reader_never_panics_on_rows(
        header in proptest::sample::subsequence(
            vec!["server", "counter_hz", "ta", "tb", "te", "tf", "tf_true_ns", "lost", "extra"], 0..=9),
        rows in proptest::collection::vec(proptest::collection::vec(cell(), 0..10), 0..12),
    ) {
        let mut text = header.join(",");
        text.push('\n');
        for r in rows {
            text.push_str(&r.join(","));
            text.push('\n');
        }
        csv_reader_survives(text.as_bytes());
    }
}

/// A CSV cell: numbers of every kind, text, empties, quotes.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|v| v.to_string()),
        (0u64..100_000).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| v.to_string()),
        (-1e3f64..1e3).prop_map(|v| v.to_string()),
        Just(String::new()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("18446744073709551615".to_string()),
        Just("\"".to_string()),
        "[a-z ]{0,6}",
    ]
}

fn csv_reader_survives(bytes: &[u8]) {
    thread_local! {
        static FILE: PathBuf = scratch(&format!("csv-{:?}", std::thread::current().id()))
            .join("x.csv");
    }
    FILE.with(|f| {
        std::fs::write(f, bytes).unwrap();
        if let Ok(rows) = read_rows(f) {
            assert!(!rows.is_empty());
            for name in ["naive", "radclock", "ntpd"] {
                let cfg = AlgorithmConfig::default_for(name).unwrap();
                if let Ok(r) = replay(&rows, &cfg, 1, 0.0, None) {
                    let stats = vtsim::run::ErrorStats::from_summary(&r.at_exchange);
                    assert!(all_finite(&serde_json::to_value(&stats).unwrap()));
                }
            }
        }
    });
}

/// `n` exchanges 16 s apart on a 1 GHz counter running `skew_ppm` fast,
/// with the given one-way delays (ns); the flag marks a lost reply.
fn synthetic_rows(n: usize, skew_ppm: f64, delays: &[(u64, u64, bool)]) -> Vec<Row> {
    let rate = 1.0 + skew_ppm * 1e-6;
    (0..n)
        .map(|i| {
            let (fwd, bwd, lost) = delays[i % delays.len()];
            let t_send_ns = 1_000_000 + i as u64 * 16_000_000_000;
            let tb = (t_send_ns + fwd) as f64 * 1e-9;
            let te = tb + 20e-6;
            let t_recv_ns = t_send_ns + fwd + 20_000 + bwd;
            let lost = lost && i > 0;
            Row {
                server: 0,
                counter_hz: 1e9,
                ta: (t_send_ns as f64 * rate) as u64,
                tb,
                te,
                tf: (!lost).then_some((t_recv_ns as f64 * rate) as u64),
                tf_true_ns: (!lost).then_some(t_recv_ns),
                stratum: 1,
                server_changed: false,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Output directories.
// ---------------------------------------------------------------------------

fn tiny_scenario() -> Scenario {
    Scenario::parse(TINY, "tiny.ron").unwrap()
}

#[test]
fn existing_output_is_refused_without_force() {
    let d = scratch("existing");
    let out = d.join("run");
    let s = tiny_scenario();
    let opts = RunOptions {
        out: Some(out.clone()),
        ..RunOptions::default()
    };
    run_scenario(&s, &opts).unwrap();
    let before = std::fs::read(out.join("summary.json")).unwrap();
    let e = run_scenario(&s, &opts).unwrap_err().to_string();
    assert!(e.contains("already exists") && e.contains("--force"), "{e}");
    assert_eq!(
        std::fs::read(out.join("summary.json")).unwrap(),
        before,
        "untouched"
    );
    let forced = RunOptions {
        force: true,
        seed: Some(99),
        ..opts
    };
    run_scenario(&s, &forced).unwrap();
    let after = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(after.contains("\"seed\": 99"), "replaced by the forced run");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Entries of `dir` whose names mark a staging directory.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect()
}

/// A run that fails after the simulation (a daemon folder named like the
/// summary file makes writing `summary.json` fail) leaves nothing under
/// its final name, and no staging directory either.
#[test]
fn failed_run_leaves_no_partial_output() {
    let d = scratch("failed");
    let out = d.join("run");
    let mut s = tiny_scenario();
    s.daemons[0].name = "summary.json".into();
    let opts = RunOptions {
        out: Some(out.clone()),
        ..RunOptions::default()
    };
    let e = run_scenario(&s, &opts);
    assert!(e.is_err(), "writing summary.json over a folder must fail");
    assert!(!out.exists(), "no output under the final name");
    assert!(
        leftovers(&d).is_empty(),
        "staging removed: {:?}",
        leftovers(&d)
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// A run killed with SIGKILL (no cleanup at all) leaves nothing under its
/// final name; the next run to the same place succeeds.
#[cfg(unix)]
#[test]
fn killed_run_leaves_no_output_under_its_name() {
    let d = scratch("killed");
    // Long enough to be caught mid-run: a day probed every millisecond.
    let long = tiny_with("duration_s: 60", "duration_s: 864000")
        .replace("interval_s: 1.0", "interval_s: 0.001");
    std::fs::write(d.join("long.ron"), long).unwrap();
    let out = d.join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .args(["run", "long.ron", "--out", "run", "-q"])
        .current_dir(&d)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while leftovers(&d).is_empty() {
        assert!(start.elapsed().as_secs() < 60, "staging never appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "run ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.exists(),
        "a killed run must not appear under its final name"
    );
    std::fs::write(d.join("tiny.ron"), TINY).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .args(["run", "tiny.ron", "--out", "run", "-q"])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("summary.json").exists());
    assert!(
        leftovers(&d).is_empty(),
        "the killed run's staging is removed by the next run: {:?}",
        leftovers(&d)
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[cfg(unix)]
#[test]
fn interrupted_run_removes_its_staging() {
    let d = scratch("interrupted");
    let long = tiny_with("duration_s: 60", "duration_s: 864000")
        .replace("interval_s: 1.0", "interval_s: 0.001");
    std::fs::write(d.join("long.ron"), long).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .args(["run", "long.ron", "--out", "run", "-q"])
        .current_dir(&d)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while leftovers(&d).is_empty() {
        assert!(start.elapsed().as_secs() < 60, "staging never appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    interrupt_and_expect_nothing(child, &d, "run", "interrupted; nothing written to run");
}

/// Sends `child` what Ctrl-C sends; it must exit with 130 saying `message`,
/// leaving neither its output `target` in `d` nor a staging directory.
#[cfg(unix)]
fn interrupt_and_expect_nothing(child: std::process::Child, d: &Path, target: &str, message: &str) {
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
    assert!(!d.join(target).exists());
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
    std::fs::remove_dir_all(d).unwrap();
}

/// Ctrl-C during `vtsim reproduce` removes its staging directory too, also
/// once some of its runs are in place inside it (their commits are not its
/// output being written).
#[cfg(unix)]
#[test]
fn interrupted_reproduction_removes_its_staging() {
    let d = scratch("interrupted-reproduce");
    let child = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .args(["reproduce", "--quick", "--out", "r"])
        .current_dir(&d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    // A run committed within the staging directory.
    let run_in_place = || {
        leftovers(&d).iter().any(|s| {
            std::fs::read_dir(d.join(s))
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.path().join("summary.json").is_file())
        })
    };
    while !run_in_place() {
        assert!(start.elapsed().as_secs() < 120, "no run finished");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    interrupt_and_expect_nothing(
        child,
        &d,
        "r",
        "reproduce: interrupted; nothing written to r",
    );
}

/// Worker counts out of range are refused by the library too, before the
/// output directory exists.
#[test]
fn sweep_refuses_jobs_out_of_range_before_creating_output() {
    let d = scratch("jobs");
    std::fs::write(d.join("base.ron"), TINY).unwrap();
    let poll = "(path: \"daemons[0].algorithm.poll_period_s\", values: List([8, 16]))";
    std::fs::write(d.join("sweep.ron"), sweep_text(poll)).unwrap();
    let plan = vtsim::sweep::load(&d.join("sweep.ron")).unwrap();
    for jobs in [0, vtsim::sweep::MAX_JOBS + 1, 100_000] {
        let opts = vtsim::sweep::SweepOptions {
            out: Some(d.join("out")),
            jobs: Some(jobs),
            ..Default::default()
        };
        let e = vtsim::sweep::run_sweep(&plan, &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1..=1024"), "{e}");
        assert!(!d.join("out").exists(), "--jobs {jobs} created the output");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// `--resume` over kept files that cannot be read as text names the file.
#[test]
fn sweep_resume_names_an_unreadable_kept_file() {
    let d = scratch("resume-unreadable");
    std::fs::write(d.join("base.ron"), TINY).unwrap();
    let poll = "(path: \"daemons[0].algorithm.poll_period_s\", values: List([8, 16]))";
    std::fs::write(d.join("sweep.ron"), sweep_text(poll)).unwrap();
    let plan = vtsim::sweep::load(&d.join("sweep.ron")).unwrap();
    let out = d.join("out");
    for bad in ["results.csv", vtsim::sweep::RECORDED_SWEEP] {
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        for (name, text) in plan.records() {
            std::fs::write(out.join(name), text).unwrap();
        }
        std::fs::write(out.join("results.csv"), "run,point\n").unwrap();
        std::fs::write(out.join(bad), b"\xff\xfe not UTF-8").unwrap();
        let opts = vtsim::sweep::SweepOptions {
            out: Some(out.clone()),
            resume: true,
            ..Default::default()
        };
        let e = vtsim::sweep::run_sweep(&plan, &opts)
            .unwrap_err()
            .to_string();
        let file = out.join(bad).display().to_string();
        assert!(e.contains(&format!("cannot read {file}: ")), "{e}");
        assert!(e.contains("cannot resume"), "{e}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// A run without clocks writes its summary and an `errors.csv` of times,
/// but no (empty) plot.
#[test]
fn a_run_without_clocks_writes_no_plot() {
    let d = scratch("no-clocks");
    let s = Scenario::parse(
        r#"Scenario(name: "bare", duration_s: 60, hosts: [(name: "h")], output: (plots: true))"#,
        "bare.ron",
    )
    .unwrap();
    let opts = RunOptions {
        out: Some(d.join("run")),
        ..RunOptions::default()
    };
    let (dir, summary) = run_scenario(&s, &opts).unwrap();
    assert!(summary.clocks.is_empty());
    assert!(dir.join("summary.json").exists() && dir.join("errors.csv").exists());
    for f in ["errors.png", "errors.svg", "errors_data.csv"] {
        assert!(!dir.join(f).exists(), "{f} written for no clocks");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// `--force` replaces only a directory a run wrote: the files of a mistyped
/// `--out` survive, and nothing is left beside them.
#[test]
fn force_never_deletes_what_vtsim_did_not_write() {
    let d = scratch("force");
    let p = d.join("p");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("ok.ron"), TINY).unwrap();
    std::fs::write(p.join("notes.txt"), "x").unwrap();
    std::fs::write(d.join("afile"), "keep").unwrap();
    let vtsim = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vtsim"))
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap()
    };
    for args in [
        ["run", "p/ok.ron", "--out", "p", "--force", "-q"],
        ["run", "p/ok.ron", "--out", "afile", "--force", "-q"],
        ["run", "p/ok.ron", "--out", ".", "--force", "-q"],
    ] {
        let o = vtsim(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(args[3]),
            "{args:?}: the error names the path: {err}"
        );
    }
    assert_eq!(std::fs::read_to_string(p.join("notes.txt")).unwrap(), "x");
    assert_eq!(std::fs::read_to_string(p.join("ok.ron")).unwrap(), TINY);
    assert_eq!(std::fs::read_to_string(d.join("afile")).unwrap(), "keep");
    let mut names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["afile", "p"]);
    // A run's own directory is replaced, and nothing is left beside it.
    assert!(
        vtsim(&["run", "p/ok.ron", "--out", "r", "-q"])
            .status
            .success()
    );
    let o = vtsim(&["run", "p/ok.ron", "--out", "r", "--force", "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 3);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Output piped into a reader that stops early (`vtsim ... | head`) ends
/// the program quietly with the status of SIGPIPE, never a panic.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_program_quietly() {
    use std::io::Read;
    let d = scratch("pipe");
    std::fs::write(d.join("tiny.ron"), TINY).unwrap();
    // Far more output than a pipe buffers, so the writer meets the closed end.
    let mut args = vec!["validate".to_string()];
    args.extend(std::iter::repeat_n("tiny.ron".to_string(), 20_000));
    let mut child = Command::new(env!("CARGO_BIN_EXE_vtsim"))
        .args(&args)
        .current_dir(&d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "quietly: {err}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// A replay's summary: the seed it was given, and statistics without
/// samples written as `null` (not 0) when no true time counts.
#[test]
fn replay_summary_has_its_seed_and_null_empty_statistics() {
    let d = scratch("replay-summary");
    std::fs::write(d.join("x.csv"), CSV_OK).unwrap();
    let vtsim = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_vtsim"))
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let text = vtsim(&[
        "replay", "x.csv", "--algo", "naive", "--seed", "5", "--out", "a",
    ]);
    assert!(text.contains("error at exchange: median"), "{text}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("a/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seed"], 5);
    let text = vtsim(&[
        "replay",
        "x.csv",
        "--algo",
        "naive",
        "--metrics-from-s",
        "1e30",
        "--out",
        "b",
    ]);
    assert!(
        text.contains("no true time falls at or after --metrics-from-s 1e30 s"),
        "{text}"
    );
    let text = std::fs::read_to_string(d.join("b/summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let stats = &summary["clocks"][0]["error_at_exchange_us"];
    assert_eq!(stats["count"], 0);
    for k in ["median", "iqr", "p01", "p99", "mean", "rms", "max_abs"] {
        assert!(stats[k].is_null(), "{k}: {stats}");
    }
    // Read back (as `compare` does): missing values are NaN, not 0.
    let back: vtsim::run::RunSummary = serde_json::from_str(&text).unwrap();
    assert!(back.clocks[0].error_at_exchange_us.median.is_nan());
    std::fs::remove_dir_all(&d).unwrap();
}

// ---------------------------------------------------------------------------
// A year of free-running ideal clocks.
// ---------------------------------------------------------------------------

const YEAR_S: f64 = 365.0 * 86_400.0;

/// Ideal crystals (no skew, no noise) on two hosts, TSC and HPET (and the
/// ACPI PM timer), free-running, probed hourly.
fn ideal_year(duration_s: f64) -> Scenario {
    let text = format!(
        r#"Scenario(
    name: "ideal-year",
    duration_s: {duration_s:?},
    hosts: [
        (name: "a", counters: [(kind: Tsc), (kind: Hpet), (kind: AcpiPm)]),
        (name: "b", counters: [(kind: Tsc), (kind: Hpet)]),
    ],
    daemons: [
        (name: "a-tsc", host: "a", counter: Tsc, servers: [], algorithm: FreeRunning()),
        (name: "a-hpet", host: "a", counter: Hpet, servers: [], algorithm: FreeRunning()),
        (name: "a-acpi", host: "a", counter: AcpiPm, servers: [], algorithm: FreeRunning()),
        (name: "b-tsc", host: "b", counter: Tsc, servers: [], algorithm: FreeRunning()),
        (name: "b-hpet", host: "b", counter: Hpet, servers: [], algorithm: FreeRunning()),
    ],
    probes: (interval_s: 3600),
    output: (errors_csv_interval_s: 3600, plots: false),
)"#
    );
    let s = Scenario::parse(&text, "ideal-year.ron").unwrap();
    assert!(s.validate().is_empty(), "{:?}", s.validate());
    s
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs `s`, returning the summary and the largest number of records
/// drained at once.
fn run_counting(s: &Scenario) -> (vtsim::run::RunSummary, usize) {
    let world = build_world(s).unwrap();
    let mut most = 0;
    let (mut world, events) = drive(
        world,
        sim_core::SimTime::from_secs_f64(s.duration_s),
        |_, r| {
            most = most.max(r.error_times.len() + r.exchanges.len() + r.trace_rows.len());
            r.clear();
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    (summarize(s, &mut world, events), most)
}

/// RSS is per process and the other tests allocate in parallel threads, so
/// the measurement runs alone in a child process of this test binary.
const RSS_CHILD_ENV: &str = "VTSIM_ROBUSTNESS_RSS_CHILD";

#[test]
fn a_year_of_ideal_clocks_stays_within_a_nanosecond_in_flat_memory() {
    if std::env::var_os(RSS_CHILD_ENV).is_none() {
        let o = Command::new(std::env::current_exe().unwrap())
            .args([
                "a_year_of_ideal_clocks_stays_within_a_nanosecond_in_flat_memory",
                "--exact",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(RSS_CHILD_ENV, "1")
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success() && log.contains("1 passed"), "{log}");
        return;
    }
    let s = ideal_year(YEAR_S);
    let (summary, most_one) = run_counting(&s);
    for c in &summary.clocks {
        assert_eq!(c.error_us.count, 365 * 24 + 1, "{}: hourly samples", c.name);
        assert!(
            c.error_us.max_abs < 1e-3,
            "{}: max |error| {} µs ≥ 1 ns",
            c.name,
            c.error_us.max_abs
        );
    }
    // Records are drained per slice: at most a slice's worth at once.
    let hours = (YEAR_S / 3600.0) as usize;
    assert!(
        most_one <= hours / 256 + 2,
        "{most_one} records in one drain"
    );
    let rss_one = rss_kib();
    let (summary2, _) = run_counting(&ideal_year(2.0 * YEAR_S));
    for c in &summary2.clocks {
        assert!(
            c.error_us.max_abs < 1e-3,
            "{} over two years: {} µs",
            c.name,
            c.error_us.max_abs
        );
    }
    if let (Some(a), Some(b)) = (rss_one, rss_kib()) {
        println!("RSS after one year: {a} KiB, after two years: {b} KiB");
        assert!(
            b < a + 8 * 1024,
            "RSS grew from {a} KiB to {b} KiB when the duration doubled"
        );
    }
}
