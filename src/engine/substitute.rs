//! Component resolution: which binary runs and which files exist for each component of
//! a target, giving the `$variables` (KUBE_BENCH_FORMAT.md §5.2–5.4).

use arcstr::ArcStr;

use crate::definitions::config::{BenchmarkConfig, ComponentConfig, ComponentFile, FileKind};
use crate::definitions::variables::{Variable, Variables, ROOT_IN_SHELL};
use crate::facts::{FactError, Facts, Process, ProcessList};
use crate::matching::go_regex;

/// The variables of a target and what could not be found.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub variables: Variables,
    /// Mandatory components that are not running, each with the candidates looked for.
    pub missing: Vec<MissingComponent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingComponent {
    pub component: String,
    pub candidates: Vec<String>,
    /// `$<component>bin`, the variable an audit names it by.
    pub bin_variable: ArcStr,
}

impl MissingComponent {
    pub fn describe(&self) -> String {
        format!(
            "the {} component is not running on this node (looked for a process running: {})",
            self.component,
            self.candidates.join(", ")
        )
    }
}

/// Resolves every component of a target against the facts.
pub fn resolve(
    config: &BenchmarkConfig,
    target: &str,
    facts: &dyn Facts,
) -> Result<Resolution, FactError> {
    resolve_components(&config.target_components(target), facts)
}

/// [`resolve`] with the target's components already read from its config
/// ([`BenchmarkConfig::components`]), as a fleet reads them once for all its nodes.
pub fn resolve_components(
    components: &[ComponentConfig],
    facts: &dyn Facts,
) -> Result<Resolution, FactError> {
    // read only when a component names its binaries: the policies target, whose checks
    // ask the API server, never walks /proc (a tenth of a section 5 scan's start)
    let processes = if components
        .iter()
        .any(|component| !component.bins.is_empty())
    {
        facts.processes()?
    } else {
        ProcessList::default()
    };
    let prefix = facts.shell_path_prefix().to_owned();
    let mut resolution = Resolution::default();
    let mut bins = Vec::new();
    for component in components {
        if component.bins.is_empty() {
            continue;
        }
        match running_binary(&component.bins, &processes) {
            Some(bin) => bins.push(bin_variable(component, bin.into())),
            None if component.optional => {
                bins.push(bin_variable(component, component.name.clone()))
            }
            None => resolution.missing.push(MissingComponent {
                component: component.name.to_string(),
                candidates: component.bins.clone(),
                bin_variable: component.bin_variable.clone(),
            }),
        }
    }
    // A mandatory component that is not running disables every `bin` substitution (§5.2).
    if resolution.missing.is_empty() {
        resolution.variables.entries.extend(bins);
    }
    for kind_index in 0..FileKind::ALL.len() {
        for component in components {
            let file = &component.files[kind_index];
            let value = existing_file(&file.candidates, facts)?
                .or_else(|| file.default.clone())
                .unwrap_or_else(|| component.name.clone());
            // The root is named through the environment, never pasted into the script.
            let to_run = if value.starts_with('/') && !prefix.is_empty() {
                format!("{ROOT_IN_SHELL}{value}").into()
            } else {
                value.clone()
            };
            let variable = file_variable(component, file, value, to_run);
            resolution.variables.entries.push(variable);
        }
    }
    Ok(resolution)
}

/// The variables of a target without a node to look at, for explaining a check: each
/// binary is its first candidate, each file the configured default or else the first
/// candidate. A scan resolves them against the node instead.
pub fn typical_variables(config: &BenchmarkConfig, target: &str) -> Variables {
    let components = config.components(target);
    let mut variables = Variables::default();
    for component in &components {
        let bin = component.bins.first().map(|bin| unquote(bin).into());
        variables.entries.push(bin_variable(
            component,
            bin.unwrap_or_else(|| component.name.clone()),
        ));
    }
    for kind_index in 0..FileKind::ALL.len() {
        for component in &components {
            let file = &component.files[kind_index];
            let value = file
                .default
                .clone()
                .or_else(|| file.candidates.first().cloned())
                .unwrap_or_else(|| component.name.clone());
            let variable = file_variable(component, file, value.clone(), value);
            variables.entries.push(variable);
        }
    }
    variables
}

