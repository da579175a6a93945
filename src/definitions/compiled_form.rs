//! The embedded controls files in the form `build.rs` writes them: the checked model in a
//! compact binary layout, read at start-up without parsing any text. As JSON, the four
//! files of a cis-1.12 control plane took a quarter of a one-node scan's instructions.
//!
//! Layout: a count or a text's length is a little-endian `u32`, a text its UTF-8 bytes, a
//! `bool` or a tag one byte. First the warnings (the files' unknown keys), then the
//! controls, field after field in the model's order. This file writes and reads it (the
//! build script compiles it too), so both sides change together; `build.rs` checks that
//! every file reads back as the model it wrote.

use arcstr::ArcStr;

use super::model::{Audit, Check, Compare, Controls, Group, TestItem, Tests};
use super::probe::{Probe, StaticPodShow};
use crate::shared_text::shared;

/// The warnings and the controls as bytes.
pub fn encode(warnings: &[String], controls: &Controls) -> Vec<u8> {
    let mut out = Writer(Vec::new());
    out.count(warnings.len());
    warnings.iter().for_each(|warning| out.text(warning));
    out.controls(controls);
    out.0
}

/// The warnings and the controls of [`encode`]'s bytes.
pub fn decode(bytes: &[u8]) -> Result<(Vec<String>, Controls), String> {
    let mut input = Reader { bytes, at: 0 };
    let warnings = input.list(|input| input.string())?;
    let controls = input.controls()?;
    if input.at != bytes.len() {
        return Err(format!("{} bytes left over", bytes.len() - input.at));
    }
    Ok((warnings, controls))
}

struct Writer(Vec<u8>);

impl Writer {
    fn count(&mut self, count: usize) {
        let count = u32::try_from(count).expect("an embedded benchmark's sizes fit in u32");
        self.0.extend_from_slice(&count.to_le_bytes());
    }

    fn byte(&mut self, byte: u8) {
        self.0.push(byte);
    }

    fn text(&mut self, text: &str) {
        self.count(text.len());
        self.0.extend_from_slice(text.as_bytes());
    }

    /// A tag byte, then the value when there is one.
    fn option<T: ?Sized>(&mut self, value: Option<&T>, write: impl FnOnce(&mut Self, &T)) {
        self.byte(u8::from(value.is_some()));
        if let Some(value) = value {
            write(self, value);
        }
    }

    fn optional(&mut self, text: &Option<String>) {
        self.option(text.as_deref(), |out, text| out.text(text));
    }

    fn controls(&mut self, controls: &Controls) {
        for text in [
            &controls.version,
            &controls.id,
            &controls.text,
            &controls.node_type,
        ] {
            self.text(text);
        }
        self.count(controls.groups.len());
        controls.groups.iter().for_each(|group| self.group(group));
    }

    fn group(&mut self, group: &Group) {
        for text in [&group.id, &group.text, &group.group_type] {
            self.text(text);
        }
        self.count(group.checks.len());
        group.checks.iter().for_each(|check| self.check(check));
    }

    fn check(&mut self, check: &Check) {
        for text in [
            &check.id,
            &check.text,
            &check.check_type,
            &check.remediation,
        ] {
            self.text(text);
        }
        for audit in [&check.audit, &check.audit_config, &check.audit_env] {
            self.audit(audit);
        }
        self.option(check.tests.as_ref(), Self::tests);
        for flag in [
            check.scored,
            check.use_multiple_values,
            check.disableenvtesting,
        ] {
            self.byte(u8::from(flag));
        }
    }

    fn audit(&mut self, audit: &Audit) {
        match audit {
            Audit::None => self.byte(0),
            Audit::Shell(command) => {
                self.byte(1);
                self.text(command);
            }
            Audit::Probe(probe) => {
                self.byte(2);
                self.probe(probe);
            }
        }
    }

