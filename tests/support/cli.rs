//! The one way tests run the real qcmdr, in the style of casey/just's test builder: one
//! [`Expect`] per command with its args, environment, input and what it must print and exit
//! with. [`CliTest`] makes one in a folder with a config text (commands that need no guest);
//! `Project::cmd` makes one for a project with real VMs, and `Project::ok`/`run` are its
//! shorthands. The environment starts clean of qcmdr's own variables, so a test sees only
//! what it sets. Failures point at the test's line (`#[track_caller]`).

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
        Expect::new(args, self.path()).env("XDG_CONFIG_HOME", self.path().join("xdg"))
    }
}

/// One command and what it must do; [`Expect::run`] checks it.
#[must_use = "nothing runs until .run() or .json()"]
pub struct Expect {
    args: Vec<OsString>,
    cwd: PathBuf,
    env: Vec<(OsString, OsString)>,
    /// `None`: any exit code (the test looks at it itself).
    code: Option<i32>,
    input: Option<Vec<u8>>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    stdout_exact: Option<String>,
}

impl Expect {
    /// `qcmdr ARGS` in `cwd`, expected to exit 0.
    pub fn new<S: AsRef<std::ffi::OsStr>>(args: &[S], cwd: &Path) -> Self {
        Expect {
            args: args.iter().map(|a| a.as_ref().to_os_string()).collect(),
            cwd: cwd.to_path_buf(),
            env: Vec::new(),
            code: Some(0),
            input: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_exact: None,
        }
    }

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
        self.code = Some(code);
        self
    }

    /// Any exit code will do: the test checks the outcome itself.
    pub fn any_code(mut self) -> Self {
        self.code = None;
        self
    }

    /// `input` on stdin, then end of file (default: no stdin).
    pub fn input(mut self, input: &[u8]) -> Self {
        self.input = Some(input.to_vec());
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
    #[track_caller]
    pub fn run(self) -> Run {
        let run = Run::of(self.output());
        let args = &self.args;
        if let Some(code) = self.code {
            assert_eq!(run.code, code, "qcmdr {args:?}: exit code\n{run}");
        }
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

    fn output(&self) -> std::process::Output {
        let mut command = self.command();
        let Some(input) = &self.input else {
            return command.output().expect("run qcmdr");
        };
        use std::io::Write;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run qcmdr");
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().expect("wait for qcmdr")
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
    #[track_caller]
    pub fn json(self) -> serde_json::Value {
        self.run().json()
    }
}
