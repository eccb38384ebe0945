//! # ntpd: the NTPv4 reference daemon's clock discipline
//!
//! ntpd is a *feedback* synchronizer. It owns a disciplined clock (the
//! kernel's system clock), stamps its requests with that clock, measures how
//! far the clock is from each server, and steers the clock's phase and
//! frequency so that the measured offset goes to zero. Everything it does is
//! driven by integer seconds of its own timer (`current_time`):
//!
//! ```text
//!  reply ─▶ on-wire θ,δ,ε ─▶ clock filter ─▶ select/cluster/combine ─▶ local_clock ─▶ adj_host_clock (1 s)
//!           (per server)     (8 stages,       (intersection, 1/λ       (state machine,   (slews the residual
//!                             min delay,        weights, system          step/stepout,     with TC 16·2^poll,
//!                             popcorn)          peer, anti-clockhop)     PLL/FLL, poll)    plus the frequency)
//! ```
//!
//! * **Per packet** (research/ntpd.md §1): offset θ = ((T2−T1)+(T3−T4))/2,
//!   delay δ, dispersion ε; an 8-stage filter keeps the minimum-delay sample,
//!   rejects popcorn spikes and never reuses a sample, so the loop is updated
//!   at most once per new filter output, not once per poll.
//! * **Several servers** (§2): correctness intervals θ ± λ (λ = root
//!   distance) are intersected (Marzullo's algorithm as modified by each
//!   release), falsetickers dropped, outliers clustered away, the survivors
//!   combined with weights 1/λ; the loop runs only when the system peer has
//!   a new sample. 4.2.6 has its own selection: three endpoints per
//!   interval, truechimers only with offsets strictly inside the
//!   intersection, survivors sorted by stratum first, the head of the list
//!   the system peer and the combined jitter taken around it (the `select`
//!   module lists the differences).
//! * **The discipline** (§3, §5): the `local_clock` state machine (NSET,
//!   FSET, FREQ, SPIK, SYNC): offsets above 128 ms are spikes until the
//!   stepout (300 s in 4.2.8, 900 s in 4.2.6) has passed, then the clock is
//!   stepped and every association is cleared; smaller offsets feed a
//!   type-II PLL (time constant 16·τ, damping 2) and, above the Allan
//!   intercept, an FLL. The residual offset is slewed every second, never
//!   more than 500 ppm in total. The poll exponent follows a "jiggle
//!   counter". Optionally the Linux kernel PLL (`SHIFT_PLL` = 2, 4× faster)
//!   replaces the daemon's phase/frequency actuator (§5.12).
//!
//! What the model leaves out of the releases it names: the time gates
//! `tc_twinlo`/`tc_twinhi` that ntp.org releases after 4.2.8p15 put on poll
//! changes (with one server updating once per poll they never bind; they
//! matter with bursts or several servers), and the newer order of
//! `poll_update` before the packet leaves in `transmit` (for the system
//! peer it changes nothing). The selection has no `prefer`, `true`, PPS,
//! reference-clock or orphan rules, in any release (no scenario configures
//! them). After a step, 4.2.6 polls first `r mod (number of
//! associations)` seconds later (`r` random: at once with one server), and
//! 4.2.8 and NTPsec `r mod minpoll` (the exponent), as 4.2.8p9–p14 do;
//! p15 and later wait `r mod 2^minpoll` (up to 63 s), so their step
//! recovery may differ from the model's by seconds. The p15 clamp of
//! `poll_update`'s interval to the limit (Bug 3592), its skipping of the
//! poll update on a bad packet and `sys_residual` folded into a step are
//! left out too: the first two change when polls go out, not how a sample
//! is processed, and the residual is under a microsecond.
//!
//! The per-second adjustment runs on a grid of counter values: tick k fires
//! at counter `k·round(nominal_hz)`, so feeding the same stamps replays the
//! same clock bit for bit. The clock is piecewise linear in the counter,
//! re-anchored at every tick (and at every step) with a [`ClockTime`]
//! anchor, so its precision does not decay in long runs.
//!
//! ```
//! use algorithms::{CounterInfo, SyncAlgorithm, ntpd::{Ntpd, NtpdConfig}};
//! let cfg = NtpdConfig { iburst: true, ..NtpdConfig::default() };
//! assert!(cfg.validate().is_empty());
//! let mut ntpd = Ntpd::new(&cfg, CounterInfo { nominal_hz: 1e9 }, 1, 7);
//! ntpd.advance(5_000_000_000);
//! assert_eq!(ntpd.poll_log2(), 6);
//! assert!(ntpd.next_poll().is_some());
//! ```

mod discipline;
mod peer;
mod select;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::clock::{ClockTime, signed_count, ticks_between};
use crate::config::ConfigError;
use crate::sync::{CounterInfo, Exchange, PollRequest, SyncAlgorithm};

pub use discipline::ClockState;
pub use select::PeerSelection;

use discipline::{Discipline, KernelLoop};
use peer::Peer;
use select::SelectScratch;

/// Dispersion growth rate `PHI`, s/s (`CLOCK_PHI`, research/ntpd.md §1.1).
pub(crate) const PHI_S_PER_S: f64 = 15e-6;
/// Maximum dispersion `MAXDISPERSE`, s (§3.1).
pub(crate) const MAXDISP_S: f64 = 16.0;
/// Selection threshold `sys_maxdist`, s (§3.1).
pub(crate) const MAXDIST_S: f64 = 1.5;
/// Minimum root distance `sys_mindisp`, s (§1.4).
pub(crate) const MINDIST_S: f64 = 0.001;
/// Slew and frequency clamp `NTP_MAXFREQ`, s/s (§3.1).
pub(crate) const MAXFREQ_S_PER_S: f64 = 500e-6;
/// Number of clock-filter stages `NTP_SHIFT` (§1.2).
pub(crate) const NSTAGE: usize = 8;
/// Packets in an iburst `NTP_IBURST` (§1.3).
const NTP_IBURST: i32 = 6;
/// Minimum packet spacing `ntp_minpkt`, s (§1.3).
const NTP_MINPKT_S: u64 = 2;
/// Burst retry counter `NTP_RETRY` (§1.3).
const NTP_RETRY: i32 = 3;
/// Polls without reply before the poll interval backs off `NTP_UNREACH` (§1.3).
const NTP_UNREACH: i32 = 10;
/// Width of one huff-n'-puff register `HUFFPUFF`, s (§3.7).
const HUFFPUFF_S: u64 = 900;

