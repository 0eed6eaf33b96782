//! Processes and waiting on the host: QEMU process identity, bounded waits on
//! pidfds/inotify/pipes, cancellation, the time as a state machine reads it, running helper
//! programs (`helper`: the one way to), and running work per VM in parallel. The files qcmdr
//! keeps are `state_dir`'s.
pub mod cancel;
pub mod clock;
pub mod dir_watch;
pub mod executable;
pub mod helper;
pub mod kill_on_drop;
pub mod parallel;
pub mod poll_until;
pub mod process;
