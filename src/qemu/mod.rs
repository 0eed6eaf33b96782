//! QEMU: building the exact command line, and talking to a running QEMU (QMP, HMP monitor,
//! migration to and from files), and its version.
pub mod accel;
pub mod argv;
pub mod hmp;
pub mod image_args;
pub mod migration;
pub mod qmp;
pub mod usernet;
pub mod version;

#[cfg(test)]
mod real_qemu_tests;
