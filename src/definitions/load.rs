//! Loading one target's controls file: substitution, parsing, validation.

use std::path::PathBuf;

use super::config::BenchmarkConfig;
use super::error::DefinitionError;
use super::model::{Audit, Check, Controls};
use super::probe::Probe;
use super::tree::BenchmarkTree;
use super::variables::Variables;
use crate::engine::{evaluate, jq_bounds, jsonpath};

/// A parsed controls file. `to_run` holds the same file substituted with the paths a
/// shell on this machine must use, when they differ from the node's (`--root`).
#[derive(Debug, Clone)]
pub struct LoadedControls {
    pub file: PathBuf,
    pub controls: Controls,
    pub to_run: Option<Controls>,
}

/// The file of a target within a benchmark, e.g. `cis-1.12/master.yaml`.
/// Every controls file of a benchmark, as written (no `$variable` substitution), in the order
/// of its target mapping; an error when the benchmark has none.
pub fn benchmark_controls(
    tree: &BenchmarkTree,
    benchmark: &str,
) -> Result<Vec<(String, Controls)>, DefinitionError> {
    let config = BenchmarkConfig::load(tree, Some(benchmark))?;
    let targets = config.targets_of(benchmark).unwrap_or_else(|| {
        [
            "master",
            "controlplane",
            "etcd",
            "node",
            "policies",
            "managedservices",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    });
    let mut loaded = Vec::new();
    for target in targets {
        let relative = controls_file(benchmark, &target);
        let Some(text) = tree.read(&relative)? else {
            continue;
        };
        let controls = parse_controls(&tree.display_path(&relative), &text, &mut |_| {})?;
        loaded.push((target, controls));
    }
    if loaded.is_empty() {
        return Err(DefinitionError::Selection(format!(
            "unknown benchmark `{benchmark}` (available: {})",
            tree.benchmark_names().join(", ")
        )));
    }
    Ok(loaded)
}

pub fn controls_file(benchmark: &str, target: &str) -> String {
    format!("{benchmark}/{target}.yaml")
}

/// Reads, substitutes, parses and validates one target's controls. Unknown keys are
/// ignored, as kube-bench ignores them, and reported through `warn`.
pub fn load_controls(
    tree: &BenchmarkTree,
    benchmark: &str,
    target: &str,
    variables: &Variables,
    warn: &mut dyn FnMut(String),
) -> Result<LoadedControls, DefinitionError> {
    let relative = controls_file(benchmark, target);
    let file = tree.display_path(&relative);
    let raw = tree.read(&relative)?.ok_or_else(|| {
        DefinitionError::invalid(
            &file,
            format!("controls file for target `{target}` not found in benchmark `{benchmark}`"),
        )
    })?;
    let on_node = variables.substitute_on_node(&raw);
    let mut controls = parse_controls(&file, &on_node, warn)?;
    check_node_type(&file, &controls, target)?;
    validate(&file, &on_node, &controls)?;
    let env_binary = variables.sole_binary_in(&raw);
    add_default_audit_env(&mut controls, &env_binary);
    let to_run = if variables.differ_for_shell() {
        // Parsed before substituting: what `--root` holds never meets the YAML reader.
        let mut shell = parse_controls(&file, &raw, &mut |_| {})?;
        substitute_shell_audits(&mut shell, variables);
        add_default_audit_env(&mut shell, &env_binary);
        Some(shell)
    } else {
        None
    };
    Ok(LoadedControls {
        file,
        controls,
        to_run,
    })
}

/// Parses controls text, reporting every key the model does not know.
pub fn parse_controls(
    file: &std::path::Path,
    text: &str,
    warn: &mut dyn FnMut(String),
) -> Result<Controls, DefinitionError> {
    let mut ignored = Vec::new();
    let controls: Option<Controls> = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_ignored::deserialize(de, |path| ignored.push(path.to_string().replace("?.", "")))
    })
    .map_err(|e| explain_field(DefinitionError::from_yaml(file, &e), text))?;
    for key in ignored.into_iter().filter(|k| k != "controls") {
        warn(format!("{}: unknown key `{key}` ignored", file.display()));
    }
    controls.ok_or_else(|| DefinitionError::invalid(file, "the file is empty"))
}

/// Names the key at the error's line and what that key expects, where the YAML reader's
/// own words ("expected string scalar") would leave a reader guessing.
fn explain_field(error: DefinitionError, text: &str) -> DefinitionError {
    let DefinitionError::Syntax {
        file,
        line,
        column,
        message,
    } = error
    else {
        return error;
    };
    let key = text
        .lines()
        .nth(line.saturating_sub(1) as usize)
        .and_then(|l| l.trim_start().trim_start_matches("- ").split_once(':'))
        .map(|(k, _)| k.trim().to_owned())
        .filter(|k| !k.is_empty() && !k.contains(' '));
    let message = match key.as_deref() {
        Some(k @ ("scored" | "set" | "use_multiple_values" | "disableenvtesting")) => {
            format!("`{k}` expects true or false ({message})")
        }
        Some(k) => format!("`{k}`: {message}"),
        None => message,
    };
    DefinitionError::Syntax {
        file,
        line,
        column,
        message,
    }
}

