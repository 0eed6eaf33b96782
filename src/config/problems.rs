//! Collecting validation problems, each named by where it is: `vms[2] "livemig": ssh.Port: ...`.
//!
//! Validation never stops at the first problem: a user fixing a config wants the whole list at
//! once. Every check records its problem here and carries on with what it could read.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

use mlua::{Table, Value};

use super::did_you_mean;
use super::value::{self, describe};

/// Every problem found so far, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub problems: Vec<String>,
}

/// Checks within one part of the file (a VM, or the top level), named by `scope` (`vms[2]
/// "livemig"`, or empty at the top level).
pub(crate) struct Scope<'r> {
    pub scope: String,
    pub report: &'r mut Report,
}

/// `a.b` from a table path and a key (the top level has an empty path).
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl<'r> Scope<'r> {
    pub fn new(scope: impl Into<String>, report: &'r mut Report) -> Self {
        Scope {
            scope: scope.into(),
            report,
        }
    }

    /// Records `scope: path: message` (empty parts left out).
    pub fn problem(&mut self, path: &str, message: impl Display) {
        let mut line = String::new();
        for part in [self.scope.as_str(), path] {
            if !part.is_empty() {
                line.push_str(part);
                line.push_str(": ");
            }
        }
        line.push_str(&message.to_string());
        self.report.problems.push(line);
    }

    /// A required key that is absent (or nil).
    pub fn missing(&mut self, path: &str, expected: &str) {
        self.problem(path, format!("missing (expected {expected})"));
    }

    fn wrong(&mut self, path: &str, expected: &str, got: &Value) {
        self.problem(path, format!("expected {expected}, got {}", describe(got)));
    }

    pub fn text(&mut self, path: &str, value: &Value) -> Option<String> {
        match value::as_text(value) {
            Some(Ok(text)) => Some(text),
            Some(Err(why)) => {
                self.problem(path, why);
                None
            }
            None => {
                self.wrong(path, "a string", value);
                None
            }
        }
    }

    /// A string that must not be empty.
    pub fn non_empty_text(&mut self, path: &str, value: &Value) -> Option<String> {
        let text = self.text(path, value)?;
        if text.is_empty() {
            self.problem(path, "must not be empty");
            return None;
        }
        Some(text)
    }

    /// A list of non-empty strings (each problem named by its index).
    pub fn non_empty_texts(&mut self, path: &str, value: &Value) -> Option<Vec<String>> {
        let items = self.list(path, value)?;
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.non_empty_text(&format!("{path}[{}]", i + 1), item) {
                Some(text) => out.push(text),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub fn boolean(&mut self, path: &str, value: &Value) -> Option<bool> {
        match value {
            Value::Boolean(b) => Some(*b),
            other => {
                self.wrong(path, "a boolean (true or false)", other);
                None
            }
        }
    }

    pub fn table(&mut self, path: &str, value: &Value) -> Option<Table> {
        match value {
            Value::Table(t) => Some(t.clone()),
            other => {
                self.wrong(path, "a table", other);
                None
            }
        }
    }

    pub fn list(&mut self, path: &str, value: &Value) -> Option<Vec<Value>> {
        let Value::Table(table) = value else {
            self.wrong(path, "a list", value);
            return None;
        };
        match value::list_view(table) {
            Ok(items) => Some(items),
            Err(why) => {
                self.problem(path, why);
                None
            }
        }
    }

    /// A duration in seconds: any number > 0, fractions allowed.
    pub fn seconds(&mut self, path: &str, value: &Value) -> Option<Duration> {
        let Some(n) = value::as_number(value) else {
            self.wrong(path, "a number of seconds", value);
            return None;
        };
        match Duration::try_from_secs_f64(n) {
            Ok(d) if n > 0.0 => Some(d),
            _ => {
                self.wrong(path, "a number of seconds greater than 0", value);
                None
            }
        }
    }

    /// A TCP port: an integer (integral floats included) in 1..=65535.
    pub fn port(&mut self, path: &str, value: &Value) -> Option<u16> {
        if value::as_number(value).is_none() {
            self.wrong(path, "a number", value);
            return None;
        }
        match value::as_integer(value).map(u16::try_from) {
            Some(Ok(port)) if port > 0 => Some(port),
            _ => {
                self.wrong(path, "a port number (1-65535)", value);
                None
            }
        }
    }

    /// One of a fixed set of strings.
    pub fn choice(&mut self, path: &str, value: &Value, choices: &[&str]) -> Option<String> {
        let text = self.text(path, value)?;
        if choices.contains(&text.as_str()) {
            return Some(text);
        }
        let list = choices
            .iter()
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let hint = did_you_mean::suggest(&text, choices)
            .map(|s| format!(" (did you mean {s:?}?)"))
            .unwrap_or_default();
        self.problem(path, format!("expected one of {list}, got {text:?}{hint}"));
        None
    }
}

/// The keys of a table read as a record: `take` the known ones, then `finish` reports the
/// rest as unknown (with a suggestion). Nil values count as absent, as they do in Lua.
pub(crate) struct Fields {
    /// Path of the table itself (`ssh`, `sync[1]`, or empty for a VM or the top level).
    pub path: String,
    entries: BTreeMap<String, Value>,
}

impl Fields {
    pub fn new(scope: &mut Scope<'_>, path: &str, table: &Table) -> Fields {
        let view = value::map_view(table);
        for key in view.bad_keys {
            scope.problem(path, format!("unexpected key {key} (keys here are names)"));
        }
        Fields {
            path: path.to_string(),
            entries: view.entries.into_iter().collect(),
        }
    }

    /// The path of `key` inside this table.
    pub fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.entries.remove(key).filter(|v| !v.is_nil())
    }

    /// Whatever was not taken, sorted by name.
    pub fn rest(self) -> Vec<(String, Value)> {
        self.entries.into_iter().collect()
    }

    /// Reports every key not taken as unknown, suggesting the nearest of `known`.
    pub fn finish(self, scope: &mut Scope<'_>, known: &[&str]) {
        let path = self.path.clone();
        for (key, _) in self.rest() {
            let hint = did_you_mean::suggest(&key, known)
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            scope.problem(&path, format!("unknown key {key:?}{hint}"));
        }
    }
}
