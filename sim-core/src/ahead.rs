//! Sequences produced ahead, in blocks, optionally on a helper thread.
//!
//! Some inputs of a run are long sequences that depend on nothing the run
//! does: a crystal's noise, for one, is a fixed realisation drawn from its
//! own random stream, read point after point as simulated time passes.
//! [`Ahead`] hands out such a sequence one value at a time, produced in
//! blocks by a [`Source`]: in line, on the reader's thread, or on a helper
//! thread that fills the next blocks while the reader consumes the current
//! one. Either way the reader sees exactly the sequence the source
//! produces, so a run's results do not depend on where it was generated;
//! the helper only moves the work to another core.
//!
//! ```
//! use sim_core::{Ahead, Source};
//!
//! struct Squares(u64);
//! impl Source for Squares {
//!     type Item = u64;
//!     fn fill(&mut self, out: &mut [u64]) {
//!         for v in out {
//!             *v = self.0 * self.0;
//!             self.0 += 1;
//!         }
//!     }
//! }
//!
//! let mut inline = Ahead::inline(Squares(0));
//! let mut helped = Ahead::inline(Squares(0));
//! assert_eq!((inline.next(), helped.next()), (0, 0));
//! helped.move_to_helper();
//! for _ in 0..10_000 {
//!     assert_eq!(inline.next(), helped.next());
//! }
//! ```

use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

/// A generator of a sequence, filling blocks in order.
pub trait Source: Send + 'static {
    /// The values of the sequence.
    type Item: Copy + Default + Send + 'static;

    /// Writes the next `out.len()` values of the sequence into `out`.
    fn fill(&mut self, out: &mut [Self::Item]);
}

/// Values generated in line at a time: few, so that a sequence read
/// lazily is generated little further than it is read.
const INLINE_BLOCK: usize = 16;

/// Values per block on a helper thread: a hand-off (a channel message and
/// at most a thread wake-up) every 4096 values, and a block of `f64` is
/// 32 KiB, read in order while the helper fills the next.
const HELPER_BLOCK: usize = 4096;

/// Blocks in circulation with a helper: one being read, the rest filled or
/// being filled ahead.
const HELPER_BLOCKS: usize = 4;

/// A [`Source`]'s sequence, read one value at a time. See the
/// [module documentation](self).
pub struct Ahead<S: Source> {
    block: Vec<S::Item>,
    /// Index of the next value to hand out in `block`.
    next: usize,
    feed: Feed<S>,
}

enum Feed<S: Source> {
    Inline(S),
    Helper(Helper<S::Item>),
}

/// The reader's ends of a helper thread's channels.
struct Helper<T> {
    /// Filled blocks, in order.
    full: Option<Receiver<Vec<T>>>,
    /// Blocks read to the end, returned for refilling.
    empty: Option<Sender<Vec<T>>>,
    thread: Option<JoinHandle<()>>,
}

impl<S: Source> Ahead<S> {
    /// Generates `source`'s sequence on the reader's thread, a few values
    /// at a time.
    pub fn inline(source: S) -> Self {
        Ahead {
            block: Vec::new(),
            next: 0,
            feed: Feed::Inline(source),
        }
    }

    /// From now on, generates the sequence on a helper thread that works
    /// blocks ahead of the reader; the values already generated are still
    /// handed out first. Does nothing if a helper already does.
    ///
    /// The helper ends when `self` is dropped.
    pub fn move_to_helper(&mut self) {
        let source = match std::mem::replace(&mut self.feed, Feed::Helper(Helper::none())) {
            Feed::Inline(source) => source,
            helper => {
                self.feed = helper;
                return;
            }
        };
        let (full_tx, full_rx) = sync_channel(HELPER_BLOCKS);
        let (empty_tx, empty_rx) = channel();
        for _ in 0..HELPER_BLOCKS - 1 {
            empty_tx
                .send(vec![S::Item::default(); HELPER_BLOCK])
                .expect("the receiver is alive");
        }
        let thread = std::thread::Builder::new()
            .name("vtsim-ahead".into())
            .spawn(move || fill_ahead(source, &empty_rx, &full_tx))
            .expect("spawning a helper thread");
        self.feed = Feed::Helper(Helper {
            full: Some(full_rx),
            empty: Some(empty_tx),
            thread: Some(thread),
        });
    }

