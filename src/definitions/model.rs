//! The benchmark model: kube-bench's controls → groups → checks, field for field.
//!
//! String fields keep the raw scalar text (`value: 0644` is `"0644"`, `id: 1.10` is
//! `"1.10"`), a null-like scalar is `""`, and unknown keys are ignored, as kube-bench
//! reads them (see `../shared/KUBE_BENCH_FORMAT.md` §2).

use arcstr::ArcStr;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::probe::Probe;

/// One controls file (`master.yaml`, `node.yaml`, ...): a section of the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Controls {
    #[serde(default, deserialize_with = "shared_text")]
    pub version: ArcStr,
    #[serde(default, deserialize_with = "shared_text")]
    pub id: ArcStr,
    #[serde(default, deserialize_with = "shared_text")]
    pub text: ArcStr,
    /// The node type (target) this file is for: `master`, `node`, `etcd`, ...
    #[serde(default, rename = "type", deserialize_with = "shared_text")]
    pub node_type: ArcStr,
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Group {
    #[serde(default, deserialize_with = "shared_text")]
    pub id: ArcStr,
    #[serde(default, deserialize_with = "shared_text")]
    pub text: ArcStr,
    /// `skip` turns every check of the group into INFO.
    #[serde(default, rename = "type", deserialize_with = "shared_text")]
    pub group_type: ArcStr,
    #[serde(default, deserialize_with = "null_as_default")]
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Check {
    #[serde(default, deserialize_with = "shared_text")]
    pub id: ArcStr,
    #[serde(default, deserialize_with = "shared_text")]
    pub text: ArcStr,
    /// `manual`, `skip`, or anything else (evaluated normally).
    #[serde(default, rename = "type", deserialize_with = "shared_text")]
    pub check_type: ArcStr,
    #[serde(default)]
    pub audit: Audit,
    #[serde(default)]
    pub audit_config: Audit,
    #[serde(default)]
    pub audit_env: Audit,
    /// `None` for `tests:` with a null value or no `tests` key; kube-bench tells them apart
    /// from `tests: {}` (see §3.1).
    #[serde(default)]
    pub tests: Option<Tests>,
    #[serde(default, deserialize_with = "shared_text")]
    pub remediation: ArcStr,
    #[serde(default)]
    pub scored: bool,
    #[serde(default)]
    pub use_multiple_values: bool,
    /// kube-bench only recognises the all-lowercase spelling (§2, quirk).
    #[serde(default)]
    pub disableenvtesting: bool,
}

impl Check {
    /// `audit_env`, `audit` and `audit_config`, in the order kube-bench runs them.
    pub fn audits(&self) -> [&Audit; 3] {
        [&self.audit_env, &self.audit, &self.audit_config]
    }
}

/// Where a check's output comes from: a shell script (kube-bench's way) or a typed probe.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Audit {
    #[default]
    None,
    Shell(String),
    Probe(Probe),
}

impl Audit {
    /// True when there is nothing to run (absent, null or an empty command).
    pub fn is_empty(&self) -> bool {
        match self {
            Audit::None => true,
            Audit::Shell(command) => command.trim().is_empty(),
            Audit::Probe(_) => false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Tests {
    #[serde(default, deserialize_with = "raw_text")]
    pub bin_op: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub test_items: Vec<TestItem>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TestItem {
    #[serde(default, deserialize_with = "raw_text")]
    pub flag: String,
    #[serde(default, deserialize_with = "raw_text")]
    pub path: String,
    #[serde(default, deserialize_with = "raw_text")]
    pub env: String,
    /// Omitted means `true`.
    #[serde(default = "default_true")]
    pub set: bool,
    #[serde(default)]
    pub compare: Option<Compare>,
}

impl Default for TestItem {
    fn default() -> Self {
        TestItem {
            flag: String::new(),
            path: String::new(),
            env: String::new(),
            set: true,
            compare: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Compare {
    #[serde(default, deserialize_with = "raw_text")]
    pub op: String,
    #[serde(default, deserialize_with = "raw_text")]
    pub value: String,
}

fn default_true() -> bool {
    true
}

/// Treats an explicit YAML null as the type's default (`groups:` with nothing after it).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string field as kube-bench reads it: the raw scalar text, `""` for null.
fn raw_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<RawText>::deserialize(deserializer)?
        .map(|raw| raw.0)
        .unwrap_or_default())
}

/// [`raw_text`], shared: results point at the check's texts instead of copying them.
fn shared_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ArcStr, D::Error> {
    raw_text(deserializer).map(|text| crate::shared_text::shared(&text))
}

/// A scalar read as its source text: asks the YAML reader for a string, so `0644`,
/// `false` and `1.10` arrive exactly as written.
struct RawText(String);

impl<'de> Deserialize<'de> for RawText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_string(RawTextVisitor).map(RawText)
    }
}

struct RawTextVisitor;

impl serde::de::Visitor<'_> for RawTextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// The form the build script writes the embedded benchmarks in (`build.rs`), read back by
/// the same `Deserialize`: nothing, a command string or a probe mapping.
impl Serialize for Audit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Audit::None => serializer.serialize_unit(),
            Audit::Shell(command) => serializer.serialize_str(command),
            Audit::Probe(probe) => probe.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AuditVisitor)
    }
}

struct AuditVisitor;

impl<'de> serde::de::Visitor<'de> for AuditVisitor {
    type Value = Audit;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a shell command (string) or a probe (mapping with a `probe` key)")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Audit, E> {
        Ok(Audit::Shell(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Audit, E> {
        Ok(Audit::Shell(v))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Audit, E> {
        Ok(Audit::Shell(v.to_string()))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Audit, E> {
        Ok(Audit::Shell(v.to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Audit, E> {
        Ok(Audit::Shell(v.to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Audit, E> {
        Ok(Audit::Shell(v.to_string()))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Audit, E> {
        Ok(Audit::None)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Audit, E> {
        Ok(Audit::None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Audit, D::Error> {
        d.deserialize_any(AuditVisitor)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Audit, A::Error> {
        Probe::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Audit::Probe)
    }
}
