//! GitHub code scanning's documented SARIF ingestion rules, checked on a SARIF log: an
//! independent reading of "SARIF support for code scanning" and "About code scanning limits
//! on SARIF results" (docs.github.com), not of our emitter.
//!
//! Required properties: `version` 2.1.0 and `$schema`; `runs[].tool.driver.name`; each rule
//! an `id`; each result a `ruleId` (naming a rule of its run), a `message.text`, and on every
//! location a `physicalLocation.artifactLocation.uri` and a `region.startLine` (≥ 1).
//! Hard limits: 20 runs per file, 25,000 results and 25,000 rules per run, 100 tool
//! extensions per run, 1,000 locations and 10,000 thread-flow locations per result, 20 tags
//! per rule, and 10 MB for the gzip-compressed file. Several runs of one tool need distinct
//! categories
//! (`automationDetails.id`). Uploads outside the upload-sarif action need
//! `partialFingerprints.primaryLocationLineHash` to avoid duplicate alerts; we require it.
#![allow(dead_code)]

use std::collections::BTreeSet;

use serde_json::Value;

const MAX_RUNS: usize = 20;
const MAX_RESULTS_PER_RUN: usize = 25_000;
const MAX_RULES_PER_RUN: usize = 25_000;
const MAX_LOCATIONS_PER_RESULT: usize = 1_000;
const MAX_TAGS_PER_RULE: usize = 20;
const MAX_EXTENSIONS_PER_RUN: usize = 100;
const MAX_THREAD_FLOW_LOCATIONS_PER_RESULT: usize = 10_000;
/// The upload limit, on the gzip-compressed file.
const MAX_COMPRESSED_BYTES: usize = 10 * 1024 * 1024;

/// [`violations`] of a SARIF file as written, with the size limit on its compressed bytes.
pub fn file_violations(bytes: &[u8]) -> Vec<String> {
    let log: Value = match serde_json::from_slice(bytes) {
        Ok(log) => log,
        Err(error) => return vec![format!("not JSON: {error}")],
    };
    let mut found = violations(&log);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, bytes).unwrap();
    let compressed = encoder.finish().unwrap().len();
    if compressed > MAX_COMPRESSED_BYTES {
        found.push(format!(
            "{compressed} bytes gzip-compressed (at most {MAX_COMPRESSED_BYTES})"
        ));
    }
    found
}

/// Every rule the log breaks, in words; empty when GitHub would ingest it.
pub fn violations(log: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if log["version"] != "2.1.0" {
        found.push(format!("version is {}, not 2.1.0", log["version"]));
    }
    if !log["$schema"].is_string() {
        found.push("no $schema".to_owned());
    }
    let runs = log["runs"].as_array().cloned().unwrap_or_default();
    if runs.is_empty() {
        found.push("no runs".to_owned());
    }
    if runs.len() > MAX_RUNS {
        found.push(format!(
            "{} runs in one file (at most {MAX_RUNS})",
            runs.len()
        ));
    }
    let mut categories = BTreeSet::new();
    for (r, run) in runs.iter().enumerate() {
        let category = run["automationDetails"]["id"].as_str().unwrap_or_default();
        if !categories.insert(category.to_owned()) {
            found.push(format!(
                "runs[{r}]: category `{category}` used by another run"
            ));
        }
        check_run(&format!("runs[{r}]"), run, &mut found);
    }
    found
}

fn check_run(at: &str, run: &Value, found: &mut Vec<String>) {
    if run["tool"]["driver"]["name"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        found.push(format!("{at}: tool.driver.name is missing"));
    }
    let rules = run["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if rules.len() > MAX_RULES_PER_RUN {
        found.push(format!(
            "{at}: {} rules (at most {MAX_RULES_PER_RUN})",
            rules.len()
        ));
    }
    let extensions = run["tool"]["extensions"].as_array().map_or(0, Vec::len);
    if extensions > MAX_EXTENSIONS_PER_RUN {
        found.push(format!(
            "{at}: {extensions} tool extensions (at most {MAX_EXTENSIONS_PER_RUN})"
        ));
    }
    let mut rule_ids = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        match rule["id"].as_str() {
            Some(id) if !id.is_empty() => {
                rule_ids.insert(id.to_owned());
            }
            _ => found.push(format!("{at}.rules[{i}]: no id")),
        }
        let tags = rule["properties"]["tags"].as_array().map_or(0, Vec::len);
        if tags > MAX_TAGS_PER_RULE {
            found.push(format!(
                "{at}.rules[{i}]: {tags} tags (at most {MAX_TAGS_PER_RULE})"
            ));
        }
    }
    let results = run["results"].as_array().cloned().unwrap_or_default();
    if results.len() > MAX_RESULTS_PER_RUN {
        found.push(format!(
            "{at}: {} results (at most {MAX_RESULTS_PER_RUN})",
            results.len()
        ));
    }
    for (i, result) in results.iter().enumerate() {
        check_result(&format!("{at}.results[{i}]"), result, &rule_ids, found);
    }
}

fn check_result(at: &str, result: &Value, rule_ids: &BTreeSet<String>, found: &mut Vec<String>) {
    match result["ruleId"].as_str() {
        Some(id) if rule_ids.contains(id) => {}
        other => found.push(format!("{at}: ruleId {other:?} names no rule of the run")),
    }
    if result["message"]["text"].as_str().is_none_or(str::is_empty) {
        found.push(format!("{at}: message.text is missing"));
    }
    if result["partialFingerprints"]["primaryLocationLineHash"]
        .as_str()
        .is_none()
    {
        found.push(format!(
            "{at}: no partialFingerprints.primaryLocationLineHash"
        ));
    }
    let locations = result["locations"].as_array().cloned().unwrap_or_default();
    if locations.is_empty() {
        found.push(format!("{at}: no location"));
    }
    if locations.len() > MAX_LOCATIONS_PER_RESULT {
        found.push(format!(
            "{at}: {} locations (at most {MAX_LOCATIONS_PER_RESULT})",
            locations.len()
        ));
    }
    let flow_locations: usize = result["codeFlows"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|flow| flow["threadFlows"].as_array().into_iter().flatten())
        .map(|thread| thread["locations"].as_array().map_or(0, Vec::len))
        .sum();
    if flow_locations > MAX_THREAD_FLOW_LOCATIONS_PER_RESULT {
        found.push(format!(
            "{at}: {flow_locations} thread-flow locations (at most {MAX_THREAD_FLOW_LOCATIONS_PER_RESULT})"
        ));
    }
    for (l, location) in locations.iter().enumerate() {
        let physical = &location["physicalLocation"];
        if physical["artifactLocation"]["uri"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            found.push(format!(
                "{at}.locations[{l}]: physicalLocation.artifactLocation.uri is missing"
            ));
        }
        if physical["region"]["startLine"]
            .as_u64()
            .is_none_or(|line| line < 1)
        {
            found.push(format!(
                "{at}.locations[{l}]: physicalLocation.region.startLine is missing"
            ));
        }
    }
}
