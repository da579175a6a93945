//! Names a benchmark's jq filter may not use (docs/security.md): what reaches outside the
//! filter (the run's exit, the environment, other inputs, the terminal). Checked when a
//! benchmark file is loaded (and at build time for the embedded benchmarks), and again when
//! a filter is compiled; the engine's jq library leaves these filters out.

use jaq_core::load::lex::{StrPart, Tok, Token};

/// Names a benchmark's jq filter may not use.
pub const FORBIDDEN: &[&str] = &[
    "halt",
    "halt_error",
    "env",
    "$ENV",
    "input",
    "inputs",
    "input_filename",
    "$__loc__",
    "debug",
    "stderr",
    "debug_empty",
    "stderr_empty",
    "get_search_list",
    "$__prog_args",
];

/// The first forbidden name a filter uses, if any (fields such as `.env` and object keys
/// such as `{env: 1}` are not uses).
pub fn forbidden_name(filter: &str) -> Option<&'static str> {
    let tokens = jaq_core::load::Lexer::new(filter).lex().ok()?;
    find_forbidden(&tokens, false)
}

fn find_forbidden(tokens: &[Token<&str>], in_object: bool) -> Option<&'static str> {
    for (index, Token(text, kind)) in tokens.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| &tokens[i]);
        let next = tokens.get(index + 1);
        let found = match kind {
            Tok::Word | Tok::Var => {
                let is_field = matches!(previous, Some(Token(".", Tok::Sym)));
                let is_key = in_object && matches!(next, Some(Token(":", Tok::Sym)));
                let name = text.rsplit("::").next().unwrap_or(text);
                (!is_field && !is_key)
                    .then(|| FORBIDDEN.iter().find(|forbidden| **forbidden == name))
                    .flatten()
                    .copied()
            }
            Tok::Block(inner) => find_forbidden(inner, text.starts_with('{')),
            Tok::Str(parts) => parts.iter().find_map(|part| match part {
                StrPart::Term(token) => find_forbidden(std::slice::from_ref(token), false),
                _ => None,
            }),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_names_are_found_but_fields_and_keys_are_not() {
        for filter in [
            "halt",
            ".a | halt_error",
            "env.HOME",
            "$ENV.PATH",
            "[inputs]",
            "input",
            "$__loc__",
            ". as $x | debug",
            "stderr",
            "input_filename",
            "\"\\(env)\"",
            "[.[] | (halt)]",
        ] {
            assert!(forbidden_name(filter).is_some(), "{filter}");
        }
        for filter in [
            ".env",
            ".metadata.labels.env",
            "{env: .a}",
            "select(.name == \"env\")",
            ".a | .halt",
            "$environment",
        ] {
            assert_eq!(forbidden_name(filter), None, "{filter}");
        }
    }
}
