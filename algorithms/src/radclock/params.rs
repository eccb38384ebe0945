//! Configuration, meta-parameters, derived thresholds and windows.
//!
//! RADclock has very few knobs. Everything is derived from a handful of
//! *meta-parameters* describing the host (how noisy its timestamps are, over
//! what time scale its counter is a constant-rate clock) chosen through a
//! temperature preset, and from the poll period. Thresholds are in seconds
//! (multiples of the timestamping noise floor `TSLIMIT`) or dimensionless
//! rates and do not depend on the poll period; windows are time scales
//! divided by the poll period, with floors in stamps (research/radclock.md
//! §2.1–§2.3, §3).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Which reference code base to reproduce (research/radclock.md §2.14).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Preset {
    /// The VET-era code (`synclab/radclock`, 2012): `OFFSET_RATIO_GOOD` = 6
    /// (Eoffset 90 µs), the phat pair error is recorded even when the sanity
    /// check rejects the candidate, the error bound is seeded by the minimum
    /// ET of the offset window. The code that ran in 2010 also penalised
    /// each stamp's point error by the server's residence time; that rule
    /// was removed on 2011-07-28 and is available as
    /// [`RadclockConfig::server_delay_penalty`].
    #[default]
    Vet2010,
    /// The maintained code (`RADicalsync/RADclock`, 2025): `OFFSET_RATIO_GOOD`
    /// = 10 (Eoffset 150 µs), `PLOCAL_QUALITY_POOR` = 2e-6, the plocal quality
    /// gate doubled for far servers, perr recorded only on acceptance, the
    /// error bound seeded by the second-best ET.
    Current,
}

/// The host-quality ("temperature") preset of the reference daemon's
/// `temperature_quality` option (research/radclock.md §2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Temperature {
    /// Air-conditioned machine room: tight rate bounds.
    Excellent,
    /// The reference default.
    #[default]
    Good,
    /// Poorly controlled environment: loose rate bounds, SKM scale halved.
    Poor,
}

/// RADclock parameters, as written in a scenario.
///
/// ```
/// use algorithms::radclock::{Preset, RadclockConfig};
/// let cfg: RadclockConfig = ron::from_str("(poll_period_s: 64, preset: Current)").unwrap();
/// assert_eq!(cfg.preset, Preset::Current);
/// assert!(cfg.validate().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RadclockConfig {
    /// Poll period P, seconds (1..=1024; default 16 = `DEFAULT_NTP_POLL_PERIOD`,
    /// research/radclock.md §2.1, §3). Fixed: RADclock does not adapt it.
    pub poll_period_s: f64,
    /// Reference code base (default the VET-era 2012 code).
    pub preset: Preset,
    /// Temperature preset (default `Good`, as `config_init` does).
    pub temperature: Temperature,
    /// Read the absolute clock with the local-rate refinement
    /// `Ca(T) += (T − T_last)(p̂_local − p̂)` (research §1.3). Default on:
    /// applications read RADclock through libradclock, whose
    /// `radclock_create` sets `local_period_mode = RADCLOCK_LOCAL_PERIOD_ON`
    /// in the 2012 and 2025 code alike (the 2025 daemon's own
    /// `PLOCAL_ACTIVE 0` governs only the daemon's internal reads), and the
    /// published absolute clock extrapolates θ̂ with the local rate. Guests
    /// reading a Dom0 daemon's parameters use the same mode.
    pub use_local_rate: bool,
    /// Start with `NTP_BURST` = 8 requests `BURST_DELAY` = 2 s apart
    /// (research §2.1; default on).
    pub startup_burst: bool,
    /// Initial period guess p̂₀, seconds per tick (`phat_init`). `None` uses
    /// the counter's nominal period (the 2012 code's use of the kernel's
    /// estimate; the config default 1e-9 s is the nominal period of a 1 GHz
    /// counter), research §2.5; the 2025 code always starts from its
    /// configured value.
    pub phat_init_s: Option<f64>,
    /// Add the server's residence time `Te − Tb` to each stamp's point
    /// error in the full offset algorithm, as the code before 2011-07-28
    /// did (`process_thetahat_full`, "SD penalty": a large server delay at
    /// a small RTT delays Te and distorts the naive offset). It moves the
    /// weights and the quality gate, not the error bound. Default off, as
    /// in the 2012 and 2025 code; only with preset `Vet2010`.
    pub server_delay_penalty: bool,
}

