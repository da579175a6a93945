//! Globs of literal text and `*` within one name or path segment (`*.crt`, `*etcd*`),
//! matched as globset matches them, without building a regex: file-name globs of probes
//! (`engine::name_glob`) and the segments of a snapshot directory's metadata patterns
//! (`facts::path_pattern`).

/// A pattern of literal text and `*`, split at its `*`s: a name matches when it starts
/// with the first piece, ends with the last, and holds the others in order between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stars(Vec<String>);

impl Stars {
    /// The caller has checked that `pattern` has no other glob syntax.
    pub fn new(pattern: &str) -> Stars {
        Stars(pattern.split('*').map(str::to_owned).collect())
    }

    pub fn is_match(&self, name: &str) -> bool {
        let (first, rest) = self
            .0
            .split_first()
            .expect("split yields one piece at least");
        let Some((last, middle)) = rest.split_last() else {
            return name == first;
        };
        let Some(mut left) = name.strip_prefix(first.as_str()) else {
            return false;
        };
        // The leftmost place of each middle piece leaves the most room for the next ones.
        for piece in middle {
            match left.find(piece.as_str()) {
                Some(at) => left = &left[at + piece.len()..],
                None => return false,
            }
        }
        left.ends_with(last.as_str())
    }
}