fn check_node_type(
    file: &std::path::Path,
    controls: &Controls,
    target: &str,
) -> Result<(), DefinitionError> {
    if controls.node_type == target {
        Ok(())
    } else {
        Err(DefinitionError::invalid(
            file,
            format!(
                "non-{target} controls file specified: its `type` is `{}`, expected `{target}`",
                controls.node_type
            ),
        ))
    }
}

/// Rejects at load time what would crash or silently misbehave at run time: flags and
/// `regex` values that are not regular expressions, JSONPath templates that do not parse.
fn validate(
    file: &std::path::Path,
    text: &str,
    controls: &Controls,
) -> Result<(), DefinitionError> {
    for check in controls.groups.iter().flat_map(|g| &g.checks) {
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
            evaluate::validate_item(item).map_err(|e| at(format!("invalid test item: {e}")))?;
            if !item.path.is_empty() {
                jsonpath::validate_template(&item.path).map_err(|e| {
                    at(format!(
                        "path `{}` is not a valid JSONPath template: {e}",
                        item.path
                    ))
                })?;
            }
        }
    }
    Ok(())
}

/// The first forbidden name a probe's jq filter uses (docs/security.md).
fn forbidden_jq_name(audit: &Audit) -> Option<&'static str> {
    match audit {
        Audit::Probe(Probe::ApiObjects { jq: Some(jq), .. } | Probe::ApiQuery { jq, .. }) => {
            jq_bounds::forbidden_name(jq)
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

/// Substitutes the variables, as a shell here must see them, into every shell audit.
fn substitute_shell_audits(controls: &mut Controls, variables: &Variables) {
    for check in controls.groups.iter_mut().flat_map(|g| &mut g.checks) {
        for audit in [
            &mut check.audit,
            &mut check.audit_config,
            &mut check.audit_env,
        ] {
            if let Audit::Shell(text) = audit {
                *text = variables.substitute_to_run(text);
            }
        }
    }
}

/// kube-bench generates an `audit_env` for checks whose tests read the environment and
/// that have none of their own (§5.4).
fn add_default_audit_env(controls: &mut Controls, binary: &str) {
    for check in controls.groups.iter_mut().flat_map(|g| &mut g.checks) {
        if needs_default_audit_env(check) {
            check.audit_env = Audit::Shell(format!(
                "cat \"/proc/$(/bin/ps -C {binary} -o pid= | tr -d ' ')/environ\" | tr '\\0' '\\n'"
            ));
        }
    }
}

fn needs_default_audit_env(check: &Check) -> bool {
    let Some(tests) = &check.tests else {
        return false;
    };
    !check.disableenvtesting
        && tests.test_items.iter().any(|item| !item.env.is_empty())
        && check.audit_env.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_a_check_id() {
        let text = "groups:\n  - id: 1.1\n    checks:\n      - id: 1.1.1\n      - id: \"1.1.2\"\n";
        assert_eq!(line_of_check(text, "1.1.2"), 5);
        assert_eq!(line_of_check(text, "1.1.1"), 4);
    }

    #[test]
    fn default_audit_env_only_when_tests_read_env() {
        let yaml = "---\ncontrols:\ntype: node\ngroups:\n  - id: 4.2\n    checks:\n      - id: 4.2.1\n        tests:\n          test_items:\n            - env: KUBELET_X\n      - id: 4.2.2\n        tests:\n          test_items:\n            - flag: --x\n      - id: 4.2.3\n        disableenvtesting: true\n        tests:\n          test_items:\n            - env: KUBELET_X\n";
        let mut controls =
            parse_controls(std::path::Path::new("n.yaml"), yaml, &mut |_| {}).unwrap();
        add_default_audit_env(&mut controls, "kubelet");
        let checks = &controls.groups[0].checks;
        assert_eq!(
            checks[0].audit_env,
            Audit::Shell(
                "cat \"/proc/$(/bin/ps -C kubelet -o pid= | tr -d ' ')/environ\" | tr '\\0' '\\n'"
                    .into()
            )
        );
        assert_eq!(checks[1].audit_env, Audit::None);
        assert_eq!(checks[2].audit_env, Audit::None);
    }

    #[test]
    fn unknown_keys_are_reported_not_fatal() {
        let yaml = "---\ncontrols:\ntype: node\nconstraints: {a: 1}\ngroups:\n  - id: 4.2\n    checks:\n      - id: 4.2.1\n        frobnicate: yes\n";
        let mut warnings = Vec::new();
        parse_controls(std::path::Path::new("n.yaml"), yaml, &mut |w| {
            warnings.push(w)
        })
        .unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("constraints"));
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

    #[test]
    fn a_wrong_type_names_file_line_and_column() {
        let yaml = "---\ncontrols:\ntype: node\ngroups:\n  - id: 4.2\n    checks:\n      - id: 4.2.1\n        scored: [1, 2]\n";
        let err = parse_controls(std::path::Path::new("n.yaml"), yaml, &mut |_| {}).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("n.yaml:8:"), "{text}");
    }
}
