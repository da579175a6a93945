//! kube-bench's `path` lookup: a Kubernetes JSONPath *template* (the dialect of
//! `k8s.io/client-go/util/jsonpath`, not RFC 9535) run on a parsed audit output.
//!
//! This is a port of client-go's parser and evaluator, with the settings kube-bench uses:
//! missing keys are allowed, and the document is passed behind a pointer (`&jsonInterface`),
//! which only changes how the root itself prints. Quirks are kept on purpose, because the
//! benchmark results must match kube-bench:
//! - `['a.b']` is re-parsed as `.a.b`, so it means two keys; `a\.b` is the escape for a dot;
//! - an index out of range is an error, not a missing key;
//! - several matches of one `{...}` are joined by a space, `range` iterations are not.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::document::{
    format_float, format_go_value, format_number, marshal_go_json, parse_document, sorted_entries,
    Document, Origin,
};
use super::recent_parses::{parse_or_reuse, RecentParses};

/// Evaluates `template` on `source` (the audit output) and renders the result as kube-bench
/// does. `Ok("")` means "not found"; `Err` means the test item fails with that message.
pub fn lookup_path(source: &str, template: &str) -> Result<String, String> {
    let document = parsed(source)?;
    evaluate_template(&document, template)
}

/// The parsed audit output; a node's kubelet checks look a dozen keys up in the same one.
fn parsed(source: &str) -> Result<Rc<Document>, String> {
    thread_local! {
        static RECENT: RecentParses<Rc<Document>> =
            const { RefCell::new(VecDeque::new()) };
    }
    parse_or_reuse(&RECENT, source, |text| {
        parse_document(text)
            .map(Rc::new)
            .map_err(|err| format!("failed to load YAML or JSON from input: {err}"))
    })
}

/// Checks that `template` parses, for load-time validation of benchmark files.
/// Unknown identifiers such as `{foo}` only fail at evaluation, as in kube-bench.
pub fn validate_template(template: &str) -> Result<(), String> {
    parse_template(template).map(|_| ())
}

