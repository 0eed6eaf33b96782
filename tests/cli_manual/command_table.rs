//! The README's command table against clap's commands, both ways: a command without a row and
//! a row naming no command both fail, and so does an option a row shows that the command does
//! not take. One row per command, and one per subcommand of a group (`image build`,
//! `sync status`, ...); a row's first cell starts with the command line, `qcmdr NAME ...`.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;
use qcmdr::cli::Cli;

use super::{read, readme};

/// The heading of the README section that holds the table.
const SECTION: &str = "## Commands";

/// Every command a user can run (`start`, `image build`), with the options it takes (long
/// ones as `--name`, short ones as `-x`; the global options and `--help` included).
fn runnable_commands(root: &clap::Command) -> BTreeMap<String, BTreeSet<String>> {
    let options_of = |command: &clap::Command| {
        let mut options: BTreeSet<String> = ["--help".to_string(), "-h".to_string()].into();
        for arg in root
            .get_arguments()
            .filter(|a| a.is_global_set())
            .chain(command.get_arguments())
        {
            options.extend(arg.get_long().map(|l| format!("--{l}")));
            options.extend(arg.get_short().map(|s| format!("-{s}")));
        }
        options
    };
    let mut commands = BTreeMap::new();
    for command in root.get_subcommands().filter(|c| !c.is_hide_set()) {
        let mut subcommands = command
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .peekable();
        if subcommands.peek().is_none() {
            commands.insert(command.get_name().to_string(), options_of(command));
        }
        for sub in subcommands {
            let words = format!("{} {}", command.get_name(), sub.get_name());
            commands.insert(words, options_of(sub));
        }
    }
    commands
}

/// The first code span of each row of the table under [`SECTION`], `\|` read as `|`; a row
/// without one is a problem.
fn table_rows(readme: &str) -> Result<Vec<Result<String, String>>, String> {
    let (_, section) = readme
        .split_once(&format!("\n{SECTION}\n"))
        .ok_or_else(|| format!("README.md has no `{SECTION}` section"))?;
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut lines = section.lines().skip_while(|l| !l.starts_with('|'));
    lines
        .next()
        .ok_or_else(|| format!("the `{SECTION}` section has no table"))?;
    lines.next(); // |---|---|
    let rows = lines
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let first_cell = line
                .trim_start_matches('|')
                .split(" | ")
                .next()
                .unwrap_or_default();
            match first_cell.split('`').nth(1) {
                Some(span) => Ok(span.replace("\\|", "|")),
                None => Err(format!(
                    "a row names no command (its first cell has no `qcmdr ...`): {line}"
                )),
            }
        })
        .collect();
    Ok(rows)
}

/// The options a row's command line shows: `--from`, `-f`, without brackets or a value.
fn options_shown(command_line: &str) -> Vec<String> {
    command_line
        .split_whitespace()
        .map(|t| {
            t.trim_start_matches(['[', '('])
                .trim_end_matches([']', ')', ','])
        })
        .filter(|t| {
            let mut chars = t.trim_start_matches('-').chars();
            t.starts_with('-') && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        })
        .map(|t| t.split('=').next().unwrap_or(t).to_string())
        .collect()
}

/// Every way the table and the commands differ, one sentence each; empty when they agree.
fn differences(readme: &str, root: &clap::Command) -> Vec<String> {
    let commands = runnable_commands(root);
    let rows = match table_rows(readme) {
        Ok(rows) => rows,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    let mut covered = BTreeSet::new();
    for row in rows {
        let row = match row {
            Ok(row) => row,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let words: Vec<&str> = row.split_whitespace().collect();
        if words.first() != Some(&"qcmdr") || words.len() < 2 {
            problems.push(format!("row `{row}` does not start with `qcmdr COMMAND`"));
            continue;
        }
        let group = commands
            .keys()
            .any(|k| k.starts_with(&format!("{} ", words[1])));
        let name = match (group, words.get(2)) {
            (true, Some(sub)) => format!("{} {sub}", words[1]),
            _ => words[1].to_string(),
        };
        let Some(options) = commands.get(&name) else {
            problems.push(format!(
                "row `{row}` names no command of qcmdr (`qcmdr {name}` does not exist; \
                 the commands: {})",
                commands.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        if !covered.insert(name.clone()) {
            problems.push(format!("`qcmdr {name}` has two rows; keep one"));
        }
        for option in options_shown(&row) {
            if !options.contains(&option) {
                problems.push(format!(
                    "row `{row}` shows {option}, which `qcmdr {name}` does not take"
                ));
            }
        }
    }
    for name in commands.keys().filter(|name| !covered.contains(*name)) {
        problems.push(format!(
            "README.md's command table (`{SECTION}`) has no row for `qcmdr {name}`: add one \
             (| `qcmdr {name} ...` | what it does |) and describe the command in docs/ \
             (a command added on another branch gets its row when that branch is merged)"
        ));
    }
    problems
}

#[test]
fn readme_command_table_has_one_row_per_command_of_clap() {
    let problems = differences(&read(&readme()), &Cli::command());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The real README with the table row that starts with `row` replaced by `lines`.
#[track_caller]
fn doctored(row: &str, lines: &[&str]) -> String {
    let text = read(&readme());
    let old = text
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("README.md has no row starting with {row:?}"));
    text.replacen(old, &lines.join("\n"), 1)
}

#[test]
fn table_check_fails_on_a_command_without_row_and_a_row_without_command() {
    let text = doctored(
        "| `qcmdr image gc` |",
        &[
            "| `qcmdr frobnicate VM` | a command qcmdr does not have |",
            "| `qcmdr image shrink` | a subcommand qcmdr does not have |",
            "| plain words | no command line |",
            "| `qcmdr-image gc` | not qcmdr |",
        ],
    );
    let problems = differences(&text, &Cli::command()).join("\n");
    assert!(
        problems.contains("has no row for `qcmdr image gc`"),
        "{problems}"
    );
    assert!(
        problems.contains("row `qcmdr frobnicate VM` names no command"),
        "{problems}"
    );
    assert!(
        problems.contains("row `qcmdr image shrink` names no command"),
        "{problems}"
    );
    assert!(
        problems
            .contains("a row names no command (its first cell has no `qcmdr ...`): | plain words"),
        "{problems}"
    );
    assert!(
        problems.contains("row `qcmdr-image gc` does not start with `qcmdr COMMAND`"),
        "{problems}"
    );
    assert_eq!(problems.lines().count(), 5, "{problems}");
}

#[test]
fn table_check_fails_on_a_duplicate_row_and_an_option_the_command_does_not_take() {
    let text = doctored(
        "| `qcmdr snapshot save VM NAME [--stop]` |",
        &[
            "| `qcmdr snapshot save VM NAME [--halt] [-z]` | options it does not take |",
            "| `qcmdr status` | a second row |",
        ],
    );
    let problems = differences(&text, &Cli::command()).join("\n");
    assert!(
        problems.contains("shows --halt, which `qcmdr snapshot save` does not take"),
        "{problems}"
    );
    assert!(
        problems.contains("shows -z, which `qcmdr snapshot save` does not take"),
        "{problems}"
    );
    assert!(
        problems.contains("`qcmdr status` has two rows"),
        "{problems}"
    );
    assert_eq!(problems.lines().count(), 3, "{problems}");
}

#[test]
fn table_check_reads_options_with_their_brackets_and_values() {
    assert_eq!(
        options_shown(
            "qcmdr start VM... | --all [--from NAME [--force]] [-n N] [-- GDB-ARGS...] --x=1"
        ),
        ["--all", "--from", "--force", "-n", "--x"]
    );
}
