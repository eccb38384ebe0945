//! `clock_select` and `clock_combine` (ntp.org 4.2.8 `ntp_proto.c`;
//! research/ntpd.md §2): intersection of correctness intervals, clustering,
//! system-peer choice with anti-clockhop, and the 1/λ-weighted combination.

use super::{MINDIST_S, Ntpd};

/// Minimum survivors kept by the cluster algorithm `sys_minclock` (§2 step 4).
const MINCLOCK: usize = 3;

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

/// One candidate (`peer_select` in the C code).
#[derive(Clone, Copy, Debug)]
struct Cand {
    peer: usize,
    /// Peer jitter, s.
    error: f64,
    /// Root distance λ, s.
    synch: f64,
    /// Selection jitter φ, s.
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
    pub fn with_capacity(n: usize) -> Self {
        SelectScratch {
            cands: Vec::with_capacity(n),
            endpoints: Vec::with_capacity(2 * n),
            indx: Vec::with_capacity(2 * n),
        }
    }
}

impl Ntpd {
    /// `clock_select`: pick the survivors and the system peer, combine, and
    /// update the clock if the system peer has a new sample.
    pub(super) fn clock_select(&mut self) {
        let mut s = std::mem::take(&mut self.scratch);
        let sp = self.select_into(&mut s);
        self.scratch = s;
        if let Some(sp) = sp {
            let counter = self.current_counter;
            self.clock_update(sp, counter);
        }
    }

    /// The selection proper; returns the system peer when the clock should
    /// be updated.
    fn select_into(&mut self, s: &mut SelectScratch) -> Option<usize> {
        let osys = self.sys_peer;
        s.cands.clear();
        s.endpoints.clear();
        s.indx.clear();
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
        let nlist = s.cands.len() as i32;
        let mut low = 1e9;
        let mut high = -1e9;
        let mut allow = 0;
        while 2 * allow < nlist {
            let mut n = 0;
            for i in 0..nl2 {
                let (v, t) = s.endpoints[s.indx[i]];
                low = v;
                n -= t;
                if n >= nlist - allow {
                    break;
                }
            }
            n = 0;
            for j in (0..nl2).rev() {
                let (v, t) = s.endpoints[s.indx[j]];
                high = v;
                n += t;
                if n >= nlist - allow {
                    break;
                }
            }
            if high > low {
                break;
            }
            allow += 1;
        }
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
        let mut typesystem = s.cands[speer].peer;
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
                        typesystem = o;
                    } else {
                        self.sys_clockhop_s = 0.0;
                    }
                } else {
                    self.sys_clockhop_s = 0.0;
                }
            }
            _ => self.sys_clockhop_s = 0.0,
        }
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
}
