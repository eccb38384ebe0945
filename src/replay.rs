//! Replaying recorded exchanges through any algorithm.
//!
//! `exchanges.csv` (written by every run, and easy to produce from real
//! captures) holds one exchange per row:
//!
//! | column | meaning |
//! |---|---|
//! | `server` | server index in the daemon's list (0 for one server) |
//! | `counter_hz` | nominal counter frequency, Hz |
//! | `ta`, `tf` | raw client counter at send / receive (integers; `tf` empty if lost) |
//! | `tb`, `te` | server receive / transmit time, seconds |
//! | `ta_true_ns` … `tf_true_ns` | true times, ns (optional: empty for real captures) |
//! | `forward_ns`, `backward_ns` | true one-way delays, ns (optional) |
//! | `lost` | 1 if no reply arrived, 0 (or empty) if one did |
//! | `error_s`, `algorithm` | the recording run's clock error at Tf and its algorithm (ignored) |
//! | `stratum` | the reply's stratum (optional: 1 when absent or empty) |
//! | `server_changed` | 1 if the server changed (stratum, reference) since this client's previous reply (optional: 0) |
//!
//! The replay feeds the algorithm exactly what the live daemon fed it, in
//! counter order, so a replay of a run's own stamps reproduces that run's
//! error-at-exchange metrics bit for bit. That includes where the daemon
//! started: an algorithm with state before its first exchange (ntpd's
//! clock runs at its `drift_ppm` from the start) is started at the counter
//! value the run started it at, which the run records in `summary.json`
//! (`counter_at_start`) and the replay reads from there when the file is a
//! run's `<daemon>/exchanges.csv` (or takes from `--start-counter`);
//! otherwise the algorithm starts at the first stamp.
//!
//! Its output directory holds `summary.json` (its `duration_s` is the span
//! of the replayed stamps in counter time at the nominal rate),
//! `errors.csv`, `trace.csv` and `replay.ron`: the exchanges file, the
//! algorithm with every parameter (the `--set` ones and the defaults), the
//! metrics start and the seed, so two replays with different settings say
//! how they differ.

use std::path::Path;

use algorithms::{AlgorithmConfig, ClockTime, CounterInfo, Exchange};
use serde::Serialize;
use sim_core::stats::Summary;

/// Most servers one exchange file may name (indices 0..256). Algorithms
/// keep state per server, so an index is an allocation: a corrupt cell
/// must not become a request for 10¹⁸ peers. ntpd itself allows far fewer
/// associations in practice (tens).
pub const MAX_SERVERS: u64 = 256;

/// Lowest nominal counter frequency accepted, Hz: below any real
/// clocksource (the slowest, a 32 kHz RTC, is far above), and keeps tick
/// lengths finite.
pub const MIN_COUNTER_HZ: f64 = 1.0;

/// Highest nominal counter frequency accepted, Hz: a 1 ps tick, two orders
/// above any TSC (about 5 GHz), so ticks × seconds stays within u64 for
/// centuries of counts.
pub const MAX_COUNTER_HZ: f64 = 1e12;

/// Largest server time and counter reading accepted, seconds (about 3000
/// years): NTP and Unix times are near 4·10⁹ s, and algorithms hold time
/// as whole seconds in an i64, which a corrupt 10²⁸ s stamp overflows.
pub const MAX_TIME_S: f64 = 1e11;

/// Longest round trip accepted, seconds: a reply an hour after its
/// request is no exchange (ntpd discards far younger ones), and usually a
/// corrupt counter reading.
pub const MAX_RTT_S: f64 = 3600.0;

/// Longest counter time a file may span, seconds: 20 years, the longest
/// scenario. Algorithms run timers per second of counter time (ntpd), so
/// the span is the replay's cost.
pub const MAX_SPAN_S: f64 = 20.0 * 365.25 * 86_400.0;

