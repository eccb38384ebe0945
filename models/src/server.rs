//! # Time servers
//!
//! A stratum-1 server reads a reference clock (GPS, PPS) that we take to
//! be true time. What a client receives is not quite that:
//!
//! * each of the receive stamp **Tb** and the transmit stamp **Te** carries
//!   timestamping noise (interrupt latency, the server's own read path),
//!   modelled as independent Gaussian errors;
//! * the server holds the request for a **residence time** Te − Tb, a
//!   minimum plus an exponential excess (research/radclock.md §5.3:
//!   20 µs + Exp(5 µs)); RADclock's RTT includes it (research/radclock.md
//!   §1.1), ntpd's on-wire delay removes it;
//! * **faults** over time windows: an offset step (the server's clock is
//!   off by a constant), a frequency error (its clock drifts, the error
//!   growing from the fault's start), an outage (no reply), and a "server
//!   changed" marker (new stratum or reference: each client sees its first
//!   reply after it differ from its previous one, as a stratum/refid change
//!   shows in the packets).
//!
//! When a fault window ends the server's reference re-locks: its clock is
//! true again. RADclock trusts a stamp with a perfect RTT, so a server
//! offset fault alone can pull it by milliseconds (research/radclock.md
//! §5.3, last row): these faults let scenarios reproduce that.
//!
//! Faults and changes are functions of time, shared by every client. The
//! random parts of a reply (residence time, stamp noise) are drawn from a
//! stream the client's request brings ([`Server::reply`]), so one client's
//! replies never depend on which other clients ask, or when.
//!
//! ```
//! use models::server::{Server, ServerConfig, ServerFault};
//! use sim_core::{RngStreams, SimTime};
//! let mut cfg = ServerConfig::default();
//! cfg.faults.push(ServerFault::OffsetStep { start_s: 100.0, end_s: Some(200.0), offset_s: 0.01 });
//! assert!(cfg.validate("server").is_empty());
//! let server = Server::new(&cfg);
//! // Each client draws its replies' noise from a stream of its own.
//! let mut client = RngStreams::new(3).stream("server/client");
//! let r = server.reply(SimTime::from_secs(150), &mut client).expect("no outage configured");
//! assert!((r.tb_s - 150.01).abs() < 1e-5);
//! assert!(r.te_s > r.tb_s);
//! ```

use algorithms::{ConfigError, Num};
use rand::RngExt;
use rand_distr::{Exp1, StandardNormal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimRng, SimTime};

/// Default timestamping noise of a stratum-1 server, ns (standard
/// deviation): well under the 15 µs host timestamping floor RADclock
/// assumes (research/radclock.md §2.1, `TS_LIMIT`), as a GPS-disciplined
/// server with kernel stamps achieves.
pub const DEFAULT_TIMESTAMP_NOISE_NS: f64 = 1000.0;

/// Default minimum residence time, µs (research/radclock.md §5.3).
pub const DEFAULT_RESIDENCE_MIN_US: f64 = 20.0;

/// Default mean residence time beyond the minimum, µs (research/radclock.md §5.3).
pub const DEFAULT_RESIDENCE_MEAN_EXTRA_US: f64 = 5.0;

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// A server and its faults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Name, for outputs (non-empty; default "server0").
    pub name: String,
    /// Stratum reported in replies (1..=15; default 1).
    pub stratum: u8,
    /// Standard deviation of the Gaussian error on each of Tb and Te, ns
    /// (0..=1e9; default [`DEFAULT_TIMESTAMP_NOISE_NS`]). It never puts Te
    /// before Tb. The stamps are `f64` seconds since the run's start, so
    /// they also carry its rounding: ±2 ns a year in, ±60 ns at 20 years.
    pub timestamp_noise_ns: f64,
    /// Minimum residence time Te − Tb, µs (0..=1e7; default
    /// [`DEFAULT_RESIDENCE_MIN_US`]).
    pub residence_min_us: f64,
    /// Mean of the exponential residence time beyond the minimum, µs
    /// (0..=1e7; default [`DEFAULT_RESIDENCE_MEAN_EXTRA_US`]).
    pub residence_mean_extra_us: f64,
    /// Faults, in any order; default none.
    pub faults: Vec<ServerFault>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: "server0".to_string(),
            stratum: 1,
            timestamp_noise_ns: DEFAULT_TIMESTAMP_NOISE_NS,
            residence_min_us: DEFAULT_RESIDENCE_MIN_US,
            residence_mean_extra_us: DEFAULT_RESIDENCE_MEAN_EXTRA_US,
            faults: Vec::new(),
        }
    }
}

