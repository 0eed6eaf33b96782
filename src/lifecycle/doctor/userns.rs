//! What a `debian` image build as a regular user needs (mmdebstrap in a user namespace): a
//! range of subordinate uids and gids for the user (`/etc/subuid`, `/etc/subgid`), the
//! setuid helpers `newuidmap`/`newgidmap` (package uidmap) that map them, and a kernel that
//! lets an unprivileged user make a user namespace. Root needs none of it.
//!
//! [`read`] gathers the facts; [`judge`] is pure over them.

use crate::runtime::helper::HelperError;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::account::Account;
use super::finding::{severity, Finding, Status};
use crate::runtime::executable::find_on_path;

/// mmdebstrap maps a whole 16-bit id space into the namespace.
pub const IDS_NEEDED: u64 = 65536;

/// A trivial command in a new user namespace answers in milliseconds.
const UNSHARE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct UsernsFacts {
    pub account: Account,
    /// The text of `/etc/subuid` and `/etc/subgid`; `None` when missing.
    pub subuid: Option<String>,
    pub subgid: Option<String>,
    pub newuidmap: Option<PathBuf>,
    pub newgidmap: Option<PathBuf>,
    /// `/proc/sys/kernel/unprivileged_userns_clone` (Debian's switch; absent elsewhere).
    pub unprivileged_userns_clone: Option<String>,
    /// `/proc/sys/user/max_user_namespaces`.
    pub max_user_namespaces: Option<String>,
    /// `unshare --user --map-root-user true`: `Ok`, or what it printed when it failed.
    pub unshare: Result<(), HelperError>,
}

pub fn read() -> UsernsFacts {
    let text = |path: &str| std::fs::read_to_string(path).ok();
    let account = Account::current();
    // Root builds without a user namespace: nothing to try.
    let unshare = if account.is_root() {
        Ok(())
    } else {
        try_unshare()
    };
    UsernsFacts {
        account,
        subuid: text("/etc/subuid"),
        subgid: text("/etc/subgid"),
        newuidmap: find_on_path("newuidmap"),
        newgidmap: find_on_path("newgidmap"),
        unprivileged_userns_clone: text("/proc/sys/kernel/unprivileged_userns_clone"),
        max_user_namespaces: text("/proc/sys/user/max_user_namespaces"),
        unshare,
    }
}

fn try_unshare() -> Result<(), HelperError> {
    let mut command = Command::new("unshare");
    command.args(["--user", "--map-root-user", "true"]);
    super::probe_output(command, UNSHARE_TIMEOUT).map(drop)
}

/// The findings; `needed` when the config has a `debian` image (else problems only warn).
pub fn judge(facts: &UsernsFacts, needed: bool) -> Vec<Finding> {
    let account = &facts.account;
    if account.is_root() {
        return vec![Finding::ok(
            "userns",
            "running as root: image builds need no user namespace",
        )];
    }
    let status = severity(needed);
    let user = account.user();
    let mut findings = Vec::new();
    for (check, file, text) in [
        ("subuid", "/etc/subuid", &facts.subuid),
        ("subgid", "/etc/subgid", &facts.subgid),
    ] {
        let count = text.as_deref().map_or(0, |t| ids_of(t, account));
        findings.push(if count >= IDS_NEEDED {
            Finding::ok(check, format!("{file} gives {user} {count} ids"))
        } else {
            Finding::problem(
                check,
                status,
                format!(
                    "{file} gives {user} {count} subordinate ids (a rootless image build \
                     needs {IDS_NEEDED})"
                ),
                format!(
                    "sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \
                     {user} (adduser does this for new users)"
                ),
            )
        });
    }
    findings.push(match (&facts.newuidmap, &facts.newgidmap) {
        (Some(uid), Some(_)) => Finding::ok("uidmap", format!("{}", uid.display())),
        _ => Finding::problem(
            "uidmap",
            status,
            "newuidmap/newgidmap are not on PATH, so no subordinate ids can be mapped",
            "sudo apt-get install uidmap",
        ),
    });
    findings.push(kernel_switches(facts, status));
    findings
}

