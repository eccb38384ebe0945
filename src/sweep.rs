//! Parameter sweeps: many runs of one scenario with fields varied by path.
//!
//! A sweep file (RON) names a base scenario and the fields to vary:
//!
//! ```ron
//! Sweep(
//!     name: "poll-period",
//!     base: "poll-period-base.ron",          // relative to the sweep file
//!     vary: [
//!         (path: "daemons[0].algorithm.poll_period_s",
//!          values: List([8, 16, 32, 64, 128, 256, 512, 1024])),
//!         // Varies together with the poll period: no new grid axis.
//!         (path: "daemons[1].algorithm.minpoll",
//!          values: Linked(to: "daemons[0].algorithm.poll_period_s", transform: Log2)),
//!     ],
//!     seeds: 3,
//! )
//! ```
//!
//! Each varied field takes its values from a list, a linear or logarithmic
//! range, or random draws, and is an axis of the grid: every combination of
//! the axes' values (their cartesian product) is a grid point. A field with
//! `Linked(to: PATH, transform: ...)` values is no axis: at every point it
//! takes a function of the value of the axis `PATH` (which must be varied
//! with values of its own), so several fields vary together instead of
//! multiplying the runs (a RADclock poll period in seconds and ntpd's poll
//! exponents, say). The [`Transform`] is `Same` (the default), `Scale(k)`,
//! `Log2` or `Step(above: a, value: v)` (`v` where the axis exceeds `a`,
//! else 0); whole results are integers, so `Log2` of a power of two fits
//! an integer field. Every point runs once per seed.
//!
//! A path that starts with `$` is a *sweep parameter*, not a field of the
//! scenario: an axis of its own that only linked fields read. It gives a
//! sweep an axis that no single field carries, such as a number of busy
//! guests (`$busy_guests`, with guest `i`'s load linked to it by
//! `Step(above: i, ...)`). Its name is ASCII letters, digits and `_`, and
//! no path is longer than 100 characters: axes name plot files.
//!
//! The sweep's name follows the rule for a scenario's (it names the folder
//! `out/<name>/`, which must be inside `out/` and not `out/` itself). The
//! seed is not varied by path (`seeds:` sets it at every run), nor is any
//! `name` (names identify the scenario's parts across points).
//!
//! Every point is applied to the base scenario, validated and its world
//! built (as `vtsim validate` does: two moves that overlap at one point
//! fail too) before any run, so a bad path or value (a linked one
//! included) fails at once, naming the sweep file, the field, its valid
//! range and the point; a run that fails all the same names its point. Runs are independent and execute in
//! parallel, the longest first (estimated from the scenario) so that two
//! workers finish together; each run's result depends only on its scenario
//! and seed, and rows are written in grid order, so `results.csv` is
//! byte-identical for any `--jobs`. As runs finish `results.csv` is
//! rewritten atomically with every completed row (after each run, or, once
//! the file is large, as often as keeps its rewriting to a few per cent of
//! the sweep), so an interrupted sweep keeps them and `--resume` runs only
//! the rest (stopped with Ctrl-C,
//! `vtsim sweep` prints the command that continues it before exiting with
//! status 130). Before any run the sweep
//! records itself in its directory (`sweep.ron`, pointing at `base.ron`,
//! the base scenario as run), so the directory says what it holds and
//! `vtsim sweep DIR/sweep.ron` repeats it; `--resume` refuses a directory
//! whose recorded sweep or base scenario differs from the one given (its
//! rows would mix two sweeps), naming the first line that differs, and
//! checks that every kept row is a run of this sweep, once, with a number
//! in every metric cell, naming the line of one that is not. `--force`
//! starts a sweep directory over.
//!
//! Checking every point is most of a large sweep's start. Each point is
//! checked whole, never one varied field at a time: the checks couple
//! fields (an asymmetry within the minimum RTT, a poll period shorter than
//! the run, moves that must not overlap), so a value that passes with the
//! base scenario's other fields can fail with a point's, and the reverse.
//! The points are checked in parallel, each worker applying them to one
//! JSON form of the base scenario instead of serialising the base anew at
//! every point, and the error is the first failing point's in grid order
//! on any number of threads. On a terminal, a bar (`checking <name>`, then
//! `planning <name>` while the runs' lengths are estimated) appears once a
//! phase has taken a second (never with `--quiet`). A grid of 10⁶ points
//! over the poll-period base scenario is checked in 8 s on two cores (15 s
//! of CPU, against 28 s serialising the base at each point, one point after
//! another). About two thirds of what remains is the scenario's own checks
//! and the building of its world, which any check of a point must do.
//!
//! Outputs, in the output directory:
//! * `sweep.ron` and `base.ron`: the sweep and its base scenario as run
//!   (the sweep's file names the vtsim version that ran it).
//! * `results.csv`: one row per run: run index, point index, seed, the value
//!   of every varied field (linked ones included), then per clock the
//!   probe-grid error's median, IQR, 99th percentile, RMS and largest
//!   absolute value and the median host RTT overhead (µs) (and, when the
//!   base scenario sets `probes.stability_max_tau_s`, its TDEV and MTIE,
//!   µs, at the longest τ at which both are estimated, and that τ, s, as
//!   `<clock>.stability_tau_s`), then per live migration its downtime
//!   (ms) and total time (s). A value that does not exist in a run (no
//!   exchanges, no migration) is `NaN`.
//! * `points.csv`: per grid point, the median, 25th and 75th percentiles over
//!   seeds of every metric.
//! * For every metric (`stability_tau_s` aside) and every numeric axis,
//!   `<metric>_vs_<path>.png`,
//!   `.svg` and `_data.csv`: the metric against the axis (logarithmic when
//!   the values span a factor of 20 or more), one line per clock (or
//!   migration) through the medians over seeds, with the interquartile range
//!   over seeds shaded in the same colour. The x label names the fields
//!   linked to the axis. With several axes, points that share the plotted
//!   axis's value are pooled (median of their medians).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::output::write_atomic;
use crate::plot::{BandChart, BandSeries, band_chart};
use crate::run::{RunSummary, build_world};
use crate::scenario::{Scenario, ScenarioError, parse_error, ron_options};
use crate::scenario::{ron_to_json, set_path, value_error};

/// The values one field takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum Values {
    /// Exactly these values (numbers, strings, booleans: any RON value). A
    /// unit variant is written as a string (`List(["Tsc", "Hpet"])`): a
    /// bare name would reach the field as `()`. A variant with fields is
    /// written as a map from its name to its fields (`List([{"Gamma":
    /// {"shape": 2, "mean_us": 20}}, "None"])`): RON keeps no variant name
    /// in a value, so `Gamma(shape: 2, …)` would reach the field as its
    /// fields alone.
    List(#[schemars(with = "Vec<serde_json::Value>")] Vec<ron::Value>),
    /// `steps` values evenly spaced from `from` to `to` inclusive (rounded
    /// to 12 significant digits; whole numbers are written as integers).
    LinRange {
        /// First value.
        from: f64,
        /// Last value.
        to: f64,
        /// Number of values (≥ 1).
        steps: usize,
    },
    /// `steps` values geometrically spaced from `from` to `to` inclusive
    /// (both > 0; rounded to 12 significant digits, so a range of powers of
    /// two gives exact powers of two).
    LogRange {
        /// First value.
        from: f64,
        /// Last value.
        to: f64,
        /// Number of values (≥ 1).
        steps: usize,
    },
    /// `count` values drawn uniformly (or log-uniformly) between `from` and
    /// `to` from the sweep's seed, so they are reproducible.
    Random {
        /// Lower bound.
        from: f64,
        /// Upper bound.
        to: f64,
        /// Number of draws (≥ 1).
        count: usize,
        /// Draw the logarithm uniformly.
        #[serde(default)]
        log: bool,
    },
    /// No axis of its own: at every grid point, `transform` of the value of
    /// the varied field `to` (which must have values of its own).
    Linked {
        /// Path of the varied field this one follows.
        to: String,
        /// How the value is derived (default: the same value).
        #[serde(default)]
        transform: Transform,
    },
}

/// How a linked field's value derives from the value it follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum Transform {
    /// The same value (any type).
    #[default]
    Same,
    /// The value times a factor (numbers only).
    Scale(f64),
    /// The base-2 logarithm (positive numbers only): a poll exponent from a
    /// poll period in seconds. A whole result is an integer, so it fits an
    /// integer field such as ntpd's `minpoll`; any other result is refused
    /// by such a field.
    Log2,
    /// `value` where the followed number exceeds `above`, else 0: turns a
    /// count into per-item switches (guest `i` busy when more than `i`
    /// guests are).
    Step {
        /// Threshold the followed value must exceed.
        above: f64,
        /// The value above the threshold.
        value: f64,
    },
}

impl Transform {
    /// The derived value, or why there is none.
    pub fn apply(&self, v: &ron::Value) -> Result<ron::Value, String> {
        let number = || match v {
            ron::Value::Number(n) => Some(n.into_f64()),
            _ => None,
        };
        match *self {
            Transform::Same => Ok(v.clone()),
            Transform::Scale(k) => number()
                .map(|x| num(tidy(x * k)))
                .ok_or_else(|| "Scale needs a number".to_string()),
            Transform::Log2 => match number() {
                Some(x) if x > 0.0 && x.is_finite() => Ok(num(tidy(x.log2()))),
                _ => Err("Log2 needs a positive number".to_string()),
            },
            Transform::Step { above, value } => number()
                .map(|x| num(if x > above { value } else { 0.0 }))
                .ok_or_else(|| "Step needs a number".to_string()),
        }
    }

    /// Short text for plot labels: `x`, `2·x`, `log2(x)`.
    fn formula(&self) -> String {
        match self {
            Transform::Same => "x".into(),
            Transform::Scale(k) => format!("{k}·x"),
            Transform::Log2 => "log2(x)".into(),
            Transform::Step { above, value } => format!("{value}·[x > {above}]"),
        }
    }
}

/// One varied field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vary {
    /// Field path in the scenario, e.g. `paths[0].forward.min_delay_us`.
    /// Enum variants are skipped: `daemons[0].algorithm.poll_period_s`
    /// reaches the field whatever the algorithm. A path starting with `$`
    /// is a sweep parameter outside the scenario: an axis that only linked
    /// fields read (`$busy_guests`, say; ASCII letters, digits and `_`
    /// after the `$`). At most 100 characters; not `seed` (`seeds` sets
    /// it) nor any `name`.
    pub path: String,
    /// The values it takes.
    pub values: Values,
}

