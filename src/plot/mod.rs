//! Plots with one look: the same font (embedded, so no system font library
//! is needed), units on every axis, one colour per clock. Every plot is
//! written as PNG and SVG, and its data as CSV so anyone can redraw it.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The embedded font is valid TTF; registration cannot fail for it.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Pixel size of a single-panel figure.
const SIZE: (u32, u32) = (1000, 560);

/// Renders `$chart` with `$draw` (a drawing function generic over the
/// plotters backend) to `<$stem>.png` and `<$stem>.svg` in `$dir`, `$size`
/// pixels, with the embedded font registered first. A macro because the
/// drawing function is instantiated once per backend.
macro_rules! png_and_svg {
    ($dir:expr, $stem:expr, $draw:path, $chart:expr, $size:expr) => {{
        $crate::plot::register_font();
        let png = $dir.join(format!("{}.png", $stem));
        let svg = $dir.join(format!("{}.svg", $stem));
        // An error names the file (a full disk, say, is no drawing error).
        $crate::plot::drawn_into(&png, |p| {
            $draw(
                plotters::prelude::BitMapBackend::new(p, $size).into_drawing_area(),
                $chart,
            )
            .map_err(|e| e.to_string())
        })
        .map_err(|e| format!("{}: {e}", png.display()))
        .and_then(|()| {
            $crate::plot::drawn_into(&svg, |p| {
                $draw(
                    plotters::prelude::SVGBackend::new(p, $size).into_drawing_area(),
                    $chart,
                )
                .map_err(|e| e.to_string())
            })
            .map_err(|e| format!("{}: {e}", svg.display()))
        })
    }};
}

/// Runs `draw` on a temporary file beside `path`, then renames it to
/// `path`. A sweep draws its plots straight into its output directory (a
/// run into a staging directory), so a draw that fails part-way (a full
/// disk) must leave no half-written plot there, nor replace a whole one.
/// The temporary name keeps the extension, from which the PNG backend
/// takes the format.
fn drawn_into(path: &Path, draw: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), String> {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let tmp = path.with_file_name(format!(".tmp-{name}"));
    draw(&tmp)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

mod errors;
pub use errors::{Mark, error_chart};

/// The palette: colour-blind-friendly (Okabe–Ito), assigned by series order.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// One named series of (x, y) points.
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// A line chart: title, axis labels (with units), series.
pub struct LineChart<'a> {
    /// Title.
    pub title: &'a str,
    /// X-axis label, with unit.
    pub x_label: &'a str,
    /// Y-axis label, with unit.
    pub y_label: &'a str,
    /// Series to draw.
    pub series: &'a [Series],
    /// Draw points instead of lines (for sparse data).
    pub points: bool,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis (both axes for Allan-type plots; y alone for
    /// series spanning decades that a linear axis would flatten).
    pub log_y: bool,
}

/// Axis ranges of the drawable points ([`axis_range`] of each axis).
fn bounds(series: &[Series], log_x: bool, log_y: bool) -> ((f64, f64), (f64, f64)) {
    let drawn = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|&&(x, y)| drawable(x, y, log_x, log_y))
    };
    (
        axis_range(drawn().map(|p| p.0), log_x),
        axis_range(drawn().map(|p| p.1), log_y),
    )
}

/// Draws a chart's legend in the figures' one style, at `position`.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())
}

/// A legend entry: a short thick line in `color`.
fn legend_line(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
}

/// A point can be drawn: finite, and positive on a log axis.
fn drawable(x: f64, y: f64, log_x: bool, log_y: bool) -> bool {
    x.is_finite() && y.is_finite() && (!log_x || x > 0.0) && (!log_y || y > 0.0)
}

/// The pieces of the polyline through `points` that can be drawn: a point
/// that cannot ([`drawable`]: no value, or not positive on a log axis)
/// breaks the line, as in the error figure, instead of being bridged by a
/// segment that suggests values in between. A piece of one point (a sweep
/// of one value, a value between two gaps) is kept: it is drawn as a
/// marker, as a line through it would draw nothing.
fn drawable_runs(points: &[(f64, f64)], log_x: bool, log_y: bool) -> Vec<Vec<(f64, f64)>> {
    points
        .split(|&(x, y)| !drawable(x, y, log_x, log_y))
        .filter(|run| !run.is_empty())
        .map(<[(f64, f64)]>::to_vec)
        .collect()
}