/// The ntpd release whose behaviour is modelled (research/ntpd.md §3.10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NtpVersion {
    /// ntp.org 4.2.8p9 and later: stepout 300 s, start-up hold, root
    /// distance with peer dispersion (CVE-2016-7433 fix). The FLL term,
    /// used only at polls of 2048 s and longer, multiplies by `CLOCK_FLL`
    /// (0.25) as the 4.2.8p9–p10 sources do; later 4.2.8 sources divide by
    /// it, as NTPsec does (release `Ntpsec`), a gain 16 times larger.
    #[default]
    Ntp428,
    /// ntp.org 4.2.6 / RFC 5905: stepout 900 s, no start-up hold, FREQ
    /// training from the residual, re-training after repeated steps,
    /// no 500 ppm clamp in the per-second adjustment, and its own
    /// `clock_select` (with several servers: three endpoints per interval,
    /// truechimers strictly inside the intersection, the lowest stratum the
    /// system peer).
    Ntp426,
    /// NTPsec: 4.2.8's machine, FLL gain as divisor, no precision floor on
    /// jitters or delays, root distance without dispersion plus a separate
    /// dispersion gate, replies with δ > 1.5 s or from an unsynchronized
    /// server dropped before they count toward reach.
    Ntpsec,
}

impl NtpVersion {
    /// The default stepout (`CLOCK_MINSTEP`), s: 300 (4.2.8, NTPsec) or
    /// 900 (4.2.6, RFC 5905 WATCH) (research/ntpd.md §3.1).
    pub fn default_stepout_s(self) -> f64 {
        match self {
            NtpVersion::Ntp426 => 900.0,
            NtpVersion::Ntp428 | NtpVersion::Ntpsec => 300.0,
        }
    }

    /// The stratum ceiling `sys_ceiling` (exclusive): servers at or above
    /// it fail test 6 and are unfit. 4.2.8 and NTPsec set it to
    /// `STRATUM_UNSPEC − 1` = 15, so a stratum-15 server is refused; 4.2.6
    /// to `STRATUM_UNSPEC` = 16 (`ntp_proto.c` of each release).
    fn stratum_ceiling(self) -> u8 {
        match self {
            NtpVersion::Ntp426 => 16,
            NtpVersion::Ntp428 | NtpVersion::Ntpsec => 15,
        }
    }
}

/// ntpd parameters (the `ntp.conf`/`tinker` knobs that shape the clock).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NtpdConfig {
    /// Which release to model (default 4.2.8p9+).
    pub version: NtpVersion,
    /// Minimum poll exponent, log2 s (default 6 = 64 s; research/ntpd.md §3.1).
    /// Fixed 16 s polling is `minpoll = maxpoll = 4`.
    pub minpoll: i32,
    /// Maximum poll exponent, log2 s (default 10 = 1024 s; §3.1).
    pub maxpoll: i32,
    /// `iburst`: six packets 2 s apart when a server is unreachable (§1.3).
    pub iburst: bool,
    /// `burst`: up to eight packets on every reachable poll (§1.3).
    pub burst: bool,
    /// Step threshold `tinker step`, s (default 0.128, §3.1; 0 = never step).
    pub step_threshold_s: f64,
    /// Stepout `tinker stepout`, s; `None` takes the version's default
    /// (300 s for 4.2.8/NTPsec, 900 s for 4.2.6; §3.1). 4.2.8 and NTPsec
    /// accept no less than 300 s; their start-up hold stays 300 s whatever
    /// the stepout.
    pub stepout_s: Option<f64>,
    /// Panic threshold `tinker panic`, s (default 1000, §3.1; 0 = off). An
    /// offset above it makes ntpd exit (the model stops disciplining).
    pub panic_threshold_s: f64,
    /// `-g`: allow the first update to exceed the panic threshold (§3.2).
    pub allow_initial_panic: bool,
    /// Drift file content, ppm (the frequency *correction*, ntpq
    /// "frequency"); `None` = cold start in NSET (§5.3).
    pub drift_ppm: Option<f64>,
    /// Use the Linux kernel PLL (`SHIFT_PLL` = 2) for phase and frequency
    /// (§3.9, §5.12). Engaged only when 0 < step threshold ≤ 0.5 s, as ntpd does.
    pub kernel_loop: bool,
    /// Huff-n'-puff window `tinker huffpuff`, s (off by default; ≥ 900; §3.7).
    pub huffpuff_s: Option<f64>,
    /// System precision exponent ρ, log2 s (default −20 ≈ 1 µs; §1.1).
    pub precision_log2: i32,
    /// Precision exponent the servers advertise, log2 s (default −20; §1.1).
    pub server_precision_log2: i32,
    /// Per-server offset correction, s, added to every sample; missing
    /// entries are 0 (§1.1). A simulator knob modelled on ntpd's `bias`
    /// (which 4.2.8 sets only for broadcast clients and clears with the
    /// association): this one is kept across steps.
    pub bias_s: Vec<f64>,
}

impl Default for NtpdConfig {
    fn default() -> Self {
        NtpdConfig {
            version: NtpVersion::Ntp428,
            minpoll: 6,
            maxpoll: 10,
            iburst: false,
            burst: false,
            step_threshold_s: 0.128,
            stepout_s: None,
            panic_threshold_s: 1000.0,
            allow_initial_panic: false,
            drift_ppm: None,
            kernel_loop: false,
            huffpuff_s: None,
            precision_log2: -20,
            server_precision_log2: -20,
            bias_s: Vec::new(),
        }
    }
}

