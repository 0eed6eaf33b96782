//! Who this process is, as the access checks need it: its uid and user name, the groups the
//! process really has, and the groups the account database lists the user in. The two group
//! sets differ after `usermod -aG` until the user logs in again, the classic reason
//! `/dev/kvm` stays closed to someone who "is in the kvm group".

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    /// From `/etc/passwd`; `None` for a uid it does not list.
    pub name: Option<String>,
    /// The primary group `/etc/passwd` gives the user.
    pub primary_gid: Option<u32>,
    /// The real and effective gid and the supplementary groups of this process.
    pub process_gids: Vec<u32>,
    /// Every group of `/etc/group`.
    pub groups: Vec<Group>,
}

impl Account {
    /// This process, with `/etc/passwd` and `/etc/group` as they are now.
    pub fn current() -> Account {
        use rustix::process::{getegid, getgid, getgroups, getuid};
        let mut process_gids = vec![getgid().as_raw(), getegid().as_raw()];
        process_gids.extend(getgroups().unwrap_or_default().iter().map(|g| g.as_raw()));
        let read = |file: &str| std::fs::read_to_string(file).unwrap_or_default();
        Account::from_files(
            getuid().as_raw(),
            process_gids,
            &read("/etc/passwd"),
            &read("/etc/group"),
        )
    }

    /// The account of `uid` as the text of `/etc/passwd` and `/etc/group` describes it.
    pub fn from_files(uid: u32, process_gids: Vec<u32>, passwd: &str, group: &str) -> Account {
        let entry = passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4 && fields[2].parse() == Ok(uid))
                .then(|| (fields[0].to_string(), fields[3].parse().ok()))
        });
        let groups = group
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                Some(Group {
                    name: fields.first()?.to_string(),
                    gid: fields.get(2)?.parse().ok()?,
                    members: fields
                        .get(3)
                        .map(|m| {
                            m.split(',')
                                .filter(|m| !m.is_empty())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            })
            .collect();
        Account {
            uid,
            name: entry.as_ref().map(|(name, _)| name.clone()),
            primary_gid: entry.and_then(|(_, gid)| gid),
            process_gids,
            groups,
        }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// The user's name, or `uid N` when the account database does not know it.
    pub fn user(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("uid {}", self.uid))
    }

    /// The name of group `gid`, or its number.
    pub fn group_name(&self, gid: u32) -> String {
        self.groups
            .iter()
            .find(|g| g.gid == gid)
            .map_or_else(|| gid.to_string(), |g| g.name.clone())
    }

    /// Whether this process has group `gid` now.
    pub fn process_has(&self, gid: u32) -> bool {
        self.process_gids.contains(&gid)
    }

    /// Whether the account database puts the user in group `gid` (a fresh login gets it).
    pub fn listed_in(&self, gid: u32) -> bool {
        self.primary_gid == Some(gid)
            || self.name.as_ref().is_some_and(|name| {
                self.groups
                    .iter()
                    .any(|g| g.gid == gid && g.members.contains(name))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nkvm:x:993:alice,bob\nalice:x:1000:\nbroken line\n";

    #[test]
    fn listed_groups_come_from_the_database_and_process_groups_from_the_process() {
        let account = Account::from_files(1000, vec![1000], PASSWD, GROUP);
        assert_eq!(account.user(), "alice");
        assert!(account.listed_in(993) && !account.process_has(993));
        assert!(account.listed_in(1000) && account.process_has(1000));
        assert!(!account.listed_in(0));
        assert_eq!(account.group_name(993), "kvm");
        assert_eq!(account.group_name(4242), "4242");
    }

    #[test]
    fn an_unknown_uid_is_named_by_number_and_in_no_group() {
        let account = Account::from_files(4242, vec![4242], PASSWD, GROUP);
        assert_eq!(account.user(), "uid 4242");
        assert!(!account.listed_in(993));
    }
}
