//! # Network paths
//!
//! A packet's one-way delay is the sum of a **minimum delay** (propagation,
//! serialisation and the fixed cost of every hop, what the packet sees on
//! an empty network) and **queueing** behind cross-traffic. Two-way time
//! transfer can only measure the round trip, so the split of the minimum
//! between the two directions, the **asymmetry** = forward − backward, is
//! invisible to every algorithm and biases its offset by asymmetry/2
//! (research/ntpd.md §4.3; research/radclock.md §5.3).
//!
//! ```text
//!            forward: min_f(t) + queueing + congestion, or lost
//!  client ───────────────────────────────────────────────────▶ server
//!         ◀───────────────────────────────────────────────────
//!            backward: min_b(t) + queueing + congestion, or lost
//! ```
//!
//! Each direction is modelled separately ([`DirectionConfig`]):
//! * the minimum delay, moved by **level shifts** (route changes), both
//!   scheduled and random; RADclock tracks the RTT floor and must detect
//!   these (research/radclock.md §2.7);
//! * a queueing distribution ([`QueueingConfig`]): exponential, gamma,
//!   heavy-tailed Pareto, a mixture, or resampled measurements;
//! * **congestion** episodes that add extra queueing while on;
//! * **loss**, independent or bursty (Gilbert–Elliott).
//!
//! Time-driven processes (congestion, random shifts) are advanced lazily
//! when a packet is sent, from their own random streams, so their
//! trajectory depends only on the seed, never on how often packets are
//! sent. Per-packet draws (loss, queueing) come from the direction's stream.
//! Sending costs O(1) amortised and never allocates.
//!
//! ```
//! use models::network::{Path, PathConfig};
//! use sim_core::{RngStreams, SimTime};
//! let streams = RngStreams::new(1);
//! let cfg = PathConfig::from_rtt(280.0, 20.0);
//! assert!(cfg.validate("path").is_empty());
//! let mut path = Path::new(&cfg, streams.stream("path/fwd"), streams.stream("path/bwd")).unwrap();
//! let t = SimTime::from_secs(10);
//! let d = path.forward_delay(t).expect("no loss configured");
//! assert!(d >= path.min_delay_forward(t));
//! assert!((path.asymmetry_s(t) - 20e-6).abs() < 1e-12);
//! ```

mod config;
mod queueing;

use algorithms::ConfigError;
use rand::RngExt;
use rand_distr::Exp1;
use sim_core::{SimDuration, SimRng, SimTime};

use config::join;
pub use config::{
    CongestionConfig, DEFAULT_MIN_DELAY_US, DEFAULT_QUEUEING_MEAN_US, DirectionConfig,
    EmpiricalSource, LevelShift, LossConfig, MAX_DELAY_US, MAX_EPISODE_S, MIN_EPISODE_S,
    MixtureComponent, PathConfig, QueueingConfig, RandomShiftConfig,
};
use queueing::Queueing;

/// Stream numbers (ChaCha `set_stream`) of the time-driven processes, so
/// they are independent of the per-packet draws of the same direction.
const CONGESTION_STREAM: u64 = 0x636f_6e67; // "cong"
const RANDOM_SHIFT_STREAM: u64 = 0x7368_6674; // "shft"

fn exp_duration(rng: &mut SimRng, mean_s: f64) -> SimDuration {
    SimDuration::from_secs_f64(mean_s * rng.sample::<f64, _>(Exp1))
}

/// An alternating renewal process: off for Exp(mean_off), then on for
/// Exp(mean_on), each on-episode with a sign (+1 with `up_probability`).
/// Holds the current or next on-episode; advancing past its end draws the
/// next one, so a run costs O(number of episodes), independent of queries.
#[derive(Clone, Debug)]
struct Episodes {
    rng: SimRng,
    mean_off_s: f64,
    mean_on_s: f64,
    up_probability: f64,
    on_start: SimTime,
    on_end: SimTime,
    sign: f64,
}

impl Episodes {
    fn new(rng: SimRng, mean_off_s: f64, mean_on_s: f64, up_probability: f64) -> Self {
        let mut e = Episodes {
            rng,
            mean_off_s,
            mean_on_s,
            up_probability,
            on_start: SimTime::ZERO,
            on_end: SimTime::ZERO,
            sign: 1.0,
        };
        e.draw_after(SimTime::ZERO);
        e
    }

