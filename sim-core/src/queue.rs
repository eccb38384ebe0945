//! The event queue: a binary heap keyed by (time, insertion sequence).
//!
//! Events scheduled for the same instant pop in the order they were pushed,
//! so a run is deterministic without any floating-point tie-breaking. Push
//! and pop are O(log n) and, once the heap has grown to its working size,
//! allocation-free.
//!
//! ```
//! use sim_core::{EventQueue, SimTime};
//! let mut q = EventQueue::new();
//! q.push(SimTime::from_secs(2), "late");
//! q.push(SimTime::from_secs(1), "first");
//! q.push(SimTime::from_secs(1), "second");
//! assert_eq!(q.pop(), Some((SimTime::from_secs(1), "first")));
//! assert_eq!(q.pop(), Some((SimTime::from_secs(1), "second")));
//! assert_eq!(q.pop(), Some((SimTime::from_secs(2), "late")));
//! assert_eq!(q.pop(), None);
//! ```

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::SimTime;

/// A heap entry: the ordering key and where the event waits. Keeping the
/// (possibly large) event out of the heap makes every sift move 24 bytes.
struct Key {
    time: SimTime,
    seq: u64,
    slot: u32,
}

impl Key {
    /// `(time, seq)` as one integer with the same order.
    #[inline]
    fn rank(&self) -> u128 {
        (u128::from(self.time.as_nanos()) << 64) | u128::from(self.seq)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (time, seq) is on top.
        // One 128-bit comparison instead of two branches: heap sifts run
        // it at every level of every push and pop.
        other.rank().cmp(&self.rank())
    }
}

/// Pending events ordered by time, ties in insertion order.
pub struct EventQueue<E> {
    heap: BinaryHeap<Key>,
    /// Events by slot; `None` marks a free slot (listed in `free`).
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty queue with room for `n` pending events.
    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(n),
            slots: Vec::with_capacity(n),
            free: Vec::with_capacity(n),
            next_seq: 0,
        }
    }

    /// Schedules `event` at `time`.
    ///
    /// # Panics
    /// If more than `u32::MAX` events are pending at once.
    pub fn push(&mut self, time: SimTime, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 pending events");
                self.slots.push(Some(event));
                slot
            }
        };
        self.heap.push(Key { time, seq, slot });
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let key = self.heap.pop()?;
        let event = self.slots[key.slot as usize].take()?;
        self.free.push(key.slot);
        Some((key.time, event))
    }

    /// The time of the earliest event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|k| k.time)
    }

    /// The earliest event's time and insertion sequence, the pair events
    /// are ordered by.
    pub fn peek_rank(&self) -> Option<(SimTime, u64)> {
        self.heap.peek().map(|k| (k.time, k.seq))
    }

    /// Takes the next insertion sequence number without inserting, for an
    /// event kept outside the queue that must order against queued ones as
    /// if it had been pushed now.
    pub fn reserve_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the push order, pops come out sorted by time and, within
        /// one time, in push order: the ordering is total and deterministic.
        #[test]
        fn pops_sorted_and_fifo_within_ties(times in proptest::collection::vec(0u64..50, 0..300)) {
            let mut q = EventQueue::new();
            for (i, t) in times.iter().enumerate() {
                q.push(SimTime::from_nanos(*t), i);
            }
            let mut expected: Vec<(u64, usize)> = times.iter().copied().zip(0..).collect();
            expected.sort(); // by time, then by push index
            let got: Vec<(u64, usize)> = std::iter::from_fn(|| q.pop())
                .map(|(t, i)| (t.as_nanos(), i))
                .collect();
            prop_assert_eq!(got, expected);
        }

        /// Pushes and pops interleaved (`None` = pop) agree with a sorted
        /// reference at every step, as a simulation interleaves them.
        #[test]
        fn interleaved_pushes_and_pops_match_a_sorted_reference(
            ops in proptest::collection::vec(proptest::option::of(0u64..40), 0..400)
        ) {
            let mut q = EventQueue::new();
            let mut reference: std::collections::BTreeSet<(u64, usize)> = Default::default();
            for (i, op) in ops.iter().enumerate() {
                match op {
                    Some(t) => {
                        q.push(SimTime::from_nanos(*t), i);
                        reference.insert((*t, i));
                    }
                    None => {
                        let got = q.pop().map(|(t, i)| (t.as_nanos(), i));
                        prop_assert_eq!(got, reference.pop_first());
                    }
                }
                prop_assert_eq!(q.len(), reference.len());
                prop_assert_eq!(q.peek_time().map(SimTime::as_nanos), reference.first().map(|e| e.0));
            }
        }
    }
}
