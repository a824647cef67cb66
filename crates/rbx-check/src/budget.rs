//! The worst-case time of a stage instance: how long its slowest path takes
//! when every step uses all its attempts and every wait runs to its timeout.
//!
//! The figure is what a stage's `within` budget is compared with, so it
//! counts only what a clock can bound. Time a person takes (a manual step,
//! a choice, an attestation, a sign-off, the confirmation an irreversible
//! step asks for) counts as zero, and the result says that people are
//! involved. A step or wait without a `timeout` can run for ever, and then
//! there is no figure at all, only the first node to blame.

use std::collections::{HashMap, HashSet};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use rbx_syntax::ast::{BackoffKind, Block, BlockKind, StmtKind};

use crate::graph::{Graph, Node, NodeKind};

/// What one node adds to the time of its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// The longest the node can take, people aside; `None` when nothing
    /// bounds it (a step or wait without a `timeout`).
    pub millis: Option<u64>,
    /// Whether the node waits for a person, whose time is not counted.
    pub people: bool,
}

/// Why a stage instance has no worst-case time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A step or wait without a `timeout`.
    NoTimeout,
    /// A step or wait whose `timeout` is an expression, known only when
    /// it starts.
    ComputedTimeout,
    /// A node inside `foreach` over a list whose length is not known, so
    /// neither is how many times the node runs.
    UnknownLength { list: String },
    /// A `child` node: its child run takes what its own runbook takes,
    /// which this runbook's budget cannot see.
    ChildRun,
}

/// The worst-case time of one stage instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorstCase {
    /// Every path through the instance ends within `millis`, not counting
    /// people's time.
    Bounded {
        millis: u64,
        /// The ids of the nodes on a slowest path, from the instance's
        /// start node to the node where the path leaves the instance.
        path: Vec<String>,
        /// Whether any node of the instance waits for a person, so that
        /// the real time is `millis` plus whatever people take.
        people: bool,
    },
    /// Some node of the instance has no upper bound.
    Unbounded {
        /// The first such node, in the order the runbook writes them.
        node: String,
        reason: Reason,
    },
}

/// What a node adds to its stage's time, counting one item of any
/// `foreach` around it.
///
/// A step takes at most `timeout × (retries + 1)` plus the waits between
/// attempts: `delay × (2^retries − 1)` with exponential backoff (the
/// default), `delay × retries` with fixed backoff. A wait takes at most its
/// timeout. People and pure control flow (decisions, anchors, stage starts,
/// outcomes) take no clock time.
pub fn cost(node: &Node) -> Cost {
    match &node.kind {
        NodeKind::Block(block) => block_cost(block),
        NodeKind::StageStart { .. }
        | NodeKind::Anchor(_)
        | NodeKind::Checklist { .. }
        | NodeKind::End { .. }
        | NodeKind::Until { .. }
        | NodeKind::Tick { .. }
        | NodeKind::Guard { .. }
        | NodeKind::Tally { .. } => Cost {
            millis: Some(0),
            people: false,
        },
    }
}

fn block_cost(block: &Block) -> Cost {
    let has = |wanted: fn(&StmtKind) -> bool| block.body.iter().any(|stmt| wanted(&stmt.kind));
    // An irreversible step runs only once a person has confirmed it.
    let confirms = has(|kind| matches!(kind, StmtKind::Irreversible(_)));
    match block.kind {
        BlockKind::Step | BlockKind::Wait => Cost {
            millis: attempts(block),
            people: confirms,
        },
        BlockKind::Manual | BlockKind::Choose | BlockKind::Signoff => Cost {
            millis: Some(0),
            people: true,
        },
        // A gate of `require` lines alone is checked by rbx; an `attest`
        // line makes it wait for a person.
        BlockKind::Gate => Cost {
            millis: Some(0),
            people: confirms || has(|kind| matches!(kind, StmtKind::Attest { .. })),
        },
        BlockKind::Decide => Cost {
            millis: Some(0),
            people: false,
        },
        // A child run takes what its own runbook takes, which nothing
        // here bounds.
        BlockKind::Child => Cost {
            millis: None,
            people: false,
        },
    }
}

