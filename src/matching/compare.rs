//! kube-bench's compare operators (`../shared/KUBE_BENCH_FORMAT.md` §3.7): the verdict and
//! the expected-result text, byte for byte.

pub use super::go_regex;

/// The verdict of one comparison and the text kube-bench shows as the expected result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareOutcome {
    pub passed: bool,
    pub expected_text: String,
}

impl CompareOutcome {
    fn new(passed: bool, expected_text: String) -> Self {
        CompareOutcome {
            passed,
            expected_text,
        }
    }
}

/// Compares the looked-up `actual` value with the test's `expected` value (`compare.value`)
/// under `op`. `name` is the flag, path or env name shown in the text. An unknown op fails
/// with an empty text, as in kube-bench. The texts are joined with `concat`, not `format!`:
/// a one-node scan writes a few hundred of them.
pub fn compare(op: &str, actual: &str, expected: &str, name: &str) -> CompareOutcome {
    match op {
        "eq" => CompareOutcome::new(
            equals(actual, expected),
            ["'", name, "' is equal to '", expected, "'"].concat(),
        ),
        "noteq" => CompareOutcome::new(
            !equals(actual, expected),
            ["'", name, "' is not equal to '", expected, "'"].concat(),
        ),
        "gt" | "gte" | "lt" | "lte" => compare_numbers(op, actual, expected, name),
        "has" => CompareOutcome::new(
            actual.contains(expected),
            ["'", name, "' has '", expected, "'"].concat(),
        ),
        "nothave" => CompareOutcome::new(
            !actual.contains(expected),
            ["'", name, "' does not have '", expected, "'"].concat(),
        ),
        "regex" => CompareOutcome::new(
            // An invalid pattern is rejected at load time (kube-bench panics); if one gets
            // here anyway, it matches nothing.
            go_regex::compile(expected).is_ok_and(|re| re.is_match(actual)),
            ["'", name, "' matched by regex expression '", expected, "'"].concat(),
        ),
        "valid_elements" => CompareOutcome::new(
            all_elements_valid(&split_elements(actual), &split_elements(expected)),
            ["'", name, "' contains valid elements from '", expected, "'"].concat(),
        ),
        "bitmask" => compare_bitmask(actual, expected, name),
        _ => CompareOutcome::new(false, String::new()),
    }
}

/// Checks at load time that a `regex` compare value compiles (kube-bench would panic).
pub fn validate_regex(pattern: &str) -> Result<(), String> {
    go_regex::compile(pattern)
        .map(drop)
        .map_err(|error| format!("invalid regex {pattern:?} in compare value: {error}"))
}

/// `eq`: a boolean word in the actual value is compared case-insensitively; the expected
/// value is never lowercased (`TRUE` equals `true`, `true` does not equal `True`).
fn equals(actual: &str, expected: &str) -> bool {
    // Only ASCII letters lowercase to the letters of `true` and `false`: comparing
    // without case is lowercasing `actual`, without a copy.
    match ["true", "false"]
        .into_iter()
        .find(|word| actual.eq_ignore_ascii_case(word))
    {
        Some(word) => word == expected,
        None => actual == expected,
    }
}

fn compare_numbers(op: &str, actual: &str, expected: &str, name: &str) -> CompareOutcome {
    let (Some(a), Some(b)) = (parse_decimal(actual), parse_decimal(expected)) else {
        return CompareOutcome::new(
            false,
            format!("Invalid Number(s) used for comparison: '{actual}' '{expected}'"),
        );
    };
    let (passed, wording) = match op {
        "gt" => (a > b, "is greater than"),
        "gte" => (a >= b, "is greater or equal to"),
        "lt" => (a < b, "is lower than"),
        _ => (a <= b, "is lower or equal to"),
    };
    CompareOutcome::new(passed, format!("'{name}' {wording} {expected}"))
}

