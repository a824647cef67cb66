//! What a person gives a manual step, a choice, a gate's attestations or a
//! sign-off, and the rules it must meet — one set of rules however the
//! answer arrives: typed at the terminal, read from an answers file, or
//! given to `rbx confirm`.
//!
//! People are compared by their normalised names ([`normalise`]): `Alice`,
//! ` alice ` and `ALICE` are one person, for `no self-approval` and for
//! counting distinct approvers. A sign-off is bound to the operator who
//! records it: its name must be the operator's, so one person cannot enter
//! GO for others. Sign-offs that do not yet settle their node (more
//! approvers are needed) are recorded one by one (`signoff_recorded`) and
//! count towards it when the next one is given.

use std::collections::BTreeMap;

use rbx_store::Event;
use rbx_syntax::ast::{Block, BlockKind, EvidenceType, StmtKind};
use serde_json::{Value as Json, json};

use crate::observer::{Observer, Tone};
use crate::state::{Status, kind};
use crate::value::Value;

pub mod confirm;

/// A name as rbx compares people: lowercase (Unicode-aware), trimmed, and
/// with each run of inner whitespace made one space.
pub fn normalise(name: &str) -> String {
    name.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Adds the OS account to `payload` when it records an operator, so the
/// journal keeps the account that ran the process next to the name claimed.
pub fn with_account(payload: &mut Json, account: &str) {
    if let Some(fields) = payload.as_object_mut() {
        if fields.contains_key("operator") && !fields.contains_key("account") {
            fields.insert("account".to_string(), json!(account));
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signoff {
    pub role: String,
    /// Who signed.
    pub by: String,
    pub go: bool,
    pub comment: Option<String>,
    /// The OS account of the process that recorded it, once recorded. An
    /// answer read from a file or flags has none of its own.
    pub account: Option<String>,
}

impl Signoff {
    fn to_json(&self) -> Json {
        let mut json = json!({
            "role": self.role,
            "by": self.by,
            "decision": if self.go { "GO" } else { "NO-GO" },
            "comment": self.comment,
        });
        if let Some(account) = &self.account {
            json["account"] = json!(account);
        }
        json
    }
}

/// Who answers, and what was already recorded for the node.
#[derive(Debug, Clone, Copy)]
pub struct Answering<'a> {
    /// Who started the run, for `no self-approval`.
    pub started_by: &'a str,
    /// The operator recording this answer: every sign-off in it must be
    /// theirs.
    pub operator: &'a str,
    /// The OS account of the process recording it.
    pub account: &'a str,
    /// Sign-offs recorded earlier for this node that did not settle it.
    pub earlier: &'a [Signoff],
    /// For each role that names its identities, the only operators who may
    /// sign for it.
    pub identities: &'a std::collections::HashMap<String, Vec<String>>,
}

/// A person's answer to one node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub evidence: serde_json::Map<String, Json>,
    pub choice: Option<String>,
    pub rationale: Option<String>,
    /// Whether the attestations were made.
    pub attest: Option<bool>,
    pub signoffs: Vec<Signoff>,
    /// The person says the step was not done.
    pub reject: bool,
}

impl Response {
    /// A response from an answers-file table or JSON given to `confirm`.
    pub fn from_json(json: &Json) -> Response {
        let text = |key: &str| json.get(key).and_then(Json::as_str).map(str::to_string);
        let mut signoffs = Vec::new();
        if let Some(list) = json.get("signoffs").and_then(Json::as_array) {
            for entry in list {
                let field = |key: &str| {
                    entry
                        .get(key)
                        .and_then(Json::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                signoffs.push(Signoff {
                    role: field("role"),
                    by: field("by"),
                    go: field("decision").eq_ignore_ascii_case("GO"),
                    comment: entry
                        .get("comment")
                        .and_then(Json::as_str)
                        .map(str::to_string),
                    // An answers file cannot say which account recorded it.
                    account: None,
                });
            }
        }
        Response {
            evidence: json
                .get("evidence")
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default(),
            choice: text("choice"),
            rationale: text("rationale"),
            attest: json.get("attest").and_then(Json::as_bool),
            signoffs,
            reject: json.get("reject").and_then(Json::as_bool).unwrap_or(false),
        }
    }

    /// The response as the journal keeps it. Files kept as evidence are
    /// listed again under `attachments` (name → SHA-256), which the store
    /// checks the kept bytes against, so the hash chain covers them.
    pub fn to_json(&self) -> Json {
        let attachments: serde_json::Map<String, Json> = self
            .evidence
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), value.get("sha256")?.clone())))
            .collect();
        let signoffs: Vec<Json> = self.signoffs.iter().map(Signoff::to_json).collect();
        let mut json = json!({
            "answers": self.evidence,
            "rationale": self.rationale,
            "attest": self.attest,
            "signoffs": signoffs,
        });
        if !attachments.is_empty() {
            json["attachments"] = json!(attachments);
        }
        json
    }
}

