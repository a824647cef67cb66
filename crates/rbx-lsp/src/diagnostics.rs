//! What the editor is told about a procedure's problems.
//!
//! Every diagnostic on its way to the editor, whether published or read by
//! a code action, passes through [`routed`]: the one place where the
//! project's choices about which findings to show, and at what level,
//! apply.

use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Uri};
use rbx_check::{Finding, Report};
use rbx_syntax::{Diagnostic, Severity};

use crate::position::LineIndex;

/// The findings of `report` the editor shows, as `rbx lint` would report
/// them.
pub fn routed(report: &Report) -> Vec<Finding> {
    report.findings.clone()
}

/// One diagnostic in the protocol's terms: its primary label's range, its
/// code, its message with the help after it, and its other labels as
/// related places in the same file.
pub fn to_lsp(
    diagnostic: &Diagnostic,
    lines: &LineIndex,
    uri: Option<&Uri>,
) -> lsp_types::Diagnostic {
    let span = diagnostic.span().unwrap_or_default();
    let mut message = diagnostic.message.clone();
    if let Some(label) = diagnostic
        .labels
        .iter()
        .find(|l| l.primary && !l.message.is_empty())
    {
        message.push_str(&format!(": {}", label.message));
    }
    if let Some(help) = &diagnostic.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related = uri.map(|uri| {
        diagnostic
            .labels
            .iter()
            .filter(|label| !label.primary)
            .map(|label| DiagnosticRelatedInformation {
                location: Location::new(uri.clone(), lines.range(label.span)),
                message: label.message.clone(),
            })
            .collect::<Vec<_>>()
    });
    lsp_types::Diagnostic {
        range: lines.range(span),
        severity: Some(match diagnostic.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(diagnostic.code.to_string())),
        source: Some("rbx".to_string()),
        message,
        related_information: related.filter(|r| !r.is_empty()),
        ..lsp_types::Diagnostic::default()
    }
}
