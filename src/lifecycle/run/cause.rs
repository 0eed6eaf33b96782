//! How a run ended, and the exit code a script sees for it: the command's own code, or one
//! of a few documented codes for what is not the command's doing (docs/run.md). Under
//! `--bisect` the codes follow `git bisect run`: 0 good, 1-124 and 126-127 bad, 125 skip
//! (this commit cannot be tested), 128 and above abort the bisection.

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The command ran and exited with its own code.
    Exited,
    /// The guest kernel panicked or oopsed (seen on the serial console).
    Panic,
    /// The VM never became ready (login prompt or SSH), or its files could not be synced.
    NotReady,
    /// QEMU could not be run or exited before the command ended.
    QemuFailed,
    /// The run could not be prepared (nothing was launched, or qcmdr itself failed).
    Setup,
    /// The command outlived `--timeout`.
    TimedOut,
    /// Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
}

pub const NOT_READY: u8 = 120;
pub const PANIC: u8 = 121;
pub const QEMU_FAILED: u8 = 122;
pub const SETUP: u8 = 123;
/// As `timeout(1)`.
pub const TIMED_OUT: u8 = 124;
/// As a shell's SIGINT (128 + 2).
pub const INTERRUPTED: u8 = 130;
/// `git bisect run`: this commit cannot be tested.
pub const BISECT_SKIP: u8 = 125;
/// `git bisect run`: any code from 128 on stops the bisection.
pub const BISECT_ABORT: u8 = 128;

impl Cause {
    /// The spelling in `qcmdr.run/1` documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Exited => "exited",
            Cause::Panic => "panic",
            Cause::NotReady => "not-ready",
            Cause::QemuFailed => "qemu-failed",
            Cause::Setup => "setup-failed",
            Cause::TimedOut => "timed-out",
            Cause::Interrupted => "interrupted",
        }
    }

    /// The exit code of `qcmdr run`, under `--bisect` when `bisect`.
    pub fn code(self, command: Option<i32>, bisect: bool) -> u8 {
        match bisect {
            true => self.bisect_code(command),
            false => self.exit_code(command),
        }
    }

    /// The exit code of `qcmdr run`; `command` is the command's own code when it exited.
    pub fn exit_code(self, command: Option<i32>) -> u8 {
        match self {
            Cause::Exited => command.map_or(1, |code| code.clamp(0, 255) as u8),
            Cause::Panic => PANIC,
            Cause::NotReady => NOT_READY,
            Cause::QemuFailed => QEMU_FAILED,
            Cause::Setup => SETUP,
            Cause::TimedOut => TIMED_OUT,
            Cause::Interrupted => INTERRUPTED,
        }
    }

    /// The exit code under `--bisect`. A panic or a hang is the commit's fault (bad); a guest
    /// that never came up, a QEMU that failed or a run that could not be prepared say nothing
    /// about the commit (skip); Ctrl-C stops the bisection. The command's codes pass as they
    /// are up to 127 (its own 125 still means skip); from 128 (killed by a signal, or ssh's
    /// 255) they become 1, so that a crashing test marks the commit bad instead of aborting.
    pub fn bisect_code(self, command: Option<i32>) -> u8 {
        match self {
            Cause::Exited => match command {
                Some(code @ 0..=127) => code as u8,
                _ => 1,
            },
            Cause::Panic | Cause::TimedOut => 1,
            Cause::NotReady | Cause::QemuFailed | Cause::Setup => BISECT_SKIP,
            Cause::Interrupted => INTERRUPTED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_codes_keep_the_command_s_own() {
        assert_eq!(Cause::Exited.exit_code(Some(0)), 0);
        assert_eq!(Cause::Exited.exit_code(Some(42)), 42);
        assert_eq!(Cause::Exited.exit_code(Some(255)), 255);
        assert_eq!(Cause::Panic.exit_code(Some(0)), 121);
        assert_eq!(Cause::TimedOut.exit_code(None), 124);
        assert_eq!(Cause::Interrupted.exit_code(None), 130);
    }

    #[test]
    fn bisect_codes_skip_infrastructure_and_never_abort_on_a_test() {
        assert_eq!(Cause::Exited.bisect_code(Some(0)), 0);
        assert_eq!(Cause::Exited.bisect_code(Some(3)), 3);
        assert_eq!(Cause::Exited.bisect_code(Some(125)), 125);
        assert_eq!(Cause::Exited.bisect_code(Some(139)), 1);
        assert_eq!(Cause::Panic.bisect_code(None), 1);
        for cause in [Cause::NotReady, Cause::QemuFailed, Cause::Setup] {
            assert_eq!(cause.bisect_code(None), 125);
        }
        assert!(Cause::Interrupted.bisect_code(None) >= 128);
    }
}