fn default_seeds() -> u32 {
    1
}

/// A sweep file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// Name; default output directory `out/<name>/` (so, as a scenario's
    /// name: non-empty, without `/` or `\`, not starting with `.`, at most
    /// 100 characters).
    pub name: String,
    /// Base scenario file, relative to the sweep file.
    pub base: String,
    /// Varied fields (the grid is the cartesian product of those with values
    /// of their own; linked ones follow).
    pub vary: Vec<Vary>,
    /// Seeds per grid point (run seeds are base seed, base seed + 1, ...).
    #[serde(default = "default_seeds")]
    pub seeds: u32,
    /// Override of the base scenario's duration, s (e.g. to shorten a sweep).
    #[serde(default)]
    pub duration_s: Option<f64>,
}

/// A loaded sweep with its expanded runs.
pub struct Plan {
    /// The sweep.
    pub sweep: Sweep,
    /// The base scenario.
    pub base: Scenario,
    /// Grid points: the value of each varied field, in `vary` order (linked
    /// fields included).
    pub points: Vec<Vec<ron::Value>>,
    /// The files the plan was read from (the sweep file and its base
    /// scenario), which `--force` never deletes; none for a plan built in
    /// memory.
    pub sources: Vec<PathBuf>,
}

/// A RON number: an integer if whole (so it also fits integer fields),
/// else a float.
fn num(x: f64) -> ron::Value {
    use ron::value::Number;
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        ron::Value::Number(Number::I64(x as i64))
    } else {
        ron::Value::Number(Number::F64(x.into()))
    }
}

/// `x` rounded to 12 significant digits: removes the last-bit noise of
/// computed steps (`2^5` as `31.999999999999996`), keeps everything else.
fn tidy(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// `x`, a value of a linear range spanning `span`, on the grid of 12
/// significant digits of the span, then [`tidy`]: a value the range passes
/// through as zero is 0, not the step's rounding error (`-1.4e-17` in
/// `LinRange(from: -0.1, to: 0.5, steps: 7)`), which rounding relative to
/// the value itself would keep.
fn tidy_in(x: f64, span: f64) -> f64 {
    if !(x.is_finite() && span.is_finite() && span > 0.0) {
        return tidy(x);
    }
    let quantum = 10f64.powi(span.log10().floor() as i32 - 12);
    // `+ 0.0`: a value snapped from below zero is 0, not -0.
    tidy((x / quantum).round() * quantum + 0.0)
}

/// Whether two listed values are one: numbers by value (`20` and `20.0`,
/// `0` and `-0.0`), strings as written. Anything else is checked where
/// the scenario takes it (a bare variant name reads as `()`, and is
/// refused there with its field).
fn same_value(a: &ron::Value, b: &ron::Value) -> bool {
    match (a, b) {
        (ron::Value::Number(x), ron::Value::Number(y)) => x.into_f64() == y.into_f64(),
        (ron::Value::String(x), ron::Value::String(y)) => x == y,
        _ => false,
    }
}

fn expand(v: &Values, stream: &str, seed: u64) -> Vec<ron::Value> {
    match v {
        Values::List(l) => l.clone(),
        Values::LinRange { from, to, steps } => (0..*steps)
            .map(|i| {
                if *steps == 1 {
                    num(tidy(*from))
                } else {
                    let x = from + (to - from) * i as f64 / (*steps - 1) as f64;
                    num(tidy_in(x, (to - from).abs()))
                }
            })
            .collect(),
        Values::LogRange { from, to, steps } => (0..*steps)
            .map(|i| {
                if *steps == 1 {
                    num(tidy(*from))
                } else {
                    num(tidy(
                        from * (to / from).powf(i as f64 / (*steps - 1) as f64),
                    ))
                }
            })
            .collect(),
        Values::Random {
            from,
            to,
            count,
            log,
        } => {
            use rand::RngExt;
            let mut rng = sim_core::RngStreams::new(seed).stream(stream);
            (0..*count)
                .map(|_| {
                    let u: f64 = rng.random();
                    ron::Value::Number(ron::value::Number::F64(
                        (if *log {
                            from * (to / from).powf(u)
                        } else {
                            from + (to - from) * u
                        })
                        .into(),
                    ))
                })
                .collect()
        }
        Values::Linked { .. } => Vec::new(),
    }
}

/// Most runs one sweep may expand to (grid points × seeds): a million
/// runs is already days of computing, so more is a typo, and the grid is
/// held in memory.
pub const MAX_RUNS: usize = 1_000_000;

/// True for a sweep parameter (`$name`): an axis outside the scenario.
fn is_parameter(path: &str) -> bool {
    path.starts_with('$')
}

/// Most characters of a varied path: an axis names plot files
/// (`<metric>_vs_<path>_data.csv`), which must fit the 255 bytes most file
/// systems allow a name.
const MAX_PATH_CHARS: usize = 100;

/// Why `path` cannot be varied, if it cannot, whatever the scenario.
fn path_error(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some(
            "the path is empty: name the field to vary, e.g. daemons[0].algorithm.poll_period_s"
                .into(),
        );
    }
    let chars = path.chars().count();
    if chars > MAX_PATH_CHARS {
        return Some(format!(
            "{chars} characters; at most {MAX_PATH_CHARS} (the path names plot files)"
        ));
    }
    if let Some(name) = path.strip_prefix('$') {
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
        return (name.is_empty() || !name.chars().all(plain)).then(|| {
            format!(
                "\"{path}\": a sweep parameter is `$` then ASCII letters, digits and '_' \
                 (it names plot files)"
            )
        });
    }
    if path == "seed" {
        // The seed axis sets it at every run, over any value varied here.
        return Some(
            "\"seed\" cannot be varied: run i of a point has the base scenario's seed + i; \
             set `seeds:` for more seeds per point (and `seed` in the base scenario to start \
             elsewhere)"
                .into(),
        );
    }
    (path == "name" || path.ends_with(".name")).then(|| {
        format!(
            "\"{path}\" cannot be varied: names identify the scenario and its hosts, servers \
             and clocks, the same at every point (results.csv names its columns after the clocks)"
        )
    })
}

/// The index of the axis (a varied field with values of its own) that
/// `vary[i]` follows, if it is linked.
fn leader(sweep: &Sweep, i: usize) -> Option<usize> {
    match &sweep.vary[i].values {
        Values::Linked { to, .. } => sweep
            .vary
            .iter()
            .position(|v| &v.path == to && !matches!(v.values, Values::Linked { .. })),
        _ => None,
    }
}

/// Reads a sweep file and its base scenario; checks every path and value
/// (with a progress bar on a terminal while checking the grid points takes
/// more than a second).
pub fn load(path: &Path) -> Result<Plan, ScenarioError> {
    load_with(path, true)
}