/// A chart builder with the figures' title font, margin and label areas.
fn titled<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(72);
    builder
}

/// Draws `$chart`'s mesh in the figures' one style, with short tick labels
/// (plotters' own print 2·10⁷ as "20000000.0", which runs into the axis
/// title). A macro because the mesh's type depends on the axes'.
macro_rules! styled_mesh {
    ($chart:expr, $x_label:expr, $y_label:expr) => {
        $chart
            .configure_mesh()
            .x_desc($x_label)
            .y_desc($y_label)
            .x_label_formatter(&|v| tick_text(*v))
            .y_label_formatter(&|v| tick_text(*v))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| e.to_string())
    };
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    c: &LineChart,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let ((x0, x1), (y0, y1)) = bounds(c.series, c.log_x, c.log_y);
    let mut builder = titled(&root, c.title);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            styled_mesh!(chart, c.x_label, c.y_label)?;
            for (i, s) in c.series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let anno = if c.points {
                    let pts = s
                        .points
                        .iter()
                        .copied()
                        .filter(|&(x, y)| drawable(x, y, c.log_x, c.log_y));
                    chart
                        .draw_series(pts.map(|p| Circle::new(p, 2, color.filled())))
                        .map_err(|e| e.to_string())?
                } else {
                    for run in drawable_runs(&s.points, c.log_x, c.log_y) {
                        if let [alone] = run[..] {
                            chart
                                .draw_series(std::iter::once(Circle::new(alone, 3, color.filled())))
                                .map_err(|e| e.to_string())?;
                        } else {
                            chart
                                .draw_series(LineSeries::new(run, color.stroke_width(2)))
                                .map_err(|e| e.to_string())?;
                        }
                    }
                    // The legend entry once, whatever the number of pieces.
                    chart
                        .draw_series(LineSeries::new(std::iter::empty(), color))
                        .map_err(|e| e.to_string())?
                };
                anno.label(s.name.clone()).legend(legend_line(color));
            }
            if !c.series.is_empty() {
                draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
            }
        }};
    }
    match (c.log_x, c.log_y) {
        (false, false) => finish!(
            builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| e.to_string())?
        ),
        (false, true) => finish!(
            builder
                .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                .map_err(|e| e.to_string())?
        ),
        (true, false) => finish!(
            builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(|e| e.to_string())?
        ),
        (true, true) => finish!(
            builder
                .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
                .map_err(|e| e.to_string())?
        ),
    }
    root.present().map_err(|e| e.to_string())
}

/// Writes `<stem>.png`, `<stem>.svg` and `<stem>_data.csv` (long format:
/// series,x,y) in `dir`.
pub fn line_chart(dir: &Path, stem: &str, chart: &LineChart) -> Result<(), String> {
    png_and_svg!(dir, stem, draw, chart, SIZE)?;
    write_line_data(dir, stem, chart)
}

/// Writes `<stem>_data.csv` (long format: series,x,y) of a line chart.
/// A point without a finite value (NaN: a clock without a value) is left
/// out, as the error figure's data leaves it out ([`Thinned`]); the figure
/// shows it as a gap.
pub(crate) fn write_line_data(dir: &Path, stem: &str, chart: &LineChart) -> Result<(), String> {
    let path = dir.join(format!("{stem}_data.csv"));
    let named = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let mut w = csv::Writer::from_path(&path).map_err(|e| named(&e))?;
    w.write_record(["series", chart.x_label, chart.y_label])
        .map_err(|e| named(&e))?;
    for s in chart.series {
        for (x, y) in s
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
        {
            w.write_record([s.name.as_str(), &x.to_string(), &y.to_string()])
                .map_err(|e| named(&e))?;
        }
    }
    w.flush().map_err(|e| named(&e))
}

