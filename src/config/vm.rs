//! One entry of `vms` → a [`Vm`], plus the facts cross-VM checks need.

use std::sync::LazyLock;
use std::time::Duration;

use mlua::Value;
use regex::Regex;

use super::problems::{Fields, Report, Scope};
use super::sync::{self, ConfigEnv};
use super::{arch_defaults, did_you_mean, mounts, qemu_args, ssh_table, value, vm_image};
use crate::model::{arch, HostForward, Vm, WaitFor};

const KEYS: &[&str] = &[
    "name",
    "arch",
    "login_timeout",
    "login_pattern",
    "ssh_timeout",
    "stop_timeout",
    "wait_for",
    "ssh",
    "sync",
    "mounts",
    "args",
    "image",
    "kernel",
    "initrd",
    "append",
    "arch_defaults",
];
const WAIT_FOR: &[&str] = &["login+ssh", "login-then-ssh", "login", "ssh", "none"];

static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[A-Za-z_][A-Za-z0-9_-]*$").unwrap());
/// A VM name becomes a folder, part of socket paths, an SSH host alias and a Mutagen label
/// value (at most 63 characters): one bound that fits them all.
const NAME_MAX: usize = 63;

/// What other VMs' checks need to know about this one, even when it has problems.
pub(crate) struct Facts {
    /// `vms[2] "livemig"` (or `vms[2]` without a usable name).
    pub scope: String,
    pub name: Option<String>,
    /// `(HostName, Port)`.
    pub ssh: Option<(String, u16)>,
    pub forwards: Vec<HostForward>,
}

