//! Dynamic shell completion of VM names (clap_complete's `COMPLETE=<shell> qcmdr` protocol):
//! the names come from the config the command line would load, read when TAB is pressed.

use std::ffi::OsString;
use std::path::PathBuf;

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};

/// Candidates for an argument that names a VM.
pub fn vms() -> ArgValueCandidates {
    ArgValueCandidates::new(vm_names)
}

fn vm_names() -> Vec<CompletionCandidate> {
    let explicit = config_option(std::env::args_os());
    let Ok(file) = crate::config::locate(explicit.as_deref()) else {
        return Vec::new();
    };
    // A config with errors completes nothing; `qcmdr check` explains it.
    let Ok(project) = crate::config::load(&file) else {
        return Vec::new();
    };
    project
        .vms
        .iter()
        .map(|vm| CompletionCandidate::new(&vm.name).help(Some(vm.arch.clone().into())))
        .collect()
}

/// The `-c FILE` / `--config FILE` / `--config=FILE` among the words being completed.
fn config_option(words: impl Iterator<Item = OsString>) -> Option<PathBuf> {
    let words: Vec<OsString> = words.collect();
    let mut found = None;
    for (i, word) in words.iter().enumerate() {
        let text = word.to_string_lossy();
        if text == "-c" || text == "--config" {
            found = words.get(i + 1).map(PathBuf::from);
        } else if let Some(value) = text.strip_prefix("--config=") {
            found = Some(PathBuf::from(value));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_config_option_in_any_spelling() {
        let words = |line: &str| line.split(' ').map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_option(words("qcmdr -- qcmdr -c a.lua start ").into_iter()),
            Some(PathBuf::from("a.lua"))
        );
        assert_eq!(
            config_option(words("qcmdr -- qcmdr --config=b.lua stop").into_iter()),
            Some(PathBuf::from("b.lua"))
        );
        assert_eq!(
            config_option(words("qcmdr -- qcmdr start").into_iter()),
            None
        );
    }
}
