//! Kubernetes API objects through kubectl: it already resolves kubeconfigs, contexts and
//! auth plugins the way users expect. Arguments go to kubectl as an argv vector, never
//! through a shell.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::Value;

use super::api_value::ApiValue;

use super::bounded::Limit;
use super::live::{run_bounded, whole_seconds, Capture, Finished, RunError};
use super::FactError;
use crate::sync::locked;

/// Which kubectl to run and against which cluster.
#[derive(Debug, Clone)]
pub struct KubectlOptions {
    /// The kubectl program (`kubectl`, looked up on `PATH`).
    pub binary: PathBuf,
    /// `--kubeconfig`; kubectl's own resolution (`KUBECONFIG`, `~/.kube/config`, in-cluster) when unset.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cache-dir` for kubectl's discovery cache; kubectl's default when unset.
    pub cache_dir: Option<PathBuf>,
    /// How long listing one kind may take.
    pub list_timeout: Duration,
    /// How long the reachability question may take.
    pub reach_timeout: Duration,
}

impl Default for KubectlOptions {
    fn default() -> Self {
        KubectlOptions {
            binary: PathBuf::from("kubectl"),
            kubeconfig: None,
            context: None,
            cache_dir: None,
            list_timeout: Duration::from_secs(60),
            reach_timeout: Duration::from_secs(5),
        }
    }
}

type Listing = Result<super::ApiObjects, FactError>;

impl KubectlOptions {
    /// The context kubectl would use: `--context`, else the `current-context` of the first
    /// kubeconfig file that sets one (`--kubeconfig`, else `$KUBECONFIG`'s list, else
    /// `~/.kube/config`). None in a pod without a kubeconfig (in-cluster access has no name).
    pub fn current_context(&self) -> Option<String> {
        if let Some(context) = self.context.as_deref().filter(|c| !c.trim().is_empty()) {
            return Some(context.trim().to_string());
        }
        let files = kubeconfig_files(
            self.kubeconfig.as_deref(),
            std::env::var_os("KUBECONFIG").as_deref(),
            std::env::var_os("HOME")
                .as_deref()
                .map(std::path::Path::new),
        );
        files.iter().find_map(|file| current_context_of(file))
    }
}

/// The kubeconfig files kubectl reads, in its order of precedence.
fn kubeconfig_files(
    flag: Option<&std::path::Path>,
    env: Option<&std::ffi::OsStr>,
    home: Option<&std::path::Path>,
) -> Vec<PathBuf> {
    if let Some(file) = flag {
        return vec![file.to_path_buf()];
    }
    if let Some(list) = env.filter(|list| !list.is_empty()) {
        return std::env::split_paths(list).collect();
    }
    home.map(|home| vec![home.join(".kube/config")])
        .unwrap_or_default()
}

/// A kubeconfig file's `current-context`, when it sets one.
fn current_context_of(file: &std::path::Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Kubeconfig {
        #[serde(rename = "current-context", default)]
        current_context: Option<String>,
    }
    let text = std::fs::read_to_string(file).ok()?;
    let config: Kubeconfig = serde_saphyr::from_str(&text).ok()?;
    let context = config.current_context?;
    let context = context.trim();
    (!context.is_empty()).then(|| context.to_string())
}

/// Lists API objects, each kind fetched once: a scan asks for the same kind many times.
pub struct Kubectl {
    options: KubectlOptions,
    lists: Mutex<HashMap<String, Arc<OnceLock<Listing>>>>,
    server_version: OnceLock<Option<String>>,
}

impl Kubectl {
    pub fn new(options: KubectlOptions) -> Self {
        Kubectl {
            options,
            lists: Mutex::new(HashMap::new()),
            server_version: OnceLock::new(),
        }
    }

    /// `kubectl get <kind> --all-namespaces -o json`, its `items`.
    pub fn list(&self, kind: &str) -> Listing {
        // One slot per kind: two threads asking for the same kind wait for one kubectl,
        // while different kinds are fetched side by side.
        self.slot(kind)
            .get_or_init(|| self.options.fetch(kind))
            .clone()
    }

    /// Starts listing each of `kinds` on a thread of its own, for `list` calls that will
    /// follow: kubectl's start-up and the parse of one kind's list (a cluster's pods are
    /// megabytes) overlap with the other kinds' and with the checks, instead of each
    /// starting when a check first asks. A kind listed or being listed is not asked again.
    pub fn prefetch(&self, kinds: &[&str]) {
        for kind in kinds {
            let slot = self.slot(kind);
            if slot.get().is_some() {
                continue;
            }
            let options = self.options.clone();
            let kind = kind.to_string();
            let fetch = move || {
                slot.get_or_init(|| options.fetch(&kind));
            };
            // a thread that cannot be started leaves the kind to `list`
            let _ = std::thread::Builder::new()
                .name("kubectl-list".to_string())
                .spawn(fetch);
        }
    }

    fn slot(&self, kind: &str) -> Arc<OnceLock<Listing>> {
        Arc::clone(locked(&self.lists).entry(kind.to_string()).or_default())
    }

