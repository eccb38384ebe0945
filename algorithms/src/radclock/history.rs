//! Circular stamp history indexed by stamp number.
//!
//! The reference code keeps one circular buffer per quantity (stamps, RTT,
//! RTT floor, naive offsets), all addressed by the global stamp index modulo
//! the buffer size. Here one buffer of records does the same job: the slot
//! of stamp `i` is `i % capacity`, and a lookup is only valid for the last
//! `capacity` stamps. The capacity is fixed at construction from the
//! windows, so nothing is allocated per stamp.

use crate::clock::ticks_between;

/// One bidirectional stamp (`struct bidir_stamp`, research §1.1).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Stamp {
    /// Client counter when the request left, ticks.
    pub ta: u64,
    /// Server receive time, seconds.
    pub tb: f64,
    /// Server transmit time, seconds.
    pub te: f64,
    /// Client counter when the reply arrived, ticks.
    pub tf: u64,
}

impl Stamp {
    /// Round-trip time in counter ticks, including server residence (`Tf − Ta`).
    pub fn rtt(&self) -> u64 {
        self.tf.wrapping_sub(self.ta).max(1)
    }
}

/// What the algorithm remembers about each stamp.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Record {
    /// The stamp.
    pub stamp: Stamp,
    /// Its RTT, ticks.
    pub rtt: u64,
    /// The RTT floor that applies to it (shift-corrected), ticks.
    rtthat: u64,
    /// `rtt − rtthat` as `ticks_between` gives it (kept with `rtthat`).
    excess_ticks: f64,
    /// Tf of this stamp minus Tf of the stamp before it, ticks (0 for the
    /// first stamp).
    pub gap_ticks: f64,
    /// Its naive offset, seconds.
    pub th_naive_s: f64,
}

impl Record {
    /// The record of `stamp` of RTT `rtt` under the floor `rtthat`, whose
    /// predecessor's reply arrived at `prev_tf` (`None` for the first).
    pub fn new(stamp: Stamp, rtt: u64, rtthat: u64, prev_tf: Option<u64>) -> Self {
        Record {
            stamp,
            rtt,
            rtthat,
            excess_ticks: ticks_between(rtthat, rtt),
            gap_ticks: prev_tf.map_or(0.0, |tf| ticks_between(tf, stamp.tf)),
            th_naive_s: 0.0,
        }
    }

    /// The RTT floor that applies to the stamp, ticks.
    #[cfg(test)]
    pub fn rtthat(&self) -> u64 {
        self.rtthat
    }

    /// Sets the RTT floor that applies to the stamp.
    pub fn set_rtthat(&mut self, rtthat: u64) {
        self.rtthat = rtthat;
        self.excess_ticks = ticks_between(rtthat, self.rtt);
    }

    /// `rtt − rtthat` in ticks (signed: the floor may exceed an old
    /// stamp's RTT after forgetting).
    pub fn excess_ticks(&self) -> f64 {
        self.excess_ticks
    }
}

/// Fixed-capacity circular history.
#[derive(Clone, Debug)]
pub(crate) struct History {
    records: Vec<Record>,
    /// Index of the newest stamp stored, if any.
    latest: Option<u64>,
}

impl History {
    /// An empty history holding the last `capacity` stamps.
    pub fn new(capacity: u64) -> Self {
        History {
            records: vec![Record::default(); capacity.max(1) as usize],
            latest: None,
        }
    }

    fn slot(&self, i: u64) -> usize {
        (i % self.records.len() as u64) as usize
    }

    /// Stores stamp `i` (indices must be pushed in order).
    pub fn push(&mut self, i: u64, rec: Record) {
        let s = self.slot(i);
        self.records[s] = rec;
        self.latest = Some(i);
    }

    /// The oldest index still held (`history_end` of the reference).
    pub fn oldest(&self) -> u64 {
        match self.latest {
            Some(l) => (l + 1).saturating_sub(self.records.len() as u64),
            None => 0,
        }
    }

    /// The record of stamp `i` (which must be held).
    pub fn get(&self, i: u64) -> &Record {
        debug_assert!(
            self.latest.is_some_and(|l| i <= l && i >= self.oldest()),
            "stamp {i} not held"
        );
        &self.records[self.slot(i)]
    }

    /// Calls `f` on the records of stamps `lo..=hi` (all held), newest
    /// first. The ring holds them as at most two runs of slots, each walked
    /// as a plain loop (no division per stamp).
    #[inline]
    pub fn for_each_newest_first(&self, lo: u64, hi: u64, mut f: impl FnMut(&Record)) {
        let (older, newer) = self.runs(lo, hi);
        newer.iter().rev().for_each(&mut f);
        older.iter().rev().for_each(f);
    }

