//! Which accelerator a VM's QEMU arguments ask for, read the way QEMU reads them: `-accel NAME`
//! (repeatable: tried in order), `-enable-kvm`, `accel=A:B` in `-machine`/`-M`. `start` and
//! `doctor` need to know whether a VM depends on KVM, and whether it would fall back to TCG.

/// What a VM's arguments ask of KVM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmUse {
    /// KVM only: without a usable `/dev/kvm` QEMU fails. `asked_by` is the argument as written.
    Required { asked_by: String },
    /// KVM first, then another accelerator (`accel=kvm:tcg`, `-accel kvm -accel tcg`).
    WithFallback { asked_by: String },
    /// KVM is not asked for (TCG, another accelerator, or QEMU's default).
    No,
}

/// Options whose value is free text that may itself start with `-` (a kernel command line, a
/// name): their value is skipped, never read as an option.
const TAKES_TEXT: &[&str] = &[
    "-append", "-name", "-fw_cfg", "-smbios", "-kernel", "-initrd",
];

/// Reads `args` (QEMU arguments, one word each) for the accelerators they ask for.
pub fn kvm_use(args: &[String]) -> KvmUse {
    let mut accels: Vec<String> = Vec::new();
    let mut asked_by = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        // QEMU takes `--opt` for `-opt`.
        let option = if word.starts_with("--") {
            &word[1..]
        } else {
            word.as_str()
        };
        match option {
            "-enable-kvm" => {
                accels.push("kvm".into());
                asked_by.push(word.clone());
            }
            "-accel" => {
                if let Some(value) = words.next() {
                    // `-accel kvm,thread=single` or `-accel accel=kvm`.
                    let name = value.split(',').next().unwrap_or("");
                    let name = name.strip_prefix("accel=").unwrap_or(name);
                    accels.push(name.to_string());
                    asked_by.push(format!("{word} {value}"));
                }
            }
            "-machine" | "-M" => {
                if let Some(value) = words.next() {
                    let listed = value
                        .split(',')
                        .filter_map(|part| part.strip_prefix("accel="))
                        .flat_map(|list| list.split(':'))
                        .map(str::to_string)
                        .collect::<Vec<_>>();
                    if !listed.is_empty() {
                        accels.extend(listed);
                        asked_by.push(format!("{word} {value}"));
                    }
                }
            }
            _ if TAKES_TEXT.contains(&option) => {
                words.next();
            }
            _ => {}
        }
    }
    let asked_by = asked_by.join(" ");
    match accels.iter().position(|name| name == "kvm") {
        Some(0) if accels.iter().skip(1).any(|name| name != "kvm") => {
            KvmUse::WithFallback { asked_by }
        }
        Some(0) => KvmUse::Required { asked_by },
        _ => KvmUse::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(args: &[&str]) -> KvmUse {
        kvm_use(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn every_spelling_of_kvm_only_is_required() {
        for args in [
            &["-accel", "kvm"][..],
            &["--accel", "kvm,thread=single"],
            &["-enable-kvm"],
            &["-machine", "q35,accel=kvm"],
            &["-M", "pc,accel=kvm", "-m", "1024"],
        ] {
            assert!(
                matches!(of(args), KvmUse::Required { .. }),
                "{args:?}: {:?}",
                of(args)
            );
        }
        assert_eq!(
            of(&["-machine", "q35,accel=kvm", "-smp", "2"]),
            KvmUse::Required {
                asked_by: "-machine q35,accel=kvm".into()
            }
        );
    }

    #[test]
    fn a_second_accelerator_after_kvm_is_a_fallback() {
        for args in [
            &["-machine", "q35,accel=kvm:tcg"][..],
            &["-accel", "kvm", "-accel", "tcg"],
        ] {
            assert!(matches!(of(args), KvmUse::WithFallback { .. }), "{args:?}");
        }
    }

    #[test]
    fn tcg_first_or_nothing_said_is_no_kvm() {
        assert_eq!(of(&["-machine", "q35,accel=tcg"]), KvmUse::No);
        assert_eq!(of(&["-machine", "q35,accel=tcg:kvm"]), KvmUse::No);
        assert_eq!(of(&["-machine", "q35", "-m", "512"]), KvmUse::No);
        // A value that merely contains the word is no option.
        assert_eq!(of(&["-append", "-enable-kvm"]), KvmUse::No);
    }
}
