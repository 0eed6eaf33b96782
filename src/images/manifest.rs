//! `manifest.json` of a build: what was built, when, and which packages it holds. Written
//! last, so its presence marks a complete build.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const MANIFEST_SCHEMA: &str = "qcmdr.image-manifest/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub name: String,
    pub builder: String,
    pub key: String,
    /// Seconds since the Unix epoch.
    pub built_at: f64,
    pub build_seconds: f64,
    /// Installed package → version (`debian`); empty for `cloud`, whose content qcmdr does
    /// not inspect.
    pub packages: BTreeMap<String, String>,
}

impl Manifest {
    pub fn read(path: &Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}

/// `dpkg-query -W` output (`name\tversion` lines) as a map.
pub fn parse_packages(listing: &str) -> BTreeMap<String, String> {
    listing
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(name, version)| (name.to_string(), version.to_string()))
        .collect()
}
