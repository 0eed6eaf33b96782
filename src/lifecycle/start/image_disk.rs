//! Before an image-backed VM launches: its image must be built, and it gets its overlay disk.

use super::prelaunch::{io_err, PrelaunchError};
use crate::images::overlay::{self, Outcome};
use crate::lifecycle::context::Context;
use crate::lifecycle::events::{Event, Observer};
use crate::model::Vm;
use crate::runtime::paths::VmPaths;

pub fn prepare(
    ctx: &Context,
    vm: &Vm,
    paths: &VmPaths,
    reset: bool,
    observer: &dyn Observer,
) -> Result<(), PrelaunchError> {
    let Some(boot) = &vm.image else {
        return Ok(());
    };
    let image = ctx
        .project
        .image(&boot.name)
        .filter(|image| image.is_built())
        .ok_or_else(|| PrelaunchError::ImageNotBuilt {
            image: boot.name.clone(),
        })?;
    let outcome = overlay::ensure(image, &paths.dir, reset).map_err(io_err(format!(
        "cannot make the disk {}",
        overlay::path(&paths.dir).display()
    )))?;
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
