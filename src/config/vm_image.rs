//! A VM's `image`, `kernel`, `initrd` and `append` keys → how it boots from an image (or,
//! without one, its direct kernel boot), and the SSH defaults an image brings (`root`, the
//! image's own key).

use mlua::Value;

use super::did_you_mean;
use super::problems::{Fields, Scope};
use super::sync::{self, ConfigEnv};
use crate::model::{arch, Image, KernelBoot, Recipe, VmImage};

/// QEMU options qcmdr adds for an image's direct kernel boot; a second one would be ambiguous.
const BOOT_OPTIONS: &[(&str, &str)] = &[
    ("-kernel", "kernel"),
    ("-initrd", "initrd"),
    ("-append", "append"),
];

/// The keys read here, taken out of the VM's fields before anything else.
pub(crate) struct Raw {
    image: Option<Value>,
    kernel: Option<Value>,
    initrd: Option<Value>,
    append: Option<Value>,
}

pub(crate) fn take(f: &mut Fields) -> Raw {
    Raw {
        image: f.take("image"),
        kernel: f.take("kernel"),
        initrd: f.take("initrd"),
        append: f.take("append"),
    }
}

/// Whether the VM has an `image` key (valid or not).
pub(crate) fn names_one(raw: &Raw) -> bool {
    raw.image.is_some()
}

/// The image the VM names, if any (`Some(None)`: no image; `None`: a problem was reported).
pub(crate) fn image<'c>(
    scope: &mut Scope<'_>,
    raw: &Raw,
    ctx: &ConfigEnv<'c>,
) -> Option<Option<&'c Image>> {
    let Some(value) = &raw.image else {
        return Some(None);
    };
    let name = scope.non_empty_text("image", value)?;
    if let Some(image) = ctx.images.iter().find(|i| i.name == name) {
        return Some(Some(image));
    }
    if !ctx.image_names.contains(&name) {
        let names: Vec<&str> = ctx.image_names.iter().map(String::as_str).collect();
        let hint = did_you_mean::suggest(&name, &names)
            .map(|s| format!(" (did you mean {s:?}?)"))
            .unwrap_or_default();
        let configured = if names.is_empty() {
            "there is no images table".to_string()
        } else {
            format!("configured: {}", names.join(", "))
        };
        scope.problem(
            "image",
            format!("no image named {name:?} in images; {configured}{hint}"),
        );
    }
    None
}

/// Direct kernel boot of a VM without an image (`None` when a problem was reported,
/// `Some(None)` without a `kernel` key); `args` are its own QEMU words, checked for clashes.
pub(crate) fn kernel_boot(
    scope: &mut Scope<'_>,
    raw: &Raw,
    args: &[String],
    ctx: &ConfigEnv<'_>,
) -> Option<Option<KernelBoot>> {
    let (kernel, initrd, append) = boot_keys(scope, raw, ctx)?;
    let Some(kernel) = kernel else {
        if initrd.is_some() || append.is_some() {
            scope.problem(
                "kernel",
                "missing: initrd and append need a kernel (a kernel image or a built kernel tree)",
            );
            return None;
        }
        return Some(None);
    };
    let clashes = [
        ("-kernel", "kernel", true),
        ("-initrd", "initrd", initrd.is_some()),
        ("-append", "append", append.is_some()),
    ];
    let mut ok = true;
    for (option, key, added) in clashes {
        if added && names_option(args, option) {
            scope.problem(
                "args",
                format!("{option} clashes with the VM's {key} key; keep one of them"),
            );
            ok = false;
        }
    }
    ok.then_some(Some(KernelBoot {
        kernel,
        initrd,
        append,
    }))
}

type BootKeys = (
    Option<std::path::PathBuf>,
    Option<std::path::PathBuf>,
    Option<String>,
);

