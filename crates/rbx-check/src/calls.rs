//! The shape of stages with parameters and of their calls: every
//! parameter given once, no argument that names none, a `call` only of a
//! stage with parameters, and such a stage run by nothing but `call`
//! (a `then`, a route, a branch or `again` would give it no arguments).

use std::collections::HashSet;

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::*;

use crate::resolve::closest;
use crate::symbols::Table;
use crate::{Finding, Source};

pub fn check(sources: &[Source], table: &Table) -> Vec<Finding> {
    let mut checker = Calls {
        table,
        findings: Vec::new(),
        source: 0,
    };
    for (index, source) in sources.iter().enumerate() {
        let Some(file) = &source.file else { continue };
        checker.source = index;
        for item in &file.items {
            match &item.kind {
                ItemKind::Stage(stage) => {
                    checker.params(stage);
                    checker.items(&stage.items);
                }
                ItemKind::Finally(items) => checker.items(items),
                ItemKind::On(route) => checker.target(&route.target),
                _ => {}
            }
        }
    }
    checker.first_stage(sources);
    checker.findings
}

struct Calls<'t> {
    table: &'t Table,
    findings: Vec<Finding>,
    source: usize,
}

impl Calls<'_> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.findings.push(Finding {
            source: self.source,
            diagnostic,
        });
    }

    fn params(&mut self, stage: &Stage) {
        let mut seen: Vec<&Ident> = Vec::new();
        for param in stage.params.iter().flatten() {
            if let Some(first) = seen.iter().find(|p| p.name == param.name.name) {
                let first = first.span;
                self.report(
                    Diagnostic::error(
                        "rbx::lint::duplicate_param",
                        format!("the parameter `{}` is declared twice", param.name.name),
                    )
                    .primary(param.name.span, "declared again here")
                    .secondary(first, "first declared here")
                    .help("give each parameter its own name"),
                );
            } else {
                seen.push(&param.name);
            }
        }
    }

    fn items(&mut self, items: &[StageItem]) {
        for item in items {
            match &item.kind {
                StageItemKind::Call(call) => self.call(call),
                StageItemKind::Again(again) => {
                    self.run_only_by_call(&again.stage, "`again`");
                    for route in &again.routes {
                        self.target(&route.route.target);
                    }
                }
                StageItemKind::Then(stage) => self.run_only_by_call(stage, "`then`"),
                StageItemKind::On(route) => self.target(&route.target),
                StageItemKind::Foreach(foreach) => self.items(&foreach.items),
                StageItemKind::Parallel(parallel) => self.items(&parallel.items),
                StageItemKind::Checklist(list) => self.items(&list.items),
                StageItemKind::Repeat(repeat) => self.items(&repeat.items),
                StageItemKind::Every(every) => self.items(&every.items),
                StageItemKind::Finally(items) => self.items(items),
                StageItemKind::Block(block) => {
                    for stmt in &block.body {
                        match &stmt.kind {
                            StmtKind::On(route) => self.target(&route.target),
                            StmtKind::When { target, .. } | StmtKind::Otherwise(target) => {
                                self.target(target)
                            }
                            StmtKind::Option(option) => self.target(&option.target),
                            _ => {}
                        }
                    }
                }
                StageItemKind::Require(_) | StageItemKind::End(_) | StageItemKind::Anchor(_) => {}
            }
        }
    }

    fn target(&mut self, target: &Target) {
        if let TargetKind::Stage(stage) = &target.kind {
            self.run_only_by_call(stage, "a route or branch");
        }
    }

    /// A stage with parameters reached without arguments.
    fn run_only_by_call(&mut self, stage: &Ident, how: &str) {
        let Some(params) = self.table.params.get(&stage.name) else {
            return;
        };
        self.report(
            Diagnostic::error(
                "rbx::lint::needs_arguments",
                format!(
                    "the stage `{}` takes parameters, so {how} cannot run it",
                    stage.name
                ),
            )
            .primary(stage.span, "no arguments are given here")
            .help(format!(
                "write `call {}` as an item of a stage",
                call_form(&stage.name, params)
            )),
        );
    }

    fn call(&mut self, call: &Call) {
        for route in &call.routes {
            self.target(&route.route.target);
        }
        let name = &call.stage.name;
        if !self.table.is_defined(crate::symbols::Kind::Stage, name) {
            // Resolve reports the unknown stage.
            return;
        }
        let Some(params) = self.table.params.get(name) else {
            self.report(
                Diagnostic::error(
                    "rbx::lint::call_without_params",
                    format!("the stage `{name}` takes no parameters"),
                )
                .primary(call.stage.span, "`call` runs a stage with parameters")
                .help(format!(
                    "write `again {name}` to run it again as a fresh instance, or declare \
                     its parameters: `stage {name}(NAME: TYPE) \"…\"`"
                )),
            );
            return;
        };
        let mut given: HashSet<&str> = HashSet::new();
        for arg in &call.args {
            let arg_name = arg.name.name.as_str();
            if !params.iter().any(|p| p.name.name == arg_name) {
                let names = params.iter().map(|p| p.name.name.as_str());
                let help = match closest(arg_name, names) {
                    Some(best) => format!("did you mean `{best}`? {}", listing(name, params)),
                    None => listing(name, params),
                };
                self.report(
                    Diagnostic::error(
                        "rbx::lint::unknown_argument",
                        format!("the stage `{name}` has no parameter `{arg_name}`"),
                    )
                    .primary(arg.name.span, "not a parameter of the stage")
                    .help(help),
                );
            } else if !given.insert(arg_name) {
                self.report(
                    Diagnostic::error(
                        "rbx::lint::duplicate_argument",
                        format!("`{arg_name}` is given twice"),
                    )
                    .primary(arg.name.span, "given again here")
                    .help("give each parameter one argument"),
                );
            }
        }
        let missing: Vec<&Param> = params
            .iter()
            .filter(|p| !given.contains(p.name.name.as_str()))
            .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing
                .iter()
                .map(|p| format!("`{}`", p.name.name))
                .collect();
            let add: Vec<String> = missing
                .iter()
                .map(|p| format!("{} = {}", p.name.name, placeholder(&p.ty.kind)))
                .collect();
            self.report(
                Diagnostic::error(
                    "rbx::lint::missing_argument",
                    format!("this call of `{name}` does not give {}", names.join(", ")),
                )
                .primary(call.span, "every parameter needs an argument")
                .help(format!("add `{}`", add.join(", "))),
            );
        }
    }

    /// The procedure starts at its first stage, with no arguments to give.
    fn first_stage(&mut self, sources: &[Source]) {
        let Some(file) = sources.first().and_then(|s| s.file.as_ref()) else {
            return;
        };
        let Some(stage) = file.items.iter().find_map(|item| match &item.kind {
            ItemKind::Stage(stage) => Some(stage),
            _ => None,
        }) else {
            return;
        };
        if file.header.is_none() {
            // A fragment alone is checked without a start.
            return;
        }
        if let Some(params) = &stage.params {
            self.source = 0;
            self.report(
                Diagnostic::error(
                    "rbx::lint::needs_arguments",
                    format!(
                        "the first stage, `{}`, takes parameters: nothing could give them",
                        stage.id.name
                    ),
                )
                .primary(stage.id.span, "the run starts here")
                .help(format!(
                    "put a stage without parameters first, and `call {}` from it",
                    call_form(&stage.id.name, params)
                )),
            );
        }
    }
}

