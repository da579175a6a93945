//! Where a user fixes a finding: the file that decides the check and, where it can be
//! pinned, the line of the flag or key (or of the file's first line when it is absent).

use crate::definitions::model::{Audit, Check};
use crate::definitions::probe::Probe;
use crate::definitions::variables::Variables;
use crate::facts::Facts;
use crate::matching::lines::lines_of;
use crate::results::Location;

use arcstr::ArcStr;
use memchr::memmem::{self, Finder};

use super::evaluate::SourceKind;
use super::run::TargetContext;
use crate::shared_text::shared;

/// The file an audit names, as far as the definitions and the loaded controls' variables
/// decide it: worked out once per loaded controls file rather than per node and check.
#[derive(Debug, Clone, Default)]
pub enum AuditFile {
    /// The audit names no file.
    #[default]
    None,
    /// The same file on every node.
    Fixed(ArcStr),
    /// Known only from the node's facts (its kubelet's `--config`, a static pod's path).
    OnNode,
}

impl AuditFile {
    pub fn of(audit: &Audit, variables: &Variables) -> AuditFile {
        let fixed =
            |path: Option<String>| path.map_or(AuditFile::None, |p| AuditFile::Fixed(shared(&p)));
        match audit {
            Audit::None => AuditFile::None,
            Audit::Shell(command) => fixed(file_named_in(command, variables)),
            Audit::Probe(probe) => match probe {
                Probe::FileMode { path, .. }
                | Probe::FileOwner { path, .. }
                | Probe::FileContent { path } => AuditFile::Fixed(shared(path)),
                Probe::Process { bin } => fixed(config_of_binary(bin, variables)),
                Probe::K3sArgs { config, .. } => AuditFile::Fixed(shared(
                    config.as_deref().unwrap_or(super::k3s::DEFAULT_CONFIG),
                )),
                Probe::KubeletConfig { .. } | Probe::StaticPodFile { .. } => AuditFile::OnNode,
                Probe::ApiObjects { .. } | Probe::ApiQuery { .. } => AuditFile::None,
            },
        }
    }

    fn on(&self, audit: &Audit, facts: &dyn Facts) -> Option<ArcStr> {
        match self {
            AuditFile::None => None,
            AuditFile::Fixed(path) => Some(path.clone()),
            AuditFile::OnNode => file_on_node(audit, facts).map(|path| shared(&path)),
        }
    }
}

/// What locating a check needs that the definitions and the loaded variables decide.
#[derive(Debug, Default)]
pub struct CheckPlaces {
    /// [`AuditFile::of`] the check's `audit` and `audit_config`.
    files: [AuditFile; 2],
    /// Where a missing flag belongs (`- kube-apiserver`), when the check names a component,
    /// as a searcher built once like the keys'.
    program_line: Option<Finder<'static>>,
    /// A searcher for each flag and environment name the check's tests name: building one
    /// per finding was 1.5% of a fleet scan.
    key_finders: Vec<Finder<'static>>,
}

impl CheckPlaces {
    pub fn of(check: &Check, variables: &Variables) -> CheckPlaces {
        CheckPlaces {
            files: [&check.audit, &check.audit_config].map(|audit| AuditFile::of(audit, variables)),
            program_line: program_line(check, variables),
            key_finders: key_finders(check),
        }
    }

    /// The line of the first occurrence of a flag or name in `text`.
    fn line_of_text_key(&self, text: &str, key: &str) -> Option<usize> {
        let needle = key.trim();
        if needle.is_empty() || needle.contains('\n') {
            return None;
        }
        let at = match self
            .key_finders
            .iter()
            .find(|f| f.needle() == needle.as_bytes())
        {
            Some(finder) => finder.find(text.as_bytes()),
            None => memmem::find(text.as_bytes(), needle.as_bytes()),
        }?;
        Some(line_index_at(text, at))
    }
}

fn key_finders(check: &Check) -> Vec<Finder<'static>> {
    let items = check.tests.iter().flat_map(|tests| &tests.test_items);
    let mut finders: Vec<Finder<'static>> = Vec::new();
    for key in items.flat_map(|item| [item.flag.trim(), item.env.trim()]) {
        if !key.is_empty() && !finders.iter().any(|f| f.needle() == key.as_bytes()) {
            finders.push(Finder::new(key).into_owned());
        }
    }
    finders
}

