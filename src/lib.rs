//! # vtsim
//!
//! A discrete-event simulator of virtualized timekeeping.