impl Default for RadclockConfig {
    fn default() -> Self {
        RadclockConfig {
            poll_period_s: 16.0,
            preset: Preset::Vet2010,
            temperature: Temperature::Good,
            use_local_rate: true,
            startup_burst: true,
            phat_init_s: None,
            server_delay_penalty: false,
        }
    }
}

impl RadclockConfig {
    /// All problems with the parameters, each naming its field and range.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        ConfigError::check_range(
            &mut errors,
            "poll_period_s",
            self.poll_period_s,
            RAD_MINPOLL_S,
            RAD_MAXPOLL_S,
            "s",
        );
        if let Some(p) = self.phat_init_s {
            ConfigError::check_range(&mut errors, "phat_init_s", p, 1e-12, 1e-3, "s per tick");
        }
        if self.server_delay_penalty && self.preset != Preset::Vet2010 {
            errors.push(ConfigError::new(
                "server_delay_penalty",
                "the server-delay penalty belongs to the pre-2011 code: use it with \
                 preset Vet2010 (the 2025 code, preset Current, has none)",
            ));
        }
        errors
    }
}

/// Shortest allowed poll period, seconds (`RAD_MINPOLL`, research §2.1).
pub const RAD_MINPOLL_S: f64 = 1.0;
/// Longest allowed poll period, seconds (`RAD_MAXPOLL`, research §2.1).
pub const RAD_MAXPOLL_S: f64 = 1024.0;
/// Requests in the start-up burst (`NTP_BURST`, research §2.1).
pub const NTP_BURST: u64 = 8;
/// Spacing of the start-up burst, seconds (`BURST_DELAY`, research §2.1).
pub const BURST_DELAY_S: f64 = 2.0;
/// Warm-up end windows grow by one stamp every this many stamps
/// (`warmup_winratio`, research §2.1, §2.6).
pub const WARMUP_WINRATIO: u64 = 4;
/// plocal end windows are 1/this of the plocal window (`plocal_winratio`,
/// research §2.1, §2.3).
pub const PLOCAL_WINRATIO: u64 = 5;
/// History window time scale, seconds: one week (`set_algo_windows`, §2.3).
pub const HISTORY_SCALE_S: f64 = 604_800.0;
/// Minimum RTT below which the server counts as "near", seconds
/// (`parameters_calibration`, research §2.2).
pub const NEAR_SERVER_RTT_S: f64 = 3e-3;
/// Stamps with fewer RTT ticks are insane (`insane_bidir_stamp`, §2.12).
pub const MIN_RTT_TICKS: u64 = 120;

/// Meta-parameters of a temperature preset (`sync_algo.h`, research §2.1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetaParams {
    /// Host timestamping noise floor `TSLIMIT`, seconds.
    pub ts_limit_s: f64,
    /// Simple-skew-model scale `SKM_SCALE`, seconds.
    pub skm_scale_s: f64,
    /// Bound on the rate error at any scale `RATE_ERR_BOUND` (dimensionless).
    pub rate_err_bound: f64,
    /// Best achievable SKM rate accuracy `BEST_SKM_RATE`, used to age stamps.
    pub best_skm_rate: f64,
    /// `OFFSET_RATIO`: Eoffset = ratio × TSLIMIT.
    pub offset_ratio: f64,
    /// `PLOCAL_QUALITY`: quality threshold of the local rate.
    pub plocal_quality: f64,
}

impl MetaParams {
    /// The meta-parameters of `temperature` in the code base `preset`.
    pub fn new(preset: Preset, temperature: Temperature) -> Self {
        let current = preset == Preset::Current;
        match temperature {
            Temperature::Excellent => MetaParams {
                ts_limit_s: 15e-6,
                skm_scale_s: 1024.0,
                rate_err_bound: 1e-7,
                best_skm_rate: 5e-8,
                offset_ratio: 6.0,
                plocal_quality: 8e-7,
            },
            Temperature::Good => MetaParams {
                ts_limit_s: 15e-6,
                skm_scale_s: 1024.0,
                rate_err_bound: 5e-7,
                best_skm_rate: 2e-7,
                offset_ratio: if current { 10.0 } else { 6.0 },
                plocal_quality: 8e-7,
            },
            Temperature::Poor => MetaParams {
                ts_limit_s: 15e-6,
                skm_scale_s: 512.0,
                rate_err_bound: 1e-6,
                best_skm_rate: 1e-6,
                offset_ratio: if current { 10.0 } else { 6.0 },
                plocal_quality: if current { 2e-6 } else { 8e-7 },
            },
        }
    }
}

