//! qcmdr — QEMU Commander.
//!
//! Layers, top to bottom (each only uses the ones below it):
//! - `cli`: the only layer that knows clap, terminals, colours, progress and JSON rendering.
//! - `lifecycle`: start (launch + readiness), stop (ordered shutdown), status; emits events.
//! - `console`: byte relays between local descriptors and a VM's chardev sockets.
//! - `qemu`, `ssh`, `sync`, `runtime`: QEMU argv and control sockets, the private SSH setup,
//!   file sync engines, state-dir paths, locks and process identity.
//! - `config` → `model`: a Lua file becomes validated, pure data.
//!
//! Nothing below `cli` prints or reads the terminal.

pub mod cli;
pub mod config;
pub mod console;
pub mod images;
pub mod lifecycle;
pub mod model;
pub mod qemu;
pub mod runtime;
pub mod ssh;
pub mod sync;
