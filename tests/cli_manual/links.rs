//! Every relative link in the repository's Markdown files (README.md, CONTRIBUTING.md, docs/,
//! bench/, guest/) reaches an existing file or folder and, with `#anchor`, a heading of the
//! Markdown file it names, spelled as GitHub makes anchors. Links in code are not links.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{read, repo};

/// The repository's Markdown files, build output and hidden folders left out.
fn markdown_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            markdown_files(&path, found);
        } else if name.ends_with(".md") {
            found.push(path);
        }
    }
}

/// The lines of `text` that are prose: fenced code blocks blanked, inline code spans removed.
fn prose_lines(text: &str) -> Vec<String> {
    let mut in_fence = false;
    text.lines()
        .map(|line| {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
                return String::new();
            }
            if in_fence {
                return String::new();
            }
            // Between the odd and even backticks is code.
            line.split('`').step_by(2).collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, other punctuation dropped.
fn slug(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings; a repeated one gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_fence = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        let title = title.trim_start_matches('#');
        if in_fence || !title.starts_with(' ') {
            continue;
        }
        let base = slug(title.trim().trim_end_matches('#').trim());
        let mut anchor = base.clone();
        let mut n = 0;
        while !found.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    found
}

/// The relative link targets of a Markdown text, with their line numbers.
fn relative_links(text: &str) -> Vec<(usize, String)> {
    let mut links = Vec::new();
    for (index, line) in prose_lines(text).iter().enumerate() {
        for (at, _) in line.match_indices("](") {
            let rest = &line[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split_whitespace().next().unwrap_or_default();
            let target = target.trim_start_matches('<').trim_end_matches('>');
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            links.push((index + 1, target.to_string()));
        }
    }
    links
}

/// Every link of `file` (whose text is `text`) that reaches nothing, one sentence each.
fn broken_links(file: &Path, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (line, target) in relative_links(text) {
        let (path, anchor) = match target.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (target.as_str(), None),
        };
        let dest = if path.is_empty() {
            file.to_path_buf()
        } else {
            file.parent().unwrap().join(path)
        };
        let at = format!("{}:{line}: link ({target})", file.display());
        if !dest.exists() {
            problems.push(format!("{at}: {} does not exist", dest.display()));
            continue;
        }
        let Some(anchor) = anchor else { continue };
        if dest.extension().is_some_and(|e| e == "md") {
            let known = anchors(&read(&dest));
            if !known.contains(anchor) {
                problems.push(format!(
                    "{at}: {} has no heading with the anchor #{anchor} (its anchors: {})",
                    dest.display(),
                    known.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    problems
}

#[test]
fn every_relative_link_in_the_markdown_files_reaches_a_file_and_heading() {
    let mut files = Vec::new();
    markdown_files(repo(), &mut files);
    for expected in [
        "README.md",
        "CONTRIBUTING.md",
        "docs/commands.md",
        "bench/README.md",
    ] {
        assert!(
            files.contains(&repo().join(expected)),
            "{expected} not searched: {files:?}"
        );
    }
    let problems: Vec<String> = files
        .iter()
        .flat_map(|file| broken_links(file, &read(file)))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn link_check_fails_on_a_missing_file_and_a_missing_heading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/b.md"), "# B\n\n## Real heading\n").unwrap();
    let a = dir.path().join("a.md");
    let text = "\
# Top, of `a`

[fine](sub/b.md#real-heading) and [a folder](sub/) and [here](#top-of-a)
[gone](missing.md) and [no such heading](sub/b.md#nope) [web](https://example.org/x.md)
`[code](nowhere.md)`

```
[fenced](nowhere-either.md)
```
";
    std::fs::write(&a, text).unwrap();
    let problems = broken_links(&a, text).join("\n");
    assert!(
        problems.contains("a.md:4: link (missing.md):"),
        "{problems}"
    );
    assert!(problems.contains("missing.md does not exist"), "{problems}");
    assert!(
        problems.contains("a.md:4: link (sub/b.md#nope):")
            && problems
                .contains("has no heading with the anchor #nope (its anchors: b, real-heading)"),
        "{problems}"
    );
    assert_eq!(problems.lines().count(), 2, "{problems}");
}

#[test]
fn anchors_are_spelled_as_github_spells_them() {
    let text = "\
# qcmdr — QEMU Commander
### `qcmdr serial VM [-f] [-n N]`
## args: the ancestor's semantics, exactly
## Images
## Images
```
# not a heading
```
#hashtag
";
    let expected = [
        "args-the-ancestors-semantics-exactly",
        "images",
        "images-1",
        "qcmdr--qemu-commander",
        "qcmdr-serial-vm--f--n-n",
    ];
    assert_eq!(anchors(text), expected.map(String::from).into());
}
