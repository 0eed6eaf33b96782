//! The value the config file returned → a validated [`Project`], with every problem collected.

use std::collections::HashMap;
use std::path::Path;

use mlua::Value;

use super::problems::{Fields, Report, Scope};
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
    let vms = vms.into_iter().collect::<Option<Vec<_>>>()?;
    let images = images::builds_for(images?, &vms);

    Some(Project {
        config_file: config_file.to_path_buf(),
        qemu_bin_dir: qemu_bin_dir?,
        ssh_base: ssh_base?,
        sync_engine: sync_engine?,
        vms,
        images,
        image_cache: image_cache.unwrap_or_default(),
    })
}

/// Problems between VMs: a reused name, SSH endpoint or forwarded host port. Each is reported
/// on the later VM, naming the earlier one.
fn cross_checks(report: &mut Report, facts: &[vm::Facts]) {
    let ports = PortIndex::new(facts);
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
        ssh_port_clashes(&mut scope, vm, earlier, &ports.candidates(i, vm));
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

/// A host port one VM forwards that is another VM's SSH `Port` on this host: ssh to that
/// VM would reach the wrong guest (or fail to connect while the other one runs). Reported on
/// the later VM of the pair, unless the clash is already reported as a shared SSH endpoint
/// or a shared forward.
fn ssh_port_clashes(
    scope: &mut Scope<'_>,
    vm: &vm::Facts,
    earlier: &[vm::Facts],
    candidates: &[usize],
) {
    for other in candidates.iter().map(|&j| &earlier[j]) {
        for (forwarder, ssh_owner, path) in [(vm, other, "args"), (other, vm, "ssh.Port")] {
            let Some((host, port)) = &ssh_owner.ssh else {
                continue;
            };
            if !hostfwd::is_local_host(host) || forwarder.ssh == ssh_owner.ssh {
                continue;
            }
            let forwarded = forwarder.forwards.iter().any(|fwd| {
                fwd.protocol == crate::model::Protocol::Tcp
                    && fwd.host_port == *port
                    && hostfwd::binds_locally(&fwd.host_addr)
            });
            let owner_forwards_it = ssh_owner.forwards.iter().any(|fwd| fwd.host_port == *port);
            if forwarded && !owner_forwards_it {
                let what = if path == "args" {
                    format!(
                        "hostfwd host port {port} (tcp) is the SSH Port of {}",
                        other.scope
                    )
                } else {
                    format!(
                        "{port} is a hostfwd host port of {}, so ssh would reach that VM",
                        other.scope
                    )
                };
                scope.problem(path, what);
            }
        }
    }
}

/// Which VMs use a port as their local SSH `Port`, and which forward it (TCP, locally), so
/// that a config of a thousand VMs is not checked pair by pair.
struct PortIndex {
    ssh: HashMap<u16, Vec<usize>>,
    forwarded: HashMap<u16, Vec<usize>>,
}

impl PortIndex {
    fn new(facts: &[vm::Facts]) -> Self {
        let mut index = PortIndex {
            ssh: HashMap::new(),
            forwarded: HashMap::new(),
        };
        for (i, vm) in facts.iter().enumerate() {
            if let Some((_, port)) = &vm.ssh {
                index.ssh.entry(*port).or_default().push(i);
            }
            for fwd in &vm.forwards {
                index.forwarded.entry(fwd.host_port).or_default().push(i);
            }
        }
        index
    }

    /// The VMs before `i` that share a port with it one way or the other, in config order.
    fn candidates(&self, i: usize, vm: &vm::Facts) -> Vec<usize> {
        let mut found: Vec<usize> = vm
            .forwards
            .iter()
            .filter_map(|fwd| self.ssh.get(&fwd.host_port))
            .chain(
                vm.ssh
                    .as_ref()
                    .and_then(|(_, port)| self.forwarded.get(port)),
            )
            .flatten()
            .copied()
            .filter(|&j| j < i)
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// `vms[1]` from `vms[1] "web"`: a duplicate name need not be repeated.
fn bare(scope: &str) -> &str {
    scope.split(' ').next().unwrap_or(scope)
}
