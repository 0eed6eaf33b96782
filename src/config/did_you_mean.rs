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

/// Edit distance where swapping two neighbours counts as one edit (optimal string alignment),
/// since `rsycn` for `rsync` is one slip of the fingers, not two.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between the first i chars of a and the first j chars of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
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
        assert_eq!(distance("rsycn", "rsync"), 1);
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
