//! The run loop.
//!
//! A [`Model`] owns all simulated state and reacts to its own events; the
//! engine only pops the earliest event, advances the clock and hands the event
//! to the model together with a [`Scheduler`] for follow-up events. Nothing
//! here knows about clocks or networks.
//!
//! A periodic event, such as the sampling of every clock on a fixed grid,
//! can be handed to the engine once ([`Engine::schedule_every`]): it is
//! delivered at every period without entering the queue, in the order it
//! would have had there.
//!
//! ```
//! use sim_core::{Engine, Model, Scheduler, SimDuration, SimTime};
//!
//! /// Counts ticks of a 1 s periodic timer.
//! struct Ticker { ticks: u32 }
//! impl Model for Ticker {
//!     type Event = ();
//!     fn handle(&mut self, now: SimTime, _: (), s: &mut Scheduler<()>) {
//!         self.ticks += 1;
//!         s.schedule(now + SimDuration::from_secs(1), ());
//!     }
//! }
//!
//! let mut engine = Engine::new(Ticker { ticks: 0 });
//! engine.schedule(SimTime::ZERO, ());
//! engine.run_until(SimTime::from_secs(10));
//! assert_eq!(engine.model().ticks, 11); // t = 0, 1, ..., 10 inclusive
//! ```

use crate::{EventQueue, SimDuration, SimTime};

/// Simulated state that reacts to events.
pub trait Model {
    /// The model's event type.
    type Event;
    /// Handles one event at true time `now`; follow-ups go to `sched`.
    fn handle(&mut self, now: SimTime, event: Self::Event, sched: &mut Scheduler<Self::Event>);
}

/// The handle a model uses to schedule events.
pub struct Scheduler<E> {
    queue: EventQueue<E>,
    now: SimTime,
}

impl<E> Scheduler<E> {
    /// Schedules `event` at `time`. Times in the past are moved to now, so
    /// causality holds even if a model miscomputes a delay.
    pub fn schedule(&mut self, time: SimTime, event: E) {
        self.queue.push(time.max(self.now), event);
    }

    /// The current true time.
    pub fn now(&self) -> SimTime {
        self.now
    }
}

/// Counters reported by a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Events handled.
    pub events: u64,
    /// True time at which the run stopped.
    pub end: SimTime,
}

/// An event the engine delivers every `every`, kept out of the queue.
struct Periodic<E> {
    next: SimTime,
    /// Its rank among events due at `next`, as if it had been pushed when
    /// it was last delivered.
    seq: u64,
    every: SimDuration,
    event: E,
}

/// Drives a [`Model`] through time.
pub struct Engine<M: Model> {
    model: M,
    sched: Scheduler<M::Event>,
    periodic: Vec<Periodic<M::Event>>,
    /// The earliest periodic event's rank `(next, seq)` and index, kept so
    /// that a run without periodic events pays one check per event.
    next_periodic: Option<((SimTime, u64), usize)>,
    events: u64,
}