/// [`load`]; with `progress` false, never a progress bar (`vtsim sweep
/// --quiet`).
pub fn load_with(path: &Path, progress: bool) -> Result<Plan, ScenarioError> {
    let file = path.display().to_string();
    let text = crate::scenario::read_text(path).map_err(|cause| ScenarioError::Io {
        file: file.clone(),
        cause,
    })?;
    let sweep: Sweep = ron_options()
        .from_str(&text)
        .map_err(|e| parse_error(&file, &text, "Sweep", e))?;
    // The name is a folder of `out/`, which it may neither leave nor be.
    let mut errors: Vec<_> = crate::scenario::folder_name_error(&sweep.name)
        .map(|m| algorithms::ConfigError::new("name", m))
        .into_iter()
        .collect();
    if sweep.vary.is_empty() {
        errors.push(algorithms::ConfigError::new(
            "vary",
            "name at least one field to vary",
        ));
    }
    // Checked here, not only at each point: a NaN override would reach the
    // points as JSON `null` and be reported as a value that does not fit.
    if let Some(d) = sweep.duration_s {
        algorithms::ConfigError::check_range(
            &mut errors,
            "duration_s",
            d,
            crate::scenario::DURATION_RANGE_S.0,
            crate::scenario::DURATION_RANGE_S.1,
            "s",
        );
    }
    if sweep.seeds == 0 || sweep.seeds > 10_000 {
        errors.push(algorithms::ConfigError::new(
            "seeds",
            format!("{} is outside 1..=10000", sweep.seeds),
        ));
    }
    let axes: Vec<&str> = sweep
        .vary
        .iter()
        .filter(|v| !matches!(v.values, Values::Linked { .. }))
        .map(|v| v.path.as_str())
        .collect();
    for (i, v) in sweep.vary.iter().enumerate() {
        if let Some(message) = path_error(&v.path) {
            errors.push(algorithms::ConfigError::new(
                format!("vary[{i}].path"),
                message,
            ));
        }
        if let Some(j) = sweep.vary[..i].iter().position(|w| w.path == v.path) {
            errors.push(algorithms::ConfigError::new(
                format!("vary[{i}].path"),
                format!("\"{}\" is already varied by vary[{j}]", v.path),
            ));
        }
        // What is wrong with the values, if anything.
        let bounds = |from: &f64, to: &f64, log: bool| {
            let (a, b) = (algorithms::Num(*from), algorithms::Num(*to));
            if !(from.is_finite() && to.is_finite()) {
                Some(format!("from ({a}) and to ({b}) must be finite"))
            } else if log && !(*from > 0.0 && *to > 0.0) {
                Some(format!(
                    "from ({a}) and to ({b}) must be positive for logarithmic spacing"
                ))
            } else {
                // Values are spaced as from + (to − from)·x, or from·(to / from)^x
                // when logarithmic: a span beyond a float gives inf, 0 or NaN.
                let (span, op) = if log {
                    (to / from, "/")
                } else {
                    (to - from, "−")
                };
                (!(span.is_finite() && (!log || span > 0.0))).then(|| {
                    format!(
                        "from ({a}) and to ({b}) are too far apart: to {op} from is beyond a \
                         float's range"
                    )
                })
            }
        };
        let bad = match &v.values {
            Values::List(l) if l.is_empty() => Some("the list needs at least one value".into()),
            // A value listed twice runs the same runs twice, seeds and all.
            Values::List(l) => (1..l.len()).find_map(|b| {
                (0..b)
                    .find(|&a| same_value(&l[a], &l[b]))
                    .map(|a| format!("values {a} and {b} are the same value"))
            }),
            Values::LinRange { from, to, steps } => {
                if *steps == 0 {
                    Some("steps must be at least 1".into())
                } else {
                    bounds(from, to, false)
                }
            }
            Values::LogRange { from, to, steps } => {
                if *steps == 0 {
                    Some("steps must be at least 1".into())
                } else {
                    bounds(from, to, true)
                }
            }
            Values::Random {
                from,
                to,
                count,
                log,
            } => {
                if *count == 0 {
                    Some("count must be at least 1".into())
                } else {
                    bounds(from, to, *log)
                }
            }
            Values::Linked { to, transform } => {
                if is_parameter(&sweep.vary[i].path) {
                    errors.push(algorithms::ConfigError::new(
                        format!("vary[{i}].path"),
                        format!(
                            "{} is a sweep parameter: it needs values of its own",
                            sweep.vary[i].path
                        ),
                    ));
                }
                if let Transform::Step { above, value } = transform
                    && !(above.is_finite() && value.is_finite())
                {
                    errors.push(algorithms::ConfigError::new(
                        format!("vary[{i}].values"),
                        format!("Step(above: {above}, value: {value}) must be finite"),
                    ));
                }
                if leader(&sweep, i).is_none() {
                    let own = if axes.is_empty() {
                        "no field of this sweep has".to_string()
                    } else {
                        format!("those are: {}", axes.join(", "))
                    };
                    errors.push(algorithms::ConfigError::new(
                        format!("vary[{i}].values"),
                        format!(
                            "Linked to \"{to}\", which is not a varied field with values of its own \
                             ({own})"
                        ),
                    ));
                }
                if let Transform::Scale(k) = transform
                    && !k.is_finite()
                {
                    errors.push(algorithms::ConfigError::new(
                        format!("vary[{i}].values"),
                        format!("Scale factor {k} is not finite"),
                    ));
                }
                None
            }
        };
        if let Some(message) = bad {
            errors.push(algorithms::ConfigError::new(
                format!("vary[{i}].values"),
                message,
            ));
        }
    }
    // Bound the grid before expanding it: each value is an allocation and
    // each point a run, so a typo'd `steps` must not exhaust memory.
    let runs = sweep
        .vary
        .iter()
        .map(|v| match &v.values {
            Values::List(l) => l.len(),
            Values::LinRange { steps, .. } | Values::LogRange { steps, .. } => *steps,
            Values::Random { count, .. } => *count,
            Values::Linked { .. } => 1,
        } as u128)
        .fold(u128::from(sweep.seeds), |acc, n| acc.saturating_mul(n));
    if runs > MAX_RUNS as u128 {
        errors.push(algorithms::ConfigError::new(
            "vary",
            format!("the grid times seeds is {runs} runs; at most {MAX_RUNS}"),
        ));
    }
    if !errors.is_empty() {
        return Err(ScenarioError::Invalid { file, errors });
    }
    let base_path = path.parent().unwrap_or(Path::new(".")).join(&sweep.base);
    let mut base = Scenario::load(&base_path)?;
    if let Some(d) = sweep.duration_s {
        base.duration_s = d;
    }
    // The grid: the cartesian product of the axes, first axis outermost.
    let mut points: Vec<Vec<ron::Value>> = vec![vec![ron::Value::Unit; sweep.vary.len()]];
    for (i, v) in sweep.vary.iter().enumerate() {
        if matches!(v.values, Values::Linked { .. }) {
            continue;
        }
        // Each random axis draws from its own stream (the first keeps the
        // historical name, so its values do not change).
        let stream = if i == 0 {
            "sweep/random-values".to_string()
        } else {
            format!("sweep/random-values/{i}")
        };
        let list = expand(&v.values, &stream, base.seed);
        points = points
            .iter()
            .flat_map(|p| {
                list.iter().map(move |x| {
                    let mut p = p.clone();
                    p[i] = x.clone();
                    p
                })
            })
            .collect();
    }
    // Linked fields: their values at every point.
    for (i, v) in sweep.vary.iter().enumerate() {
        let (Values::Linked { transform, .. }, Some(j)) = (&v.values, leader(&sweep, i)) else {
            continue;
        };
        for p in &mut points {
            match transform.apply(&p[j]) {
                Ok(x) => p[i] = x,
                Err(m) => {
                    errors.push(algorithms::ConfigError::new(
                        format!("vary[{i}].values"),
                        format!(
                            "{m}; {} = {} gives no value for {}",
                            sweep.vary[j].path,
                            value_text(&p[j]),
                            v.path
                        ),
                    ));
                    break;
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ScenarioError::Invalid { file, errors });
    }
    let plan = Plan {
        sweep,
        base,
        points,
        sources: vec![path.to_path_buf(), base_path],
    };
    check_points(&plan, &file, progress)?;
    Ok(plan)
}

/// Applies `point` to the base scenario and builds its world as a run
/// would (which checks what only the models can: a migration's duration,
/// so whether two moves overlap); the error names the sweep `file`.
fn check_point(plan: &Plan, point: &[ron::Value], file: &str) -> Result<(), ScenarioError> {
    let s = plan.scenario_for(point, 0).map_err(|e| match e {
        ScenarioError::Invalid { errors, .. } => ScenarioError::Invalid {
            file: file.to_string(),
            errors,
        },
        other => other,
    })?;
    build_world(&s).map_err(|e| ScenarioError::Invalid {
        file: file.to_string(),
        errors: vec![algorithms::ConfigError::new(
            "vary",
            format!("{e} (at {})", plan.point_text(point)),
        )],
    })?;
    Ok(())
}

/// Grid points one worker checks (or estimates) at a time: enough to
/// spread a copy of the base scenario's tree over many points, few enough
/// that the workers share a small grid and the bar moves.
const CHUNK: usize = 256;

/// Checks every point as [`check_point`] does, in parallel, before any run,
/// so that a bad path or value fails at once; the error is the first
/// failing point's, in grid order, whatever the number of threads.
fn check_points(plan: &Plan, file: &str, progress: bool) -> Result<(), ScenarioError> {
    let template = Template::new(plan);
    let total = plan.points.len();
    let bar = Mutex::new(crate::progress::DelayedBar::new(
        progress,
        &format!("checking {}", plan.sweep.name),
    ));
    let checked = AtomicUsize::new(0);
    let mut from = 0;
    let result = loop {
        let failed = plan.points[from..]
            .par_chunks(CHUNK)
            .enumerate()
            .find_map_first(|(c, chunk)| {
                let mut work = template.tree.clone();
                let bad = chunk.iter().position(|p| {
                    template
                        .scenario(plan, &mut work, p)
                        .is_none_or(|s| build_world(&s).is_err())
                });
                let n = checked.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
                bar.lock()
                    .expect("no panics while holding the lock")
                    .set_fraction(n as f64 / total as f64);
                bad.map(|b| from + c * CHUNK + b)
            });
        let Some(i) = failed else { break Ok(()) };
        // The point as a run would build it decides, and words the error.
        if let Err(e) = check_point(plan, &plan.points[i], file) {
            break Err(e);
        }
        from = i + 1;
    };
    bar.lock().expect("lock not poisoned").finish();
    result
}

/// The base scenario's JSON form, made once for many points: serialising
/// the base at each point, as [`Plan::scenario_for`] does, costs a third of
/// checking a point, and copying the tree whole a tenth to a quarter. So a
/// worker keeps one copy and, after each point, puts back only what the
/// point changed.
///
/// Where each varied path lands is found once, in the base: as long as
/// every value written replaces a plain value (a number, string, boolean
/// or null) by another, no object or list changes its keys or length, and
/// [`set_path`], which follows only those, would land in the same place at
/// every point. A point that writes anything else (a list, a variant with
/// fields) or a path that lands nowhere in the base goes through
/// `set_path`, and the fields under the top-level fields it reaches are
/// copied back whole.
struct Template {
    tree: serde_json::Value,
    /// The top-level fields that varied paths reach (a path changes nothing
    /// outside the first field it names).
    roots: Vec<String>,
    /// Per varied field, where its value lands and the base's plain value
    /// there: `None` for a sweep parameter, a path that lands nowhere and
    /// a place that holds an object or list.
    leaves: Vec<Option<(Vec<Step>, serde_json::Value)>>,
}

/// One step down a JSON tree.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Whether `v` holds no other value: a write of it changes no shape.
fn is_plain(v: &serde_json::Value) -> bool {
    !(v.is_object() || v.is_array())
}

/// The steps from `tree` down to the value equal to `target`, if one is.
fn find(tree: &serde_json::Value, target: &serde_json::Value) -> Option<Vec<Step>> {
    if tree == target {
        return Some(Vec::new());
    }
    let (step, mut below) = match tree {
        serde_json::Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| Some((Step::Key(k.clone()), find(v, target)?)))?,
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| Some((Step::Index(i), find(v, target)?)))?,
        _ => return None,
    };
    below.insert(0, step);
    Some(below)
}

/// The value of `tree` at `at`, which [`find`] gave on a tree of its shape.
fn at_mut<'a>(tree: &'a mut serde_json::Value, at: &[Step]) -> &'a mut serde_json::Value {
    at.iter().fold(tree, |node, step| {
        match step {
            Step::Key(k) => node.get_mut(k.as_str()),
            Step::Index(i) => node.get_mut(*i),
        }
        .expect("a place found in a tree of the same shape")
    })
}

impl Template {
    fn new(plan: &Plan) -> Self {
        let tree = serde_json::to_value(&plan.base).expect("scenarios serialise");
        let mut roots: Vec<String> = plan
            .sweep
            .vary
            .iter()
            .filter(|v| !is_parameter(&v.path))
            .map(|v| {
                let first = v.path.split('.').next().unwrap_or_default();
                first.split('[').next().unwrap_or_default().to_string()
            })
            .collect();
        roots.sort();
        roots.dedup();
        // A value no scenario holds marks where each path lands.
        let mark = serde_json::Value::String("\u{1}vtsim sweep: this value lands here\u{1}".into());
        let unmarked = find(&tree, &mark).is_none();
        let leaves = plan
            .sweep
            .vary
            .iter()
            .map(|v| {
                if is_parameter(&v.path) || !unmarked {
                    return None;
                }
                let mut marked = tree.clone();
                set_path(&mut marked, &v.path, mark.clone()).ok()?;
                let at = find(&marked, &mark)?;
                let mut base = tree.clone();
                let there = std::mem::take(at_mut(&mut base, &at));
                is_plain(&there).then_some((at, there))
            })
            .collect();
        Template {
            tree,
            roots,
            leaves,
        }
    }