/// Validates `vms[index]` (1-based).
pub(crate) fn check(
    report: &mut Report,
    index: usize,
    value: &Value,
    ctx: &ConfigEnv<'_>,
) -> (Option<Vm>, Facts) {
    let bare = format!("vms[{index}]");
    let Value::Table(table) = value else {
        let mut scope = Scope::new(bare.clone(), report);
        scope.problem(
            "",
            format!(
                "expected a table like {{ name = \"demo\", arch = \"x86_64\", ... }}, got {}",
                value::describe(value)
            ),
        );
        return (None, facts(bare, None, None, Vec::new()));
    };

    // The name comes first: every other message is prefixed with it.
    let mut name_scope = Scope::new(bare.clone(), report);
    let mut f = Fields::new(&mut name_scope, "", table);
    let name = match f.take("name") {
        Some(v) => name_scope.text("name", &v).and_then(|name| {
            if NAME.is_match(&name) && name.len() > NAME_MAX {
                name_scope.problem(
                    "name",
                    format!(
                        "{name:?} is {} characters long; at most {NAME_MAX} are allowed",
                        name.len()
                    ),
                );
                None
            } else if NAME.is_match(&name) {
                Some(name)
            } else {
                name_scope.problem(
                    "name",
                    format!(
                        "{name:?} is not a valid name (letters, digits, _ and -, \
                         not starting with a digit or -)"
                    ),
                );
                None
            }
        }),
        None => {
            name_scope.missing("name", "a string");
            None
        }
    };
    let label = match &name {
        Some(name) => format!("{bare} {name:?}"),
        None => bare,
    };
    let mut scope = Scope::new(label.clone(), report);
    let s = &mut scope;

    let arch = match f.take("arch") {
        Some(v) => s.text("arch", &v).and_then(|name| known_arch(s, name)),
        None => {
            s.missing("arch", "a string like \"x86_64\"");
            None
        }
    };
    let mut seconds = |s: &mut Scope<'_>, key: &str, default: u64| match f.take(key) {
        Some(v) => s.seconds(key, &v),
        None => Some(Duration::from_secs(default)),
    };
    let login_timeout = seconds(s, "login_timeout", 120);
    let ssh_timeout = seconds(s, "ssh_timeout", 60);
    let stop_timeout = seconds(s, "stop_timeout", 30);
    let login_pattern = match f.take("login_pattern") {
        Some(v) => s.non_empty_text("login_pattern", &v),
        None => Some("login:".to_string()),
    };
    let wait_for = match f.take("wait_for") {
        Some(v) => s
            .choice("wait_for", &v, WAIT_FOR)
            .map(|w| match w.as_str() {
                "login-then-ssh" => WaitFor::LoginThenSsh,
                "login" => WaitFor::Login,
                "ssh" => WaitFor::Ssh,
                "none" => WaitFor::Nothing,
                _ => WaitFor::LoginAndSsh,
            }),
        None => Some(WaitFor::LoginAndSsh),
    };
    let image_raw = vm_image::take(&mut f);
    // The build the VM boots: its image, of its arch (a debian recipe builds once per arch).
    let image = vm_image::image(s, &image_raw, ctx).map(|image| {
        image.map(|image| match &arch {
            Some(arch) => super::images::for_arch(image, arch),
            None => image.clone(),
        })
    });
    // An image brings its login: root with the key made at build time.
    // (A VM whose image has a problem is not built anyway: the key path then never matters.)
    let ssh_defaults = vm_image::names_one(&image_raw).then(|| ssh_table::Defaults {
        user: "root".to_string(),
        // Each arch's build of the image has a key of its own.
        identity_file: image
            .as_ref()
            .and_then(Option::as_ref)
            .map(|image| image.private_key().to_string_lossy().into_owned())
            .unwrap_or_default(),
    });
    let ssh = match f.take("ssh") {
        Some(v) => s
            .table("ssh", &v)
            .and_then(|t| ssh_table::spec(s, "ssh", &t, ssh_defaults.as_ref())),
        None => {
            s.missing(
                "ssh",
                "a table like { Port = 10022, User = \"root\", IdentityFile = \"...\" }",
            );
            None
        }
    };
    let sync = match f.take("sync") {
        Some(v) => sync::list(s, "sync", &v, ctx),
        None => Some(Vec::new()),
    };
    let mounts = match f.take("mounts") {
        Some(v) => mounts::list(s, "mounts", &v, ctx),
        None => Some(Vec::new()),
    };
    let args = match f.take("args") {
        Some(v) => qemu_args::words(s, "args", &v, ctx.env),
        None => Some((Vec::new(), Vec::new())),
    };
    let vm_image = match (&image, &args, &arch) {
        (Some(Some(image)), Some((words, _)), Some(arch)) => {
            vm_image::boot(s, &image_raw, image, words, arch, ctx).map(Some)
        }
        (Some(None), _, _) => Some(None),
        _ => None,
    };
    let defaults_on = match f.take("arch_defaults") {
        Some(v) => s.boolean("arch_defaults", &v),
        // An image VM is qcmdr's own, never the ancestor's: it gets the defaults.
        None => Some(vm_image::names_one(&image_raw)),
    };
    let defaults = match (defaults_on, &arch, &args, &vm_image, &ssh) {
        (Some(false), ..) => Some((Vec::new(), None)),
        (Some(true), Some(arch), Some((words, _)), Some(boot), Some(ssh)) => {
            let inputs = arch_defaults::Inputs {
                arch,
                args: words,
                has_kernel: arch_defaults::args_have_kernel(words)
                    || boot.as_ref().is_some_and(|b| b.kernel.is_some()),
                ssh: (&ssh.host_name, ssh.port),
            };
            arch_defaults::for_vm(s, &inputs, vm_image::names_one(&image_raw))
        }
        _ => None,
    };
    let memory_mib = match (&mounts, &args) {
        (Some(list), Some((words, _))) if !list.is_empty() => mounts::memory_mib(s, words),
        _ => Some(0),
    };
    let kernel_boot = match (&image, &args) {
        (Some(None), Some((words, _))) => vm_image::kernel_boot(s, &image_raw, words, ctx),
        (Some(Some(_)), _) => Some(None),
        _ => None,
    };
    f.finish(s, KEYS);

    let endpoint = ssh.as_ref().map(|ssh| (ssh.host_name.clone(), ssh.port));
    let mut forwards = args.as_ref().map(|(_, fw)| fw.clone()).unwrap_or_default();
    if let Some((_, Some(forward))) = &defaults {
        forwards.push(forward.clone());
    }
    let facts = facts(label, name.clone(), endpoint, forwards);
    let vm = (|| {
        let (args, mut host_forwards) = args?;
        let (arch_defaults, default_forward) = defaults?;
        host_forwards.extend(default_forward);
        Some(Vm {
            name: name?,
            arch: arch?,
            login_timeout: login_timeout?,
            login_pattern: login_pattern?,
            ssh_timeout: ssh_timeout?,
            stop_timeout: stop_timeout?,
            wait_for: wait_for?,
            ssh: ssh?,
            sync: sync?,
            args,
            host_forwards,
            image: vm_image?,
            arch_defaults,
            kernel_boot: kernel_boot?,
            mounts: mounts?,
            memory_mib: memory_mib?,
        })
    })();
    (vm, facts)
}

/// `name` if QEMU has a `qemu-system-<name>`; otherwise a problem naming the valid names.
fn known_arch(s: &mut Scope<'_>, name: String) -> Option<String> {
    if arch::KNOWN.contains(&name.as_str()) {
        return Some(name);
    }
    let hint = did_you_mean::suggest(&name, arch::KNOWN)
        .map(|n| format!(" (did you mean {n:?}?)"))
        .unwrap_or_default();
    s.problem(
        "arch",
        format!(
            "{name:?} is not an architecture QEMU emulates{hint}; valid: {}",
            arch::KNOWN.join(", ")
        ),
    );
    None
}

fn facts(
    scope: String,
    name: Option<String>,
    ssh: Option<(String, u16)>,
    forwards: Vec<HostForward>,
) -> Facts {
    Facts {
        scope,
        name,
        ssh,
        forwards,
    }
}
