//! `clock_select` and `clock_combine` (ntp.org `ntp_proto.c`; research/ntpd.md
//! §2): intersection of correctness intervals, clustering, system-peer choice
//! with anti-clockhop, and the 1/λ-weighted combination. 4.2.8's version
//! serves 4.2.8 and NTPsec; 4.2.6 has its own (`select_426`).
//!
//! How 4.2.6's differs from 4.2.8's (as read in 4.2.6p5's `ntp_proto.c`):
//!
//! * **Intersection**: three endpoints per interval, θ+λ, then θ (computed
//!   as (θ+λ)−λ) and θ−λ, inserted in a sorted list (a new value goes after
//!   equal ones). A scan also counts the midpoints it passes before reaching
//!   `nlist − allow` intervals, and a number of falsetickers `allow` is
//!   accepted only if no more than `allow` midpoints lie outside [low, high].
//!   If no `allow` < n/2 succeeds, `low` and `high` keep their last values.
//! * **Truechimers**: with more than one candidate, only offsets strictly
//!   inside (low, high); 4.2.8 keeps every interval that overlaps [low, high].
//! * **Order**: the truechimers are sorted by `λ_next/sys_maxdist + stratum`,
//!   λ_next the root distance at the peer's next poll (`nextdate`), so a
//!   lower stratum always comes first; 4.2.8 keeps them unsorted.
//! * **Cluster**: the worst is the largest select jitter × that metric (not
//!   × λ); the loop stops, keeping a zero select jitter, when no more than
//!   `sys_minsane` (1) or `sys_minclock` (3) are left, and otherwise stops
//!   when the select jitter of the *last* survivor in the list (floored at
//!   the precision) is no larger than the smallest peer jitter; that value
//!   is then the select jitter of the system.
//! * **System peer**: the head of the sorted list, with 4.2.8's
//!   anti-clockhop rule against it.
//! * **Combine**: weights 1/λ as in 4.2.8 (each term divided by λ where
//!   4.2.8 multiplies by 1/λ); the jitter is taken around the head's
//!   offset, and the system jitter is that combined jitter with the select
//!   jitter added in quadrature.

use super::{MAXDIST_S, MINDIST_S, NtpVersion, Ntpd, PHI_S_PER_S};

/// Minimum survivors kept by the cluster algorithm `sys_minclock` (§2 step 4).
const MINCLOCK: usize = 3;
/// Minimum candidates `sys_minsane` (4.2.6's cluster loop stops at it).
const MINSANE: usize = 1;

/// How the last selection classified a server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PeerSelection {
    /// Unreachable, unsynchronized, or root distance too large.
    #[default]
    Unfit,
    /// Its interval misses the intersection of the majority.
    Falseticker,
    /// A truechimer discarded by the cluster algorithm.
    Outlier,
    /// Combined into the system offset.
    Survivor,
    /// The system peer.
    SystemPeer,
}

/// One candidate (`peer_select` in the C code; 4.2.6's `peer_list`,
/// `error` and `synch` arrays).
#[derive(Clone, Copy, Debug)]
struct Cand {
    peer: usize,
    /// Peer jitter, s.
    error: f64,
    /// 4.2.8: root distance λ, s. 4.2.6: the order metric
    /// λ_next/`sys_maxdist` + stratum (dimensionless).
    synch: f64,
    /// Selection jitter φ, s (4.2.8 only).
    seljit: f64,
}

/// Work space reused by every selection (no allocation per packet).
#[derive(Clone, Debug, Default)]
pub(crate) struct SelectScratch {
    cands: Vec<Cand>,
    endpoints: Vec<(f64, i32)>,
    indx: Vec<usize>,
}

impl SelectScratch {
    fn clear(&mut self) {
        self.cands.clear();
        self.endpoints.clear();
        self.indx.clear();
    }

    pub fn with_capacity(n: usize) -> Self {
        SelectScratch {
            cands: Vec::with_capacity(n),
            endpoints: Vec::with_capacity(3 * n),
            indx: Vec::with_capacity(3 * n),
        }
    }
}

/// One step of 4.2.6's endpoint insertion: moves the indexes above `*i`
/// whose value exceeds `e` up by `gap` and stores the new endpoint's index
/// in the slot below them (`indx[i + gap] = nl3`). The caller inserts the
/// upper end with `gap` 3, then the midpoint with 2 and the lower end with 1,
/// continuing from where the previous scan stopped, as the C code does.
fn insert_endpoint(s: &mut SelectScratch, i: &mut isize, gap: usize, e: f64, kind: i32) {
    while *i >= 0 {
        let at = *i as usize;
        if e >= s.endpoints[s.indx[at]].0 {
            break;
        }
        s.indx[at + gap] = s.indx[at];
        *i -= 1;
    }
    s.indx[(*i + gap as isize) as usize] = s.endpoints.len();
    s.endpoints.push((e, kind));
}

/// The intersection of the correctness intervals (Marzullo's algorithm as
/// ntpd modifies it): for `allow` = 0, 1, … falsetickers while
/// `2·allow < nlist`, scan the sorted endpoints up to `low` and down to
/// `high` until `nlist − allow` intervals are open, and stop at the first
/// `allow` with `high > low` and no more than `allow` midpoints passed on
/// the way (4.2.6's extra rule; 4.2.8's lists have no midpoints). If none
/// succeeds, `low` and `high` keep the values of the last try.
fn intersection(s: &SelectScratch, nlist: i32) -> (f64, f64) {
    let mut low = 1e9;
    let mut high = -1e9;
    let mut allow = 0;
    while 2 * allow < nlist {
        let mut found = 0;
        let mut n = 0;
        for &k in &s.indx {
            let (v, t) = s.endpoints[k];
            low = v;
            n -= t;
            if n >= nlist - allow {
                break;
            }
            if t == 0 {
                found += 1;
            }
        }
        n = 0;
        for &k in s.indx.iter().rev() {
            let (v, t) = s.endpoints[k];
            high = v;
            n += t;
            if n >= nlist - allow {
                break;
            }
            if t == 0 {
                found += 1;
            }
        }
        if found <= allow && high > low {
            break;
        }
        allow += 1;
    }
    (low, high)
}

