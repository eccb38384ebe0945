//! RADclock: the robust absolute and difference clock (feedforward).
//!
//! RADclock never steers a clock. It reads a raw, monotone hardware counter
//! (TSC, HPET, the Xen clocksource) and *estimates* the parameters of a
//! clock built on it:
//!
//! ```text
//!   uncorrected clock   C(T)  = p̂·T + K          (K fixed at stamp 0, then moved
//!                                                  only to keep C continuous)
//!   absolute clock      Ca(T) = p̂·T + K − θ̂      (θ̂ = estimated offset of C)
//!   difference clock    Cd(T1,T2) = (T2 − T1)·p̂  (no θ̂ at all)
//! ```
//!
//! Every NTP exchange gives four stamps: the client counter `Ta` when the
//! request leaves and `Tf` when the reply arrives, and the server's clock
//! `Tb`, `Te`. The round-trip time `RTT = Tf − Ta` is kept in counter
//! ticks, so early errors in p̂ never corrupt it. Its running minimum
//! `RTThat` is the path floor; the excess `p̂·(RTT − RTThat)` (the *point
//! error*) measures how much queueing a stamp suffered, and every
//! estimator selects or weights stamps by it:
//!
//! * **RTT floor** — the minimum RTT, forgotten every half week (the
//!   history window) and raised when the minimum over the last `shift_win`
//!   stamps exceeds it by Eshift (an upward level shift; downward shifts
//!   lower the minimum at once).
//! * **Global rate p̂** — from a fixed, high-quality anchor stamp days in
//!   the past and the current stamp, accepted only when the current stamp is
//!   of good quality, the pair's error bound improves, and the change is
//!   sane. During warm-up, from the best stamps of the first and last
//!   quarter of the data.
//! * **Local rate p̂_local** — the same estimator over ~5.5 SKM scales
//!   with SKM-wide end windows; used to project old offsets forward.
//! * **Offset θ̂** — a Gaussian-weighted mean of the naive per-stamp offsets
//!   over the last SKM scale (1024 s), the weight `exp(−(ET/Eoffset)²)`
//!   falling with point error and age, gated by quality (the best stamp must
//!   be good enough) and sanity (the change must be plausible given the
//!   time since the last good update).
//!
//! A symmetric-delay assumption is unavoidable: a path asymmetry
//! `A = d→ − d←` biases θ̂ by `A/2` (research/radclock.md §1.3).
//!
//! The implementation follows the reference C code stamp by stamp
//! (`process_bidir_stamp`/`RADalgo_bidir`, research/radclock.md §2), with
//! the constants of the 2012 (VET era, [`Preset::Vet2010`], default) or the
//! 2025 code ([`Preset::Current`]). Memory is a fixed circular history sized
//! by the windows; per-stamp work is O(window).
//!
//! Where it departs from the reference code, it keeps the published
//! algorithm rather than a defect of one code base:
//!
//! * **The RTT history holds `warmup_win + 1` stamps.** The reference sizes
//!   it `warmup_win`. Once `warmup_win == shift_win` (P ≳ 74 s, so at the
//!   usual 128, 256 and 1024 s) the stamp leaving the sliding shift window
//!   shares its slot with the one just added: the 2012 code then never sees
//!   the leaving minimum, so its `RTThat_shift` can only fall and an upward
//!   level shift goes undetected until the history-window renewal, up to
//!   half a week later (the 2025 code stops on a range check there,
//!   research §2.13). Here an upward shift is detected `shift_win` stamps
//!   after its onset at every poll period.
//! * **Sliding minima include the entering stamp when the minimum leaves.**
//!   The reference's `history_min_slide(_value)` on counter values rescans
//!   `[j+1, i]` without the entering stamp `i+1`, so when the leaving
//!   minimum was the only value below the entering one, the result is the
//!   window's second-lowest RTT until that stamp itself leaves (its own
//!   `_dbl` variant rescans `[j+1, i+1]`, as here). Measured on the LAN
//!   stamp stream of the tests: the two differ on 2–8 % of stamps, by a few
//!   ns at P = 16 s and up to tens of µs at P = 256 s.
//! * **RTT excesses are signed under both presets.** The 2012 code holds
//!   `RTThat` as an unsigned counter value, so an excess `RTT − RTThat`
//!   below zero wraps to ~1.8·10¹⁹ ticks. After an upward level shift raises
//!   `RTThat`, plocal's far window still holds lower, pre-shift RTTs: the
//!   2012 quality error wraps, fails its gate, and plocal stays frozen until
//!   the far window is all post-shift (~352 stamps at P = 16 s); a new
//!   minimum landing exactly on a half-window mark likewise gives the next
//!   p̂ anchor a wrapped error, so p̂ could not be updated for 3.5 days.
//!   Here, as in the 2025 code (`(double)(RTT_far + RTT_near) − 2·RTThat`),
//!   they are signed, so plocal accepts pairs that straddle the shift: θ̂
//!   differs from the 2012 code's for ~80 min after an upshift, by up to
//!   3.5 µs at P = 16 s, 75 ns at 64 s and not at all at 256 s.
//! * **Overlapping stamps are kept under both presets.** `insane_bidir_stamp`
//!   of the 2012 code refuses a stamp whose `Ta` is not after the previous
//!   `Tf` (a reply slower than the poll spacing); the 2025 code refuses only
//!   a `Ta` not after the previous `Ta`, and so does this one (research
//!   §2.12). It matters only when a round trip exceeds the poll period.
//! * **The first period guess is the counter's nominal period** under both
//!   presets (the 2012 rule) unless [`RadclockConfig::phat_init_s`] sets
//!   one; the 2025 code starts from its configured 1e-9 s. Stamp 1 sets p̂ either way, so only the parameters published
//!   after stamp 0 differ.
//!
//! ```
//! use algorithms::radclock::{Radclock, RadclockConfig};
//! use algorithms::{CounterInfo, Exchange, SyncAlgorithm};
//! let counter = CounterInfo { nominal_hz: 1e9 };
//! let mut rad = Radclock::new(&RadclockConfig::default(), counter);
//! // A perfect exchange: counter = true time in ns, 100 µs each way.
//! for k in 0..10u64 {
//!     let ta = 1_000_000_000 + k * 16_000_000_000;
//!     let t = ta as f64 * 1e-9;
//!     rad.advance(ta);
//!     rad.on_transmit(0, ta);
//!     let ex = Exchange { server: 0, ta, tb: t + 1e-4, te: t + 1e-4, tf: ta + 200_000, stratum: 1, server_changed: false };
//!     rad.advance(ex.tf);
//!     rad.on_exchange(&ex);
//! }
//! let now = 1_000_000_000 + 9 * 16_000_000_000 + 200_000;
//! assert!((rad.read(now).as_secs_f64() - now as f64 * 1e-9).abs() < 1e-9);
//! ```