    fn draw_after(&mut self, from: SimTime) {
        self.on_start = from + exp_duration(&mut self.rng, self.mean_off_s);
        self.on_end = self.on_start + exp_duration(&mut self.rng, self.mean_on_s);
        // Always draw the sign, so every episode consumes the same numbers.
        let u: f64 = self.rng.random();
        self.sign = if u < self.up_probability { 1.0 } else { -1.0 };
    }

    /// Moves forward so the held episode is the one in progress at `t` or
    /// the next one. Earlier instants than a previous query are answered
    /// from the held episode (the process does not rewind).
    fn advance(&mut self, t: SimTime) {
        while t >= self.on_end {
            let end = self.on_end;
            self.draw_after(end);
        }
    }

    /// The sign of the episode in progress at `t`, if one is (after `advance(t)`).
    fn active(&self, t: SimTime) -> Option<f64> {
        (t >= self.on_start && t < self.on_end).then_some(self.sign)
    }

    /// `active(t)` without disturbing the state: advances a copy (the
    /// generator state is inline, so this does not allocate).
    fn peek(&self, t: SimTime) -> Option<f64> {
        if t < self.on_end {
            return self.active(t);
        }
        let mut copy = self.clone();
        copy.advance(t);
        copy.active(t)
    }
}

/// Per-packet loss state.
#[derive(Clone, Debug)]
enum Loss {
    None,
    Independent {
        probability: f64,
    },
    GilbertElliott {
        to_bad: f64,
        to_good: f64,
        loss_good: f64,
        loss_bad: f64,
        bad: bool,
    },
}

impl Loss {
    fn new(cfg: &LossConfig, rng: &mut SimRng) -> Self {
        match cfg {
            LossConfig::None => Loss::None,
            LossConfig::Independent { probability } => Loss::Independent {
                probability: *probability,
            },
            LossConfig::GilbertElliott {
                good_to_bad_probability,
                bad_to_good_probability,
                loss_probability_good,
                loss_probability_bad,
            } => {
                // Start in the stationary distribution, so the loss rate is
                // stationary from the first packet.
                let pi_bad =
                    config::stationary_bad(*good_to_bad_probability, *bad_to_good_probability);
                let bad = rng.random::<f64>() < pi_bad;
                Loss::GilbertElliott {
                    to_bad: *good_to_bad_probability,
                    to_good: *bad_to_good_probability,
                    loss_good: *loss_probability_good,
                    loss_bad: *loss_probability_bad,
                    bad,
                }
            }
        }
    }

    fn lost(&mut self, rng: &mut SimRng) -> bool {
        match self {
            Loss::None => false,
            Loss::Independent { probability } => rng.random::<f64>() < *probability,
            Loss::GilbertElliott {
                to_bad,
                to_good,
                loss_good,
                loss_bad,
                bad,
            } => {
                let lost = rng.random::<f64>() < if *bad { *loss_bad } else { *loss_good };
                let flip = rng.random::<f64>() < if *bad { *to_good } else { *to_bad };
                if flip {
                    *bad = !*bad;
                }
                lost
            }
        }
    }
}

/// One direction of a built path.
#[derive(Clone, Debug)]
struct Direction {
    base_min_us: f64,
    /// Scheduled shifts sorted by time: (onset, new minimum µs).
    shifts: Vec<(SimTime, f64)>,
    queueing: Queueing,
    congestion: Option<(Episodes, f64)>,
    random_shifts: Option<(Episodes, f64)>,
    loss: Loss,
    rng: SimRng,
}

impl Direction {
    fn new(
        cfg: &DirectionConfig,
        base_min_us: f64,
        mut rng: SimRng,
        field: &str,
    ) -> Result<Self, ConfigError> {
        let queueing = Queueing::new(&cfg.queueing, &join(field, "queueing"))?;
        let mut shifts: Vec<(SimTime, f64)> = cfg
            .level_shifts
            .iter()
            .map(|s| (SimTime::from_secs_f64(s.at_s), s.min_delay_us))
            .collect();
        // Stable, so of two shifts at the same instant the later-listed wins.
        shifts.sort_by_key(|s| s.0);
        let sub_stream = |n: u64| {
            let mut r = rng.clone();
            r.set_stream(n);
            r.set_word_pos(0);
            r
        };
        let congestion = cfg.congestion.as_ref().map(|c| {
            (
                Episodes::new(
                    sub_stream(CONGESTION_STREAM),
                    c.mean_off_s,
                    c.mean_on_s,
                    1.0,
                ),
                c.extra_mean_us,
            )
        });
        let random_shifts = cfg.random_shifts.as_ref().map(|r| {
            (
                Episodes::new(
                    sub_stream(RANDOM_SHIFT_STREAM),
                    r.mean_interval_s,
                    r.mean_duration_s,
                    r.up_probability,
                ),
                r.magnitude_us,
            )
        });
        let loss = Loss::new(&cfg.loss, &mut rng);
        Ok(Direction {
            base_min_us,
            shifts,
            queueing,
            congestion,
            random_shifts,
            loss,
            rng,
        })
    }