/// One line with a shaded band around it: a median over seeds and its
/// interquartile range, say.
pub struct BandSeries {
    /// Legend label.
    pub name: String,
    /// Points: (x, y, band low, band high).
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// Lines with shaded bands, one colour per series (line and band alike),
/// each axis linear or logarithmic.
pub struct BandChart<'a> {
    /// Title.
    pub title: &'a str,
    /// X-axis label, with unit.
    pub x_label: &'a str,
    /// Y-axis label, with unit.
    pub y_label: &'a str,
    /// What the bands are, for the legend (e.g. "IQR over seeds"); `None`
    /// draws no bands.
    pub band_label: Option<&'a str>,
    /// Series to draw.
    pub series: &'a [BandSeries],
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Column names of the CSV: x, y, band low, band high.
    pub columns: [&'a str; 4],
}

/// Axis range of finite values (positive ones on a logarithmic axis), padded
/// on a linear axis and widened when empty or flat.
fn axis_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if !lo.is_finite() {
        (if log { 1e-3 } else { 0.0 }, 1.0)
    } else if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        if log {
            (lo / 2.0, hi * 2.0)
        } else {
            (lo - 1.0, hi + 1.0)
        }
    } else if log {
        // A little room so the end points do not sit on the frame: 3 % of
        // the range in decades (reckoned in decades where the ratio
        // overflows).
        let ratio = hi / lo;
        let r = if ratio.is_finite() {
            ratio.powf(0.03)
        } else {
            10f64.powf(0.03 * (hi.log10() - lo.log10()))
        };
        (lo / r, hi * r)
    } else {
        // 5 % of each end apart: the difference itself may overflow.
        let pad = 0.05 * hi - 0.05 * lo;
        (lo - pad, hi + pad)
    };
    plottable(lo, hi, log)
}

/// Largest magnitude of an axis bound, and the reciprocal of the smallest
/// positive bound of a logarithmic axis. Plotters steps its ticks by
/// powers of ten of the span and ten times them: near `f64::MAX` these
/// overflow to infinity and its tick loop never ends. Values beyond are
/// drawn cut at the frame's edge.
const AXIS_LIMIT: f64 = 1e300;

/// `(lo, hi)` as an axis range plotters can divide into ticks: finite,
/// within ±[`AXIS_LIMIT`] (positive and within its reciprocal on a
/// logarithmic axis), and with `hi` above `lo` (widened around a single
/// value, which rounding or the limit may have left). A bound that is NaN
/// (nothing to frame) is taken as the unit range's.
pub(crate) fn plottable(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    let (min, max) = if log {
        (1.0 / AXIS_LIMIT, AXIS_LIMIT)
    } else {
        (-AXIS_LIMIT, AXIS_LIMIT)
    };
    let bound = |v: f64, fallback: f64| {
        if v.is_nan() {
            fallback
        } else {
            v.clamp(min, max)
        }
    };
    let (a, b) = (bound(lo, if log { 1e-3 } else { 0.0 }), bound(hi, 1.0));
    let (lo, hi) = (a.min(b), a.max(b));
    if log {
        if hi > lo * (1.0 + 1e-9) {
            (lo, hi)
        } else if hi < max / 10.0 {
            (lo, hi * 10.0)
        } else {
            (lo / 10.0, hi)
        }
    } else {
        let magnitude = lo.abs().max(hi.abs());
        if hi - lo > 1e-9 * magnitude {
            (lo, hi)
        } else {
            let half = (1e-3 * magnitude).max(1e-3);
            ((lo - half).max(min), (hi + half).min(max))
        }
    }
}

/// Tick label text: at most 4 significant digits, no trailing zeros
/// (`1000`, `0.25`, `1.5e-6`).
pub(crate) fn tick_text(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let rounded: f64 = format!("{v:.3e}").parse().unwrap_or(v);
    if (1e-4..1e7).contains(&rounded.abs()) {
        format!("{rounded}")
    } else {
        format!("{rounded:e}")
    }
}

