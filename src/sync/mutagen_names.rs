//! Mutagen session names and labels derived from a VM name.
//!
//! A VM name may hold `_` or start with `_` (configs written for the ancestor do both), but a
//! session name takes a letter first, then letters, digits and `-`, and a label value must
//! start and end with a letter or digit (at most 63 characters). A VM whose name fits is
//! used as it is (`demo-0`, `qcmdr.vm=demo`). Any other name gets a legal stand-in: `_`
//! becomes `-`, `vm-` goes in front when it does not start with a letter, and a short hash
//! of the real name goes at the end, so `nvme_lab` and `nvme-lab` never share sessions. The
//! stand-in is stable across runs, so sessions are found again by every later command.

use std::sync::LazyLock;

use regex::Regex;

use crate::state_dir::paths::fnv1a64;

static SESSION_BASE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[A-Za-z][A-Za-z0-9-]*$").unwrap());
static LABEL_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$").unwrap());

/// The stand-in for a VM name Mutagen cannot take: `nvme_lab` → `nvme-lab-9c0463ef`.
fn stand_in(vm: &str) -> String {
    let mut base: String = vm.replace('_', "-");
    if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
        base.insert_str(0, "vm-");
    }
    let hash = fnv1a64(vm.as_bytes()) as u32;
    format!("{}-{hash:08x}", base.trim_end_matches('-'))
}

/// The name of the session of entry `index` (0-based): `<vm>-<index>`, with the VM name made
/// legal when needed.
pub fn session_name(vm: &str, index: usize) -> String {
    if SESSION_BASE.is_match(vm) {
        format!("{vm}-{index}")
    } else {
        format!("{}-{index}", stand_in(vm))
    }
}

/// The value of the `qcmdr.vm` label: the VM's real name whenever a label can hold it.
pub fn label_value(vm: &str) -> String {
    if LABEL_VALUE.is_match(vm) {
        vm.to_string()
    } else {
        stand_in(vm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mutagen's own rule for session names, as its source states it.
    fn legal_session_name(name: &str) -> bool {
        SESSION_BASE.is_match(name)
    }

    #[test]
    fn plain_names_are_kept() {
        assert_eq!(session_name("livemig", 0), "livemig-0");
        assert_eq!(label_value("livemig"), "livemig");
    }

    #[test]
    fn underscores_get_a_legal_stable_name_and_the_label_keeps_the_real_name() {
        let name = session_name("nvme_lab", 1);
        assert!(legal_session_name(&name), "{name}");
        assert!(
            name.starts_with("nvme-lab-") && name.ends_with("-1"),
            "{name}"
        );
        assert_eq!(name, session_name("nvme_lab", 1));
        assert_ne!(name, session_name("nvme-lab", 1));
        assert_eq!(label_value("nvme_lab"), "nvme_lab");
        // Stable across runs and builds: sessions made by an earlier qcmdr are found again.
        assert_eq!(name, "nvme-lab-9c0463ef-1");
    }

    #[test]
    fn names_no_label_can_hold_get_the_stand_in() {
        for vm in ["_lab", "lab_", "_", "a-", &"x".repeat(63)] {
            let name = session_name(vm, 0);
            assert!(legal_session_name(&name), "{vm}: {name}");
            let label = label_value(vm);
            assert!(LABEL_VALUE.is_match(&label), "{vm}: {label}");
        }
        assert_eq!(label_value("a_b"), "a_b");
        assert_ne!(label_value("_lab"), label_value("-lab"));
    }
}