/// How a node settles once its response is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// [`Status::Pending`] when the response was accepted but the node
    /// still waits: a sign-off that needs more approvers (`waiting` says
    /// what for). The response's sign-offs are then recorded on their own.
    pub status: Status,
    pub branch: Option<String>,
    pub reason: Option<String>,
    /// Every sign-off that counts, the earlier ones first, each with the
    /// account that recorded it: what the finish event records.
    pub signoffs: Vec<Signoff>,
    /// What a sign-off still waits for.
    pub waiting: Vec<String>,
}

/// Checks `response` against what `block` asks for, given who answers. An
/// `Err` lists everything missing or wrong: the node stays waiting and
/// nothing of the response is recorded.
pub fn settle(
    block: &Block,
    response: &Response,
    who: &Answering<'_>,
) -> Result<Settlement, Vec<String>> {
    let mut problems = Vec::new();
    let mut settlement = Settlement {
        status: Status::Succeeded,
        branch: None,
        reason: None,
        signoffs: Vec::new(),
        waiting: Vec::new(),
    };
    if response.reject {
        settlement.status = Status::Failed;
        settlement.reason = Some("the person recorded that it was not done".to_string());
        return Ok(settlement);
    }
    let mut approvers = 1usize;
    let mut roles = Vec::new();
    let mut no_self = false;
    for stmt in &block.body {
        match &stmt.kind {
            StmtKind::Evidence(wanted) => {
                let name = &wanted.name.name;
                let given = response.evidence.get(name).and_then(evidence_text);
                match given.as_deref() {
                    None | Some("") if !wanted.optional => {
                        problems.push(format!(
                            "evidence `{name}` ({}) is missing",
                            wanted.prompt.source_form()
                        ));
                    }
                    Some(value) if !value.is_empty() => {
                        if let Some(problem) = invalid(&wanted.ty, value) {
                            problems.push(format!("evidence `{name}`: {problem}"));
                        }
                    }
                    _ => {}
                }
            }
            StmtKind::Attest { role, .. } if response.attest.is_none() => {
                problems.push(format!(
                    "{} must attest (or the step must be rejected)",
                    role.name
                ));
            }
            StmtKind::Attest { role, .. } if response.attest != Some(true) => {
                settlement.status = Status::Failed;
                settlement.reason = Some(format!("{} did not attest", role.name));
            }
            StmtKind::By(by) => roles.extend(by.iter().map(|r| r.name.clone())),
            StmtKind::Approvers(n) => approvers = usize::try_from(n.value).unwrap_or(1).max(1),
            StmtKind::NoSelfApproval => no_self = true,
            _ => {}
        }
    }
    if let Some(problem) = assigner(block, who) {
        problems.push(problem);
    }
    if block.kind == BlockKind::Choose {
        let options = options(block);
        match &response.choice {
            Some(choice) if options.contains(&choice.as_str()) => {
                settlement.branch = Some(choice.clone())
            }
            other => problems.push(format!(
                "the choice must be one of {}, not {}",
                options.join(", "),
                other.as_deref().unwrap_or("nothing")
            )),
        }
    }
    if block.kind == BlockKind::Signoff {
        let rule = Rule {
            roles: &roles,
            approvers,
            no_self,
        };
        signoffs(response, &rule, who, &mut settlement, &mut problems);
    }
    if problems.is_empty() {
        Ok(settlement)
    } else {
        Err(problems)
    }
}

