//! (placeholder until the semantics branch lands)
pub fn validate_flag(_flag: &str) -> Result<(), String> {
    Ok(())
}
