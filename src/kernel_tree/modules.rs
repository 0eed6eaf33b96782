//! The tree's modules as the guest needs them: laid out as `make modules_install` would
//! (`lib/modules/<release>/kernel/<path>.ko`, the lists, `depmod`'s index), packed as a newc
//! archive after the VM's own initrd. Only files the tree's `modules.order` names are read;
//! nothing is written into the tree.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cpio;
use super::{KernelTree, KernelTreeError};

/// The lists `depmod` and `modprobe` read, copied when the tree has them.
const LISTS: &[&str] = &["modules.builtin", "modules.builtin.modinfo"];

pub(super) fn boot_initrd(
    tree: &KernelTree,
    base: Option<&Path>,
    work: &Path,
) -> Result<PathBuf, KernelTreeError> {
    let io = |context: String| move |source| KernelTreeError::Io { context, source };
    // Made afresh each start: a tree rebuilt since the last one has other modules.
    let stage = Stage::new(work.join("modules.stage"))
        .map_err(io(format!("cannot make a folder in {}", work.display())))?;
    let mut archive = cpio::Writer::new(Vec::new());
    if tree.has_modules() {
        let relative = format!("lib/modules/{}", tree.release);
        let moddir = stage.path().join(&relative);
        install(tree, &moddir)?;
        depmod(stage.path(), &tree.release)?;
        pack(stage.path(), Path::new(""), &mut archive)
            .map_err(io(format!("cannot pack {}", moddir.display())))?;
    }
    let modules = archive
        .finish()
        .map_err(io("cannot pack the modules".into()))?;

    let out = work.join("initrd.img");
    let mut file = crate::state_dir::private_file::create_fresh(&out)
        .map_err(io(format!("cannot write {}", out.display())))?;
    if let Some(base) = base {
        let bytes =
            fs::read(base).map_err(io(format!("cannot read the initrd {}", base.display())))?;
        // Each archive of a concatenated initramfs starts on a 4-byte boundary.
        let padding = (4 - bytes.len() % 4) % 4;
        file.write_all(&bytes)
            .and_then(|()| file.write_all(&[0; 3][..padding]))
            .map_err(io(format!("cannot write {}", out.display())))?;
    }
    file.write_all(&modules)
        .and_then(|()| file.sync_all())
        .map_err(io(format!("cannot write {}", out.display())))?;
    Ok(out)
}

/// A folder removed again when dropped (std's `remove_dir_all` never follows a symlink).
struct Stage(PathBuf);

impl Stage {
    fn new(path: PathBuf) -> std::io::Result<Stage> {
        match fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        crate::state_dir::private_dir::ensure_owned(&path)?;
        Ok(Stage(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `make modules_install`'s layout below `moddir`, from `modules.order`.
fn install(tree: &KernelTree, moddir: &Path) -> Result<(), KernelTreeError> {
    let io = |context: String| move |source| KernelTreeError::Io { context, source };
    let order_file = tree.root.join("modules.order");
    let order = fs::read_to_string(&order_file)
        .map_err(io(format!("cannot read {}", order_file.display())))?;
    let mut installed = String::new();
    for line in order.lines().map(str::trim).filter(|l| !l.is_empty()) {
        // Since 6.2 kbuild lists the objects (`fs/fuse/fuse.o`), before the modules.
        let module = match line.strip_suffix(".o") {
            Some(stem) => format!("{stem}.ko"),
            None => line.to_string(),
        };
        let from = tree.root.join(&module);
        let to = moddir.join("kernel").join(&module);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)
                .map_err(io(format!("cannot create {}", parent.display())))?;
        }
        fs::copy(&from, &to).map_err(io(format!(
            "cannot copy {} (listed in modules.order: is the tree fully built? make modules)",
            from.display()
        )))?;
        installed.push_str(&format!("kernel/{module}\n"));
    }
    fs::write(moddir.join("modules.order"), installed)
        .map_err(io("cannot write modules.order".into()))?;
    for list in LISTS {
        let from = tree.root.join(list);
        if from.is_file() {
            fs::copy(&from, moddir.join(list))
                .map_err(io(format!("cannot copy {}", from.display())))?;
        }
    }
    Ok(())
}

fn depmod(base: &Path, release: &str) -> Result<(), KernelTreeError> {
    let output = Command::new(depmod_binary())
        .arg("-b")
        .arg(base)
        .arg(release)
        .output()
        .map_err(|source| KernelTreeError::Io {
            context: "cannot run depmod (Debian: apt-get install kmod)".into(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(KernelTreeError::Depmod {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// depmod lives in /usr/sbin, which a regular user's PATH often lacks.
fn depmod_binary() -> PathBuf {
    crate::runtime::executable::find_on_path("depmod")
        .or_else(|| {
            ["/usr/sbin/depmod", "/sbin/depmod"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from("depmod"))
}

/// `dir/relative` into the archive, folders before their contents, names sorted.
fn pack(root: &Path, relative: &Path, archive: &mut cpio::Writer<Vec<u8>>) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(root.join(relative))?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = relative.join(entry.file_name());
        let text = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            archive.dir(&text)?;
            pack(root, &name, archive)?;
        } else {
            archive.file(&text, &fs::read(entry.path())?)?;
        }
    }
    Ok(())
}
