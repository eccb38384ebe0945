//! Work a run can hand to a helper thread without changing its results.
//!
//! Two kinds of work in a run depend on nothing the rest of the run does
//! next, so a second core can take them:
//!
//! * **Inputs fixed in advance.** A crystal's noise is a realisation drawn
//!   from its own random stream, read point after point as simulated time
//!   passes. [`Ahead`] hands out such a sequence one value at a time,
//!   produced in blocks by a [`Source`]: in line, on the reader's thread,
//!   or on a helper thread that fills the next blocks while the reader
//!   consumes the current one.
//! * **Outputs nothing reads back.** Streaming statistics of the probes are
//!   only read at the end. [`Deferred`] takes blocks of values and folds
//!   them into a [`Fold`] state, in line or on a helper thread, and hands
//!   the state back when asked.
//!
//! Either way the values meet the same code in the same order, so a run's
//! results do not depend on where the work was done; the helper only moves
//! it to another core.
//!
//! ```
//! use sim_core::{Ahead, Deferred, Fold, Source};
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
//! #[derive(Default)]
//! struct Sum(u64);
//! impl Fold for Sum {
//!     type Item = u64;
//!     fn fold(&mut self, block: &[u64]) {
//!         self.0 += block.iter().sum::<u64>();
//!     }
//! }
//!
//! let mut squares = Ahead::inline(Squares(0));
//! squares.move_to_helper();
//! let mut sum = Deferred::inline(Sum::default());
//! sum.move_to_helper();
//! let mut block = Vec::new();
//! for _ in 0..100 {
//!     block.push(squares.next());
//!     if block.len() == 8 {
//!         sum.fold(&mut block);
//!     }
//! }
//! sum.fold(&mut block);
//! assert_eq!(sum.state_mut().0, (0..100).map(|i| i * i).sum());
//! ```

use crate::cores::Placement;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
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

/// Values per block on a helper thread, once it is under way: a hand-off (a
/// channel message and at most a thread wake-up) every 4096 values, 64 KiB
/// of a crystal's grid points, read in order while the helper fills the
/// next.
const HELPER_BLOCK: usize = 4096;

/// The helper's first block. The reader waits for it, so it is short; each
/// next block is 1.5 times as long, up to [`HELPER_BLOCK`]. Each block must
/// be filled while the reader reads the one before, and the noise helper
/// fills a crystal's grid only about 1.8 times as fast as a probe every
/// second reads it (64 M against 116 M instructions a day): the reader of
/// workload `a` waited ~0.13 ms for a first block of 256 values, against
/// ~0.28 ms for 4096, and going from 512 straight to 4096 made it wait for
/// the second block instead.
const FIRST_HELPER_BLOCK: usize = 256;

/// Blocks in circulation with a helper: one being read (or filled), the
/// rest filled ahead (or waiting to be folded).
const HELPER_BLOCKS: usize = 4;

/// A [`Source`]'s sequence, read one value at a time: generated in line,
/// or on a helper thread that fills blocks ahead of the reader. The reader
/// sees the same values either way.
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
    /// Set when the reader is dropped: the helper stops filling.
    stop: Arc<AtomicBool>,
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
    /// handed out first. Does nothing if a helper already does, or if no
    /// thread can be started (generation stays in line).
    ///
    /// The helper ends once `self` is dropped, within 256 values of the
    /// block it is filling; the drop does not wait for it.
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
                .send(Vec::with_capacity(HELPER_BLOCK))
                .expect("the receiver is alive");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        // Not joined: the thread owns all it uses, and waiting for it to
        // end cost a run's end 0.05–0.15 ms of thread wake-up.
        if let Err(source) = spawn_with("vtsim-ahead", source, move |source| {
            fill_ahead(source, &empty_rx, &full_tx, &stopped);
        }) {
            self.feed = Feed::Inline(source);
            return;
        }
        self.feed = Feed::Helper(Helper {
            full: Some(full_rx),
            empty: Some(empty_tx),
            stop,
        });
    }

    /// The source, while it generates in line.
    pub fn source_mut(&mut self) -> Option<&mut S> {
        match &mut self.feed {
            Feed::Inline(source) => Some(source),
            Feed::Helper(_) => None,
        }
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
                // Blocks generated in line before the move are too small
                // for the helper; they are dropped rather than passed on.
                if read.capacity() >= HELPER_BLOCK
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

/// Starts `work` on a new helper thread named `name`, on the CPUs a
/// [`crate::CoreSplit`] held by this thread reserves for helpers (if any).
fn spawn_helper<R: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<JoinHandle<R>> {
    let placement = Placement::for_new_helper();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            placement.apply();
            work()
        })
}

