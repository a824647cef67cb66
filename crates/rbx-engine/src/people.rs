//! What a person gives a manual step, a choice, a gate's attestations or a
//! sign-off, and the rules it must meet — one set of rules however the
//! answer arrives: typed at the terminal, read from an answers file, or
//! given to `rbx confirm`.

use rbx_syntax::ast::{Block, BlockKind, EvidenceType, StmtKind};
use serde_json::{Value as Json, json};

use crate::state::Status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signoff {
    pub role: String,
    /// Who signed.
    pub by: String,
    pub go: bool,
    pub comment: Option<String>,
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
        let signoffs: Vec<Json> = self
            .signoffs
            .iter()
            .map(|s| {
                json!({
                    "role": s.role,
                    "by": s.by,
                    "decision": if s.go { "GO" } else { "NO-GO" },
                    "comment": s.comment,
                })
            })
            .collect();
        json!({
            "answers": self.evidence,
            "rationale": self.rationale,
            "attest": self.attest,
            "signoffs": signoffs,
            "attachments": attachments,
        })
    }
}

/// How a node settles once its response is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub status: Status,
    pub branch: Option<String>,
    pub reason: Option<String>,
}

/// Checks `response` against what `block` asks for. `started_by` is the
/// person who started the run, for `no self-approval`. An `Err` lists
/// everything missing or wrong: the node stays waiting.
pub fn settle(
    block: &Block,
    response: &Response,
    started_by: &str,
) -> Result<Settlement, Vec<String>> {
    let mut problems = Vec::new();
    let mut settlement = Settlement {
        status: Status::Succeeded,
        branch: None,
        reason: None,
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
                match response.evidence.get(name).and_then(Json::as_str) {
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
        signoffs(
            response,
            &roles,
            approvers,
            no_self,
            started_by,
            &mut settlement,
            &mut problems,
        );
    }
    if problems.is_empty() {
        Ok(settlement)
    } else {
        Err(problems)
    }
}

/// A sign-off passes only when every role has `approvers` distinct people
/// saying GO; one NO-GO fails it.
fn signoffs(
    response: &Response,
    roles: &[String],
    approvers: usize,
    no_self: bool,
    started_by: &str,
    settlement: &mut Settlement,
    problems: &mut Vec<String>,
) {
    for signoff in &response.signoffs {
        if !roles.contains(&signoff.role) {
            problems.push(format!(
                "`{}` is not one of the roles that sign: {}",
                signoff.role,
                roles.join(", ")
            ));
        }
        if no_self && signoff.by == started_by {
            problems.push(format!(
                "{} started this run and cannot approve it (no self-approval)",
                signoff.by
            ));
        }
    }
    if let Some(no_go) = response.signoffs.iter().find(|s| !s.go) {
        settlement.status = Status::Failed;
        settlement.reason = Some(format!("NO-GO from {} ({})", no_go.by, no_go.role));
        return;
    }
    for role in roles {
        let mut people: Vec<&str> = response
            .signoffs
            .iter()
            .filter(|s| &s.role == role && s.go)
            .map(|s| s.by.as_str())
            .collect();
        people.sort_unstable();
        people.dedup();
        if people.len() < approvers {
            problems.push(format!(
                "`{role}` needs {approvers} distinct approver(s) saying GO, has {}",
                people.len()
            ));
        }
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
    }
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
        block.clone()
    }

    fn signoff(role: &str, by: &str, go: bool) -> Signoff {
        Signoff {
            role: role.into(),
            by: by.into(),
            go,
            comment: None,
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
    fn a_signoff_needs_every_role_with_enough_distinct_approvers() {
        let block = block(GATE);
        let mut response = Response {
            signoffs: vec![
                signoff("owner", "ada", true),
                signoff("owner", "ada", true),
                signoff("reviewer", "bob", true),
                signoff("reviewer", "cy", true),
            ],
            ..Response::default()
        };
        let problems = settle(&block, &response, "zed").unwrap_err();
        assert_eq!(
            problems,
            ["`owner` needs 2 distinct approver(s) saying GO, has 1"]
        );
        response.signoffs.push(signoff("owner", "dee", true));
        assert_eq!(
            settle(&block, &response, "zed").map(|s| s.status),
            Ok(Status::Succeeded)
        );
    }

    #[test]
    fn one_no_go_fails_the_signoff_and_self_approval_is_refused() {
        let block = block(GATE);
        let response = Response {
            signoffs: vec![signoff("owner", "ada", false)],
            ..Response::default()
        };
        let settled = settle(&block, &response, "zed").expect("a NO-GO settles");
        assert_eq!(settled.status, Status::Failed);
        let response = Response {
            signoffs: vec![signoff("owner", "zed", true)],
            ..Response::default()
        };
        let problems = settle(&block, &response, "zed").unwrap_err();
        assert!(problems[0].contains("cannot approve"), "{problems:?}");
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
        let problems = settle(&block, &response, "zed").unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        response
            .evidence
            .insert("dash".into(), json!("https://grafana.example.com/d/1"));
        response.evidence.insert("verdict".into(), json!("pass"));
        assert!(settle(&block, &response, "zed").is_ok());
    }
}
