//! Evaluating a check's `tests` against its audit outputs, as kube-bench does
//! (`../shared/KUBE_BENCH_FORMAT.md` §3.3–3.8): the source each item is read from, output
//! preprocessing and `use_multiple_values`, `set`/`compare`, `bin_op`, and the
//! expected-result and actual-value texts.
//!
//! Running the audits and deciding the check's state (§3.1, §3.2) is the caller's job.

use std::borrow::Cow;

use crate::definitions::model::{TestItem, Tests};
use crate::matching::compare::compare;
use crate::matching::lookup::{self, Lookup};

/// The three audit outputs of a check, untrimmed, as the audits printed them.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditOutputs<'a> {
    /// Output of `audit`, searched with `flag`.
    pub command: &'a str,
    /// Output of `audit_config`, searched with `path`.
    pub config: &'a str,
    /// Output of `audit_env` (possibly generated), searched with `env`.
    pub env: &'a str,
    /// Whether the check has a non-empty `audit_config`; without one the config output is
    /// never consulted.
    pub has_config_command: bool,
}

impl<'a> AuditOutputs<'a> {
    fn text(&self, source: SourceKind) -> &'a str {
        match source {
            SourceKind::Command => self.command,
            SourceKind::Config => self.config,
            SourceKind::Env => self.env,
        }
    }
}

/// Which audit output decided a test item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `audit`, looked up with `flag`.
    Command,
    /// `audit_config`, looked up with `path`.
    Config,
    /// `audit_env`, looked up with `env`.
    Env,
}

impl SourceKind {
    /// The test-item field that names the key in this source.
    pub fn key_field(self) -> &'static str {
        match self {
            SourceKind::Command => "flag",
            SourceKind::Config => "path",
            SourceKind::Env => "env",
        }
    }

    fn key(self, item: &TestItem) -> &str {
        match self {
            SourceKind::Command => &item.flag,
            SourceKind::Config => &item.path,
            SourceKind::Env => &item.env,
        }
    }

    fn lookup(self, text: &str, key: &str) -> Lookup {
        match self {
            SourceKind::Command => lookup::flag(text, key),
            SourceKind::Config => lookup::path(text, key),
            SourceKind::Env => lookup::env(text, key),
        }
    }
}

/// The result of one test item: its last evaluation (§3.3). Borrows the audit outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOutcome<'a> {
    /// The source of the last evaluation performed.
    pub source: SourceKind,
    /// The flag, path or env name used on that source.
    pub key: String,
    /// Whether the key was present (on the last line evaluated).
    pub found: bool,
    /// The value the key had there, when present.
    pub value: Option<String>,
    pub passed: bool,
    /// The expected-result text (`""` after a lookup error or an unknown op).
    pub expected: String,
    /// The whole source text after trimming trailing spaces and newlines.
    pub actual: &'a str,
    /// Why the lookup failed, if it did (the item then fails).
    pub error: Option<String>,
}

/// The combined result of a check's tests (§3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestsOutcome<'a> {
    pub passed: bool,
    /// The items' expected texts joined with ` AND ` or ` OR `; `""` for an unknown bin_op.
    pub expected: String,
    /// The first item's trimmed source text, or the unknown-bin_op message.
    pub actual: Cow<'a, str>,
    /// The `bin_op` text when it is neither empty, `and` nor `or`.
    pub unknown_bin_op: Option<String>,
    /// `bin_op: or`: one passing item is enough.
    pub any_of: bool,
    pub items: Vec<ItemOutcome<'a>>,
}

/// A decisive value is cut to this many characters; the whole text to [`DECISIVE_TEXT_LIMIT`].
const DECISIVE_VALUE_LIMIT: usize = 120;
pub const DECISIVE_TEXT_LIMIT: usize = 300;

impl TestsOutcome<'_> {
    /// What decided the verdict, in a few words per test item: the key that was tested and
    /// its value (`authentication.anonymous.enabled: true`, `--anonymous-auth=true`,
    /// `permissions=644`) or its absence (`--profiling not set`). Only the items that
    /// decided count: the failing ones of a failed `and`, the passing ones of a passed `or`,
    /// all of them otherwise. Empty when no item could decide (unknown `bin_op`).
    pub fn decisive(&self) -> String {
        if self.unknown_bin_op.is_some() {
            return String::new();
        }
        let any_of = self.any_of;
        let deciding = |item: &&ItemOutcome| match (self.passed, any_of) {
            (true, true) => item.passed,
            (false, false) => !item.passed,
            _ => true,
        };
        let decided: Vec<&ItemOutcome> = self.items.iter().filter(deciding).collect();
        // A key with no letters or digits (kube-bench's `flag: ":"` beside `flag: "etcd:etcd"`
        // in ownership checks) says nothing a reader can use next to a named one.
        let named: Vec<&ItemOutcome> = decided
            .iter()
            .copied()
            .filter(|item| item.key.chars().any(char::is_alphanumeric))
            .collect();
        let shown = if named.is_empty() { decided } else { named };
        let mut parts: Vec<String> = Vec::with_capacity(shown.len());
        for part in shown.into_iter().map(ItemOutcome::decisive) {
            if !parts.contains(&part) {
                parts.push(part);
            }
        }
        // One part (most checks) is kept as it is when it needs no cut.
        match parts.as_mut_slice() {
            [only] => match cut(only, DECISIVE_TEXT_LIMIT) {
                Cow::Borrowed(same) if same.len() == only.len() => std::mem::take(only),
                cut => cut.into_owned(),
            },
            _ => cut(&parts.join("; "), DECISIVE_TEXT_LIMIT).into_owned(),
        }
    }
}