    fn probe(&mut self, probe: &Probe) {
        match probe {
            Probe::FileMode {
                path,
                glob,
                recursive,
            } => {
                self.byte(0);
                self.tree(path, glob, *recursive);
            }
            Probe::FileOwner {
                path,
                glob,
                recursive,
            } => {
                self.byte(1);
                self.tree(path, glob, *recursive);
            }
            Probe::FileContent { path } => {
                self.byte(2);
                self.text(path);
            }
            Probe::Process { bin } => {
                self.byte(3);
                self.text(bin);
            }
            Probe::KubeletConfig { bin, config } => {
                self.byte(4);
                self.optional(bin);
                self.optional(config);
            }
            Probe::ApiObjects { kind, jq } => {
                self.byte(5);
                self.text(kind);
                self.optional(jq);
            }
            Probe::ApiQuery { kinds, jq } => {
                self.byte(6);
                self.count(kinds.len());
                kinds.iter().for_each(|kind| self.text(kind));
                self.text(jq);
            }
            Probe::K3sArgs { component, config } => {
                self.byte(7);
                self.text(component);
                self.optional(config);
            }
            Probe::StaticPodFile {
                manifest,
                path,
                show,
            } => {
                self.byte(8);
                self.text(manifest);
                self.text(path);
                self.byte(match show {
                    StaticPodShow::Content => 0,
                    StaticPodShow::Mode => 1,
                    StaticPodShow::Owner => 2,
                });
            }
        }
    }

    fn tree(&mut self, path: &str, glob: &Option<String>, recursive: bool) {
        self.text(path);
        self.optional(glob);
        self.byte(u8::from(recursive));
    }

