//! What this machine must offer a VM before QEMU is launched, checked before anything runs so
//! that a start fails in a second with the cause instead of half-done: room for the logs, an
//! SSH config ssh accepts, the key it logs in with, the folders it syncs.
//!
//! A config is shared across machines, so these are not load errors: `check` reports them as
//! warnings (except an SSH config ssh refuses, which breaks every VM), `start` refuses the
//! VM concerned and only that one.

use crate::lifecycle::context::Context;
use crate::model::Vm;
use crate::ssh::validate;
use crate::state_dir::free_space;
use crate::sync::entry::source_problem;

/// Problems ssh finds in the rendered private config (nothing is written). Without ssh on
/// this machine there is no judge; [`machine_warnings`] says so.
pub fn ssh_config_problems(ctx: &Context) -> Vec<String> {
    if crate::runtime::executable::find_on_path("ssh").is_none() {
        return Vec::new();
    }
    let text = crate::ssh::config_file::render(&ctx.project, &ctx.state);
    let host = ctx
        .project
        .vms
        .first()
        .map_or("qcmdr-check", |vm| vm.name.as_str());
    validate::check_text(&text, host).err().unwrap_or_default()
}

/// What would stop a VM's start on this machine but is no config error: a missing QEMU
/// binary or firmware file (with the package to install), sync sources and SSH keys. One line each, naming the VM and the key.
pub fn machine_warnings(ctx: &Context) -> Vec<String> {
    let mut warnings = Vec::new();
    if crate::runtime::executable::find_on_path("ssh").is_none() {
        warnings.push(
            "ssh is not installed (no `ssh` on PATH), so the SSH config was not checked and no \
             VM can be reached; install openssh-client"
                .to_string(),
        );
    }
    for vm in &ctx.project.vms {
        let search_path = std::env::var_os("PATH").unwrap_or_default();
        let binary = crate::qemu::argv::qemu_binary(&ctx.project, &vm.arch, &search_path);
        let binary = binary.to_string_lossy();
        if let Some(hint) = crate::qemu::argv::missing_binary_hint(&binary, &ctx.project, &vm.arch)
        {
            warnings.push(format!(
                "VM {:?}: arch: QEMU binary {binary} not found{hint}",
                vm.name
            ));
        }
        if let Some((file, package)) =
            crate::model::arch::missing_firmware(&vm.arch, &vm.arch_defaults, |p| p.is_file())
        {
            warnings.push(format!(
                "VM {:?}: firmware {file} not found (qcmdr's default for {} without a kernel); \
                 install it (Debian: apt-get install {package})",
                vm.name, vm.arch
            ));
        }
        for (index, spec) in vm.sync.iter().enumerate() {
            if let Some(problem) = source_problem(spec) {
                warnings.push(format!(
                    "VM {:?}: sync[{}].source: {problem}; its start refuses to launch it \
                     (or use start --no-sync)",
                    vm.name,
                    index + 1
                ));
            }
        }
        if let Some(tree) = vm.kernel().filter(|k| k.is_dir()) {
            if let Err(problem) = super::kernel_boot::checked_tree(vm, tree) {
                warnings.push(format!(
                    "VM {:?}: kernel: {}",
                    vm.name,
                    crate::error_chain::chain(&problem)
                ));
            }
        }
        if let Err(problem) = crate::mounts::sources_present(vm) {
            warnings.push(format!("{problem}; its start refuses to launch it"));
        }
        if !vm.mounts.is_empty() && crate::mounts::find_virtiofsd().is_none() {
            warnings.push(format!(
                "VM {:?}: mounts: {}",
                vm.name,
                crate::mounts::NOT_FOUND_HINT
            ));
        }
        let identity = expand_home(&vm.ssh.identity_file);
        if !identity.contains('%') && !std::path::Path::new(&identity).exists() {
            warnings.push(format!(
                "VM {:?}: ssh.IdentityFile: {identity} does not exist",
                vm.name
            ));
        }
    }
    warnings
}

/// Why this machine cannot finish starting a VM (found before anything was launched).
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("{0}")]
    LowSpace(free_space::LowSpace),
    /// `ssh -G` refused the private SSH config.
    #[error("{}", .0.join("; "))]
    SshConfig(Vec<String>),
    #[error(
        "ssh.IdentityFile: {} does not exist, so SSH could never log in; \
         fix IdentityFile in {} or create the key",
        .key.display(),
        .config.display()
    )]
    MissingKey {
        key: std::path::PathBuf,
        config: std::path::PathBuf,
    },
    // The sync error's whole chain is this error's message: `StartError::Preflight` shows
    // this error as its own message, so a `#[source]` here would never be printed.
    #[error(
        "{}, so its sync could not run; fix the source, or start with --no-sync",
        crate::error_chain::chain(.0)
    )]
    MissingSyncSource(crate::sync::SyncError),
    /// A mount's source is missing or virtiofsd is not installed.
    #[error("{0}")]
    Mounts(crate::mounts::MountError),
}

/// Refuses to launch `vm` when this machine cannot finish starting it (`syncs`: this start
/// syncs files into it). Expects the private SSH files to be written already.
pub fn before_launch(ctx: &Context, vm: &Vm, syncs: bool) -> Result<(), PreflightError> {
    let paths = ctx.paths(vm);
    if let Some(low) = free_space::too_little_for_launch(&paths.dir) {
        return Err(PreflightError::LowSpace(low));
    }
    let resolved = validate::check_file(&ctx.state.ssh_config(), &vm.name)
        .map_err(PreflightError::SshConfig)?;
    if vm.wait_for.ssh() || syncs {
        if let Some(missing) = validate::missing_identity_files(&resolved).first() {
            return Err(PreflightError::MissingKey {
                key: missing.clone(),
                config: ctx.project.config_file.clone(),
            });
        }
    }
    if syncs {
        crate::sync::sources_present(vm).map_err(PreflightError::MissingSyncSource)?;
    }
    if !vm.mounts.is_empty() {
        crate::mounts::sources_present(vm).map_err(PreflightError::Mounts)?;
        crate::mounts::find_virtiofsd().ok_or(PreflightError::Mounts(
            crate::mounts::MountError::NotInstalled,
        ))?;
    }
    Ok(())
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}
