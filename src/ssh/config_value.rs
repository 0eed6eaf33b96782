//! How a value is spelled in an `ssh_config` file so that ssh reads back exactly that value.
//!
//! OpenSSH (8.7+) splits an option's arguments like a small shell: whitespace separates,
//! `"` and `'` quote, `\` escapes quotes, backslashes and spaces, and `#` starts a comment.
//! Some options do not follow that rule, so the spelling depends on the option.

use std::path::Path;

/// Options whose value is the raw rest of the line (a command for a shell): quotes would reach
/// the shell verbatim, so the value is written as given.
const RAW_REST_OF_LINE: &[&str] = &[
    "KnownHostsCommand",
    "LocalCommand",
    "ProxyCommand",
    "RemoteCommand",
];

/// Options that take several whitespace-separated arguments (`LocalForward 8080 host:80`):
/// the value is already ssh syntax, and quoting it whole would fuse the arguments into one.
const MULTI_ARGUMENT: &[&str] = &[
    "CanonicalDomains",
    "DynamicForward",
    "GlobalKnownHostsFile",
    "LocalForward",
    "PermitRemoteOpen",
    "RemoteForward",
    "SendEnv",
    "SetEnv",
    "UserKnownHostsFile",
];

/// `value` as it must appear after `option` in the file.
pub fn spell(option: &str, value: &str) -> String {
    let verbatim = RAW_REST_OF_LINE
        .iter()
        .chain(MULTI_ARGUMENT)
        .any(|known| known.eq_ignore_ascii_case(option));
    if verbatim {
        value.to_owned()
    } else {
        single_argument(value)
    }
}

/// One argument: double-quoted when ssh would otherwise split, unquote or cut it.
pub fn single_argument(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#' | '='));
    if !needs_quotes {
        return value.to_owned();
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// A literal path for an option that expands `%` tokens (ControlPath, IdentityFile, ...):
/// a `%` that belongs to the path itself must reach ssh as `%%`.
pub fn literal_path(path: &Path) -> String {
    path.to_string_lossy().replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_stay_bare() {
        assert_eq!(spell("Port", "2222"), "2222");
        assert_eq!(
            spell("IdentityFile", "~/.ssh/id_ed25519"),
            "~/.ssh/id_ed25519"
        );
    }

    #[test]
    fn spaces_quotes_and_backslashes_are_quoted_and_escaped() {
        assert_eq!(spell("IdentityFile", "/a b/k"), r#""/a b/k""#);
        assert_eq!(spell("IdentityFile", r#"/a"b\c"#), r#""/a\"b\\c""#);
        assert_eq!(spell("User", ""), r#""""#);
        assert_eq!(spell("User", "#x"), r##""#x""##);
    }

    #[test]
    fn commands_and_argument_lists_are_verbatim() {
        assert_eq!(
            spell("proxycommand", "ssh -W %h:%p jump"),
            "ssh -W %h:%p jump"
        );
        assert_eq!(
            spell("LocalForward", "8080 localhost:80"),
            "8080 localhost:80"
        );
    }

    #[test]
    fn literal_percent_is_doubled() {
        assert_eq!(literal_path(Path::new("/tmp/100%/ctl")), "/tmp/100%%/ctl");
    }
}
