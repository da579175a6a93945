//! Loading one target's controls file: substitution, parsing, validation.

use std::path::PathBuf;

use super::config::BenchmarkConfig;
use super::error::DefinitionError;
use super::model::{Audit, Check, Controls};
pub use super::parse::parse_controls;
use super::probe::Probe;
use super::tree::BenchmarkTree;
use super::validate::{validate, validate_check};
use super::variables::Variables;
use arcstr::ArcStr;

/// A parsed controls file. `to_run` holds the same file substituted with the paths a
/// shell on this machine must use, when they differ from the node's (`--root`) and a
/// check has a shell audit.
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
///
/// An embedded file comes parsed and validated from the build (`build.rs`); the node's
/// values are then substituted into the model, and only the checks they changed are
/// validated again. That is what substituting into the text and parsing gives whenever the
/// values read as themselves in YAML
/// ([`super::variables::NamedVariables::substitute_after_parsing_is_same`]);
/// otherwise, and for a `--config-dir` tree, the text is substituted and parsed.
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
    let named = variables.named_in_text(&raw);
    let compiled = tree
        .compiled(&relative)
        .filter(|_| named.substitute_after_parsing_is_same());
    let (mut controls, as_written) = match compiled {
        Some(compiled) => {
            let mut controls = from_compiled(&file, compiled, warn)?;
            let as_written = if needs_shell_form(variables, &controls) {
                AsWritten::Cloned(controls.clone())
            } else {
                AsWritten::NotNeeded
            };
            let changed = substitute_parsed(&mut controls, variables);
            check_node_type(&file, &controls, target)?;
            let checks = controls.groups.iter().flat_map(|g| &g.checks);
            for (check, _) in checks.zip(changed).filter(|(_, changed)| *changed) {
                validate_check(&file, &raw, check)?;
            }
            (controls, as_written)
        }
        None => {
            let on_node = variables.substitute_on_node(&raw);
            let controls = parse_controls(&file, &on_node, warn)?;
            check_node_type(&file, &controls, target)?;
            validate(&file, &on_node, &controls)?;
            let as_written = if needs_shell_form(variables, &controls) {
                AsWritten::FromText
            } else {
                AsWritten::NotNeeded
            };
            (controls, as_written)
        }
    };
    let env_binary = named.sole_binary();
    add_default_audit_env(&mut controls, &env_binary);
    let shell = match as_written {
        AsWritten::NotNeeded => None,
        AsWritten::Cloned(shell) => Some(shell),
        // Parsed before substituting: what `--root` holds never meets the YAML reader.
        AsWritten::FromText => Some(parse_controls(&file, &raw, &mut |_| {})?),
    };
    let to_run = shell.map(|mut shell| {
        substitute_shell_audits(&mut shell, variables);
        add_default_audit_env(&mut shell, &env_binary);
        shell
    });
    Ok(LoadedControls {
        file,
        controls,
        to_run,
    })
}

/// The controls as written, before the node's values were substituted, for the shell
/// audits' own form (see [`LoadedControls`]).
enum AsWritten {
    /// The variables read the same for the shell, or no audit runs a shell.
    NotNeeded,
    /// Compiled controls, copied before substituting.
    Cloned(Controls),
    /// Parsed again from the file's text.
    FromText,
}

fn needs_shell_form(variables: &Variables, controls: &Controls) -> bool {
    variables.differ_for_shell() && runs_shell(controls)
}

/// An embedded controls file as `build.rs` wrote it: its unknown keys (reported through
/// `warn`) and its checked model, before substitution.
fn from_compiled(
    file: &std::path::Path,
    compiled: &[u8],
    warn: &mut dyn FnMut(String),
) -> Result<Controls, DefinitionError> {
    let (warnings, controls) = super::compiled_form::decode(compiled)
        .map_err(|e| DefinitionError::invalid(file, format!("embedded form: {e}")))?;
    warnings.into_iter().for_each(&mut *warn);
    Ok(controls)
}

/// Substitutes the node's values into every text of the parsed file; for each check, in the
/// file's order, whether its texts changed.
fn substitute_parsed(controls: &mut Controls, variables: &Variables) -> Vec<bool> {
    let on_node = |text: &str| variables.substitute_on_node_if_changed(text);
    let mut changed_checks = Vec::new();
    let substituted = Substitution { on_node: &on_node };
    substituted.arc(&mut controls.version);
    substituted.arc(&mut controls.id);
    substituted.arc(&mut controls.text);
    substituted.arc(&mut controls.node_type);
    for group in &mut controls.groups {
        substituted.arc(&mut group.id);
        substituted.arc(&mut group.text);
        substituted.arc(&mut group.group_type);
        changed_checks.extend(
            group
                .checks
                .iter_mut()
                .map(|check| substituted.check(check)),
        );
    }
    changed_checks
}

/// One substitution over the texts of a parsed file; each method says whether it changed
/// anything.
struct Substitution<'a> {
    on_node: &'a dyn Fn(&str) -> Option<String>,
}

