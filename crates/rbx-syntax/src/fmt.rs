//! The canonical layout of a `.runbook` file, as `rbx fmt` writes it.
//!
//! Two-space indentation, one statement per line, a blank line around every
//! multi-line item and between runs of different kinds of one-line items,
//! comments kept in order. Formatting is idempotent, and the formatted text
//! parses to a tree equal to the original's.

mod call;
mod scenario;

use crate::ast::*;

/// Formats a parsed file. `source` is the text it was parsed from, needed
/// to tell a comment at the end of a line from one on a line of its own.
pub fn format(source: &str, file: &File) -> String {
    let mut printer = Printer {
        source,
        out: String::new(),
        comments: &file.comments,
        next_comment: 0,
    };
    match &file.header {
        Some(header) => {
            printer.leading_comments(header.span.start, 0);
            printer.out.push_str(&format!(
                "runbook {} {} {{\n",
                header.id.name,
                text(&header.title, 0)
            ));
            printer.items(&file.items, 1);
            printer.leading_comments(header.span.end, 1);
            printer.out.push_str("}\n");
        }
        None if !file.scenarios.is_empty() => printer.scenarios(&file.scenarios),
        None => printer.items(&file.items, 0),
    }
    printer.leading_comments(usize::MAX, 0);
    printer.out
}

struct Printer<'a> {
    source: &'a str,
    out: String,
    comments: &'a [Comment],
    next_comment: usize,
}

fn pad(level: usize) -> String {
    "  ".repeat(level)
}

