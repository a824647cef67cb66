//! Rendering diagnostics for people, rustc-style, through miette.

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource};
use rbx_syntax::Diagnostic;

use crate::conventions::colour;

/// One diagnostic with the source it points into, as text.
pub fn diagnostic(diagnostic: &Diagnostic, name: &str, source: &str) -> String {
    let theme = if colour() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let report = miette::Report::new(diagnostic.clone())
        .with_source_code(NamedSource::new(name, source.to_string()));
    let mut out = String::new();
    if handler.render_report(&mut out, report.as_ref()).is_err() {
        out = format!("{}: {}\n", diagnostic.code, diagnostic.message);
    }
    out
}

/// A finding of a procedure check, rendered against the source it points
/// into.
pub fn finding(report: &rbx_check::Report, finding: &rbx_check::Finding) -> String {
    let source = &report.sources[finding.source];
    diagnostic(
        &finding.diagnostic,
        &source.path.display().to_string(),
        &source.text,
    )
}
