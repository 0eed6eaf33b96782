//! QEMU: building the exact command line, and talking to a running QEMU (QMP, HMP monitor).
pub mod argv;
pub mod hmp;
pub mod image_args;
pub mod qmp;

#[cfg(test)]
mod real_qemu_tests;