/// Starts `work` on a new thread named `name` and hands it `value`; if
/// the system cannot start a thread, gives `value` back, so the caller
/// goes on in line instead of failing.
fn spawn_with<T: Send + 'static, R: Send + 'static>(
    name: &str,
    value: T,
    work: impl FnOnce(T) -> R + Send + 'static,
) -> Result<JoinHandle<R>, T> {
    let (tx, rx) = channel();
    let spawned = spawn_helper(name, move || {
        let value = rx.recv().expect("sent once the thread has started");
        work(value)
    });
    match spawned {
        Ok(thread) => {
            tx.send(value).expect("the thread waits for it");
            Ok(thread)
        }
        Err(_) => Err(value),
    }
}

/// The helper thread: fills each returned block, in order, until the
/// reader hangs up; blocks grow from [`FIRST_HELPER_BLOCK`] values to
/// [`HELPER_BLOCK`]. A block is filled [`FIRST_HELPER_BLOCK`] values at a
/// time, so that once its reader is dropped the helper stops within a few
/// values instead of finishing the block (up to ~0.35 ms of a crystal's
/// noise, on a core the rest of the process may need).
fn fill_ahead<S: Source>(
    mut source: S,
    empty: &Receiver<Vec<S::Item>>,
    full: &SyncSender<Vec<S::Item>>,
    stop: &AtomicBool,
) {
    let mut len = FIRST_HELPER_BLOCK;
    while let Ok(mut block) = empty.recv() {
        block.resize(len, S::Item::default());
        for part in block.chunks_mut(FIRST_HELPER_BLOCK) {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            source.fill(part);
        }
        if full.send(block).is_err() {
            return;
        }
        len = (len + len / 2).min(HELPER_BLOCK);
    }
}