/// The location of a check, from its probes or shell audit and the test item that decided
/// it (its source and key: the first failing item, else the first).
/// The line is pinned only when `pin_line` (a finding), since that reads the file.
pub fn locate(
    check: &Check,
    places: &CheckPlaces,
    decisive: Option<(SourceKind, &str)>,
    ctx: &TargetContext,
    pin_line: bool,
) -> Option<Location> {
    let facts = ctx.facts;
    let files = &places.files;
    let from_config = decisive.is_some_and(|(source, _)| source == SourceKind::Config);
    let audits = [(&check.audit, &files[0]), (&check.audit_config, &files[1])];
    let audits = if from_config {
        [audits[1], audits[0]]
    } else {
        audits
    };
    let path = audits
        .iter()
        .find_map(|(audit, file)| file.on(audit, facts))?;
    let line = decisive.filter(|_| pin_line).and_then(|(source, key)| {
        let text = ctx.answers.file_text(facts, &path)?;
        line_of_key(&text, source, key, places)
            .or_else(|| line_of_program(&text, places.program_line.as_ref()?))
    });
    let source_file = facts
        .source_file(&path)
        .map(|file| file.display().to_string());
    Some(Location {
        path,
        line,
        source_file,
    })
}

/// The file of a probe whose file the node's facts decide.
fn file_on_node(audit: &Audit, facts: &dyn Facts) -> Option<String> {
    match audit {
        Audit::Probe(Probe::KubeletConfig { config, .. }) => {
            kubelet_config_file(facts).or(config.clone())
        }
        Audit::Probe(Probe::StaticPodFile { manifest, path, .. }) => {
            super::static_pod::node_path(facts, manifest, path)
                .ok()
                .flatten()
                .or_else(|| Some(manifest.clone()))
        }
        _ => None,
    }
}

/// The `--config` file of the running kubelet.
fn kubelet_config_file(facts: &dyn Facts) -> Option<String> {
    let processes = facts.processes().ok()?;
    let kubelet = processes
        .iter()
        .find(|p| super::substitute::runs_binary(p, "kubelet"))?;
    kubelet.argv.iter().find_map(|arg| {
        arg.strip_prefix("--config=")
            .map(str::to_owned)
            .filter(|p| !p.is_empty())
    })
}

/// A component's `conf` file (the static pod manifest, for control-plane components).
fn config_of_binary(bin: &str, variables: &Variables) -> Option<String> {
    let component = variables
        .entries
        .iter()
        .find(|v| v.is_bin && v.on_node.trim_matches('\'') == bin.trim_matches('\''))?
        .component
        .clone();
    variables
        .on_node(&format!("${component}conf"))
        .filter(|p| p.starts_with('/'))
        .map(str::to_owned)
}

/// The longest substituted file path that a shell audit names, or the conf file of the
/// component whose binary it greps for.
fn file_named_in(command: &str, variables: &Variables) -> Option<String> {
    let mut paths: Vec<&str> = variables
        .entries
        .iter()
        .filter(|v| !v.is_bin && v.on_node.starts_with('/') && command.contains(v.on_node.as_str()))
        .map(|v| v.on_node.as_str())
        .collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
    if let Some(path) = paths.first() {
        return Some((*path).to_owned());
    }
    variables
        .entries
        .iter()
        .filter(|v| v.is_bin && command.contains(v.on_node.as_str()))
        .find_map(|v| config_of_binary(&v.on_node, variables))
}

/// The 1-based line of a flag (`--profiling`) or a config key path (`{.a.b}`) in a file.
fn line_of_key(text: &str, source: SourceKind, key: &str, places: &CheckPlaces) -> Option<u32> {
    let found = match source {
        // The first line holding the flag is the line of its first occurrence.
        SourceKind::Command | SourceKind::Env => places.line_of_text_key(text, key),
        SourceKind::Config => line_of_path(text, key),
    };
    found.map(|index| index as u32 + 1)
}

/// The line that starts a component's command in its static pod manifest
/// (`- kube-apiserver`), for the component whose binary the check's audits name.
fn program_line(check: &Check, variables: &Variables) -> Option<Finder<'static>> {
    let bin = [&check.audit, &check.audit_config]
        .iter()
        .find_map(|audit| match audit {
            Audit::Probe(Probe::Process { bin }) => Some(bin.trim_matches('\'')),
            Audit::Shell(command) => variables
                .entries
                .iter()
                .find(|v| v.is_bin && command.contains(v.on_node.as_str()))
                .map(|v| v.on_node.trim_matches('\'')),
            _ => None,
        })?;
    Some(Finder::new(&format!("- {bin}")).into_owned())
}

