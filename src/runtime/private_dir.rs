//! Folders only the current user may enter: the state dir, and the short socket folders under
//! the shared `/tmp`.
//!
//! Anyone can create `/tmp/qcmdr-<uid>` before us, for instance as a symlink into a folder they
//! control, and then watch or hijack our sockets. So that root folder is used only when it is a
//! real directory owned by us; `/tmp`'s sticky bit then keeps others from swapping it later.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::runtime::paths::short_root;

/// Creates `dir` and its missing parents (new folders get mode 0700). A folder below
/// [`short_root`] is created only after that root passed [`ensure_owned`].
pub fn ensure(dir: &Path) -> io::Result<()> {
    let root = short_root();
    if dir.starts_with(&root) && dir != root {
        ensure_owned(&root)?;
        create_all(dir)?;
        return ensure_owned(dir);
    }
    create_all(dir)
}

/// Creates `dir` (0700) unless it exists, then refuses it unless it is a real directory owned
/// by the current user; tightens its mode to 0700.
pub fn ensure_owned(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    let meta = fs::symlink_metadata(dir)?;
    let refuse = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to use {}: {why}", dir.display()),
        ))
    };
    if meta.file_type().is_symlink() {
        return refuse("it is a symbolic link");
    }
    if !meta.is_dir() {
        return refuse("it is not a directory");
    }
    let uid = rustix::process::getuid().as_raw();
    if meta.uid() != uid {
        return refuse(&format!("it is owned by uid {}, not {uid}", meta.uid()));
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
        let dir = tmp.path().join("a/b");
        ensure(&dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(mode_of(&tmp.path().join("a")), 0o700);
        ensure(&dir).unwrap();
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
        let foreign = if rustix::process::getuid().is_root() {
            let dir = tmp.path().join("foreign");
            fs::create_dir(&dir).unwrap();
            std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
            dir
        } else {
            // Owned by root, which we are not.
            Path::new("/").to_path_buf()
        };
        let err = ensure_owned(&foreign).unwrap_err();
        assert!(err.to_string().contains("owned by uid"), "{err}");
    }
}
