//! Runtime state on the host: state-dir paths, per-VM locks, QEMU process identity.
pub mod bounded_output;
pub mod free_space;
pub mod lock;
pub mod paths;
pub mod poll_until;
pub mod private_dir;
pub mod private_file;
pub mod process;
pub mod same_file;
