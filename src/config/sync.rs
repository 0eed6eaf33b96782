//! A VM's `sync` list: host folders mirrored into the guest.

use std::path::{Path, PathBuf};

use mlua::Value;

use super::problems::{Fields, Scope};
use crate::model::{SyncEngine, SyncSpec};

const KEYS: &[&str] = &["source", "dest", "ignore_vcs", "ignore", "mode", "engine"];
/// Mutagen's synchronization modes.
pub(crate) const MODES: &[&str] = &[
    "one-way-replica",
    "one-way-safe",
    "two-way-safe",
    "two-way-resolved",
];
pub(crate) const ENGINES: &[&str] = &["mutagen", "rsync"];

pub(crate) fn engine(name: &str) -> SyncEngine {
    if name == "rsync" {
        SyncEngine::Rsync
    } else {
        SyncEngine::Mutagen
    }
}

/// Where relative paths and `~`/`$VAR` are resolved.
pub(crate) struct ConfigEnv<'a> {
    pub config_dir: &'a Path,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub default_engine: SyncEngine,
    /// The validated `images`, for VMs that name one.
    pub images: &'a [crate::model::Image],
    /// Every name in `images`, including those of images with problems.
    pub image_names: &'a [String],
}

/// The `sync` list at `path` (`sync`).
pub(crate) fn list(
    scope: &mut Scope<'_>,
    path: &str,
    value: &Value,
    ctx: &ConfigEnv<'_>,
) -> Option<Vec<SyncSpec>> {
    let items = scope.list(path, value)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match entry(scope, &format!("{path}[{}]", i + 1), item, ctx) {
            Some(spec) => out.push(spec),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn entry(
    scope: &mut Scope<'_>,
    path: &str,
    value: &Value,
    ctx: &ConfigEnv<'_>,
) -> Option<SyncSpec> {
    let table = scope.table(path, value)?;
    let mut f = Fields::new(scope, path, &table);

    let source = match f.take("source") {
        Some(v) => scope
            .non_empty_text(&f.path_of("source"), &v)
            .and_then(|text| source_dir(scope, &f.path_of("source"), &text, ctx)),
        None => {
            scope.missing(&f.path_of("source"), "a host folder");
            None
        }
    };
    let dest = match f.take("dest") {
        Some(v) => scope.non_empty_text(&f.path_of("dest"), &v),
        None => {
            scope.missing(&f.path_of("dest"), "a path in the guest");
            None
        }
    };
    let ignore_vcs = match f.take("ignore_vcs") {
        Some(v) => scope.boolean(&f.path_of("ignore_vcs"), &v),
        None => Some(false),
    };
    let ignore = match f.take("ignore") {
        // Each one pattern exactly as written.
        Some(v) => scope.non_empty_texts(&f.path_of("ignore"), &v),
        None => Some(Vec::new()),
    };
    let engine_ok = match f.take("engine") {
        Some(v) => scope
            .choice(&f.path_of("engine"), &v, ENGINES)
            .map(|name| engine(&name)),
        None => Some(ctx.default_engine),
    };
    let mode = match f.take("mode") {
        Some(v) => scope.choice(&f.path_of("mode"), &v, MODES),
        None => Some(MODES[0].to_string()),
    };
    // rsync copies one way and deletes extras: only the replica mode describes it honestly.
    if let (Some(engine), Some(mode)) = (engine_ok, &mode) {
        if engine == SyncEngine::Rsync && mode != MODES[0] {
            scope.problem(
                &f.path_of("mode"),
                format!("the rsync engine only supports \"one-way-replica\", got {mode:?} (use engine = \"mutagen\" for it)"),
            );
            return None;
        }
    }
    f.finish(scope, KEYS);

    Some(SyncSpec {
        source: source?,
        dest: dest?,
        ignore_vcs: ignore_vcs?,
        ignore: ignore?,
        mode: mode?,
        engine: engine_ok?,
    })
}

/// `~` and `$VAR` expanded, made absolute against the config's folder. Whether it exists is
/// this machine's business, checked when the VM's sync runs (and warned about by `check`): a
/// config shared across machines must load on all of them.
fn source_dir(
    scope: &mut Scope<'_>,
    path: &str,
    text: &str,
    ctx: &ConfigEnv<'_>,
) -> Option<PathBuf> {
    let absolute = host_path(scope, path, text, ctx)?;
    Some(absolute.canonicalize().unwrap_or(absolute))
}

/// A host path from the config: `~` and `$VAR` expanded, made absolute against the config's
/// folder (not checked for existence).
pub(crate) fn host_path(
    scope: &mut Scope<'_>,
    path: &str,
    text: &str,
    ctx: &ConfigEnv<'_>,
) -> Option<PathBuf> {
    let env = ctx.env;
    let expanded = shellexpand::full_with_context(
        text,
        || env("HOME"),
        // shellexpand leaves a variable the context does not know as-is; an error makes an
        // unset variable a problem instead of a folder literally named `$FOO`.
        |name| env(name).map(Some).ok_or(()),
    );
    let expanded = match expanded {
        Ok(expanded) => expanded.into_owned(),
        Err(e) => {
            scope.problem(
                path,
                format!(
                    "${} is not set (set it in the environment, or write $$ for a literal dollar)",
                    e.var_name
                ),
            );
            return None;
        }
    };
    Some(ctx.config_dir.join(&expanded))
}
