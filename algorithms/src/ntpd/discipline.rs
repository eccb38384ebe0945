//! `local_clock`: the state machine, the hybrid PLL/FLL, the poll-interval
//! "jiggle counter", and the Linux kernel PLL (research/ntpd.md §3, §5.8,
//! §5.12).
//!
//! Expressions are evaluated in the order of the reference C code so that
//! results match it bit for bit (research/ntpd.md §5).

use super::{MAXFREQ_S_PER_S, NtpVersion, Params, Pow2Div};

/// PLL gain `CLOCK_PLL` (phase time constant 16·τ; §3.1).
pub(crate) const CLOCK_PLL: f64 = (1 << CLOCK_PLL_LOG2) as f64;
/// log2 of `CLOCK_PLL`.
pub(crate) const CLOCK_PLL_LOG2: i32 = 4;
/// FLL gain `CLOCK_FLL` (§3.1).
const CLOCK_FLL: f64 = 0.25;
/// Jitter and wander averaging weight `CLOCK_AVG` (§3.1).
const CLOCK_AVG: f64 = 8.0;
/// Offset that ends the start-up hold `CLOCK_FLOOR`, s (§3.5).
const CLOCK_FLOOR_S: f64 = 5e-4;
/// Allan intercept `CLOCK_ALLAN`, log2 s (§3.1).
const CLOCK_ALLAN: i32 = 11;
/// Jiggle counter bound `CLOCK_LIMIT` (§3.6).
const CLOCK_LIMIT: i32 = 30;
/// Poll-adjust gate `CLOCK_PGATE` (§3.6).
const CLOCK_PGATE: f64 = 4.0;
/// Linux `SHIFT_PLL` (§3.9).
const SHIFT_PLL: i32 = 2;
/// Linux `MAXTC` (§3.9).
const KERNEL_MAXTC: i32 = 10;
/// Linux `MAXPHASE`, s (§3.9).
const KERNEL_MAXPHASE_S: f64 = 0.5;

/// The discipline's state (`state` in `ntp_loopfilter.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockState {
    /// No drift file, nothing received yet.
    Nset,
    /// Drift file loaded, nothing received yet.
    Fset,
    /// An offset above the step threshold was seen; waiting for the stepout.
    Spik,
    /// Frequency training after a cold start (lasts the stepout).
    Freq,
    /// Normal operation.
    Sync,
}

impl ClockState {
    /// ntpd's event code for the state (`EVNT_NSET` = 1 … `EVNT_SYNC` = 5),
    /// as used in the trace.
    pub fn code(self) -> u8 {
        match self {
            ClockState::Nset => 1,
            ClockState::Fset => 2,
            ClockState::Spik => 3,
            ClockState::Freq => 4,
            ClockState::Sync => 5,
        }
    }
}

/// The loop variables of `ntp_loopfilter.c`.
#[derive(Clone, Debug)]
pub(crate) struct Discipline {
    pub state: ClockState,
    /// `drift_comp`, s/s.
    pub freq: f64,
    /// `clock_offset`: the residual still to be slewed, s.
    pub resid: f64,
    /// `last_offset`, s.
    pub last: f64,
    /// `clock_jitter`, s.
    pub jit: f64,
    /// `clock_stability` (wander), s/s.
    pub wander: f64,
    /// `clock_epoch`: time of the last accepted update, s.
    pub epoch: u64,
    /// `sys_poll`, log2 s.
    pub poll: i32,
    /// `tc_counter`.
    pub tc: i32,
    /// `freq_cnt`: the start-up hold, s.
    pub hold: i32,
    pub allow_panic: bool,
    /// 4.2.6's `last_step`: time of the last step that did not re-enter
    /// training, s (0, the daemon's start, until then).
    pub last_step: u64,
}

/// What `local_clock` asks of the clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UpdateOutcome {
    /// ntpd's return code: −1 panic, 0 ignored, 1 slewed, 2 stepped.
    pub rv: i32,
    /// Step the clock by this much now.
    pub step_s: Option<f64>,
    /// The NSET initial slew (`adj_systime(θ)`).
    pub initial_slew_s: Option<f64>,
}

