//! Network path parameters, their defaults and their validation.

use algorithms::{ConfigError, Num};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::queueing::load_empirical_file;

/// Default minimum one-way delay, µs: half the ~280 µs minimum RTT of the
/// RADclock LAN testbed, a stratum-1 server "a couple of switches away"
/// (research/radclock.md §5.1).
pub const DEFAULT_MIN_DELAY_US: f64 = 140.0;

/// Default mean of the exponential queueing delay, µs. The LAN testbed had
/// "little congestion" (research/radclock.md §5.1); this is a third of the
/// 60 µs bulk component of the synthetic path used to check RADclock
/// (research/radclock.md §5.3).
pub const DEFAULT_QUEUEING_MEAN_US: f64 = 20.0;

/// Largest value of any one delay parameter of a path, µs (10 s: far
/// beyond any real path, small enough to keep arithmetic exact to the
/// nanosecond); `min_rtt_us` may be twice it. Lomax draws are capped at it;
/// a one-way delay, a sum of parts, may exceed it.
pub const MAX_DELAY_US: f64 = 1e7;

/// Shortest mean duration of an on/off episode, s. Anything faster is
/// queueing, not an episode, and would make lazy advancement slow.
pub const MIN_EPISODE_S: f64 = 1e-3;

/// Longest mean duration of an on/off episode, s (~30 years).
pub const MAX_EPISODE_S: f64 = 1e9;

/// `path.field`, or just `field` at the top level.
pub(crate) fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn check_positive(errors: &mut Vec<ConfigError>, field: &str, value: f64, hi: f64, unit: &str) {
    if !(value > 0.0 && value <= hi) {
        errors.push(ConfigError::new(
            field,
            format!(
                "{} is outside the valid range (0, {}] {unit}",
                Num(value),
                Num(hi)
            ),
        ));
    }
}

/// A network path between a client and a server: two independent
/// directions, each with its own minimum delay, queueing, congestion, loss
/// and level shifts.
///
/// The minimum delays are given in exactly one of two styles:
/// * `min_rtt_us` (+ optional `asymmetry_us`, default 0): forward =
///   (rtt + asymmetry)/2, backward = (rtt − asymmetry)/2;
/// * `forward.min_delay_us` and `backward.min_delay_us`, both.
///
/// Giving neither uses [`DEFAULT_MIN_DELAY_US`] each way; mixing the styles
/// or giving only one direction is a validation error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PathConfig {
    /// Minimum round-trip time, µs (0..=2e7), the sum of the two minimum
    /// one-way delays. `None` unless this style is chosen.
    pub min_rtt_us: Option<f64>,
    /// Path asymmetry = forward − backward minimum delay, µs
    /// (−min_rtt_us..=min_rtt_us; default 0 when `min_rtt_us` is given).
    /// An unobservable bias of asymmetry/2 for any two-way algorithm.
    pub asymmetry_us: Option<f64>,
    /// Client → server.
    pub forward: DirectionConfig,
    /// Server → client.
    pub backward: DirectionConfig,
}

#[cfg(test)]
impl PathConfig {
    /// `self` with every process a path can share between its clients, in
    /// both directions: congestion episodes (on for `episode_s` in four),
    /// random level shifts (as long, twice as rare) and bursty loss (a
    /// Gilbert–Elliott chain losing about 8 % of packets).
    pub(crate) fn with_shared_processes(mut self, episode_s: f64) -> Self {
        for d in [&mut self.forward, &mut self.backward] {
            d.congestion = Some(CongestionConfig {
                mean_on_s: episode_s,
                mean_off_s: 3.0 * episode_s,
                extra_mean_us: 300.0,
            });
            d.random_shifts = Some(RandomShiftConfig {
                mean_interval_s: 4.0 * episode_s,
                mean_duration_s: 2.0 * episode_s,
                magnitude_us: 50.0,
                up_probability: 0.5,
            });
            d.loss = LossConfig::GilbertElliott {
                good_to_bad_probability: 0.05,
                bad_to_good_probability: 0.3,
                loss_probability_good: 0.01,
                loss_probability_bad: 0.5,
            };
        }
        self
    }
}