impl Printer<'_> {
    /// Prints, each on its own line, every comment that starts before `offset`.
    fn leading_comments(&mut self, offset: usize, level: usize) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= offset {
                break;
            }
            // A blank line the author left above a comment separates
            // paragraphs of prose; keep one, but never right after a `{`.
            let above = &self.source[..comment.span.start.min(self.source.len())];
            let gap = &above[above.trim_end().len()..];
            let after_open = self.out.trim_end().ends_with('{') || self.out.is_empty();
            if gap.matches('\n').count() >= 2 && !after_open && !self.out.ends_with("\n\n") {
                self.out.push('\n');
            }
            self.out.push_str(&pad(level));
            self.out.push_str(&comment_text(comment));
            self.out.push('\n');
            self.next_comment += 1;
            // Likewise a blank line between a comment and the code below it.
            let below = self.source.get(comment.span.end..offset).unwrap_or("");
            let last = self
                .comments
                .get(self.next_comment)
                .is_none_or(|next| next.span.start >= offset);
            if last && below.trim().is_empty() && below.matches('\n').count() >= 2 {
                self.out.push('\n');
            }
        }
    }

    /// Appends the comment that follows `end` on the same source line, if
    /// any, then ends the line.
    fn end_line(&mut self, end: usize) {
        if let Some(comment) = self.comments.get(self.next_comment) {
            let between = self.source.get(end..comment.span.start).unwrap_or("\n");
            if comment.span.start >= end && !between.contains('\n') {
                self.out.push_str("  ");
                self.out.push_str(&comment_text(comment));
                self.next_comment += 1;
            }
        }
        self.out.push('\n');
    }

    /// Prints a sequence of items with blank lines between groups.
    fn sequence<T>(
        &mut self,
        items: &[T],
        level: usize,
        span_of: impl Fn(&T) -> crate::Span,
        class_of: impl Fn(&T) -> &'static str,
        mut print: impl FnMut(&mut Self, &T, usize),
    ) {
        let mut previous: Option<(&'static str, bool)> = None;
        for item in items {
            let class = class_of(item);
            let start = self.out.len();
            // Print first, then decide on the blank line, since whether an
            // item spans lines is known only once it is printed.
            self.leading_comments(span_of(item).start, level);
            let body = self.out.len();
            print(self, item, level);
            let multi = self.out[body..].trim_end().contains('\n');
            if let Some((previous_class, previous_multi)) = previous {
                let blank_already =
                    self.out[..start].ends_with("\n\n") || self.out[start..].starts_with('\n');
                if (previous_multi || multi || previous_class != class) && !blank_already {
                    self.out.insert(start, '\n');
                }
            }
            previous = Some((class, multi));
        }
    }

    fn items(&mut self, items: &[Item], level: usize) {
        self.sequence(
            items,
            level,
            |item| item.span,
            |item| match &item.kind {
                ItemKind::Version(_) | ItemKind::Scope(_) | ItemKind::Policy(_) => "header",
                ItemKind::Include(_) => "include",
                ItemKind::Input(_) => "input",
                ItemKind::Role(_) => "role",
                ItemKind::Link(_) => "link",
                ItemKind::Outcome(_) => "outcome",
                ItemKind::Hook(_) => "hook",
                ItemKind::Require(_) | ItemKind::On(_) | ItemKind::Budget(_) => "rule",
                ItemKind::Stage(_) => "stage",
                ItemKind::Finally(_) => "finally",
            },
            |printer, item, level| printer.item(item, level),
        );
    }

    fn item(&mut self, item: &Item, level: usize) {
        let p = pad(level);
        match &item.kind {
            ItemKind::Version(value) => self.line(
                level,
                &format!("version {}", text(value, level)),
                item.span.end,
            ),
            ItemKind::Scope(value) => self.line(
                level,
                &format!("scope {}", text(value, level)),
                item.span.end,
            ),
            ItemKind::Policy(value) => self.line(
                level,
                &format!("policy {}", text(value, level)),
                item.span.end,
            ),
            ItemKind::Include(path) => self.line(
                level,
                &format!("include {}", text(path, level)),
                item.span.end,
            ),
            ItemKind::Input(input) => {
                let mut line = format!("input {}", input.name.name);
                if let Some(description) = &input.description {
                    line.push(' ');
                    line.push_str(&text(description, level));
                }
                line.push_str(": ");
                line.push_str(&input_type(&input.ty));
                if let Some(default) = &input.default {
                    line.push_str(" = ");
                    line.push_str(&value(default, level));
                }
                self.line(level, &line, item.span.end);
            }
            ItemKind::Role(role) => {
                let head = format!("role {} {}", role.id.name, text(&role.title, level));
                match &role.fields {
                    None => self.line(level, &head, item.span.end),
                    Some(fields) => {
                        self.out.push_str(&format!("{p}{head} {{\n"));
                        for field in fields {
                            self.leading_comments(field.span.start, level + 1);
                            let line = format!(
                                "{} {}",
                                field.kind.keyword(),
                                text(&field.value, level + 1)
                            );
                            self.line(level + 1, &line, field.span.end);
                        }
                        self.close(item.span.end, level);
                    }
                }
            }
            ItemKind::Link(link) => {
                let mut line = format!("link {} {}", link.id.name, text(&link.title, level));
                if let Some(target) = &link.target {
                    line.push_str(" = ");
                    line.push_str(&text(target, level));
                }
                self.line(level, &line, item.span.end);
            }
            ItemKind::Outcome(outcome) => {
                let mut line = format!("outcome {}", outcome.name.name);
                if let Some(description) = &outcome.description {
                    line.push(' ');
                    line.push_str(&text(description, level));
                }
                line.push_str(if outcome.success {
                    " success"
                } else {
                    " failure"
                });
                self.line(level, &line, item.span.end);
            }
            ItemKind::Hook(hook) => {
                let line = format!(
                    "hook {} {}",
                    hook.event.keyword(),
                    text(&hook.command, level)
                );
                self.line(level, &line, item.span.end);
            }
            ItemKind::Require(require) => self.line(level, &require_text(require), item.span.end),
            ItemKind::On(route) => self.line(level, &route_text(route), item.span.end),
            ItemKind::Budget(budget) => self.line(level, &budget_text(budget), item.span.end),
            ItemKind::Stage(stage) => {
                let mut head = format!(
                    "stage {}{} {}",
                    stage.id.name,
                    call::params(stage.params.as_deref()),
                    text(&stage.title, level)
                );
                if let Some(within) = &stage.within {
                    head.push_str(" within ");
                    head.push_str(&duration(within.millis));
                }
                self.out.push_str(&format!("{p}{head} {{\n"));
                self.stage_items(&stage.items, level + 1);
                self.close(item.span.end, level);
            }
            ItemKind::Finally(items) => {
                self.out.push_str(&format!("{p}finally {{\n"));
                self.stage_items(items, level + 1);
                self.close(item.span.end, level);
            }
        }
    }

    fn line(&mut self, level: usize, line: &str, end: usize) {
        self.out.push_str(&pad(level));
        self.out.push_str(line);
        self.end_line(end);
    }

    /// Prints the comments left inside a block, then its closing brace.
    fn close(&mut self, end: usize, level: usize) {
        self.leading_comments(end, level + 1);
        self.out.push_str(&pad(level));
        self.out.push('}');
        self.end_line(end);
    }

    fn stage_items(&mut self, items: &[StageItem], level: usize) {
        self.sequence(
            items,
            level,
            |item| item.span,
            |item| match &item.kind {
                StageItemKind::Require(_) | StageItemKind::On(_) => "rule",
                StageItemKind::Then(_) | StageItemKind::End(_) => "flow",
                StageItemKind::Anchor(_) => "anchor",
                StageItemKind::Again(_) | StageItemKind::Call(_) => "again",
                StageItemKind::Block(_)
                | StageItemKind::Checklist(_)
                | StageItemKind::Foreach(_)
                | StageItemKind::Parallel(_)
                | StageItemKind::Repeat(_)
                | StageItemKind::Every(_) => "node",
                StageItemKind::Finally(_) => "finally",
            },
            |printer, item, level| printer.stage_item(item, level),
        );
    }

    /// An `again` or a `call`: one line, or a block of its routes.
    fn routed(&mut self, head: &str, routes: &[SpannedRoute], end: usize, level: usize) {
        if routes.is_empty() {
            self.line(level, head, end);
            return;
        }
        self.out.push_str(&format!("{}{head} {{\n", pad(level)));
        for route in routes {
            self.leading_comments(route.span.end, level + 1);
            self.line(level + 1, &route_text(&route.route), route.span.end);
        }
        self.close(end, level);
    }

    fn stage_item(&mut self, item: &StageItem, level: usize) {
        let p = pad(level);
        let end = item.span.end;
        if let Some(head) = body_head(&item.kind, level) {
            self.out.push_str(&format!("{p}{head} {{\n"));
            self.stage_items(item.kind.nested(), level + 1);
            self.close(end, level);
            return;
        }
        match &item.kind {
            StageItemKind::Require(require) => self.line(level, &require_text(require), end),
            StageItemKind::On(route) => self.line(level, &route_text(route), end),
            StageItemKind::Then(stage) => self.line(level, &format!("then {}", stage.name), end),
            StageItemKind::End(outcome) => self.line(level, &format!("end {}", outcome.name), end),
            StageItemKind::Anchor(anchor) => {
                let mut line = format!("anchor {} {}", anchor.id.name, text(&anchor.title, level));
                if let Some(at) = &anchor.at {
                    line.push_str(&format!(" at {}", expr(at)));
                }
                self.line(level, &line, end);
            }
            StageItemKind::Call(call) => self.routed(&call::head(call), &call.routes, end, level),
            StageItemKind::Again(again) => {
                self.routed(&call::again_head(again), &again.routes, end, level);
            }
            // Written above, with their bodies.
            StageItemKind::Finally(_)
            | StageItemKind::Parallel(_)
            | StageItemKind::Checklist(_)
            | StageItemKind::Foreach(_)
            | StageItemKind::Repeat(_)
            | StageItemKind::Every(_) => {}
            StageItemKind::Block(block) => {
                self.out.push_str(&format!(
                    "{p}{} {} {} {{\n",
                    block.kind.keyword(),
                    block.id.name,
                    text(&block.title, level)
                ));
                for stmt in &block.body {
                    // Comments written inside a statement move to the line above it.
                    self.leading_comments(stmt.span.end, level + 1);
                    let line = stmt_text(&stmt.kind, level + 1);
                    self.line(level + 1, &line, stmt.span.end);
                }
                self.close(end, level);
            }
        }
    }
}