    /// Whether the API server answers at all (cached).
    pub fn reachable(&self) -> bool {
        self.server_version().is_some()
    }

    /// The API server's `gitVersion`, or `None` when it cannot be reached (cached).
    pub fn server_version(&self) -> Option<String> {
        self.server_version
            .get_or_init(|| self.ask_version())
            .clone()
    }

    fn ask_version(&self) -> Option<String> {
        let command = self.options.command(&["get", "--raw", "/version"]);
        let finished = run_bounded(
            command,
            None,
            Capture::Separate,
            self.options.reach_timeout,
            Limit::Snapshot,
        )
        .ok()?;
        if !finished.status.success() {
            return None;
        }
        let version: Value = serde_json::from_slice(&finished.stdout).ok()?;
        Some(version.get("gitVersion")?.as_str()?.to_string())
    }
}

impl KubectlOptions {
    fn fetch(&self, kind: &str) -> Listing {
        let api_error = |reason: String| FactError::Api {
            kind: kind.to_string(),
            reason,
        };
        if kind.is_empty() || kind.starts_with('-') || kind.contains(char::is_whitespace) {
            return Err(api_error(format!("`{kind}` is not a resource kind")));
        }
        let arguments = ["get", kind, "--all-namespaces", "-o", "json"];
        let command = self.command(&arguments);
        let finished = match run_bounded(
            command,
            None,
            Capture::Separate,
            self.list_timeout,
            Limit::Snapshot,
        ) {
            Ok(finished) => finished,
            Err(RunError::Timeout) => {
                return Err(FactError::Timeout {
                    command: self.display(&arguments),
                    seconds: whole_seconds(self.list_timeout),
                })
            }
            Err(RunError::Spawn(error)) => {
                return Err(api_error(format!(
                    "could not start `{}`: {error}",
                    self.binary.display()
                )))
            }
            Err(RunError::TooLarge(limit)) => {
                return Err(api_error(format!(
                    "`{}` printed more than the {} limit ({})",
                    self.display(&arguments),
                    super::bounded::human_size(limit.bytes()),
                    limit.flag()
                )))
            }
        };
        if !finished.status.success() {
            return Err(api_error(failure_text(&finished)));
        }
        items_of(&finished.stdout).map(Arc::new).map_err(api_error)
    }

    fn command(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        if let Some(kubeconfig) = &self.kubeconfig {
            command.arg("--kubeconfig").arg(kubeconfig);
        }
        if let Some(context) = &self.context {
            command.arg("--context").arg(context);
        }
        if let Some(cache_dir) = &self.cache_dir {
            command.arg("--cache-dir").arg(cache_dir);
        }
        command.args(arguments);
        command
    }

    fn display(&self, arguments: &[&str]) -> String {
        format!("{} {}", self.binary.display(), arguments.join(" "))
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let lists = std::mem::take(self.lists.get_mut().unwrap_or_else(|e| e.into_inner()));
        let objects: usize = lists
            .values()
            .filter_map(|slot| slot.get()?.as_ref().ok().map(|items| items.len()))
            .sum();
        crate::sync::drop_aside(objects, lists);
    }
}

fn failure_text(finished: &Finished) -> String {
    let stderr = String::from_utf8_lossy(&finished.stderr);
    let stderr = stderr.trim();
    if stderr.is_empty() {
        format!("kubectl failed ({})", finished.status)
    } else {
        stderr.to_string()
    }
}

/// A list this long (a cluster's pods) is parsed on every core: its objects are found
/// first, then parsed in runs side by side. Parsing the pods of 10,000 API objects was the
/// longest step of a section 5 scan, with the other core idle.
const PARSE_APART_FROM: usize = 1 << 20;

fn items_of(stdout: &[u8]) -> Result<Vec<ApiValue>, String> {
    if stdout.len() >= PARSE_APART_FROM {
        // Asked only of a long list: the answer reads the cgroup's files.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // A list this way cannot read is read the plain way, which says what is wrong.
        if cores > 1 {
            if let Some(items) = items_apart(stdout, cores) {
                return Ok(items);
            }
        }
    }
    items_together(stdout)
}

fn items_apart(stdout: &[u8], cores: usize) -> Option<Vec<ApiValue>> {
    // the items found in the one pass that checks the list's syntax (a second pass over
    // a cluster's pods to split them was a tenth of a section 5 scan, on one core)
    #[derive(serde::Deserialize)]
    struct List<'a> {
        #[serde(borrow)]
        items: Option<Vec<&'a RawValue>>,
    }
    let text = std::str::from_utf8(stdout).ok()?;
    let list: List = serde_json::from_str(text).ok()?;
    let items = list.items?;
    let run = items.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let parsing: Vec<_> = items
            .chunks(run)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|raw| serde_json::from_str::<ApiValue>(raw.get()).ok())
                        .collect::<Option<Vec<ApiValue>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(items.len());
        for part in parsing {
            all.extend(part.join().ok()??);
        }
        Some(all)
    })
}

