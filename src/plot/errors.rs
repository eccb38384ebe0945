//! The clock-error figure of `vtsim run` and `vtsim compare`.
//!
//! The clocks of one run can differ by six orders of magnitude (a
//! free-running crystal drifts by seconds while RADclock stays within
//! microseconds), and one excursion (an ntpd step, a migration's downtime)
//! can dwarf a whole day of steady error. A single axis shared by every
//! clock shows that contrast and hides everything else, so the figure has
//! two parts:
//!
//! * an **overview**, every clock on one axis over its full range (left out
//!   when there is only one clock);
//! * one **panel per clock** on its own axis, framed so that a step, a
//!   spike or a migration's downtime does not flatten the rest. The frame
//!   holds the clock's usual range (the drawn points within Tukey's
//!   far-out fences, three interquartile ranges beyond the quartiles) and
//!   every point within three times that range's width of it, so a second
//!   regime of similar size (before and after a migration, say) stays in
//!   view; what lies further is an excursion. Lines leaving the frame are
//!   cut at its edge, and the panel's title says how many points lie beyond
//!   it and how far they reach.
//!
//! Axis units follow the magnitudes shown (ns to s, seconds to days). The
//! data file beside the figure keeps hours and microseconds whatever the
//! figure shows.
//!
//! The run's moves are marked, so that a clock's step can be read against
//! its cause: a live migration as a shaded stretch from its start to the
//! guest running at the destination, a failover as a line. The overview
//! shows and labels them all; a clock's panel, those of its own guest.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    LineChart, PALETTE, Series, draw_legend, legend_line, plottable, tick_text, write_line_data,
};

/// Figure width, pixels.
const WIDTH_PX: u32 = 1000;
/// Height of the figure's title, of the overview and of each clock's panel.
const TITLE_PX: u32 = 40;
const OVERVIEW_PX: u32 = 380;
const PANEL_PX: u32 = 210;

/// A moment or a stretch of the run (hours; an instant has `to_h ==
/// from_h`), labelled in the overview and marked in the panels of
/// `series`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// Start, hours.
    pub from_h: f64,
    /// End, hours.
    pub to_h: f64,
    /// What happened.
    pub label: String,
    /// Indices of the series it concerns.
    pub series: Vec<usize>,
}

/// Fill of a marked stretch, and colour of its edge and label: greys, so
/// that no mark is taken for a clock.
const MARK_FILL: RGBColor = RGBColor(200, 200, 200);
const MARK_LINE: RGBColor = RGBColor(80, 80, 80);
/// Vertical step between successive labels, pixels, so that the labels of
/// nearby marks do not overprint; labels take these many rows in turn, so
/// that many marks stay within the chart.
const MARK_LABEL_STEP_PX: i32 = 15;
const MARK_LABEL_ROWS: usize = 8;

/// Writes `<stem>.png` and `<stem>.svg` (the overview and a panel per
/// series, with `marks`; see the module docs) and `<stem>_data.csv` (long
/// format: series, true time in hours, error in µs) in `dir`. Points are
/// (hours, µs), in increasing time.
pub fn error_chart(
    dir: &Path,
    stem: &str,
    title: &str,
    series: &[Series],
    marks: &[Mark],
) -> Result<(), String> {
    let figure = ErrorFigure::new(title, series, marks);
    png_and_svg!(dir, stem, draw_figure, &figure, figure.size_px())?;
    write_line_data(
        dir,
        stem,
        &LineChart {
            title,
            x_label: "true time [h]",
            y_label: "clock error [µs]",
            series,
            points: false,
            log_x: false,
            log_y: false,
        },
    )
}

/// An axis unit: its name and how many of it make one unit of the data.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Unit {
    name: &'static str,
    per_data_unit: f64,
}

