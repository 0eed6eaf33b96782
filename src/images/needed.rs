//! Which images a start needs built: those its VMs boot from that are not built yet.

use super::cache::is_built;
use crate::model::{Image, Project, Vm};

/// The images `vms` boot from that are not built yet, each once, in the VMs' order.
pub fn unbuilt_for<'p>(project: &'p Project, vms: &[&Vm]) -> Vec<&'p Image> {
    let mut missing: Vec<&Image> = Vec::new();
    for vm in vms {
        if let Some(image) = project.image_of(vm).filter(|i| !is_built(i)) {
            if !missing.iter().any(|m| m.dir == image.dir) {
                missing.push(image);
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures;
    use crate::model::{CloudRecipe, Recipe, VmImage};

    fn image(name: &str, dir: &std::path::Path) -> Image {
        Image {
            name: name.into(),
            recipe: Recipe::Cloud(CloudRecipe {
                file: "/images/base.qcow2".into(),
                sha256: "0".repeat(64),
                size_bytes: 1 << 30,
                user_data: None,
            }),
            key: "0123456789abcdef".into(),
            dir: dir.join(format!("{name}-0123456789abcdef")),
        }
    }

    fn on(vm: &str, image: Option<&str>) -> Vm {
        Vm {
            image: image.map(|name| VmImage {
                name: name.into(),
                kernel: None,
                initrd: None,
                append: None,
            }),
            ..fixtures::vm(vm, 22)
        }
    }

    #[test]
    fn each_unbuilt_image_once_in_the_vms_order_and_no_built_one() {
        let cache = tempfile::tempdir().unwrap();
        let (a, b, done) = (
            image("a", cache.path()),
            image("b", cache.path()),
            image("done", cache.path()),
        );
        std::fs::create_dir_all(&done.dir).unwrap();
        std::fs::write(done.manifest(), "{}").unwrap();
        let vms = vec![
            on("one", Some("b")),
            on("two", Some("done")),
            on("three", None),
            on("four", Some("a")),
            on("five", Some("b")),
        ];
        let project = Project {
            images: vec![a, b, done],
            ..fixtures::project("/p/conf.lua", vms.clone())
        };
        let chosen: Vec<&Vm> = vms.iter().collect();
        let names: Vec<&str> = unbuilt_for(&project, &chosen)
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(names, ["b", "a"]);
    }
}
