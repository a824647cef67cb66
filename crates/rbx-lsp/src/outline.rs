//! Document symbols: the outline of one file, its stages with their
//! nodes, and the inputs, roles, links and outcomes it declares.

use lsp_types::{DocumentSymbol, SymbolKind};
use rbx_syntax::Span;
use rbx_syntax::ast::*;

use crate::position::LineIndex;

pub fn outline(text: &str, file: &File) -> Vec<DocumentSymbol> {
    let lines = LineIndex::new(text);
    let make = |name: String, detail: String, kind: SymbolKind, span: Span, id: Span| {
        symbol(&lines, name, detail, kind, span, id, None)
    };
    let mut out = Vec::new();
    for item in &file.items {
        let found = match &item.kind {
            ItemKind::Input(input) => Some(make(
                input.name.name.clone(),
                "input".into(),
                SymbolKind::VARIABLE,
                item.span,
                input.name.span,
            )),
            ItemKind::Role(role) => Some(make(
                role.id.name.clone(),
                role.title.source_form(),
                SymbolKind::OBJECT,
                item.span,
                role.id.span,
            )),
            ItemKind::Link(link) => Some(make(
                link.id.name.clone(),
                link.title.source_form(),
                SymbolKind::CONSTANT,
                item.span,
                link.id.span,
            )),
            ItemKind::Outcome(outcome) => Some(make(
                outcome.name.name.clone(),
                "outcome".into(),
                SymbolKind::ENUM_MEMBER,
                item.span,
                outcome.name.span,
            )),
            ItemKind::Stage(stage) => Some(symbol(
                &lines,
                stage.id.name.clone(),
                stage.title.source_form(),
                SymbolKind::NAMESPACE,
                item.span,
                stage.id.span,
                Some(nodes(&lines, &stage.items)),
            )),
            _ => None,
        };
        out.extend(found);
    }
    out
}

fn nodes(lines: &LineIndex, items: &[StageItem]) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for item in items {
        let found = match &item.kind {
            StageItemKind::Block(block) => Some(symbol(
                lines,
                block.id.name.clone(),
                format!("{} — {}", block.kind.keyword(), block.title.source_form()),
                match block.kind {
                    BlockKind::Step | BlockKind::Wait => SymbolKind::FUNCTION,
                    BlockKind::Child => SymbolKind::MODULE,
                    BlockKind::Decide | BlockKind::Choose => SymbolKind::OPERATOR,
                    BlockKind::Manual | BlockKind::Gate | BlockKind::Signoff => SymbolKind::EVENT,
                },
                item.span,
                block.id.span,
                None,
            )),
            StageItemKind::Anchor(anchor) => Some(symbol(
                lines,
                anchor.id.name.clone(),
                format!("anchor — {}", anchor.title.source_form()),
                SymbolKind::KEY,
                item.span,
                anchor.id.span,
                None,
            )),
            StageItemKind::Foreach(foreach) => Some(symbol(
                lines,
                format!("foreach {} in {}", foreach.var.name, foreach.list.dotted()),
                String::new(),
                SymbolKind::ARRAY,
                item.span,
                foreach.var.span,
                Some(nodes(lines, &foreach.items)),
            )),
            StageItemKind::Parallel(parallel) => Some(symbol(
                lines,
                "parallel".into(),
                String::new(),
                SymbolKind::ARRAY,
                item.span,
                Span::new(item.span.start, item.span.start + "parallel".len()),
                Some(nodes(lines, &parallel.items)),
            )),
            StageItemKind::Repeat(repeat) => Some(symbol(
                lines,
                format!("repeat until {}", rbx_syntax::fmt::expr(&repeat.until)),
                String::new(),
                SymbolKind::ARRAY,
                item.span,
                Span::new(item.span.start, item.span.start + "repeat".len()),
                Some(nodes(lines, &repeat.items)),
            )),
            StageItemKind::Every(every) => Some(symbol(
                lines,
                format!("every {}", rbx_syntax::fmt::expr(&every.interval)),
                String::new(),
                SymbolKind::ARRAY,
                item.span,
                Span::new(item.span.start, item.span.start + "every".len()),
                Some(nodes(lines, &every.items)),
            )),
            StageItemKind::Finally(items) => Some(symbol(
                lines,
                "finally".into(),
                String::new(),
                SymbolKind::ARRAY,
                item.span,
                Span::new(item.span.start, item.span.start + "finally".len()),
                Some(nodes(lines, items)),
            )),
            StageItemKind::Again(again) => Some(symbol(
                lines,
                format!("again {}", again.stage.name),
                String::new(),
                SymbolKind::NAMESPACE,
                item.span,
                again.stage.span,
                None,
            )),
            StageItemKind::Call(call) => Some(symbol(
                lines,
                format!("call {}", call.stage.name),
                String::new(),
                SymbolKind::NAMESPACE,
                item.span,
                call.stage.span,
                None,
            )),
            _ => None,
        };
        out.extend(found);
    }
    out
}

#[expect(
    deprecated,
    reason = "the protocol's DocumentSymbol still has the deprecated field, and a literal must name it"
)]
fn symbol(
    lines: &LineIndex,
    name: String,
    detail: String,
    kind: SymbolKind,
    span: Span,
    id: Span,
    children: Option<Vec<DocumentSymbol>>,
) -> DocumentSymbol {
    DocumentSymbol {
        name,
        detail: (!detail.is_empty()).then_some(detail),
        kind,
        tags: None,
        deprecated: None,
        range: lines.range(span.to(id)),
        selection_range: lines.range(id),
        children,
    }
}
