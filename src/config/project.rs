//! The value the config file returned → a validated [`Project`], with every problem collected.

use std::path::Path;

use mlua::Value;

use super::report::{Fields, Report, Scope};
use super::sync::{self, ConfigEnv};
use super::{hostfwd, images, ssh_table, value, vm};
use crate::model::{Project, SyncEngine};

const KEYS: &[&str] = &[
    "qemu_bin_dir_fpath",
    "ssh_conf_base",
    "sync_engine",
    "images",
    "vms",
];
const SHAPE: &str = "the file must return a table like { vms = { { name = \"demo\", ... } } }";

/// Validates `value`, the result of evaluating `config_file`. `env` resolves `~` and `$VAR`.
pub(crate) fn check(
    value: &Value,
    config_file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, Vec<String>> {
    let mut report = Report::default();
    let project = build(&mut report, value, config_file, env);
    match project {
        Some(project) if report.problems.is_empty() => Ok(project),
        _ => Err(report.problems),
    }
}

fn build(
    report: &mut Report,
    value: &Value,
    config_file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Project> {
    let config_dir = config_file.parent().unwrap_or(Path::new("/"));
    let mut scope = Scope::new("", report);
    let Value::Table(table) = value else {
        scope.problem(
            "",
            format!("{SHAPE}, but it returned {}", value::describe(value)),
        );
        return None;
    };
    let mut f = Fields::new(&mut scope, "", table);

    let qemu_bin_dir = match f.take("qemu_bin_dir_fpath") {
        Some(v) => scope.non_empty_text("qemu_bin_dir_fpath", &v).map(|dir| {
            let home = || env("HOME");
            let expanded = shellexpand::tilde_with_context(&dir, home).into_owned();
            Some(config_dir.join(expanded))
        }),
        None => Some(None),
    };
    let ssh_base = match f.take("ssh_conf_base") {
        Some(v) => scope
            .table("ssh_conf_base", &v)
            .and_then(|t| ssh_table::base(&mut scope, "ssh_conf_base", &t)),
        None => Some(Vec::new()),
    };
    let sync_engine = match f.take("sync_engine") {
        Some(v) => scope
            .choice("sync_engine", &v, sync::ENGINES)
            .map(|name| sync::engine(&name)),
        None => Some(SyncEngine::Mutagen),
    };
    let images_value = f.take("images");
    let vms_value = f.take("vms");
    f.finish(&mut scope, KEYS);

    let image_cache = images::cache_dir(env);
    let default_engine = sync_engine.unwrap_or(SyncEngine::Mutagen);
    let (image_names, images) = match &images_value {
        Some(v) => {
            let ctx = ConfigEnv {
                config_dir,
                env,
                default_engine,
                images: &[],
                image_names: &[],
            };
            images::table(&mut scope, v, &ctx, image_cache.as_deref())
        }
        None => (Vec::new(), Some(Vec::new())),
    };

    let Some(vms_value) = vms_value else {
        scope.problem("vms", format!("missing; {SHAPE}"));
        return None;
    };
    let items = scope.list("vms", &vms_value)?;

    // VMs naming an image that has problems are not checked against it (already reported).
    let known_images = images.clone().unwrap_or_default();
    let ctx = ConfigEnv {
        config_dir,
        env,
        default_engine,
        images: &known_images,
        image_names: &image_names,
    };
    let mut vms = Vec::new();
    let mut facts = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (vm, fact) = vm::check(report, i + 1, item, &ctx);
        vms.push(vm);
        facts.push(fact);
    }
    cross_checks(report, &facts);

    Some(Project {
        config_file: config_file.to_path_buf(),
        qemu_bin_dir: qemu_bin_dir?,
        ssh_base: ssh_base?,
        sync_engine: sync_engine?,
        vms: vms.into_iter().collect::<Option<Vec<_>>>()?,
        images: images?,
        image_cache: image_cache.unwrap_or_default(),
    })
}

/// Problems between VMs: a reused name, SSH endpoint or forwarded host port. Each is reported
/// on the later VM, naming the earlier one.
fn cross_checks(report: &mut Report, facts: &[vm::Facts]) {
    for (i, vm) in facts.iter().enumerate() {
        let earlier = &facts[..i];
        let mut scope = Scope::new(vm.scope.clone(), report);
        if let Some(name) = &vm.name {
            if let Some(other) = earlier.iter().find(|o| o.name.as_ref() == Some(name)) {
                scope.problem(
                    "name",
                    format!("{name:?} is already used by {}", bare(&other.scope)),
                );
            }
        }
        if let Some((host, port)) = &vm.ssh {
            if let Some(other) = earlier
                .iter()
                .find(|o| o.ssh.as_ref() == Some(&(host.clone(), *port)))
            {
                scope.problem(
                    "ssh.Port",
                    format!("{port} on {host} is already used by {}", other.scope),
                );
            }
        }
        for fwd in &vm.forwards {
            let clash = earlier
                .iter()
                .find(|o| o.forwards.iter().any(|theirs| hostfwd::clash(fwd, theirs)));
            if let Some(other) = clash {
                scope.problem(
                    "args",
                    format!(
                        "hostfwd host port {} ({}) is already forwarded by {}",
                        fwd.host_port,
                        fwd.protocol.as_str(),
                        other.scope
                    ),
                );
            }
        }
    }
}

/// `vms[1]` from `vms[1] "web"`: a duplicate name need not be repeated.
fn bare(scope: &str) -> &str {
    scope.split(' ').next().unwrap_or(scope)
}