    /// The next value of the sequence.
    #[inline]
    // Not an `Iterator`: the sequence never ends, and `Option` would only
    // add a test to every read.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> S::Item {
        if self.next == self.block.len() {
            self.refill();
        }
        let v = self.block[self.next];
        self.next += 1;
        v
    }

    #[inline(never)]
    fn refill(&mut self) {
        match &mut self.feed {
            Feed::Inline(source) => {
                self.block.resize(INLINE_BLOCK, S::Item::default());
                source.fill(&mut self.block);
            }
            Feed::Helper(h) => {
                let next = h
                    .full
                    .as_ref()
                    .and_then(|full| full.recv().ok())
                    .expect("the helper thread fills blocks until it is dropped");
                let read = std::mem::replace(&mut self.block, next);
                // Blocks generated in line before the move are not the
                // helper's size; they are dropped rather than passed on.
                if read.len() == HELPER_BLOCK
                    && let Some(empty) = &h.empty
                {
                    // The helper only stops once `empty` is dropped.
                    let _ = empty.send(read);
                }
            }
        }
        self.next = 0;
    }
}

/// The helper thread: fills each returned block, in order, until the
/// reader hangs up.
fn fill_ahead<S: Source>(
    mut source: S,
    empty: &Receiver<Vec<S::Item>>,
    full: &SyncSender<Vec<S::Item>>,
) {
    while let Ok(mut block) = empty.recv() {
        source.fill(&mut block);
        if full.send(block).is_err() {
            return;
        }
    }
}

impl<T> Helper<T> {
    fn none() -> Self {
        Helper {
            full: None,
            empty: None,
            thread: None,
        }
    }
}

impl<T> Drop for Helper<T> {
    fn drop(&mut self) {
        // Hanging up both channels ends the helper whether it waits for a
        // block to fill or has one to hand over.
        self.full = None;
        self.empty = None;
        if let Some(thread) = self.thread.take() {
            // A helper that panicked has nothing left to report here: its
            // reader saw the channel close and panicked first.
            let _ = thread.join();
        }
    }
}

impl<S: Source> std::fmt::Debug for Ahead<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let feed = match self.feed {
            Feed::Inline(_) => "inline",
            Feed::Helper(_) => "helper thread",
        };
        f.debug_struct("Ahead")
            .field("buffered", &(self.block.len() - self.next))
            .field("feed", &feed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A sequence whose every value depends on all before it.
    struct Chain(u64);

    impl Source for Chain {
        type Item = u64;
        fn fill(&mut self, out: &mut [u64]) {
            for v in out {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *v = self.0;
            }
        }
    }

    proptest! {
        #[test]
        fn a_helper_hands_out_the_inline_sequence(
            seed: u64,
            before in 0usize..40,
            after in 0usize..20_000,
        ) {
            let mut inline = Ahead::inline(Chain(seed));
            let mut helped = Ahead::inline(Chain(seed));
            for _ in 0..before {
                prop_assert_eq!(inline.next(), helped.next());
            }
            helped.move_to_helper();
            helped.move_to_helper();
            for _ in 0..after {
                prop_assert_eq!(inline.next(), helped.next());
            }
        }
    }

    #[test]
    fn dropping_the_reader_ends_the_helper() {
        // Dropped with the helper waiting for a block, and with blocks
        // still to hand over: both return (the test would hang otherwise).
        for reads in [0, 5, HELPER_BLOCK * 3] {
            let mut a = Ahead::inline(Chain(1));
            a.move_to_helper();
            for _ in 0..reads {
                a.next();
            }
            drop(a);
        }
    }
}
