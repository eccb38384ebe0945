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
//! Congestion and random shifts belong to the path and are shared in time
//! by every packet that crosses it. They are drawn lazily from their own
//! random streams, episode after episode, so their trajectory depends only
//! on the seed, never on how often packets are sent; and they answer a
//! query at time `t` the same whatever queries came before, in order or
//! not (packets ask at their wire time, which different clients reach out
//! of order; see [`LOOKBACK`]).
//!
//! Per-packet draws (loss, queueing, congestion's extra queueing) come
//! from the packet's [`Flow`], one client's request/reply stream with its
//! own random streams ([`Path::flow`]): one flow's packets never shift
//! another's draws. The Gilbert–Elliott chain steps once per packet *of a
//! flow*, so each flow sees loss bursts of its own, at the configured
//! stationary rate, rather than one chain stepped by every client's
//! packets in turn. Sending costs O(1) amortised and never allocates in
//! steady state.
//!
//! ```
//! use models::network::{Path, PathConfig};
//! use sim_core::{RngStreams, SimTime};
//! let streams = RngStreams::new(1);
//! let cfg = PathConfig::from_rtt(280.0, 20.0);
//! assert!(cfg.validate("path").is_empty());
//! let mut path = Path::new(&cfg, streams.stream("path/fwd"), streams.stream("path/bwd")).unwrap();
//! let mut flow = path.flow(streams.stream("path/fwd/client"), streams.stream("path/bwd/client"));
//! let t = SimTime::from_secs(10);
//! let d = path.forward_delay(&mut flow, t).expect("no loss configured");
//! assert!(d >= path.min_delay_forward(t));
//! assert!((path.asymmetry_s(t) - 20e-6).abs() < 1e-12);
//! ```

mod config;
mod queueing;

use std::collections::VecDeque;

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
/// they are independent of each other and of the path's stream itself.
const CONGESTION_STREAM: u64 = 0x636f_6e67; // "cong"
const RANDOM_SHIFT_STREAM: u64 = 0x7368_6674; // "shft"

/// How far behind the latest query a direction's congestion and random
/// shifts remember the episodes they have drawn, to answer earlier queries
/// at once. Packets ask at their wire time, which runs ahead of the event
/// being handled by a host's transmit stages or a server's residence
/// (micro- to milliseconds), so the queries of different flows come out of
/// order by about that much; ten seconds covers every realistic lead with
/// room to spare, and bounds the memory to the episodes of ten seconds. A
/// query further back gets the same answer, only slower: the process is
/// drawn again from its start.
pub const LOOKBACK: SimDuration = SimDuration::from_secs(10);

fn exp_duration(rng: &mut SimRng, mean_s: f64) -> SimDuration {
    SimDuration::from_secs_f64(mean_s * rng.sample::<f64, _>(Exp1))
}

/// One on-episode: on over `[start, end)`, with its sign.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Episode {
    start: SimTime,
    end: SimTime,
    sign: f64,
}

/// The draws of an alternating renewal process, in episode order: off for
/// Exp(mean_off), then on for Exp(mean_on), each on-episode with a sign
/// (+1 with `up_probability`). Its state is inline, so a copy does not
/// allocate.
#[derive(Clone, Debug)]
struct EpisodeDraws {
    rng: SimRng,
    mean_off_s: f64,
    mean_on_s: f64,
    up_probability: f64,
    /// Where the off period before `last` starts (the end of the episode
    /// before it, zero for the first): `last` answers every instant from
    /// there to its own end.
    off_start: SimTime,
    last: Episode,
}

impl EpisodeDraws {
    fn new(rng: SimRng, mean_off_s: f64, mean_on_s: f64, up_probability: f64) -> Self {
        let mut d = EpisodeDraws {
            rng,
            mean_off_s,
            mean_on_s,
            up_probability,
            off_start: SimTime::ZERO,
            last: Episode {
                start: SimTime::ZERO,
                end: SimTime::ZERO,
                sign: 1.0,
            },
        };
        d.last = d.draw_after(SimTime::ZERO);
        d
    }

    fn draw_after(&mut self, from: SimTime) -> Episode {
        let start = from + exp_duration(&mut self.rng, self.mean_off_s);
        let end = start + exp_duration(&mut self.rng, self.mean_on_s);
        // Always draw the sign, so every episode consumes the same numbers.
        let u: f64 = self.rng.random();
        let sign = if u < self.up_probability { 1.0 } else { -1.0 };
        Episode { start, end, sign }
    }

    /// Draws the episode after `last`.
    fn step(&mut self) -> Episode {
        self.off_start = self.last.end;
        self.last = self.draw_after(self.last.end);
        self.last
    }