mod history;
mod params;
#[cfg(test)]
mod tests;

pub use params::{
    BURST_DELAY_S, MetaParams, NTP_BURST, Preset, RadclockConfig, Temperature, Thresholds, Windows,
    windows,
};

use history::{History, Record, Stamp};
use params::{MIN_RTT_TICKS, NEAR_SERVER_RTT_S, WARMUP_WINRATIO};

use crate::clock::{ClockTime, FfClockParams, ticks_between};
use crate::sync::{CounterInfo, Exchange, PollRequest, SyncAlgorithm};

/// Status bits of the clock (`libradclock/radclock.h`, 2025 layout; research
/// §1.2). The 2012 header numbers the quality/sanity bits differently and has
/// no RTT_UPSHIFT/PHAT_UPDATED; the meaning is the same.
pub mod status {
    /// Not yet synchronized: set until the stamp of index `NTP_BURST` (the
    /// ninth) is processed.
    pub const UNSYNC: u32 = 0x1;
    /// In warm-up.
    pub const WARMUP: u32 = 0x2;
    /// Kernel clock updated (daemon level; never set here).
    pub const KCLOCK: u32 = 0x4;
    /// System clock disciplined (daemon level; never set here).
    pub const SYSCLOCK: u32 = 0x8;
    /// No stamp for more than 10 poll periods.
    pub const STARVING: u32 = 0x10;
    /// An upward RTT level shift was detected on this stamp.
    pub const RTT_UPSHIFT: u32 = 0x20;
    /// p̂ was updated by this stamp (full algorithm).
    pub const PHAT_UPDATED: u32 = 0x40;
    /// The last p̂ candidate failed the sanity check.
    pub const PHAT_SANITY: u32 = 0x80;
    /// The last p̂_local candidate failed the quality gate.
    pub const PLOCAL_QUALITY: u32 = 0x100;
    /// The last p̂_local candidate failed the sanity check.
    pub const PLOCAL_SANITY: u32 = 0x200;
    /// The offset window's best stamp was too poor to update θ̂.
    pub const OFFSET_QUALITY: u32 = 0x400;
    /// The last θ̂ candidate failed the sanity check.
    pub const OFFSET_SANITY: u32 = 0x800;
}

/// The phat anchor (`pstamp`) or its prepared successor (`next_pstamp`).
#[derive(Clone, Copy, Debug, Default)]
struct Anchor {
    i: u64,
    stamp: Stamp,
    /// Point error when recorded, seconds.
    perr_s: f64,
    /// RTT floor when recorded, ticks.
    rtthat: u64,
}

/// The RADclock algorithm (one server).
#[derive(Clone, Debug)]
pub struct Radclock {
    cfg: RadclockConfig,
    counter: CounterInfo,
    meta: MetaParams,
    th: Thresholds,
    win: Windows,
    hist: History,

    // Poll schedule.
    poll_origin: Option<u64>,
    last_tx: Option<u64>,
    burst_ticks: u64,
    period_ticks: u64,

    /// Stamps processed (= index of the next stamp).
    n: u64,
    /// The previous processed stamp (`peer->stamp`).
    prev: Stamp,
    dropped: u64,

    // The uncorrected clock C(T) = c_ref + p̂·(T − t_ref): an offset-reduced
    // form of p̂·T + K that keeps full precision for large counter values.
    phat: f64,
    perr: f64,
    plocal: f64,
    plocalerr: f64,
    c_ref: ClockTime,
    t_ref: u64,
    thetahat_s: f64,
    min_et_s: f64,

    // RTT floor.
    rtthat: u64,
    next_rtthat: u64,
    rtthat_shift: u64,
    shift_end: u64,
    shift_thres: u64,
    far_server: bool,
    upshifts: u64,
    last_upshift: Option<u64>,
    top_win_half: u64,

    // Global rate.
    pstamp_i: u64,
    anchor: Anchor,
    next_anchor: Anchor,
    jcount: u64,
    jsearch_win: u64,

    // End windows (warm-up phat, then plocal).
    wwidth: u64,
    near_i: u64,
    far_i: u64,
    plocal_restart: bool,

