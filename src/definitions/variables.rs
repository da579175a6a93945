//! `$variables` and their plain-text substitution over a whole controls file before it
//! is parsed, as kube-bench does (KUBE_BENCH_FORMAT.md §5.4).

use std::borrow::Cow;

use arcstr::ArcStr;

use crate::matching::block_yaml;

/// One `$<component><suffix>` variable with its value as the node sees it and as a shell
/// on this machine must see it (under `--root`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Variable {
    /// With the `$`, e.g. `$apiserverconf` (the substitution relies on it).
    pub name: ArcStr,
    pub on_node: ArcStr,
    pub to_run: ArcStr,
    /// The component it belongs to (`apiserver`), for the default `audit_env`.
    pub component: ArcStr,
    /// True for `$<component>bin`.
    pub is_bin: bool,
}

/// The variables of one target, in substitution order (bin, conf, svc, kubeconfig,
/// cafile, datadir; components in their configured order within each kind).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Variables {
    pub entries: Vec<Variable>,
}

impl Variables {
    /// The file text as it reads on the node (for reports, probes and recorded audits).
    pub fn substitute_on_node(&self, text: &str) -> String {
        self.substitute(text, |v| &v.on_node).into_owned()
    }

    /// [`Self::substitute_on_node`] when it changes `text`, else `None` (and nothing copied).
    pub fn substitute_on_node_if_changed(&self, text: &str) -> Option<String> {
        match self.substitute(text, |v| &v.on_node) {
            Cow::Owned(substituted) if substituted != text => Some(substituted),
            _ => None,
        }
    }

    /// A shell audit (already parsed out of its file) as a shell on this machine must run
    /// it. Substituted after parsing: the values under `--root` hold shell syntax
    /// ([`ROOT_IN_SHELL`]) that must not meet the YAML reader.
    pub fn substitute_to_run(&self, text: &str) -> String {
        self.substitute(text, |v| &v.to_run).into_owned()
    }

    /// Whether shell audits read differently here than on the node (`--root` is not `/`).
    pub fn differ_for_shell(&self) -> bool {
        self.entries.iter().any(|v| v.on_node != v.to_run)
    }

    /// The value of a variable as the node sees it.
    pub fn on_node(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.on_node.as_str())
    }

    /// The variables a file's text names, found once for the questions [`NamedVariables`]
    /// answers.
    pub fn named_in_text<'a>(&'a self, raw_text: &'a str) -> NamedVariables<'a> {
        NamedVariables(self.named_in(raw_text).collect())
    }

    /// The variables whose name occurs in `text`.
    fn named_in<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'a Variable> + 'a {
        let dollars = Dollars::of(text);
        self.entries
            .iter()
            .filter(move |v| dollars.name_occurs(text, &v.name))
    }

    fn substitute<'a>(&self, text: &'a str, value: impl Fn(&Variable) -> &ArcStr) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        let mut dollars = Dollars::of(&out);
        for variable in &self.entries {
            if dollars.name_occurs(&out, &variable.name) {
                out =
                    Cow::Owned(dollars.replace(&out, &variable.name, &shell_word(value(variable))));
                dollars = Dollars::of(&out);
            }
        }
        out
    }
}

/// The variables a controls file's text names.
pub struct NamedVariables<'a>(Vec<&'a Variable>);

impl NamedVariables<'_> {
    /// The binary for a generated `audit_env`: the substituted `$<component>bin` when
    /// exactly one component's bin variable occurs in the file text, else empty.
    pub fn sole_binary(&self) -> String {
        let mut bins = self.0.iter().filter(|v| v.is_bin);
        match (bins.next(), bins.next()) {
            (Some(only), None) => only.on_node.to_string(),
            _ => String::new(),
        }
    }

    /// Whether substituting the node's values into the parsed file gives what substituting
    /// them into its text and then parsing gives (kube-bench's way): every variable the
    /// text names has a value YAML reads as that same text wherever a scalar holds it.
    pub fn substitute_after_parsing_is_same(&self) -> bool {
        self.0.iter().all(|v| reads_as_itself_in_yaml(&v.on_node))
    }
}