/// Where a missing flag belongs: the 1-based number of the first line that starts (after
/// indentation) with `program_line`.
fn line_of_program(text: &str, program_line: &Finder) -> Option<u32> {
    let at = program_line.find_iter(text.as_bytes()).find(|&at| {
        let line_start = memchr::memrchr(b'\n', &text.as_bytes()[..at]).map_or(0, |n| n + 1);
        text[line_start..at].trim_start().is_empty()
    })?;
    Some(line_index_at(text, at) as u32 + 1)
}

/// The 0-based index of the line holding byte `at` of `text`.
fn line_index_at(text: &str, at: usize) -> usize {
    memchr::memchr_iter(b'\n', &text.as_bytes()[..at]).count()
}

/// Follows `{.a.b.c}` through indented YAML (or JSON) keys, one segment after another;
/// the 0-based index of the last segment's line.
fn line_of_path(text: &str, template: &str) -> Option<usize> {
    let inner = template
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}');
    let segments: Vec<&str> = inner
        .split('.')
        .map(|s| s.split('[').next().unwrap_or(s))
        .filter(|s| !s.is_empty())
        .collect();
    if segments.is_empty() {
        return None;
    }
    let mut lines = lines_of(text).enumerate();
    let mut found = None;
    for segment in segments {
        let (index, _) = lines.find(|(_, line)| starts_with_key(line, segment))?;
        found = Some(index);
    }
    found
}

/// Whether a line, after its indentation and list dashes, starts with the YAML key `key:`
/// or the JSON key `"key"` (compared in place: this runs for every line of a file, per
/// check and node).
fn starts_with_key(line: &str, key: &str) -> bool {
    let mut trimmed = line.trim_start();
    while let Some(rest) = trimmed.strip_prefix("- ") {
        trimmed = rest;
    }
    let yaml = trimmed
        .strip_prefix(key)
        .is_some_and(|rest| rest.starts_with(':'));
    yaml || trimmed
        .strip_prefix('"')
        .and_then(|rest| rest.strip_prefix(key))
        .is_some_and(|rest| rest.starts_with('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_a_key_path_through_nested_yaml() {
        let text = "apiVersion: v1\nauthentication:\n  anonymous:\n    enabled: false\n  webhook:\n    enabled: true\n";
        assert_eq!(
            line_of_path(text, "{.authentication.webhook.enabled}"),
            Some(5)
        );
        assert_eq!(
            line_of_path(text, "{.authentication.anonymous.enabled}"),
            Some(3)
        );
        assert_eq!(line_of_path(text, "{.missing}"), None);
    }

    #[test]
    fn a_key_is_found_after_indentation_and_list_dashes_in_yaml_or_json() {
        assert!(starts_with_key("  - - enabled: true", "enabled"));
        assert!(starts_with_key("    \"enabled\": true,", "enabled"));
        assert!(!starts_with_key("  enabledness: true", "enabled"));
        assert!(!starts_with_key("  \"enabledness\": true", "enabled"));
        assert!(!starts_with_key("  -enabled: true", "enabled"));
        assert!(!starts_with_key("# enabled: true", "enabled"));
    }

    #[test]
    fn a_flag_is_pinned_to_the_line_of_its_first_occurrence() {
        let text = "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --profiling=true\n    - --profiling-x\n";
        let prepared = CheckPlaces {
            key_finders: vec![Finder::new("--profiling").into_owned(), Finder::new("spec")],
            ..CheckPlaces::default()
        };
        for places in [&CheckPlaces::default(), &prepared] {
            let line = |key| line_of_key(text, SourceKind::Command, key, places);
            assert_eq!(line("--profiling"), Some(5));
            assert_eq!(line(" --profiling "), Some(5));
            assert_eq!(line("spec"), Some(1));
            assert_eq!(line("--missing"), None);
            assert_eq!(line("  "), None);
        }
    }

    #[test]
    fn a_missing_flag_belongs_on_the_line_that_starts_the_command() {
        let text =
            "# runs - kube-apiserver\nspec:\n  - command:\n\t - kube-apiserver\r\n    - --x\n";
        let apiserver = Finder::new("- kube-apiserver");
        assert_eq!(line_of_program(text, &apiserver), Some(4));
        assert_eq!(line_of_program("- kube-apiserver", &apiserver), Some(1));
        assert_eq!(line_of_program(text, &Finder::new("- etcd")), None);
    }
}