    /// Minimum delay at `t` from the base and the scheduled shifts, µs.
    fn scheduled_min_us(&self, t: SimTime) -> f64 {
        let n = self.shifts.partition_point(|s| s.0 <= t);
        if n == 0 {
            self.base_min_us
        } else {
            self.shifts[n - 1].1
        }
    }

    fn with_random_shift(&self, min_us: f64, sign: Option<f64>) -> f64 {
        match (sign, &self.random_shifts) {
            (Some(s), Some((_, magnitude))) => (min_us + s * magnitude).max(0.0),
            _ => min_us,
        }
    }

    fn min_us(&self, t: SimTime) -> f64 {
        let sign = self.random_shifts.as_ref().and_then(|(e, _)| e.peek(t));
        self.with_random_shift(self.scheduled_min_us(t), sign)
    }

    fn delay(&mut self, t: SimTime) -> Option<SimDuration> {
        let mut shift_sign = None;
        if let Some((e, _)) = &mut self.random_shifts {
            e.advance(t);
            shift_sign = e.active(t);
        }
        let mut extra_mean_us = 0.0;
        if let Some((e, extra)) = &mut self.congestion {
            e.advance(t);
            if e.active(t).is_some() {
                extra_mean_us = *extra;
            }
        }
        if self.loss.lost(&mut self.rng) {
            return None;
        }
        let min_us = self.with_random_shift(self.scheduled_min_us(t), shift_sign);
        let mut delay_us = min_us + self.queueing.sample(&mut self.rng);
        if extra_mean_us > 0.0 {
            delay_us += extra_mean_us * self.rng.sample::<f64, _>(Exp1);
        }
        Some(SimDuration::from_secs_f64(delay_us * 1e-6))
    }
}

/// A built network path: draws the delay (or loss) of each packet.
#[derive(Clone, Debug)]
pub struct Path {
    forward: Direction,
    backward: Direction,
}

impl Path {
    /// Builds a path; `rng_forward` and `rng_backward` drive the two
    /// directions. Fails with the first validation problem, including an
    /// unreadable or malformed empirical delay file.
    pub fn new(
        cfg: &PathConfig,
        rng_forward: SimRng,
        rng_backward: SimRng,
    ) -> Result<Self, ConfigError> {
        if let Some(e) = cfg.validate("").into_iter().next() {
            return Err(e);
        }
        let (fwd_us, bwd_us) = cfg.base_min_delays_us();
        Ok(Path {
            forward: Direction::new(&cfg.forward, fwd_us, rng_forward, "forward")?,
            backward: Direction::new(&cfg.backward, bwd_us, rng_backward, "backward")?,
        })
    }

    /// Delay of a client → server packet sent at `t_send`; `None` if lost.
    pub fn forward_delay(&mut self, t_send: SimTime) -> Option<SimDuration> {
        self.forward.delay(t_send)
    }

    /// Delay of a server → client packet sent at `t_send`; `None` if lost.
    pub fn backward_delay(&mut self, t_send: SimTime) -> Option<SimDuration> {
        self.backward.delay(t_send)
    }

    /// The forward minimum delay in force at `t` (after level shifts).
    pub fn min_delay_forward(&self, t: SimTime) -> SimDuration {
        SimDuration::from_secs_f64(self.forward.min_us(t) * 1e-6)
    }

    /// The backward minimum delay in force at `t` (after level shifts).
    pub fn min_delay_backward(&self, t: SimTime) -> SimDuration {
        SimDuration::from_secs_f64(self.backward.min_us(t) * 1e-6)
    }

    /// Path asymmetry at `t`: forward − backward minimum delay, seconds.
    /// A two-way algorithm's offset estimate is biased by half of it.
    pub fn asymmetry_s(&self, t: SimTime) -> f64 {
        (self.forward.min_us(t) - self.backward.min_us(t)) * 1e-6
    }

    /// The configured mean queueing delay `(forward, backward)`, µs,
    /// excluding congestion (draws capped at `MAX_DELAY_US` included).
    pub fn mean_queueing_us(&self) -> (f64, f64) {
        (
            self.forward.queueing.mean_us(),
            self.backward.queueing.mean_us(),
        )
    }
}

#[cfg(test)]
mod tests;
