//! How a checkpoint of format 3 writes the nodes of a run's state: the
//! finished nodes that are only a finish — succeeded, with no capture,
//! branch, reason, condition or child run — in *families*, columns of
//! numbers rather than an object each; every other node as format 2 wrote
//! it.
//!
//! A loop's items finish one after another, so such nodes, in the order
//! they finished, come in runs that share all of their id but the item
//! (`s.work[7][` … `]`): a family is one such run, its ids its items, and
//! its finishing events and times the differences from the one before. A
//! node instance costs some fifteen bytes instead of a hundred and more,
//! and reads back as a handful of numbers, not an object of named fields.
//!
//! Reading is strict: columns of unequal length, an id given twice, an id
//! or a node a writer would have written otherwise, or a number out of
//! range make the checkpoint unreadable, and the journal is replayed
//! instead.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::state::{NodeState, Status};

/// The nodes of a state as format 3 writes them.
#[derive(Serialize)]
pub(super) struct Written<'a> {
    families: Vec<Family<&'a str>>,
    /// Every node that is not only a finish, by id.
    others: BTreeMap<&'a str, &'a NodeState>,
}

/// The nodes of a state as format 3 reads them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Read {
    families: Vec<Family<String>>,
    others: BTreeMap<String, NodeState>,
}

/// A run of finished nodes whose ids are `head`, an item, and `tail`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Family<S> {
    head: S,
    tail: S,
    items: Vec<S>,
    attempts: Vec<u32>,
    duration_ms: Vec<u64>,
    /// Each finishing event's sequence number less the one before it
    /// (the first's less zero).
    seq: Vec<u64>,
    /// Each finish's time less the one before it (the first's less zero):
    /// a clock set back makes it negative.
    at: Vec<i64>,
}

/// What there is of a node that is only a finish.
#[derive(Clone, Copy)]
struct Finish {
    attempts: u32,
    duration_ms: u64,
    seq: u64,
    at: i64,
}

/// A node that is only a finish: its attempts, duration, finishing event
/// and time say all there is.
fn only_a_finish(node: &NodeState) -> Option<Finish> {
    let NodeState {
        status,
        attempts,
        captures,
        branch,
        reason,
        duration_ms,
        finished_seq,
        finished_at,
        condition,
        rerun,
        child,
    } = node;
    let plain = *status == Status::Succeeded
        && captures.is_empty()
        && branch.is_none()
        && reason.is_none()
        && condition.is_none()
        && !rerun
        && child.is_none();
    if !plain {
        return None;
    }
    Some(Finish {
        attempts: *attempts,
        duration_ms: (*duration_ms)?,
        seq: (*finished_seq)?,
        at: (*finished_at)?,
    })
}

/// Where an id splits into the part a family shares and its item: before
/// the last `[` of an id that ends in `]` (`s.work[7][` and `3`), else
/// after its stage (`s.` and `deploy`).
fn split(id: &str) -> (&str, &str, &str) {
    if let Some(body) = id.strip_suffix(']') {
        if let Some(open) = body.rfind('[') {
            return (&body[..=open], &body[open + 1..], "]");
        }
    }
    let cut = id.find('.').map_or(0, |dot| dot + 1);
    (&id[..cut], &id[cut..], "")
}

