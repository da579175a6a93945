//! The `config.yaml` files: per-target components with their candidate binaries and
//! files, the version mapping and the target mapping (KUBE_BENCH_FORMAT.md §5.1).
//!
//! A benchmark's own `config.yaml` is merged over the top one the way viper merges:
//! mappings key by key, scalars and lists replaced. Keys are case-insensitive.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arcstr::ArcStr;
use serde_json::{Map, Value};

use super::error::DefinitionError;
use super::platform::{platforms_from, PlatformConfig};
use super::tree::BenchmarkTree;
use crate::shared_text::shared;

/// The merged configuration for one benchmark.
#[derive(Debug, Clone)]
pub struct BenchmarkConfig {
    /// Shared by clones: a benchmark without settings of its own (most of them) uses the top
    /// configuration as it is, and one with settings copies it once to merge them in.
    merged: Arc<Value>,
    /// The `platforms` section, checked and compiled when the file is loaded.
    platforms: std::sync::Arc<[PlatformConfig]>,
    /// Each target's components, read from `merged` once (every node of a fleet asks for
    /// them to choose its targets and to resolve variables). Clones share it: `merged`
    /// never changes after loading.
    components_read: Arc<Mutex<ComponentsByTarget>>,
}

type ComponentsByTarget = HashMap<String, Arc<[ComponentConfig]>, foldhash::fast::RandomState>;

/// One component of a target (`apiserver`, `kubelet`, ...) and where to look for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentConfig {
    pub name: ArcStr,
    pub optional: bool,
    pub bins: Vec<String>,
    /// cisgate's own key `markers`: paths whose existence shows the component is on the node
    /// when it has no process of its own (k3s runs every component inside `k3s server`).
    /// kube-bench trees do not have it.
    pub markers: Vec<String>,
    /// Each file kind, in substitution order.
    pub files: Vec<ComponentFile>,
    /// `$<component>bin`.
    pub bin_variable: ArcStr,
}

/// Where a component's file of one kind may be, and the variable that names it. Read once
/// per run and shared by every node's resolution (texts shared, not copied per node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentFile {
    pub kind: FileKind,
    pub candidates: Vec<ArcStr>,
    pub default: Option<ArcStr>,
    /// `$<component><kind suffix>`, e.g. `$apiserverconf`.
    pub variable: ArcStr,
}

/// The file kinds a component may name, with their `$<component><suffix>` variable suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    Conf,
    Svc,
    Kubeconfig,
    Cafile,
    Datadir,
}

impl FileKind {
    /// In kube-bench's substitution order.
    pub const ALL: [FileKind; 5] = [
        FileKind::Conf,
        FileKind::Svc,
        FileKind::Kubeconfig,
        FileKind::Cafile,
        FileKind::Datadir,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            FileKind::Conf => "conf",
            FileKind::Svc => "svc",
            FileKind::Kubeconfig => "kubeconfig",
            FileKind::Cafile => "cafile",
            FileKind::Datadir => "datadir",
        }
    }

    fn keys(self) -> (&'static str, &'static str) {
        match self {
            FileKind::Conf => ("confs", "defaultconf"),
            FileKind::Svc => ("svc", "defaultsvc"),
            FileKind::Kubeconfig => ("kubeconfig", "defaultkubeconfig"),
            FileKind::Cafile => ("cafile", "defaultcafile"),
            FileKind::Datadir => ("datadirs", "defaultdatadir"),
        }
    }
}

const TOP_CONFIG: &str = "config.yaml";

impl BenchmarkConfig {
    /// Reads the top `config.yaml` and merges `<benchmark>/config.yaml` over it when present.
    pub fn load(tree: &BenchmarkTree, benchmark: Option<&str>) -> Result<Self, DefinitionError> {
        let merged = read_config(tree, TOP_CONFIG)?.ok_or_else(|| {
            DefinitionError::invalid(tree.display_path(TOP_CONFIG), "file not found")
        })?;
        let top = BenchmarkConfig {
            platforms: platforms_of(tree, &merged)?.into(),
            merged: Arc::new(merged),
            components_read: Default::default(),
        };
        match benchmark {
            Some(benchmark) => top.merged_with(tree, benchmark),
            None => Ok(top),
        }
    }

