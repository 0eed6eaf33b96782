//! Starting, stopping and inspecting VMs. Emits events; never prints.
pub mod cancel;
pub mod cleanup;
pub mod context;
pub mod dir_watch;
pub mod events;
pub mod launch;
pub mod log_tail;
pub mod login_watch;
pub mod ports;
pub mod ssh_probe;
pub mod start;
pub mod status;
pub mod stop;
pub mod terminal_text;
pub mod wait_child;
