//! qcmdr's integration tests: the real binary, real QEMU, the real guest, real OpenSSH.
//! Modules named `vm_*` boot VMs (nextest runs them in the `vm` group, two at a time).

mod support;

mod cli_config;
mod cli_harden;
mod cli_image_faults;
mod cli_images;
mod cli_rootless;
mod vm_boot;
mod vm_harden;
mod vm_image;
mod vm_lifecycle;
mod vm_ops;
mod vm_readiness;
mod vm_snapshot;
mod vm_sync;
mod vm_sync_mutagen;
