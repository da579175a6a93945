//! The exit-code table in `--help` and in the man page (#13 item 15): one code a line, wrapped
//! under its own text in 80 columns, rendered by groff as a table rather than one paragraph.

mod support;

use assert_cmd::Command;
use support::tool_available;

fn cisgate(args: &[&str]) -> String {
    let output = Command::cargo_bin("cisgate")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The lines of `text` from the one equal to `heading` (trimmed) to the next unindented one.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| l.trim() != heading);
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no {heading} in:\n{text}"));
    std::iter::once(first)
        .chain(lines.take_while(|l| l.is_empty() || l.starts_with(' ')))
        .collect()
}

/// The first word of each line that starts an item: the codes, in order.
fn codes(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|word| word.len() == 1 && word.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

#[test]
fn help_lists_one_exit_code_a_line_within_80_columns() {
    let help = cisgate(&["--help"]);
    let table = section(&help, "Exit codes:");
    assert_eq!(codes(&table), ["0", "1", "2", "3"], "{table:#?}");
    for line in &table {
        assert!(line.chars().count() <= 80, "{} columns: {line}", line.len());
        let code_line = line.starts_with("  ") && !line.starts_with("   ");
        let continuation = line.starts_with("     ") && !line.trim().is_empty();
        assert!(
            code_line || continuation || *line == "Exit codes:",
            "neither a code nor its continuation: {line:?}"
        );
    }
    assert!(help.contains("1 wins when some nodes could not be evaluated"));
}

#[test]
fn the_man_page_renders_the_exit_codes_as_a_table() {
    let page = cisgate(&["man"]);
    assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    assert!(
        !page.contains(".SH EXTRA"),
        "the help text is not repeated as a paragraph"
    );
    if !tool_available("groff", &["--version"]) {
        return;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("cisgate.1");
    std::fs::write(&file, &page).unwrap();
    let rendered = std::process::Command::new("groff")
        .args(["-man", "-Tascii", "-rLL=80n", "-ww"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(rendered.status.success());
    let text = String::from_utf8_lossy(&rendered.stdout);
    // Without overstrike (bold) sequences.
    let text: String = text
        .split('\u{8}')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                &part[1.min(part.len())..]
            }
        })
        .collect();
    let table = section(&text, "EXIT STATUS");
    assert_eq!(codes(&table), ["0", "1", "2", "3"], "{table:#?}");
    let two = table
        .iter()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap();
    let words = two.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.starts_with("2 the run could not be done as asked"),
        "{two}"
    );
    let version = section(&text, "VERSION");
    assert!(
        version.iter().any(|l| l.trim() == "cis-1.12"),
        "one benchmark a line: {version:#?}"
    );
}

#[test]
fn the_man_pages_written_to_a_directory_have_the_table_too() {
    let dir = tempfile::TempDir::new().unwrap();
    cisgate(&["man", "--dir", dir.path().to_str().unwrap()]);
    let top = std::fs::read_to_string(dir.path().join("cisgate.1")).unwrap();
    assert!(top.contains(".SH \"EXIT STATUS\""), "{top}");
    assert!(dir.path().join("cisgate-scan.1").is_file());
}
