//! The run loop.
//!
//! A [`Model`] owns all simulated state and reacts to its own events; the
//! engine only pops the earliest event, advances the clock and hands the event
//! to the model together with a [`Scheduler`] for follow-up events. Nothing
//! here knows about clocks or networks.
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

use crate::{EventQueue, SimTime};

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

/// Drives a [`Model`] through time.
pub struct Engine<M: Model> {
    model: M,
    sched: Scheduler<M::Event>,
    events: u64,
}

impl<M: Model> Engine<M> {
    /// An engine at time zero with an empty queue.
    pub fn new(model: M) -> Self {
        Engine {
            model,
            sched: Scheduler {
                queue: EventQueue::with_capacity(1024),
                now: SimTime::ZERO,
            },
            events: 0,
        }
    }

    /// Schedules an initial event.
    pub fn schedule(&mut self, time: SimTime, event: M::Event) {
        self.sched.schedule(time, event);
    }

    /// Handles every event due at or before `stop`, in time order, then
    /// leaves the clock at `stop`. Events after `stop` stay queued, so a run
    /// can continue in slices (e.g. to report progress).
    pub fn run_until(&mut self, stop: SimTime) -> RunStats {
        while let Some(t) = self.sched.queue.peek_time() {
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
}
