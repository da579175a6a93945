//! Errors from reading benchmark definitions: each names the file and, where the
//! YAML reader can tell, the line and column and what was expected.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: PathBuf, message: String },
    #[error("{file}: cannot read: {reason}")]
    Unreadable { file: PathBuf, reason: String },
    #[error("{0}")]
    Selection(String),
}

impl DefinitionError {
    /// Wraps a YAML reader error with the file it came from.
    pub fn from_yaml(file: impl Into<PathBuf>, error: &serde_saphyr::Error) -> Self {
        let file = file.into();
        let message = error.without_snippet().to_string();
        let message = strip_location_prefix(&message);
        match error.location() {
            Some(location) => DefinitionError::Syntax {
                file,
                line: location.line(),
                column: location.column(),
                message,
            },
            None => DefinitionError::Invalid { file, message },
        }
    }

    pub fn invalid(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DefinitionError::Invalid {
            file: file.into(),
            message: message.into(),
        }
    }
}

/// The YAML reader's message starts with its own `error: line L column C:`; we say where
/// the error is ourselves, with the file name in front.
fn strip_location_prefix(message: &str) -> String {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    if let Some(rest) = message.strip_prefix("line ") {
        if let Some((_, after)) = rest.split_once(": ") {
            return after.trim().to_owned();
        }
    }
    message.trim().to_owned()
}