    /// Moves on until `last` is the episode in progress at `t` or the next
    /// one; exact for `t` at or after `off_start`.
    fn run_to(&mut self, t: SimTime) {
        while t >= self.last.end {
            self.step();
        }
    }

    /// The sign of `last` if it is in progress at `t` (after `run_to(t)`).
    fn sign_at(&self, t: SimTime) -> Option<f64> {
        (t >= self.last.start && t < self.last.end).then_some(self.last.sign)
    }
}

/// An alternating renewal process shared in time by every flow of a
/// direction, answering "which episode is in progress at `t`" as a pure
/// function of `t`, whatever the queries before.
///
/// The episodes are drawn in order from the process's own stream, as far
/// as the latest query needs, so the draws never depend on the queries.
/// Those that ended less than [`LOOKBACK`] before the latest query are
/// remembered (in a ring that keeps its capacity: no allocation in steady
/// state), so an earlier query within that window is answered exactly in
/// O(1) amortised. A query further back is answered exactly too, but
/// slowly: a cursor replays the process from its start (and serves later
/// queries that far back in increasing order without starting over).
#[derive(Clone, Debug)]
struct Episodes {
    /// Drawn up to the episode in progress at, or next after, the latest
    /// query.
    ahead: EpisodeDraws,
    /// The process before its first draw, whence `replay` starts over.
    origin: EpisodeDraws,
    /// The cursor through the past beyond `remembered`.
    replay: EpisodeDraws,
    /// Every episode drawn that ends after `forgotten_until`, oldest first;
    /// the last one is `ahead.last`.
    remembered: VecDeque<Episode>,
    latest: SimTime,
    forgotten_until: SimTime,
}

impl Episodes {
    fn new(rng: SimRng, mean_off_s: f64, mean_on_s: f64, up_probability: f64) -> Self {
        let origin = EpisodeDraws::new(rng, mean_off_s, mean_on_s, up_probability);
        let mut remembered = VecDeque::with_capacity(8);
        remembered.push_back(origin.last);
        Episodes {
            ahead: origin.clone(),
            replay: origin.clone(),
            origin,
            remembered,
            latest: SimTime::ZERO,
            forgotten_until: SimTime::ZERO,
        }
    }

    /// The sign of the episode in progress at `t`, if one is.
    fn at(&mut self, t: SimTime) -> Option<f64> {
        if t > self.latest {
            self.latest = t;
            while t >= self.ahead.last.end {
                let e = self.ahead.step();
                self.remembered.push_back(e);
            }
            let horizon_ns = t.as_nanos().saturating_sub(LOOKBACK.as_nanos());
            while self.remembered.len() > 1 && self.remembered[0].end.as_nanos() <= horizon_ns {
                if let Some(e) = self.remembered.pop_front() {
                    self.forgotten_until = e.end;
                }
            }
        }
        if t >= self.forgotten_until {
            return self.recall(t);
        }
        if t < self.replay.off_start {
            self.replay = self.origin.clone();
        }
        self.replay.run_to(t);
        self.replay.sign_at(t)
    }

    /// `at(t)` without moving the process: what lies ahead is drawn on a
    /// copy (the state is inline, so this does not allocate).
    fn peek(&self, t: SimTime) -> Option<f64> {
        let cursor = if t >= self.ahead.last.end {
            &self.ahead
        } else if t >= self.forgotten_until {
            return self.recall(t);
        } else if t >= self.replay.off_start {
            &self.replay
        } else {
            &self.origin
        };
        let mut copy = cursor.clone();
        copy.run_to(t);
        copy.sign_at(t)
    }

    /// From the remembered episodes, for `forgotten_until ≤ t <
    /// ahead.last.end`: the only one that can hold `t` is the latest to
    /// start at or before it. Queries come near the latest, so the search
    /// runs from the newest.
    fn recall(&self, t: SimTime) -> Option<f64> {
        self.remembered
            .iter()
            .rev()
            .find(|e| e.start <= t)
            .filter(|e| t < e.end)
            .map(|e| e.sign)
    }
}

/// A direction's loss model; the state of its Gilbert–Elliott chain is a
/// flow's ([`FlowDirection::bad`]).
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
    },
}