    /// The scenario at `point` (seed index 0) if [`Plan::scenario_for`]
    /// gives one and it is valid; `None` otherwise, leaving it to
    /// `scenario_for` to word the error. `work` is equal to `tree` before
    /// and after.
    fn scenario(
        &self,
        plan: &Plan,
        work: &mut serde_json::Value,
        point: &[ron::Value],
    ) -> Option<Scenario> {
        // Whether the tree may have changed shape, so that the places found
        // in the base no longer hold.
        let mut reshaped = false;
        let mut apply = || {
            for ((v, value), leaf) in plan.sweep.vary.iter().zip(point).zip(&self.leaves) {
                if is_parameter(&v.path) {
                    continue;
                }
                let json = ron_to_json(value).ok()?;
                match leaf {
                    Some((at, _)) if !reshaped && is_plain(&json) => *at_mut(work, at) = json,
                    _ => {
                        reshaped = true;
                        set_path(work, &v.path, json).ok()?;
                    }
                }
            }
            let mut s = Scenario::deserialize(&*work).ok()?;
            s.seed = plan.base.seed;
            s.validate().is_empty().then_some(s)
        };
        let s = apply();
        if reshaped {
            for root in &self.roots {
                if let (Some(to), Some(from)) = (work.get_mut(root), self.tree.get(root)) {
                    to.clone_from(from);
                }
            }
        } else {
            for (at, there) in self.leaves.iter().flatten() {
                at_mut(work, at).clone_from(there);
            }
        }
        s
    }
}

/// The sweep as run, recorded in its output directory: `vtsim sweep` on
/// this file repeats the sweep, and `--resume` checks that it is unchanged.
pub const RECORDED_SWEEP: &str = "sweep.ron";

/// The base scenario as run (with the sweep's duration, if it sets one),
/// recorded beside [`RECORDED_SWEEP`].
pub const RECORDED_BASE: &str = "base.ron";

impl Plan {
    /// The files a sweep directory records, as (name, text): the sweep
    /// (pointing at the recorded base, and naming the vtsim version, whose
    /// results a different version need not reproduce) and its base
    /// scenario.
    pub fn records(&self) -> [(&'static str, String); 2] {
        let sweep = Sweep {
            base: RECORDED_BASE.into(),
            ..self.sweep.clone()
        };
        let cfg = ron::ser::PrettyConfig::new()
            .struct_names(true)
            .depth_limit(6);
        let text = ron_options()
            .to_string_pretty(&sweep, cfg)
            .expect("sweep types always serialise");
        [
            (
                RECORDED_SWEEP,
                format!(
                    "// The sweep as run by vtsim {}; running this file repeats it.\n{text}\n",
                    env!("CARGO_PKG_VERSION")
                ),
            ),
            (RECORDED_BASE, self.base.to_ron()),
        ]
    }

    /// One line saying what the sweep runs: its axes, seeds, runs and
    /// base scenario (`vtsim list`, `vtsim validate`).
    pub fn outline(&self) -> String {
        let axes: Vec<&str> = self
            .axes()
            .into_iter()
            .map(|i| self.sweep.vary[i].path.as_str())
            .collect();
        let seeds = self.sweep.seeds;
        format!(
            "{} over {} points × {seeds} seed{} = {} runs of {}",
            axes.join(" × "),
            self.points.len(),
            if seeds == 1 { "" } else { "s" },
            self.runs().len(),
            self.base.name
        )
    }

    /// `path = value` for every varied field of a point.
    pub fn point_text(&self, point: &[ron::Value]) -> String {
        self.sweep
            .vary
            .iter()
            .zip(point)
            .map(|(v, x)| match x {
                // Compact in messages (`1e300`, not 301 digits).
                ron::Value::Number(n) => format!("{} = {}", v.path, algorithms::Num(n.into_f64())),
                other => format!("{} = {}", v.path, value_text(other)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether the base scenario with `path` set to `value`, and no other
    /// change, is a scenario (on the error path only: it rebuilds the base).
    fn fits_alone(&self, path: &str, value: &ron::Value) -> bool {
        let mut tree = serde_json::to_value(&self.base).expect("scenarios serialise");
        ron_to_json(value)
            .and_then(|json| set_path(&mut tree, path, json))
            .is_ok_and(|()| serde_json::from_value::<Scenario>(tree).is_ok())
    }

    /// The scenario for a grid point and seed index.
    pub fn scenario_for(
        &self,
        point: &[ron::Value],
        seed_index: u32,
    ) -> Result<Scenario, ScenarioError> {
        let mut tree = serde_json::to_value(&self.base).expect("scenarios serialise");
        let invalid = |field: String, message: String| ScenarioError::Invalid {
            file: self.sweep.name.clone(),
            errors: vec![algorithms::ConfigError::new(field, message)],
        };
        for (v, value) in self.sweep.vary.iter().zip(point) {
            if is_parameter(&v.path) {
                continue;
            }
            let json = ron_to_json(value).map_err(|m| {
                // A RON value keeps no names: a bare variant name arrives as `()`.
                let hint = if holds_unit(value) {
                    "; a bare variant name reads as (): write a variant name as a string, \
                     e.g. \"Hpet\""
                } else {
                    ""
                };
                let m = value_error(&tree, &v.path, m);
                invalid(
                    v.path.clone(),
                    format!("{m} (at {}){hint}", self.point_text(point)),
                )
            })?;
            set_path(&mut tree, &v.path, json).map_err(|m| invalid(v.path.clone(), m))?;
        }
        let mut s: Scenario =
            serde_json::from_value(tree).map_err(|e| {
                // serde's message does not say which field: name the varied field
                // whose value alone does not fit the base scenario, if one does
                // not, and the point either way.
                let failing =
                    self.sweep.vary.iter().zip(point).find(|(v, value)| {
                        !is_parameter(&v.path) && !self.fits_alone(&v.path, value)
                    });
                // `Gamma(shape: 2)` in a list of values arrives as its fields.
                let hint = match failing {
                    Some((_, ron::Value::Map(_)))
                        if ["unknown variant", "expected map with a single key"]
                            .iter()
                            .any(|m| e.to_string().contains(m)) =>
                    {
                        "; a variant with fields is written as a map from its name to its \
                     fields, {\"Name\": {\"field\": value, …}}"
                    }
                    _ => "",
                };
                let field = failing.map_or_else(|| "vary".to_string(), |(v, _)| v.path.clone());
                invalid(
                    field,
                    format!(
                        "value does not fit the field: {e} (at {}){hint}",
                        self.point_text(point)
                    ),
                )
            })?;
        s.seed = self.base.seed.wrapping_add(u64::from(seed_index));
        let errors = s.validate();
        if !errors.is_empty() {
            // Each error names its field and range; add the point, since a
            // linked value may come from another field.
            let at = self.point_text(point);
            return Err(ScenarioError::Invalid {
                file: self.sweep.name.clone(),
                errors: errors
                    .into_iter()
                    .map(|e| {
                        algorithms::ConfigError::new(e.field, format!("{} (at {at})", e.message))
                    })
                    .collect(),
            });
        }
        Ok(s)
    }

    /// Every run: (run index, point index, seed index).
    pub fn runs(&self) -> Vec<(usize, usize, u32)> {
        let mut v = Vec::new();
        for p in 0..self.points.len() {
            for s in 0..self.sweep.seeds {
                v.push((v.len(), p, s));
            }
        }
        v
    }

    /// Indexes of the axes: varied fields with values of their own.
    fn axes(&self) -> Vec<usize> {
        (0..self.sweep.vary.len())
            .filter(|&i| !matches!(self.sweep.vary[i].values, Values::Linked { .. }))
            .collect()
    }

    /// The result columns: per clock, then per migration, each metric.
    fn columns(&self) -> Vec<(String, Metric)> {
        let mut cols = Vec::new();
        let clocks = self
            .base
            .daemons
            .iter()
            .map(|d| &d.name)
            .chain(self.base.clocks.iter().map(|c| &c.name));
        let stability = self.base.probes.stability_max_tau_s.is_some();
        for c in clocks {
            cols.extend(CLOCK_METRICS.iter().map(|m| (c.clone(), *m)));
            if stability {
                cols.extend(STABILITY_METRICS.iter().map(|m| (c.clone(), *m)));
            }
        }
        // Per migration and per failover, in event order within each kind.
        use crate::scenario::ScenarioEvent::{Failover, Migrate};
        let count = |is: fn(&crate::scenario::ScenarioEvent) -> bool| {
            self.base.events.iter().filter(|e| is(e)).count()
        };
        let moves = [
            (
                "migrations",
                count(|e| matches!(e, Migrate { .. })),
                &MIGRATION_METRICS,
            ),
            (
                "failovers",
                count(|e| matches!(e, Failover { .. })),
                &FAILOVER_METRICS,
            ),
        ];
        for (list, n, metrics) in moves {
            for i in 0..n {
                cols.extend(metrics.iter().map(|m| (format!("{list}[{i}]"), *m)));
            }
        }
        cols
    }
}

/// Runs one scenario in memory (no files) and summarises it, on this
/// thread alone (a sweep's runs share the cores among themselves).
pub fn run_in_memory(s: &Scenario) -> anyhow::Result<RunSummary> {
    run_in_memory_with(s, false)
}

/// [`run_in_memory`], on the machine's other cores too if `parallel`
/// ([`crate::run::RunOptions::parallel`]).
pub fn run_in_memory_with(s: &Scenario, parallel: bool) -> anyhow::Result<RunSummary> {
    crate::run::execute(s, parallel, None, |_, _| Ok(()), |_| {})
}

/// A result metric: column suffix, axis label, and how to read it from a
/// run's summary (`series` is a clock name, `migrations[i]` or
/// `failovers[i]`).
#[derive(Clone, Copy)]
struct Metric {
    name: &'static str,
    label: &'static str,
    read: fn(&RunSummary, &str) -> Option<f64>,
}

fn clock<'a>(s: &'a RunSummary, name: &str) -> Option<&'a crate::run::ClockSummary> {
    s.clocks.iter().find(|c| c.name == name)
}

/// The index `i` of a series named `<list>[i]`.
fn index_in(series: &str, list: &str) -> Option<usize> {
    series
        .strip_prefix(list)?
        .strip_prefix('[')?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// A migration's figures, only if it completed within the run.
fn migration<'a>(s: &'a RunSummary, series: &str) -> Option<&'a crate::run::MigrationSummary> {
    s.migrations
        .get(index_in(series, "migrations")?)
        .filter(|m| m.completed)
}

fn failover<'a>(s: &'a RunSummary, series: &str) -> Option<&'a crate::run::FailoverSummary> {
    s.failovers.get(index_in(series, "failovers")?)
}

