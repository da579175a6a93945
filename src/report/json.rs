//! The JSON results file: cisgate's own versioned format (`docs/results-format.md`),
//! the source every other report can be re-rendered from.

use super::{Emitter, RenderOptions};
use crate::results::RunResults;

pub struct Json;

impl Emitter for Json {
    fn render(&self, results: &RunResults, _options: &RenderOptions) -> anyhow::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(results)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
