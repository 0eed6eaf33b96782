//! Image commands that need no build or guest: `init`, `image list`, `image gc`, `image rm`,
//! and `show` of an image-backed VM, against a cache of hand-made build folders.

use std::fs;
use std::path::Path;

use crate::support::CliTest;

const CONFIG: &str = r#"return {
  images = { box = { builder = "debian", packages = { "hello" } } },
  vms = { { name = "dev", arch = "x86_64", image = "box", ssh = { Port = 2222 },
            args = { "-m 1024" } } },
}
"#;

/// A folder that looks like a complete build (qcmdr only trusts the manifest).
fn fake_build(dir: &Path, name: &str, key: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("disk.qcow2"), vec![0u8; 4096]).unwrap();
    fs::write(
        dir.join("manifest.json"),
        format!(
            r#"{{"schema":"qcmdr.image-manifest/1","name":"{name}","builder":"debian","key":"{key}","built_at":1700000000.5,"build_seconds":60.0,"packages":{{"hello":"2.10-3"}}}}"#
        ),
    )
    .unwrap();
}

#[test]
fn image_list_gc_and_rm_work_on_the_cache_and_say_what_they_freed() {
    let test = CliTest::with_config(CONFIG);
    let cache = test.path().join("cache");
    let cmd = |args: &[&str]| test.cmd(args).env("XDG_CACHE_HOME", &cache);

    let listed = cmd(&["image", "list", "--json"]).json();
    assert_eq!(listed["schema"], "qcmdr.images/1");
    let image = &listed["images"][0];
    assert_eq!(image["name"], "box");
    assert_eq!(image["builder"], "debian");
    assert_eq!(image["built"], false);
    assert_eq!(image["built_at"], serde_json::Value::Null);
    let key = image["key"].as_str().unwrap().to_string();
    let images = cache.join("qcmdr/images");
    assert_eq!(
        Path::new(image["disk"].as_str().unwrap()),
        images.join(format!("box-{key}/disk.qcow2"))
    );

    // The current build, an older recipe's, a removed image's, a failed log, an interrupted
    // build: gc keeps only the first.
    let current = images.join(format!("box-{key}"));
    fake_build(&current, "box", &key);
    fake_build(
        &images.join("box-0123456789abcdef"),
        "box",
        "0123456789abcdef",
    );
    fake_build(
        &images.join("gone-fedcba9876543210"),
        "gone",
        "fedcba9876543210",
    );
    fs::write(images.join("box.failed.log"), "E: nope\n").unwrap();
    fs::create_dir_all(images.join(".build-box-1111111111111111.99999/rootfs")).unwrap();
    fs::write(images.join("unrelated.txt"), "not qcmdr's").unwrap();

    let listed = cmd(&["image", "list", "--json"]).json();
    assert_eq!(listed["images"][0]["built"], true);
    assert_eq!(listed["images"][0]["arch"], "x86_64");
    assert_eq!(listed["images"][0]["built_at"], 1700000000.5);
    assert_eq!(listed["images"][0]["packages"]["hello"], "2.10-3");
    assert!(listed["images"][0]["size_bytes"].as_u64().unwrap() > 0);
    cmd(&["image", "list"])
        .stdout_has(format!("box              debian   x86_64   {key}  built"))
        .run();

    let gc = cmd(&["image", "gc"])
        .stderr_has("box-0123456789abcdef")
        .stderr_has("gone-fedcba9876543210")
        .stderr_has("box.failed.log")
        .stderr_has(".build-box-1111111111111111.99999")
        .stderr_has("(4 removed)")
        .run();
    assert!(
        !gc.stderr.contains(&key),
        "the current build is kept:\n{gc}"
    );
    let mut left: Vec<String> = fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [format!("box-{key}"), "unrelated.txt".to_string()]);

    // `show` prints what the image adds; the build exists, so it says built.
    cmd(&["show", "dev"])
        .stdout_has(format!("image:         box (built, {})", current.display()))
        .stdout_has(format!("-kernel {}/vmlinuz", current.display()))
        .stdout_has("-append 'root=/dev/vda rw console=ttyS0'")
        .stdout_has("ssh:           root@localhost:2222")
        .run();

    cmd(&["image", "rm", "box"])
        .stderr_has("image box: removed")
        .run();
    assert!(!current.exists());
    cmd(&["image", "rm", "box"])
        .stderr_has("image box: not built, nothing removed")
        .run();
    cmd(&["image", "rm", "nope"])
        .code(1)
        .stderr_has("no image named \"nope\"")
        .run();
    // A fresh disk would drop the internal snapshots a --from start needs.
    cmd(&["start", "--reset-disk", "--from", "base", "dev"])
        .code(2)
        .stderr_has("cannot be used with")
        .run();
}

#[test]
fn init_writes_a_config_that_checks_and_never_overwrites() {
    let test = CliTest::new();
    let dir = test.path().join("new/project");
    test.cmd(&["init", dir.to_str().unwrap()])
        .stderr_has("conf.lua (VM dev, SSH on port ")
        .stderr_has("qcmdr start dev")
        .run();
    let config = dir.join("conf.lua");
    let text = fs::read_to_string(&config).unwrap();
    test.cmd(&["-c", config.to_str().unwrap(), "check"]).run();
    let show = test
        .cmd(&["-c", config.to_str().unwrap(), "show", "dev", "--json"])
        .json();
    let port = show["ssh"]["port"].as_u64().unwrap();
    let argv: Vec<String> = serde_json::from_value(show["argv"].clone()).unwrap();
    assert!(
        argv.iter()
            .any(|a| a.contains(&format!("hostfwd=tcp:127.0.0.1:{port}-:22"))),
        "{argv:?}"
    );
    assert!(
        argv.contains(&"q35,accel=tcg".to_string()) || argv.contains(&"q35,accel=kvm".to_string()),
        "{argv:?}"
    );
    assert_eq!(show["image"]["name"], "debian");

    test.cmd(&["init", dir.to_str().unwrap()])
        .code(1)
        .stderr_has("exists already; qcmdr init never overwrites")
        .run();
    assert_eq!(fs::read_to_string(&config).unwrap(), text);
}
