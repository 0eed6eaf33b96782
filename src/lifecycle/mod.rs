//! Starting, stopping and inspecting VMs. Emits events; never prints.
