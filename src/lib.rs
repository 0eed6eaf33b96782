//! qcmdr — QEMU Commander.
//!
//! Layers, top to bottom (each only uses the ones below it):
//! - `cli`: the only layer that knows clap, terminals, colours, progress and JSON rendering.
//! - `lifecycle`: start (launch + readiness), stop (ordered shutdown), status; emits events.
//! - `console`: byte relays between local descriptors and a VM's chardev sockets.
//! - `qemu`, `ssh`, `sync`, `mounts`, `kernel_tree`, `logs`, `runtime`: QEMU argv and control
//!   sockets, the private SSH setup, file sync engines, live host folders (virtiofsd), built
//!   kernel trees, reading and following logs, and the process and event plumbing (state-dir
//!   paths, locks, process identity, bounded waits, cancellation).
//! - `config` → `model`: a Lua file becomes validated, pure data.
//!
//! Nothing below `cli` prints or reads the terminal.

pub mod cli;
pub mod config;
pub mod console;
pub mod error_chain;
pub mod images;
pub mod kernel_tree;
pub mod lifecycle;
pub mod logs;
pub mod model;
pub mod mounts;
pub mod qemu;
pub mod runtime;
pub mod ssh;
pub mod sync;
