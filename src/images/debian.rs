//! The `debian` builder: a root filesystem from Debian packages (mmdebstrap, minbase plus
//! what a systemd guest with SSH needs), customised without booting it, packed as an ext4
//! qcow2 disk; the kernel and initrd are taken out for direct kernel boot. As root it runs
//! as it is; as anyone else in a user namespace of its own (`userns`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::foreign;
use super::manifest::parse_packages;
use super::tool::{self, ToolError};
use super::userns::IdMap;
use crate::model::{arch, DebianRecipe};
use crate::runtime::cancel::Cancel;

/// What every image gets: systemd, sshd, networking by DHCP (systemd-networkd), and (with
/// the arch's kernel, `DebianPort::kernel_package`) an initrd that can mount a virtio disk.
const BASE_PACKAGES: &[&str] = &[
    "systemd-sysv",
    "udev",
    "dbus",
    "openssh-server",
    "iproute2",
    "initramfs-tools",
];

/// The initrd needs only what mounts the root disk; the default (`MODULES=most`) packs
/// hundreds of modules and makes building it the slowest step of a build.
const INITRD_SETUP: &str = "mkdir -p \"$1/etc/initramfs-tools/conf.d\" \"$1/usr/share/initramfs-tools/modules.d\" \
    && echo MODULES=list > \"$1/etc/initramfs-tools/conf.d/qcmdr\" \
    && printf 'virtio_pci\\nvirtio_blk\\next4\\n' > \"$1/usr/share/initramfs-tools/modules.d/qcmdr.conf\"";

/// Any wired interface by DHCP.
const NETWORK: &str = "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n";
const FALLBACK_MIRROR: &str = "http://deb.debian.org/debian";

/// Builds into `temp`; returns the installed packages.
pub fn build(
    name: &str,
    recipe: &DebianRecipe,
    temp: &Path,
    log: &Path,
    stage: &dyn Fn(&str),
    cancel: &Cancel,
) -> Result<BTreeMap<String, String>, ToolError> {
    // Without root, everything that writes or reads the root filesystem runs as root of a
    // user namespace (see `userns`): the image's owners come out as they are in the guest.
    let namespace = if rustix::process::geteuid().is_root() {
        None
    } else {
        Some(IdMap::for_this_user()?)
    };
    let built = build_rootfs_and_disk(name, recipe, temp, namespace.as_ref(), log, stage, cancel);
    if built.is_err() && namespace.is_some() {
        // Files of the guest's other users belong to subordinate ids, which this user cannot
        // remove outside the namespace; not cancellable: a Ctrl-C must not leave them behind.
        if let Ok(uncancelled) = Cancel::new() {
            let _ = remove_rootfs(namespace.as_ref(), &temp.join("rootfs"), log, &uncancelled);
        }
    }
    built
}

