//! The `images` table and the VM keys that use it: recipes, cache keys, SSH defaults, clashes.

use std::path::PathBuf;

use super::Fixture;
use super::PRELUDE;
use crate::model::{arch, Recipe};

const BOX: &str = r#"box = { builder = "debian", packages = { "hello" },
    files = { ["/etc/motd"] = "hi\n" }, run = { "useradd -m dev" } }"#;

fn with(images: &str, vm: &str) -> String {
    format!("return {{ images = {{ {images} }}, vms = {{ {vm} }} }}")
}

#[test]
fn a_debian_image_gives_the_vm_its_disk_kernel_and_login() {
    let fx = Fixture::new();
    let project = fx.ok(&with(
        BOX,
        r#"{ name = "dev", arch = "x86_64", image = "box", ssh = { Port = 2222 } }"#,
    ));
    let image = &project.images[0];
    let Recipe::Debian(recipe) = &image.recipe else {
        panic!("{image:?}")
    };
    assert_eq!(recipe.suite, "bookworm");
    assert_eq!(recipe.size_bytes, 4 << 30);
    assert_eq!(recipe.packages, ["hello"]);
    assert_eq!(
        recipe.files,
        [("/etc/motd".to_string(), "hi\n".to_string())]
    );
    assert_eq!(recipe.run, ["useradd -m dev"]);
    assert_eq!(image.key.len(), 16);
    // HOME=<root>/home and no XDG_CACHE_HOME in the fixture's environment.
    let cache = fx.root.join("home/.cache/qcmdr/images");
    assert_eq!(project.image_cache, cache);
    assert_eq!(image.dir, cache.join(format!("box-{}", image.key)));

    let vm = &project.vms[0];
    let boot = vm.image.as_ref().unwrap();
    assert_eq!(boot.kernel, Some(image.dir.join("vmlinuz")));
    assert_eq!(boot.initrd, Some(image.dir.join("initrd.img")));
    assert_eq!(
        boot.append.as_deref(),
        Some(arch::default_append("x86_64").as_str())
    );
    assert_eq!(vm.ssh.user, "root");
    assert_eq!(
        PathBuf::from(&vm.ssh.identity_file),
        image.dir.join("id_ed25519")
    );
}

#[test]
fn the_key_follows_the_recipe_only() {
    let fx = Fixture::new();
    let key = |images: &str| fx.ok(&with(images, "")).images[0].key.clone();
    let base = key(BOX);
    assert_eq!(key(BOX), base, "same recipe, same key");
    let reordered = r#"box = { run = { "useradd -m dev" }, files = { ["/etc/motd"] = "hi\n" },
        packages = { "hello" }, builder = "debian" }"#;
    assert_eq!(
        key(reordered),
        base,
        "key order in the table does not matter"
    );
    for changed in [
        r#"box = { builder = "debian", packages = { "hello", "rsync" }, files = { ["/etc/motd"] = "hi\n" }, run = { "useradd -m dev" } }"#,
        r#"box = { builder = "debian", packages = { "hello" }, files = { ["/etc/motd"] = "ho\n" }, run = { "useradd -m dev" } }"#,
        r#"box = { builder = "debian", packages = { "hello" }, files = { ["/etc/motd"] = "hi\n" }, run = { "useradd -m dev" }, size = "8G" }"#,
    ] {
        assert_ne!(key(changed), base, "{changed}");
    }
}

#[test]
fn vm_keys_override_the_boot_and_relative_paths_follow_the_config() {
    let fx = Fixture::new();
    let project = fx.ok(&with(
        BOX,
        r#"{ name = "k", arch = "x86_64", image = "box", kernel = "build/bzImage",
             append = "root=/dev/vda console=ttyS0 nokaslr",
             ssh = { Port = 2222, User = "dev", IdentityFile = "~/.ssh/k" } }"#,
    ));
    let vm = &project.vms[0];
    let boot = vm.image.as_ref().unwrap();
    assert_eq!(boot.kernel, Some(fx.root.join("build/bzImage")));
    assert_eq!(
        boot.initrd, None,
        "an own kernel brings no initrd unless given"
    );
    assert_eq!(
        boot.append.as_deref(),
        Some("root=/dev/vda console=ttyS0 nokaslr")
    );
    assert_eq!(vm.ssh.user, "dev");
    assert_eq!(vm.ssh.identity_file, "~/.ssh/k");
}