const CLOCK_METRICS: [Metric; 6] = [
    Metric {
        name: "median_us",
        label: "median error [µs]",
        read: |s, c| clock(s, c).map(|c| c.error_us.median),
    },
    Metric {
        name: "iqr_us",
        label: "IQR of the error [µs]",
        read: |s, c| clock(s, c).map(|c| c.error_us.iqr),
    },
    Metric {
        name: "p99_us",
        label: "99th percentile of the error [µs]",
        read: |s, c| clock(s, c).map(|c| c.error_us.p99),
    },
    Metric {
        name: "rms_us",
        label: "RMS error [µs]",
        read: |s, c| clock(s, c).map(|c| c.error_us.rms),
    },
    Metric {
        name: "max_abs_us",
        label: "largest |error| [µs]",
        read: |s, c| clock(s, c).map(|c| c.error_us.max_abs),
    },
    Metric {
        name: "host_rtt_median_us",
        label: "median host RTT overhead [µs]",
        read: |s, c| {
            clock(s, c)
                .filter(|c| c.host_rtt_us.count > 0)
                .map(|c| c.host_rtt_us.median)
        },
    },
];

/// A clock's stability point at the longest τ at which both TDEV and
/// MTIE are estimated. TDEV needs `3m` samples and MTIE only `m + 1`, so
/// each at its own longest τ would put figures of two different τ side by
/// side in a row.
fn longest_common_tau<'a>(
    s: &'a RunSummary,
    clock_name: &str,
) -> Option<&'a crate::run::StabilityPoint> {
    clock(s, clock_name)?
        .stability
        .iter()
        .rev()
        .find(|p| p.tdev_us.is_some() && p.mtie_us.is_some())
}

/// Per clock, when the base scenario asks for stability metrics: the time
/// wander over the longest τ at which both TDEV and MTIE are estimated,
/// and that τ (the same at every point unless the sweep varies the probes,
/// the metrics start or the duration).
const STABILITY_METRICS: [Metric; 3] = [
    Metric {
        name: "tdev_us",
        label: "TDEV at stability_tau_s [µs]",
        read: |s, c| longest_common_tau(s, c).and_then(|p| p.tdev_us),
    },
    Metric {
        name: "mtie_us",
        label: "MTIE at stability_tau_s [µs]",
        read: |s, c| longest_common_tau(s, c).and_then(|p| p.mtie_us),
    },
    Metric {
        name: STABILITY_TAU,
        label: "τ of the TDEV and MTIE columns [s]",
        read: |s, c| longest_common_tau(s, c).map(|p| p.tau_s),
    },
];

/// The column suffix of the τ at which a sweep's TDEV and MTIE are taken.
pub(crate) const STABILITY_TAU: &str = "stability_tau_s";

/// Metrics that describe how the others were measured, not a result: in
/// `results.csv` and `points.csv`, but not plotted (by `vtsim sweep` or
/// `vtsim compare`).
pub(crate) const UNPLOTTED_METRICS: [&str; 1] = [STABILITY_TAU];

const MIGRATION_METRICS: [Metric; 2] = [
    Metric {
        name: "downtime_ms",
        label: "migration downtime [ms]",
        read: |s, m| migration(s, m).map(|m| m.downtime_ms),
    },
    Metric {
        name: "total_s",
        label: "migration time [s]",
        read: |s, m| migration(s, m).map(|m| m.total_s),
    },
];

const FAILOVER_METRICS: [Metric; 2] = [
    Metric {
        name: "tsc_jump_s",
        label: "failover TSC jump [s]",
        read: |s, f| failover(s, f).map(|f| f.tsc_jump_s),
    },
    Metric {
        name: "max_log_lag_us",
        label: "largest replication log lag [µs]",
        read: |s, f| failover(s, f).map(|f| f.max_log_lag_us),
    },
];

/// Whether `v` is or holds `()`.
fn holds_unit(v: &ron::Value) -> bool {
    match v {
        ron::Value::Unit => true,
        ron::Value::Seq(items) => items.iter().any(holds_unit),
        ron::Value::Map(m) => m.iter().any(|(k, v)| holds_unit(k) || holds_unit(v)),
        ron::Value::Option(Some(v)) => holds_unit(v),
        _ => false,
    }
}

fn value_text(v: &ron::Value) -> String {
    match v {
        ron::Value::Number(n) => n.into_f64().to_string(),
        other => ron::to_string(other).unwrap_or_default().replace(',', ";"),
    }
}

/// The first columns of a run's row: run, point, seed, varied values.
fn row_key(plan: &Plan, run: (usize, usize, u32)) -> String {
    let (idx, p, s) = run;
    let mut cols = vec![
        idx.to_string(),
        p.to_string(),
        (plan.base.seed.wrapping_add(u64::from(s))).to_string(),
    ];
    cols.extend(plan.points[p].iter().map(value_text));
    cols.join(",")
}

/// One result row: the run, its parameters and its metrics.
fn row_text(
    plan: &Plan,
    columns: &[(String, Metric)],
    run: (usize, usize, u32),
    summary: &RunSummary,
) -> String {
    let mut row = row_key(plan, run);
    for (series, m) in columns {
        row.push(',');
        row.push_str(&(m.read)(summary, series).unwrap_or(f64::NAN).to_string());
    }
    row
}

fn header(plan: &Plan, columns: &[(String, Metric)]) -> String {
    let mut cols = vec!["run".to_string(), "point".into(), "seed".into()];
    cols.extend(plan.sweep.vary.iter().map(|v| v.path.clone()));
    cols.extend(columns.iter().map(|(s, m)| format!("{s}.{}", m.name)));
    cols.join(",")
}

/// A rough relative cost of a run, to start the longest runs first:
/// simulated time times the rate of the events every scenario has (probe
/// reads of each clock; exchanges with each server, about four events and
/// the algorithm's work each; one event per second). Only the order of the
/// estimates matters.
pub(crate) fn cost_estimate(s: &Scenario) -> f64 {
    const EXCHANGE: f64 = 4.0;
    let clocks = (s.daemons.len() + s.clocks.len()) as f64;
    let exchanges: f64 = s
        .daemons
        .iter()
        .map(|d| d.servers.len() as f64 / d.algorithm.poll_period_s().max(1e-3))
        .sum();
    s.duration_s * (1.0 + clocks / s.probes.interval_s.max(1e-3) + EXCHANGE * exchanges)
}

/// The pool of `threads` workers that runs a sweep's runs, each worker
/// pinned to a CPU of its own when there is one worker per CPU
/// ([`sim_core::pin_worker`]).
pub(crate) fn worker_pool(threads: usize) -> anyhow::Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(move |index| sim_core::pin_worker(index, threads))
        .build()?)
}

/// Calls `job` on every item of `items` on `pool`'s threads, each idle
/// worker taking the next item in order (so items sorted longest first
/// keep the workers busy until the end); after the first error no new item
/// is started, and that error is returned.
pub(crate) fn run_in_order<T: Sync>(
    pool: &rayon::ThreadPool,
    items: &[T],
    job: impl Fn(&T) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    pool.scope(|scope| {
        for _ in 0..pool.current_num_threads() {
            scope.spawn(|_| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    if let Err(e) = job(item) {
                        failed.store(true, Ordering::Relaxed);
                        first_error
                            .lock()
                            .expect("no panics while holding the lock")
                            .get_or_insert(e);
                    }
                }
            });
        }
    });
    match first_error.into_inner().expect("lock not poisoned") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Most worker threads a sweep accepts. Each is an OS thread with its own
/// stack; tens of thousands exhaust memory before any run starts.
pub const MAX_JOBS: usize = 1024;

/// Options of a sweep.
#[derive(Clone, Debug, Default)]
pub struct SweepOptions {
    /// Output directory (default `out/<sweep name>`).
    pub out: Option<PathBuf>,
    /// Worker threads, 1..=[`MAX_JOBS`] (default: all cores); never more
    /// than there are runs to do.
    pub jobs: Option<usize>,
    /// Keep rows already in `results.csv` and run only the others.
    pub resume: bool,
    /// Replace an existing sweep directory (one holding `results.csv`, or
    /// an empty one) instead of refusing it.
    pub force: bool,
    /// Show progress bars.
    pub progress: bool,
    /// Stop after this many new runs (used to test interruption).
    pub max_runs: Option<usize>,
}

impl SweepOptions {
    /// The output directory of `plan`'s sweep: `out`, or `out/<name>`.
    pub fn dir(&self, plan: &Plan) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("out").join(&plan.sweep.name))
    }
}