    /// This (the top) configuration with `<benchmark>/config.yaml` merged over it, when the
    /// benchmark has one: what [`Self::load`] gives for the benchmark, without reading the
    /// top file again.
    pub fn with_benchmark(
        &self,
        tree: &BenchmarkTree,
        benchmark: &str,
    ) -> Result<Self, DefinitionError> {
        self.clone().merged_with(tree, benchmark)
    }

    fn merged_with(
        mut self,
        tree: &BenchmarkTree,
        benchmark: &str,
    ) -> Result<Self, DefinitionError> {
        let Some(overrides) = read_config(tree, &format!("{benchmark}/config.yaml"))? else {
            return Ok(self);
        };
        if overrides.as_object().is_some_and(Map::is_empty) {
            return Ok(self); // nothing to merge: the top configuration and what was read of it
        }
        let overrides_platforms = overrides.get("platforms").is_some();
        merge(Arc::make_mut(&mut self.merged), overrides);
        if overrides_platforms {
            self.platforms = platforms_of(tree, &self.merged)?.into();
        }
        // What was read for the top configuration may not hold for the merged one.
        self.components_read = Default::default();
        Ok(self)
    }

    /// The platforms with benchmarks of their own (none in a kube-bench tree).
    pub fn platforms(&self) -> &[PlatformConfig] {
        &self.platforms
    }

