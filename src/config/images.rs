//! The top-level `images` table → validated [`Image`]s, each with its cache key and folder.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use mlua::Value;
use regex::Regex;

use super::problems::{Fields, Scope};
use super::sync::{self, ConfigEnv};
use super::value;
use crate::images::key as image_key;
use crate::model::{CloudRecipe, DebianRecipe, Image, Recipe};

pub(crate) const BUILDERS: &[&str] = &["debian", "cloud"];
const COMMON_KEYS: &[&str] = &["builder", "size"];
const DEBIAN_KEYS: &[&str] = &["suite", "mirror", "packages", "files", "run"];
const CLOUD_KEYS: &[&str] = &["file", "url", "sha256", "user_data"];
const DEFAULT_SUITE: &str = "bookworm";
/// The arch of a `debian` image no VM boots (what `image build` makes of it).
const DEFAULT_ARCH: &str = "x86_64";
const DEFAULT_SIZE: u64 = 4 << 30;

static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[A-Za-z_][A-Za-z0-9_-]*$").unwrap());
/// Debian policy's package name syntax (an optional `=version` or `/suite` is not offered).
static PACKAGE: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[a-z0-9][a-z0-9+.-]+$").unwrap());
static SUITE: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[a-z][a-z0-9.-]*$").unwrap());
static SHA256: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[0-9a-fA-F]{64}$").unwrap());
static SIZE: LazyLock<Regex> = LazyLock::new(|| Regex::new("^([0-9]+)([KMGT]?)$").unwrap());

/// Where builds live: `$XDG_CACHE_HOME/qcmdr/images`, else `~/.cache/qcmdr/images`.
pub(crate) fn cache_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let absolute = |v: String| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    env("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| env("HOME").and_then(absolute).map(|h| h.join(".cache")))
        .map(|cache| cache.join("qcmdr").join("images"))
}

/// The `images` table: the names it declares (even those with problems, so a VM naming one
/// is not also reported), and the images if every one is valid.
pub(crate) fn table(
    scope: &mut Scope<'_>,
    value: &Value,
    ctx: &ConfigEnv<'_>,
    cache: Option<&Path>,
) -> (Vec<String>, Option<Vec<Image>>) {
    let Some(table) = scope.table("images", value) else {
        return (Vec::new(), None);
    };
    let view = value::map_view(&table);
    for key in &view.bad_keys {
        scope.problem(
            "images",
            format!("unexpected key {key} (images = {{ NAME = {{ builder = ... }} }})"),
        );
    }
    let mut images = Vec::new();
    let mut names = Vec::new();
    let mut ok = view.bad_keys.is_empty();
    for (name, value) in view.entries {
        match image(scope, &name, &value, ctx, cache) {
            Some(image) => images.push(image),
            None => ok = false,
        }
        names.push(name);
    }
    (names, ok.then_some(images))
}

fn image(
    scope: &mut Scope<'_>,
    name: &str,
    value: &Value,
    ctx: &ConfigEnv<'_>,
    cache: Option<&Path>,
) -> Option<Image> {
    let path = format!("images.{name}");
    let mut ok = true;
    if !NAME.is_match(name) {
        scope.problem(
            &path,
            format!("{name:?} is not a valid image name (letters, digits, _ and -, not starting with a digit or -)"),
        );
        ok = false;
    }
    let table = scope.table(&path, value)?;
    let mut f = Fields::new(scope, &path, &table);
    let builder = match f.take("builder") {
        Some(v) => scope.choice(&f.path_of("builder"), &v, BUILDERS),
        None => {
            scope.missing(&f.path_of("builder"), "\"debian\" or \"cloud\"");
            None
        }
    };
    let size = match f.take("size") {
        Some(v) => size(scope, &f.path_of("size"), &v),
        None => Some(DEFAULT_SIZE),
    };
    let recipe = match builder.as_deref() {
        Some("debian") => {
            let recipe = debian(scope, &mut f, size);
            f.finish(scope, &[COMMON_KEYS, DEBIAN_KEYS].concat());
            recipe
        }
        Some(_) => {
            let recipe = cloud(scope, &mut f, size, ctx);
            f.finish(scope, &[COMMON_KEYS, CLOUD_KEYS].concat());
            recipe
        }
        None => None,
    }?;
    let Some(cache) = cache else {
        scope.problem(
            &path,
            "no cache folder for built images: set XDG_CACHE_HOME or HOME",
        );
        return None;
    };
    let key = image_key::of(&recipe);
    ok.then(|| Image {
        name: name.to_string(),
        dir: cache.join(format!("{name}-{key}")),
        key,
        recipe,
    })
}

