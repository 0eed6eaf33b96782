//! Commands that need no guest, in the style of casey/just's test builder: a folder with a
//! config text, then one builder per command with its args, environment and what it must
//! print and exit with. The environment starts clean of qcmdr's own variables, so a test
//! sees only what it sets.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Run;

/// A temporary folder, with a `conf.lua` when given one.
pub struct CliTest {
    dir: tempfile::TempDir,
}

impl CliTest {
    /// An empty folder: no config anywhere qcmdr looks.
    pub fn new() -> Self {
        CliTest {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A folder whose `conf.lua` is `text`.
    pub fn with_config(text: &str) -> Self {
        let test = CliTest::new();
        fs::write(test.config(), text).unwrap();
        test
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("conf.lua")
    }

    /// `qcmdr ARGS`, run in this folder.
    pub fn cmd(&self, args: &[&str]) -> Expect {
        Expect {
            args: args.iter().map(OsString::from).collect(),
            cwd: self.path().to_path_buf(),
            env: vec![(
                "XDG_CONFIG_HOME".into(),
                self.path().join("xdg").into_os_string(),
            )],
            code: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_exact: None,
        }
    }
}

/// One command and what it must do; [`Expect::run`] checks it.
#[must_use = "nothing runs until .run() or .json()"]
pub struct Expect {
    args: Vec<OsString>,
    cwd: PathBuf,
    env: Vec<(OsString, OsString)>,
    code: i32,
    stdout: Vec<String>,
    stderr: Vec<String>,
    stdout_exact: Option<String>,
}

impl Expect {
    /// Runs in `dir` instead of the test's folder.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cwd = dir.to_path_buf();
        self
    }

    pub fn env(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The exit code it must end with (default 0).
    pub fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    /// Text stdout must contain (each call adds one).
    pub fn stdout_has(mut self, text: impl Into<String>) -> Self {
        self.stdout.push(text.into());
        self
    }

    /// Text stderr must contain (each call adds one).
    pub fn stderr_has(mut self, text: impl Into<String>) -> Self {
        self.stderr.push(text.into());
        self
    }

    /// The whole of stdout.
    pub fn stdout(mut self, text: impl Into<String>) -> Self {
        self.stdout_exact = Some(text.into());
        self
    }

    /// Runs the command and checks every expectation, naming what was missed with both
    /// output streams; the outcome for further checks.
    pub fn run(self) -> Run {
        let run = Run::of(self.command().output().expect("run qcmdr"));
        let args = &self.args;
        assert_eq!(run.code, self.code, "qcmdr {args:?}: exit code\n{run}");
        for text in &self.stdout {
            assert!(
                run.stdout.contains(text.as_str()),
                "qcmdr {args:?}: stdout lacks {text:?}\n{run}"
            );
        }
        for text in &self.stderr {
            assert!(
                run.stderr.contains(text.as_str()),
                "qcmdr {args:?}: stderr lacks {text:?}\n{run}"
            );
        }
        if let Some(exact) = &self.stdout_exact {
            assert_eq!(&run.stdout, exact, "qcmdr {args:?}: stdout\n{run}");
        }
        run
    }

    /// The command itself, for a test that acts on qcmdr while it runs (a signal); the
    /// expectations are not checked.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_qcmdr"));
        command
            .args(&self.args)
            .current_dir(&self.cwd)
            .env_remove("QCMDR_CONFIG")
            .env_remove("QCMDR_STATE_DIR")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Runs (with the expectations) and parses stdout as JSON.
    pub fn json(self) -> serde_json::Value {
        self.run().json()
    }
}
