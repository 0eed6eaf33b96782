//! A VM whose `kernel` is a built kernel tree (a folder): its image for the VM's arch, its
//! `.config` checked against what this VM's boot uses, and its modules packed after the
//! VM's initrd into the VM's private folder, put into the argv in place of the folder.

use std::path::Path;

use crate::kernel_tree::{KernelTree, KernelTreeError, Needs};
use crate::model::Vm;
use crate::state_dir::paths::VmPaths;

/// Rewrites `argv`'s `-kernel <tree>` (and `-initrd`) when the VM's kernel is a folder;
/// returns the tree, or `None` for a kernel file (nothing to do).
pub fn apply(
    vm: &Vm,
    paths: &VmPaths,
    argv: &mut Vec<String>,
) -> Result<Option<KernelTree>, KernelTreeError> {
    let Some(kernel) = vm.kernel().filter(|k| k.is_dir()) else {
        return Ok(None);
    };
    let tree = checked_tree(vm, kernel)?;
    let work = paths.dir.join("kernel-tree");
    crate::state_dir::private_dir::ensure_owned(&work).map_err(|source| KernelTreeError::Io {
        context: format!("cannot create {}", work.display()),
        source,
    })?;
    let initrd = tree.boot_initrd(vm.initrd(), &work)?;
    set_option(argv, "-kernel", kernel, &tree.image);
    let old_initrd = vm.initrd().unwrap_or(Path::new(""));
    set_option(argv, "-initrd", old_initrd, &initrd);
    Ok(Some(tree))
}

/// The tree at `kernel`, its `.config` checked against what `vm`'s boot uses (also for
/// `check`, which warns instead).
pub fn checked_tree(vm: &Vm, kernel: &Path) -> Result<KernelTree, KernelTreeError> {
    let tree = KernelTree::open(kernel, &vm.arch)?;
    tree.check_config(&Needs {
        arch: vm.arch.clone(),
        network: vm.wait_for.ssh(),
        disk_root: vm.image.is_some(),
        virtiofs: !vm.mounts.is_empty(),
        modules: tree.has_modules(),
    })?;
    Ok(tree)
}

/// Replaces the value of `option` when it is `old`, or adds the option after `-kernel`.
fn set_option(argv: &mut Vec<String>, option: &str, old: &Path, new: &Path) {
    let old = old.to_string_lossy();
    let new = new.to_string_lossy().into_owned();
    if let Some(at) = argv.windows(2).position(|w| w[0] == option && w[1] == old) {
        argv[at + 1] = new;
    } else if let Some(at) = argv.iter().position(|a| a == "-kernel") {
        argv.splice(at + 2..at + 2, [option.to_string(), new]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_replaced_initrd_replaced_or_added() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut argv = words(&["q", "-kernel", "/t", "-append", "x"]);
        set_option(&mut argv, "-kernel", Path::new("/t"), Path::new("/t/bz"));
        set_option(&mut argv, "-initrd", Path::new(""), Path::new("/s/i"));
        assert_eq!(
            argv,
            words(&["q", "-kernel", "/t/bz", "-initrd", "/s/i", "-append", "x"])
        );
        set_option(&mut argv, "-initrd", Path::new("/s/i"), Path::new("/s/j"));
        assert_eq!(argv[4], "/s/j");
    }
}