impl PathConfig {
    /// A path with minimum RTT and asymmetry (µs), other settings default.
    pub fn from_rtt(min_rtt_us: f64, asymmetry_us: f64) -> Self {
        PathConfig {
            min_rtt_us: Some(min_rtt_us),
            asymmetry_us: Some(asymmetry_us),
            ..PathConfig::default()
        }
    }

    /// A path with per-direction minimum delays (µs), other settings default.
    pub fn from_min_delays(forward_us: f64, backward_us: f64) -> Self {
        let mut cfg = PathConfig::default();
        cfg.forward.min_delay_us = Some(forward_us);
        cfg.backward.min_delay_us = Some(backward_us);
        cfg
    }

    /// The base (pre-shift) minimum one-way delays `(forward, backward)`,
    /// µs, resolved from whichever style the configuration uses. Meaningful
    /// only for a configuration that validates.
    pub fn base_min_delays_us(&self) -> (f64, f64) {
        if let Some(rtt) = self.min_rtt_us {
            let asym = self.asymmetry_us.unwrap_or(0.0);
            ((rtt + asym) / 2.0, (rtt - asym) / 2.0)
        } else {
            (
                self.forward.min_delay_us.unwrap_or(DEFAULT_MIN_DELAY_US),
                self.backward.min_delay_us.unwrap_or(DEFAULT_MIN_DELAY_US),
            )
        }
    }

    /// All problems, each naming its field (prefixed by `path`) and range.
    /// Empirical delay files are read here, so a missing or malformed file
    /// is reported before a run starts.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let rtt_style = self.min_rtt_us.is_some() || self.asymmetry_us.is_some();
        let dir_style = self.forward.min_delay_us.is_some() || self.backward.min_delay_us.is_some();
        if rtt_style && dir_style {
            errors.push(ConfigError::new(
                join(path, "min_rtt_us"),
                "give the minimum delays one way only: either min_rtt_us (+ asymmetry_us) or forward.min_delay_us and backward.min_delay_us, not both",
            ));
        } else if rtt_style {
            match self.min_rtt_us {
                None => errors.push(ConfigError::new(
                    join(path, "asymmetry_us"),
                    "asymmetry_us requires min_rtt_us (0..=2e7 µs); per-direction delays express asymmetry directly",
                )),
                Some(rtt) => {
                    ConfigError::check_range(&mut errors, &join(path, "min_rtt_us"), rtt, 0.0, 2.0 * MAX_DELAY_US, "µs");
                    if let Some(asym) = self.asymmetry_us {
                        let bound = if rtt.is_finite() && rtt >= 0.0 { rtt } else { 0.0 };
                        ConfigError::check_range(&mut errors, &join(path, "asymmetry_us"), asym, -bound, bound, "µs (|asymmetry| ≤ min_rtt_us)");
                    }
                }
            }
        } else if dir_style {
            for (name, dir) in [("forward", &self.forward), ("backward", &self.backward)] {
                if dir.min_delay_us.is_none() {
                    errors.push(ConfigError::new(
                        join(path, &format!("{name}.min_delay_us")),
                        format!("missing: per-direction style needs both directions' minimum delays (0..={MAX_DELAY_US} µs)"),
                    ));
                }
            }
        }
        errors.extend(self.forward.validate(&join(path, "forward")));
        errors.extend(self.backward.validate(&join(path, "backward")));
        errors
    }
}

/// One direction of a path.
///
/// Delay of a packet sent at `t` = minimum delay at `t` (base, moved by
/// scheduled and random level shifts) + queueing draw + congestion extra
/// (while an episode is on); or lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DirectionConfig {
    /// Minimum one-way delay, µs (0..=1e7). Give it for both directions or
    /// for neither (see [`PathConfig`]); default [`DEFAULT_MIN_DELAY_US`].
    pub min_delay_us: Option<f64>,
    /// Queueing delay added to the minimum; default exponential with mean
    /// [`DEFAULT_QUEUEING_MEAN_US`].
    pub queueing: QueueingConfig,
    /// Congestion episodes; default none.
    pub congestion: Option<CongestionConfig>,
    /// Packet loss; default none.
    pub loss: LossConfig,
    /// Scheduled level shifts of the minimum delay (route changes), in any
    /// order; default none.
    pub level_shifts: Vec<LevelShift>,
    /// Random level shifts; default none.
    pub random_shifts: Option<RandomShiftConfig>,
}