impl NtpdConfig {
    /// All problems with the parameters, each naming its field and range.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut e = Vec::new();
        let poll_lo = if self.version == NtpVersion::Ntpsec {
            0
        } else {
            3
        };
        ConfigError::check_range(
            &mut e,
            "minpoll",
            f64::from(self.minpoll),
            f64::from(poll_lo),
            17.0,
            "log2 s",
        );
        ConfigError::check_range(
            &mut e,
            "maxpoll",
            f64::from(self.maxpoll),
            f64::from(poll_lo),
            17.0,
            "log2 s",
        );
        if self.minpoll > self.maxpoll {
            e.push(ConfigError::new(
                "maxpoll",
                format!("{} is below minpoll {}", self.maxpoll, self.minpoll),
            ));
        }
        ConfigError::check_range(
            &mut e,
            "step_threshold_s",
            self.step_threshold_s,
            0.0,
            1e6,
            "s",
        );
        if let Some(s) = self.stepout_s {
            // 4.2.8 and NTPsec raise a `tinker stepout` below their
            // `CLOCK_MINSTEP` to it (`loop_config`): refused rather than
            // silently changed.
            let min_s = match self.version {
                NtpVersion::Ntp426 => 1.0,
                NtpVersion::Ntp428 | NtpVersion::Ntpsec => self.version.default_stepout_s(),
            };
            ConfigError::check_range(&mut e, "stepout_s", s, min_s, 86_400.0, "s");
        }
        ConfigError::check_range(
            &mut e,
            "panic_threshold_s",
            self.panic_threshold_s,
            0.0,
            1e9,
            "s",
        );
        if let Some(d) = self.drift_ppm {
            ConfigError::check_range(&mut e, "drift_ppm", d, -500.0, 500.0, "ppm");
        }
        if let Some(h) = self.huffpuff_s {
            ConfigError::check_range(&mut e, "huffpuff_s", h, 900.0, 86_400.0, "s");
        }
        ConfigError::check_range(
            &mut e,
            "precision_log2",
            f64::from(self.precision_log2),
            -30.0,
            0.0,
            "log2 s",
        );
        ConfigError::check_range(
            &mut e,
            "server_precision_log2",
            f64::from(self.server_precision_log2),
            -30.0,
            0.0,
            "log2 s",
        );
        for (i, b) in self.bias_s.iter().enumerate() {
            ConfigError::check_range(&mut e, &format!("bias_s[{i}]"), *b, -1.0, 1.0, "s");
        }
        e
    }

    /// The stepout in force, s.
    pub fn effective_stepout_s(&self) -> f64 {
        self.stepout_s
            .unwrap_or_else(|| self.version.default_stepout_s())
    }
}

/// Fixed parameters derived from the configuration.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub version: NtpVersion,
    pub minpoll: i32,
    pub maxpoll: i32,
    pub iburst: bool,
    pub burst: bool,
    pub step_s: f64,
    pub stepout_s: f64,
    pub panic_s: f64,
    pub kernel: bool,
    /// 2^ρ, s.
    pub rho_s: f64,
    /// 2^ρ of the servers, s.
    pub rho_peer_s: f64,
}

/// The disciplined clock: `L(T) = anchor + (T − anchor_counter)/f·(1 + rate)`.
#[derive(Clone, Debug)]
struct DisciplinedClock {
    anchor_counter: u64,
    anchor: ClockTime,
    /// Fractional rate correction applied over the current second, s/s.
    rate: f64,
    inv_hz: f64,
}

impl DisciplinedClock {
    fn read(&self, counter: u64) -> ClockTime {
        let dt = ticks_between(self.anchor_counter, counter) * self.inv_hz;
        self.anchor.add_secs(dt + dt * self.rate)
    }
    fn reanchor(&mut self, counter: u64) {
        self.anchor = self.read(counter);
        self.anchor_counter = counter;
    }
}

/// Huff-n'-puff registers (§3.7): minimum delay per 900 s slice.
#[derive(Clone, Debug)]
struct HuffPuff {
    regs: Vec<f64>,
    ptr: usize,
    mindly_s: f64,
    next: u64,
}

/// A [`ClockTime`] during a span of timer ticks, held as its two parts,
/// whole seconds and a fraction in [0, 1), so that adding seconds
/// (`normalized` in `clock.rs`: floor the sum, carry the whole part) needs
/// no library call for the floor. Every step gives the same bits as
/// [`ClockTime::add_secs`]: whenever the parts could not be converted back
/// exactly (2^52 s or more, or a fraction outside [0, 1)), the reading is
/// kept whole instead.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Anchor {
    Split { secs: i64, frac: f64 },
    Whole(ClockTime),
}

/// Whole seconds below which [`Anchor::Split`] converts exactly.
const SPLIT_LIMIT: u64 = 1 << 52;

/// Spans from this many ticks on use [`Anchor::Split`] (splitting and
/// rebuilding the reading cost three `floor` library calls).
const SPLIT_MIN_SPAN: u64 = 4;

impl Anchor {
    fn of(t: ClockTime) -> Self {
        let secs = t.whole_secs();
        if secs.unsigned_abs() < SPLIT_LIMIT {
            // Exact: `t` minus its whole seconds is its fraction.
            let frac = t - ClockTime::from_secs_f64(secs as f64);
            if (0.0..1.0).contains(&frac) {
                return Anchor::Split { secs, frac };
            }
        }
        Anchor::Whole(t)
    }

    /// `ClockTime::add_secs`.
    #[inline]
    fn add_secs(&mut self, ds: f64) {
        match self {
            Anchor::Split { secs, frac } => {
                let sum = *frac + ds;
                let whole = floor(sum);
                let carried = secs.saturating_add(whole as i64);
                let rest = sum - whole;
                if carried.unsigned_abs() < SPLIT_LIMIT && rest < 1.0 {
                    *secs = carried;
                    *frac = rest;
                } else {
                    *self = Anchor::Whole(self.reading().add_secs(ds));
                }
            }
            Anchor::Whole(t) => *t = t.add_secs(ds),
        }
    }

    /// The reading (exact: a fraction in [0, 1) added to whole seconds).
    fn reading(self) -> ClockTime {
        match self {
            Anchor::Split { secs, frac } => ClockTime::from_secs_f64(secs as f64).add_secs(frac),
            Anchor::Whole(t) => t,
        }
    }
}

/// 2^52: from here on every `f64` is an integer.
const TWO_52: f64 = 4_503_599_627_370_496.0;

/// `x.trunc()` for `x ≥ 0` (or NaN): one `roundsd` where SSE4.1 is
/// enabled, else [`trunc_nonneg_soft`].
#[inline]
fn trunc_nonneg(x: f64) -> f64 {
    debug_assert!(x.is_nan() || x.is_sign_positive(), "trunc_nonneg({x})");
    if cfg!(target_feature = "sse4.1") {
        x.trunc()
    } else {
        trunc_nonneg_soft(x)
    }
}

/// `x.trunc()` for `x ≥ 0` (or NaN), exactly, without the library call
/// that baseline x86-64 makes for it (no SSE4.1 `roundsd`): adding and
/// removing 2^52 rounds to the nearest integer, then step down if that
/// rounded up.
#[inline]
fn trunc_nonneg_soft(x: f64) -> f64 {
    if x < TWO_52 {
        let r = (x + TWO_52) - TWO_52;
        if r > x { r - 1.0 } else { r }
    } else {
        x
    }
}

/// `x.floor()`, exactly: one `roundsd` where SSE4.1 is enabled, else
/// [`floor_soft`].
#[inline]
fn floor(x: f64) -> f64 {
    if cfg!(target_feature = "sse4.1") {
        x.floor()
    } else {
        floor_soft(x)
    }
}