/// Runs a sweep; returns the output directory.
pub fn run_sweep(plan: &Plan, opts: &SweepOptions) -> anyhow::Result<PathBuf> {
    let dir = opts.dir(plan);
    let results = dir.join("results.csv");
    if let Some(j) = opts.jobs
        && !(1..=MAX_JOBS).contains(&j)
    {
        anyhow::bail!("--jobs {j}: worker threads must be in 1..={MAX_JOBS}");
    }
    if opts.force && opts.resume {
        anyhow::bail!("--force starts the sweep over and --resume continues it: pass one of them");
    }
    let exists = std::fs::symlink_metadata(&dir).is_ok();
    if exists && opts.force {
        let sources: Vec<&Path> = plan.sources.iter().map(PathBuf::as_path).collect();
        crate::output::check_target(&dir, true, &sources, crate::output::SWEEP_MARKERS)?;
        std::fs::remove_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", dir.display()))?;
    } else if exists {
        if !dir.is_dir() {
            anyhow::bail!("{} is not a directory; choose another --out", dir.display());
        }
        let occupied = std::fs::read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
            .next()
            .is_some();
        let is_sweep = std::fs::symlink_metadata(&results).is_ok_and(|m| m.is_file());
        if occupied && !opts.resume {
            anyhow::bail!(
                "{} already exists; pass --resume to continue it, --force to start it over, or choose another --out",
                dir.display()
            );
        }
        if occupied && !is_sweep {
            anyhow::bail!(
                "{} holds no results.csv, so it is not a sweep to resume; choose another --out",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create directory {}: {e}", dir.display()))?;
    let columns = plan.columns();
    let head = header(plan, &columns);
    let all_runs = plan.runs();
    let mut done: BTreeMap<usize, String> = BTreeMap::new();
    if opts.resume && results.exists() {
        check_records(plan, &dir)?;
        let text = std::fs::read_to_string(&results).map_err(|e| {
            anyhow::anyhow!("cannot read {}: {e}; cannot resume", results.display())
        })?;
        let mut lines = text.lines();
        if lines.next() != Some(head.as_str()) {
            anyhow::bail!(
                "{}: header differs from this sweep's; cannot resume",
                results.display()
            );
        }
        let names: Vec<&str> = head.split(',').collect();
        let metrics_from = 3 + plan.sweep.vary.len();
        // The line each kept run was read from.
        let mut lines_of: BTreeMap<usize, usize> = BTreeMap::new();
        // A kept row goes into points.csv as it is, so one that was edited
        // would change the results unseen: refused, with how to redo it.
        let redo = "cannot resume: delete the line to run that run again";
        for (line_no, line) in (2..).zip(lines) {
            // A blank line (an editor's trailing newline) holds no run.
            if line.trim().is_empty() {
                continue;
            }
            // A kept row must be the run this sweep would make (same point,
            // seed and values, as many columns): else the row was edited.
            let run = line
                .split(',')
                .next()
                .and_then(|s| s.parse::<usize>().ok())
                .and_then(|i| all_runs.get(i).copied());
            let Some(r) = run.filter(|&r| {
                line.split(',').count() == names.len()
                    && line
                        .strip_prefix(row_key(plan, r).as_str())
                        .is_some_and(|rest| rest.starts_with(',') || rest.is_empty())
            }) else {
                anyhow::bail!(
                    "{}: line {line_no}: row \"{line}\" is not a run of this sweep; {redo}",
                    results.display()
                );
            };
            if let Some((k, cell)) = line
                .split(',')
                .enumerate()
                .skip(metrics_from)
                .find(|(_, cell)| cell.parse::<f64>().is_err())
            {
                anyhow::bail!(
                    "{}: line {line_no}, column {} ({}): {cell:?} is not a number; {redo}",
                    results.display(),
                    k + 1,
                    names[k]
                );
            }
            if let Some(first) = lines_of.insert(r.0, line_no) {
                anyhow::bail!(
                    "{}: line {line_no}: run {} is already on line {first}; cannot resume: \
                     delete one of them",
                    results.display(),
                    r.0
                );
            }
            done.insert(r.0, line.to_string());
        }
    } else {
        // Recorded before any run, so that an interrupted sweep can be
        // checked when it is resumed; the header marks the directory as a
        // sweep's from the start.
        for (name, text) in plan.records() {
            write_atomic(&dir.join(name), text.as_bytes())?;
        }
        write_atomic(&results, format!("{head}\n").as_bytes())?;
    }
    let mut pending: Vec<(usize, usize, u32)> = all_runs
        .iter()
        .copied()
        .filter(|r| !done.contains_key(&r.0))
        .collect();
    if let Some(m) = opts.max_runs {
        pending.truncate(m);
    }
    // Longest runs first (stable, so ties keep grid order): the last runs
    // to start are short, and the workers finish close together. Rows are
    // still written in grid order.
    // More workers than runs would only cost memory.
    let threads = opts
        .jobs
        .unwrap_or_else(rayon::current_num_threads)
        .min(all_runs.len())
        .max(1);
    let pool = worker_pool(threads)?;
    let cost = pool.install(|| estimate_costs(plan, &pending, opts.progress))?;
    pending.sort_by(|a, b| cost[b.1].total_cmp(&cost[a.1]));
    let total = all_runs.len();
    let bars = indicatif::MultiProgress::new();
    if !opts.progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let overall = bars.add(indicatif::ProgressBar::new(total as u64));
    overall.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:40}] {pos}/{len} runs, {elapsed_precise} ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    overall.set_prefix(plan.sweep.name.clone());
    overall.set_position(done.len() as u64);
    overall.reset_eta();
    let state = Mutex::new(Kept {
        rows: done,
        written: std::time::Instant::now(),
        cost: std::time::Duration::ZERO,
    });
    // Rewritten whole (so a reader never sees half a row), but not after
    // every run: each rewrite costs time in proportion to the rows kept, so
    // a sweep of many short runs spent most of its time rewriting, and
    // one run at a time, under the lock. Waiting at least `REWRITE_RATIO`
    // times the last rewrite's cost keeps rewriting to a few per cent of
    // the sweep; a small file is still rewritten after every run.
    let write = |kept: &mut Kept| -> anyhow::Result<()> {
        let start = std::time::Instant::now();
        let mut text = head.clone();
        text.push('\n');
        for r in kept.rows.values() {
            text.push_str(r);
            text.push('\n');
        }
        write_atomic(&results, text.as_bytes())?;
        kept.written = std::time::Instant::now();
        kept.cost = kept.written - start;
        Ok(())
    };
    let one = |run: (usize, usize, u32)| -> anyhow::Result<()> {
        let spinner = bars.add(indicatif::ProgressBar::new_spinner());
        spinner.set_message(format!("run {} (point {}, seed #{})", run.0, run.1, run.2));
        let point = &plan.points[run.1];
        let s = plan.scenario_for(point, run.2)?;
        // A run's error names the run, as the table and the resume do.
        let summary = run_in_memory(&s).map_err(|e| {
            e.context(format!(
                "run {} (point {}: {}, seed #{})",
                run.0,
                run.1,
                plan.point_text(point),
                run.2
            ))
        })?;
        let line = row_text(plan, &columns, run, &summary);
        let mut kept = state.lock().expect("no panics while holding the lock");
        kept.rows.insert(run.0, line);
        if kept.written.elapsed() >= kept.cost * REWRITE_RATIO {
            write(&mut kept)?;
        }
        spinner.finish_and_clear();
        overall.inc(1);
        Ok(())
    };
    let outcome = run_in_order(&pool, &pending, |&run| one(run));
    overall.finish_and_clear();
    let mut kept = state.into_inner().expect("lock not poisoned");
    // Every finished run is kept, also when another failed.
    let written = write(&mut kept);
    outcome?;
    written?;
    let rows = kept.rows;
    if rows.len() == total {
        pool.install(|| summarize_points(plan, &dir, &columns, &rows))?;
    }
    Ok(dir)
}

/// The rows of a sweep's finished runs, by run index, and when and how
/// fast `results.csv` was last rewritten with them.
struct Kept {
    rows: BTreeMap<usize, String>,
    written: std::time::Instant,
    cost: std::time::Duration,
}

/// `results.csv` is rewritten once at least this many times its last
/// rewrite's duration has passed since it.
const REWRITE_RATIO: u32 = 20;

/// [`cost_estimate`] of each point that `pending` runs (indexed by point;
/// 0 for the others), in parallel: it builds a scenario per point, seconds
/// for a large grid.
fn estimate_costs(
    plan: &Plan,
    pending: &[(usize, usize, u32)],
    progress: bool,
) -> Result<Vec<f64>, ScenarioError> {
    let mut needed: Vec<usize> = pending.iter().map(|r| r.1).collect();
    needed.sort_unstable();
    needed.dedup();
    let template = Template::new(plan);
    let bar = Mutex::new(crate::progress::DelayedBar::new(
        progress,
        &format!("planning {}", plan.sweep.name),
    ));
    let estimated = AtomicUsize::new(0);
    let estimates: Vec<Result<f64, ScenarioError>> = needed
        .par_chunks(CHUNK)
        .flat_map_iter(|chunk| {
            let mut work = template.tree.clone();
            let costs: Vec<_> = chunk
                .iter()
                .map(|&p| {
                    let point = &plan.points[p];
                    match template.scenario(plan, &mut work, point) {
                        Some(s) => Ok(cost_estimate(&s)),
                        None => plan.scenario_for(point, 0).map(|s| cost_estimate(&s)),
                    }
                })
                .collect();
            let n = estimated.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
            bar.lock()
                .expect("no panics while holding the lock")
                .set_fraction(n as f64 / needed.len() as f64);
            costs
        })
        .collect();
    bar.lock().expect("lock not poisoned").finish();
    let mut cost = vec![0.0; plan.points.len()];
    for (p, c) in needed.into_iter().zip(estimates) {
        cost[p] = c?;
    }
    Ok(cost)
}

/// Refuses to resume a sweep directory whose recorded sweep or base
/// scenario differs from `plan`'s: its kept rows would mix two sweeps.
fn check_records(plan: &Plan, dir: &Path) -> anyhow::Result<()> {
    for (name, text) in plan.records() {
        let path = dir.join(name);
        let what = if name == RECORDED_SWEEP {
            "sweep file"
        } else {
            "base scenario"
        };
        let old = match std::fs::read_to_string(&path) {
            Ok(old) => old,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "{} is missing, so the kept rows cannot be checked against this {what}; \
                 cannot resume: start over with --force, or choose another --out",
                path.display()
            ),
            // Present but unreadable (not UTF-8, say): "missing" would mislead.
            Err(e) => anyhow::bail!(
                "cannot read {}: {e}; cannot resume: start over with --force, or choose \
                 another --out",
                path.display()
            ),
        };
        if old != text {
            let (line, was, now) = first_difference(&old, &text);
            anyhow::bail!(
                "{}: this sweep started with another {what} (line {line}: `{was}` then, `{now}` now), \
                 so its kept rows would mix two sweeps; cannot resume: start over with --force, \
                 or choose another --out",
                path.display()
            );
        }
    }
    Ok(())
}

/// The first line (1-based) where two texts differ, with both versions of
/// it, trimmed (`(end of file)` past the end of one).
fn first_difference<'a>(old: &'a str, new: &'a str) -> (usize, &'a str, &'a str) {
    const END: &str = "(end of file)";
    let (mut a, mut b) = (old.lines(), new.lines());
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (x, y) => {
                return (line, x.map_or(END, str::trim), y.map_or(END, str::trim));
            }
        }
    }
}