    /// Stamps `lo..=hi` as `(older, newer)` runs of slots: the window is
    /// `older` followed by `newer`.
    fn runs(&self, lo: u64, hi: u64) -> (&[Record], &[Record]) {
        debug_assert!(lo <= hi, "empty window [{lo}, {hi}]");
        debug_assert!(
            self.latest.is_some_and(|l| hi <= l && lo >= self.oldest()),
            "window [{lo}, {hi}] not held"
        );
        let len = self.records.len();
        let n = ((hi - lo + 1) as usize).min(len);
        let end = self.slot(hi) + 1;
        if n <= end {
            (&self.records[end - n..end], &[])
        } else {
            (&self.records[len - (n - end)..], &self.records[..end])
        }
    }

    /// Mutable record of stamp `i`.
    pub fn get_mut(&mut self, i: u64) -> &mut Record {
        let s = self.slot(i);
        &mut self.records[s]
    }

    /// Every held record, in slot order (for bulk rewrites).
    pub fn records_mut(&mut self) -> &mut [Record] {
        &mut self.records
    }

    /// Index of the smallest RTT in `[lo, hi]`; the earliest wins ties
    /// (`history_min`).
    pub fn argmin_rtt(&self, lo: u64, hi: u64) -> u64 {
        let mut best = lo;
        let mut best_rtt = self.get(lo).rtt;
        for j in lo + 1..=hi {
            let r = self.get(j).rtt;
            if r < best_rtt {
                best = j;
                best_rtt = r;
            }
        }
        best
    }

    /// Slides a window `[lo, hi]` whose minimum is at `cur` to `[lo+1, hi+1]`
    /// (`history_min_slide`): rescans only when the minimum leaves, over the
    /// whole new window (the reference leaves the entering stamp out of that
    /// rescan; module docs of [`super`]).
    pub fn argmin_rtt_slide(&self, cur: u64, lo: u64, hi: u64) -> u64 {
        if cur <= lo {
            self.argmin_rtt(lo + 1, hi + 1)
        } else if self.get(hi + 1).rtt < self.get(cur).rtt {
            hi + 1
        } else {
            cur
        }
    }

    /// Slides the minimum *value* `cur` of `[lo, hi]` to `[lo+1, hi+1]`
    /// (`history_min_slide_value`).
    pub fn min_rtt_slide_value(&self, cur: u64, lo: u64, hi: u64) -> u64 {
        if self.get(lo).rtt == cur {
            let j = self.argmin_rtt(lo + 1, hi + 1);
            self.get(j).rtt
        } else {
            cur.min(self.get(hi + 1).rtt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(rtt: u64) -> Record {
        Record {
            rtt,
            ..Default::default()
        }
    }

    #[test]
    fn ring_keeps_the_last_stamps_and_slides_minima() {
        let mut h = History::new(4);
        for (i, r) in [5u64, 3, 3, 7, 9, 8].into_iter().enumerate() {
            h.push(i as u64, rec(r));
        }
        assert_eq!(h.oldest(), 2);
        assert_eq!(h.get(5).rtt, 8);
        assert_eq!(h.argmin_rtt(2, 5), 2);
        // [2,4] -> [3,5]: the minimum (index 2) leaves, rescan finds 3 (rtt 7).
        assert_eq!(h.argmin_rtt_slide(2, 2, 4), 3);
        assert_eq!(h.min_rtt_slide_value(3, 2, 4), 7);
        let mut e = History::new(3);
        for (i, r) in [4u64, 2, 2].into_iter().enumerate() {
            e.push(i as u64, rec(r));
        }
        // Ties: the earliest index wins.
        assert_eq!(e.argmin_rtt(0, 2), 1);
        // Windows walk the ring newest first, across the wrap or not.
        let rtts = |h: &History, lo, hi| {
            let mut v = Vec::new();
            h.for_each_newest_first(lo, hi, |r| v.push(r.rtt));
            v
        };
        assert_eq!(rtts(&h, 2, 5), [8, 9, 7, 3]);
        assert_eq!(rtts(&h, 3, 4), [9, 7]);
        assert_eq!(rtts(&h, 5, 5), [8]);
        assert_eq!(rtts(&h, 2, 3), [7, 3]);
        // The cached floor excess and gaps follow the stamps.
        let mut r = Record::new(
            Stamp {
                ta: 10,
                tb: 1.0,
                te: 1.0,
                tf: 30,
            },
            20,
            25,
            Some(12),
        );
        assert_eq!((r.excess_ticks(), r.gap_ticks), (-5.0, 18.0));
        r.set_rtthat(4);
        assert_eq!((r.rtthat(), r.excess_ticks()), (4, 16.0));
    }
}