/// The longest every attempt of a step (or the polling of a wait) takes,
/// with the backoff between attempts; `None` without a timeout.
fn attempts(block: &Block) -> Option<u64> {
    let timeout = block.body.iter().find_map(|stmt| match &stmt.kind {
        StmtKind::Timeout(duration) => Some(duration.millis),
        _ => None,
    })?;
    let Some(retry) = block.body.iter().find_map(|stmt| match &stmt.kind {
        StmtKind::Retry(retry) => Some(retry),
        _ => None,
    }) else {
        return Some(timeout);
    };
    let retries = u64::try_from(retry.count.value).unwrap_or(0);
    let running = timeout.saturating_mul(retries.saturating_add(1));
    let waiting = match &retry.backoff {
        None => 0,
        Some(backoff) => {
            // Jitter only ever shortens a delay; `max` caps each one.
            let cap = backoff.max.as_ref().map_or(u64::MAX, |m| m.millis);
            match backoff.kind.unwrap_or(BackoffKind::Exponential) {
                BackoffKind::Fixed => backoff.delay.millis.min(cap).saturating_mul(retries),
                BackoffKind::Exponential => (0..retries.min(64))
                    .map(|n| {
                        let doubled = 2u64
                            .checked_pow(u32::try_from(n).unwrap_or(u32::MAX))
                            .map_or(u64::MAX, |f| backoff.delay.millis.saturating_mul(f));
                        doubled.min(cap)
                    })
                    .fold(0u64, u64::saturating_add)
                    .saturating_add(cap.saturating_mul(retries.saturating_sub(64))),
            }
        }
    };
    Some(running.saturating_add(waiting))
}

/// The worst-case time of `stage_instance` (`smoke`, `smoke#2`), with the
/// length of every `foreach` list unknown.
///
/// An instance that does not exist has nothing to run: it is bounded by
/// zero, with an empty path.
pub fn worst_case(graph: &Graph, stage_instance: &str) -> WorstCase {
    worst_case_with(graph, stage_instance, &|_| None)
}

/// The worst-case time of `stage_instance`, where `length` gives the number
/// of items of a `foreach` list (the input's dotted name) when it is known.
///
/// A node inside `foreach x in list parallel N` runs once per item, `N` at
/// a time, so it counts `ceil(items / N)` times; one inside a branch of
/// `parallel N { … }` counts `ceil(branches / N)` times.
///
/// The instance's nodes are its own and those of every `again` instance it
/// holds, since those run in its flow. An `again` instance runs the same
/// items as its stage's first instance, so its worst case is computed on
/// that instance, whose node ids the path names. A cycle (which lint
/// reports) is cut where it closes.
pub fn worst_case_with(
    graph: &Graph,
    stage_instance: &str,
    length: &dyn Fn(&str) -> Option<u64>,
) -> WorstCase {
    let g = &graph.graph;
    let Some(mut start) = graph.node(stage_instance) else {
        return WorstCase::Bounded {
            millis: 0,
            path: Vec::new(),
            people: false,
        };
    };
    if let NodeKind::StageStart { stage, .. } = &g[start].kind {
        if g[start].stage != g[start].host {
            start = graph.node(stage).unwrap_or(start);
        }
    }
    let host = g[start].host.as_str();
    let members = |index: NodeIndex| g[index].host == host;

    let order = post_order(graph, start, &members);
    let mut weight: HashMap<NodeIndex, u64> = HashMap::new();
    // An `every`'s iterations run beside other work and start only while
    // it runs, so each can end the stage at most one iteration late: its
    // nodes add their time once per instance of the block, after the
    // longest path, instead of lying on it.
    let mut beside: u64 = 0;
    let mut people = false;
    let mut by_position = order.clone();
    by_position.sort();
    for &index in &by_position {
        let node = &g[index];
        let cost = cost(node);
        people |= cost.people;
        let Some(millis) = cost.millis else {
            return unbounded(node);
        };
        let recurring = node.fanout.iter().any(|f| f.every.is_some());
        let rounds = if millis > 0 {
            match rounds_of(node, length) {
                Ok(rounds) => rounds,
                Err(unknown) => return unknown,
            }
        } else {
            1
        };
        if recurring {
            beside = beside.saturating_add(millis.saturating_mul(rounds));
            continue;
        }
        weight.insert(index, millis.saturating_mul(rounds));
    }

    let best = longest(graph, &order, &members, &weight);

    let millis = best
        .get(&start)
        .map_or(0, |(millis, _)| *millis)
        .saturating_add(beside);
    let mut path = Vec::new();
    let mut at = Some(start);
    while let Some(index) = at {
        path.push(g[index].id.clone());
        at = best.get(&index).and_then(|(_, next)| *next);
    }
    WorstCase::Bounded {
        millis,
        path,
        people,
    }
}