/// Thresholds derived from the meta-parameters (`init_errthresholds` /
/// `set_err_thresholds`, research §2.2). Values before the near/far server
/// calibration at the end of warm-up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Upward RTT level-shift threshold Eshift = 10·TSLIMIT, seconds.
    pub e_shift_s: f64,
    /// Largest point error of a phat candidate Ep = 3·TSLIMIT, seconds.
    pub e_p_s: f64,
    /// phat "accept even if not better" level Ep_qual = RateErrBOUND/5
    /// (divided by 10 at h_win/2).
    pub e_p_qual: f64,
    /// Largest relative phat jump Ep_sanity = 3·RateErrBOUND.
    pub e_p_sanity: f64,
    /// plocal quality gate Eplocal_qual = PLOCAL_QUALITY.
    pub e_plocal_qual: f64,
    /// Largest relative plocal jump Eplocal_sanity = 3·RateErrBOUND.
    pub e_plocal_sanity: f64,
    /// Gaussian weight scale of the offset Eoffset = OFFSET_RATIO·TSLIMIT, seconds.
    pub e_offset_s: f64,
    /// Offset quality gate on the window's min ET, 3·Eoffset (6·Eoffset for a
    /// far server after warm-up), seconds.
    pub e_offset_qual_s: f64,
    /// Absolute part of the offset sanity band, 100·TSLIMIT, seconds.
    pub e_offset_sanity_min_s: f64,
    /// Gap-proportional part of the offset sanity band, 20·RateErrBOUND
    /// (seconds per second).
    pub e_offset_sanity_rate: f64,
}

impl Thresholds {
    /// The thresholds of `meta`.
    pub fn new(meta: &MetaParams) -> Self {
        let e_offset_s = meta.offset_ratio * meta.ts_limit_s;
        Thresholds {
            e_shift_s: 10.0 * meta.ts_limit_s,
            e_p_s: 3.0 * meta.ts_limit_s,
            e_p_qual: meta.rate_err_bound / 5.0,
            e_p_sanity: 3.0 * meta.rate_err_bound,
            e_plocal_qual: meta.plocal_quality,
            e_plocal_sanity: 3.0 * meta.rate_err_bound,
            e_offset_s,
            e_offset_qual_s: 3.0 * e_offset_s,
            e_offset_sanity_min_s: 100.0 * meta.ts_limit_s,
            e_offset_sanity_rate: 20.0 * meta.rate_err_bound,
        }
    }
}

/// The algorithm's windows, in stamps (`set_algo_windows`,
/// `adjust_warmup_win`, `init_plocal`; research §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    /// History window (`top_win`/`h_win`): one week; RTT floor and phat anchor
    /// are renewed every `h_win/2` stamps.
    pub h_win: u64,
    /// Upward level-shift detection window.
    pub shift_win: u64,
    /// Offset window: SKM scale.
    pub offset_win: u64,
    /// Distance between the plocal end windows.
    pub plocal_win: u64,
    /// Width of each plocal end window.
    pub wwidth: u64,
    /// Warm-up length.
    pub warmup_win: u64,
    /// Span of the search for the next phat anchor (= warm-up).
    pub jsearch_win: u64,
}