impl Discipline {
    pub fn new(p: &Params, drift: Option<f64>, allow_panic: bool) -> Self {
        Discipline {
            state: if drift.is_some() {
                ClockState::Fset
            } else {
                ClockState::Nset
            },
            freq: drift
                .unwrap_or(0.0)
                .clamp(-MAXFREQ_S_PER_S, MAXFREQ_S_PER_S),
            resid: 0.0,
            last: 0.0,
            jit: p.rho_s,
            wander: 0.0,
            epoch: 0,
            poll: p.minpoll,
            tc: 0,
            // `init_loopfilter` arms the hold with `CLOCK_MINSTEP` before the
            // configuration is read, so `tinker stepout` does not change it.
            hold: if p.version == NtpVersion::Ntp426 {
                0
            } else {
                p.version.default_stepout_s() as i32
            },
            allow_panic,
            last_step: 0,
        }
    }

    fn rst(&mut self, state: ClockState, offset: f64, now: u64) {
        self.state = state;
        self.resid = offset;
        self.last = offset;
        self.epoch = now;
    }

    /// `direct_freq`: the frequency from one offset over the training interval.
    fn direct_freq(&mut self, p: &Params, theta: f64, mu: f64, kern: &mut KernelLoop) -> f64 {
        self.freq = if p.version == NtpVersion::Ntp426 {
            // The residual and frequency in force: with the kernel loop, the
            // kernel's, read back (`ntp_adjtime`), since it slews the phase.
            if p.kernel {
                self.resid = kern.offset_s;
                self.freq = kern.freq;
            }
            (theta - self.resid) / mu + self.freq
        } else {
            theta / mu
        };
        if p.kernel {
            kern.set_freq(self.freq);
        }
        self.freq
    }

    /// `local_clock` after the panic test and huff-n'-puff (§5.8 steps 3–10).
    ///
    /// 4.2.6 differs from 4.2.8 below the step threshold: FSET goes to SYNC
    /// and FREQ sets the frequency and goes to SYNC, neither with a PLL
    /// update (FREQ also drops the offset), and only a PLL update clears
    /// `allow_panic`; above it, a step re-enters training when it comes
    /// within two stepouts of the last one that did not (or of the start).
    pub fn update(
        &mut self,
        p: &Params,
        now: u64,
        theta: f64,
        kern: &mut KernelLoop,
    ) -> UpdateOutcome {
        let mut out = UpdateOutcome {
            rv: 1,
            step_s: None,
            initial_slew_s: None,
        };
        let v426 = p.version == NtpVersion::Ntp426;
        if !v426 {
            self.allow_panic = false;
        }
        self.poll = self.poll.clamp(p.minpoll, p.maxpoll);
        let mu = now.saturating_sub(self.epoch) as f64;
        let mut f = self.freq;
        let stepout = p.stepout_s;
        if p.step_s > 0.0 && theta.abs() > p.step_s {
            match self.state {
                ClockState::Sync => {
                    self.state = ClockState::Spik;
                    out.rv = 0;
                    return out;
                }
                ClockState::Freq => {
                    if mu < stepout {
                        out.rv = 0;
                        return out;
                    }
                    f = self.direct_freq(p, theta, mu, kern);
                }
                ClockState::Spik => {
                    if mu < stepout {
                        out.rv = 0;
                        return out;
                    }
                }
                ClockState::Nset | ClockState::Fset => {}
            }
            out.step_s = Some(theta);
            self.tc = 0;
            self.jit = p.rho_s;
            out.rv = 2;
            let retrain = self.state == ClockState::Nset
                || (v426 && (now.saturating_sub(self.last_step) as f64) < 2.0 * stepout);
            if retrain {
                self.rst(ClockState::Freq, 0.0, now);
                return out;
            }
            self.last_step = now;
            self.rst(ClockState::Sync, 0.0, now);
        } else {
            let floor = if p.version == NtpVersion::Ntpsec {
                0.0
            } else {
                p.rho_s
            };
            let etemp = self.jit * self.jit;
            let d = (theta - self.last).abs().max(floor);
            self.jit = (etemp + (d * d - etemp) / CLOCK_AVG).sqrt();
            match self.state {
                ClockState::Nset => {
                    if p.version != NtpVersion::Ntp426 {
                        out.initial_slew_s = Some(theta);
                    }
                    self.rst(ClockState::Freq, theta, now);
                }
                ClockState::Freq => {
                    if mu < stepout {
                        out.rv = 0;
                        return out;
                    }
                    f = self.direct_freq(p, theta, mu, kern);
                    if v426 {
                        self.rst(ClockState::Sync, 0.0, now);
                    } else {
                        self.pll_fll(p, &mut f, theta, mu, now);
                    }
                }
                ClockState::Fset if v426 => self.rst(ClockState::Sync, theta, now),
                ClockState::Fset | ClockState::Spik | ClockState::Sync => {
                    if v426 {
                        self.allow_panic = false;
                    }
                    self.pll_fll(p, &mut f, theta, mu, now)
                }
            }
        }
        if p.kernel && self.hold == 0 {
            let (k_off, k_freq) = kern.update(self.resid, self.poll, now);
            f = k_freq;
            self.resid = k_off;
        }
        let df = f - self.freq;
        self.freq = f.clamp(-MAXFREQ_S_PER_S, MAXFREQ_S_PER_S);
        let etemp = self.wander * self.wander;
        self.wander = (etemp + (df * df - etemp) / CLOCK_AVG).sqrt();
        if self.hold > 0 {
            self.tc = 0;
        } else if self.resid.abs() < CLOCK_PGATE * self.jit {
            self.tc += self.poll;
            if self.tc > CLOCK_LIMIT {
                self.tc = CLOCK_LIMIT;
                if self.poll < p.maxpoll {
                    self.tc = 0;
                    self.poll += 1;
                }
            }
        } else {
            self.tc -= self.poll << 1;
            if self.tc < -CLOCK_LIMIT {
                self.tc = -CLOCK_LIMIT;
                if self.poll > p.minpoll {
                    self.tc = 0;
                    self.poll -= 1;
                }
            }
        }
        out
    }