    fn tests(&mut self, tests: &Tests) {
        self.text(&tests.bin_op);
        self.count(tests.test_items.len());
        for item in &tests.test_items {
            for text in [&item.flag, &item.path, &item.env] {
                self.text(text);
            }
            self.byte(u8::from(item.set));
            self.option(item.compare.as_ref(), |out, compare| {
                out.text(&compare.op);
                out.text(&compare.value);
            });
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("cut short at byte {}", self.at))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn count(&mut self) -> Result<usize, String> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn flag(&mut self) -> Result<bool, String> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.unexpected("a flag", other)),
        }
    }

    fn unexpected(&self, what: &str, byte: u8) -> String {
        format!("byte {}: {byte} is not {what}", self.at - 1)
    }

    fn text(&mut self) -> Result<&'a str, String> {
        let length = self.count()?;
        let at = self.at;
        std::str::from_utf8(self.take(length)?).map_err(|_| format!("byte {at}: not UTF-8"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.text().map(str::to_owned)
    }

    fn shared(&mut self) -> Result<ArcStr, String> {
        self.text().map(shared)
    }

    /// [`Writer::option`]'s tag byte, then the value when there is one.
    fn option<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        Ok(if self.flag()? {
            Some(read(self)?)
        } else {
            None
        })
    }

    fn optional(&mut self) -> Result<Option<String>, String> {
        self.option(Self::string)
    }

    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let count = self.count()?;
        // Every item takes at least a byte: a corrupt count cannot reserve more than that.
        let mut items = Vec::with_capacity(count.min(self.bytes.len() - self.at));
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }

    fn controls(&mut self) -> Result<Controls, String> {
        Ok(Controls {
            version: self.shared()?,
            id: self.shared()?,
            text: self.shared()?,
            node_type: self.shared()?,
            groups: self.list(Self::group)?,
        })
    }

    fn group(&mut self) -> Result<Group, String> {
        Ok(Group {
            id: self.shared()?,
            text: self.shared()?,
            group_type: self.shared()?,
            checks: self.list(Self::check)?,
        })
    }

    fn check(&mut self) -> Result<Check, String> {
        Ok(Check {
            id: self.shared()?,
            text: self.shared()?,
            check_type: self.shared()?,
            remediation: self.shared()?,
            audit: self.audit()?,
            audit_config: self.audit()?,
            audit_env: self.audit()?,
            tests: self.option(Self::tests)?,
            scored: self.flag()?,
            use_multiple_values: self.flag()?,
            disableenvtesting: self.flag()?,
        })
    }

    fn audit(&mut self) -> Result<Audit, String> {
        match self.byte()? {
            0 => Ok(Audit::None),
            1 => Ok(Audit::Shell(self.string()?)),
            2 => Ok(Audit::Probe(self.probe()?)),
            other => Err(self.unexpected("an audit", other)),
        }
    }

    fn probe(&mut self) -> Result<Probe, String> {
        Ok(match self.byte()? {
            0 => Probe::FileMode {
                path: self.string()?,
                glob: self.optional()?,
                recursive: self.flag()?,
            },
            1 => Probe::FileOwner {
                path: self.string()?,
                glob: self.optional()?,
                recursive: self.flag()?,
            },
            2 => Probe::FileContent {
                path: self.string()?,
            },
            3 => Probe::Process {
                bin: self.string()?,
            },
            4 => Probe::KubeletConfig {
                bin: self.optional()?,
                config: self.optional()?,
            },
            5 => Probe::ApiObjects {
                kind: self.string()?,
                jq: self.optional()?,
            },
            6 => Probe::ApiQuery {
                kinds: self.list(Self::string)?,
                jq: self.string()?,
            },
            7 => Probe::K3sArgs {
                component: self.string()?,
                config: self.optional()?,
            },
            8 => Probe::StaticPodFile {
                manifest: self.string()?,
                path: self.string()?,
                show: match self.byte()? {
                    0 => StaticPodShow::Content,
                    1 => StaticPodShow::Mode,
                    2 => StaticPodShow::Owner,
                    other => return Err(self.unexpected("a static pod file's show", other)),
                },
            },
            other => return Err(self.unexpected("a probe", other)),
        })
    }

    fn tests(&mut self) -> Result<Tests, String> {
        Ok(Tests {
            bin_op: self.string()?,
            test_items: self.list(Self::test_item)?,
        })
    }

    fn test_item(&mut self) -> Result<TestItem, String> {
        Ok(TestItem {
            flag: self.string()?,
            path: self.string()?,
            env: self.string()?,
            set: self.flag()?,
            compare: self.option(|input| {
                Ok(Compare {
                    op: input.string()?,
                    value: input.string()?,
                })
            })?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_probe() -> Vec<Probe> {
        let text = |t: &str| t.to_string();
        vec![
            Probe::FileMode {
                path: text("/etc/a"),
                glob: Some(text("*.conf")),
                recursive: true,
            },
            Probe::FileOwner {
                path: text("/etc/b"),
                glob: None,
                recursive: false,
            },
            Probe::FileContent { path: text("/c") },
            Probe::Process { bin: text("etcd") },
            Probe::KubeletConfig {
                bin: None,
                config: Some(text("/var/lib/kubelet/config.yaml")),
            },
            Probe::ApiObjects {
                kind: text("pods"),
                jq: Some(text(".metadata.name")),
            },
            Probe::ApiQuery {
                kinds: vec![text("namespaces"), text("networkpolicies")],
                jq: text("."),
            },
            Probe::K3sArgs {
                component: text("kubelet"),
                config: None,
            },
            Probe::StaticPodFile {
                manifest: text("/m.yaml"),
                path: text("/p"),
                show: StaticPodShow::Owner,
            },
        ]
    }

    fn controls_with_every_shape() -> Controls {
        let mut checks: Vec<Check> = every_probe()
            .into_iter()
            .enumerate()
            .map(|(index, probe)| Check {
                id: shared(&format!("1.1.{index}")),
                text: shared("ünïcode text"),
                audit: Audit::Probe(probe),
                scored: index % 2 == 0,
                ..Check::default()
            })
            .collect();
        checks.push(Check {
            id: shared("1.2.1"),
            check_type: shared("manual"),
            audit: Audit::Shell("ps -ef | grep kubelet".into()),
            audit_config: Audit::Shell(String::new()),
            tests: Some(Tests {
                bin_op: "or".into(),
                test_items: vec![
                    TestItem {
                        flag: "--anonymous-auth".into(),
                        compare: Some(Compare {
                            op: "eq".into(),
                            value: "false".into(),
                        }),
                        ..TestItem::default()
                    },
                    TestItem {
                        path: "{.authentication.anonymous.enabled}".into(),
                        set: false,
                        ..TestItem::default()
                    },
                ],
            }),
            remediation: shared("Edit $kubeletconf.\n"),
            use_multiple_values: true,
            disableenvtesting: true,
            ..Check::default()
        });
        checks.push(Check {
            tests: Some(Tests::default()),
            ..Check::default()
        });
        Controls {
            version: shared("cis-1.12"),
            id: shared("1"),
            text: shared("Control Plane"),
            node_type: shared("master"),
            groups: vec![
                Group {
                    id: shared("1.1"),
                    text: shared("Files"),
                    group_type: shared(""),
                    checks,
                },
                Group::default(),
            ],
        }
    }

    #[test]
    fn every_shape_of_the_model_reads_back_as_written() {
        let controls = controls_with_every_shape();
        let warnings = vec!["unknown key `x`".to_string()];
        let bytes = encode(&warnings, &controls);
        assert_eq!(decode(&bytes), Ok((warnings, controls)));
    }

    #[test]
    fn cut_or_corrupt_bytes_are_errors_not_panics() {
        let bytes = encode(&[], &controls_with_every_shape());
        for length in 0..bytes.len() {
            assert!(decode(&bytes[..length]).is_err(), "cut at {length}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).unwrap_err().contains("left over"));
        let mut huge_count = bytes;
        huge_count[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge_count).is_err());
    }
}
