//! `qcmdr show VM` (the resolved VM and its exact QEMU command line) and `qcmdr ssh-config`.

use std::process::ExitCode;

use serde_json::json;

use super::{json as json_out, load, Cli, Failure};

pub fn run(cli: &Cli, name: &str, as_json: bool) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = load::vm(&ctx, name)?;
    let paths = ctx.paths(vm);
    let argv = crate::qemu::argv::build(&ctx.project, vm, &paths);
    let ssh_config = ctx.state.ssh_config();
    let image_args = crate::qemu::image_args::for_vm(&ctx.project, vm, &paths.dir);
    if as_json {
        let document = json!({
            "schema": json_out::SHOW_SCHEMA,
            "name": vm.name,
            "arch": vm.arch,
            "argv": argv,
            "cwd": ctx.qemu_cwd(),
            "login_timeout_s": vm.login_timeout.as_secs_f64(),
            "login_pattern": vm.login_pattern,
            "ssh_timeout_s": vm.ssh_timeout.as_secs_f64(),
            "stop_timeout_s": vm.stop_timeout.as_secs_f64(),
            "wait_for": vm.wait_for.as_str(),
            "ssh": {
                "host_name": vm.ssh.host_name,
                "port": vm.ssh.port,
                "user": vm.ssh.user,
                "identity_file": vm.ssh.identity_file,
                "options": vm.ssh.options.iter().map(|o| (o.name.clone(), serde_json::Value::from(o.value.clone()))).collect::<serde_json::Map<_, _>>(),
            },
            "sync": vm.sync.iter().map(|s| json!({
                "source": s.source, "dest": s.dest, "ignore_vcs": s.ignore_vcs,
                "ignore": s.ignore, "mode": s.mode, "engine": s.engine.as_str(),
            })).collect::<Vec<_>>(),
            "forwards": json_out::forwards(&vm.host_forwards),
            "paths": json_out::paths(&paths, &ssh_config),
            "image": vm.image.as_ref().map(|boot| {
                let image = ctx.project.image(&boot.name);
                json!({
                    "name": boot.name,
                    "built": image.is_some_and(|i| i.is_built()),
                    "dir": image.map(|i| &i.dir),
                    "disk": crate::images::overlay::path(&paths.dir),
                    "added_args": image_args,
                })
            }),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).expect("valid JSON")
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("name:          {}", vm.name);
    println!("arch:          {}", vm.arch);
    println!("wait for:      {}", vm.wait_for.as_str());
    println!(
        "timeouts:      login {} s, ssh {} s, stop {} s",
        vm.login_timeout.as_secs_f64(),
        vm.ssh_timeout.as_secs_f64(),
        vm.stop_timeout.as_secs_f64()
    );
    println!(
        "ssh:           {}@{}:{} (key {})",
        vm.ssh.user, vm.ssh.host_name, vm.ssh.port, vm.ssh.identity_file
    );
    for forward in &vm.host_forwards {
        println!(
            "forward:       {} {}:{} -> guest {}",
            forward.protocol.as_str(),
            if forward.host_addr.is_empty() {
                "*"
            } else {
                &forward.host_addr
            },
            forward.host_port,
            forward.guest_port
        );
    }
    for entry in &vm.sync {
        println!(
            "sync:          {} -> {} ({}, {})",
            entry.source.display(),
            entry.dest,
            entry.engine.as_str(),
            entry.mode
        );
    }
    if let Some(boot) = &vm.image {
        let (state, dir) = match ctx.project.image(&boot.name) {
            Some(image) if image.is_built() => ("built", image.dir.display().to_string()),
            Some(image) => ("not built", image.dir.display().to_string()),
            None => ("unknown", String::new()),
        };
        println!("image:         {} ({state}, {dir})", boot.name);
        println!(
            "disk:          {} (over the image)",
            crate::images::overlay::path(&paths.dir).display()
        );
        println!(
            "image args:    {}",
            crate::qemu::argv::shell_quoted(&image_args)
        );
    }
    println!("cwd:           {}", ctx.qemu_cwd().display());
    println!("command line:");
    println!("  {}", crate::qemu::argv::shell_quoted(&argv));
    println!("paths:");
    for (key, path) in [
        ("serial_log", &paths.serial_log),
        ("qemu_log", &paths.qemu_log),
        ("pidfile", &paths.pidfile),
        ("qmp_socket", &paths.qmp_socket),
        ("monitor_socket", &paths.monitor_socket),
        ("serial_socket", &paths.serial_socket),
        ("ssh_config", &ssh_config),
    ] {
        println!("  {key:15} {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn ssh_config(cli: &Cli, names: &[String]) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let chosen = load::vms(&ctx, names, false)?;
    // The private file (used by the wrappers and by `ssh -F`) always matches what is printed.
    load::prepare_ssh(&ctx)?;
    let mut project = ctx.project.clone();
    project
        .vms
        .retain(|vm| chosen.iter().any(|c| c.name == vm.name));
    print!("{}", crate::ssh::config::render(&project, &ctx.state));
    Ok(ExitCode::SUCCESS)
}
