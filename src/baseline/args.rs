//! (being written)
pub struct BaselineArgs {
    pub warn_expiry: u32,
    pub require_reasons: bool,
    pub previous: Option<std::path::PathBuf>,
}
impl BaselineArgs {
    pub fn baseline_file(&self) -> Option<std::path::PathBuf> {
        None
    }
}
