//! Starting, stopping and inspecting VMs. Emits events; never prints.
pub mod cleanup;
pub mod context;
pub mod debug_launch;
pub mod doctor;
pub mod events;
pub mod origin;
pub mod ports;
pub mod run;
pub mod snapshot;
pub mod start;
pub mod status;
pub mod stop;
