//! `qcmdr doctor` on a running VM (real QEMU under TCG, the real guest): the accelerator QEMU
//! really uses, asked over QMP, and the guest's clocksource, read over SSH.

use crate::support::{Project, VmSpec};

#[test]
fn vm_doctor_reports_tcg_and_the_guests_clocksource() {
    let project = Project::new(vec![VmSpec::new("doc")]);
    project.ok(&["start", "doc"]);
    let run = project.run(&["doctor", "doc", "--json"]);
    // All is well here (a warning, e.g. no Mutagen, does not fail).
    assert_eq!(run.code, 0, "{run}");
    let doc = run.json();
    let check = |name: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name && c["subject"] == "doc")
            .unwrap_or_else(|| panic!("no {name} check about doc\n{run}"))
            .clone()
    };
    // The VM asks for TCG (accel=tcg), and QEMU says KVM is not enabled.
    let accelerator = check("accelerator");
    assert_eq!(accelerator["status"], "ok", "{accelerator}");
    assert!(
        accelerator["summary"]
            .as_str()
            .unwrap()
            .starts_with("TCG (query-kvm: enabled false"),
        "{accelerator}"
    );
    // The same file, read by the test through qcmdr exec.
    let expected = project.ok(&[
        "exec",
        "doc",
        "cat",
        "/sys/devices/system/clocksource/clocksource0/current_clocksource",
    ]);
    let clocksource = check("clocksource");
    assert_eq!(clocksource["status"], "ok", "{clocksource}");
    assert_eq!(
        clocksource["summary"],
        expected.stdout.trim(),
        "{clocksource}"
    );
    assert!(!expected.stdout.trim().is_empty());
    // A stopped VM has neither check.
    project.ok(&["stop", "doc"]);
    let stopped = project.run(&["doctor", "doc", "--json"]).json();
    assert!(
        !stopped["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "accelerator" || c["check"] == "clocksource"),
        "{stopped}"
    );
}