fn items_together(stdout: &[u8]) -> Result<Vec<ApiValue>, String> {
    let list: ApiValue = serde_json::from_slice(stdout)
        .map_err(|error| format!("kubectl printed something that is not JSON: {error}"))?;
    // taken out of the list, not copied: a cluster's pods are megabytes
    let items = match list {
        ApiValue::Object(fields) => fields
            .into_vec()
            .into_iter()
            .find_map(|(key, value)| (&*key == "items").then_some(value)),
        _ => None,
    };
    match items {
        Some(ApiValue::Array(items)) => Ok(items.into_vec()),
        Some(ApiValue::Null) | None => Ok(Vec::new()),
        Some(_) => Err("kubectl's list has an `items` that is not an array".to_string()),
    }
}

#[cfg(test)]
mod tests {
    //! The real kubectl against a loopback API server is tested in `tests/kubectl_api.rs`.

    use super::*;

    #[test]
    fn the_context_is_the_flag_then_the_first_kubeconfig_that_sets_one() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("none");
        std::fs::write(&none, "apiVersion: v1\nkind: Config\ncontexts: []\n").unwrap();
        let staging = dir.path().join("staging");
        std::fs::write(
            &staging,
            "apiVersion: v1\nkind: Config\ncurrent-context: staging\n",
        )
        .unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".kube")).unwrap();
        std::fs::write(home.join(".kube/config"), "current-context: home-ctx\n").unwrap();

        let list = std::env::join_paths([&none, &staging]).unwrap();
        let files = kubeconfig_files(None, Some(&list), Some(&home));
        assert_eq!(
            files.iter().find_map(|f| current_context_of(f)).as_deref(),
            Some("staging")
        );
        let files = kubeconfig_files(None, None, Some(&home));
        assert_eq!(
            files.iter().find_map(|f| current_context_of(f)).as_deref(),
            Some("home-ctx")
        );
        let files = kubeconfig_files(Some(&none), Some(&list), Some(&home));
        assert_eq!(files.iter().find_map(|f| current_context_of(f)), None);
        let flagged = KubectlOptions {
            context: Some("from-flag".into()),
            kubeconfig: Some(none),
            ..KubectlOptions::default()
        };
        assert_eq!(flagged.current_context().as_deref(), Some("from-flag"));
    }

    #[test]
    fn a_missing_kubectl_is_an_api_error() {
        let kubectl = Kubectl::new(KubectlOptions {
            binary: PathBuf::from("/nonexistent/kubectl"),
            ..KubectlOptions::default()
        });
        let error = kubectl.list("pods").unwrap_err();
        assert!(
            matches!(&error, FactError::Api { reason, .. } if reason.contains("/nonexistent/kubectl")),
            "{error:?}"
        );
        assert!(!kubectl.reachable());
    }

    #[test]
    fn a_kind_that_looks_like_a_flag_is_refused_before_running_kubectl() {
        let kubectl = Kubectl::new(KubectlOptions {
            binary: PathBuf::from("/nonexistent/kubectl"),
            ..KubectlOptions::default()
        });
        let error = kubectl.list("--raw=/").unwrap_err();
        assert!(
            matches!(&error, FactError::Api { reason, .. } if reason.contains("not a resource kind")),
            "{error:?}"
        );
    }

    #[test]
    fn items_must_be_an_array_in_json() {
        assert!(items_of(b"not json").unwrap_err().contains("not JSON"));
        assert!(items_of(br#"{"items":{}}"#).is_err());
        assert_eq!(items_of(br#"{"items":[1,2]}"#).unwrap().len(), 2);
    }

    #[test]
    fn a_long_list_parsed_apart_gives_the_objects_of_the_list_in_order() {
        let items: Vec<Value> = (0..40_000)
            .map(
                |i| serde_json::json!({"metadata": {"name": format!("pod-{i}")}, "spec": {"n": i}}),
            )
            .collect();
        let stdout =
            serde_json::to_vec(&serde_json::json!({"kind": "List", "items": items})).unwrap();
        let items: Vec<ApiValue> = items.iter().map(ApiValue::from).collect();
        assert!(stdout.len() >= PARSE_APART_FROM);
        assert_eq!(items_apart(&stdout, 3).unwrap(), items);
        assert_eq!(items_of(&stdout).unwrap(), items);
    }

    #[test]
    fn a_long_list_that_does_not_read_apart_is_read_together_with_its_error() {
        let long = "x".repeat(PARSE_APART_FROM);
        let no_items = format!(r#"{{"kind": "List", "padding": "{long}"}}"#);
        assert_eq!(
            items_of(no_items.as_bytes()).unwrap(),
            Vec::<ApiValue>::new()
        );
        let null_items = format!(r#"{{"items": null, "padding": "{long}"}}"#);
        assert_eq!(
            items_of(null_items.as_bytes()).unwrap(),
            Vec::<ApiValue>::new()
        );
        let object_items = format!(r#"{{"items": {{}}, "padding": "{long}"}}"#);
        assert!(items_of(object_items.as_bytes())
            .unwrap_err()
            .contains("not an array"));
        let broken = format!(r#"{{"items": [1, 2], "padding": "{long}""#);
        assert!(items_of(broken.as_bytes())
            .unwrap_err()
            .contains("not JSON"));
    }
}
