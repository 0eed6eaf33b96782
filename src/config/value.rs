//! Reading raw `mlua::Value`s: how to name them in messages, and how to see a table as a map
//! or a list.
//!
//! Lua tables have no key order, so every view here is sorted: messages come out the same on
//! every run.

use mlua::{Table, Value};

/// A value as a message shows it after "got": `string "20x9"`, `number 2.5`, `a table`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Nil => "nil".to_string(),
        Value::Boolean(b) => format!("boolean {b}"),
        Value::Integer(i) => format!("number {i}"),
        Value::Number(n) => format!("number {}", float_text(*n)),
        Value::String(s) => format!("string {:?}", s.to_string_lossy()),
        Value::Table(_) => "a table".to_string(),
        Value::Function(_) => "a function".to_string(),
        Value::Thread(_) => "a coroutine".to_string(),
        Value::UserData(_) | Value::LightUserData(_) => "a userdata".to_string(),
        Value::Error(e) => format!("an error ({e})"),
        _ => "an unsupported value".to_string(),
    }
}

/// How Lua itself writes a float, minus the `.0` of integral values (`4096/2` is `2048`).
fn float_text(n: f64) -> String {
    if let Some(i) = integral(n) {
        return i.to_string();
    }
    n.to_string()
}

/// An integral float as an integer: Lua 5.4's `/` always yields floats, so `4096/2` must pass
/// wherever an integer is expected.
fn integral(n: f64) -> Option<i64> {
    // The range check keeps `as` from saturating silently.
    (n.fract() == 0.0 && n.abs() < 9.0e15).then_some(n as i64)
}

/// A Lua number that is a whole number, whether stored as integer or float.
pub(crate) fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(i) => Some(*i),
        Value::Number(n) => integral(*n),
        _ => None,
    }
}

/// Any Lua number as f64.
pub(crate) fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// A number as its decimal text (integral floats without `.0`).
pub(crate) fn number_text(value: &Value) -> Option<String> {
    match value {
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(float_text(*n)),
        _ => None,
    }
}

/// A Lua string that is not UTF-8 text.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected UTF-8 text, got {got}")]
pub(crate) struct NotText {
    got: String,
}

/// A string as UTF-8 text, or why not; `None` for a value that is no string.
pub(crate) fn as_text(value: &Value) -> Option<Result<String, NotText>> {
    match value {
        Value::String(s) => Some(s.to_str().map(|s| s.to_string()).map_err(|_| NotText {
            got: describe(value),
        })),
        _ => None,
    }
}

/// Why a table is not a list.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotAList {
    #[error("expected a list, but the table also has the key {0}")]
    OtherKey(String),
    #[error("expected a list, but it has a hole: there is no element [{0}]")]
    Hole(usize),
}

/// A table read as a map from names to values, sorted by name. Non-string keys are returned
/// separately (described) so the caller can report them.
pub(crate) struct MapView {
    pub entries: Vec<(String, Value)>,
    pub bad_keys: Vec<String>,
}

pub(crate) fn map_view(table: &Table) -> MapView {
    let mut entries = Vec::new();
    let mut bad_keys = Vec::new();
    for pair in table.pairs::<Value, Value>() {
        let Ok((key, value)) = pair else { continue };
        match &key {
            Value::String(s) => match s.to_str() {
                Ok(name) => entries.push((name.to_string(), value)),
                Err(_) => bad_keys.push(describe(&key)),
            },
            other => bad_keys.push(key_text(other)),
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    bad_keys.sort();
    MapView { entries, bad_keys }
}

/// A table read as a list (keys exactly 1..n). A table with other keys (a map part, or holes)
/// is not a list: the error names the first offending key.
pub(crate) fn list_view(table: &Table) -> Result<Vec<Value>, NotAList> {
    let mut items: Vec<(i64, Value)> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    for pair in table.pairs::<Value, Value>() {
        let Ok((key, value)) = pair else { continue };
        match as_integer(&key) {
            Some(i) if i >= 1 => items.push((i, value)),
            _ => others.push(key_text(&key)),
        }
    }
    others.sort();
    if let Some(first) = others.first() {
        return Err(NotAList::OtherKey(first.clone()));
    }
    items.sort_by_key(|(i, _)| *i);
    if let Some(pos) = items
        .iter()
        .enumerate()
        .position(|(n, (i, _))| *i != n as i64 + 1)
    {
        return Err(NotAList::Hole(pos + 1));
    }
    Ok(items.into_iter().map(|(_, v)| v).collect())
}

/// A key as it would be written in Lua: `"name"` or `[3]`.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => format!("{:?}", s.to_string_lossy()),
        Value::Integer(_) | Value::Number(_) => {
            format!("[{}]", number_text(key).unwrap_or_default())
        }
        other => format!("[{}]", describe(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    fn eval(lua: &Lua, src: &str) -> Value {
        lua.load(src).eval().unwrap()
    }

    #[test]
    fn describes_values() {
        let lua = Lua::new();
        assert_eq!(describe(&eval(&lua, r#""20x9""#)), r#"string "20x9""#);
        assert_eq!(describe(&eval(&lua, "2.5")), "number 2.5");
        assert_eq!(describe(&eval(&lua, "4096/2")), "number 2048");
        assert_eq!(describe(&eval(&lua, "true")), "boolean true");
        assert_eq!(describe(&eval(&lua, "{}")), "a table");
        assert_eq!(describe(&eval(&lua, "print")), "a function");
    }

    #[test]
    fn integral_floats_are_integers() {
        let lua = Lua::new();
        assert_eq!(as_integer(&eval(&lua, "4096/2")), Some(2048));
        assert_eq!(as_integer(&eval(&lua, "7")), Some(7));
        assert_eq!(as_integer(&eval(&lua, "2.5")), None);
        assert_eq!(as_integer(&eval(&lua, "1/0")), None);
        assert_eq!(number_text(&eval(&lua, "4096/2")).unwrap(), "2048");
        assert_eq!(number_text(&eval(&lua, "0.5")).unwrap(), "0.5");
    }

    #[test]
    fn list_view_accepts_lists_only() {
        let lua = Lua::new();
        let list = |src: &str| match eval(&lua, src) {
            Value::Table(t) => list_view(&t),
            _ => unreachable!(),
        };
        assert_eq!(list("{}").unwrap().len(), 0);
        assert_eq!(list("{'a', 'b'}").unwrap().len(), 2);
        assert_eq!(
            list("{'a', x = 1}").unwrap_err().to_string(),
            r#"expected a list, but the table also has the key "x""#
        );
        assert_eq!(
            list("{[1] = 'a', [3] = 'c'}").unwrap_err().to_string(),
            "expected a list, but it has a hole: there is no element [2]"
        );
        assert_eq!(
            list("{[0] = 'a'}").unwrap_err().to_string(),
            "expected a list, but the table also has the key [0]"
        );
    }

    #[test]
    fn map_view_sorts_and_flags_odd_keys() {
        let lua = Lua::new();
        let Value::Table(t) = eval(&lua, "{ b = 1, a = 2, [1] = 3 }") else {
            unreachable!()
        };
        let view = map_view(&t);
        let names: Vec<_> = view.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(view.bad_keys, ["[1]"]);
    }
}
