//! Golden files for every emitter on the small fixture, and byte-identical re-rendering.

mod support;

use cisgate::report::codequality::CodeQualityEmitter;
use cisgate::report::html::HtmlEmitter;
use cisgate::report::junit::JunitEmitter;
use cisgate::report::markdown::MarkdownEmitter;
use cisgate::report::sarif::SarifEmitter;
use cisgate::report::Emitter;
use support::{render, render_string, small_fixture};

fn emitters() -> Vec<(&'static str, Box<dyn Emitter>)> {
    vec![
        ("sarif", Box::new(SarifEmitter)),
        ("junit", Box::new(JunitEmitter)),
        ("codequality", Box::new(CodeQualityEmitter)),
        ("markdown", Box::new(MarkdownEmitter)),
        ("html", Box::new(HtmlEmitter)),
    ]
}

#[test]
fn sarif_matches_golden_file() {
    insta::assert_snapshot!("sarif", render_string(&SarifEmitter, &small_fixture()));
}

#[test]
fn junit_matches_golden_file() {
    insta::assert_snapshot!("junit", render_string(&JunitEmitter, &small_fixture()));
}

#[test]
fn codequality_matches_golden_file() {
    insta::assert_snapshot!(
        "codequality",
        render_string(&CodeQualityEmitter, &small_fixture())
    );
}

#[test]
fn markdown_matches_golden_file() {
    insta::assert_snapshot!(
        "markdown",
        render_string(&MarkdownEmitter, &small_fixture())
    );
}

#[test]
fn rendering_twice_gives_identical_bytes_for_every_format() {
    for (name, emitter) in emitters() {
        let first = render(emitter.as_ref(), &small_fixture());
        let second = render(emitter.as_ref(), &small_fixture());
        assert!(!first.is_empty(), "{name} rendered nothing");
        assert_eq!(first, second, "{name} differs between two renders");
    }
}

#[test]
fn html_matches_golden_file() {
    insta::assert_snapshot!("html", render_string(&HtmlEmitter, &small_fixture()));
}

#[test]
fn console_summary_and_full_listing_match_golden_files() {
    use cisgate::report::text::Text;
    use cisgate::report::{ConsoleFormat, RenderOptions};
    let results = small_fixture();
    insta::assert_snapshot!("text_summary", render_string(&Text, &results));
    let full = RenderOptions {
        format: Some(ConsoleFormat::Full),
        ..RenderOptions::default()
    };
    let bytes = Text.render(&results, &full).unwrap();
    insta::assert_snapshot!("text_full", String::from_utf8(bytes).unwrap());
}
