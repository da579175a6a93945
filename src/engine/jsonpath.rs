//! Placeholder: the real JSONPath backend comes from another branch at merge.

/// Renders a Kubernetes JSONPath template over a JSON or YAML document (§3.5 path).
/// `Ok("")` means not found; `Err` makes the test item fail.
pub fn lookup_path(source: &str, template: &str) -> Result<String, String> {
    let _ = (source, template);
    Err("jsonpath not available".into())
}