impl<T> Helper<T> {
    fn none() -> Self {
        Helper {
            full: None,
            empty: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<T> Drop for Helper<T> {
    fn drop(&mut self) {
        // Hanging up both channels ends the helper whether it waits for a
        // block to fill or has one to hand over; the flag, while it fills.
        self.stop.store(true, Ordering::Relaxed);
        self.full = None;
        self.empty = None;
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

/// A state that blocks of values are folded into, in order.
pub trait Fold: Send + 'static {
    /// The values folded in.
    type Item: Copy + Send + 'static;

    /// Folds `block`, the values after every block folded before.
    fn fold(&mut self, block: &[Self::Item]);
}

/// A [`Fold`] state that blocks of values are handed to: folded in line,
/// or on a helper thread while the writer goes on. The state is the same
/// either way once [`Deferred::state_mut`] hands it back.
pub struct Deferred<F: Fold> {
    sink: Sink<F>,
}

enum Sink<F: Fold> {
    Inline(F),
    Helper(FoldHelper<F>),
    /// Only while the state moves between the two.
    Moving,
}

/// The writer's ends of a helper thread's channels, and the state they
/// share.
struct FoldHelper<F: Fold> {
    /// Blocks to fold, in order.
    full: Option<SyncSender<Vec<F::Item>>>,
    /// Blocks folded, emptied for reuse.
    empty: Receiver<Vec<F::Item>>,
    /// Blocks created so far: at most [`HELPER_BLOCKS`] circulate.
    blocks: usize,
    /// Blocks handed over so far.
    sent: u64,
    /// The state, locked by the helper while it folds a block.
    shared: Arc<Shared<F>>,
    /// Joined only to pass on a panic.
    thread: Option<JoinHandle<()>>,
}

/// A state folded on a helper thread. The writer takes it back under the
/// lock once every block it handed over is folded: a helper that has kept
/// up is asleep by then, and the state comes back without waiting for it
/// to wake (a thread put to sleep took 0.05–0.1 ms to wake on the 2-core
/// machine of the benchmarks).
struct Shared<F> {
    folding: Mutex<Folding<F>>,
    /// Signalled after each block, and when the helper unwinds.
    folded_one: Condvar,
    /// Set when the writer is dropped: the helper stops at its next block.
    stop: AtomicBool,
}

struct Folding<F> {
    /// `None` once the writer has taken it back, or if folding panicked.
    state: Option<F>,
    /// Blocks folded so far; `u64::MAX` once the helper has panicked.
    folded: u64,
}

impl<F: Fold> Deferred<F> {
    /// Folds blocks on the writer's thread, as they are handed over.
    pub fn inline(state: F) -> Self {
        Deferred {
            sink: Sink::Inline(state),
        }
    }

    /// From now on, folds blocks on a helper thread, while the writer goes
    /// on. Does nothing if a helper already does, or if no thread can be
    /// started (folding stays in line).
    ///
    /// The helper ends once the state is taken back or `self` is dropped;
    /// neither waits for it.
    pub fn move_to_helper(&mut self) {
        let state = match std::mem::replace(&mut self.sink, Sink::Moving) {
            Sink::Inline(state) => state,
            other => {
                self.sink = other;
                return;
            }
        };
        let (full_tx, full_rx) = sync_channel(HELPER_BLOCKS);
        let (empty_tx, empty_rx) = channel();
        let shared = Arc::new(Shared {
            folding: Mutex::new(Folding {
                state: Some(state),
                folded: 0,
            }),
            folded_one: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let theirs = Arc::clone(&shared);
        let spawned = spawn_helper("vtsim-fold", move || {
            fold_behind(&theirs, &full_rx, &empty_tx);
        });
        let thread = match spawned {
            Ok(thread) => thread,
            Err(_) => {
                let state = shared.lock().state.take();
                self.sink = Sink::Inline(state.expect("no helper took it"));
                return;
            }
        };
        self.sink = Sink::Helper(FoldHelper {
            full: Some(full_tx),
            empty: empty_rx,
            blocks: 1,
            sent: 0,
            shared,
            thread: Some(thread),
        });
    }

    /// Folds `block` into the state, or hands it to the helper, and leaves
    /// `block` empty (with a folded block's capacity once blocks
    /// circulate). Waits only when the helper is four blocks behind.
    pub fn fold(&mut self, block: &mut Vec<F::Item>) {
        if block.is_empty() {
            return;
        }
        match &mut self.sink {
            Sink::Inline(state) => {
                state.fold(block);
                block.clear();
            }
            Sink::Helper(h) => {
                let next = match h.empty.try_recv() {
                    Ok(b) => b,
                    Err(TryRecvError::Empty) if h.blocks < HELPER_BLOCKS => {
                        h.blocks += 1;
                        Vec::with_capacity(block.capacity())
                    }
                    Err(_) => h
                        .empty
                        .recv()
                        .expect("the helper thread folds blocks until it is asked back"),
                };
                let full = std::mem::replace(block, next);
                h.full
                    .as_ref()
                    .expect("present until the helper is asked back")
                    .send(full)
                    .expect("the helper thread folds blocks until it is asked back");
                h.sent += 1;
            }
            Sink::Moving => unreachable!("the state is never left moving"),
        }
    }

    /// The state, with every block handed over so far folded in. With a
    /// helper, this waits for it to fold them and brings the state back to
    /// this thread: later blocks are folded in line.
    pub fn state_mut(&mut self) -> &mut F {
        if let Sink::Helper(h) = &mut self.sink {
            // The helper ends once it finds the channel closed.
            h.full = None;
            let mut folding = h.shared.lock();
            while folding.folded < h.sent {
                folding = h
                    .shared
                    .folded_one
                    .wait(folding)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let state = folding.state.take();
            drop(folding);
            let state = match state {
                Some(state) => state,
                None => match h.thread.take().map(JoinHandle::join) {
                    Some(Err(panic)) => std::panic::resume_unwind(panic),
                    _ => unreachable!("only a panicking helper loses the state"),
                },
            };
            self.sink = Sink::Inline(state);
        }
        match &mut self.sink {
            Sink::Inline(state) => state,
            _ => unreachable!("brought back above"),
        }
    }
}

impl<F> Shared<F> {
    /// The state and count, also after a panic while folding (the writer
    /// finds the state gone and passes the panic on).
    fn lock(&self) -> MutexGuard<'_, Folding<F>> {
        self.folding.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The helper thread: folds each block, in order, and returns it emptied,
/// until the writer hangs up, has taken the state back or is dropped.
fn fold_behind<F: Fold>(
    shared: &Shared<F>,
    full: &Receiver<Vec<F::Item>>,
    empty: &Sender<Vec<F::Item>>,
) {
    let _lost = LoseOnUnwind(shared);
    while let Ok(mut block) = full.recv() {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let mut folding = shared.lock();
        let Some(state) = folding.state.as_mut() else {
            return;
        };
        state.fold(&block);
        folding.folded += 1;
        drop(folding);
        shared.folded_one.notify_one();
        block.clear();
        // The writer may have stopped taking blocks back; that is no error.
        let _ = empty.send(block);
    }
}

/// Marks the state lost when the helper unwinds, so that a writer waiting
/// for it wakes up and passes the panic on.
struct LoseOnUnwind<'a, F>(&'a Shared<F>);

impl<F> Drop for LoseOnUnwind<'_, F> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut folding = self.0.lock();
            folding.state = None;
            folding.folded = u64::MAX;
            drop(folding);
            self.0.folded_one.notify_one();
        }
    }
}

impl<F: Fold> Drop for FoldHelper<F> {
    fn drop(&mut self) {
        // Not joined: the helper stops at its next block, and whichever
        // thread lets go of the state last drops it.
        self.shared.stop.store(true, Ordering::Relaxed);
        self.full = None;
    }
}

impl<F: Fold> std::fmt::Debug for Deferred<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sink = match self.sink {
            Sink::Inline(_) => "inline",
            Sink::Helper(_) => "helper thread",
            Sink::Moving => "moving",
        };
        f.debug_struct("Deferred").field("sink", &sink).finish()
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

    /// An order-sensitive fold: a hash of every value in sequence.
    #[derive(Debug, Default, PartialEq)]
    struct Hash(u64, usize);

    impl Fold for Hash {
        type Item = u64;
        fn fold(&mut self, block: &[u64]) {
            for &v in block {
                self.0 = (self.0 ^ v).wrapping_mul(0x100000001b3);
            }
            self.1 += block.len();
        }
    }

    proptest! {
        #[test]
        fn a_helper_folds_what_the_writer_would(
            blocks in proptest::collection::vec(0usize..300, 0..40),
            move_at in 0usize..40,
            ask_at in 0usize..40,
        ) {
            // Blocks of any length, the helper started part-way, the
            // state asked for (and the helper ended) part-way.
            let mut inline = Deferred::inline(Hash::default());
            let mut helped = Deferred::inline(Hash::default());
            let mut values = Chain(7);
            for (i, &len) in blocks.iter().enumerate() {
                if i == move_at {
                    helped.move_to_helper();
                }
                if i == ask_at {
                    prop_assert_eq!(inline.state_mut(), helped.state_mut());
                }
                let mut block = vec![0; len];
                values.fill(&mut block);
                let mut copy = block.clone();
                inline.fold(&mut block);
                helped.fold(&mut copy);
                prop_assert!(block.is_empty() && copy.is_empty());
            }
            prop_assert_eq!(inline.state_mut(), helped.state_mut());
            prop_assert_eq!(helped.state_mut().1, blocks.iter().sum::<usize>());
        }
    }

    /// A [`Chain`] that holds a token, so a test can see when the thread
    /// that owns it has let it go.
    struct Held {
        chain: Chain,
        _token: std::sync::Arc<()>,
    }

    impl Source for Held {
        type Item = u64;
        fn fill(&mut self, out: &mut [u64]) {
            self.chain.fill(out);
        }
    }

    #[test]
    fn dropping_the_reader_ends_the_helper() {
        // Dropped with the helper waiting for a block, filling one, and
        // with blocks still to hand over: the helper ends and drops its
        // source (the test would time out otherwise).
        for reads in [0, 5, HELPER_BLOCK * 3] {
            let token = std::sync::Arc::new(());
            let mut a = Ahead::inline(Held {
                chain: Chain(1),
                _token: std::sync::Arc::clone(&token),
            });
            a.move_to_helper();
            for _ in 0..reads {
                a.next();
            }
            drop(a);
            let start = std::time::Instant::now();
            while std::sync::Arc::strong_count(&token) > 1 {
                assert!(start.elapsed().as_secs() < 60, "the helper still runs");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }

    /// A [`Hash`] that holds a token, and panics on a block of length 13.
    struct HeldHash {
        hash: Hash,
        _token: std::sync::Arc<()>,
    }

    impl Fold for HeldHash {
        type Item = u64;
        fn fold(&mut self, block: &[u64]) {
            assert_ne!(block.len(), 13, "a block of 13");
            self.hash.fold(block);
        }
    }

    fn wait_until_released(token: &std::sync::Arc<()>) {
        let start = std::time::Instant::now();
        while std::sync::Arc::strong_count(token) > 1 {
            assert!(start.elapsed().as_secs() < 60, "the helper still runs");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn dropping_the_writer_ends_the_fold_helper() {
        // Dropped with blocks still queued, and with none: the helper ends
        // and the state is dropped.
        for blocks in [0, 10] {
            let token = std::sync::Arc::new(());
            let mut d = Deferred::inline(HeldHash {
                hash: Hash::default(),
                _token: std::sync::Arc::clone(&token),
            });
            d.move_to_helper();
            for _ in 0..blocks {
                d.fold(&mut vec![1; 1000]);
            }
            drop(d);
            wait_until_released(&token);
        }
    }

    #[test]
    fn a_panic_while_folding_reaches_the_writer() {
        let token = std::sync::Arc::new(());
        let mut d = Deferred::inline(HeldHash {
            hash: Hash::default(),
            _token: std::sync::Arc::clone(&token),
        });
        d.move_to_helper();
        d.fold(&mut vec![1; 100]);
        d.fold(&mut vec![2; 13]);
        let asked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.state_mut().hash.1));
        let panic = asked.expect_err("the helper's panic is passed on");
        let message = panic.downcast_ref::<String>().map(String::as_str);
        assert!(
            message.is_some_and(|m| m.contains("a block of 13")),
            "{message:?}"
        );
        drop(d);
        wait_until_released(&token);
    }
}
