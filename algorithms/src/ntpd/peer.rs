//! One association: reachability, poll state and the 8-stage clock filter
//! (`clock_filter` in `ntp_proto.c`; research/ntpd.md §1.2, §5.6 step 4).

use super::{MAXDISP_S, MAXDIST_S, NSTAGE, PHI_S_PER_S, Params, PeerSelection};
use crate::clock::ClockTime;

/// Popcorn spike gate `CLOCK_SGATE` (§1.2).
const CLOCK_SGATE: f64 = 3.0;
/// Filter weight `NTP_FWEIGHT` (§1.2).
const NTP_FWEIGHT: f64 = 0.5;
/// Age beyond which a stage's dispersion counts in its distance (2^11 s, §1.2).
const ALLAN_XPT_S: u64 = 2048;

/// The per-server state of ntpd (`struct peer`, the fields that matter here).
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    pub fo: [f64; NSTAGE],
    pub fd: [f64; NSTAGE],
    pub fe: [f64; NSTAGE],
    pub ft: [u64; NSTAGE],
    pub nxt: usize,
    /// Time of the last filter call, s.
    pub update: u64,
    pub offset: f64,
    pub delay: f64,
    pub disp: f64,
    pub jitter: f64,
    /// Epoch of the last sample used, s.
    pub epoch: u64,
    pub hpoll: i32,
    pub ppoll: i32,
    /// Poll exponent carried by the outstanding request (echoed by the server).
    pub sent_poll: i32,
    pub reach: u8,
    pub burst: i32,
    pub retry: i32,
    pub unreach: i32,
    pub nextdate: u64,
    pub outdate: u64,
    pub last_rx: u64,
    /// Rate-control headway, s.
    pub throttle: i64,
    pub stratum: u8,
    pub bias_s: f64,
    /// The outstanding request: its counter value and T1.
    pub pending: Option<(u64, ClockTime)>,
    pub selection: PeerSelection,
}

impl Peer {
    pub fn new(p: &Params, bias_s: f64) -> Self {
        let mut peer = Peer {
            fo: [0.0; NSTAGE],
            fd: [0.0; NSTAGE],
            fe: [MAXDISP_S; NSTAGE],
            ft: [0; NSTAGE],
            nxt: 0,
            update: 0,
            offset: 0.0,
            delay: 0.0,
            disp: MAXDISP_S,
            jitter: p.rho_s,
            epoch: 0,
            hpoll: p.minpoll,
            ppoll: p.maxpoll,
            sent_poll: p.minpoll,
            reach: 0,
            burst: 0,
            retry: 0,
            unreach: 0,
            nextdate: 0,
            outdate: 0,
            last_rx: 0,
            throttle: 0,
            stratum: 16,
            bias_s,
            pending: None,
            selection: PeerSelection::Unfit,
        };
        peer.clear(0, p.minpoll, p.maxpoll, p.rho_s);
        peer
    }

    /// `peer_clear` without the scheduling of the first poll.
    pub fn clear(&mut self, now: u64, minpoll: i32, maxpoll: i32, rho_s: f64) {
        self.fo = [0.0; NSTAGE];
        self.fd = [0.0; NSTAGE];
        self.fe = [MAXDISP_S; NSTAGE];
        self.ft = [0; NSTAGE];
        self.nxt = 0;
        self.offset = 0.0;
        self.delay = 0.0;
        self.disp = MAXDISP_S;
        self.jitter = rho_s;
        self.epoch = 0;
        self.reach = 0;
        self.burst = 0;
        self.retry = 0;
        self.unreach = 0;
        self.hpoll = minpoll;
        self.ppoll = maxpoll;
        self.update = now;
        self.outdate = now;
        self.stratum = 16;
        self.pending = None;
        self.selection = PeerSelection::Unfit;
    }

