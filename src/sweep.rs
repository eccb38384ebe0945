//! Parameter sweeps: many runs of one scenario with fields varied by path.
//!
//! A sweep file (RON) names a base scenario and the fields to vary:
//!
//! ```ron
//! Sweep(
//!     name: "poll-period",
//!     base: "../radclock-lan.ron",          // relative to the sweep file
//!     vary: [(path: "daemons[0].algorithm.poll_period_s",
//!             values: LogRange(from: 16, to: 1024, steps: 4))],
//!     seeds: 3,
//! )
//! ```
//!
//! Every combination of the varied values (the grid) runs once per seed.
//! Runs are independent and execute in parallel; each run's result depends
//! only on its scenario and seed, and rows are written in grid order, so
//! `results.csv` is byte-identical for any `--jobs`. After each finished run
//! `results.csv` is rewritten atomically with every completed row, so an
//! interrupted sweep keeps them and `--resume` runs only the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::output::write_atomic;
use crate::plot::{LineChart, Series, line_chart};
use crate::run::{RunSummary, build_world, drive, summarize};
use crate::scenario::{Scenario, ScenarioError, parse_error, ron_options};

/// The values one field takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Values {
    /// Exactly these values (numbers, strings, booleans: any RON value).
    List(Vec<ron::Value>),
    /// `steps` values evenly spaced from `from` to `to` inclusive.
    LinRange {
        /// First value.
        from: f64,
        /// Last value.
        to: f64,
        /// Number of values (≥ 1).
        steps: usize,
    },
    /// `steps` values geometrically spaced from `from` to `to` inclusive (both > 0).
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
}

/// One varied field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vary {
    /// Field path in the scenario, e.g. `paths[0].forward.min_delay_us`.
    /// Enum variants are skipped: `daemons[0].algorithm.poll_period_s`
    /// reaches the field whatever the algorithm.
    pub path: String,
    /// The values it takes.
    pub values: Values,
}

fn default_seeds() -> u32 {
    1
}

/// A sweep file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// Name; default output directory `out/<name>/`.
    pub name: String,
    /// Base scenario file, relative to the sweep file.
    pub base: String,
    /// Varied fields (the grid is their cartesian product).
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
    /// Grid points: the value of each varied field.
    pub points: Vec<Vec<ron::Value>>,
}