impl Default for DirectionConfig {
    fn default() -> Self {
        DirectionConfig {
            min_delay_us: None,
            queueing: QueueingConfig::Exponential {
                mean_us: DEFAULT_QUEUEING_MEAN_US,
            },
            congestion: None,
            loss: LossConfig::None,
            level_shifts: Vec::new(),
            random_shifts: None,
        }
    }
}

impl DirectionConfig {
    /// All problems, each naming its field (prefixed by `path`) and range.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Some(d) = self.min_delay_us {
            ConfigError::check_range(
                &mut errors,
                &join(path, "min_delay_us"),
                d,
                0.0,
                MAX_DELAY_US,
                "µs",
            );
        }
        errors.extend(self.queueing.validate(&join(path, "queueing")));
        if let Some(c) = &self.congestion {
            errors.extend(c.validate(&join(path, "congestion")));
        }
        errors.extend(self.loss.validate(&join(path, "loss")));
        for (i, s) in self.level_shifts.iter().enumerate() {
            errors.extend(s.validate(&join(path, &format!("level_shifts[{i}]"))));
        }
        if let Some(r) = &self.random_shifts {
            errors.extend(r.validate(&join(path, "random_shifts")));
        }
        errors
    }
}

/// Distribution of the queueing delay added to the minimum delay.
///
/// All values in µs. Means are what a long run averages to; the Pareto
/// variant can have an infinite mean, which models heavy-tailed
/// cross-traffic where rare huge delays dominate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum QueueingConfig {
    /// No queueing: every packet sees exactly the minimum delay.
    None,
    /// Exponential with the given mean (M/M/1-like waiting time).
    Exponential {
        /// Mean, µs (0..=1e7).
        mean_us: f64,
    },
    /// Gamma with the given shape and mean (scale = mean/shape): shape < 1
    /// is burstier than exponential, shape > 1 more concentrated.
    Gamma {
        /// Shape k, dimensionless ((0, 1e6]).
        shape: f64,
        /// Mean, µs (0..=1e7).
        mean_us: f64,
    },
    /// Pareto type II (Lomax), starting at zero: P(Q > q) = (1 + q/scale)^−shape.
    /// Give exactly one of `scale_us` or `mean_us`. Draws are capped at
    /// [`MAX_DELAY_US`], and `mean_us` is the mean of the capped draws: the
    /// scale is solved for it. (The uncapped mean, scale/(shape − 1), is
    /// close for a light tail but not near shape 1: with the scale it
    /// gives for 100 µs at shape 1.1, capped draws average 75 µs.)
    Pareto {
        /// Tail index α, dimensionless ((0, 100]); variance finite only
        /// for α > 2.
        shape: f64,
        /// Scale, µs ((0, 1e7]).
        #[serde(default)]
        scale_us: Option<f64>,
        /// Mean of the capped draws, µs ((0, 1e7)); needs shape > 1.
        #[serde(default)]
        mean_us: Option<f64>,
    },
    /// A weighted mixture: each packet draws from one component, chosen
    /// with probability weight / Σ weights.
    Mixture(Vec<MixtureComponent>),
    /// Resampling from measured delays (bootstrap): each packet takes one
    /// of the values uniformly at random.
    Empirical(EmpiricalSource),
}

