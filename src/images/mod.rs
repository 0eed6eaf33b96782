//! Guest images: building the `images` of the config into the cache, listing and removing
//! builds, and giving each image-backed VM its own copy-on-write disk.
//!
//! Cache layout (`Project::image_cache`, default `~/.cache/qcmdr/images/`):
//! ```text
//! <name>-<key>/            one finished build: disk.qcow2, vmlinuz + initrd.img (debian),
//!                          seed.iso (cloud), id_ed25519(.pub), manifest.json, build.log
//! <name>-<key>.lock        held by whoever builds it (one builder at a time per image)
//! .build-<name>-<key>.PID/ a build in progress; renamed to <name>-<key>/ when complete
//! <name>.failed.log        the log of the last failed build of <name>
//! ```

mod build;
mod cache;
mod cloud;
mod debian;
pub mod foreign;
pub mod key;
mod manifest;
mod needed;
pub mod overlay;
mod tool;
mod tree;
mod userns;

pub use build::{build, BuildError, BuildFailure, BuildObserver, BuildOutcome};
pub use cache::{builds, collect_garbage, is_built, remove, Build, Freed};
pub use manifest::Manifest;
pub use needed::unbuilt_for;
pub use userns::{IdMap, UsernsError};
