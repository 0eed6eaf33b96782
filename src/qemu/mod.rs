//! QEMU: building the exact command line, and talking to a running QEMU (QMP, HMP monitor).
pub mod argv;
