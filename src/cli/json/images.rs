//! `qcmdr.images/1`: `image list --json`, the configured images and their builds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::IMAGES_SCHEMA;
use crate::images::Build;

#[derive(Debug, Serialize)]
pub struct Images {
    pub schema: &'static str,
    pub images: Vec<Image>,
}

#[derive(Debug, Serialize)]
pub struct Image {
    pub name: String,
    pub builder: &'static str,
    pub arch: Option<String>,
    pub key: String,
    pub built: bool,
    pub disk: PathBuf,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub size_bytes: u64,
    pub built_at: Option<f64>,
    pub packages: BTreeMap<String, String>,
}

impl Images {
    pub fn new(builds: &[Build<'_>]) -> Self {
        Images {
            schema: IMAGES_SCHEMA,
            images: builds
                .iter()
                .map(|b| Image {
                    name: b.image.name.clone(),
                    builder: b.image.recipe.builder(),
                    arch: b.image.arch().map(str::to_string),
                    key: b.image.key.clone(),
                    built: b.manifest.is_some(),
                    disk: b.image.disk(),
                    kernel: b.image.kernel(),
                    initrd: b.image.initrd(),
                    size_bytes: b.size_bytes,
                    built_at: b.manifest.as_ref().map(|m| m.built_at),
                    packages: b
                        .manifest
                        .as_ref()
                        .map(|m| m.packages.clone())
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }
}
