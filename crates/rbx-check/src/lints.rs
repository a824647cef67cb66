//! Checks that read the syntax tree node by node: unfilled placeholders and
//! required roles and links, manual steps without evidence, and
//! interpolations the shell could split.

use std::collections::{HashMap, HashSet};

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::*;

use crate::{Fills, Finding, Source};

/// The placeholder the seed procedure uses for what is still to be filled.
const PLACEHOLDER: &str = "_TBD_";

pub fn check(sources: &[Source], fills: &Fills) -> Vec<Finding> {
    let mut lints = Lints {
        findings: Vec::new(),
        source: 0,
    };
    let mut roles: HashMap<String, (usize, &Role)> = HashMap::new();
    let mut links: HashMap<String, (usize, &Link)> = HashMap::new();
    let mut required_roles: Vec<(usize, &Ident)> = Vec::new();
    let mut required_links: Vec<(usize, &Ident)> = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let Some(file) = &source.file else { continue };
        lints.source = index;
        for item in &file.items {
            match &item.kind {
                ItemKind::Role(role) => {
                    roles.entry(role.id.name.clone()).or_insert((index, role));
                    // A role filled from outside replaces what the file says.
                    if !fills.roles.contains_key(&role.id.name) {
                        for field in role.fields.iter().flatten() {
                            lints.placeholder(&field.value, field.kind.keyword());
                        }
                    }
                }
                ItemKind::Link(link) => {
                    links.entry(link.id.name.clone()).or_insert((index, link));
                    if let Some(target) = link
                        .target
                        .as_ref()
                        .filter(|_| !fills.links.contains_key(&link.id.name))
                    {
                        lints.placeholder(target, "link target");
                    }
                }
                ItemKind::Require(Require::Role(role)) => required_roles.push((index, role)),
                ItemKind::Require(Require::Link(link)) => required_links.push((index, link)),
                ItemKind::Hook(hook) => lints.command(&hook.command),
                ItemKind::Version(t) | ItemKind::Scope(t) | ItemKind::Policy(t) => {
                    lints.placeholder(t, "text");
                }
                ItemKind::Stage(stage) => {
                    lints.stage_items(&stage.items, &mut required_roles, &mut required_links);
                }
                ItemKind::Include(_)
                | ItemKind::Input(_)
                | ItemKind::Outcome(_)
                | ItemKind::On(_)
                | ItemKind::Require(_) => {}
            }
        }
    }
    let mut reported = HashSet::new();
    for (source, role) in required_roles {
        let Some((_, definition)) = roles.get(&role.name) else {
            continue;
        };
        let filled = fills
            .roles
            .get(&role.name)
            .is_some_and(|f| !f.person.trim().is_empty());
        if filled
            || role_person(definition).is_some()
            || !reported.insert(("role", role.name.clone()))
        {
            continue;
        }
        lints.findings.push(Finding {
            source,
            diagnostic: Diagnostic::error(
                "rbx::lint::unfilled_role",
                format!("the role `{}` is required but has no person", role.name),
            )
            .primary(role.span, "required here")
            .help(format!(
                "fill it in the role's body: `role {} \"...\" {{ person \"Name\" contact \"...\" }}`",
                role.name
            )),
        });
    }
    for (source, link) in required_links {
        let Some((_, definition)) = links.get(&link.name) else {
            continue;
        };
        // A `_TBD_` target is reported by the placeholder lint.
        let set = fills
            .links
            .get(&link.name)
            .is_some_and(|t| !t.trim().is_empty())
            || definition
                .target
                .as_ref()
                .is_some_and(|t| !t.source_form().trim().is_empty());
        if set || !reported.insert(("link", link.name.clone())) {
            continue;
        }
        lints.findings.push(Finding {
            source,
            diagnostic: Diagnostic::error(
                "rbx::lint::unset_link",
                format!("the link `{}` is required but not set", link.name),
            )
            .primary(link.span, "required here")
            .help(format!(
                "give it a target: `link {} \"...\" = \"https://...\"`",
                link.name
            )),
        });
    }
    lints.findings
}

/// The person named for a role, if any. A `_TBD_` person counts as named
/// here: the placeholder lint reports it, once.
fn role_person(role: &Role) -> Option<String> {
    role.fields
        .iter()
        .flatten()
        .find(|field| field.kind == RoleFieldKind::Person)
        .map(|field| field.value.source_form())
        .filter(|person| !person.trim().is_empty())
}

struct Lints {
    findings: Vec<Finding>,
    source: usize,
}