impl Substitution<'_> {
    fn text(&self, text: &mut String) -> bool {
        if !text.contains('$') {
            return false;
        }
        match (self.on_node)(text) {
            Some(new) => {
                *text = new;
                true
            }
            None => false,
        }
    }

    fn arc(&self, text: &mut ArcStr) -> bool {
        if !text.contains('$') {
            return false;
        }
        match (self.on_node)(text) {
            Some(new) => {
                *text = crate::shared_text::shared(&new);
                true
            }
            None => false,
        }
    }

    fn optional(&self, text: &mut Option<String>) -> bool {
        text.as_mut().is_some_and(|text| self.text(text))
    }

    fn check(&self, check: &mut Check) -> bool {
        let mut changed = false;
        for text in [
            &mut check.id,
            &mut check.text,
            &mut check.check_type,
            &mut check.remediation,
        ] {
            changed |= self.arc(text);
        }
        for audit in [
            &mut check.audit,
            &mut check.audit_config,
            &mut check.audit_env,
        ] {
            changed |= self.audit(audit);
        }
        if let Some(tests) = &mut check.tests {
            changed |= self.text(&mut tests.bin_op);
            for item in &mut tests.test_items {
                changed |= self.text(&mut item.flag);
                changed |= self.text(&mut item.path);
                changed |= self.text(&mut item.env);
                if let Some(compare) = &mut item.compare {
                    changed |= self.text(&mut compare.op);
                    changed |= self.text(&mut compare.value);
                }
            }
        }
        changed
    }

    fn audit(&self, audit: &mut Audit) -> bool {
        match audit {
            Audit::None => false,
            Audit::Shell(command) => self.text(command),
            Audit::Probe(probe) => self.probe(probe),
        }
    }

    fn probe(&self, probe: &mut Probe) -> bool {
        match probe {
            Probe::FileMode { path, glob, .. } | Probe::FileOwner { path, glob, .. } => {
                self.text(path) | self.optional(glob)
            }
            Probe::FileContent { path } => self.text(path),
            Probe::Process { bin } => self.text(bin),
            Probe::KubeletConfig { bin, config } => self.optional(bin) | self.optional(config),
            Probe::ApiObjects { kind, jq } => self.text(kind) | self.optional(jq),
            Probe::ApiQuery { kinds, jq } => {
                kinds
                    .iter_mut()
                    .fold(false, |changed, kind| self.text(kind) | changed)
                    | self.text(jq)
            }
            Probe::K3sArgs { component, config } => self.text(component) | self.optional(config),
            Probe::StaticPodFile { manifest, path, .. } => self.text(manifest) | self.text(path),
        }
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

/// Whether a check of the file has a shell audit, or will have the default `audit_env`:
/// only those read the shell form (`LoadedControls::to_run`), a file of probes needs none.
fn runs_shell(controls: &Controls) -> bool {
    controls.groups.iter().flat_map(|g| &g.checks).any(|c| {
        c.audits()
            .iter()
            .any(|audit| matches!(audit, Audit::Shell(_)))
            || needs_default_audit_env(c)
    })
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
}

/// The embedded form (build.rs) against the YAML: for every embedded controls file, loading
/// it the fast way gives exactly what substituting its text and parsing gives.
#[cfg(test)]
mod embedded_form {
    use super::*;
    use crate::definitions::variables::Variable;

    /// Every `$name` in the text (lowercase letters and digits), as a variable with a path
    /// value on the node and a different one for the shell.
    fn variables_for(text: &str) -> Variables {
        let mut names: Vec<String> = text
            .match_indices('$')
            .map(|(at, _)| {
                let name: String = text[at + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    .collect();
                format!("${name}")
            })
            .filter(|name| name.len() > 1)
            .collect();
        names.sort();
        names.dedup();
        let entries = names
            .into_iter()
            .map(|name| Variable {
                on_node: format!("/node/{}", &name[1..]).into(),
                to_run: format!(
                    "{}/node/{}",
                    crate::definitions::variables::ROOT_IN_SHELL,
                    &name[1..]
                )
                .into(),
                component: name[1..].into(),
                is_bin: name.ends_with("bin"),
                name: name.into(),
            })
            .collect();
        Variables { entries }
    }

    #[test]
    fn every_embedded_controls_file_loads_as_its_yaml_does() {
        let cfg = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cfg");
        let embedded = BenchmarkTree::Embedded;
        let directory = BenchmarkTree::directory(&cfg).unwrap();
        let mut compared = 0;
        for benchmark in embedded.benchmark_names() {
            for entry in std::fs::read_dir(cfg.join(&benchmark)).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(target) = name.strip_suffix(".yaml") else {
                    continue;
                };
                if target == "config" {
                    continue;
                }
                let text = std::fs::read_to_string(entry.path()).unwrap();
                for variables in [Variables::default(), variables_for(&text)] {
                    let mut warnings = (Vec::new(), Vec::new());
                    let fast = load_controls(&embedded, &benchmark, target, &variables, &mut |w| {
                        warnings.0.push(w)
                    });
                    let yaml =
                        load_controls(&directory, &benchmark, target, &variables, &mut |w| {
                            warnings.1.push(w)
                        });
                    let (fast, yaml) = match (fast, yaml) {
                        (Ok(fast), Ok(yaml)) => (fast, yaml),
                        (fast, yaml) => {
                            assert_eq!(
                                fast.map(|_| ())
                                    .map_err(|e| e.to_string().replace("<embedded cfg>", "")),
                                yaml.map(|_| ()).map_err(|e| e
                                    .to_string()
                                    .replace(&cfg.display().to_string(), "")),
                                "{benchmark}/{target}"
                            );
                            continue;
                        }
                    };
                    assert_eq!(fast.controls, yaml.controls, "{benchmark}/{target}");
                    assert_eq!(fast.to_run, yaml.to_run, "{benchmark}/{target}");
                    assert_eq!(warnings.0.len(), warnings.1.len(), "{benchmark}/{target}");
                    compared += 1;
                }
            }
        }
        assert!(compared >= 80, "compared only {compared} loads");
    }
}
