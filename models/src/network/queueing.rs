//! Queueing-delay samplers built from [`QueueingConfig`], and the reader
//! of empirical delay files.

use algorithms::ConfigError;
use rand::RngExt;
use rand_distr::{Exp1, Gamma};
use sim_core::SimRng;

use super::config::{EmpiricalSource, MAX_DELAY_US, QueueingConfig, join};

/// Reads an empirical delay file: one value in µs per line, blank lines and
/// `#` comments skipped. Errors name `field`, the file and the line.
pub(crate) fn load_empirical_file(file: &str, field: &str) -> Result<Vec<f64>, ConfigError> {
    let text = crate::text_file::read_text(std::path::Path::new(file)).map_err(|e| {
        ConfigError::new(
            field,
            format!("cannot read empirical delay file {file:?}: {e}"),
        )
    })?;
    let mut values = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let value: f64 = line.parse().map_err(|_| {
            ConfigError::new(
                field,
                format!(
                    "{file:?} line {}: {line:?} is not a number (one delay in µs per line)",
                    i + 1
                ),
            )
        })?;
        if !(0.0..=MAX_DELAY_US).contains(&value) {
            return Err(ConfigError::new(
                field,
                format!(
                    "{file:?} line {}: {value} is outside the valid range 0..={MAX_DELAY_US} µs",
                    i + 1
                ),
            ));
        }
        values.push(value);
    }
    if values.is_empty() {
        return Err(ConfigError::new(
            field,
            format!("{file:?} holds no delay values (one value in µs per line)"),
        ));
    }
    Ok(values)
}

/// A ready-to-draw queueing distribution; all values µs.
#[derive(Clone, Debug)]
pub(crate) enum Queueing {
    None,
    Exponential {
        mean_us: f64,
    },
    Gamma {
        dist: Gamma<f64>,
        mean_us: f64,
    },
    /// Lomax: scale·(U^(−1/shape) − 1).
    Lomax {
        inv_shape: f64,
        scale_us: f64,
    },
    /// Components with cumulative normalised weights (last one = 1).
    Mixture {
        cumulative: Vec<f64>,
        parts: Vec<Queueing>,
    },
    Empirical {
        values_us: Vec<f64>,
    },
}

impl Queueing {
    /// Builds the sampler; `field` names the configuration for errors.
    pub(crate) fn new(cfg: &QueueingConfig, field: &str) -> Result<Self, ConfigError> {
        let errors = cfg.validate(field);
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
        Ok(match cfg {
            QueueingConfig::None => Queueing::None,
            QueueingConfig::Exponential { mean_us } => Queueing::Exponential { mean_us: *mean_us },
            QueueingConfig::Gamma { shape, mean_us } => {
                if *mean_us == 0.0 {
                    Queueing::None
                } else {
                    let dist = Gamma::new(*shape, mean_us / shape).map_err(|e| {
                        ConfigError::new(
                            join(field, "shape"),
                            format!("invalid gamma parameters: {e}"),
                        )
                    })?;
                    Queueing::Gamma {
                        dist,
                        mean_us: *mean_us,
                    }
                }
            }
            QueueingConfig::Pareto {
                shape,
                scale_us,
                mean_us,
            } => {
                let scale_us = match (scale_us, mean_us) {
                    (Some(s), _) => *s,
                    (None, Some(m)) => m * (shape - 1.0),
                    (None, None) => unreachable_after_validation(field)?,
                };
                Queueing::Lomax {
                    inv_shape: 1.0 / shape,
                    scale_us,
                }
            }
            QueueingConfig::Mixture(components) => {
                let total: f64 = components.iter().map(|c| c.weight).sum();
                let mut cumulative = Vec::with_capacity(components.len());
                let mut parts = Vec::with_capacity(components.len());
                let mut acc = 0.0;
                for (i, c) in components.iter().enumerate() {
                    acc += c.weight / total;
                    cumulative.push(acc);
                    parts.push(Queueing::new(
                        &c.queueing,
                        &join(field, &format!("Mixture[{i}].queueing")),
                    )?);
                }
                // Rounding must never leave a uniform draw past the last component.
                if let Some(last) = cumulative.last_mut() {
                    *last = 1.0;
                }
                Queueing::Mixture { cumulative, parts }
            }
            QueueingConfig::Empirical(EmpiricalSource::Samples { values_us }) => {
                Queueing::Empirical {
                    values_us: values_us.clone(),
                }
            }
            QueueingConfig::Empirical(EmpiricalSource::File { path }) => Queueing::Empirical {
                values_us: load_empirical_file(path, &join(field, "path"))?,
            },
        })
    }

    /// One draw, µs.
    pub(crate) fn sample(&self, rng: &mut SimRng) -> f64 {
        match self {
            Queueing::None => 0.0,
            Queueing::Exponential { mean_us } => mean_us * rng.sample::<f64, _>(Exp1),
            Queueing::Gamma { dist, .. } => rng.sample(dist),
            Queueing::Lomax {
                inv_shape,
                scale_us,
            } => {
                // 1 − U lies in (0, 1], so the power is finite.
                let u = 1.0 - rng.random::<f64>();
                (scale_us * (u.powf(-inv_shape) - 1.0)).min(MAX_DELAY_US)
            }
            Queueing::Mixture { cumulative, parts } => {
                let u: f64 = rng.random();
                let i = cumulative.partition_point(|&c| c <= u).min(parts.len() - 1);
                parts[i].sample(rng)
            }
            Queueing::Empirical { values_us } => values_us[rng.random_range(0..values_us.len())],
        }
    }

    /// The distribution's mean, µs (infinite for a Pareto tail index ≤ 1).
    pub(crate) fn mean_us(&self) -> f64 {
        match self {
            Queueing::None => 0.0,
            Queueing::Exponential { mean_us } | Queueing::Gamma { mean_us, .. } => *mean_us,
            Queueing::Lomax {
                inv_shape,
                scale_us,
            } => {
                let shape = 1.0 / inv_shape;
                if shape > 1.0 {
                    scale_us / (shape - 1.0)
                } else {
                    f64::INFINITY
                }
            }
            Queueing::Mixture { cumulative, parts } => {
                let mut prev = 0.0;
                let mut mean = 0.0;
                for (c, p) in cumulative.iter().zip(parts) {
                    mean += (c - prev) * p.mean_us();
                    prev = *c;
                }
                mean
            }
            Queueing::Empirical { values_us } => {
                values_us.iter().sum::<f64>() / values_us.len() as f64
            }
        }
    }
}

/// Validation has already rejected a Pareto with neither scale nor mean;
/// report it rather than panic if that ever changes.
fn unreachable_after_validation(field: &str) -> Result<f64, ConfigError> {
    Err(ConfigError::new(
        join(field, "scale_us"),
        "give exactly one of scale_us or mean_us, each in (0, 1e7] µs",
    ))
}