    /// The default branch: FLL above the Allan intercept, PLL always
    /// (skipped during the start-up hold), then `rstclock(SYNC, θ)`.
    fn pll_fll(&mut self, p: &Params, f: &mut f64, theta: f64, mu: f64, now: u64) {
        if self.hold == 0 {
            let tau = 2f64.powi(self.poll);
            if self.poll >= CLOCK_ALLAN {
                if p.version == NtpVersion::Ntpsec {
                    *f += (theta - self.resid) / (tau.max(mu) * CLOCK_FLL);
                } else {
                    *f += (theta - self.resid) / tau.max(mu) * CLOCK_FLL;
                }
            }
            let etemp = 2f64.powi(CLOCK_ALLAN).min(mu);
            let dtemp = 4.0 * CLOCK_PLL * tau;
            *f += theta * etemp / (dtemp * dtemp);
        }
        self.rst(ClockState::Sync, theta, now);
        if theta.abs() < CLOCK_FLOOR_S {
            self.hold = 0;
        }
    }
}

/// The Linux kernel PLL (`kernel/time/ntp.c`, `SHIFT_PLL` = 2; §5.12),
/// in floating point (the kernel's integer truncation is sub-ns).
#[derive(Clone, Debug, Default)]
pub(crate) struct KernelLoop {
    /// `time_offset`: phase still to be slewed, s.
    pub offset_s: f64,
    /// `time_freq`, s/s.
    pub freq: f64,
    /// `time_constant`.
    pub tc: i32,
    /// `time_reftime`: time of the last offset update, s.
    pub reference: u64,
}

impl KernelLoop {
    /// `MOD_FREQUENCY`.
    pub fn set_freq(&mut self, freq: f64) {
        self.freq = freq.clamp(-MAXFREQ_S_PER_S, MAXFREQ_S_PER_S);
    }

    /// `MOD_OFFSET | MOD_TIMECONST` (`ntp_update_offset`); returns the
    /// kernel's offset and frequency as ntpd reads them back.
    pub fn update(&mut self, theta: f64, poll: i32, now: u64) -> (f64, f64) {
        self.tc = poll.clamp(0, KERNEL_MAXTC);
        let theta = theta.clamp(-KERNEL_MAXPHASE_S, KERNEL_MAXPHASE_S);
        let mut secs = now.saturating_sub(self.reference) as f64;
        self.reference = now;
        // Linux applies the FLL term only for secs >= MINSEC (256) and, without
        // STA_FLL (ntpd never sets it), secs > MAXSEC (2048): the latter decides.
        let mut df = if secs > 2048.0 {
            theta / (4.0 * secs)
        } else {
            0.0
        };
        secs = secs.min(2f64.powi(SHIFT_PLL + 1 + self.tc));
        df += theta * secs / 2f64.powi(2 * (SHIFT_PLL + 2 + self.tc));
        self.freq = (self.freq + df).clamp(-MAXFREQ_S_PER_S, MAXFREQ_S_PER_S);
        self.offset_s = theta;
        (self.offset_s, self.freq)
    }

