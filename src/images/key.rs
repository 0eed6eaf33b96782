//! An image's cache key: a digest of its recipe and of the builder's version, so a changed
//! recipe (or a builder that now builds differently) is a new build in a new folder.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::model::Recipe;

/// Version of what qcmdr's builders produce; part of every image key. Raise it whenever a
/// builder changes what ends up in an image, so existing builds are rebuilt.
pub const IMAGE_BUILDER_VERSION: u32 = 3;

/// Hex characters kept from the digest: enough to never collide between one user's recipes.
const KEY_LEN: usize = 16;

/// The key of `recipe`: its build lives in `<cache>/<name>-<key>/`.
pub fn of(recipe: &Recipe) -> String {
    // serde_json's maps are sorted, so equal recipes give equal bytes.
    let canonical = match recipe {
        Recipe::Debian(r) => {
            let mut canonical = json!({
                "builder": "debian",
                "suite": r.suite,
                "mirror": r.mirror,
                "size": r.size_bytes,
                "packages": r.packages,
                "files": r.files,
                "run": r.run,
            });
            // x86_64 builds keep the key they had before other arches were built, so the
            // cache a user has stays valid.
            if r.arch != "x86_64" {
                canonical["arch"] = json!(r.arch);
            }
            canonical
        }
        // The file's content counts, not where it lies.
        Recipe::Cloud(r) => json!({
            "builder": "cloud",
            "sha256": r.sha256,
            "size": r.size_bytes,
            "user_data": r.user_data,
        }),
    };
    let mut hasher = Sha256::new();
    hasher.update(format!("qcmdr-image/{IMAGE_BUILDER_VERSION}\n"));
    hasher.update(canonical.to_string());
    hex(&hasher.finalize())[..KEY_LEN].to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
