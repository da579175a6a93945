//! AWS Security Finding Format (ASFF) for `aws securityhub batch-import-findings`: one
//! finding per regression (a result the gate counted), with the check's remediation.
//!
//! Ids are stable (`cisgate/<cluster>/<benchmark>/<node>/<check>`), so importing the next
//! run's findings updates the earlier ones instead of adding duplicates; a result marked
//! `fixed` by `--previous` is written once more with `Compliance.Status: PASSED` and
//! `RecordState: ARCHIVED`, which closes it. Unlike the other reports this one carries a
//! timestamp (ASFF requires `CreatedAt` and `UpdatedAt`): the run's start.
//!
//! Field limits follow the `AwsSecurityFinding` API reference (see [`limits`]); texts
//! longer than a limit are cut at a character boundary with `…`.

use std::path::PathBuf;

use anyhow::bail;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::results::{Change, CheckResult, Classification, NodeResults, RunResults, State};

/// The ASFF schema version Security Hub accepts.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// The finding type: namespace/category/classifier.
pub const FINDING_TYPE: &str =
    "Software and Configuration Checks/Industry and Regulatory Standards/CIS Kubernetes Benchmark";

/// Length limits of the fields written (characters).
pub mod limits {
    pub const ID: usize = 512;
    pub const GENERATOR_ID: usize = 512;
    pub const TITLE: usize = 256;
    pub const DESCRIPTION: usize = 1024;
    pub const REMEDIATION_TEXT: usize = 512;
    pub const RESOURCE_ID: usize = 512;
    pub const PRODUCT_FIELD_KEY: usize = 128;
    pub const PRODUCT_FIELD_VALUE: usize = 2048;
    pub const DETAILS_OTHER_VALUE: usize = 1024;
    /// Findings one `batch-import-findings` call accepts.
    pub const FINDINGS_PER_CALL: usize = 100;
}

// The flags of `--asff`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "AWS Security Hub")]
pub struct AsffArgs {
    /// Write the regressions as AWS Security Finding Format findings to FILE (a JSON array
    /// for `aws securityhub batch-import-findings --findings file://FILE`; `-` for stdout)
    #[arg(long, value_name = "FILE")]
    pub asff: Option<PathBuf>,
    /// The AWS account the findings belong to (12 digits)
    #[arg(long, value_name = "ID", env = "AWS_ACCOUNT_ID", requires = "asff")]
    pub aws_account_id: Option<String>,
    /// The AWS region of the Security Hub to import into [env: AWS_REGION, AWS_DEFAULT_REGION]
    #[arg(long, value_name = "REGION", requires = "asff")]
    pub aws_region: Option<String>,
    /// The product ARN [default: arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default]
    #[arg(
        long,
        value_name = "ARN",
        env = "CISGATE_ASFF_PRODUCT_ARN",
        requires = "asff"
    )]
    pub asff_product_arn: Option<String>,
}

/// What a finding needs besides the results.
#[derive(Debug, Clone)]
pub struct AsffContext {
    pub account: String,
    pub region: String,
    pub product_arn: String,
    pub cluster: String,
    /// RFC 3339 with milliseconds, UTC (`2026-12-03T02:00:00.000Z`).
    pub timestamp: String,
    pub run_id: String,
}

impl AsffArgs {
    /// The context, checked: account and region must be given (flag or environment).
    pub fn context(
        &self,
        cluster: &str,
        started_at: jiff::Timestamp,
        run_id: &str,
    ) -> anyhow::Result<AsffContext> {
        let region = self
            .aws_region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .filter(|r| !r.is_empty());
        let Some(account) = self.aws_account_id.clone().filter(|a| !a.is_empty()) else {
            bail!("--asff needs the AWS account: --aws-account-id or AWS_ACCOUNT_ID");
        };
        let Some(region) = region else {
            bail!("--asff needs the AWS region: --aws-region, AWS_REGION or AWS_DEFAULT_REGION");
        };
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            bail!("--aws-account-id: {account:?} is not a 12-digit AWS account id");
        }
        if !is_region(&region) {
            bail!("--aws-region: {region:?} is not an AWS region name (like eu-west-1)");
        }
        let product_arn = self.asff_product_arn.clone().unwrap_or_else(|| {
            format!("arn:aws:securityhub:{region}:{account}:product/{account}/default")
        });
        if !product_arn.starts_with("arn:aws") || product_arn.len() > 512 {
            bail!("--asff-product-arn: {product_arn:?} is not a Security Hub product ARN");
        }
        Ok(AsffContext {
            account,
            region,
            product_arn,
            cluster: cluster.to_string(),
            timestamp: started_at.strftime("%Y-%m-%dT%H:%M:%S.%3fZ").to_string(),
            run_id: run_id.to_string(),
        })
    }
}

/// `eu-west-1`, `us-gov-west-1`, `ap-southeast-3`.
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// The findings of a run, in report order: regressions, then (with `--previous`) fixed ones.
pub fn findings(results: &RunResults, context: &AsffContext) -> Vec<Value> {
    let mut list = Vec::new();
    for (node, _, check) in results.checks() {
        if crate::gate::is_regression(check, &crate::gate::GatePolicy::of(&results.gate)) {
            list.push(finding(results, context, node, check, false));
        } else if check.change == Some(Change::Fixed) && !is_accepted(check) {
            list.push(finding(results, context, node, check, true));
        }
    }
    list
}

fn is_accepted(check: &CheckResult) -> bool {
    check
        .baseline
        .as_ref()
        .is_some_and(|m| m.classification == Classification::Accepted)
}