/// Something going wrong at the server. Windows run from `start_s`
/// (inclusive) to `end_s` (exclusive; `None` = to the end of the run), in
/// seconds of true time since the run start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum ServerFault {
    /// The server's clock reads `offset_s` ahead of true time.
    OffsetStep {
        /// Start, s (0..=1e10).
        start_s: f64,
        /// End, s (> start_s), or `None` for never.
        #[serde(default)]
        end_s: Option<f64>,
        /// Error added to the server's clock, s (−1e6..=1e6).
        offset_s: f64,
    },
    /// The server's clock runs fast by `frequency_ppm`: its error grows as
    /// frequency_ppm·1e-6·(t − start_s) during the window.
    FrequencyError {
        /// Start, s (0..=1e10).
        start_s: f64,
        /// End, s (> start_s), or `None` for never.
        #[serde(default)]
        end_s: Option<f64>,
        /// Rate error, ppm (−1e6..=1e6).
        frequency_ppm: f64,
    },
    /// The server does not answer requests arriving in the window.
    Outage {
        /// Start, s (0..=1e10).
        start_s: f64,
        /// End, s (> start_s), or `None` for never.
        #[serde(default)]
        end_s: Option<f64>,
    },
    /// The server changes (new reference or stratum) at `at_s`: replies from
    /// then on report `stratum`, and each client's first reply after it is
    /// marked as changed (RADclock's `qual_warning`).
    Changed {
        /// When, s (0..=1e10).
        at_s: f64,
        /// Stratum from then on (1..=15).
        stratum: u8,
    },
}

impl ServerFault {
    fn window(&self) -> Option<(f64, Option<f64>)> {
        match self {
            ServerFault::OffsetStep { start_s, end_s, .. }
            | ServerFault::FrequencyError { start_s, end_s, .. }
            | ServerFault::Outage { start_s, end_s } => Some((*start_s, *end_s)),
            ServerFault::Changed { .. } => None,
        }
    }

    fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        if let Some((start_s, end_s)) = self.window() {
            ConfigError::check_range(errors, &join(path, "start_s"), start_s, 0.0, 1e10, "s");
            if let Some(end) = end_s {
                let lo = if start_s.is_finite() { start_s } else { 0.0 };
                if !(end > lo && end <= 1e10) {
                    errors.push(ConfigError::new(
                        join(path, "end_s"),
                        format!(
                            "{} is outside the valid range (start_s = {}, 1e10] s",
                            Num(end),
                            Num(lo)
                        ),
                    ));
                }
            }
        }
        match self {
            ServerFault::OffsetStep { offset_s, .. } => {
                ConfigError::check_range(
                    errors,
                    &join(path, "offset_s"),
                    *offset_s,
                    -1e6,
                    1e6,
                    "s",
                );
            }
            ServerFault::FrequencyError { frequency_ppm, .. } => {
                ConfigError::check_range(
                    errors,
                    &join(path, "frequency_ppm"),
                    *frequency_ppm,
                    -1e6,
                    1e6,
                    "ppm",
                );
            }
            ServerFault::Outage { .. } => {}
            ServerFault::Changed { at_s, stratum } => {
                ConfigError::check_range(errors, &join(path, "at_s"), *at_s, 0.0, 1e10, "s");
                ConfigError::check_range(
                    errors,
                    &join(path, "stratum"),
                    f64::from(*stratum),
                    1.0,
                    15.0,
                    "(stratum)",
                );
            }
        }
    }
}

