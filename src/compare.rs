//! Comparing finished runs and sweeps: metrics side by side and overlaid
//! plots.
//!
//! A *run* directory (`vtsim run`) contributes one row per clock from its
//! `summary.json` and its error series from `errors.csv` (true time `t_s`,
//! then one column per clock), overlaid in `compare_errors`; every run
//! writes both, so either missing or unreadable (a cell that is not a
//! number, a time before the row above's, clock columns other than the
//! clocks of `summary.json`, so that the plot would not show what the table
//! does) fails the comparison, naming the file, and nothing is written. A
//! *sweep* directory (`vtsim sweep`, known by
//! its `points.csv`) contributes one row per grid point and clock (medians
//! over seeds), then, when its base scenario migrates or fails over, one
//! row per point and migration (or failover) with that move's own metrics
//! (downtime and total time; TSC jump and log lag) under their own
//! headings, and, for every metric (`stability_tau_s` aside), one line per
//! sweep and series against the sweep's first numeric varied field (not
//! linked to another; a sweep without one is plotted against nothing, and
//! the output says so), overlaid in
//! `compare_<metric>`. As in `vtsim sweep`'s own plots, the points of a
//! sweep with several axes that share the plotted field's value are pooled
//! into one: the median of their medians.
//!
//! A `vtsim replay` directory (known by its `replay.ron`, or by an
//! `errors.csv` whose first column is the counter reading `tf`) is refused,
//! naming it: a replay has no error on the probe grid, only the error at
//! each exchange, and its `errors.csv` has no true time to plot that
//! against.
//!
//! Each input is labelled by its directory's name; inputs whose names are
//! alike (`A/run`, `B/run`) by as much of their paths as tells them apart,
//! so their rows and plot lines stay apart. The same directory given twice
//! (however spelt: `A/run` and `A/run/`) is refused.
//!
//! The table labels a point by the fields with values of their own (a
//! field `Linked` to another follows it, so the sweep recorded beside
//! `points.csv` leaves it out), each by its last name, or with as much of
//! its path as tells apart fields that end in the same name
//! (`events[0].….cold_dirty_rate_mib_per_s`), and its value as
//! `points.csv` holds it (a number, or a variant name such as `Tsc`);
//! `compare_sweeps.csv` names every varied field by its full path.

use std::path::{Path, PathBuf};

use crate::output::{COMPARE_MARKERS, Staging};
use crate::plot::{LineChart, Series, Thinned, error_chart, line_chart};
use crate::run::{ErrorStats, RunSummary, StabilityPoint, column_width, stability_plots};