/// `x.floor()`, exactly; without a library call when `x ≥ 0`.
#[inline]
fn floor_soft(x: f64) -> f64 {
    if x > 0.0 {
        trunc_nonneg_soft(x)
    } else {
        x.floor()
    }
}

/// `2^e` for the loop's small exponents (poll, kernel shift), the same
/// bits as `2f64.powi(e)` without its library call.
#[inline]
pub(crate) fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e), "2^{e} is not a normal f64");
    f64::from_bits(((e.clamp(-1022, 1023) + 1023) as u64) << 52)
}

/// Division by a power of two 2^k (1 ≤ k ≤ 52), the same bits as `x / 2^k`.
/// Once the quotient is bound to round to ±0 the division is skipped: a
/// residual phase left to decay over a long span without updates sinks
/// into subnormal numbers, where every x86 division takes a microcode
/// assist.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pow2Div {
    div: f64,
    /// 2^(k − 1075): |x| at or below it gives |x / 2^k| ≤ 2^−1075, which
    /// rounds (to even) to zero.
    zero_below: f64,
}

impl Pow2Div {
    pub(crate) fn new(k: i32) -> Self {
        debug_assert!((1..=52).contains(&k), "2^{k} out of range");
        let k = k.clamp(1, 52);
        Pow2Div {
            div: pow2(k),
            zero_below: f64::from_bits(1 << (k - 1)),
        }
    }

    /// `x / 2^k`.
    #[inline]
    pub(crate) fn of(self, x: f64) -> f64 {
        if x.abs() <= self.zero_below {
            0f64.copysign(x)
        } else {
            x / self.div
        }
    }
}

/// The divisors of the timer (phase time constant `CLOCK_PLL`·2^poll and
/// the kernel's 2^(SHIFT_PLL + tc)), kept while the poll exponent and the
/// kernel time constant they derive from stay the same.
#[derive(Clone, Copy, Debug)]
struct TimerDivs {
    poll: i32,
    tc: i32,
    phase: Pow2Div,
    kern: Pow2Div,
}

impl TimerDivs {
    fn new(poll: i32, kern: &KernelLoop) -> Self {
        TimerDivs {
            poll,
            tc: kern.tc,
            phase: Pow2Div::new(discipline::CLOCK_PLL_LOG2 + poll),
            kern: kern.chunk_divisor(),
        }
    }
}

/// A small deterministic PRNG (splitmix64) for ntpd's `ntp_random()`.
#[derive(Clone, Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The ntpd model: associations, system process and clock discipline.
#[derive(Clone, Debug)]
pub struct Ntpd {
    p: Params,
    counter: CounterInfo,
    /// Counter ticks per ntpd timer second (round(nominal_hz)).
    tick_ticks: u64,
    /// ntpd's clock starts at its own start, as `current_time` does: tick
    /// `k` of the timer sits at count `(k − origin_s)·tick_ticks` (wrapping),
    /// with `origin_s` the negated counter second of the start, so that
    /// `now` is 0 there whatever the counter read (4.2.6's `last_step` and
    /// every peer's `epoch` count from 0, the daemon's start).
    origin_s: u64,
    started: bool,
    /// ntpd's `current_time`: index of the last timer tick on the grid.
    now: u64,
    clock: DisciplinedClock,
    disc: Discipline,
    kern: KernelLoop,
    /// Pending `adjtime()` amount the kernel still has to slew, s.
    adjtime_pending_s: f64,
    /// `sys_residual` of `adj_systime`: sub-µs carry, s.
    adj_residual_s: f64,
    peers: Vec<Peer>,
    scratch: SelectScratch,
    huff: Option<HuffPuff>,
    rng: SplitMix,
    // System variables.
    sys_epoch: u64,
    synced: bool,
    sys_peer: Option<usize>,
    sys_offset_s: f64,
    sys_jitter_s: f64,
    sys_clockhop_s: f64,
    sys_rootdisp_s: f64,
    sys_rootdelay_s: f64,
    panicked: bool,
    steps: u64,
    stepped_this_exchange: bool,
    /// Counter value of the event being processed (where a step lands).
    current_counter: u64,
    /// The timer's divisors for the current poll and kernel time constant.
    divs: TimerDivs,
}

impl Ntpd {
    /// An ntpd for `n_servers` servers on `counter`. `seed` drives ntpd's
    /// own poll randomization (`ntp_random()`).
    pub fn new(cfg: &NtpdConfig, counter: CounterInfo, n_servers: usize, seed: u64) -> Self {
        let step_s = cfg.step_threshold_s.max(0.0);
        let p = Params {
            version: cfg.version,
            minpoll: cfg.minpoll.clamp(0, 17),
            maxpoll: cfg.maxpoll.clamp(cfg.minpoll.clamp(0, 17), 17),
            iburst: cfg.iburst,
            burst: cfg.burst,
            step_s,
            stepout_s: cfg.effective_stepout_s().max(1.0),
            panic_s: cfg.panic_threshold_s.max(0.0),
            kernel: cfg.kernel_loop && step_s > 0.0 && step_s <= 0.5,
            rho_s: 2f64.powi(cfg.precision_log2),
            rho_peer_s: 2f64.powi(cfg.server_precision_log2),
        };
        let tick_ticks = (counter.nominal_hz.round().max(1.0)) as u64;
        let disc = Discipline::new(&p, cfg.drift_ppm.map(|d| d * 1e-6), cfg.allow_initial_panic);
        let mut kern = KernelLoop::default();
        if p.kernel {
            kern.set_freq(disc.freq);
        }
        let n = n_servers.max(1);
        let peers = (0..n)
            .map(|i| Peer::new(&p, cfg.bias_s.get(i).copied().unwrap_or(0.0)))
            .collect::<Vec<_>>();
        let huff = cfg.huffpuff_s.map(|w| {
            let len = ((w / HUFFPUFF_S as f64) as usize).max(1);
            HuffPuff {
                regs: vec![1e9; len],
                ptr: 0,
                mindly_s: 1e9,
                next: 0,
            }
        });
        let divs = TimerDivs::new(disc.poll, &kern);
        let mut ntpd = Ntpd {
            counter,
            tick_ticks,
            origin_s: 0,
            started: false,
            now: 0,
            clock: DisciplinedClock {
                anchor_counter: 0,
                anchor: ClockTime::ZERO,
                rate: 0.0,
                inv_hz: 1.0 / counter.nominal_hz,
            },
            disc,
            kern,
            adjtime_pending_s: 0.0,
            adj_residual_s: 0.0,
            scratch: SelectScratch::with_capacity(n),
            peers,
            huff,
            rng: SplitMix(seed ^ 0x6E74_7064_u64),
            sys_epoch: 0,
            synced: false,
            sys_peer: None,
            sys_offset_s: 0.0,
            sys_jitter_s: p.rho_s,
            sys_clockhop_s: 0.0,
            sys_rootdisp_s: 0.0,
            sys_rootdelay_s: 0.0,
            panicked: false,
            steps: 0,
            stepped_this_exchange: false,
            current_counter: 0,
            divs,
            p,
        };
        for i in 0..n {
            ntpd.peer_clear(i, true);
        }
        ntpd
    }

