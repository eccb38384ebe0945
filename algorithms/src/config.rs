//! Choosing an algorithm by name, with typed parameters.
//!
//! In a scenario (RON, read with the `unwrap_variant_newtypes` extension) an
//! algorithm is written as its variant name with its own parameters, each
//! defaulted:
//!
//! ```
//! use algorithms::AlgorithmConfig;
//! let opts = ron::Options::default()
//!     .with_default_extension(ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES);
//! let cfg: AlgorithmConfig = opts.from_str("Naive(poll_period_s: 64)").unwrap();
//! assert_eq!(cfg.name(), "naive");
//! assert!(cfg.validate().is_empty());
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::baseline::{FreeRunning, Naive};
use crate::ntpd::{Ntpd, NtpdConfig};
use crate::radclock::{Radclock, RadclockConfig};
use crate::sync::{CounterInfo, SyncAlgorithm};

/// An invalid parameter: which field, and what would be valid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Dotted path of the field, relative to the algorithm.
    pub field: String,
    /// What is wrong and the valid range, with units.
    pub message: String,
}

impl ConfigError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Checks `lo <= value <= hi`, recording an error naming the range and unit.
    pub fn check_range(
        errors: &mut Vec<ConfigError>,
        field: &str,
        value: f64,
        lo: f64,
        hi: f64,
        unit: &str,
    ) {
        if !(value >= lo && value <= hi) {
            errors.push(ConfigError::new(
                field,
                format!(
                    "{} is outside the valid range {}..={} {unit}",
                    Num(value),
                    Num(lo),
                    Num(hi)
                ),
            ));
        }
    }
}

/// A number as a message shows it: plain decimals in the everyday range,
/// scientific notation beyond it (so `1e300` is not printed as 301 digits).
///
/// ```
/// use algorithms::Num;
/// assert_eq!(Num(0.25).to_string(), "0.25");
/// assert_eq!(Num(1e300).to_string(), "1e300");
/// assert_eq!(Num(-2.5e-9).to_string(), "-2.5e-9");
/// assert_eq!(Num(-0.0).to_string(), "0");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Num(pub f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0.abs();
        if m == 0.0 {
            // Also −0, which a range computed as `−x` for x = 0 produces.
            write!(f, "0")
        } else if !m.is_finite() || (1e-4..1e15).contains(&m) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}

fn default_poll_s() -> f64 {
    16.0
}

/// Parameters shared by the baselines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// Poll period, seconds (1..=1024; default 16, RADclock's default).
    #[serde(default = "default_poll_s")]
    pub poll_period_s: f64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            poll_period_s: default_poll_s(),
        }
    }
}

/// A synchronization algorithm and its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum AlgorithmConfig {
    /// No correction: the counter times its nominal period.
    FreeRunning(#[serde(default)] BaselineConfig),
    /// Offset from the latest exchange only (teaching baseline).
    Naive(#[serde(default)] BaselineConfig),
    /// Knows true time: a lower bound on any algorithm's error, limited only
    /// by counter resolution. Provided by the world, which alone knows truth.
    Oracle(#[serde(default)] BaselineConfig),
    /// The RADclock feedforward estimator.
    Radclock(#[serde(default)] RadclockConfig),
    /// The ntpd reference clock discipline.
    Ntpd(#[serde(default)] NtpdConfig),
}

impl AlgorithmConfig {
    /// The registered name.
    pub fn name(&self) -> &'static str {
        match self {
            AlgorithmConfig::FreeRunning(_) => "free-running",
            AlgorithmConfig::Naive(_) => "naive",
            AlgorithmConfig::Oracle(_) => "oracle",
            AlgorithmConfig::Radclock(_) => "radclock",
            AlgorithmConfig::Ntpd(_) => "ntpd",
        }
    }

    /// Every registered algorithm name.
    pub const NAMES: &'static [&'static str] =
        &["free-running", "naive", "oracle", "radclock", "ntpd"];

    /// Default parameters of the algorithm called `name`.
    pub fn default_for(name: &str) -> Option<AlgorithmConfig> {
        Some(match name {
            "free-running" => AlgorithmConfig::FreeRunning(BaselineConfig::default()),
            "naive" => AlgorithmConfig::Naive(BaselineConfig::default()),
            "oracle" => AlgorithmConfig::Oracle(BaselineConfig::default()),
            "radclock" => AlgorithmConfig::Radclock(RadclockConfig::default()),
            "ntpd" => AlgorithmConfig::Ntpd(NtpdConfig::default()),
            _ => return None,
        })
    }

    /// The nominal poll period, seconds (the start of the schedule for
    /// algorithms that adapt it).
    pub fn poll_period_s(&self) -> f64 {
        match self {
            AlgorithmConfig::FreeRunning(c)
            | AlgorithmConfig::Naive(c)
            | AlgorithmConfig::Oracle(c) => c.poll_period_s,
            AlgorithmConfig::Radclock(c) => c.poll_period_s,
            AlgorithmConfig::Ntpd(c) => 2f64.powi(c.minpoll),
        }
    }

    /// The field that sets [`AlgorithmConfig::poll_period_s`], for errors:
    /// ntpd's shortest poll is `minpoll`.
    pub fn poll_period_field(&self) -> &'static str {
        match self {
            AlgorithmConfig::Ntpd(_) => "minpoll",
            _ => "poll_period_s",
        }
    }

    /// All problems with the parameters, each naming its field and range.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match self {
            AlgorithmConfig::FreeRunning(c)
            | AlgorithmConfig::Naive(c)
            | AlgorithmConfig::Oracle(c) => {
                ConfigError::check_range(
                    &mut errors,
                    "poll_period_s",
                    c.poll_period_s,
                    1.0,
                    1024.0,
                    "s",
                );
            }
            AlgorithmConfig::Radclock(c) => errors = c.validate(),
            AlgorithmConfig::Ntpd(c) => errors = c.validate(),
        }
        errors
    }

    /// Builds the algorithm for a counter and `n_servers` servers. `seed`
    /// feeds any internal randomness (ntpd's poll jitter), so runs stay
    /// reproducible. Returns `None` for the oracle, which only the world can
    /// build.
    pub fn build(
        &self,
        counter: CounterInfo,
        n_servers: usize,
        seed: u64,
    ) -> Option<Box<dyn SyncAlgorithm>> {
        Some(match self {
            AlgorithmConfig::FreeRunning(c) => Box::new(FreeRunning::new(counter, c.poll_period_s)),
            AlgorithmConfig::Naive(c) => Box::new(Naive::new(counter, c.poll_period_s)),
            AlgorithmConfig::Oracle(_) => return None,
            AlgorithmConfig::Radclock(c) => Box::new(Radclock::new(c, counter)),
            AlgorithmConfig::Ntpd(c) => Box::new(Ntpd::new(c, counter, n_servers.max(1), seed)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_defaults_that_validate() {
        for name in AlgorithmConfig::NAMES {
            let cfg = AlgorithmConfig::default_for(name).unwrap();
            assert_eq!(cfg.name(), *name);
            assert!(cfg.validate().is_empty(), "{name}");
        }
    }

    #[test]
    fn bad_poll_names_field_and_range() {
        let cfg = AlgorithmConfig::Naive(BaselineConfig { poll_period_s: 0.0 });
        let e = &cfg.validate()[0];
        assert_eq!(e.field, "poll_period_s");
        assert!(e.message.contains("1..=1024 s"), "{}", e.message);
    }
}