impl Ntpd {
    /// `clock_select`: pick the survivors and the system peer, combine, and
    /// update the clock if the system peer has a new sample.
    pub(super) fn clock_select(&mut self) {
        let mut s = std::mem::take(&mut self.scratch);
        let sp = match self.p.version {
            NtpVersion::Ntp426 => self.select_426(&mut s),
            NtpVersion::Ntp428 | NtpVersion::Ntpsec => self.select_into(&mut s),
        };
        self.scratch = s;
        if let Some(sp) = sp {
            let counter = self.current_counter;
            self.clock_update(sp, counter);
        }
    }

    /// The anti-clockhop rule (both releases): keep the old system peer
    /// `osys` instead of `typesystem` while their offsets differ by less
    /// than a threshold that starts at `sys_mindisp` and halves at every
    /// selection that would hop.
    fn anti_clockhop(&mut self, osys: Option<usize>, typesystem: usize) -> usize {
        match osys {
            Some(o) if o != typesystem => {
                let x = (self.peers[typesystem].offset - self.peers[o].offset).abs();
                if x < MINDIST_S {
                    self.sys_clockhop_s = if self.sys_clockhop_s == 0.0 {
                        MINDIST_S
                    } else {
                        self.sys_clockhop_s * 0.5
                    };
                    if x < self.sys_clockhop_s {
                        return o;
                    }
                    self.sys_clockhop_s = 0.0;
                } else {
                    self.sys_clockhop_s = 0.0;
                }
            }
            _ => self.sys_clockhop_s = 0.0,
        }
        typesystem
    }

    /// 4.2.8's selection proper; returns the system peer when the clock
    /// should be updated.
    fn select_into(&mut self, s: &mut SelectScratch) -> Option<usize> {
        let osys = self.sys_peer;
        s.clear();
        for i in 0..self.peers.len() {
            self.peers[i].selection = PeerSelection::Unfit;
            if self.peer_unfit(i) {
                continue;
            }
            let f = self.root_distance(i);
            s.cands.push(Cand {
                peer: i,
                error: self.peers[i].jitter,
                synch: f,
                seljit: 0.0,
            });
            let e = self.peers[i].offset;
            s.endpoints.push((e - f, -1));
            s.endpoints.push((e + f, 1));
            self.peers[i].selection = PeerSelection::Falseticker;
        }
        let nl2 = s.endpoints.len();
        s.indx.extend(0..nl2);
        // Selection sort of endpoint indexes by value, as the C code does.
        for i in 0..nl2 {
            let mut e = s.endpoints[s.indx[i]].0;
            let mut k = i;
            for j in i + 1..nl2 {
                let v = s.endpoints[s.indx[j]].0;
                if v < e {
                    e = v;
                    k = j;
                }
            }
            s.indx.swap(i, k);
        }
        let (low, high) = intersection(s, s.cands.len() as i32);
        let peers = &self.peers;
        s.cands.retain(|c| {
            let off = peers[c.peer].offset;
            !(high <= low || off + c.synch < low || off - c.synch > high)
        });
        if s.cands.is_empty() {
            self.sys_peer = None;
            return None;
        }
        for c in &s.cands {
            self.peers[c.peer].selection = PeerSelection::Outlier;
        }
        // Cluster: drop the worst select jitter × distance while it exceeds
        // the best peer jitter and more than MINCLOCK survive.
        loop {
            let n = s.cands.len();
            let mut d = 1e9;
            let mut e = -1e9;
            let mut g = 0.0;
            let mut k = 0;
            for i in 0..n {
                if s.cands[i].error < d {
                    d = s.cands[i].error;
                }
                s.cands[i].seljit = 0.0;
                if n > 1 {
                    let oi = self.peers[s.cands[i].peer].offset;
                    let mut f = 0.0;
                    for j in 0..n {
                        let x = self.peers[s.cands[j].peer].offset - oi;
                        f += x * x;
                    }
                    s.cands[i].seljit = (f / (n - 1) as f64).sqrt();
                }
                if s.cands[i].seljit * s.cands[i].synch > e {
                    g = s.cands[i].seljit;
                    e = s.cands[i].seljit * s.cands[i].synch;
                    k = i;
                }
            }
            let g = f64::max(g, self.p.rho_s);
            if n <= MINCLOCK.max(1) || g <= d {
                break;
            }
            s.cands.remove(k);
        }
        let mut e = 1e9;
        let mut speer = 0;
        for (i, c) in s.cands.iter().enumerate() {
            let peer = &mut self.peers[c.peer];
            peer.unreach = 0;
            peer.selection = PeerSelection::Survivor;
            let met = c.seljit * c.synch + f64::from(peer.stratum) * MINDIST_S;
            if met < e {
                e = met;
                speer = i;
            }
        }
        let typesystem = self.anti_clockhop(osys, s.cands[speer].peer);
        // clock_combine (note: the C code weights the jitter around the
        // metric's choice `speer`, even when anti-clockhop kept the old peer).
        let (mut y, mut z, mut w) = (0.0, 0.0, 0.0);
        let osp = self.peers[s.cands[speer].peer].offset;
        for c in &s.cands {
            let x = 1.0 / c.synch;
            let off = self.peers[c.peer].offset;
            y += x;
            z += x * off;
            w += x * (off - osp) * (off - osp);
        }
        self.sys_offset_s = z / y;
        let sj = s.cands[speer].seljit;
        self.sys_jitter_s = (w / y + sj * sj).sqrt();
        self.peers[typesystem].selection = PeerSelection::SystemPeer;
        if self.peers[typesystem].epoch <= self.sys_epoch {
            return None;
        }
        Some(typesystem)
    }

