//! Queueing-delay samplers built from [`QueueingConfig`], and the reader
//! of empirical delay files.

use algorithms::ConfigError;
use rand::RngExt;
use rand_distr::{Exp1, Gamma};
use sim_core::SimRng;

use super::config::{EmpiricalSource, MAX_DELAY_US, QueueingConfig, join};
use crate::text_file::NotUtf8;

/// Reads an empirical delay file: one value in µs per line, blank lines and
/// `#` comments skipped. Errors name `field`, the file and the line.
pub(crate) fn load_empirical_file(file: &str, field: &str) -> Result<Vec<f64>, ConfigError> {
    let text = crate::text_file::read_text(std::path::Path::new(file)).map_err(|e| {
        let at = match e.get_ref().and_then(|e| e.downcast_ref::<NotUtf8>()) {
            Some(bad) => format!(" line {} column {}", bad.line, bad.column),
            None => String::new(),
        };
        ConfigError::new(
            field,
            format!("cannot read empirical delay file {file:?}{at}: {e}"),
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
                    "{file:?} line {}: {} is outside the valid range 0..={MAX_DELAY_US} µs",
                    i + 1,
                    algorithms::Num(value)
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
                    (None, Some(m)) => lomax_scale_for_mean(*shape, *m)
                        .ok_or_else(|| unreachable_mean(&join(field, "mean_us"), *m))?,
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

    /// The distribution's mean, µs (a Lomax's with its draws capped at
    /// [`MAX_DELAY_US`]).
    pub(crate) fn mean_us(&self) -> f64 {
        match self {
            Queueing::None => 0.0,
            Queueing::Exponential { mean_us } | Queueing::Gamma { mean_us, .. } => *mean_us,
            Queueing::Lomax {
                inv_shape,
                scale_us,
            } => capped_lomax_mean_us(1.0 / inv_shape, *scale_us),
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

/// The mean of `min(Q, MAX_DELAY_US)` for a Lomax `Q` of tail index
/// `shape` and scale `scale_us`: the integral of its survival function
/// `(1 + q/scale)^−shape` up to the cap. Without the cap it would be
/// `scale/(shape − 1)`, which a tail index near 1 puts far above what
/// capped draws average to (a quarter above at 1.1).
fn capped_lomax_mean_us(shape: f64, scale_us: f64) -> f64 {
    let log_span = (MAX_DELAY_US / scale_us).ln_1p();
    if (shape - 1.0).abs() < 1e-12 {
        scale_us * log_span
    } else {
        // scale/(shape − 1) · (1 − (1 + cap/scale)^(1 − shape)), for either
        // side of 1.
        -scale_us / (shape - 1.0) * ((1.0 - shape) * log_span).exp_m1()
    }
}

/// The error for a Pareto `mean_us` that no scale gives.
pub(super) fn unreachable_mean(field: &str, mean_us: f64) -> ConfigError {
    ConfigError::new(
        field,
        format!(
            "{} µs cannot be the mean of draws capped at {} µs; give a smaller mean or scale_us",
            algorithms::Num(mean_us),
            algorithms::Num(MAX_DELAY_US)
        ),
    )
}

/// The scale whose capped mean ([`capped_lomax_mean_us`]) is `mean_us`,
/// found by bisection (the capped mean grows with the scale, towards the
/// cap); `None` if no scale gives it.
pub(super) fn lomax_scale_for_mean(shape: f64, mean_us: f64) -> Option<f64> {
    let (mut lo, mut hi) = (1e-9f64, 1e30f64);
    if !(capped_lomax_mean_us(shape, lo)..capped_lomax_mean_us(shape, hi)).contains(&mean_us) {
        return None;
    }
    // Bisection in the logarithm: 200 halvings of a 39-decade span are far
    // below an ulp of the scale.
    for _ in 0..200 {
        let mid = (lo * hi).sqrt();
        if capped_lomax_mean_us(shape, mid) < mean_us {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// Validation has already rejected a Pareto with neither scale nor mean;
/// report it rather than panic if that ever changes.
fn unreachable_after_validation(field: &str) -> Result<f64, ConfigError> {
    Err(ConfigError::new(
        join(field, "scale_us"),
        "give exactly one of scale_us in (0, 1e7] µs or mean_us in (0, 1e7) µs",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The survival function integrated numerically, in log-spaced steps.
    fn integrated_mean_us(shape: f64, scale_us: f64) -> f64 {
        let n = 200_000;
        let (lo, hi) = (1e-6f64, MAX_DELAY_US);
        let ratio = (hi / lo).powf(1.0 / n as f64);
        let survival = |q: f64| (1.0 + q / scale_us).powf(-shape);
        let mut sum = lo * 0.5 * (1.0 + survival(lo));
        let mut q = lo;
        for _ in 0..n {
            let next = q * ratio;
            sum += (next - q) * 0.5 * (survival(q) + survival(next));
            q = next;
        }
        sum
    }

    #[test]
    fn the_capped_mean_is_the_integral_of_the_capped_tail() {
        for (shape, scale_us) in [
            (1.1, 10.0),
            (1.0, 50.0),
            (0.7, 3.0),
            (2.5, 150.0),
            (1.5, 1e6),
        ] {
            let closed = capped_lomax_mean_us(shape, scale_us);
            let numeric = integrated_mean_us(shape, scale_us);
            assert!(
                (closed / numeric - 1.0).abs() < 1e-6,
                "shape {shape}, scale {scale_us}: {closed} vs {numeric}"
            );
        }
    }

    #[test]
    fn a_pareto_mean_is_met_by_the_capped_draws() {
        for shape in [1.02, 1.1, 1.5, 3.5] {
            let scale = lomax_scale_for_mean(shape, 100.0).unwrap();
            assert!((capped_lomax_mean_us(shape, scale) / 100.0 - 1.0).abs() < 1e-12);
        }
        // Near shape 1 the uncapped formula's scale falls far short.
        assert!((capped_lomax_mean_us(1.1, 10.0) - 74.88).abs() < 0.01);
        assert!(lomax_scale_for_mean(1.5, MAX_DELAY_US).is_none());
    }

    #[test]
    fn an_empirical_value_out_of_range_is_named_compactly() {
        let file = std::env::temp_dir().join(format!("vtsim-empirical-{}.txt", std::process::id()));
        std::fs::write(&file, "12\n1e300\n").unwrap();
        let name = file.display().to_string();
        let e = load_empirical_file(&name, "paths[0].forward.queueing.path").unwrap_err();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(e.field, "paths[0].forward.queueing.path");
        // `1e300`, not the 301 digits `{}` writes for it.
        assert!(
            e.message
                .ends_with("line 2: 1e300 is outside the valid range 0..=10000000 µs"),
            "{}",
            e.message
        );
    }
}