impl Loss {
    fn new(cfg: &LossConfig) -> Self {
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
            } => Loss::GilbertElliott {
                to_bad: *good_to_bad_probability,
                to_good: *bad_to_good_probability,
                loss_good: *loss_probability_good,
                loss_bad: *loss_probability_bad,
            },
        }
    }

    /// A new flow's chain state, drawn from its stationary distribution so
    /// that the flow's loss rate is stationary from its first packet.
    fn initial_bad(&self, rng: &mut SimRng) -> bool {
        match *self {
            Loss::GilbertElliott {
                to_bad, to_good, ..
            } => rng.random::<f64>() < config::stationary_bad(to_bad, to_good),
            _ => false,
        }
    }

    /// Whether a packet of a flow whose chain is in state `bad` is lost;
    /// steps the chain.
    fn lost(&self, bad: &mut bool, rng: &mut SimRng) -> bool {
        match *self {
            Loss::None => false,
            Loss::Independent { probability } => rng.random::<f64>() < probability,
            Loss::GilbertElliott {
                to_bad,
                to_good,
                loss_good,
                loss_bad,
            } => {
                let lost = rng.random::<f64>() < if *bad { loss_bad } else { loss_good };
                let flip = rng.random::<f64>() < if *bad { to_good } else { to_bad };
                if flip {
                    *bad = !*bad;
                }
                lost
            }
        }
    }
}

/// A flow's own state in one direction.
#[derive(Clone, Debug)]
struct FlowDirection {
    /// Every per-packet draw of the flow in this direction.
    rng: SimRng,
    /// Its Gilbert–Elliott chain is in the bad state.
    bad: bool,
}

/// One client's request/reply stream over a [`Path`]: the per-packet draws
/// (loss, queueing, congestion's extra queueing) of its packets come from
/// its own streams, and its loss bursts from its own Gilbert–Elliott
/// chains, so no other flow's packets shift them. Made by [`Path::flow`].
#[derive(Clone, Debug)]
pub struct Flow {
    forward: FlowDirection,
    backward: FlowDirection,
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
}

impl Direction {
    fn new(
        cfg: &DirectionConfig,
        base_min_us: f64,
        rng: SimRng,
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
        Ok(Direction {
            base_min_us,
            shifts,
            queueing,
            congestion,
            random_shifts,
            loss: Loss::new(&cfg.loss),
        })
    }

    fn flow(&self, mut rng: SimRng) -> FlowDirection {
        let bad = self.loss.initial_bad(&mut rng);
        FlowDirection { rng, bad }
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

    fn delay(&mut self, flow: &mut FlowDirection, t: SimTime) -> Option<SimDuration> {
        let shift_sign = self.random_shifts.as_mut().and_then(|(e, _)| e.at(t));
        let extra_mean_us = match &mut self.congestion {
            Some((e, extra)) => e.at(t).map_or(0.0, |_| *extra),
            None => 0.0,
        };
        if self.loss.lost(&mut flow.bad, &mut flow.rng) {
            return None;
        }
        let min_us = self.with_random_shift(self.scheduled_min_us(t), shift_sign);
        let mut delay_us = min_us + self.queueing.sample(&mut flow.rng);
        if extra_mean_us > 0.0 {
            delay_us += extra_mean_us * flow.rng.sample::<f64, _>(Exp1);
        }
        Some(SimDuration::from_secs_f64(delay_us * 1e-6))
    }
}

/// A built network path: its minimum delays and the time-driven processes
/// shared by every flow over it; draws the delay (or loss) of each packet
/// of a [`Flow`].
#[derive(Clone, Debug)]
pub struct Path {
    forward: Direction,
    backward: Direction,
}

impl Path {
    /// Builds a path; `rng_forward` and `rng_backward` drive the two
    /// directions' time-driven processes. Fails with the first validation
    /// problem, including an unreadable or malformed empirical delay file.
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

    /// A new flow over this path whose packets draw from `rng_forward` and
    /// `rng_backward`; its Gilbert–Elliott chains (if the path has bursty
    /// loss) start in their stationary distribution, drawn from those
    /// streams.
    pub fn flow(&self, rng_forward: SimRng, rng_backward: SimRng) -> Flow {
        Flow {
            forward: self.forward.flow(rng_forward),
            backward: self.backward.flow(rng_backward),
        }
    }

    /// Delay of `flow`'s client → server packet sent at `t_send`; `None`
    /// if lost.
    pub fn forward_delay(&mut self, flow: &mut Flow, t_send: SimTime) -> Option<SimDuration> {
        self.forward.delay(&mut flow.forward, t_send)
    }

    /// Delay of `flow`'s server → client packet sent at `t_send`; `None`
    /// if lost.
    pub fn backward_delay(&mut self, flow: &mut Flow, t_send: SimTime) -> Option<SimDuration> {
        self.backward.delay(&mut flow.backward, t_send)
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
