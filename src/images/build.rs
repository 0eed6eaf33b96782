//! Building one image: under its lock, into a temporary folder next to the cache, renamed into
//! place when complete. A failed build leaves nothing behind but its log; an interrupted one
//! (Ctrl-C) nothing at all.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{flock, FlockOperation};

use super::cache::is_built;
use super::manifest::{Manifest, MANIFEST_SCHEMA};
use super::tool::ToolError;
use super::tree::remove_tree;
use super::{cloud, debian};
use crate::model::{Image, Recipe};
use crate::runtime::cancel::Cancel;
use crate::state_dir::private_dir;

/// Lines of the build log shown when a build fails.
pub const FAILURE_TAIL_LINES: usize = 15;

/// Receives a build's stages (the CLI renders them as progress; nothing below it prints).
pub trait BuildObserver: Sync {
    /// A stage of the build of `image` (its label: the name, with the arch unless x86_64)
    /// began, e.g. `installing packages (mmdebstrap)`.
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

/// Why the build of one image failed; the cause is its source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("image {image:?}")]
pub struct BuildError {
    pub image: String,
    /// Shared: the VMs on one image all fail with its one build's error.
    #[source]
    pub cause: Arc<BuildFailure>,
    /// The kept log of the failed build, when it got that far.
    pub log: Option<PathBuf>,
    pub tail: Vec<String>,
}

impl BuildError {
    /// Ended by `cancel` (Ctrl-C), not by a failure: its build folder was removed, log and all.
    pub fn interrupted(&self) -> bool {
        matches!(
            *self.cause,
            BuildFailure::Interrupted | BuildFailure::InterruptedLeftover { .. }
        )
    }
}

/// What went wrong in a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildFailure {
    #[error("cannot use {}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot lock the build")]
    Lock(#[source] io::Error),
    #[error("cannot create {}", path.display())]
    Folder {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A build step (a tool, a file of the build) failed.
    #[error(transparent)]
    Step(ToolError),
    /// A build step failed because apt has no such package (the log said so plainly).
    #[error("no package named {package:?} ({said})")]
    NoPackage {
        package: String,
        said: String,
        #[source]
        source: ToolError,
    },
    #[error("cannot write the manifest")]
    Manifest(#[source] io::Error),
    #[error("cannot move the build into place")]
    MoveIntoPlace(#[source] io::Error),
    #[error("build interrupted; nothing was kept")]
    Interrupted,
    #[error("build interrupted; cannot remove {}", path.display())]
    InterruptedLeftover {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Builds `image` unless it is built already; `cancel` ends a running build (and the tool it
/// runs) and removes what it made.
pub fn build(
    image: &Image,
    observer: &dyn BuildObserver,
    cancel: &Cancel,
) -> Result<BuildOutcome, BuildError> {
    if is_built(image) {
        return Ok(BuildOutcome::UpToDate);
    }
    let fail = |cause: BuildFailure| BuildError {
        image: image.name.clone(),
        cause: Arc::new(cause),
        log: None,
        tail: Vec::new(),
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
    private_dir::ensure_owned(cache).map_err(|source| {
        fail(BuildFailure::Cache {
            path: cache.to_path_buf(),
            source,
        })
    })?;
    let _lock = lock(image, observer).map_err(|e| fail(BuildFailure::Lock(e)))?;
    // Another qcmdr may have built it while we waited for the lock.
    if is_built(image) {
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
    private_dir::ensure_owned(&temp).map_err(|source| {
        fail(BuildFailure::Folder {
            path: temp.clone(),
            source,
        })
    })?;
    let log = temp.join("build.log");
    let result = fs::write(
        &log,
        format!("qcmdr: building image {} ({})\n", image.name, image.key),
    )
    .map_err(|source| BuildFailure::Log {
        path: log.clone(),
        source,
    })
    .and_then(|()| build_into(image, &temp, &log, observer, started, cancel));
    match result {
        Ok(()) => {
            // A leftover from an interrupted `image rm` would block the rename.
            let _ = remove_tree(&image.dir);
            fs::rename(&temp, &image.dir).map_err(|e| {
                let _ = remove_tree(&temp);
                fail(BuildFailure::MoveIntoPlace(e))
            })?;
            Ok(BuildOutcome::Built {
                seconds: started.elapsed().as_secs_f64(),
            })
        }
        Err(_) if cancel.is_cancelled() => Err(fail(match remove_tree(&temp) {
            Ok(()) => BuildFailure::Interrupted,
            Err(source) => BuildFailure::InterruptedLeftover { path: temp, source },
        })),
        Err(cause) => {
            let kept = cache.join(format!("{}.failed.log", image.name));
            let tail = crate::logs::log_tail::last_lines(&log, FAILURE_TAIL_LINES);
            let cause = match (cause, explain(&log)) {
                (BuildFailure::Step(source), Some((package, said))) => BuildFailure::NoPackage {
                    package,
                    said,
                    source,
                },
                (cause, _) => cause,
            };
            let log = fs::rename(&log, &kept).ok().map(|()| kept);
            let _ = remove_tree(&temp);
            Err(BuildError {
                log,
                tail,
                ..fail(cause)
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
) -> Result<(), BuildFailure> {
    let label = image.label();
    let stage = |text: &str| observer.stage(&label, text);
    let packages = match &image.recipe {
        Recipe::Debian(recipe) => debian::build(&image.name, recipe, temp, log, &stage, cancel),
        Recipe::Cloud(recipe) => cloud::build(&image.name, recipe, temp, log, &stage, cancel),
    }
    .map_err(BuildFailure::Step)?;
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
        .map_err(BuildFailure::Manifest)
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
        observer.stage(&image.label(), "waiting for another qcmdr building it");
        flock(&file, FlockOperation::LockExclusive)?;
    }
    Ok(file)
}

/// The package apt could not find and its line of a failed build's log, when apt said it
/// plainly.
fn explain(log: &Path) -> Option<(String, String)> {
    let text = fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| {
        l.contains("Unable to locate package") || l.contains("has no installation candidate")
    })?;
    let package = line.rsplit(' ').next().unwrap_or_default();
    Some((package.to_string(), line.trim().to_string()))
}
