//! A person's answer against the rules for answers ("Every answer, however
//! it arrived, then meets the same rules" in the execution reference, and
//! the evidence types of the language reference): whether it settles the
//! node, and how.

use std::collections::{BTreeMap, BTreeSet};

use rbx_syntax::ast::{Block, BlockKind, Evidence, EvidenceType, StmtKind};

use crate::drive::Settlement;
use crate::eval::Val;
use crate::{Answer, ModelError, Status};

/// How a person's answer settles their node (P, F1), or `None` when it
/// breaks a rule: the run pauses, and `rbx confirm` refuses it. `files`
/// are the paths a `file` evidence may name.
pub(crate) fn answer_fits(
    block: &Block,
    answer: &Answer,
    files: &BTreeSet<String>,
) -> Result<Option<Settlement>, ModelError> {
    let done = |status| Ok(Some((status, None, BTreeMap::new())));
    match (block.kind, answer) {
        (_, Answer::Reject) => done(Status::Failed),
        (BlockKind::Gate, Answer::Attest(made)) => done(if *made {
            Status::Succeeded
        } else {
            Status::Failed
        }),
        (BlockKind::Signoff, Answer::Signoff(go)) => done(if *go {
            Status::Succeeded
        } else {
            Status::Failed
        }),
        (BlockKind::Choose, Answer::Choice(option)) => {
            let known = block
                .body
                .iter()
                .any(|s| matches!(&s.kind, StmtKind::Option(o) if o.name.name == *option));
            Ok(known.then(|| (Status::Succeeded, Some(option.clone()), BTreeMap::new())))
        }
        (BlockKind::Manual, Answer::Evidence(given)) => {
            for stmt in &block.body {
                let StmtKind::Evidence(wanted) = &stmt.kind else {
                    continue;
                };
                if !fits(wanted, given.get(&wanted.name.name), files) {
                    return Ok(None);
                }
            }
            Ok(Some((Status::Succeeded, None, given.clone())))
        }
        _ => Ok(None),
    }
}

/// Required evidence must be there and of its type; optional evidence
/// left empty has no value.
fn fits(wanted: &Evidence, given: Option<&String>, files: &BTreeSet<String>) -> bool {
    let Some(value) = given.filter(|v| !v.is_empty()) else {
        return wanted.optional;
    };
    match &wanted.ty {
        EvidenceType::Text => true,
        EvidenceType::Choice(options) => options.iter().any(|o| o.name == *value),
        EvidenceType::Int | EvidenceType::Bool => typed(Some(&wanted.ty), value).is_ok(),
        // A URL starts with `http://`, `https://` or `file://`, something
        // follows, and it holds no white space.
        EvidenceType::Url => {
            ["http://", "https://", "file://"]
                .iter()
                .any(|scheme| value.len() > scheme.len() && value.starts_with(scheme))
                && !value.contains(char::is_whitespace)
        }
        // A file rbx can read.
        EvidenceType::File => files.contains(value),
        // Names of the list, separated by commas or spaces, at least one;
        // a name given twice counts once.
        EvidenceType::Choices(options) => {
            let names: Vec<&str> = value
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|name| !name.is_empty())
                .collect();
            !names.is_empty()
                && names
                    .iter()
                    .all(|name| options.iter().any(|o| o.name == *name))
        }
    }
}

/// A person's answer as the value its evidence type gives it: `true` or
/// `false` for a bool (`yes`, `y`, `no`, `n` too, in any case), a number
/// for an int, a name for a choice, the text for text, a URL or a file.
pub(crate) fn typed(ty: Option<&EvidenceType>, answer: &str) -> Result<Val, ModelError> {
    let refused = || ModelError::Unsupported(format!("the answer `{answer}`"));
    Ok(match ty {
        Some(EvidenceType::Bool) => match answer.to_lowercase().as_str() {
            "true" | "yes" | "y" => Val::Bool(true),
            "false" | "no" | "n" => Val::Bool(false),
            _ => return Err(refused()),
        },
        Some(EvidenceType::Int) => Val::Int(answer.parse().map_err(|_| refused())?),
        Some(EvidenceType::Choices(_)) => {
            return Err(ModelError::Unsupported(
                "reading a `choices` evidence".to_string(),
            ));
        }
        _ => Val::Name(answer.to_string()),
    })
}