    /// The phase divisor 2^(SHIFT_PLL + tc) of `second_overflow` (it
    /// changes only with an update).
    pub fn chunk_divisor(&self) -> Pow2Div {
        Pow2Div::new(SHIFT_PLL + self.tc)
    }

    /// `second_overflow`: the phase chunk plus frequency for the coming
    /// second; `div` is [`Self::chunk_divisor`].
    pub fn second(&mut self, div: Pow2Div) -> f64 {
        let chunk = div.of(self.offset_s);
        self.offset_s -= chunk;
        chunk + self.freq
    }
}

#[cfg(test)]
mod tests {
    use super::super::{NtpVersion, Ntpd, NtpdConfig};
    use super::{ClockState, KernelLoop};
    use crate::sync::CounterInfo;

    /// A daemon of release `version` (minpoll 6, maxpoll 10, drift file
    /// 0 ppm) whose discipline is in SYNC past the start-up hold at poll
    /// `poll`, with clock jitter `jitter_s` and last offset `last_s`.
    fn synced(version: NtpVersion, poll: i32, jitter_s: f64, last_s: f64) -> Ntpd {
        let cfg = NtpdConfig {
            version,
            drift_ppm: Some(0.0),
            ..NtpdConfig::default()
        };
        let mut n = Ntpd::new(&cfg, CounterInfo { nominal_hz: 1e9 }, 1, 1);
        n.disc.state = ClockState::Sync;
        n.disc.hold = 0;
        n.disc.poll = poll;
        n.disc.jit = jitter_s;
        n.disc.last = last_s;
        n
    }

    /// Feeds the offsets `thetas_s` to `local_clock`, each one poll
    /// interval (at the current poll) after the previous update; returns
    /// the poll exponent and the jiggle counter after each.
    fn feed(n: &mut Ntpd, thetas_s: &[f64]) -> Vec<(i32, i32)> {
        thetas_s
            .iter()
            .map(|&theta| {
                let now = n.disc.epoch + (1u64 << n.disc.poll);
                let out = n.disc.update(&n.p, now, theta, &mut n.kern);
                assert_eq!(out.rv, 1, "θ = {theta} s at {now} s");
                (n.disc.poll, n.disc.tc)
            })
            .collect()
    }

    /// One `pll_fll` update in SYNC at poll `poll`, θ = 1 ms, μ = 2^poll
    /// s: the frequency change.
    fn freq_step(version: NtpVersion, poll: i32) -> f64 {
        let cfg = NtpdConfig {
            version,
            minpoll: poll,
            maxpoll: 17,
            ..NtpdConfig::default()
        };
        let n = Ntpd::new(&cfg, CounterInfo { nominal_hz: 1e9 }, 1, 1);
        let mut d = n.disc.clone();
        d.hold = 0;
        d.poll = poll;
        let mut f = 0.0;
        let mu = 2f64.powi(poll);
        d.pll_fll(&n.p, &mut f, 1e-3, mu, mu as u64);
        f
    }