#[test]
fn image_problems_are_named_with_their_fix() {
    let fx = Fixture::new();
    let problems = fx.problems(&with(
        r#"a = { builder = "debain" },
           b = { builder = "debian", packags = { "x" } },
           c = { builder = "debian", packages = { "Bad_Name" }, size = "4Q" },
           d = { builder = "cloud", file = "missing.qcow2" },
           e = { builder = "cloud", url = "http://example.invalid/x.qcow2", sha256 = "00" },
           f = { builder = "debian", files = { ["etc/motd"] = "x" } }"#,
        r#"{ name = "v", arch = "x86_64", image = "bx", ssh = { Port = 2222 } },
           { name = "w", arch = "x86_64", image = "a", ssh = { Port = 2223 } }"#,
    ));
    let expected = [
        r#"images.a.builder: expected one of "debian", "cloud", got "debain" (did you mean "debian"?)"#,
        r#"images.b: unknown key "packags" (did you mean "packages"?)"#,
        r#"images.c.size: expected a size of at least 64M like "4G" or "512M", got "4Q""#,
        r#"images.c.packages: "Bad_Name" is not a Debian package name (lower-case letters, digits, + - .)"#,
        "images.d.file: ",
        r#"images.d.sha256: missing (expected the file's SHA-256 (the output of sha256sum FILE))"#,
        "images.e.url: downloading is not supported yet: download the image yourself and set file (with sha256)",
        r#"images.f.files["etc/motd"]: expected an absolute guest path without .. (like "/etc/motd")"#,
        r#"vms[1] "v": image: no image named "bx" in images; configured: a, b, c, d, e, f"#,
    ];
    for line in expected {
        assert!(
            problems.iter().any(|p| p.starts_with(line)),
            "missing {line:?} in:\n{}",
            problems.join("\n")
        );
    }
    // `w` names an image that has problems: those are reported, not a second time via `w`.
    assert!(
        !problems.iter().any(|p| p.contains("\"w\"")),
        "{problems:?}"
    );
}

#[test]
fn a_missing_image_suggests_the_nearest_name() {
    let fx = Fixture::new();
    let problems = fx.problems(&with(
        BOX,
        r#"{ name = "v", arch = "x86_64", image = "bix", ssh = { Port = 2222 } }"#,
    ));
    assert_eq!(
        problems,
        [
            r#"vms[1] "v": image: no image named "bix" in images; configured: box (did you mean "box"?)"#
        ]
    );
}

#[test]
fn boot_args_that_clash_with_the_image_are_refused() {
    let fx = Fixture::new();
    let problems = fx.problems(&with(
        BOX,
        r#"{ name = "v", arch = "x86_64", image = "box", ssh = { Port = 2222 },
             args = { "-kernel /boot/vmlinuz", "-append console=ttyS0" } }"#,
    ));
    assert_eq!(
        problems,
        [
            r#"vms[1] "v": args: -kernel clashes with the kernel qcmdr adds for image "box"; set the VM's kernel key instead"#,
            r#"vms[1] "v": args: -append clashes with the append qcmdr adds for image "box"; set the VM's append key instead"#,
        ]
    );
}

#[test]
fn boot_keys_without_an_image_are_a_direct_kernel_boot_and_ssh_keys_stay_required() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"return { vms = { { name = "v", arch = "x86_64", kernel = "bzImage", ssh = { Port = 2222 } } } }"#,
    );
    assert_eq!(
        problems,
        [
            r#"vms[1] "v": ssh.User: missing (expected a string)"#,
            r#"vms[1] "v": ssh.IdentityFile: missing (expected a string)"#,
        ]
    );
    let project = fx.ok(&format!(
        "{PRELUDE} return {{ vms = {{ vm {{ kernel = \"~/linux\", initrd = \"i.gz\", append = \"quiet\" }} }} }}"
    ));
    let boot = project.vms[0].kernel_boot.as_ref().unwrap();
    assert_eq!(boot.kernel, fx.root.join("home/linux"));
    assert_eq!(boot.initrd.as_deref(), Some(fx.root.join("i.gz").as_path()));
    assert_eq!(boot.append.as_deref(), Some("quiet"));
    assert_eq!(
        project.vms[0].kernel(),
        Some(fx.root.join("home/linux").as_path())
    );
}

#[test]
fn direct_boot_keys_clash_with_args_and_need_a_kernel() {
    let fx = Fixture::new();
    let problems = fx.problems(&format!(
        "{PRELUDE} return {{ vms = {{ vm {{ kernel = \"k\", args = {{ \"--kernel /k\" }} }}, \
         vm {{ name = \"b\", initrd = \"i\", ssh = {{ Port = 2, User = \"u\", IdentityFile = \"k\" }} }} }} }}"
    ));
    assert_eq!(
        problems,
        [
            r#"vms[1] "demo": args: -kernel clashes with the VM's kernel key; keep one of them"#,
            r#"vms[2] "b": kernel: missing: initrd and append need a kernel (a kernel image or a built kernel tree)"#,
        ]
    );
}