    /// `clock_filter`: returns true when ntpd would go on to `clock_select`
    /// (before the burst test, which the caller applies).
    pub fn filter(
        &mut self,
        now: u64,
        offset: f64,
        delay: f64,
        disp: f64,
        sort: bool,
        jitter_floor: f64,
    ) -> bool {
        let mut j = self.nxt;
        self.fo[j] = offset;
        self.fd[j] = delay;
        self.fe[j] = disp;
        self.ft[j] = now;
        j = (j + 1) % NSTAGE;
        self.nxt = j;

        let dtemp = PHI_S_PER_S * now.saturating_sub(self.update) as f64;
        self.update = now;
        let mut dst = [0.0f64; NSTAGE];
        let mut ord = [0usize; NSTAGE];
        for i in (0..NSTAGE).rev() {
            if i != 0 {
                self.fe[j] += dtemp;
            }
            if self.fe[j] >= MAXDISP_S {
                self.fe[j] = MAXDISP_S;
                dst[i] = MAXDISP_S;
            } else if self.update.saturating_sub(self.ft[j]) > ALLAN_XPT_S {
                dst[i] = self.fd[j] + self.fe[j];
            } else {
                dst[i] = self.fd[j];
            }
            ord[i] = j;
            j = (j + 1) % NSTAGE;
        }
        if sort {
            for i in 1..NSTAGE {
                for k in 0..i {
                    if dst[k] > dst[i] {
                        ord.swap(k, i);
                        dst.swap(k, i);
                    }
                }
            }
        }
        let mut m = 0;
        for &d in &dst {
            if d >= MAXDISP_S || (m >= 2 && d >= MAXDIST_S) {
                continue;
            }
            m += 1;
        }
        self.disp = 0.0;
        self.jitter = 0.0;
        let k = ord[0];
        for i in (0..NSTAGE).rev() {
            let s = ord[i];
            self.disp = NTP_FWEIGHT * (self.disp + self.fe[s]);
            if i < m {
                let d = self.fo[s] - self.fo[k];
                self.jitter += d * d;
            }
        }
        if m == 0 {
            return true;
        }
        let etemp = (self.offset - self.fo[k]).abs();
        self.offset = self.fo[k];
        self.delay = self.fd[k];
        if m > 1 {
            self.jitter /= (m - 1) as f64;
        }
        self.jitter = self.jitter.sqrt().max(jitter_floor);
        let since = self.ft[k].wrapping_sub(self.epoch) as f64;
        if self.disp < MAXDIST_S
            && self.fe[k] < MAXDIST_S
            && etemp > CLOCK_SGATE * self.jitter
            && since < 2.0 * 2f64.powi(self.hpoll)
        {
            return false; // popcorn spike
        }
        if self.ft[k] <= self.epoch {
            return false; // already used
        }
        self.epoch = self.ft[k];
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Ntpd, NtpdConfig};
    use super::Peer;
    use crate::sync::CounterInfo;

    /// The clock filter at hpoll 6 (64 s) fed one sample a poll from
    /// t = 64 s: first offset 0 with delay 1 ms, the filter's minimum,
    /// which stays the output (and is used once) while the next seven
    /// samples arrive; the ninth pushes it out of the eight stages. Of the
    /// eight samples after it, number `chosen` (1…8) has the least delay
    /// (2 ms against 3 ms) and offset `x_s`, the other seven x ± 1 ms,
    /// alternately. Every sample has the dispersion of an on-wire sample
    /// (2^ρ + 2^ρpeer, the delay term aside) but the chosen one, which has
    /// `chosen_disp_s` if given. Returns the peer and what the ninth call
    /// returned.
    fn held_sample_leaves(chosen: usize, x_s: f64, chosen_disp_s: Option<f64>) -> (Peer, bool) {
        let n = Ntpd::new(
            &NtpdConfig::default(),
            CounterInfo { nominal_hz: 1e9 },
            1,
            1,
        );
        let mut peer = Peer::new(&n.p, 0.0);
        assert_eq!(peer.hpoll, 6);
        let (rho_s, disp_s) = (n.p.rho_s, 2.0 * n.p.rho_s);
        assert!(peer.filter(64, 0.0, 1e-3, disp_s, true, rho_s));
        let mut sign = 1.0;
        let mut last = false;
        for i in 1..=8 {
            let (offset, delay, disp) = if i == chosen {
                (x_s, 2e-3, chosen_disp_s.unwrap_or(disp_s))
            } else {
                sign = -sign;
                (x_s + sign * 1e-3, 3e-3, disp_s)
            };
            last = peer.filter(64 + 64 * i as u64, offset, delay, disp, true, rho_s);
            if i < 8 {
                // The held sample is still the output, already used.
                assert!(!last && peer.offset == 0.0, "sample {i}");
            }
        }
        (peer, last)
    }

    /// `clock_filter` (research/ntpd.md §1.2 steps 6–9): the peer jitter
    /// is the RMS of the other stages' offsets about the chosen one over
    /// m − 1 = 7, here exactly 1 ms; the output moved by Δ = x. It is a
    /// popcorn spike, dropped, when Δ > `CLOCK_SGATE` (3) times the jitter
    /// and the chosen sample is less than two polls (128 s) younger than
    /// the last one used: Δ = 3.5 ms is dropped, 2.5 ms passes. The dropped
    /// value becomes the peer offset all the same (the next output is
    /// compared with it), but not the last sample used.
    #[test]
    fn popcorn_gate_is_three_times_the_peer_jitter() {
        let (peer, passed) = held_sample_leaves(1, 3.5e-3, None);
        assert!((peer.jitter / 1e-3 - 1.0).abs() < 1e-9, "{}", peer.jitter);
        assert!(!passed, "Δ = 3.5 jitters, 64 s after the last sample used");
        assert_eq!((peer.offset, peer.epoch), (3.5e-3, 64));

        let (peer, passed) = held_sample_leaves(1, 2.5e-3, None);
        assert!(passed, "Δ = 2.5 jitters");
        assert_eq!((peer.offset, peer.epoch), (2.5e-3, 128));
    }