/// `$<component><kind suffix>`, e.g. `$apiserverconf`.
fn file_variable(
    component: &ComponentConfig,
    file: &ComponentFile,
    on_node: ArcStr,
    to_run: ArcStr,
) -> Variable {
    Variable {
        name: file.variable.clone(),
        on_node,
        to_run,
        component: component.name.clone(),
        is_bin: false,
    }
}

fn bin_variable(component: &ComponentConfig, value: ArcStr) -> Variable {
    Variable {
        name: component.bin_variable.clone(),
        on_node: value.clone(),
        to_run: value,
        component: component.name.clone(),
        is_bin: true,
    }
}

/// The first candidate of `bins` that a process runs.
pub fn running_binary(candidates: &[String], processes: &[Process]) -> Option<String> {
    candidates
        .iter()
        .find(|candidate| processes.iter().any(|p| runs_binary(p, candidate)))
        .cloned()
}

/// kube-bench's rule: `ps -C <first word>` finds the process (it compares the kernel's
/// command name, which holds at most 15 bytes, so `kube-controller-manager` never matches
/// and benchmark files list `kube-controller` too), and its command line matches `^(\S*/)*<candidate>`.
pub fn runs_binary(process: &Process, candidate: &str) -> bool {
    let unquoted = unquote(candidate);
    if !first_word_is(&unquoted, &process.comm) {
        return false;
    }
    if go_regex::is_literal(&unquoted) {
        // Every place the literal may start lies in the first argument (or at its end).
        let needed = process.argv.first().map_or(0, String::len) + 1 + unquoted.len();
        return starts_after_a_path(&process.command_line_start(needed), &unquoted);
    }
    // kube-bench inserts the candidate into a Go regular expression unescaped.
    match go_regex::compile(&format!(r"^(\S*/)*{unquoted}")) {
        Ok(pattern) => pattern.is_match(&process.command_line()),
        Err(_) => false,
    }
}

/// What `^(\S*/)*<literal>` decides: the literal starts the line, or follows a first
/// word's `/` (Go's `\S` is anything but ASCII white space).
fn starts_after_a_path(line: &str, literal: &str) -> bool {
    let first_word_end = line
        .find(['\t', '\n', '\x0c', '\r', ' '])
        .unwrap_or(line.len());
    std::iter::once(0)
        .chain(
            line[..first_word_end]
                .match_indices('/')
                .map(|(at, _)| at + 1),
        )
        .any(|start| line[start..].starts_with(literal))
}

/// The program a candidate binary names (`hyperkube` for `"hyperkube kubelet"`): what
/// `ps -C` compares with the kernel's command name.
pub fn program_of(candidate: &str) -> Option<String> {
    unquote(candidate)
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

/// `text.split_whitespace().next() == Some(word)`, without an iterator: most candidates
/// are asked of every process of a node and differ from it in this first word.
fn first_word_is(text: &str, word: &str) -> bool {
    let text = text.trim_start();
    !text.is_empty()
        && text
            .strip_prefix(word)
            .is_some_and(|rest| rest.chars().next().is_none_or(char::is_whitespace))
}

/// kube-bench strips `'` and `"` from a candidate before using it.
fn unquote(candidate: &str) -> std::borrow::Cow<'_, str> {
    if memchr::memchr2(b'\'', b'"', candidate.as_bytes()).is_none() {
        return candidate.into();
    }
    candidate
        .chars()
        .filter(|c| *c != '\'' && *c != '"')
        .collect::<String>()
        .into()
}

