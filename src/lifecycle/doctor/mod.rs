//! `qcmdr doctor`: what this machine and this user offer the configured VMs, each problem
//! with its fix. One file per concept; each reads its facts in one place and judges them in
//! a pure function, so every failing cause has a unit test without a machine that has it.
//!
//! Machine-wide checks (KVM, QEMU and the helper programs, user namespaces for rootless
//! builds) run with or without a config; a config adds its state dir, image cache and each
//! VM's socket paths; a running VM adds what its QEMU and guest really use.

pub mod account;
pub mod finding;
pub mod folders;
pub mod kvm;
pub mod kvm_guest;
pub mod running;
pub mod sockets;
pub mod tools;
pub mod userns;

pub use finding::{Finding, Status};

use crate::lifecycle::context::Context;
use crate::lifecycle::status::{state_of, VmState};
use crate::model::Vm;
use crate::qemu::accel::{kvm_use, KvmUse};

/// Every finding about `vms` of `ctx` (or this machine alone without a config), in a fixed
/// order: KVM, QEMU, helpers, user namespaces, folders, sockets, then the running VMs.
pub fn examine(ctx: Option<&Context>, vms: &[&Vm]) -> Vec<Finding> {
    let search_path = std::env::var_os("PATH").unwrap_or_default();
    let needs = ctx
        .map(|ctx| tools::Needs::of(&ctx.project, vms))
        .unwrap_or_default();
    let mut findings = kvm_findings(&kvm::read_with_guest(), vms);
    findings.extend(tools::qemu(
        ctx.map(|ctx| &ctx.project),
        &needs,
        &search_path,
    ));
    findings.extend(tools::helpers(&needs, &search_path));
    findings.extend(tools::foreign_builds(&needs));
    findings.push(tools::virtiofsd(&needs, crate::mounts::find_virtiofsd()));
    findings.extend(userns::judge(&userns::read(), needs.debian_image));
    let Some(ctx) = ctx else {
        return findings;
    };
    let uid = rustix::process::getuid().as_raw();
    findings.extend(folders::state_dir(&ctx.state, uid));
    findings.extend(folders::cache(&ctx.project.image_cache, uid));
    for vm in vms {
        findings.push(sockets::own(&ctx.state, vm, uid));
        findings.extend(sockets::configured(vm, &ctx.project.config_file));
    }
    let running: Vec<&&Vm> = vms
        .iter()
        .filter(|vm| state_of(ctx, vm).0 == VmState::Running)
        .collect();
    for found in crate::runtime::parallel::each(&running, |vm| of_running(ctx, vm)) {
        findings.extend(found);
    }
    findings
}

/// Runs a probe (`unshare`, `ssh`) to its end within `limit`: its stdout, trimmed.
fn probe_output(
    mut command: std::process::Command,
    limit: std::time::Duration,
) -> Result<String, crate::runtime::helper::HelperError> {
    command.stdin(std::process::Stdio::null());
    let out = crate::runtime::helper::Helper::new(command)
        .timeout(limit)
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What a running VM's QEMU and guest use.
fn of_running(ctx: &Context, vm: &Vm) -> Vec<Finding> {
    let (accelerator, kvm) = running::accelerator(ctx, vm);
    let clocksource = running::clocksource(ctx, vm, kvm);
    vec![accelerator.about(&vm.name), clocksource.about(&vm.name)]
}

/// The KVM verdict, and what it means for each VM: a VM that needs KVM fails, one that
/// would fall back to TCG is named.
pub fn kvm_findings(facts: &kvm::KvmFacts, vms: &[&Vm]) -> Vec<Finding> {
    let why = match kvm::judge(facts) {
        Ok(()) => {
            let guest = match facts.guest {
                Some(Ok(())) => ", and runs a test guest in 64-bit mode",
                _ => " (no test guest was run)",
            };
            return vec![Finding::ok(
                "kvm",
                format!(
                    "KVM works: {} opens read-write and makes a VM with a vCPU{guest}",
                    facts.device.display()
                ),
            )];
        }
        Err(why) => why,
    };
    let mut findings = Vec::new();
    let mut asks = false;
    for vm in vms {
        match kvm_use(&vm.args) {
            KvmUse::Required { asked_by } => {
                asks = true;
                findings.push(
                    Finding::problem(
                        "kvm",
                        Status::Failure,
                        format!(
                            "configured for KVM ({asked_by}), so it cannot start here: {}",
                            why.cause()
                        ),
                        format!(
                            "{}; or run it under TCG (accel=tcg, slower) or let it fall back \
                             (accel=kvm:tcg)",
                            why.fix()
                        ),
                    )
                    .about(&vm.name),
                );
            }
            KvmUse::WithFallback { asked_by } => {
                asks = true;
                findings.push(
                    Finding::problem(
                        "kvm",
                        Status::Warning,
                        format!(
                            "asks for KVM first ({asked_by}) and would fall back to TCG here \
                             (slow): {}",
                            why.cause()
                        ),
                        why.fix(),
                    )
                    .about(&vm.name),
                );
            }
            KvmUse::No => {}
        }
    }
    if !asks {
        findings.push(Finding::problem(
            "kvm",
            Status::Warning,
            format!(
                "KVM is not usable, so VMs run under TCG (slow): {}",
                why.cause()
            ),
            why.fix(),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm_with(name: &str, machine: &str) -> Vm {
        let mut vm = crate::model::fixtures::vm(name, 2222);
        vm.args = vec!["-machine".into(), machine.into()];
        vm
    }

    #[test]
    fn without_kvm_a_kvm_vm_fails_a_fallback_warns_and_a_tcg_vm_is_silent() {
        let missing = kvm::KvmFacts {
            device: "/dev/kvm".into(),
            node: None,
            open: None,
            probe: None,
            guest: None,
            account: account::Account::from_files(1000, vec![1000], "", ""),
        };
        let (kvm, fallback, tcg) = (
            vm_with("k", "q35,accel=kvm"),
            vm_with("f", "q35,accel=kvm:tcg"),
            vm_with("t", "q35,accel=tcg"),
        );
        let findings = kvm_findings(&missing, &[&kvm, &fallback, &tcg]);
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_eq!(findings[0].subject.as_deref(), Some("k"));
        assert_eq!(findings[0].status, Status::Failure);
        assert!(findings[0].fix.as_deref().unwrap().contains("modprobe"));
        assert_eq!(findings[1].subject.as_deref(), Some("f"));
        assert_eq!(findings[1].status, Status::Warning);
        assert!(findings[1].summary.contains("fall back to TCG"));
        let alone = kvm_findings(&missing, &[&tcg]);
        assert_eq!(alone[0].status, Status::Warning);
        let working = kvm::KvmFacts {
            node: Some(kvm::Node {
                uid: 0,
                gid: 993,
                mode: 0o660,
            }),
            open: Some(Ok(())),
            probe: Some(Ok(())),
            guest: Some(Ok(())),
            ..missing
        };
        let ok = kvm_findings(&working, &[&kvm]);
        assert_eq!(ok[0].status, Status::Ok);
        assert!(
            ok[0].summary.ends_with("runs a test guest in 64-bit mode"),
            "{ok:?}"
        );
    }
}