/// Labelled ticks of a logarithmic axis from `lo` to `hi`: the values in
/// `at` if there are 2 to 12 distinct ones, each with at most 4 significant
/// digits (a sweep's grid; then `true`),
/// else 1-2-5 steps per decade, thinned to at most 12.
fn log_ticks(lo: f64, hi: f64, at: &[f64]) -> (Vec<f64>, bool) {
    let mut distinct: Vec<f64> = at
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x >= lo && *x <= hi)
        .collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let round = |x: &f64| format!("{x:.3e}").parse::<f64>() == Ok(*x);
    if (2..=12).contains(&distinct.len()) && distinct.iter().all(round) {
        return (distinct, true);
    }
    let decades = |mantissas: &[f64]| -> Vec<f64> {
        let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (first..=last)
            .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .map(|v| format!("{v:.3e}").parse().unwrap_or(v))
            .filter(|v| *v >= lo && *v <= hi)
            .collect()
    };
    let ticks = decades(&[1.0, 2.0, 5.0]);
    if (3..=12).contains(&ticks.len()) {
        return (ticks, false);
    }
    if ticks.len() > 12 {
        let ticks = decades(&[1.0]);
        let step = ticks.len().div_ceil(12);
        return (ticks.into_iter().step_by(step).collect(), false);
    }
    let ticks = decades(&[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]);
    if ticks.len() >= 2 {
        return (ticks, false);
    }
    // Less than a decade with at most one round value in it: the ends.
    (vec![lo, hi], false)
}

/// Unlabelled grid lines of a logarithmic axis: 1..9 times each power of 10.
fn log_light_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    if last - first > 12 {
        return Vec::new();
    }
    (first..=last)
        .flat_map(|e| (1..10).map(move |m| f64::from(m) * 10f64.powi(e)))
        .filter(|v| *v >= lo && *v <= hi)
        .collect()
}

