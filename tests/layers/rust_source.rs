//! Reading one Rust file for what it imports: comments and literals blanked, then every
//! `use` tree and every `crate::`/`super::`/`self::` path (and a path through a child module
//! of the file's own module) resolved to the absolute module path it names.

/// A path one file names, absolute (`["runtime", "helper", "Helper"]`), with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub path: Vec<String>,
    pub line: usize,
}

/// `text` with comments, string and character literals replaced by spaces (newlines kept,
/// so lines still count right).
pub fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"..." or r#"..."#: no escapes; ends at a quote followed by as many hashes.
            let open = 1 + hashes + 1;
            out.extend(std::iter::repeat(' ').take(open));
            i += open;
            while i < chars.len() {
                if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
                    out.extend(std::iter::repeat(' ').take(1 + hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The number of `#` of a raw string starting at `i` (`r"`, `r#"`, `br"`...), if one does.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    if chars[i] != 'r' || (i > 0 && is_ident_char(chars[i - 1]) && chars[i - 1] != 'b') {
        return None;
    }
    if i > 1 && chars[i - 1] == 'b' && is_ident_char(chars[i - 2]) {
        return None;
    }
    let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
    (chars.get(i + 1 + hashes) == Some(&'"')).then_some(hashes)
}

/// `'x'` or `'\n'` rather than a lifetime (`'a`).
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Semi,
    Comma,
    Star,
    Other,
}

fn tokens(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if is_ident_char(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // `r#type`: a raw identifier is the identifier.
            out.push((Token::Ident(word.trim_start_matches("r#").into()), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Token::PathSep, line));
            i += 2;
        } else {
            out.push((
                match c {
                    '{' => Token::Open,
                    '}' => Token::Close,
                    ';' => Token::Semi,
                    ',' => Token::Comma,
                    '*' => Token::Star,
                    _ => Token::Other,
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

/// Every module path the file of module `module` names. `is_module(path)` tells whether an
/// absolute path is a module of the crate (for paths that start at a child module).
pub fn references(
    text: &str,
    module: &[String],
    is_module: &dyn Fn(&[String]) -> bool,
) -> Vec<Reference> {
    let tokens = tokens(&blank_comments_and_literals(text));
    let mut found = Vec::new();
    // Inline modules (`mod tests { .. }`): the module path at each depth.
    let mut scopes: Vec<(Vec<String>, usize)> = vec![(module.to_vec(), 0)];
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let current = scopes.last().map(|(m, _)| m.clone()).unwrap_or_default();
        match &tokens[i].0 {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                while scopes.len() > 1 && scopes.last().is_some_and(|(_, d)| *d > depth) {
                    scopes.pop();
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some((Token::Ident(name), _)), Some((Token::Open, _))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    let mut inner = current.clone();
                    inner.push(name.clone());
                    depth += 1;
                    scopes.push((inner, depth));
                    i += 3;
                    continue;
                }
            }
            Token::Ident(word) if word == "use" => {
                let line = tokens[i].1;
                let end = (i..tokens.len())
                    .find(|k| tokens[*k].0 == Token::Semi)
                    .unwrap_or(tokens.len());
                let tree: Vec<Token> = tokens[i + 1..end].iter().map(|t| t.0.clone()).collect();
                let mut paths = Vec::new();
                use_tree(&tree, &mut 0, Vec::new(), &mut paths);
                for path in paths {
                    if let Some(path) = absolute(&path, &current, is_module) {
                        found.push(Reference { path, line });
                    }
                }
                i = end + 1;
                continue;
            }
            Token::Ident(first) => {
                let after_sep = i > 0 && tokens[i - 1].0 == Token::PathSep;
                if !after_sep && tokens.get(i + 1).map(|t| &t.0) == Some(&Token::PathSep) {
                    let line = tokens[i].1;
                    let mut path = vec![first.clone()];
                    let mut k = i + 1;
                    while tokens.get(k).map(|t| &t.0) == Some(&Token::PathSep) {
                        match tokens.get(k + 1).map(|t| &t.0) {
                            Some(Token::Ident(next)) => path.push(next.clone()),
                            _ => break,
                        }
                        k += 2;
                    }
                    if let Some(path) = absolute(&path, &current, is_module) {
                        found.push(Reference { path, line });
                    }
                    i = k;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// Expands one `use` tree (`a::{b, c::{self, D}}`) into its paths.
fn use_tree(tokens: &[Token], at: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        match tokens.get(*at) {
            Some(Token::Ident(word)) if word == "as" => {
                // `as name`: the name is local, the path is what was named before.
                *at += 2;
                out.push(path);
                return;
            }
            Some(Token::Ident(word)) if word == "self" && !path.is_empty() => {
                *at += 1;
            }
            Some(Token::Ident(word)) => {
                path.push(word.clone());
                *at += 1;
            }
            Some(Token::PathSep) => *at += 1,
            Some(Token::Star) => {
                *at += 1;
                out.push(path);
                return;
            }
            Some(Token::Open) => {
                *at += 1;
                while *at < tokens.len() && tokens[*at] != Token::Close {
                    use_tree(tokens, at, path.clone(), out);
                    if tokens.get(*at) == Some(&Token::Comma) {
                        *at += 1;
                    }
                }
                *at += 1;
                return;
            }
            _ => {
                out.push(path);
                return;
            }
        }
    }
}

/// `path` as named inside module `current`, made absolute; `None` for another crate's path.
fn absolute(
    path: &[String],
    current: &[String],
    is_module: &dyn Fn(&[String]) -> bool,
) -> Option<Vec<String>> {
    let mut base = current.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some(first) => {
            // A path through a child module of the current one (`build::run`).
            let mut child = current.to_vec();
            child.push(first.to_string());
            if !is_module(&child) {
                return None;
            }
        }
        None => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}
