//! Data-driven tests over the fixture files: every valid construct's syntax
//! tree, and every syntax mistake's rendered diagnostics, snapshotted.

use std::path::Path;

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource};
use rbx_syntax::{fmt, parse};

fn render(source: &str, name: &str) -> String {
    let parsed = parse(source);
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for diagnostic in &parsed.diagnostics {
        let report = miette::Report::new(diagnostic.clone())
            .with_source_code(NamedSource::new(name, source.to_string()));
        handler
            .render_report(&mut out, report.as_ref())
            .expect("rendering to a string cannot fail");
    }
    out
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn valid_constructs_parse_to_the_expected_tree() {
    insta::glob!("fixtures/ok/*.runbook", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let parsed = parse(&source);
        assert!(
            parsed.diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            render(&source, &file_name(path))
        );
        insta::assert_debug_snapshot!(parsed.file.unwrap());
    });
}

#[test]
fn valid_constructs_format_canonically() {
    insta::glob!("fixtures/ok/*.runbook", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let file = parse(&source).file.unwrap();
        let formatted = fmt::format(&source, &file);
        insta::assert_snapshot!(formatted);
    });
}

#[test]
fn syntax_mistakes_get_precise_diagnostics() {
    insta::glob!("fixtures/errors/*.runbook", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let parsed = parse(&source);
        assert!(
            parsed.has_errors(),
            "{} parsed without errors",
            path.display()
        );
        assert!(parsed.file.is_none());
        let first_line = source.lines().next().unwrap_or_default();
        assert!(
            first_line.starts_with("# mistake:"),
            "{} should say what its mistake is on its first line",
            path.display()
        );
        insta::assert_snapshot!(render(&source, &file_name(path)));
    });
}

#[test]
fn each_error_fixture_points_past_its_description() {
    // The mistake is never in the first-line comment that describes it.
    insta::glob!("fixtures/errors/*.runbook", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let first_line_end = source.find('\n').unwrap_or(source.len());
        for diagnostic in parse(&source).diagnostics {
            let span = diagnostic.span().unwrap();
            assert!(
                span.start > first_line_end,
                "{}: {diagnostic}",
                path.display()
            );
        }
    });
}