/// `drain(host = …, phase = …)`.
fn call_form(stage: &str, params: &[Param]) -> String {
    let args: Vec<String> = params
        .iter()
        .map(|p| format!("{} = {}", p.name.name, placeholder(&p.ty.kind)))
        .collect();
    format!("{stage}({})", args.join(", "))
}

/// What an argument of this type looks like, for help.
fn placeholder(kind: &InputTypeKind) -> String {
    match kind {
        InputTypeKind::Scalar(ScalarType::Int) => "1".to_string(),
        InputTypeKind::Scalar(ScalarType::Bool) => "true".to_string(),
        InputTypeKind::Scalar(ScalarType::Duration) => "5m".to_string(),
        InputTypeKind::Scalar(ty) => format!("<{}>", ty.keyword()),
        InputTypeKind::Enum(values) => values
            .first()
            .map_or_else(|| "<value>".to_string(), |v| v.name.clone()),
        InputTypeKind::List(ty) => format!("[<{}>]", ty.keyword()),
    }
}

/// "`drain` takes host (host), phase (enum(pre, post))".
fn listing(stage: &str, params: &[Param]) -> String {
    let written: Vec<String> = params
        .iter()
        .map(|p| format!("`{}`", p.name.name))
        .collect();
    if written.is_empty() {
        format!("`{stage}` takes no arguments")
    } else {
        format!("`{stage}` takes {}", written.join(", "))
    }
}
