//! `examples/conf.lua`, the documented starting point, must always load.

use std::path::Path;

use super::Fixture;
use crate::model::{HostForward, Protocol};

#[test]
fn example_config_loads_without_the_guest_files() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/conf.lua");
    let fx = Fixture::new();
    let project = fx.load_file(&example).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(project.vm_names(), ["demo"]);
    let vm = &project.vms[0];
    assert_eq!(vm.arch, "x86_64");
    assert_eq!(vm.login_timeout.as_secs(), 120);
    assert_eq!(vm.ssh.port, 10022);
    assert_eq!(vm.ssh.user, "root");
    assert!(vm.ssh.identity_file.ends_with("/id_ed25519"));
    assert!(vm.args.iter().any(|a| a.starts_with("q35,accel=")));
    let append = vm.args.iter().position(|a| a == "-append").unwrap();
    assert_eq!(vm.args[append + 1], "console=ttyS0 quiet");
    assert!(vm.args.windows(2).any(|w| w == ["-display", "none"]));
    assert_eq!(
        vm.host_forwards,
        [HostForward {
            protocol: Protocol::Tcp,
            host_addr: "127.0.0.1".into(),
            host_port: 10022,
            guest_port: 22,
        }]
    );
}