/// Where a text has a `$`. Every variable's name starts with one, so a name is compared
/// only there: a controls file is tens of kilobytes with a few dozen `$`, most of its
/// texts have none, and a target has dozens of variables.
struct Dollars(Vec<usize>);

impl Dollars {
    fn of(text: &str) -> Self {
        Dollars(memchr::memchr_iter(b'$', text.as_bytes()).collect())
    }

    /// Whether `name` (which starts with `$`) occurs in `text`, the text these are of.
    fn name_occurs(&self, text: &str, name: &str) -> bool {
        self.0
            .iter()
            .any(|&at| text.as_bytes()[at..].starts_with(name.as_bytes()))
    }

    /// `text.replace(name, value)` for a `name` that starts with `$`, comparing only where a
    /// `$` stands (`str::replace` built a substring searcher per call: a third of loading a
    /// benchmark's texts).
    fn replace(&self, text: &str, name: &str, value: &str) -> String {
        let mut out = String::with_capacity(text.len() + value.len());
        let mut copied = 0;
        for &at in &self.0 {
            // a `$` inside an occurrence already replaced starts none
            if at >= copied && text.as_bytes()[at..].starts_with(name.as_bytes()) {
                out.push_str(&text[copied..at]);
                out.push_str(value);
                copied = at + name.len();
            }
        }
        out.push_str(&text[copied..]);
        out
    }
}

/// A path or program name that no YAML reader could take for anything else: a path, or a
/// name starting with a letter that is not a YAML 1.1 boolean, null or non-finite number,
/// of letters, digits and `/._+-` only (no space, quote, `#`, `:`, nor a number such as
/// `0644`).
fn reads_as_itself_in_yaml(value: &str) -> bool {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._+-".contains(c));
    let unambiguous = value.contains('/')
        || (value.starts_with(|c: char| c.is_ascii_alphabetic())
            && !block_yaml::is_special_word(value));
    plain && unambiguous
}

/// How a shell audit names the root of the node under `--root`: the value is passed in
/// the environment ([`ROOT_ENV`]), never pasted into the script, so no quote, space or
/// `$(...)` in it is ever shell syntax. Quoted, it is one word in every context an audit
/// uses (unquoted, in double quotes, in the single-quoted script of a nested `sh -c`).
pub const ROOT_IN_SHELL: &str = "\"${CISGATE_ROOT}\"";
/// The environment variable that holds the root for shell audits.
pub const ROOT_ENV: &str = "CISGATE_ROOT";

/// A value as the shell audit text gets it: the root reference as it is, the rest as
/// kube-bench inserts values.
fn shell_word(value: &str) -> Cow<'_, str> {
    match value.strip_prefix(ROOT_IN_SHELL) {
        Some(rest) => Cow::Owned([ROOT_IN_SHELL, &quote_if_spaced(rest)].concat()),
        None => quote_if_spaced(value),
    }
}

/// kube-bench inserts a value with whitespace (`hyperkube kubelet`) single-quoted.
fn quote_if_spaced(value: &str) -> Cow<'_, str> {
    if has_whitespace(value) {
        Cow::Owned(["'", value, "'"].concat())
    } else {
        Cow::Borrowed(value)
    }
}