/// A step that assigns a role hands over who may act for it: when its
/// owner's role is bound to identities, only they may answer it.
fn assigner(block: &Block, who: &Answering<'_>) -> Option<String> {
    let assigns = block
        .body
        .iter()
        .any(|s| matches!(s.kind, StmtKind::Assign { .. }));
    let owner = block.body.iter().find_map(|s| match &s.kind {
        StmtKind::Owner(role) => Some(&role.name),
        _ => None,
    })?;
    let allowed = who.identities.get(owner).filter(|_| assigns)?;
    let operator = normalise(who.operator);
    if allowed.iter().any(|name| normalise(name) == operator) {
        return None;
    }
    Some(format!(
        "`{}` assigns a role, and only {owner} may answer it ({}), not `{}`",
        block.id.name,
        allowed.join(", "),
        who.operator
    ))
}

/// What a sign-off node asks for.
struct Rule<'a> {
    /// The roles that sign.
    roles: &'a [String],
    /// How many distinct people each role needs saying GO.
    approvers: usize,
    /// Whether the person who started the run may not sign.
    no_self: bool,
}

/// A sign-off passes only when every role has `approvers` distinct people
/// saying GO, counting those recorded earlier; one NO-GO fails it. Each new
/// sign-off must be the operator's own.
fn signoffs(
    response: &Response,
    rule: &Rule<'_>,
    who: &Answering<'_>,
    settlement: &mut Settlement,
    problems: &mut Vec<String>,
) {
    let operator = normalise(who.operator);
    let started_by = normalise(who.started_by);
    let mut all: Vec<Signoff> = who.earlier.to_vec();
    for signoff in &response.signoffs {
        let by = normalise(&signoff.by);
        if !rule.roles.contains(&signoff.role) {
            problems.push(format!(
                "`{}` is not one of the roles that sign: {}",
                signoff.role,
                rule.roles.join(", ")
            ));
        }
        if by != operator {
            problems.push(format!(
                "`{}` cannot sign here: a sign-off is given by the operator who records it, \
                 and that is `{}`; {} signs in a session of their own",
                signoff.by, who.operator, signoff.by
            ));
        }
        if let Some(allowed) = who.identities.get(&signoff.role)
            && !allowed.iter().any(|a| normalise(a) == by)
        {
            problems.push(format!(
                "{} cannot sign as `{}`: only {} may (the role's `identity`)",
                signoff.by,
                signoff.role,
                allowed.join(", ")
            ));
        }
        if rule.no_self && by == started_by {
            problems.push(format!(
                "{} started this run and cannot approve it (no self-approval)",
                signoff.by
            ));
        }
        if all
            .iter()
            .any(|s| s.role == signoff.role && normalise(&s.by) == by)
        {
            problems.push(format!(
                "{} has already signed as `{}`",
                signoff.by, signoff.role
            ));
        }
        all.push(Signoff {
            account: Some(who.account.to_string()),
            ..signoff.clone()
        });
    }
    settlement.signoffs = all;
    if let Some(no_go) = settlement.signoffs.iter().find(|s| !s.go) {
        settlement.status = Status::Failed;
        settlement.reason = Some(format!("NO-GO from {} ({})", no_go.by, no_go.role));
        return;
    }
    for role in rule.roles {
        let mut people: Vec<String> = settlement
            .signoffs
            .iter()
            .filter(|s| &s.role == role && s.go)
            .map(|s| normalise(&s.by))
            .collect();
        people.sort_unstable();
        people.dedup();
        if people.len() < rule.approvers {
            settlement.waiting.push(format!(
                "`{role}` needs {} distinct approver(s) saying GO, has {}",
                rule.approvers,
                people.len()
            ));
        }
    }
    if !settlement.waiting.is_empty() {
        settlement.status = Status::Pending;
    }
}

