//! A VM's `mounts` list: host folders the guest sees live over virtiofs.

use mlua::Value;

use super::problems::{Fields, Scope};
use super::sync::{self, ConfigEnv};
use crate::model::MountSpec;

const KEYS: &[&str] = &["source", "dest", "readonly"];
/// Tags `qcmdr1`..`qcmdr99`: their sockets (`qcmdr99.sock`) fit wherever the VM's do.
const MAX_MOUNTS: usize = 99;

/// The `mounts` list at `path` (`mounts`).
pub(crate) fn list(
    scope: &mut Scope<'_>,
    path: &str,
    value: &Value,
    ctx: &ConfigEnv<'_>,
) -> Option<Vec<MountSpec>> {
    let items = scope.list(path, value)?;
    if items.len() > MAX_MOUNTS {
        scope.problem(
            path,
            format!("{} mounts; at most {MAX_MOUNTS} are allowed", items.len()),
        );
        return None;
    }
    let mut out: Vec<MountSpec> = Vec::new();
    // (entry number, dest) of every valid entry, for the duplicate check.
    let mut dests: Vec<(usize, String)> = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{}]", i + 1);
        match entry(scope, &at, item, i + 1, ctx) {
            Some(spec) => {
                if let Some((first, _)) = dests.iter().find(|(_, d)| *d == spec.dest) {
                    scope.problem(
                        &format!("{at}.dest"),
                        format!(
                            "{:?} is already the dest of {path}[{first}]; one folder per guest path",
                            spec.dest
                        ),
                    );
                    ok = false;
                }
                dests.push((i + 1, spec.dest.clone()));
                out.push(spec);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn entry(
    scope: &mut Scope<'_>,
    path: &str,
    value: &Value,
    number: usize,
    ctx: &ConfigEnv<'_>,
) -> Option<MountSpec> {
    let table = scope.table(path, value)?;
    let mut f = Fields::new(scope, path, &table);
    let source = match f.take("source") {
        Some(v) => scope
            .non_empty_text(&f.path_of("source"), &v)
            .and_then(|text| sync::host_path(scope, &f.path_of("source"), &text, ctx))
            .map(|absolute| absolute.canonicalize().unwrap_or(absolute)),
        None => {
            scope.missing(&f.path_of("source"), "a host folder");
            None
        }
    };
    let dest = match f.take("dest") {
        Some(v) => scope
            .non_empty_text(&f.path_of("dest"), &v)
            .and_then(|dest| guest_path(scope, &f.path_of("dest"), dest)),
        None => {
            scope.missing(&f.path_of("dest"), "an absolute path in the guest");
            None
        }
    };
    let readonly = match f.take("readonly") {
        Some(v) => scope.boolean(&f.path_of("readonly"), &v),
        None => Some(false),
    };
    f.finish(scope, KEYS);
    Some(MountSpec {
        source: source?,
        dest: dest?,
        readonly: readonly?,
        tag: format!("qcmdr{number}"),
    })
}

/// The dest travels on the guest's kernel command line (`qcmdr.mount=<tag>:<dest>:<ro|rw>`),
/// where a space ends the word and a colon the field.
fn guest_path(scope: &mut Scope<'_>, path: &str, dest: String) -> Option<String> {
    if !dest.starts_with('/') {
        scope.problem(
            path,
            format!("{dest:?} is not an absolute guest path (write it like \"/src/linux\")"),
        );
        return None;
    }
    if dest == "/" {
        scope.problem(path, "the guest's root folder cannot be a mount's dest");
        return None;
    }
    if let Some(bad) = dest
        .chars()
        .find(|c| c.is_whitespace() || *c == ':' || *c == ',')
    {
        scope.problem(
            path,
            format!("{dest:?} contains {bad:?}; a mount's dest has no spaces, colons or commas"),
        );
        return None;
    }
    Some(dest.trim_end_matches('/').to_string())
}

/// The guest's RAM in MiB, from the `-m` of `args` (QEMU's default 128 MiB without one): the
/// shared memory virtiofs needs replaces the RAM and must have its size. `None` when
/// `mounts` cannot work with these args (a problem was reported).
pub(crate) fn memory_mib(scope: &mut Scope<'_>, args: &[String]) -> Option<u64> {
    if let Some(own) = args
        .iter()
        .find(|a| *a == "-numa" || *a == "--numa" || a.starts_with("memory-backend"))
    {
        scope.problem(
            "mounts",
            format!("args set up the guest's memory themselves ({own}); mounts need qcmdr's shared memory backend, so drop it from args"),
        );
        return None;
    }
    let Some(value) = args
        .windows(2)
        .rev()
        .find(|w| w[0] == "-m" || w[0] == "--m")
        .map(|w| w[1].as_str())
    else {
        return Some(128);
    };
    let size = value
        .split(',')
        .find_map(|part| match part.split_once('=') {
            Some(("size", size)) => Some(size),
            Some(_) => None,
            None => Some(part),
        })
        .unwrap_or("");
    match parse_mib(size) {
        Some(mib) => Some(mib),
        None => {
            scope.problem(
                "args",
                format!("-m {value}: qcmdr cannot read this memory size (write it like -m 512 or -m 2G); mounts need it"),
            );
            None
        }
    }
}

/// QEMU's `-m` size: MiB without a suffix, else K, M, G or T (either case).
fn parse_mib(text: &str) -> Option<u64> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: u64 = digits.parse().ok()?;
    let factor_kib = match &text[digits.len()..] {
        "" | "M" | "m" | "MB" | "MiB" => 1024,
        "G" | "g" | "GB" | "GiB" => 1024 * 1024,
        "T" | "t" | "TB" | "TiB" => 1024 * 1024 * 1024,
        "K" | "k" | "KB" | "KiB" => 1,
        _ => return None,
    };
    let kib = number.checked_mul(factor_kib)?;
    (kib % 1024 == 0 && kib > 0).then_some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::parse_mib;

    #[test]
    fn memory_sizes_as_qemu_reads_them() {
        assert_eq!(parse_mib("256"), Some(256));
        assert_eq!(parse_mib("2G"), Some(2048));
        assert_eq!(parse_mib("524288k"), Some(512));
        assert_eq!(parse_mib("1x"), None);
        assert_eq!(parse_mib(""), None);
    }
}
