//! The layer and import check, run with the tests (so CI runs it): every `src/**/*.rs` is
//! read for the modules it names (`use` trees, `crate::`/`super::`/`self::` paths), and the
//! check fails on
//! - an upward import by the layer table [`LAYERS`] (say `crate::lifecycle` under `qemu/`),
//! - a top-level module the table does not place,
//! - an import circle between files (a module's own file using its children does not count:
//!   see [`circles`]), or between sibling modules (two folders of `lifecycle/`, two files of
//!   `start/`, two top-level modules of one layer),
//!
//! and on an import circle between the Python scripts of `bench/`. The table is the one
//! CONTRIBUTING.md (Layers) and `src/lib.rs` show; change all three together.

mod graph;
mod python;
mod rust_source;
mod synthetic;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top to bottom. A module may use the modules of lower layers, and peers of its
/// own layer as long as that makes no circle; [`ANYWHERE`] may be used by all.
pub const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["lifecycle", "console", "config"],
    &["images"],
    &["qemu", "ssh", "sync", "logs", "mounts", "kernel_tree"],
    &["runtime", "state_dir"],
    &["model"],
];

/// Usable from every layer; uses nothing of the crate.
pub const ANYWHERE: &[&str] = &["error_chain"];

/// One module-to-module import, where it was written.
#[derive(Debug, Clone)]
pub struct Import {
    pub from: String,
    pub to: String,
    pub at: String,
}

/// The file modules of the tree below `src` (`images::build` for `src/images/build.rs`) and
/// the imports between them. `src/main.rs` is the binary, not a module of the library.
pub fn imports(src: &Path) -> (BTreeMap<String, PathBuf>, Vec<Import>) {
    let mut files = BTreeMap::new();
    collect(src, src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.keys().map(|m| split(m)).collect();
    let is_module = |path: &[String]| modules.contains(path);
    let mut found = Vec::new();
    for (module, file) in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let own = split(module);
        for reference in rust_source::references(&text, &own, &is_module) {
            // The longest prefix that is a file module: `runtime::helper::Helper` is in
            // `runtime::helper`.
            let Some(target) = (0..=reference.path.len())
                .rev()
                .map(|n| &reference.path[..n])
                .find(|prefix| !prefix.is_empty() && is_module(prefix))
            else {
                continue;
            };
            if target != own.as_slice() {
                found.push(Import {
                    from: module.clone(),
                    to: target.join("::"),
                    at: format!(
                        "{}:{}",
                        file.strip_prefix(src.parent().unwrap_or(src))
                            .unwrap_or(file)
                            .display(),
                        reference.line
                    ),
                });
            }
        }
    }
    (files, found)
}

fn split(module: &str) -> Vec<String> {
    module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<String, PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        if path.extension().map_or(true, |e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap().with_extension("");
        let mut parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        match parts.last().map(String::as_str) {
            Some("main") if parts.len() == 1 => continue,
            Some("lib") if parts.len() == 1 => parts.clear(),
            Some("mod") => {
                parts.pop();
            }
            _ => {}
        }
        files.insert(parts.join("::"), path);
    }
}

/// Everything wrong with the imports of the tree below `src`, one line each.
pub fn problems(src: &Path) -> Vec<String> {
    let (files, imports) = imports(src);
    let mut problems = Vec::new();
    let rank = |top: &str| {
        LAYERS
            .iter()
            .position(|layer| layer.contains(&top))
            .map(|at| LAYERS.len() - at)
            .or(ANYWHERE.contains(&top).then_some(0))
    };
    let tops: BTreeSet<&str> = files
        .keys()
        .filter_map(|m| m.split("::").next())
        .filter(|t| !t.is_empty())
        .collect();
    for top in &tops {
        if rank(top).is_none() {
            problems.push(format!(
                "src/{top}: a top-level module the layer table does not place (add it to LAYERS, CONTRIBUTING.md and src/lib.rs)"
            ));
        }
    }
    for import in &imports {
        let (from, to) = (top_of(&import.from), top_of(&import.to));
        if from.is_empty() || to.is_empty() || from == to {
            continue;
        }
        let (Some(from_rank), Some(to_rank)) = (rank(from), rank(to)) else {
            continue;
        };
        if !ANYWHERE.contains(&to) && from_rank < to_rank {
            problems.push(format!(
                "{}: `{}` uses `crate::{}`, a higher layer ({to} is above {from})",
                import.at, import.from, import.to
            ));
        }
        if ANYWHERE.contains(&from) {
            problems.push(format!(
                "{}: `{}` uses `crate::{}`, but {from} may be used anywhere and so uses nothing",
                import.at, import.from, import.to
            ));
        }
    }
    problems.extend(circles(&imports));
    problems
}