/// The corner of the plot area where the legend hides the least: the one
/// whose box (a third of the width, a third of the height) the lines and
/// bands cross least, sampled along every segment. Ties keep the order
/// upper left, upper right, lower right, lower left.
fn emptiest_corner(c: &BandChart, xr: (f64, f64), yr: (f64, f64)) -> SeriesLabelPosition {
    let norm = |v: f64, (lo, hi): (f64, f64), log: bool| {
        if log {
            (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (v - lo) / (hi - lo)
        }
    };
    let corners = [
        (SeriesLabelPosition::UpperLeft, 0.0..0.34, 0.66..1.0),
        (SeriesLabelPosition::UpperRight, 0.66..1.0, 0.66..1.0),
        (SeriesLabelPosition::LowerRight, 0.66..1.0, 0.0..0.34),
        (SeriesLabelPosition::LowerLeft, 0.0..0.34, 0.0..0.34),
    ];
    let mut hits = [0usize; 4];
    for s in c.series {
        let mut pts: Vec<(f64, f64, f64, f64)> = s
            .points
            .iter()
            .map(|p| {
                (
                    norm(p.0, xr, c.log_x),
                    norm(p.1, yr, c.log_y),
                    norm(p.2, yr, c.log_y),
                    norm(p.3, yr, c.log_y),
                )
            })
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let samples = pts.windows(2).flat_map(|w| {
            (0..16).map(move |k| {
                let t = f64::from(k) / 16.0;
                let at = |a: f64, b: f64| a + (b - a) * t;
                (
                    at(w[0].0, w[1].0),
                    at(w[0].1, w[1].1),
                    at(w[0].2, w[1].2),
                    at(w[0].3, w[1].3),
                )
            })
        });
        for (x, y, lo, hi) in samples.chain(pts.last().copied()) {
            for (i, (_, bx, by)) in corners.iter().enumerate() {
                if !bx.contains(&x) {
                    continue;
                }
                let band = c.band_label.is_some()
                    && lo.is_finite()
                    && hi.is_finite()
                    && lo.min(hi) < by.end
                    && lo.max(hi) > by.start;
                if by.contains(&y) || band {
                    hits[i] += 1;
                }
            }
        }
    }
    let best = (0..4).min_by_key(|&i| hits[i]).unwrap_or(0);
    corners[best].0.clone()
}

fn draw_bands<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    c: &BandChart,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let finite = |x: f64, y: f64| drawable(x, y, c.log_x, c.log_y);
    let xs = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = c.series.iter().flat_map(|s| {
        s.points.iter().flat_map(|p| {
            if c.band_label.is_some() {
                vec![p.1, p.2, p.3]
            } else {
                vec![p.1]
            }
        })
    });
    let (x0, x1) = axis_range(xs, c.log_x);
    let (y0, y1) = axis_range(ys, c.log_y);
    let legend_at = emptiest_corner(c, (x0, x1), (y0, y1));
    let mut builder = titled(&root, c.title);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            styled_mesh!(chart, c.x_label, c.y_label)?;
            // Bands first, so every line is drawn over every band.
            if let Some(label) = c.band_label {
                for (i, s) in c.series.iter().enumerate() {
                    let color = PALETTE[i % PALETTE.len()];
                    let mut pts: Vec<(f64, f64, f64)> = s
                        .points
                        .iter()
                        .filter(|p| finite(p.0, p.2) && finite(p.0, p.3))
                        .map(|p| (p.0, p.2, p.3))
                        .collect();
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    if pts.is_empty() {
                        continue;
                    }
                    let outline: Vec<(f64, f64)> = pts
                        .iter()
                        .map(|p| (p.0, p.2))
                        .chain(pts.iter().rev().map(|p| (p.0, p.1)))
                        .collect();
                    chart
                        .draw_series(std::iter::once(Polygon::new(
                            outline,
                            color.mix(0.18).filled(),
                        )))
                        .map_err(|e| e.to_string())?
                        .label(format!("{}, {label}", s.name))
                        .legend(move |(x, y)| {
                            Rectangle::new([(x, y - 5), (x + 18, y + 5)], color.mix(0.18).filled())
                        });
                }
            }
            for (i, s) in c.series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let mut pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter(|p| finite(p.0, p.1))
                    .map(|p| (p.0, p.1))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(s.name.clone())
                    .legend(legend_line(color));
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| e.to_string())?;
            }
            if !c.series.is_empty() {
                draw_legend(&mut chart, legend_at)?;
            }
        }};
    }
    // Logarithmic axes get their own ticks: plotters labels only whole
    // decades and their multiples, which leaves most of a short range bare.
    let x_points: Vec<f64> = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let log_axis = |lo: f64, hi: f64, at: &[f64]| {
        let (ticks, grid) = log_ticks(lo, hi, at);
        // Decimal grid lines between a sweep's values would only confuse.
        let light = if grid {
            Vec::new()
        } else {
            log_light_ticks(lo, hi)
        };
        (lo..hi)
            .log_scale()
            .with_key_points(ticks)
            .with_light_points(light)
    };
    match (c.log_x, c.log_y) {
        (false, false) => finish!(
            builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| e.to_string())?
        ),
        (true, false) => finish!(
            builder
                .build_cartesian_2d(log_axis(x0, x1, &x_points), y0..y1)
                .map_err(|e| e.to_string())?
        ),
        (false, true) => finish!(
            builder
                .build_cartesian_2d(x0..x1, log_axis(y0, y1, &[]))
                .map_err(|e| e.to_string())?
        ),
        (true, true) => finish!(
            builder
                .build_cartesian_2d(log_axis(x0, x1, &x_points), log_axis(y0, y1, &[]))
                .map_err(|e| e.to_string())?
        ),
    }
    root.present().map_err(|e| e.to_string())
}

