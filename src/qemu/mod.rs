//! QEMU: building the exact command line and its guest-visible fingerprint, talking to a
//! running QEMU (QMP, HMP monitor, user network, migration to and from files), and its
//! version.
pub mod argv;
pub mod fingerprint;
pub mod hmp;
pub mod image_args;
pub mod migration;
pub mod qmp;
pub mod usernet;
pub mod version;
pub mod virtiofs_args;

#[cfg(test)]
mod real_qemu_tests;