/// Evaluates `template` on an already parsed document.
pub fn evaluate_template(document: &Document, template: &str) -> Result<String, String> {
    let nodes = parse_template(template)
        .map_err(|err| format!("unable to parse path expression \"{template}\": {err}"))?;
    let mut executor = Executor {
        nodes: &nodes,
        origin: document.origin(),
        begin_range: 0,
        in_range: 0,
        end_range: 0,
        last_end_node: None,
    };
    let groups = executor
        .find_results(Item::Root(document.value()), 0)
        .map_err(|err| format!("unable to execute path expression \"{template}\": {err}"))?;
    let mut out = String::new();
    for group in &groups {
        for (index, item) in group.iter().enumerate() {
            out.push_str(&render(item, document.origin()).map_err(|err| {
                format!("unable to execute path expression \"{template}\": {err}")
            })?);
            if index + 1 != group.len() {
                out.push(' ');
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Parser (client-go util/jsonpath/parser.go)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Literal text, outside braces or quoted inside them.
    Text(String),
    /// One `{...}` action, or the inside of a union member or filter side.
    List(Vec<Node>),
    Field(String),
    Array([SliceParam; 3]),
    Filter(Box<Filter>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Wildcard,
    Recursive,
    Union(Vec<Vec<Node>>),
    /// `range`, `end`, or an unknown word (an error only when evaluated).
    Identifier(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Vec<Node>,
    right: Vec<Node>,
    operator: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct SliceParam {
    value: i64,
    known: bool,
    /// The end of a single index (`[i]` is `[i:i+1]`); `[-1]` ends at the length.
    derived: bool,
}

/// `^'([^']*)'$`, by hand: compiling the regex cost more than a one-node scan's lookups.
fn dict_key(text: &str) -> Option<&str> {
    text.strip_prefix('\'')?
        .strip_suffix('\'')
        .filter(|key| !key.contains('\''))
}

/// `^(-?[0-9]*)(:-?[0-9]*)?(:-?[0-9]*)?$`, by hand: the three groups, the second and third
/// with their `:` and empty when absent.
fn slice_parts(text: &str) -> Option<[String; 3]> {
    let parts: Vec<&str> = text.split(':').collect();
    let number = |part: &str| {
        let digits = part.strip_prefix('-').unwrap_or(part);
        digits.bytes().all(|b| b.is_ascii_digit())
    };
    if parts.len() > 3 || !parts.iter().all(|part| number(part)) {
        return None;
    }
    let group = |i: usize| match parts.get(i) {
        Some(part) if i > 0 => format!(":{part}"),
        Some(part) => (*part).to_owned(),
        None => String::new(),
    };
    Some([group(0), group(1), group(2)])
}
static COMPARISON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^!<>=]+)([!<>=]+)(.+?)$").expect("valid regex"));

fn parse_template(text: &str) -> Result<Vec<Node>, String> {
    let mut parser = Parser {
        input: text,
        pos: 0,
        start: 0,
        width: 0,
    };
    parser.parse_root()
}

/// Parses `{text}` and returns the nodes of that single action.
fn parse_action(text: &str) -> Result<Vec<Node>, String> {
    let root = parse_template(&format!("{{{text}}}"))?;
    Ok(match root.into_iter().next() {
        Some(Node::List(nodes)) => nodes,
        _ => Vec::new(),
    })
}

struct Parser<'t> {
    input: &'t str,
    pos: usize,
    start: usize,
    width: usize,
}

impl<'t> Parser<'t> {
    fn rest(&self) -> &'t str {
        &self.input[self.pos..]
    }

    fn next(&mut self) -> Option<char> {
        let next = self.rest().chars().next();
        self.width = next.map_or(0, char::len_utf8);
        self.pos += self.width;
        next
    }

    fn peek(&mut self) -> Option<char> {
        self.rest().chars().next()
    }

    fn backup(&mut self) {
        self.pos -= self.width;
    }

    fn consume_text(&mut self) -> &'t str {
        let text = &self.input[self.start..self.pos];
        self.start = self.pos;
        text
    }

    /// The byte before the character just read (used to spot `\"` escapes).
    fn byte_before_last(&self) -> u8 {
        self.input.as_bytes()[self.pos - 2]
    }

    fn parse_root(&mut self) -> Result<Vec<Node>, String> {
        let mut root = Vec::new();
        loop {
            let mut at_action = false;
            loop {
                if self.rest().starts_with('{') {
                    at_action = true;
                    break;
                }
                if self.next().is_none() {
                    break;
                }
            }
            if self.pos > self.start {
                root.push(Node::Text(self.consume_text().to_owned()));
            }
            if !at_action {
                return Ok(root);
            }
            self.pos += 1;
            self.consume_text();
            let mut action = Vec::new();
            self.parse_inside_action(&mut action)?;
            root.push(Node::List(action));
        }
    }

    fn parse_inside_action(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
        loop {
            let rest = self.rest();
            if rest.starts_with('}') {
                self.pos += 1;
                self.consume_text();
                return Ok(());
            }
            if rest.starts_with("[?(") {
                self.parse_filter(cur)?;
                continue;
            }
            if rest.starts_with("..") {
                self.parse_recursive(cur)?;
                continue;
            }
            match self.next() {
                None | Some('\r' | '\n') => return Err("unclosed action".to_owned()),
                Some(' ' | '@' | '$') => {
                    self.consume_text();
                }
                Some('[') => self.parse_array(cur)?,
                Some(quote @ ('"' | '\'')) => self.parse_quote(cur, quote)?,
                Some('.') => self.parse_field(cur)?,
                Some(c) if c == '+' || c == '-' || c.is_numeric() => {
                    self.backup();
                    self.parse_number(cur)?;
                }
                Some(c) if is_alphanumeric(c) => {
                    self.backup();
                    self.parse_identifier(cur)?;
                }
                Some(c) => {
                    return Err(format!(
                        "unrecognized character in action: {}",
                        go_rune_repr(c)
                    ))
                }
            }
        }
    }

    fn parse_identifier(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
        loop {
            let r = self.next();
            if is_terminator(r) {
                self.backup();
                break;
            }
        }
        let value = self.consume_text();
        cur.push(match value {
            "true" => Node::Bool(true),
            "false" => Node::Bool(false),
            other => Node::Identifier(other.to_owned()),
        });
        Ok(())
    }

    fn parse_recursive(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
        if matches!(cur.last(), Some(Node::Recursive)) {
            return Err("invalid multiple recursive descent".to_owned());
        }
        self.pos += 2;
        self.consume_text();
        cur.push(Node::Recursive);
        if self.peek().is_some_and(is_alphanumeric) {
            self.parse_field(cur)?;
        }
        Ok(())
    }

    fn parse_number(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
        if matches!(self.peek(), Some('+' | '-')) {
            self.next();
        }
        loop {
            match self.next() {
                Some(c) if c == '.' || c.is_numeric() => {}
                _ => {
                    self.backup();
                    break;
                }
            }
        }
        let value = self.consume_text();
        if let Ok(int) = value.parse::<i64>() {
            cur.push(Node::Int(int));
        } else if let Ok(float) = value.parse::<f64>() {
            cur.push(Node::Float(float));
        } else {
            return Err(format!("cannot parse number {value}"));
        }
        Ok(())
    }

    fn parse_array(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
        loop {
            match self.next() {
                None | Some('\n') => return Err("unterminated array".to_owned()),
                Some(']') => break,
                Some(_) => {}
            }
        }
        let text = self.consume_text();
        let mut text = &text[1..text.len() - 1];
        if text == "*" {
            text = ":";
        }

        let members: Vec<&str> = text.split(',').collect();
        if members.len() > 1 {
            let union = members
                .iter()
                .map(|member| parse_action(&format!("[{}]", member.trim_matches(' '))))
                .collect::<Result<Vec<_>, _>>()?;
            cur.push(Node::Union(union));
            return Ok(());
        }

        if let Some(key) = dict_key(text) {
            // client-go re-parses the key as a field path, so a dot inside splits it.
            cur.extend(parse_action(&format!(".{key}"))?);
            return Ok(());
        }

        let groups = slice_parts(text).ok_or_else(|| format!("invalid array index {text}"))?;
        let mut params = [SliceParam::default(); 3];
        for i in 0..3 {
            let part = groups[i].as_str();
            if part.is_empty() {
                if i == 1 {
                    params[1] = SliceParam {
                        value: params[0].value.wrapping_add(1),
                        known: true,
                        derived: true,
                    };
                }
                continue;
            }
            let number = if i > 0 { &part[1..] } else { part };
            if i > 0 && number.is_empty() {
                continue;
            }
            let value = number
                .parse::<i64>()
                .map_err(|_| format!("array index {number} is not a number"))?;
            params[i] = SliceParam {
                value,
                known: true,
                derived: false,
            };
        }
        cur.push(Node::Array(params));
        Ok(())
    }

    fn parse_filter(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
        self.pos += 3;
        self.consume_text();
        let mut begin = false;
        let mut end = false;
        let mut pair = '"';
        loop {
            match self.next() {
                None | Some('\n') => return Err("unterminated filter".to_owned()),
                Some(quote @ ('"' | '\'')) => {
                    if !begin {
                        begin = true;
                        pair = quote;
                        continue;
                    }
                    if self.byte_before_last() != b'\\' && quote == pair {
                        end = true;
                    }
                }
                Some(')') if begin == end => break,
                Some(_) => {}
            }
        }
        if self.next() != Some(']') {
            return Err("unclosed array expect ]".to_owned());
        }
        let text = self.consume_text();
        let text = &text[..text.len() - 2];
        let filter = match COMPARISON.captures(text) {
            None => Filter {
                left: parse_action(text)?,
                right: Vec::new(),
                operator: "exists".to_owned(),
            },
            Some(parts) => Filter {
                left: parse_action(&parts[1])?,
                right: parse_action(&parts[3])?,
                operator: parts[2].to_owned(),
            },
        };
        cur.push(Node::Filter(Box::new(filter)));
        Ok(())
    }

    fn parse_quote(&mut self, cur: &mut Vec<Node>, quote: char) -> Result<(), String> {
        loop {
            match self.next() {
                None | Some('\n') => return Err("unterminated quoted string".to_owned()),
                Some(c) if c == quote && self.byte_before_last() != b'\\' => break,
                Some(_) => {}
            }
        }
        let value = self.consume_text();
        let text =
            unquote_extend(value).map_err(|err| format!("unquote string {value} error {err}"))?;
        cur.push(Node::Text(text));
        Ok(())
    }

    fn parse_field(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
        self.consume_text();
        while self.advance() {}
        let value = self.consume_text();
        cur.push(if value == "*" {
            Node::Wildcard
        } else {
            Node::Field(value.replace('\\', ""))
        });
        Ok(())
    }

    /// Reads one character of a field name; a backslash escapes the next one.
    fn advance(&mut self) -> bool {
        let r = self.next();
        if r == Some('\\') {
            self.next();
        } else if is_terminator(r) {
            self.backup();
            return false;
        }
        true
    }
}

fn is_terminator(r: Option<char>) -> bool {
    matches!(
        r,
        None | Some(' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}')
    )
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// Go's `%#U`: `U+0023 '#'`.
fn go_rune_repr(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

const SYNTAX_ERROR: &str = "invalid syntax";

/// client-go's `UnquoteExtend`: Go's `strconv.Unquote`, also for single-quoted strings.
fn unquote_extend(quoted: &str) -> Result<String, &'static str> {
    let bytes = quoted.as_bytes();
    let n = bytes.len();
    if n < 2 || bytes[0] != bytes[n - 1] || !matches!(bytes[0], b'"' | b'\'') {
        return Err(SYNTAX_ERROR);
    }
    let quote = bytes[0];
    let inner = &bytes[1..n - 1];
    if !inner.contains(&b'\\') && !inner.contains(&quote) {
        return Ok(quoted[1..n - 1].to_owned());
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while !rest.is_empty() {
        rest = unquote_char(rest, quote, &mut out)?;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `strconv.UnquoteChar`: decodes one (possibly escaped) character of `s` into `out`.
fn unquote_char<'s>(s: &'s [u8], quote: u8, out: &mut Vec<u8>) -> Result<&'s [u8], &'static str> {
    let c = s[0];
    if c == quote {
        return Err(SYNTAX_ERROR);
    }
    if c >= 0x80 {
        // A literal multi-byte character: copy its UTF-8 bytes unchanged.
        let length = match c {
            0xF0.. => 4,
            0xE0.. => 3,
            _ => 2,
        }
        .min(s.len());
        out.extend_from_slice(&s[..length]);
        return Ok(&s[length..]);
    }
    if c != b'\\' {
        out.push(c);
        return Ok(&s[1..]);
    }
    let (&escape, s) = s
        .get(1..)
        .and_then(<[u8]>::split_first)
        .ok_or(SYNTAX_ERROR)?;
    let simple = match escape {
        b'a' => Some(0x07),
        b'b' => Some(0x08),
        b'f' => Some(0x0C),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(0x0B),
        b'\\' => Some(b'\\'),
        b'\'' | b'"' if escape == quote => Some(escape),
        _ => None,
    };
    if let Some(byte) = simple {
        out.push(byte);
        return Ok(s);
    }
    match escape {
        b'x' | b'u' | b'U' => {
            let digits = match escape {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let hex = s.get(..digits).ok_or(SYNTAX_ERROR)?;
            let mut value: u32 = 0;
            for &digit in hex {
                value = value << 4 | char::from(digit).to_digit(16).ok_or(SYNTAX_ERROR)?;
            }
            if escape == b'x' {
                out.push(value as u8);
            } else {
                let c = char::from_u32(value).ok_or(SYNTAX_ERROR)?;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
            Ok(&s[digits..])
        }
        b'0'..=b'7' => {
            let more = s.get(..2).ok_or(SYNTAX_ERROR)?;
            let mut value = u32::from(escape - b'0');
            for &digit in more {
                if !(b'0'..=b'7').contains(&digit) {
                    return Err(SYNTAX_ERROR);
                }
                value = value << 3 | u32::from(digit - b'0');
            }
            let byte = u8::try_from(value).map_err(|_| SYNTAX_ERROR)?;
            out.push(byte);
            Ok(&s[2..])
        }
        _ => Err(SYNTAX_ERROR),
    }
}

// ---------------------------------------------------------------------------------------
// Evaluator (client-go util/jsonpath/jsonpath.go)
// ---------------------------------------------------------------------------------------

/// A value as Go's `reflect.Value` sees it, as far as printing and comparing differ.
#[derive(Debug, Clone)]
enum Item<'a> {
    /// The document behind kube-bench's `&jsonInterface` pointer: prints with `fmt`.
    Root(&'a Value),
    /// `reflect.ValueOf(nil)`: a null range element, or an empty range body.
    Invalid,
    /// A value inside the document (a map value, a slice element, or one taken out of them).
    Elem(&'a Value),
    Text(String),
    Int(i64),
    /// A byte of a string, from `*` or `..` on a string.
    Byte(u8),
    Float(f64),
    Bool(bool),
}

impl<'a> Item<'a> {
    /// `template.Indirect`: `None` for nil, otherwise the concrete value.
    fn indirect(&self) -> Option<Item<'a>> {
        match self {
            Item::Root(Value::Null) | Item::Elem(Value::Null) => None,
            Item::Root(value) => Some(Item::Elem(value)),
            other => Some(other.clone()),
        }
    }

    /// `reflect.ValueOf(v.Interface())`: what a `range` iteration starts from.
    fn as_range_root(&self) -> Item<'a> {
        match self {
            Item::Elem(Value::Null) => Item::Invalid,
            other => other.clone(),
        }
    }

    /// The members `*` and `..` visit: map values, slice elements, string bytes.
    fn children(&self) -> Vec<Item<'a>> {
        match self {
            // Go visits map values in random order; sorted keys keep output deterministic.
            Item::Elem(Value::Object(entries)) => sorted_entries(entries)
                .into_iter()
                .map(|(_, value)| Item::Elem(value))
                .collect(),
            Item::Elem(Value::Array(items)) => items.iter().map(Item::Elem).collect(),
            Item::Elem(Value::String(text)) => text.bytes().map(Item::Byte).collect(),
            Item::Text(text) => text.bytes().map(Item::Byte).collect(),
            _ => Vec::new(),
        }
    }
}

/// An evaluation error, with the values Go's function returns alongside it (an `exists`
/// filter looks at those even when the evaluation failed).
struct EvalError<'a> {
    partial: Vec<Item<'a>>,
    message: String,
}

type Eval<'a> = Result<Vec<Item<'a>>, EvalError<'a>>;

fn fail<'a>(partial: Vec<Item<'a>>, message: impl Into<String>) -> Eval<'a> {
    Err(EvalError {
        partial,
        message: message.into(),
    })
}

struct Executor<'a> {
    nodes: &'a [Node],
    origin: Origin,
    begin_range: usize,
    in_range: usize,
    end_range: usize,
    last_end_node: Option<usize>,
}

