//! Comparing finished runs: metrics side by side and overlaid error plots.

use std::path::{Path, PathBuf};

use crate::plot::{LineChart, Series, line_chart};
use crate::run::RunSummary;

/// Reads `summary.json` of a run directory.
pub fn read_summary(dir: &Path) -> anyhow::Result<RunSummary> {
    let p = dir.join("summary.json");
    let text = std::fs::read_to_string(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

/// Reads `errors.csv` of a run: (hours, µs) per clock column.
fn read_errors(dir: &Path) -> anyhow::Result<Vec<Series>> {
    let p = dir.join("errors.csv");
    let mut rdr =
        csv::Reader::from_path(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    let names: Vec<String> = rdr
        .headers()?
        .iter()
        .skip(1)
        .map(|h| h.trim_end_matches("_error_us").to_string())
        .collect();
    let mut cols: Vec<Vec<(f64, f64)>> = vec![Vec::new(); names.len()];
    for rec in rdr.records() {
        let rec = rec?;
        let t: f64 = rec.get(0).and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
        for (i, col) in cols.iter_mut().enumerate() {
            if let Some(v) = rec.get(i + 1).and_then(|s| s.parse::<f64>().ok()) {
                col.push((t / 3600.0, v));
            }
        }
    }
    Ok(names
        .into_iter()
        .zip(cols)
        .map(|(name, points)| Series { name, points })
        .collect())
}

/// Prints the metrics table and writes `compare.csv` and overlaid plots to `out`.
pub fn compare(dirs: &[PathBuf], out: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(out)?;
    let mut table = format!(
        "{:<24} {:<24} {:<12} {:>12} {:>10} {:>10} {:>12}\n",
        "run", "clock", "algorithm", "median [µs]", "IQR [µs]", "RMS [µs]", "max|e| [µs]"
    );
    let mut csv_text =
        String::from("run,clock,algorithm,median_us,iqr_us,p01_us,p99_us,rms_us,max_abs_us\n");
    let mut series = Vec::new();
    for d in dirs {
        let s = read_summary(d)?;
        let label = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| s.scenario.clone());
        for c in &s.clocks {
            let e = &c.error_us;
            table.push_str(&format!(
                "{:<24} {:<24} {:<12} {:>12.3} {:>10.3} {:>10.3} {:>12.3}\n",
                label, c.name, c.algorithm, e.median, e.iqr, e.rms, e.max_abs
            ));
            csv_text.push_str(&format!(
                "{label},{},{},{},{},{},{},{},{}\n",
                c.name, c.algorithm, e.median, e.iqr, e.p01, e.p99, e.rms, e.max_abs
            ));
        }
        if d.join("errors.csv").exists() {
            for s in read_errors(d)? {
                series.push(Series {
                    name: format!("{label}/{}", s.name),
                    points: s.points,
                });
            }
        }
    }
    crate::output::write_atomic(&out.join("compare.csv"), csv_text.as_bytes())?;
    if !series.is_empty() {
        line_chart(
            out,
            "compare_errors",
            &LineChart {
                title: "clock error",
                x_label: "true time [h]",
                y_label: "clock error [µs]",
                series: &series,
                points: false,
                log_log: false,
            },
        )
        .map_err(|e| anyhow::anyhow!("plotting: {e}"))?;
    }
    Ok(table)
}
