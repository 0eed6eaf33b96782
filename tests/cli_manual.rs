//! The manual held to the program, no VM needed: the README's command table names exactly the
//! commands clap knows (with options they really take), the README stays short, and every
//! relative link in the repository's Markdown files reaches a file and, with `#anchor`, a
//! heading in it. Each check is also run on doctored text, to show that it can fail.

mod command_table;
mod links;

use std::path::{Path, PathBuf};

/// The repository: the README, `docs/` and the other Markdown files are read from here.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn readme() -> PathBuf {
    repo().join("README.md")
}

/// Issue 16: users get a short README (what it is, install, the two commands, your own VM, the
/// command table, links); everything else lives in `docs/`.
const README_MAX_BYTES: usize = 12_000;

#[test]
fn readme_stays_within_12_kb() {
    let size = read(&readme()).len();
    assert!(
        size <= README_MAX_BYTES,
        "README.md is {size} bytes, more than {README_MAX_BYTES}: move the detail into a page of \
         docs/ and link it from the README"
    );
}