fn comment_text(comment: &Comment) -> String {
    if comment.text.is_empty() {
        "#".to_string()
    } else {
        format!("#{}", comment.text)
    }
}

fn stmt_text(kind: &StmtKind, level: usize) -> String {
    match kind {
        StmtKind::Owner(role) => format!("owner {}", role.name),
        StmtKind::Require(require) => require_text(require),
        StmtKind::On(route) => route_text(route),
        StmtKind::Run(command) => format!("run {}", text(command, level)),
        StmtKind::Timeout(d) => format!("timeout {}", duration(d.millis)),
        StmtKind::TimeoutExpr(e) => format!("timeout {}", expr(e)),
        StmtKind::Retry(retry) => {
            let mut line = format!("retry {}", retry.count.value);
            if let Some(backoff) = &retry.backoff {
                line.push_str(&format!(" backoff {}", duration(backoff.delay.millis)));
                if let Some(kind) = backoff.kind {
                    line.push(' ');
                    line.push_str(kind.keyword());
                }
                if let Some(max) = &backoff.max {
                    line.push_str(&format!(" max {}", duration(max.millis)));
                }
                if backoff.jitter {
                    line.push_str(" jitter");
                }
            }
            if !retry.on_exit.is_empty() {
                let codes: Vec<String> =
                    retry.on_exit.iter().map(|c| c.value.to_string()).collect();
                line.push_str(&format!(" on exit {}", codes.join(", ")));
            }
            line
        }
        StmtKind::ExpectExit(codes) => {
            let codes: Vec<String> = codes.iter().map(|c| c.value.to_string()).collect();
            format!("expect exit {}", codes.join(", "))
        }
        StmtKind::ExpectStream(expect) => format!(
            "expect {} {} {}",
            expect.stream.keyword(),
            if expect.negated { "!~" } else { "~" },
            regex(&expect.regex)
        ),
        StmtKind::Capture(capture) => {
            let mut line = format!("capture {}", capture.name.name);
            if let Some(ty) = capture.ty {
                line.push_str(": ");
                line.push_str(&ty.written());
            }
            line.push_str(" = ");
            line.push_str(capture.stream.keyword());
            match &capture.source {
                CaptureSource::Regex(re) => line.push_str(&format!(" ~ {}", regex(re))),
                CaptureSource::Json(path) => line.push_str(&format!(" json {}", text(path, level))),
                CaptureSource::Lines => line.push_str(" lines"),
            }
            line
        }
        StmtKind::Keep(stream) => format!("keep {}", stream.keyword()),
        StmtKind::Idempotent => "idempotent".to_string(),
        StmtKind::Acknowledge => "acknowledge".to_string(),
        StmtKind::Assign { role, evidence } => format!("assign {} = {}", role.name, evidence.name),
        StmtKind::Verify(probe) => format!("verify {}", text(probe, level)),
        StmtKind::Irreversible(None) => "irreversible".to_string(),
        StmtKind::Irreversible(Some(why)) => format!("irreversible {}", text(why, level)),
        StmtKind::Instructions(body) => format!("instructions {}", text(body, level)),
        StmtKind::Evidence(evidence) => {
            let ty = match &evidence.ty {
                EvidenceType::Text => "text".to_string(),
                EvidenceType::Url => "url".to_string(),
                EvidenceType::File => "file".to_string(),
                EvidenceType::Int => "int".to_string(),
                EvidenceType::Bool => "bool".to_string(),
                EvidenceType::Choice(options) => format!("choice({})", names(options)),
                EvidenceType::Choices(options) => format!("choices({})", names(options)),
            };
            let mut line = format!(
                "evidence {} {}: {ty}",
                evidence.name.name,
                text(&evidence.prompt, level)
            );
            if evidence.optional {
                line.push_str(" optional");
            }
            line
        }
        StmtKind::Attest { role, statement } => {
            format!("attest {} {}", role.name, text(statement, level))
        }
        StmtKind::By(roles) => format!("by {}", names(roles)),
        StmtKind::Approvers(n) => format!("approvers {}", n.value),
        StmtKind::NoSelfApproval => "no self-approval".to_string(),
        StmtKind::When { condition, target } => {
            format!("when {} -> {}", expr(condition), target_text(target))
        }
        StmtKind::Condition(condition) => format!("when {}", expr(condition)),
        StmtKind::Otherwise(target) => format!("otherwise -> {}", target_text(target)),
        StmtKind::Option(option) => format!(
            "option {} {} -> {}",
            option.name.name,
            text(&option.description, level),
            target_text(&option.target)
        ),
        StmtKind::Every(d) => format!("every {}", duration(d.millis)),
        StmtKind::Until(condition) => format!("until {}", expr(condition)),
        StmtKind::Runbook(path) => format!("runbook {}", text(path, level)),
        StmtKind::ChildInput(arg) => format!("input {} = {}", arg.name.name, expr(&arg.value)),
    }
}