    // Offset and error bound.
    thetastamp_tf: u64,
    ebound_min_last_s: f64,
    error_bound_s: f64,
    status: u32,

    // Diagnostics of the last stamp.
    last_rtt: u64,
    last_th_naive_s: f64,
    last_wsum: f64,
    last_window_min_et_s: f64,

    params: Option<FfClockParams>,
}

impl Radclock {
    /// A RADclock for `counter` with parameters `cfg` (assumed valid; see
    /// [`RadclockConfig::validate`]; out-of-range values are clamped).
    pub fn new(cfg: &RadclockConfig, counter: CounterInfo) -> Self {
        let mut cfg = cfg.clone();
        cfg.poll_period_s = if cfg.poll_period_s.is_finite() {
            cfg.poll_period_s
                .clamp(params::RAD_MINPOLL_S, params::RAD_MAXPOLL_S)
        } else {
            16.0
        };
        let meta = MetaParams::new(cfg.preset, cfg.temperature);
        let th = Thresholds::new(&meta);
        let win = windows(cfg.poll_period_s, cfg.temperature);
        // Deep enough for every window: warm-up ≥ 1.5·plocal_win, offset_win
        // and shift_win; +1 for the stamp leaving the sliding shift window
        // (research §2.13).
        let capacity = win.warmup_win + 1;
        let phat = cfg
            .phat_init_s
            .filter(|p| p.is_finite() && *p > 0.0)
            .unwrap_or(counter.nominal_period_s());
        Radclock {
            burst_ticks: counter.ticks_for(BURST_DELAY_S).max(1),
            period_ticks: counter.ticks_for(cfg.poll_period_s).max(1),
            cfg,
            counter,
            meta,
            th,
            win,
            hist: History::new(capacity),
            poll_origin: None,
            last_tx: None,
            n: 0,
            prev: Stamp::default(),
            dropped: 0,
            phat,
            perr: 0.0,
            plocal: phat,
            plocalerr: 0.0,
            c_ref: ClockTime::ZERO,
            t_ref: 0,
            thetahat_s: 0.0,
            min_et_s: 0.0,
            rtthat: 0,
            next_rtthat: 0,
            rtthat_shift: 0,
            shift_end: 0,
            shift_thres: 0,
            far_server: false,
            upshifts: 0,
            last_upshift: None,
            top_win_half: u64::MAX,
            pstamp_i: 0,
            anchor: Anchor::default(),
            next_anchor: Anchor::default(),
            jcount: 1,
            jsearch_win: 0,
            wwidth: 1,
            near_i: 0,
            far_i: 0,
            plocal_restart: false,
            thetastamp_tf: 0,
            ebound_min_last_s: 0.0,
            error_bound_s: 0.0,
            status: 0,
            last_rtt: 0,
            last_th_naive_s: 0.0,
            last_wsum: 0.0,
            last_window_min_et_s: 0.0,
            params: None,
        }
    }

    /// The status word (bits in [`status`]).
    pub fn status(&self) -> u32 {
        self.status
    }

    /// The windows in use.
    pub fn windows(&self) -> &Windows {
        &self.win
    }

    /// The thresholds in use (after the end-of-warm-up calibration once
    /// warm-up is over).
    pub fn thresholds(&self) -> &Thresholds {
        &self.th
    }

    /// Stamps processed so far (rejected ones excluded).
    pub fn stamps_processed(&self) -> u64 {
        self.n
    }

    /// Stamps rejected by the sanity filter.
    pub fn stamps_dropped(&self) -> u64 {
        self.dropped
    }

    /// Period estimate p̂, seconds per tick.
    pub fn phat_s(&self) -> f64 {
        self.phat
    }

    /// Local period estimate p̂_local, seconds per tick.
    pub fn plocal_s(&self) -> f64 {
        self.plocal
    }

    /// Offset estimate θ̂ of the uncorrected clock, seconds.
    pub fn thetahat_s(&self) -> f64 {
        self.thetahat_s
    }

    /// The RTT floor, seconds (`RTThat·p̂`).
    pub fn rtt_hat_s(&self) -> f64 {
        self.rtthat as f64 * self.phat
    }

    /// Upward level shifts detected so far, and the stamp index of the last.
    pub fn upshifts(&self) -> (u64, Option<u64>) {
        (self.upshifts, self.last_upshift)
    }

    /// True once the end-of-warm-up calibration judged the server far
    /// (RTT floor ≥ 3 ms).
    pub fn far_server(&self) -> bool {
        self.far_server
    }

    /// The uncorrected clock C(T).
    fn c_of(&self, t: u64) -> ClockTime {
        self.c_ref
            .add_secs(self.phat * ticks_between(self.t_ref, t))
    }

    /// Changes p̂ keeping C continuous at the previous stamp's Ta
    /// (`K += Ta_prev·(p̂_old − p̂_new)`).
    fn set_phat(&mut self, phat: f64) {
        self.c_ref = self.c_of(self.prev.ta);
        self.t_ref = self.prev.ta;
        self.phat = phat;
    }

    /// Point error `p̂·(rtt − floor)`, seconds (signed arithmetic: the floor
    /// may exceed an old stamp's RTT after forgetting).
    fn point_error(&self, rtt: u64, floor: u64) -> f64 {
        self.phat * ticks_between(floor, rtt)
    }

    /// Naive offset `(C(Ta) − Tb + C(Tf) − Te)/2`, seconds.
    fn naive_offset(&self, s: &Stamp) -> f64 {
        let fwd = self.c_of(s.ta) - ClockTime::from_secs_f64(s.tb);
        let back = self.c_of(s.tf) - ClockTime::from_secs_f64(s.te);
        0.5 * (fwd + back)
    }