    /// The loop state (NSET, FSET, FREQ, SPIK, SYNC).
    pub fn state(&self) -> ClockState {
        self.disc.state
    }

    /// The system poll exponent `sys_poll`, log2 s.
    pub fn poll_log2(&self) -> i32 {
        self.disc.poll
    }

    /// The frequency correction `drift_comp`, ppm (what ntpq calls "frequency").
    pub fn freq_ppm(&self) -> f64 {
        self.disc.freq * 1e6
    }

    /// The residual offset `clock_offset` of the last update, s.
    pub fn offset_s(&self) -> f64 {
        self.disc.resid
    }

    /// The clock jitter, s.
    pub fn jitter_s(&self) -> f64 {
        self.disc.jit
    }

    /// The combined system offset of the last selection, s.
    pub fn sys_offset_s(&self) -> f64 {
        self.sys_offset_s
    }

    /// The system peer (server index), if any.
    pub fn sys_peer(&self) -> Option<usize> {
        self.sys_peer
    }

    /// How the last selection classified `server`.
    pub fn selection(&self, server: usize) -> PeerSelection {
        self.peers
            .get(server)
            .map_or(PeerSelection::Unfit, |p| p.selection)
    }

    /// The reach register of `server` (8 bits, newest poll in bit 0).
    pub fn reach(&self, server: usize) -> u8 {
        self.peers.get(server).map_or(0, |p| p.reach)
    }

    /// True once an offset above the panic threshold made ntpd give up.
    pub fn panicked(&self) -> bool {
        self.panicked
    }

    /// Index of the last timer tick at or before `counter`.
    #[inline]
    fn tick_of(&self, counter: u64) -> u64 {
        tick_at(counter, self.tick_ticks, self.origin_s, self.now)
    }

    /// Count at timer tick `tick`.
    #[inline]
    fn count_of_tick(&self, tick: u64) -> u64 {
        tick.wrapping_sub(self.origin_s)
            .wrapping_mul(self.tick_ticks)
    }

    /// Once, at the first event: keeps the hot callers of
    /// [`Self::ensure_started`] small.
    #[cold]
    #[inline(never)]
    fn start(&mut self, counter: u64) {
        self.started = true;
        let first_s = signed_count(counter).div_euclid(self.tick_ticks as i64);
        self.origin_s = first_s.wrapping_neg() as u64;
        self.now = self.tick_of(counter);
        self.clock.anchor_counter = counter;
        self.clock.anchor = self.counter.nominal_time(counter);
        self.disc.epoch = self.now;
        self.kern.reference = self.now;
        for i in 0..self.peers.len() {
            let p = &mut self.peers[i];
            p.update = self.now;
            p.outdate = self.now;
            p.nextdate = self.now + 1 + i as u64;
        }
        if let Some(h) = self.huff.as_mut() {
            h.next = self.now;
        }
    }

    #[inline]
    fn ensure_started(&mut self, counter: u64) {
        if !self.started {
            self.start(counter);
        }
    }

    /// ntpd's timer (`timer()`, once a second) from tick `self.now` up to
    /// tick `target`. Each tick re-anchors the clock on the grid, runs
    /// `adj_host_clock` and the kernel's `second_overflow`; the rate
    /// limiter ages and huff-n'-puff rotates.
    ///
    /// Nothing but ticks happens inside the span, so what only an update or
    /// a step can change (the phase time constant 16·2^poll, the kernel's
    /// shift) is computed once, and the bookkeeping that only packets and
    /// updates read (throttle, huff-n'-puff) is done once for the whole
    /// span. The clock is bit-identical to running the full timer every
    /// second.
    #[inline(never)]
    fn run_timer(&mut self, target: u64) {
        let span = target - self.now;
        if self.divs.poll != self.disc.poll || self.divs.tc != self.kern.tc {
            self.divs = TimerDivs::new(self.disc.poll, &self.kern);
        }
        let TimerDivs {
            phase: phase_div,
            kern: kern_div,
            ..
        } = self.divs;
        let mut grid = self.count_of_tick(self.now);
        if span < SPLIT_MIN_SPAN {
            for _ in 0..span {
                grid = grid.wrapping_add(self.tick_ticks);
                self.clock.reanchor(grid);
                self.timer_tick(phase_div, kern_div);
            }
        } else {
            // Re-anchoring is `anchor.add_secs(dt + dt·rate)` every tick;
            // a long span does it on the split form and rebuilds the
            // reading once. After the first tick the anchor sits on the
            // grid, one tick before the next.
            let mut anchor = Anchor::of(self.clock.anchor);
            let grid_dt = ticks_between(0, self.tick_ticks) * self.clock.inv_hz;
            grid = grid.wrapping_add(self.tick_ticks);
            let dt = ticks_between(self.clock.anchor_counter, grid) * self.clock.inv_hz;
            anchor.add_secs(dt + dt * self.clock.rate);
            self.timer_tick(phase_div, kern_div);
            for _ in 1..span {
                grid = grid.wrapping_add(self.tick_ticks);
                anchor.add_secs(grid_dt + grid_dt * self.clock.rate);
                self.timer_tick(phase_div, kern_div);
            }
            self.clock.anchor = anchor.reading();
            self.clock.anchor_counter = grid;
        }
        let n = i64::try_from(span).unwrap_or(i64::MAX);
        for p in &mut self.peers {
            if p.throttle > 0 {
                p.throttle = (p.throttle - n).max(0);
            }
        }
        if let Some(h) = self.huff.as_mut() {
            // One rotation per HUFFPUFF_S seconds, as if checked every tick.
            while h.next <= self.now {
                h.next += HUFFPUFF_S;
                h.ptr = (h.ptr + 1) % h.regs.len();
                h.regs[h.ptr] = 1e9;
                h.mindly_s = h.regs.iter().copied().fold(1e9, f64::min);
            }
        }
    }

