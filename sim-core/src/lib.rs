//! # sim-core: the vtsim engine
//!
//! The smallest possible discrete-event core, and nothing about clocks:
//!
//! * [`SimTime`] / [`SimDuration`]: true time as integer nanoseconds;
//! * [`EventQueue`]: a heap ordered by (time, insertion sequence), so
//!   simultaneous events pop deterministically;
//! * [`Engine`] / [`Model`] / [`Scheduler`]: the run loop with a stop time;
//! * [`RngStreams`]: one reproducible random stream per named component,
//!   and [`NormalStream`], fast standard normal draws seeded from one;
//! * [`stats`]: streaming statistics (quantiles, RMS, Allan family, MTIE);
//! * [`Ahead`] and [`Deferred`]: a run's inputs fixed in advance (a
//!   crystal's noise) generated, and outputs nothing reads back (probe
//!   statistics) folded, in blocks, optionally on a helper thread;
//!   [`CoreSplit`], which keeps such helpers off the run's own CPU, and
//!   [`pin_worker`], a CPU of its own for each worker of a full pool.
//!
//! Models live in the `models` crate and implement [`Model`].

mod cores;
mod engine;
mod helper;
mod normal;
mod queue;
mod rng;
pub mod stats;
mod time;

pub use cores::{CoreSplit, pin_worker};
pub use engine::{Engine, Model, RunStats, Scheduler};
pub use helper::{Ahead, Deferred, Fold, Source};
pub use normal::NormalStream;
pub use queue::EventQueue;
pub use rng::{RngStreams, SimRng};
pub use time::{SimDuration, SimTime};