    /// `insane_bidir_stamp` (research §2.12).
    fn insane(&self, s: &Stamp) -> bool {
        let zero = s.ta == 0 || s.tf == 0 || s.tb == 0.0 || s.te == 0.0;
        let nonfinite = !s.tb.is_finite() || !s.te.is_finite();
        // Counter order in wrapping arithmetic (see `ticks_between`).
        let repeated = self.n > 0 && (*s == self.prev || ticks_between(self.prev.ta, s.ta) <= 0.0);
        let rtt_ticks = ticks_between(s.ta, s.tf);
        zero || nonfinite || repeated || s.te < s.tb || rtt_ticks < MIN_RTT_TICKS as f64
    }

    /// Processes one sane stamp (`process_bidir_stamp`, research §2.4).
    fn process(&mut self, s: Stamp, qual_warning: bool) {
        let i = self.n;
        let rtt = s.rtt();
        self.last_rtt = rtt;
        self.status &= !(status::STARVING | status::RTT_UPSHIFT | status::PHAT_UPDATED);
        if i == 0 {
            self.init(s, rtt);
        } else {
            if i >= NTP_BURST {
                self.status &= !status::UNSYNC;
            }
            self.hist
                .push(i, Record::new(s, rtt, self.rtthat, Some(self.prev.tf)));
            self.manage_history_window(i, rtt, &s);
            if i < self.win.warmup_win {
                self.rtt_warmup(i, rtt);
                self.phat_warmup(i, rtt);
                self.plocal = self.phat;
                self.theta_warmup(i, &s);
            } else {
                self.rtt_full(i, rtt);
                self.record_next_anchor(i, rtt, &s);
                self.phat_full(rtt, &s, qual_warning);
                self.plocal_full(i, qual_warning);
                self.theta_full(i, &s, qual_warning);
            }
            if i + 1 == self.win.warmup_win {
                self.end_warmup(i, &s);
            }
        }
        self.prev = s;
        self.n = i + 1;
        self.publish(&s);
    }

    /// Stamp 0 (research §2.5): K such that C(Ta₀) = Tb₀, θ̂ = 0.
    fn init(&mut self, s: Stamp, rtt: u64) {
        self.rtthat = rtt;
        self.pstamp_i = 0;
        self.perr = 0.0;
        self.plocal = self.phat;
        self.c_ref = ClockTime::from_secs_f64(s.tb);
        self.t_ref = s.ta;
        self.thetahat_s = 0.0;
        self.min_et_s = 0.0;
        self.hist.push(0, Record::new(s, rtt, rtt, None));
        self.wwidth = 1;
        self.near_i = 0;
        self.far_i = 0;
        self.jcount = 1;
        self.jsearch_win = 0;
        self.thetastamp_tf = s.tf;
        self.status = status::WARMUP | status::UNSYNC;
    }

    /// History window management (research §2.7): half-window marks renew
    /// the RTT floor and the phat anchor, so all memory is forgotten within
    /// `h_win` stamps. It runs before the stamp's own processing, as in
    /// `process_bidir_stamp`, so a new anchor's point error is taken
    /// against the floor before this stamp's RTT can lower it.
    fn manage_history_window(&mut self, i: u64, rtt: u64, s: &Stamp) {
        let half = self.win.h_win / 2;
        if i == half {
            self.next_rtthat = self.prev.rtt();
            self.jsearch_win = self.win.jsearch_win;
            self.jcount = 1;
            self.next_anchor = Anchor {
                i,
                stamp: *s,
                perr_s: self.point_error(rtt, self.rtthat),
                rtthat: self.rtthat,
            };
            // The anchor baseline now exceeds h_win/2: become fussier.
            self.th.e_p_qual /= 10.0;
        }
        if i == self.top_win_half {
            self.top_win_half += half;
            self.rtthat = self.next_rtthat;
            self.next_rtthat = self.prev.rtt();
            self.anchor = self.next_anchor;
            self.pstamp_i = self.anchor.i;
            self.jcount = 1;
            self.next_anchor = Anchor {
                i,
                stamp: *s,
                perr_s: self.point_error(rtt, self.rtthat),
                rtthat: self.rtthat,
            };
        }
    }

    fn rtt_warmup(&mut self, i: u64, rtt: u64) {
        if rtt < self.rtthat {
            self.rtthat = rtt;
            self.pstamp_i = i;
        }
        self.hist.get_mut(i).set_rtthat(self.rtthat);
    }

    /// Rate from two stamps: mean of the forward and backward naive rates
    /// (`compute_phat`); `None` if any interval is not positive.
    fn compute_phat(far: &Stamp, near: &Stamp) -> Option<f64> {
        let dta = ticks_between(far.ta, near.ta);
        let dtf = ticks_between(far.tf, near.tf);
        let dtb = near.tb - far.tb;
        let dte = near.te - far.te;
        if dta <= 0.0 || dtf <= 0.0 || dtb <= 0.0 || dte <= 0.0 {
            return None;
        }
        Some(0.5 * (dtb / dta + dte / dtf))
    }

    /// Pair error of two end-window stamps, relative (used by warm-up phat
    /// and plocal).
    fn pair_error(&self, far_i: u64, near_i: u64) -> f64 {
        let far = self.hist.get(far_i);
        let near = self.hist.get(near_i);
        let dtb = near.stamp.tb - far.stamp.tb;
        if dtb <= 0.0 {
            return 0.0;
        }
        (self.point_error(far.rtt, self.rtthat) + self.point_error(near.rtt, self.rtthat)) / dtb
    }