/// The `kernel`, `initrd` and `append` values, paths made absolute.
fn boot_keys(scope: &mut Scope<'_>, raw: &Raw, ctx: &ConfigEnv<'_>) -> Option<BootKeys> {
    let path_key = |scope: &mut Scope<'_>, key: &str, value: &Option<Value>| match value {
        Some(v) => scope
            .non_empty_text(key, v)
            .and_then(|text| sync::host_path(scope, key, &text, ctx))
            .map(Some),
        None => Some(None),
    };
    let kernel = path_key(scope, "kernel", &raw.kernel);
    let initrd = path_key(scope, "initrd", &raw.initrd);
    let append = match &raw.append {
        Some(v) => scope.non_empty_text("append", v).map(Some),
        None => Some(None),
    };
    Some((kernel?, initrd?, append?))
}

/// Refuses a `debian` image for an arch the builder cannot make, or a suite without that
/// arch's port (Debian names its riscv64 port only from trixie on).
fn debian_port(scope: &mut Scope<'_>, image: &str, suite: &str, arch: &str) -> Option<()> {
    let Some(profile) = arch::profile(arch) else {
        let known: Vec<&str> = arch::PROFILES.iter().map(|p| p.arch).collect();
        scope.problem(
            "image",
            format!(
                "image {image:?} is a debian image, and the debian builder makes {} images, not \
                 {arch}; use a cloud image of {arch}, or a kernel of your own in args",
                known.join(", ")
            ),
        );
        return None;
    };
    if profile.debian.missing_in.contains(&suite) {
        scope.problem(
            "image",
            format!(
                "image {image:?} is built from Debian {suite}, which has no {arch} port \
                 ({}); set suite = \"trixie\" (Debian 13) or later in images.{image}",
                profile.debian.arch
            ),
        );
        return None;
    }
    Some(())
}

/// QEMU accepts `-kernel` and `--kernel` alike.
fn names_option(args: &[String], option: &str) -> bool {
    args.iter()
        .any(|a| a == option || *a == format!("-{option}"))
}

/// How the VM boots from `image` (its build for the VM's `arch`); `args` are its own QEMU
/// words, checked for clashes; `arch` is the VM's (the console in the default kernel command
/// line).
pub(crate) fn boot(
    scope: &mut Scope<'_>,
    raw: &Raw,
    image: &Image,
    args: &[String],
    arch: &str,
    ctx: &ConfigEnv<'_>,
) -> Option<VmImage> {
    if let Recipe::Debian(recipe) = &image.recipe {
        debian_port(scope, &image.name, &recipe.suite, arch)?;
    }
    let (kernel, initrd, append) = boot_keys(scope, raw, ctx)?;
    let kernel = kernel.or_else(|| image.kernel());
    // A VM's own kernel may need no initrd; the image's initrd goes with the image's kernel.
    let initrd = match (&raw.kernel, initrd) {
        (_, Some(initrd)) => Some(initrd),
        (None, None) => image.initrd(),
        (Some(_), None) => None,
    };
    if kernel.is_none() && (initrd.is_some() || append.is_some()) {
        scope.problem(
            "kernel",
            format!(
                "missing: image {:?} boots from its own disk; initrd and append need a kernel",
                image.name
            ),
        );
        return None;
    }
    let append = kernel
        .as_ref()
        .map(|_| append.unwrap_or_else(|| arch::default_append(arch)));
    let mut ok = true;
    for (option, key) in BOOT_OPTIONS {
        let added = match *key {
            "kernel" => kernel.is_some(),
            "initrd" => initrd.is_some(),
            _ => append.is_some(),
        };
        if added && names_option(args, option) {
            scope.problem(
                "args",
                format!(
                    "{option} clashes with the {key} qcmdr adds for image {:?}; set the VM's {key} key instead",
                    image.name
                ),
            );
            ok = false;
        }
    }
    ok.then(|| VmImage {
        name: image.name.clone(),
        kernel,
        initrd,
        append,
    })
}