/// One parsed row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Server index.
    pub server: usize,
    /// Counter frequency, Hz.
    pub counter_hz: f64,
    /// Counter at send.
    pub ta: u64,
    /// Server receive time, s.
    pub tb: f64,
    /// Server transmit time, s.
    pub te: f64,
    /// Counter at receive (None if lost).
    pub tf: Option<u64>,
    /// True time of Tf, ns, if known.
    pub tf_true_ns: Option<u64>,
    /// Stratum of the reply.
    pub stratum: u8,
    /// The server changed since the client's previous reply.
    pub server_changed: bool,
}

fn field<'a>(rec: &'a csv::StringRecord, idx: &[Option<usize>], col: usize) -> Option<&'a str> {
    idx[col]
        .and_then(|i| rec.get(i))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The columns of an exchanges file, in the order [`parse_row`] indexes them.
const COLUMNS: [&str; 10] = [
    "server",
    "counter_hz",
    "ta",
    "tb",
    "te",
    "tf",
    "tf_true_ns",
    "lost",
    "stratum",
    "server_changed",
];

/// One data row of an exchanges file, checked; errors say what is wrong
/// with it, and the caller where it is.
fn parse_row(
    rec: &csv::StringRecord,
    idx: &[Option<usize>],
    header_len: usize,
) -> anyhow::Result<Row> {
    let names = COLUMNS;
    // A short or long row has lost or gained a cell: which one is unknowable.
    if rec.len() != header_len {
        anyhow::bail!("{} cells where the header has {}", rec.len(), header_len);
    }
    let num = |col: usize| -> anyhow::Result<Option<f64>> {
        field(rec, idx, col)
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        anyhow::anyhow!("column \"{}\": \"{s}\" is not a finite number", names[col])
                    })
            })
            .transpose()
    };
    let int = |col: usize| -> anyhow::Result<Option<u64>> {
        field(rec, idx, col)
            .map(|s| {
                s.parse::<u64>().map_err(|_| {
                    anyhow::anyhow!(
                        "column \"{}\": \"{s}\" is not a non-negative integer",
                        names[col]
                    )
                })
            })
            .transpose()
    };
    let need = |v: Option<f64>, col: usize| {
        v.ok_or_else(|| anyhow::anyhow!("column \"{}\" is empty", names[col]))
    };
    let lost = match int(7)? {
        None | Some(0) => false,
        Some(1) => true,
        Some(v) => {
            anyhow::bail!("column \"lost\": {v} is neither 0 nor 1")
        }
    };
    let stratum = match int(8)? {
        None => 1,
        Some(s) if s <= 16 => s as u8,
        Some(s) => {
            anyhow::bail!("column \"stratum\": {s} is outside 0..=16")
        }
    };
    let server_changed = match int(9)? {
        None | Some(0) => false,
        Some(1) => true,
        Some(v) => anyhow::bail!("column \"server_changed\": {v} is neither 0 nor 1"),
    };
    let counter_hz = need(num(1)?, 1)?;
    if !(MIN_COUNTER_HZ..=MAX_COUNTER_HZ).contains(&counter_hz) {
        anyhow::bail!(
            "counter_hz {counter_hz} is outside {MIN_COUNTER_HZ}..={MAX_COUNTER_HZ:e} Hz"
        );
    }
    let server = int(0)?.unwrap_or(0);
    if server >= MAX_SERVERS {
        anyhow::bail!("server {server} is outside 0..{MAX_SERVERS}");
    }
    let ta = int(2)?.ok_or_else(|| anyhow::anyhow!("column \"ta\" is empty"))?;
    let tf = int(5)?;
    if !lost && tf.is_none() {
        anyhow::bail!("tf is empty but the exchange is not marked lost");
    }
    // An equal reading is a real exchange on a counter coarser than its
    // round trip, as the run records it.
    if let Some(tf) = tf
        && tf < ta
    {
        anyhow::bail!("tf ({tf}) is before ta ({ta})");
    }
    if let Some(tf) = tf
        && (tf - ta) as f64 / counter_hz > MAX_RTT_S
    {
        anyhow::bail!(
            "round trip tf − ta is {} s; at most {MAX_RTT_S} s",
            (tf - ta) as f64 / counter_hz
        );
    }
    let (tb, te) = if lost {
        (num(3)?.unwrap_or(0.0), num(4)?.unwrap_or(0.0))
    } else {
        (need(num(3)?, 3)?, need(num(4)?, 4)?)
    };
    for (name, v) in [("tb", tb), ("te", te)] {
        if v.abs() > MAX_TIME_S {
            anyhow::bail!("{name} ({v} s) is outside -{MAX_TIME_S:e}..={MAX_TIME_S:e} s");
        }
    }
    for (name, count) in [("ta", Some(ta)), ("tf", tf)] {
        if let Some(c) = count
            && c as f64 / counter_hz > MAX_TIME_S
        {
            anyhow::bail!(
                "{name} ({c}) is {:e} s of counting at {counter_hz} Hz; at most {MAX_TIME_S:e} s",
                c as f64 / counter_hz
            );
        }
    }
    if !lost && te < tb {
        anyhow::bail!("te ({te}) is before tb ({tb})");
    }
    Ok(Row {
        server: server as usize,
        counter_hz,
        ta,
        tb,
        te,
        tf: if lost { None } else { tf },
        tf_true_ns: if lost { None } else { int(6)? },
        stratum,
        server_changed,
    })
}

