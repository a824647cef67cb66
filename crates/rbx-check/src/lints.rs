//! Checks that read the syntax tree node by node: unfilled placeholders and
//! required roles and links, manual steps without evidence, and
//! interpolations rbx cannot pass to a command as data (inside single
//! quotes, parsed again by `ssh` or `sh -c`, read as an option).

use std::collections::{HashMap, HashSet};

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::*;

use crate::shell_context::{self, Place, Quoting};
use crate::symbols::{FieldType, NodeKind, Table};
use crate::{Fills, Finding, Source};

/// The placeholder the seed procedure uses for what is still to be filled.
const PLACEHOLDER: &str = "_TBD_";

pub fn check(sources: &[Source], table: &Table, fills: &Fills) -> Vec<Finding> {
    let mut lints = Lints {
        findings: Vec::new(),
        source: 0,
        table,
        scopes: Vec::new(),
        assigned: HashSet::new(),
    };
    let mut declared = Declared::default();
    for (index, source) in sources.iter().enumerate() {
        let Some(file) = &source.file else { continue };
        lints.source = index;
        for item in &file.items {
            lints.item(item, index, fills, &mut declared);
        }
    }
    let mut reported = HashSet::new();
    lints.unfilled_roles(&declared, fills, &mut reported);
    lints.unset_links(&declared, fills, &mut reported);
    lints.findings
}