/// Why a node with no time of its own makes its stage's worst case
/// unbounded.
fn unbounded(node: &Node) -> WorstCase {
    let computed = matches!(&node.kind, NodeKind::Block(block)
        if block.body.iter().any(|s| matches!(s.kind, StmtKind::TimeoutExpr(_))));
    let child = matches!(&node.kind, NodeKind::Block(block) if block.kind == BlockKind::Child);
    WorstCase::Unbounded {
        node: node.id.clone(),
        reason: if child {
            Reason::ChildRun
        } else if computed {
            Reason::ComputedTimeout
        } else {
            Reason::NoTimeout
        },
    }
}

/// How many times a node's time counts: once per round of each loop
/// around it (an `every` aside) and of each limited `parallel` block; an
/// unbounded worst case when a loop's length is unknown.
fn rounds_of(node: &Node, length: &dyn Fn(&str) -> Option<u64>) -> Result<u64, WorstCase> {
    let mut rounds: u64 = 1;
    for fanout in node.fanout.iter().filter(|f| f.every.is_none()) {
        // A `repeat` runs its iterations one after the other, at worst
        // every one of them.
        let known = fanout.repeat.as_ref().map(|r| r.at_most.unsigned_abs());
        let Some(items) = known.or_else(|| length(&fanout.list)) else {
            return Err(WorstCase::Unbounded {
                node: node.id.clone(),
                reason: Reason::UnknownLength {
                    list: fanout.list.clone(),
                },
            });
        };
        let at_once = fanout
            .parallel
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(1);
        rounds = rounds.saturating_mul(items.div_ceil(at_once));
    }
    // A branch of `parallel N` starts at the latest when the branch `N`
    // places before it ends, so each branch is done within
    // `ceil(branches / N)` times the slowest one.
    for lane in &node.lanes {
        let branches = u64::try_from(lane.branches).unwrap_or(u64::MAX);
        // A width the inputs give is unknown here: at worst, one at a
        // time.
        let computed = lane.at_once_expr.as_ref().map(|_| 1);
        let at_once = lane
            .at_once
            .or(computed)
            .and_then(|n| u64::try_from(n).ok());
        let at_once = at_once.filter(|n| *n > 0).unwrap_or(branches).max(1);
        rounds = rounds.saturating_mul(branches.div_ceil(at_once));
    }
    Ok(rounds)
}

/// The longest path from each node of `order` (a post-order), and the
/// successor it goes through. In post-order every successor is settled
/// before the node, except along an edge that closes a cycle, which is
/// left out.
fn longest(
    graph: &Graph,
    order: &[NodeIndex],
    members: &dyn Fn(NodeIndex) -> bool,
    weight: &HashMap<NodeIndex, u64>,
) -> HashMap<NodeIndex, (u64, Option<NodeIndex>)> {
    let mut best: HashMap<NodeIndex, (u64, Option<NodeIndex>)> = HashMap::new();
    for &index in order {
        let mut next: Option<(u64, NodeIndex)> = None;
        for successor in successors(graph, index, members) {
            if let Some(&(millis, _)) = best.get(&successor) {
                if next.is_none_or(|(longest, _)| millis > longest) {
                    next = Some((millis, successor));
                }
            }
        }
        let own = weight.get(&index).copied().unwrap_or(0);
        let total = own.saturating_add(next.map_or(0, |(millis, _)| millis));
        best.insert(index, (total, next.map(|(_, successor)| successor)));
    }
    best
}