/// `within 4h`, `deadline release + 2h for ship, watch`.
/// The head of an item with a body of items (`foreach h in hosts
/// parallel 2`, `finally`), or `None` for any other.
fn body_head(kind: &StageItemKind, level: usize) -> Option<String> {
    let head = match kind {
        StageItemKind::Finally(_) => "finally".to_string(),
        StageItemKind::Parallel(parallel) => {
            let mut head = "parallel".to_string();
            if let Some(n) = &parallel.at_once {
                head.push_str(&format!(" {}", n.value));
            }
            if let Some(n) = &parallel.at_once_expr {
                head.push_str(&format!(" {}", expr(n)));
            }
            tolerate_and_when(
                &mut head,
                parallel.tolerate.as_ref(),
                parallel.condition.as_ref(),
            );
            head
        }
        StageItemKind::Checklist(list) => {
            let mut head = format!("checklist {} {}", list.id.name, text(&list.title, level));
            if list.fail_fast {
                head.push_str(" fail-fast");
            }
            head
        }
        StageItemKind::Foreach(foreach) => {
            let mut head = format!("foreach {} in {}", foreach.var.name, foreach.list.dotted());
            if let Some(n) = &foreach.parallel {
                head.push_str(&format!(" parallel {}", n.value));
            }
            if let Some(n) = &foreach.parallel_expr {
                head.push_str(&format!(" parallel {}", expr(n)));
            }
            tolerate_and_when(
                &mut head,
                foreach.tolerate.as_ref(),
                foreach.condition.as_ref(),
            );
            head
        }
        StageItemKind::Repeat(repeat) => {
            let mut head = "repeat".to_string();
            if let Some(n) = &repeat.at_most {
                head.push_str(&format!(" at most {}", n.value));
            }
            head.push_str(&format!(" until {}", expr(&repeat.until)));
            head
        }
        StageItemKind::Every(every) => {
            let mut head = format!("every {}", expr(&every.interval));
            if let Some(n) = &every.at_most {
                head.push_str(&format!(" at most {}", n.value));
            }
            head
        }
        _ => return None,
    };
    Some(head)
}

