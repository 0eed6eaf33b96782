//! One `args` string → QEMU words, the way the ancestor's generated bash script split it.
//!
//! The ancestor pasted every string into a bash script, so files written for it quote like
//! shell code: `'"console=ttyS0 quiet"'` is one word, `"-m 2048"` is two. We keep the parts of
//! POSIX word splitting those files rely on (quotes, backslashes, `$VAR`, `${VAR}`, a leading
//! `~`) and refuse the parts that would need a shell (command substitution), so nothing runs.
//!
//! Deliberate differences from a shell: a variable's value is never split into several words or
//! globbed (values are data, not syntax), and `*`, `?`, `[` stay literal.

use std::fmt;

/// Why a string could not be split. `Display` is the tail of a user-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WordError {
    /// `$NAME` or `${NAME}` (as written) is not in the environment.
    Unset(String),
    /// `~` was used but `$HOME` is not set.
    NoHome,
    /// `$(...)`: would need a shell.
    CommandSubstitution,
    /// A backtick: would need a shell.
    Backtick,
    /// `$1`, `$@`, `$?`, ...: parameters of a script that does not exist here.
    SpecialParameter(String),
    /// `${...}` with anything but a plain name inside (or no closing brace).
    BadBraces(String),
    UnterminatedSingleQuote,
    UnterminatedDoubleQuote,
    TrailingBackslash,
}

impl fmt::Display for WordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DOLLAR: &str = r"write \$ for a literal dollar";
        match self {
            WordError::Unset(var) => write!(
                f,
                "{var} is not set (set it in the environment, or {DOLLAR})"
            ),
            WordError::NoHome => write!(f, "~ needs $HOME, which is not set"),
            WordError::CommandSubstitution => write!(
                f,
                "command substitution $(...) is not supported: qcmdr runs no shell \
                 (compute the value in Lua, or {DOLLAR})"
            ),
            WordError::Backtick => write!(
                f,
                "command substitution with backticks is not supported: qcmdr runs no shell \
                 (compute the value in Lua, or write \\` for a literal backtick)"
            ),
            WordError::SpecialParameter(p) => write!(
                f,
                "{p} is a shell script parameter and there is no script here ({DOLLAR})"
            ),
            WordError::BadBraces(text) => write!(
                f,
                "{text}: only ${{NAME}} is supported (compute other values in Lua, or {DOLLAR})"
            ),
            WordError::UnterminatedSingleQuote => write!(f, "unterminated single quote"),
            WordError::UnterminatedDoubleQuote => write!(f, "unterminated double quote"),
            WordError::TrailingBackslash => write!(
                f,
                r"ends with a lone backslash (write \\ for a literal backslash)"
            ),
        }
    }
}