/// The members a node leads to, in the order they were lowered.
fn successors(
    graph: &Graph,
    index: NodeIndex,
    members: &dyn Fn(NodeIndex) -> bool,
) -> Vec<NodeIndex> {
    let mut out: Vec<NodeIndex> = graph
        .graph
        .edges_directed(index, Direction::Outgoing)
        .map(|edge| edge.target())
        .filter(|target| members(*target))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The members reachable from `start`, each after everything it leads to
/// (except along an edge that closes a cycle). Iterative, so a long stage
/// cannot exhaust the stack.
fn post_order(
    graph: &Graph,
    start: NodeIndex,
    members: &dyn Fn(NodeIndex) -> bool,
) -> Vec<NodeIndex> {
    let mut order = Vec::new();
    let mut seen = HashSet::from([start]);
    let mut stack = vec![(start, successors(graph, start, members), 0)];
    while let Some((index, next, position)) = stack.last_mut() {
        if let Some(&successor) = next.get(*position) {
            *position += 1;
            if seen.insert(successor) {
                let more = successors(graph, successor, members);
                stack.push((successor, more, 0));
            }
        } else {
            order.push(*index);
            stack.pop();
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{Loader, check};

    /// Serves one runbook, whatever path is asked for.
    struct One(String);

    impl Loader for One {
        fn load(&self, _: &Path, _: Option<&Path>) -> Result<Vec<u8>, crate::LoadError> {
            Ok(self.0.as_bytes().to_vec())
        }
    }

    fn graph(stages: &str) -> Graph {
        let text = format!("runbook t \"T\" {{\n{stages}\n}}\n");
        let report = check(Path::new("t.runbook"), &One(text));
        assert!(
            !report.has_errors(),
            "{:#?}",
            report
                .findings
                .iter()
                .map(|f| &f.diagnostic.message)
                .collect::<Vec<_>>()
        );
        report.graph.expect("the runbook lowers")
    }

    fn bounded(millis: u64, path: &[&str], people: bool) -> WorstCase {
        WorstCase::Bounded {
            millis,
            path: path.iter().map(|id| id.to_string()).collect(),
            people,
        }
    }

    #[test]
    fn steps_in_sequence_add_up_with_their_retries_and_backoff() {
        let g = graph(
            r#"
            stage s "S" {
              step a "A" { run "a" timeout 10s }
              step b "B" { run "b" timeout 10s retry 2 backoff 1s }
              step c "C" { run "c" timeout 10s retry 3 backoff 2s fixed }
              end done
            }"#,
        );
        // a: 10s. b: 3 × 10s + 1s × (2² − 1) = 33s. c: 4 × 10s + 3 × 2s = 46s.
        assert_eq!(
            worst_case(&g, "s"),
            bounded(89_000, &["s", "s.a", "s.b", "s.c", "s.end.done"], false)
        );
    }

    #[test]
    fn max_caps_every_delay_and_jitter_never_lengthens_one() {
        let g = graph(
            r#"
            stage s "S" {
              step a "A" { run "a" timeout 10s retry 4 backoff 2s max 5s jitter on exit 75 }
              step b "B" { run "b" timeout 10s retry 2 backoff 9s fixed max 4s }
              end done
            }"#,
        );
        // a: 5 × 10s + 2s + 4s + 5s + 5s = 66s. b: 3 × 10s + 2 × 4s = 38s.
        assert_eq!(
            worst_case(&g, "s"),
            bounded(104_000, &["s", "s.a", "s.b", "s.end.done"], false)
        );
    }

    #[test]
    fn an_every_adds_one_iteration_per_instance_to_the_work_beside_it() {
        let g = graph(
            r#"
            input hosts: list(string) = ["a", "b"]
            stage s "S" {
              every 10m {
                step post "Post" { run "post" timeout 30s }
                step probe "Probe" { run "probe" timeout 15s }
              }
              step work "Work" { run "work" timeout 50m }
              foreach h in hosts {
                every 1m at most 3 { step ping "Ping" { run "ping" timeout 5s } }
                step drain "Drain" { run "drain" timeout 2m }
              }
              end done
            }"#,
        );
        // The path: work 50m, then two drains, 4m. Beside it: one
        // iteration of the stage's block (45s) and one of each host's
        // (5s each), however many iterations run.
        assert_eq!(
            worst_case_with(&g, "s", &|list| (list == "hosts").then_some(2)),
            bounded(
                3_000_000 + 240_000 + 45_000 + 10_000,
                &["s", "s.work", "s.drain", "s.end.done"],
                false
            )
        );
    }

    #[test]
    fn a_retry_without_backoff_waits_nothing_between_attempts() {
        let g = graph(r#"stage s "S" { step a "A" { run "a" timeout 5s retry 2 } end done }"#);
        assert_eq!(
            worst_case(&g, "s"),
            bounded(15_000, &["s", "s.a", "s.end.done"], false)
        );
    }

    #[test]
    fn the_slowest_branch_of_a_decision_wins() {
        let g = graph(
            r#"
            input fast: bool = true
            stage s "S" {
              decide d "D" {
                when fast -> continue
                otherwise -> slow
              }
              step quick "Quick" { run "q" timeout 1s }
              end done
            }
            stage slow "Slow" {
              step long "Long" { run "l" timeout 1h }
              end done
            }"#,
        );
        // The branch to `slow` leaves the stage; only `continue` stays in it.
        assert_eq!(
            worst_case(&g, "s"),
            bounded(1_000, &["s", "s.d", "s.quick", "s.end.done"], false)
        );
        assert_eq!(
            worst_case(&g, "slow"),
            bounded(3_600_000, &["slow", "slow.long", "slow.end.done"], false)
        );
    }

    #[test]
    fn parallel_branches_count_the_slowest_one() {
        let g = graph(
            r#"
            stage s "S" {
              parallel {
                step a "A" { run "a" timeout 1m }
                step b "B" { run "b" timeout 2m }
              }
              end done
            }"#,
        );
        assert_eq!(
            worst_case(&g, "s"),
            bounded(120_000, &["s", "s.b", "s.end.done"], false)
        );
    }

    #[test]
    fn people_count_zero_and_are_reported() {
        let g = graph(
            r#"
            role r "R"
            stage s "S" {
              manual m "M" { owner r evidence e "E": text }
              gate g "G" { require 1 < 2 }
              step a "A" { run "a" timeout 30s }
              end done
            }
            stage t "T" {
              gate g2 "G" { require 1 < 2 }
              step b "B" { run "b" timeout 30s }
              end done
            }
            stage u "U" {
              step c "C" { run "c" timeout 30s irreversible }
              end done
            }
            stage v "V" {
              gate g3 "G" { attest r "ok" }
              end done
            }"#,
        );
        assert_eq!(
            worst_case(&g, "s"),
            bounded(30_000, &["s", "s.m", "s.g", "s.a", "s.end.done"], true)
        );
        // A gate of requirements alone waits for nobody.
        assert_eq!(
            worst_case(&g, "t"),
            bounded(30_000, &["t", "t.g2", "t.b", "t.end.done"], false)
        );
        // An irreversible step waits for a confirmation, an attestation for
        // its role.
        assert!(matches!(
            worst_case(&g, "u"),
            WorstCase::Bounded { people: true, .. }
        ));
        assert!(matches!(
            worst_case(&g, "v"),
            WorstCase::Bounded { people: true, .. }
        ));
    }

    #[test]
    fn a_step_or_wait_without_timeout_makes_the_stage_unbounded() {
        let g = graph(
            r#"
            stage s "S" {
              step a "A" { run "a" timeout 1s }
              step b "B" { run "b" }
              step c "C" { run "c" }
              end done
            }
            stage w "W" {
              anchor t0 "T0"
              wait later "Later" { until t0 + 2h }
              end done
            }
            stage x "X" {
              wait poll "Poll" { run "p" every 5s timeout 3m }
              end done
            }"#,
        );
        let no_timeout = |node: &str| WorstCase::Unbounded {
            node: node.to_string(),
            reason: Reason::NoTimeout,
        };
        assert_eq!(worst_case(&g, "s"), no_timeout("s.b"));
        assert_eq!(worst_case(&g, "w"), no_timeout("w.later"));
        assert_eq!(
            worst_case(&g, "x"),
            bounded(180_000, &["x", "x.poll", "x.end.done"], false)
        );
    }

    #[test]
    fn foreach_counts_one_round_per_batch_of_items() {
        let g = graph(
            r#"
            input hosts: list(string)
            stage s "S" {
              step before "Before" { run "b" timeout 10s }
              foreach host in hosts parallel 2 {
                step restart "Restart {{ host }}" { run "r {{ host }}" timeout 1m }
              }
              end done
            }"#,
        );
        assert_eq!(
            worst_case(&g, "s"),
            WorstCase::Unbounded {
                node: "s.restart".to_string(),
                reason: Reason::UnknownLength {
                    list: "hosts".to_string()
                },
            }
        );
        // Five hosts, two at a time: three rounds of one minute.
        let five = |list: &str| (list == "hosts").then_some(5);
        assert_eq!(
            worst_case_with(&g, "s", &five),
            bounded(
                190_000,
                &["s", "s.before", "s.restart", "s.end.done"],
                false
            )
        );
    }

    #[test]
    fn an_again_instance_counts_in_its_host_and_on_its_own() {
        let g = graph(
            r#"
            stage s "S" {
              step a "A" { run "a" timeout 1m }
              then r
            }
            stage r "R" {
              step b "B" { run "b" timeout 2m }
              again s { on failure -> end escalated }
              step c "C" { run "c" timeout 3m }
              end done
            }"#,
        );
        assert_eq!(
            worst_case(&g, "r"),
            bounded(
                360_000,
                &["r", "r.b", "s#2", "s#2.a", "r.c", "r.end.done"],
                false
            )
        );
        assert_eq!(worst_case(&g, "s#2"), bounded(60_000, &["s", "s.a"], false));
    }

    #[test]
    fn an_instance_that_does_not_exist_takes_no_time() {
        let g = graph(r#"stage s "S" { end done }"#);
        assert_eq!(worst_case(&g, "nope"), bounded(0, &[], false));
    }

    #[test]
    fn huge_retry_counts_saturate_instead_of_overflowing() {
        let g = graph(
            r#"stage s "S" { step a "A" { run "a" timeout 1d retry 999999 backoff 1d } end done }"#,
        );
        assert!(matches!(
            worst_case(&g, "s"),
            WorstCase::Bounded {
                millis: u64::MAX,
                ..
            }
        ));
    }
}