/// Quantile `q` of sorted values, interpolated linearly between ranks
/// (numpy's default method); NaN for no values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The unit of a field from its name's suffix (`_us` is µs, ...), if any.
/// A rate, `<name>_per_<unit>`, is read first, both sides of `_per_`:
/// `coeff_ppm_per_c` is ppm/°C, `halt_rate_per_s` is 1/s (a count per
/// second), `cold_dirty_rate_mib_per_s` is MiB/s; a rate per anything but
/// a unit of time or temperature (`pages_per_round`) has no unit, rather
/// than the unit of its last word.
fn unit_of(path: &str) -> Option<String> {
    const UNITS: [(&str, &str); 9] = [
        ("_mib", "MiB"),
        ("_mbit", "Mbit"),
        ("_ppm", "ppm"),
        ("_ns", "ns"),
        ("_us", "µs"),
        ("_ms", "ms"),
        ("_s", "s"),
        ("_hz", "Hz"),
        ("_c", "°C"),
    ];
    const PER: [(&str, &str); 8] = [
        ("ns", "ns"),
        ("us", "µs"),
        ("ms", "ms"),
        ("s", "s"),
        ("min", "min"),
        ("h", "h"),
        ("day", "day"),
        ("c", "°C"),
    ];
    let suffix_unit = |name: &str| {
        UNITS
            .iter()
            .find(|(suffix, _)| name.ends_with(suffix))
            .map(|(_, u)| *u)
    };
    // The last name of the path: `_per_` in an earlier one is no rate.
    let name = path.rsplit(['.', ']']).next().unwrap_or(path);
    match name.rsplit_once("_per_") {
        Some((what, per)) => {
            let (_, per) = PER.iter().find(|(p, _)| *p == per)?;
            Some(format!("{}/{per}", suffix_unit(what).unwrap_or("1")))
        }
        None => suffix_unit(name).map(str::to_string),
    }
}

/// A field path cut into names, indexes and the `.`, `[`, `]` between them.
fn path_tokens(path: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in path.chars() {
        if matches!(c, '.' | '[' | ']') {
            if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
            tokens.push(c.to_string());
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

/// Names as `{a, b}`, indexes as `1..3` when consecutive, else `1,2,5`.
fn variants_text(all: &[String]) -> String {
    let indexes: Option<Vec<u64>> = all.iter().map(|t| t.parse().ok()).collect();
    match indexes {
        Some(ix) if ix.len() >= 3 && ix.windows(2).all(|w| w[1] == w[0] + 1) => {
            format!("{}..{}", ix[0], ix[ix.len() - 1])
        }
        Some(_) => all.join(","),
        None => format!("{{{}}}", all.join(", ")),
    }
}

/// The x-axis label of axis `vi`: its path and unit, and the fields linked
/// to it with their formula.
fn axis_label(plan: &Plan, vi: usize) -> String {
    let v = &plan.sweep.vary[vi];
    if is_parameter(&v.path) {
        // A parameter's meaning is its name; its linked fields (often many,
        // each with its own threshold) are in the sweep file.
        return v.path.trim_start_matches('$').replace('_', " ");
    }
    let mut label = match unit_of(&v.path) {
        Some(u) => format!("x = {} [{u}]", v.path),
        None => format!("x = {}", v.path),
    };
    // Linked fields with the same formula whose paths differ in one name or
    // index are listed once: `daemons[1].algorithm.{minpoll, maxpoll} =
    // log2(x)`, `hosts[1].xen.host.guests[1..3].workload.busy_fraction = x`.
    struct Group {
        /// Tokens of the first path.
        tokens: Vec<String>,
        /// The token where the paths differ, once there are two.
        at: Option<usize>,
        /// That token in each path, the first's included.
        variants: Vec<String>,
        formula: String,
    }
    let mut groups: Vec<Group> = Vec::new();
    for i in (0..plan.sweep.vary.len()).filter(|&i| leader(&plan.sweep, i) == Some(vi)) {
        let Values::Linked { transform, .. } = &plan.sweep.vary[i].values else {
            continue;
        };
        let tokens = path_tokens(&plan.sweep.vary[i].path);
        let formula = transform.formula();
        let fits = |g: &Group| {
            if g.formula != formula || g.tokens.len() != tokens.len() {
                return None;
            }
            let diff: Vec<usize> = (0..tokens.len())
                .filter(|&k| g.tokens[k] != tokens[k])
                .collect();
            match (diff.as_slice(), g.at) {
                ([k], None) => Some(*k),
                ([k], Some(at)) if *k == at => Some(at),
                ([], Some(at)) => Some(at),
                _ => None,
            }
        };
        match groups.iter_mut().find_map(|g| fits(g).map(|k| (k, g))) {
            Some((k, g)) => {
                if g.at.is_none() {
                    g.variants.push(g.tokens[k].clone());
                }
                g.at = Some(k);
                g.variants.push(tokens[k].clone());
            }
            None => groups.push(Group {
                tokens,
                at: None,
                variants: Vec::new(),
                formula,
            }),
        }
    }
    let linked: Vec<String> = groups
        .into_iter()
        .map(|mut g| {
            if let Some(k) = g.at {
                g.tokens[k] = variants_text(&g.variants);
            }
            format!("{} = {}", g.tokens.concat(), g.formula)
        })
        .collect();
    if !linked.is_empty() {
        label.push_str(&format!("; {}", linked.join(", ")));
    }
    label
}

/// Writes `points.csv` (median and IQR over seeds per point) and one plot
/// per metric and numeric axis.
fn summarize_points(
    plan: &Plan,
    dir: &Path,
    columns: &[(String, Metric)],
    rows: &BTreeMap<usize, String>,
) -> anyhow::Result<()> {
    let nv = plan.sweep.vary.len();
    // values[point][column] = list over seeds
    let mut values: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); columns.len()]; plan.points.len()];
    for line in rows.values() {
        let cols: Vec<&str> = line.split(',').collect();
        let p: usize = cols[1].parse()?;
        for (k, v) in cols[3 + nv..].iter().enumerate() {
            if let Ok(x) = v.parse::<f64>()
                && x.is_finite()
            {
                values[p][k].push(x);
            }
        }
    }
    let mut text = String::from("point");
    for v in &plan.sweep.vary {
        text.push_str(&format!(",{}", v.path));
    }
    for (series, m) in columns {
        let c = format!("{series}.{}", m.name);
        text.push_str(&format!(",{c}.median,{c}.q25,{c}.q75"));
    }
    text.push('\n');
    let mut stats = vec![vec![(0.0, 0.0, 0.0); columns.len()]; plan.points.len()];
    for (p, point) in plan.points.iter().enumerate() {
        text.push_str(&p.to_string());
        for v in point {
            text.push_str(&format!(",{}", value_text(v)));
        }
        for k in 0..columns.len() {
            let mut xs = values[p][k].clone();
            xs.sort_by(f64::total_cmp);
            let st = (quantile(&xs, 0.5), quantile(&xs, 0.25), quantile(&xs, 0.75));
            stats[p][k] = st;
            text.push_str(&format!(",{},{},{}", st.0, st.1, st.2));
        }
        text.push('\n');
    }
    write_atomic(&dir.join("points.csv"), text.as_bytes())?;
    // Plots: each metric against each numeric axis, one line per clock (or
    // migration) through the medians over seeds, the IQR over seeds shaded.
    // Points that differ only in other axes share an x: their medians are
    // pooled (the median of the medians), so the line is one per series.
    let mut metrics: Vec<Metric> = Vec::new();
    for (_, m) in columns {
        if !metrics.iter().any(|n| n.name == m.name) && !UNPLOTTED_METRICS.contains(&m.name) {
            metrics.push(*m);
        }
    }
    let mut charts = Vec::new();
    for vi in plan.axes() {
        let v = &plan.sweep.vary[vi];
        let xs: Vec<Option<f64>> = plan
            .points
            .iter()
            .map(|p| match &p[vi] {
                ron::Value::Number(n) => Some(n.into_f64()).filter(|x| x.is_finite()),
                _ => None,
            })
            .collect();
        if xs.iter().any(Option::is_none) {
            continue;
        }
        let xs: Vec<f64> = xs.into_iter().flatten().collect();
        let wide = |vals: &mut dyn Iterator<Item = f64>| {
            let (lo, hi, all_positive) = vals
                .fold((f64::INFINITY, 0.0f64, true), |(a, b, pos), x| {
                    (a.min(x), b.max(x), pos && x > 0.0)
                });
            all_positive && hi / lo >= 20.0
        };
        let log_x = wide(&mut xs.iter().copied());
        for m in &metrics {
            let mut series = Vec::new();
            for (k, (name, _)) in columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.1.name == m.name)
            {
                let mut by_x: BTreeMap<u64, Vec<(f64, f64, f64)>> = BTreeMap::new();
                for (p, x) in xs.iter().enumerate() {
                    let st = stats[p][k];
                    if st.0.is_finite() {
                        by_x.entry(x.to_bits()).or_default().push(st);
                    }
                }
                let mut points: Vec<(f64, f64, f64, f64)> = by_x
                    .into_iter()
                    .map(|(x, sts)| {
                        let pick = |f: fn(&(f64, f64, f64)) -> f64| {
                            let mut v: Vec<f64> = sts.iter().map(f).collect();
                            v.sort_by(f64::total_cmp);
                            quantile(&v, 0.5)
                        };
                        (
                            f64::from_bits(x),
                            pick(|s| s.0),
                            pick(|s| s.1),
                            pick(|s| s.2),
                        )
                    })
                    .collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                if !points.is_empty() {
                    series.push(BandSeries {
                        name: name.clone(),
                        points,
                    });
                }
            }
            if series.is_empty() {
                continue;
            }
            let bands = plan.sweep.seeds > 1;
            let log_y = wide(&mut series.iter().flat_map(|s| {
                s.points.iter().flat_map(move |p| {
                    if bands {
                        vec![p.1, p.2, p.3]
                    } else {
                        vec![p.1]
                    }
                })
            }));
            let stem = format!(
                "{}_vs_{}",
                m.name,
                v.path.replace(['[', ']', '.'], "_").replace('$', "")
            );
            let what = m.label.split(" [").next().unwrap_or(m.label);
            let seeds = if bands {
                format!("median of {} seeds", plan.sweep.seeds)
            } else {
                "one seed".to_string()
            };
            charts.push(Chart {
                title: format!("{}: {what} ({seeds})", plan.sweep.name),
                x_label: axis_label(plan, vi),
                y_label: m.label,
                columns: [
                    v.path.clone(),
                    format!("{} median", m.name),
                    format!("{} q25", m.name),
                    format!("{} q75", m.name),
                ],
                stem,
                series,
                log_x,
                log_y,
                bands,
            });
        }
    }
    // Plots are independent: draw them on the sweep's workers too.
    charts.par_iter().try_for_each(|c| {
        band_chart(
            dir,
            &c.stem,
            &BandChart {
                title: &c.title,
                x_label: &c.x_label,
                y_label: c.y_label,
                band_label: c.bands.then_some("IQR over seeds"),
                series: &c.series,
                log_x: c.log_x,
                log_y: c.log_y,
                columns: [&c.columns[0], &c.columns[1], &c.columns[2], &c.columns[3]],
            },
        )
        .map_err(|e| anyhow::anyhow!("plotting {}: {e}", c.stem))
    })
}

