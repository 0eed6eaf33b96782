//! Lua config file → validated [`crate::model::Project`].
//!
//! `locate` finds the file, `load` evaluates it with embedded Lua 5.4 (with the ancestor's `htt`
//! helpers available) and validates the returned table, reporting every problem at once.

mod arch_defaults;
mod did_you_mean;
pub(crate) mod hostfwd;
mod images;
mod locate;
mod lua_env;
mod mounts;
mod problems;
mod project;
mod qemu_args;
mod reserved;
mod shell_words;
mod ssh_table;
mod sync;
mod value;
mod vm;
mod vm_image;

use std::path::{Path, PathBuf};

use crate::model::Project;

/// Why a config could not be found or loaded. `Display` is the full, user-facing text.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No config file in any of the places searched (listed in order).
    #[error("no config file found; looked for:\n{}\n(pass -c FILE, set QCMDR_CONFIG, or start from examples/conf.lua)", .searched.iter().map(|p| format!("  {}", p.display())).collect::<Vec<_>>().join("\n"))]
    NotFound { searched: Vec<PathBuf> },
    /// The file could not be read.
    #[error("cannot read {}", .file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Lua failed to evaluate the file (syntax or runtime error). `message` starts with
    /// `file:line:` (the file as the user knows it: relative to the current directory when
    /// inside it), so it is the whole text.
    #[error("{message}")]
    Lua { file: PathBuf, message: String },
    /// The file evaluated, but its result is invalid. One line per problem.
    #[error("{file}: {} problem(s):\n{}", .problems.len(), .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"), file = .file.display())]
    Invalid {
        file: PathBuf,
        problems: Vec<String>,
    },
}

/// Finds the config: `explicit` (`-c`), else `$QCMDR_CONFIG`, else `./conf.lua`, else
/// `$XDG_CONFIG_HOME/qcmdr/conf.lua` (`~/.config/qcmdr/conf.lua`). Returns an absolute path.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    // Without a current directory only an absolute -c/$QCMDR_CONFIG or the XDG path can work;
    // "/" keeps those working and makes relative candidates simply not found.
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    locate::locate_in(explicit, &|name| std::env::var(name).ok(), &cwd)
}

/// Evaluates and validates the config file at `path` (absolute).
pub fn load(path: &Path) -> Result<Project, ConfigError> {
    let cwd = std::env::current_dir().ok();
    load_with(path, cwd.as_deref(), &|name| std::env::var(name).ok())
}

/// [`load`] with the current directory (for the name errors show) and the environment (for
/// `~`/`$VAR` in `args` and `sync` sources) as parameters, so tests need not mutate either.
/// Lua's own `os.getenv` still sees the real process environment.
pub(crate) fn load_with(
    path: &Path,
    cwd: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, ConfigError> {
    let source = std::fs::read(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let chunk_name = display_name(path, cwd);
    let lua_error = |err: mlua::Error| ConfigError::Lua {
        file: path.to_path_buf(),
        message: lua_env::describe_error(&err, &chunk_name),
    };
    let lua = lua_env::new_state(path).map_err(lua_error)?;
    let value =
        lua_env::eval(&lua, &source, &chunk_name, lua_env::EVAL_LIMIT).map_err(lua_error)?;
    project::check(&value, path, env).map_err(|problems| ConfigError::Invalid {
        file: path.to_path_buf(),
        problems,
    })
}

/// How errors name the file: relative to the current directory when inside it (`conf.lua`),
/// else as given.
fn display_name(path: &Path, cwd: Option<&Path>) -> String {
    cwd.and_then(|cwd| path.strip_prefix(cwd).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests;
