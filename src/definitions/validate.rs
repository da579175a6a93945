//! Load-time checks of a controls file: what would crash or silently misbehave at run time
//! (flags, env names and `regex` values that are not regular expressions, JSONPath
//! templates that do not parse, jq filters that reach outside the filter).
//!
//! Also compiled into `build.rs`, which checks the embedded benchmarks at build time: it
//! uses nothing of the crate but the model, the errors and `crate::matching`.

use super::error::DefinitionError;
use super::model::{Audit, Check, Controls, TestItem};
use super::probe::Probe;
use crate::matching::{compare, jq_names, jsonpath, lookup};

/// Rejects at load time what would crash or silently misbehave at run time: flags and
/// `regex` values that are not regular expressions, JSONPath templates that do not parse.
pub fn validate(
    file: &std::path::Path,
    text: &str,
    controls: &Controls,
) -> Result<(), DefinitionError> {
    controls
        .groups
        .iter()
        .flat_map(|g| &g.checks)
        .try_for_each(|check| validate_check(file, text, check))
}

/// [`validate`] for one check; `text` is the file's text, for the line of the check.
pub fn validate_check(
    file: &std::path::Path,
    text: &str,
    check: &Check,
) -> Result<(), DefinitionError> {
    let at = |problem: String| {
        let line = line_of_check(text, &check.id);
        DefinitionError::Syntax {
            file: file.to_path_buf(),
            line,
            column: 1,
            message: format!("check {}: {problem}", check.id),
        }
    };
    for audit in [&check.audit, &check.audit_config, &check.audit_env] {
        if let Some(name) = forbidden_jq_name(audit) {
            return Err(at(format!(
                "its jq filter uses `{name}`, which benchmark files may not use (it reaches outside the filter: the run's exit, the environment, other inputs or the terminal)"
            )));
        }
    }
    for item in check.tests.iter().flat_map(|t| &t.test_items) {
        validate_item(item).map_err(|e| at(format!("invalid test item: {e}")))?;
        if !item.path.is_empty() {
            jsonpath::validate_template(&item.path).map_err(|e| {
                at(format!(
                    "path `{}` is not a valid JSONPath template: {e}",
                    item.path
                ))
            })?;
        }
    }
    Ok(())
}

/// The first forbidden name a probe's jq filter uses (docs/security.md).
fn forbidden_jq_name(audit: &Audit) -> Option<&'static str> {
    match audit {
        Audit::Probe(Probe::ApiObjects { jq: Some(jq), .. } | Probe::ApiQuery { jq, .. }) => {
            jq_names::forbidden_name(jq)
        }
        _ => None,
    }
}

/// 1-based line of `id: <id>` for a check, so messages can point at it.
fn line_of_check(text: &str, id: &str) -> u64 {
    text.lines()
        .position(|line| {
            let line = line.trim_start().trim_start_matches("- ").trim();
            line.strip_prefix("id:")
                .map(|rest| rest.trim().trim_matches(|c| c == '"' || c == '\'') == id)
                .unwrap_or(false)
        })
        .map(|i| i as u64 + 1)
        .unwrap_or(1)
}

/// Load-time checks for one test item: patterns kube-bench would crash on (a flag or env
/// name that breaks its lookup regex, an invalid `regex` compare value). A `regex` value is
/// only checked where kube-bench could reach it, on a `set: true` item.
pub fn validate_item(item: &TestItem) -> Result<(), String> {
    lookup::validate_flag(&item.flag)?;
    lookup::validate_env(&item.env)?;
    match &item.compare {
        Some(c) if item.set && c.op == "regex" => compare::validate_regex(&c.value),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::parse::parse_controls;

    #[test]
    fn finds_the_line_of_a_check_id() {
        let text = "groups:\n  - id: 1.1\n    checks:\n      - id: 1.1.1\n      - id: \"1.1.2\"\n";
        assert_eq!(line_of_check(text, "1.1.2"), 5);
        assert_eq!(line_of_check(text, "1.1.1"), 4);
    }

    #[test]
    fn a_jq_filter_that_reaches_outside_is_refused_at_load() {
        for jq in [
            "halt",
            "env | tostring",
            ".a | halt_error",
            "[inputs]",
            "$__loc__",
        ] {
            let yaml = format!(
                "---\ncontrols:\ntype: policies\ngroups:\n  - id: 5.1\n    checks:\n      - id: 5.1.1\n        audit:\n          probe: api_objects\n          kind: pods\n          jq: '{jq}'\n"
            );
            let file = std::path::Path::new("p.yaml");
            let controls = parse_controls(file, &yaml, &mut |_| {}).unwrap();
            let error = validate(file, &yaml, &controls).unwrap_err().to_string();
            assert!(
                error.starts_with("p.yaml:7:") && error.contains("may not use"),
                "{jq}: {error}"
            );
        }
    }
}
