//! Building one image: under its lock, into a temporary folder next to the cache, renamed into
//! place when complete. A failed build leaves nothing behind but its log; an interrupted one
//! (Ctrl-C) nothing at all.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{flock, FlockOperation};

use super::manifest::{Manifest, MANIFEST_SCHEMA};
use super::tool::ToolError;
use super::{cloud, debian};
use crate::model::{Image, Recipe};
use crate::runtime::cancel::Cancel;
use crate::runtime::private_dir;

/// Lines of the build log shown when a build fails.
pub const FAILURE_TAIL_LINES: usize = 15;

/// Receives a build's stages (the CLI renders them as progress; nothing below it prints).
pub trait BuildObserver: Sync {
    /// A stage began, e.g. `installing packages (mmdebstrap)`.
    fn stage(&self, image: &str, text: &str);
}

#[derive(Debug)]
pub enum BuildOutcome {
    /// The build was complete already (or another qcmdr finished it while we waited).
    UpToDate,
    Built {
        seconds: f64,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("image {image:?}: {reason}")]
pub struct BuildError {
    pub image: String,
    pub reason: String,
    /// The kept log of the failed build, when it got that far.
    pub log: Option<PathBuf>,
    pub tail: Vec<String>,
    /// Ended by `cancel` (Ctrl-C), not by a failure: its build folder was removed, log and all.
    pub interrupted: bool,
}

/// Builds `image` unless it is built already; `cancel` ends a running build (and the tool it
/// runs) and removes what it made.
pub fn build(
    image: &Image,
    observer: &dyn BuildObserver,
    cancel: &Cancel,
) -> Result<BuildOutcome, BuildError> {
    if image.is_built() {
        return Ok(BuildOutcome::UpToDate);
    }
    let fail = |reason: String| BuildError {
        image: image.name.clone(),
        reason,
        log: None,
        tail: Vec::new(),
        interrupted: false,
    };
    let cache = image.dir.parent().unwrap_or(Path::new("/"));
    // The cache's parents (~/.cache) are the user's; the images folder itself must be ours.
    // Parents made here are private: nobody else has business in ~/.cache/qcmdr.
    if let Some(parent) = cache.parent() {
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent);
    }
    private_dir::ensure_owned(cache)
        .map_err(|e| fail(format!("cannot use {}: {e}", cache.display())))?;
    let _lock = lock(image, observer).map_err(|e| fail(format!("cannot lock the build: {e}")))?;
    // Another qcmdr may have built it while we waited for the lock.
    if image.is_built() {
        return Ok(BuildOutcome::UpToDate);
    }
    let started = Instant::now();
    let temp = cache.join(format!(
        ".build-{}-{}.{}",
        image.name,
        image.key,
        std::process::id()
    ));
    let _ = remove_tree(&temp);
    private_dir::ensure_owned(&temp)
        .map_err(|e| fail(format!("cannot create {}: {e}", temp.display())))?;
    let log = temp.join("build.log");
    let result = fs::write(
        &log,
        format!("qcmdr: building image {} ({})\n", image.name, image.key),
    )
    .map_err(|e| format!("cannot write {}: {e}", log.display()))
    .and_then(|()| build_into(image, &temp, &log, observer, started, cancel));
    match result {
        Ok(()) => {
            // A leftover from an interrupted `image rm` would block the rename.
            let _ = remove_tree(&image.dir);
            fs::rename(&temp, &image.dir).map_err(|e| {
                let _ = remove_tree(&temp);
                fail(format!("cannot move the build into place: {e}"))
            })?;
            Ok(BuildOutcome::Built {
                seconds: started.elapsed().as_secs_f64(),
            })
        }
        Err(_) if cancel.is_cancelled() => Err(BuildError {
            reason: match remove_tree(&temp) {
                Ok(()) => "build interrupted; nothing was kept".into(),
                Err(e) => format!("build interrupted; cannot remove {}: {e}", temp.display()),
            },
            interrupted: true,
            ..fail(String::new())
        }),
        Err(reason) => {
            let kept = cache.join(format!("{}.failed.log", image.name));
            let tail = crate::logs::log_tail::last_lines(&log, FAILURE_TAIL_LINES);
            let reason = explain(&log).map_or(reason.clone(), |why| format!("{reason}: {why}"));
            let log = fs::rename(&log, &kept).ok().map(|()| kept);
            let _ = remove_tree(&temp);
            Err(BuildError {
                image: image.name.clone(),
                reason,
                log,
                tail,
                interrupted: false,
            })
        }
    }
}

fn build_into(
    image: &Image,
    temp: &Path,
    log: &Path,
    observer: &dyn BuildObserver,
    started: Instant,
    cancel: &Cancel,
) -> Result<(), String> {
    let stage = |text: &str| observer.stage(&image.name, text);
    let packages = match &image.recipe {
        Recipe::Debian(recipe) => debian::build(&image.name, recipe, temp, log, &stage, cancel),
        Recipe::Cloud(recipe) => cloud::build(&image.name, recipe, temp, log, &stage, cancel),
    }
    .map_err(|e: ToolError| crate::error_chain::chain(&e))?;
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA.to_string(),
        name: image.name.clone(),
        builder: image.recipe.builder().to_string(),
        key: image.key.clone(),
        built_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64(),
        build_seconds: started.elapsed().as_secs_f64(),
        packages,
    };
    manifest
        .write(&temp.join("manifest.json"))
        .map_err(|e| format!("cannot write the manifest: {e}"))
}

/// The per-image build lock, waited for (the kernel wakes us when the holder is done).
fn lock(image: &Image, observer: &dyn BuildObserver) -> std::io::Result<fs::File> {
    let path = image
        .dir
        .with_file_name(format!("{}-{}.lock", image.name, image.key));
    let file = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        observer.stage(&image.name, "waiting for another qcmdr building it");
        flock(&file, FlockOperation::LockExclusive)?;
    }
    Ok(file)
}

/// The one line of a failed build's log that says why, when apt said it plainly.
fn explain(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| {
        l.contains("Unable to locate package") || l.contains("has no installation candidate")
    })?;
    let package = line.rsplit(' ').next().unwrap_or_default();
    Some(format!("no package named {package:?} ({})", line.trim()))
}

/// Removes a folder tree unless something is mounted below it (a crashed mmdebstrap could
/// leave its /proc or /dev mounts in the root filesystem: removing through those would
/// destroy the host's files).
pub fn remove_tree(dir: &Path) -> std::io::Result<()> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    let below = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|mount_point| Path::new(mount_point).starts_with(dir));
    if below {
        return Err(std::io::Error::other(format!(
            "something is still mounted below {}; unmount it, then remove the folder",
            dir.display()
        )));
    }
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