    /// The popcorn gate's age rule (research/ntpd.md §1.2 step 8): only a
    /// sample less than 2·2^hpoll = 128 s younger than the last one used
    /// can be a spike. The same Δ = 3.5 jitters passes when the chosen
    /// sample is exactly two polls (128 s) younger.
    #[test]
    fn popcorn_gate_spares_samples_two_polls_younger() {
        let (peer, passed) = held_sample_leaves(2, 3.5e-3, None);
        assert!((peer.jitter / 1e-3 - 1.0).abs() < 1e-9, "{}", peer.jitter);
        assert!(passed);
        assert_eq!((peer.offset, peer.epoch), (3.5e-3, 192));
    }

    /// `clock_filter` (research/ntpd.md §1.2 step 6): after the first two,
    /// stages whose distance reaches `sys_maxdist` (1.5 s) are left out of
    /// the peer jitter. Two samples of 1 and 2 ms delay read 0 and 1 ms;
    /// six of 2 s delay read 100 ms: the jitter is that of the first two,
    /// 1 ms (with all eight it would be √((0.001² + 6·0.1²)/7) = 93 ms).
    #[test]
    fn stages_beyond_the_distance_threshold_are_left_out_of_the_jitter() {
        let n = Ntpd::new(
            &NtpdConfig::default(),
            CounterInfo { nominal_hz: 1e9 },
            1,
            1,
        );
        let mut peer = Peer::new(&n.p, 0.0);
        let (rho_s, disp_s) = (n.p.rho_s, 2.0 * n.p.rho_s);
        let samples = [(0.0, 1e-3), (1e-3, 2e-3)]
            .into_iter()
            .chain([(0.1, 2.0); 6]);
        for (i, (offset, delay)) in samples.enumerate() {
            peer.filter(64 * (i as u64 + 1), offset, delay, disp_s, true, rho_s);
        }
        assert_eq!((peer.offset, peer.delay), (0.0, 1e-3));
        assert!((peer.jitter / 1e-3 - 1.0).abs() < 1e-12, "{}", peer.jitter);
    }

    /// The popcorn gate needs the chosen stage's own dispersion below
    /// `sys_maxdist` (research/ntpd.md §1.2 step 8: disp[k] < 1.5 s). The
    /// spike of `popcorn_gate_is_three_times_the_peer_jitter` (Δ = 3.5
    /// jitters, 64 s after the last sample used) passes when it was sampled
    /// with 1.6 s of dispersion: its stage holds 1.6 s plus 448 s of aging
    /// (6.7 ms), while the peer dispersion, half of that plus the seven
    /// small stages' share, stays near 0.8 s, below the gate's other bound.
    #[test]
    fn popcorn_gate_spares_a_sample_with_a_dispersion_above_maxdist() {
        let (peer, passed) = held_sample_leaves(1, 3.5e-3, Some(1.6));
        let k = (0..8).find(|&s| peer.fo[s] == 3.5e-3).unwrap();
        assert!(
            (peer.fe[k] - (1.6 + 448.0 * 15e-6)).abs() < 1e-12,
            "{}",
            peer.fe[k]
        );
        assert!((peer.disp - 0.805).abs() < 0.005, "{}", peer.disp);
        assert!((peer.jitter / 1e-3 - 1.0).abs() < 1e-9, "{}", peer.jitter);
        assert!(passed);
        assert_eq!((peer.offset, peer.epoch), (3.5e-3, 128));
    }

    /// The popcorn gate also needs the peer dispersion below `sys_maxdist`
    /// (research/ntpd.md §1.2 step 8). After `peer_clear` the seven other
    /// stages hold `MAXDISPERSE` (16 s), so the first sample leaves a peer
    /// dispersion of 16·(1/4 + 1/8 + … + 1/256) = 7.9375 s (plus half its
    /// own microseconds): its offset of 10 ms, ten thousand times the jitter
    /// (the precision, m = 1) away from the cleared offset 0 and less than
    /// two polls after epoch 0, is used at once, not held as a spike.
    #[test]
    fn first_sample_after_a_clear_is_not_a_popcorn_spike() {
        let n = Ntpd::new(
            &NtpdConfig::default(),
            CounterInfo { nominal_hz: 1e9 },
            1,
            1,
        );
        let mut peer = Peer::new(&n.p, 0.0);
        let rho_s = n.p.rho_s;
        assert!(peer.filter(64, 10e-3, 1e-3, 2.0 * rho_s, true, rho_s));
        assert!((peer.disp - 7.9375).abs() < 1e-5, "{}", peer.disp);
        assert_eq!(peer.jitter, rho_s);
        assert_eq!((peer.offset, peer.epoch), (10e-3, 64));
    }
}
