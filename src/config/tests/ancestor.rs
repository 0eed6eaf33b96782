//! Files written for the ancestor (with `htt` validation blocks) load unchanged.

use super::Fixture;

/// A config in the ancestor's style: helper functions returning lists, shell-quoted strings,
/// `ssh_conf_base`, and an `htt.is` validation block that raises on failure.
const ANCESTOR_CONF: &str = r#"
local is = htt.is

local function machine_base(mem)
  return { "-machine q35,accel=tcg", "-cpu max", "-m " .. mem, "-display", '"none"' }
end

local function user_net(port_forwards)
  local rules = {}
  for _, fwd in ipairs(port_forwards) do
    table.insert(rules, "hostfwd=tcp::" .. fwd[1] .. "-:" .. fwd[2])
  end
  return { "-netdev", "user,id=net0," .. table.concat(rules, ","), "-device", "virtio-net-pci,netdev=net0" }
end

local vms = {
  {
    name = "debian",
    arch = "x86_64",
    login_timeout = 300,
    ssh = { Port = 2222, User = "root", IdentityFile = "~/.ssh/id_debian", StrictHostKeyChecking = "no" },
    sync = { { source = ".", dest = "/root/src", ignore_vcs = true, ignore = { "target", "*.o" } } },
    args = {
      machine_base(2048),
      "-drive", "file=debian.qcow2,if=virtio",
      "-append", '"console=ttyS0 root=/dev/vda1"',
      user_net({ { 2222, 22 }, { 8080, 80 } }),
    },
  },
}

local vm_spec = is.table_with({
  name = is.string,
  arch = is.string,
  login_timeout = is.optional(is.number),
  ssh = is.table_with({ Port = is.number, User = is.string, IdentityFile = is.string }),
  sync = is.optional(is.list_of(is.table_with({
    source = is.string, dest = is.string,
    ignore_vcs = is.optional(is.boolean), ignore = is.optional(is.list_of(is.string)),
  }))),
  args = is.list_of(is.any(is.string, is.table)),
})
local ok, err = is.list_of(vm_spec)(vms)
if not ok then
  error(htt.str.stringify(err))
end

return {
  qemu_bin_dir_fpath = "/usr/bin",
  ssh_conf_base = { ServerAliveInterval = 30, ForwardAgent = false },
  vms = vms,
}
"#;

#[test]
fn ancestor_file_loads_unchanged() {
    let fx = Fixture::new();
    let path = fx.write("conf.lua", ANCESTOR_CONF);
    let project = fx.load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let vm = &project.vms[0];
    assert_eq!(vm.name, "debian");
    assert_eq!(
        vm.args,
        [
            "-machine",
            "q35,accel=tcg",
            "-cpu",
            "max",
            "-m",
            "2048",
            "-display",
            "none",
            "-drive",
            "file=debian.qcow2,if=virtio",
            "-append",
            "console=ttyS0 root=/dev/vda1",
            "-netdev",
            "user,id=net0,hostfwd=tcp::2222-:22,hostfwd=tcp::8080-:80",
            "-device",
            "virtio-net-pci,netdev=net0",
        ]
    );
    assert_eq!(vm.host_forwards.len(), 2);
    // No per-arch default is added to an ancestor's VM: its argv is its args.
    assert_eq!(vm.arch_defaults, []);
    assert_eq!(vm.sync[0].source, fx.root);
    assert_eq!(vm.sync[0].ignore, ["target", "*.o"]);
    assert_eq!(project.ssh_base[0].name, "ForwardAgent");
    assert_eq!(project.ssh_base[0].value, "no");
}

#[test]
fn htt_validation_failure_is_a_lua_error_with_the_stringified_message() {
    let fx = Fixture::new();
    let broken = ANCESTOR_CONF.replace("Port = 2222,", "Port = \"2222\",");
    let message = fx.lua_error(&broken);
    // The error is raised on line 52 of the file (PRELUDE adds 10 lines before it).
    assert!(message.starts_with("conf.lua:"), "{message}");
    assert!(
        message.ends_with(
            r#": {
  [1] = {
    ssh = {
      Port = "expected number, got string"
    }
  }
}"#
        ),
        "{message}"
    );
}

