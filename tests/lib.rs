//! qcmdr's integration tests: the real binary, real QEMU, the real guest, real OpenSSH.
//! Modules named `vm_*` boot VMs (nextest runs them in the `vm` group, two at a time).

mod support;

mod cli_arch;
mod cli_config;
mod cli_doctor;
mod cli_harden;
mod cli_image_faults;
mod cli_images;
mod cli_manual;
mod cli_rootless;
mod layers;
mod vm_arch;
mod vm_boot;
mod vm_doctor;
mod vm_harden;
mod vm_image;
mod vm_kernel_tree;
mod vm_lifecycle;
mod vm_mounts;
mod vm_ops;
mod vm_readiness;
mod vm_run;
mod vm_snapshot;
mod vm_sync;
mod vm_sync_mutagen;