    #[test]
    fn the_fll_joins_the_pll_from_the_allan_intercept_on() {
        // PLL: θ·min(2^11, μ)/(4·CLOCK_PLL·τ)²; FLL from poll 11
        // (CLOCK_ALLAN): θ/max(τ, μ) times CLOCK_FLL = 0.25 in 4.2.8,
        // divided by it in NTPsec (research/ntpd.md §3.1, §3.3).
        let pll = |poll: i32| {
            let tau = 2f64.powi(poll);
            1e-3 * 2048f64.min(tau) / (64.0 * tau).powi(2)
        };
        for version in [NtpVersion::Ntp428, NtpVersion::Ntpsec] {
            let below = freq_step(version, 10);
            assert!(
                (below / pll(10) - 1.0).abs() < 1e-12,
                "{version:?}: {below:e}"
            );
        }
        let tau = 2048.0;
        let ntp = freq_step(NtpVersion::Ntp428, 11);
        let want = 1e-3 / tau * 0.25 + pll(11);
        assert!(
            (ntp / want - 1.0).abs() < 1e-12,
            "4.2.8: {ntp:e}, want {want:e}"
        );
        let sec = freq_step(NtpVersion::Ntpsec, 11);
        let want = 1e-3 / (tau * 0.25) + pll(11);
        assert!(
            (sec / want - 1.0).abs() < 1e-12,
            "NTPsec: {sec:e}, want {want:e}"
        );
    }

    /// research/ntpd.md §3.6 (`local_clock` in `ntp_loopfilter.c`): an
    /// update with |θ| of at least `CLOCK_PGATE` (4) times the clock
    /// jitter takes 2·poll off the jiggle counter, and once it falls below
    /// −`CLOCK_LIMIT` (−30) the poll drops by one and the counter restarts
    /// at 0; at minpoll it stays at −30. Offsets alternating 5.5 and 4.5 ms
    /// keep |θ − last| = 1 ms, so the jitter stays at 1 ms and every |θ|
    /// lies between 4 and 6 times it.
    #[test]
    fn offsets_beyond_pgate_times_the_jitter_lower_the_poll() {
        let mut n = synced(NtpVersion::Ntp428, 8, 1e-3, 4.5e-3);
        let thetas_s = [
            5.5e-3, 4.5e-3, 5.5e-3, 4.5e-3, 5.5e-3, 4.5e-3, 5.5e-3, 4.5e-3,
        ];
        let got = feed(&mut n, &thetas_s);
        // Poll 8: −16, −32 < −30 → poll 7; −14, −28, −42 → poll 6 (minpoll):
        // −12, −24, −36 → held at −30.
        let want = [
            (8, -16),
            (7, 0),
            (7, -14),
            (7, -28),
            (6, 0),
            (6, -12),
            (6, -24),
            (6, -30),
        ];
        assert_eq!(got, want);
        assert!((n.disc.jit / 1e-3 - 1.0).abs() < 1e-12, "{}", n.disc.jit);
    }

    /// The other side of the gate (research/ntpd.md §3.6): |θ| below 4
    /// times the jitter (3.5 and 2.5 ms against 1 ms) adds the poll to the
    /// jiggle counter; at maxpoll (10) it is held at `CLOCK_LIMIT` (30)
    /// and the poll does not rise further.
    #[test]
    fn offsets_within_pgate_times_the_jitter_hold_the_poll_at_maxpoll() {
        let mut n = synced(NtpVersion::Ntp428, 10, 1e-3, 2.5e-3);
        let got = feed(&mut n, &[3.5e-3, 2.5e-3, 3.5e-3, 2.5e-3, 3.5e-3]);
        assert_eq!(got, [(10, 10), (10, 20), (10, 30), (10, 30), (10, 30)]);
    }

    /// The clock jitter and the wander are exponential averages of
    /// squares with weight 1/`CLOCK_AVG` = 1/8 (research/ntpd.md §3.1,
    /// §5.8 step 7): from a jitter of 1 ms, |θ − last| = 3 ms gives
    /// √(1 + (9 − 1)/8) = √2 ms; from a wander of 0, a frequency change Δf
    /// gives |Δf|/√8. Δf is the PLL's θ·min(2^11, μ)/(4·16·2^6)² at poll 6
    /// with μ = 64 s.
    #[test]
    fn jitter_and_wander_average_with_weight_one_eighth() {
        let mut n = synced(NtpVersion::Ntp428, 6, 1e-3, 0.0);
        feed(&mut n, &[3e-3]);
        let close = |a: f64, b: f64| (a / b - 1.0).abs() < 1e-12;
        assert!(close(n.disc.jit, 2f64.sqrt() * 1e-3), "{}", n.disc.jit);
        let df = 3e-3 * 64.0 / (64.0 * 64.0f64).powi(2);
        assert!(close(n.disc.freq, df), "{}", n.disc.freq);
        assert!(close(n.disc.wander, df / 8f64.sqrt()), "{}", n.disc.wander);
    }