/// The sign-offs recorded for `node` that have not settled it yet: those
/// after its last finish, or after the last time it was reset.
pub fn recorded_signoffs(events: &[Event], node: &str) -> Vec<Signoff> {
    let mut recorded = Vec::new();
    for event in events {
        let p = &event.payload;
        let text = |key: &str| p.get(key).and_then(Json::as_str).map(str::to_string);
        match event.kind.as_str() {
            kind::SIGNOFF_RECORDED if text("node").as_deref() == Some(node) => {
                recorded.push(Signoff {
                    role: text("role").unwrap_or_default(),
                    by: text("by").unwrap_or_default(),
                    go: text("decision").is_some_and(|d| d == "GO"),
                    comment: text("comment"),
                    account: text("account"),
                });
            }
            kind::NODE_FINISHED if text("node").as_deref() == Some(node) => recorded.clear(),
            kind::RETRY | kind::RERUN_FROM => {
                let reset = p
                    .get("reset")
                    .and_then(Json::as_array)
                    .is_some_and(|r| r.iter().any(|n| n.as_str() == Some(node)));
                if reset {
                    recorded.clear();
                }
            }
            _ => {}
        }
    }
    recorded
}

/// The sign-offs recorded earlier for a sign-off node of a run being driven
/// (none for any other node), read from the journal.
pub(crate) async fn earlier(
    journal: &crate::Journal,
    run: &rbx_store::RunId,
    node: &str,
    block: &Block,
) -> Result<Vec<Signoff>, String> {
    if block.kind != BlockKind::Signoff {
        return Ok(Vec::new());
    }
    let (run, id) = (run.clone(), node.to_string());
    journal
        .call(move |store: &mut dyn rbx_store::Store| store.events(&run))
        .await
        .map(|events| recorded_signoffs(&events, &id))
        .map_err(|e| e.to_string())
}

/// The payload of a `signoff_recorded` event: one sign-off that did not
/// settle its node, given by `operator` through `via`.
pub fn recorded_json(node: &str, signoff: &Signoff, operator: &str, via: &str) -> Json {
    let mut json = signoff.to_json();
    json["node"] = json!(node);
    json["operator"] = json!(operator);
    json["via"] = json!(via);
    json
}

/// The `rbx confirm` flags that give a sign-off, for the hint a paused run
/// prints: each approver gives their own, as the operator recording it.
pub fn signoff_hint(roles: &[rbx_syntax::ast::Ident]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    match names.as_slice() {
        [role] => format!("--signoff {role}=YOUR_NAME:GO (each approver, as themselves)"),
        _ => format!(
            "--signoff ROLE=YOUR_NAME:GO (each approver, as themselves; ROLE: {})",
            names.join(", ")
        ),
    }
}

/// Asks the operator at the terminal for their own decision on each role of
/// a sign-off they have not signed yet. Others sign in sessions of their
/// own: one person does not type GO for another. The operator who started
/// a run with `no self-approval` is not asked at all.
pub fn ask_signoffs(
    observer: &dyn Observer,
    block: &Block,
    started_by: &str,
    operator: &str,
    earlier: &[Signoff],
) -> Option<Vec<Signoff>> {
    let roles = block.body.iter().flat_map(|s| match &s.kind {
        StmtKind::By(by) => by.iter().map(|r| r.name.clone()).collect(),
        _ => Vec::new(),
    });
    let me = normalise(operator);
    let no_self = block
        .body
        .iter()
        .any(|s| matches!(s.kind, StmtKind::NoSelfApproval));
    if no_self && me == normalise(started_by) {
        observer.line(
            Tone::Plain,
            &format!("  {operator} started this run: others sign (no self-approval)"),
        );
        return Some(Vec::new());
    }
    for signed in earlier {
        observer.line(
            Tone::Plain,
            &format!(
                "  {} already signed as {}: {}",
                signed.by,
                signed.role,
                if signed.go { "GO" } else { "NO-GO" }
            ),
        );
    }
    let mut given = Vec::new();
    for role in roles {
        if earlier
            .iter()
            .any(|s| s.role == role && normalise(&s.by) == me)
        {
            continue;
        }
        let prompt = format!(
            "{role}: your decision as {operator}: GO, NO-GO, or empty to leave it to others"
        );
        let Some(go) = ask_until(observer, &prompt, go_or_no_go)? else {
            continue;
        };
        let comment = observer.ask("comment (optional)")?;
        given.push(Signoff {
            role,
            by: operator.to_string(),
            go,
            comment: (!comment.is_empty()).then_some(comment),
            account: None,
        });
    }
    Some(given)
}

