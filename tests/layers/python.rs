//! Import circles between the Python scripts of one folder (`bench/`): `import x` and
//! `from x import ...`, anywhere in a file (a function's own import counts too), where `x`
//! is a script of the same folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::graph;

/// The circles between the scripts of `dir`, one line each (empty when there is none).
pub fn circles(dir: &Path) -> Vec<String> {
    let mut scripts = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "py") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            scripts.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, text) in &scripts {
        for imported in imports(text) {
            if scripts.contains_key(&imported) && imported != *name {
                edges.entry(name.clone()).or_default().insert(imported);
            }
        }
    }
    graph::circles(&edges)
        .into_iter()
        .map(|group| {
            let files: Vec<String> = group.iter().map(|m| format!("{m}.py")).collect();
            format!(
                "import circle between {}/{}",
                dir.display(),
                files.join(" <-> ")
            )
        })
        .collect()
}

/// The modules a script imports (the first dotted part of each).
pub fn imports(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.split('#').next().unwrap_or_default();
        if let Some(rest) = line.strip_prefix("import ") {
            for name in rest.split(',') {
                let name = name.split_whitespace().next().unwrap_or_default();
                found.push(name.split('.').next().unwrap_or_default().to_string());
            }
        } else if let Some(rest) = line.strip_prefix("from ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            if !name.starts_with('.') || name.len() > 1 {
                let name = name.trim_start_matches('.');
                found.push(name.split('.').next().unwrap_or_default().to_string());
            }
        }
    }
    found
}
