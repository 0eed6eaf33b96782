//! Process and event plumbing on the host: state-dir paths, per-VM locks, QEMU process
//! identity, bounded waits on pidfds/inotify/pipes, cancellation, running helper programs
//! (`helper`: the one way to), and running work per VM in parallel.
pub mod cancel;
pub mod clock;
pub mod dir_watch;
pub mod executable;
pub mod free_space;
pub mod helper;
pub mod kill_on_drop;
pub mod lock;
pub mod parallel;
pub mod paths;
pub mod poll_until;
pub mod private_dir;
pub mod private_file;
pub mod process;
pub mod same_file;
