//! Where the config file is: `-c FILE`, `$QCMDR_CONFIG`, `./conf.lua`, then the XDG config dir.
//!
//! The search takes the environment and the current directory as parameters so tests can
//! exercise every branch without mutating the process environment.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The search itself. `env` looks up an environment variable (empty counts as unset, as the
/// XDG spec asks); `cwd` is the directory `./conf.lua` and relative paths are resolved against.
pub(crate) fn locate_in(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<PathBuf, ConfigError> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let mut searched = Vec::new();

    // An explicit choice (flag or variable) is final: falling back to another file would run a
    // config the user did not ask for.
    let chosen = explicit
        .map(Path::to_path_buf)
        .or_else(|| var("QCMDR_CONFIG").map(PathBuf::from));
    let candidates = match chosen {
        Some(path) => vec![path],
        None => {
            let xdg = var("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|home| Path::new(&home).join(".config")));
            let mut list = vec![PathBuf::from("conf.lua")];
            list.extend(xdg.map(|dir| dir.join("qcmdr").join("conf.lua")));
            list
        }
    };

    for candidate in candidates {
        let absolute = cwd.join(&candidate);
        if absolute.is_file() {
            // canonicalize so the chunk name, `require` path and relative `source` paths all
            // derive from one stable location, whatever the caller's spelling was.
            return Ok(absolute.canonicalize().unwrap_or(absolute));
        }
        searched.push(absolute);
    }
    Err(ConfigError::NotFound { searched })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::fs;

    const HINT: &str = "(pass -c FILE, set QCMDR_CONFIG, or start from examples/conf.lua)";

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "return { vms = {} }").unwrap();
    }

    #[test]
    fn explicit_beats_everything() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        touch(&root.join("mine.lua"));
        touch(&root.join("env.lua"));
        touch(&root.join("conf.lua"));
        let env = env_of(&[("QCMDR_CONFIG", "env.lua")]);
        let found = locate_in(Some(Path::new("mine.lua")), &env, &root).unwrap();
        assert_eq!(found, root.join("mine.lua"));
    }

    #[test]
    fn env_var_beats_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        touch(&root.join("env.lua"));
        touch(&root.join("conf.lua"));
        let env = env_of(&[("QCMDR_CONFIG", "env.lua")]);
        assert_eq!(locate_in(None, &env, &root).unwrap(), root.join("env.lua"));
    }

    #[test]
    fn cwd_beats_xdg() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        touch(&root.join("conf.lua"));
        touch(&root.join("xdg/qcmdr/conf.lua"));
        let xdg = root.join("xdg");
        let env = env_of(&[("XDG_CONFIG_HOME", xdg.to_str().unwrap())]);
        assert_eq!(locate_in(None, &env, &root).unwrap(), root.join("conf.lua"));
    }

    #[test]
    fn xdg_then_home_dot_config() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let cwd = root.join("work");
        fs::create_dir_all(&cwd).unwrap();
        touch(&root.join("xdg/qcmdr/conf.lua"));
        touch(&root.join("home/.config/qcmdr/conf.lua"));
        let xdg = root.join("xdg");
        let home = root.join("home");
        let both = env_of(&[
            ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
            ("HOME", home.to_str().unwrap()),
        ]);
        assert_eq!(
            locate_in(None, &both, &cwd).unwrap(),
            xdg.join("qcmdr/conf.lua")
        );
        // An empty XDG_CONFIG_HOME counts as unset.
        let home_only = env_of(&[("XDG_CONFIG_HOME", ""), ("HOME", home.to_str().unwrap())]);
        assert_eq!(
            locate_in(None, &home_only, &cwd).unwrap(),
            home.join(".config/qcmdr/conf.lua")
        );
    }

    #[test]
    fn result_is_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        touch(&root.join("a/conf.lua"));
        fs::create_dir_all(root.join("b")).unwrap();
        let found = locate_in(
            Some(Path::new("../a/./conf.lua")),
            &env_of(&[]),
            &root.join("b"),
        );
        assert_eq!(found.unwrap(), root.join("a/conf.lua"));
    }

    #[test]
    fn explicit_missing_does_not_fall_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        touch(&root.join("conf.lua"));
        let err = locate_in(Some(Path::new("nope.lua")), &env_of(&[]), &root).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no config file found; looked for:\n  {}\n{HINT}",
                root.join("nope.lua").display()
            )
        );
    }

    #[test]
    fn not_found_lists_every_place_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let home = root.join("home");
        let env = env_of(&[("HOME", home.to_str().unwrap())]);
        let err = locate_in(None, &env, &root).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no config file found; looked for:\n  {}\n  {}\n{HINT}",
                root.join("conf.lua").display(),
                home.join(".config/qcmdr/conf.lua").display()
            )
        );
    }
}
