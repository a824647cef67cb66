//! Rendering diagnostics for people, rustc-style, through miette.
//!
//! A file is prepared once ([`Renderer`]) and then renders any number of
//! diagnostics at a cost set by each excerpt, not by the file's length.

mod excerpt;

use std::cell::OnceCell;
use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};
use rbx_syntax::Diagnostic;

use crate::conventions::colour;
use excerpt::Excerpts;

/// One source text, named, ready to have diagnostics rendered against it.
pub struct Renderer<'a> {
    source: Excerpts<'a>,
    handler: GraphicalReportHandler,
}

impl<'a> Renderer<'a> {
    pub fn new(name: String, text: &'a str) -> Self {
        let theme = if colour() {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        Self {
            source: Excerpts::new(name, text),
            handler: GraphicalReportHandler::new_themed(theme).with_width(100),
        }
    }

    /// `diagnostic` with the excerpts it points at, as text.
    pub fn render(&self, diagnostic: &Diagnostic) -> String {
        let shown = WithSource {
            diagnostic,
            source: &self.source,
        };
        let mut out = String::new();
        if self.handler.render_report(&mut out, &shown).is_err() {
            out = format!("{}: {}\n", diagnostic.code, diagnostic.message);
        }
        out
    }
}

/// One diagnostic with the source it points into, as text.
pub fn diagnostic(diagnostic: &Diagnostic, name: &str, source: &str) -> String {
    Renderer::new(name.to_string(), source).render(diagnostic)
}

/// Renders the findings of a procedure check, each against the source it
/// points into; a source is prepared the first time a finding needs it.
pub struct Findings<'a> {
    report: &'a rbx_check::Report,
    renderers: Vec<OnceCell<Renderer<'a>>>,
}

impl<'a> Findings<'a> {
    pub fn new(report: &'a rbx_check::Report) -> Self {
        Self {
            report,
            renderers: report.sources.iter().map(|_| OnceCell::new()).collect(),
        }
    }

    pub fn render(&self, finding: &rbx_check::Finding) -> String {
        let source = &self.report.sources[finding.source];
        self.renderers[finding.source]
            .get_or_init(|| Renderer::new(source.path.display().to_string(), &source.text))
            .render(&finding.diagnostic)
    }
}

/// A diagnostic lent its source for one rendering, so that neither is
/// copied (a `miette::Report` owns both).
struct WithSource<'a> {
    diagnostic: &'a Diagnostic,
    source: &'a Excerpts<'a>,
}

impl fmt::Debug for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.diagnostic, f)
    }
}

impl std::error::Error for WithSource<'_> {}

impl miette::Diagnostic for WithSource<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        miette::Diagnostic::code(self.diagnostic)
    }

    fn severity(&self) -> Option<miette::Severity> {
        miette::Diagnostic::severity(self.diagnostic)
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        miette::Diagnostic::help(self.diagnostic)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        miette::Diagnostic::labels(self.diagnostic)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self.source)
    }
}
