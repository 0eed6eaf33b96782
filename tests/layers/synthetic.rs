//! The check against made-up trees: it finds what it must find, and only that.

use std::path::Path;

use super::{problems, python};

/// A `src/` folder with `files` (path, text) below a temporary folder.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = tmp.path().join("src").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    tmp
}

fn problems_of(files: &[(&str, &str)]) -> Vec<String> {
    let tmp = tree(files);
    problems(&tmp.path().join("src"))
}

const LIB: (&str, &str) = (
    "lib.rs",
    "pub mod cli;\npub mod lifecycle;\npub mod qemu;\npub mod runtime;\npub mod ssh;\n",
);

#[test]
fn an_upward_import_is_found_with_its_file_and_line() {
    let found = problems_of(&[
        LIB,
        ("cli/mod.rs", "use crate::lifecycle::start;\n"),
        ("lifecycle/mod.rs", "pub mod start;\n"),
        ("lifecycle/start.rs", "use crate::qemu::argv;\n"),
        ("qemu/mod.rs", "pub mod argv;\n"),
        (
            "qemu/argv.rs",
            "use std::fs;\n\nfn f() {\n    crate::lifecycle::start::run();\n}\n",
        ),
    ]);
    assert_eq!(
        found,
        [
            "src/qemu/argv.rs:4: `qemu::argv` uses `crate::lifecycle::start`, a higher layer (lifecycle is above qemu)",
            "import circle between files: lifecycle::start <-> qemu::argv\n    src/lifecycle/start.rs:1: lifecycle::start uses qemu::argv\n    src/qemu/argv.rs:4: qemu::argv uses lifecycle::start",
            "import circle between the modules lifecycle <-> qemu\n    src/lifecycle/start.rs:1: lifecycle::start uses qemu::argv\n    src/qemu/argv.rs:4: qemu::argv uses lifecycle::start",
        ]
    );
}

#[test]
fn a_circle_between_two_files_of_one_folder_is_found_through_use_trees_and_paths() {
    let found = problems_of(&[
        ("lib.rs", "pub mod runtime;\n"),
        ("runtime/mod.rs", "mod build;\nmod debian;\n"),
        (
            "runtime/build.rs",
            "use super::{manifest, debian::{self, Recipe}};\n",
        ),
        (
            "runtime/debian.rs",
            "fn f() { super::build::remove_tree(); }\n",
        ),
        ("runtime/manifest.rs", ""),
    ]);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("import circle between files: runtime::build <-> runtime::debian"),
        "{found:#?}"
    );
    assert!(
        found[1]
            .starts_with("import circle between the modules runtime::build <-> runtime::debian"),
        "{found:#?}"
    );
}

#[test]
fn a_circle_of_folders_is_found_though_no_two_files_import_each_other() {
    // a/x -> b/y and b/z -> a/w: no file circle, but `a` and `b` need each other.
    let found = problems_of(&[
        ("lib.rs", "pub mod lifecycle;\n"),
        ("lifecycle/mod.rs", "mod a;\nmod b;\n"),
        ("lifecycle/a/mod.rs", "mod w;\nmod x;\n"),
        ("lifecycle/a/x.rs", "use crate::lifecycle::b::y;\n"),
        ("lifecycle/a/w.rs", ""),
        ("lifecycle/b/mod.rs", "mod y;\nmod z;\n"),
        ("lifecycle/b/y.rs", ""),
        ("lifecycle/b/z.rs", "use super::super::a::w::Thing;\n"),
    ]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("import circle between the modules lifecycle::a <-> lifecycle::b"),
        "{found:#?}"
    );
}

#[test]
fn peers_of_one_layer_may_use_each_other_but_not_both_ways() {
    let one_way = [
        LIB,
        ("ssh/mod.rs", ""),
        ("qemu/mod.rs", "use crate::ssh::Target;\n"),
    ];
    assert_eq!(problems_of(&one_way), Vec::<String>::new());
    let both = [
        LIB,
        ("ssh/mod.rs", "use crate::qemu::Qmp;\n"),
        ("qemu/mod.rs", "use crate::ssh::Target;\n"),
    ];
    let found = problems_of(&both);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("import circle between the modules qemu <-> ssh")),
        "{found:#?}"
    );
}

#[test]
fn comments_strings_and_other_crates_do_not_count() {
    let found = problems_of(&[
        LIB,
        (
            "runtime/mod.rs",
            "//! Not `crate::cli`.\n/* crate::cli::x */\nconst A: &str = \"crate::cli::x\";\n\
             const B: &str = r#\"use crate::cli;\"#;\nconst C: char = '\"';\n\
             use std::fmt::Write as _;\nfn f<'a>(x: &'a str) { qcmdr::cli::run(); }\n",
        ),
        ("cli/mod.rs", ""),
    ]);
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn a_test_module_inside_a_file_resolves_super_to_that_file() {
    let found = problems_of(&[
        LIB,
        (
            "runtime/mod.rs",
            "fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::cli::x;\n}\n",
        ),
        ("cli/mod.rs", ""),
    ]);
    assert_eq!(
        found,
        ["src/runtime/mod.rs:5: `runtime` uses `crate::cli`, a higher layer (cli is above runtime)"]
    );
}

#[test]
fn a_top_level_module_the_table_does_not_place_is_reported() {
    let found = problems_of(&[("lib.rs", "pub mod gadgets;\n"), ("gadgets.rs", "")]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("src/gadgets: a top-level module the layer table does not place"));
}

#[test]
fn start_and_snapshot_using_each_other_is_a_circle() {
    // What the tree had before start and snapshots became peers.
    let found = problems_of(&[
        ("lib.rs", "pub mod lifecycle;\n"),
        ("lifecycle/mod.rs", "pub mod snapshot;\npub mod start;\n"),
        (
            "lifecycle/start/mod.rs",
            "use crate::lifecycle::snapshot::restore;\n",
        ),
        ("lifecycle/snapshot/mod.rs", "pub mod restore;\n"),
        (
            "lifecycle/snapshot/restore.rs",
            "use crate::lifecycle::start::start;\n",
        ),
    ]);
    assert!(
        found.iter().any(|p| p.starts_with(
            "import circle between the modules lifecycle::snapshot <-> lifecycle::start"
        )),
        "{found:#?}"
    );
}

#[test]
fn a_circle_between_scripts_is_found_a_shared_module_is_not_one() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(tmp.path().join(name), text).unwrap();
    write(
        "bench.py",
        "import os\n\ndef main():\n    from snapshot import report\n",
    );
    write(
        "snapshot.py",
        "import sys\nfrom bench import Bench  # noqa: E402\n",
    );
    let found = python::circles(tmp.path());
    assert_eq!(
        found,
        [format!(
            "import circle between {}/bench.py <-> snapshot.py",
            tmp.path().display()
        )]
    );
    write("common.py", "import json\n");
    write("snapshot.py", "import sys\nfrom common import Bench\n");
    assert_eq!(python::circles(tmp.path()), Vec::<String>::new());
    assert!(Path::new(&tmp.path().join("common.py")).exists());
}