impl<'a> Executor<'a> {
    /// client-go's `FindResults` on `nodes[start..]`: one result group per top-level node,
    /// a `range` block adding the groups of each iteration.
    fn find_results(&mut self, data: Item<'a>, start: usize) -> Result<Vec<Vec<Item<'a>>>, String> {
        let cur = vec![data];
        let nodes = self.nodes;
        let mut groups = Vec::new();
        let mut i = start;
        while i < nodes.len() {
            let results = self.walk(&cur, &nodes[i]).map_err(|err| err.message)?;

            if self.end_range > 0 && self.end_range <= self.in_range {
                self.end_range -= 1;
                self.last_end_node = Some(i);
                break;
            }
            if self.begin_range > 0 {
                self.begin_range -= 1;
                self.in_range += 1;
                if results.is_empty() {
                    // Still walk the body, so the matching `end` is found.
                    self.find_results(Item::Invalid, i + 1)?;
                } else {
                    for value in &results {
                        groups.extend(self.find_results(value.as_range_root(), i + 1)?);
                    }
                }
                self.in_range -= 1;
                if let Some(end) = self.last_end_node.filter(|end| *end > i) {
                    i = end;
                }
                i += 1;
                continue;
            }
            groups.push(results);
            i += 1;
        }
        Ok(groups)
    }

    fn walk(&mut self, input: &[Item<'a>], node: &'a Node) -> Eval<'a> {
        match node {
            Node::List(nodes) => self.eval_list(input, nodes),
            Node::Text(text) => Ok(vec![Item::Text(text.clone())]),
            Node::Field(name) => Ok(eval_field(input, name)),
            Node::Array(params) => self.eval_array(input, params),
            Node::Filter(filter) => self.eval_filter(input, filter),
            Node::Int(value) => Ok(vec![Item::Int(*value); input.len()]),
            Node::Float(value) => Ok(vec![Item::Float(*value); input.len()]),
            Node::Bool(value) => Ok(vec![Item::Bool(*value); input.len()]),
            Node::Wildcard => Ok(input
                .iter()
                .filter_map(Item::indirect)
                .flat_map(|item| item.children())
                .collect()),
            Node::Recursive => Ok(eval_recursive(input)),
            Node::Union(members) => {
                let mut results = Vec::new();
                for member in members {
                    match self.eval_list(input, member) {
                        Ok(found) => results.extend(found),
                        Err(err) => return fail(input.to_vec(), err.message),
                    }
                }
                Ok(results)
            }
            Node::Identifier(name) => self.eval_identifier(input, name),
        }
    }

    fn eval_list(&mut self, input: &[Item<'a>], nodes: &'a [Node]) -> Eval<'a> {
        let mut current = input.to_vec();
        for node in nodes {
            current = self.walk(&current, node)?;
        }
        Ok(current)
    }

    fn eval_identifier(&mut self, input: &[Item<'a>], name: &str) -> Eval<'a> {
        match name {
            "range" => {
                self.begin_range += 1;
                Ok(input.to_vec())
            }
            "end" if self.in_range > 0 => {
                self.end_range += 1;
                Ok(Vec::new())
            }
            "end" => fail(Vec::new(), "not in range, nothing to end"),
            other => fail(input.to_vec(), format!("unrecognized identifier {other}")),
        }
    }

    fn eval_array(&self, input: &[Item<'a>], params: &[SliceParam; 3]) -> Eval<'a> {
        let mut results = Vec::new();
        for item in input {
            let Some(item) = item.indirect() else {
                continue;
            };
            let Item::Elem(Value::Array(elements)) = item else {
                let message = match item {
                    Item::Invalid => "reflect: call of reflect.Value.Type on zero Value".to_owned(),
                    other => format!("{} is not array or slice", self.go_type(&other)),
                };
                return fail(input.to_vec(), message);
            };
            let length = elements.len() as i64;
            let mut first = if params[0].known { params[0].value } else { 0 };
            if first < 0 {
                first = first.wrapping_add(length);
            }
            let mut end = if params[1].known {
                params[1].value
            } else {
                length
            };
            if end < 0 || (end == 0 && params[1].derived) {
                end = end.wrapping_add(length);
            }
            if end == first {
                // Zero elements requested: allowed, and client-go stops here.
                return Ok(results);
            }
            if first >= length || first < 0 {
                let message = format!("array index out of bounds: index {first}, length {length}");
                return fail(input.to_vec(), message);
            }
            if end > length || end < 0 {
                let message = format!(
                    "array index out of bounds: index {}, length {length}",
                    end.wrapping_sub(1)
                );
                return fail(input.to_vec(), message);
            }
            if first > end {
                let message = format!("starting index {first} is greater than ending index {end}");
                return fail(input.to_vec(), message);
            }
            let step = if params[2].known {
                if params[2].value <= 0 {
                    return fail(input.to_vec(), "step must be > 0");
                }
                params[2].value as usize
            } else {
                1
            };
            results.extend(
                elements[first as usize..end as usize]
                    .iter()
                    .step_by(step)
                    .map(Item::Elem),
            );
        }
        Ok(results)
    }

    fn eval_filter(&mut self, input: &[Item<'a>], filter: &'a Filter) -> Eval<'a> {
        let mut results = Vec::new();
        for item in input {
            let elements = match item.indirect() {
                Some(Item::Elem(Value::Array(elements))) => elements,
                other => {
                    let shown = match other {
                        None => "<nil>".to_owned(),
                        Some(Item::Invalid) => "<invalid reflect.Value>".to_owned(),
                        Some(other) => self.go_fmt(&other),
                    };
                    let message = format!("{shown} is not array or slice and cannot be filtered");
                    return fail(input.to_vec(), message);
                }
            };
            for element in elements {
                let candidate = [Item::Elem(element)];
                let lefts = self.eval_list(&candidate, &filter.left);
                if filter.operator == "exists" {
                    let found = match lefts {
                        Ok(found) => found,
                        Err(err) => err.partial,
                    };
                    if !found.is_empty() {
                        results.push(Item::Elem(element));
                    }
                    continue;
                }
                let lefts = lefts.map_err(|err| EvalError {
                    partial: input.to_vec(),
                    message: err.message,
                })?;
                let left = match lefts.as_slice() {
                    [] => continue,
                    [one] => self.operand(one),
                    _ => return fail(input.to_vec(), "can only compare one element at a time"),
                };
                let rights =
                    self.eval_list(&candidate, &filter.right)
                        .map_err(|err| EvalError {
                            partial: input.to_vec(),
                            message: err.message,
                        })?;
                let right = match rights.as_slice() {
                    [] => continue,
                    [one] => self.operand(one),
                    _ => return fail(input.to_vec(), "can only compare one element at a time"),
                };
                let passed = match filter.operator.as_str() {
                    "<" => less(&left, &right),
                    ">" => less_equal(&left, &right).map(|le| !le),
                    "==" => equal(&left, &right),
                    "!=" => equal(&left, &right).map(|eq| !eq),
                    "<=" => less_equal(&left, &right),
                    ">=" => less(&left, &right).map(|lt| !lt),
                    other => {
                        return fail(results, format!("unrecognized filter operator {other}"));
                    }
                };
                match passed {
                    Ok(true) => results.push(Item::Elem(element)),
                    Ok(false) => {}
                    Err(message) => return fail(results, message),
                }
            }
        }
        Ok(results)
    }

    /// The Go value a filter compares (`reflect.Value.Interface()`).
    fn operand(&self, item: &Item<'a>) -> Operand {
        match item {
            Item::Elem(Value::Bool(b)) | Item::Bool(b) => Operand::Bool(*b),
            Item::Elem(Value::String(s)) => Operand::Str(s.clone()),
            Item::Text(s) => Operand::Str(s.clone()),
            Item::Elem(Value::Number(n)) => match (self.origin, n.as_i64(), n.as_u64()) {
                (Origin::Yaml, Some(int), _) => Operand::Int(i128::from(int)),
                (Origin::Yaml, None, Some(uint)) => Operand::Uint(uint),
                _ => Operand::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Item::Int(i) => Operand::Int(i128::from(*i)),
            Item::Byte(b) => Operand::Uint(u64::from(*b)),
            Item::Float(f) => Operand::Float(*f),
            Item::Root(_) | Item::Invalid | Item::Elem(_) => Operand::Other,
        }
    }

    /// Go's `%v` of a concrete value, for error messages.
    fn go_fmt(&self, item: &Item<'a>) -> String {
        match item {
            Item::Root(value) | Item::Elem(value) => format_go_value(value, self.origin),
            Item::Invalid => "<invalid reflect.Value>".to_owned(),
            other => render_scalar(other).unwrap_or_default(),
        }
    }

    /// Go's type name of a concrete value, for error messages.
    fn go_type(&self, item: &Item<'a>) -> &'static str {
        match item {
            Item::Elem(Value::Object(_)) if self.origin == Origin::Json => {
                "map[string]interface {}"
            }
            Item::Elem(Value::Object(_)) => "map[interface {}]interface {}",
            Item::Elem(Value::Array(_)) => "[]interface {}",
            Item::Elem(Value::String(_)) | Item::Text(_) => "string",
            Item::Elem(Value::Bool(_)) | Item::Bool(_) => "bool",
            Item::Elem(Value::Number(n)) => match (self.origin, n.as_i64(), n.as_u64()) {
                (Origin::Yaml, Some(_), _) => "int",
                (Origin::Yaml, None, Some(_)) => "uint64",
                _ => "float64",
            },
            Item::Int(_) => "int",
            Item::Byte(_) => "uint8",
            Item::Float(_) => "float64",
            Item::Root(_) => "*interface {}",
            Item::Elem(Value::Null) | Item::Invalid => "interface {}",
        }
    }
}

fn eval_field<'a>(input: &[Item<'a>], name: &str) -> Vec<Item<'a>> {
    input
        .iter()
        .filter_map(|item| match item.indirect() {
            Some(Item::Elem(Value::Object(entries))) => entries.get(name).map(Item::Elem),
            _ => None,
        })
        .collect()
}

/// `..`: every value that has members (maps, non-empty lists, non-empty strings), itself
/// first, then what is below it. Scalars are never listed on their own.
fn eval_recursive<'a>(input: &[Item<'a>]) -> Vec<Item<'a>> {
    let mut results = Vec::new();
    for item in input.iter().filter_map(Item::indirect) {
        let children = item.children();
        if !children.is_empty() {
            results.push(item);
            results.extend(eval_recursive(&children));
        }
    }
    results
}

// ---------------------------------------------------------------------------------------
// Filter comparisons (client-go third_party/forked/golang/template: eq, lt, ...)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Bool(bool),
    Int(i128),
    Uint(u64),
    Float(f64),
    Str(String),
    /// nil, maps, slices, pointers: "invalid type for comparison".
    Other,
}