    /// One tick after the clock has been re-anchored: `adj_host_clock`,
    /// then the kernel's rate for the coming second.
    #[inline(always)]
    fn timer_tick(&mut self, phase_div: Pow2Div, kern_div: Pow2Div) {
        self.now += 1;
        if !self.panicked {
            self.adj_host_clock(phase_div);
        }
        self.actuate_second(kern_div);
    }

    /// `adj_host_clock` (research/ntpd.md §3.4, §5.4); `phase_div` divides
    /// by `CLOCK_PLL`·2^poll.
    fn adj_host_clock(&mut self, phase_div: Pow2Div) {
        self.sys_rootdisp_s += PHI_S_PER_S;
        let d = &mut self.disc;
        if self.p.version == NtpVersion::Ntp426 {
            // 4.2.6: nothing when the kernel loop is on; no state test, no clamp.
            if self.p.kernel {
                return;
            }
            let a = phase_div.of(d.resid);
            d.resid -= a;
            let total = a + d.freq;
            self.adj_systime(total);
            return;
        }
        let mut a = if d.state != ClockState::Sync {
            0.0
        } else if d.hold > 0 {
            d.hold -= 1;
            d.resid / (discipline::CLOCK_PLL * 2.0)
        } else if self.p.kernel {
            0.0
        } else {
            phase_div.of(d.resid)
        };
        let b = if self.p.kernel { 0.0 } else { d.freq };
        if a + b > MAXFREQ_S_PER_S {
            a = MAXFREQ_S_PER_S - b;
        } else if a + b < -MAXFREQ_S_PER_S {
            a = -MAXFREQ_S_PER_S - b;
        }
        d.resid -= a;
        self.adj_systime(a + b);
    }

    /// libntp `adj_systime` on POSIX: ignore 0, quantize to 1 µs carrying the
    /// remainder, then `adjtime()`, which replaces any pending slew (§3.4).
    fn adj_systime(&mut self, amount_s: f64) {
        if amount_s == 0.0 {
            return;
        }
        let mut dtemp = amount_s + self.adj_residual_s;
        let neg = dtemp < 0.0;
        if neg {
            dtemp = -dtemp;
        }
        // dtemp ≥ 0 (amount ≠ 0 rules out −0), and so are the two below.
        let mut sec = trunc_nonneg(dtemp);
        dtemp -= sec;
        let ticks = trunc_nonneg(dtemp / 1e-6 + 0.5);
        let mut usec = trunc_nonneg(ticks * 1e-6 * 1e6 + 0.5);
        if usec >= 1e6 {
            sec += 1.0;
            usec -= 1e6;
            dtemp -= 1.0;
        }
        let mut residual = dtemp - usec * 1e-6;
        let mut adj = sec + usec * 1e-6;
        if neg {
            adj = -adj;
            residual = -residual;
        }
        self.adj_residual_s = residual;
        if adj != 0.0 {
            self.adjtime_pending_s = adj;
        }
    }

    /// The kernel's `second_overflow`: the clock's rate over the coming
    /// second (adjtime chunk ≤ 500 µs, kernel PLL phase chunk, frequency);
    /// `kern_div` divides by the kernel's 2^(SHIFT_PLL + tc).
    fn actuate_second(&mut self, kern_div: Pow2Div) {
        let chunk = self
            .adjtime_pending_s
            .clamp(-MAXFREQ_S_PER_S, MAXFREQ_S_PER_S);
        self.adjtime_pending_s -= chunk;
        let k = if self.p.kernel {
            self.kern.second(kern_div)
        } else {
            0.0
        };
        self.clock.rate = chunk + k;
    }

    /// `step_systime`: jump the clock now; Linux `ntp_clear` drops pending
    /// adjtime and kernel phase (the frequency stays).
    fn step_clock(&mut self, counter: u64, offset_s: f64) {
        self.clock.reanchor(counter);
        self.clock.anchor = self.clock.anchor.add_secs(offset_s);
        self.adjtime_pending_s = 0.0;
        self.adj_residual_s = 0.0;
        self.kern.offset_s = 0.0;
        self.clock.rate = if self.p.kernel { self.kern.freq } else { 0.0 };
        self.steps += 1;
        self.stepped_this_exchange = true;
    }

    fn random(&mut self) -> u64 {
        self.rng.next() >> 33
    }

    /// `peer_clear` (§5.10). Outside initialisation the next poll is
    /// spread at random: over the number of associations in 4.2.6, over
    /// `minpoll` seconds (the exponent, not 2^minpoll) in 4.2.8p9–p14.
    fn peer_clear(&mut self, i: usize, initializing: bool) {
        let r = self.random();
        let now = self.now;
        let (minpoll, maxpoll, rho) = (self.p.minpoll, self.p.maxpoll, self.p.rho_s);
        let spread = match self.p.version {
            NtpVersion::Ntp426 => self.peers.len(),
            NtpVersion::Ntp428 | NtpVersion::Ntpsec => minpoll.max(1) as usize,
        };
        let p = &mut self.peers[i];
        p.clear(now, minpoll, maxpoll, rho);
        p.nextdate = if initializing {
            now + 1 + i as u64
        } else {
            now + r % spread as u64
        };
    }

    /// `poll_update`: the next poll of association `i` (§5.5).
    fn poll_update(&mut self, i: usize, mpoll: i32) {
        let r = self.random();
        let now = self.now;
        let (minpoll, maxpoll) = (self.p.minpoll, self.p.maxpoll);
        let p = &mut self.peers[i];
        let hpoll = mpoll.min(maxpoll).max(minpoll);
        p.hpoll = hpoll;
        let headway = p.throttle - (NSTAGE as i64 - 1) * (1i64 << minpoll);
        let utemp = now + headway.max(NTP_MINPKT_S as i64) as u64;
        if p.burst > 0 {
            if p.nextdate > now {
                return;
            }
            p.nextdate = utemp;
        } else {
            // 4.2.6 and NTPsec poll an unreachable server at the host poll;
            // 4.2.8p15 drops that branch (its transmit resets ppoll instead).
            let h = if p.retry > 0 {
                minpoll
            } else if p.reach == 0 && self.p.version != NtpVersion::Ntp428 {
                p.hpoll
            } else {
                p.ppoll.min(p.hpoll)
            };
            let next = ((0x1000u64 | (r & 0xff)) << h) >> 12;
            let next = next + p.outdate;
            p.nextdate = if next > utemp { next } else { utemp };
            if p.throttle > (1i64 << minpoll) {
                p.nextdate += NTP_MINPKT_S;
            }
        }
    }