/// Asks until `read` accepts the answer, saying what was wrong each time;
/// `None` when no answer can come.
pub fn ask_until<T>(
    observer: &dyn Observer,
    prompt: &str,
    read: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    loop {
        let answer = observer.ask(prompt)?;
        match read(&answer) {
            Ok(value) => return Some(value),
            Err(problem) => observer.line(Tone::Plain, &format!("  {problem}")),
        }
    }
}

/// `yes`/`y` or `no`/`n`, in any case; anything else is asked again.
pub fn yes_or_no(answer: &str) -> Result<bool, String> {
    match answer.trim().to_lowercase().as_str() {
        "yes" | "y" => Ok(true),
        "no" | "n" => Ok(false),
        _ => Err(format!("`{answer}`: answer yes or no")),
    }
}

/// A sign-off's decision: `GO` or `NO-GO` in any case (`NOGO`, `NO GO`),
/// or empty for none; anything else is asked again.
pub fn go_or_no_go(answer: &str) -> Result<Option<bool>, String> {
    let word: String = answer
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '_'))
        .collect();
    match word.as_str() {
        "go" => Ok(Some(true)),
        "nogo" => Ok(Some(false)),
        "" => Ok(None),
        _ => Err(format!(
            "`{answer}`: answer GO or NO-GO (or nothing to leave it)"
        )),
    }
}

/// The names of a choice's options, in order.
pub fn options(block: &Block) -> Vec<&str> {
    block
        .body
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Option(o) => Some(o.name.name.as_str()),
            _ => None,
        })
        .collect()
}

/// The file evidence in a response: (evidence name, path given), to be
/// copied into the store.
pub fn files(block: &Block, response: &Response) -> Vec<(String, String)> {
    block
        .body
        .iter()
        .filter_map(|stmt| match &stmt.kind {
            StmtKind::Evidence(e) if matches!(e.ty, EvidenceType::File) => {
                let path = response.evidence.get(&e.name.name)?.as_str()?;
                Some((e.name.name.clone(), path.to_string()))
            }
            _ => None,
        })
        .collect()
}

/// Records in the response that a file was kept, with its hash and size.
pub fn kept(response: &mut Response, name: &str, path: &str, sha256: &str, size: usize) {
    response.evidence.insert(
        name.to_string(),
        json!({ "file": path, "sha256": sha256, "size": size }),
    );
}

/// Why `value` is not acceptable evidence of this type, if it is not.
pub fn invalid(ty: &EvidenceType, value: &str) -> Option<String> {
    match ty {
        EvidenceType::Url => {
            let scheme_ok = ["http://", "https://", "file://"]
                .iter()
                .any(|s| value.starts_with(s) && value.len() > s.len());
            (!scheme_ok || value.contains(char::is_whitespace))
                .then(|| format!("`{value}` is not a URL (http:// or https://)"))
        }
        EvidenceType::Choice(options) => (!options.iter().any(|o| o.name == value)).then(|| {
            let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
            format!("`{value}` is not one of {}", names.join(", "))
        }),
        EvidenceType::File => (!std::path::Path::new(value).is_file())
            .then(|| format!("`{value}` is not a file that can be read")),
        EvidenceType::Text => None,
        EvidenceType::Int | EvidenceType::Bool | EvidenceType::Choices(_) => {
            typed_evidence(ty, value).err()
        }
    }
}

