//! The baseline file: YAML, strictly validated, each entry keeping its line number.
//!
//! ```yaml
//! version: 1
//! exceptions:
//!   - check: "1.2.*"            # an id or a glob
//!     nodes: ["cp-*"]           # optional: globs on the node name
//!     targets: [master]         # optional: globs on the target (node type)
//!     benchmark: "cis-1.*"      # optional: a glob on the benchmark name
//!     reason: "kubeadm default, tracked upstream"
//!     expires: 2026-12-31       # optional: valid through this date, inclusive
//!     owner: platform-team      # optional
//!     ticket: OPS-1234          # optional
//! ```

use std::path::Path;

use globset::{Glob, GlobMatcher};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::BaselineError;

/// The only file version so far; a file without `version` is read as this one.
pub const FILE_VERSION: u32 = 1;

/// One exception as written in the file, without compiled patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub check: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<String>,
    pub reason: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_date"
    )]
    pub expires: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

fn serialize_date<S: serde::Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    match date {
        Some(date) => s.serialize_str(&date.to_string()),
        None => s.serialize_none(),
    }
}

impl Entry {
    /// What makes two entries the same exception: the check pattern and the whole scope.
    /// The order of the globs in a list does not matter.
    pub fn identity(&self) -> (String, Vec<String>, Vec<String>, Option<String>) {
        let mut nodes = self.nodes.clone();
        nodes.sort();
        let mut targets = self.targets.clone();
        targets.sort();
        (self.check.clone(), nodes, targets, self.benchmark.clone())
    }
}

/// A validated entry with its patterns compiled and its line in the file.
#[derive(Debug, Clone)]
pub struct Exception {
    pub entry: Entry,
    /// 1-based line of the entry (its first key) in the file.
    pub line: u32,
    check: GlobMatcher,
    nodes: Vec<GlobMatcher>,
    targets: Vec<GlobMatcher>,
    benchmark: Option<GlobMatcher>,
}

impl Exception {
    pub fn matches_check(&self, check_id: &str) -> bool {
        self.check.is_match(check_id)
    }

    /// Whether a result on this node, in a section of this target, of this benchmark, is
    /// within the entry's scope. An absent scope key matches everything.
    pub fn in_scope(&self, node: &str, target: &str, benchmark: &str) -> bool {
        any_or_unscoped(&self.nodes, node)
            && any_or_unscoped(&self.targets, target)
            && self
                .benchmark
                .as_ref()
                .is_none_or(|b| b.is_match(benchmark))
    }

    /// Valid through `expires`, inclusive: expired only from the day after.
    pub fn is_expired(&self, today: Date) -> bool {
        self.entry.expires.is_some_and(|expires| expires < today)
    }
}

fn any_or_unscoped(globs: &[GlobMatcher], value: &str) -> bool {
    globs.is_empty() || globs.iter().any(|g| g.is_match(value))
}

/// A loaded baseline file.
#[derive(Debug, Clone)]
pub struct BaselineFile {
    /// The path as the user gave it; used in messages and in the results.
    pub path: String,
    pub exceptions: Vec<Exception>,
}