impl QueueingConfig {
    /// The empirical delay files this distribution reads, in order.
    pub fn files(&self) -> Vec<&str> {
        match self {
            QueueingConfig::Empirical(EmpiricalSource::File { path }) => vec![path.as_str()],
            QueueingConfig::Mixture(parts) => {
                parts.iter().flat_map(|c| c.queueing.files()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The mixture used to check RADclock (research/radclock.md §5.3):
    /// 90 % Exp(60 µs) + 10 % Exp(2 ms).
    pub fn radclock_reference() -> Self {
        QueueingConfig::Mixture(vec![
            MixtureComponent {
                weight: 0.9,
                queueing: QueueingConfig::Exponential { mean_us: 60.0 },
            },
            MixtureComponent {
                weight: 0.1,
                queueing: QueueingConfig::Exponential { mean_us: 2000.0 },
            },
        ])
    }

    /// All problems, each naming its field (prefixed by `path`) and range.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match self {
            QueueingConfig::None => {}
            QueueingConfig::Exponential { mean_us } => {
                ConfigError::check_range(
                    &mut errors,
                    &join(path, "mean_us"),
                    *mean_us,
                    0.0,
                    MAX_DELAY_US,
                    "µs",
                );
            }
            QueueingConfig::Gamma { shape, mean_us } => {
                check_positive(
                    &mut errors,
                    &join(path, "shape"),
                    *shape,
                    1e6,
                    "(dimensionless)",
                );
                ConfigError::check_range(
                    &mut errors,
                    &join(path, "mean_us"),
                    *mean_us,
                    0.0,
                    MAX_DELAY_US,
                    "µs",
                );
            }
            QueueingConfig::Pareto {
                shape,
                scale_us,
                mean_us,
            } => {
                check_positive(
                    &mut errors,
                    &join(path, "shape"),
                    *shape,
                    100.0,
                    "(dimensionless)",
                );
                match (scale_us, mean_us) {
                    (Some(_), Some(_)) | (None, None) => errors.push(ConfigError::new(
                        join(path, "scale_us"),
                        "give exactly one of scale_us in (0, 1e7] µs or mean_us in (0, 1e7) µs",
                    )),
                    (Some(scale), None) => check_positive(
                        &mut errors,
                        &join(path, "scale_us"),
                        *scale,
                        MAX_DELAY_US,
                        "µs",
                    ),
                    (None, Some(mean)) => {
                        check_positive(
                            &mut errors,
                            &join(path, "mean_us"),
                            *mean,
                            MAX_DELAY_US,
                            "µs",
                        );
                        if shape.is_nan() || *shape <= 1.0 {
                            errors.push(ConfigError::new(
                                join(path, "shape"),
                                format!("{shape}: mean_us needs shape in (1, 100] (at or below 1 the 10 s cap, not the tail, sets the mean); give scale_us for a heavier tail"),
                            ));
                        } else if *shape <= 100.0
                            && *mean > 0.0
                            && *mean <= MAX_DELAY_US
                            && super::queueing::lomax_scale_for_mean(*shape, *mean).is_none()
                        {
                            errors.push(super::queueing::unreachable_mean(
                                &join(path, "mean_us"),
                                *mean,
                            ));
                        }
                    }
                }
            }
            QueueingConfig::Mixture(parts) => {
                if parts.is_empty() {
                    errors.push(ConfigError::new(
                        path,
                        "a mixture needs at least one component",
                    ));
                }
                let mut total = 0.0;
                for (i, part) in parts.iter().enumerate() {
                    let p = join(path, &format!("Mixture[{i}]"));
                    ConfigError::check_range(
                        &mut errors,
                        &join(&p, "weight"),
                        part.weight,
                        0.0,
                        1e12,
                        "(relative, dimensionless)",
                    );
                    if part.weight.is_finite() && part.weight > 0.0 {
                        total += part.weight;
                    }
                    errors.extend(part.queueing.validate(&join(&p, "queueing")));
                }
                if !parts.is_empty() && total <= 0.0 {
                    errors.push(ConfigError::new(
                        path,
                        "mixture weights must sum to more than 0",
                    ));
                }
            }
            QueueingConfig::Empirical(source) => match source {
                EmpiricalSource::Samples { values_us } => {
                    if values_us.is_empty() {
                        errors.push(ConfigError::new(
                            join(path, "values_us"),
                            "needs at least one delay value (each 0..=1e7 µs)",
                        ));
                    }
                    for (i, v) in values_us.iter().enumerate() {
                        ConfigError::check_range(
                            &mut errors,
                            &join(path, &format!("values_us[{i}]")),
                            *v,
                            0.0,
                            MAX_DELAY_US,
                            "µs",
                        );
                    }
                }
                EmpiricalSource::File { path: file } => {
                    if let Err(e) = load_empirical_file(file, &join(path, "path")) {
                        errors.push(e);
                    }
                }
            },
        }
        errors
    }
}

/// One component of a [`QueueingConfig::Mixture`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MixtureComponent {
    /// Relative weight, dimensionless (≥ 0; weights are normalised).
    pub weight: f64,
    /// The component's distribution.
    pub queueing: QueueingConfig,
}

/// Where an empirical queueing distribution comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum EmpiricalSource {
    /// Values written in the configuration.
    Samples {
        /// Queueing delays, µs (each 0..=1e7).
        values_us: Vec<f64>,
    },
    /// A text file with one delay in µs per line; blank lines and lines
    /// starting with `#` are skipped. Relative paths are relative to the
    /// working directory.
    File {
        /// The file's path.
        path: String,
    },
}

