//! The `ssh` table of a VM and the top-level `ssh_conf_base`: ssh_config options.
//!
//! Values end up in a generated ssh_config file, so anything that file cannot express (a
//! double quote, a line break) is refused here rather than producing a broken config.

use mlua::{Table, Value};

use super::problems::{Fields, Scope};
use super::value;
use crate::model::{SshOption, SshSpec};

/// Keys of a VM's `ssh` table that qcmdr reads itself (ssh option names are case-insensitive).
const PORT: &str = "Port";
const USER: &str = "User";
const IDENTITY_FILE: &str = "IdentityFile";

/// Options that would start a new block of the generated file instead of setting a value.
const BLOCK_KEYWORDS: &[&str] = &["Host", "Match"];

/// What a VM's `ssh` table may leave out because its image provides it.
pub(crate) struct Defaults {
    pub user: String,
    pub identity_file: String,
}

/// A VM's `ssh` table at `path`.
pub(crate) fn spec(
    scope: &mut Scope<'_>,
    path: &str,
    table: &Table,
    defaults: Option<&Defaults>,
) -> Option<SshSpec> {
    let fields = Fields::new(scope, path, table);
    let mut port = None;
    let mut user = None;
    let mut identity_file = None;
    let mut host_name = None;
    let mut others = Vec::new();
    let mut ok = true;

    for (key, value) in fields.rest() {
        let key_path = super::problems::join(path, &key);
        // `port = 22` is the same ssh option as `Port = 22`; read it as such rather than pass
        // a second Port through to ssh_config.
        let slot = match key.to_ascii_lowercase().as_str() {
            "port" => &mut port,
            "user" => &mut user,
            "identityfile" => &mut identity_file,
            "hostname" => &mut host_name,
            _ => {
                others.push((key, value));
                continue;
            }
        };
        if slot.is_some() {
            scope.problem(
                &key_path,
                "given twice (ssh option names are case-insensitive)",
            );
            ok = false;
        }
        *slot = Some((key_path, value));
    }

    let required = |scope: &mut Scope<'_>, slot: Option<(String, Value)>, name, expected| {
        if slot.is_none() {
            scope.missing(&super::problems::join(path, name), expected);
        }
        slot
    };
    let port = required(scope, port, PORT, "a number").and_then(|(p, v)| scope.port(&p, &v));
    let (user, identity_file) = match defaults {
        Some(d) => (
            optional(scope, user, &d.user),
            optional(scope, identity_file, &d.identity_file),
        ),
        None => (
            required(scope, user, USER, "a string").and_then(|(p, v)| writable(scope, &p, &v)),
            required(scope, identity_file, IDENTITY_FILE, "a string")
                .and_then(|(p, v)| writable(scope, &p, &v)),
        ),
    };
    let host_name = match host_name {
        Some((p, v)) => writable(scope, &p, &v),
        None => Some("localhost".to_string()),
    };
    let options = options(scope, path, others);

    Some(SshSpec {
        host_name: host_name?,
        port: port?,
        user: user?,
        identity_file: identity_file?,
        options: options?,
    })
    .filter(|_| ok)
}

/// A value the image provides when the table leaves it out.
fn optional(scope: &mut Scope<'_>, slot: Option<(String, Value)>, default: &str) -> Option<String> {
    match slot {
        Some((p, v)) => writable(scope, &p, &v),
        None => Some(default.to_string()),
    }
}

/// A non-empty string the generated file can hold as one value.
fn writable(scope: &mut Scope<'_>, path: &str, value: &Value) -> Option<String> {
    let text = scope.non_empty_text(path, value)?;
    match unwritable(&text) {
        Some(why) => {
            scope.problem(path, why);
            None
        }
        None => Some(text),
    }
}

/// Why `text` cannot be a value in ssh_config: ssh reads the file line by line, so a line
/// break (or any control character, NUL included) would end the value or inject options,
/// and a double quote in these values is always a mistake that ssh would misread.
fn unwritable(text: &str) -> Option<&'static str> {
    if text.contains(['\n', '\r']) {
        Some("contains a line break, which ssh_config cannot express")
    } else if text.contains('"') {
        Some("contains a double quote, which ssh_config cannot express")
    } else if text.chars().any(char::is_control) {
        Some("contains a control character (e.g. NUL or a tab), which ssh_config cannot express")
    } else {
        None
    }
}

/// The top-level `ssh_conf_base` table.
pub(crate) fn base(scope: &mut Scope<'_>, path: &str, table: &Table) -> Option<Vec<SshOption>> {
    let fields = Fields::new(scope, path, table);
    options(scope, path, fields.rest())
}

/// Free-form ssh_config options, sorted case-insensitively by name.
fn options(
    scope: &mut Scope<'_>,
    path: &str,
    entries: Vec<(String, Value)>,
) -> Option<Vec<SshOption>> {
    let mut out: Vec<SshOption> = Vec::new();
    let mut ok = true;
    for (name, value) in entries {
        let key_path = super::problems::join(path, &name);
        match option(&name, &value) {
            Ok(value) => out.push(SshOption { name, value }),
            Err(why) => {
                scope.problem(&key_path, why);
                ok = false;
            }
        }
    }
    out.sort_by(|a, b| {
        a.name
            .to_ascii_lowercase()
            .cmp(&b.name.to_ascii_lowercase())
            .then_with(|| a.name.cmp(&b.name))
    });
    for pair in out.windows(2) {
        if pair[0].name.eq_ignore_ascii_case(&pair[1].name) {
            scope.problem(
                &super::problems::join(path, &pair[1].name),
                format!(
                    "same option as {:?} (ssh option names are case-insensitive); keep one",
                    pair[0].name
                ),
            );
            ok = false;
        }
    }
    ok.then_some(out)
}

/// Why an entry of an `ssh` table cannot become an ssh_config line.
#[derive(Debug, thiserror::Error)]
enum BadOption {
    #[error("is not an ssh option name (letters and digits, e.g. ServerAliveInterval)")]
    Name,
    #[error("cannot be set here: qcmdr writes the {0} lines of the ssh config itself")]
    Block(String),
    #[error(transparent)]
    NotText(#[from] value::NotText),
    #[error("expected a string, number or boolean, got {0}")]
    Type(String),
    #[error("{0}")]
    Unwritable(&'static str),
    #[error("must not be empty")]
    Empty,
}

/// One option's value rendered for ssh_config, or why it cannot be.
fn option(name: &str, value: &Value) -> Result<String, BadOption> {
    let well_formed = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if !well_formed {
        return Err(BadOption::Name);
    }
    if BLOCK_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name)) {
        return Err(BadOption::Block(name.to_string()));
    }
    let text = match value {
        Value::Boolean(true) => "yes".to_string(),
        Value::Boolean(false) => "no".to_string(),
        Value::String(_) => value::as_text(value).unwrap_or(Ok(String::new()))?,
        other => {
            value::number_text(other).ok_or_else(|| BadOption::Type(value::describe(other)))?
        }
    };
    if let Some(why) = unwritable(&text) {
        return Err(BadOption::Unwritable(why));
    }
    if text.is_empty() {
        return Err(BadOption::Empty);
    }
    Ok(text)
}
