//! (placeholder until the jsonpath branch lands)
pub fn lookup_path(_source: &str, _template: &str) -> Result<String, String> {
    Err("jsonpath not available".into())
}
pub fn validate_template(_template: &str) -> Result<(), String> {
    Ok(())
}
