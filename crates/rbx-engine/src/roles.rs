//! Who fills each role as the run stands: the runbook and its fill file,
//! then every manual step with `assign ROLE = EVIDENCE` that succeeded, in
//! journal order (rule P1 of the execution semantics). The journal is the
//! only source: the assignments are replayed from the steps' recorded
//! evidence, so a resumed run, `rbx confirm` and `rbx report` agree.

use std::collections::{BTreeMap, HashMap};

use rbx_check::graph::{Graph, NodeKind};
use rbx_syntax::ast::StmtKind;

use crate::Procedure;
use crate::state::{NodeState, RunState, Status};
use crate::value::Value;

/// A role filled during the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The person the step's answer named.
    pub person: String,
    /// The node instance that assigned it.
    pub node: String,
}

/// The roles of a run: filled or not, who may sign for each, and which
/// were assigned during it.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    filled: HashMap<String, bool>,
    identities: HashMap<String, Vec<String>>,
    assigned: BTreeMap<String, Assignment>,
}

impl Roles {
    /// The roles as the procedure fills them, with the assignments the
    /// run's journal holds applied in the order they were recorded.
    pub fn of(procedure: &Procedure, state: &RunState) -> Roles {
        let mut roles = Roles {
            filled: procedure.roles_filled.clone(),
            identities: procedure.identities.clone(),
            assigned: BTreeMap::new(),
        };
        for (role, assignment) in assignments(&procedure.graph, state) {
            roles.apply(role, assignment);
        }
        roles
    }

    /// Applies a node that just settled (see [`assigned_by`]).
    pub fn settled(&mut self, graph: &Graph, id: &str, node: &NodeState) {
        for (role, assignment) in assigned_by(graph, id, node) {
            self.apply(role, assignment);
        }
    }

    /// The person fills the role from now on. On a role bound to
    /// identities, that person is then the only one who may sign for it:
    /// an assignment never widens who may sign.
    fn apply(&mut self, role: String, assignment: Assignment) {
        self.filled.insert(role.clone(), true);
        if let Some(signers) = self.identities.get_mut(&role) {
            *signers = vec![assignment.person.clone()];
        }
        self.assigned.insert(role, assignment);
    }

    /// Whether a person fills `role`.
    pub fn filled(&self, role: &str) -> bool {
        self.filled.get(role).copied().unwrap_or(false)
    }

    /// For each role bound to identities, the only operators who may sign
    /// for it.
    pub fn identities(&self) -> &HashMap<String, Vec<String>> {
        &self.identities
    }

    /// The roles assigned during the run, each with its latest assignment.
    pub fn assigned(&self) -> &BTreeMap<String, Assignment> {
        &self.assigned
    }
}

/// Every assignment the run's journal holds, in the order the steps that
/// made them settled.
pub fn assignments(graph: &Graph, state: &RunState) -> Vec<(String, Assignment)> {
    let mut settled: Vec<(&String, &NodeState)> = state
        .nodes
        .iter()
        // An assignment names a person its node captured: a node that
        // captured nothing assigns nothing.
        .filter(|(_, n)| n.status == Status::Succeeded && !n.captures.is_empty())
        .collect();
    settled.sort_by_key(|(_, n)| n.finished_seq);
    settled
        .into_iter()
        .flat_map(|(id, node)| assigned_by(graph, id, node))
        .collect()
}

/// What the node instance `id` assigned when it settled: nothing unless it
/// is a manual step with `assign` that succeeded and named a person.
fn assigned_by(graph: &Graph, id: &str, node: &NodeState) -> Vec<(String, Assignment)> {
    let base = id.split('[').next().unwrap_or(id);
    let block = match graph.node(base).map(|index| &graph.graph[index].kind) {
        Some(NodeKind::Block(block)) if node.status == Status::Succeeded => block,
        _ => return Vec::new(),
    };
    block
        .body
        .iter()
        .filter_map(|stmt| {
            let StmtKind::Assign { role, evidence } = &stmt.kind else {
                return None;
            };
            let person = node.captures.get(&evidence.name).map(Value::reveal)?;
            let person = person.trim();
            (!person.is_empty()).then(|| {
                let node = id.to_string();
                let person = person.to_string();
                (role.name.clone(), Assignment { person, node })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Roles;
    use crate::state::replay;

    const RUNBOOK: &str = r#"runbook shift "Shifts" {
  input shifts: list(string) = ["day", "night"]

  role lead "Shift lead" {
    identity "first-lead"
  }

  role scribe "Scribe"

  stage s "S" {
    foreach shift in shifts {
      manual hand_over "Hand over the {{ shift }} shift" {
        evidence who "Who leads": text
        assign lead = who
      }
    }

    end done
  }
}
"#;

    fn finished(node: &str, status: &str, who: &str, seq: u64) -> (String, serde_json::Value, u64) {
        let payload =
            json!({ "node": node, "status": status, "captures": { "who": { "text": who } } });
        ("node_finished".to_string(), payload, seq)
    }

    /// Each succeeded assignment replaces the one before in journal order
    /// (not in the order of ids), one that failed assigns nothing, and a
    /// role bound to identities is bound to the assigned person alone.
    #[test]
    fn the_latest_succeeded_assignment_fills_the_role() {
        let sources = vec![("shift.runbook".to_string(), RUNBOOK.to_string())];
        let procedure = crate::procedure_from_snapshot("shift.runbook", sources).unwrap();
        let cases = [
            (vec![], None),
            (
                vec![finished("s.hand_over[night]", "failed", "mallory", 3)],
                None,
            ),
            (
                vec![
                    finished("s.hand_over[night]", "succeeded", "nia", 3),
                    finished("s.hand_over[day]", "succeeded", "dan", 7),
                ],
                Some(("dan", "s.hand_over[day]")),
            ),
            (
                vec![
                    finished("s.hand_over[day]", "succeeded", "dan", 3),
                    finished("s.hand_over[night]", "succeeded", "  nia ", 7),
                    finished("s.hand_over[day]", "failed", "mallory", 9),
                ],
                Some(("nia", "s.hand_over[night]")),
            ),
        ];
        for (events, expected) in cases {
            let state = replay(events.iter().map(|(k, p, seq)| (k.as_str(), p, *seq, 0)));
            let roles = Roles::of(&procedure, &state);
            assert!(!roles.filled("scribe"));
            match expected {
                None => {
                    assert!(!roles.filled("lead"));
                    assert_eq!(roles.identities()["lead"], ["first-lead"]);
                    assert!(roles.assigned().is_empty());
                }
                Some((person, node)) => {
                    assert!(roles.filled("lead"));
                    assert_eq!(roles.identities()["lead"], [person]);
                    assert_eq!(roles.assigned()["lead"].person, person);
                    assert_eq!(roles.assigned()["lead"].node, node);
                }
            }
        }
    }
}
