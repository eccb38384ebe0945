//! # algorithms: clock synchronization, sans-IO
//!
//! A synchronization algorithm turns *exchanges* (raw counter stamps from the
//! client, server time stamps) into a *clock*: a function from the raw
//! counter to time of day. Nothing in this crate knows about simulated time,
//! networks or hosts: an algorithm is driven through the [`SyncAlgorithm`]
//! trait by whoever owns the counter (the simulator's daemon model, the
//! `replay` command, or a real daemon), so the same code runs everywhere and
//! is trivially testable.
//!
//! ```text
//!   daemon ──advance(T)──────────────▶ ┌───────────────┐
//!          ──on_transmit(server, Ta)─▶ │ SyncAlgorithm │──read(T)──▶ ClockTime
//!          ──on_exchange(Ta,Tb,Te,Tf)▶ └───────────────┘──next_poll()──▶ when to send
//! ```
//!
//! Two styles fit the one trait:
//! * **feedforward** ([`radclock`]): the algorithm estimates parameters;
//!   reading the clock is a stateless function of the counter
//!   ([`FfClockParams`]), which other domains can evaluate too;
//! * **feedback** ([`ntpd`]): the algorithm steers a disciplined clock's
//!   phase and frequency every second, and takes its own timestamps from
//!   that clock.
//!
//! Algorithms are chosen by name with typed parameters through
//! [`AlgorithmConfig`]; adding one means writing its module and one variant.

mod baseline;
mod clock;
mod config;
pub mod ntpd;
pub mod radclock;
mod sync;

pub use baseline::{FreeRunning, Naive};
pub use clock::{ClockTime, FfClockParams, signed_count, ticks_between};
pub use config::{AlgorithmConfig, ConfigError, Num};
pub use sync::{CounterInfo, Exchange, PollRequest, SyncAlgorithm};
