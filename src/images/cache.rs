//! What the image cache holds: the builds of the configured images, and removing builds
//! (`image rm`, `image gc`).

use std::fs;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

use super::manifest::Manifest;
use super::tree::remove_tree;
use crate::model::{Image, Project};

/// A build is complete once its manifest exists: the manifest is written last, and the
/// folder only appears under its final name after that.
pub fn is_built(image: &Image) -> bool {
    image.manifest().is_file()
}

/// The state of one configured image's build.
#[derive(Debug)]
pub struct Build<'p> {
    pub image: &'p Image,
    /// `None` when not built.
    pub manifest: Option<Manifest>,
    /// Bytes the build takes on disk.
    pub size_bytes: u64,
}

/// Every configured image with its build state, in name order.
pub fn builds(project: &Project) -> Vec<Build<'_>> {
    project
        .images
        .iter()
        .map(|image| {
            let manifest = is_built(image)
                .then(|| Manifest::read(&image.manifest()))
                .flatten();
            Build {
                image,
                size_bytes: if manifest.is_some() {
                    tree_size(&image.dir)
                } else {
                    0
                },
                manifest,
            }
        })
        .collect()
}

/// What a removal freed.
#[derive(Debug, Default)]
pub struct Freed {
    pub removed: Vec<PathBuf>,
    pub bytes: u64,
}

/// Removes every build of the image `name` (the current one and older recipes').
pub fn remove(project: &Project, name: &str) -> std::io::Result<Freed> {
    let mut freed = Freed::default();
    for (path, build_name) in entries(&project.image_cache)? {
        if build_name.as_deref() == Some(name) {
            remove_entry(&path, &mut freed)?;
        }
    }
    Ok(freed)
}

/// Removes every build the config does not name (older recipes, removed images), failed-build
/// logs, and the leftovers of interrupted builds.
pub fn collect_garbage(project: &Project) -> std::io::Result<Freed> {
    let mut freed = Freed::default();
    for (path, _) in entries(&project.image_cache)? {
        let current = project
            .images
            .iter()
            .any(|image| image.dir == path || lock_path(image) == path);
        if !current {
            remove_entry(&path, &mut freed)?;
        }
    }
    Ok(freed)
}

fn lock_path(image: &Image) -> PathBuf {
    image
        .dir
        .with_file_name(format!("{}-{}.lock", image.name, image.key))
}

/// Cache entries that qcmdr made, with the image name of builds.
fn entries(cache: &Path) -> std::io::Result<Vec<(PathBuf, Option<String>)>> {
    let listing = match fs::read_dir(cache) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in listing.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if file_name.starts_with(".build-") {
            out.push((path, None));
        } else if let Some(name) = file_name.strip_suffix(".failed.log") {
            out.push((path, Some(name.to_string())));
        } else if let Some(name) = build_name(file_name.strip_suffix(".lock").unwrap_or(&file_name))
        {
            out.push((path, Some(name)));
        }
    }
    out.sort();
    Ok(out)
}

/// `box` from `box-0123456789abcdef`.
fn build_name(file_name: &str) -> Option<String> {
    let (name, key) = file_name.rsplit_once('-')?;
    (key.len() == 16 && key.chars().all(|c| c.is_ascii_hexdigit())).then(|| name.to_string())
}

fn remove_entry(path: &Path, freed: &mut Freed) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        // A build in progress holds its image's lock: leave it alone.
        if in_progress(path) {
            return Ok(());
        }
        freed.bytes += tree_size(path);
        remove_tree(path)?;
    } else {
        freed.bytes += meta.len();
        fs::remove_file(path)?;
    }
    freed.removed.push(path.to_path_buf());
    Ok(())
}

/// A `.build-<name>-<key>.<pid>` folder whose lock is held.
fn in_progress(path: &Path) -> bool {
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let Some(rest) = file_name.strip_prefix(".build-") else {
        return false;
    };
    let stem = rest.rsplit_once('.').map_or(rest, |(stem, _)| stem);
    let Ok(lock) = fs::File::open(path.with_file_name(format!("{stem}.lock"))) else {
        return false;
    };
    flock(&lock, FlockOperation::NonBlockingLockShared).is_err()
}

/// Bytes used on disk by a tree (sparse files count what they use).
pub fn tree_size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    own + fs::read_dir(path)
        .map(|listing| listing.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}