/// Congestion episodes: an on/off process with exponentially distributed
/// on and off durations. While on, every packet gets extra queueing drawn
/// from an exponential with mean `extra_mean_us`, so the long-run mean
/// delay rises by on-fraction × `extra_mean_us`, with on-fraction =
/// mean_on/(mean_on + mean_off).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CongestionConfig {
    /// Mean duration of an episode, s (1e-3..=1e9; default 60).
    pub mean_on_s: f64,
    /// Mean quiet time between episodes, s (1e-3..=1e9; default 3600).
    pub mean_off_s: f64,
    /// Mean extra queueing while congested, µs (0..=1e7; default 2000,
    /// the heavy component of research/radclock.md §5.3).
    pub extra_mean_us: f64,
}

impl Default for CongestionConfig {
    fn default() -> Self {
        CongestionConfig {
            mean_on_s: 60.0,
            mean_off_s: 3600.0,
            extra_mean_us: 2000.0,
        }
    }
}

impl CongestionConfig {
    /// Long-run fraction of time congested.
    pub fn on_fraction(&self) -> f64 {
        self.mean_on_s / (self.mean_on_s + self.mean_off_s)
    }

    /// All problems, each naming its field (prefixed by `path`) and range.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        ConfigError::check_range(
            &mut errors,
            &join(path, "mean_on_s"),
            self.mean_on_s,
            MIN_EPISODE_S,
            MAX_EPISODE_S,
            "s",
        );
        ConfigError::check_range(
            &mut errors,
            &join(path, "mean_off_s"),
            self.mean_off_s,
            MIN_EPISODE_S,
            MAX_EPISODE_S,
            "s",
        );
        ConfigError::check_range(
            &mut errors,
            &join(path, "extra_mean_us"),
            self.extra_mean_us,
            0.0,
            MAX_DELAY_US,
            "µs",
        );
        errors
    }
}

/// Packet loss in one direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum LossConfig {
    /// Every packet arrives.
    None,
    /// Each packet is lost independently.
    Independent {
        /// Loss probability per packet (0..=1).
        probability: f64,
    },
    /// Gilbert–Elliott: a two-state Markov chain (good, bad) stepped once
    /// per packet, each state with its own loss probability, so losses come
    /// in bursts. Stationary loss rate = π_good·loss_good + π_bad·loss_bad
    /// with π_bad = good_to_bad/(good_to_bad + bad_to_good).
    GilbertElliott {
        /// Probability of moving good → bad at a packet (0..=1).
        good_to_bad_probability: f64,
        /// Probability of moving bad → good at a packet (0..=1); its
        /// inverse is the mean stay in the bad state, packets (the mean
        /// run of losses only when `loss_probability_bad` is 1).
        bad_to_good_probability: f64,
        /// Loss probability in the good state (0..=1).
        loss_probability_good: f64,
        /// Loss probability in the bad state (0..=1).
        loss_probability_bad: f64,
    },
}

/// Stationary probability of the Gilbert–Elliott chain's bad state, given
/// its per-packet transition probabilities.
pub(crate) fn stationary_bad(good_to_bad: f64, bad_to_good: f64) -> f64 {
    good_to_bad / (good_to_bad + bad_to_good)
}

impl LossConfig {
    /// The long-run fraction of packets lost.
    pub fn stationary_loss_rate(&self) -> f64 {
        match self {
            LossConfig::None => 0.0,
            LossConfig::Independent { probability } => *probability,
            LossConfig::GilbertElliott {
                good_to_bad_probability,
                bad_to_good_probability,
                loss_probability_good,
                loss_probability_bad,
            } => {
                let pi_bad = stationary_bad(*good_to_bad_probability, *bad_to_good_probability);
                (1.0 - pi_bad) * loss_probability_good + pi_bad * loss_probability_bad
            }
        }
    }