/// The line of `path` on which the row the csv reader placed at byte `at`
/// starts, counted from 1 with blank lines, so that an editor goes to it.
/// The reader places a row after blank lines at the first of them (its own
/// line count is off alike), so blank lines from `at` on are passed over.
/// The file is read again only to report an error.
fn line_at(path: &Path, at: u64) -> u64 {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    let from = usize::try_from(at).map_or(bytes.len(), |a| a.min(bytes.len()));
    let start = bytes[from..]
        .iter()
        .position(|b| !matches!(b, b'\n' | b'\r'))
        .map_or(bytes.len(), |k| from + k);
    1 + bytes[..start].iter().filter(|&&b| b == b'\n').count() as u64
}

/// Reads and checks an exchanges file; errors name the file's line and the column.
pub fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let file = path.display();
    // A device or pipe (/dev/zero, a FIFO) never ends or never starts: only
    // regular files are read.
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => anyhow::bail!("{file}: not a regular file"),
        Err(e) => anyhow::bail!("{file}: cannot read: {e}"),
        Ok(_) => {}
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| anyhow::anyhow!("{file}: cannot read: {e}"))?;
    let headers = rdr
        .headers()
        .map_err(|e| anyhow::anyhow!("{file}: bad header: {e}"))?
        .clone();
    let names = COLUMNS;
    // A column given twice is ambiguous: which one did the capture mean?
    for n in &names {
        if headers.iter().filter(|h| h.trim() == *n).count() > 1 {
            anyhow::bail!("{file}: column \"{n}\" appears more than once in the header");
        }
    }
    let idx: Vec<Option<usize>> = names
        .iter()
        .map(|n| headers.iter().position(|h| h.trim() == *n))
        .collect();
    for (i, n) in names.iter().enumerate().take(6) {
        if idx[i].is_none() && *n != "server" {
            anyhow::bail!(
                "{file}: missing column \"{n}\" (header has: {})",
                headers.iter().collect::<Vec<_>>().join(",")
            );
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut first_byte = 0;
    for rec in rdr.records() {
        // The csv error names the record itself.
        let rec = rec.map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let at_byte = rec.position().map_or(0, csv::Position::byte);
        let row = parse_row(&rec, &idx, headers.len())
            .map_err(|e| anyhow::anyhow!("{file}: line {}: {e}", line_at(path, at_byte)))?;
        match rows.first() {
            None => first_byte = at_byte,
            Some(first) if first.counter_hz != row.counter_hz => anyhow::bail!(
                "{file}: line {}: counter_hz {} differs from line {} ({}): one file holds one counter",
                line_at(path, at_byte),
                row.counter_hz,
                line_at(path, first_byte),
                first.counter_hz
            ),
            Some(_) => {}
        }
        rows.push(row);
    }
    if rows.is_empty() {
        anyhow::bail!("{file}: no exchanges");
    }
    let first = rows.iter().map(|r| r.ta).min().unwrap_or(0);
    let last = rows.iter().map(|r| r.tf.unwrap_or(r.ta)).max().unwrap_or(0);
    let span_s = (last - first) as f64 / rows[0].counter_hz;
    if span_s > MAX_SPAN_S {
        anyhow::bail!(
            "{file}: the exchanges span {span_s:e} s of counter time; at most {MAX_SPAN_S:e} s (20 years, as a scenario)"
        );
    }
    Ok(rows)
}

/// Builds an algorithm config from its name and `key=value` settings (RON values).
pub fn config_from_sets(name: &str, sets: &[String]) -> anyhow::Result<AlgorithmConfig> {
    let default = AlgorithmConfig::default_for(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown algorithm \"{name}\" (known: {})",
            AlgorithmConfig::NAMES.join(", ")
        )
    })?;
    let text = crate::scenario::ron_options().to_string(&default)?;
    let variant = text.split('(').next().unwrap_or(&text).to_string();
    let mut fields = Vec::new();
    for s in sets {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--set {s}: expected key=value"))?;
        fields.push(format!("{}: {}", k.trim(), v.trim()));
    }
    let ron = format!("{variant}({})", fields.join(", "));
    let cfg: AlgorithmConfig = crate::scenario::ron_options()
        .from_str(&ron)
        .map_err(|e| anyhow::anyhow!("--set: {}: {}", ron, e.code))?;
    let errors = cfg.validate();
    if !errors.is_empty() {
        anyhow::bail!(
            "{}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(cfg)
}

/// Result of a replay.
pub struct Replay {
    /// Errors at each exchange's Tf (where true times are known), seconds.
    pub at_exchange: Summary,
    /// Per exchange: (tf, clock error or NaN).
    pub errors: Vec<(u64, f64)>,
    /// Trace column names.
    pub trace_columns: &'static [&'static str],
    /// Trace rows: tf then values.
    pub trace: Vec<(u64, Vec<f64>)>,
    /// Seed of the algorithm's own randomness.
    pub seed: u64,
    /// Exchanges whose `tf` true time is before this were left out of the
    /// metrics, s.
    pub metrics_from_s: f64,
    /// Span of the replayed stamps, first `ta` to last `tf` (or `ta`), in
    /// counter time at the nominal rate, s.
    pub span_s: f64,
    /// Counter value the algorithm was started at, if not the first stamp.
    pub start_counter: Option<u64>,
}