    /// ntp.org floors |θ − last| at the precision 2^ρ in the jitter update,
    /// so repeated equal offsets keep the jitter at 2^−20 s; NTPsec has no
    /// floor and the jitter decays by √(7/8) per update (research/ntpd.md
    /// §3.5).
    #[test]
    fn equal_offsets_hold_the_jitter_at_the_precision_except_in_ntpsec() {
        let rho_s = 2f64.powi(-20);
        for (version, factor) in [
            (NtpVersion::Ntp428, 1.0),
            (NtpVersion::Ntp426, 1.0),
            (NtpVersion::Ntpsec, (7.0f64 / 8.0).sqrt()),
        ] {
            let mut n = synced(version, 6, rho_s, 2e-3);
            feed(&mut n, &[2e-3]);
            let want = rho_s * factor;
            assert!(
                (n.disc.jit / want - 1.0).abs() < 1e-12,
                "{version:?}: {}",
                n.disc.jit
            );
        }
    }

    /// The frequency `drift_comp` is clamped to ±`NTP_MAXFREQ` (500 ppm)
    /// after each update (`local_clock`): from 495 ppm, θ = ±100 ms at poll
    /// 6 a full hour after the last update adds ±0.1·2048/4096² = ±12.2 ppm
    /// (the PLL, integrating at most 2^11 s).
    #[test]
    fn frequency_is_clamped_at_500_ppm() {
        for sign in [1.0, -1.0] {
            let mut n = synced(NtpVersion::Ntp428, 6, 1e-3, 0.0);
            n.disc.freq = sign * 495e-6;
            let out = n.disc.update(&n.p, 3600, sign * 0.1, &mut n.kern);
            assert_eq!(out.rv, 1);
            assert_eq!(n.disc.freq, sign * 500e-6);
        }
    }

    /// The PLL integrates the offset over the time since the last update
    /// but at most over the Allan intercept 2^11 s (`CLOCK_ALLAN`,
    /// research/ntpd.md §5.8 step 5): at poll 6 an update of θ = 1 ms
    /// 3600 s after the last adds 1e-3·2048/(4·16·2^6)² = 0.122 ppm, not
    /// 1e-3·3600/4096² = 0.215 ppm.
    #[test]
    fn pll_integrates_over_at_most_the_allan_intercept() {
        let mut n = synced(NtpVersion::Ntp428, 6, 1e-3, 0.0);
        let out = n.disc.update(&n.p, 3600, 1e-3, &mut n.kern);
        assert_eq!(out.rv, 1);
        let want = 1e-3 * 2048.0 / 4096f64.powi(2);
        assert!((n.disc.freq / want - 1.0).abs() < 1e-12, "{}", n.disc.freq);
    }

    /// 4.2.6 re-enters frequency training (FREQ) when a step comes within
    /// two stepouts (2·900 s) of the last step that did not (`last_step`,
    /// 0 at the daemon's start); 4.2.8 never does once past NSET
    /// (research/ntpd.md §3.5). A step at 2000 s (2000 s after the start)
    /// goes to SYNC; a 0.5 s offset at 2064 s is a spike, and at 3000 s,
    /// a stepout after the last update, it is stepped: 1000 s after the
    /// previous step, so 4.2.6 trains again. Every step restarts the jiggle
    /// counter (from −12 here) and sets the clock jitter to the precision.
    #[test]
    fn ntp426_retrains_after_a_step_within_two_stepouts_of_the_last() {
        for (version, second_step) in [
            (NtpVersion::Ntp426, ClockState::Freq),
            (NtpVersion::Ntp428, ClockState::Sync),
        ] {
            let mut n = synced(version, 6, 1e-3, 0.0);
            n.disc.state = ClockState::Fset;
            n.disc.tc = -12;
            let step = |n: &mut Ntpd, now: u64| {
                let out = n.disc.update(&n.p, now, 0.5, &mut n.kern);
                (out.rv, out.step_s, n.disc.state)
            };
            assert_eq!(
                step(&mut n, 2000),
                (2, Some(0.5), ClockState::Sync),
                "{version:?}"
            );
            // The counter restarts at 0 and, the residual being 0 now,
            // the same update's poll adjustment adds the poll (6).
            assert_eq!((n.disc.tc, n.disc.jit), (6, n.p.rho_s), "{version:?}");
            n.disc.jit = 1e-3;
            assert_eq!(
                step(&mut n, 2064),
                (0, None, ClockState::Spik),
                "{version:?}"
            );
            assert_eq!(
                step(&mut n, 3000),
                (2, Some(0.5), second_step),
                "{version:?}"
            );
            assert_eq!(n.disc.jit, n.p.rho_s, "{version:?}");
        }
    }