    /// Warm-up rate (`process_phat_warmup`, research §2.6): best stamps of a
    /// far window `[0, wwidth)` and a near window of the last `wwidth`
    /// stamps, each a quarter of the data.
    fn phat_warmup(&mut self, i: u64, rtt: u64) {
        let pair_before = (self.far_i, self.near_i);
        if !i.is_multiple_of(WARMUP_WINRATIO) {
            self.near_i = self
                .hist
                .argmin_rtt_slide(self.near_i, i - self.wwidth, i - 1);
        } else {
            if self.hist.get(self.wwidth).rtt < self.hist.get(self.far_i).rtt {
                self.far_i = self.wwidth;
            }
            if rtt < self.hist.get(self.near_i).rtt {
                self.near_i = i;
            }
            self.wwidth += 1;
        }
        // Only a new pair is worth a new estimate (and a new pair error).
        if (self.far_i, self.near_i) == pair_before {
            return;
        }
        let far = self.hist.get(self.far_i).stamp;
        let near = self.hist.get(self.near_i).stamp;
        let Some(p) = Self::compute_phat(&far, &near) else {
            return;
        };
        if p != self.phat {
            self.set_phat(p);
        }
        self.perr = self.pair_error(self.far_i, self.near_i);
    }

    /// Warm-up offset (`process_thetahat_warmup`): RTT floor not yet stable,
    /// so point errors are reassessed against the current floor; sanity is
    /// only reported.
    fn theta_warmup(&mut self, i: u64, s: &Stamp) {
        let th_naive = self.naive_offset(s);
        self.hist.get_mut(i).th_naive_s = th_naive;
        self.last_th_naive_s = th_naive;
        let jmin = 1u64
            .max((i + 1).saturating_sub(self.win.offset_win))
            .max(self.hist.oldest());
        let (mut wsum, mut acc) = (0.0, 0.0);
        let (mut min_et, mut second_et) = (f64::INFINITY, f64::INFINITY);
        let e2 = self.th.e_offset_s * self.th.e_offset_s;
        let (phat, rate) = (self.phat, self.meta.best_skm_rate);
        let step = |rec: &Record| {
            let et = self.point_error(rec.rtt, self.rtthat)
                + phat * ticks_between(rec.stamp.tf, s.tf) * rate;
            if et < min_et {
                second_et = min_et;
                min_et = et;
            } else if et < second_et {
                second_et = et;
            }
            let w = gaussian_weight(et, e2);
            wsum += w;
            acc += w * rec.th_naive_s;
        };
        self.hist.for_each_newest_first(jmin, i, step);
        self.last_wsum = wsum;
        self.last_window_min_et_s = min_et;
        let gap_s = self.phat * ticks_between(self.prev.tf, s.tf);
        if min_et < self.th.e_offset_qual_s {
            let cand = if wsum == 0.0 {
                self.thetahat_s
            } else {
                self.min_et_s = min_et;
                self.ebound_min_last_s = self.ebound_seed(min_et, second_et);
                self.thetastamp_tf = s.tf;
                acc / wsum
            };
            if (self.thetahat_s - cand).abs()
                > self.th.e_offset_sanity_min_s + self.th.e_offset_sanity_rate * gap_s
            {
                self.status |= status::OFFSET_SANITY;
            } else {
                self.status &= !(status::OFFSET_QUALITY | status::OFFSET_SANITY);
            }
            self.thetahat_s = cand;
        } else {
            self.status |= status::OFFSET_QUALITY;
        }
    }

    /// Error-bound seed: min ET (2012) or second-best ET (2025), research §2.11.
    ///
    /// The 2025 loop that finds the second best measures each stamp against
    /// the current RTT floor rather than the floor stored with it, and when
    /// the best stamp is the newest its starting value is never set (0 in
    /// warm-up, an uninitialised variable afterwards). This takes the true
    /// second-best point error of the window instead: the bound the code
    /// means, where it has none to reproduce. It affects only
    /// [`SyncAlgorithm::error_estimate`], never the clock.
    fn ebound_seed(&self, min_et: f64, second_et: f64) -> f64 {
        match self.cfg.preset {
            Preset::Vet2010 => min_et,
            Preset::Current => {
                if second_et.is_finite() {
                    second_et
                } else {
                    min_et
                }
            }
        }
    }