/// `image` as a VM of `arch` boots it: a `debian` recipe is built once per arch, each build
/// with its own key and folder; a `cloud` image is the same file for every VM.
pub(crate) fn for_arch(image: &Image, arch: &str) -> Image {
    let Recipe::Debian(recipe) = &image.recipe else {
        return image.clone();
    };
    if recipe.arch == arch {
        return image.clone();
    }
    let recipe = Recipe::Debian(DebianRecipe {
        arch: arch.to_string(),
        ..recipe.clone()
    });
    let key = image_key::of(&recipe);
    Image {
        name: image.name.clone(),
        dir: image.dir.with_file_name(format!("{}-{key}", image.name)),
        key,
        recipe,
    }
}

/// The project's builds: every image once per arch of the `vms` that boot it, or as
/// configured when no VM does; sorted by name, then arch.
pub(crate) fn builds_for(images: Vec<Image>, vms: &[crate::model::Vm]) -> Vec<Image> {
    let mut builds: Vec<Image> = Vec::new();
    for image in images {
        let mut arches: Vec<&str> = vms
            .iter()
            .filter(|vm| vm.image.as_ref().is_some_and(|b| b.name == image.name))
            .map(|vm| vm.arch.as_str())
            .collect();
        if arches.is_empty() || image.arch().is_none() {
            builds.push(image);
            continue;
        }
        arches.sort_unstable();
        arches.dedup();
        builds.extend(arches.into_iter().map(|arch| for_arch(&image, arch)));
    }
    builds.sort_by(|a, b| (&a.name, a.arch()).cmp(&(&b.name, b.arch())));
    builds
}

fn debian(scope: &mut Scope<'_>, f: &mut Fields, size: Option<u64>) -> Option<Recipe> {
    let suite = match f.take("suite") {
        Some(v) => scope.text(&f.path_of("suite"), &v).and_then(|s| {
            SUITE.is_match(&s).then_some(s.clone()).or_else(|| {
                scope.problem(
                    &f.path_of("suite"),
                    format!("{s:?} is not a Debian suite name like \"bookworm\""),
                );
                None
            })
        }),
        None => Some(DEFAULT_SUITE.to_string()),
    };
    let mirror = match f.take("mirror") {
        Some(v) => scope
            .non_empty_text(&f.path_of("mirror"), &v)
            .and_then(|m| {
                if m.contains("://") && !m.contains(char::is_whitespace) {
                    Some(Some(m))
                } else {
                    scope.problem(
                        &f.path_of("mirror"),
                        format!("{m:?} is not a mirror URI like \"http://deb.debian.org/debian\""),
                    );
                    None
                }
            }),
        None => Some(None),
    };
    let packages = match f.take("packages") {
        Some(v) => scope
            .non_empty_texts(&f.path_of("packages"), &v)
            .and_then(|names| {
                let bad: Vec<&String> = names.iter().filter(|n| !PACKAGE.is_match(n)).collect();
                if bad.is_empty() {
                    return Some(names.clone());
                }
                for name in bad {
                    scope.problem(
                        &f.path_of("packages"),
                        format!(
                        "{name:?} is not a Debian package name (lower-case letters, digits, + - .)"
                    ),
                    );
                }
                None
            }),
        None => Some(Vec::new()),
    };
    let files = match f.take("files") {
        Some(v) => files(scope, &f.path_of("files"), &v),
        None => Some(Vec::new()),
    };
    let run = match f.take("run") {
        Some(v) => scope.non_empty_texts(&f.path_of("run"), &v),
        None => Some(Vec::new()),
    };
    Some(Recipe::Debian(DebianRecipe {
        arch: DEFAULT_ARCH.to_string(),
        suite: suite?,
        mirror: mirror?,
        size_bytes: size?,
        packages: packages?,
        files: files?,
        run: run?,
    }))
}