impl<'a> Written<'a> {
    /// The nodes of `nodes`, families in the order their nodes finished.
    pub(super) fn of(nodes: &'a HashMap<String, NodeState>) -> Written<'a> {
        let mut finishes: Vec<(&str, Finish)> = Vec::new();
        let mut others = BTreeMap::new();
        for (id, node) in nodes {
            match only_a_finish(node) {
                Some(finish) => finishes.push((id, finish)),
                None => {
                    others.insert(id.as_str(), node);
                }
            }
        }
        finishes.sort_unstable_by_key(|(id, finish)| (finish.seq, *id));
        let mut families: Vec<Family<&str>> = Vec::new();
        let (mut seq_was, mut at_was) = (0, 0);
        for (id, finish) in finishes {
            let (head, item, tail) = split(id);
            let same = families
                .last()
                .is_some_and(|f| f.head == head && f.tail == tail);
            if !same {
                families.push(Family {
                    head,
                    tail,
                    items: Vec::new(),
                    attempts: Vec::new(),
                    duration_ms: Vec::new(),
                    seq: Vec::new(),
                    at: Vec::new(),
                });
                (seq_was, at_was) = (0, 0);
            }
            let family = families.last_mut().expect("a family was pushed");
            family.items.push(item);
            family.attempts.push(finish.attempts);
            family.duration_ms.push(finish.duration_ms);
            family.seq.push(finish.seq - seq_was);
            family.at.push(finish.at.wrapping_sub(at_was));
            (seq_was, at_was) = (finish.seq, finish.at);
        }
        Written { families, others }
    }
}

impl Read {
    /// The nodes as the state holds them; `None` when the columns do not
    /// agree, an id is given twice, or a node under `others` is one a
    /// writer would have put in a family.
    pub(super) fn into_map(self) -> Option<HashMap<String, NodeState>> {
        let count = self.families.iter().map(|f| f.items.len()).sum::<usize>();
        let mut nodes = HashMap::with_capacity(count + self.others.len());
        for family in self.families {
            family.unpack(&mut nodes)?;
        }
        for (id, node) in self.others {
            if only_a_finish(&node).is_some() || nodes.insert(id, node).is_some() {
                return None;
            }
        }
        Some(nodes)
    }
}

impl Family<String> {
    /// Adds the family's nodes to `nodes`; `None` when its columns do not
    /// agree, a number is out of range, or a node is there already.
    fn unpack(self, nodes: &mut HashMap<String, NodeState>) -> Option<()> {
        let len = self.items.len();
        let agree = [
            self.attempts.len(),
            self.duration_ms.len(),
            self.seq.len(),
            self.at.len(),
        ]
        .iter()
        .all(|&l| l == len);
        if !agree || len == 0 {
            return None;
        }
        let (mut seq, mut at) = (0u64, 0i64);
        for (i, item) in self.items.iter().enumerate() {
            seq = seq.checked_add(self.seq[i])?;
            at = at.wrapping_add(self.at[i]);
            let mut id = String::with_capacity(self.head.len() + item.len() + self.tail.len());
            id.push_str(&self.head);
            id.push_str(item);
            id.push_str(&self.tail);
            if split(&id) != (self.head.as_str(), item.as_str(), self.tail.as_str()) {
                return None;
            }
            let node = NodeState {
                status: Status::Succeeded,
                attempts: self.attempts[i],
                duration_ms: Some(self.duration_ms[i]),
                finished_seq: Some(seq),
                finished_at: Some(at),
                ..NodeState::default()
            };
            if nodes.insert(id, node).is_some() {
                return None;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::split;
    use crate::checkpoint::{payload, read};
    use crate::state::{ChildRun, NodeState, RunState, Status};
    use crate::value::Value;

    /// Ids of the shapes a run names its nodes with: stage starts, nodes,
    /// loop items (nested, by value or by place), instances of `again`,
    /// and odd ones a family must not swallow.
    fn id() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,3}",
            "[a-z]{1,2}(#[0-9])?\\.[a-z]{1,3}",
            "[a-z]\\.[a-z]{1,2}(\\[[a-z0-9#]{0,3}\\]){1,3}",
            "[a-z.\\[\\]#]{0,6}",
        ]
    }

    fn status() -> impl Strategy<Value = Status> {
        prop_oneof![
            4 => Just(Status::Succeeded),
            1 => Just(Status::Pending),
            1 => Just(Status::Running),
            1 => Just(Status::Failed),
            1 => Just(Status::Skipped),
            1 => Just(Status::Cancelled),
        ]
    }

    /// A node state, most of them only a finish and the rest anything.
    fn node() -> impl Strategy<Value = NodeState> {
        let finish = (0u32..3, any::<u64>(), 1u64..1_000_000, any::<i64>());
        let extra = (
            prop::option::of(any::<i64>()),
            prop::option::of("[a-z]{0,3}"),
            prop::option::of("[a-z ]{0,5}"),
            prop::option::of("[a-z]{1,3}"),
            any::<bool>(),
        );
        (
            status(),
            prop::option::of(finish),
            prop::bool::weighted(0.7),
            extra,
        )
            .prop_map(
                |(status, finish, plain, (capture, branch, reason, condition, child))| {
                    let mut node = NodeState {
                        status,
                        ..NodeState::default()
                    };
                    if let Some((attempts, duration, seq, at)) = finish {
                        node.attempts = attempts;
                        node.duration_ms = Some(duration);
                        node.finished_seq = Some(seq);
                        node.finished_at = Some(at);
                    }
                    if !plain {
                        if let Some(c) = capture {
                            node.captures.insert("v".to_string(), Value::Int(c));
                        }
                        node.branch = branch;
                        node.reason = reason;
                        node.condition = condition;
                        node.child = child.then(|| ChildRun {
                            id: "r/s.c".to_string(),
                            again: None,
                        });
                    }
                    node
                },
            )
    }

