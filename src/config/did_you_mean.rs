//! "Did you mean ...?" for misspelt keys, by edit distance.

/// The closest of `candidates` to `word`, if it is close enough to be a plausible typo.
///
/// Close enough: at most a third of the word's length in edits (at least one), so `vm` → `vms`
/// and `login_timout` → `login_timeout` are suggested but unrelated short words are not.
/// Case differences count as free, because `port` for `Port` is a typo worth naming.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (distance(&word.to_lowercase(), &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars (single-row dynamic programming).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const VM_KEYS: &[&str] = &["name", "arch", "login_timeout", "ssh", "args", "sync"];

    #[test]
    fn distances() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("same", "same"), 0);
    }

    #[test]
    fn suggests_close_typos() {
        assert_eq!(suggest("login_timout", VM_KEYS), Some("login_timeout"));
        assert_eq!(suggest("arg", VM_KEYS), Some("args"));
        assert_eq!(suggest("Name", VM_KEYS), Some("name"));
        assert_eq!(suggest("vm", &["vms", "sync_engine"]), Some("vms"));
    }

    #[test]
    fn stays_quiet_for_unrelated_words() {
        assert_eq!(suggest("memory", VM_KEYS), None);
        assert_eq!(suggest("x", &["vms"]), None);
    }
}