/// Writes `<stem>.png`, `<stem>.svg` and `<stem>_data.csv` (long format:
/// series, x, y, band low, band high, headed by `columns`) in `dir`.
pub fn band_chart(dir: &Path, stem: &str, chart: &BandChart) -> Result<(), String> {
    png_and_svg!(dir, stem, draw_bands, chart, SIZE)?;
    let path = dir.join(format!("{stem}_data.csv"));
    let named = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    // Built in memory and written whole, as the plots are (see `drawn_into`).
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(std::iter::once("series").chain(chart.columns.iter().copied()))
        .map_err(|e| named(&e))?;
    for s in chart.series {
        for (x, y, lo, hi) in &s.points {
            w.write_record([
                s.name.as_str(),
                &x.to_string(),
                &y.to_string(),
                &lo.to_string(),
                &hi.to_string(),
            ])
            .map_err(|e| named(&e))?;
        }
    }
    let bytes = w.into_inner().map_err(|e| named(&e))?;
    crate::output::write_atomic(&path, &bytes).map_err(|e| e.to_string())
}

/// A bounded copy of a long series for plotting that keeps its extremes:
/// consecutive samples are grouped in buckets of `stride`, and each bucket
/// keeps its lowest and its highest point, in time order (min/max
/// decimation). When `2·cap` buckets are full, neighbouring buckets merge
/// and the stride doubles, so memory does not grow with the run's length
/// and a one-sample excursion anywhere in the run is still drawn. Points
/// with a non-finite value (a clock without a value) are left out.
#[derive(Clone, Debug)]
pub struct Thinned {
    cap: usize,
    stride: u64,
    /// Samples offered to the newest bucket so far.
    filled: u64,
    buckets: Vec<Extremes>,
}

/// The lowest and highest finite point of a bucket, or `None` while it has
/// none.
#[derive(Clone, Copy, Debug)]
struct Extremes(Option<((f64, f64), (f64, f64))>);

impl Extremes {
    fn add(&mut self, p: (f64, f64)) {
        if !(p.0.is_finite() && p.1.is_finite()) {
            return;
        }
        self.0 = Some(match self.0 {
            None => (p, p),
            Some((lo, hi)) => (
                if p.1 < lo.1 { p } else { lo },
                if p.1 > hi.1 { p } else { hi },
            ),
        });
    }

    fn merge(self, later: Extremes) -> Extremes {
        let mut m = self;
        if let Some((lo, hi)) = later.0 {
            m.add(lo);
            m.add(hi);
        }
        m
    }
}

impl Thinned {
    /// A thinner keeping between `cap` and `2·cap` buckets (at most
    /// `4·cap` points).
    pub fn new(cap: usize) -> Self {
        Thinned {
            cap: cap.max(1),
            stride: 1,
            filled: 0,
            buckets: Vec::new(),
        }
    }

    /// Offers one point; points come in increasing `x`.
    pub fn push(&mut self, x: f64, y: f64) {
        if self.filled == 0 {
            if self.buckets.len() == 2 * self.cap {
                // Every bucket is complete here, so they pair up exactly.
                self.buckets = self
                    .buckets
                    .chunks_exact(2)
                    .map(|pair| pair[0].merge(pair[1]))
                    .collect();
                self.stride *= 2;
            }
            self.buckets.push(Extremes(None));
        }
        if let Some(b) = self.buckets.last_mut() {
            b.add((x, y));
        }
        self.filled = (self.filled + 1) % self.stride;
    }