/// An answer as the text it stands for: an answers file or `rbx confirm
/// --json` may give a number, a bool or (for `choices`) an array of names,
/// where the terminal and `--evidence` give text.
pub fn evidence_text(json: &Json) -> Option<String> {
    match json {
        Json::String(text) => Some(text.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(|names| names.join(", ")),
        _ => None,
    }
}

/// The value of an `int`, `bool` or `choices(…)` answer, or why the text
/// is not one: a whole number; yes/no or true/false; names from the list,
/// separated by commas or spaces, each once (kept in the order listed, so
/// two people giving the same names record the same value).
pub fn typed_evidence(ty: &EvidenceType, value: &str) -> Result<Value, String> {
    let value = value.trim();
    match ty {
        EvidenceType::Int => value
            .parse()
            .map(Value::Int)
            .map_err(|_| format!("`{value}` is not a whole number")),
        EvidenceType::Bool => match value.to_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => yes_or_no(value).map(Value::Bool),
        },
        EvidenceType::Choices(options) => {
            let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
            let given: Vec<&str> = value
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|name| !name.is_empty())
                .collect();
            if let Some(bad) = given.iter().find(|name| !names.contains(name)) {
                return Err(format!(
                    "`{bad}` is not one of {}; give any of them separated by commas",
                    names.join(", ")
                ));
            }
            // Separators alone name nothing: the evidence is not there.
            if given.is_empty() {
                return Err(format!(
                    "`{value}` names none of {}; give at least one, separated by commas",
                    names.join(", ")
                ));
            }
            Ok(Value::List(
                names
                    .iter()
                    .filter(|name| given.contains(name))
                    .map(|name| Value::Name(name.to_string()))
                    .collect(),
            ))
        }
        EvidenceType::Choice(_) => Ok(Value::Name(value.to_string())),
        EvidenceType::Text | EvidenceType::Url | EvidenceType::File => {
            Ok(Value::Text(value.to_string()))
        }
    }
}

/// Whether a node of this kind waits for a person: manual steps, choices,
/// sign-offs, and gates with `attest` lines.
pub fn needs_person(block: &Block) -> bool {
    match block.kind {
        BlockKind::Manual | BlockKind::Choose | BlockKind::Signoff => true,
        BlockKind::Gate => block
            .body
            .iter()
            .any(|s| matches!(s.kind, StmtKind::Attest { .. })),
        BlockKind::Step | BlockKind::Wait | BlockKind::Decide | BlockKind::Child => false,
    }
}