/// The windows for poll period `poll_period_s` and `temperature`
/// (research §2.3). They do not depend on the preset.
///
/// ```
/// use algorithms::radclock::{windows, Temperature};
/// let w = windows(16.0, Temperature::Good);
/// assert_eq!((w.shift_win, w.offset_win, w.plocal_win, w.warmup_win), (100, 64, 320, 480));
/// ```
pub fn windows(poll_period_s: f64, temperature: Temperature) -> Windows {
    let meta = MetaParams::new(Preset::Vet2010, temperature);
    let p = poll_period_s;
    let mut h_win = (HISTORY_SCALE_S / p).floor() as u64;
    // In binary floating point 10·15e-6/1e-7 is 1500.0000000000002, so the
    // reference's `ceil` gives 1501 at P = 1 s (and 101 at P = 15 s): kept.
    let shift_win = ((10.0 * meta.ts_limit_s / 1e-7) / p).ceil().max(100.0) as u64;
    let offset_win = ((meta.skm_scale_s / p).max(2.0)) as u64;
    let plocal_win = (5 * offset_win).max(4);
    let warmup_win = 100u64
        .max(offset_win)
        .max(shift_win)
        .max(plocal_win + plocal_win / (PLOCAL_WINRATIO / 2));
    if warmup_win + shift_win > h_win / 2 {
        h_win = 3 * (2 * (warmup_win + shift_win) + 1);
    }
    let wwidth = 4u64.max(plocal_win / PLOCAL_WINRATIO);
    Windows {
        h_win,
        shift_win,
        offset_win,
        plocal_win,
        wwidth,
        warmup_win,
        jsearch_win: warmup_win,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_table_of_research_2_3() {
        // (P, h_win, shift_win, offset_win, plocal_win, wwidth, warmup_win)
        let table: [(f64, u64, u64, u64, u64, u64, u64); 7] = [
            (1.0, 604_800, 1501, 1024, 5120, 1024, 7680),
            (15.0, 40_320, 101, 68, 340, 68, 510),
            (16.0, 37_800, 100, 64, 320, 64, 480),
            (64.0, 9450, 100, 16, 80, 16, 120),
            (128.0, 4725, 100, 8, 40, 8, 100),
            (256.0, 2362, 100, 4, 20, 4, 100),
            (1024.0, 590, 100, 2, 10, 4, 100),
        ];
        for (p, h, shift, offset, plocal, ww, warm) in table {
            let w = windows(p, Temperature::Good);
            assert_eq!(
                (
                    w.h_win,
                    w.shift_win,
                    w.offset_win,
                    w.plocal_win,
                    w.wwidth,
                    w.warmup_win
                ),
                (h, shift, offset, plocal, ww, warm),
                "P = {p} s"
            );
            assert_eq!(w.jsearch_win, w.warmup_win);
        }
    }

    #[test]
    fn poor_temperature_halves_the_skm_windows() {
        let w = windows(16.0, Temperature::Poor);
        assert_eq!(
            (w.offset_win, w.plocal_win, w.wwidth, w.warmup_win),
            (32, 160, 32, 240)
        );
    }

    #[test]
    fn presets_differ_as_documented() {
        let old = Thresholds::new(&MetaParams::new(Preset::Vet2010, Temperature::Good));
        let new = Thresholds::new(&MetaParams::new(Preset::Current, Temperature::Good));
        assert!((old.e_offset_s - 90e-6).abs() < 1e-12);
        assert!((new.e_offset_s - 150e-6).abs() < 1e-12);
        assert!((old.e_offset_qual_s - 270e-6).abs() < 1e-12);
        assert!((new.e_offset_qual_s - 450e-6).abs() < 1e-12);
        // Shared by both: Eshift 150 µs, Ep 45 µs, sanity 1.5 ppm, 1.5 ms + 10 µs/s.
        for t in [old, new] {
            assert!((t.e_shift_s - 150e-6).abs() < 1e-12);
            assert!((t.e_p_s - 45e-6).abs() < 1e-12);
            assert!((t.e_p_qual - 1e-7).abs() < 1e-18);
            assert!((t.e_p_sanity - 1.5e-6).abs() < 1e-18);
            assert!((t.e_offset_sanity_min_s - 1.5e-3).abs() < 1e-12);
            assert!((t.e_offset_sanity_rate - 1e-5).abs() < 1e-18);
        }
        let poor_old = MetaParams::new(Preset::Vet2010, Temperature::Poor);
        let poor_new = MetaParams::new(Preset::Current, Temperature::Poor);
        assert_eq!(
            (poor_old.plocal_quality, poor_new.plocal_quality),
            (8e-7, 2e-6)
        );
        assert_eq!(
            MetaParams::new(Preset::Current, Temperature::Excellent).offset_ratio,
            6.0
        );
    }

    #[test]
    fn validate_names_field_and_range() {
        let cfg = RadclockConfig {
            poll_period_s: 2000.0,
            phat_init_s: Some(-1.0),
            ..Default::default()
        };
        let e = cfg.validate();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].field, "poll_period_s");
        assert!(e[0].message.contains("1..=1024 s"), "{}", e[0].message);
        assert_eq!(e[1].field, "phat_init_s");
        assert!(RadclockConfig::default().validate().is_empty());
        let penalty = |preset| RadclockConfig {
            preset,
            server_delay_penalty: true,
            ..Default::default()
        };
        assert!(penalty(Preset::Vet2010).validate().is_empty());
        let e = penalty(Preset::Current).validate();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "server_delay_penalty");
        assert!(e[0].message.contains("Vet2010"), "{}", e[0].message);
        let nan = RadclockConfig {
            poll_period_s: f64::NAN,
            ..Default::default()
        };
        assert_eq!(nan.validate().len(), 1);
    }
}