/// Subordinate ids `text` (`/etc/subuid` format: `user-or-uid:start:count`) gives `account`.
fn ids_of(text: &str, account: &Account) -> u64 {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let (owner, _start, count) = (fields.next()?, fields.next()?, fields.next()?);
            let mine = account.name.as_deref() == Some(owner) || owner == account.uid.to_string();
            mine.then(|| count.parse::<u64>().ok()).flatten()
        })
        .sum()
}

fn kernel_switches(facts: &UsernsFacts, status: Status) -> Finding {
    let is_zero = |value: &Option<String>| value.as_deref().map(str::trim) == Some("0");
    if is_zero(&facts.unprivileged_userns_clone) {
        return Finding::problem(
            "userns",
            status,
            "kernel.unprivileged_userns_clone is 0: regular users may not make user namespaces",
            "sudo sysctl -w kernel.unprivileged_userns_clone=1 (and put it in /etc/sysctl.d/)",
        );
    }
    if is_zero(&facts.max_user_namespaces) {
        return Finding::problem(
            "userns",
            status,
            "user.max_user_namespaces is 0: no user namespaces may be made",
            "sudo sysctl -w user.max_user_namespaces=15000 (and put it in /etc/sysctl.d/)",
        );
    }
    match &facts.unshare {
        Ok(()) => Finding::ok("userns", "unshare --user works for this user"),
        Err(why) => Finding::problem(
            "userns",
            status,
            format!(
                "unshare --user --map-root-user true failed: {}",
                crate::error_chain::chain(why)
            ),
            "allow unprivileged user namespaces (e.g. on Ubuntu: sudo sysctl -w \
             kernel.apparmor_restrict_unprivileged_userns=0)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UsernsFacts {
        UsernsFacts {
            account: Account::from_files(
                1000,
                vec![1000],
                "alice:x:1000:1000::/home/alice:/bin/sh\n",
                "",
            ),
            subuid: Some("bob:100000:65536\nalice:165536:65536\n".into()),
            subgid: Some("1000:165536:65536\n".into()),
            newuidmap: Some("/usr/bin/newuidmap".into()),
            newgidmap: Some("/usr/bin/newgidmap".into()),
            unprivileged_userns_clone: Some("1\n".into()),
            max_user_namespaces: Some("15000\n".into()),
            unshare: Ok(()),
        }
    }

    fn failing(findings: &[Finding]) -> Vec<&Finding> {
        findings.iter().filter(|f| f.status != Status::Ok).collect()
    }

    #[test]
    fn a_complete_setup_passes_by_name_or_by_uid() {
        assert!(failing(&judge(&alice(), true)).is_empty());
    }

    #[test]
    fn no_subuid_range_says_usermod_add_subuids() {
        let mut facts = alice();
        facts.subuid = Some("bob:100000:65536\n".into());
        let findings = judge(&facts, true);
        let bad = failing(&findings);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].check, "subuid");
        assert_eq!(bad[0].status, Status::Failure);
        assert!(bad[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("usermod --add-subuids"));
    }

    #[test]
    fn no_uidmap_says_install_it_and_only_warns_without_a_debian_image() {
        let mut facts = alice();
        facts.newuidmap = None;
        let findings = judge(&facts, false);
        let bad = failing(&findings);
        assert_eq!(bad[0].check, "uidmap");
        assert_eq!(bad[0].status, Status::Warning);
        assert_eq!(bad[0].fix.as_deref(), Some("sudo apt-get install uidmap"));
    }

    #[test]
    fn kernel_switches_off_name_the_sysctl() {
        let mut facts = alice();
        facts.unprivileged_userns_clone = Some("0\n".into());
        let findings = judge(&facts, true);
        assert!(failing(&findings)[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("kernel.unprivileged_userns_clone=1"));
        let mut facts = alice();
        facts.unshare = Err(HelperError::Exited {
            program: "unshare".into(),
            status: std::os::unix::process::ExitStatusExt::from_raw(256),
            stderr: "unshare: unshare failed: Operation not permitted".into(),
        });
        assert!(failing(&judge(&facts, true))[0]
            .summary
            .contains("Operation not permitted"));
    }

    #[test]
    fn root_needs_nothing() {
        let mut facts = alice();
        facts.account = Account::from_files(0, vec![0], "root:x:0:0::/root:/bin/sh\n", "");
        facts.subuid = None;
        facts.newuidmap = None;
        assert!(failing(&judge(&facts, true)).is_empty());
    }
}