/// The unit for errors up to `max_abs_us` in magnitude.
fn error_unit(max_abs_us: f64) -> Unit {
    let (name, per_data_unit) = match max_abs_us {
        m if m < 1.0 => ("ns", 1e3),
        m if m < 1e3 => ("µs", 1.0),
        m if m < 1e6 => ("ms", 1e-3),
        _ => ("s", 1e-6),
    };
    Unit {
        name,
        per_data_unit,
    }
}

/// The unit for a time axis spanning `span_h` hours.
fn time_unit(span_h: f64) -> Unit {
    let (name, per_data_unit) = match span_h {
        h if h < 2.0 / 60.0 => ("s", 3600.0),
        h if h < 2.0 => ("min", 60.0),
        h if h <= 96.0 => ("h", 1.0),
        _ => ("d", 1.0 / 24.0),
    };
    Unit {
        name,
        per_data_unit,
    }
}

/// `v_us` with the unit that suits its own magnitude: `-4.2 ms`.
fn quantity(v_us: f64) -> String {
    let u = error_unit(v_us.abs());
    format!("{} {}", tick_text(v_us * u.per_data_unit), u.name)
}

/// The error range (µs) an axis shows, and the points beyond it.
#[derive(Clone, Debug, PartialEq)]
struct Frame {
    lo_us: f64,
    hi_us: f64,
    /// Finite points outside `[lo_us, hi_us]`, and all finite points.
    beyond: usize,
    finite: usize,
    /// Extremes of the finite points (NaN when there are none).
    min_us: f64,
    max_us: f64,
}

impl Frame {
    /// The full range of `ys`, or (`robust`) the range of those within
    /// three widths of the usual range `[L, H]` (the points within Tukey's
    /// far-out fences `[Q1 − 3·IQR, Q3 + 3·IQR]`); padded by 5 %.
    fn of(ys: impl Iterator<Item = f64>, robust: bool) -> Frame {
        let mut ys: Vec<f64> = ys.filter(|y| y.is_finite()).collect();
        ys.sort_by(f64::total_cmp);
        let (Some(&min), Some(&max)) = (ys.first(), ys.last()) else {
            return Frame {
                lo_us: -1.0,
                hi_us: 1.0,
                beyond: 0,
                finite: 0,
                min_us: f64::NAN,
                max_us: f64::NAN,
            };
        };
        let quartile = |p: f64| ys[((ys.len() - 1) as f64 * p).round() as usize];
        let (q1, q3) = (quartile(0.25), quartile(0.75));
        // Without a spread between the quartiles the fences would call every
        // point off the middle value an excursion.
        let (lo, hi) = if robust && q3 > q1 {
            let (fence_lo, fence_hi) = (q1 - 3.0 * (q3 - q1), q3 + 3.0 * (q3 - q1));
            let within = |lo: f64, hi: f64| {
                let mut inside = ys.iter().filter(|&&y| (lo..=hi).contains(&y));
                // Never empty: the quartiles lie within either range.
                let first = inside.next().copied().unwrap_or(min);
                (first, inside.next_back().copied().unwrap_or(first))
            };
            let (usual_lo, usual_hi) = within(fence_lo, fence_hi);
            let width = usual_hi - usual_lo;
            within(usual_lo - 3.0 * width, usual_hi + 3.0 * width)
        } else {
            (min, max)
        };
        let (lo, hi) = if hi - lo > f64::EPSILON * hi.abs().max(lo.abs()) {
            // 5 % of each end apart: the difference itself may overflow.
            let pad = 0.05 * hi - 0.05 * lo;
            (lo - pad, hi + pad)
        } else {
            // A constant: a small symmetric range around it (1 ns at zero).
            let half = (1e-3 * lo.abs()).max(1e-3);
            (lo - half, hi + half)
        };
        // Within what an axis can show, so that what lies further is
        // counted beyond the frame.
        let (lo, hi) = plottable(lo, hi, false);
        Frame {
            lo_us: lo,
            hi_us: hi,
            beyond: ys.iter().filter(|&&y| y < lo || y > hi).count(),
            finite: ys.len(),
            min_us: min,
            max_us: max,
        }
    }

