//! Machine state that a QEMU release leaves out of a saved state, per guest architecture: a
//! snapshot of such a machine loads, and then the guest misbehaves. Saving one is refused by
//! name instead.
//!
//! The one known here: before QEMU 10.2, riscv64's migration stream lacks the ACLINT
//! mtimer's offset to the host clock and its pending timers, and the CPU's supervisor timer
//! (QEMU commits "hw/intc: Save time_delta in RISC-V mtimer VMState", "hw/intc: Save timers
//! array in RISC-V mtimer VMState", "target/riscv: Save stimer and vstimer in CPU vmstate";
//! not backported, since they change the stream). A restored guest's time stands still and
//! its timer interrupts are lost: seen here as an SSH login that hangs after `start --from`
//! (sshd greets, then waits on a timer that never fires) in about half the restores.

/// A gap in what a QEMU saves of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateGap {
    pub arch: &'static str,
    /// What the saved state lacks.
    pub missing: &'static str,
    /// What a guest started from it then does.
    pub consequence: &'static str,
    /// The first QEMU release that saves it, `(major, minor)`.
    pub fixed_in: (u64, u64),
}

const GAPS: &[StateGap] = &[StateGap {
    arch: "riscv64",
    missing: "timers (the ACLINT mtimer's offset and pending timers, the CPU's supervisor timer)",
    consequence: "loses its timer interrupts and hangs",
    fixed_in: (10, 2),
}];

/// The gap of `arch` under the QEMU whose version text is `version` (`7.2.22 (Debian ...)`,
/// as `qemu::version` spells it), if it has one.
pub fn of(arch: &str, version: &str) -> Option<&'static StateGap> {
    let release = release(version)?;
    GAPS.iter()
        .find(|gap| gap.arch == arch && release < gap.fixed_in)
}

/// `(major, minor)` of a version text; `None` when it does not start with one.
fn release(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn riscv64_before_10_2_has_the_timer_gap_and_nothing_else_does() {
        let debian12 = "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)";
        let gap = of("riscv64", debian12).expect("QEMU 7.2 lacks the riscv64 timers");
        assert_eq!(gap.fixed_in, (10, 2));
        assert!(gap
            .missing
            .starts_with("timers (the ACLINT mtimer's offset"));
        assert!(of("riscv64", "10.1.3").is_some());
        assert!(of("riscv64", "9.2.0 (Debian 1:9.2.0+ds-1)").is_some());
        assert_eq!(of("riscv64", "10.2.0"), None);
        assert_eq!(of("riscv64", "11.0.1"), None);
        assert_eq!(of("aarch64", debian12), None);
        assert_eq!(of("x86_64", debian12), None);
        // A version qcmdr cannot read is not refused on a guess.
        assert_eq!(of("riscv64", "unknown"), None);
    }
}