/// Where the run that wrote `exchanges` (a run's `<daemon>/exchanges.csv`)
/// started that daemon, from the run's `summary.json`: `None` for any
/// other file, or a summary without it.
pub fn run_start_counter(exchanges: &Path) -> Option<u64> {
    let daemon_dir = exchanges.parent()?;
    let daemon = daemon_dir.file_name()?.to_str()?;
    let text = std::fs::read_to_string(daemon_dir.parent()?.join("summary.json")).ok()?;
    let summary: crate::run::RunSummary = serde_json::from_str(&text).ok()?;
    summary
        .clocks
        .iter()
        .find(|c| c.name == daemon)?
        .counter_at_start
}

/// What a replay ran, written as `replay.ron` beside its outputs.
#[derive(Serialize)]
#[serde(rename = "Replay")]
struct ReplayRecord<'a> {
    /// The exchanges file, as given on the command line.
    exchanges: String,
    /// The algorithm with every parameter.
    algorithm: &'a AlgorithmConfig,
    metrics_from_s: f64,
    seed: u64,
    /// Counter value the algorithm was started at, if not the first stamp.
    start_counter: Option<u64>,
}

/// Feeds `rows` to the algorithm `cfg` in counter order, after starting it
/// at `start_counter` if given (at most the first stamp); exchanges whose
/// `tf` true time is before `metrics_from_s` are left out of the metrics.
pub fn replay(
    rows: &[Row],
    cfg: &AlgorithmConfig,
    seed: u64,
    metrics_from_s: f64,
    start_counter: Option<u64>,
) -> anyhow::Result<Replay> {
    // Saturates far beyond any true time a file can hold.
    let metrics_from_ns = (metrics_from_s * 1e9) as u64;
    let info = CounterInfo {
        nominal_hz: rows[0].counter_hz,
    };
    let n_servers = rows.iter().map(|r| r.server + 1).max().unwrap_or(1);
    let mut alg = cfg
        .build(info, n_servers, seed)
        .ok_or_else(|| anyhow::anyhow!("{} needs true time and cannot be replayed", cfg.name()))?;
    // Transmits at ta and receptions at tf, merged in counter order.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(rows.len() * 2);
    for (i, r) in rows.iter().enumerate() {
        events.push((r.ta, false, i));
        if let Some(tf) = r.tf {
            events.push((tf, true, i));
        }
    }
    events.sort_by_key(|&(c, rx, i)| (c, rx, i));
    let span_ticks = match (events.first(), events.last()) {
        (Some(first), Some(last)) => last.0 - first.0,
        _ => 0,
    };
    let mut out = Replay {
        at_exchange: Summary::new(),
        errors: Vec::new(),
        trace_columns: alg.trace_columns(),
        trace: Vec::new(),
        seed,
        metrics_from_s,
        span_s: span_ticks as f64 / info.nominal_hz,
        start_counter,
    };
    if let Some(start) = start_counter {
        let first = events.first().map_or(start, |e| e.0);
        if start > first {
            anyhow::bail!(
                "start counter {start} is after the first stamp (counter {first}): \
                 an algorithm cannot start after it has been fed"
            );
        }
        alg.advance(start);
    }
    for (counter, rx, i) in events {
        let r = &rows[i];
        alg.advance(counter);
        if !rx {
            alg.on_transmit(r.server, counter);
            continue;
        }
        alg.on_exchange(&Exchange {
            server: r.server,
            ta: r.ta,
            tb: r.tb,
            te: r.te,
            tf: counter,
            stratum: r.stratum,
            server_changed: r.server_changed,
        });
        let err = match r.tf_true_ns {
            Some(ns) => {
                let e = alg.read(counter) - ClockTime::from_nanos(i128::from(ns));
                if ns >= metrics_from_ns && e.is_finite() {
                    out.at_exchange.push(e);
                }
                e
            }
            None => f64::NAN,
        };
        out.errors.push((counter, err));
        let mut vals = Vec::new();
        alg.trace_row(&mut vals);
        out.trace.push((counter, vals));
    }
    Ok(out)
}

