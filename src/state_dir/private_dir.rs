//! Folders only the current user may enter: the state dir and every folder in it (`vm/`,
//! `vm/<name>/`, `ctl/`, `bin/`, `mutagen/...`), and the short socket folders under `/tmp`.
//!
//! A VM folder holds the QMP socket, i.e. full control of the VM, so a folder that already
//! exists is checked, not trusted: it must be a real directory (not a symlink someone
//! planted), owned by us; a mode that lets others in is tightened to 0700. Anyone can also
//! create `/tmp/qcmdr-<uid>` before us; the same rules apply to it, and `/tmp`'s sticky bit
//! then keeps others from swapping it later.
//!
//! The state dir itself may be a symlink (the user's choice of where it lives); the folder it
//! leads to must still be ours. Every folder below it is checked without following links.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path};

use crate::state_dir::paths::{short_root, StateDir};

/// Makes `dir` (the state dir, a folder in it, or a short socket folder of it) exist and be
/// private, checking every folder from the state dir (or `/tmp/qcmdr-<uid>`) down to it.
pub fn ensure(state: &StateDir, dir: &Path) -> io::Result<()> {
    let short = short_root();
    if dir.starts_with(&short) {
        ensure_owned(&short)?;
        return ensure_below(&short, dir);
    }
    let root = state.root();
    create_all(root)?;
    check(root, fs::metadata(root)?)?;
    match dir.strip_prefix(root) {
        Ok(_) => ensure_below(root, dir),
        // Not in the state dir: nothing above it is ours to judge, the folder itself is.
        Err(_) => {
            create_all(dir)?;
            ensure_owned(dir)
        }
    }
}

/// Every folder below `anchor` (already checked) down to `dir`: created 0700 when missing,
/// else checked without following a symlink.
fn ensure_below(anchor: &Path, dir: &Path) -> io::Result<()> {
    let relative = dir.strip_prefix(anchor).map_err(io::Error::other)?;
    let mut current = anchor.to_path_buf();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("refusing to use {}: `..` or `.` in the path", dir.display()),
            ));
        };
        current.push(name);
        ensure_owned(&current)?;
    }
    Ok(())
}

/// Creates `dir` (0700) unless it exists, then refuses it unless it is a real directory owned
/// by the current user; tightens its mode to 0700.
pub fn ensure_owned(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    check(dir, fs::symlink_metadata(dir)?)
}

fn check(dir: &Path, meta: fs::Metadata) -> io::Result<()> {
    let refuse = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to use {}: {why}", dir.display()),
        ))
    };
    if meta.file_type().is_symlink() {
        return refuse("it is a symbolic link (remove it; qcmdr creates the folder itself)");
    }
    if !meta.is_dir() {
        return refuse("it is not a directory");
    }
    let uid = rustix::process::getuid().as_raw();
    if meta.uid() != uid {
        return refuse(&format!(
            "it is owned by uid {}, not {uid}, so its owner controls what is in it \
             (remove it, or use another --state-dir)",
            meta.uid()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn create_all(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_nested_private_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path().join("s"));
        let dir = state.root().join("a/b");
        ensure(&state, &dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(mode_of(&state.root().join("a")), 0o700);
        assert_eq!(mode_of(state.root()), 0o700);
        ensure(&state, &dir).unwrap();
    }

    #[test]
    fn an_existing_loose_folder_in_the_state_dir_is_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path().join("s"));
        let vm = state.vm("demo").dir;
        fs::create_dir_all(&vm).unwrap();
        for dir in [state.root(), &state.vms_dir(), &vm] {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
        }
        ensure(&state, &vm).unwrap();
        for dir in [state.root(), &state.vms_dir(), &vm] {
            assert_eq!(mode_of(dir), 0o700, "{}", dir.display());
        }
    }

    #[test]
    fn a_planted_symlink_inside_the_state_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path().join("s"));
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::create_dir_all(state.vms_dir()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, state.vms_dir().join("demo")).unwrap();
        let err = ensure(&state, &state.vm("demo").dir).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(err.to_string().contains("vm/demo"), "{err}");
    }

    #[test]
    fn the_state_dir_itself_may_be_a_symlink_to_a_folder_of_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let state = StateDir::new(&link);
        ensure(&state, &state.vm("demo").dir).unwrap();
        assert!(real.join("vm/demo").is_dir());
    }

    #[test]
    fn refuses_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = ensure_owned(&link).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn refuses_a_file_and_tightens_a_loose_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, "").unwrap();
        assert!(ensure_owned(&file).is_err());
        let loose = tmp.path().join("loose");
        fs::create_dir(&loose).unwrap();
        fs::set_permissions(&loose, fs::Permissions::from_mode(0o777)).unwrap();
        ensure_owned(&loose).unwrap();
        assert_eq!(mode_of(&loose), 0o700);
    }

    #[test]
    fn refuses_a_folder_owned_by_someone_else() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path().join("s"));
        let vm = state.vm("demo").dir;
        if rustix::process::getuid().is_root() {
            fs::create_dir_all(&vm).unwrap();
            std::os::unix::fs::chown(&vm, Some(65534), Some(65534)).unwrap();
            let err = ensure(&state, &vm).unwrap_err();
            assert!(err.to_string().contains("owned by uid 65534"), "{err}");
        } else {
            // Owned by root, which we are not.
            let err = ensure_owned(Path::new("/")).unwrap_err();
            assert!(err.to_string().contains("owned by uid"), "{err}");
        }
    }
}