    fn unit(&self) -> Unit {
        error_unit(self.lo_us.abs().max(self.hi_us.abs()))
    }
}

/// The pieces of the polyline through `points` that lie within
/// `lo ≤ y ≤ hi`, cut where it crosses `lo` or `hi`; a non-finite point
/// breaks the line. Plotters would instead pull outside points onto the
/// frame's edge, bending every segment that leaves it.
fn clipped_runs(points: &[(f64, f64)], lo: f64, hi: f64) -> Vec<Vec<(f64, f64)>> {
    fn end_run(runs: &mut Vec<Vec<(f64, f64)>>, run: &mut Vec<(f64, f64)>) {
        if run.len() > 1 {
            runs.push(std::mem::take(run));
        } else {
            run.clear();
        }
    }
    let mut runs = Vec::new();
    let mut run = Vec::new();
    let finite = |p: (f64, f64)| p.0.is_finite() && p.1.is_finite();
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        // The part t ∈ [t0, t1] of a + t·(b − a) with y inside the frame.
        let dy = b.1 - a.1;
        let (t0, t1) = if !finite(a) || !finite(b) {
            (1.0, 0.0)
        } else if dy == 0.0 {
            if (lo..=hi).contains(&a.1) {
                (0.0, 1.0)
            } else {
                (1.0, 0.0)
            }
        } else {
            let (ta, tb) = ((lo - a.1) / dy, (hi - a.1) / dy);
            (ta.min(tb).max(0.0), ta.max(tb).min(1.0))
        };
        if t0 > t1 {
            end_run(&mut runs, &mut run);
            continue;
        }
        let at = |t: f64| (a.0 + t * (b.0 - a.0), (a.1 + t * dy).clamp(lo, hi));
        if t0 > 0.0 {
            end_run(&mut runs, &mut run);
        }
        if run.is_empty() {
            run.push(at(t0));
        }
        run.push(at(t1));
        if t1 < 1.0 {
            end_run(&mut runs, &mut run);
        }
    }
    end_run(&mut runs, &mut run);
    runs
}

/// What is drawn: the series, their panels' frames and the common axes.
struct ErrorFigure<'a> {
    title: &'a str,
    series: &'a [Series],
    /// Full range of every series together.
    overview: Frame,
    /// Each series' own frame.
    panels: Vec<Frame>,
    /// Time range (hours) and its unit.
    x_h: (f64, f64),
    x_unit: Unit,
    marks: &'a [Mark],
}

impl<'a> ErrorFigure<'a> {
    fn new(title: &'a str, series: &'a [Series], marks: &'a [Mark]) -> Self {
        let all_y = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
        let (t0, t1) = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            });
        let x_h = if t0 < t1 { (t0, t1) } else { (0.0, 1.0) };
        ErrorFigure {
            title,
            series,
            overview: Frame::of(all_y(), false),
            panels: series
                .iter()
                .map(|s| Frame::of(s.points.iter().map(|p| p.1), true))
                .collect(),
            x_h,
            x_unit: time_unit(x_h.1 - x_h.0),
            marks,
        }
    }

    fn has_overview(&self) -> bool {
        self.series.len() > 1
    }

    fn size_px(&self) -> (u32, u32) {
        let overview = if self.has_overview() { OVERVIEW_PX } else { 0 };
        let panels = u32::try_from(self.series.len().max(1)).unwrap_or(u32::MAX);
        (
            WIDTH_PX,
            TITLE_PX + overview + panels.saturating_mul(PANEL_PX),
        )
    }
}

