//! Byte relays between a local pair of file descriptors and a VM's chardev socket (serial
//! console, HMP monitor). Knows nothing about terminals: the CLI puts the terminal into raw
//! mode and hands its descriptors in.
pub mod relay;