    /// End of warm-up (research §2.6): start shift detection, fix the first
    /// phat anchor, set up plocal, freeze the RTT floor history, and
    /// calibrate for a near or far server.
    fn end_warmup(&mut self, i: u64, s: &Stamp) {
        // RTT.
        self.next_rtthat = self.rtthat;
        let shift_win = self.win.shift_win;
        self.shift_end = if i > shift_win {
            i - (shift_win - 1)
        } else {
            0
        };
        self.shift_end = self.shift_end.max(self.hist.oldest());
        self.rtthat_shift = self.hist.get(self.hist.argmin_rtt(self.shift_end, i)).rtt;
        // phat: the warm-up minimum-RTT stamp becomes the anchor.
        self.anchor = Anchor {
            i: self.pstamp_i,
            stamp: self.hist.get(self.pstamp_i).stamp,
            perr_s: 0.0,
            rtthat: self.rtthat,
        };
        self.perr = self.pair_error(self.far_i, self.near_i);
        // plocal.
        self.wwidth = self.win.wwidth;
        self.plocal_restart = true;
        if self.plocal_available(i) {
            self.init_plocal(i);
            self.plocal_restart = false;
        }
        // theta: the floor history becomes the current floor.
        let floor = self.rtthat;
        for r in self.hist.records_mut() {
            r.set_rtthat(floor);
        }
        self.thetastamp_tf = s.tf;
        // Near/far server calibration (`parameters_calibration`).
        self.far_server = (self.rtthat as f64) >= NEAR_SERVER_RTT_S / self.phat;
        if self.far_server {
            self.shift_thres = (3.0 * self.th.e_shift_s / self.phat).ceil() as u64;
            self.th.e_offset_qual_s = 6.0 * self.th.e_offset_s;
            if self.cfg.preset == Preset::Current {
                self.th.e_plocal_qual *= 2.0;
            }
        } else {
            self.shift_thres = (self.th.e_shift_s / self.phat).ceil() as u64;
            self.th.e_offset_qual_s = 3.0 * self.th.e_offset_s;
        }
        self.top_win_half = self.win.h_win - 1;
        self.status &= !status::WARMUP;
    }

    /// RTT floor with level shifts (`process_RTT_full`, research §2.7).
    fn rtt_full(&mut self, i: u64, rtt: u64) {
        self.rtthat = self.rtthat.min(rtt);
        self.hist.get_mut(i).set_rtthat(self.rtthat);
        self.next_rtthat = self.next_rtthat.min(rtt);
        let shift_win = self.win.shift_win;
        if i < shift_win - 1 + self.shift_end {
            self.rtthat_shift = self.rtthat_shift.min(rtt);
        } else {
            self.rtthat_shift =
                self.hist
                    .min_rtt_slide_value(self.rtthat_shift, self.shift_end, i - 1);
            self.shift_end += 1;
        }
        if self.rtthat_shift > self.rtthat + self.shift_thres {
            // Every stamp of the shift window lies above the old floor.
            let lastshift = (i + 1).saturating_sub(shift_win);
            self.rtthat = self.rtthat_shift;
            self.next_rtthat = self.rtthat;
            if self.next_anchor.i >= lastshift {
                self.next_anchor.perr_s =
                    self.point_error(self.next_anchor.stamp.rtt(), self.rtthat);
                self.next_anchor.rtthat = self.rtthat;
            }
            let jmin = lastshift.max((i + 1).saturating_sub(self.win.offset_win));
            for j in jmin..=i {
                self.hist.get_mut(j).set_rtthat(self.rtthat);
            }
            self.status |= status::RTT_UPSHIFT;
            self.upshifts += 1;
            self.last_upshift = Some(i);
        }
    }

    /// Prepares the next phat anchor: the best stamp in the search span
    /// opened at each half-window mark (`record_packet_j`).
    fn record_next_anchor(&mut self, i: u64, rtt: u64, s: &Stamp) {
        if self.jcount <= self.jsearch_win {
            self.jcount += 1;
            if rtt < self.next_anchor.stamp.rtt() {
                self.next_anchor = Anchor {
                    i,
                    stamp: *s,
                    perr_s: self.point_error(rtt, self.rtthat),
                    rtthat: self.rtthat,
                };
            }
        }
    }

    /// Global rate from the anchor and the current stamp
    /// (`process_phat_full`, research §2.8).
    fn phat_full(&mut self, rtt: u64, s: &Stamp, qual_warning: bool) {
        let Some(p) = Self::compute_phat(&self.anchor.stamp, s) else {
            return;
        };
        let perr_i = self.point_error(rtt, self.rtthat);
        if perr_i >= self.th.e_p_s {
            return;
        }
        let dtb = s.tb - self.anchor.stamp.tb;
        let baseerr = self.phat * ticks_between(self.anchor.rtthat, self.rtthat).abs();
        let perr_ij = (perr_i.abs() + self.anchor.perr_s.abs() + baseerr) / dtb;
        if perr_ij >= self.perr && perr_ij >= self.th.e_p_qual {
            return;
        }
        if self.cfg.preset == Preset::Vet2010 {
            self.perr = perr_ij;
        }
        if (self.phat - p).abs() / self.phat > self.th.e_p_sanity || qual_warning {
            self.status |= status::PHAT_SANITY;
        } else {
            self.set_phat(p);
            self.perr = perr_ij;
            self.status &= !status::PHAT_SANITY;
            self.status |= status::PHAT_UPDATED;
        }
    }

    /// True when the history still holds the plocal far window
    /// (`plocal_end` check of `process_plocal_full`).
    fn plocal_available(&self, i: u64) -> bool {
        let w = self.wwidth;
        let plocal_end = i as i64 + 1 - self.win.plocal_win as i64 - w as i64 - (w / 2) as i64;
        plocal_end >= self.hist.oldest() as i64
    }

    /// Resets the plocal end windows (`init_plocal`).
    fn init_plocal(&mut self, i: u64) {
        let w = self.wwidth;
        let pw = self.win.plocal_win;
        let lhs = i + 1 - pw - w / 2;
        let rhs = i + w - pw - w / 2;
        self.far_i = self.hist.argmin_rtt(lhs, rhs);
        self.near_i = self.hist.argmin_rtt(i + 1 - w, i);
    }

