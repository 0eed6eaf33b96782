//! The `cloud` builder: a local cloud image, checked against its SHA-256, copied into the cache
//! (grown to `size`), plus a NoCloud seed (`cidata`) that lets cloud-init install qcmdr's key
//! and the user's `user_data` on first boot.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use super::tool::{self, ToolError};
use crate::model::CloudRecipe;
use crate::runtime::cancel::Cancel;

const BOUNDARY: &str = "==qcmdr-user-data==";

pub fn build(
    name: &str,
    recipe: &CloudRecipe,
    temp: &Path,
    log: &Path,
    stage: &dyn Fn(&str),
    cancel: &Cancel,
) -> Result<BTreeMap<String, String>, ToolError> {
    let io = |context: String| move |source| ToolError::Io { context, source };
    stage("checking the SHA-256");
    let actual =
        sha256_of(&recipe.file).map_err(io(format!("cannot read {}", recipe.file.display())))?;
    if actual != recipe.sha256 {
        return Err(ToolError::Io {
            context: format!(
                "{} has SHA-256 {actual}, the config expects {} (a different or damaged file; fix file or sha256)",
                recipe.file.display(),
                recipe.sha256
            ),
            source: std::io::ErrorKind::InvalidData.into(),
        });
    }
    stage("making the SSH key");
    let public_key = tool::client_key(temp, &format!("qcmdr image {name}"), log, cancel)?;

    stage("copying the disk");
    let disk = temp.join("disk.qcow2");
    let mut convert = Command::new("qemu-img");
    convert
        .args(["convert", "-O", "qcow2"])
        .arg(&recipe.file)
        .arg(&disk);
    tool::run(convert, log, cancel)?;
    let mut info = Command::new("qemu-img");
    info.args(["info", "--output=json"]).arg(&disk);
    let virtual_size = serde_json::from_str::<serde_json::Value>(&tool::output(info, log, cancel)?)
        .ok()
        .and_then(|v| v["virtual-size"].as_u64())
        .unwrap_or(0);
    // Only ever grown: shrinking would cut the image's filesystem.
    if virtual_size < recipe.size_bytes {
        let mut resize = Command::new("qemu-img");
        resize
            .arg("resize")
            .arg(&disk)
            .arg(recipe.size_bytes.to_string());
        tool::run(resize, log, cancel)?;
    }

    stage("making the cloud-init seed");
    let seed_dir = temp.join("seed");
    fs::create_dir_all(&seed_dir).map_err(io("cannot create the seed folder".into()))?;
    let user_data = user_data(&public_key, recipe.user_data.as_deref());
    let meta_data = meta_data(name, &user_data);
    for (file, text) in [("user-data", &user_data), ("meta-data", &meta_data)] {
        fs::write(seed_dir.join(file), text).map_err(io(format!("cannot write {file}")))?;
    }
    let mut iso = Command::new("genisoimage");
    iso.args(["-quiet", "-volid", "cidata", "-joliet", "-rock", "-output"])
        .arg(temp.join("seed.iso"))
        .arg(seed_dir.join("user-data"))
        .arg(seed_dir.join("meta-data"));
    tool::run(iso, log, cancel)?;
    fs::remove_dir_all(&seed_dir).map_err(io("cannot remove the seed folder".into()))?;
    Ok(BTreeMap::new())
}

/// qcmdr's part (root may log in with the image's key) and the user's, as one MIME multipart
/// document: cloud-init merges the parts.
fn user_data(public_key: &str, user: Option<&str>) -> String {
    let ours = format!(
        "#cloud-config\ndisable_root: false\nssh_pwauth: false\nssh_authorized_keys:\n  - {}\n",
        public_key.trim()
    );
    let mut doc =
        format!("Content-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\nMIME-Version: 1.0\n\n");
    let mut part = |kind: &str, file: &str, body: &str| {
        doc.push_str(&format!(
            "--{BOUNDARY}\nContent-Type: {kind}; charset=\"utf-8\"\nMIME-Version: 1.0\n\
             Content-Disposition: attachment; filename=\"{file}\"\n\n{body}\n"
        ));
    };
    part("text/cloud-config", "qcmdr.cfg", &ours);
    if let Some(user) = user {
        let kind = if user.starts_with("#!") {
            "text/x-shellscript"
        } else {
            "text/cloud-config"
        };
        part(kind, "user-data", user);
    }
    doc.push_str(&format!("--{BOUNDARY}--\n"));
    doc
}

/// The instance id is a digest of the seed's content: cloud-init runs its once-per-instance
/// steps again exactly when the seed changed, never on a plain reboot.
fn meta_data(name: &str, user_data: &str) -> String {
    let hostname = name.replace('_', "-");
    let digest = Sha256::digest(format!("{hostname}\n{user_data}"));
    let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("instance-id: qcmdr-{id}\nlocal-hostname: {hostname}\n")
}

pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
