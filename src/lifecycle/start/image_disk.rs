//! Before an image-backed VM launches: its image must be built, and it gets its overlay disk.

use std::path::PathBuf;

use crate::images::overlay::{self, Outcome};
use crate::lifecycle::context::Context;
use crate::lifecycle::events::{Event, Observer};
use crate::model::Vm;
use crate::state_dir::paths::VmPaths;

/// Why an image-backed VM has no disk to launch with; nothing was launched.
#[derive(Debug, thiserror::Error)]
pub enum ImageDiskError {
    #[error("image {image:?} is not built; build it with: qcmdr image build {image}")]
    NotBuilt { image: String },
    #[error("cannot make the disk {}", disk.display())]
    Disk {
        disk: PathBuf,
        #[source]
        source: overlay::OverlayError,
    },
}

pub fn prepare(
    ctx: &Context,
    vm: &Vm,
    paths: &VmPaths,
    reset: bool,
    observer: &dyn Observer,
) -> Result<(), ImageDiskError> {
    let Some(boot) = &vm.image else {
        return Ok(());
    };
    let image = ctx
        .project
        .image_of(vm)
        .filter(|image| crate::images::is_built(image))
        .ok_or_else(|| ImageDiskError::NotBuilt {
            image: boot.name.clone(),
        })?;
    let outcome = overlay::ensure(image, paths, reset).map_err(|source| ImageDiskError::Disk {
        disk: paths.image_disk.clone(),
        source,
    })?;
    let notice = match outcome {
        Outcome::Kept => return Ok(()),
        Outcome::Created if reset => format!("fresh disk over image {}", image.name),
        Outcome::Created => return Ok(()),
        Outcome::Replaced { previous } => format!(
            "image {} was rebuilt from a changed recipe: fresh disk (the old one is kept as {})",
            image.name,
            previous.display()
        ),
    };
    observer.event(&vm.name, Event::Notice(notice));
    Ok(())
}