    /// Linux `ntp_update_offset` (research/ntpd.md §3.9, §5.12), SHIFT_PLL
    /// 2: the time constant is the poll clamped to `MAXTC` (10), the phase
    /// to ±`MAXPHASE` (0.5 s); the PLL adds θ·min(secs,
    /// 2^(SHIFT_PLL+1+tc))/2^(2·(SHIFT_PLL+2+tc)), and for secs above
    /// `MAXSEC` (2048 s) the FLL adds θ/(secs·2^SHIFT_FLL), SHIFT_FLL 2.
    #[test]
    fn kernel_loop_frequency_follows_ntp_update_offset() {
        let pll = |theta: f64, secs: f64, tc: i32| {
            theta * secs.min(2f64.powi(3 + tc)) / 2f64.powi(2 * (4 + tc))
        };
        // (poll, θ s, secs, expected frequency change, expected phase s)
        let cases = [
            (10, 1e-3, 2048, pll(1e-3, 2048.0, 10), 1e-3),
            (
                10,
                1e-3,
                4096,
                1e-3 / (4.0 * 4096.0) + pll(1e-3, 4096.0, 10),
                1e-3,
            ),
            (
                10,
                -1e-3,
                10_000,
                -1e-3 / 40_000.0 + pll(-1e-3, 8192.0, 10),
                -1e-3,
            ),
            (6, 1e-3, 1024, pll(1e-3, 512.0, 6), 1e-3),
            (12, 1e-3, 1024, pll(1e-3, 1024.0, 10), 1e-3),
            (6, 0.6, 64, pll(0.5, 64.0, 6), 0.5),
            (6, -0.6, 64, pll(-0.5, 64.0, 6), -0.5),
        ];
        for (poll, theta, secs, df, phase) in cases {
            let mut k = KernelLoop {
                reference: 1000,
                ..KernelLoop::default()
            };
            let (offset_s, freq) = k.update(theta, poll, 1000 + secs);
            assert_eq!(offset_s, phase, "poll {poll}, θ {theta}, {secs} s");
            assert!(
                (freq / df - 1.0).abs() < 1e-12,
                "poll {poll}, θ {theta}, {secs} s: {freq:e}, want {df:e}"
            );
            assert_eq!(k.reference, 1000 + secs);
        }
    }

    /// 4.2.8's start-up hold (research/ntpd.md §3.5): an update in SYNC
    /// with |θ| below `CLOCK_FLOOR` (0.5 ms) ends it; a larger one leaves
    /// it running, and while it runs the kernel loop is not given the
    /// offset (`freq_cnt == 0` guards the kernel update).
    #[test]
    fn start_up_hold_ends_below_the_half_millisecond_floor() {
        for (theta_s, hold_after_s) in [(4e-4, 0), (-4e-4, 0), (6e-4, 250), (-6e-4, 250)] {
            let mut n = synced(NtpVersion::Ntp428, 6, 1e-3, 0.0);
            n.disc.hold = 250;
            n.disc.update(&n.p, 64, theta_s, &mut n.kern);
            assert_eq!(n.disc.hold, hold_after_s, "θ = {theta_s} s");
        }
        let cfg = NtpdConfig {
            kernel_loop: true,
            drift_ppm: Some(0.0),
            ..NtpdConfig::default()
        };
        let mut n = Ntpd::new(&cfg, CounterInfo { nominal_hz: 1e9 }, 1, 1);
        n.disc.state = ClockState::Sync;
        n.disc.update(&n.p, 64, 2e-3, &mut n.kern);
        assert_eq!((n.disc.hold, n.kern.offset_s), (300, 0.0));
        n.disc.hold = 0;
        n.disc.update(&n.p, 128, 2e-3, &mut n.kern);
        assert_eq!(n.kern.offset_s, 2e-3);
    }
}
