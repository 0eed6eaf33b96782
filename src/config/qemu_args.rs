//! A VM's `args`: nested lists of strings → the QEMU words, checked.
//!
//! Helper functions in config files return lists, so `args` nests; it is flattened
//! depth-first. Each string is then split like the ancestor's bash script split it
//! (see [`super::shell_words`]), and the words are checked for options qcmdr owns.

use mlua::Value;

use super::problems::Scope;
use super::{hostfwd, reserved, shell_words, value};
use crate::model::HostForward;

/// The words and the host ports they forward, or `None` after reporting problems.
pub(crate) fn words(
    scope: &mut Scope<'_>,
    path: &str,
    value: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(Vec<String>, Vec<HostForward>)> {
    let mut strings = Vec::new();
    let mut ok = flatten(scope, path, value, &mut strings);

    let mut words = Vec::new();
    for (item_path, text) in strings {
        match shell_words::split(&text, env) {
            Ok(split) => words.extend(split),
            Err(why) => {
                scope.problem(&format!("{item_path} {text:?}"), why);
                ok = false;
            }
        }
    }
    if !ok {
        // Checking half the words would report confusing follow-on problems.
        return None;
    }

    let reserved = reserved::check(&words);
    let clean = reserved.is_empty();
    for why in reserved {
        scope.problem(path, why);
    }
    let forwards = match hostfwd::scan(&words) {
        Ok(forwards) => forwards,
        Err(why) => {
            scope.problem(path, why);
            return None;
        }
    };
    for (i, a) in forwards.iter().enumerate() {
        if let Some(b) = forwards[..i].iter().find(|b| hostfwd::clash(a, b)) {
            scope.problem(
                path,
                format!(
                    "hostfwd host port {} ({}) is forwarded twice (to guest ports {} and {})",
                    a.host_port,
                    a.protocol.as_str(),
                    b.guest_port,
                    a.guest_port
                ),
            );
            return None;
        }
    }
    clean.then_some((words, forwards))
}

/// Collects `(path, text)` of every leaf, depth-first. False if any element was unusable.
fn flatten(
    scope: &mut Scope<'_>,
    path: &str,
    value: &Value,
    out: &mut Vec<(String, String)>,
) -> bool {
    let Some(items) = scope.list(path, value) else {
        return false;
    };
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{}]", i + 1);
        match item {
            Value::Table(_) => ok &= flatten(scope, &item_path, item, out),
            Value::String(_) => match scope.text(&item_path, item) {
                Some(text) => out.push((item_path, text)),
                None => ok = false,
            },
            other => match value::number_text(other) {
                Some(text) => out.push((item_path, text)),
                None => {
                    scope.problem(
                        &item_path,
                        format!(
                            "expected a string, a number or a list, got {}",
                            value::describe(other)
                        ),
                    );
                    ok = false;
                }
            },
        }
    }
    ok
}