    fn state(nodes: HashMap<String, NodeState>) -> RunState {
        let mut state = RunState::new();
        state.nodes = nodes;
        state.dues.insert("s.t[1]".to_string(), 5);
        state.cleanups.insert("s".to_string(), true);
        state
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Whatever the nodes, a checkpoint of format 3 reads back as the
        /// state it was written from, and the same state is the same text.
        #[test]
        fn a_state_reads_back_as_it_was_written(
            nodes in prop::collection::hash_map(id(), node(), 0..40),
        ) {
            let state = state(nodes);
            let written = payload(&state);
            let text = written.to_string();
            let back = read(&text).expect("a checkpoint of this format reads");
            prop_assert!(back.same_for_executor(&state));
            prop_assert_eq!(text, payload(&back).to_string());
        }

        /// A family whose columns were changed reads back as something
        /// else or not at all, and never panics.
        #[test]
        fn a_changed_family_is_not_read_as_the_state(
            nodes in prop::collection::hash_map(id(), node(), 1..30),
            column in prop::sample::select(vec!["items", "attempts", "duration_ms", "seq", "at"]),
            cut in any::<bool>(),
        ) {
            let state = state(nodes);
            let mut written = payload(&state);
            let families = written["state"]["nodes"]["families"]
                .as_array_mut()
                .expect("families");
            prop_assume!(!families.is_empty());
            let values = families[0][column].as_array_mut().expect("a column");
            if cut {
                values.pop();
            } else {
                values.push(values[0].clone());
            }
            if let Some(back) = read(&written.to_string()) {
                prop_assert!(!back.same_for_executor(&state));
            }
        }
    }

    #[test]
    fn a_loop_s_items_are_one_family_of_numbers() {
        let mut nodes = HashMap::new();
        for i in 0..1_000u64 {
            nodes.insert(
                format!("s.work[{}][{}]", i / 100, i % 100),
                NodeState {
                    status: Status::Succeeded,
                    attempts: 1,
                    duration_ms: Some(3),
                    finished_seq: Some(10 + 2 * i),
                    finished_at: Some(1_700_000_000_000 + 5 * i as i64),
                    ..NodeState::default()
                },
            );
        }
        nodes.insert(
            "s.items".to_string(),
            NodeState {
                status: Status::Succeeded,
                attempts: 1,
                captures: [("list".to_string(), Value::Int(1))].into(),
                finished_seq: Some(5),
                ..NodeState::default()
            },
        );
        let state = state(nodes);
        let written = payload(&state);
        let families = written["state"]["nodes"]["families"]
            .as_array()
            .expect("families");
        assert_eq!(families.len(), 10, "one family per round");
        assert_eq!(
            (
                &families[1]["head"],
                &families[1]["tail"],
                &families[1]["seq"][0],
                &families[1]["seq"][1]
            ),
            (&json!("s.work[1]["), &json!("]"), &json!(210), &json!(2))
        );
        let others: Vec<&String> = written["state"]["nodes"]["others"]
            .as_object()
            .expect("others")
            .keys()
            .collect();
        assert_eq!(others, ["s.items"]);
        let format_2 = json!({ "format": 2, "state": state }).to_string();
        let text = written.to_string();
        assert!(
            text.len() * 4 < format_2.len(),
            "{} bytes against {}",
            text.len(),
            format_2.len()
        );
        assert!(read(&format_2).is_some_and(|s| s.same_for_executor(&state)));
        assert!(read(&text).is_some_and(|s| s.same_for_executor(&state)));
    }

    #[test]
    fn an_id_splits_into_what_a_family_shares_and_its_item() {
        assert_eq!(split("s.work[7][3]"), ("s.work[7][", "3", "]"));
        assert_eq!(split("s.deploy"), ("s.", "deploy", ""));
        assert_eq!(split("smoke#2"), ("", "smoke#2", ""));
        assert_eq!(split("s.x]"), ("s.", "x]", ""));
    }
}