fn tolerate_and_when(head: &mut String, tolerate: Option<&Tolerate>, condition: Option<&Expr>) {
    if let Some(t) = tolerate {
        head.push_str(&format!(" tolerate {}", t.source_form()));
    }
    if let Some(condition) = condition {
        head.push_str(&format!(" when {}", expr(condition)));
    }
}

pub fn budget_text(budget: &Budget) -> String {
    let mut line = match &budget.limit {
        Limit::Within(d) => format!("within {}", duration(d.millis)),
        Limit::Deadline(e) => format!("deadline {}", expr(e)),
    };
    if !budget.stages.is_empty() {
        line.push_str(&format!(" for {}", names(&budget.stages)));
    }
    line
}

fn names(idents: &[Ident]) -> String {
    let names: Vec<&str> = idents.iter().map(|i| i.name.as_str()).collect();
    names.join(", ")
}

fn require_text(require: &Require) -> String {
    match require {
        Require::Role(role) => format!("require role {}", role.name),
        Require::Link(link) => format!("require link {}", link.name),
        Require::Expr(e) => format!("require {}", expr(e)),
    }
}

fn route_text(route: &Route) -> String {
    format!(
        "on {} -> {}",
        route.event.keyword(),
        target_text(&route.target)
    )
}

fn target_text(target: &Target) -> String {
    match &target.kind {
        TargetKind::Stage(stage) => stage.name.clone(),
        TargetKind::End(outcome) => format!("end {}", outcome.name),
        TargetKind::Continue => "continue".to_string(),
    }
}

