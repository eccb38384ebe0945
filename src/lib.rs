//! # vtsim
//!
//! A discrete-event simulator of virtualized timekeeping: drifting hardware
//! counters, network delay with path asymmetry, hypervisor scheduling,
//! migration and time dilation, with synchronization algorithms (RADclock,
//! ntpd, baselines) plugged in and compared against perfect true time.
//!
//! This crate turns a RON [`scenario::Scenario`] into a world
//! ([`run::build_world`]), runs it ([`run::run_scenario`]), writes results
//! and plots, and is the `vtsim` command line.
//!
//! ```no_run
//! use vtsim::{run::{run_scenario, RunOptions}, scenario::Scenario};
//! let s = Scenario::load("scenarios/lan-basics.ron".as_ref()).unwrap();
//! let (dir, summary) = run_scenario(&s, &RunOptions::default()).unwrap();
//! println!("{}: median error {} µs", dir.display(), summary.clocks[0].error_us.median);
//! ```

pub mod bench;
pub mod calibrate;
pub mod checks;
pub mod compare;
pub mod output;
pub mod partition;
pub mod plot;
pub mod progress;
pub mod reference;
pub mod replay;
pub mod reproduce;
pub mod run;
pub mod scenario;
pub mod sweep;