/// Runs Lua assertions about `htt` itself.
fn check_lua(fx: &Fixture, body: &str) {
    let text = format!("{body}\nreturn {{ vms = {{ vm() }} }}");
    fx.load(&text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn htt_type_validators() {
    check_lua(
        &Fixture::new(),
        r#"
        local is = htt.is
        local function pass(v, x) local ok, err = v(x); assert(ok == true and err == nil) end
        local function fail(v, x, msg)
          local ok, err = v(x)
          assert(ok == false, "should fail")
          assert(err == msg, tostring(err))
        end
        pass(is.null, nil);        fail(is.null, 1, "expected nil, got number")
        pass(is.boolean, false);   fail(is.boolean, "x", "expected boolean, got string")
        pass(is.number, 1.5);      fail(is.number, "1", "expected number, got string")
        pass(is.string, "");       fail(is.string, {}, "expected string, got table")
        pass(is.table, {});        fail(is.table, nil, "expected table, got nil")
        pass(is.fn, print);        fail(is.fn, {}, "expected function, got table")
        pass(is.callable, print)
        pass(is.callable, setmetatable({}, { __call = function() end }))
        fail(is.callable, {}, "expected something callable, got table")
        "#,
    );
}

#[test]
fn htt_combinators() {
    check_lua(
        &Fixture::new(),
        r#"
        local is = htt.is
        local s = htt.str.stringify
        local function err_of(v, x) local ok, err = v(x); assert(not ok); return s(err) end

        assert(is.optional(is.string)(nil))
        assert(is.optional(is.string)("x"))
        assert(err_of(is.optional(is.string), 1) == '"expected string, got number"')

        local even = is.pred(function(x) if x % 2 ~= 0 then return "odd: " .. x end end, "even")
        assert(even(2))
        assert(err_of(even, 3) == '"odd: 3"')
        local flagged = is.pred(function(x) return true end, "never")
        assert(err_of(flagged, 1) == [["failed predicate 'never'"]])

        assert(is.any(is.string, is.number)(1))
        assert(err_of(is.any(is.string, is.number), {}) ==
          '{\n  [1] = "expected string, got table",\n  [2] = "expected number, got table"\n}')

        assert(is.all(is.number, even)(4))
        assert(err_of(is.all(is.number, even), 5) == '{\n  [1] = "odd: 5"\n}')

        assert(is.list_of(is.string)({ "a", "b" }))
        assert(err_of(is.list_of(is.string), { "a", 2, "c", false }) ==
          '{\n  [2] = "expected string, got number",\n  [4] = "expected string, got boolean"\n}')
        assert(err_of(is.list_of(is.string), "a") == '"expected a list, got string"')

        local spec = is.table_with({ name = is.string, port = is.optional(is.number) })
        assert(spec({ name = "x", extra = 1 }))
        assert(err_of(spec, { port = "22" }) ==
          '{\n  name = "expected string, got nil",\n  port = "expected number, got string"\n}')

        local map = is.table_of(is.string, is.number)
        assert(map({ a = 1, b = 2 }))
        assert(err_of(map, { a = "x", [3] = 4 }) ==
          '{\n  [3] = {\n    key = "expected string, got number"\n  },\n' ..
          '  a = {\n    value = "expected number, got string"\n  }\n}')
        "#,
    );
}

#[test]
fn htt_stringify() {
    check_lua(
        &Fixture::new(),
        r#"
        local s = htt.str.stringify
        assert(s("a\"b") == '"a\\"b"')
        assert(s(12) == "12")
        assert(s(true) == "true")
        assert(s({}) == "{}")
        assert(s({ b = 1, a = { 1, 2 }, ["x y"] = "z" }) ==
          '{\n  a = {\n    [1] = 1,\n    [2] = 2\n  },\n  b = 1,\n  ["x y"] = "z"\n}')
        assert(s({ 1 }, "    ") == '{\n      [1] = 1\n    }')
        local cyclic = {}
        cyclic.self = cyclic
        assert(s(cyclic) == '{\n  self = <cycle>\n}')
        "#,
    );
}