/// Go's `strconv.Atoi(strings.TrimSpace(s))`: optional sign, base-10 digits, 64-bit range.
fn parse_decimal(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// `bitmask`: `actual` has no permission bits outside `expected` (both octal).
fn compare_bitmask(actual: &str, expected: &str, name: &str) -> CompareOutcome {
    let Some(requested) = parse_octal(actual) else {
        return CompareOutcome::new(false, format!("Not numeric value - flag: {actual}"));
    };
    let Some(allowed) = parse_octal(expected) else {
        return CompareOutcome::new(false, format!("Not numeric value - flag: {expected}"));
    };
    // kube-bench pastes `actual` into a format string; it parsed as octal here, so it holds
    // no `%` and the text comes out as written.
    CompareOutcome::new(
        allowed & requested == requested,
        format!("{name} has permissions {actual}, expected {expected} or more restrictive"),
    )
}

/// Go's `strconv.ParseInt(s, 8, 64)`: no trimming, optional sign, octal digits.
fn parse_octal(text: &str) -> Option<i64> {
    i64::from_str_radix(text, 8).ok()
}

/// Splits a comma-separated list after trimming whitespace and every trailing comma;
/// each element is trimmed, inner empty elements are kept.
fn split_elements(text: &str) -> Vec<&str> {
    let cleaned = text.trim().trim_end_matches(',');
    if cleaned.is_empty() {
        return Vec::new();
    }
    cleaned.split(',').map(str::trim).collect()
}

/// Every element of `actual` is one of `allowed`; two empty lists agree, one empty list
/// does not.
fn all_elements_valid(actual: &[&str], allowed: &[&str]) -> bool {
    match (actual.is_empty(), allowed.is_empty()) {
        (true, true) => true,
        (true, false) | (false, true) => false,
        (false, false) => actual.iter().all(|element| allowed.contains(element)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (op, actual, expected, passed, expected text); the name is always `N`.
    type Case = (&'static str, &'static str, &'static str, bool, &'static str);

    fn run_table(cases: &[Case]) {
        for &(op, actual, expected, passed, text) in cases {
            let outcome = compare(op, actual, expected, "N");
            assert_eq!(
                outcome,
                CompareOutcome::new(passed, text.to_owned()),
                "compare({op:?}, actual {actual:?}, expected {expected:?})"
            );
        }
    }

    #[test]
    fn eq_lowercases_only_boolean_actual_values() {
        run_table(&[
            ("eq", "false", "false", true, "'N' is equal to 'false'"),
            ("eq", "FALSE", "false", true, "'N' is equal to 'false'"),
            ("eq", "True", "true", true, "'N' is equal to 'true'"),
            ("eq", "true", "True", false, "'N' is equal to 'True'"),
            ("eq", "true", "false", false, "'N' is equal to 'false'"),
            ("eq", "0", "0", true, "'N' is equal to '0'"),
            (
                "eq",
                "AlwaysAllow",
                "alwaysallow",
                false,
                "'N' is equal to 'alwaysallow'",
            ),
            ("eq", "RBAC", "RBAC", true, "'N' is equal to 'RBAC'"),
            (
                "eq",
                "\"Webhook\"",
                "Webhook",
                false,
                "'N' is equal to 'Webhook'",
            ),
            ("eq", "yes", "true", false, "'N' is equal to 'true'"),
            ("eq", "0644", "644", false, "'N' is equal to '644'"),
        ]);
    }

    #[test]
    fn noteq_is_the_negation_of_eq() {
        run_table(&[
            (
                "noteq",
                "false",
                "false",
                false,
                "'N' is not equal to 'false'",
            ),
            (
                "noteq",
                "FALSE",
                "false",
                false,
                "'N' is not equal to 'false'",
            ),
            ("noteq", "true", "True", true, "'N' is not equal to 'True'"),
            ("noteq", "0", "0", false, "'N' is not equal to '0'"),
            ("noteq", "8080", "0", true, "'N' is not equal to '0'"),
            (
                "noteq",
                "AlwaysAllow",
                "AlwaysAllow",
                false,
                "'N' is not equal to 'AlwaysAllow'",
            ),
        ]);
    }

    #[test]
    fn numeric_ops_compare_base_ten_integers() {
        run_table(&[
            ("gt", "5", "4", true, "'N' is greater than 4"),
            ("gt", "4", "4", false, "'N' is greater than 4"),
            ("gte", "4", "4", true, "'N' is greater or equal to 4"),
            ("gte", "3", "4", false, "'N' is greater or equal to 4"),
            ("lt", "3", "4", true, "'N' is lower than 4"),
            ("lt", "4", "4", false, "'N' is lower than 4"),
            ("lte", "4", "4", true, "'N' is lower or equal to 4"),
            ("lte", "5", "4", false, "'N' is lower or equal to 4"),
            ("gte", "-1", "0", false, "'N' is greater or equal to 0"),
            ("gte", "+30", "30", true, "'N' is greater or equal to 30"),
            ("gte", "0100", "30", true, "'N' is greater or equal to 30"),
            // Both sides are trimmed for parsing; the text keeps the raw expected value.
            (
                "gte",
                " 30\t",
                " 30 ",
                true,
                "'N' is greater or equal to  30 ",
            ),
        ]);
    }

    #[test]
    fn numeric_ops_fail_on_anything_but_plain_integers() {
        run_table(&[
            (
                "gt",
                "30s",
                "10",
                false,
                "Invalid Number(s) used for comparison: '30s' '10'",
            ),
            (
                "gte",
                "1e3",
                "10",
                false,
                "Invalid Number(s) used for comparison: '1e3' '10'",
            ),
            (
                "lt",
                "0x10",
                "20",
                false,
                "Invalid Number(s) used for comparison: '0x10' '20'",
            ),
            (
                "lte",
                "",
                "20",
                false,
                "Invalid Number(s) used for comparison: '' '20'",
            ),
            (
                "gt",
                "10",
                "ten",
                false,
                "Invalid Number(s) used for comparison: '10' 'ten'",
            ),
            (
                "gte",
                "1.5",
                "1",
                false,
                "Invalid Number(s) used for comparison: '1.5' '1'",
            ),
            (
                "gte",
                "1_000",
                "1",
                false,
                "Invalid Number(s) used for comparison: '1_000' '1'",
            ),
            (
                "gt",
                "99999999999999999999",
                "1",
                false,
                "Invalid Number(s) used for comparison: '99999999999999999999' '1'",
            ),
        ]);
    }

    #[test]
    fn has_and_nothave_are_case_sensitive_substring_tests() {
        run_table(&[
            ("has", "Node,RBAC", "RBAC", true, "'N' has 'RBAC'"),
            ("has", "Node,RBAC", "rbac", false, "'N' has 'rbac'"),
            ("has", "anything", "", true, "'N' has ''"),
            ("has", "NodeRestriction", "Node", true, "'N' has 'Node'"),
            (
                "nothave",
                "Node,RBAC",
                "AlwaysAllow",
                true,
                "'N' does not have 'AlwaysAllow'",
            ),
            (
                "nothave",
                "Node,AlwaysAllow",
                "AlwaysAllow",
                false,
                "'N' does not have 'AlwaysAllow'",
            ),
            ("nothave", "anything", "", false, "'N' does not have ''"),
        ]);
    }

    #[test]
    fn regex_is_an_unanchored_go_search() {
        run_table(&[
            (
                "regex",
                "x/ca.crt",
                r"ca\.crt",
                true,
                r"'N' matched by regex expression 'ca\.crt'",
            ),
            (
                "regex",
                "x/caXcrt",
                r"ca\.crt",
                false,
                r"'N' matched by regex expression 'ca\.crt'",
            ),
            (
                "regex",
                "6443 6443",
                r"^\s*(?:6443\s*){1,}$",
                true,
                r"'N' matched by regex expression '^\s*(?:6443\s*){1,}$'",
            ),
            (
                "regex",
                "6443 80",
                r"^\s*(?:6443\s*){1,}$",
                false,
                r"'N' matched by regex expression '^\s*(?:6443\s*){1,}$'",
            ),
            (
                "regex",
                "ABC",
                "b",
                false,
                "'N' matched by regex expression 'b'",
            ),
            (
                "regex",
                "ABC",
                "(?i)b",
                true,
                "'N' matched by regex expression '(?i)b'",
            ),
            (
                "regex",
                "٣",
                r"\d",
                false,
                r"'N' matched by regex expression '\d'",
            ),
            // Should never get past load-time validation; matches nothing if it does.
            (
                "regex",
                "(",
                "(",
                false,
                "'N' matched by regex expression '('",
            ),
        ]);
    }

    #[test]
    fn valid_elements_is_a_subset_test_on_comma_lists() {
        run_table(&[
            (
                "valid_elements",
                "A,B,",
                "A,B,C",
                true,
                "'N' contains valid elements from 'A,B,C'",
            ),
            (
                "valid_elements",
                "A,D",
                "A,B,C",
                false,
                "'N' contains valid elements from 'A,B,C'",
            ),
            (
                "valid_elements",
                " A , B ",
                "B,A",
                true,
                "'N' contains valid elements from 'B,A'",
            ),
            (
                "valid_elements",
                "A,,,",
                "A",
                true,
                "'N' contains valid elements from 'A'",
            ),
            (
                "valid_elements",
                "",
                "",
                true,
                "'N' contains valid elements from ''",
            ),
            (
                "valid_elements",
                ",",
                "",
                true,
                "'N' contains valid elements from ''",
            ),
            (
                "valid_elements",
                ",,",
                " ",
                true,
                "'N' contains valid elements from ' '",
            ),
            (
                "valid_elements",
                "",
                "A",
                false,
                "'N' contains valid elements from 'A'",
            ),
            (
                "valid_elements",
                "A",
                "",
                false,
                "'N' contains valid elements from ''",
            ),
            (
                "valid_elements",
                "A,,B",
                "A,B",
                false,
                "'N' contains valid elements from 'A,B'",
            ),
            (
                "valid_elements",
                "a",
                "A",
                false,
                "'N' contains valid elements from 'A'",
            ),
            (
                "valid_elements",
                "A, ,",
                "A",
                false,
                "'N' contains valid elements from 'A'",
            ),
        ]);
    }

    #[test]
    fn bitmask_accepts_only_bits_within_the_expected_mode() {
        run_table(&[
            (
                "bitmask",
                "600",
                "644",
                true,
                "N has permissions 600, expected 644 or more restrictive",
            ),
            (
                "bitmask",
                "644",
                "644",
                true,
                "N has permissions 644, expected 644 or more restrictive",
            ),
            (
                "bitmask",
                "664",
                "644",
                false,
                "N has permissions 664, expected 644 or more restrictive",
            ),
            (
                "bitmask",
                "0",
                "600",
                true,
                "N has permissions 0, expected 600 or more restrictive",
            ),
            (
                "bitmask",
                "700",
                "600",
                false,
                "N has permissions 700, expected 600 or more restrictive",
            ),
            (
                "bitmask",
                "0644",
                "644",
                true,
                "N has permissions 0644, expected 644 or more restrictive",
            ),
            (
                "bitmask",
                "400",
                "600",
                true,
                "N has permissions 400, expected 600 or more restrictive",
            ),
            (
                "bitmask",
                "444",
                "600",
                false,
                "N has permissions 444, expected 600 or more restrictive",
            ),
        ]);
    }

    #[test]
    fn bitmask_rejects_values_that_are_not_octal() {
        run_table(&[
            (
                "bitmask",
                "680",
                "644",
                false,
                "Not numeric value - flag: 680",
            ),
            (
                "bitmask",
                "644",
                "680",
                false,
                "Not numeric value - flag: 680",
            ),
            ("bitmask", "", "644", false, "Not numeric value - flag: "),
            (
                "bitmask",
                " 644",
                "644",
                false,
                "Not numeric value - flag:  644",
            ),
            (
                "bitmask",
                "rw-r--r--",
                "644",
                false,
                "Not numeric value - flag: rw-r--r--",
            ),
            (
                "bitmask",
                "0o644",
                "644",
                false,
                "Not numeric value - flag: 0o644",
            ),
        ]);
    }

    #[test]
    fn unknown_ops_fail_with_an_empty_text() {
        run_table(&[
            ("noteqx", "a", "b", false, ""),
            ("blah", "a", "a", false, ""),
            ("EQ", "a", "a", false, ""),
            ("", "a", "a", false, ""),
        ]);
    }

    #[test]
    fn the_name_appears_as_given_in_every_text() {
        let outcome = compare(
            "eq",
            "false",
            "false",
            "{.authentication.anonymous.enabled}",
        );
        assert_eq!(
            outcome.expected_text,
            "'{.authentication.anonymous.enabled}' is equal to 'false'"
        );
        let outcome = compare("bitmask", "600", "600", "permissions");
        assert_eq!(
            outcome.expected_text,
            "permissions has permissions 600, expected 600 or more restrictive"
        );
    }

    #[test]
    fn validate_regex_rejects_what_go_would_panic_on() {
        assert!(validate_regex(r"\/etc\/kubernetes\/.*\.(?:crt|key)").is_ok());
        assert!(validate_regex("a{,5}").is_ok(), "a literal brace in Go");
        for invalid in ["(", "[a-", r"\1", "*a", "a)"] {
            let error = validate_regex(invalid).expect_err(invalid);
            assert!(error.contains("invalid regex"), "{error}");
        }
    }
}