/// The findings as a pretty JSON array, newline-terminated.
pub fn render(results: &RunResults, context: &AsffContext) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(&findings(results, context))?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn finding(
    results: &RunResults,
    context: &AsffContext,
    node: &NodeResults,
    check: &CheckResult,
    fixed: bool,
) -> Value {
    let benchmark = &results.benchmark.name;
    let node_name = &node.node.name;
    let id = stable_id(&format!(
        "cisgate/{}/{benchmark}/{node_name}/{}",
        context.cluster, check.id
    ));
    let severity = match check.state {
        State::Fail => "HIGH",
        State::Error => "MEDIUM",
        _ => "LOW",
    };
    let (severity, status, record_state) = if fixed {
        ("INFORMATIONAL", "PASSED", "ARCHIVED")
    } else {
        (severity, "FAILED", "ACTIVE")
    };
    let location = check
        .location
        .as_ref()
        .map(|l| match l.line {
            Some(line) => format!("{}:{line}", l.path),
            None => l.path.to_string(),
        })
        .unwrap_or_default();
    let mut description = format!("{}. Node {node_name}", check.text.trim_end_matches('.'));
    if fixed {
        description.push_str(": fixed since the previous run.");
    } else {
        let found = super::findings::found_text(check);
        if !found.is_empty() {
            description.push_str(&format!(": found {found}"));
        }
        if !check.evidence.expected.is_empty() {
            description.push_str(&format!("; expected {}", check.evidence.expected.trim()));
        }
        if !check.reason.is_empty() {
            description.push_str(&format!(" ({})", check.reason.trim()));
        }
        if !location.is_empty() {
            description.push_str(&format!(" in {location}"));
        }
        description.push('.');
    }
    let mut product_fields = Map::new();
    let mut field = |key: &str, value: &str| {
        if !value.is_empty() {
            product_fields.insert(
                cut(key, limits::PRODUCT_FIELD_KEY),
                Value::String(cut(value, limits::PRODUCT_FIELD_VALUE)),
            );
        }
    };
    field("cisgate/Benchmark", benchmark);
    field("cisgate/CheckId", &check.id);
    field("cisgate/State", check.state.as_str());
    field("cisgate/Node", node_name);
    field("cisgate/Cluster", &context.cluster);
    field("cisgate/Location", &location);
    field("cisgate/RunId", &context.run_id);
    field("cisgate/Version", &results.tool.version);
    let mut details = Map::new();
    for (key, value) in [
        ("cluster", context.cluster.as_str()),
        ("node", node_name.as_str()),
        ("location", location.as_str()),
    ] {
        if !value.is_empty() {
            details.insert(
                key.into(),
                Value::String(cut(value, limits::DETAILS_OTHER_VALUE)),
            );
        }
    }
    let mut finding = json!({
        "SchemaVersion": SCHEMA_VERSION,
        "Id": id,
        "ProductArn": context.product_arn,
        "GeneratorId": cut(&format!("cisgate/{benchmark}/{}", check.id), limits::GENERATOR_ID),
        "AwsAccountId": context.account,
        "Types": [FINDING_TYPE],
        "CreatedAt": context.timestamp,
        "UpdatedAt": context.timestamp,
        "Severity": { "Label": severity },
        "Title": cut(&format!("{} {}", check.id, check.text), limits::TITLE),
        "Description": cut(&description, limits::DESCRIPTION),
        "ProductFields": product_fields,
        "Resources": [{
            "Type": "Other",
            "Id": cut(&format!("{}/{node_name}", context.cluster), limits::RESOURCE_ID),
            "Partition": partition(&context.region),
            "Region": context.region,
            "Details": { "Other": details },
        }],
        "Compliance": {
            "Status": status,
            "RelatedRequirements": [cut(&format!("CIS Kubernetes Benchmark {benchmark} {}", check.id), 256)],
        },
        "RecordState": record_state,
    });
    if !check.remediation.trim().is_empty() {
        finding["Remediation"] = json!({
            "Recommendation": { "Text": cut(check.remediation.trim(), limits::REMEDIATION_TEXT) }
        });
    }
    finding
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The id as is when it fits, else its readable start and a hash of the whole.
fn stable_id(id: &str) -> String {
    if id.chars().count() <= limits::ID {
        return id.to_string();
    }
    let digest = Sha256::digest(id.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let start: String = id.chars().take(limits::ID - hex.len() - 1).collect();
    format!("{start}#{hex}")
}

/// `text` cut to at most `max` characters, marked with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_accounts_are_checked() {
        assert!(
            is_region("eu-west-1") && is_region("us-gov-west-1") && is_region("ap-southeast-3")
        );
        assert!(!is_region("eu-west") && !is_region("EU-west-1") && !is_region("eu--1"));
        let args = AsffArgs {
            asff: Some("f.json".into()),
            aws_account_id: Some("12345".into()),
            aws_region: Some("eu-west-1".into()),
            asff_product_arn: None,
        };
        let error = args
            .context("prod", jiff::Timestamp::UNIX_EPOCH, "r")
            .unwrap_err();
        assert!(error.to_string().contains("12-digit"), "{error}");
    }

    #[test]
    fn long_ids_stay_unique_and_within_the_limit() {
        let a = stable_id(&"x".repeat(600));
        let b = stable_id(&format!("{}y", "x".repeat(599)));
        assert!(a.chars().count() <= limits::ID && b.chars().count() <= limits::ID);
        assert_ne!(a, b);
        assert_eq!(cut("ééé", 2), "é…");
    }
}