/// The values a person's answer gives the nodes after it (rule P3): each
/// piece of evidence under its name — a `choice(…)` as the option's name,
/// `text` and `url` as the text given, a `file` as its path. Evidence left
/// out (an optional one) has no value.
pub fn values(block: &Block, response: &Response) -> BTreeMap<String, Value> {
    let mut values = BTreeMap::new();
    for stmt in &block.body {
        let StmtKind::Evidence(evidence) = &stmt.kind else {
            continue;
        };
        let name = &evidence.name.name;
        let given = match response.evidence.get(name) {
            Some(Json::Object(kept)) => match kept.get("file").and_then(Json::as_str) {
                Some(path) => path.to_string(),
                None => continue,
            },
            Some(answer) => match evidence_text(answer) {
                Some(text) => text,
                None => continue,
            },
            None => continue,
        };
        let value = match evidence.ty {
            EvidenceType::Text | EvidenceType::Url | EvidenceType::File => Value::Text(given),
            _ => match typed_evidence(&evidence.ty, &given) {
                Ok(value) => value,
                Err(_) => continue,
            },
        };
        values.insert(name.clone(), value);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(source: &str) -> Block {
        let file = rbx_syntax::parse(source)
            .file
            .expect("the test runbook parses");
        let rbx_syntax::ast::ItemKind::Stage(stage) = &file.items[0].kind else {
            panic!("a stage");
        };
        let rbx_syntax::ast::StageItemKind::Block(block) = &stage.items[0].kind else {
            panic!("a block");
        };
        Block::clone(block)
    }

    fn signoff(role: &str, by: &str, go: bool) -> Signoff {
        Signoff {
            role: role.into(),
            by: by.into(),
            go,
            comment: None,
            account: None,
        }
    }

    /// `operator` answers a run `zed` started, after `earlier`.
    /// No role names its identities.
    static ANYONE: std::sync::LazyLock<std::collections::HashMap<String, Vec<String>>> =
        std::sync::LazyLock::new(std::collections::HashMap::new);

    fn who<'a>(operator: &'a str, earlier: &'a [Signoff]) -> Answering<'a> {
        Answering {
            started_by: "zed",
            operator,
            account: "acct",
            earlier,
            identities: &ANYONE,
        }
    }

    fn given(signoffs: Vec<Signoff>) -> Response {
        Response {
            signoffs,
            ..Response::default()
        }
    }

    const GATE: &str = r#"stage s "S" {
  signoff release "Release" {
    by owner, reviewer
    approvers 2
    no self-approval
  }

  end ok
}"#;

    #[test]
    fn names_are_compared_normalised() {
        assert_eq!(normalise("  Ada\tLOVELACE "), "ada lovelace");
        assert_eq!(normalise("ÉMILE"), normalise("émile"));
    }

    #[test]
    fn a_signoff_settles_once_every_role_has_enough_distinct_approvers() {
        let block = block(GATE);
        // Ada signs as owner: accepted, and the node waits for the rest.
        let first = settle(
            &block,
            &given(vec![signoff("owner", "ada", true)]),
            &who("Ada", &[]),
        )
        .expect("ada's own sign-off is accepted");
        assert_eq!(first.status, Status::Pending);
        assert_eq!(
            first.waiting,
            [
                "`owner` needs 2 distinct approver(s) saying GO, has 1",
                "`reviewer` needs 2 distinct approver(s) saying GO, has 0"
            ]
        );
        assert_eq!(first.signoffs[0].account.as_deref(), Some("acct"));
        // Ada again, written another way, is still one person.
        let earlier = first.signoffs;
        let again = settle(
            &block,
            &given(vec![signoff("owner", " ADA ", true)]),
            &who("ada", &earlier),
        );
        assert!(again.unwrap_err()[0].contains("already signed"));
        // The others, each in a session of their own.
        let mut earlier = earlier;
        for (role, by) in [("owner", "dee"), ("reviewer", "bob")] {
            let step = settle(
                &block,
                &given(vec![signoff(role, by, true)]),
                &who(by, &earlier),
            )
            .expect("accepted");
            assert_eq!(step.status, Status::Pending);
            earlier = step.signoffs;
        }
        let last = settle(
            &block,
            &given(vec![signoff("reviewer", "cy", true)]),
            &who("cy", &earlier),
        )
        .expect("accepted");
        assert_eq!(last.status, Status::Succeeded);
        assert_eq!(last.signoffs.len(), 4);
    }

    /// A role that names identities takes sign-offs from them alone,
    /// compared normalised; a role that names none takes anyone's.
    #[test]
    fn a_role_with_identities_takes_sign_offs_from_them_alone() {
        let block = block(GATE);
        let identities = std::collections::HashMap::from([(
            "owner".to_string(),
            vec!["ada".to_string(), "Dee".to_string()],
        )]);
        let answering = |operator: &'static str| Answering {
            identities: &identities,
            ..who(operator, &[])
        };
        for (role, by, accepted) in [
            ("owner", "ada", true),
            ("owner", " DEE ", true),
            ("owner", "mallory", false),
            ("reviewer", "mallory", true),
        ] {
            let result = settle(
                &block,
                &given(vec![signoff(role, by, true)]),
                &answering(by),
            );
            match (accepted, result) {
                (true, Ok(settlement)) => assert_eq!(settlement.status, Status::Pending),
                (false, Err(problems)) => assert!(
                    problems.iter().any(|p| p.contains("only ada, Dee may")),
                    "{problems:?}"
                ),
                (_, other) => panic!("{by} as {role}: {other:?}"),
            }
        }
    }

    #[test]
    fn one_operator_cannot_sign_for_others() {
        let block = block(GATE);
        let response = given(vec![
            signoff("owner", "ada", true),
            signoff("owner", "dee", true),
            signoff("reviewer", "bob", true),
            signoff("reviewer", "cy", true),
        ]);
        let problems = settle(&block, &response, &who("ada", &[])).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems
                .iter()
                .all(|p| p.contains("given by the operator who records it"))
        );
    }

    #[test]
    fn one_no_go_fails_the_signoff_and_self_approval_is_refused() {
        let block = block(GATE);
        let settled = settle(
            &block,
            &given(vec![signoff("owner", "ada", false)]),
            &who("ada", &[]),
        )
        .expect("a NO-GO settles");
        assert_eq!(settled.status, Status::Failed);
        // `Zed` started the run as `zed`: the same person.
        let problems = settle(
            &block,
            &given(vec![signoff("owner", "Zed", true)]),
            &who("Zed", &[]),
        )
        .unwrap_err();
        assert!(problems[0].contains("cannot approve"), "{problems:?}");
    }

    /// Answers prompts from a script, and keeps the prompts it was given.
    #[derive(Debug, Default)]
    struct Scripted {
        answers: std::sync::Mutex<Vec<&'static str>>,
        asked: std::sync::Mutex<Vec<String>>,
    }

    impl Observer for Scripted {
        fn line(&self, _: Tone, _: &str) {}
        fn output(&self, _: crate::observer::Stream, _: &[u8]) {}
        fn running(&self, _: &str) {}
        fn stopped(&self) {}
        fn can_ask(&self) -> bool {
            true
        }
        fn ask(&self, prompt: &str) -> Option<String> {
            self.asked.lock().unwrap().push(prompt.to_string());
            Some(self.answers.lock().unwrap().remove(0).to_string())
        }
        fn long_text(&self) -> Option<String> {
            None
        }
    }

    #[test]
    fn the_terminal_asks_the_operator_for_their_own_decision_only() {
        let block = block(GATE);
        let terminal = Scripted {
            answers: std::sync::Mutex::new(vec!["GO", "looks good", ""]),
            ..Scripted::default()
        };
        let given = ask_signoffs(&terminal, &block, "zed", "Ada", &[]).expect("answers");
        assert_eq!(given.len(), 1);
        assert_eq!(
            (given[0].role.as_str(), given[0].by.as_str()),
            ("owner", "Ada")
        );
        let asked = terminal.asked.lock().unwrap().clone();
        assert!(asked.iter().all(|p| !p.contains("name")), "{asked:?}");
        // The operator who started a run with `no self-approval` is not asked.
        let starter = Scripted::default();
        assert_eq!(
            ask_signoffs(&starter, &block, "zed", " Zed", &[]),
            Some(Vec::new())
        );
        assert!(starter.asked.lock().unwrap().is_empty());
    }

    #[test]
    fn evidence_is_checked_by_kind() {
        let block = block(
            r#"stage s "S" {
  manual look "Look" {
    evidence dash "Dashboard": url
    evidence verdict "Verdict": choice(pass, fail)
    evidence notes "Notes": text optional
  }

  end ok
}"#,
        );
        let mut response = Response::default();
        response.evidence.insert("dash".into(), json!("grafana"));
        response.evidence.insert("verdict".into(), json!("maybe"));
        let problems = settle(&block, &response, &who("zed", &[])).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        response
            .evidence
            .insert("dash".into(), json!("https://grafana.example.com/d/1"));
        response.evidence.insert("verdict".into(), json!("pass"));
        assert!(settle(&block, &response, &who("zed", &[])).is_ok());
    }

    #[test]
    fn yes_no_and_go_no_go_read_what_people_type() {
        for (typed, meant) in [
            ("y", true),
            ("YES", true),
            (" Yes ", true),
            ("n", false),
            ("No", false),
        ] {
            assert_eq!(yes_or_no(typed), Ok(meant), "{typed:?}");
        }
        for typed in ["", "yep", "ja", "1", "yes please"] {
            assert!(yes_or_no(typed).is_err(), "{typed:?} is neither");
        }
        for (typed, meant) in [
            ("GO", Some(true)),
            ("go", Some(true)),
            ("NO-GO", Some(false)),
            ("nogo", Some(false)),
            ("No Go", Some(false)),
            ("", None),
        ] {
            assert_eq!(go_or_no_go(typed), Ok(meant), "{typed:?}");
        }
        for typed in ["maybe", "yes", "g0", "no"] {
            assert!(go_or_no_go(typed).is_err(), "{typed:?} is not a decision");
        }
    }
}