const BAD_TYPE: &str = "invalid type for comparison";
const INCOMPATIBLE: &str = "incompatible types for comparison";

fn equal(left: &Operand, right: &Operand) -> Result<bool, String> {
    use Operand::*;
    Ok(match (left, right) {
        (Other, _) | (_, Other) => return Err(BAD_TYPE.to_owned()),
        (Bool(a), Bool(b)) => a == b,
        (Int(a), Int(b)) => a == b,
        (Uint(a), Uint(b)) => a == b,
        (Int(a), Uint(b)) | (Uint(b), Int(a)) => *a == i128::from(*b),
        (Float(a), Float(b)) => a == b,
        (Str(a), Str(b)) => a == b,
        _ => return Err(INCOMPATIBLE.to_owned()),
    })
}

fn less(left: &Operand, right: &Operand) -> Result<bool, String> {
    use Operand::*;
    Ok(match (left, right) {
        (Other, _) | (_, Other) => return Err(BAD_TYPE.to_owned()),
        (Bool(_), Bool(_)) => return Err(BAD_TYPE.to_owned()),
        (Int(a), Int(b)) => a < b,
        (Uint(a), Uint(b)) => a < b,
        (Int(a), Uint(b)) => *a < i128::from(*b),
        (Uint(a), Int(b)) => i128::from(*a) < *b,
        (Float(a), Float(b)) => a < b,
        (Str(a), Str(b)) => a < b,
        _ => return Err(INCOMPATIBLE.to_owned()),
    })
}

fn less_equal(left: &Operand, right: &Operand) -> Result<bool, String> {
    if less(left, right)? {
        return Ok(true);
    }
    equal(left, right)
}

// ---------------------------------------------------------------------------------------
// Printing (client-go PrintResults / evalToText)
// ---------------------------------------------------------------------------------------

fn render(item: &Item<'_>, origin: Origin) -> Result<String, String> {
    match item {
        // A pointer is not a map or a slice to PrintResults: fmt prints what it points to.
        Item::Root(value) => Ok(format_go_value(value, origin)),
        Item::Invalid => Ok("<no value>".to_owned()),
        Item::Elem(Value::Null) => Ok("<nil>".to_owned()),
        Item::Elem(value @ (Value::Array(_) | Value::Object(_))) => marshal_go_json(value, origin),
        Item::Elem(Value::Bool(b)) => Ok(b.to_string()),
        Item::Elem(Value::Number(n)) => Ok(format_number(n, origin)),
        Item::Elem(Value::String(s)) => Ok(s.clone()),
        scalar => Ok(render_scalar(scalar).unwrap_or_default()),
    }
}