fn expand(v: &Values, seed: u64) -> Vec<ron::Value> {
    let num = |x: f64| ron::Value::Number(ron::value::Number::F64(x.into()));
    match v {
        Values::List(l) => l.clone(),
        Values::LinRange { from, to, steps } => (0..*steps)
            .map(|i| {
                if *steps == 1 {
                    num(*from)
                } else {
                    num(from + (to - from) * i as f64 / (*steps - 1) as f64)
                }
            })
            .collect(),
        Values::LogRange { from, to, steps } => (0..*steps)
            .map(|i| {
                if *steps == 1 {
                    num(*from)
                } else {
                    num(from * (to / from).powf(i as f64 / (*steps - 1) as f64))
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
            let mut rng = sim_core::RngStreams::new(seed).stream("sweep/random-values");
            (0..*count)
                .map(|_| {
                    let u: f64 = rng.random();
                    num(if *log {
                        from * (to / from).powf(u)
                    } else {
                        from + (to - from) * u
                    })
                })
                .collect()
        }
    }
}

/// Most runs one sweep may expand to (grid points × seeds): a million
/// runs is already days of computing, so more is a typo, and the grid is
/// held in memory.
pub const MAX_RUNS: usize = 1_000_000;

/// Reads a sweep file and its base scenario; checks every path and value.
pub fn load(path: &Path) -> Result<Plan, ScenarioError> {
    let file = path.display().to_string();
    let text = crate::scenario::read_text(path).map_err(|cause| ScenarioError::Io {
        file: file.clone(),
        cause,
    })?;
    let sweep: Sweep = ron_options()
        .from_str(&text)
        .map_err(|e| parse_error(&file, e))?;
    let mut errors = Vec::new();
    if sweep.vary.is_empty() {
        errors.push(algorithms::ConfigError::new(
            "vary",
            "name at least one field to vary",
        ));
    }
    if sweep.seeds == 0 || sweep.seeds > 10_000 {
        errors.push(algorithms::ConfigError::new(
            "seeds",
            format!("{} is outside 1..=10000", sweep.seeds),
        ));
    }
    for (i, v) in sweep.vary.iter().enumerate() {
        let bad = match &v.values {
            Values::List(l) => l.is_empty(),
            Values::LinRange { from, to, steps } => {
                *steps == 0 || !from.is_finite() || !to.is_finite()
            }
            Values::LogRange { from, to, steps } => {
                *steps == 0 || !(*from > 0.0 && *to > 0.0 && from.is_finite() && to.is_finite())
            }
            Values::Random {
                from,
                to,
                count,
                log,
            } => {
                *count == 0
                    || !from.is_finite()
                    || !to.is_finite()
                    || (*log && !(*from > 0.0 && *to > 0.0))
            }
        };
        if bad {
            errors.push(algorithms::ConfigError::new(
                format!("vary[{i}].values"),
                "needs at least one value, finite bounds, and positive bounds for logarithmic spacing",
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
    let lists: Vec<Vec<ron::Value>> = sweep
        .vary
        .iter()
        .map(|v| expand(&v.values, base.seed))
        .collect();
    let mut points: Vec<Vec<ron::Value>> = vec![Vec::new()];
    for list in &lists {
        points = points
            .iter()
            .flat_map(|p| {
                list.iter()
                    .map(move |v| [p.clone(), vec![v.clone()]].concat())
            })
            .collect();
    }
    let plan = Plan {
        sweep,
        base,
        points,
    };
    // Apply every point once now, so a bad path or value fails before any run.
    for p in &plan.points {
        plan.scenario_for(p, 0).map_err(|e| match e {
            ScenarioError::Invalid { errors, .. } => ScenarioError::Invalid {
                file: file.clone(),
                errors,
            },
            other => other,
        })?;
    }
    Ok(plan)
}

/// Sets `path` in a JSON tree, skipping enum-variant wrappers.
fn set_path(
    root: &mut serde_json::Value,
    path: &str,
    value: serde_json::Value,
) -> Result<(), String> {
    let mut node = root;
    let mut parts = Vec::new();
    for seg in path.split('.') {
        let (name, rest) = seg
            .split_once('[')
            .map_or((seg, None), |(n, r)| (n, Some(r)));
        parts.push(Ok(name.to_string()));
        if let Some(rest) = rest {
            for idx in rest.split('[') {
                let idx = idx.trim_end_matches(']');
                parts.push(Err(idx
                    .parse::<usize>()
                    .map_err(|_| format!("\"{idx}\" is not an index"))?));
            }
        }
    }
    let last = parts.len() - 1;
    for (i, part) in parts.into_iter().enumerate() {
        match part {
            Ok(name) => {
                // Descend through single-key objects that are enum variants.
                loop {
                    match node {
                        serde_json::Value::Object(map) if map.contains_key(&name) => break,
                        serde_json::Value::Object(map)
                            if map.len() == 1
                                && map
                                    .keys()
                                    .next()
                                    .is_some_and(|k| k.starts_with(char::is_uppercase)) =>
                        {
                            node = map.values_mut().next().expect("one entry");
                        }
                        _ => return Err(format!("no field \"{name}\" here")),
                    }
                }
                let map = node.as_object_mut().expect("checked above");
                if i == last {
                    map.insert(name, value);
                    return Ok(());
                }
                node = map.get_mut(&name).expect("checked above");
            }
            Err(idx) => {
                let arr = node
                    .as_array_mut()
                    .ok_or_else(|| format!("not a list before [{idx}]"))?;
                let len = arr.len();
                let slot = arr
                    .get_mut(idx)
                    .ok_or_else(|| format!("index {idx} out of range (0..{len})"))?;
                if i == last {
                    *slot = value;
                    return Ok(());
                }
                node = slot;
            }
        }
    }
    Ok(())
}

fn ron_to_json(v: &ron::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl Plan {
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
            set_path(&mut tree, &v.path, ron_to_json(value))
                .map_err(|m| invalid(v.path.clone(), m))?;
        }
        let mut s: Scenario = serde_json::from_value(tree).map_err(|e| {
            // Name the point: serde's message alone does not say which field.
            let point: Vec<String> = self
                .sweep
                .vary
                .iter()
                .zip(point)
                .map(|(v, x)| format!("{} = {}", v.path, value_text(x)))
                .collect();
            invalid(
                "vary".into(),
                format!("value does not fit the field ({}): {e}", point.join(", ")),
            )
        })?;
        s.seed = self.base.seed.wrapping_add(u64::from(seed_index));
        let errors = s.validate();
        if !errors.is_empty() {
            return Err(ScenarioError::Invalid {
                file: self.sweep.name.clone(),
                errors,
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
}

/// Runs one scenario in memory (no files) and summarises it.
pub fn run_in_memory(s: &Scenario) -> anyhow::Result<RunSummary> {
    let world = build_world(s)?;
    let (world, events) = drive(
        world,
        sim_core::SimTime::from_secs_f64(s.duration_s),
        |_, r| {
            r.clear();
            Ok(())
        },
        |_| {},
    )?;
    let mut world = world;
    Ok(summarize(s, &mut world, events))
}

const METRICS: [&str; 5] = ["median_us", "iqr_us", "p99_us", "rms_us", "max_abs_us"];

fn value_text(v: &ron::Value) -> String {
    match v {
        ron::Value::Number(n) => n.into_f64().to_string(),
        other => ron::to_string(other).unwrap_or_default().replace(',', ";"),
    }
}

/// One result row: the run, its parameters and each clock's metrics.
fn row_text(plan: &Plan, run: (usize, usize, u32), summary: &RunSummary) -> String {
    let (idx, p, s) = run;
    let mut cols = vec![
        idx.to_string(),
        p.to_string(),
        (plan.base.seed.wrapping_add(u64::from(s))).to_string(),
    ];
    cols.extend(plan.points[p].iter().map(value_text));
    for c in &summary.clocks {
        let e = &c.error_us;
        cols.extend(
            [e.median, e.iqr, e.p99, e.rms, e.max_abs]
                .iter()
                .map(|x| x.to_string()),
        );
    }
    cols.join(",")
}

fn header(plan: &Plan, clocks: &[String]) -> String {
    let mut cols = vec!["run".to_string(), "point".into(), "seed".into()];
    cols.extend(plan.sweep.vary.iter().map(|v| v.path.clone()));
    for c in clocks {
        cols.extend(METRICS.iter().map(|m| format!("{c}.{m}")));
    }
    cols.join(",")
}

/// Options of a sweep.
#[derive(Clone, Debug, Default)]
pub struct SweepOptions {
    /// Output directory (default `out/<sweep name>`).
    pub out: Option<PathBuf>,
    /// Worker threads (default: all cores).
    pub jobs: Option<usize>,
    /// Keep rows already in `results.csv` and run only the others.
    pub resume: bool,
    /// Show progress bars.
    pub progress: bool,
    /// Stop after this many new runs (used to test interruption).
    pub max_runs: Option<usize>,
}

/// Runs a sweep; returns the output directory.
pub fn run_sweep(plan: &Plan, opts: &SweepOptions) -> anyhow::Result<PathBuf> {
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(&plan.sweep.name));
    let results = dir.join("results.csv");
    if dir.exists() && !opts.resume && std::fs::read_dir(&dir)?.next().is_some() {
        anyhow::bail!(
            "{} already exists; pass --resume to continue it, or choose another --out",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir)?;
    let clocks: Vec<String> = plan.base.daemons.iter().map(|d| d.name.clone()).collect();
    let head = header(plan, &clocks);
    let mut done: BTreeMap<usize, String> = BTreeMap::new();
    if opts.resume && results.exists() {
        let text = std::fs::read_to_string(&results)?;
        let mut lines = text.lines();
        if lines.next() != Some(head.as_str()) {
            anyhow::bail!(
                "{}: header differs from this sweep's; cannot resume",
                results.display()
            );
        }
        for line in lines {
            let idx = line.split(',').next().and_then(|s| s.parse::<usize>().ok());
            match idx {
                Some(i) => {
                    done.insert(i, line.to_string());
                }
                None => anyhow::bail!("{}: unreadable row \"{line}\"", results.display()),
            }
        }
    }
    let mut pending: Vec<(usize, usize, u32)> = plan
        .runs()
        .into_iter()
        .filter(|r| !done.contains_key(&r.0))
        .collect();
    if let Some(m) = opts.max_runs {
        pending.truncate(m);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.unwrap_or(0))
        .build()?;
    let total = plan.runs().len();
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
    let state = Mutex::new(done);
    let write = |rows: &BTreeMap<usize, String>| -> anyhow::Result<()> {
        let mut text = head.clone();
        text.push('\n');
        for r in rows.values() {
            text.push_str(r);
            text.push('\n');
        }
        write_atomic(&results, text.as_bytes())?;
        Ok(())
    };
    pool.install(|| {
        pending
            .par_iter()
            .try_for_each(|&run| -> anyhow::Result<()> {
                let spinner = bars.add(indicatif::ProgressBar::new_spinner());
                spinner.set_message(format!("run {} (point {}, seed #{})", run.0, run.1, run.2));
                let s = plan.scenario_for(&plan.points[run.1], run.2)?;
                let summary = run_in_memory(&s)?;
                let line = row_text(plan, run, &summary);
                let mut rows = state.lock().expect("no panics while holding the lock");
                rows.insert(run.0, line);
                write(&rows)?;
                spinner.finish_and_clear();
                overall.inc(1);
                Ok(())
            })
    })?;
    overall.finish_and_clear();
    let rows = state.into_inner().expect("lock not poisoned");
    write(&rows)?;
    if rows.len() == total {
        summarize_points(plan, &dir, &clocks, &rows)?;
    }
    Ok(dir)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Writes `points.csv` (median and IQR over seeds per point) and one plot
/// per metric and varied field.
fn summarize_points(
    plan: &Plan,
    dir: &Path,
    clocks: &[String],
    rows: &BTreeMap<usize, String>,
) -> anyhow::Result<()> {
    let nv = plan.sweep.vary.len();
    let nm = METRICS.len();
    // values[point][clock*nm + metric] = list over seeds
    let mut values: Vec<Vec<Vec<f64>>> =
        vec![vec![Vec::new(); clocks.len() * nm]; plan.points.len()];
    for line in rows.values() {
        let cols: Vec<&str> = line.split(',').collect();
        let p: usize = cols[1].parse()?;
        for (k, v) in cols[3 + nv..].iter().enumerate() {
            if let Ok(x) = v.parse::<f64>() {
                values[p][k].push(x);
            }
        }
    }
    let mut text = String::from("point");
    for v in &plan.sweep.vary {
        text.push_str(&format!(",{}", v.path));
    }
    for c in clocks {
        for m in METRICS {
            text.push_str(&format!(",{c}.{m}.median,{c}.{m}.q25,{c}.{m}.q75"));
        }
    }
    text.push('\n');
    let mut stats = vec![vec![(0.0, 0.0, 0.0); clocks.len() * nm]; plan.points.len()];
    for (p, point) in plan.points.iter().enumerate() {
        text.push_str(&p.to_string());
        for v in point {
            text.push_str(&format!(",{}", value_text(v)));
        }
        for k in 0..clocks.len() * nm {
            let mut xs = values[p][k].clone();
            xs.sort_by(f64::total_cmp);
            let st = (quantile(&xs, 0.5), quantile(&xs, 0.25), quantile(&xs, 0.75));
            stats[p][k] = st;
            text.push_str(&format!(",{},{},{}", st.0, st.1, st.2));
        }
        text.push('\n');
    }
    write_atomic(&dir.join("points.csv"), text.as_bytes())?;
    // Plots: each metric against each numeric varied field, one line per
    // clock (median over seeds) with dashed-free band lines at q25/q75.
    for (vi, v) in plan.sweep.vary.iter().enumerate() {
        let xs: Vec<Option<f64>> = plan
            .points
            .iter()
            .map(|p| match &p[vi] {
                ron::Value::Number(n) => Some(n.into_f64()),
                _ => None,
            })
            .collect();
        if xs.iter().any(Option::is_none) {
            continue;
        }
        let log = xs.iter().flatten().all(|x| *x > 0.0) && {
            let (lo, hi) = xs
                .iter()
                .flatten()
                .fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(*x), b.max(*x)));
            hi / lo >= 20.0
        };
        for (mi, m) in METRICS.iter().enumerate() {
            let mut series = Vec::new();
            for (ci, c) in clocks.iter().enumerate() {
                let k = ci * nm + mi;
                let mut med = Vec::new();
                let mut band = Vec::new();
                for (p, x) in xs.iter().enumerate() {
                    let (md, q25, q75) = stats[p][k];
                    med.push((x.unwrap_or(f64::NAN), md));
                    band.push((x.unwrap_or(f64::NAN), q25));
                    band.push((x.unwrap_or(f64::NAN), q75));
                }
                med.sort_by(|a, b| a.0.total_cmp(&b.0));
                series.push(Series {
                    name: c.clone(),
                    points: med,
                });
                if plan.sweep.seeds > 1 {
                    band.sort_by(|a, b| a.0.total_cmp(&b.0));
                    series.push(Series {
                        name: format!("{c} (IQR over seeds)"),
                        points: band,
                    });
                }
            }
            let positive = series.iter().all(|s| s.points.iter().all(|p| p.1 > 0.0));
            let stem = format!("{}_vs_{}", m, v.path.replace(['[', ']', '.'], "_"));
            let title = format!("{}: {m} vs {}", plan.sweep.name, v.path);
            let y = format!("{} [µs]", m.trim_end_matches("_us"));
            line_chart(
                dir,
                &stem,
                &LineChart {
                    title: &title,
                    x_label: &v.path,
                    y_label: &y,
                    series: &series,
                    points: false,
                    log_log: log && positive,
                },
            )
            .map_err(|e| anyhow::anyhow!("plotting {stem}: {e}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_path_skips_variants_and_indexes() {
        let mut v =
            serde_json::json!({"daemons": [{"algorithm": {"Naive": {"poll_period_s": 16.0}}}]});
        set_path(
            &mut v,
            "daemons[0].algorithm.poll_period_s",
            serde_json::json!(64.0),
        )
        .unwrap();
        assert_eq!(v["daemons"][0]["algorithm"]["Naive"]["poll_period_s"], 64.0);
        assert!(
            set_path(&mut v, "daemons[3].x", serde_json::json!(1))
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            set_path(&mut v, "nothing", serde_json::json!(1)).is_err()
                || v.get("nothing").is_some()
        );
    }

    #[test]
    fn ranges_expand() {
        let lin = expand(
            &Values::LinRange {
                from: 0.0,
                to: 1.0,
                steps: 3,
            },
            0,
        );
        assert_eq!(lin.len(), 3);
        let log = expand(
            &Values::LogRange {
                from: 1.0,
                to: 1024.0,
                steps: 11,
            },
            0,
        );
        let last = match &log[10] {
            ron::Value::Number(n) => n.into_f64(),
            _ => f64::NAN,
        };
        assert!((last - 1024.0).abs() < 1e-9);
    }
}
