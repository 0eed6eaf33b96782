//! The private SSH setup: config rendering, wrapper scripts, multiplexed master control.
pub mod config;
pub mod master;