    /// 4.2.6's `clock_select` and `clock_combine` (see the module docs);
    /// returns the system peer when the clock should be updated. Peers are
    /// visited in server order (the C code walks its association hash).
    /// The C code keeps only the best `NTP_MAXASSOC` truechimers; with the
    /// handful of servers a scenario has that cap never binds.
    fn select_426(&mut self, s: &mut SelectScratch) -> Option<usize> {
        let osys = self.sys_peer;
        s.clear();
        for i in 0..self.peers.len() {
            self.peers[i].selection = PeerSelection::Unfit;
            if self.peer_unfit(i) {
                continue;
            }
            self.peers[i].selection = PeerSelection::Falseticker;
            s.cands.push(Cand {
                peer: i,
                error: 0.0,
                synch: 0.0,
                seljit: 0.0,
            });
            let f = self.root_distance(i);
            let nl3 = s.endpoints.len();
            s.indx.extend([0; 3]);
            let mut at = nl3 as isize - 1;
            let mut e = self.peers[i].offset + f;
            insert_endpoint(s, &mut at, 3, e, 1);
            e -= f;
            insert_endpoint(s, &mut at, 2, e, 0);
            e -= f;
            insert_endpoint(s, &mut at, 1, e, -1);
        }
        let nlist = s.cands.len() as i32;
        let (low, high) = intersection(s, nlist);
        // Truechimers: offsets strictly inside (low, high), sorted by
        // stratum + λ_next/sys_maxdist (insertion after equal metrics).
        let many = nlist > 1;
        let mut j = 0;
        for i in 0..s.cands.len() {
            let c = s.cands[i].peer;
            let peer = &self.peers[c];
            if many && (peer.offset <= low || peer.offset >= high) {
                continue;
            }
            let ahead_s = peer.nextdate.wrapping_sub(self.now) as f64;
            let d = (self.root_distance(c) + PHI_S_PER_S * ahead_s) / MAXDIST_S
                + f64::from(peer.stratum);
            let mut k = j;
            while k > 0 {
                if d >= s.cands[k - 1].synch {
                    break;
                }
                s.cands[k] = s.cands[k - 1];
                k -= 1;
            }
            s.cands[k] = Cand {
                peer: c,
                error: peer.jitter,
                synch: d,
                seljit: 0.0,
            };
            j += 1;
        }
        s.cands.truncate(j);
        if s.cands.is_empty() {
            self.sys_peer = None;
            return None;
        }
        for c in &s.cands {
            self.peers[c.peer].selection = PeerSelection::Outlier;
        }
        // Cluster: f ends as the select jitter of the last in the list.
        let mut seljitter = 0.0;
        loop {
            let n = s.cands.len();
            let mut d = 1e9;
            let mut e = -1e9;
            let mut f = 0.0;
            let mut k = 0;
            for i in 0..n {
                if s.cands[i].error < d {
                    d = s.cands[i].error;
                }
                f = 0.0;
                if n > 1 {
                    let oi = self.peers[s.cands[i].peer].offset;
                    for c in &s.cands[..n] {
                        let x = self.peers[c.peer].offset - oi;
                        f += x * x;
                    }
                    f = (f / (n - 1) as f64).sqrt();
                }
                if f * s.cands[i].synch > e {
                    e = f * s.cands[i].synch;
                    k = i;
                }
            }
            let f = f64::max(f, self.p.rho_s);
            if n <= MINSANE || n <= MINCLOCK {
                break;
            } else if f <= d {
                seljitter = f;
                break;
            }
            s.cands.remove(k);
        }
        for c in &s.cands {
            let peer = &mut self.peers[c.peer];
            peer.unreach = 0;
            peer.selection = PeerSelection::Survivor;
        }
        let head = s.cands[0].peer;
        let typesystem = self.anti_clockhop(osys, head);
        // clock_combine: the jitter is weighted around the head of the list,
        // even when anti-clockhop kept the old peer. Each term is divided by
        // λ, as 4.2.6 writes it (4.2.8 multiplies by 1/λ, which can differ
        // in the last bit).
        let (mut y, mut z, mut w) = (0.0, 0.0, 0.0);
        let o0 = self.peers[head].offset;
        for c in &s.cands {
            let x = self.root_distance(c.peer);
            let off = self.peers[c.peer].offset;
            y += 1.0 / x;
            z += off / x;
            w += (off - o0) * (off - o0) / x;
        }
        self.sys_offset_s = z / y;
        let sys_jitter_s = (w / y).sqrt();
        self.sys_jitter_s = (sys_jitter_s * sys_jitter_s + seljitter * seljitter).sqrt();
        self.peers[typesystem].selection = PeerSelection::SystemPeer;
        if self.peers[typesystem].epoch <= self.sys_epoch {
            return None;
        }
        Some(typesystem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntpd::NtpdConfig;
    use crate::sync::{CounterInfo, SyncAlgorithm};
    use PeerSelection::{Falseticker, Outlier, Survivor, SystemPeer, Unfit};

    /// A daemon at `current_time` 1000 s whose servers have the given
    /// (offset s, root distance λ s, stratum): delay and jitter 0, the
    /// dispersion λ, sampled now and polled next now (λ_next = λ).
    fn daemon(version: NtpVersion, servers: &[(f64, f64, u8)]) -> Ntpd {
        let cfg = NtpdConfig {
            version,
            ..NtpdConfig::default()
        };
        let info = CounterInfo { nominal_hz: 1e9 };
        let mut n = Ntpd::new(&cfg, info, servers.len(), 1);
        n.now = 1000;
        for (p, &(offset, lambda, stratum)) in n.peers.iter_mut().zip(servers) {
            p.offset = offset;
            p.delay = 0.0;
            p.disp = lambda;
            p.jitter = 0.0;
            p.update = 1000;
            p.nextdate = 1000;
            p.stratum = stratum;
            p.reach = 1;
            p.epoch = 0;
        }
        n
    }

    /// One selection (no clock update: no peer has a sample newer than
    /// `sys_epoch`); the classification per server.
    fn select(n: &mut Ntpd) -> Vec<PeerSelection> {
        let mut s = SelectScratch::with_capacity(n.peers.len());
        let sp = match n.p.version {
            NtpVersion::Ntp426 => n.select_426(&mut s),
            _ => n.select_into(&mut s),
        };
        assert_eq!(sp, None);
        (0..n.peers.len()).map(|i| n.selection(i)).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-15 * b.abs().max(1e-3)
    }

    /// Intervals [−1, 1], [0, 1] and [0.25, 0.75] (offsets 0, 0.5, 0.5).
    /// Every value is exact in binary, so the C code can be followed by hand.
    ///
    /// 4.2.6: sorted endpoints −1 (lo 0), 0 (mid 0), 0 (lo 1, after the
    /// equal mid 0), 0.25, 0.5, 0.5, 0.75, 1, 1. With allow = 0 the upward
    /// scan reaches three intervals at 0.25 having passed mid 0, so found = 1
    /// exceeds allow; with allow = 1 it stops at lo 1 (low = 0) and the downward
    /// scan at the second 1 (high = 1), found = 1. Server 0's offset 0 is not
    /// strictly inside (0, 1): a falseticker. Two survivors: no clustering,
    /// sorted by λ/1.5 + 1, so server 2 (λ 0.25) heads the list and is the
    /// system peer; offset (0.5/0.5 + 0.5/0.25)/(2 + 4) = 0.5, jitter 0.
    ///
    /// 4.2.8: two endpoints each, low = 0.25, high = 0.75, and every interval
    /// overlaps them; three survivors, select jitters 0.5, √0.125, √0.125;
    /// metric φ·λ + 0.001·stratum is least for server 2; offset
    /// (0·1 + 0.5·2 + 0.5·4)/7 = 3/7, jitter √(0.25/7 + 0.125).
    #[test]
    fn offset_on_the_intersection_edge_is_a_falseticker_only_in_426() {
        let servers = [(0.0, 1.0, 1), (0.5, 0.5, 1), (0.5, 0.25, 1)];
        let mut n = daemon(NtpVersion::Ntp426, &servers);
        assert_eq!(select(&mut n), [Falseticker, Survivor, SystemPeer]);
        assert_eq!(n.sys_offset_s, 0.5);
        assert_eq!(n.sys_jitter_s, 0.0);

        let mut n = daemon(NtpVersion::Ntp428, &servers);
        assert_eq!(select(&mut n), [Survivor, Survivor, SystemPeer]);
        assert_eq!(n.sys_offset_s, 3.0 / 7.0);
        assert!(close(n.sys_jitter_s, (0.25 / 7.0 + 0.125f64).sqrt()));
    }

    /// Server 0: offset 0, λ 50 ms, stratum 2; server 1: offset 20 ms,
    /// λ 200 ms, stratum 1. Both offsets lie inside both intervals.
    ///
    /// 4.2.6: metrics 0.05/1.5 + 2 and 0.2/1.5 + 1, so server 1 heads the
    /// list and is the system peer although its λ is four times larger.
    /// Offset (5·0.02 + 20·0)/25 = 4 ms; the jitter is taken around the
    /// head: √(20·0.02²/25) = √0.00032 (no select jitter with 2 survivors).
    ///
    /// 4.2.8: both select jitters are 20 ms; metrics 0.02·0.05 + 0.002 =
    /// 0.003 and 0.02·0.2 + 0.001 = 0.005, so server 0 is the system peer.
    /// Same offset; jitter around server 0 plus its select jitter:
    /// √(5·0.02²/25 + 0.02²) = √0.00048.
    #[test]
    fn stratum_picks_the_426_system_peer_distance_the_428_one() {
        let servers = [(0.0, 0.05, 2), (0.02, 0.2, 1)];
        let mut n = daemon(NtpVersion::Ntp426, &servers);
        assert_eq!(select(&mut n), [Survivor, SystemPeer]);
        assert!(close(n.sys_offset_s, 0.004));
        assert!(close(n.sys_jitter_s, 0.00032f64.sqrt()));

        let mut n = daemon(NtpVersion::Ntp428, &servers);
        assert_eq!(select(&mut n), [SystemPeer, Survivor]);
        assert!(close(n.sys_offset_s, 0.004));
        assert!(close(n.sys_jitter_s, 0.00048f64.sqrt()));
    }

    /// Three servers within 1 ms and one 60 ms away, all λ = 10 ms.
    ///
    /// 4.2.6: sorted endpoints −11, −10, −9, −1, 0, 1, 9, 10, 11, 50, 60,
    /// 70 ms. With allow = 0 neither scan gathers four intervals (and both
    /// pass midpoints); with allow = 1 the upward scan gathers three at
    /// −9 ms (low) passing no midpoint, the downward one at 9 ms (high)
    /// passing mid 60 ms: found = 1 = allow. Offsets 0, 1, −1 ms are inside
    /// (−9, 9) ms, 60 ms is not: a falseticker. The three survivors have
    /// equal metrics and keep server order: server 0 is the system peer;
    /// offset (0 + 0.1 − 0.1)/300 = 0, jitter √(2·100·0.001²/300).
    #[test]
    fn falseticker_among_four_is_rejected_by_426() {
        let servers = [
            (0.0, 0.01, 1),
            (0.001, 0.01, 1),
            (-0.001, 0.01, 1),
            (0.06, 0.01, 1),
        ];
        let mut n = daemon(NtpVersion::Ntp426, &servers);
        assert_eq!(
            select(&mut n),
            [SystemPeer, Survivor, Survivor, Falseticker]
        );
        assert_eq!(n.sys_offset_s, 0.0);
        assert!(close(n.sys_jitter_s, (2e-4f64 / 300.0).sqrt()));
    }

    /// With one server both selections keep it as the system peer and give
    /// the same jitter and the same offset but for rounding: 4.2.6 forms
    /// (θ/λ)/(1/λ), 4.2.8 (θ·(1/λ))/(1/λ) (the bundled scenarios have one
    /// server each).
    #[test]
    fn one_server_selects_alike_in_426_and_428() {
        for k in 0..2000 {
            let offset = (k as f64 * 0.618_034).sin() * 10f64.powi(-(k % 7));
            let lambda = 1e-4 + (k as f64 * 0.414_213).cos().abs() * 0.5;
            let server = [(offset, lambda, 1 + (k % 3) as u8)];
            let mut a = daemon(NtpVersion::Ntp426, &server);
            let mut b = daemon(NtpVersion::Ntp428, &server);
            assert_eq!(select(&mut a), [SystemPeer]);
            assert_eq!(select(&mut b), [SystemPeer]);
            let two_ulps = 2.0 * offset.abs() * f64::EPSILON;
            for got in [a.sys_offset_s, b.sys_offset_s] {
                assert!((got - offset).abs() <= two_ulps, "{k}: {got} for {offset}");
            }
            assert_eq!(a.sys_jitter_s.to_bits(), b.sys_jitter_s.to_bits());
        }
    }

    /// `peer_unfit` (research/ntpd.md §1.4): a server is a candidate only
    /// while its root distance λ is below `sys_maxdist` + PHI·2^hpoll, the
    /// dispersion it may gather until its next poll. λ = 1.51 s passes at
    /// hpoll 10 (gate 1.5 + 15e-6·1024 = 1.51536 s), fails at hpoll 6 (gate
    /// 1.50096 s), and λ equal to the gate fails.
    #[test]
    fn distance_gate_is_maxdist_plus_phi_times_the_poll() {
        let gate_s = |hpoll: i32| MAXDIST_S + PHI_S_PER_S * 2f64.powi(hpoll);
        assert!((gate_s(10) - 1.51536).abs() < 1e-12);
        for version in [NtpVersion::Ntp428, NtpVersion::Ntp426] {
            for (lambda_s, hpoll, want) in [
                (1.51, 10, SystemPeer),
                (1.51, 6, Unfit),
                (gate_s(10), 10, Unfit),
            ] {
                let mut n = daemon(version, &[(0.0, lambda_s, 1)]);
                n.peers[0].hpoll = hpoll;
                assert_eq!(
                    select(&mut n),
                    [want],
                    "{version:?}: λ {lambda_s} s at hpoll {hpoll}"
                );
            }
        }
    }

    /// NTPsec leaves the peer dispersion out of λ (research/ntpd.md §1.4)
    /// and refuses instead a server whose dispersion reaches the same gate,
    /// `sys_maxdist` + PHI·2^hpoll (ntpsec issue 68). With 1.51 s of
    /// dispersion (λ is then the 1 ms floor) the server is fit at hpoll 10
    /// (gate 1.51536 s), unfit at hpoll 6 (gate 1.50096 s) and with a
    /// dispersion equal to the gate.
    #[test]
    fn ntpsec_refuses_a_dispersion_at_the_distance_gate() {
        let gate_10_s = MAXDIST_S + PHI_S_PER_S * 1024.0;
        for (disp_s, hpoll, want) in [
            (1.51, 10, SystemPeer),
            (1.51, 6, Unfit),
            (gate_10_s, 10, Unfit),
        ] {
            let mut n = daemon(NtpVersion::Ntpsec, &[(0.0, disp_s, 1)]);
            n.peers[0].hpoll = hpoll;
            assert_eq!(n.root_distance(0), MINDIST_S);
            assert_eq!(
                select(&mut n),
                [want],
                "dispersion {disp_s} s at hpoll {hpoll}"
            );
        }
    }

    /// `root_distance` is floored at `sys_mindist` = 1 ms (research/ntpd.md
    /// §1.4), so servers nearer than that weigh alike in the combination
    /// (§2 step 6, weights 1/λ). Offsets 0 and 0.1 ms with λ of 0.1 and
    /// 0.4 ms are taken as [−1, 1] and [−0.9, 1.1] ms: both survive in
    /// both releases (4.2.6's offsets lie strictly inside the intersection
    /// (−0.9, 1) ms) and the system offset is their plain mean, 0.05 ms.
    /// Unfloored weights 1/λ would give (0.1·2500)/12500 = 0.02 ms, and in
    /// 4.2.6 the intersection [−0.1, 0.1] ms would make the second a
    /// falseticker.
    #[test]
    fn root_distance_floor_makes_near_servers_weigh_alike() {
        for version in [NtpVersion::Ntp428, NtpVersion::Ntp426] {
            let mut n = daemon(version, &[(0.0, 1e-4, 1), (1e-4, 4e-4, 1)]);
            assert_eq!(select(&mut n), [SystemPeer, Survivor], "{version:?}");
            assert!(
                close(n.sys_offset_s, 5e-5),
                "{version:?}: {}",
                n.sys_offset_s
            );
        }
    }

    /// `clock_update` (ntp.org `ntp_proto.c`; research/ntpd.md §2 step 7):
    /// the root dispersion the clock passes on is the system peer's
    /// dispersion plus the system jitter, PHI times the age of the peer's
    /// sample and |θ_sys|, floored at `sys_mindisp` (1 ms); the error
    /// estimate adds half the root delay (the peer delay).
    ///
    /// * One server at −50 ms, dispersion 2 ms, delay 4 ms, sampled 100 s
    ///   ago: 0.002 + 0 + 0.0015 + 0.05 = 0.0535 s, estimate 0.0555 s.
    /// * One server at 0 with 0.2 ms of dispersion and no delay: the floor,
    ///   1 ms.
    /// * Servers at 0 and 2 ms, λ 10 ms each, no delay: θ_sys = 1 ms, system
    ///   jitter √(0.5·0.002² + 0.002²) = √6e-6 (§2 step 6), so
    ///   0.01 + √6e-6 + 0.001.
    #[test]
    fn root_dispersion_adds_the_system_jitter_age_and_offset() {
        let cases = [
            (vec![(-0.05, 0.002, 1)], 0.004, 900, 0.002 + 0.0535),
            (vec![(0.0, 2e-4, 1)], 0.0, 1000, MINDIST_S),
            (
                vec![(0.0, 0.01, 1), (0.002, 0.01, 1)],
                0.0,
                1000,
                0.011 + 6e-6f64.sqrt(),
            ),
        ];
        for (servers, delay_s, update, want_s) in cases {
            let mut n = daemon(NtpVersion::Ntp428, &servers);
            for p in &mut n.peers {
                p.delay = delay_s;
                p.update = update;
                p.epoch = 1000; // newer than sys_epoch: the clock is updated
            }
            n.clock_select();
            assert_eq!(n.sys_peer(), Some(0));
            let got_s = n.error_estimate().unwrap();
            assert!((got_s - want_s).abs() < 1e-12, "{servers:?}: {got_s} s");
        }
    }

    /// 4.2.6's intersection (module docs) takes `allow` = 0 when no
    /// midpoint lies outside [low, high], and inserts a value after the
    /// equal ones. Server 0: 0.5 ± 0.5, server 1: 0 ± 1, server 2:
    /// 0.5 ± 1, sorted −1, −0.5, 0 (lo 0), 0 (mid 1, after the equal lo
    /// 0), 0.5, 0.5, 1, 1, 1.5. The upward scan opens three intervals at
    /// lo 0 before passing mid 1 (low = 0), the downward one at the second
    /// 1 (high = 1), no midpoint passed: (0, 1). Server 1's offset 0 is not
    /// strictly inside: a falseticker. (With `allow` = 1 it would be
    /// (−0.5, 1) and server 1 a survivor.) 4.2.8 keeps all three: every
    /// interval overlaps [0, 1].
    #[test]
    fn offset_on_the_edge_of_the_full_intersection_is_a_426_falseticker() {
        let servers = [(0.5, 0.5, 1), (0.0, 1.0, 1), (0.5, 1.0, 1)];
        let mut n = daemon(NtpVersion::Ntp426, &servers);
        assert_eq!(select(&mut n), [SystemPeer, Falseticker, Survivor]);
        assert_eq!(n.sys_offset_s, 0.5);

        let mut n = daemon(NtpVersion::Ntp428, &servers);
        let sel = select(&mut n);
        assert!(!sel.contains(&Falseticker), "{sel:?}");
    }

    /// With two servers whose intervals, 0 ± 1 and 3 ± 1, are disjoint, no
    /// number of falsetickers below half of them (research/ntpd.md §2 step
    /// 2: `allow` = 0 only, 2·allow < n) gives high > low, so both releases
    /// keep no truechimer and no system peer.
    #[test]
    fn two_disjoint_intervals_leave_no_truechimer() {
        for version in [NtpVersion::Ntp428, NtpVersion::Ntp426] {
            let mut n = daemon(version, &[(0.0, 1.0, 1), (3.0, 1.0, 1)]);
            assert_eq!(select(&mut n), [Falseticker, Falseticker], "{version:?}");
            assert_eq!(n.sys_peer(), None);
        }
    }

    /// Anti-clockhop (research/ntpd.md §2 step 5): the metric φ·λ +
    /// 0.001·stratum prefers server 0 (stratum 1, λ 20 ms: 0.00101 s or
    /// less) over the old system peer, server 1 (stratum 2, λ 10 ms:
    /// 0.002 s or more). The old peer is kept while the offsets differ by
    /// less than a threshold that starts at 1 ms and halves at each
    /// selection: 0.3 ms apart it is kept twice (thresholds 1 and 0.5 ms)
    /// and dropped at the third (0.25 ms); 0.5 ms apart, kept once, dropped
    /// at the second (0.5 ms is not below 0.5 ms); 1 ms apart, dropped at
    /// once.
    #[test]
    fn clockhop_threshold_starts_at_1_ms_and_halves() {
        for (apart_s, kept) in [(3e-4, 2), (5e-4, 1), (1e-3, 0)] {
            let mut n = daemon(NtpVersion::Ntp428, &[(0.0, 0.02, 1), (apart_s, 0.01, 2)]);
            n.sys_peer = Some(1);
            for round in 0..=kept {
                let want = if round < kept {
                    [Survivor, SystemPeer]
                } else {
                    [SystemPeer, Survivor]
                };
                assert_eq!(select(&mut n), want, "{apart_s} s apart, selection {round}");
            }
        }
    }

    /// The cluster algorithm (research/ntpd.md §2 step 4) discards the
    /// survivor with the largest select jitter φ times λ (4.2.6: times its
    /// metric λ_next/1.5 + stratum) until three are left. Offsets 0, 1, 2
    /// and 2.5 ms give φ = 1.94, 1.19, 1.32 and 1.71 ms; server 3's λ of
    /// 100 ms (against 10 ms) and stratum 2 make its product the largest
    /// (4.2.8: 0.17 against at most 0.019 ms·s; 4.2.6: 3.5 against at most
    /// 1.95 ms), so it is the one discarded, not server 0 with the largest
    /// φ. (4.2.6's intersection is (−8, 10) ms, every offset strictly
    /// inside.)
    #[test]
    fn cluster_discards_the_largest_select_jitter_times_distance() {
        let servers = [
            (0.0, 0.01, 1),
            (0.001, 0.01, 1),
            (0.002, 0.01, 1),
            (0.0025, 0.1, 2),
        ];
        for version in [NtpVersion::Ntp428, NtpVersion::Ntp426] {
            let mut n = daemon(version, &servers);
            let sel = select(&mut n);
            assert_eq!(sel[3], Outlier, "{version:?}: {sel:?}");
            assert!(!sel[..3].contains(&Outlier), "{version:?}: {sel:?}");
        }
    }

    /// The cluster stops once the discard candidate's select jitter,
    /// floored at the precision 2^ρ, is no larger than the smallest peer
    /// jitter (research/ntpd.md §2 step 4: g = max(φ, 2^ρ) ≤ d). Four
    /// servers within 30 ns (φ below 40 ns):
    ///
    /// * 4.2.8 on a quiet LAN, every peer jitter at its floor 2^ρ: g = d,
    ///   all four survive.
    /// * NTPsec, whose peer jitters have no floor, at 2^ρ/2: g = 2^ρ > d,
    ///   one is discarded.
    /// * 4.2.6 with the offsets equal and peer jitters 2^ρ: it stops with
    ///   the last survivor's select jitter, 0 floored to 2^ρ, as the
    ///   system's select jitter, and the system jitter is that alone.
    #[test]
    fn cluster_stops_at_the_precision_floored_select_jitter() {
        let servers = [
            (0.0, 0.01, 1),
            (1e-8, 0.01, 1),
            (2e-8, 0.01, 1),
            (3e-8, 0.1, 1),
        ];
        for (version, jitter_rho, outliers) in
            [(NtpVersion::Ntp428, 1.0, 0), (NtpVersion::Ntpsec, 0.5, 1)]
        {
            let mut n = daemon(version, &servers);
            let rho_s = n.p.rho_s;
            for p in &mut n.peers {
                p.jitter = jitter_rho * rho_s;
            }
            let sel = select(&mut n);
            let got = sel.iter().filter(|&&c| c == Outlier).count();
            assert_eq!(got, outliers, "{version:?}: {sel:?}");
        }

        let mut n = daemon(NtpVersion::Ntp426, &[(0.0, 0.01, 1); 4]);
        let rho_s = n.p.rho_s;
        for p in &mut n.peers {
            p.jitter = rho_s;
        }
        assert_eq!(select(&mut n), [SystemPeer, Survivor, Survivor, Survivor]);
        assert_eq!(n.sys_jitter_s, rho_s);
    }

    /// 4.2.8's truechimers are the intervals that overlap [low, high],
    /// their ends included (research/ntpd.md §2 step 3: θ+λ ≥ low and
    /// θ−λ ≤ high), so an interval that only touches an edge of the
    /// intersection is kept. Every value is exact in binary.
    ///
    /// * [−2, 0], [0, 2], [0, 2] (offsets −1, 1, 1, λ 1): the selection
    ///   sort leaves the upper end 0 of server 0 before the lower ends 0,
    ///   so the count never reaches three (allow = 0 fails); with allow = 1
    ///   the upward scan stops at the second lower end 0 (low = 0) and the
    ///   downward one at the second 2 (high = 2). Server 0's θ+λ = 0 = low.
    /// * [0, 2], [−2, 0], [−2, 0] (offsets 1, −1, −1): sorted −2, −2, 0
    ///   (lower end of server 0), 0, 0, 2; with allow = 1, low = −2 and
    ///   high = 0 (allow = 0 gives the point 0, not accepted). Server 0's
    ///   θ−λ = 0 = high.
    ///
    /// All three survive (three is `sys_minclock`, no clustering); select
    /// jitters are 2 for server 0 and √2 for the others, so server 1 has
    /// the least metric φ·λ + 0.001 and the offset is the plain mean ±1/3.
    #[test]
    fn interval_touching_the_intersection_edge_is_a_428_truechimer() {
        for sign in [1.0, -1.0] {
            let servers = [(-sign, 1.0, 1), (sign, 1.0, 1), (sign, 1.0, 1)];
            let mut n = daemon(NtpVersion::Ntp428, &servers);
            assert_eq!(select(&mut n), [Survivor, SystemPeer, Survivor], "{sign}");
            assert!(
                close(n.sys_offset_s, sign / 3.0),
                "{sign}: {}",
                n.sys_offset_s
            );
        }
    }

    /// An intersection is accepted only if high > low (research/ntpd.md §2
    /// step 2); a single point makes the scans try one more falseticker.
    /// The 4.2.8 endpoints of [0, 2], [−2, 0] and [−2, 0], sorted −2, −2,
    /// 0 (lower), 0, 0 (upper), 2: with allow = 0 three intervals are open
    /// from the lower end 0 upwards and from the second upper end 0
    /// downwards, so low = high = 0; with allow = 1 two are open from the
    /// second −2 and from the first upper end 0 met downwards: (−2, 0).
    #[test]
    fn point_intersection_allows_one_more_falseticker() {
        let mut s = SelectScratch::default();
        s.endpoints.extend([
            (-2.0, -1),
            (-2.0, -1),
            (0.0, -1),
            (0.0, 1),
            (0.0, 1),
            (2.0, 1),
        ]);
        s.indx.extend(0..6);
        assert_eq!(intersection(&s, 3), (-2.0, 0.0));
    }

    /// When no number of falsetickers below half the candidates leaves
    /// n − allow intervals overlapping (research/ntpd.md §2 step 2), nobody
    /// survives. Server 0's 0 ± 1 holds the disjoint intervals −0.5, 0 and
    /// 0.5 ± 0.125, so at most two overlap anywhere, and four candidates
    /// need four (allow 0) or three (allow 1). Both scans then run to the
    /// end: low = 1 and high = −1, the ends of server 0's own interval,
    /// which an overlap test alone would keep; high ≤ low rejects every
    /// interval in 4.2.8, and 4.2.6 finds no offset inside (1, −1).
    #[test]
    fn failed_intersection_rejects_even_a_covering_interval() {
        let servers = [
            (0.0, 1.0, 1),
            (-0.5, 0.125, 1),
            (0.0, 0.125, 1),
            (0.5, 0.125, 1),
        ];
        for version in [NtpVersion::Ntp428, NtpVersion::Ntp426] {
            let mut n = daemon(version, &servers);
            assert_eq!(select(&mut n), [Falseticker; 4], "{version:?}");
        }
    }

    /// The mirror image of
    /// `offset_on_the_intersection_edge_is_a_falseticker_only_in_426`:
    /// 4.2.6 keeps only offsets strictly inside (low, high), so an offset
    /// equal to high is a falseticker too. Intervals [−1, 1], [−1, 0] and
    /// [−0.75, −0.25] (offsets 0, −0.5, −0.5), sorted −1 (lo 0), −1 (lo 1),
    /// −0.75, −0.5 (mid 1), −0.5 (mid 2), −0.25, 0 (mid 0), 0 (hi 1, after
    /// the equal mid 0), 1. With allow = 0 the downward scan passes mid 0
    /// before three intervals are open at −0.25: found = 1 exceeds allow;
    /// with allow = 1 the scans stop at the second −1 (low) and at hi 1
    /// (high = 0), passing no midpoint. Server 0's offset 0 equals high.
    /// Two survivors sorted by λ/1.5 + 1: server 2 heads the list; offset
    /// (−0.5/0.5 − 0.5/0.25)/(2 + 4) = −0.5.
    #[test]
    fn offset_on_the_upper_intersection_edge_is_a_426_falseticker() {
        let servers = [(0.0, 1.0, 1), (-0.5, 0.5, 1), (-0.5, 0.25, 1)];
        let mut n = daemon(NtpVersion::Ntp426, &servers);
        assert_eq!(select(&mut n), [Falseticker, Survivor, SystemPeer]);
        assert_eq!(n.sys_offset_s, -0.5);
    }

    /// 4.2.6 orders the truechimers by the root distance at the peer's next
    /// poll, (λ + PHI·(nextdate − now))/`sys_maxdist` + stratum. Both
    /// servers at offset 0 and stratum 1, server 0 with λ 10 ms, server 1
    /// with 20 ms (intersection (−10, 10) ms). Polled next now, server 0
    /// heads the list and is the system peer; polled next in 1024 s, its
    /// distance then, 0.01 + 15e-6·1024 = 25.36 ms, exceeds server 1's
    /// 20 ms, and server 1 is.
    #[test]
    fn the_426_order_uses_the_distance_at_the_next_poll() {
        for (ahead_s, want) in [(0, [SystemPeer, Survivor]), (1024, [Survivor, SystemPeer])] {
            let mut n = daemon(NtpVersion::Ntp426, &[(0.0, 0.01, 1), (0.0, 0.02, 1)]);
            n.peers[0].nextdate = n.now + ahead_s;
            assert_eq!(select(&mut n), want, "next poll in {ahead_s} s");
        }
    }

    /// 4.2.6's select jitter is the RMS offset difference over n − 1 (as in
    /// 4.2.8, research/ntpd.md §2 step 4), and its cluster loop stops once
    /// that of the last survivor in the list is no larger than the
    /// smallest peer jitter. Offsets 0, 0, 0 and 2 ms, peer jitters 1.9 ms,
    /// λ 11.9 ms each (intersection (−9.9, 11.9) ms; equal metrics keep
    /// server order). The last, server 3, has φ = √(3·(2 ms)²/3) = 2 ms,
    /// above 1.9 ms, so the largest φ × metric, server 3's (φ 2 ms against
    /// 1.15 ms), is discarded; three are left, the loop stops without a
    /// select jitter and the system jitter around three equal offsets is
    /// 0. (Over n, φ would be 1.73 ms and all four would stay.)
    #[test]
    fn the_426_select_jitter_divides_by_n_minus_1() {
        let servers = [
            (0.0, 0.01, 1),
            (0.0, 0.01, 1),
            (0.0, 0.01, 1),
            (0.002, 0.01, 1),
        ];
        let mut n = daemon(NtpVersion::Ntp426, &servers);
        for p in &mut n.peers {
            p.jitter = 0.0019;
        }
        assert_eq!(select(&mut n), [SystemPeer, Survivor, Survivor, Outlier]);
        assert_eq!(n.sys_jitter_s, 0.0);
    }
}