impl ItemOutcome<'_> {
    /// This item's key and value (or its absence), as [`TestsOutcome::decisive`] lists it.
    pub fn decisive(&self) -> String {
        let key = match self.source {
            SourceKind::Config => display_path(&self.key),
            SourceKind::Command | SourceKind::Env => self.key.trim(),
        };
        if let Some(error) = &self.error {
            return [key, ": ", &cut(error, DECISIVE_VALUE_LIMIT)].concat();
        }
        match (&self.value, self.source) {
            (Some(value), SourceKind::Config) => {
                [key, ": ", &cut(value, DECISIVE_VALUE_LIMIT)].concat()
            }
            (Some(value), _) if *value == self.key => key.to_owned(),
            (Some(value), _) => [key, "=", &cut(value, DECISIVE_VALUE_LIMIT)].concat(),
            (None, _) => [key, " not set"].concat(),
        }
    }
}

/// A JSONPath template as a reader writes the key: `{.authentication.anonymous.enabled}`
/// becomes `authentication.anonymous.enabled`; anything more than one plain path (`range`,
/// several parts) stays as written.
fn display_path(template: &str) -> &str {
    let trimmed = template.trim();
    let simple = trimmed
        .strip_prefix("{.")
        .and_then(|t| t.strip_suffix('}'))
        .filter(|inner| !inner.contains(['{', '}', ' ']));
    simple.unwrap_or(trimmed)
}

/// `text` on one line, cut to `limit` characters with `…` marking the cut.
fn cut(text: &str, limit: usize) -> Cow<'_, str> {
    let trimmed = text.trim();
    // The usual text, short printable ASCII, is already one line within the limit.
    if trimmed.len() <= limit
        && trimmed
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_control())
    {
        return Cow::Borrowed(trimmed);
    }
    let one_line: String = trimmed
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= limit {
        return Cow::Owned(one_line);
    }
    let mut kept: String = one_line.chars().take(limit - 1).collect();
    kept.push('…');
    Cow::Owned(kept)
}

/// Evaluates every test item and combines them with `bin_op`.
pub fn evaluate_tests<'a>(
    tests: &Tests,
    use_multiple_values: bool,
    outputs: &AuditOutputs<'a>,
) -> TestsOutcome<'a> {
    let items: Vec<ItemOutcome> = tests
        .test_items
        .iter()
        .map(|item| evaluate_item(item, use_multiple_values, outputs))
        .collect();
    let (passed, separator) = match tests.bin_op.as_str() {
        "" | "and" => (items.iter().all(|item| item.passed), " AND "),
        "or" => (items.iter().any(|item| item.passed), " OR "),
        unknown => {
            return TestsOutcome {
                passed: false,
                expected: String::new(),
                actual: format!("unknown binary operator for tests {unknown}\n").into(),
                unknown_bin_op: Some(unknown.to_owned()),
                any_of: false,
                items,
            }
        }
    };
    let expected = items
        .iter()
        .map(|item| item.expected.as_str())
        .collect::<Vec<_>>()
        .join(separator);
    // kube-bench never gets here without items (§3.1 row 4); an empty text is the safe answer.
    let actual = items
        .first()
        .map_or(Cow::Borrowed(""), |item| Cow::Borrowed(item.actual));
    TestsOutcome {
        passed,
        expected,
        actual,
        unknown_bin_op: None,
        any_of: separator == " OR ",
        items,
    }
}

/// Evaluates one item: the command output first, then the config output, then the
/// environment, each only while the key has not been found (§3.3).
pub fn evaluate_item<'a>(
    item: &TestItem,
    use_multiple_values: bool,
    outputs: &AuditOutputs<'a>,
) -> ItemOutcome<'a> {
    let evaluate = |source: SourceKind| {
        evaluate_on_source(item, source, outputs.text(source), use_multiple_values)
    };
    let mut outcome = evaluate(SourceKind::Command);
    // `S_cfg` is compared before trimming: an output of "\n" is consulted.
    if !outcome.found && outputs.has_config_command && !outputs.config.is_empty() {
        outcome = evaluate(SourceKind::Config);
    }
    // kube-bench tries the environment inside the config branch and again after it; the
    // second try repeats the first exactly, so one is enough.
    if !outcome.found && !item.env.is_empty() {
        outcome = evaluate(SourceKind::Env);
    }
    outcome
}

