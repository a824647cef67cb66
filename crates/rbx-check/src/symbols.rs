//! The symbol table of a procedure: every stage, node, input, role and link
//! with where it is defined and what it exposes. Built once, read by every
//! later check.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use rbx_syntax::ast::*;
use rbx_syntax::{Diagnostic, Span};

use crate::{Finding, Source};

/// What a name can stand for. Each kind is its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Stage,
    /// Steps, manual steps, gates, sign-offs, decisions, waits and anchors
    /// share one namespace: `id.field` must say which node it means.
    Node,
    Input,
    Role,
    Link,
    Outcome,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Stage => "stage",
            Kind::Node => "node",
            Kind::Input => "input",
            Kind::Role => "role",
            Kind::Link => "link",
            Kind::Outcome => "outcome",
        }
    }
}

/// Where a name was defined.
#[derive(Debug, Clone, Copy)]
pub struct Definition {
    pub source: usize,
    pub span: Span,
}

/// What kind of node an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Block(BlockKind),
    Anchor,
    /// A checklist's verdict: `ID.failed` lists the items that failed.
    Checklist,
}

/// The type of a field a node exposes (`step.capture`, `manual.evidence`).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    Capture(Option<CaptureType>),
    Evidence(EvidenceType),
    Status,
}

#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub kind: NodeKind,
    pub stage: String,
    pub fields: BTreeMap<String, FieldType>,
    /// The options of a `choose`, in order.
    pub options: Vec<String>,
}

/// The stage instance a runbook's `finally` block runs as: its nodes are
/// `finally.ID` in the run.
pub const FINALLY: &str = "finally";

/// The flow a stage instance's own `finally` block runs as:
/// `drain.finally`, its nodes `drain.finally.ID`.
pub fn cleanup_flow(instance: &str) -> String {
    format!("{instance}.{FINALLY}")
}

/// The stage instance whose own clean-up `stage` is (`drain` for
/// `drain.finally`): the inverse of `cleanup_flow`.
pub fn cleaned_instance(stage: &str) -> Option<&str> {
    stage
        .strip_suffix(FINALLY)
        .and_then(|s| s.strip_suffix('.'))
        .filter(|s| !s.is_empty())
}

/// Whether `flow` is a clean-up: the runbook's `finally` block or a
/// stage's. Every node of one runs, each whatever the one before did.
pub fn is_cleanup(flow: &str) -> bool {
    flow == FINALLY || flow.ends_with(".finally")
}

/// The statuses a node ends with, usable as `id.status == failed`.
pub const STATUSES: [&str; 4] = ["succeeded", "failed", "skipped", "cancelled"];

/// What a node reads of the run itself: `run.id` and `run.operator`.
pub const RUN_FIELDS: [&str; 2] = ["id", "operator"];

/// Whether `segments` name a field of the run (`run.id`, `run.operator`),
/// which an input or a loop variable named `run` would hide.
pub fn is_run_field(segments: &[&str]) -> bool {
    matches!(segments, ["run", field] if RUN_FIELDS.contains(field))
}

#[derive(Debug, Default)]
pub struct Table {
    pub defined: foldhash::HashMap<(Kind, String), Definition>,
    pub nodes: foldhash::HashMap<String, NodeInfo>,
    pub inputs: HashMap<String, InputTypeKind>,
    /// Where each capture is declared, by (node id, capture name).
    pub captures: BTreeMap<(String, String), Definition>,
    /// Names that stand for themselves in expressions: enum values, choice
    /// options, evidence choices and step statuses.
    pub values: BTreeSet<String>,
    /// The parameters of each stage that has them (`stage drain(host:
    /// host) …`), which only `call` runs.
    pub params: HashMap<String, Vec<Param>>,
    /// What each `child` node's runbook takes and exposes, by the node's
    /// id (filled in once the children are checked).
    pub children: HashMap<String, crate::children::ChildInfo>,
}

impl Table {
    pub fn is_defined(&self, kind: Kind, name: &str) -> bool {
        self.defined.contains_key(&(kind, name.to_string()))
    }

    /// The type of each item of the list `path` names: a `list(T)` input
    /// or a `list(T)` capture (`inventory.hosts`); `None` for anything else.
    pub fn list_item(&self, path: &Path) -> Option<ScalarType> {
        match path.segments.as_slice() {
            [input] => match self.inputs.get(&input.name) {
                Some(InputTypeKind::List(item)) => Some(*item),
                _ => None,
            },
            [node, field] => match self.nodes.get(&node.name)?.fields.get(&field.name) {
                Some(FieldType::Capture(Some(CaptureType::List(item)))) => Some(*item),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn names(&self, kind: Kind) -> impl Iterator<Item = &str> {
        self.defined
            .keys()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, name)| name.as_str())
    }
}

/// Builds the table, reporting every id defined twice.
pub fn build(sources: &[Source]) -> (Table, Vec<Finding>) {
    let mut builder = Builder {
        table: Table::default(),
        findings: Vec::new(),
        source: 0,
    };
    builder
        .table
        .values
        .extend(STATUSES.iter().map(|s| s.to_string()));
    builder
        .table
        .values
        .extend(rbx_syntax::time::WEEKDAYS.iter().map(|d| d.to_string()));
    for (index, source) in sources.iter().enumerate() {
        if let Some(file) = &source.file {
            builder.source = index;
            builder.file(file);
        }
    }
    (builder.table, builder.findings)
}

struct Builder {
    table: Table,
    findings: Vec<Finding>,
    source: usize,
}

impl Builder {
    /// Records a definition; `false` when the name was already taken.
    fn define(&mut self, kind: Kind, ident: &Ident) -> bool {
        let first = match self.table.defined.entry((kind, ident.name.clone())) {
            Entry::Occupied(first) => *first.get(),
            Entry::Vacant(slot) => {
                slot.insert(Definition {
                    source: self.source,
                    span: ident.span,
                });
                return true;
            }
        };
        let mut diagnostic = Diagnostic::error(
            "rbx::lint::duplicate_id",
            format!("the {} `{}` is defined twice", kind.noun(), ident.name),
        )
        .primary(ident.span, "defined again here")
        .help(format!("give each {} its own id", kind.noun()));
        if first.source == self.source {
            diagnostic = diagnostic.secondary(first.span, "first defined here");
        } else {
            diagnostic
                .message
                .push_str(" (first in another file of this procedure)");
        }
        self.findings.push(Finding {
            source: self.source,
            diagnostic,
        });
        false
    }