fn cloud(
    scope: &mut Scope<'_>,
    f: &mut Fields,
    size: Option<u64>,
    ctx: &ConfigEnv<'_>,
) -> Option<Recipe> {
    let url_ok = f.take("url").is_none();
    if !url_ok {
        scope.problem(
            &f.path_of("url"),
            "downloading is not supported yet: download the image yourself and set file (with sha256)",
        );
    }
    let file = match f.take("file") {
        _ if !url_ok => None,
        Some(v) => scope
            .non_empty_text(&f.path_of("file"), &v)
            .and_then(|text| sync::host_path(scope, &f.path_of("file"), &text, ctx))
            .and_then(|file| {
                if file.is_file() {
                    Some(file)
                } else {
                    scope.problem(
                        &f.path_of("file"),
                        format!("{} is not a file", file.display()),
                    );
                    None
                }
            }),
        None => {
            scope.missing(&f.path_of("file"), "the path of a local cloud image");
            None
        }
    };
    let sha256 = match f.take("sha256") {
        Some(v) => scope.text(&f.path_of("sha256"), &v).and_then(|s| {
            if SHA256.is_match(&s) {
                Some(s.to_ascii_lowercase())
            } else {
                scope.problem(
                    &f.path_of("sha256"),
                    "expected 64 hex digits (the output of sha256sum FILE)",
                );
                None
            }
        }),
        None => {
            scope.missing(
                &f.path_of("sha256"),
                "the file's SHA-256 (the output of sha256sum FILE)",
            );
            None
        }
    };
    let user_data = match f.take("user_data") {
        Some(v) => scope.text(&f.path_of("user_data"), &v).and_then(|text| {
            if text.starts_with("#cloud-config") || text.starts_with("#!") {
                Some(Some(text))
            } else {
                scope.problem(
                    &f.path_of("user_data"),
                    "must start with #cloud-config (YAML) or #! (a script)",
                );
                None
            }
        }),
        None => Some(None),
    };
    Some(Recipe::Cloud(CloudRecipe {
        file: file?,
        sha256: sha256?,
        size_bytes: size?,
        user_data: user_data?,
    }))
}

/// `"4G"`, `"512M"` (binary units) or a number of bytes.
fn size(scope: &mut Scope<'_>, path: &str, value: &Value) -> Option<u64> {
    let text = match value::as_integer(value) {
        Some(n) => n.to_string(),
        None => scope.text(path, value)?,
    };
    let parsed = SIZE.captures(&text).and_then(|c| {
        let shift = match &c[2] {
            "K" => 10,
            "M" => 20,
            "G" => 30,
            "T" => 40,
            _ => 0,
        };
        c[1].parse::<u64>().ok()?.checked_mul(1 << shift)
    });
    match parsed {
        Some(bytes) if bytes >= 64 << 20 => Some(bytes),
        _ => {
            scope.problem(
                path,
                format!("expected a size of at least 64M like \"4G\" or \"512M\", got {text:?}"),
            );
            None
        }
    }
}

/// `files`: absolute guest path → content.
fn files(scope: &mut Scope<'_>, path: &str, value: &Value) -> Option<Vec<(String, String)>> {
    let table = scope.table(path, value)?;
    let view = value::map_view(&table);
    let mut ok = view.bad_keys.is_empty();
    for key in view.bad_keys {
        scope.problem(
            path,
            format!("unexpected key {key} (keys are guest paths like \"/etc/motd\")"),
        );
    }
    let mut out = Vec::new();
    for (guest_path, content) in view.entries {
        let key_path = format!("{path}[{guest_path:?}]");
        let clean = guest_path.starts_with('/')
            && !guest_path.ends_with('/')
            && !guest_path.split('/').any(|part| part == "..");
        if !clean {
            scope.problem(
                &key_path,
                "expected an absolute guest path without .. (like \"/etc/motd\")",
            );
            ok = false;
            continue;
        }
        match scope.text(&key_path, &content) {
            Some(text) => out.push((guest_path, text)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}