    /// `transmit` (§5.5): the reach register and the poll dance.
    fn transmit(&mut self, i: usize, ta: u64) {
        let now = self.now;
        let mut hpoll = self.peers[i].hpoll;
        {
            let p = &mut self.peers[i];
            if p.outdate > p.last_rx && p.reach == 0 {
                p.ppoll = self.p.maxpoll;
            }
        }
        if self.peers[i].burst == 0 {
            let p = &mut self.peers[i];
            p.outdate = now;
            p.unreach += 1;
            p.reach <<= 1;
            // 4.2.6 stuffs infinity into the filter once three polls in a
            // row went unanswered (`!(reach & 0x0f)`), 4.2.8 only when all
            // eight did.
            let stuff = if self.p.version == NtpVersion::Ntp426 {
                p.reach & 0x0f == 0
            } else {
                p.reach == 0
            };
            if stuff {
                self.clock_filter(i, 0.0, 0.0, MAXDISP_S);
            }
            if self.peers[i].reach == 0 {
                let p = &mut self.peers[i];
                if self.p.iburst && p.retry == 0 {
                    p.retry = NTP_RETRY;
                }
            } else {
                hpoll = self.disc.poll;
                self.peers[i].unreach = 0;
                if self.p.burst && self.peers[i].retry == 0 && !self.peer_unfit(i) {
                    self.peers[i].retry = NTP_RETRY;
                }
            }
            if self.peers[i].unreach >= NTP_UNREACH {
                hpoll += 1;
            }
        } else {
            self.peers[i].burst -= 1;
        }
        let minpoll = self.p.minpoll;
        let t1 = self.clock.read(ta);
        let p = &mut self.peers[i];
        if p.retry > 0 {
            p.retry -= 1;
        }
        // peer_xmit: the request carries the current host poll.
        p.throttle += (1i64 << minpoll) - 2;
        p.sent_poll = p.hpoll;
        p.pending = Some((ta, t1));
        self.poll_update(i, hpoll);
    }

    /// `receive` + `process_packet` (§5.6); NTPsec's `handle_procpkt`.
    fn receive(&mut self, ex: &Exchange) {
        let i = ex.server;
        let Some((ta, t1)) = self.peers[i].pending else {
            return;
        };
        if ta != ex.ta {
            return; // bogus origin: not the reply to the outstanding request
        }
        self.peers[i].pending = None;
        let t4 = self.clock.read(ex.tf);
        let now = self.now;
        {
            let p = &mut self.peers[i];
            p.last_rx = now;
            p.ppoll = p.sent_poll.max(self.p.minpoll);
        }
        let t21 = ClockTime::from_secs_f64(ex.tb) - t1;
        let t34 = ClockTime::from_secs_f64(ex.te) - t4;
        let offset = (t21 + t34) / 2.0;
        let mut delay = (t21 - t34).abs();
        // Test 6: the server must be synchronized with a sane stratum.
        let unsynced = ex.stratum == 0 || ex.stratum >= self.p.version.stratum_ceiling();
        if self.p.version == NtpVersion::Ntpsec {
            // `handle_procpkt` refuses an unsynchronized server (BOGON6) and
            // a delay above `sys_maxdist` before it arms a burst, re-times
            // the poll or marks the server reachable, so such a reply does
            // not count toward reach; it compares and files the delay
            // unfloored.
            if unsynced || delay > MAXDIST_S {
                return;
            }
        } else {
            if unsynced {
                let h = self.peers[i].hpoll;
                self.poll_update(i, h);
                return;
            }
            delay = delay.max(self.p.rho_s);
        }
        self.peers[i].stratum = ex.stratum;
        if self.peers[i].retry > 0 {
            let minpoll = self.p.minpoll;
            let p = &mut self.peers[i];
            p.retry = 0;
            p.burst = if p.reach != 0 {
                (1i32 << (p.hpoll - minpoll).clamp(0, 30)).min(NSTAGE as i32) - 1
            } else {
                NTP_IBURST - 1
            };
            if p.burst > 0 {
                p.nextdate = now;
            }
        }
        let h = self.peers[i].hpoll;
        self.poll_update(i, h);
        self.peers[i].reach |= 1;
        let disp = self.p.rho_s + self.p.rho_peer_s + PHI_S_PER_S * delay;
        let bias = self.peers[i].bias_s;
        self.clock_filter(i, offset + bias, delay, disp);
    }

    /// `clock_filter` (§1.2, §5.6 step 4).
    fn clock_filter(&mut self, i: usize, offset: f64, delay: f64, disp: f64) {
        let sort = match self.p.version {
            NtpVersion::Ntp426 => self.synced,
            _ => self.disc.hold == 0,
        };
        let floor = if self.p.version == NtpVersion::Ntpsec {
            0.0
        } else {
            self.p.rho_s
        };
        let now = self.now;
        let outcome = self.peers[i].filter(now, offset, delay, disp, sort, floor);
        if outcome && (self.peers[i].burst == 0 || !self.synced) {
            self.clock_select();
        }
    }

    /// `peer_unfit` (§1.4): true if `i` may not synchronize the clock.
    fn peer_unfit(&self, i: usize) -> bool {
        let p = &self.peers[i];
        let gate = MAXDIST_S + PHI_S_PER_S * 2f64.powi(p.hpoll);
        if p.stratum == 0 || p.stratum >= self.p.version.stratum_ceiling() || p.reach == 0 {
            return true;
        }
        if self.root_distance(i) >= gate {
            return true;
        }
        self.p.version == NtpVersion::Ntpsec && p.disp >= gate
    }

    /// `root_distance` λ per version (§1.4); servers are primary (root
    /// delay and dispersion 0).
    fn root_distance(&self, i: usize) -> f64 {
        let p = &self.peers[i];
        let age = PHI_S_PER_S * (self.now.saturating_sub(p.update)) as f64;
        let d = match self.p.version {
            NtpVersion::Ntp428 => p.delay / 2.0 + p.disp + age + p.jitter,
            NtpVersion::Ntp426 => p.delay / 2.0 + p.disp + age + p.jitter,
            NtpVersion::Ntpsec => p.delay / 2.0 + self.p.rho_peer_s + self.p.rho_s + age + p.jitter,
        };
        d.max(MINDIST_S)
    }