/// `value.chars().any(char::is_whitespace)`, by bytes where the text is ASCII (paths and
/// program names are; decoding their characters was 1.2% of loading a benchmark).
fn has_whitespace(value: &str) -> bool {
    if value.is_ascii() {
        // char::is_whitespace's ASCII members: tab, line feed, vertical tab, form feed,
        // carriage return, space
        value
            .bytes()
            .any(|byte| matches!(byte, b'\t'..=b'\r' | b' '))
    } else {
        value.chars().any(char::is_whitespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_found_as_char_is_whitespace_finds_it() {
        let texts = [
            "",
            "/usr/bin/kubelet",
            "hyperkube kubelet",
            "a\tb",
            "a\u{b}b",
            "a\u{c}b",
            "a\rb",
            "a\nb",
            "a\u{85}b",
            "a\u{a0}b",
            "a\u{2003}b",
            "é/ü",
            "x\u{1f}y",
        ];
        for text in texts {
            assert_eq!(
                has_whitespace(text),
                text.chars().any(char::is_whitespace),
                "{text:?}"
            );
        }
        for byte in 0..=127u8 {
            let text = format!("a{}b", byte as char);
            assert_eq!(
                has_whitespace(&text),
                (byte as char).is_whitespace(),
                "{byte}"
            );
        }
    }

    fn var(name: &str, on_node: &str, to_run: &str, is_bin: bool) -> Variable {
        Variable {
            name: name.into(),
            on_node: on_node.into(),
            to_run: to_run.into(),
            component: name.trim_start_matches('$').into(),
            is_bin,
        }
    }

    #[test]
    fn replacing_at_dollars_is_str_replace() {
        let texts = [
            "",
            "no dollar",
            "$a",
            "$a$a",
            "$$a",
            "x$ab$a$",
            "$a$",
            "cat $apiserverconf; $apiserverconf$apiserverconfx",
        ];
        for text in texts {
            for name in ["$a", "$$", "$ab", "$apiserverconf", "$"] {
                for value in [
                    "",
                    "v",
                    "$a",
                    "/etc/kubernetes/manifests/kube-apiserver.yaml",
                ] {
                    assert_eq!(
                        Dollars::of(text).replace(text, name, value),
                        text.replace(name, value),
                        "{text:?} {name:?} {value:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn substitutes_everywhere_without_word_boundaries() {
        let vars = Variables {
            entries: vec![var(
                "$kubeletconf",
                "/var/lib/kubelet/config.yaml",
                "/host/var/lib/kubelet/config.yaml",
                false,
            )],
        };
        assert_eq!(
            vars.substitute_on_node("cat $kubeletconf; x$kubeletconfy"),
            "cat /var/lib/kubelet/config.yaml; x/var/lib/kubelet/config.yamly"
        );
        assert_eq!(
            vars.substitute_to_run("cat $kubeletconf"),
            "cat /host/var/lib/kubelet/config.yaml"
        );
    }

    #[test]
    fn values_with_whitespace_are_single_quoted() {
        let vars = Variables {
            entries: vec![var(
                "$kubeletbin",
                "hyperkube kubelet",
                "hyperkube kubelet",
                true,
            )],
        };
        assert_eq!(
            vars.substitute_on_node("ps -C $kubeletbin"),
            "ps -C 'hyperkube kubelet'"
        );
    }

    #[test]
    fn only_plain_paths_and_names_are_substituted_after_parsing() {
        let with = |value: &str| Variables {
            entries: vec![var("$kubeletbin", value, value, true)],
        };
        for same in [
            "kubelet",
            "/var/lib/kubelet/config.yaml",
            "k3s",
            "kube-apiserver",
        ] {
            assert!(
                with(same)
                    .named_in_text("ps $kubeletbin")
                    .substitute_after_parsing_is_same(),
                "{same}"
            );
        }
        for differs in [
            "hyperkube kubelet",
            "",
            "0644",
            "yes",
            "Off",
            "nan",
            "~",
            "a:b",
            "#x",
            "'q'",
        ] {
            assert!(
                !with(differs)
                    .named_in_text("ps $kubeletbin")
                    .substitute_after_parsing_is_same(),
                "{differs}"
            );
        }
        assert!(with("a b")
            .named_in_text("no variable here")
            .substitute_after_parsing_is_same());
    }

    #[test]
    fn unknown_variables_stay_as_written() {
        let vars = Variables::default();
        assert_eq!(
            vars.substitute_on_node("for f in $adminconf"),
            "for f in $adminconf"
        );
    }

    #[test]
    fn sole_binary_needs_exactly_one_component() {
        let vars = Variables {
            entries: vec![
                var("$kubeletbin", "kubelet", "kubelet", true),
                var("$proxybin", "kube-proxy", "kube-proxy", true),
            ],
        };
        assert_eq!(
            vars.named_in_text("ps $kubeletbin").sole_binary(),
            "kubelet"
        );
        assert_eq!(
            vars.named_in_text("ps $kubeletbin $proxybin").sole_binary(),
            ""
        );
        assert_eq!(vars.named_in_text("nothing").sole_binary(), "");
    }
}