fn input_type(ty: &InputType) -> String {
    match &ty.kind {
        InputTypeKind::Scalar(scalar) => scalar.keyword().to_string(),
        InputTypeKind::Enum(values) => format!("enum({})", names(values)),
        InputTypeKind::List(element) => format!("list({})", element.keyword()),
    }
}

fn value(v: &Value, level: usize) -> String {
    match &v.kind {
        ValueKind::String(s) => text(s, level),
        ValueKind::Int(n) => n.to_string(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Duration(ms) => duration(*ms),
        ValueKind::Name(name) => name.name.clone(),
        ValueKind::List(items) => {
            let items: Vec<String> = items.iter().map(|i| value(i, level)).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// A duration in its canonical spelling: largest units first, `1h30m`.
pub fn duration(millis: u64) -> String {
    if millis == 0 {
        return "0s".to_string();
    }
    let mut rest = millis;
    let mut out = String::new();
    // Days only for two or more whole days: on-call people say "24h".
    let day = 86_400_000;
    if millis % day == 0 && millis >= 2 * day {
        return format!("{}d", millis / day);
    }
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

fn regex(re: &Regex) -> String {
    format!("/{}/{}", re.pattern.replace('/', "\\/"), re.flags)
}

/// A string or text block, with interpolations in canonical spacing.
fn text(t: &Text, level: usize) -> String {
    let mut body = String::new();
    for part in &t.parts {
        match part {
            TextPart::Literal(literal) if t.block => body.push_str(literal),
            TextPart::Literal(literal) => {
                for c in literal.chars() {
                    match c {
                        '"' => body.push_str("\\\""),
                        '\\' => body.push_str("\\\\"),
                        '\n' => body.push_str("\\n"),
                        '\t' => body.push_str("\\t"),
                        '\r' => body.push_str("\\r"),
                        c => body.push(c),
                    }
                }
            }
            TextPart::Interpolation(interpolation) => {
                body.push_str(&interpolation.source_form());
            }
        }
    }
    if !t.block {
        return format!("\"{body}\"");
    }
    if body.is_empty() {
        return "\"\"\"\"\"\"".to_string();
    }
    let inner = pad(level + 1);
    let mut out = String::from("\"\"\"\n");
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&inner);
            out.push_str(line);
        }
        out.push('\n');
    }
    out.push_str(&pad(level));
    out.push_str("\"\"\"");
    out
}

/// An expression, with the parentheses its author wrote and no others.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Or(operands) => join(operands, " or "),
        ExprKind::And(operands) => join(operands, " and "),
        ExprKind::Not(inner) => format!("not {}", expr(inner)),
        ExprKind::Compare { lhs, op, rhs } => {
            format!("{} {} {}", expr(lhs), op.symbol(), expr(rhs))
        }
        ExprKind::Sum { first, rest } => {
            let mut out = expr(first);
            for (op, operand) in rest {
                out.push_str(&format!(" {} {}", op.symbol(), expr(operand)));
            }
            out
        }
        ExprKind::Product(operands) => join(operands, " * "),
        ExprKind::Paren(inner) => format!("({})", expr(inner)),
        ExprKind::Call { name, args } => {
            let args: Vec<String> = args.iter().map(expr).collect();
            format!("{}({})", name.name, args.join(", "))
        }
        ExprKind::Path(path) => path.dotted(),
        ExprKind::String(s) => text(s, 0),
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Duration(ms) => duration(*ms),
        ExprKind::Regex(re) => regex(re),
        ExprKind::List(items) => format!("[{}]", join(items, ", ")),
        ExprKind::Default(operands) => join(operands, " ?? "),
    }
}

fn join(operands: &[Expr], separator: &str) -> String {
    let parts: Vec<String> = operands.iter().map(expr).collect();
    parts.join(separator)
}
