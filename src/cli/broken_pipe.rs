//! A reader that stops early (`qcmdr list | head -1`) closes stdout under us. Rust ignores
//! SIGPIPE, so the next `println!` fails with EPIPE and panics; that is not an error of
//! qcmdr's, so it ends quietly instead, the way `cat` or `yes` would (status 141, as if
//! SIGPIPE had ended it). Every other panic keeps the default report.

use std::any::Any;

/// What a shell reports for a process ended by SIGPIPE (128 + 13).
const SIGPIPE_STATUS: i32 = 141;

pub fn exit_quietly_on_broken_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if is_broken_stdout(info.payload()) {
            std::process::exit(SIGPIPE_STATUS);
        }
        default(info);
    }));
}

/// std's print macros panic with "failed printing to stdout: Broken pipe (os error 32)".
fn is_broken_stdout(payload: &(dyn Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    text.contains("failed printing to stdout") && text.contains("os error 32")
}