    /// `clock_update` (§2.7, §5.7): feed the system offset to the loop.
    fn clock_update(&mut self, sp: usize, counter: u64) {
        self.sys_peer = Some(sp);
        self.sys_epoch = self.peers[sp].epoch;
        self.disc.poll = self.disc.poll.clamp(self.p.minpoll, self.p.maxpoll);
        let sys_poll = self.disc.poll;
        self.poll_update(sp, sys_poll);
        let p = &self.peers[sp];
        let dtemp = p.disp
            + self.sys_jitter_s
            + PHI_S_PER_S * self.now.saturating_sub(p.update) as f64
            + self.sys_offset_s.abs();
        self.sys_rootdisp_s = dtemp.max(MINDIST_S);
        self.sys_rootdelay_s = p.delay;
        let delay = p.delay;
        let old_poll = self.disc.poll;
        let rv = self.local_clock(counter, self.sys_offset_s, delay);
        if self.disc.poll != old_poll {
            let np = self.disc.poll;
            self.poll_update(sp, np);
        }
        match rv {
            -1 => self.panicked = true,
            2 => {
                for j in 0..self.peers.len() {
                    self.peer_clear(j, false);
                }
                self.sys_epoch = 0;
                self.synced = false;
                self.sys_rootdelay_s = 0.0;
                self.sys_rootdisp_s = 0.0;
                // clock_update's step case leaves sys_peer alone (4.2.6 and
                // 4.2.8 alike), so the next selection's anti-clockhop rule
                // still knows the old system peer.
                self.sys_jitter_s = self.p.rho_s;
            }
            1 => self.synced = true,
            _ => {}
        }
    }

    /// `local_clock` with the huff-n'-puff correction (§3.7, §5.8).
    fn local_clock(&mut self, counter: u64, offset_s: f64, peer_delay_s: f64) -> i32 {
        if self.p.panic_s > 0.0 && offset_s.abs() > self.p.panic_s && !self.disc.allow_panic {
            return -1;
        }
        let mut theta = offset_s;
        if let Some(h) = self.huff.as_mut() {
            if peer_delay_s < h.regs[h.ptr] {
                h.regs[h.ptr] = peer_delay_s;
            }
            if peer_delay_s < h.mindly_s {
                h.mindly_s = peer_delay_s;
            }
            let d = if theta > 0.0 {
                -(peer_delay_s - h.mindly_s) / 2.0
            } else {
                (peer_delay_s - h.mindly_s) / 2.0
            };
            theta += d;
        }
        let now = self.now;
        let out = self.disc.update(&self.p, now, theta, &mut self.kern);
        if let Some(slew) = out.initial_slew_s {
            self.adj_systime(slew);
        }
        if let Some(step) = out.step_s {
            self.step_clock(counter, step);
        }
        out.rv
    }
}

/// Index of the last timer tick at or before `counter`: ticks are
/// `tick_ticks` apart and tick `origin_s` is at count 0 (counts read as
/// signed, so a count before the origin lies at a wrapped, negative tick).
/// Reads come in order, most within tick `near` or the next, so those are
/// found by comparison, without a division.
#[inline]
fn tick_at(counter: u64, tick_ticks: u64, origin_s: u64, near: u64) -> u64 {
    let tick = tick_ticks as i64;
    let near_start = (near.wrapping_sub(origin_s) as i64).checked_mul(tick);
    let since = near_start.and_then(|start| signed_count(counter).checked_sub(start));
    match since {
        Some(d) if (0..tick).contains(&d) => near,
        Some(d) if (tick..tick.saturating_mul(2)).contains(&d) => near.wrapping_add(1),
        _ => (signed_count(counter).div_euclid(tick) as u64).wrapping_add(origin_s),
    }
}

impl SyncAlgorithm for Ntpd {
    fn name(&self) -> &'static str {
        "ntpd"
    }

    fn advance(&mut self, now: u64) {
        self.ensure_started(now);
        // Every tick k with k·tick_ticks ≤ now. Compared as a signed
        // difference: a counter read before the daemon's start (a TSC moved
        // back by a migration) lies at a wrapped, negative tick.
        let target = self.tick_of(now);
        if target.wrapping_sub(self.now) as i64 > 0 {
            self.run_timer(target);
        }
    }

    fn next_poll(&self) -> Option<PollRequest> {
        if self.panicked {
            return None;
        }
        let (server, p) = self
            .peers
            .iter()
            .enumerate()
            .min_by_key(|(_, p)| p.nextdate)?;
        let at = if self.started {
            self.count_of_tick(p.nextdate)
        } else {
            0
        };
        Some(PollRequest { server, at })
    }

    fn on_transmit(&mut self, server: usize, ta: u64) {
        self.ensure_started(ta);
        if server < self.peers.len() && !self.panicked {
            self.current_counter = ta;
            self.transmit(server, ta);
        }
    }

    fn on_exchange(&mut self, ex: &Exchange) {
        self.ensure_started(ex.tf);
        self.stepped_this_exchange = false;
        if ex.server < self.peers.len() && !self.panicked {
            self.current_counter = ex.tf;
            self.receive(ex);
        }
    }

    fn read(&self, counter: u64) -> ClockTime {
        if !self.started {
            return self.counter.nominal_time(counter);
        }
        self.clock.read(counter)
    }

    fn difference(&self, t1: u64, t2: u64) -> f64 {
        let dt = ticks_between(t1, t2) * self.clock.inv_hz;
        dt + dt * self.clock.rate
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn error_estimate(&self) -> Option<f64> {
        // ntpd's maximum error: root delay/2 + root dispersion, the latter
        // growing by PHI every second since the last update.
        self.synced
            .then(|| self.sys_rootdelay_s / 2.0 + self.sys_rootdisp_s)
    }

    fn trace_columns(&self) -> &'static [&'static str] {
        &[
            "offset_s",
            "jitter_s",
            "freq_ppm",
            "wander_ppm",
            "poll_log2",
            "state",
            "sys_peer",
            "stepped",
        ]
    }

    fn trace_row(&self, out: &mut Vec<f64>) {
        // With the kernel loop the kernel slews the offset; ntpd's own copy
        // is what the kernel reported at the last update.
        out.push(if self.p.kernel {
            self.kern.offset_s
        } else {
            self.disc.resid
        });
        out.push(self.disc.jit);
        out.push(self.disc.freq * 1e6);
        out.push(self.disc.wander * 1e6);
        out.push(f64::from(self.disc.poll));
        out.push(f64::from(self.disc.state.code()));
        out.push(self.sys_peer.map_or(-1.0, |s| s as f64));
        out.push(if self.stepped_this_exchange { 1.0 } else { 0.0 });
    }
}

#[cfg(test)]
mod tests;