    /// All problems, each naming its field (prefixed by `path`) and range.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match self {
            LossConfig::None => {}
            LossConfig::Independent { probability } => {
                ConfigError::check_range(
                    &mut errors,
                    &join(path, "probability"),
                    *probability,
                    0.0,
                    1.0,
                    "(probability)",
                );
            }
            LossConfig::GilbertElliott {
                good_to_bad_probability,
                bad_to_good_probability,
                loss_probability_good,
                loss_probability_bad,
            } => {
                for (name, v) in [
                    ("good_to_bad_probability", good_to_bad_probability),
                    ("bad_to_good_probability", bad_to_good_probability),
                    ("loss_probability_good", loss_probability_good),
                    ("loss_probability_bad", loss_probability_bad),
                ] {
                    ConfigError::check_range(
                        &mut errors,
                        &join(path, name),
                        *v,
                        0.0,
                        1.0,
                        "(probability)",
                    );
                }
                if errors.is_empty() && good_to_bad_probability + bad_to_good_probability <= 0.0 {
                    errors.push(ConfigError::new(
                        join(path, "good_to_bad_probability"),
                        "good_to_bad_probability + bad_to_good_probability must be in (0, 2]: a chain that never moves has no stationary loss rate",
                    ));
                }
            }
        }
        errors
    }
}

/// A scheduled level shift: from `at_s` on, the minimum delay of the
/// direction is `min_delay_us` (until the next scheduled shift).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelShift {
    /// When the shift happens, s since the run start (0..=1e10).
    pub at_s: f64,
    /// The new minimum one-way delay, µs (0..=1e7).
    pub min_delay_us: f64,
}

impl LevelShift {
    /// All problems, each naming its field (prefixed by `path`) and range.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        ConfigError::check_range(&mut errors, &join(path, "at_s"), self.at_s, 0.0, 1e10, "s");
        ConfigError::check_range(
            &mut errors,
            &join(path, "min_delay_us"),
            self.min_delay_us,
            0.0,
            MAX_DELAY_US,
            "µs",
        );
        errors
    }
}

/// Random level shifts (route changes that revert): onsets form a Poisson
/// process while no shift is active; each shift moves the minimum delay up
/// (with probability `up_probability`) or down by `magnitude_us` for an
/// exponentially distributed duration, then the minimum returns. A
/// downward shift never takes the minimum below zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RandomShiftConfig {
    /// Mean time from the end of one shift to the next onset, s
    /// (1e-3..=1e9; default 86400, one a day).
    pub mean_interval_s: f64,
    /// Mean duration of a shift, s (1e-3..=1e9; default 3600).
    pub mean_duration_s: f64,
    /// Size of a shift, µs (0..=1e7; default 300, the step used to check
    /// RADclock's shift detection, research/radclock.md §5.3).
    pub magnitude_us: f64,
    /// Probability a shift is upward (0..=1; default 0.5).
    pub up_probability: f64,
}

impl Default for RandomShiftConfig {
    fn default() -> Self {
        RandomShiftConfig {
            mean_interval_s: 86_400.0,
            mean_duration_s: 3600.0,
            magnitude_us: 300.0,
            up_probability: 0.5,
        }
    }
}

impl RandomShiftConfig {
    /// All problems, each naming its field (prefixed by `path`) and range.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        ConfigError::check_range(
            &mut errors,
            &join(path, "mean_interval_s"),
            self.mean_interval_s,
            MIN_EPISODE_S,
            MAX_EPISODE_S,
            "s",
        );
        ConfigError::check_range(
            &mut errors,
            &join(path, "mean_duration_s"),
            self.mean_duration_s,
            MIN_EPISODE_S,
            MAX_EPISODE_S,
            "s",
        );
        ConfigError::check_range(
            &mut errors,
            &join(path, "magnitude_us"),
            self.magnitude_us,
            0.0,
            MAX_DELAY_US,
            "µs",
        );
        ConfigError::check_range(
            &mut errors,
            &join(path, "up_probability"),
            self.up_probability,
            0.0,
            1.0,
            "(probability)",
        );
        errors
    }
}
