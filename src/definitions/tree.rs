//! Where benchmark files come from: the tree embedded in the binary, or `--config-dir`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};

use super::error::DefinitionError;

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/cfg");

/// The embedded files as `build.rs` read and checked them: `COMPILED`, each YAML file by its
/// relative path with its text and its compiled form (a controls file's checked model in
/// [`super::compiled_form`]'s layout, a `config.yaml`'s documents as JSON), sorted by the
/// path.
mod compiled {
    include!(concat!(env!("OUT_DIR"), "/embedded_cfg.rs"));
}

fn compiled_entry(relative: &str) -> Option<&'static (&'static str, &'static str, &'static [u8])> {
    compiled::COMPILED
        .binary_search_by(|(path, _, _)| (*path).cmp(relative))
        .ok()
        .map(|index| &compiled::COMPILED[index])
}

#[derive(Debug, Clone)]
pub enum BenchmarkTree {
    Embedded,
    Directory(PathBuf),
}

impl BenchmarkTree {
    /// A `--config-dir` tree; it must hold a top `config.yaml`.
    pub fn directory(path: &Path) -> Result<Self, DefinitionError> {
        if !path.join("config.yaml").is_file() {
            return Err(DefinitionError::invalid(
                path,
                "not a benchmark tree: expected a config.yaml at its top (kube-bench's cfg/ layout)",
            ));
        }
        Ok(BenchmarkTree::Directory(path.to_path_buf()))
    }

    /// `embedded` or the directory, for report headers.
    pub fn describe(&self) -> String {
        match self {
            BenchmarkTree::Embedded => "embedded".into(),
            BenchmarkTree::Directory(path) => path.display().to_string(),
        }
    }

    /// How a file of the tree is named in messages.
    pub fn display_path(&self, relative: &str) -> PathBuf {
        match self {
            BenchmarkTree::Embedded => Path::new("<embedded cfg>").join(relative),
            BenchmarkTree::Directory(path) => path.join(relative),
        }
    }

    /// The text of a file of the tree; `None` when the tree has no such file.
    pub fn read(&self, relative: &str) -> Result<Option<Cow<'static, str>>, DefinitionError> {
        match self {
            // A YAML file is in the binary as text already; another is read as any file.
            BenchmarkTree::Embedded => Ok(match compiled_entry(relative) {
                Some((_, text, _)) => Some(Cow::Borrowed(text)),
                None => EMBEDDED
                    .get_file(relative)
                    .map(|file| String::from_utf8_lossy(file.contents()).into_owned().into()),
            }),
            BenchmarkTree::Directory(root) => {
                let path = root.join(relative);
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned().into())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(DefinitionError::Unreadable {
                        file: path,
                        reason: e.to_string(),
                    }),
                }
            }
        }
    }

    /// What `build.rs` compiled an embedded file into (a controls file in
    /// [`super::compiled_form`]'s layout, a `config.yaml` as JSON); `None` for a
    /// `--config-dir` tree, which is read from its YAML.
    pub fn compiled(&self, relative: &str) -> Option<&'static [u8]> {
        match self {
            BenchmarkTree::Embedded => compiled_entry(relative).map(|(_, _, compiled)| *compiled),
            BenchmarkTree::Directory(_) => None,
        }
    }

    /// The benchmark directories of the tree (those holding at least one `.yaml` file), sorted.
    pub fn benchmark_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match self {
            BenchmarkTree::Embedded => EMBEDDED
                .dirs()
                .filter(|dir| {
                    dir.files()
                        .any(|f| f.path().extension().is_some_and(|e| e == "yaml"))
                })
                .filter_map(|dir| dir.path().file_name())
                .map(|name| name.to_string_lossy().into_owned())
                .collect(),
            BenchmarkTree::Directory(root) => std::fs::read_dir(root)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|entry| entry.path().is_dir() && holds_yaml(&entry.path()))
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect(),
        };
        names.sort();
        names
    }
}

fn holds_yaml(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| entry.path().extension().is_some_and(|e| e == "yaml"))
}