impl ServerConfig {
    /// All problems, each naming its field (prefixed by `path`) and range.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(ConfigError::new(join(path, "name"), "must not be empty"));
        }
        ConfigError::check_range(
            &mut errors,
            &join(path, "stratum"),
            f64::from(self.stratum),
            1.0,
            15.0,
            "(stratum)",
        );
        ConfigError::check_range(
            &mut errors,
            &join(path, "timestamp_noise_ns"),
            self.timestamp_noise_ns,
            0.0,
            1e9,
            "ns",
        );
        ConfigError::check_range(
            &mut errors,
            &join(path, "residence_min_us"),
            self.residence_min_us,
            0.0,
            1e7,
            "µs",
        );
        ConfigError::check_range(
            &mut errors,
            &join(path, "residence_mean_extra_us"),
            self.residence_mean_extra_us,
            0.0,
            1e7,
            "µs",
        );
        for (i, f) in self.faults.iter().enumerate() {
            f.validate(&join(path, &format!("faults[{i}]")), &mut errors);
        }
        errors
    }
}

/// What the server sends back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerReply {
    /// Receive stamp Tb: the server's clock at arrival, s since the run start.
    pub tb_s: f64,
    /// Transmit stamp Te: the server's clock at departure, s since the run start.
    pub te_s: f64,
    /// True time the reply leaves (arrival + residence).
    pub departure: SimTime,
    /// Stratum reported in the reply.
    pub stratum: u8,
    /// How many changes (new reference or stratum) the server has made: a
    /// client whose previous reply carried another count sees it changed.
    pub epoch: u32,
}

/// A running server.
#[derive(Clone, Debug)]
pub struct Server {
    noise_s: f64,
    residence_min_s: f64,
    residence_mean_extra_s: f64,
    /// Stratum before the first change.
    stratum: u8,
    /// Clock and outage faults (never `Changed`).
    faults: Vec<ServerFault>,
    /// `Changed` markers sorted by time: (at, new stratum).
    markers: Vec<(SimTime, u8)>,
}

impl Server {
    /// Builds a server from a configuration that validates (out-of-range
    /// values are not rejected here; `validate` reports them).
    pub fn new(cfg: &ServerConfig) -> Self {
        let mut markers: Vec<(SimTime, u8)> = cfg
            .faults
            .iter()
            .filter_map(|f| match f {
                ServerFault::Changed { at_s, stratum } => {
                    Some((SimTime::from_secs_f64(*at_s), *stratum))
                }
                _ => None,
            })
            .collect();
        markers.sort_by_key(|m| m.0);
        Server {
            noise_s: cfg.timestamp_noise_ns.max(0.0) * 1e-9,
            residence_min_s: cfg.residence_min_us.max(0.0) * 1e-6,
            residence_mean_extra_s: cfg.residence_mean_extra_us.max(0.0) * 1e-6,
            stratum: cfg.stratum,
            faults: cfg
                .faults
                .iter()
                .filter(|f| !matches!(f, ServerFault::Changed { .. }))
                .cloned()
                .collect(),
            markers,
        }
    }

    /// The server clock's error at true time `t` due to faults, seconds
    /// (server clock − true time, before timestamping noise).
    pub fn clock_error_s(&self, t: SimTime) -> f64 {
        let ts = t.as_secs_f64();
        let in_window = |start: f64, end: Option<f64>| ts >= start && end.is_none_or(|e| ts < e);
        let mut error_s = 0.0;
        for f in &self.faults {
            match *f {
                ServerFault::OffsetStep {
                    start_s,
                    end_s,
                    offset_s,
                } if in_window(start_s, end_s) => error_s += offset_s,
                ServerFault::FrequencyError {
                    start_s,
                    end_s,
                    frequency_ppm,
                } if in_window(start_s, end_s) => {
                    error_s += frequency_ppm * 1e-6 * (ts - start_s);
                }
                _ => {}
            }
        }
        error_s
    }

    /// Whether an outage covers true time `t`.
    pub fn is_out(&self, t: SimTime) -> bool {
        let ts = t.as_secs_f64();
        self.faults.iter().any(|f| match *f {
            ServerFault::Outage { start_s, end_s } => ts >= start_s && end_s.is_none_or(|e| ts < e),
            _ => false,
        })
    }

