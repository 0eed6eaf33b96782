//! Lua config file → validated [`crate::model::Project`].
//!
//! `locate` finds the file, `load` evaluates it with embedded Lua 5.4 (with the ancestor's `htt`
//! helpers available) and validates the returned table, reporting every problem at once.

mod did_you_mean;
mod hostfwd;
mod locate;
mod lua_env;
mod reserved;
mod shell_words;
mod value;

use std::path::{Path, PathBuf};

use crate::model::Project;

/// Why a config could not be found or loaded. `Display` is the full, user-facing text.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No config file in any of the places searched (listed in order).
    #[error("no config file found; looked for:\n{}", .searched.iter().map(|p| format!("  {}", p.display())).collect::<Vec<_>>().join("\n"))]
    NotFound { searched: Vec<PathBuf> },
    /// Lua failed to evaluate the file (syntax or runtime error, with file and line).
    #[error("{file}: {message}", file = .file.display())]
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
    let _ = path;
    todo!("config::load")
}