/// The roles and links the files declare, and where each is required.
#[derive(Default)]
struct Declared<'a> {
    roles: HashMap<String, (usize, &'a Role)>,
    links: HashMap<String, (usize, &'a Link)>,
    required_roles: Vec<(usize, &'a Ident)>,
    required_links: Vec<(usize, &'a Ident)>,
    /// Required before the run starts: a role assigned during it cannot be.
    required_at_start: HashSet<&'a str>,
}

impl Lints<'_> {
    /// One top-level item of file `index`: its own lints, and what it
    /// declares or requires.
    fn item<'a>(
        &mut self,
        item: &'a Item,
        index: usize,
        fills: &Fills,
        declared: &mut Declared<'a>,
    ) {
        match &item.kind {
            ItemKind::Role(role) => {
                declared
                    .roles
                    .entry(role.id.name.clone())
                    .or_insert((index, role));
                // A role filled from outside replaces what the file says.
                if !fills.roles.contains_key(&role.id.name) {
                    for field in role.fields.iter().flatten() {
                        self.placeholder(&field.value, field.kind.keyword());
                        if field.kind == RoleFieldKind::Identity
                            && field.value.source_form().trim().is_empty()
                        {
                            self.empty_identity(&field.value);
                        }
                    }
                }
            }
            ItemKind::Link(link) => {
                declared
                    .links
                    .entry(link.id.name.clone())
                    .or_insert((index, link));
                if let Some(target) = link
                    .target
                    .as_ref()
                    .filter(|_| !fills.links.contains_key(&link.id.name))
                {
                    self.placeholder(target, "link target");
                }
            }
            ItemKind::Require(Require::Role(role)) => {
                declared.required_at_start.insert(&role.name);
                declared.required_roles.push((index, role));
            }
            ItemKind::Require(Require::Link(link)) => declared.required_links.push((index, link)),
            ItemKind::Hook(hook) => self.command(&hook.command),
            ItemKind::Version(t) | ItemKind::Scope(t) | ItemKind::Policy(t) => {
                self.placeholder(t, "text");
            }
            ItemKind::Stage(stage) => {
                let params = stage.params.as_deref().unwrap_or_default();
                for param in params {
                    self.scopes
                        .push((param.name.name.clone(), param_holds(&param.ty.kind)));
                }
                self.stage_items(
                    &stage.items,
                    &mut declared.required_roles,
                    &mut declared.required_links,
                );
                self.scopes.truncate(self.scopes.len() - params.len());
            }
            ItemKind::Finally(items) => {
                self.stage_items(
                    items,
                    &mut declared.required_roles,
                    &mut declared.required_links,
                );
            }
            ItemKind::Include(_)
            | ItemKind::Input(_)
            | ItemKind::Outcome(_)
            | ItemKind::On(_)
            | ItemKind::Budget(_)
            | ItemKind::Require(_) => {}
        }
    }

    /// Each required role that nobody fills, once.
    fn unfilled_roles(
        &mut self,
        declared: &Declared<'_>,
        fills: &Fills,
        reported: &mut HashSet<(&'static str, String)>,
    ) {
        for &(source, role) in &declared.required_roles {
            let Some((_, definition)) = declared.roles.get(&role.name) else {
                continue;
            };
            let filled = fills
                .roles
                .get(&role.name)
                .is_some_and(|f| !f.person.trim().is_empty());
            // A step assigns it during the run: whether it is filled when a
            // stage or node needs it is the run's to say, as a recorded
            // failure.
            let assigned = self.assigned.contains(&role.name)
                && !declared.required_at_start.contains(role.name.as_str());
            if filled
                || assigned
                || role_person(definition).is_some()
                || !reported.insert(("role", role.name.clone()))
            {
                continue;
            }
            let help = if self.assigned.contains(&role.name) {
                format!(
                    "a step assigns `{}` during the run, after this is checked: require it in \
                     the stage or step that needs it",
                    role.name
                )
            } else {
                format!(
                    "fill it in the role's body: `role {} \"...\" {{ person \"Name\" contact \"...\" }}`",
                    role.name
                )
            };
            self.findings.push(Finding {
                source,
                diagnostic: Diagnostic::error(
                    "rbx::lint::unfilled_role",
                    format!("the role `{}` is required but has no person", role.name),
                )
                .primary(role.span, "required here")
                .help(help),
            });
        }
    }

    /// Each required link without a target, once.
    fn unset_links(
        &mut self,
        declared: &Declared<'_>,
        fills: &Fills,
        reported: &mut HashSet<(&'static str, String)>,
    ) {
        for &(source, link) in &declared.required_links {
            let Some((_, definition)) = declared.links.get(&link.name) else {
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
            self.findings.push(Finding {
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
    }
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

struct Lints<'t> {
    findings: Vec<Finding>,
    source: usize,
    table: &'t Table,
    /// The parameters of the current stage and the loop variables of the
    /// `foreach` blocks around the current node, each with what its type
    /// lets it hold.
    scopes: Vec<(String, Holds)>,
    /// The roles some manual step assigns during the run.
    assigned: HashSet<String>,
}

/// What a parameter's value can hold, by its declared type.
fn param_holds(kind: &InputTypeKind) -> Holds {
    match kind {
        InputTypeKind::Scalar(ty) | InputTypeKind::List(ty) => holds(*ty),
        InputTypeKind::Enum(_) => Holds::Inert,
    }
}

/// What an interpolated value can hold, by its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// Nothing a shell reads as syntax: a number, a bool, a duration, a
    /// time, a host, a name from a closed set (an enum value, an option).
    Inert,
    /// Any text: strings, secrets, captures, evidence.
    Text,
    /// A command line, meant to run as code (the type `command`).
    Code,
}

fn holds(ty: ScalarType) -> Holds {
    match ty {
        ScalarType::String | ScalarType::Secret => Holds::Text,
        ScalarType::Command => Holds::Code,
        ScalarType::Int
        | ScalarType::Bool
        | ScalarType::Duration
        | ScalarType::Timestamp
        | ScalarType::Host => Holds::Inert,
    }
}

impl Lints<'_> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.findings.push(Finding {
            source: self.source,
            diagnostic,
        });
    }

    /// An empty `identity` names no operator: no one could sign for the
    /// role.
    fn empty_identity(&mut self, text: &Text) {
        self.report(
            Diagnostic::error(
                "rbx::lint::placeholder",
                "this identity is empty, so no one could sign for the role",
            )
            .primary(text.span, "name an operator here")
            .help("write the operator (on a shared store, the database role) who may sign, or remove the line"),
        );
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
                    let item = self.table.list_item(&foreach.list);
                    self.scopes
                        .push((foreach.var.name.clone(), item.map_or(Holds::Text, holds)));
                    self.stage_items(&foreach.items, required_roles, required_links);
                    self.scopes.pop();
                }
                StageItemKind::Parallel(parallel) => {
                    self.stage_items(&parallel.items, required_roles, required_links);
                }
                StageItemKind::Repeat(repeat) => {
                    self.stage_items(&repeat.items, required_roles, required_links);
                }
                StageItemKind::Every(every) => {
                    self.stage_items(&every.items, required_roles, required_links);
                }
                StageItemKind::Finally(items) => {
                    self.stage_items(items, required_roles, required_links);
                }
                StageItemKind::Checklist(list) => {
                    self.placeholder(&list.title, "title");
                    self.stage_items(&list.items, required_roles, required_links);
                }
                StageItemKind::Anchor(anchor) => self.placeholder(&anchor.title, "title"),
                StageItemKind::Require(Require::Expr(_))
                | StageItemKind::On(_)
                | StageItemKind::Then(_)
                | StageItemKind::End(_)
                | StageItemKind::Again(_)
                | StageItemKind::Call(_) => {}
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
                StmtKind::Evidence(_) | StmtKind::Acknowledge => has_evidence = true,
                StmtKind::Assign { role, evidence } => self.assign(block, role, evidence),
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

    /// `assign ROLE = EVIDENCE` names a required `text` evidence of its own
    /// step: the person who fills the role must be said, and said as a name.
    fn assign(&mut self, block: &Block, role: &Ident, evidence: &Ident) {
        self.assigned.insert(role.name.clone());
        let declared = block.body.iter().find_map(|stmt| match &stmt.kind {
            StmtKind::Evidence(e) if e.name.name == evidence.name => Some(e),
            _ => None,
        });
        let problem = match declared {
            None => format!(
                "`{}` is not an evidence of the manual step `{}`",
                evidence.name, block.id.name
            ),
            Some(e) if e.ty != EvidenceType::Text => format!(
                "the evidence `{}` is not `text`: it cannot name who fills `{}`",
                evidence.name, role.name
            ),
            Some(e) if e.optional => format!(
                "the evidence `{}` is optional: the step could end without naming who fills `{}`",
                evidence.name, role.name
            ),
            Some(_) => return,
        };
        self.report(
            Diagnostic::error("rbx::lint::assign_evidence", problem)
                .primary(
                    evidence.span,
                    "the person who fills the role comes from here",
                )
                .help(format!(
                    "declare it in this step, e.g. `evidence {} \"who fills {}\": text`",
                    evidence.name, role.name
                )),
        );
    }

    /// What the value an interpolation names can hold. A name lint cannot
    /// type is taken to hold any text.
    fn holds(&self, path: &Path) -> Holds {
        let Some((head, rest)) = path.segments.split_first() else {
            return Holds::Text;
        };
        if let Some((_, item)) = self.scopes.iter().rev().find(|(var, _)| *var == head.name) {
            return match rest {
                [] => *item,
                // `VAR.index`, a number.
                _ => Holds::Inert,
            };
        }
        if let Some(input) = self.table.inputs.get(&head.name) {
            return match input {
                InputTypeKind::Scalar(ty) | InputTypeKind::List(ty) => holds(*ty),
                InputTypeKind::Enum(_) => Holds::Inert,
            };
        }
        let Some(node) = self.table.nodes.get(&head.name) else {
            return Holds::Text;
        };
        match rest {
            // An anchor's time, a choice's option.
            [] => match node.kind {
                NodeKind::Anchor | NodeKind::Checklist | NodeKind::Block(BlockKind::Choose) => {
                    Holds::Inert
                }
                NodeKind::Block(_) => Holds::Text,
            },
            [field] => match node.fields.get(&field.name) {
                Some(FieldType::Status)
                | Some(FieldType::Evidence(
                    EvidenceType::Choice(_)
                    | EvidenceType::Choices(_)
                    | EvidenceType::Int
                    | EvidenceType::Bool,
                ))
                | Some(FieldType::Capture(Some(
                    CaptureType::Int
                    | CaptureType::Bool
                    | CaptureType::Duration
                    | CaptureType::Timestamp
                    | CaptureType::List(
                        ScalarType::Int
                        | ScalarType::Bool
                        | ScalarType::Duration
                        | ScalarType::Timestamp,
                    ),
                ))) => Holds::Inert,
                _ => Holds::Text,
            },
            _ => Holds::Text,
        }
    }

    /// Every interpolation of a command, where it lands: rbx passes each
    /// value to the shell as data (a variable reference), which works as a
    /// word of its own, inside double quotes and in a here-document. It
    /// cannot work inside single quotes or a quoted here-document, and it
    /// is not enough where another shell parses the text again.
    fn command(&mut self, command: &Text) {
        // Most commands interpolate nothing: nothing to place.
        if !command
            .parts
            .iter()
            .any(|part| matches!(part, TextPart::Interpolation(_)))
        {
            return;
        }
        let places = shell_context::places(command);
        let interpolations = command.parts.iter().filter_map(|part| match part {
            TextPart::Interpolation(interpolation) => Some(interpolation),
            TextPart::Literal(_) => None,
        });
        for (interpolation, place) in interpolations.zip(places) {
            if self.unexpanded(interpolation, &place) {
                continue;
            }
            let holds = self.holds(&interpolation.path);
            if holds == Holds::Text {
                self.option_or_code(interpolation, &place);
            }
        }
    }

    /// Reports an interpolation where the shell expands nothing (single
    /// quotes, a quoted here-document) or after a backslash; true when it
    /// is one of those, or in a comment.
    fn unexpanded(&mut self, interpolation: &Interpolation, place: &Place) -> bool {
        let written = interpolation.source_form();
        let span = interpolation.path.span;
        let diagnostic = match place.quoting {
            Quoting::Single if interpolation.shell_quotes() == 0 => {
                let name = interpolation.path.dotted();
                Diagnostic::error(
                    QUOTED,
                    format!("`{written}` is inside single quotes, where the shell expands nothing"),
                )
                .primary(span, "inside '…'")
                .help(format!(
                    "close the quotes around it: `'…'{written}'…'`; if the quoted text is \
                     code for another program, pass the value to it as data (`jq --arg`, \
                     `awk -v`, `sh -c '… \"$1\"' sh {written}`), or for a shell write \
                     `{{{{ {name} | shell }}}}`"
                ))
            }
            Quoting::QuotedHeredoc => Diagnostic::error(
                QUOTED,
                format!(
                    "`{written}` is in a here-document with a quoted delimiter, where the shell expands nothing"
                ),
            )
            .primary(span, "in <<'…'")
            .help("unquote the delimiter (`<<EOF`): the body then gets the value, as data"),
            Quoting::Escaped => Diagnostic::error(
                QUOTED,
                format!("`{written}` follows a backslash, which would escape the value's quoting"),
            )
            .primary(span, "after `\\`")
            .help("remove the backslash: rbx passes the value as data already"),
            Quoting::Comment => return true,
            Quoting::Bare | Quoting::Double | Quoting::Single | Quoting::Heredoc => return false,
        };
        self.report(diagnostic);
        true
    }

    /// Reports a text value where a command reads its options, or parsed
    /// again as shell code without as many `| shell` as shells read it, or
    /// quoted inside what such a shell runs.
    fn option_or_code(&mut self, interpolation: &Interpolation, place: &Place) {
        let written = interpolation.source_form();
        let span = interpolation.path.span;
        if let Some(command) = place.option_of.as_ref() {
            self.report(
                Diagnostic::error(
                    OPTION,
                    format!("`{written}` is where `{command}` reads its options"),
                )
                .primary(
                    span,
                    "a value starting with `-` would be an option, such as `-oProxyCommand=…`",
                )
                .help(format!(
                    "end the options before it: `{command} … -- {written} …`, or declare the \
                     input with the type `host`, which cannot start with `-`"
                )),
            );
        }
        if place.reparsed.is_empty() {
            return;
        }
        let by: Vec<String> = place
            .reparsed
            .iter()
            .map(|r| format!("`{}`", r.by))
            .collect();
        let quotes = interpolation.shell_quotes();
        if quotes < place.reparsed.len() {
            let name = interpolation.path.dotted();
            let quoted = format!(
                "{{{{ {name}{} }}}}",
                " | shell".repeat(place.reparsed.len())
            );
            self.report(
                Diagnostic::error(
                    REPARSED,
                    format!(
                        "`{written}` is parsed again as shell code by {}",
                        by.join(", then by ")
                    ),
                )
                .primary(span, format!("{} runs this as code", by[quotes]))
                .help(format!(
                    "quote it for that shell: `{quoted}`; or give the value a type that cannot \
                     hold shell syntax (int, bool, duration, an enum, host)"
                )),
            );
            return;
        }
        if let Some((level, reparse)) = place
            .reparsed
            .iter()
            .enumerate()
            .find(|(_, r)| r.quoting != Quoting::Bare)
        {
            self.report(
                Diagnostic::error(
                    REPARSED,
                    format!(
                        "`{written}` is {} in what {} runs",
                        reparse.quoting.describe(),
                        by[level]
                    ),
                )
                .primary(span, "quoted twice")
                .help(format!(
                    "`| shell` makes the value a word of its own for that shell: take away \
                     the quotes around it in the command {} runs",
                    by[level]
                )),
            );
        }
    }
}

const QUOTED: &str = "rbx::lint::quoted_interpolation";
const REPARSED: &str = "rbx::lint::reparsed_interpolation";
const OPTION: &str = "rbx::lint::interpolated_option";