impl Lints {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.findings.push(Finding {
            source: self.source,
            diagnostic,
        });
    }

    fn placeholder(&mut self, text: &Text, what: &str) {
        if text.source_form().contains(PLACEHOLDER) {
            self.report(
                Diagnostic::error(
                    "rbx::lint::placeholder",
                    format!("this {what} is still the placeholder `{PLACEHOLDER}`"),
                )
                .primary(text.span, "fill in before the procedure is used")
                .help("replace `_TBD_` with the real value"),
            );
        }
    }

    fn stage_items<'a>(
        &mut self,
        items: &'a [StageItem],
        required_roles: &mut Vec<(usize, &'a Ident)>,
        required_links: &mut Vec<(usize, &'a Ident)>,
    ) {
        for item in items {
            match &item.kind {
                StageItemKind::Require(Require::Role(role)) => {
                    required_roles.push((self.source, role))
                }
                StageItemKind::Require(Require::Link(link)) => {
                    required_links.push((self.source, link))
                }
                StageItemKind::Block(block) => {
                    self.block(block, required_roles, required_links);
                }
                StageItemKind::Foreach(foreach) => {
                    self.stage_items(&foreach.items, required_roles, required_links);
                }
                StageItemKind::Parallel(items) => {
                    self.stage_items(items, required_roles, required_links);
                }
                StageItemKind::Anchor(anchor) => self.placeholder(&anchor.title, "title"),
                StageItemKind::Require(Require::Expr(_))
                | StageItemKind::On(_)
                | StageItemKind::Then(_)
                | StageItemKind::End(_)
                | StageItemKind::Again(_) => {}
            }
        }
    }

    fn block<'a>(
        &mut self,
        block: &'a Block,
        required_roles: &mut Vec<(usize, &'a Ident)>,
        required_links: &mut Vec<(usize, &'a Ident)>,
    ) {
        self.placeholder(&block.title, "title");
        let mut has_evidence = false;
        for stmt in &block.body {
            match &stmt.kind {
                StmtKind::Run(command) | StmtKind::Verify(command) => {
                    self.placeholder(command, "command");
                    self.command(command);
                }
                StmtKind::Instructions(text) => self.placeholder(text, "instruction"),
                StmtKind::Evidence(_) => has_evidence = true,
                StmtKind::Require(Require::Role(role)) => required_roles.push((self.source, role)),
                StmtKind::Require(Require::Link(link)) => required_links.push((self.source, link)),
                _ => {}
            }
        }
        if block.kind == BlockKind::Manual && !has_evidence {
            self.report(
                Diagnostic::error(
                    "rbx::lint::manual_without_evidence",
                    format!("the manual step `{}` asks for no evidence", block.id.name),
                )
                .primary(block.id.span, "nothing would show it was done")
                .help(
                    "add what the person must record, e.g. `evidence notes \"what you \
                     checked\": text`",
                ),
            );
        }
    }

    /// Interpolations inside shell quotes: rbx quotes each value itself, so
    /// inside quotes the quoting shows up literally, and a value with a
    /// quote in it can end the quoted string early.
    fn command(&mut self, command: &Text) {
        let mut state = Quote::None;
        let mut escaped = false;
        for part in &command.parts {
            match part {
                TextPart::Literal(text) => {
                    for c in text.chars() {
                        (state, escaped) = step(state, escaped, c);
                    }
                }
                TextPart::Interpolation(path) if state != Quote::None => {
                    let quotes = if state == Quote::Single { "'" } else { "\"" };
                    self.report(
                        Diagnostic::error(
                            "rbx::lint::quoted_interpolation",
                            format!("`{{{{ {} }}}}` is inside shell quotes", path.dotted()),
                        )
                        .primary(path.span, format!("inside {quotes}...{quotes}"))
                        .help(
                            "take the quotes away: rbx passes every interpolated value to the \
                             shell as one safely quoted word",
                        ),
                    );
                }
                TextPart::Interpolation(_) => {}
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// The shell's quoting state after one more character.
fn step(state: Quote, escaped: bool, c: char) -> (Quote, bool) {
    match (state, c) {
        (_, _) if escaped => (state, false),
        (Quote::Single, '\'') => (Quote::None, false),
        (Quote::Single, _) => (Quote::Single, false),
        (_, '\\') => (state, true),
        (Quote::None, '\'') => (Quote::Single, false),
        (Quote::None, '"') => (Quote::Double, false),
        (Quote::Double, '"') => (Quote::None, false),
        _ => (state, false),
    }
}