#[test]
fn a_cloud_image_checks_its_file_and_user_data() {
    let fx = Fixture::new();
    fx.write("img/base.qcow2", "not really an image");
    let sum = "AB".repeat(32);
    let project = fx.ok(&with(
        &format!(
            r##"c = {{ builder = "cloud", file = "img/base.qcow2", sha256 = "{sum}", size = "10G",
                 user_data = "#cloud-config\nhostname: x\n" }}"##
        ),
        r#"{ name = "v", arch = "x86_64", image = "c", ssh = { Port = 2222 } }"#,
    ));
    let image = &project.images[0];
    let Recipe::Cloud(recipe) = &image.recipe else {
        panic!("{image:?}")
    };
    assert_eq!(recipe.file, fx.root.join("img/base.qcow2"));
    assert_eq!(recipe.sha256, "ab".repeat(32));
    assert_eq!(recipe.size_bytes, 10 << 30);
    let boot = project.vms[0].image.as_ref().unwrap();
    assert_eq!((boot.kernel.as_ref(), boot.append.as_ref()), (None, None));

    let problems = fx.problems(&with(
        &format!(r#"c = {{ builder = "cloud", file = "img/base.qcow2", sha256 = "{sum}", user_data = "hostname: x" }}"#),
        "",
    ));
    assert_eq!(
        problems,
        ["images.c.user_data: must start with #cloud-config (YAML) or #! (a script)"]
    );
}

#[test]
fn one_recipe_is_one_build_per_arch_of_the_vms_that_boot_it() {
    let fx = Fixture::new();
    let trixie = r#"box = { builder = "debian", suite = "trixie", packages = { "hello" } }"#;
    let project = fx.ok(&with(
        trixie,
        r#"{ name = "a", arch = "x86_64", image = "box", ssh = { Port = 2222 } },
           { name = "b", arch = "aarch64", image = "box", ssh = { Port = 2223 } },
           { name = "c", arch = "riscv64", image = "box", ssh = { Port = 2224 } },
           { name = "d", arch = "aarch64", image = "box", ssh = { Port = 2225 } }"#,
    ));
    let arches: Vec<Option<&str>> = project.images.iter().map(|i| i.arch()).collect();
    assert_eq!(
        arches,
        [Some("aarch64"), Some("riscv64"), Some("x86_64")],
        "one build per arch, sorted; two aarch64 VMs share one"
    );
    let mut dirs: Vec<_> = project.images.iter().map(|i| &i.dir).collect();
    dirs.dedup();
    assert_eq!(dirs.len(), 3, "each build has its own folder: {dirs:?}");
    for vm in &project.vms {
        let image = project.image_of(vm).unwrap();
        assert_eq!(image.arch(), Some(vm.arch.as_str()));
        let boot = vm.image.as_ref().unwrap();
        assert_eq!(boot.kernel, Some(image.dir.join("vmlinuz")), "{}", vm.name);
        assert_eq!(
            PathBuf::from(&vm.ssh.identity_file),
            image.private_key(),
            "{}: the key of its arch's build",
            vm.name
        );
        assert_eq!(
            boot.append.as_deref(),
            Some(arch::default_append(&vm.arch).as_str())
        );
    }
    // The x86_64 build keeps the key a config with only x86_64 VMs gives it (the cache a
    // user has from before stays valid); an image no VM boots is built for x86_64.
    let alone = fx.ok(&with(trixie, ""));
    assert_eq!(alone.images.len(), 1);
    assert_eq!(alone.images[0].arch(), Some("x86_64"));
    let x86 = project.images.iter().find(|i| i.arch() == Some("x86_64"));
    assert_eq!(alone.images[0].key, x86.unwrap().key);
}

#[test]
fn a_debian_image_of_an_arch_debian_or_the_builder_lacks_is_refused_by_name() {
    let fx = Fixture::new();
    let problems = fx.problems(&with(
        r#"box = { builder = "debian" }"#,
        r#"{ name = "rv", arch = "riscv64", image = "box", ssh = { Port = 2222 } },
           { name = "pp", arch = "ppc64", image = "box", ssh = { Port = 2223 } }"#,
    ));
    let expected = [
        r#"vms[1] "rv": image: image "box" is built from Debian bookworm, which has no riscv64 port (riscv64); set suite = "trixie" (Debian 13) or later in images.box"#,
        r#"vms[2] "pp": image: image "box" is a debian image, and the debian builder makes x86_64, aarch64, riscv64 images, not ppc64; use a cloud image of ppc64, or a kernel of your own in args"#,
    ];
    for line in expected {
        assert!(
            problems.iter().any(|p| p == line),
            "missing {line:?} in:\n{}",
            problems.join("\n")
        );
    }
}