/// Reads `summary.json` of a run directory.
pub fn read_summary(dir: &Path) -> anyhow::Result<RunSummary> {
    let p = dir.join("summary.json");
    let text = std::fs::read_to_string(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

/// Reads `errors.csv` of a run: (hours, µs) per clock column, thinned for
/// plotting with every excursion kept ([`Thinned`]). Every run writes one,
/// so a missing or garbled file is an error naming it (and the line and
/// column of a cell that is not a number), not an empty plot; so is one
/// whose first column is not the true time `t_s` (a replay's `tf` is a
/// counter reading). An empty error cell is a value that does not exist
/// and is skipped. The plot and the table must show the same clocks, so
/// its columns must be those of `clocks` (the run's `summary.json`), and
/// its times may not go backwards (the thinning keeps a series' extremes
/// only in time order).
fn read_errors(dir: &Path, clocks: &[&str]) -> anyhow::Result<Vec<Series>> {
    let p = dir.join("errors.csv");
    let file = p.display();
    if !p.exists() {
        anyhow::bail!(
            "{file} is missing: every run and replay writes its error series there, \
             so {} is not a whole run directory",
            dir.display()
        );
    }
    let mut rdr = csv::Reader::from_path(&p).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let header = rdr
        .headers()
        .map_err(|e| anyhow::anyhow!("{file}: {e}"))?
        .clone();
    if header.iter().all(str::is_empty) {
        anyhow::bail!(
            "{file} is empty: expected a header line (the time, then one column per clock)"
        );
    }
    match header.get(0) {
        Some("t_s") => {}
        Some("tf") => anyhow::bail!("{}", replay_refused(dir)),
        other => anyhow::bail!(
            "{file}: the first column is {:?}, not \"t_s\" (true time, s): \
             not a run's error series",
            other.unwrap_or("")
        ),
    }
    let names: Vec<String> = header
        .iter()
        .skip(1)
        // Only the one suffix: a clock may itself be named `x_error_us`.
        .map(|h| h.strip_suffix("_error_us").unwrap_or(h).to_string())
        .collect();
    let mut columns: Vec<&str> = header.iter().skip(1).collect();
    let mut expected: Vec<String> = clocks.iter().map(|c| format!("{c}_error_us")).collect();
    columns.sort_unstable();
    expected.sort_unstable();
    if columns != expected {
        anyhow::bail!(
            "{file}: the clock columns ({}) are not those of the clocks in {} ({}): \
             the two files are not of the same run",
            header.iter().skip(1).collect::<Vec<_>>().join(", "),
            dir.join("summary.json").display(),
            clocks
                .iter()
                .map(|c| format!("{c}_error_us"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut previous_t_s = f64::NEG_INFINITY;
    let mut cols = vec![Thinned::new(1000); names.len()];
    for rec in rdr.records() {
        let rec = rec.map_err(|e| match e.kind() {
            csv::ErrorKind::UnequalLengths {
                pos: Some(pos),
                expected_len,
                len,
            } => anyhow::anyhow!(
                "{file}: line {} has {len} cell{}, the header {expected_len}",
                pos.line(),
                if *len == 1 { "" } else { "s" }
            ),
            _ => anyhow::anyhow!("{file}: {e}"),
        })?;
        let line = rec.position().map_or(0, |pos| pos.line());
        let cell = |i: usize| -> anyhow::Result<f64> {
            let text = rec.get(i).unwrap_or("");
            text.trim().parse().map_err(|_| {
                anyhow::anyhow!(
                    "{file}: line {line}, column {} ({}): {text:?} is not a number",
                    i + 1,
                    header.get(i).unwrap_or("")
                )
            })
        };
        let t = cell(0)?;
        if !t.is_finite() {
            anyhow::bail!("{file}: line {line}, column 1 (t_s): {t} is not a time");
        }
        if t < previous_t_s {
            anyhow::bail!(
                "{file}: line {line}: t_s {t} is before the previous row's {previous_t_s}: \
                 rows must be in time order"
            );
        }
        previous_t_s = t;
        for (i, col) in cols.iter_mut().enumerate() {
            if !rec.get(i + 1).unwrap_or("").is_empty() {
                col.push(t / 3600.0, cell(i + 1)?);
            }
        }
    }
    Ok(names
        .into_iter()
        .zip(cols)
        .map(|(name, col)| Series {
            name,
            points: col.into_points(),
        })
        .collect())
}

/// Why a `vtsim replay` directory is not compared: what it writes does
/// not measure what a run's does.
fn replay_refused(dir: &Path) -> String {
    format!(
        "{} is the output of `vtsim replay`, which compare does not take: its errors.csv \
         gives the error at each exchange against the counter reading `tf` (ticks), not \
         against true time, and it has no error on the probe grid (the statistics \
         compared here); its error at each exchange is `error_at_exchange_us` in its \
         summary.json",
        dir.display()
    )
}

/// Medians over seeds of one grid point, by `(clock, metric)`.
type PointMetrics = std::collections::BTreeMap<(String, String), f64>;

/// A sweep's per-point summary (`points.csv`).
struct SweepPoints {
    /// Varied fields, in column order.
    fields: Vec<String>,
    /// The plots' x axis: the first field with values of its own that are
    /// all numbers, as `vtsim sweep` plots against numeric axes; `None`
    /// when there is none.
    axis: Option<usize>,
    /// Per field, its name in the table's point labels, or `None` for a
    /// field linked to another (it follows that one, so it tells nothing).
    labels: Vec<Option<String>>,
    /// Clocks (series with error statistics), in column order.
    clocks: Vec<String>,
    /// Live migrations and failovers (`migrations[0]`, `failovers[0]`, ...),
    /// in column order, each with its metrics (`downtime_ms`, ...): series
    /// without error statistics, so the table gives them columns of their own.
    moves: Vec<(String, Vec<String>)>,
    /// Per point: the fields' values as written (numbers, or variant names
    /// and other strings), and the median over seeds of `series.metric` by
    /// `(series, metric)` name.
    rows: Vec<(Vec<String>, PointMetrics)>,
}

impl SweepPoints {
    /// A point as `path=value` pairs, every varied field by its full path.
    fn point_text(&self, values: &[String]) -> String {
        self.fields
            .iter()
            .zip(values)
            .map(|(f, v)| format!("{f}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A point as the table labels it: `name=value` for each field with
    /// values of its own, by its short name.
    fn point_label(&self, values: &[String]) -> String {
        self.labels
            .iter()
            .zip(values)
            .filter_map(|(name, v)| Some(format!("{}={v}", name.as_ref()?)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Every series, clocks first, in column order.
    fn series(&self) -> impl Iterator<Item = &String> {
        self.clocks.iter().chain(self.moves.iter().map(|(m, _)| m))
    }
}

/// Reads `points.csv` of a sweep directory: columns `point`, the varied
/// fields, then `<clock>.<metric>.<median|q25|q75>`.
fn read_points(dir: &Path) -> anyhow::Result<SweepPoints> {
    let p = dir.join("points.csv");
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", p.display());
    let mut rdr = csv::Reader::from_path(&p).map_err(|e| err(&e))?;
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| err(&e))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut fields = Vec::new();
    // Series in column order, each with its metrics.
    let mut series: Vec<(String, Vec<String>)> = Vec::new();
    // Column index → (series, metric) for the medians over seeds.
    let mut medians = Vec::new();
    for (i, h) in headers.iter().enumerate().skip(1) {
        match h.strip_suffix(".median").and_then(|cm| cm.rsplit_once('.')) {
            Some((name, metric)) => {
                match series.iter_mut().find(|(s, _)| s == name) {
                    Some((_, metrics)) => metrics.push(metric.to_string()),
                    None => series.push((name.to_string(), vec![metric.to_string()])),
                }
                medians.push((i, name.to_string(), metric.to_string()));
            }
            None if h.ends_with(".q25") || h.ends_with(".q75") => {}
            None => fields.push((i, h.clone())),
        }
    }
    if fields.is_empty() {
        return Err(err(&"no varied field columns"));
    }
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| err(&e))?;
        let line = rec.position().map_or(0, |pos| pos.line());
        // Every statistic is a number, or `NaN` where it has no value (as
        // `vtsim sweep` writes them): anything else is a damaged file, not
        // a value to show as missing.
        for (i, h) in headers.iter().enumerate().skip(1) {
            let text = rec.get(i).unwrap_or("");
            if !fields.iter().any(|&(f, _)| f == i) && text.parse::<f64>().is_err() {
                return Err(err(&format_args!(
                    "line {line}, column {} ({h}): {text:?} is not a number (or NaN)",
                    i + 1
                )));
            }
        }
        let num = |i: usize| {
            rec.get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        let values: Vec<String> = fields
            .iter()
            .map(|&(i, _)| rec.get(i).unwrap_or("").to_string())
            .collect();
        let metrics = medians
            .iter()
            .map(|(i, c, m)| ((c.clone(), m.clone()), num(*i)))
            .collect();
        rows.push((values, metrics));
    }
    // A clock has error statistics; a migration or failover has metrics of
    // its own (downtime, TSC jump), and no error to show.
    let (clocks, moves): (Vec<_>, Vec<_>) = series
        .into_iter()
        .partition(|(_, metrics)| metrics.iter().any(|m| m == "median_us"));
    let fields: Vec<String> = fields.into_iter().map(|(_, h)| h).collect();
    let linked = linked_fields(dir);
    let shown: Vec<&str> = fields
        .iter()
        .filter(|f| !linked.contains(f))
        .map(String::as_str)
        .collect();
    let mut names = short_names(&shown).into_iter();
    let labels = fields
        .iter()
        .map(|f| {
            if linked.contains(f) {
                None
            } else {
                names.next()
            }
        })
        .collect();
    let numeric = |i: usize| {
        rows.iter()
            .all(|(values, _)| values[i].parse::<f64>().is_ok_and(f64::is_finite))
    };
    let axis = (0..fields.len()).find(|&i| !linked.contains(&fields[i]) && numeric(i));
    Ok(SweepPoints {
        fields,
        axis,
        labels,
        clocks: clocks.into_iter().map(|(c, _)| c).collect(),
        moves,
        rows,
    })
}

/// The fields of the sweep recorded in `dir` (`sweep.ron`) that are
/// `Linked` to another; none when it records no sweep (a `points.csv`
/// written by hand, or by an older vtsim): then every field is labelled.
fn linked_fields(dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(dir.join(crate::sweep::RECORDED_SWEEP)) else {
        return Vec::new();
    };
    // Only labels depend on it, so a file that does not read as a sweep
    // costs the shorter labels, not the comparison.
    let Ok(sweep) = crate::scenario::ron_options().from_str::<crate::sweep::Sweep>(&text) else {
        return Vec::new();
    };
    sweep
        .vary
        .into_iter()
        .filter(|v| matches!(v.values, crate::sweep::Values::Linked { .. }))
        .map(|v| v.path)
        .collect()
}

/// Short names for field paths: the last component (`poll_period_s`);
/// where several paths end in the same name, the first component and
/// those that tell them apart too, with `…` for the components left out
/// (`events[0].….cold_dirty_rate_mib_per_s`,
/// `hosts[1].….guests[0].….busy_fraction`).
fn short_names(paths: &[&str]) -> Vec<String> {
    let parts: Vec<Vec<&str>> = paths.iter().map(|p| p.split('.').collect()).collect();
    let leaf = |i: usize| parts[i][parts[i].len() - 1];
    let mut names: Vec<String> = (0..paths.len())
        .map(|i| {
            let same: Vec<usize> = (0..paths.len()).filter(|&j| leaf(j) == leaf(i)).collect();
            if same.len() == 1 {
                return leaf(i).to_string();
            }
            let n = parts[i].len();
            // Components before the leaf: the first, and any in which
            // two of the paths differ.
            let kept: Vec<usize> = (0..n - 1)
                .filter(|&k| k == 0 || same.iter().any(|&j| parts[j].get(k) != parts[i].get(k)))
                .collect();
            let mut name: Vec<&str> = Vec::new();
            let mut next = 0;
            for k in kept.into_iter().chain([n - 1]) {
                if k > next {
                    name.push("…");
                }
                name.push(parts[i][k]);
                next = k + 1;
            }
            name.join(".")
        })
        .collect();
    // Paths that still read alike (one a prefix of another's components)
    // are given in full.
    for i in 0..names.len() {
        if names.iter().filter(|n| **n == names[i]).count() > 1 {
            let dup = names[i].clone();
            for (n, p) in names.iter_mut().zip(paths) {
                if *n == dup {
                    *n = p.to_string();
                }
            }
        }
    }
    names
}

/// The last path component of `d`, or `fallback`.
fn label_of(d: &Path, fallback: &str) -> String {
    d.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| fallback.to_string())
}

/// `labels` (each input's [`label_of`]) made distinct: where two read
/// alike, each of them takes as many of its directory's trailing path
/// components as tell them apart (`A/run`, `B/run`), else its whole path,
/// so that no two inputs share a row label or a plot series. The same
/// directory given twice is refused.
fn distinct_labels(dirs: &[&Path], mut labels: Vec<String>) -> anyhow::Result<Vec<String>> {
    let parts: Vec<Vec<String>> = dirs
        .iter()
        .map(|d| {
            d.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .collect();
    // Trailing components in each label.
    let mut kept = vec![1; dirs.len()];
    loop {
        let alike: Vec<usize> = (0..labels.len())
            .filter(|&i| labels.iter().filter(|l| **l == labels[i]).count() > 1)
            .collect();
        let Some(&first) = alike.first() else {
            return Ok(labels);
        };
        let mut grown = false;
        for &i in &alike {
            let n = parts[i].len();
            let next = if kept[i] + 1 < n {
                kept[i] += 1;
                parts[i][n - kept[i]..].join("/")
            } else {
                dirs[i].display().to_string()
            };
            if next != labels[i] {
                labels[i] = next;
                grown = true;
            }
        }
        if !grown {
            anyhow::bail!(
                "{} is given more than once: compare it with other directories",
                dirs[first].display()
            );
        }
    }
}

/// The file that marks a `vtsim replay` output directory.
const REPLAY_RECORD: &str = "replay.ron";

/// Refuses a directory given twice, however spelt (`A/run`, `A/run/`,
/// `./A/run`, through a link): its rows and lines would only repeat.
/// A path that does not resolve is left to the reading, which names it.
fn refuse_repeats(dirs: &[PathBuf]) -> anyhow::Result<()> {
    let resolved: Vec<Option<PathBuf>> = dirs.iter().map(|d| d.canonicalize().ok()).collect();
    for (j, b) in resolved.iter().enumerate() {
        let Some(b) = b else { continue };
        if let Some(i) = resolved[..j].iter().position(|a| a.as_ref() == Some(b)) {
            anyhow::bail!(
                "{} and {} are the same directory ({}): give each directory once",
                dirs[i].display(),
                dirs[j].display(),
                b.display()
            );
        }
    }
    Ok(())
}

/// A run directory's contribution: its label, summary and error series.
struct RunData {
    label: String,
    summary: RunSummary,
    series: Vec<Series>,
}

/// Reads what [`compare`] needs of a run directory.
fn read_run(d: &Path) -> anyhow::Result<RunData> {
    if !d.join("summary.json").exists() && d.join(crate::sweep::RECORDED_SWEEP).exists() {
        anyhow::bail!(
            "{} is a sweep that has not finished (no points.csv yet): complete it with `{}`",
            d.display(),
            crate::sweep::resume_command(&d.join(crate::sweep::RECORDED_SWEEP), d)
        );
    }
    if d.join(REPLAY_RECORD).exists() {
        anyhow::bail!("{}", replay_refused(d));
    }
    let summary = read_summary(d)?;
    let label = label_of(d, &summary.scenario);
    let clocks: Vec<&str> = summary.clocks.iter().map(|c| c.name.as_str()).collect();
    let series = read_errors(d, &clocks)?;
    Ok(RunData {
        label,
        summary,
        series,
    })
}

/// Prints the metrics table and writes `compare.csv` and overlaid plots to
/// `out`; each of `dirs` is a run or a sweep directory. Every input is read
/// first, and `out` appears only once every file is written, as a run's
/// output does: an existing `out` is refused unless `force` is set and it
/// holds a comparison (or nothing) and none of the inputs, so no file of an
/// earlier comparison is ever left beside the new ones.
pub fn compare(dirs: &[PathBuf], out: &Path, force: bool) -> anyhow::Result<String> {
    refuse_repeats(dirs)?;
    let (run_dirs, sweep_dirs): (Vec<&Path>, Vec<&Path>) = dirs
        .iter()
        .map(PathBuf::as_path)
        .partition(|d| !d.join("points.csv").exists() || d.join("summary.json").exists());
    let mut runs = run_dirs
        .iter()
        .map(|d| read_run(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let labels = distinct_labels(&run_dirs, runs.iter().map(|r| r.label.clone()).collect())?;
    for (run, label) in runs.iter_mut().zip(labels) {
        run.label = label;
    }
    let sweeps = sweep_dirs
        .iter()
        .map(|d| read_points(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let labels = sweep_dirs.iter().map(|d| label_of(d, "sweep")).collect();
    let sweeps: Vec<(String, SweepPoints)> = distinct_labels(&sweep_dirs, labels)?
        .into_iter()
        .zip(sweeps)
        .collect();
    let inputs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let staging = Staging::guarding(out, force, &inputs, COMPARE_MARKERS)?;
    let mut text = String::new();
    if !runs.is_empty() {
        text.push_str(&compare_runs(&runs, staging.dir())?);
    }
    if !sweeps.is_empty() {
        text.push_str(&compare_sweeps(&sweeps, staging.dir())?);
    }
    staging.commit()?;
    Ok(text)
}

/// The table of sweep points, one row per point and clock: the medians
/// over seeds of each clock's error statistics; then, when the sweeps have
/// live migrations or failovers, one row per point and migration (or
/// failover) with the medians of its own metrics, under their own headings.
/// Only the first `max_rows` rows are shown; returns the table and how
/// many rows were left out.
fn sweeps_table(sweeps: &[(String, SweepPoints)], max_rows: usize) -> (String, usize) {
    // Rows as (sweep, point, series, cells), formatted once the widths are
    // known: the clocks' rows, then one section per kind of move.
    let mut clock_rows: Vec<[String; 4]> = Vec::new();
    let mut sections: Vec<MoveSection> = Vec::new();
    for (label, sw) in sweeps {
        for (values, metrics) in &sw.rows {
            let short = sw.point_label(values);
            let get = |series: &str, m: &str| {
                metrics
                    .get(&(series.to_string(), m.to_string()))
                    .copied()
                    .unwrap_or(f64::NAN)
            };
            for clock in &sw.clocks {
                clock_rows.push([
                    label.clone(),
                    short.clone(),
                    clock.clone(),
                    ErrorStats::table_cells(
                        get(clock, "median_us"),
                        get(clock, "iqr_us"),
                        get(clock, "rms_us"),
                        get(clock, "max_abs_us"),
                    ),
                ]);
            }
            for (series, names) in &sw.moves {
                // `migrations[0]` is a migration.
                let kind = series.split('[').next().unwrap_or(series);
                let kind = kind.strip_suffix('s').unwrap_or(kind);
                let section = match sections
                    .iter()
                    .position(|s| s.kind == kind && s.metrics == *names)
                {
                    Some(i) => &mut sections[i],
                    None => {
                        sections.push(MoveSection::new(kind, names));
                        sections.last_mut().expect("just pushed")
                    }
                };
                let cells = section.cells(|m| get(series, m));
                section
                    .rows
                    .push([label.clone(), short.clone(), series.clone(), cells]);
            }
        }
    }
    let mut room = max_rows;
    let mut left_out = 0;
    for rows in std::iter::once(&mut clock_rows).chain(sections.iter_mut().map(|s| &mut s.rows)) {
        let keep = rows.len().min(room);
        left_out += rows.len() - keep;
        rows.truncate(keep);
        room -= keep;
    }
    sections.retain(|s| !s.rows.is_empty());
    let all = || {
        clock_rows
            .iter()
            .chain(sections.iter().flat_map(|s| &s.rows))
    };
    let w_sweep = column_width(all().map(|r| &r[0]), 20);
    let w_point = column_width(all().map(|r| &r[1]), 36);
    let mut table = String::new();
    let mut block = |third: &str, heading: &str, rows: &[[String; 4]]| {
        let w = column_width(rows.iter().map(|r| &r[2]).chain([&third.to_string()]), 20);
        table.push_str(&format!(
            "{:<w_sweep$} {:<w_point$} {third:<w$} {heading}\n",
            "sweep", "point"
        ));
        for [sweep, point, series, cells] in rows {
            table.push_str(&format!(
                "{sweep:<w_sweep$} {point:<w_point$} {series:<w$} {cells}\n"
            ));
        }
    };
    if !clock_rows.is_empty() || sections.is_empty() {
        block("clock", &ErrorStats::table_header(), &clock_rows);
    }
    for s in &sections {
        block(&s.kind, &s.header(), &s.rows);
    }
    table.push_str("(each cell: the median over the point's seeds of that statistic of a run)\n");
    (table, left_out)
}

/// The rows of the points table for one kind of move (migrations or
/// failovers) with one set of metrics.
struct MoveSection {
    /// `migration`, `failover`: the heading of the series column.
    kind: String,
    /// Metric names, in column order (`downtime_ms`, `total_s`).
    metrics: Vec<String>,
    /// (sweep, point, series, cells).
    rows: Vec<[String; 4]>,
}

impl MoveSection {
    fn new(kind: &str, metrics: &[String]) -> Self {
        MoveSection {
            kind: kind.to_string(),
            metrics: metrics.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Heading, width and decimals of each metric's column, as `vtsim run`
    /// prints a run's moves; a metric it does not know goes by its name.
    fn columns(&self) -> Vec<(String, usize, usize)> {
        self.metrics
            .iter()
            .map(|m| {
                let (heading, decimals) = match m.as_str() {
                    "downtime_ms" => ("down [ms]", 3),
                    "total_s" => ("total [s]", 3),
                    "tsc_jump_s" => ("TSC jump [s]", 6),
                    "max_log_lag_us" => ("log lag [µs]", 1),
                    other => (other, 3),
                };
                (
                    heading.to_string(),
                    heading.chars().count().max(10),
                    decimals,
                )
            })
            .collect()
    }

    fn header(&self) -> String {
        let headings: Vec<String> = self
            .columns()
            .into_iter()
            .map(|(h, w, _)| format!("{h:>w$}"))
            .collect();
        headings.join(" ")
    }

    /// The cells of one row, `get` giving each metric's value ("—" for none).
    fn cells(&self, get: impl Fn(&str) -> f64) -> String {
        let cells: Vec<String> = self
            .metrics
            .iter()
            .zip(self.columns())
            .map(|(m, (_, w, d))| match get(m) {
                v if v.is_nan() => format!("{:>w$}", "—"),
                v => format!("{v:>w$.d$}"),
            })
            .collect();
        cells.join(" ")
    }
}

/// The table [`compare`] prints for one finished sweep directory (its
/// `points.csv`), labelled `label`, cut to its first `max_rows` rows
/// (points × clocks, migrations and failovers); returns it and how many
/// rows were left out ([`compare`] prints them all).
pub fn sweep_table(dir: &Path, label: &str, max_rows: usize) -> anyhow::Result<(String, usize)> {
    let sw = read_points(dir)?;
    Ok(sweeps_table(&[(label.to_string(), sw)], max_rows))
}

/// `text` as one CSV cell: quoted (its quotes doubled) when it holds a
/// comma, a quote or a line break, as a directory or clock name may.
fn csv_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// The sweep part of [`compare`]: writes `compare_sweeps.csv` and one
/// overlaid plot per metric.
fn compare_sweeps(sweeps: &[(String, SweepPoints)], out: &Path) -> anyhow::Result<String> {
    let mut csv_text = String::from("sweep,point,clock,metric,median_over_seeds\n");
    for (label, sw) in sweeps {
        for (values, metrics) in &sw.rows {
            let point = sw.point_text(values);
            for ((clock, metric), v) in metrics {
                // A statistic without a value is an empty cell, as in
                // compare.csv.
                let v = if v.is_nan() {
                    String::new()
                } else {
                    v.to_string()
                };
                csv_text.push_str(&format!(
                    "{},{},{},{metric},{v}\n",
                    csv_cell(label),
                    csv_cell(&point),
                    csv_cell(clock)
                ));
            }
        }
    }
    let (table, _) = sweeps_table(sweeps, usize::MAX);
    crate::output::write_atomic(&out.join("compare_sweeps.csv"), csv_text.as_bytes())?;
    let mut metrics: Vec<String> = Vec::new();
    for (_, sw) in sweeps {
        for (_, m) in sw.rows.iter().flat_map(|(_, ms)| ms.keys()) {
            if !metrics.contains(m) {
                metrics.push(m.clone());
            }
        }
    }
    // Only sweeps along the same field share a plot.
    let mut axes: Vec<&str> = Vec::new();
    for (_, sw) in sweeps {
        let Some(a) = sw.axis else { continue };
        if !axes.contains(&sw.fields[a].as_str()) {
            axes.push(&sw.fields[a]);
        }
    }
    for axis in &axes {
        let group: Vec<_> = sweeps
            .iter()
            .filter(|(_, sw)| sw.axis.is_some_and(|a| sw.fields[a] == *axis))
            .collect();
        let suffix = if axes.len() == 1 {
            String::new()
        } else {
            let safe: String = axis
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            format!("_vs_{safe}")
        };
        for metric in metrics
            .iter()
            .filter(|m| !crate::sweep::UNPLOTTED_METRICS.contains(&m.as_str()))
        {
            overlay_metric(out, &group, axis, metric, &suffix)?;
        }
    }
    let mut text = table;
    for (label, sw) in sweeps.iter().filter(|(_, sw)| sw.axis.is_none()) {
        text.push_str(&format!(
            "{label}: not plotted: no varied field with values of its own is numeric ({})\n",
            sw.fields.join(", ")
        ));
    }
    Ok(text)
}

/// The line of one series of a sweep against its axis (a sweep without
/// one is not plotted):
/// per value of that field, the median of the points' medians over seeds
/// of `metric` (points that differ only in other fields share the value,
/// and are pooled as `vtsim sweep` pools them), in ascending order; and
/// whether any value pooled more than one point.
fn pooled_line(sw: &SweepPoints, series: &str, metric: &str) -> (Vec<(f64, f64)>, bool) {
    let key = (series.to_string(), metric.to_string());
    let mut by_x: std::collections::BTreeMap<u64, Vec<f64>> = std::collections::BTreeMap::new();
    for (values, ms) in &sw.rows {
        let Some(x) = sw
            .axis
            .and_then(|a| values[a].parse::<f64>().ok())
            .filter(|x| x.is_finite())
        else {
            continue;
        };
        if let Some(&y) = ms.get(&key).filter(|y| y.is_finite()) {
            // -0 and 0 are one value of the field.
            by_x.entry((x + 0.0).to_bits()).or_default().push(y);
        }
    }
    let pooled = by_x.values().any(|ys| ys.len() > 1);
    let mut points: Vec<(f64, f64)> = by_x
        .into_iter()
        .map(|(x, mut ys)| {
            ys.sort_by(f64::total_cmp);
            (f64::from_bits(x), crate::sweep::quantile(&ys, 0.5))
        })
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    (points, pooled)
}

/// One plot of `metric` (median over seeds) against `axis`, a line per
/// sweep of `group` and clock, the points of a sweep with other axes
/// pooled ([`pooled_line`]); nothing when no sweep has the metric.
fn overlay_metric(
    out: &Path,
    group: &[&(String, SweepPoints)],
    axis: &str,
    metric: &str,
    suffix: &str,
) -> anyhow::Result<()> {
    let mut pooled = false;
    let mut series: Vec<Series> = Vec::new();
    for (label, sw) in group {
        for clock in sw.series() {
            let (points, p) = pooled_line(sw, clock, metric);
            if !points.is_empty() {
                pooled |= p;
                series.push(Series {
                    name: format!("{label}/{clock}"),
                    points,
                });
            }
        }
    }
    if series.is_empty() {
        return Ok(());
    }
    // Sweeps over decades (poll periods, dirty rates) read best on log
    // axes, each axis judged by its own values.
    let decades = |axis: fn(&(f64, f64)) -> f64| {
        let (lo, hi, positive) = series
            .iter()
            .flat_map(|s| s.points.iter().map(axis))
            .fold((f64::INFINITY, 0.0f64, true), |(lo, hi, pos), v| {
                (lo.min(v), hi.max(v), pos && v > 0.0)
            });
        positive && hi >= 100.0 * lo
    };
    let y_label = if pooled {
        format!("{metric} (median over seeds; median over the other fields)")
    } else {
        format!("{metric} (median over seeds)")
    };
    line_chart(
        out,
        &format!("compare_{metric}{suffix}"),
        &LineChart {
            title: metric,
            x_label: axis,
            y_label: &y_label,
            series: &series,
            points: false,
            log_x: decades(|p| p.0),
            log_y: decades(|p| p.1),
        },
    )
    .map_err(|e| anyhow::anyhow!("plotting: {e}"))
}

/// The run part of [`compare`]: writes `compare.csv` and `compare_errors`.
/// A statistic without samples is an empty cell in `compare.csv` and "—"
/// in the table.
fn compare_runs(runs: &[RunData], out: &Path) -> anyhow::Result<String> {
    let clocks = || runs.iter().flat_map(|r| &r.summary.clocks);
    let w_run = column_width(runs.iter().map(|r| &r.label), 24);
    let w_clock = column_width(clocks().map(|c| &c.name), 24);
    let w_alg = column_width(clocks().map(|c| &c.algorithm), 12);
    let mut table = format!(
        "{:<w_run$} {:<w_clock$} {:<w_alg$} {}\n",
        "run",
        "clock",
        "algorithm",
        ErrorStats::table_header()
    );
    let mut csv_text =
        String::from("run,clock,algorithm,median_us,iqr_us,p01_us,p99_us,rms_us,max_abs_us\n");
    let mut series = Vec::new();
    // The text summary.json holds (shortest that reads back as the same f64).
    let num = |v: f64| {
        if v.is_finite() {
            serde_json::to_string(&v).unwrap_or_default()
        } else {
            String::new()
        }
    };
    for RunData {
        label,
        summary,
        series: run_series,
    } in runs
    {
        for c in &summary.clocks {
            let e = &c.error_us;
            table.push_str(&format!(
                "{label:<w_run$} {:<w_clock$} {:<w_alg$} {}\n",
                c.name,
                c.algorithm,
                e.cells()
            ));
            csv_text.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                csv_cell(label),
                csv_cell(&c.name),
                c.algorithm,
                num(e.median),
                num(e.iqr),
                num(e.p01),
                num(e.p99),
                num(e.rms),
                num(e.max_abs)
            ));
        }
        for s in run_series {
            series.push(Series {
                name: format!("{label}/{}", s.name),
                points: s.points.clone(),
            });
        }
    }
    crate::output::write_atomic(&out.join("compare.csv"), csv_text.as_bytes())?;
    if !series.is_empty() {
        error_chart(out, "compare_errors", "clock error", &series, &[])
            .map_err(|e| anyhow::anyhow!("plotting: {e}"))?;
    }
    // Runs that computed stability metrics: their curves overlaid.
    let stability: Vec<(String, &[StabilityPoint])> = runs
        .iter()
        .flat_map(|r| {
            r.summary
                .clocks
                .iter()
                .filter(|c| !c.stability.is_empty())
                .map(|c| (format!("{}/{}", r.label, c.name), c.stability.as_slice()))
        })
        .collect();
    if !stability.is_empty() {
        stability_plots(out, "compare_stability", "stability", &stability)?;
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, unique to this test.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vtsim-compare-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const POINTS: &str = "point,paths[0].asymmetry_us,rc.median_us.median,rc.median_us.q25,rc.median_us.q75,rc.rms_us.median,rc.rms_us.q25,rc.rms_us.q75\n\
        0,-100,-50,-51,-49,50.5,50,51\n\
        1,100,50,49,51,50.5,50,51\n";

    /// Two sweep directories, `a` and `b`, holding [`POINTS`].
    fn sweep_dirs(root: &Path) -> [PathBuf; 2] {
        ["a", "b"].map(|name| {
            let d = root.join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("points.csv"), POINTS).unwrap();
            d
        })
    }

    #[test]
    fn sweeps_are_compared_point_by_point_with_one_plot_per_metric() {
        let root = scratch("sweeps");
        let out = root.join("out");
        let table = compare(&sweep_dirs(&root), &out, false).unwrap();
        assert_eq!(table.lines().count(), 1 + 2 * 2 + 1, "{table}");
        assert!(table.contains("asymmetry_us=-100"), "{table}");
        assert!(table.contains("-50.000"), "{table}");
        let csv = std::fs::read_to_string(out.join("compare_sweeps.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 2 * 2 * 2, "{csv}");
        for metric in ["median_us", "rms_us"] {
            assert!(out.join(format!("compare_{metric}.png")).exists());
            let data =
                std::fs::read_to_string(out.join(format!("compare_{metric}_data.csv"))).unwrap();
            assert!(data.contains("a/rc") && data.contains("b/rc"), "{data}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn migrations_and_failovers_get_columns_of_their_own() {
        let root = scratch("moves");
        let d = root.join("s");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("points.csv"),
            "point,events[0].at_s,rc.median_us.median,rc.median_us.q25,rc.median_us.q75,\
             failovers[0].tsc_jump_s.median,failovers[0].tsc_jump_s.q25,failovers[0].tsc_jump_s.q75,\
             failovers[0].max_log_lag_us.median,failovers[0].max_log_lag_us.q25,failovers[0].max_log_lag_us.q75\n\
             0,300,1.5,1,2,4.991,4.991,4.991,55.25,55,56\n\
             1,600,2.5,2,3,4.982,4.982,4.982,NaN,NaN,NaN\n",
        )
        .unwrap();
        let (table, _) = sweep_table(&d, "f", 64).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        // The clock's header and rows, the failovers' header and rows, the note.
        assert_eq!(lines.len(), 1 + 2 + 1 + 2 + 1, "{table}");
        assert!(lines[3].contains("failover") && lines[3].contains("TSC jump [s]"));
        let words = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert!(
            words(lines[4]).ends_with(&["failovers[0]".into(), "4.991000".into(), "55.2".into()]),
            "{table}"
        );
        // A lag that does not exist is a dash; the jump that does is shown.
        assert!(
            words(lines[5]).ends_with(&["4.982000".into(), "—".into()]),
            "{table}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn same_named_fields_are_told_apart_by_their_paths() {
        assert_eq!(
            short_names(&[
                "daemons[0].algorithm.poll_period_s",
                "paths[0].asymmetry_us",
                "$busy_guests",
            ]),
            ["poll_period_s", "asymmetry_us", "$busy_guests"]
        );
        assert_eq!(
            short_names(&[
                "events[0].migration.cold_dirty_rate_mib_per_s",
                "events[1].migration.cold_dirty_rate_mib_per_s",
            ]),
            [
                "events[0].….cold_dirty_rate_mib_per_s",
                "events[1].….cold_dirty_rate_mib_per_s"
            ]
        );
        assert_eq!(
            short_names(&[
                "hosts[1].xen.host.guests[0].workload.busy_fraction",
                "hosts[1].xen.host.guests[1].workload.busy_fraction",
                "hosts[1].xen.host.guests[1].workload.rx_pps",
            ]),
            [
                "hosts[1].….guests[0].….busy_fraction",
                "hosts[1].….guests[1].….busy_fraction",
                "rx_pps"
            ]
        );
        // Paths that differ only in their depth are given in full.
        assert_eq!(short_names(&["a.x", "a.b.x"]), ["a.x", "a.b.x"]);
    }

    #[test]
    fn points_are_labelled_by_their_axes_not_by_linked_fields() {
        let root = scratch("labels");
        let d = root.join("s");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("points.csv"),
            "point,$busy_guests,hosts[1].xen.host.guests[0].workload.busy_fraction,\
             hosts[1].xen.host.guests[0].workload.rx_pps,hosts[1].xen.host.guests[1].workload.busy_fraction,\
             rc.median_us.median,rc.median_us.q25,rc.median_us.q75\n\
             0,0,0,0,0,1,1,1\n\
             1,2,0.25,500,0.25,2,2,2\n",
        )
        .unwrap();
        let linked = "Linked(to: \"$busy_guests\", transform: Step(above: 0, value: 0.25))";
        std::fs::write(
            d.join(crate::sweep::RECORDED_SWEEP),
            format!(
                "// The sweep as run.\nSweep(name: \"b\", base: \"base.ron\", vary: [\
                 (path: \"$busy_guests\", values: List([0, 2])),\
                 (path: \"hosts[1].xen.host.guests[0].workload.busy_fraction\", values: {linked}),\
                 (path: \"hosts[1].xen.host.guests[0].workload.rx_pps\", values: {linked}),\
                 (path: \"hosts[1].xen.host.guests[1].workload.busy_fraction\", values: {linked}),\
                 ])\n"
            ),
        )
        .unwrap();
        let (table, _) = sweep_table(&d, "b", 64).unwrap();
        let rows: Vec<&str> = table.lines().skip(1).take(2).collect();
        assert!(
            rows[0].starts_with("b                    $busy_guests=0 "),
            "{table}"
        );
        assert!(
            rows[1].starts_with("b                    $busy_guests=2 "),
            "{table}"
        );
        assert!(
            !table.contains("busy_fraction") && !table.contains("rx_pps"),
            "{table}"
        );
        // Without the recorded sweep every field is labelled, the two
        // busy fractions told apart.
        std::fs::remove_file(d.join(crate::sweep::RECORDED_SWEEP)).unwrap();
        let (table, _) = sweep_table(&d, "b", 64).unwrap();
        assert!(
            table.contains(
                "$busy_guests=2 hosts[1].….guests[0].….busy_fraction=0.25 rx_pps=500 \
                 hosts[1].….guests[1].….busy_fraction=0.25"
            ),
            "{table}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A run directory whose one clock has `error_us` as given (JSON), and
    /// two rows of errors.
    fn run_dir(root: &Path, name: &str, error_us: &str) -> PathBuf {
        let d = run_dir_of(root, name, &["c"], error_us);
        std::fs::write(d.join("errors.csv"), "t_s,c_error_us\n0,1.5\n60,-2\n").unwrap();
        d
    }

    /// A run directory's `summary.json` with `clocks`, each with
    /// `error_us`; no `errors.csv`.
    fn run_dir_of(root: &Path, name: &str, clocks: &[&str], error_us: &str) -> PathBuf {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let empty = r#"{"count": 0, "median": null, "iqr": null, "p01": null, "p99": null, "mean": null, "rms": null, "max_abs": null}"#;
        let clocks: Vec<String> = clocks
            .iter()
            .map(|c| {
                format!(
                    r#"{{"name": "{c}", "domain": "h", "algorithm": "naive",
                    "error_us": {error_us}, "error_at_exchange_us": {empty}, "host_rtt_us": {empty}}}"#
                )
            })
            .collect();
        std::fs::write(
            d.join("summary.json"),
            format!(
                r#"{{"scenario": "s", "seed": 1, "duration_s": 1.0, "version": "0", "events": 1,
                "clocks": [{}]}}"#,
                clocks.join(", ")
            ),
        )
        .unwrap();
        d
    }

    #[test]
    fn table_columns_fit_their_longest_cell() {
        let root = scratch("widths");
        let stats = r#"{"count": 1, "median": 1.0, "iqr": 0.0, "p01": 1.0, "p99": 1.0, "mean": 1.0, "rms": 1.0, "max_abs": 1.0}"#;
        let short = run_dir(&root, "a", stats);
        let long = run_dir(&root, "a-run-whose-name-is-longer-than-its-column", stats);
        let table = compare(&[short, long], &root.join("out"), false).unwrap();
        // The median column ends at the same character on every line.
        let ends: Vec<usize> = table
            .lines()
            .map(|l| {
                let head = l.find("median [µs]").map(|i| i + "median [µs]".len());
                let cell = l.find("1.000").map(|i| i + "1.000".len());
                l[..head.or(cell).unwrap()].chars().count()
            })
            .collect();
        assert!(ends.windows(2).all(|w| w[0] == w[1]), "{table}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn run_metrics_are_copied_exactly_and_missing_ones_shown_as_missing() {
        let root = scratch("runs");
        let exact = run_dir(
            &root,
            "exact",
            r#"{"count": 9, "median": 9.267430854691797, "iqr": 0.30000000000000004, "p01": 1e-300, "p99": 2.2250738585072014e-308, "mean": 1.0, "rms": 5e-324, "max_abs": 1.7976931348623157e308}"#,
        );
        let empty = run_dir(
            &root,
            "empty",
            r#"{"count": 0, "median": null, "iqr": null, "p01": null, "p99": null, "mean": null, "rms": null, "max_abs": null}"#,
        );
        let out = root.join("out");
        let table = compare(&[exact, empty], &out, false).unwrap();
        let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
        assert!(
            csv.contains(
                "exact,c,naive,9.267430854691797,0.30000000000000004,1e-300,2.2250738585072014e-308,5e-324,1.7976931348623157e+308\n"
            ),
            "{csv}"
        );
        assert!(csv.contains("empty,c,naive,,,,,,\n"), "{csv}");
        let row = table.lines().find(|l| l.starts_with("empty")).unwrap();
        assert_eq!(row.matches('—').count(), 4, "{table}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_new_comparison_replaces_the_old_one_whole_and_only_with_force() {
        let root = scratch("replace");
        let out = root.join("out");
        compare(&sweep_dirs(&root), &out, false).unwrap();
        assert!(out.join("compare_sweeps.csv").exists());
        let stats = r#"{"count": 1, "median": 1.0, "iqr": 0.0, "p01": 1.0, "p99": 1.0, "mean": 1.0, "rms": 1.0, "max_abs": 1.0}"#;
        let runs = [run_dir(&root, "r1", stats), run_dir(&root, "r2", stats)];
        let e = compare(&runs, &out, false).unwrap_err().to_string();
        assert!(e.contains("already exists") && e.contains("--force"), "{e}");
        compare(&runs, &out, true).unwrap();
        // Nothing of the sweeps' comparison is left beside the runs'.
        assert!(out.join("compare.csv").exists());
        assert!(!out.join("compare_sweeps.csv").exists());
        assert!(!out.join("compare_median_us.png").exists());
        // Nor does --force replace a directory that holds no comparison, or
        // one of the compared directories.
        let e = compare(&runs, &root.join("r1"), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("contains the input directory"), "{e}");
        let mine = root.join("mine");
        std::fs::create_dir_all(&mine).unwrap();
        std::fs::write(mine.join("notes.txt"), "keep").unwrap();
        let e = compare(&runs, &mine, true).unwrap_err().to_string();
        assert!(
            e.contains("holds no compare.csv or compare_sweeps.csv"),
            "{e}"
        );
        assert!(mine.join("notes.txt").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_failed_comparison_leaves_no_output() {
        let root = scratch("failed");
        let good = run_dir(&root, "good", r#"{"count": 0}"#);
        let out = root.join("out");
        let e = compare(&[good, root.join("none")], &out, false).unwrap_err();
        assert!(e.to_string().contains("none"), "{e}");
        assert!(!out.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_missing_or_garbled_errors_file_is_an_error_naming_it() {
        let root = scratch("errors");
        let stats = r#"{"count": 1, "median": 1.0, "iqr": 0.0, "p01": 1.0, "p99": 1.0, "mean": 1.0, "rms": 1.0, "max_abs": 1.0}"#;
        let good = run_dir(&root, "good", stats);
        let bad = run_dir(&root, "bad", stats);
        let out = root.join("out");
        let refused = |errors: Option<&str>| {
            match errors {
                Some(text) => std::fs::write(bad.join("errors.csv"), text).unwrap(),
                None => std::fs::remove_file(bad.join("errors.csv")).unwrap(),
            }
            let e = compare(&[good.clone(), bad.clone()], &out, false)
                .unwrap_err()
                .to_string();
            assert!(!out.exists(), "{e}");
            assert!(
                e.contains(&bad.join("errors.csv").display().to_string()),
                "{e}"
            );
            e
        };
        let e = refused(Some("t_s,c_error_us\n0,1.5\n60,x\n"));
        assert!(
            e.ends_with("line 3, column 2 (c_error_us): \"x\" is not a number"),
            "{e}"
        );
        let e = refused(Some("t_s,c_error_us\nsoon,1.5\n"));
        assert!(e.contains("line 2, column 1 (t_s)"), "{e}");
        let e = refused(Some("t_s,c_error_us\n0,1.5\n60\n"));
        assert!(e.ends_with("line 3 has 1 cell, the header 2"), "{e}");
        // Rows out of time order, or a time that is none.
        let e = refused(Some("t_s,c_error_us\n0,1.5\n60,1\n30,2\n"));
        assert!(
            e.ends_with(
                "line 4: t_s 30 is before the previous row's 60: rows must be in time order"
            ),
            "{e}"
        );
        let e = refused(Some("t_s,c_error_us\n0,1.5\nNaN,1\n"));
        assert!(
            e.ends_with("line 3, column 1 (t_s): NaN is not a time"),
            "{e}"
        );
        // Columns that are not the clocks of summary.json.
        for header in ["t_s,d_error_us", "t_s,c", "t_s,c_error_us,d_error_us"] {
            let e = refused(Some(&format!("{header}\n0,1.5,1\n")));
            assert!(
                e.contains("are not those of the clocks in")
                    && e.contains(&bad.join("summary.json").display().to_string())
                    && e.contains("(c_error_us)"),
                "{e}"
            );
        }
        let e = refused(Some(""));
        assert!(e.contains("is empty"), "{e}");
        let e = refused(None);
        assert!(e.contains("is missing"), "{e}");
        // A first column that is not true time is no run's error series.
        let e = refused(Some("time,c_error_us\n0,1.5\n"));
        assert!(
            e.contains("the first column is \"time\", not \"t_s\""),
            "{e}"
        );
        // An empty cell is an error that does not exist: no reason to
        // refuse the run.
        std::fs::write(bad.join("errors.csv"), "t_s,c_error_us\n0,1.5\n60,\n").unwrap();
        compare(&[good, bad], &out, false).unwrap();
        let data = std::fs::read_to_string(out.join("compare_errors_data.csv")).unwrap();
        assert!(data.contains("bad/c,0,1.5"), "{data}");
        assert!(!data.contains("bad/c,0.01"), "{data}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_clock_named_like_a_column_is_plotted_apart() {
        let root = scratch("suffix");
        let stats = r#"{"count": 1, "median": 1.0, "iqr": 0.0, "p01": 1.0, "p99": 1.0, "mean": 1.0, "rms": 1.0, "max_abs": 1.0}"#;
        let run = run_dir_of(&root, "r", &["naive", "naive_error_us"], stats);
        std::fs::write(
            run.join("errors.csv"),
            "t_s,naive_error_us,naive_error_us_error_us\n0,1,2\n60,3,4\n",
        )
        .unwrap();
        let out = root.join("out");
        compare(std::slice::from_ref(&run), &out, false).unwrap();
        let data = std::fs::read_to_string(out.join("compare_errors_data.csv")).unwrap();
        assert!(
            data.contains("\nr/naive,0,1\n") && data.contains("\nr/naive_error_us,0,2\n"),
            "{data}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_replay_is_refused_naming_it_and_why() {
        let root = scratch("replay");
        let stats = r#"{"count": 1, "median": 1.0, "iqr": 0.0, "p01": 1.0, "p99": 1.0, "mean": 1.0, "rms": 1.0, "max_abs": 1.0}"#;
        let run = run_dir(&root, "run", stats);
        // What `vtsim replay` writes: no probe-grid error, and its errors
        // against the counter reading `tf`, in ticks.
        let replay = run_dir(&root, "replay", r#"{"count": 0}"#);
        std::fs::write(
            replay.join("errors.csv"),
            "tf,error_us\n1338724,190.7\n6001317814,27.8\n",
        )
        .unwrap();
        std::fs::write(replay.join("replay.ron"), "Replay()").unwrap();
        let out = root.join("out");
        for inputs in [vec![run.clone(), replay.clone()], vec![replay.clone()]] {
            let e = compare(&inputs, &out, false).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "{} is the output of `vtsim replay`",
                    replay.display()
                )) && e.contains("counter reading `tf`")
                    && e.contains("error_at_exchange_us"),
                "{e}"
            );
            assert!(!out.exists());
        }
        // Known by its errors.csv too, should replay.ron be gone.
        std::fs::remove_file(replay.join("replay.ron")).unwrap();
        let e = compare(&[run, replay.clone()], &out, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is the output of `vtsim replay`"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_same_directory_given_twice_is_refused_however_spelt() {
        let root = scratch("twice");
        let stats = r#"{"count": 1, "median": 1.0, "iqr": 0.0, "p01": 1.0, "p99": 1.0, "mean": 1.0, "rms": 1.0, "max_abs": 1.0}"#;
        let run = run_dir(&root, "A/run", stats);
        let other = run_dir(&root, "B/run", stats);
        let out = root.join("out");
        let spellings = [
            PathBuf::from(format!("{}/", run.display())),
            root.join("A/./run"),
            root.join("B/../A/run"),
        ];
        for again in spellings {
            let e = compare(&[run.clone(), other.clone(), again.clone()], &out, false)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!(
                    "{} and {} are the same directory",
                    run.display(),
                    again.display()
                )),
                "{e}"
            );
            assert!(!out.exists());
        }
        // Sweeps alike.
        let [a, _] = sweep_dirs(&root);
        let e = compare(&[a.clone(), a.join(".")], &out, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("are the same directory"), "{e}");
        compare(&[run, other], &out, false).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_sweep_with_several_axes_is_plotted_pooled_over_the_others() {
        // Asymmetry × poll period, in grid order: plotted by row against
        // the asymmetry, the line would zig-zag through all six points.
        let root = scratch("pooled");
        let d = root.join("s");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("points.csv"),
            "point,paths[0].asymmetry_us,daemons[0].algorithm.poll_period_s,\
             rc.median_us.median,rc.median_us.q25,rc.median_us.q75\n\
             0,-100,16,1,0,2\n\
             1,-100,64,8,7,9\n\
             2,-100,256,3,2,4\n\
             3,100,16,40,39,41\n\
             4,100,64,10,9,11\n\
             5,100,256,20,19,21\n",
        )
        .unwrap();
        let out = root.join("out");
        compare(std::slice::from_ref(&d), &out, false).unwrap();
        let data = std::fs::read_to_string(out.join("compare_median_us_data.csv")).unwrap();
        let lines: Vec<&str> = data.lines().collect();
        // One point per asymmetry: the median of the three poll periods'.
        assert_eq!(
            lines,
            [
                "series,paths[0].asymmetry_us,median_us (median over seeds; median over the other fields)",
                "s/rc,-100,3",
                "s/rc,100,20",
            ],
            "{data}"
        );
        // A sweep with one axis is plotted as it is.
        let out = root.join("out-one");
        compare(&sweep_dirs(&root), &out, false).unwrap();
        let data = std::fs::read_to_string(out.join("compare_median_us_data.csv")).unwrap();
        assert!(data.starts_with("series,paths[0].asymmetry_us,median_us (median over seeds)\n"));
        assert!(data.contains("a/rc,-100,-50\na/rc,100,50\n"), "{data}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_stability_tau_is_tabulated_but_not_plotted() {
        let root = scratch("tau");
        let d = root.join("s");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("points.csv"),
            "point,paths[0].asymmetry_us,rc.median_us.median,rc.median_us.q25,rc.median_us.q75,\
             rc.tdev_us.median,rc.tdev_us.q25,rc.tdev_us.q75,\
             rc.stability_tau_s.median,rc.stability_tau_s.q25,rc.stability_tau_s.q75\n\
             0,-100,-50,-51,-49,0.5,0.4,0.6,640,640,640\n\
             1,100,50,49,51,0.7,0.6,0.8,640,640,640\n",
        )
        .unwrap();
        let out = root.join("out");
        compare(std::slice::from_ref(&d), &out, false).unwrap();
        assert!(out.join("compare_tdev_us.png").exists());
        assert!(!out.join("compare_stability_tau_s.png").exists());
        let csv = std::fs::read_to_string(out.join("compare_sweeps.csv")).unwrap();
        assert!(csv.contains(",rc,stability_tau_s,640\n"), "{csv}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_unfinished_sweep_is_named_as_such() {
        let root = scratch("unfinished");
        let sweep = root.join("sw");
        std::fs::create_dir_all(&sweep).unwrap();
        std::fs::write(sweep.join("results.csv"), "run,point,seed\n").unwrap();
        std::fs::write(sweep.join("sweep.ron"), "Sweep()").unwrap();
        let e = compare(&[sweep], &root.join("out"), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is a sweep that has not finished") && e.contains("--resume"),
            "{e}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn string_values_label_their_points() {
        let root = scratch("strings");
        let d = root.join("s");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("points.csv"),
            "point,daemons[0].counter,rc.median_us.median,rc.median_us.q25,rc.median_us.q75\n\
             0,\"Tsc\",1,1,1\n\
             1,\"Hpet\",2,2,2\n",
        )
        .unwrap();
        let (table, _) = sweep_table(&d, "s", 64).unwrap();
        assert!(
            table.contains("counter=Tsc ") && table.contains("counter=Hpet "),
            "{table}"
        );
        let out = root.join("out");
        compare(std::slice::from_ref(&d), &out, false).unwrap();
        let csv = std::fs::read_to_string(out.join("compare_sweeps.csv")).unwrap();
        assert!(csv.contains(",daemons[0].counter=Hpet,"), "{csv}");
        assert!(!csv.contains("NaN"), "{csv}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_sweep_is_plotted_against_its_first_numeric_field() {
        let root = scratch("numeric-axis");
        let d = root.join("s");
        std::fs::create_dir_all(&d).unwrap();
        // The counter varies first, then the asymmetry: one point per
        // asymmetry, and one (between NaNs) that is alone.
        std::fs::write(
            d.join("points.csv"),
            "point,daemons[0].counter,paths[0].asymmetry_us,rc.median_us.median,rc.median_us.q25,rc.median_us.q75\n\
             0,Tsc,-100,1,1,1\n\
             1,Tsc,0,NaN,NaN,NaN\n\
             2,Tsc,100,3,3,3\n\
             3,Tsc,200,NaN,NaN,NaN\n",
        )
        .unwrap();
        let out = root.join("out");
        let text = compare(std::slice::from_ref(&d), &out, false).unwrap();
        assert!(!text.contains("not plotted"), "{text}");
        let data = std::fs::read_to_string(out.join("compare_median_us_data.csv")).unwrap();
        assert_eq!(
            data,
            "series,paths[0].asymmetry_us,median_us (median over seeds)\ns/rc,-100,1\ns/rc,100,3\n"
        );
        let csv = std::fs::read_to_string(out.join("compare_sweeps.csv")).unwrap();
        assert!(
            csv.contains(",rc,median_us,\n") && !csv.contains("NaN"),
            "{csv}"
        );
        // Without a numeric field, nothing to plot against, and it says so.
        std::fs::write(
            d.join("points.csv"),
            "point,daemons[0].counter,rc.median_us.median,rc.median_us.q25,rc.median_us.q75\n\
             0,Tsc,1,1,1\n\
             1,Hpet,2,2,2\n",
        )
        .unwrap();
        let text = compare(std::slice::from_ref(&d), &out, true).unwrap();
        assert!(
            text.ends_with("s: not plotted: no varied field with values of its own is numeric (daemons[0].counter)\n"),
            "{text}"
        );
        assert!(!out.join("compare_median_us.png").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn csv_cells_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_cell("run"), "run");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn inputs_of_the_same_name_are_told_apart_by_their_parents() {
        let root = scratch("same-name");
        let stats = r#"{"count": 1, "median": 1.0, "iqr": 0.0, "p01": 1.0, "p99": 1.0, "mean": 1.0, "rms": 1.0, "max_abs": 1.0}"#;
        let runs = [
            run_dir(&root, "A/run", stats),
            run_dir(&root, "B/run", stats),
        ];
        let out = root.join("out");
        let table = compare(&runs, &out, false).unwrap();
        assert!(
            table.lines().any(|l| l.starts_with("A/run "))
                && table.lines().any(|l| l.starts_with("B/run ")),
            "{table}"
        );
        let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
        assert!(
            csv.contains("\nA/run,c,") && csv.contains("\nB/run,c,"),
            "{csv}"
        );
        let data = std::fs::read_to_string(out.join("compare_errors_data.csv")).unwrap();
        assert!(
            data.contains("A/run/c,") && data.contains("B/run/c,"),
            "{data}"
        );
        // Sweeps alike.
        let sweeps = ["x/s", "y/s"].map(|name| {
            let d = root.join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("points.csv"), POINTS).unwrap();
            d
        });
        let out = root.join("out-sweeps");
        let table = compare(&sweeps, &out, false).unwrap();
        assert!(
            table.contains("\nx/s ") && table.contains("\ny/s "),
            "{table}"
        );
        let data = std::fs::read_to_string(out.join("compare_rms_us_data.csv")).unwrap();
        assert!(
            data.contains("x/s/rc,") && data.contains("y/s/rc,"),
            "{data}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn labels_grow_only_as_far_as_they_must() {
        let labels = |dirs: &[&str], first: &[&str]| {
            let dirs: Vec<&Path> = dirs.iter().map(Path::new).collect();
            distinct_labels(&dirs, first.iter().map(|l| l.to_string()).collect())
        };
        assert_eq!(
            labels(
                &["/r/a/x/run", "/r/b/x/run", "/r/c/y"],
                &["run", "run", "y"]
            )
            .unwrap(),
            ["a/x/run", "b/x/run", "y"]
        );
        // A directory without a last name is labelled by what it holds;
        // should that collide, by its path.
        assert_eq!(
            labels(&[".", "tiny"], &["tiny", "tiny"]).unwrap(),
            [".", "tiny"]
        );
        let e = labels(&["a/run", "a/run"], &["run", "run"]).unwrap_err();
        assert!(
            e.to_string().contains("a/run is given more than once"),
            "{e}"
        );
    }

    #[test]
    fn a_points_cell_that_is_not_a_number_is_an_error_naming_it() {
        let root = scratch("garbage");
        let d = root.join("s");
        std::fs::create_dir_all(&d).unwrap();
        let file = d.join("points.csv");
        for (cell, heading) in [
            ("garbage", "rc.median_us.median"),
            ("", "rc.median_us.median"),
        ] {
            std::fs::write(
                &file,
                POINTS.replace("1,100,50,", &format!("1,100,{cell},")),
            )
            .unwrap();
            let e = compare(std::slice::from_ref(&d), &root.join("out"), false)
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                format!(
                    "{}: line 3, column 3 ({heading}): {cell:?} is not a number (or NaN)",
                    file.display()
                )
            );
            assert!(!root.join("out").exists());
        }
        // NaN is a statistic without a value: shown as one.
        std::fs::write(&file, POINTS.replace("1,100,50,", "1,100,NaN,")).unwrap();
        let (table, _) = sweep_table(&d, "s", 64).unwrap();
        assert!(table.contains("—"), "{table}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_points_file_without_varied_fields_is_an_error() {
        let root = scratch("bad");
        std::fs::write(root.join("points.csv"), "point,rc.rms_us.median\n0,1\n").unwrap();
        let e = compare(std::slice::from_ref(&root), &root.join("out"), false).unwrap_err();
        assert!(e.to_string().contains("no varied field columns"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
