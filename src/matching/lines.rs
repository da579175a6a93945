//! Splitting text into lines with memchr: locating a finding in a file (`engine::locate`)
//! and reading YAML (`block_yaml`) both walk files line by line.

/// The lines of `text` as `str::lines` gives them, found with memchr's newline search (a
/// manifest's lines are read per check and node; `lines`' character searcher was 2% of a
/// fleet scan).
pub fn lines_of(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = (!text.is_empty()).then_some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match memchr::memchr(b'\n', current.as_bytes()) {
            Some(at) => {
                rest = Some(&current[at + 1..]).filter(|after| !after.is_empty());
                let line = &current[..at];
                Some(line.strip_suffix('\r').unwrap_or(line))
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_those_str_lines_gives() {
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "\n\na\n\n",
            "a\r",
            "\r\n",
        ] {
            assert_eq!(
                lines_of(text).collect::<Vec<_>>(),
                text.lines().collect::<Vec<_>>(),
                "{text:?}"
            );
        }
    }
}
