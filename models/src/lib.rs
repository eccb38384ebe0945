//! # models: the simulated world
//!
//! Everything that can delay or distort a timestamp is a model here:
//! oscillators and the counters they drive, network paths and servers,
//! hosts and hypervisors, the sync daemons that drive an algorithm, and the
//! probes that compare every clock with true time. Clock errors emerge from
//! these mechanisms; nothing adds noise to a result.

pub mod counter;
pub mod dilation;
pub mod host;
pub mod migration;
pub mod network;
pub mod oscillator;
pub mod replication;
pub mod server;
pub mod text_file;
pub mod world;
pub mod xen;