/// One chart: a caption, axes in `x_unit` and `frame`'s unit, and the
/// series `which` (indices into the figure's series, keeping their colours),
/// cut to the frame; with a legend when `legend`.
fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    fig: &ErrorFigure,
    caption: &str,
    frame: &Frame,
    which: &[usize],
    legend: bool,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let (xu, yu) = (fig.x_unit, frame.unit());
    let (x0, x1) = plottable(
        fig.x_h.0 * xu.per_data_unit,
        fig.x_h.1 * xu.per_data_unit,
        false,
    );
    let (y0, y1) = plottable(
        frame.lo_us * yu.per_data_unit,
        frame.hi_us * yu.per_data_unit,
        false,
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    let x_desc = format!("true time [{}]", xu.name);
    let y_desc = format!("clock error [{}]", yu.name);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .y_labels(if legend { 10 } else { 5 })
        .x_label_formatter(&|v| tick_text(*v))
        // A tick at zero computed as -5.6e-17 reads as zero.
        .y_label_formatter(&|v| tick_text(if v.abs() < 1e-9 * (y1 - y0) { 0.0 } else { *v }))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    // The overview (the chart with a legend) shows every mark; a panel,
    // those of its series.
    let shown = fig
        .marks
        .iter()
        .filter(|m| legend || which.iter().any(|i| m.series.contains(i)));
    for (k, m) in shown.enumerate() {
        let (a, b) = (m.from_h * xu.per_data_unit, m.to_h * xu.per_data_unit);
        if !(a <= x1 && b >= x0) {
            continue;
        }
        let (a, b) = (a.max(x0), b.min(x1));
        if b > a {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, y0), (b, y1)],
                    MARK_FILL.mix(0.35).filled(),
                )))
                .map_err(|e| e.to_string())?;
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(a, y0), (a, y1)],
                MARK_LINE.stroke_width(1),
            )))
            .map_err(|e| e.to_string())?;
        if legend {
            let row = i32::try_from(k % MARK_LABEL_ROWS).unwrap_or(0);
            let dy = 4 + MARK_LABEL_STEP_PX * row;
            // Beyond the middle, the label runs leftwards from the line so
            // that it stays in the chart.
            let right_half = a > 0.5 * (x0 + x1);
            let (dx, h) = if right_half {
                (-4, HPos::Right)
            } else {
                (4, HPos::Left)
            };
            let style = ("sans-serif", 12)
                .into_font()
                .color(&MARK_LINE)
                .pos(Pos::new(h, VPos::Top));
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((a, y1)) + Text::new(m.label.clone(), (dx, dy), style),
                ))
                .map_err(|e| e.to_string())?;
        }
    }
    for &i in which {
        let color = PALETTE[i % PALETTE.len()];
        let scaled: Vec<(f64, f64)> = fig.series[i]
            .points
            .iter()
            .map(|&(x, y)| (x * xu.per_data_unit, y * yu.per_data_unit))
            .collect();
        for run in clipped_runs(&scaled, y0, y1) {
            chart
                .draw_series(LineSeries::new(run, color.stroke_width(1)))
                .map_err(|e| e.to_string())?;
        }
        if legend {
            chart
                .draw_series(LineSeries::new(std::iter::empty(), color))
                .map_err(|e| e.to_string())?
                .label(fig.series[i].name.clone())
                .legend(legend_line(color));
        }
    }
    if legend {
        draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
    }
    Ok(())
}

/// A panel's caption: the series' name, and what lies beyond its frame.
fn panel_caption(name: &str, frame: &Frame) -> String {
    if frame.finite == 0 {
        format!("{name}: no value")
    } else if frame.beyond == 0 {
        name.to_string()
    } else {
        format!(
            "{name}: {} of {} drawn points beyond the frame, from {} to {}",
            frame.beyond,
            frame.finite,
            quantity(frame.min_us),
            quantity(frame.max_us)
        )
    }
}