fn render_scalar(item: &Item<'_>) -> Option<String> {
    Some(match item {
        Item::Text(text) => text.clone(),
        Item::Int(i) => i.to_string(),
        Item::Byte(b) => b.to_string(),
        Item::Float(f) => format_float(*f),
        Item::Bool(b) => b.to_string(),
        Item::Root(_) | Item::Invalid | Item::Elem(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(source: &str, template: &str) -> String {
        lookup_path(source, template)
            .unwrap_or_else(|err| panic!("{template} on {source:?} failed: {err}"))
    }

    fn err(source: &str, template: &str) -> String {
        match lookup_path(source, template) {
            Ok(found) => panic!("{template} on {source:?} gave {found:?}, expected an error"),
            Err(message) => message,
        }
    }

    const POD_JSON: &str = r#"{
        "kind": "Pod",
        "metadata": {
            "name": "kube-apiserver",
            "labels": {"app": "kas", "app-name": "api"},
            "annotations": {"kubernetes.io/config.hash": "abc", "a.b": "dotted"}
        },
        "spec": {
            "containers": [
                {"name": "a", "command": ["kube-apiserver", "--port=0"], "port": 6443},
                {"name": "b", "command": ["sidecar"], "port": 8080, "ready": true},
                {"name": "c", "image": "pause", "port": 10250}
            ],
            "empty": [],
            "nothing": null
        }
    }"#;

    #[test]
    fn field_paths_find_nested_values() {
        let cases = [
            ("{.kind}", "Pod"),
            ("{.metadata.name}", "kube-apiserver"),
            ("{.metadata.labels.app-name}", "api"),
            ("{$.metadata.name}", "kube-apiserver"),
            ("{@.metadata.name}", "kube-apiserver"),
            ("{ .metadata.name }", "kube-apiserver"),
        ];
        for (template, expected) in cases {
            assert_eq!(ok(POD_JSON, template), expected, "{template}");
        }
    }

    #[test]
    fn missing_keys_give_empty_text() {
        for template in [
            "{.missing}",
            "{.metadata.missing.deeper}",
            "{.kind.sub}",
            "{.spec.containers.name}",
            "{.spec.nothing.x}",
            "{.spec.containers[*].missing}",
        ] {
            assert_eq!(ok(POD_JSON, template), "", "{template}");
        }
    }

    #[test]
    fn array_indexes_and_slices_select_elements() {
        let cases = [
            ("{.spec.containers[0].name}", "a"),
            ("{.spec.containers[2].name}", "c"),
            ("{.spec.containers[-1].name}", "c"),
            ("{.spec.containers[-2].name}", "b"),
            ("{.spec.containers[1:3].name}", "b c"),
            ("{.spec.containers[:2].name}", "a b"),
            ("{.spec.containers[1:].name}", "b c"),
            ("{.spec.containers[-2:].name}", "b c"),
            ("{.spec.containers[::2].name}", "a c"),
            ("{.spec.containers[*].name}", "a b c"),
            ("{.spec.containers[:].name}", "a b c"),
            ("{.spec.containers[0,2].name}", "a c"),
            ("{.spec.containers[0].command[1]}", "--port=0"),
            ("{.spec.empty[*]}", ""),
            ("{.spec.empty[:]}", ""),
            ("{.spec.containers[1:1].name}", ""),
        ];
        for (template, expected) in cases {
            assert_eq!(ok(POD_JSON, template), expected, "{template}");
        }
    }

    #[test]
    fn index_out_of_range_is_an_error_not_a_missing_key() {
        let message = err(POD_JSON, "{.spec.containers[3].name}");
        assert!(
            message.contains("array index out of bounds: index 3, length 3"),
            "{message}"
        );
        let message = err(POD_JSON, "{.spec.empty[0]}");
        assert!(
            message.contains("array index out of bounds: index 0, length 0"),
            "{message}"
        );
        let message = err(POD_JSON, "{.spec.containers[2:1]}");
        assert!(
            message.contains("starting index 2 is greater than ending index 1"),
            "{message}"
        );
        let message = err(POD_JSON, "{.spec.containers[::0]}");
        assert!(message.contains("step must be > 0"), "{message}");
    }

    #[test]
    fn indexing_a_map_is_an_error() {
        let message = err(POD_JSON, "{.metadata[0]}");
        assert!(
            message.contains("map[string]interface {} is not array or slice"),
            "{message}"
        );
        let message = err("a:\n  b: 1\n", "{.a[0]}");
        assert!(
            message.contains("map[interface {}]interface {} is not array or slice"),
            "{message}"
        );
    }

    #[test]
    fn indexing_null_is_skipped() {
        assert_eq!(ok(POD_JSON, "{.spec.nothing[0]}"), "");
    }

    #[test]
    fn filters_select_matching_elements() {
        let cases = [
            (r#"{.spec.containers[?(@.name=="b")].port}"#, "8080"),
            (r#"{.spec.containers[?(@.name == "b")].port}"#, "8080"),
            (r#"{.spec.containers[?(@.name!="b")].name}"#, "a c"),
            (r#"{.spec.containers[?(@.name=='c')].image}"#, "pause"),
            ("{.spec.containers[?(@.port>7000.0)].name}", "b c"),
            ("{.spec.containers[?(@.port<7000.5)].name}", "a"),
            ("{.spec.containers[?(@.port>=8080.0)].name}", "b c"),
            ("{.spec.containers[?(@.port<=8080.0)].name}", "a b"),
            ("{.spec.containers[?(@.port==8080.0)].name}", "b"),
            ("{.spec.containers[?(@.image)].name}", "c"),
            ("{.spec.containers[?(@.ready==true)].name}", "b"),
            (r#"{.spec.containers[?(@.name=="zzz")].name}"#, ""),
            (
                r#"{.spec.containers[?(@.command[0]=="sidecar")].name}"#,
                "b",
            ),
            (r#"{.spec.containers[?(@.name>"a")].name}"#, "b c"),
        ];
        for (template, expected) in cases {
            assert_eq!(ok(POD_JSON, template), expected, "{template}");
        }
    }

    #[test]
    fn filter_with_integer_literal_on_json_float_is_an_error() {
        // encoding/json gives float64, the literal is an int: Go refuses to compare them.
        let message = err(POD_JSON, "{.spec.containers[?(@.port==8080)].name}");
        assert!(
            message.contains("incompatible types for comparison"),
            "{message}"
        );
    }

    #[test]
    fn filter_with_integer_literal_on_yaml_int_matches() {
        let yaml = "items:\n- {name: a, port: 80}\n- {name: b, port: 443}\n";
        assert_eq!(ok(yaml, "{.items[?(@.port==443)].name}"), "b");
        assert_eq!(ok(yaml, "{.items[?(@.port>=80)].name}"), "a b");
        let message = err(yaml, "{.items[?(@.port==443.0)].name}");
        assert!(
            message.contains("incompatible types for comparison"),
            "{message}"
        );
    }

    #[test]
    fn filter_ordering_on_booleans_is_an_error() {
        let message = err(POD_JSON, "{.spec.containers[?(@.ready<true)].name}");
        assert!(message.contains("invalid type for comparison"), "{message}");
    }

    #[test]
    fn filter_on_a_map_is_an_error() {
        let message = err(POD_JSON, r#"{.metadata[?(@.name=="x")]}"#);
        assert!(
            message.contains("is not array or slice and cannot be filtered"),
            "{message}"
        );
    }

    #[test]
    fn filter_with_unknown_operator_is_an_error_at_evaluation() {
        assert!(validate_template(r#"{.a[?(@.b=!"x")]}"#).is_ok());
        let message = err(POD_JSON, r#"{.spec.containers[?(@.name=!"x")]}"#);
        assert!(
            message.contains("unrecognized filter operator =!"),
            "{message}"
        );
    }

    #[test]
    fn recursive_descent_finds_keys_at_any_depth() {
        assert_eq!(ok(POD_JSON, "{..name}"), "kube-apiserver a b c");
        assert_eq!(ok(POD_JSON, "{..image}"), "pause");
        assert_eq!(ok(POD_JSON, "{.spec..port}"), "6443 8080 10250");
        assert_eq!(ok("a: {b: {c: 1}}", "{..c}"), "1");
    }

    #[test]
    fn recursive_descent_lists_containers_not_scalars() {
        let json = r#"{"a": {"b": "xy"}, "n": 1}"#;
        assert_eq!(ok(json, "{..}"), r#"{"a":{"b":"xy"},"n":1} {"b":"xy"} xy"#);
    }

    #[test]
    fn double_recursive_descent_is_a_syntax_error() {
        assert_eq!(
            validate_template("{....a}").unwrap_err(),
            "invalid multiple recursive descent"
        );
    }

    #[test]
    fn wildcard_lists_map_values_in_key_order() {
        assert_eq!(ok(r#"{"m": {"b": 2, "a": 1}}"#, "{.m.*}"), "1 2");
        assert_eq!(ok("m: [x, z]", "{.m.*}"), "x z");
        // YAML 1.1: a plain `y` is a boolean.
        assert_eq!(ok("m: [x, y]", "{.m.*}"), "x true");
    }

    #[test]
    fn quoted_keys_and_escaped_dots_reach_keys_with_punctuation() {
        let cases = [
            (
                r"{.metadata.annotations.kubernetes\.io/config\.hash}",
                "abc",
            ),
            (
                r"{.metadata.annotations['kubernetes\.io/config\.hash']}",
                "abc",
            ),
            ("{.metadata['name']}", "kube-apiserver"),
            ("{['kind']}", "Pod"),
            (r"{.metadata.annotations.a\.b}", "dotted"),
            ("{.metadata.labels['app','app-name']}", "kas api"),
        ];
        for (template, expected) in cases {
            assert_eq!(ok(POD_JSON, template), expected, "{template}");
        }
    }

    #[test]
    fn quoted_key_with_a_dot_splits_like_client_go() {
        // client-go re-parses ['a.b'] as .a.b (kubernetes/kubernetes#23386).
        assert_eq!(ok(POD_JSON, "{.metadata.annotations['a.b']}"), "");
        assert_eq!(ok(r#"{"a": {"b": "nested"}}"#, "{['a.b']}"), "nested");
    }

    #[test]
    fn literal_text_and_multiple_actions_are_concatenated() {
        let cases = [
            ("name={.metadata.name}", "name=kube-apiserver"),
            ("{.kind}/{.metadata.name}", "Pod/kube-apiserver"),
            ("{.kind}{\"\\n\"}", "Pod\n"),
            ("{.kind}{'-'}{.metadata.labels.app}", "Pod-kas"),
            ("plain text", "plain text"),
            (
                ".streamingConnectionIdleTimeout",
                ".streamingConnectionIdleTimeout",
            ),
            ("{.missing}suffix", "suffix"),
            ("{\"a\\tb\"}", "a\tb"),
            ("{\"\\u00e9\\x41\\101\"}", "éAA"),
            ("{'it\\'s'}", "it's"),
            ("{.kind} {.metadata.name}", "Pod kube-apiserver"),
            ("", ""),
        ];
        for (template, expected) in cases {
            assert_eq!(ok(POD_JSON, template), expected, "{template}");
        }
    }

    #[test]
    fn number_and_boolean_literals_print_themselves() {
        assert_eq!(ok("{}", "{1}"), "1");
        assert_eq!(ok("{}", "{-2.50}"), "-2.5");
        assert_eq!(ok("{}", "{true}"), "true");
    }

    #[test]
    fn range_concatenates_iterations_without_spaces() {
        let json = r#"{"tlsCipherSuites": ["A", "B"]}"#;
        assert_eq!(ok(json, "{range .tlsCipherSuites[:]}{}{','}{end}"), "A,B,");
        assert_eq!(ok(json, "{range .tlsCipherSuites[*]}{@}{end}"), "AB");
        let yaml = "tlsCipherSuites:\n- A\n- B\n";
        assert_eq!(ok(yaml, "{range .tlsCipherSuites[:]}{}{','}{end}"), "A,B,");
    }

    #[test]
    fn range_over_items_prints_each_field() {
        assert_eq!(
            ok(
                POD_JSON,
                "{range .spec.containers[*]}{.name}{\"=\"}{.port}{\"\\n\"}{end}"
            ),
            "a=6443\nb=8080\nc=10250\n"
        );
    }

    #[test]
    fn range_over_nothing_prints_nothing_and_continues() {
        assert_eq!(
            ok(POD_JSON, "{range .spec.empty[*]}{.x}{','}{end}after"),
            "after"
        );
        assert_eq!(ok(POD_JSON, "{range .missing[*]}{@}{end}{.kind}"), "Pod");
        assert_eq!(
            ok(
                "tlsCipherSuites: []",
                "{range .tlsCipherSuites[:]}{}{','}{end}"
            ),
            ""
        );
    }

    #[test]
    fn nested_ranges_iterate_inner_lists() {
        let json = r#"{"a": [{"b": [1, 2]}, {"b": [3]}]}"#;
        assert_eq!(
            ok(json, "{range .a[*]}[{range .b[*]}{@};{end}]{end}!"),
            "[1;2;][3;]!"
        );
    }

    #[test]
    fn text_after_range_end_prints_once() {
        let json = r#"{"l": ["x", "y"], "k": "v"}"#;
        assert_eq!(ok(json, "{range .l[*]}{@},{end}{.k}"), "x,y,v");
    }

    #[test]
    fn end_without_range_is_an_error() {
        let message = err(POD_JSON, "{.kind}{end}");
        assert!(
            message.contains("not in range, nothing to end"),
            "{message}"
        );
    }

    #[test]
    fn unknown_identifier_is_an_error_at_evaluation() {
        assert!(validate_template("{foo}").is_ok());
        let message = err(POD_JSON, "{foo}");
        assert!(message.contains("unrecognized identifier foo"), "{message}");
    }

    #[test]
    fn syntax_errors_are_reported() {
        let cases = [
            ("{.a", "unclosed action"),
            ("{", "unclosed action"),
            ("{.a\n}", "unclosed action"),
            ("{.a[0}", "unterminated array"),
            ("{.a[x]}", "invalid array index x"),
            ("{.a[1:x]}", "invalid array index 1:x"),
            ("{.a[-]}", "array index - is not a number"),
            ("{.a[?(@.b==\"x\"]}", "unterminated filter"),
            ("{.a[?(@.b)x}", "unclosed array expect ]"),
            ("{\"abc}", "unterminated quoted string"),
            (
                "{\"a\\qb\"}",
                "unquote string \"a\\qb\" error invalid syntax",
            ),
            ("{#}", "unrecognized character in action: U+0023 '#'"),
            ("{.a\t}", "unrecognized character in action: U+0009"),
            ("{-}", "cannot parse number -"),
            ("{1.2.3}", "cannot parse number 1.2.3"),
        ];
        for (template, expected) in cases {
            assert_eq!(
                validate_template(template).unwrap_err(),
                expected,
                "{template}"
            );
            let message = err(POD_JSON, template);
            assert!(message.contains(expected), "{template}: {message}");
        }
    }

    #[test]
    fn unbalanced_closing_brace_is_literal_text() {
        let yaml = "resources:\n- providers:\n  - aescbc:\n      keys: [k1, k2]\n";
        assert_eq!(
            ok(yaml, "{.resources[*].providers[*].aescbc.keys[*]}}"),
            "k1 k2}"
        );
    }

    #[test]
    fn scalars_render_like_go() {
        let json =
            r#"{"port": 15000, "big": 1000000, "half": 0.5, "t": true, "n": null, "s": "x y"}"#;
        let cases = [
            ("{.port}", "15000"),
            ("{.big}", "1e+06"),
            ("{.half}", "0.5"),
            ("{.t}", "true"),
            ("{.n}", "<nil>"),
            ("{.s}", "x y"),
        ];
        for (template, expected) in cases {
            assert_eq!(ok(json, template), expected, "{template}");
        }
        let yaml =
            "mode: 0644\nbig: 1000000\nversion: 1.10\nenabled: yes\nnothing: ~\nratio: 1e3\n";
        let cases = [
            ("{.mode}", "420"),
            ("{.big}", "1000000"),
            ("{.version}", "1.1"),
            ("{.enabled}", "true"),
            ("{.nothing}", "<nil>"),
            ("{.ratio}", "1000"),
        ];
        for (template, expected) in cases {
            assert_eq!(ok(yaml, template), expected, "{template}");
        }
    }

    #[test]
    fn lists_render_as_compact_json() {
        assert_eq!(ok("a: [A, B]", "{.a}"), r#"["A","B"]"#);
        assert_eq!(ok("a: [1, 2.5, true, ~]", "{.a}"), "[1,2.5,true,null]");
        assert_eq!(
            ok(r#"{"a": [1000000, "<x>"]}"#, "{.a}"),
            r#"[1000000,"\u003cx\u003e"]"#
        );
        assert_eq!(ok("a: []", "{.a}"), "[]");
    }

    #[test]
    fn json_maps_render_as_sorted_compact_json() {
        assert_eq!(
            ok(r#"{"a": {"z": 1, "b": [true], "m": {"k": "v"}}}"#, "{.a}"),
            r#"{"b":[true],"m":{"k":"v"},"z":1}"#
        );
    }

    #[test]
    fn yaml_mappings_cannot_be_rendered() {
        for template in ["{.a}", "{.l}", "{.l[0]}", "{..b}"] {
            let message = err("a:\n  b: {c: 1}\nl:\n- {x: 1}\n", template);
            assert!(
                message.contains("json: unsupported type: map[interface {}]interface {}"),
                "{template}: {message}"
            );
        }
    }

    #[test]
    fn the_root_prints_with_go_fmt() {
        assert_eq!(
            ok(r#"{"b": [1, "x"], "a": null}"#, "{}"),
            "map[a:<nil> b:[1 x]]"
        );
        assert_eq!(ok("a: {b: 1}", "{@}"), "map[a:map[b:1]]");
        assert_eq!(ok("[1, 2]", "{$}"), "[1 2]");
        assert_eq!(ok("plain words", "{}"), "plain words");
        assert_eq!(ok("", "{}"), "<nil>");
    }

    #[test]
    fn null_range_element_prints_no_value() {
        assert_eq!(ok("[null, 1]", "{range [*]}{@},{end}"), "<no value>,1,");
    }

    #[test]
    fn yaml_boolean_keys_are_not_found_by_name() {
        // yaml.v2 reads the key `y` as the boolean true; a field name never matches it.
        assert_eq!(ok("y: 2\nx: 1\n", "{.y}"), "");
        assert_eq!(ok("y: 2\nx: 1\n", "{}"), "map[true:2 x:1]");
    }

    #[test]
    fn empty_document_finds_nothing() {
        for source in ["", "   ", "\n"] {
            assert_eq!(ok(source, "{.authentication.anonymous.enabled}"), "");
            assert_eq!(ok(source, "{range .tlsCipherSuites[:]}{}{','}{end}"), "");
        }
    }

    #[test]
    fn free_text_output_finds_nothing() {
        assert_eq!(ok("kubelet is running", "{.readOnlyPort}"), "");
    }

    #[test]
    fn unparsable_source_is_an_error() {
        let message = err("a: [1, 2\nb: {", "{.a}");
        assert!(message.contains("failed to load YAML or JSON"), "{message}");
    }

    #[test]
    fn exists_filter_keeps_elements_whose_lookup_failed_like_go() {
        // Go's evalList hands back its input on error; the exists filter then sees a value.
        let json = r#"{"l": [{"a": []}, {"b": 1}]}"#;
        assert_eq!(ok(json, "{.l[?(@.a[0])]}"), r#"{"a":[]}"#);
    }

    #[test]
    fn filter_by_missing_key_skips_the_element() {
        let json = r#"{"l": [{"a": "x"}, {"b": 1}]}"#;
        assert_eq!(ok(json, r#"{.l[?(@.a=="x")].a}"#), "x");
    }

    #[test]
    fn union_of_fields_and_indexes_concatenates() {
        let json = r#"{"l": ["a", "b", "c"]}"#;
        assert_eq!(ok(json, "{.l[0, 2]}"), "a c");
        assert_eq!(ok(json, "{.l[2,0]}"), "c a");
    }

    #[test]
    fn arbitrary_templates_never_panic() {
        const ALPHABET: &[u8] = b"{}[]().@$*:,'\"\\?=!<>-+019ab \n\trangeend";
        let sources = [POD_JSON, "l: [1, {a: 2}, [x]]\nm: {k: v}\n", "", "[null]"];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..5_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let length = (state >> 59) as usize + 1;
            let template: String = (0..length)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    char::from(ALPHABET[(state >> 33) as usize % ALPHABET.len()])
                })
                .collect();
            for source in sources {
                let _ = lookup_path(source, &template);
            }
        }
        for template in [
            "{[9223372036854775807]}",
            "{[-9223372036854775808]}",
            "{.l[-9223372036854775808:-9223372036854775808:1]}",
            "{.l[0:-9223372036854775808]}",
            "{'\\U0010FFFF\\UFFFFFFFF'}",
            "{[?(@.a[?(@.b)])]}",
        ] {
            let _ = lookup_path("l: [1, 2]", template);
        }
    }

    /// Every distinct `path:` expression in the kube-bench cfg/ files (cis-1.x, k3s, rh,
    /// eks, gke, aks, ...), as of this writing.
    const KUBE_BENCH_PATHS: &[&str] = &[
        ".kubeAPIQPS",
        ".makeIPTablesUtilChains",
        ".rotateCertificates",
        ".streamingConnectionIdleTimeout",
        "/var/lib/rancher/k3s/agent/serving-kubelet.crt",
        "/var/lib/rancher/k3s/agent/serving-kubelet.key",
        "{.AlwaysAdmit}",
        "{.IPAddressDeny}",
        "{.NamespaceLifecycle}",
        "{.NodeRestriction.configuration.disable}",
        "{.PodManifestConfig.client-ca-file}",
        "{.ServiceAccount.configuration.disable}",
        "{.admissionConfig.pluginConfig.AlwaysPullImages.configuration.disable}",
        "{.admissionConfig.pluginConfig.configuration.disable}",
        "{.auditConfig.enabled}",
        "{.auditConfig.maximumFileRetentionDays}",
        "{.auditConfig.maximumFileSizeMegabytes}",
        "{.auditConfig.maximumRetainedFiles}",
        "{.authentication.anonymous.enabled}",
        "{.authentication.x509.clientCAFile}",
        "{.authorization-mode}",
        "{.authorization.mode}",
        "{.client-transport-security.auto-tls}",
        "{.client-transport-security.cert-file}",
        "{.client-transport-security.client-cert-auth}",
        "{.client-transport-security.key-file}",
        "{.etcdClientInfo.ca}",
        "{.etcdClientInfo.certFile}",
        "{.etcdClientInfo.keyFile}",
        "{.eventRecordQPS}",
        "{.featureGates.RotateKubeletServerCertificate}",
        "{.kubeletArguments.authorization-mode}",
        "{.kubeletArguments.cadvisor-port}",
        "{.kubeletArguments.cert-dir}",
        "{.kubeletArguments.event-qps}",
        "{.kubeletArguments.feature-gates.RotateKubeletServerCertificate}",
        "{.kubeletArguments.feature-gates}",
        "{.kubeletArguments.keep-terminated-pod-volumes}",
        "{.kubeletArguments.make-iptables-util-chains}",
        "{.kubeletArguments.read-only-port}",
        "{.kubeletArguments.streaming-connection-idle-timeout}",
        "{.kubeletClientInfo.ca}",
        "{.kubeletClientInfo.certFile}",
        "{.kubeletClientInfo.keyFile}",
        "{.kubeletClientInfo.port}",
        "{.kubernetesMasterConfig.apiServerArguments.authorization-mode}",
        "{.kubernetesMasterConfig.apiServerArguments.basic-auth-file}",
        "{.kubernetesMasterConfig.apiServerArguments.experimental-encryption-provider-config}",
        "{.kubernetesMasterConfig.apiServerArguments.feature-gates.AdvancedAuditing}",
        "{.kubernetesMasterConfig.apiServerArguments.insecure-port}",
        "{.kubernetesMasterConfig.apiServerArguments.kubelet-certificat-authority}",
        "{.kubernetesMasterConfig.apiServerArguments.secure-port}",
        "{.kubernetesMasterConfig.apiServerArguments.token-auth-file}",
        "{.kubernetesMasterConfig.controllerArguments.terminated-pod-gc-threshold}",
        "{.kubernetesMasterConfig.controllerArguments.use-service-account-credentials}",
        "{.kubernetesMasterConfig.insecure-bind-address}",
        "{.makeIPTablesUtilChains}",
        "{.metricsBindAddress}",
        "{.peer-transport-security.auto-tls}",
        "{.peer-transport-security.cert-file}",
        "{.peer-transport-security.client-cert-auth}",
        "{.peer-transport-security.key-file}",
        "{.peer-transport-security.trusted-ca-file}",
        "{.podPidsLimit}",
        "{.protectKernelDefaults}",
        "{.readOnlyPort}",
        "{.repair-malformed-updates}",
        "{.resources[*].providers[*].aescbc.keys[*]}}",
        "{.rotateCertificates}",
        "{.seccompDefault}",
        "{.serviceAccountConfig.masterCA}",
        "{.serviceAccountConfig.privateKeyFile}",
        "{.serviceAccountConfig.publicKeyFiles}",
        "{.serviceAccountConfig.root-ca-file}",
        "{.servingInfo.certFile}",
        "{.servingInfo.clientCA}",
        "{.servingInfo.keyFile}",
        "{.staticPodPath}",
        "{.streamingConnectionIdleTimeout}",
        "{.tlsCertFile}",
        "{.tlsPrivateKeyFile}",
        "{range .tlsCipherSuites[:]}{}{','}{end}",
    ];

    #[test]
    fn every_kube_bench_path_expression_parses() {
        for template in KUBE_BENCH_PATHS {
            assert_eq!(validate_template(template), Ok(()), "{template}");
        }
    }

    /// /var/lib/kubelet/config.yaml as `kubeadm init` writes it (v1.30), with the
    /// hardening a CIS-conscious operator adds.
    const KUBEADM_KUBELET_CONFIG: &str = "\
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
  webhook:
    cacheAuthorizedTTL: 0s
    cacheUnauthorizedTTL: 0s
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: \"\"
cpuManagerReconcilePeriod: 0s
eventRecordQPS: 5
evictionPressureTransitionPeriod: 0s
featureGates:
  RotateKubeletServerCertificate: true
fileCheckFrequency: 0s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
httpCheckFrequency: 0s
imageMaximumGCAge: 0s
imageMinimumGCAge: 0s
kind: KubeletConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: \"0\"
  verbosity: 0
makeIPTablesUtilChains: true
memorySwap: {}
nodeStatusReportFrequency: 0s
nodeStatusUpdateFrequency: 0s
podPidsLimit: 4096
protectKernelDefaults: true
readOnlyPort: 0
resolvConf: /run/systemd/resolve/resolv.conf
rotateCertificates: true
runtimeRequestTimeout: 0s
seccompDefault: true
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
staticPodPath: /etc/kubernetes/manifests
streamingConnectionIdleTimeout: 4h0m0s
syncFrequency: 0s
tlsCertFile: /var/lib/kubelet/pki/kubelet.crt
tlsCipherSuites:
- TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
- TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
tlsPrivateKeyFile: /var/lib/kubelet/pki/kubelet.key
volumeStatsAggPeriod: 0s
";

    /// The same configuration as the kubelet's /configz endpoint (or a snapshot) gives it:
    /// JSON, so every number is a float64 to kube-bench.
    const KUBELET_CONFIG_JSON: &str = r#"{
  "kind": "KubeletConfiguration",
  "apiVersion": "kubelet.config.k8s.io/v1beta1",
  "staticPodPath": "/etc/kubernetes/manifests",
  "authentication": {
    "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"},
    "webhook": {"enabled": true, "cacheTTL": "2m0s"},
    "anonymous": {"enabled": false}
  },
  "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "5m0s"}},
  "readOnlyPort": 0,
  "eventRecordQPS": 5,
  "kubeAPIQPS": 50,
  "podPidsLimit": 1000000,
  "protectKernelDefaults": true,
  "makeIPTablesUtilChains": true,
  "rotateCertificates": true,
  "seccompDefault": false,
  "streamingConnectionIdleTimeout": "4h0m0s",
  "featureGates": {"RotateKubeletServerCertificate": true},
  "tlsCertFile": "/var/lib/kubelet/pki/kubelet.crt",
  "tlsPrivateKeyFile": "/var/lib/kubelet/pki/kubelet.key",
  "tlsCipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_GCM_SHA384"],
  "metricsBindAddress": "127.0.0.1:10249"
}"#;

    #[test]
    fn kube_bench_paths_on_a_kubeadm_kubelet_config() {
        let expected = [
            ("{.authentication.anonymous.enabled}", "false"),
            (
                "{.authentication.x509.clientCAFile}",
                "/etc/kubernetes/pki/ca.crt",
            ),
            ("{.authorization.mode}", "Webhook"),
            ("{.eventRecordQPS}", "5"),
            ("{.featureGates.RotateKubeletServerCertificate}", "true"),
            ("{.makeIPTablesUtilChains}", "true"),
            ("{.podPidsLimit}", "4096"),
            ("{.protectKernelDefaults}", "true"),
            ("{.readOnlyPort}", "0"),
            ("{.rotateCertificates}", "true"),
            ("{.seccompDefault}", "true"),
            ("{.staticPodPath}", "/etc/kubernetes/manifests"),
            ("{.streamingConnectionIdleTimeout}", "4h0m0s"),
            ("{.tlsCertFile}", "/var/lib/kubelet/pki/kubelet.crt"),
            ("{.tlsPrivateKeyFile}", "/var/lib/kubelet/pki/kubelet.key"),
            (
                "{range .tlsCipherSuites[:]}{}{','}{end}",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,",
            ),
            (
                ".streamingConnectionIdleTimeout",
                ".streamingConnectionIdleTimeout",
            ),
            ("{.metricsBindAddress}", ""),
            ("{.kubeletArguments.read-only-port}", ""),
            (
                "/var/lib/rancher/k3s/agent/serving-kubelet.crt",
                "/var/lib/rancher/k3s/agent/serving-kubelet.crt",
            ),
        ];
        for (template, value) in expected {
            assert_eq!(ok(KUBEADM_KUBELET_CONFIG, template), value, "{template}");
        }
    }

    #[test]
    fn kube_bench_paths_on_a_json_kubelet_config() {
        let expected = [
            ("{.authentication.anonymous.enabled}", "false"),
            (
                "{.authentication.x509.clientCAFile}",
                "/etc/kubernetes/pki/ca.crt",
            ),
            ("{.authorization.mode}", "Webhook"),
            ("{.eventRecordQPS}", "5"),
            (".kubeAPIQPS", ".kubeAPIQPS"),
            ("{.podPidsLimit}", "1e+06"),
            ("{.readOnlyPort}", "0"),
            ("{.seccompDefault}", "false"),
            ("{.metricsBindAddress}", "127.0.0.1:10249"),
            ("{.featureGates.RotateKubeletServerCertificate}", "true"),
            (
                "{range .tlsCipherSuites[:]}{}{','}{end}",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_256_GCM_SHA384,",
            ),
            (
                "{.featureGates}",
                r#"{"RotateKubeletServerCertificate":true}"#,
            ),
        ];
        for (template, value) in expected {
            assert_eq!(ok(KUBELET_CONFIG_JSON, template), value, "{template}");
        }
    }

    #[test]
    fn every_kube_bench_path_evaluates_on_both_kubelet_configs() {
        for source in [KUBEADM_KUBELET_CONFIG, KUBELET_CONFIG_JSON] {
            for template in KUBE_BENCH_PATHS {
                assert!(
                    lookup_path(source, template).is_ok(),
                    "{template} failed on a kubelet config"
                );
            }
        }
    }

    #[test]
    fn yaml_mapping_under_a_kube_bench_path_fails_the_item() {
        // kubeletArguments.feature-gates in OpenShift 3 is a mapping: kube-bench errors.
        let source =
            "kubeletArguments:\n  feature-gates:\n    RotateKubeletServerCertificate: true\n";
        assert!(lookup_path(source, "{.kubeletArguments.feature-gates}").is_err());
        assert_eq!(
            ok(
                source,
                "{.kubeletArguments.feature-gates.RotateKubeletServerCertificate}"
            ),
            "true"
        );
    }

    #[test]
    fn etcd_config_paths_read_dashed_keys() {
        let etcd = "name: etcd0\nclient-transport-security:\n  cert-file: /etc/etcd/server.crt\n  client-cert-auth: true\n  auto-tls: false\npeer-transport-security:\n  trusted-ca-file: /etc/etcd/ca.crt\n";
        assert_eq!(
            ok(etcd, "{.client-transport-security.cert-file}"),
            "/etc/etcd/server.crt"
        );
        assert_eq!(
            ok(etcd, "{.client-transport-security.client-cert-auth}"),
            "true"
        );
        assert_eq!(ok(etcd, "{.client-transport-security.auto-tls}"), "false");
        assert_eq!(
            ok(etcd, "{.peer-transport-security.trusted-ca-file}"),
            "/etc/etcd/ca.crt"
        );
        assert_eq!(ok(etcd, "{.peer-transport-security.key-file}"), "");
    }

    #[test]
    fn encryption_config_keys_are_mappings_so_the_item_fails() {
        let config = "resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        secret: c2VjcmV0\n";
        let message = err(config, "{.resources[*].providers[*].aescbc.keys[*]}}");
        assert!(message.contains("unsupported type"), "{message}");
        let json = r#"{"resources": [{"providers": [{"aescbc": {"keys": [{"name": "key1", "secret": "c2VjcmV0"}]}}]}]}"#;
        assert_eq!(
            ok(json, "{.resources[*].providers[*].aescbc.keys[*]}}"),
            r#"{"name":"key1","secret":"c2VjcmV0"}}"#
        );
    }

    #[test]
    fn parse_tree_matches_client_go_for_a_range_template() {
        let nodes = parse_template("{range .tlsCipherSuites[:]}{}{','}{end}").unwrap();
        assert_eq!(
            nodes,
            vec![
                Node::List(vec![
                    Node::Identifier("range".to_owned()),
                    Node::Field("tlsCipherSuites".to_owned()),
                    Node::Array([
                        SliceParam::default(),
                        SliceParam::default(),
                        SliceParam::default()
                    ]),
                ]),
                Node::List(vec![]),
                Node::List(vec![Node::Text(",".to_owned())]),
                Node::List(vec![Node::Identifier("end".to_owned())]),
            ]
        );
    }

    #[test]
    fn single_index_parses_as_a_derived_slice() {
        let nodes = parse_template("{[-1]}").unwrap();
        assert_eq!(
            nodes,
            vec![Node::List(vec![Node::Array([
                SliceParam {
                    value: -1,
                    known: true,
                    derived: false
                },
                SliceParam {
                    value: 0,
                    known: true,
                    derived: true
                },
                SliceParam::default(),
            ])])]
        );
    }
}

#[cfg(test)]
mod hand_written_patterns {
    use super::*;

    #[test]
    fn dict_key_and_slice_match_what_their_regexes_match() {
        let dict = Regex::new(r"^'([^']*)'$").unwrap();
        let slice = Regex::new(r"^(-?[0-9]*)(:-?[0-9]*)?(:-?[0-9]*)?$").unwrap();
        for text in [
            "", "'", "''", "'a'", "'a.b'", "'a'b'", "a'", "'a", "0", "-1", "-", "1:", ":1", "1:2",
            "1:2:3", "1::", "::", ":::", "1:2:3:4", "-1:-2:-3", "a", "1:a", "1 :2", "+1",
        ] {
            assert_eq!(
                dict_key(text),
                dict.captures(text).map(|c| c.get(1).unwrap().as_str()),
                "{text:?}"
            );
            let by_regex = slice
                .captures(text)
                .map(|c| [1, 2, 3].map(|i| c.get(i).map_or("", |m| m.as_str()).to_owned()));
            assert_eq!(slice_parts(text), by_regex, "{text:?}");
        }
    }
}
