//! `qcmdr.show/1`: `show --json`, one resolved VM and the exact QEMU command line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::common::{Forward, Paths};
use super::SHOW_SCHEMA;
use crate::lifecycle::context::Context;
use crate::model::Vm;

#[derive(Debug, Serialize)]
pub struct Show {
    pub schema: &'static str,
    pub name: String,
    pub arch: String,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub login_timeout_s: f64,
    pub login_pattern: String,
    pub ssh_timeout_s: f64,
    pub stop_timeout_s: f64,
    pub wait_for: &'static str,
    pub ssh: Ssh,
    pub sync: Vec<Sync>,
    pub forwards: Vec<Forward>,
    pub paths: Paths,
    /// Only for a VM with `image`.
    pub image: Option<ShowImage>,
    /// The kernel's name of the serial console on this arch (`ttyAMA0`, `ttyS0`).
    pub console: &'static str,
    /// Per-architecture defaults, in order; empty when the VM has them off.
    pub arch_defaults: Vec<ShowDefault>,
}

#[derive(Debug, Serialize)]
pub struct ShowDefault {
    /// `machine`, `accel`, `cpu`, `firmware` or `network`.
    pub what: &'static str,
    /// The words qcmdr adds (empty when `args` give their own).
    pub added_args: Vec<String>,
    /// The option of `args` that replaces the default, or null.
    pub overridden_by: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ShowImage {
    pub name: String,
    pub built: bool,
    pub dir: PathBuf,
    /// The VM's own overlay disk.
    pub disk: PathBuf,
    /// Every argument qcmdr adds for the image (disk, seed, kernel boot).
    pub added_args: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Ssh {
    pub host_name: String,
    pub port: u16,
    pub user: String,
    pub identity_file: String,
    /// Every other ssh_config option of the VM, by name.
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct Sync {
    pub source: PathBuf,
    pub dest: String,
    pub ignore_vcs: bool,
    pub ignore: Vec<String>,
    pub mode: String,
    pub engine: &'static str,
}

impl Show {
    pub fn new(ctx: &Context, vm: &Vm, argv: Vec<String>) -> Self {
        Show {
            schema: SHOW_SCHEMA,
            name: vm.name.clone(),
            arch: vm.arch.clone(),
            argv,
            cwd: ctx.qemu_cwd(),
            login_timeout_s: vm.login_timeout.as_secs_f64(),
            login_pattern: vm.login_pattern.clone(),
            ssh_timeout_s: vm.ssh_timeout.as_secs_f64(),
            stop_timeout_s: vm.stop_timeout.as_secs_f64(),
            wait_for: vm.wait_for.as_str(),
            ssh: Ssh {
                host_name: vm.ssh.host_name.clone(),
                port: vm.ssh.port,
                user: vm.ssh.user.clone(),
                identity_file: vm.ssh.identity_file.clone(),
                options: vm
                    .ssh
                    .options
                    .iter()
                    .map(|o| (o.name.clone(), o.value.clone()))
                    .collect(),
            },
            sync: vm
                .sync
                .iter()
                .map(|s| Sync {
                    source: s.source.clone(),
                    dest: s.dest.clone(),
                    ignore_vcs: s.ignore_vcs,
                    ignore: s.ignore.clone(),
                    mode: s.mode.clone(),
                    engine: s.engine.as_str(),
                })
                .collect(),
            forwards: Forward::list(&vm.host_forwards),
            paths: Paths::new(&ctx.paths(vm), &ctx.state.ssh_config()),
            console: crate::model::arch::console(&vm.arch),
            arch_defaults: vm
                .arch_defaults
                .iter()
                .map(|d| ShowDefault {
                    what: d.what,
                    added_args: d.added().to_vec(),
                    overridden_by: d.overridden_by.clone(),
                })
                .collect(),
            image: vm.image.as_ref().and_then(|boot| {
                let image = ctx.project.image_of(vm)?;
                let paths = ctx.paths(vm);
                Some(ShowImage {
                    name: boot.name.clone(),
                    built: crate::images::is_built(image),
                    dir: image.dir.clone(),
                    added_args: crate::qemu::image_args::for_vm(&ctx.project, vm, &paths),
                    disk: paths.image_disk,
                })
            }),
        }
    }
}