/// True if `module` is a direct child of `parent` (`images::build` of `images`).
fn is_child(module: &str, parent: &str) -> bool {
    let (module, parent) = (split(module), split(parent));
    module.len() == parent.len() + 1 && module.starts_with(&parent)
}

fn top_of(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}

/// File-level circles, then circles between the children of each module.
fn circles(imports: &[Import]) -> Vec<String> {
    let mut problems = Vec::new();
    // Files. A module's own file may use its children (it declares them, re-exports them,
    // dispatches to them) while they use what it defines (the error type of `snapshot/`,
    // `Cli` and `Failure` of `cli/`): that is the module, not a circle between files.
    let file_edges = edges(
        imports
            .iter()
            .filter(|i| !is_child(&i.to, &i.from))
            .map(|i| (i.from.clone(), i.to.clone())),
    );
    for group in graph::circles(&file_edges) {
        problems.push(format!(
            "import circle between files: {}{}",
            group.join(" <-> "),
            evidence(imports, &group, &|m: &str| m.to_string())
        ));
    }
    // Siblings: the children of one parent (`lifecycle::start` and `lifecycle::snapshot`,
    // or two top-level modules), each standing for everything below it.
    let mut parents: BTreeSet<String> = BTreeSet::new();
    for import in imports {
        for module in [&import.from, &import.to] {
            let parts = split(module);
            for n in 0..parts.len() {
                parents.insert(parts[..n].join("::"));
            }
        }
    }
    for parent in parents {
        let child_of = |module: &str| -> Option<String> {
            let parts = split(module);
            let depth = split(&parent).len();
            (parts.len() > depth && parts[..depth].join("::") == parent)
                .then(|| parts[..=depth].join("::"))
        };
        let sibling_edges = edges(imports.iter().filter_map(|i| {
            let (from, to) = (child_of(&i.from)?, child_of(&i.to)?);
            (from != to).then_some((from, to))
        }));
        for group in graph::circles(&sibling_edges) {
            let under = |m: &str| child_of(m).unwrap_or_default();
            problems.push(format!(
                "import circle between the modules {}{}",
                group.join(" <-> "),
                evidence(imports, &group, &under)
            ));
        }
    }
    problems
}

fn edges(pairs: impl Iterator<Item = (String, String)>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in pairs {
        edges.entry(from).or_default().insert(to);
    }
    edges
}

/// Where the imports that make up a circle are written (the first of each pair).
fn evidence(imports: &[Import], group: &[String], node: &dyn Fn(&str) -> String) -> String {
    let members: BTreeSet<&String> = group.iter().collect();
    let mut seen = BTreeSet::new();
    let mut lines = Vec::new();
    for import in imports {
        let (from, to) = (node(&import.from), node(&import.to));
        if from != to
            && members.contains(&from)
            && members.contains(&to)
            && seen.insert((from.clone(), to.clone()))
        {
            lines.push(format!(
                "\n    {}: {} uses {}",
                import.at, import.from, import.to
            ));
        }
    }
    lines.concat()
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_source_tree_has_no_upward_import_and_no_import_circle() {
    // The check reads the real tree: imports known to be there are seen.
    let (files, found) = imports(&repo().join("src"));
    assert!(files.len() > 100, "{} files", files.len());
    for (from, to) in [
        ("lifecycle::status", "runtime::helper"),
        ("images::build", "images::tree"),
        ("cli", "cli::cmd_start"),
    ] {
        assert!(
            found.iter().any(|i| i.from == from && i.to == to),
            "no import {from} -> {to} seen"
        );
    }
    let problems = problems(&repo().join("src"));
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_bench_scripts_import_each_other_without_a_circle() {
    let problems = python::circles(&repo().join("bench"));
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_layer_table_is_the_one_lib_rs_and_contributing_show() {
    let table: Vec<String> = LAYERS.iter().map(|layer| layer.join(", ")).collect();
    for file in ["src/lib.rs", "CONTRIBUTING.md"] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        for (at, layer) in table.iter().enumerate() {
            let line = format!("{}. {layer}", at + 1);
            assert!(text.contains(&line), "{file} does not list layer {line:?}");
        }
        let anywhere = format!("anywhere: {}", ANYWHERE.join(", "));
        assert!(text.contains(&anywhere), "{file} does not say {anywhere:?}");
    }
}
