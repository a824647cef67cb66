//! The report as one self-contained HTML page: no script, no font, no
//! image, nothing fetched. Results are words on coloured marks drawn by
//! CSS, so the page reads the same without an emoji font and in print.
//! The summary comes first, then the contents, then the sections.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value as Json;

use super::timeline::{Line, lines, skipped_summary};
use super::words::{
    Piece, Row, cancelled_text, counts_text, evidence, folded_titles, json_text, meta, off_path,
    result_label, rows, step_result, took,
};
use super::{Mention, Record, StageInfo, StepInfo};

const CSS: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;margin:1.5rem auto;max-width:76rem;padding:0 1rem;color:#1f2328}
h1{font-size:1.5rem;margin:0 0 .6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
h3{font-size:1rem;margin:.8rem 0 .3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:.85em}
pre{margin:.2rem 0;padding:.3rem;background:#f6f8fa;white-space:pre-wrap;word-break:break-all}
.meta{color:#57606a;font-size:.8em}
.summary{border:1px solid #d0d7de;border-radius:6px;padding:.8rem 1rem;background:#f6f8fa}
.summary h2{margin-top:0;border:0}
.facts{display:grid;grid-template-columns:max-content auto;gap:.15rem 1rem;margin:.4rem 0}
.facts dt{font-weight:bold}.facts dd{margin:0}
.lists{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:.3rem 1.5rem}
.lists ul{margin:.2rem 0;padding-left:1.2rem}
.mark{display:inline-block;padding:0 .45em;border-radius:3px;font-size:.85em;font-weight:600;border:1px solid transparent}
.big{font-size:1.05rem;padding:.1rem .6rem}
.done,.success{background:#dafbe1;color:#116329;border-color:#9be9a8}
.failed,.failure,.broken{background:#ffebe9;color:#a40e26;border-color:#ff8182}
.cancelled{background:#fff1e5;color:#953800;border-color:#ffb77c}
.in_doubt,.running{background:#fbefff;color:#6e40c9;border-color:#d8b9ff}
.waiting,.pending,.open{background:#fff8c5;color:#7d4e00;border-color:#eac54f}
.skipped,.not_reached{background:#f6f8fa;color:#57606a;border-color:#d0d7de}
.irreversible{color:#a40e26;font-weight:bold}
.folded td{color:#57606a}
nav ol{columns:2;margin:.3rem 0}
details>summary{cursor:pointer;font-weight:bold}
@media print{body{margin:0;max-width:none}}
";

pub(super) fn write(r: &Record) -> String {
    let (off, on): (Vec<&StageInfo>, Vec<&StageInfo>) = r.stages.iter().partition(|s| off_path(s));
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Run report: " (r.run.title) " (" (r.run.id) ")" }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { "Run report: " (r.run.title) }
                (summary(r))
                (contents(r, &on, !off.is_empty()))
                (roles(r))
                (links(r))
                (inputs(r))
                @for stage in &on { (stage_section(r, stage)) }
                @if !off.is_empty() {
                    h2 id="stages-not-run" { "Stages not run" }
                    ul {
                        @for stage in &off {
                            li { (stage_name(stage)) " " (mark(stage.result, result_label(stage.result))) }
                        }
                    }
                }
                (timeline(r))
            }
        }
    };
    page.into_string()
}

fn mark(class: &str, text: &str) -> Markup {
    html! { span class={ "mark " (class) } { (text) } }
}

fn stage_name(stage: &StageInfo) -> Markup {
    html! {
        (stage.title) " (" code { (stage.instance) }
        @if let Some(host) = &stage.again_in { ", again in " code { (host) } }
        ")"
    }
}

fn summary(r: &Record) -> Markup {
    let s = &r.summary;
    let class = s.class.unwrap_or("open");
    let verdict = s.class.map_or("NOT ENDED".to_string(), str::to_uppercase);
    html! {
        section.summary id="summary" {
            h2 { "Summary" }
            p { span class={ "mark big " (class) } { (verdict) } " " (s.outcome) }
            dl.facts {
                dt { "Runbook" }
                dd {
                    code { (r.run.runbook_id) }
                    @if let Some(v) = &r.run.runbook_version { ", version " (v) }
                }
                dt { "Run" } dd { code { (r.run.id) } }
                @if let Some(p) = &r.run.parent {
                    dt { "Child run of" } dd { code { (p.run) } " (node " code { (p.node) } ")" }
                }
                dt { "Started by" } dd { (s.started_by) " on " (r.run.host) }
                dt { "When" } dd { (took(s)) }
                dt { "People" } dd { (s.people.join(", ")) }
                dt { "Steps" } dd { (counts_text(&s.counts)) }
                @if let Some(c) = &s.cancelled {
                    dt { "Cancelled" }
                    dd { (cancelled_text(c.by.as_deref(), c.reason.as_deref())) " at " (c.at) }
                }
                dt { "Journal" }
                dd { (mark(if r.chain.intact { "done" } else { "failed" }, &r.chain.summary)) }
            }
            div.lists {
                (mentions("What failed", &s.failed, "Nothing failed."))
                (mentions("Decisions", &s.decisions, "No decision was taken."))
                (mentions("Sign-offs", &s.signoffs, "No sign-off was given."))
                (mentions("Irreversible steps confirmed", &s.confirmations, "No irreversible step was confirmed."))
            }
        }
    }
}

fn mentions(title: &str, list: &[Mention], none: &str) -> Markup {
    html! {
        div {
            h3 { (title) }
            @if list.is_empty() { p.meta { (none) } }
            @else {
                ul {
                    @for m in list {
                        li {
                            a href=(link(&m.node)) { (m.title) } ": " (m.text)
                            @if let Some(by) = &m.by { " " span.meta { "by " (by) } }
                            @if let Some(at) = &m.at { " " span.meta { "at " (at) } }
                        }
                    }
                }
            }
        }
    }
}

/// The id of a step's row or a stage's section.
fn anchor(id: &str) -> String {
    format!("n-{id}")
}

/// A link to `anchor(id)`, percent-encoded: an id may hold `#`
/// (`smoke#2`) and, through a `foreach` item, any character.
fn link(id: &str) -> String {
    let mut out = String::from("#");
    for byte in anchor(id).bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~[]".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn contents(r: &Record, on: &[&StageInfo], any_off: bool) -> Markup {
    html! {
        nav id="contents" {
            h2 { "Contents" }
            ol {
                li { a href="#summary" { "Summary" } }
                li { a href="#roles" { "Roles" } }
                li { a href="#links" { "Links" } }
                li { a href="#inputs" { "Inputs" } }
                @for stage in on { li { a href=(link(&stage.instance)) { (stage_name(stage)) } } }
                @if any_off { li { a href="#stages-not-run" { "Stages not run" } } }
                li { a href="#timeline" { "Timeline (" (r.timeline.len()) " events)" } }
            }
        }
    }
}

fn roles(r: &Record) -> Markup {
    html! {
        h2 id="roles" { "Roles" }
        @if r.roles.is_empty() { p { "The runbook declares no roles." } }
        @else {
            table {
                tr { th { "Role" } th { "Person" } th { "Contact" } th { "Backup" } }
                @for role in &r.roles {
                    tr {
                        td {
                            (role.title) " (" code { (role.id) } ")"
                            @if let Some(node) = &role.assigned_by {
                                ", assigned during the run by " code { (node) }
                            } @else if role.source != "runbook" { ", from the " (role.source) }
                        }
                        td {
                            @if role.filled { (role.person.as_deref().unwrap_or_default()) }
                            @else {
                                (mark("failed", "unfilled"))
                                @if let Some(p) = &role.person { " (" (p) ")" }
                            }
                        }
                        td { (role.contact.as_deref().unwrap_or_default()) }
                        td { (role.backup.as_deref().unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

fn links(r: &Record) -> Markup {
    html! {
        h2 id="links" { "Links" }
        @if r.links.is_empty() { p { "The runbook declares no links." } }
        @else {
            table {
                tr { th { "Link" } th { "Target" } }
                @for link in &r.links {
                    tr {
                        td {
                            (link.title) " (" code { (link.id) } ")"
                            @if link.source != "runbook" { ", from the " (link.source) }
                        }
                        td {
                            @if !link.set { (mark("failed", "unset")) " " }
                            @if let Some(target) = &link.target {
                                @if link.set && (target.starts_with("https://") || target.starts_with("http://")) {
                                    a href=(target) rel="noreferrer" { code { (target) } }
                                } @else { code { (target) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn inputs(r: &Record) -> Markup {
    html! {
        h2 id="inputs" { "Inputs" }
        @if r.inputs.0.is_empty() { p { "The runbook has no inputs." } }
        @else {
            table {
                tr { th { "Input" } th { "Type" } th { "Value" } }
                @for (name, input) in &r.inputs.0 {
                    tr {
                        td { code { (name) } }
                        td { (input.ty) }
                        td {
                            @match &input.value {
                                Json::Null => "(none)",
                                v if input.secret => (json_text(v)),
                                v => code { (json_text(v)) },
                            }
                        }
                    }
                }
            }
        }
    }
}

fn stage_section(r: &Record, stage: &StageInfo) -> Markup {
    html! {
        h2 id=(anchor(&stage.instance)) { (stage_name(stage)) }
        @match stage.result {
            "failed" => p { (mark("failed", "Stage requirements FAILED")) " " (stage.reason.as_deref().unwrap_or_default()) },
            result if super::words::idle(result) => p { "Stage: " (mark(result, result_label(result))) },
            _ if !stage.conditions.is_empty() => p {
                "Stage requirements held: "
                @for (n, c) in stage.conditions.iter().enumerate() { @if n > 0 { ", " } code { (c) } }
            },
            _ => {},
        }
        @if stage.steps.is_empty() { p { "No steps." } }
        @else {
            table {
                colgroup { col style="width:26%"; col style="width:14%"; col style="width:60%"; }
                tr { th { "Item" } th { "Result" } th { "Evidence" } }
                @for row in rows(&stage.steps) {
                    @match row {
                        Row::Folded(result, steps) => tr.folded {
                            td { (folded_titles(&steps)) }
                            td { (mark(result, result_label(result))) }
                            td.meta { @for s in &steps { code { (s.id) } " " } }
                        },
                        Row::Step(step) => (step_row(r, step)),
                    }
                }
            }
        }
    }
}

fn step_row(r: &Record, step: &StepInfo) -> Markup {
    let class = match &step.signoff {
        Some(_) if step.result == "done" => "done",
        _ => step.result,
    };
    html! {
        tr id=(anchor(&step.id)) {
            td {
                (step.title)
                @if !step.items.iter().all(|i| step.title.contains(i.as_str())) {
                    " [" (step.items.join(", ")) "]"
                }
                @if step.irreversible { br; span.irreversible { "irreversible" } }
            }
            td { (mark(class, &step_result(step))) }
            td {
                (evidence_cell(step))
                @if step.kind != "again" { div.meta { (meta(step, &r.roles).join(" · ")) } }
            }
        }
    }
}

/// A step's evidence: labelled values, notes, and command lines and
/// output gathered into blocks.
fn evidence_cell(step: &StepInfo) -> Markup {
    let mut blocks: Vec<Piece> = Vec::new();
    for piece in evidence(step) {
        match (blocks.last_mut(), piece) {
            (Some(Piece::Code(code)), Piece::Code(more)) => {
                code.push('\n');
                code.push_str(&more);
            }
            (_, piece) => blocks.push(piece),
        }
    }
    html! {
        @for block in &blocks {
            @match block {
                Piece::Code(code) => pre { (code) },
                Piece::Pair(key, value) => div { b { (key) } ": " (value) },
                Piece::Note(note) => div { (note) },
            }
        }
    }
}

fn timeline(r: &Record) -> Markup {
    html! {
        h2 id="timeline" { "Timeline" }
        details {
            summary { (r.timeline.len()) " journal events; runs of skipped nodes are one line each" }
            table {
                tr { th { "#" } th { "Time" } th { "Event" } th { "Node" } th { "Details" } }
                @for line in lines(&r.timeline) {
                    @match line {
                        Line::Event(e) => tr {
                            td { (e.seq) } td { (e.time) } td { (e.kind) }
                            td { code { (e.node.as_deref().unwrap_or_default()) } }
                            td { (e.summary) }
                        },
                        Line::Skipped(events) => tr.folded {
                            td { (events[0].seq) "–" (events[events.len() - 1].seq) }
                            td { (events[0].time) } td { (events[0].kind) } td {}
                            td { (skipped_summary(events)) }
                        },
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::link;

    #[test]
    fn links_spell_what_a_fragment_cannot_hold() {
        assert_eq!(link("smoke#2.version"), "#n-smoke%232.version");
        assert_eq!(link("r.drain[a b\"c]"), "#n-r.drain[a%20b%22c]");
        assert_eq!(link("é"), "#n-%C3%A9");
    }
}