    /// The kept points in increasing `x`: each bucket's extremes.
    pub fn into_points(self) -> Vec<(f64, f64)> {
        let mut points = Vec::with_capacity(2 * self.buckets.len());
        for (lo, hi) in self.buckets.into_iter().filter_map(|b| b.0) {
            let (first, second) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
            points.push(first);
            if second != first {
                points.push(second);
            }
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draw_that_fails_part_way_leaves_no_half_plot() {
        let d = std::env::temp_dir().join(format!("vtsim-plot-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let plot = d.join("p.png");
        std::fs::write(&plot, "whole, from an earlier sweep").unwrap();
        // Half a file written, then the disk fills up.
        let e = drawn_into(&plot, |tmp| {
            assert_eq!(tmp.extension(), plot.extension(), "the backend reads it");
            std::fs::write(tmp, "half").unwrap();
            Err("No space left on device".into())
        });
        assert_eq!(e.unwrap_err(), "No space left on device");
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["p.png"], "no temporary file is left");
        assert_eq!(
            std::fs::read_to_string(&plot).unwrap(),
            "whole, from an earlier sweep"
        );
        // A draw that succeeds replaces the plot.
        drawn_into(&plot, |tmp| {
            std::fs::write(tmp, "new").map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&plot).unwrap(), "new");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn thinned_stays_bounded_and_keeps_every_extreme() {
        let mut t = Thinned::new(100);
        let spike_at = 54_321;
        for i in 0..100_000 {
            let y = match i {
                _ if i == spike_at => 1e6,
                77_777 => -2e6,
                _ => (f64::from(i) * 0.1).sin(),
            };
            t.push(f64::from(i), y);
        }
        t.push(100_000.0, f64::NAN);
        let points = t.into_points();
        assert!(points.len() <= 400, "{} points", points.len());
        assert!(points.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
        assert!(points.contains(&(f64::from(spike_at), 1e6)));
        assert!(points.contains(&(77_777.0, -2e6)));
        assert!(points.iter().all(|p| p.1.is_finite()));
        // The sine's own extremes survive too: the envelope is not thinned away.
        let quiet: Vec<f64> = points
            .iter()
            .map(|p| p.1)
            .filter(|y| y.abs() <= 1.0)
            .collect();
        assert!(quiet.iter().any(|y| *y > 0.999) && quiet.iter().any(|y| *y < -0.999));
    }

    proptest::proptest! {
        #[test]
        fn thinned_keeps_the_global_extremes_in_bounded_memory(
            ys in proptest::collection::vec(-1e9f64..1e9, 1..5000),
            cap in 1usize..64,
        ) {
            let mut t = Thinned::new(cap);
            for (i, &y) in ys.iter().enumerate() {
                t.push(i as f64, y);
            }
            let points = t.into_points();
            proptest::prop_assert!(points.len() <= 4 * cap);
            proptest::prop_assert!(points.windows(2).all(|w| w[0].0 < w[1].0));
            let (lo, hi) = ys.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| (a.min(y), b.max(y)));
            proptest::prop_assert!(points.iter().any(|p| p.1 == lo) && points.iter().any(|p| p.1 == hi));
            // Every kept point is a sample, at its own time.
            proptest::prop_assert!(points.iter().all(|&(x, y)| ys[x as usize] == y));
        }
    }

    #[test]
    fn thinned_keeps_a_short_series_whole() {
        let mut t = Thinned::new(100);
        for i in 0..150 {
            t.push(f64::from(i), f64::from(i % 7));
        }
        let points = t.into_points();
        assert_eq!(points.len(), 150);
        assert_eq!(points[149], (149.0, f64::from(149 % 7)));
    }

    #[test]
    fn axis_ranges_are_finite_and_open_at_the_ends_of_the_floats() {
        let cases: [(&[f64], bool); 6] = [
            (&[-1.7e308, 1.7e308], false),
            (&[-1e308, 1e308, 0.0], false),
            (&[1.7e308, 1.7e308], false),
            (&[-f64::MAX], false),
            (&[5e-324, 1.7e308], true),
            (&[1.7e308], true),
        ];
        for (values, log) in cases {
            let (lo, hi) = axis_range(values.iter().copied(), log);
            assert!(
                lo.is_finite() && hi.is_finite() && (hi - lo).is_finite() && hi > lo,
                "{values:?}: {lo}..{hi}"
            );
            assert!(!log || lo > 0.0, "{values:?}: {lo}");
        }
        // Ordinary ranges keep their 5 % of room.
        assert_eq!(axis_range([0.0, 10.0].into_iter(), false), (-0.5, 10.5));
    }

    #[test]
    fn values_near_the_largest_float_are_drawn_in_a_finite_frame() {
        let dir = std::env::temp_dir().join(format!("vtsim-plot-huge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let series = [Series {
            name: "hand-edited".into(),
            points: vec![(-1.7e308, -1.7e308), (0.0, 0.0), (1.7e308, 1.7e308)],
        }];
        for (log_x, log_y) in [(false, false), (true, true)] {
            let chart = LineChart {
                title: "huge",
                x_label: "x",
                y_label: "y",
                series: &series,
                points: false,
                log_x,
                log_y,
            };
            line_chart(&dir, "huge", &chart).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_point_alone_is_drawn_as_a_marker() {
        let dir = std::env::temp_dir().join(format!("vtsim-plot-alone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let series = [
            // A sweep of one value.
            Series {
                name: "one value".into(),
                points: vec![(16.0, 2.0)],
            },
            // A value between two gaps, then a line.
            Series {
                name: "gaps".into(),
                points: vec![
                    (8.0, f64::NAN),
                    (16.0, 1.0),
                    (32.0, f64::NAN),
                    (64.0, 3.0),
                    (128.0, 4.0),
                ],
            },
        ];
        let chart = LineChart {
            title: "alone",
            x_label: "x",
            y_label: "y",
            series: &series,
            points: false,
            log_x: true,
            log_y: false,
        };
        line_chart(&dir, "alone", &chart).unwrap();
        let svg = std::fs::read_to_string(dir.join("alone.svg")).unwrap();
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn renders_png_svg_and_csv() {
        let dir = std::env::temp_dir().join(format!("vtsim-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let series = [Series {
            name: "clock µs".into(),
            points: (0..50).map(|i| (i as f64, (i as f64).sin())).collect(),
        }];
        let chart = LineChart {
            title: "test",
            x_label: "time [h]",
            y_label: "error [µs]",
            series: &series,
            points: false,
            log_x: false,
            log_y: false,
        };
        line_chart(&dir, "t", &chart).unwrap();
        for file in ["t.png", "t.svg", "t_data.csv"] {
            assert!(
                std::fs::metadata(dir.join(file)).unwrap().len() > 100,
                "{file}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn log_ticks_label_every_stretch() {
        // A sweep's round values are the ticks.
        let grid: Vec<f64> = (3..=10).map(|e| f64::from(1 << e)).collect();
        assert_eq!(log_ticks(7.0, 1100.0, &grid), (grid.clone(), true));
        // Values that are not round: 1-2-5 steps instead.
        let odd = [0.1, 0.346572421578, 1.20112240878, 4.16277640278, 50.0];
        assert_eq!(
            log_ticks(0.1, 50.0, &odd).0,
            [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
        );
        // Less than a decade still gets labels inside it.
        assert_eq!(log_ticks(22.0, 95.0, &[]).0, [30.0, 50.0, 70.0]);
        // Many decades: powers of ten, at most 12.
        assert!(log_ticks(1e-9, 1e9, &[]).0.len() <= 12);
        assert_eq!(tick_text(1000.0), "1000");
        assert_eq!(tick_text(0.30000000000000004), "0.3");
        assert_eq!(tick_text(1.5e-6), "1.5e-6");
        // Linear axes in µs over hours of drift: at most 8 characters.
        assert_eq!(tick_text(-1_000_000.0), "-1000000");
        assert_eq!(tick_text(2e7), "2e7");
    }

    #[test]
    fn band_chart_renders_with_log_axes() {
        let dir = std::env::temp_dir().join(format!("vtsim-band-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let series = [BandSeries {
            name: "clock".into(),
            points: (0..8)
                .map(|i| {
                    let x = f64::from(8 << i);
                    (x, x / 2.0, x / 3.0, x)
                })
                .collect(),
        }];
        for (log_x, log_y) in [(false, false), (true, false), (false, true), (true, true)] {
            let chart = BandChart {
                title: "test",
                x_label: "poll period [s]",
                y_label: "error [µs]",
                band_label: Some("IQR over seeds"),
                series: &series,
                log_x,
                log_y,
                columns: ["poll", "median", "q25", "q75"],
            };
            band_chart(&dir, "b", &chart).unwrap();
        }
        let data = std::fs::read_to_string(dir.join("b_data.csv")).unwrap();
        assert!(data.starts_with("series,poll,median,q25,q75\nclock,8,4,"));
        assert!(std::fs::metadata(dir.join("b.png")).unwrap().len() > 1000);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
