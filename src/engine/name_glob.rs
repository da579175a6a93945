//! The file-name globs of `file_mode` / `file_owner` probes (`*.crt`, `*etcd*`): those of
//! literal text and `*` only — every one the embedded benchmarks use — are matched without
//! building a regex, which cost more than a node's whole file walk; any other is handed to
//! globset.

use globset::{Glob, GlobMatcher};

use crate::matching::stars::Stars;

#[derive(Debug)]
pub enum NameGlob {
    Stars(Stars),
    Other(GlobMatcher),
}

impl NameGlob {
    pub fn new(pattern: &str) -> Result<Self, globset::Error> {
        if pattern.contains(['?', '[', ']', '{', '}', '\\']) {
            return Ok(NameGlob::Other(Glob::new(pattern)?.compile_matcher()));
        }
        Ok(NameGlob::Stars(Stars::new(pattern)))
    }

    pub fn is_match(&self, name: &str) -> bool {
        match self {
            NameGlob::Other(matcher) => matcher.is_match(name),
            NameGlob::Stars(stars) => stars.is_match(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_globs_match_as_globset_does() {
        let patterns = [
            "*etcd*",
            "*.conf*",
            "*admin.conf",
            "*.crt",
            "*.key",
            "kubelet*",
            "a*b*c",
            "*",
            "**",
            "exact",
            "a*a",
            "*a*a*",
            "",
        ];
        let names = [
            "etcd",
            "etcd.yaml",
            "my-etcd-x",
            "admin.conf",
            "super-admin.conf",
            "admin.conf.bak",
            "ca.crt",
            "ca.crt.old",
            "sa.key",
            "kubelet",
            "kubelet.conf",
            "abc",
            "aXbYc",
            "acb",
            "a",
            "aa",
            "aba",
            "exact",
            "exactly",
            "",
            ".hidden.crt",
            "ünïcode.key",
        ];
        for pattern in patterns {
            let ours = NameGlob::new(pattern).unwrap();
            assert!(matches!(ours, NameGlob::Stars(_)), "{pattern}");
            let theirs = Glob::new(pattern).unwrap().compile_matcher();
            for name in names {
                assert_eq!(
                    ours.is_match(name),
                    theirs.is_match(name),
                    "`{pattern}` on `{name}`"
                );
            }
        }
    }

    #[test]
    fn other_globs_are_globset_globs() {
        let glob = NameGlob::new("*.{crt,key}").unwrap();
        assert!(matches!(glob, NameGlob::Other(_)));
        assert!(glob.is_match("ca.key") && !glob.is_match("ca.pem"));
        assert!(NameGlob::new("ca.[").is_err());
    }
}
