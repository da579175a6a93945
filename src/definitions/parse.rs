//! Reading a controls file's YAML into the model: unknown keys are reported, not fatal, as
//! kube-bench ignores them; errors name the file, line and column and the key's type.
//!
//! Also compiled into `build.rs`, which reads the embedded benchmarks at build time: it
//! uses nothing of the crate but the model and the errors.

use super::error::DefinitionError;
use super::model::Controls;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_wrong_type_names_file_line_and_column() {
        let yaml = "---\ncontrols:\ntype: node\ngroups:\n  - id: 4.2\n    checks:\n      - id: 4.2.1\n        scored: [1, 2]\n";
        let err = parse_controls(std::path::Path::new("n.yaml"), yaml, &mut |_| {}).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("n.yaml:8:"), "{text}");
    }
}
