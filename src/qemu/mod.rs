//! QEMU: building the exact command line and its guest-visible fingerprint, the accelerator
//! it asks for, `qemu-img` on a stopped VM's disks, talking to a running QEMU (QMP, HMP
//! monitor, user network, migration to and from files), and its version.
pub mod accel;
pub mod argv;
pub mod fingerprint;
pub mod hmp;
pub mod image_args;
pub mod migration;
pub mod qemu_img;
pub mod qmp;
pub mod state_gaps;
pub mod usernet;
pub mod version;
pub mod virtiofs_args;

#[cfg(test)]
mod real_qemu_tests;
