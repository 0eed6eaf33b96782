//! Lua failures: file and line in the message, not a wall of traceback.

use super::Fixture;
use crate::config::ConfigError;

fn lua_message(fx: &Fixture, name: &str, text: &str) -> String {
    let path = fx.write(name, text);
    match fx.load_file(&path) {
        Err(ConfigError::Lua { message, .. }) => message,
        other => panic!("expected a Lua error, got {other:?}"),
    }
}

#[test]
fn syntax_error_shows_file_and_line() {
    let fx = Fixture::new();
    let message = lua_message(&fx, "conf.lua", "return {\n  vms = {\n    name = = 1,\n}\n");
    assert_eq!(message, "conf.lua:3: unexpected symbol near '='");
}

#[test]
fn runtime_error_shows_file_and_line_only() {
    let fx = Fixture::new();
    let message = lua_message(&fx, "conf.lua", "local cfg = nil\n\nreturn cfg.vms\n");
    assert_eq!(
        message,
        "conf.lua:3: attempt to index a nil value (local 'cfg')"
    );
}

#[test]
fn error_in_a_function_names_the_function() {
    let fx = Fixture::new();
    let text = "local function machine_base()\n  error('no machine')\nend\nreturn { vms = { machine_base() } }\n";
    let message = lua_message(&fx, "conf.lua", text);
    assert_eq!(
        message,
        "conf.lua:2: no machine\n  at conf.lua:2: in local 'machine_base'"
    );
}

#[test]
fn error_without_position_still_names_the_file() {
    let fx = Fixture::new();
    let message = lua_message(&fx, "conf.lua", "\nerror('set QCMDR_GUEST_DIR', 0)\n");
    assert_eq!(
        message,
        "conf.lua: set QCMDR_GUEST_DIR\n  at conf.lua:2: in main chunk"
    );
}

#[test]
fn file_outside_the_current_directory_is_named_in_full() {
    let fx = Fixture::new();
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().canonicalize().unwrap().join("conf.lua");
    std::fs::write(&path, "return nil + 1\n").unwrap();
    let message = match fx.load_file(&path) {
        Err(ConfigError::Lua { message, .. }) => message,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        message,
        format!(
            "{}:1: attempt to perform arithmetic on a nil value",
            path.display()
        )
    );
}

#[test]
fn error_display_is_the_message() {
    let fx = Fixture::new();
    let path = fx.write("sub/conf.lua", "return {\n");
    let err = fx.load_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sub/conf.lua:2: unexpected symbol near <eof>"
    );
}

#[test]
fn require_finds_modules_beside_the_config() {
    let fx = Fixture::new();
    fx.write(
        "cfg/helpers.lua",
        "return { mem = function() return { '-m', 4096/2 } end }\n",
    );
    fx.write("cfg/net/init.lua", "return { port = 10022 }\n");
    let path = fx.write(
        "cfg/conf.lua",
        r#"
        local helpers = require("helpers")
        local net = require("net")
        return { vms = { {
          name = "demo", arch = "x86_64",
          ssh = { Port = net.port, User = "root", IdentityFile = "id" },
          args = { helpers.mem() },
        } } }
        "#,
    );
    let project = fx.load_file(&path).unwrap();
    assert_eq!(project.vms[0].args, ["-m", "2048"]);
    assert_eq!(project.vms[0].ssh.port, 10022);
}

#[test]
fn error_in_a_required_module_names_that_module() {
    let fx = Fixture::new();
    fx.write(
        "helpers.lua",
        "local M = {}\nfunction M.f() return nil .. 'x' end\nreturn M\n",
    );
    let message = lua_message(
        &fx,
        "conf.lua",
        "local h = require('helpers')\nreturn h.f()\n",
    );
    let helpers = fx.root.join("helpers.lua");
    assert_eq!(
        message,
        format!(
            "{h}:2: attempt to concatenate a nil value\n  at {h}:2: in function 'helpers.f'",
            h = helpers.display()
        )
    );
}

#[test]
fn full_standard_library_is_available() {
    let fx = Fixture::new();
    let port_file = fx.write("port.txt", "10022\n");
    let text = r#"
        assert(type(debug.traceback) == "function")
        local f = assert(io.open("PORT_FILE"))
        local port = tonumber(f:read("l"))
        f:close()
        assert(os.time() > 0)
        return { vms = { {
          name = "demo", arch = "x86_64",
          ssh = { Port = port, User = "root", IdentityFile = "id" },
        } } }
    "#
    .replace("PORT_FILE", port_file.to_str().unwrap());
    let path = fx.write("conf.lua", &text);
    assert_eq!(fx.load_file(&path).unwrap().vms[0].ssh.port, 10022);
}

#[test]
fn a_config_that_never_returns_is_stopped_naming_the_file() {
    let fx = Fixture::new();
    let path = fx.write("conf.lua", "local n = 0\nwhile true do n = n + 1 end\n");
    let lua = crate::config::lua_env::new_state(&path).unwrap();
    let started = std::time::Instant::now();
    let err = crate::config::lua_env::eval(
        &lua,
        &std::fs::read(&path).unwrap(),
        "conf.lua",
        std::time::Duration::from_millis(300),
    )
    .unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let message = crate::config::lua_env::describe_error(&err, "conf.lua");
    assert!(message.starts_with("conf.lua"), "{message}");
    assert!(message.contains("did not finish within 0.3 s"), "{message}");
}