impl<M: Model> Engine<M>
where
    M::Event: Clone,
{
    /// An engine at time zero with an empty queue.
    pub fn new(model: M) -> Self {
        Engine {
            model,
            sched: Scheduler {
                queue: EventQueue::with_capacity(1024),
                now: SimTime::ZERO,
            },
            periodic: Vec::new(),
            next_periodic: None,
            events: 0,
        }
    }

    /// Schedules an initial event.
    pub fn schedule(&mut self, time: SimTime, event: M::Event) {
        self.sched.schedule(time, event);
    }

    /// Delivers `event` at `first` and every `every` after it, for the whole
    /// run: the periodic sampling a simulation does at every step of its
    /// grid. The event never enters the queue, which saves a push and a pop
    /// per delivery, yet it is ordered exactly as if it had been scheduled
    /// now and its handler re-scheduled it `every` later as its last action:
    /// ties with queued events go by scheduling order.
    ///
    /// `every` must be positive (a zero period would deliver forever).
    pub fn schedule_every(&mut self, first: SimTime, every: SimDuration, event: M::Event) {
        assert!(every > SimDuration::ZERO, "a periodic event needs a period");
        let seq = self.sched.queue.reserve_seq();
        self.periodic.push(Periodic {
            next: first.max(self.sched.now),
            seq,
            every,
            event,
        });
        self.update_next_periodic();
    }

    fn update_next_periodic(&mut self) {
        self.next_periodic = self
            .periodic
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.next, p.seq), i))
            .min();
    }

    /// Handles every event due at or before `stop`, in time order, then
    /// leaves the clock at `stop`. Events after `stop` stay queued, so a run
    /// can continue in slices (e.g. to report progress).
    pub fn run_until(&mut self, stop: SimTime) -> RunStats {
        loop {
            let queued = self.sched.queue.peek_rank();
            if let Some(((t, seq), i)) = self.next_periodic
                && queued.is_none_or(|q| (t, seq) < q)
            {
                if t > stop {
                    break;
                }
                self.sched.now = t;
                self.events += 1;
                let event = self.periodic[i].event.clone();
                self.model.handle(t, event, &mut self.sched);
                let seq = self.sched.queue.reserve_seq();
                let p = &mut self.periodic[i];
                p.next = t + p.every;
                p.seq = seq;
                self.update_next_periodic();
                continue;
            }
            let Some((t, _)) = queued else {
                break;
            };
            if t > stop {
                break;
            }
            let Some((t, ev)) = self.sched.queue.pop() else {
                break;
            };
            self.sched.now = t;
            self.events += 1;
            self.model.handle(t, ev, &mut self.sched);
        }
        self.sched.now = self.sched.now.max(stop);
        RunStats {
            events: self.events,
            end: self.sched.now,
        }
    }

    /// The current true time.
    pub fn now(&self) -> SimTime {
        self.sched.now
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, mutably (e.g. to read and reset probes between slices).
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// Consumes the engine and returns the model.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Events handled so far.
    pub fn events(&self) -> u64 {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimDuration;

    struct Recorder(Vec<(u64, u32)>);
    impl Model for Recorder {
        type Event = u32;
        fn handle(&mut self, now: SimTime, ev: u32, s: &mut Scheduler<u32>) {
            self.0.push((now.as_nanos(), ev));
            if ev < 3 {
                // a follow-up "in the past" is clamped to now, never reordered before it
                s.schedule(SimTime::ZERO, ev + 10);
                s.schedule(now + SimDuration::from_nanos(5), ev + 1);
            }
        }
    }

    #[test]
    fn runs_in_slices_and_clamps_past_events() {
        let mut e = Engine::new(Recorder(Vec::new()));
        e.schedule(SimTime::from_nanos(1), 0);
        let s = e.run_until(SimTime::from_nanos(7));
        assert_eq!(s.end, SimTime::from_nanos(7));
        assert_eq!(e.model().0, vec![(1, 0), (1, 10), (6, 1), (6, 11)]);
        e.run_until(SimTime::from_nanos(100));
        assert_eq!(e.model().0.len(), 7);
        assert_eq!(e.events(), 7);
    }

    /// Logs the times of its events and schedules nothing.
    struct Times(Vec<u64>);
    impl Model for Times {
        type Event = ();
        fn handle(&mut self, now: SimTime, _: (), _: &mut Scheduler<()>) {
            self.0.push(now.as_nanos());
        }
    }

    #[test]
    fn a_periodic_event_starting_in_the_past_starts_now() {
        // Handed over at 10 ns with a first instant of 3 ns, a periodic
        // event is delivered at 10, 15, 20 ns: like a queued event, it is
        // moved to now, and the clock never runs backwards.
        let mut e = Engine::new(Times(Vec::new()));
        e.run_until(SimTime::from_nanos(10));
        e.schedule_every(SimTime::from_nanos(3), SimDuration::from_nanos(5), ());
        let s = e.run_until(SimTime::from_nanos(20));
        assert_eq!(e.model().0, vec![10, 15, 20]);
        assert_eq!(s.end, SimTime::from_nanos(20));
    }

    /// Event `k` re-arms itself `periods_ns[k]` later when `rearm` is set.
    struct Rearm {
        log: Vec<(u64, usize)>,
        periods_ns: [u64; 2],
        rearm: bool,
    }
    impl Model for Rearm {
        type Event = usize;
        fn handle(&mut self, now: SimTime, k: usize, s: &mut Scheduler<usize>) {
            self.log.push((now.as_nanos(), k));
            if self.rearm {
                s.schedule(now + SimDuration::from_nanos(self.periods_ns[k]), k);
            }
        }
    }

    #[test]
    fn two_periodic_events_interleave_as_if_queued() {
        // Periods of 3 and 5 ns from 0: every instant of either grid, in
        // time order, and at common instants (0, 15, 30, …) in the order
        // of their last scheduling, as two self-re-arming queued events.
        let run = |periodic: bool| {
            let mut e = Engine::new(Rearm {
                log: Vec::new(),
                periods_ns: [3, 5],
                rearm: !periodic,
            });
            for k in 0..2 {
                let period = SimDuration::from_nanos(e.model().periods_ns[k]);
                if periodic {
                    e.schedule_every(SimTime::ZERO, period, k);
                } else {
                    e.schedule(SimTime::ZERO, k);
                }
            }
            e.run_until(SimTime::from_nanos(60));
            e.into_model().log
        };
        let queued = run(false);
        assert_eq!(queued.len(), 21 + 13);
        assert_eq!(run(true), queued);
    }

    /// Events `Some(k)` are scheduled work that re-schedules itself
    /// pseudo-randomly (often onto the periodic instants, to exercise ties);
    /// `None` is the periodic sample, which schedules work and, in the
    /// queue-based reference only, re-arms itself last.
    struct Mixed {
        log: Vec<(u64, Option<u32>)>,
        rearm_sample: bool,
        state: u64,
        /// The sampling grid is `grid_phase + 10·k` ns.
        grid_phase: u64,
    }
    impl Model for Mixed {
        type Event = Option<u32>;
        fn handle(&mut self, now: SimTime, ev: Option<u32>, s: &mut Scheduler<Option<u32>>) {
            self.log.push((now.as_nanos(), ev));
            match ev {
                Some(k) => {
                    self.state = self
                        .state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = self.state >> 33;
                    // Delays of 0..=20 ns; a third land on the next sample.
                    let d = if r.is_multiple_of(3) {
                        10 - (now.as_nanos() + 10 - self.grid_phase) % 10
                    } else {
                        r % 21
                    };
                    if k < 400 {
                        s.schedule(now + SimDuration::from_nanos(d), Some(k + 4));
                    }
                }
                None => {
                    // Work due at the next sample, scheduled before the
                    // sample re-arms: it must run first there.
                    s.schedule(now + SimDuration::from_nanos(10), Some(1000));
                    if self.rearm_sample {
                        s.schedule(now + SimDuration::from_nanos(10), None);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn periodic_events_order_as_if_queued(seed in 0u64..1000, first in 0u64..15, slices in 1u64..5) {
            let run = |periodic: bool| {
                let mut e = Engine::new(Mixed {
                    log: Vec::new(),
                    rearm_sample: !periodic,
                    state: seed,
                    grid_phase: first % 10,
                });
                if periodic {
                    e.schedule_every(SimTime::from_nanos(first), SimDuration::from_nanos(10), None);
                } else {
                    e.schedule(SimTime::from_nanos(first), None);
                }
                for k in 0..4 {
                    e.schedule(SimTime::from_nanos(k * 3), Some(k as u32));
                }
                let end = 1000;
                for i in 1..=slices {
                    e.run_until(SimTime::from_nanos(end * i / slices));
                }
                (e.events(), e.into_model().log)
            };
            let (n_queued, queued) = run(false);
            let (n_periodic, periodic) = run(true);
            proptest::prop_assert!(queued.iter().filter(|x| x.1.is_none()).count() > 90);
            proptest::prop_assert_eq!(n_queued, n_periodic);
            proptest::prop_assert_eq!(queued, periodic);
        }
    }
}
