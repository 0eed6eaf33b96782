//! The private SSH setup: config rendering, wrapper scripts, multiplexed master control.
mod atomic_file;
pub mod config;
pub mod config_value;
pub mod master;
pub mod wrappers;
