//! qcmdr — QEMU Commander.
//!
//! Layers, top to bottom. A module uses only the layers below its own, and peers of its own
//! layer where that makes no circle; `tests/layers` checks this (and that no two files, and
//! no two sibling modules, import each other in a circle):
//!
//! 1. cli: the only layer that knows clap, terminals, colours, progress and JSON rendering.
//! 2. lifecycle, console, config: start (launch + readiness), stop, status, snapshots (emits
//!    events); byte relays between local descriptors and a VM's chardev sockets; a Lua file
//!    becomes validated, pure data (asking `images` where a recipe's build lives).
//! 3. images: guest images: builds, the cache and its keys, each VM's overlay disk.
//! 4. qemu, ssh, sync, logs, mounts, kernel_tree: QEMU argv and control sockets, the private
//!    SSH setup, file sync engines (sync uses ssh), reading and following logs, live host
//!    folders (virtiofsd daemons), built kernel trees (their image, `.config` and modules).
//! 5. runtime, state_dir: processes and waiting (process identity, bounded waits,
//!    cancellation, the one way to run a helper program); the files qcmdr keeps (state-dir
//!    paths, locks, private folders and files).
//! 6. model: pure data.
//!
//! Usable from anywhere: error_chain (how an error reads once printed); it uses nothing.
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
pub mod state_dir;
pub mod sync;
