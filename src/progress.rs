//! A progress bar that appears only when a run takes more than about a
//! second and only on a terminal (indicatif hides itself otherwise).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar that stays hidden for its first second.
pub struct DelayedBar {
    bar: Option<ProgressBar>,
    started: Instant,
    shown: std::cell::Cell<bool>,
}

const RESOLUTION: u64 = 1000;

impl DelayedBar {
    /// A bar labelled `label`; `enabled = false` never draws.
    pub fn new(enabled: bool, label: &str) -> Self {
        let bar = enabled.then(|| {
            let b = ProgressBar::with_draw_target(Some(RESOLUTION), ProgressDrawTarget::hidden());
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:40}] {percent:>3}% {elapsed_precise} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(label.to_string());
            b
        });
        DelayedBar {
            bar,
            started: Instant::now(),
            shown: std::cell::Cell::new(false),
        }
    }

    /// Reports the completed fraction.
    pub fn set_fraction(&self, f: f64) {
        let Some(bar) = &self.bar else { return };
        if !self.shown.get() && self.started.elapsed() > Duration::from_secs(1) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown.set(true);
        }
        bar.set_position((f.clamp(0.0, 1.0) * RESOLUTION as f64) as u64);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