/// Writes `summary.json`, `errors.csv` (error at each exchange),
/// `trace.csv` and `replay.ron` (module docs) for a replay.
pub fn write_outputs(
    r: &Replay,
    cfg: &AlgorithmConfig,
    source: &Path,
    out: &Path,
    force: bool,
) -> anyhow::Result<std::path::PathBuf> {
    use crate::run::{ClockSummary, ErrorStats, RunSummary};
    let staging =
        crate::output::Staging::guarding(out, force, &[source], crate::output::RUN_MARKERS)?;
    let mut w = csv::Writer::from_path(staging.dir().join("errors.csv"))?;
    w.write_record(["tf", "error_us"])?;
    for (tf, e) in &r.errors {
        w.write_record([
            tf.to_string(),
            if e.is_finite() {
                (e * 1e6).to_string()
            } else {
                String::new()
            },
        ])?;
    }
    w.flush()?;
    if !r.trace_columns.is_empty() {
        let mut t = csv::Writer::from_path(staging.dir().join("trace.csv"))?;
        let mut header = vec!["tf"];
        header.extend_from_slice(r.trace_columns);
        t.write_record(&header)?;
        for (tf, vals) in &r.trace {
            let mut rec = vec![tf.to_string()];
            rec.extend(vals.iter().map(|v| v.to_string()));
            t.write_record(&rec)?;
        }
        t.flush()?;
    }
    let summary = RunSummary {
        scenario: format!("replay of {}", source.display()),
        seed: r.seed,
        duration_s: r.span_s,
        version: env!("CARGO_PKG_VERSION").to_string(),
        events: r.errors.len() as u64,
        parts: 1,
        clocks: vec![ClockSummary {
            name: cfg.name().to_string(),
            domain: "replay".into(),
            algorithm: cfg.name().to_string(),
            error_us: ErrorStats::default(),
            error_at_exchange_us: ErrorStats::from_summary(&r.at_exchange),
            host_rtt_us: ErrorStats::default(),
            // No probe grid in a replay: nothing to measure stability on.
            stability: Vec::new(),
            counter_at_start: r.start_counter,
        }],
        domains: Vec::new(),
        migrations: Vec::new(),
        failovers: Vec::new(),
    };
    crate::output::write_atomic(
        &staging.dir().join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    let record = ReplayRecord {
        exchanges: source.display().to_string(),
        algorithm: cfg,
        metrics_from_s: r.metrics_from_s,
        seed: r.seed,
        start_counter: r.start_counter,
    };
    let text = crate::scenario::ron_options()
        .to_string_pretty(&record, ron::ser::PrettyConfig::new().struct_names(true))?;
    crate::output::write_atomic(
        &staging.dir().join("replay.ron"),
        format!(
            "// The replay as run by vtsim {}.\n{text}\n",
            env!("CARGO_PKG_VERSION")
        )
        .as_bytes(),
    )?;
    Ok(staging.commit()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ta: u64, tf: u64) -> Row {
        Row {
            server: 0,
            counter_hz: 1e9,
            ta,
            tb: ta as f64 * 1e-9 + 1e-4,
            te: ta as f64 * 1e-9 + 1.2e-4,
            tf: Some(tf),
            tf_true_ns: Some(tf),
            stratum: 1,
            server_changed: false,
        }
    }

    #[test]
    fn an_exchange_within_one_counter_tick_is_read() {
        // A counter coarser than the round trip reads Ta and Tf alike; the
        // run records such an exchange, and the replay takes it.
        let path =
            std::env::temp_dir().join(format!("vtsim-replay-{}-one-tick.csv", std::process::id()));
        std::fs::write(
            &path,
            "server,counter_hz,ta,tb,te,tf,tf_true_ns,lost\n0,100,60,0.6,0.6001,60,600000000,0\n",
        )
        .unwrap();
        let rows = read_rows(&path);
        let _ = std::fs::remove_file(&path);
        let rows = rows.unwrap();
        assert_eq!(rows[0].tf, Some(60));
        let cfg = AlgorithmConfig::default_for("naive").unwrap();
        assert_eq!(replay(&rows, &cfg, 1, 0.0, None).unwrap().errors.len(), 1);
    }

    #[test]
    fn an_algorithm_starts_at_most_at_the_first_stamp() {
        let rows = [row(16_000_000_000, 16_000_300_000)];
        let cfg = AlgorithmConfig::default_for("ntpd").unwrap();
        let late = replay(&rows, &cfg, 1, 0.0, Some(16_000_000_001));
        let message = late.err().unwrap().to_string();
        assert!(message.contains("after the first stamp"), "{message}");
        let r = replay(&rows, &cfg, 1, 0.0, Some(0)).unwrap();
        assert_eq!(r.start_counter, Some(0));
    }

    #[test]
    fn a_frequency_preset_runs_from_the_start() {
        // ntpd told its counter is 100 ppm fast slews its clock back 100 µs
        // at each second of its timer from where it started: starting 15 s
        // earlier puts it about 1.4 ms (one slew per whole second) further
        // behind at the first reply.
        let rows = [row(16_000_000_000, 16_000_300_000)];
        let mut cfg = AlgorithmConfig::default_for("ntpd").unwrap();
        if let AlgorithmConfig::Ntpd(c) = &mut cfg {
            c.drift_ppm = Some(-100.0);
        }
        let at_first = replay(&rows, &cfg, 1, 0.0, None).unwrap().errors[0].1;
        let earlier = replay(&rows, &cfg, 1, 0.0, Some(1_000_000_000))
            .unwrap()
            .errors[0]
            .1;
        let behind = at_first - earlier;
        assert!(
            (1.35e-3..1.55e-3).contains(&behind),
            "{at_first} vs {earlier}"
        );
    }
}
