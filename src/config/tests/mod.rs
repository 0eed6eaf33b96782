//! End-to-end tests of `load`: real Lua files in a temporary folder, a fixed environment.

mod ancestor;
mod example;
mod images;
mod lua_errors;
mod validation;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{load_with, ConfigError};
use crate::model::Project;

/// A temporary project folder; `load` runs with it as the current directory and with
/// `HOME=<root>/home`, `IMAGES=<root>/images` as the whole environment.
pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    env: HashMap<String, String>,
}

/// A Lua helper for tests: `vm { ... }` is a valid VM with the given keys replaced.
pub(super) const PRELUDE: &str = r#"
local function vm(fields)
  local v = {
    name = "demo", arch = "x86_64",
    ssh = { Port = 10022, User = "root", IdentityFile = "~/.ssh/id" },
    args = { "-m 256" },
  }
  for k, x in pairs(fields or {}) do v[k] = x end
  return v
end
"#;

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("home")).unwrap();
        let mut env = HashMap::new();
        env.insert("HOME".to_string(), root.join("home").display().to_string());
        env.insert(
            "IMAGES".to_string(),
            root.join("images").display().to_string(),
        );
        Fixture {
            _dir: dir,
            root,
            env,
        }
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    pub fn load_file(&self, path: &Path) -> Result<Project, ConfigError> {
        let env = |name: &str| self.env.get(name).cloned();
        load_with(path, Some(&self.root), &env)
    }

    /// Writes `conf.lua` (after [`PRELUDE`]) and loads it.
    pub fn load(&self, body: &str) -> Result<Project, ConfigError> {
        let path = self.write("conf.lua", &format!("{PRELUDE}\n{body}"));
        self.load_file(&path)
    }

    pub fn ok(&self, body: &str) -> Project {
        self.load(body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The problems of an invalid config.
    pub fn problems(&self, body: &str) -> Vec<String> {
        match self.load(body) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            Ok(_) => panic!("loaded fine: {body}"),
            Err(other) => panic!("not a validation error: {other}"),
        }
    }

    /// The message of a Lua error.
    pub fn lua_error(&self, body: &str) -> String {
        match self.load(body) {
            Err(ConfigError::Lua { message, .. }) => message,
            Ok(_) => panic!("loaded fine: {body}"),
            Err(other) => panic!("not a Lua error: {other}"),
        }
    }
}
