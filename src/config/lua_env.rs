//! Runs the config file in embedded Lua 5.4 and returns the value it produced.
//!
//! The file is trusted user code, like a shell rc file: it gets the full standard library
//! (`os.getenv`, `io.open`, `require` of the user's own modules beside it), plus the
//! ancestor's `htt` helpers so old files load unchanged.

use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, StdLib, Value, VmState};
use regex::Regex;

/// The `htt` prelude (validators and `stringify`), in Lua.
const HTT: &str = include_str!("htt.lua");

/// A Lua state with the full standard library, `htt`, and `require` looking beside `config`.
pub(crate) fn new_state(config: &Path) -> Result<Lua, mlua::Error> {
    // SAFETY: `unsafe_new_with` only lifts mlua's sandbox guarantees (the `debug` library and C
    // modules become available). The config is the user's own code run with the user's
    // rights, exactly what `lua conf.lua` would do for the ancestor, so there is nothing to
    // protect it from; memory safety of the Rust side does not depend on the sandbox.
    let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, mlua::LuaOptions::default()) };

    let dir = config.parent().unwrap_or(Path::new("/"));
    let package: mlua::Table = lua.globals().get("package")?;
    let default_path: String = package.get("path")?;
    // A folder whose name holds `;` or `?` (package.path's separator and placeholder) cannot be
    // expressed; `require` then simply does not find modules there.
    let dir = dir.display();
    package.set(
        "path",
        format!("{dir}/?.lua;{dir}/?/init.lua;{default_path}"),
    )?;

    // `print` goes to stderr: stdout belongs to qcmdr's own output (e.g. `--json`), and a
    // debugging print in the config must not corrupt it.
    lua.load(
        r#"print = function(...)
             local parts = table.pack(...)
             for i = 1, parts.n do parts[i] = tostring(parts[i]) end
             io.stderr:write(table.concat(parts, "\t"), "\n")
           end"#,
    )
    .set_name("=qcmdr")
    .exec()?;
    lua.load(HTT).set_name("=htt").exec()?;
    Ok(lua)
}

/// How long a config may take to evaluate. Real configs take milliseconds; a file that
/// never returns (`while true do end`) would otherwise hang every qcmdr command.
pub(crate) const EVAL_LIMIT: Duration = Duration::from_secs(5);
/// How often (in Lua VM instructions) the clock is looked at: often enough to stop within
/// milliseconds of the limit, rarely enough to cost nothing measurable.
const CLOCK_EVERY: u32 = 100_000;

/// Evaluates `source` as the chunk `@<chunk_name>` and returns its first result; gives up
/// with an error after `limit`.
pub(crate) fn eval(
    lua: &Lua,
    source: &[u8],
    chunk_name: &str,
    limit: Duration,
) -> Result<Value, mlua::Error> {
    let deadline = Instant::now() + limit;
    let seconds = limit.as_secs_f64();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(CLOCK_EVERY),
        move |_, _| {
            if Instant::now() < deadline {
                return Ok(VmState::Continue);
            }
            Err(mlua::Error::RuntimeError(format!(
                "evaluation did not finish within {seconds} s and was stopped \
                 (an endless loop in the config?)"
            )))
        },
    )?;
    let result = lua.load(source).set_name(format!("@{chunk_name}")).eval();
    lua.remove_hook();
    result
}

/// One readable message for a Lua failure: the error itself (which starts with `file:line:`)
/// and, for runtime errors, the first traceback line in user code, which names the function
/// the error came from. The rest of the traceback is noise for a config file.
pub(crate) fn describe_error(err: &mlua::Error, chunk_name: &str) -> String {
    match err {
        mlua::Error::SyntaxError { message, .. } => with_file(message.trim_end(), chunk_name),
        mlua::Error::RuntimeError(text) => {
            let (message, traceback) = match text.split_once("\nstack traceback:") {
                Some((message, traceback)) => (message, traceback),
                None => (text.as_str(), ""),
            };
            let message = with_file(message.trim_end(), chunk_name);
            match first_user_frame(traceback) {
                // "conf.lua:3: in main chunk" repeats what "conf.lua:3: ..." already said.
                Some(frame)
                    if frame.ends_with(": in main chunk")
                        && message.starts_with(&frame[..frame.len() - "in main chunk".len()]) =>
                {
                    message
                }
                Some(frame) => format!("{message}\n  at {frame}"),
                None => message,
            }
        }
        mlua::Error::CallbackError { cause, .. } => describe_error(cause, chunk_name),
        mlua::Error::WithContext { cause, .. } => describe_error(cause, chunk_name),
        other => with_file(&other.to_string(), chunk_name),
    }
}

/// Lua prefixes errors with `chunk:line:`; `error("msg", 0)` and non-string errors do not.
/// Such a message still has to say which file failed. (An error from a `require`d module
/// already names that module's file.)
fn with_file(message: &str, chunk_name: &str) -> String {
    static LOCATED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[^\n]*?:\d+: ").unwrap());
    if message.starts_with(chunk_name) || LOCATED.is_match(message) {
        message.to_string()
    } else {
        format!("{chunk_name}: {message}")
    }
}

/// The first traceback frame in a Lua file (skipping C functions and qcmdr's own preludes).
fn first_user_frame(traceback: &str) -> Option<&str> {
    traceback.lines().map(str::trim).find(|line| {
        !line.is_empty()
            && !line.starts_with(['[', '('])
            && !line.starts_with("htt:")
            && !line.starts_with("qcmdr:")
    })
}