/// Evaluates the item on one source text, line by line with `use_multiple_values`,
/// stopping at the first failing line (§3.4).
fn evaluate_on_source<'a>(
    item: &TestItem,
    source: SourceKind,
    text: &'a str,
    use_multiple_values: bool,
) -> ItemOutcome<'a> {
    let trimmed = text.trim_end_matches([' ', '\n']);
    let key = source.key(item);
    let (mut each, mut whole) = (trimmed.split('\n'), std::iter::once(trimmed));
    let lines: &mut dyn Iterator<Item = &str> = if use_multiple_values {
        &mut each
    } else {
        &mut whole
    };
    let mut last = LineOutcome::default();
    for line in lines {
        last = evaluate_line(item, source, key, line);
        if !last.passed {
            break;
        }
    }
    ItemOutcome {
        source,
        key: key.to_owned(),
        found: last.found,
        value: last.value,
        passed: last.passed,
        expected: last.expected,
        actual: trimmed,
        error: last.error,
    }
}

#[derive(Debug, Default)]
struct LineOutcome {
    found: bool,
    value: Option<String>,
    passed: bool,
    expected: String,
    error: Option<String>,
}

/// `set`/`compare` on one line of one source (§3.6).
fn evaluate_line(item: &TestItem, source: SourceKind, key: &str, line: &str) -> LineOutcome {
    let value = match source.lookup(line, key) {
        Ok(value) => value,
        Err(error) => {
            return LineOutcome {
                error: Some(error),
                ..LineOutcome::default()
            }
        }
    };
    let found = value.is_some();
    let (op, expected_value) = item
        .compare
        .as_ref()
        .map_or(("", ""), |c| (c.op.as_str(), c.value.as_str()));
    let (passed, expected) = match &value {
        Some(actual) if item.set && !op.is_empty() => {
            let outcome = compare(op, actual, expected_value, key);
            (outcome.passed, outcome.expected_text)
        }
        _ if item.set => (found, ["'", key, "' is present"].concat()),
        _ => (!found, ["'", key, "' is not present"].concat()),
    };
    LineOutcome {
        found,
        value,
        passed,
        expected,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::model::Compare;
    use crate::definitions::validate::validate_item;

    /// A test item built field by field, `set: true` unless said otherwise.
    #[derive(Clone, Default)]
    struct Item {
        flag: &'static str,
        path: &'static str,
        env: &'static str,
        unset: bool,
        op: &'static str,
        value: &'static str,
    }

    impl Item {
        fn build(&self) -> TestItem {
            TestItem {
                flag: self.flag.to_owned(),
                path: self.path.to_owned(),
                env: self.env.to_owned(),
                set: !self.unset,
                compare: (!self.op.is_empty() || !self.value.is_empty()).then(|| Compare {
                    op: self.op.to_owned(),
                    value: self.value.to_owned(),
                }),
            }
        }
    }

    fn flag_eq(flag: &'static str, value: &'static str) -> Item {
        Item {
            flag,
            op: "eq",
            value,
            ..Item::default()
        }
    }

    fn tests(bin_op: &str, items: &[Item]) -> Tests {
        Tests {
            bin_op: bin_op.to_owned(),
            test_items: items.iter().map(Item::build).collect(),
        }
    }

    fn command(text: &str) -> AuditOutputs<'_> {
        AuditOutputs {
            command: text,
            ..AuditOutputs::default()
        }
    }

    fn item_outcome<'a>(item: Item, multiple: bool, outputs: &AuditOutputs<'a>) -> ItemOutcome<'a> {
        evaluate_item(&item.build(), multiple, outputs)
    }

    /// One single-item case: the item, the outputs, and what the item must come to.
    struct Case {
        name: &'static str,
        item: Item,
        multiple: bool,
        outputs: AuditOutputs<'static>,
        source: SourceKind,
        found: bool,
        passed: bool,
        expected: &'static str,
    }

    fn run_cases(cases: Vec<Case>) {
        for case in cases {
            let outcome = item_outcome(case.item, case.multiple, &case.outputs);
            assert_eq!(outcome.source, case.source, "{}: source", case.name);
            assert_eq!(outcome.found, case.found, "{}: found", case.name);
            assert_eq!(outcome.passed, case.passed, "{}: passed", case.name);
            assert_eq!(outcome.expected, case.expected, "{}: expected", case.name);
        }
    }

    #[test]
    fn set_and_compare_table() {
        use SourceKind::*;
        run_cases(vec![
            Case {
                name: "found and compared: pass",
                item: flag_eq("--anonymous-auth", "false"),
                multiple: false,
                outputs: command("kubelet --anonymous-auth=false"),
                source: Command,
                found: true,
                passed: true,
                expected: "'--anonymous-auth' is equal to 'false'",
            },
            Case {
                name: "found and compared: fail",
                item: flag_eq("--anonymous-auth", "false"),
                multiple: false,
                outputs: command("kubelet --anonymous-auth=true"),
                source: Command,
                found: true,
                passed: false,
                expected: "'--anonymous-auth' is equal to 'false'",
            },
            Case {
                name: "not found with a compare: presence text",
                item: flag_eq("--anonymous-auth", "false"),
                multiple: false,
                outputs: command("kubelet --x=1"),
                source: Command,
                found: false,
                passed: false,
                expected: "'--anonymous-auth' is present",
            },
            Case {
                name: "set without compare: found",
                item: Item {
                    flag: "--profiling",
                    ..Item::default()
                },
                multiple: false,
                outputs: command("x --profiling=false"),
                source: Command,
                found: true,
                passed: true,
                expected: "'--profiling' is present",
            },
            Case {
                name: "compare with an empty op is a presence test",
                item: Item {
                    flag: "--p",
                    value: "x",
                    ..Item::default()
                },
                multiple: false,
                outputs: command("x --p=y"),
                source: Command,
                found: true,
                passed: true,
                expected: "'--p' is present",
            },
            Case {
                name: "set: false passes when absent",
                item: Item {
                    flag: "--insecure-port",
                    unset: true,
                    ..Item::default()
                },
                multiple: false,
                outputs: command("x --secure-port=6443"),
                source: Command,
                found: false,
                passed: true,
                expected: "'--insecure-port' is not present",
            },
            Case {
                name: "set: false ignores compare and fails when present",
                item: Item {
                    flag: "--insecure-port",
                    unset: true,
                    op: "eq",
                    value: "0",
                    ..Item::default()
                },
                multiple: false,
                outputs: command("x --insecure-port=0"),
                source: Command,
                found: true,
                passed: false,
                expected: "'--insecure-port' is not present",
            },
            Case {
                name: "unknown op fails with an empty text",
                item: Item {
                    flag: "--f",
                    op: "noteqx",
                    value: "1",
                    ..Item::default()
                },
                multiple: false,
                outputs: command("x --f=2"),
                source: Command,
                found: true,
                passed: false,
                expected: "",
            },
            Case {
                name: "space-separated value reads true",
                item: flag_eq("--secure-port", "0"),
                multiple: false,
                outputs: command("x --secure-port 0"),
                source: Command,
                found: true,
                passed: false,
                expected: "'--secure-port' is equal to '0'",
            },
            Case {
                name: "an item with only a path still runs the empty flag first",
                item: Item {
                    path: "{.a}",
                    op: "eq",
                    value: "1",
                    ..Item::default()
                },
                multiple: false,
                outputs: command("a: 1"),
                source: Command,
                found: false,
                passed: false,
                expected: "'' is present",
            },
            Case {
                name: "empty command output: not found",
                item: flag_eq("--f", "1"),
                multiple: false,
                outputs: command(""),
                source: Command,
                found: false,
                passed: false,
                expected: "'--f' is present",
            },
            Case {
                name: "a lookup error fails the item with an empty text",
                item: Item {
                    flag: "a+b",
                    ..Item::default()
                },
                multiple: false,
                outputs: command("x a+b=1"),
                source: Command,
                found: false,
                passed: false,
                expected: "",
            },
            Case {
                name: "a lookup error fails even a set: false item",
                item: Item {
                    flag: "a+b",
                    unset: true,
                    ..Item::default()
                },
                multiple: false,
                outputs: command("x a+b=1"),
                source: Command,
                found: false,
                passed: false,
                expected: "",
            },
        ]);
    }

    fn with_config(
        command: &'static str,
        config: &'static str,
        env: &'static str,
    ) -> AuditOutputs<'static> {
        AuditOutputs {
            command,
            config,
            env,
            has_config_command: true,
        }
    }

    #[test]
    fn source_choice_table() {
        use SourceKind::*;
        let full = Item {
            flag: "--port",
            path: "{.missing}",
            env: "PORT",
            op: "eq",
            value: "0",
            ..Item::default()
        };
        run_cases(vec![
            Case {
                name: "a flag found on the command line decides, even failing",
                item: full.clone(),
                multiple: false,
                outputs: with_config("x --port=8080", "port: 0", "PORT=0"),
                source: Command,
                found: true,
                passed: false,
                expected: "'--port' is equal to '0'",
            },
            Case {
                name: "flag missing, no config command: the env decides",
                item: full.clone(),
                multiple: false,
                outputs: AuditOutputs {
                    command: "x",
                    config: "port: 0",
                    env: "PORT=0",
                    has_config_command: false,
                },
                source: Env,
                found: true,
                passed: true,
                expected: "'PORT' is equal to '0'",
            },
            Case {
                name: "flag and config miss: the env decides",
                item: full.clone(),
                multiple: false,
                outputs: with_config("x", "a: 1", "PORT=0"),
                source: Env,
                found: true,
                passed: true,
                expected: "'PORT' is equal to '0'",
            },
            Case {
                name: "env not anchored: INSECURE_PORT= is found for PORT",
                item: Item {
                    flag: "--port",
                    env: "PORT",
                    op: "eq",
                    value: "0",
                    ..Item::default()
                },
                multiple: false,
                outputs: AuditOutputs {
                    env: "INSECURE_PORT=8080\nPORT=0",
                    ..command("x")
                },
                source: Env,
                found: true,
                passed: false,
                expected: "'PORT' is equal to '0'",
            },
            Case {
                name: "env with an empty value is absent; the env still was the last try",
                item: Item {
                    flag: "--port",
                    env: "PORT",
                    ..Item::default()
                },
                multiple: false,
                outputs: AuditOutputs {
                    env: "PORT=",
                    ..command("x")
                },
                source: Env,
                found: false,
                passed: false,
                expected: "'PORT' is present",
            },
            Case {
                name: "set: false needs the key absent from every source consulted",
                item: Item {
                    flag: "--port",
                    env: "PORT",
                    unset: true,
                    ..Item::default()
                },
                multiple: false,
                outputs: AuditOutputs {
                    env: "PORT=1",
                    ..command("x")
                },
                source: Env,
                found: true,
                passed: false,
                expected: "'PORT' is not present",
            },
            Case {
                name: "set: false absent everywhere passes on the env text",
                item: Item {
                    flag: "--port",
                    env: "PORT",
                    unset: true,
                    ..Item::default()
                },
                multiple: false,
                outputs: AuditOutputs {
                    env: "OTHER=1",
                    ..command("x")
                },
                source: Env,
                found: false,
                passed: true,
                expected: "'PORT' is not present",
            },
            Case {
                name: "no env name: no env fallback",
                item: flag_eq("--port", "0"),
                multiple: false,
                outputs: AuditOutputs {
                    env: "--port=0",
                    ..command("x")
                },
                source: Command,
                found: false,
                passed: false,
                expected: "'--port' is present",
            },
            Case {
                name: "a flag lookup error falls back like a missing flag",
                item: Item {
                    flag: "a+b",
                    env: "AB",
                    op: "eq",
                    value: "1",
                    ..Item::default()
                },
                multiple: false,
                outputs: AuditOutputs {
                    env: "AB=1",
                    ..command("x a+b=1")
                },
                source: Env,
                found: true,
                passed: true,
                expected: "'AB' is equal to '1'",
            },
        ]);
    }

    #[test]
    fn the_config_output_is_consulted_only_when_the_flag_is_missing() {
        let item = Item {
            flag: "--port",
            path: "{.missing}",
            ..Item::default()
        };
        let consulted = [
            ("x", "a: 1", true),
            // Compared before trimming: a lone newline counts as output.
            ("x", "\n", true),
            ("x", " ", true),
            ("x", "", false),
            ("x --port=1", "a: 1", false),
        ];
        for (command, config, expect_config) in consulted {
            let outcome = item_outcome(item.clone(), false, &with_config(command, config, ""));
            let expected_source = if expect_config {
                SourceKind::Config
            } else {
                SourceKind::Command
            };
            assert_eq!(outcome.source, expected_source, "{command:?} / {config:?}");
            assert_eq!(outcome.key, expected_source.key(&item.build()));
        }
        let no_config_command = AuditOutputs {
            has_config_command: false,
            ..with_config("x", "a: 1", "")
        };
        let outcome = item_outcome(item, false, &no_config_command);
        assert_eq!(outcome.source, SourceKind::Command);
    }

    #[test]
    fn output_is_trimmed_of_trailing_spaces_and_newlines_only() {
        let item = Item {
            env: "X",
            op: "eq",
            value: "1",
            ..Item::default()
        };
        // The trailing space after `1` goes, so the env value is exactly `1`.
        let outcome = item_outcome(
            item.clone(),
            false,
            &AuditOutputs {
                env: "X=1 \n \n",
                ..command("")
            },
        );
        assert!(outcome.passed);
        assert_eq!(outcome.actual, "X=1");
        // Tabs and carriage returns stay.
        let outcome = item_outcome(
            item.clone(),
            false,
            &AuditOutputs {
                env: "X=1\t\n",
                ..command("")
            },
        );
        assert!(!outcome.passed);
        assert_eq!(outcome.actual, "X=1\t");
        let outcome = item_outcome(
            item,
            false,
            &AuditOutputs {
                env: "X=1\r\n",
                ..command("")
            },
        );
        assert!(!outcome.passed);
        assert_eq!(outcome.actual, "X=1\r");
        // Leading whitespace stays too.
        let outcome = item_outcome(flag_eq("--f", "1"), false, &command("\n  x --f=1  \n"));
        assert_eq!(outcome.actual, "\n  x --f=1");
    }

    fn bitmask_item() -> Item {
        Item {
            flag: "permissions",
            op: "bitmask",
            value: "600",
            ..Item::default()
        }
    }

    #[test]
    fn multiple_values_table() {
        use SourceKind::*;
        run_cases(vec![
            Case {
                name: "every line passes",
                item: bitmask_item(),
                multiple: true,
                outputs: command("permissions=600\npermissions=400\n"),
                source: Command,
                found: true,
                passed: true,
                expected: "permissions has permissions 400, expected 600 or more restrictive",
            },
            Case {
                name: "stops at the first failing line and keeps its text",
                item: bitmask_item(),
                multiple: true,
                outputs: command("permissions=600\npermissions=644\npermissions=400"),
                source: Command,
                found: true,
                passed: false,
                expected: "permissions has permissions 644, expected 600 or more restrictive",
            },
            Case {
                name: "an empty line in the middle fails a set: true item",
                item: bitmask_item(),
                multiple: true,
                outputs: command("permissions=600\n\npermissions=600"),
                source: Command,
                found: false,
                passed: false,
                expected: "'permissions' is present",
            },
            Case {
                name: "without use_multiple_values the first occurrence decides",
                item: bitmask_item(),
                multiple: false,
                outputs: command("permissions=600\npermissions=644"),
                source: Command,
                found: true,
                passed: true,
                expected: "permissions has permissions 600, expected 600 or more restrictive",
            },
            Case {
                name: "set: false must hold on every line",
                item: Item {
                    flag: "--x",
                    unset: true,
                    ..Item::default()
                },
                multiple: true,
                outputs: command("a\nb --x\nc"),
                source: Command,
                found: true,
                passed: false,
                expected: "'--x' is not present",
            },
            Case {
                name: "set: false on lines without the key",
                item: Item {
                    flag: "--x",
                    unset: true,
                    ..Item::default()
                },
                multiple: true,
                outputs: command("a\nb\nc"),
                source: Command,
                found: false,
                passed: true,
                expected: "'--x' is not present",
            },
            Case {
                name: "empty output is one empty line",
                item: bitmask_item(),
                multiple: true,
                outputs: command("\n"),
                source: Command,
                found: false,
                passed: false,
                expected: "'permissions' is present",
            },
            Case {
                name: "the last line's found flag triggers the fallback",
                item: Item {
                    flag: "--a",
                    env: "A",
                    op: "eq",
                    value: "1",
                    ..Item::default()
                },
                multiple: true,
                outputs: AuditOutputs {
                    env: "A=1",
                    ..command("--a=1\nnothing")
                },
                source: Env,
                found: true,
                passed: true,
                expected: "'A' is equal to '1'",
            },
            Case {
                name: "a found but failing last line does not fall back",
                item: Item {
                    flag: "--a",
                    env: "A",
                    op: "eq",
                    value: "1",
                    ..Item::default()
                },
                multiple: true,
                outputs: AuditOutputs {
                    env: "A=1",
                    ..command("--a=1\n--a=2\nnothing")
                },
                source: Command,
                found: true,
                passed: false,
                expected: "'--a' is equal to '1'",
            },
        ]);
    }

    #[test]
    fn multiple_values_actual_is_the_whole_trimmed_text() {
        let outcome = item_outcome(
            bitmask_item(),
            true,
            &command("permissions=600\npermissions=644\n\n"),
        );
        assert_eq!(outcome.actual, "permissions=600\npermissions=644");
    }

    #[test]
    fn bin_op_table() {
        let pass = flag_eq("--a", "1");
        let fail = flag_eq("--b", "1");
        let cases: Vec<(&str, Vec<Item>, bool, &str)> = vec![
            (
                "",
                vec![pass.clone(), pass.clone()],
                true,
                "'--a' is equal to '1' AND '--a' is equal to '1'",
            ),
            (
                "",
                vec![pass.clone(), fail.clone()],
                false,
                "'--a' is equal to '1' AND '--b' is equal to '1'",
            ),
            (
                "and",
                vec![pass.clone(), fail.clone()],
                false,
                "'--a' is equal to '1' AND '--b' is equal to '1'",
            ),
            ("and", vec![pass.clone()], true, "'--a' is equal to '1'"),
            (
                "or",
                vec![fail.clone(), pass.clone()],
                true,
                "'--b' is equal to '1' OR '--a' is equal to '1'",
            ),
            (
                "or",
                vec![fail.clone(), fail.clone()],
                false,
                "'--b' is equal to '1' OR '--b' is equal to '1'",
            ),
            ("or", vec![pass.clone()], true, "'--a' is equal to '1'"),
            // Empty texts are kept in the join.
            (
                "or",
                vec![
                    Item {
                        flag: "--a",
                        op: "blah",
                        value: "1",
                        ..Item::default()
                    },
                    pass.clone(),
                ],
                true,
                " OR '--a' is equal to '1'",
            ),
            (
                "and",
                vec![
                    pass.clone(),
                    Item {
                        flag: "--a",
                        op: "blah",
                        value: "1",
                        ..Item::default()
                    },
                ],
                false,
                "'--a' is equal to '1' AND ",
            ),
        ];
        for (bin_op, items, passed, expected) in cases {
            let outcome = evaluate_tests(&tests(bin_op, &items), false, &command("x --a=1 --b=2"));
            assert_eq!(outcome.passed, passed, "bin_op {bin_op:?}: {expected}");
            assert_eq!(outcome.expected, expected, "bin_op {bin_op:?}");
            assert_eq!(outcome.actual, "x --a=1 --b=2");
            assert_eq!(outcome.unknown_bin_op, None);
            assert_eq!(outcome.items.len(), items.len());
        }
    }

    #[test]
    fn unknown_bin_op_fails_with_its_own_texts() {
        for bin_op in ["xor", "AND", "Or", " and"] {
            let outcome = evaluate_tests(
                &tests(bin_op, &[flag_eq("--a", "1")]),
                false,
                &command("x --a=1"),
            );
            assert!(!outcome.passed, "{bin_op:?}");
            assert_eq!(outcome.expected, "");
            assert_eq!(
                outcome.actual,
                format!("unknown binary operator for tests {bin_op}\n")
            );
            assert_eq!(outcome.unknown_bin_op.as_deref(), Some(bin_op));
            assert!(outcome.items[0].passed, "items are still evaluated");
        }
    }

    #[test]
    fn actual_is_the_first_items_last_source() {
        let outputs = AuditOutputs {
            env: "A=1\n",
            ..command("x --b=1 \n")
        };
        let first_falls_back = Item {
            flag: "--a",
            env: "A",
            op: "eq",
            value: "1",
            ..Item::default()
        };
        let outcome = evaluate_tests(
            &tests("and", &[first_falls_back.clone(), flag_eq("--b", "1")]),
            false,
            &outputs,
        );
        assert!(outcome.passed);
        assert_eq!(outcome.actual, "A=1");
        assert_eq!(outcome.items[0].source, SourceKind::Env);
        assert_eq!(outcome.items[1].source, SourceKind::Command);

        let outcome = evaluate_tests(
            &tests("and", &[flag_eq("--b", "1"), first_falls_back]),
            false,
            &outputs,
        );
        assert_eq!(outcome.actual, "x --b=1");
    }

    #[test]
    fn no_items_pass_under_and_with_empty_texts() {
        let outcome = evaluate_tests(&tests("", &[]), false, &command("x"));
        assert!(outcome.passed);
        assert_eq!((outcome.expected.as_str(), &*outcome.actual), ("", ""));
        assert!(!evaluate_tests(&tests("or", &[]), false, &command("x")).passed);
    }

    #[test]
    fn items_report_the_key_that_decided_them() {
        let item = Item {
            flag: "--a",
            env: "A",
            ..Item::default()
        };
        let outcome = item_outcome(
            item,
            false,
            &AuditOutputs {
                env: "A=1",
                ..command("x")
            },
        );
        assert_eq!(
            (outcome.source, outcome.key.as_str()),
            (SourceKind::Env, "A")
        );
        assert_eq!(outcome.source.key_field(), "env");
        assert_eq!(outcome.error, None);

        let outcome = item_outcome(
            Item {
                flag: "a+b",
                ..Item::default()
            },
            false,
            &command("a+b"),
        );
        assert!(outcome.error.is_some_and(|e| e.contains("invalid flag")));
    }

    #[test]
    fn validate_item_rejects_patterns_kube_bench_would_crash_on() {
        let valid = [
            flag_eq("--anonymous-auth", "false"),
            Item {
                env: "ETCD_CERT_FILE",
                ..Item::default()
            },
            Item {
                path: "{.a",
                ..Item::default()
            },
            Item {
                flag: "--f",
                op: "regex",
                value: r"\/etc\/.*\.crt",
                ..Item::default()
            },
            Item {
                flag: "--f",
                unset: true,
                op: "regex",
                value: "(",
                ..Item::default()
            },
        ];
        for item in valid {
            assert_eq!(validate_item(&item.build()), Ok(()));
        }
        let invalid = [
            (
                Item {
                    flag: "--a(",
                    ..Item::default()
                },
                "invalid flag",
            ),
            (
                Item {
                    flag: "--a[",
                    ..Item::default()
                },
                "invalid flag",
            ),
            (
                Item {
                    env: "A(",
                    ..Item::default()
                },
                "invalid env",
            ),
            (
                Item {
                    flag: "--f",
                    op: "regex",
                    value: "(",
                    ..Item::default()
                },
                "invalid regex",
            ),
        ];
        for (item, message) in invalid {
            let error = validate_item(&item.build()).expect_err(message);
            assert!(error.contains(message), "{error}");
        }
    }

    /// Whether the real JSONPath backend is linked in (this branch carries a placeholder;
    /// the test below runs for real once the backend lands).
    fn jsonpath_available() -> bool {
        crate::matching::jsonpath::lookup_path("a: 1", "{.a}")
            != Err("jsonpath not available".to_owned())
    }

    #[test]
    fn the_config_decides_when_the_flag_is_missing_once_jsonpath_lands() {
        if !jsonpath_available() {
            return;
        }
        let item = Item {
            flag: "--anonymous-auth",
            path: "{.authentication.anonymous.enabled}",
            op: "eq",
            value: "false",
            ..Item::default()
        };
        let config = "authentication:\n  anonymous:\n    enabled: false\n";
        let outcome = item_outcome(item.clone(), false, &with_config("kubelet", config, ""));
        assert_eq!(outcome.source, SourceKind::Config);
        assert!(outcome.passed);
        assert_eq!(
            outcome.expected,
            "'{.authentication.anonymous.enabled}' is equal to 'false'"
        );
        assert_eq!(outcome.actual, config.trim_end());
        // The command line overrides the config file.
        let outcome = item_outcome(
            item,
            false,
            &with_config("kubelet --anonymous-auth=true", config, ""),
        );
        assert_eq!(outcome.source, SourceKind::Command);
        assert!(!outcome.passed);
    }

    #[test]
    fn decisive_value_names_the_tested_key_and_its_value() {
        let config =
            "authentication:\n  anonymous:\n    enabled: true\n  webhook:\n    enabled: true\n";
        let anonymous = Item {
            flag: "--anonymous-auth",
            path: "{.authentication.anonymous.enabled}",
            op: "eq",
            value: "false",
            ..Item::default()
        };
        let outcome = evaluate_tests(
            &tests("", &[anonymous]),
            false,
            &with_config("kubelet --config=/var/lib/kubelet/config.yaml", config, ""),
        );
        assert!(!outcome.passed);
        assert_eq!(outcome.decisive(), "authentication.anonymous.enabled: true");

        let outcome = evaluate_tests(
            &tests("", &[flag_eq("--anonymous-auth", "false")]),
            false,
            &command("kube-apiserver --anonymous-auth=true --profiling=false"),
        );
        assert_eq!(outcome.decisive(), "--anonymous-auth=true");

        let profiling = flag_eq("--profiling", "false");
        let outcome = evaluate_tests(
            &tests("", &[profiling]),
            false,
            &command("kube-apiserver --anonymous-auth=true"),
        );
        assert_eq!(outcome.decisive(), "--profiling not set");

        let mode = Item {
            flag: "permissions",
            op: "bitmask",
            value: "600",
            ..Item::default()
        };
        let outcome = evaluate_tests(&tests("", &[mode]), false, &command("permissions=644"));
        assert!(!outcome.passed);
        assert_eq!(outcome.decisive(), "permissions=644");

        let owner = Item {
            flag: "root:root",
            ..Item::default()
        };
        let outcome = evaluate_tests(&tests("", &[owner]), false, &command("root:root"));
        assert!(outcome.passed);
        assert_eq!(outcome.decisive(), "root:root");

        assert_eq!(display_path("{.tlsCertFile}"), "tlsCertFile");
        let range = "{range .tlsCipherSuites[:]}{@}{','}{end}";
        assert_eq!(display_path(range), range);
    }

    #[test]
    fn decisive_value_lists_only_the_items_that_decided() {
        let items = [flag_eq("--a", "1"), flag_eq("--b", "1")];
        // A failed `and`: the failing item alone.
        let outcome = evaluate_tests(&tests("and", &items), false, &command("x --a=1 --b=2"));
        assert_eq!(outcome.decisive(), "--b=2");
        // A passed `or`: the passing item alone.
        let outcome = evaluate_tests(&tests("or", &items), false, &command("x --a=1 --b=2"));
        assert_eq!(outcome.decisive(), "--a=1");
        // A failed `or`: every item.
        let outcome = evaluate_tests(&tests("or", &items), false, &command("x --a=3"));
        assert_eq!(outcome.decisive(), "--a=3; --b not set");
        // An unknown bin_op decides nothing.
        let outcome = evaluate_tests(&tests("xor", &items), false, &command("x --a=1"));
        assert_eq!(outcome.decisive(), "");
    }

    #[test]
    fn decisive_value_is_one_bounded_line_whatever_the_node_printed() {
        let long = format!("x --tls-cipher-suites={}", "A".repeat(5_000));
        let outcome = evaluate_tests(
            &tests("", &[flag_eq("--tls-cipher-suites", "B")]),
            false,
            &command(Box::leak(long.into_boxed_str())),
        );
        let decisive = outcome.decisive();
        assert!(decisive.starts_with("--tls-cipher-suites=AAA"));
        assert!(decisive.ends_with('…'));
        assert!(decisive.chars().count() <= DECISIVE_TEXT_LIMIT);
        assert!(!decisive.contains('\n'));
    }
}
