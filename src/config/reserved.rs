//! QEMU options qcmdr adds itself, so a user's copy would break or confuse its control.
//!
//! qcmdr appends a pidfile, a QMP socket, a human monitor and the serial console (a chardev
//! with a log) to every VM; these checks turn a would-be runtime mystery into a load error
//! that says what to do instead.

/// Chardev/monitor ids qcmdr creates; a user device with one of these ids would collide.
const RESERVED_IDS: &[(&str, &str)] = &[
    ("qcmdr-qmp", "its QMP socket"),
    ("qcmdr-monitor", "its monitor socket"),
    ("qcmdr-serial", "the serial console"),
];

/// One message per reserved option found in `words` (the user's flattened QEMU words).
pub(crate) fn check(words: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, word) in words.iter().enumerate() {
        // QEMU accepts `--opt` for every `-opt`.
        let option = match word.strip_prefix("--") {
            Some(rest) if !rest.is_empty() => format!("-{rest}"),
            _ => word.clone(),
        };
        if let Some(why) = reason(&option) {
            problems.push(format!("{word} {why}"));
        }
        if option == "-chardev" || option == "-mon" {
            if let Some(value) = words.get(i + 1) {
                problems.extend(reserved_id(word, value));
            }
        }
    }
    problems
}

/// Why `option` (normalised to one dash) is qcmdr's, and what to do instead.
fn reason(option: &str) -> Option<&'static str> {
    Some(match option {
        "-daemonize" => {
            "is managed by qcmdr (it runs QEMU detached itself and needs its exit code); remove it"
        }
        "-pidfile" => {
            "is managed by qcmdr (it writes the pidfile itself to track the VM); remove it"
        }
        "-qmp" | "-qmp-pretty" => {
            "is managed by qcmdr (it connects its own QMP socket to control the VM; for another \
             one use -chardev socket,id=NAME,... -mon chardev=NAME,mode=control); remove it"
        }
        "-monitor" => {
            "is managed by qcmdr (it attaches the monitor to its own socket; for another one use \
             -chardev socket,id=NAME,... -mon chardev=NAME); remove it"
        }
        "-serial" => {
            "is managed by qcmdr (it connects the serial port to its console socket and log, \
             where it watches for the login prompt); remove it"
        }
        "-nographic" => {
            "is managed by qcmdr (it would take the serial port and monitor to stdio, which \
             qcmdr connects itself); use -display none instead"
        }
        _ => return None,
    })
}

/// A `-chardev`/`-mon` value that names one of qcmdr's ids (`id=` or `chardev=`).
fn reserved_id(option: &str, value: &str) -> Option<String> {
    value.split(',').find_map(|param| {
        let (key, id) = param.split_once('=')?;
        if key != "id" && key != "chardev" {
            return None;
        }
        let (_, purpose) = RESERVED_IDS.iter().find(|(reserved, _)| *reserved == id)?;
        Some(format!(
            "{option} {param}: the id {id:?} is reserved by qcmdr for {purpose}; choose another id"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_words(list: &[&str]) -> Vec<String> {
        check(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn plain_args_pass() {
        let ok = check_words(&[
            "-display",
            "none",
            "-chardev",
            "socket,id=mine,path=/tmp/x",
            "-mon",
            "chardev=mine",
        ]);
        assert_eq!(ok, Vec::<String>::new());
    }

    #[test]
    fn each_reserved_option_is_refused_with_a_reason() {
        for option in [
            "-daemonize",
            "-pidfile",
            "-qmp",
            "-qmp-pretty",
            "-monitor",
            "-serial",
            "-nographic",
        ] {
            let found = check_words(&[option]);
            assert_eq!(found.len(), 1, "{option}");
            assert!(found[0].starts_with(&format!("{option} is managed by qcmdr (")));
        }
        assert_eq!(
            check_words(&["-pidfile", "/tmp/p"]),
            ["-pidfile is managed by qcmdr (it writes the pidfile itself to track the VM); remove it"]
        );
        assert!(check_words(&["-nographic"])[0].ends_with("; use -display none instead"));
    }

    #[test]
    fn double_dash_spellings_are_caught() {
        assert_eq!(
            check_words(&["--daemonize"]),
            ["--daemonize is managed by qcmdr (it runs QEMU detached itself and needs its exit code); remove it"]
        );
        assert_eq!(check_words(&["--serial", "stdio"]).len(), 1);
    }

    #[test]
    fn reserved_ids_are_refused() {
        assert_eq!(
            check_words(&["-chardev", "socket,id=qcmdr-qmp,path=/x"]),
            [
                r#"-chardev id=qcmdr-qmp: the id "qcmdr-qmp" is reserved by qcmdr for its QMP socket; choose another id"#
            ]
        );
        assert_eq!(
            check_words(&["--mon", "chardev=qcmdr-monitor,mode=readline"]),
            [
                r#"--mon chardev=qcmdr-monitor: the id "qcmdr-monitor" is reserved by qcmdr for its monitor socket; choose another id"#
            ]
        );
        assert_eq!(
            check_words(&["-chardev", "file,id=qcmdr-serial,path=/x"]).len(),
            1
        );
    }
}