/// The build proper, into `temp/rootfs` then `temp/disk.qcow2`.
fn build_rootfs_and_disk(
    name: &str,
    recipe: &DebianRecipe,
    temp: &Path,
    namespace: Option<&IdMap>,
    log: &Path,
    stage: &dyn Fn(&str),
    cancel: &Cancel,
) -> Result<BTreeMap<String, String>, ToolError> {
    let io = |context: &str| {
        let context = context.to_string();
        move |source| ToolError::Io { context, source }
    };
    let rootfs = &temp.join("rootfs");
    let port = arch::profile(&recipe.arch)
        .map(|profile| profile.debian)
        .ok_or_else(|| ToolError::Io {
            context: format!("the debian builder makes no {} images", recipe.arch),
            source: std::io::ErrorKind::Unsupported.into(),
        })?;
    foreign::check(&recipe.arch).map_err(|e| ToolError::Foreign(Box::new(e)))?;
    stage("making the SSH key");
    let public_key = tool::client_key(temp, &format!("qcmdr image {name}"), log, cancel)?;
    let script = customize_script(name, recipe, temp, &public_key)
        .map_err(io("cannot write the customize script"))?;

    stage("installing packages (mmdebstrap)");
    let mut include: Vec<&str> = BASE_PACKAGES.to_vec();
    include.push(port.kernel_package);
    include.extend(recipe.packages.iter().map(String::as_str));
    let mut command = Command::new("mmdebstrap");
    command
        .env("DEBIAN_FRONTEND", "noninteractive")
        .arg("--variant=minbase")
        // Another arch's packages are configured through qemu-user (see `foreign`).
        .arg(format!("--architectures={}", port.arch))
        // As root of our namespace: mmdebstrap unshares only mounts, pids and the hostname.
        .args(namespace.map(|_| "--mode=unshare"))
        // The image is packed after the build: fsync per file would only cost time.
        .arg("--dpkgopt=force-unsafe-io")
        .arg(format!("--essential-hook={INITRD_SETUP}"))
        .arg(format!("--include={}", include.join(",")))
        .arg(format!(
            "--customize-hook=sh {} \"$1\"",
            shlex::try_quote(&script.to_string_lossy()).unwrap_or_default()
        ))
        .arg(&recipe.suite)
        .arg(rootfs)
        .arg(recipe.mirror.clone().unwrap_or_else(host_mirror));
    tool::run_in(namespace, command, log, cancel)?;

    stage("taking out the kernel");
    for (prefix, target) in [
        (port.kernel_prefix, "vmlinuz"),
        ("initrd.img-", "initrd.img"),
    ] {
        let found = newest(&rootfs.join("boot"), prefix).ok_or_else(|| ToolError::Io {
            context: format!("the image has no /boot/{prefix}*"),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        fs::copy(&found, temp.join(target)).map_err(io("cannot copy the kernel"))?;
    }
    let mut query = Command::new("dpkg-query");
    query
        .arg(format!(
            "--admindir={}",
            rootfs.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${Package}\t${Version}\n"]);
    let packages = parse_packages(&tool::output(query, log, cancel)?);

    stage("making the disk");
    let raw = temp.join("disk.raw");
    let mut mke2fs = tool::command("mke2fs");
    mke2fs
        .args(["-q", "-t", "ext4", "-L", "root", "-d"])
        .arg(rootfs)
        .arg(&raw)
        .arg(format!("{}k", recipe.size_bytes / 1024));
    // In the namespace mke2fs sees the owners the guest has, not the host's subordinate ids.
    tool::run_in(namespace, mke2fs, log, cancel)?;
    let mut convert = Command::new("qemu-img");
    convert
        .args(["convert", "-O", "qcow2"])
        .arg(&raw)
        .arg(temp.join("disk.qcow2"));
    tool::run(convert, log, cancel)?;
    fs::remove_file(&raw).map_err(io("cannot remove the raw disk"))?;
    remove_rootfs(namespace, rootfs, log, cancel)?;
    fs::remove_file(&script).map_err(io("cannot remove the customize script"))?;
    let _ = fs::remove_dir_all(temp.join("files"));
    Ok(packages)
}

/// Removes the root filesystem: inside the namespace when there is one (the files of the
/// guest's users belong to subordinate ids there); mmdebstrap's mounts were in a namespace of
/// its own then, so nothing can be mounted below it.
fn remove_rootfs(
    namespace: Option<&IdMap>,
    rootfs: &Path,
    log: &Path,
    cancel: &Cancel,
) -> Result<(), ToolError> {
    if namespace.is_none() || !rootfs.exists() {
        return super::tree::remove_tree(rootfs).map_err(|source| ToolError::Io {
            context: "cannot remove the root filesystem".into(),
            source,
        });
    }
    let mut remove = Command::new("rm");
    remove.args(["-rf", "--one-file-system"]).arg(rootfs);
    tool::run_in(namespace, remove, log, cancel)
}

/// The shell script mmdebstrap runs on the finished root (`$1`), before it is packed: what
/// makes it boot (fstab, hostname, network, root's key), then the recipe's files and commands.
fn customize_script(
    name: &str,
    recipe: &DebianRecipe,
    temp: &Path,
    public_key: &str,
) -> std::io::Result<PathBuf> {
    let quote = |text: &str| {
        shlex::try_quote(text)
            .map(|q| q.into_owned())
            .unwrap_or_default()
    };
    let files_dir = temp.join("files");
    fs::create_dir_all(&files_dir)?;
    let key_file = files_dir.join("authorized_keys");
    fs::write(&key_file, public_key)?;
    let mut s = String::from("set -eu\nroot=\"$1\"\n");
    let hostname = name.replace('_', "-");
    let _ = writeln!(
        s,
        "echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > \"$root/etc/fstab\""
    );
    let _ = writeln!(s, "echo {} > \"$root/etc/hostname\"", quote(&hostname));
    let _ = writeln!(
        s,
        "printf '127.0.1.1 %s\\n' {} >> \"$root/etc/hosts\"",
        quote(&hostname)
    );
    let _ = writeln!(s, "mkdir -p \"$root/etc/systemd/network\"");
    let _ = writeln!(
        s,
        "printf %s {} > \"$root/etc/systemd/network/80-qcmdr.network\"",
        quote(NETWORK)
    );
    let _ = writeln!(s, "chroot \"$root\" systemctl enable systemd-networkd");
    let _ = writeln!(s, "install -d -m 700 \"$root/root/.ssh\"");
    let _ = writeln!(
        s,
        "install -m 600 {} \"$root/root/.ssh/authorized_keys\"",
        quote(&key_file.to_string_lossy())
    );
    // Every SSH login would run `run-parts /etc/update-motd.d` (a shell, `uname`) for a
    // message of the day that qcmdr's logins never show: PAM opens one session per
    // connection, and qcmdr's connection is the master's (`ssh -N`, output discarded), whose
    // channels `qcmdr ssh` uses. Under TCG that is a good part of a second of the guest's
    // CPU, paid by `start` while the guest finishes booting. /etc/motd is still shown.
    let _ = writeln!(
        s,
        "sed -i -E 's|^(session[[:space:]]+optional[[:space:]]+pam_motd\\.so[[:space:]]+motd=/run/motd\\.dynamic)|# qcmdr: no run-parts at each login: \\1|' \"$root/etc/pam.d/sshd\""
    );
    for (i, (guest_path, content)) in recipe.files.iter().enumerate() {
        let source = files_dir.join(i.to_string());
        fs::write(&source, content)?;
        let _ = writeln!(s, "echo 'qcmdr: file {}'", guest_path.replace('\'', ""));
        let _ = writeln!(
            s,
            "install -D -m 644 {} \"$root\"{}",
            quote(&source.to_string_lossy()),
            quote(guest_path)
        );
    }
    for (i, command) in recipe.run.iter().enumerate() {
        let _ = writeln!(
            s,
            "echo {}",
            quote(&format!("qcmdr: run[{}]: {command}", i + 1))
        );
        let _ = writeln!(s, "chroot \"$root\" /bin/sh -ec {}", quote(command));
    }
    let script = temp.join("customize.sh");
    fs::write(&script, s)?;
    Ok(script)
}

/// The machine's own Debian mirror (the first `URIs:` or `deb` line of its apt sources), so
/// builds work wherever apt does.
fn host_mirror() -> String {
    let mut texts = Vec::new();
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        texts.push(text);
    }
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        texts.extend(
            paths
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "sources" || e == "list"))
                .filter_map(|p| fs::read_to_string(p).ok()),
        );
    }
    texts
        .iter()
        .flat_map(|text| text.lines())
        .find_map(|line| {
            let line = line.trim();
            let uri = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|w| w.contains("://"))
            } else {
                None
            }?;
            // The security archive has other suites; the main archive serves every suite.
            (!uri.contains("security")).then(|| uri.to_string())
        })
        .unwrap_or_else(|| FALLBACK_MIRROR.to_string())
}

/// The last (by version-like name order) file in `dir` starting with `prefix`.
fn newest(dir: &Path, prefix: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found.pop()
}