fn existing_file(candidates: &[ArcStr], facts: &dyn Facts) -> Result<Option<ArcStr>, FactError> {
    for candidate in candidates {
        if facts.stat(candidate)?.is_some() {
            return Ok(Some(candidate.clone()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(comm: &str, argv: &[&str]) -> Process {
        Process {
            pid: 1,
            comm: comm.into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_first_word_is_compared_as_split_whitespace_compares_it() {
        for text in [
            "kubelet",
            " kubelet --x",
            "kubelet\t--x",
            "kubeletx",
            "",
            "  ",
            "kube",
            "x kubelet",
        ] {
            for word in ["kubelet", "", "kube"] {
                let by_split = text.split_whitespace().next() == Some(word);
                assert_eq!(first_word_is(text, word), by_split, "{text:?} {word:?}");
            }
        }
    }

    #[test]
    fn a_path_before_the_binary_is_allowed() {
        let p = process("kubelet", &["/usr/bin/kubelet", "--config=/x"]);
        assert!(runs_binary(&p, "kubelet"));
    }

    #[test]
    fn a_longer_name_does_not_match_a_shorter_candidate() {
        let p = process("kube-apiserver", &["kube-apiserver", "--x"]);
        assert!(!runs_binary(&p, "apiserver"));
        assert!(runs_binary(&p, "kube-apiserver"));
    }

    #[test]
    fn the_kernel_name_is_cut_to_fifteen_bytes() {
        let p = process(
            "kube-controller",
            &["/usr/local/bin/kube-controller-manager", "--x"],
        );
        assert!(runs_binary(&p, "kube-controller"));
        assert!(!runs_binary(&p, "kube-controller-manager"));
    }

    #[test]
    fn multi_word_candidates_need_that_exact_spacing() {
        let p = process("hyperkube", &["/hyperkube", "kubelet", "--x"]);
        assert!(runs_binary(&p, "hyperkube kubelet"));
        assert!(runs_binary(&p, "\"hyperkube kubelet\""));
        assert!(!runs_binary(&p, "hyperkube apiserver"));
    }

    #[test]
    fn plain_candidates_match_where_the_regex_matches() {
        let lines = [
            "kubelet --config=/x",
            "/usr/bin/kubelet --x",
            "/usr/bin/xkubelet --x",
            "./kubelet",
            "/opt/bin//kubelet",
            "/hyperkube kubelet --x",
            "sh -c /usr/bin/kubelet",
            "kube-apiserver-x",
            "a/b\u{b}/kubelet",
        ];
        for line in lines {
            for literal in ["kubelet", "hyperkube kubelet", "kube-apiserver"] {
                let pattern = go_regex::compile(&format!(r"^(\S*/)*{literal}")).unwrap();
                assert_eq!(
                    starts_after_a_path(line, literal),
                    pattern.is_match(line),
                    "{literal:?} in {line:?}"
                );
            }
        }
    }

    #[test]
    fn the_start_of_a_command_line_decides_as_the_whole_line() {
        let argvs: [&[&str]; 7] = [
            &["/usr/bin/kubelet", "--config=/x", "--kubeconfig=/y"],
            &["/hyperkube", "kubelet", "--x"],
            &["/hyperkube", "kube", "let"],
            &["/a b/kubelet", "--x"],
            &["sh", "-c", "/usr/bin/kubelet --x"],
            &["kubelet"],
            &[],
        ];
        for argv in argvs {
            let p = process("kubelet", argv);
            for literal in ["kubelet", "hyperkube kubelet", "kube let", "b/kubelet --x"] {
                let needed = argv.first().map_or(0, |a| a.len()) + 1 + literal.len();
                assert_eq!(
                    starts_after_a_path(&p.command_line_start(needed), literal),
                    starts_after_a_path(&p.command_line(), literal),
                    "{literal:?} in {argv:?}"
                );
            }
        }
    }

    #[test]
    fn first_running_candidate_wins() {
        let ps = vec![process("kubelet", &["kubelet"])];
        let bins = vec!["hyperkube kubelet".to_string(), "kubelet".to_string()];
        assert_eq!(running_binary(&bins, &ps), Some("kubelet".into()));
    }
}