    /// `version_mapping`: Kubernetes version (or platform key) → benchmark.
    pub fn version_mapping(&self) -> BTreeMap<String, String> {
        self.merged
            .get("version_mapping")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .map(|(k, v)| (k.clone(), scalar_text(v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `target_mapping`: benchmark → its targets, in order.
    pub fn targets_of(&self, benchmark: &str) -> Option<Vec<String>> {
        self.merged
            .get("target_mapping")
            .and_then(|m| m.get(benchmark.to_lowercase()))
            .map(string_list)
    }

    /// Whether the configuration has a section for a node type.
    pub fn has_target(&self, target: &str) -> bool {
        self.merged.get(target).is_some_and(Value::is_object)
    }

    /// The components of a target, in the order of its `components` list; listed components
    /// without a sub-section are skipped, as kube-bench skips them.
    pub fn components(&self, target: &str) -> Vec<ComponentConfig> {
        let Some(section) = self.merged.get(target) else {
            return Vec::new();
        };
        let listed = section
            .get("components")
            .map(string_list)
            .unwrap_or_default();
        listed
            .iter()
            .filter_map(|name| {
                let body = section.get(name.to_lowercase())?;
                body.is_object().then(|| component_from(name, body))
            })
            .collect()
    }

    /// [`Self::components`], read once per target and shared.
    pub fn target_components(&self, target: &str) -> Arc<[ComponentConfig]> {
        let mut read = crate::sync::locked(&self.components_read);
        if let Some(known) = read.get(target) {
            return Arc::clone(known);
        }
        let components: Arc<[ComponentConfig]> = self.components(target).into();
        read.insert(target.to_owned(), Arc::clone(&components));
        components
    }

    /// A setting by dotted path (`node.kubelet.defaultconf`), for `benchmarks show`.
    pub fn raw(&self) -> &Value {
        &self.merged
    }
}

fn component_from(name: &str, body: &Value) -> ComponentConfig {
    let files = FileKind::ALL
        .iter()
        .map(|kind| {
            let (list_key, default_key) = kind.keys();
            let candidates = body.get(list_key).map(string_list).unwrap_or_default();
            let default = body
                .get(default_key)
                .map(scalar_text)
                .filter(|s| !s.is_empty());
            ComponentFile {
                kind: *kind,
                candidates: candidates.iter().map(|path| shared(path)).collect(),
                default: default.as_deref().map(shared),
                variable: shared(&["$", name, kind.suffix()].concat()),
            }
        })
        .collect();
    ComponentConfig {
        name: shared(name),
        optional: body.get("optional").is_some_and(truthy),
        bins: body.get("bins").map(string_list).unwrap_or_default(),
        markers: body.get("markers").map(string_list).unwrap_or_default(),
        files,
        bin_variable: shared(&["$", name, "bin"].concat()),
    }
}

/// The `platforms` section of a merged configuration, checked.
fn platforms_of(
    tree: &BenchmarkTree,
    merged: &Value,
) -> Result<Vec<PlatformConfig>, DefinitionError> {
    // The embedded tree's platform regexes were compiled by build.rs: compiled when used.
    let checked = !matches!(tree, BenchmarkTree::Embedded);
    platforms_from(
        merged.get("platforms"),
        &tree.display_path(TOP_CONFIG),
        checked,
    )
}

/// A `config.yaml` of the tree, its documents merged; `None` when the tree has no such file.
/// An embedded file's YAML text is not read: build.rs read it.
fn read_config(tree: &BenchmarkTree, relative: &str) -> Result<Option<Value>, DefinitionError> {
    let documents: Vec<Value> = match tree.compiled(relative) {
        // Embedded: the documents as build.rs read them.
        Some(json) => serde_json::from_slice(json)
            .map_err(|e| DefinitionError::invalid(tree.display_path(relative), e.to_string()))?,
        None => match tree.read(relative)? {
            Some(text) => serde_saphyr::from_multiple(&text)
                .map_err(|e| DefinitionError::from_yaml(tree.display_path(relative), &e))?,
            None => return Ok(None),
        },
    };
    merge_documents(tree, relative, documents).map(Some)
}

fn merge_documents(
    tree: &BenchmarkTree,
    relative: &str,
    documents: Vec<Value>,
) -> Result<Value, DefinitionError> {
    let mut merged = Value::Object(Map::new());
    for document in documents {
        match document {
            Value::Object(_) => merge(&mut merged, lowercase_keys(document)),
            Value::Null => {}
            _ => {
                return Err(DefinitionError::invalid(
                    tree.display_path(relative),
                    "expected a mapping of settings at the top of the file",
                ))
            }
        }
    }
    Ok(merged)
}

/// viper's merge: mappings key by key, everything else replaced. (The kubelet merges its
/// config file and drop-ins the same way.)
pub fn merge(base: &mut Value, overrides: Value) {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            for (key, value) in overrides {
                match base.get_mut(&key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overrides) => *base = overrides,
    }
}

/// Every key lowercased, as viper reads them. A mapping whose keys are all lowercase ASCII
/// already (the embedded files, nearly every other) is kept as it is.
fn lowercase_keys(mut value: Value) -> Value {
    lowercase_keys_in_place(&mut value);
    value
}

fn lowercase_keys_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let lowercase =
                |key: &String| key.is_ascii() && !key.bytes().any(|byte| byte.is_ascii_uppercase());
            if map.keys().all(lowercase) {
                map.values_mut().for_each(lowercase_keys_in_place);
            } else {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(key, value)| (key.to_lowercase(), lowercase_keys(value)))
                    .collect();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(lowercase_keys_in_place),
        _ => {}
    }
}

/// A list setting; a scalar where a list is expected is split on whitespace (viper).
fn string_list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        Value::Null => Vec::new(),
        other => scalar_text(other)
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_replaces_lists_and_merges_maps() {
        let mut base = json!({"master": {"apiserver": {"bins": ["a", "b"], "optional": false}}});
        merge(
            &mut base,
            json!({"master": {"apiserver": {"bins": ["containerd"]}}}),
        );
        assert_eq!(
            base,
            json!({"master": {"apiserver": {"bins": ["containerd"], "optional": false}}})
        );
    }

    #[test]
    fn scalar_where_list_expected_is_split_on_whitespace() {
        assert_eq!(string_list(&json!("a b  c")), vec!["a", "b", "c"]);
    }

    #[test]
    fn keys_are_case_insensitive() {
        assert_eq!(
            lowercase_keys(json!({"Master": {"ApiServer": 1}})),
            json!({"master": {"apiserver": 1}})
        );
        assert_eq!(
            lowercase_keys(json!({"node": [{"Bins": ["Kubelet"]}], "ÄPI": {"x": 1}})),
            json!({"node": [{"bins": ["Kubelet"]}], "äpi": {"x": 1}})
        );
    }
}