impl BaselineFile {
    pub fn load(path: &Path) -> Result<BaselineFile, BaselineError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => BaselineError::Missing {
                file: display.clone(),
            },
            _ => BaselineError::Read {
                file: display.clone(),
                error,
            },
        })?;
        BaselineFile::parse(&display, &text)
    }

    /// Parses and validates; every error names `file`, the line and the problem.
    pub fn parse(file: &str, text: &str) -> Result<BaselineFile, BaselineError> {
        let raw = parse_yaml(file, text)?;
        if let Some(version) = &raw.version {
            if version.value != FILE_VERSION {
                return Err(invalid(
                    file,
                    line_of(&version.referenced),
                    format!(
                        "unsupported version {}; this cisgate reads version {FILE_VERSION}",
                        version.value
                    ),
                ));
            }
        }
        let mut exceptions: Vec<Exception> = Vec::new();
        // identity → line of the first entry with it: one lookup per entry, not a scan
        let mut seen = std::collections::HashMap::new();
        for raw_entry in raw.exceptions.unwrap_or_default() {
            let exception = validate_entry(file, raw_entry)?;
            if let Some(first_line) = seen.get(&exception.entry.identity()) {
                return Err(invalid(
                    file,
                    exception.line,
                    format!(
                        "duplicate entry: check {:?} with the same scope is already listed at line {}",
                        exception.entry.check, first_line
                    ),
                ));
            }
            seen.insert(exception.entry.identity(), exception.line);
            exceptions.push(exception);
        }
        Ok(BaselineFile {
            path: file.to_string(),
            exceptions,
        })
    }

    /// An empty allowlist (a file that does not exist yet, for `baseline update`).
    pub fn empty(path: &str) -> BaselineFile {
        BaselineFile {
            path: path.to_string(),
            exceptions: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: Option<Spanned<u32>>,
    exceptions: Option<Vec<Spanned<RawEntry>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    check: Option<Spanned<String>>,
    nodes: Option<Spanned<Vec<Spanned<String>>>>,
    targets: Option<Spanned<Vec<Spanned<String>>>>,
    benchmark: Option<Spanned<String>>,
    reason: Option<Spanned<String>>,
    expires: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
    ticket: Option<Spanned<String>>,
}

fn parse_yaml(file: &str, text: &str) -> Result<RawFile, BaselineError> {
    if text.trim().is_empty() {
        return Ok(RawFile {
            version: None,
            exceptions: None,
        });
    }
    serde_saphyr::from_str::<RawFile>(text).map_err(|error| {
        let line = error
            .location()
            .map(|l| l.line() as u32)
            .filter(|&l| l > 0)
            .unwrap_or(1);
        invalid(file, line, with_the_fix(&yaml_problem(&error)))
    })
}

/// What a baseline file looks like, told with every error in its structure.
const SHAPE: &str = "a baseline file is `exceptions:` followed by one entry per check, \
    each a list item such as `- check: \"1.2.*\"` with `reason: why it is accepted` \
    on the next line, indented under `check` (docs/baseline.md)";

/// The problem, followed by what the file should look like unless the message already names
/// what is allowed (an unknown or a repeated key).
fn with_the_fix(problem: &str) -> String {
    if problem.starts_with("unknown field") || problem.starts_with("duplicate mapping key") {
        return problem.to_string();
    }
    format!("{}; {SHAPE}", in_the_files_terms(problem))
}

/// The YAML library's wording for the mistakes people make, said in the file's terms.
fn in_the_files_terms(problem: &str) -> String {
    if problem.starts_with("cannot deserialize null into string") {
        "an empty key or value where text is expected (a line such as `: : :`, or a key with \
         nothing before its `:`)"
            .to_string()
    } else if problem.starts_with("expected sequence start") {
        "expected a list here: `exceptions`, `nodes` and `targets` hold lists, one `- item` per \
         line or `[a, b]`"
            .to_string()
    } else {
        problem.to_string()
    }
}

/// The first line of serde-saphyr's message, without its source snippet (we name the line).
fn yaml_problem(error: &serde_saphyr::Error) -> String {
    let rendered = error.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    // serde-saphyr ends its messages with "at line N, column M"; we lead with the line.
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let without_position = first
        .rfind(" at line ")
        .map_or(first, |position| &first[..position]);
    // Advice meant for the program's author, not for the file's.
    let without_advice = without_position
        .split(", set DuplicateKeyPolicy")
        .next()
        .and_then(|text| text.split("; use Option<").next())
        .unwrap_or(without_position);
    without_advice.trim_end_matches('.').to_string()
}

fn validate_entry(file: &str, raw: Spanned<RawEntry>) -> Result<Exception, BaselineError> {
    let line = line_of(&raw.referenced);
    let raw = raw.value;
    let check = required_text(
        file,
        line,
        "check",
        raw.check,
        "a check id or glob such as `1.2.*`",
    )?;
    let reason = required_text(
        file,
        line,
        "reason",
        raw.reason,
        "why this finding is accepted",
    )?;
    let nodes = optional_list(file, "nodes", raw.nodes)?;
    let targets = optional_list(file, "targets", raw.targets)?;
    let benchmark = optional_text(file, "benchmark", raw.benchmark)?;
    let owner = optional_text(file, "owner", raw.owner)?;
    let ticket = optional_text(file, "ticket", raw.ticket)?;
    let expires = match raw.expires {
        None => None,
        Some(text) => Some(parse_date(file, &text)?),
    };
    Ok(Exception {
        check: compile(file, &check)?,
        nodes: compile_all(file, &nodes)?,
        targets: compile_all(file, &targets)?,
        benchmark: benchmark.as_ref().map(|b| compile(file, b)).transpose()?,
        entry: Entry {
            check: check.value,
            nodes: nodes.into_iter().map(|n| n.value).collect(),
            targets: targets.into_iter().map(|t| t.value).collect(),
            benchmark: benchmark.map(|b| b.value),
            reason: reason.value,
            expires,
            owner: owner.map(|o| o.value),
            ticket: ticket.map(|t| t.value),
        },
        line,
    })
}

fn required_text(
    file: &str,
    entry_line: u32,
    key: &str,
    value: Option<Spanned<String>>,
    expected: &str,
) -> Result<Spanned<String>, BaselineError> {
    match value {
        None => Err(invalid(
            file,
            entry_line,
            format!("missing `{key}` ({expected})"),
        )),
        Some(value) if value.value.trim().is_empty() => Err(invalid(
            file,
            line_of(&value.referenced).max(entry_line),
            format!("empty `{key}` ({expected})"),
        )),
        Some(value) => Ok(value),
    }
}

fn optional_text(
    file: &str,
    key: &str,
    value: Option<Spanned<String>>,
) -> Result<Option<Spanned<String>>, BaselineError> {
    match value {
        Some(value) if value.value.trim().is_empty() => Err(invalid(
            file,
            line_of(&value.referenced),
            format!("empty `{key}`: leave the key out instead"),
        )),
        other => Ok(other),
    }
}

fn optional_list(
    file: &str,
    key: &str,
    value: Option<Spanned<Vec<Spanned<String>>>>,
) -> Result<Vec<Spanned<String>>, BaselineError> {
    let Some(list) = value else {
        return Ok(Vec::new());
    };
    if list.value.is_empty() {
        return Err(invalid(
            file,
            line_of(&list.referenced),
            format!(
                "empty `{key}` list would match nothing: leave the key out to match every {}",
                key.trim_end_matches('s')
            ),
        ));
    }
    list.value
        .into_iter()
        .map(|item| match optional_text(file, key, Some(item))? {
            Some(item) => Ok(item),
            None => unreachable!("optional_text keeps a present value"),
        })
        .collect()
}

fn parse_date(file: &str, text: &Spanned<String>) -> Result<Date, BaselineError> {
    let value = text.value.trim();
    // YYYY-MM-DD only: the parser also takes `20260101` and other ISO 8601 forms
    let shaped = value.len() == 10
        && value.char_indices().all(|(index, c)| match index {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    if !shaped {
        return Err(invalid(
            file,
            line_of(&text.referenced),
            format!("bad `expires` date {:?}: expected YYYY-MM-DD", text.value),
        ));
    }
    value.parse::<Date>().map_err(|error| {
        invalid(
            file,
            line_of(&text.referenced),
            format!(
                "bad `expires` date {:?}: expected YYYY-MM-DD ({error})",
                text.value
            ),
        )
    })
}

fn compile(file: &str, pattern: &Spanned<String>) -> Result<GlobMatcher, BaselineError> {
    Glob::new(&pattern.value)
        .map(|glob| glob.compile_matcher())
        .map_err(|error| {
            invalid(
                file,
                line_of(&pattern.referenced),
                format!("bad glob {:?}: {}", pattern.value, glob_problem(&error)),
            )
        })
}

fn glob_problem(error: &globset::Error) -> String {
    error.kind().to_string()
}

fn compile_all(
    file: &str,
    patterns: &[Spanned<String>],
) -> Result<Vec<GlobMatcher>, BaselineError> {
    patterns.iter().map(|p| compile(file, p)).collect()
}

fn line_of(location: &serde_saphyr::Location) -> u32 {
    location.line() as u32
}

fn invalid(file: &str, line: u32, problem: String) -> BaselineError {
    BaselineError::Invalid {
        file: file.to_string(),
        line,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BaselineFile, BaselineError> {
        BaselineFile::parse(".cisgate/baseline.yaml", text)
    }

    fn error_of(text: &str) -> String {
        parse(text)
            .expect_err("the file should be rejected")
            .to_string()
    }

    const VALID: &str = "\
version: 1
exceptions:
  - check: \"1.2.*\"
    reason: kubeadm default
  - check: 4.2.6
    nodes: [\"worker-*\", edge-1]
    targets: [node]
    benchmark: cis-1.*
    reason: protect-kernel-defaults breaks our CNI
    expires: 2026-12-31
    owner: platform-team
    ticket: OPS-1234
";

    #[test]
    fn a_valid_file_keeps_every_field_and_the_line_of_each_entry() {
        let file = parse(VALID).unwrap();
        assert_eq!(file.exceptions.len(), 2);
        assert_eq!(file.exceptions[0].line, 3);
        assert_eq!(file.exceptions[0].entry.check, "1.2.*");
        let second = &file.exceptions[1];
        assert_eq!(second.line, 5);
        assert_eq!(
            second.entry,
            Entry {
                check: "4.2.6".into(),
                nodes: vec!["worker-*".into(), "edge-1".into()],
                targets: vec!["node".into()],
                benchmark: Some("cis-1.*".into()),
                reason: "protect-kernel-defaults breaks our CNI".into(),
                expires: Some(jiff::civil::date(2026, 12, 31)),
                owner: Some("platform-team".into()),
                ticket: Some("OPS-1234".into()),
            }
        );
    }

    #[test]
    fn an_empty_file_or_an_empty_list_is_an_empty_allowlist() {
        assert!(parse("").unwrap().exceptions.is_empty());
        assert!(parse("exceptions: []\n").unwrap().exceptions.is_empty());
    }

    #[test]
    fn each_kind_of_error_names_the_file_the_line_and_the_problem() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "unknown field",
                "exceptions:\n  - check: 1.1.1\n    reason: r\n    expiry: 2026-01-01\n",
                ".cisgate/baseline.yaml:4: unknown field `expiry`",
            ),
            (
                "bad glob",
                "exceptions:\n  - check: \"1.2.[\"\n    reason: r\n",
                ".cisgate/baseline.yaml:2: bad glob \"1.2.[\"",
            ),
            (
                "bad node glob",
                "exceptions:\n  - check: 1.1.1\n    nodes:\n      - \"cp-{a\"\n    reason: r\n",
                ".cisgate/baseline.yaml:4: bad glob \"cp-{a\"",
            ),
            (
                "bad date",
                "exceptions:\n  - check: 1.1.1\n    reason: r\n    expires: 2026-02-30\n",
                ".cisgate/baseline.yaml:4: bad `expires` date \"2026-02-30\"",
            ),
            (
                "date without dashes",
                "exceptions:\n  - check: 1.1.1\n    reason: r\n    expires: 20260101\n",
                ".cisgate/baseline.yaml:4: bad `expires` date \"20260101\": expected YYYY-MM-DD",
            ),
            (
                "date in another format",
                "exceptions:\n  - check: 1.1.1\n    reason: r\n    expires: 31/12/2026\n",
                ".cisgate/baseline.yaml:4: bad `expires` date \"31/12/2026\": expected YYYY-MM-DD",
            ),
            (
                "missing reason",
                "exceptions:\n  - check: 1.1.1\n  - check: 1.1.2\n    owner: me\n",
                ".cisgate/baseline.yaml:2: missing `reason`",
            ),
            (
                "empty reason",
                "exceptions:\n  - check: 1.1.1\n    reason: \"  \"\n",
                ".cisgate/baseline.yaml:3: empty `reason`",
            ),
            (
                "missing check",
                "exceptions:\n  - reason: r\n",
                ".cisgate/baseline.yaml:2: missing `check`",
            ),
            (
                "duplicate entry",
                "exceptions:\n  - check: 1.1.1\n    nodes: [a, b]\n    reason: r\n  - check: 1.1.1\n    nodes: [b, a]\n    reason: other\n",
                ".cisgate/baseline.yaml:5: duplicate entry: check \"1.1.1\" with the same scope is already listed at line 2",
            ),
            (
                "empty scope list",
                "exceptions:\n  - check: 1.1.1\n    nodes: []\n    reason: r\n",
                ".cisgate/baseline.yaml:3: empty `nodes` list would match nothing",
            ),
            (
                "unknown top-level field",
                "version: 1\nexception:\n  - check: 1.1.1\n",
                ".cisgate/baseline.yaml:2: unknown field `exception`",
            ),
            (
                "unsupported version",
                "version: 2\nexceptions: []\n",
                ".cisgate/baseline.yaml:1: unsupported version 2",
            ),
            (
                "duplicate key in an entry",
                "exceptions:\n  - check: 1.1.1\n    reason: r\n    reason: s\n",
                ".cisgate/baseline.yaml:4: duplicate mapping key: reason",
            ),
            (
                "a list where a text is expected",
                "exceptions:\n  - check: [1.1.1]\n    reason: r\n",
                ".cisgate/baseline.yaml:2:",
            ),
            (
                "YAML syntax",
                "exceptions:\n  - check: [1.1.1\n    reason: r\n",
                ".cisgate/baseline.yaml:",
            ),
        ];
        for (kind, text, expected) in cases {
            let message = error_of(text);
            assert!(
                message.starts_with(expected),
                "{kind}: got {message:?}, expected it to start with {expected:?}"
            );
        }
    }

    #[test]
    fn yaml_library_advice_is_not_shown_to_users() {
        let message = error_of("exceptions:\n  - check: 1.1.1\n    reason: r\n    reason: s\n");
        assert_eq!(
            message,
            ".cisgate/baseline.yaml:4: duplicate mapping key: reason"
        );
        let message = error_of(": : :\n");
        assert!(!message.contains("Option<String>"), "{message}");
    }

    #[test]
    fn structure_errors_say_what_an_entry_looks_like() {
        let cases: &[(&str, &str, &str)] = &[
            (
                ": : :\n",
                ":1: an empty key or value where text is expected",
                "null key",
            ),
            (
                "exceptions:\n  check: 1.1.1\n  reason: r\n",
                ":2: expected a list here",
                "exceptions as a mapping",
            ),
            (
                "exceptions: 1.1.1\n",
                ":1: expected a list here",
                "exceptions as text",
            ),
            (
                "exceptions:\n  - check: 1.1.1\n    nodes: cp-1\n    reason: r\n",
                ":3: expected a list here",
                "nodes as text",
            ),
        ];
        for (text, expected, what) in cases {
            let message = error_of(text);
            assert!(
                message.starts_with(&format!(".cisgate/baseline.yaml{expected}")),
                "{what}: {message}"
            );
            assert!(
                message.contains("`- check: \"1.2.*\"` with `reason: why it is accepted`"),
                "{what}: {message}"
            );
        }
    }

    #[test]
    fn unquoted_ids_keep_their_text_as_written() {
        let file = parse("exceptions:\n  - check: 1.10\n    reason: yes\n").unwrap();
        assert_eq!(file.exceptions[0].entry.check, "1.10");
        assert_eq!(file.exceptions[0].entry.reason, "yes");
        assert!(file.exceptions[0].matches_check("1.10"));
    }

    #[test]
    fn loading_time_grows_linearly_with_the_entries() {
        let time_to_load = |entries: usize| {
            let mut text = String::from("exceptions:\n");
            for index in 0..entries {
                text.push_str(&format!(
                    "  - check: 1.1.1\n    nodes: [\"node-{index}-*\"]\n    reason: r\n"
                ));
            }
            let started = std::time::Instant::now();
            assert_eq!(parse(&text).unwrap().exceptions.len(), entries);
            started.elapsed().as_secs_f64()
        };
        let small = time_to_load(1_500);
        let large = time_to_load(6_000);
        // four times the entries: about four times the time (was sixteen: every entry
        // was compared with every earlier one)
        assert!(large < small * 8.0, "{small:.2} s, then {large:.2} s");
    }

    #[test]
    fn entries_with_different_scopes_are_not_duplicates() {
        let file = parse(
            "exceptions:\n  - check: 1.1.1\n    reason: r\n  - check: 1.1.1\n    nodes: [cp-1]\n    reason: r\n",
        )
        .unwrap();
        assert_eq!(file.exceptions.len(), 2);
    }
}