    fn file(&mut self, file: &File) {
        for item in &file.items {
            match &item.kind {
                ItemKind::Input(input) => {
                    if self.define(Kind::Input, &input.name) {
                        self.table
                            .inputs
                            .insert(input.name.name.clone(), input.ty.kind.clone());
                    }
                    if let InputTypeKind::Enum(values) = &input.ty.kind {
                        self.table
                            .values
                            .extend(values.iter().map(|v| v.name.clone()));
                    }
                }
                ItemKind::Role(role) => {
                    self.define(Kind::Role, &role.id);
                }
                ItemKind::Link(link) => {
                    self.define(Kind::Link, &link.id);
                }
                ItemKind::Outcome(outcome) => {
                    self.define(Kind::Outcome, &outcome.name);
                }
                ItemKind::Stage(stage) => {
                    if self.define(Kind::Stage, &stage.id) {
                        if let Some(params) = &stage.params {
                            for param in params {
                                if let InputTypeKind::Enum(values) = &param.ty.kind {
                                    self.table
                                        .values
                                        .extend(values.iter().map(|v| v.name.clone()));
                                }
                            }
                            self.table
                                .params
                                .insert(stage.id.name.clone(), params.clone());
                        }
                    }
                    self.items(&stage.id.name, &stage.items);
                }
                ItemKind::Finally(items) => self.items(FINALLY, items),
                _ => {}
            }
        }
    }

    fn items(&mut self, stage: &str, items: &[StageItem]) {
        for item in items {
            match &item.kind {
                StageItemKind::Block(block) => self.block(stage, block),
                StageItemKind::Anchor(anchor) if self.define(Kind::Node, &anchor.id) => {
                    self.table.nodes.insert(
                        anchor.id.name.clone(),
                        NodeInfo {
                            kind: NodeKind::Anchor,
                            stage: stage.to_string(),
                            fields: status_only(),
                            options: Vec::new(),
                        },
                    );
                }
                StageItemKind::Foreach(foreach) => self.items(stage, &foreach.items),
                StageItemKind::Parallel(parallel) => self.items(stage, &parallel.items),
                StageItemKind::Repeat(repeat) => self.items(stage, &repeat.items),
                StageItemKind::Every(every) => self.items(stage, &every.items),
                StageItemKind::Finally(items) => self.items(stage, items),
                StageItemKind::Checklist(list) => {
                    if self.define(Kind::Node, &list.id) {
                        let mut fields = status_only();
                        fields.insert(
                            "failed".to_string(),
                            FieldType::Capture(Some(CaptureType::List(ScalarType::String))),
                        );
                        let info = NodeInfo {
                            kind: NodeKind::Checklist,
                            stage: stage.to_string(),
                            fields,
                            options: Vec::new(),
                        };
                        self.table.nodes.insert(list.id.name.clone(), info);
                    }
                    self.items(stage, &list.items);
                }
                _ => {}
            }
        }
    }

    fn block(&mut self, stage: &str, block: &Block) {
        if !self.define(Kind::Node, &block.id) {
            return;
        }
        let mut fields = status_only();
        let mut options = Vec::new();
        for stmt in &block.body {
            match &stmt.kind {
                StmtKind::Capture(capture) => {
                    fields.insert(capture.name.name.clone(), FieldType::Capture(capture.ty));
                    self.table.captures.insert(
                        (block.id.name.clone(), capture.name.name.clone()),
                        Definition {
                            source: self.source,
                            span: capture.name.span,
                        },
                    );
                }
                StmtKind::Evidence(evidence) => {
                    fields.insert(
                        evidence.name.name.clone(),
                        FieldType::Evidence(evidence.ty.clone()),
                    );
                    if let EvidenceType::Choice(choices) | EvidenceType::Choices(choices) =
                        &evidence.ty
                    {
                        self.table
                            .values
                            .extend(choices.iter().map(|c| c.name.clone()));
                    }
                }
                StmtKind::Option(option) => {
                    self.table.values.insert(option.name.name.clone());
                    options.push(option.name.name.clone());
                }
                _ => {}
            }
        }
        self.table.nodes.insert(
            block.id.name.clone(),
            NodeInfo {
                kind: NodeKind::Block(block.kind),
                stage: stage.to_string(),
                fields,
                options,
            },
        );
    }
}

fn status_only() -> BTreeMap<String, FieldType> {
    BTreeMap::from([("status".to_string(), FieldType::Status)])
}
