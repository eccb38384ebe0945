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
//! * [`Ahead`]: a sequence that depends on nothing else in the run,
//!   generated in blocks, optionally on a helper thread.
//!
//! Models live in the `models` crate and implement [`Model`].

mod ahead;
mod engine;
mod normal;
mod queue;
mod rng;
pub mod stats;
mod time;

pub use ahead::{Ahead, Source};
pub use engine::{Engine, Model, RunStats, Scheduler};
pub use normal::NormalStream;
pub use queue::EventQueue;
pub use rng::{RngStreams, SimRng};
pub use time::{SimDuration, SimTime};
