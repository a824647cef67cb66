//! Each check, on a fixture that passes and fixtures that fail, with the
//! rendered findings snapshotted.

use std::path::Path;

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource};
use rbx_check::{Loader, Report, check};

struct Files;

impl Loader for Files {
    fn load(&self, path: &Path) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|_| "no such file or directory".to_string())
    }
}

fn render(report: &Report, root: &Path) -> String {
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for finding in &report.findings {
        let source = &report.sources[finding.source];
        let name = source.path.strip_prefix(root).unwrap_or(&source.path);
        let report = miette::Report::new(finding.diagnostic.clone()).with_source_code(
            NamedSource::new(name.display().to_string(), source.text.clone()),
        );
        handler
            .render_report(&mut out, report.as_ref())
            .expect("rendering to a string cannot fail");
    }
    out
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

#[test]
fn resolvable_references_pass() {
    let report = check(&fixtures().join("pass/references.runbook"), &Files);
    assert!(
        report.findings.is_empty(),
        "{}",
        render(&report, fixtures())
    );
}

#[test]
fn each_mistake_is_reported_where_it_is() {
    insta::glob!("fixtures/fail/*.runbook", |path| {
        let report = check(path, &Files);
        assert!(!report.findings.is_empty(), "{} passed", path.display());
        insta::assert_snapshot!(render(&report, fixtures()));
    });
}

#[test]
fn include_problems_point_at_the_include() {
    for case in ["include-cycle", "include-missing"] {
        let report = check(
            &fixtures().join(format!("fail/{case}/main.runbook")),
            &Files,
        );
        assert!(report.has_errors(), "{case} passed");
        insta::assert_snapshot!(case, render(&report, fixtures()));
    }
}

#[test]
fn a_file_included_twice_is_loaded_once() {
    // Loaded twice, its stage and step would be duplicate ids.
    let report = check(&fixtures().join("pass/diamond/main.runbook"), &Files);
    assert!(
        report.findings.is_empty(),
        "{}",
        render(&report, fixtures())
    );
    assert_eq!(report.sources.len(), 2);
}