    /// Handles a request arriving at true time `t_arrival`, drawing the
    /// reply's residence time and stamp noise from `rng`, the requesting
    /// client's own stream; `None` during an outage. Everything else is a
    /// function of `t_arrival`, so requests may come in any order.
    pub fn reply(&self, t_arrival: SimTime, rng: &mut SimRng) -> Option<ServerReply> {
        if self.is_out(t_arrival) {
            return None;
        }
        let changes = self.markers.partition_point(|m| m.0 <= t_arrival);
        let stratum = match changes {
            0 => self.stratum,
            n => self.markers[n - 1].1,
        };
        let residence_s =
            self.residence_min_s + self.residence_mean_extra_s * rng.sample::<f64, _>(Exp1);
        let departure = t_arrival + SimDuration::from_secs_f64(residence_s);
        let noise_b: f64 = rng.sample(StandardNormal);
        let noise_e: f64 = rng.sample(StandardNormal);
        let tb_s = t_arrival.as_secs_f64() + self.clock_error_s(t_arrival) + self.noise_s * noise_b;
        // Both stamps read one clock, Te after Tb: the noise of each never
        // puts Te first (with a residence shorter than the noise it would).
        let te_s =
            (departure.as_secs_f64() + self.clock_error_s(departure) + self.noise_s * noise_e)
                .max(tb_s);
        Some(ServerReply {
            tb_s,
            te_s,
            departure,
            stratum,
            epoch: u32::try_from(changes).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::RngStreams;

    /// A server with one client, whose stream it draws from.
    struct OneClient {
        server: Server,
        rng: SimRng,
    }

    impl OneClient {
        fn reply(&mut self, t: SimTime) -> Option<ServerReply> {
            self.server.reply(t, &mut self.rng)
        }

        fn is_out(&self, t: SimTime) -> bool {
            self.server.is_out(t)
        }
    }

    fn server(cfg: &ServerConfig, seed: u64) -> OneClient {
        assert!(cfg.validate("s").is_empty(), "{:?}", cfg.validate("s"));
        OneClient {
            server: Server::new(cfg),
            rng: RngStreams::new(seed).stream("server/client"),
        }
    }

    fn mean_sd(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        (
            mean,
            (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt(),
        )
    }

    #[test]
    fn noise_never_puts_te_before_tb() {
        // No residence and 1 µs of noise on each stamp: half the raw draws
        // would put Te first.
        let cfg = ServerConfig {
            residence_min_us: 0.0,
            residence_mean_extra_us: 0.0,
            ..ServerConfig::default()
        };
        let mut s = server(&cfg, 3);
        let mut equal = 0;
        for i in 0..10_000 {
            let r = s.reply(SimTime::from_secs(i)).unwrap();
            assert!(r.te_s >= r.tb_s, "reply {i}: {r:?}");
            equal += usize::from(r.te_s == r.tb_s);
        }
        assert!((4_500..5_500).contains(&equal), "{equal}");
    }

    #[test]
    fn residence_and_noise_match_configuration() {
        let mut s = server(&ServerConfig::default(), 1);
        let n = 100_000;
        let mut residence_us = Vec::with_capacity(n);
        let mut tb_error_ns = Vec::with_capacity(n);
        let mut departure_residence_us = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let t = SimTime::from_secs(i);
            let r = s.reply(t).unwrap();
            residence_us.push((r.te_s - r.tb_s) * 1e6);
            tb_error_ns.push((r.tb_s - t.as_secs_f64()) * 1e9);
            departure_residence_us.push((r.departure - t).as_nanos() as f64 * 1e-3);
            assert!(r.departure >= t + SimDuration::from_micros(20));
            assert!(r.epoch == 0 && r.stratum == 1);
        }
        // Te − Tb = 20 µs + Exp(5 µs) + two independent 1 µs noises.
        let (mean, sd) = mean_sd(&residence_us);
        let expected_sd = (5.0f64.powi(2) + 2.0 * 1.0f64.powi(2)).sqrt();
        assert!(
            (mean - 25.0).abs() < 4.0 * expected_sd / (n as f64).sqrt(),
            "residence mean {mean} µs"
        );
        assert!(
            (sd - expected_sd).abs() < 0.1,
            "residence sd {sd} µs vs {expected_sd}"
        );
        // The true residence has no timestamp noise.
        let (mean, sd) = mean_sd(&departure_residence_us);
        assert!(
            (mean - 25.0).abs() < 4.0 * 5.0 / (n as f64).sqrt() && (sd - 5.0).abs() < 0.1,
            "{mean} {sd}"
        );
        // Tb is true time plus N(0, 1000 ns) (f64 seconds are exact to ~1e-10 s here).
        let (mean, sd) = mean_sd(&tb_error_ns);
        assert!(
            mean.abs() < 4.0 * 1000.0 / (n as f64).sqrt(),
            "tb bias {mean} ns"
        );
        assert!((sd - 1000.0).abs() < 15.0, "tb noise sd {sd} ns");
    }

    #[test]
    fn offset_step_shows_in_both_stamps_during_its_window() {
        let mut cfg = ServerConfig {
            timestamp_noise_ns: 0.0,
            ..ServerConfig::default()
        };
        cfg.faults.push(ServerFault::OffsetStep {
            start_s: 100.0,
            end_s: Some(200.0),
            offset_s: 0.01,
        });
        let mut s = server(&cfg, 2);
        for (t_s, offset_s) in [
            (99.0, 0.0),
            (100.0, 0.01),
            (150.0, 0.01),
            (199.0, 0.01),
            (200.0, 0.0),
        ] {
            let t = SimTime::from_secs_f64(t_s);
            let r = s.reply(t).unwrap();
            assert!(
                (r.tb_s - t_s - offset_s).abs() < 1e-9,
                "tb at {t_s}: {}",
                r.tb_s
            );
            assert!(
                (r.te_s - r.departure.as_secs_f64() - offset_s).abs() < 1e-9,
                "te at {t_s}"
            );
        }
    }

    #[test]
    fn frequency_error_accumulates_from_the_fault_start() {
        let mut cfg = ServerConfig {
            timestamp_noise_ns: 0.0,
            ..ServerConfig::default()
        };
        cfg.faults.push(ServerFault::FrequencyError {
            start_s: 1000.0,
            end_s: Some(5000.0),
            frequency_ppm: 50.0,
        });
        let mut s = server(&cfg, 3);
        for (t_s, error_s) in [
            (500.0, 0.0),
            (1000.0, 0.0),
            (1100.0, 5e-3),
            (3000.0, 0.1),
            (4999.0, 0.19995),
            (5000.0, 0.0),
        ] {
            let r = s.reply(SimTime::from_secs_f64(t_s)).unwrap();
            assert!(
                (r.tb_s - t_s - error_s).abs() < 1e-9,
                "tb error at {t_s}: {}",
                r.tb_s - t_s
            );
            // Te is read at departure, later, so it carries 50 ppm of the residence more.
            let departure_s = r.departure.as_secs_f64();
            let expected_te = if (1000.0..5000.0).contains(&departure_s) {
                50e-6 * (departure_s - 1000.0)
            } else {
                0.0
            };
            let te_error = r.te_s - departure_s;
            assert!(
                (te_error - expected_te).abs() < 1e-9,
                "te error at {t_s}: {te_error} vs {expected_te}"
            );
        }
    }

    #[test]
    fn outage_gives_no_reply_and_a_change_shows_in_the_next_reply() {
        let mut cfg = ServerConfig::default();
        cfg.faults.push(ServerFault::Outage {
            start_s: 50.0,
            end_s: Some(60.0),
        });
        cfg.faults.push(ServerFault::Changed {
            at_s: 55.5,
            stratum: 2,
        });
        cfg.faults.push(ServerFault::Outage {
            start_s: 500.0,
            end_s: None,
        });
        let mut s = server(&cfg, 4);
        let mut changed_at = Vec::new();
        let mut silent = Vec::new();
        let mut epoch = 0;
        for i in 0..600u64 {
            let t = SimTime::from_secs(i);
            match s.reply(t) {
                None => silent.push(i),
                Some(r) => {
                    if r.epoch != epoch {
                        changed_at.push(i);
                        epoch = r.epoch;
                    }
                    assert_eq!(r.stratum, if i >= 60 { 2 } else { 1 }, "at {i}");
                }
            }
        }
        // The change happens during the outage: the first reply after it carries it.
        assert_eq!(changed_at, [60]);
        let expected_silent: Vec<u64> = (50..60).chain(500..600).collect();
        assert_eq!(silent, expected_silent);
        assert!(s.is_out(SimTime::from_secs(1_000_000)));
    }

    #[test]
    fn invalid_configurations_name_field_and_range() {
        let mut cfg = ServerConfig {
            name: " ".into(),
            stratum: 0,
            timestamp_noise_ns: -1.0,
            residence_min_us: f64::NAN,
            residence_mean_extra_us: 5.0,
            faults: Vec::new(),
        };
        cfg.faults.push(ServerFault::OffsetStep {
            start_s: 100.0,
            end_s: Some(50.0),
            offset_s: 0.1,
        });
        cfg.faults.push(ServerFault::FrequencyError {
            start_s: -1.0,
            end_s: None,
            frequency_ppm: 2e6,
        });
        cfg.faults.push(ServerFault::Changed {
            at_s: 10.0,
            stratum: 16,
        });
        let e = cfg.validate("srv");
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "srv.name",
                "srv.stratum",
                "srv.timestamp_noise_ns",
                "srv.residence_min_us",
                "srv.faults[0].end_s",
                "srv.faults[1].start_s",
                "srv.faults[1].frequency_ppm",
                "srv.faults[2].stratum",
            ]
        );
        assert!(e[1].message.contains("1..=15"), "{}", e[1].message);
        assert!(
            e[2].message.contains("0..=1000000000 ns"),
            "{}",
            e[2].message
        );
        assert!(
            e[4].message.contains("(start_s = 100, 1e10] s"),
            "{}",
            e[4].message
        );
        assert!(ServerConfig::default().validate("srv").is_empty());
    }

    #[test]
    fn a_change_applies_to_a_request_arriving_at_its_instant() {
        // "From at_s on": a request arriving exactly at the change already
        // sees the new stratum and epoch.
        let mut cfg = ServerConfig::default();
        cfg.faults.push(ServerFault::Changed {
            at_s: 100.0,
            stratum: 3,
        });
        let mut s = server(&cfg, 5);
        let before = s.reply(SimTime::from_nanos(99_999_999_999)).unwrap();
        assert_eq!((before.stratum, before.epoch), (1, 0));
        let at = s.reply(SimTime::from_secs(100)).unwrap();
        assert_eq!((at.stratum, at.epoch), (3, 1));
    }

    #[test]
    fn changes_listed_out_of_order_apply_in_time_order() {
        // Faults may be listed in any order; the change at 100 s comes
        // first whatever its place in the list.
        let mut cfg = ServerConfig::default();
        cfg.faults.push(ServerFault::Changed {
            at_s: 200.0,
            stratum: 4,
        });
        cfg.faults.push(ServerFault::Changed {
            at_s: 100.0,
            stratum: 2,
        });
        let mut s = server(&cfg, 6);
        let got: Vec<(u8, u32)> = [50, 150, 250]
            .into_iter()
            .map(|t_s| {
                let r = s.reply(SimTime::from_secs(t_s)).unwrap();
                (r.stratum, r.epoch)
            })
            .collect();
        assert_eq!(got, [(1, 0), (2, 1), (4, 2)]);
    }

    #[test]
    fn a_clients_replies_do_not_depend_on_other_clients_requests() {
        // Noise, residence and a change: everything a reply carries.
        let mut cfg = ServerConfig::default();
        cfg.faults.push(ServerFault::Changed {
            at_s: 500.0,
            stratum: 2,
        });
        cfg.faults.push(ServerFault::OffsetStep {
            start_s: 200.0,
            end_s: Some(700.0),
            offset_s: 1e-3,
        });
        let streams = RngStreams::new(7);
        let server = Server::new(&cfg);
        let times: Vec<SimTime> = (0..1000).map(SimTime::from_secs).collect();
        let mut a = streams.stream("server/a");
        let alone: Vec<_> = times.iter().map(|&t| server.reply(t, &mut a)).collect();
        // Another client asks in between, at times before, at and after
        // the first client's (across the change too).
        let mut a = streams.stream("server/a");
        let mut b = streams.stream("server/b");
        for (i, &t) in times.iter().enumerate() {
            for back_s in [0, 3, 400] {
                let u = SimTime::from_secs((i as u64 + 300).saturating_sub(back_s));
                server.reply(u, &mut b);
            }
            assert_eq!(server.reply(t, &mut a), alone[i], "reply {i}");
        }
        // The change shows once, at 500 s, for each client.
        let epochs: Vec<u32> = alone.iter().map(|r| r.unwrap().epoch).collect();
        assert_eq!(epochs.iter().filter(|&&e| e == 0).count(), 500);
        assert_eq!(epochs.iter().filter(|&&e| e == 1).count(), 500);
    }
}
