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
