//! Path patterns of a snapshot directory's metadata (`/etc/kubernetes/pki/**/*.crt`) that use
//! only `*` and whole-segment `**`, matched segment by segment. They mean what globset means
//! with `literal_separator` (a unit test compares both on every small pattern and path);
//! globset compiles a regex for them, which cost a one-node scan ~1.8 M instructions for a
//! dozen rules. Any other pattern (`?`, `[...]`, `{a,b}`, `\`, `**` inside a segment, an
//! empty segment but the leading `/`) is left to globset.

use crate::matching::stars::Stars;

/// One `/`-separated piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of whole segments.
    AnyDepth,
    /// Text with at least one `*`, which never crosses a `/`.
    Wildcard(Stars),
    Literal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SimplePattern {
    segments: Vec<Segment>,
}

impl SimplePattern {
    /// `None` when the pattern needs more than `*` and `**` (globset handles it).
    pub(crate) fn parse(pattern: &str) -> Option<Self> {
        if pattern.contains(['?', '[', ']', '{', '}', '\\']) {
            return None;
        }
        let segments = pattern
            .split('/')
            .enumerate()
            .map(|(at, segment)| match segment {
                // only a leading `/` (globset reads `**/` and `a//b` its own way)
                "" if at > 0 => None,
                "**" => Some(Segment::AnyDepth),
                _ if segment.contains("**") => None,
                _ if segment.contains('*') => Some(Segment::Wildcard(Stars::new(segment))),
                _ => Some(Segment::Literal(segment.to_owned())),
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { segments })
    }

    #[cfg(test)]
    fn is_match(&self, path: &str) -> bool {
        self.matches_segments(&path_segments(path))
    }

    /// Whether the path given as [`path_segments`] matches (split once for every pattern).
    pub(crate) fn matches_segments(&self, path: &[&str]) -> bool {
        matches_from(&self.segments, path)
    }
}

/// A node path split at `/` (an absolute path starts with an empty segment).
pub(crate) fn path_segments(path: &str) -> Vec<&str> {
    path.split('/').collect()
}

fn matches_from(segments: &[Segment], parts: &[&str]) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return parts.is_empty();
    };
    match first {
        // At the end, `a/**` needs at least one segment after `a` (globset: `a/.*`);
        // elsewhere `**` may stand for none (`a/**/b` matches `a/b`).
        Segment::AnyDepth if rest.is_empty() => !parts.is_empty(),
        Segment::AnyDepth => (0..=parts.len()).any(|skip| matches_from(rest, &parts[skip..])),
        Segment::Wildcard(wildcard) => parts
            .split_first()
            .is_some_and(|(part, others)| wildcard.is_match(part) && matches_from(rest, others)),
        Segment::Literal(literal) => parts
            .split_first()
            .is_some_and(|(part, others)| literal == part && matches_from(rest, others)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globset_matches(pattern: &str, path: &str) -> bool {
        globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .unwrap()
            .compile_matcher()
            .is_match(path)
    }

    /// Every pattern of up to three segments from these pieces, against every path of up to
    /// three segments, both absolute and relative: the same answer as globset.
    #[test]
    fn simple_patterns_match_exactly_what_globset_matches() {
        let pieces = ["a", "*", "a*", "*b", "*a*", "**", "*.crt", ""];
        let names = ["a", "b", "ab", "aab", "x.crt", ".crt"];
        let mut patterns = vec![String::new()];
        let mut paths = vec![String::new()];
        for _ in 0..3 {
            patterns = extend(&patterns, &pieces);
            paths = extend(&paths, &names);
        }
        let mut compared = 0;
        for pattern in patterns.iter().flat_map(|p| [p.clone(), format!("/{p}")]) {
            let Some(simple) = SimplePattern::parse(&pattern) else {
                continue;
            };
            let matcher = globset::GlobBuilder::new(&pattern)
                .literal_separator(true)
                .build()
                .unwrap()
                .compile_matcher();
            for path in paths.iter().flat_map(|p| [p.clone(), format!("/{p}")]) {
                assert_eq!(
                    simple.is_match(&path),
                    matcher.is_match(&path),
                    "pattern {pattern:?}, path {path:?}"
                );
                compared += 1;
            }
        }
        assert!(compared > 300_000, "{compared}");
    }

    fn extend(prefixes: &[String], pieces: &[&str]) -> Vec<String> {
        let mut out = prefixes.to_vec();
        for prefix in prefixes {
            for piece in pieces {
                out.push(if prefix.is_empty() {
                    (*piece).to_owned()
                } else {
                    format!("{prefix}/{piece}")
                });
            }
        }
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn the_metadata_files_patterns_match_as_documented() {
        let crt = SimplePattern::parse("/etc/kubernetes/pki/**/*.crt").unwrap();
        assert!(crt.is_match("/etc/kubernetes/pki/ca.crt"));
        assert!(crt.is_match("/etc/kubernetes/pki/etcd/ca.crt"));
        assert!(!crt.is_match("/etc/kubernetes/pki/ca.key"));
        let conf = SimplePattern::parse("/etc/kubernetes/*.conf").unwrap();
        assert!(conf.is_match("/etc/kubernetes/admin.conf"));
        assert!(!conf.is_match("/etc/kubernetes/x/admin.conf"));
        let tree = SimplePattern::parse("/etc/kubernetes/**").unwrap();
        assert!(tree.is_match("/etc/kubernetes/manifests/etcd.yaml"));
        assert!(!tree.is_match("/etc/kubernetes"));
        for path in ["/etc/kubernetes/pki/**/*.crt", "/var/lib/etcd", "/a/*/b/**"] {
            let simple = SimplePattern::parse(path).unwrap();
            for probe in ["/etc/kubernetes/pki/a/b.crt", "/var/lib/etcd", "/a/x/b/c"] {
                assert_eq!(simple.is_match(probe), globset_matches(path, probe));
            }
        }
    }

    #[test]
    fn other_glob_syntax_is_left_to_globset() {
        for pattern in [
            "/a/?", "/a/[ab]", "/a/{b,c}", "/a/\\*", "/a/b**", "/a/**b", "/a/", "/a//b",
        ] {
            assert_eq!(SimplePattern::parse(pattern), None, "{pattern}");
        }
    }
}