    /// Local rate (`process_plocal_full`, research §2.9).
    fn plocal_full(&mut self, i: u64, qual_warning: bool) {
        if !self.plocal_available(i) {
            self.plocal = self.phat;
            self.plocal_restart = true;
            return;
        }
        let w = self.wwidth;
        let pw = self.win.plocal_win;
        if self.plocal_restart {
            self.init_plocal(i);
            self.plocal_restart = false;
        } else {
            let lhs = i - w - pw - w / 2;
            let rhs = i - 1 - pw - w / 2;
            self.far_i = self.hist.argmin_rtt_slide(self.far_i, lhs, rhs);
            self.near_i = self.hist.argmin_rtt_slide(self.near_i, i - w, i - 1);
        }
        let far = self.hist.get(self.far_i).stamp;
        let near = self.hist.get(self.near_i).stamp;
        let Some(p) = Self::compute_phat(&far, &near) else {
            return;
        };
        let err = self.pair_error(self.far_i, self.near_i);
        if err.abs() >= self.th.e_plocal_qual {
            self.status |= status::PLOCAL_QUALITY;
            return;
        }
        if (self.plocal - p).abs() / self.plocal > self.th.e_plocal_sanity || qual_warning {
            self.status |= status::PLOCAL_SANITY;
        } else {
            self.plocal = p;
            self.plocalerr = err;
            self.status &= !(status::PLOCAL_QUALITY | status::PLOCAL_SANITY);
        }
    }

    /// The full offset window, newest first (research §2.10): weighted
    /// sums, the smallest and second-smallest point errors, and the widest
    /// gap between stamps from `gap_s` on. With `PENALTY` each stamp's
    /// point error carries the server's residence time (the pre-2011
    /// rule) and the smallest error without it is kept for the bound; a
    /// separate copy of the walk, so the default pays nothing for it.
    fn offset_window<const PENALTY: bool>(
        &self,
        jmin: u64,
        i: u64,
        s: &Stamp,
        dp: f64,
        mut gap_s: f64,
    ) -> OffsetWindow {
        let (mut wsum, mut acc) = (0.0, 0.0);
        let (mut min_et, mut second_et) = (f64::INFINITY, f64::INFINITY);
        let mut min_bound = f64::INFINITY;
        let e2 = self.th.e_offset_s * self.th.e_offset_s;
        let (phat, rate) = (self.phat, self.meta.best_skm_rate);
        // The gap below a stamp is kept by the stamp after it (`newer_gap`);
        // the newest stamp has none after it, and the gap below stamp i − 1
        // is the one `gap_s` starts from, so taking it for both changes
        // nothing.
        let mut newer_gap = ticks_between(self.prev.tf, s.tf);
        let step = |rec: &Record| {
            gap_s = gap_s.max(phat * newer_gap);
            newer_gap = rec.gap_ticks;
            let age_ticks = ticks_between(rec.stamp.tf, s.tf);
            let bound = phat * rec.excess_ticks() + phat * age_ticks * rate;
            let et = if PENALTY {
                min_bound = min_bound.min(bound);
                bound + (rec.stamp.te - rec.stamp.tb)
            } else {
                bound
            };
            if et < min_et {
                second_et = min_et;
                min_et = et;
            } else if et < second_et {
                second_et = et;
            }
            let w = gaussian_weight(et, e2);
            wsum += w;
            acc += w * (rec.th_naive_s - dp * age_ticks);
        };
        self.hist.for_each_newest_first(jmin, i, step);
        OffsetWindow {
            wsum,
            acc,
            min_et,
            second_et,
            min_bound,
            gap_s,
        }
    }

    /// Offset (`process_thetahat_full`, research §2.10), with the pre-2011
    /// server-delay penalty if configured.
    fn theta_full(&mut self, i: u64, s: &Stamp, qual_warning: bool) {
        let th_naive = self.naive_offset(s);
        self.hist.get_mut(i).th_naive_s = th_naive;
        self.last_th_naive_s = th_naive;
        let gap_s = self.phat * ticks_between(self.prev.tf, s.tf);
        let jmin = 1u64
            .max((i + 1).saturating_sub(self.win.offset_win))
            .max(self.hist.oldest());
        // The local-rate projection is dropped while plocal is unavailable.
        let dp = if self.plocal_restart {
            0.0
        } else {
            self.plocal - self.phat
        };
        let penalty = self.cfg.server_delay_penalty;
        let OffsetWindow {
            wsum,
            acc,
            min_et,
            second_et,
            min_bound,
            mut gap_s,
        } = if penalty {
            self.offset_window::<true>(jmin, i, s, dp, gap_s)
        } else {
            self.offset_window::<false>(jmin, i, s, dp, gap_s)
        };
        self.last_wsum = wsum;
        self.last_window_min_et_s = min_et;
        let quality = min_et < self.th.e_offset_qual_s;
        let genuine = quality && wsum != 0.0;
        let cand = if genuine {
            if self.cfg.preset == Preset::Vet2010 {
                self.min_et_s = min_et;
            }
            acc / wsum
        } else {
            if !quality {
                self.status |= status::OFFSET_QUALITY;
            }
            self.thetahat_s
        };
        gap_s = gap_s.max(self.phat * ticks_between(self.thetastamp_tf, s.tf));
        let band_s = self.th.e_offset_sanity_min_s + self.th.e_offset_sanity_rate * gap_s;
        if (self.thetahat_s - cand).abs() > band_s || qual_warning {
            self.status |= status::OFFSET_SANITY;
        } else {
            if genuine {
                self.status &= !status::OFFSET_QUALITY;
                self.thetastamp_tf = s.tf;
                self.ebound_min_last_s = if penalty {
                    min_bound
                } else {
                    self.ebound_seed(min_et, second_et)
                };
                if self.cfg.preset == Preset::Current {
                    self.min_et_s = min_et;
                }
            }
            self.thetahat_s = cand;
            self.status &= !status::OFFSET_SANITY;
        }
    }

