//! `qcmdr show VM`: the resolved VM and its exact QEMU command line.

use std::process::ExitCode;

use super::json::{self, Show};
use super::{load, Cli, Failure};

pub fn run(cli: &Cli, name: &str, as_json: bool) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = load::vm(&ctx, name)?;
    let paths = ctx.paths(vm);
    let argv = crate::qemu::argv::build(&ctx.project, vm, &paths);
    let ssh_config = ctx.state.ssh_config();
    if as_json {
        json::print(&Show::new(&ctx, vm, argv));
        return Ok(ExitCode::SUCCESS);
    }
    println!("name:          {}", vm.name);
    println!("arch:          {}", vm.arch);
    println!("console:       {}", crate::model::arch::console(&vm.arch));
    if vm.arch_defaults.is_empty() {
        println!("defaults:      none (arch_defaults is off)");
    } else {
        println!("defaults:");
    }
    for default in &vm.arch_defaults {
        match &default.overridden_by {
            Some(option) => println!("  {:13}from args ({option})", default.what),
            None => println!(
                "  {:13}{}",
                default.what,
                crate::qemu::argv::shell_quoted(&default.words)
            ),
        }
    }
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
        let (state, dir) = match ctx.project.image_of(vm) {
            Some(image) if crate::images::is_built(image) => {
                ("built", image.dir.display().to_string())
            }
            Some(image) => ("not built", image.dir.display().to_string()),
            None => ("unknown", String::new()),
        };
        let image_args = crate::qemu::image_args::for_vm(&ctx.project, vm, &paths);
        println!("image:         {} ({state}, {dir})", boot.name);
        println!(
            "disk:          {} (over the image)",
            paths.image_disk.display()
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