/// One plot of a metric against an axis.
struct Chart {
    stem: String,
    title: String,
    x_label: String,
    y_label: &'static str,
    columns: [String; 4],
    series: Vec<BandSeries>,
    log_x: bool,
    log_y: bool,
    bands: bool,
}

/// `p` as one shell word: quoted when it holds anything but letters,
/// digits and `/._-+,:@%=`, so that a printed command can be pasted back.
pub fn shell_word(p: &Path) -> String {
    let s = p.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command line that continues the sweep `sweep` in `dir`.
pub fn resume_command(sweep: &Path, dir: &Path) -> String {
    format!(
        "vtsim sweep {} --out {} --resume",
        shell_word(sweep),
        shell_word(dir)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_switches_items_on_by_count_and_parameters_stay_out_of_the_scenario() {
        let step = Transform::Step {
            above: 1.0,
            value: 0.25,
        };
        assert_eq!(number(&step.apply(&num(1.0)).unwrap()), 0.0);
        assert_eq!(number(&step.apply(&num(2.0)).unwrap()), 0.25);
        assert!(step.apply(&ron::Value::String("x".into())).is_err());
        assert!(is_parameter("$busy_guests") && !is_parameter("hosts[0].name"));
    }

    /// A plan over the default scenario with these fields varied, at
    /// every combination of their values.
    fn plan_over(vary: &[(&str, &[&str])]) -> Plan {
        let mut points: Vec<Vec<ron::Value>> = vec![Vec::new()];
        for (_, values) in vary {
            points = points
                .iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut p = p.clone();
                        p.push(ron::from_str(v).expect("a RON value"));
                        p
                    })
                })
                .collect();
        }
        Plan {
            sweep: Sweep {
                name: "template".into(),
                base: String::new(),
                vary: vary
                    .iter()
                    .map(|(path, _)| Vary {
                        path: path.to_string(),
                        values: Values::List(Vec::new()),
                    })
                    .collect(),
                seeds: 1,
                duration_s: None,
            },
            base: crate::scenario::default_scenario(),
            points,
            sources: Vec::new(),
        }
    }

    /// The template builds each point's scenario from one tree, reused
    /// from point to point: it must be `scenario_for`'s, or none where
    /// that fails, whatever came before, and the tree must be the base's
    /// again after each point.
    #[test]
    fn the_template_builds_the_scenario_that_scenario_for_builds() {
        let cases = [
            // Plain values written in place: through the algorithm's
            // variant (-1 is out of range), into an optional field (a list
            // there reshapes the tree, and fails), a variant as a string
            // (the default host has no HPET), and a sweep parameter. The
            // default path gives delays per direction, so it takes no
            // asymmetry: only None fits.
            (
                plan_over(&[
                    ("daemons[0].algorithm.poll_period_s", &["16", "32", "-1"]),
                    ("$n", &["0", "1"]),
                    ("paths[0].asymmetry_us", &["10", "None", "[1, 2]"]),
                    ("daemons[0].counter", &[r#""Tsc""#, r#""Hpet""#]),
                ]),
                &[false, true, false, false][..],
                4,
            ),
            // A list in the base, written whole and copied back whole.
            (
                plan_over(&[
                    ("probes.interval_s", &["10", "20"]),
                    (
                        "hosts[0].counters",
                        &[
                            r#"[{"kind": "Tsc"}, {"kind": "Hpet"}]"#,
                            r#"[{"kind": "Tsc"}]"#,
                        ],
                    ),
                    ("daemons[0].counter", &[r#""Hpet""#, r#""Tsc""#]),
                    ("duration_s", &["600", "7200"]),
                ]),
                &[false, true, false, false][..],
                12,
            ),
            // A path that lands nowhere: no point has a scenario.
            (
                plan_over(&[
                    ("duration_s", &["600", "7200"]),
                    ("daemons[0].algorithm.nope", &["1"]),
                ]),
                &[false, true][..],
                0,
            ),
        ];
        for (plan, unplaced, expected) in &cases {
            let template = Template::new(plan);
            let found: Vec<bool> = template.leaves.iter().map(Option::is_none).collect();
            assert_eq!(&found, unplaced, "{:?}", plan.sweep.vary);
            let mut work = template.tree.clone();
            let mut built = 0;
            for p in &plan.points {
                let fast = template.scenario(plan, &mut work, p);
                assert_eq!(fast, plan.scenario_for(p, 0).ok(), "{}", plan.point_text(p));
                assert!(work == template.tree, "{}", plan.point_text(p));
                built += usize::from(fast.is_some());
            }
            assert_eq!(built, *expected);
        }
    }

    fn number(v: &ron::Value) -> f64 {
        match v {
            ron::Value::Number(n) => n.into_f64(),
            _ => f64::NAN,
        }
    }

    #[test]
    fn ranges_expand_to_tidy_values() {
        let lin = expand(
            &Values::LinRange {
                from: 0.0,
                to: 1.0,
                steps: 3,
            },
            "s",
            0,
        );
        assert_eq!(lin.iter().map(number).collect::<Vec<_>>(), [0.0, 0.5, 1.0]);
        // A range through zero passes through 0 itself, whatever the
        // rounding of its steps.
        let through_zero = expand(
            &Values::LinRange {
                from: -0.1,
                to: 0.5,
                steps: 7,
            },
            "s",
            0,
        );
        assert_eq!(
            through_zero.iter().map(number).collect::<Vec<_>>(),
            [-0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
        );
        assert_eq!(
            through_zero[1],
            ron::Value::Number(ron::value::Number::I64(0))
        );
        let log = expand(
            &Values::LogRange {
                from: 1.0,
                to: 1024.0,
                steps: 11,
            },
            "s",
            0,
        );
        // Exact powers of two, written as integers.
        for (i, v) in log.iter().enumerate() {
            assert_eq!(
                v,
                &ron::Value::Number(ron::value::Number::I64(1 << i)),
                "{i}"
            );
        }
    }

    #[test]
    fn transforms() {
        let x = num(64.0);
        assert_eq!(Transform::Same.apply(&x), Ok(num(64.0)));
        assert_eq!(Transform::Scale(0.5).apply(&x), Ok(num(32.0)));
        assert_eq!(
            Transform::Log2.apply(&x),
            Ok(ron::Value::Number(ron::value::Number::I64(6)))
        );
        assert!((number(&Transform::Log2.apply(&num(12.0)).unwrap()) - 12f64.log2()).abs() < 1e-9);
        assert!(
            Transform::Log2
                .apply(&num(0.0))
                .unwrap_err()
                .contains("positive")
        );
        let text = ron::Value::String("x".into());
        assert_eq!(Transform::Same.apply(&text), Ok(text.clone()));
        assert!(Transform::Scale(2.0).apply(&text).is_err());
    }

    #[test]
    fn tdev_and_mtie_are_read_at_one_tau_and_that_tau_with_them() {
        // TDEV needs 3m samples, MTIE m + 1: at the longest τ only MTIE
        // has a value, so both are read one octave down, where both do.
        let point = |tau: f64, tdev: Option<f64>, mtie: Option<f64>| {
            serde_json::json!({"tau_s": tau, "n": 1, "oadev": null, "mdev": null,
                "tdev_us": tdev, "mtie_us": mtie})
        };
        let summary = |stability: serde_json::Value| -> RunSummary {
            let empty = serde_json::json!({"count": 0});
            serde_json::from_value(serde_json::json!({
                "scenario": "s", "seed": 1, "duration_s": 1.0, "version": "0", "events": 1,
                "clocks": [{"name": "c", "domain": "h", "algorithm": "naive",
                    "error_us": empty, "error_at_exchange_us": empty, "host_rtt_us": empty,
                    "stability": stability}]
            }))
            .unwrap()
        };
        let read = |s: &RunSummary| {
            let [tdev, mtie, tau] = STABILITY_METRICS.map(|m| (m.read)(s, "c"));
            (tdev, mtie, tau)
        };
        let s = summary(serde_json::json!([
            point(10.0, Some(0.1), Some(1.0)),
            point(20.0, Some(0.2), Some(2.0)),
            point(40.0, None, Some(4.0)),
        ]));
        assert_eq!(read(&s), (Some(0.2), Some(2.0), Some(20.0)));
        // Where no τ has both, none of the three has a value.
        let s = summary(serde_json::json!([point(10.0, None, Some(1.0))]));
        assert_eq!(read(&s), (None, None, None));
        assert_eq!(read(&summary(serde_json::json!([]))), (None, None, None));
        assert_eq!(
            STABILITY_METRICS.map(|m| m.name),
            ["tdev_us", "mtie_us", "stability_tau_s"]
        );
    }

    #[test]
    fn units_from_suffixes() {
        let unit = |path: &str| unit_of(path);
        assert_eq!(
            unit("daemons[0].algorithm.poll_period_s").as_deref(),
            Some("s")
        );
        assert_eq!(unit("paths[0].asymmetry_us").as_deref(), Some("µs"));
        assert_eq!(
            unit("events[0].migration.cold_dirty_rate_mib_per_s").as_deref(),
            Some("MiB/s")
        );
        assert_eq!(
            unit("hosts[1].xen.host.guests[0].workload.busy_fraction"),
            None
        );
        // Rates: both sides of `_per_`, never the denominator alone.
        for (path, expected) in [
            (
                "hosts[0].tsc_crystal.temperature.coeff_ppm_per_c",
                Some("ppm/°C"),
            ),
            ("hosts[0].tsc_crystal.aging_ppm_per_day", Some("ppm/day")),
            (
                "hosts[0].counters[0].tsc.cstate_halt.halt_rate_per_s",
                Some("1/s"),
            ),
            ("events[0].migration.cold_faults_per_s", Some("1/s")),
            ("paths[0].link_mbit_per_s", Some("Mbit/s")),
            ("events[0].migration.pages_per_round", None),
            ("hosts[0].tsc_crystal.skew_ppm", Some("ppm")),
            (
                "hosts[0].tsc_crystal.temperature.diurnal_amplitude_c",
                Some("°C"),
            ),
        ] {
            assert_eq!(unit(path).as_deref(), expected, "{path}");
        }
    }
}