    /// Error bound and published parameters (end of `process_bidir_stamp`).
    fn publish(&mut self, s: &Stamp) {
        self.error_bound_s = self.ebound_min_last_s
            + self.phat * ticks_between(self.thetastamp_tf, s.tf) * self.meta.rate_err_bound;
        self.params = Some(FfClockParams {
            period_s: self.phat,
            at_last_changed: self.c_of(s.tf).add_secs(-self.thetahat_s),
            local_period_s: self.plocal,
            last_changed: s.tf,
            valid_till: s
                .tf
                .saturating_add((self.cfg.poll_period_s / self.phat).round() as u64),
            ca_err_s: self.min_et_s,
            local_rate: self.cfg.use_local_rate,
        });
    }
}

/// What [`Radclock::offset_window`] found.
struct OffsetWindow {
    wsum: f64,
    /// Σ w·(projected naive offset).
    acc: f64,
    min_et: f64,
    second_et: f64,
    /// The smallest point error without the server-delay penalty
    /// (infinite when the penalty is off).
    min_bound: f64,
    /// Widest gap between stamps of the window (and before it), seconds.
    gap_s: f64,
}

impl SyncAlgorithm for Radclock {
    fn name(&self) -> &'static str {
        "radclock"
    }

    fn advance(&mut self, now: u64) {
        if self.n > 0
            && self.phat * ticks_between(self.prev.tf, now) > 10.0 * self.cfg.poll_period_s
        {
            self.status |= status::STARVING;
        }
    }

    /// Fixed grid anchored at the first request: the start-up burst
    /// (`NTP_BURST` requests `BURST_DELAY_S` apart), then one request per
    /// poll period at nominal-rate counter spacing. A late request skips to
    /// the next grid point.
    fn next_poll(&self) -> Option<PollRequest> {
        let (Some(origin), Some(last)) = (self.poll_origin, self.last_tx) else {
            return Some(PollRequest { server: 0, at: 0 });
        };
        let since = last.saturating_sub(origin);
        let burst_span = if self.cfg.startup_burst {
            (NTP_BURST - 1) * self.burst_ticks
        } else {
            0
        };
        let at = if since < burst_span {
            origin + (since / self.burst_ticks + 1) * self.burst_ticks
        } else {
            let base = origin + burst_span;
            base + ((last - base) / self.period_ticks + 1) * self.period_ticks
        };
        Some(PollRequest { server: 0, at })
    }

    fn on_transmit(&mut self, _server: usize, ta: u64) {
        if self.poll_origin.is_none() {
            self.poll_origin = Some(ta);
        }
        self.last_tx = Some(ta);
    }

    fn on_exchange(&mut self, ex: &Exchange) {
        let s = Stamp {
            ta: ex.ta,
            tb: ex.tb,
            te: ex.te,
            tf: ex.tf,
        };
        if self.insane(&s) {
            self.dropped += 1;
            return;
        }
        self.process(s, ex.server_changed);
    }

    fn read(&self, counter: u64) -> ClockTime {
        match &self.params {
            Some(p) => p.read(counter),
            None => self.counter.nominal_time(counter),
        }
    }

    fn difference(&self, t1: u64, t2: u64) -> f64 {
        match &self.params {
            Some(p) => p.difference(t1, t2),
            None => self.counter.secs_between(t1, t2),
        }
    }

    fn error_estimate(&self) -> Option<f64> {
        (self.n > 0).then_some(self.error_bound_s)
    }

    fn ff_params(&self) -> Option<FfClockParams> {
        self.params
    }

    fn trace_columns(&self) -> &'static [&'static str] {
        &[
            "stamp_index",
            "rtt_s",
            "rtt_hat_s",
            "rtt_hat_shift_s",
            "phat_s",
            "phat_err",
            "plocal_s",
            "plocal_err",
            "th_naive_s",
            "thetahat_s",
            "wsum",
            "window_min_et_s",
            "min_et_s",
            "error_bound_s",
            "status",
        ]
    }

    fn trace_row(&self, out: &mut Vec<f64>) {
        out.extend_from_slice(&[
            self.n.saturating_sub(1) as f64,
            self.last_rtt as f64 * self.phat,
            self.rtthat as f64 * self.phat,
            self.rtthat_shift as f64 * self.phat,
            self.phat,
            self.perr,
            self.plocal,
            self.plocalerr,
            self.last_th_naive_s,
            self.thetahat_s,
            self.last_wsum,
            self.last_window_min_et_s,
            self.min_et_s,
            self.error_bound_s,
            f64::from(self.status),
        ]);
    }
}

/// The offset weight `exp(−(E/E_offset)²)` of a stamp of point error `E`
/// (`e2` = `E_offset²`). Stamps beyond about 27 `E_offset` weigh exactly 0
/// in `f64`; returning that without calling `exp` keeps long windows of
/// poor stamps cheap and changes no result.
#[inline]
fn gaussian_weight(et: f64, e2: f64) -> f64 {
    /// `exp(−x)` rounds to 0 for every `x` above this (≈ −ln of the smallest subnormal).
    const EXP_UNDERFLOW: f64 = 745.2;
    let q = et * et / e2;
    if q > EXP_UNDERFLOW { 0.0 } else { (-q).exp() }
}
