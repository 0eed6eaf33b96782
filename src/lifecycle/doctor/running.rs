//! What a running VM really got: the accelerator QEMU uses (QMP `query-kvm`), and the guest
//! kernel's clocksource (read over SSH). A KVM guest on `hpet` traps to QEMU on every clock
//! read and runs slowly, a trap virtme-ng users fall into; `kvm-clock` (or `tsc`) is right.

use std::time::Duration;

use super::finding::{Finding, Status};
use crate::lifecycle::context::Context;
use crate::model::Vm;
use crate::qemu::accel::{kvm_use, KvmUse};
use crate::qemu::qmp::Qmp;

/// Bound of the QMP session and of the SSH command: a ready VM answers both at once.
const QMP_TIMEOUT: Duration = Duration::from_secs(5);
const SSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const SSH_TIMEOUT: Duration = Duration::from_secs(30);

pub const CLOCKSOURCE_FILE: &str =
    "/sys/devices/system/clocksource/clocksource0/current_clocksource";

/// What `query-kvm` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvmState {
    pub present: bool,
    pub enabled: bool,
}

/// The accelerator finding and whether KVM is enabled (for the clocksource's verdict).
pub fn accelerator(ctx: &Context, vm: &Vm) -> (Finding, Option<KvmState>) {
    let answer = Qmp::connect(&ctx.paths(vm).qmp_socket, QMP_TIMEOUT)
        .and_then(|mut qmp| qmp.execute("query-kvm", None));
    match answer {
        Ok(value) => {
            let state = KvmState {
                present: value["present"].as_bool().unwrap_or(false),
                enabled: value["enabled"].as_bool().unwrap_or(false),
            };
            (judge_accelerator(&kvm_use(&vm.args), state), Some(state))
        }
        Err(err) => (
            Finding::problem(
                "accelerator",
                Status::Warning,
                format!(
                    "cannot ask QEMU which accelerator it uses: {}",
                    crate::error_chain::chain(&err)
                ),
                format!(
                    "retry when no other QMP client is connected (qcmdr qmp {} query-kvm)",
                    vm.name
                ),
            ),
            None,
        ),
    }
}

pub fn judge_accelerator(asked: &KvmUse, state: KvmState) -> Finding {
    match (state.enabled, asked) {
        (true, _) => Finding::ok("accelerator", "KVM (query-kvm: enabled)"),
        (false, KvmUse::WithFallback { asked_by }) => Finding::problem(
            "accelerator",
            Status::Warning,
            format!(
                "TCG: the VM asks for KVM first ({asked_by}) but QEMU fell back to TCG, so the \
                 CPU is emulated (slow)"
            ),
            "make KVM usable here (see the kvm check), then restart the VM",
        ),
        (false, _) => Finding::ok(
            "accelerator",
            format!(
                "TCG (query-kvm: enabled false, present {}): the CPU is emulated, as configured",
                state.present
            ),
        ),
    }
}

/// The guest's clocksource, read over SSH.
pub fn clocksource(ctx: &Context, vm: &Vm, kvm: Option<KvmState>) -> Finding {
    let command = ctx
        .ssh_target(vm)
        .batch_command(SSH_CONNECT_TIMEOUT, &format!("cat {CLOCKSOURCE_FILE}"));
    let read = super::probe_output(command, SSH_TIMEOUT);
    match read {
        Ok(source) => judge_clocksource(&source, kvm.is_some_and(|k| k.enabled)),
        Err(why) => Finding::problem(
            "clocksource",
            Status::Warning,
            format!(
                "cannot read the guest's {CLOCKSOURCE_FILE}: {}",
                crate::error_chain::chain(&why)
            ),
            format!("check that SSH works: qcmdr ssh {} true", vm.name),
        ),
    }
}

pub fn judge_clocksource(source: &str, on_kvm: bool) -> Finding {
    if on_kvm && source == "hpet" {
        return Finding::problem(
            "clocksource",
            Status::Warning,
            "hpet on KVM: every clock read in the guest exits to QEMU, which makes it slow",
            "give the guest kvm-clock: a kernel with CONFIG_KVM_GUEST, no `-kvmclock` in -cpu, \
             or `clocksource=tsc` on its command line",
        );
    }
    Finding::ok("clocksource", source.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fallen_back_vm_is_named_slow() {
        let off = KvmState {
            present: false,
            enabled: false,
        };
        let asked = KvmUse::WithFallback {
            asked_by: "-machine q35,accel=kvm:tcg".into(),
        };
        let finding = judge_accelerator(&asked, off);
        assert_eq!(finding.status, Status::Warning);
        assert!(finding.summary.contains("fell back to TCG"), "{finding:?}");
        assert_eq!(judge_accelerator(&KvmUse::No, off).status, Status::Ok);
    }

    #[test]
    fn hpet_is_only_a_problem_on_kvm() {
        let slow = judge_clocksource("hpet", true);
        assert_eq!(slow.status, Status::Warning);
        assert!(slow.fix.unwrap().contains("kvm-clock"));
        assert_eq!(judge_clocksource("hpet", false).status, Status::Ok);
        assert_eq!(judge_clocksource("kvm-clock", true).status, Status::Ok);
    }
}