/// Splits `input` into words. `env` looks up variables (and `HOME` for `~`).
pub(crate) fn split(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, WordError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word exists once anything but an (empty) unquoted expansion contributed to it: `""` is
    // an empty word, while `$EMPTY` alone vanishes, as in a shell.
    let mut started = false;
    let mut chars = input.chars().peekable();

    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            '\'' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(WordError::UnterminatedSingleQuote),
                    }
                }
            }
            '"' => {
                started = true;
                double_quoted(&mut chars, &mut word, env)?;
            }
            '\\' => match chars.next() {
                // Backslash-newline is a line continuation: both vanish.
                Some('\n') => {}
                Some(ch) => {
                    word.push(ch);
                    started = true;
                }
                None => return Err(WordError::TrailingBackslash),
            },
            '$' => {
                let value = dollar(&mut chars, env)?;
                started |= !value.is_empty();
                word.push_str(&value);
            }
            '`' => return Err(WordError::Backtick),
            '~' if !started && matches!(chars.peek(), None | Some('/' | ' ' | '\t' | '\n')) => {
                word.push_str(&env("HOME").ok_or(WordError::NoHome)?);
                started = true;
            }
            other => {
                word.push(other);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

type Chars<'s> = std::iter::Peekable<std::str::Chars<'s>>;

/// The inside of `"..."` after the opening quote, up to and including the closing one.
fn double_quoted(
    chars: &mut Chars<'_>,
    word: &mut String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), WordError> {
    loop {
        match chars.next() {
            Some('"') => return Ok(()),
            // Inside double quotes a backslash only escapes the characters that are special
            // there; before anything else it is an ordinary character (POSIX).
            Some('\\') => match chars.next() {
                Some('\n') => {}
                Some(ch @ ('$' | '`' | '"' | '\\')) => word.push(ch),
                Some(ch) => {
                    word.push('\\');
                    word.push(ch);
                }
                None => return Err(WordError::UnterminatedDoubleQuote),
            },
            Some('$') => word.push_str(&dollar(chars, env)?),
            Some('`') => return Err(WordError::Backtick),
            Some(ch) => word.push(ch),
            None => return Err(WordError::UnterminatedDoubleQuote),
        }
    }
}

/// What follows a `$`: a variable's value, or a literal `$` when no name follows.
fn dollar(
    chars: &mut Chars<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, WordError> {
    match chars.peek().copied() {
        Some('{') => {
            chars.next();
            let mut inner = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some(ch) => inner.push(ch),
                    None => return Err(WordError::BadBraces(format!("${{{inner}"))),
                }
            }
            if !is_name(&inner) {
                return Err(WordError::BadBraces(format!("${{{inner}}}")));
            }
            env(&inner).ok_or_else(|| WordError::Unset(format!("${{{inner}}}")))
        }
        Some('(') => Err(WordError::CommandSubstitution),
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            let mut name = String::new();
            while let Some(&ch) = chars.peek() {
                if !(ch.is_ascii_alphanumeric() || ch == '_') {
                    break;
                }
                name.push(ch);
                chars.next();
            }
            env(&name).ok_or(WordError::Unset(format!("${name}")))
        }
        Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
            Err(WordError::SpecialParameter(format!("${c}")))
        }
        // `$` before a space, a quote, `/`, or at the end means itself, as in a shell.
        _ => Ok("$".to_string()),
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "KERN" => Some("/boot".into()),
            "SPACED" => Some("a b".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn words(input: &str) -> Vec<String> {
        split(input, &env).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

    fn error(input: &str) -> String {
        split(input, &env).unwrap_err().to_string()
    }

    #[test]
    fn plain_whitespace_splits() {
        assert_eq!(words("-m 2048"), ["-m", "2048"]);
        assert_eq!(words("  -cpu\tmax \n"), ["-cpu", "max"]);
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(words("   "), Vec::<String>::new());
    }

    #[test]
    fn ancestor_quoting_styles() {
        assert_eq!(words(r#""none""#), ["none"]);
        assert_eq!(
            words(r#""console=ttyS0 root=/dev/vda""#),
            ["console=ttyS0 root=/dev/vda"]
        );
        assert_eq!(words("-append 'a b'"), ["-append", "a b"]);
    }

    #[test]
    fn quotes_join_adjacent_text() {
        assert_eq!(words(r#"file="my disk".img"#), ["file=my disk.img"]);
        assert_eq!(words(r#"a'b c'"d e"f"#), ["ab cd ef"]);
    }

    #[test]
    fn empty_quotes_make_an_empty_word() {
        assert_eq!(words(r#"-a "" -b ''"#), ["-a", "", "-b", ""]);
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(words(r#"'$KERN \n "x" `y`'"#), [r#"$KERN \n "x" `y`"#]);
    }

    #[test]
    fn backslash_escapes_outside_single_quotes() {
        assert_eq!(words(r"a\ b"), ["a b"]);
        assert_eq!(words(r"\$KERN \'"), ["$KERN", "'"]);
        assert_eq!(
            words(r#""a\"b" "\$x" "\\" "\n""#),
            ["a\"b", "$x", "\\", "\\n"]
        );
        assert_eq!(words("a\\\nb"), ["ab"]);
    }

    #[test]
    fn variables_expand_outside_single_quotes() {
        assert_eq!(words("-kernel $KERN/bzImage"), ["-kernel", "/boot/bzImage"]);
        assert_eq!(words("${KERN}x"), ["/bootx"]);
        assert_eq!(words(r#""$KERN/a b""#), ["/boot/a b"]);
    }

    #[test]
    fn expansions_are_not_split_or_globbed() {
        assert_eq!(words("$SPACED"), ["a b"]);
        assert_eq!(words("*.img ?x [ab]"), ["*.img", "?x", "[ab]"]);
    }

    #[test]
    fn empty_unquoted_expansion_vanishes() {
        assert_eq!(words("-a $EMPTY -b"), ["-a", "-b"]);
        assert_eq!(words(r#"-a "$EMPTY""#), ["-a", ""]);
    }

    #[test]
    fn lone_dollar_is_literal() {
        assert_eq!(words("a$ $ $/x"), ["a$", "$", "$/x"]);
    }

    #[test]
    fn leading_tilde_expands() {
        assert_eq!(
            words("~ ~/img a~b ~user '~' \"~\""),
            ["/home/u", "/home/u/img", "a~b", "~user", "~", "~"]
        );
        let no_home = |_: &str| None;
        assert_eq!(split("~/x", &no_home).unwrap_err(), WordError::NoHome);
    }

    #[test]
    fn unset_variable_names_it() {
        assert_eq!(
            error("-kernel $KERNX/bzImage"),
            r"$KERNX is not set (set it in the environment, or write \$ for a literal dollar)"
        );
        assert_eq!(
            split("${NOPE}", &env).unwrap_err(),
            WordError::Unset("${NOPE}".into())
        );
        assert_eq!(
            split(r#""$NOPE""#, &env).unwrap_err(),
            WordError::Unset("$NOPE".into())
        );
    }

    #[test]
    fn command_substitution_is_refused() {
        assert_eq!(
            split("$(id -u)", &env).unwrap_err(),
            WordError::CommandSubstitution
        );
        assert_eq!(
            split(r#""$(id)""#, &env).unwrap_err(),
            WordError::CommandSubstitution
        );
        assert_eq!(
            split("$((1+2))", &env).unwrap_err(),
            WordError::CommandSubstitution
        );
        assert_eq!(split("`id`", &env).unwrap_err(), WordError::Backtick);
        assert_eq!(split(r#""`id`""#, &env).unwrap_err(), WordError::Backtick);
        assert!(error("$(id)").contains("command substitution $(...) is not supported"));
        assert!(error("`id`").contains("backticks"));
        // Escaped, they are plain text.
        assert_eq!(words(r"\$(id) \`id\`"), ["$(id)", "`id`"]);
    }

    #[test]
    fn unsupported_parameters_are_refused() {
        assert_eq!(
            split("$1", &env).unwrap_err(),
            WordError::SpecialParameter("$1".into())
        );
        assert_eq!(
            split("$@", &env).unwrap_err(),
            WordError::SpecialParameter("$@".into())
        );
        assert_eq!(
            split("${KERN:-x}", &env).unwrap_err(),
            WordError::BadBraces("${KERN:-x}".into())
        );
        assert_eq!(
            split("${KERN", &env).unwrap_err(),
            WordError::BadBraces("${KERN".into())
        );
    }

    #[test]
    fn unterminated_quotes_and_trailing_backslash() {
        assert_eq!(error("'abc"), "unterminated single quote");
        assert_eq!(error(r#""abc"#), "unterminated double quote");
        assert_eq!(error(r#""abc\"#), "unterminated double quote");
        assert_eq!(
            split("abc\\", &env).unwrap_err(),
            WordError::TrailingBackslash
        );
    }
}