fn draw_figure<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    fig: &ErrorFigure,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let body = root
        .titled(fig.title, ("sans-serif", 22))
        .map_err(|e| e.to_string())?;
    let panels = if fig.has_overview() {
        let (overview, panels) = body.split_vertically(OVERVIEW_PX);
        let all: Vec<usize> = (0..fig.series.len()).collect();
        draw_chart(
            &overview,
            fig,
            "all clocks, full range",
            &fig.overview,
            &all,
            true,
        )?;
        panels
    } else {
        body
    };
    let areas = panels.split_evenly((fig.series.len().max(1), 1));
    for (i, (area, frame)) in areas.iter().zip(&fig.panels).enumerate() {
        let caption = panel_caption(&fig.series[i].name, frame);
        draw_chart(area, fig, &caption, frame, &[i], false)?;
    }
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_magnitudes() {
        assert_eq!(error_unit(0.5).name, "ns");
        assert_eq!(error_unit(9.0).name, "µs");
        assert_eq!(error_unit(8_387.6).name, "ms");
        assert_eq!(error_unit(1.73e6).name, "s");
        assert_eq!(quantity(-4_200.0), "-4.2 ms");
        assert_eq!(quantity(0.25), "250 ns");
        assert_eq!(time_unit(0.25).name, "min");
        assert_eq!(time_unit(0.01).name, "s");
        assert_eq!(time_unit(24.0).name, "h");
        assert_eq!(time_unit(96.0).name, "h");
        assert_eq!(time_unit(24.0 * 30.0).name, "d");
    }

    #[test]
    fn a_frame_ignores_rare_excursions_and_counts_them() {
        // Steady ±10 µs with excursions: an ntpd step, a spike, and a
        // migration's downtime of 3 % of the run.
        let mut ys: Vec<f64> = (0..1000)
            .map(|i| 10.0 * (f64::from(i) * 0.37).sin())
            .collect();
        ys[3] = 8_000.0;
        ys[700] = -4_000.0;
        ys[500..530].fill(-60_000.0);
        let f = Frame::of(ys.iter().copied(), true);
        assert!(f.lo_us < -10.0 && f.lo_us > -11.5, "{f:?}");
        assert!(f.hi_us > 10.0 && f.hi_us < 11.5, "{f:?}");
        assert_eq!((f.beyond, f.finite), (32, 1000));
        assert_eq!((f.min_us, f.max_us), (-60_000.0, 8_000.0));
        assert_eq!(f.unit().name, "µs");
        // The overview keeps everything.
        let full = Frame::of(ys.iter().copied(), false);
        assert!(full.lo_us < -60_000.0 && full.hi_us > 8_000.0);
        assert_eq!(full.beyond, 0);
    }

    #[test]
    fn a_frame_without_excursions_is_the_full_range() {
        // Two regimes a little apart, a fifth of the run at 2 ± 3 µs and the
        // rest at 12 ± 3 µs (a guest before and after migrating): both in view.
        let level = |i: i32| if i < 200 { 2.0 } else { 12.0 };
        let noise = |i: i32| f64::from(i % 61) * 0.1 - 3.0;
        let regimes = Frame::of((0..1000).map(|i| level(i) + noise(i)), true);
        assert_eq!(regimes.beyond, 0, "{regimes:?}");
        // Far apart, the smaller one is an excursion.
        let apart = Frame::of((0..1000).map(|i| 30.0 * level(i) + noise(i)), true);
        assert_eq!(apart.beyond, 200, "{apart:?}");
        // A drift: no outliers, so nothing is cut.
        let f = Frame::of((0..500).map(f64::from), true);
        assert_eq!(f.beyond, 0);
        assert!(f.lo_us < 0.0 && f.hi_us > 499.0);
        // A constant (the oracle's zero error) gets a small symmetric range.
        let z = Frame::of(std::iter::repeat_n(0.0, 10), true);
        assert_eq!((z.lo_us, z.hi_us, z.beyond), (-1e-3, 1e-3, 0));
        assert_eq!(z.unit().name, "ns");
        // Mostly one value: no fences, the full range.
        let mostly = Frame::of((0..100).map(|i| if i % 10 == 0 { 1e-4 } else { 0.0 }), true);
        assert_eq!(mostly.beyond, 0);
        assert!(mostly.hi_us > 1e-4);
        // No value at all.
        let none = Frame::of([f64::NAN, f64::NAN].into_iter(), true);
        assert_eq!((none.finite, none.beyond), (0, 0));
        assert_eq!(panel_caption("guest", &none), "guest: no value");
    }

    #[test]
    fn lines_are_cut_where_they_leave_the_frame() {
        let pts = [
            (0.0, 0.0),
            (1.0, 10.0),
            (2.0, 0.0),
            (3.0, 0.5),
            (4.0, f64::NAN),
            (5.0, 0.2),
            (6.0, 0.4),
        ];
        let close = |got: Vec<Vec<(f64, f64)>>, want: &[&[(f64, f64)]]| {
            assert_eq!(got.len(), want.len(), "{got:?}");
            for (g, w) in got.iter().zip(want) {
                assert_eq!(g.len(), w.len(), "{got:?}");
                for (p, q) in g.iter().zip(*w) {
                    assert!(
                        (p.0 - q.0).abs() < 1e-12 && (p.1 - q.1).abs() < 1e-12,
                        "{got:?}"
                    );
                }
            }
        };
        close(
            clipped_runs(&pts, -1.0, 1.0),
            &[
                &[(0.0, 0.0), (0.1, 1.0)],
                &[(1.9, 1.0), (2.0, 0.0), (3.0, 0.5)],
                &[(5.0, 0.2), (6.0, 0.4)],
            ],
        );
        // A segment crossing the whole frame keeps only its middle.
        close(
            clipped_runs(&[(0.0, -3.0), (1.0, 3.0)], -1.0, 1.0),
            &[&[(1.0 / 3.0, -1.0), (2.0 / 3.0, 1.0)]],
        );
        // Entirely outside: nothing.
        assert!(clipped_runs(&[(0.0, 5.0), (1.0, 6.0)], -1.0, 1.0).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn a_frame_holds_the_middle_half_and_counts_the_rest(
            ys in proptest::collection::vec(-1e6f64..1e6, 1..400),
            spikes in proptest::collection::vec((0usize..400, -1e12f64..1e12), 0..8),
        ) {
            let mut ys = ys;
            for (i, v) in spikes {
                let n = ys.len();
                ys[i % n] = v;
            }
            let f = Frame::of(ys.iter().copied(), true);
            let mut sorted = ys.clone();
            sorted.sort_by(f64::total_cmp);
            let quartile = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
            proptest::prop_assert!(f.lo_us <= quartile(0.25) && quartile(0.75) <= f.hi_us, "{:?}", f);
            let outside = ys.iter().filter(|&&y| y < f.lo_us || y > f.hi_us).count();
            proptest::prop_assert_eq!(f.beyond, outside);
            proptest::prop_assert_eq!(f.finite, ys.len());
        }

        #[test]
        fn cut_lines_stay_in_the_frame_and_on_the_polyline(
            ys in proptest::collection::vec(-10f64..10.0, 2..60),
            lo in -5f64..0.0,
            width in 0.1f64..5.0,
        ) {
            let pts: Vec<(f64, f64)> = ys.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect();
            let hi = lo + width;
            for run in clipped_runs(&pts, lo, hi) {
                proptest::prop_assert!(run.len() >= 2);
                proptest::prop_assert!(run.windows(2).all(|w| w[0].0 <= w[1].0));
                for &(x, y) in &run {
                    proptest::prop_assert!((lo..=hi).contains(&y));
                    // On the polyline: the segment through x gives y.
                    let i = (x.floor() as usize).min(pts.len() - 2);
                    let t = x - i as f64;
                    let on = pts[i].1 + t * (pts[i + 1].1 - pts[i].1);
                    proptest::prop_assert!((on.clamp(lo, hi) - y).abs() < 1e-9, "({x}, {y}) vs {on}");
                }
            }
        }
    }

    #[test]
    fn errors_near_the_largest_float_get_a_finite_frame() {
        for ys in [[-1.7e308, 1.7e308], [1.7e308, 1.7e308]] {
            for robust in [false, true] {
                let f = Frame::of(ys.iter().copied(), robust);
                assert!(
                    f.lo_us.is_finite() && f.hi_us.is_finite() && f.hi_us > f.lo_us,
                    "{ys:?}: {f:?}"
                );
            }
        }
        let dir = std::env::temp_dir().join(format!("vtsim-errors-huge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let series = [
            Series {
                name: "a".into(),
                points: vec![(0.0, -1.7e308), (1.0, 1.7e308)],
            },
            Series {
                name: "b".into(),
                points: vec![(0.0, 1.0), (1e300, 2.0)],
            },
        ];
        error_chart(&dir, "e", "t", &series, &[]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn figure_has_an_overview_and_a_panel_per_clock() {
        let dir = std::env::temp_dir().join(format!("vtsim-errors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let series = [
            Series {
                name: "free-running".into(),
                points: (0..200)
                    .map(|i| (f64::from(i) / 10.0, 1e4 * f64::from(i)))
                    .collect(),
            },
            Series {
                name: "synchronised".into(),
                points: (0..200)
                    .map(|i| {
                        (
                            f64::from(i) / 10.0,
                            if i == 5 { 9e3 } else { f64::from(i % 5) },
                        )
                    })
                    .collect(),
            },
        ];
        let fig = ErrorFigure::new("t", &series, &[]);
        assert_eq!(fig.size_px(), (1000, 40 + 380 + 2 * 210));
        assert_eq!(fig.panels[1].beyond, 1);
        assert_eq!(fig.x_unit.name, "h");
        error_chart(&dir, "e", "t", &series, &[]).unwrap();
        for file in ["e.png", "e.svg", "e_data.csv"] {
            assert!(
                std::fs::metadata(dir.join(file)).unwrap().len() > 100,
                "{file}"
            );
        }
        let svg = std::fs::read_to_string(dir.join("e.svg")).unwrap();
        assert!(svg.contains("all clocks, full range"));
        assert!(svg.contains("synchronised: 1 of 200 drawn points beyond the frame"));
        let data = std::fs::read_to_string(dir.join("e_data.csv")).unwrap();
        assert!(data.starts_with("series,true time [h],clock error [µs]\nfree-running,0,0\n"));
        // Marks: labelled in the overview, shaded there and in the panel
        // of the series they concern only.
        let mark = Mark {
            from_h: 5.0,
            to_h: 8.0,
            label: "migration 1: a/dom1 → b/dom1".into(),
            series: vec![1],
        };
        error_chart(&dir, "m", "t", &series, std::slice::from_ref(&mark)).unwrap();
        let svg = std::fs::read_to_string(dir.join("m.svg")).unwrap();
        assert_eq!(svg.matches("migration 1: a/dom1 → b/dom1").count(), 1);
        assert_eq!(svg.matches("fill=\"#C8C8C8\"").count(), 2);
        // Many marks: every one labelled, the labels in rows taken in turn.
        let many: Vec<Mark> = (0..20)
            .map(|k| Mark {
                from_h: 0.9 * f64::from(k),
                to_h: 0.9 * f64::from(k),
                label: format!("failover {k}"),
                series: vec![0],
            })
            .collect();
        error_chart(&dir, "n", "t", &series, &many).unwrap();
        let svg = std::fs::read_to_string(dir.join("n.svg")).unwrap();
        assert!((0..20).all(|k| svg.contains(&format!("\nfailover {k}\n"))));
        // Rows taken in turn: the ninth label is back on the first row.
        let y_of = |k: usize| {
            let at = svg.find(&format!("\nfailover {k}\n")).unwrap();
            let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
            tag.split("y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(y_of(0), y_of(MARK_LABEL_ROWS));
        assert_ne!(y_of(0), y_of(1));
        // One clock: its panel alone.
        assert_eq!(
            ErrorFigure::new("t", &series[1..], &[]).size_px(),
            (1000, 40 + 210)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
