//! The generator: a runbook as a small tree of stages and items, random
//! operations on its run, and the rendering of both to what `rbx` reads.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use proptest::prelude::*;
use rbx_model::{InDoubt, Kind, Model, Value};
use rbx_syntax::ast::BlockKind;

use crate::case::Concrete;

/// A runbook as a small tree: stages of items. Stage targets are offsets
/// forward from the stage (and, for a stage that `again` runs, from the
/// latest stage that runs it), so no target makes a cycle.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) hosts: usize,
    pub(crate) zones: usize,
    pub(crate) busy: bool,
    pub(crate) flag: bool,
    pub(crate) failure: Option<u8>,
    pub(crate) cancel: Option<u8>,
    pub(crate) stages: Vec<StageSpec>,
    /// The runbook's `finally` block, when it has one: items without
    /// routes of their own (X2).
    pub(crate) finally: Option<Vec<Item>>,
    /// The input `width`, when every `parallel N` is written
    /// `parallel width * N` (R4 with a width the inputs give).
    pub(crate) width: Option<u8>,
    /// Whether the stages `call` runs have a clean-up of their own (Y1):
    /// `p_ok`'s succeeds, `p_bad`'s fails.
    pub(crate) called_cleanup: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct StageSpec {
    pub(crate) require: Option<Cond>,
    pub(crate) failure: Option<Target>,
    pub(crate) cancel: Option<Target>,
    pub(crate) items: Vec<Item>,
    /// `then` the next stage (or `end` when it is the last), or `end`.
    pub(crate) then: bool,
    pub(crate) outcome: u8,
    /// The stage's own `finally` block (rules Y1–Y4): items without
    /// routes of their own, as the runbook's.
    pub(crate) cleanup: Option<Vec<Item>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Item {
    Step {
        fail: Fail,
        idempotent: bool,
        failure: Option<Target>,
        when: Option<Cond>,
    },
    Manual {
        failure: Option<Target>,
        when: Option<Cond>,
    },
    Gate {
        attest: bool,
        cond: Cond,
        failure: Option<Target>,
        when: Option<Cond>,
    },
    Signoff {
        failure: Option<Target>,
        when: Option<Cond>,
    },
    Choose {
        options: Vec<Target>,
        when: Option<Cond>,
    },
    Decide {
        whens: Vec<(Cond, Target)>,
        otherwise: Target,
    },
    /// A checklist of leaf items without routes of their own.
    Checklist { fail_fast: bool, body: Vec<Item> },
    Foreach {
        zones: bool,
        parallel: Option<u8>,
        tolerate: Option<Tolerate>,
        /// The whole loop's own `when` (rule W5).
        when: Option<Cond>,
        body: Vec<Item>,
    },
    Parallel {
        at_once: Option<u8>,
        tolerate: Option<Tolerate>,
        /// The whole block's own `when` (rule W5).
        when: Option<Cond>,
        branches: Vec<Item>,
    },
    Again {
        back: u8,
        failure: Option<Target>,
        /// The instance's own `when` (rule W5).
        when: Option<Cond>,
    },
    /// `repeat at most N until M.verdict == good`, where `M` is a manual
    /// step written last in its body.
    Repeat { at_most: u8, body: Vec<Item> },
    /// `every I at most N { … }`: beside the items after it, with an
    /// interval of [`INTERVALS`] (by this index), which a step's time on
    /// the simulated clock ([`STEP_MS`]) and the time between operations
    /// make come due, or missed (V2–V4).
    Every {
        interval: u8,
        at_most: u8,
        body: Vec<Item>,
        /// Items written right after it, so that it has work to run
        /// beside (the items after it in its block are its beside set).
        beside: Vec<Item>,
    },
    /// `call p_ok(…)` or `call p_bad(…)`: an instance of a stage with a
    /// parameter, whose one step succeeds or fails.
    Call {
        fail: bool,
        failure: Option<Target>,
        /// The instance's own `when` (rule W5).
        when: Option<Cond>,
    },
    /// `child cN { runbook "child_ok.runbook" }` (or `child_bad`): a
    /// child run whose outcome is the node's (rules D1–D4).
    Child {
        fail: bool,
        failure: Option<Target>,
        when: Option<Cond>,
    },
}

/// `tolerate N` or `tolerate N%` on a loop or block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tolerate {
    Count(u8),
    Percent(u8),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Fail {
    Never,
    Always,
    /// Inside a loop, on the item at this position of the innermost list.
    OnItem(u8),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// The stage this many places after the floor.
    Stage(u8),
    End(u8),
    Continue,
}

#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Busy,
    Flag,
    /// The last manual step written before in the stage said `bad`.
    Verdict,
    /// The innermost loop's variable is the item at this position of its
    /// list (outside a loop: `flag`).
    Item(u8),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

/// What the coverage counts: text that a construct writes.
pub(crate) const CONSTRUCTS: &[&str] = &[
    "finally {",
    "foreach ",
    " parallel 1",
    " parallel 2",
    "parallel {",
    "parallel 1 {",
    " tolerate ",
    "%",
    "again ",
    "call p_",
    "child c",
    ") when ",
    "parallel width",
    "decide ",
    "checklist ",
    " fail-fast {",
    "repeat at most ",
    "every 10m",
    "every 30m",
    "every 45m",
    "every 2h",
    "s when ",
    "parallel when ",
    "manual ",
    ": url",
    ": file",
    ": choices(",
    "gate ",
    "attest ",
    "signoff ",
    "choose ",
    "case {{",
    "exit 1\"",
    "idempotent",
    "on failure -> continue",
    "on failure -> s",
    "on failure -> end",
    "on cancel ",
    "    require ",
    "-> continue",
    ".verdict == bad",
    "verdict\": bool",
    "verdict\": int",
    ".verdict < 1",
    "then s",
];

/// The intervals a generated `every` is written with.
pub(crate) const INTERVALS: [&str; 4] = ["10m", "30m", "45m", "2h"];
/// How long each step's command takes on the simulated clock
/// (`RBX_TEST_CLOCK`): twenty minutes.
pub(crate) const STEP_MS: i64 = 20 * 60_000;
/// When a generated run starts on the simulated clock:
/// 2026-12-07T23:00:00Z.
pub(crate) const START_MS: i64 = 1_796_684_400_000;
/// The times, in minutes, that can pass before an operation: nothing, a
/// moment, part of an interval, or several intervals of downtime.
const DOWNTIMES: [u32; 8] = [0, 0, 0, 10, 25, 50, 95, 200];

pub(crate) const OUTCOMES: [&str; 4] = ["done", "aborted", "halted", "rolled_back"];
pub(crate) const HOSTS: [&str; 3] = ["a", "b", "c"];
pub(crate) const ZONES: [&str; 2] = ["x", "y"];

pub(crate) fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        (1..3u8).prop_map(Target::Stage),
        (0..4u8).prop_map(Target::End),
        Just(Target::Continue),
    ]
}

pub(crate) fn route() -> impl Strategy<Value = Option<Target>> {
    prop::option::weighted(0.4, target())
}

pub(crate) fn cond() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![Just(Cond::Busy), Just(Cond::Flag), Just(Cond::Verdict)];
    leaf.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// A node's own `when`: a condition over inputs, evidence, or the
/// current loop item.
pub(crate) fn when() -> impl Strategy<Value = Option<Cond>> {
    prop::option::weighted(0.25, prop_oneof![cond(), (0..3u8).prop_map(Cond::Item)])
}

pub(crate) fn leaf_item() -> impl Strategy<Value = Item> {
    let fail = prop_oneof![
        3 => Just(Fail::Never),
        1 => Just(Fail::Always),
        2 => (0..3u8).prop_map(Fail::OnItem),
    ];
    prop_oneof![
        4 => (fail, any::<bool>(), route(), when()).prop_map(|(fail, idempotent, failure, when)| {
            Item::Step {
                fail,
                idempotent,
                failure,
                when,
            }
        }),
        2 => (route(), when()).prop_map(|(failure, when)| Item::Manual { failure, when }),
        1 => (any::<bool>(), cond(), route(), when()).prop_map(|(attest, cond, failure, when)| {
            Item::Gate {
                attest,
                cond,
                failure,
                when,
            }
        }),
        1 => (route(), when()).prop_map(|(failure, when)| Item::Signoff { failure, when }),
        1 => (prop::collection::vec(target(), 2..4), when())
            .prop_map(|(options, when)| Item::Choose { options, when }),
        2 => (prop::collection::vec((cond(), target()), 1..3), target())
            .prop_map(|(whens, otherwise)| Item::Decide { whens, otherwise }),
        1 => ((1..3u8), route(), when())
            .prop_map(|(back, failure, when)| Item::Again { back, failure, when }),
        1 => (any::<bool>(), route(), when())
            .prop_map(|(fail, failure, when)| Item::Call { fail, failure, when }),
        1 => (any::<bool>(), route(), when())
            .prop_map(|(fail, failure, when)| Item::Child { fail, failure, when }),
    ]
}

/// An item of a checklist: a step, a manual step, a gate or a sign-off,
/// whose failure goes on to the checklist's next item.
pub(crate) fn checklist_item() -> impl Strategy<Value = Item> {
    let fail = prop_oneof![
        2 => Just(Fail::Never),
        1 => Just(Fail::Always),
        2 => (0..3u8).prop_map(Fail::OnItem),
    ];
    prop_oneof![
        3 => (fail, any::<bool>(), when()).prop_map(|(fail, idempotent, when)| Item::Step {
            fail,
            idempotent,
            failure: None,
            when,
        }),
        1 => when().prop_map(|when| Item::Manual { failure: None, when }),
        1 => (any::<bool>(), cond(), when()).prop_map(|(attest, cond, when)| Item::Gate {
            attest,
            cond,
            failure: None,
            when,
        }),
        1 => when().prop_map(|when| Item::Signoff { failure: None, when }),
    ]
}

pub(crate) fn tolerate() -> impl Strategy<Value = Option<Tolerate>> {
    prop::option::weighted(
        0.35,
        prop_oneof![
            (0..3u8).prop_map(Tolerate::Count),
            prop::sample::select(vec![0u8, 34, 50, 100]).prop_map(Tolerate::Percent),
        ],
    )
}

pub(crate) fn item() -> impl Strategy<Value = Item> {
    leaf_item().prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            (any::<bool>(), prop::collection::vec(checklist_item(), 1..4))
                .prop_map(|(fail_fast, body)| Item::Checklist { fail_fast, body }),
            (
                any::<bool>(),
                prop::option::of(1..3u8),
                tolerate(),
                when(),
                prop::collection::vec(inner.clone(), 1..4)
            )
                .prop_map(|(zones, parallel, tolerate, when, body)| Item::Foreach {
                    zones,
                    parallel,
                    tolerate,
                    when,
                    body
                }),
            (
                prop::option::weighted(0.4, 1..3u8),
                tolerate(),
                when(),
                prop::collection::vec(inner.clone(), 2..4)
            )
                .prop_map(|(at_once, tolerate, when, branches)| Item::Parallel {
                    at_once,
                    tolerate,
                    when,
                    branches
                }),
            ((1..4u8), prop::collection::vec(inner, 0..3))
                .prop_map(|(at_most, body)| Item::Repeat { at_most, body }),
            (
                0..4u8,
                (1..4u8),
                prop::collection::vec(checklist_item(), 1..3),
                prop::collection::vec(checklist_item(), 0..3)
            )
                .prop_map(|(interval, at_most, body, beside)| Item::Every {
                    interval,
                    at_most,
                    body,
                    beside
                }),
        ]
    })
}

pub(crate) fn stage() -> impl Strategy<Value = StageSpec> {
    (
        prop::option::weighted(0.2, cond()),
        route(),
        prop::option::weighted(0.3, target()),
        prop::collection::vec(item(), 0..5),
        prop::bool::weighted(0.7),
        0..4u8,
        prop::option::weighted(0.4, prop::collection::vec(checklist_item(), 1..4)),
    )
        .prop_map(
            |(require, failure, cancel, items, then, outcome, cleanup)| StageSpec {
                require,
                failure,
                cancel,
                items,
                then,
                outcome,
                cleanup,
            },
        )
}

pub(crate) fn spec() -> impl Strategy<Value = Spec> {
    (
        1..=3usize,
        1..=2usize,
        any::<bool>(),
        prop::bool::weighted(0.8),
        prop::option::weighted(0.3, 0..4u8),
        prop::option::weighted(0.3, 0..4u8),
        prop::collection::vec(stage(), 1..5),
        prop::option::weighted(0.35, prop::collection::vec(checklist_item(), 1..4)),
        (prop::option::weighted(0.3, 1..=2u8), any::<bool>()),
    )
        .prop_map(
            |(
                hosts,
                zones,
                busy,
                flag,
                failure,
                cancel,
                stages,
                finally,
                (width, called_cleanup),
            )| Spec {
                hosts,
                zones,
                busy,
                flag,
                failure,
                cancel,
                stages,
                finally,
                width,
                called_cleanup,
            },
        )
}

/// An operation, with the nodes it names still to be picked.
#[derive(Debug, Clone)]
pub(crate) enum OpSpec {
    Resume {
        crash: Option<Crash>,
        policy: Option<InDoubt>,
        from: Option<u16>,
    },
    /// A person's node the run is waiting for, or any person's node.
    Confirm {
        waiting: bool,
        pick: u16,
        answer: u8,
    },
    Cancel {
        crash: Option<Crash>,
        policy: Option<InDoubt>,
    },
}

/// Where rbx is killed during an operation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Crash {
    /// Right after it commits this many events, if it writes as many.
    After(u32),
    /// Right after the `node_started` of the step it would start at this
    /// position (of those the model expects it to start), leaving that
    /// step in doubt.
    InStep(u8),
}

pub(crate) fn crash() -> impl Strategy<Value = Option<Crash>> {
    prop::option::weighted(
        0.45,
        prop_oneof![
            (1..24u32).prop_map(Crash::After),
            (0..4u8).prop_map(Crash::InStep)
        ],
    )
}

pub(crate) fn policy() -> impl Strategy<Value = Option<InDoubt>> {
    prop_oneof![
        3 => Just(Some(InDoubt::Rerun)),
        2 => Just(Some(InDoubt::Skip)),
        1 => Just(Some(InDoubt::Abort)),
        1 => Just(None),
    ]
}

pub(crate) fn op() -> impl Strategy<Value = OpSpec> {
    prop_oneof![
        3 => (crash(), policy(), prop::option::weighted(0.25, any::<u16>()))
            .prop_map(|(crash, policy, from)| OpSpec::Resume { crash, policy, from }),
        3 => (prop::bool::weighted(0.6), any::<u16>(), 0..8u8)
            .prop_map(|(waiting, pick, answer)| OpSpec::Confirm { waiting, pick, answer }),
        1 => (crash(), policy()).prop_map(|(crash, policy)| OpSpec::Cancel { crash, policy }),
    ]
}

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) spec: Spec,
    /// For each person's node in the order written: its answer in the
    /// answers file, if any (a pick among its kind's answers).
    pub(crate) answers: Vec<Option<u8>>,
    pub(crate) crash: Option<Crash>,
    pub(crate) ops: Vec<OpSpec>,
    /// The time before each operation, the first (the run) aside: a pick
    /// of [`DOWNTIMES`] each, in turn.
    pub(crate) downtimes: Vec<u8>,
}

pub(crate) fn case() -> impl Strategy<Value = Case> {
    (
        spec(),
        prop::collection::vec(prop::option::weighted(0.75, 0..8u8), 12),
        crash(),
        prop::collection::vec(op(), 0..5),
        prop::collection::vec(0..8u8, 1..4),
    )
        .prop_map(|(spec, answers, crash, ops, downtimes)| Case {
            spec,
            answers,
            crash,
            ops,
            downtimes,
        })
}

/// The number of the manual step `m4`, or of its node id (`s0.m4[a]`),
/// which the kinds of its answers are derived from.
fn manual_number(id: &str) -> usize {
    let name = id.rsplit('.').next().unwrap_or(id);
    let digits: String = name
        .trim_start_matches('m')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

/// The type of a generated manual step's evidence `verdict`, by the
/// step's number, so that conditions read each kind a person can answer
/// with: a choice (`good`, `bad`), a bool (`true` is good), an int (`12`
/// is good, `0` bad).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    Choice,
    Bool,
    Int,
}

impl Verdict {
    /// The kind of the manual step `m4`, or of its node id (`s0.m4[a]`).
    pub(crate) fn of(id: &str) -> Verdict {
        match manual_number(id) % 3 {
            0 => Verdict::Choice,
            1 => Verdict::Bool,
            _ => Verdict::Int,
        }
    }

    fn ty(self) -> &'static str {
        match self {
            Verdict::Choice => "choice(good, bad)",
            Verdict::Bool => "bool",
            Verdict::Int => "int",
        }
    }

    /// The answer that says good, or bad, with its proof if any.
    pub(crate) fn answer(self, good: bool, proof: Option<&str>) -> String {
        let value = match (self, good) {
            (Verdict::Choice, true) => "good",
            (Verdict::Choice, false) => "bad",
            (Verdict::Bool, good) => {
                if good {
                    "true"
                } else {
                    "false"
                }
            }
            (Verdict::Int, true) => "12",
            (Verdict::Int, false) => "0",
        };
        match proof {
            Some(proof) => format!("evidence:verdict={value};proof={proof}"),
            None => format!("evidence:verdict={value}"),
        }
    }

    /// A condition that holds when the step `m` said good, or bad.
    fn test(self, m: &str, good: bool) -> String {
        match (self, good) {
            (Verdict::Choice, true) => format!("{m}.verdict == good"),
            (Verdict::Choice, false) => format!("{m}.verdict == bad"),
            (Verdict::Bool, true) => format!("{m}.verdict"),
            (Verdict::Bool, false) => format!("not {m}.verdict"),
            (Verdict::Int, true) => format!("{m}.verdict >= 1"),
            (Verdict::Int, false) => format!("{m}.verdict < 1"),
        }
    }
}

/// A generated manual step's second evidence `proof`, by the step's
/// number: none, a `url`, a `file` or `choices(red, green, blue)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Proof {
    None,
    Url,
    File,
    Choices,
}

impl Proof {
    /// The proof of the manual step `m4`, or of its node id (`s0.m4[a]`).
    pub(crate) fn of(id: &str) -> Proof {
        match manual_number(id) / 3 % 4 {
            0 => Proof::None,
            1 => Proof::Url,
            2 => Proof::File,
            _ => Proof::Choices,
        }
    }

    /// The evidence line, if any.
    fn line(self) -> Option<&'static str> {
        match self {
            Proof::None => None,
            Proof::Url => Some("evidence proof \"Link\": url"),
            Proof::File => Some("evidence proof \"Log\": file"),
            Proof::Choices => Some("evidence proof \"Colours\": choices(red, green, blue)"),
        }
    }

    /// What a person gives as the proof for an answer's pick: one that
    /// fits for 0 and 1, else one that may not (`None`: none given). The
    /// file `proof.txt` is in the directory rbx runs in; `missing.txt` is
    /// not, and `.` is a directory.
    pub(crate) fn given(self, pick: usize) -> Option<&'static str> {
        let values: [&str; 6] = match self {
            Proof::None => return None,
            Proof::Url => [
                "https://example.org/runs/1",
                "file:///var/log/syslog",
                "example.org/runs/1",
                "http://",
                "https://example.org/a b",
                "",
            ],
            Proof::File => [
                "proof.txt",
                "proof.txt",
                "missing.txt",
                ".",
                "proof.txt",
                "",
            ],
            Proof::Choices => ["green", "blue,red", "purple", "red,red", "red,purple", ","],
        };
        match pick {
            0 | 1 => values.get(pick).copied(),
            2 => values.get(2).copied(),
            4 => values.get(3).copied(),
            5 => values.get(4).copied(),
            _ => values.get(5).copied().filter(|v| !v.is_empty()),
        }
    }
}

/// A person's node as rendered: what it is and the answers it takes.
#[derive(Debug, Clone)]
pub(crate) enum Person {
    Manual(Verdict, Proof),
    Gate,
    Signoff,
    Choose(Vec<String>),
}

impl Person {
    /// The manual step `id`.
    pub(crate) fn manual(id: &str) -> Person {
        Person::Manual(Verdict::of(id), Proof::of(id))
    }

    /// The answer a pick stands for (0 to 7); 3 and 7 reject.
    pub(crate) fn answer(&self, pick: u8) -> String {
        let pick = usize::from(pick);
        match self {
            // Each verdict with a proof that fits, or one that may not (a
            // bad URL, a missing file, a name not in the list), or none.
            Person::Manual(verdict, proof) => match pick {
                0 | 2 | 4 | 6 => verdict.answer(true, proof.given(pick)),
                1 | 5 => verdict.answer(false, proof.given(pick)),
                _ => "reject".into(),
            },
            Person::Gate => ["attest", "attest:no"]
                .get(pick % 4)
                .map_or("reject".into(), |a| a.to_string()),
            Person::Signoff => ["go", "no-go"]
                .get(pick % 4)
                .map_or("reject".into(), |a| a.to_string()),
            Person::Choose(options) => options
                .get(pick % 4)
                .map_or("reject".into(), |o| format!("choice:{o}")),
        }
    }
}

/// What rendering a spec gives: the text and what a script needs.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    pub(crate) text: String,
    /// Steps by name: how they fail (`None`: never; `Some(None)`: always;
    /// `Some(Some((var, item)))`: on that item).
    pub(crate) steps: BTreeMap<String, Option<Option<(String, String)>>>,
    pub(crate) people: Vec<(String, Person)>,
    pub(crate) inputs: BTreeMap<String, Value>,
}

pub(crate) struct Renderer<'s> {
    pub(crate) spec: &'s Spec,
    /// Per stage, the stage after which its stage targets start (see
    /// `Spec`).
    pub(crate) floors: Vec<usize>,
    pub(crate) next: usize,
    pub(crate) out: Rendered,
    /// The last manual step written in the stage being rendered.
    pub(crate) manual: Option<String>,
}

pub(crate) fn render(spec: &Spec) -> Rendered {
    let n = spec.stages.len();
    // A stage that `again` runs inside a later stage sends its targets past
    // that stage, or its instance could route back into what runs it.
    let mut floors: Vec<usize> = (0..n).collect();
    for s in (0..n).rev() {
        let mut targets = Vec::new();
        agains(&spec.stages[s].items, s, &mut targets);
        for t in targets {
            floors[t] = floors[t].max(floors[s]);
        }
    }
    let mut r = Renderer {
        spec,
        floors,
        next: 1,
        out: Rendered::default(),
        manual: None,
    };
    let hosts: Vec<String> = HOSTS[..spec.hosts]
        .iter()
        .map(|h| format!("\"{h}\""))
        .collect();
    let zones: Vec<String> = ZONES[..spec.zones]
        .iter()
        .map(|z| format!("\"{z}\""))
        .collect();
    let mut t = String::new();
    t.push_str("runbook model \"A generated runbook\" {\n  version \"1\"\n\n");
    let _ = writeln!(t, "  input hosts: list(string) = [{}]", hosts.join(", "));
    let _ = writeln!(t, "  input zones: list(string) = [{}]", zones.join(", "));
    let _ = writeln!(
        t,
        "  input mode: enum(calm, busy) = {}",
        if spec.busy { "busy" } else { "calm" }
    );
    let _ = writeln!(t, "  input flag: bool = {}", spec.flag);
    if let Some(width) = spec.width {
        let _ = writeln!(t, "  input width: int = {width}");
    }
    t.push_str("  role op \"Operator\" { person \"Ann\" }\n");
    if let Some(o) = spec.failure {
        let _ = writeln!(t, "  on failure -> end {}", OUTCOMES[usize::from(o)]);
    }
    if let Some(o) = spec.cancel {
        let _ = writeln!(t, "  on cancel -> end {}", OUTCOMES[usize::from(o)]);
    }
    for (i, stage) in spec.stages.iter().enumerate() {
        r.manual = None;
        let _ = writeln!(t, "\n  stage s{i} \"Stage {i}\" {{");
        if let Some(c) = &stage.require {
            let c = r.cond(c, &[]);
            let _ = writeln!(t, "    require {c}");
        }
        r.routes(&mut t, "    ", i, stage.failure, stage.cancel);
        for item in &stage.items {
            r.item(&mut t, "    ", i, item, &[]);
        }
        if let Some(cleanup) = &stage.cleanup {
            r.cleanup(&mut t, i, cleanup);
        }
        if stage.then && i + 1 < n {
            let _ = writeln!(t, "    then s{}", i + 1);
        } else {
            let _ = writeln!(t, "    end {}", OUTCOMES[usize::from(stage.outcome)]);
        }
        t.push_str("  }\n");
    }
    if let Some(items) = &spec.finally {
        r.manual = None;
        t.push_str("\n  finally {\n");
        for item in items {
            r.item(&mut t, "    ", n, item, &[]);
        }
        t.push_str("  }\n");
    }
    called(&mut t, spec.called_cleanup);
    r.out.steps.insert("xpok".to_string(), None);
    r.out.steps.insert("xpbad".to_string(), Some(None));
    if spec.called_cleanup {
        r.out.steps.insert("xpokf".to_string(), None);
        r.out.steps.insert("xpbadf".to_string(), Some(None));
    }
    t.push_str("}\n");
    r.out.text = t;
    let list = |items: &[&str]| Value::List(items.iter().map(|s| s.to_string()).collect());
    r.out.inputs = BTreeMap::from([
        ("hosts".to_string(), list(&HOSTS[..spec.hosts])),
        ("zones".to_string(), list(&ZONES[..spec.zones])),
        (
            "mode".to_string(),
            Value::Name(if spec.busy { "busy" } else { "calm" }.into()),
        ),
        ("flag".to_string(), Value::Bool(spec.flag)),
    ]);
    if let Some(width) = spec.width {
        r.out
            .inputs
            .insert("width".to_string(), Value::Int(i64::from(width)));
    }
    r.out
}

/// The stages `call` runs: a parameter read by the one step of each, and,
/// with `cleanup`, a clean-up reading it too, which succeeds in `p_ok` and
/// fails in `p_bad`.
fn called(t: &mut String, cleanup: bool) {
    for (name, title, fails) in [("p_ok", "succeeds", false), ("p_bad", "fails", true)] {
        let step = format!("xp{}", name.trim_start_matches("p_"));
        let exit = if fails { "; exit 1" } else { "" };
        let _ = writeln!(t, "\n  stage {name}(host: string) \"Called, {title}\" {{");
        let _ = writeln!(
            t,
            "    step {step} \"Step {step} on {{{{ host }}}}\" {{\n      run \"echo {{{{ host }}}}{exit}\""
        );
        if !fails {
            t.push_str("      idempotent\n");
        }
        t.push_str("    }\n");
        if cleanup {
            let _ = writeln!(
                t,
                "    finally {{\n      step {step}f \"Undo {step} on {{{{ host }}}}\" {{\n        run \"echo undo {{{{ host }}}}{exit}\"\n      }}\n    }}"
            );
        }
        t.push_str("  }\n");
    }
}

/// The stages `again` runs from stage `at`, directly or in loops and
/// blocks.
pub(crate) fn agains(items: &[Item], at: usize, out: &mut Vec<usize>) {
    for item in items {
        match item {
            Item::Again { back, .. } if usize::from(*back) <= at => {
                out.push(at - usize::from(*back))
            }
            Item::Foreach { body, .. }
            | Item::Parallel { branches: body, .. }
            | Item::Checklist { body, .. }
            | Item::Repeat { body, .. }
            | Item::Every { body, .. } => agains(body, at, out),
            _ => {}
        }
    }
}

impl Renderer<'_> {
    pub(crate) fn name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}{}", self.next);
        self.next += 1;
        name
    }

    pub(crate) fn target(&self, stage: usize, target: Target) -> String {
        match target {
            Target::Stage(k) => {
                let to = self.floors[stage] + usize::from(k);
                if to < self.spec.stages.len() {
                    format!("s{to}")
                } else {
                    format!("end {}", OUTCOMES[usize::from(k) % OUTCOMES.len()])
                }
            }
            Target::End(o) => format!("end {}", OUTCOMES[usize::from(o)]),
            Target::Continue => "continue".to_string(),
        }
    }

    pub(crate) fn routes(
        &self,
        t: &mut String,
        pad: &str,
        stage: usize,
        failure: Option<Target>,
        cancel: Option<Target>,
    ) {
        if let Some(f) = failure {
            let _ = writeln!(t, "{pad}on failure -> {}", self.target(stage, f));
        }
        // A cancel route to `continue` means nothing; leave it out.
        if let Some(c) = cancel.filter(|c| !matches!(c, Target::Continue)) {
            let _ = writeln!(t, "{pad}on cancel -> {}", self.target(stage, c));
        }
    }

    /// A condition as written where `vars` are the loop variables around
    /// it, innermost last.
    pub(crate) fn cond(&self, cond: &Cond, vars: &[(String, &'static [&'static str])]) -> String {
        match cond {
            Cond::Busy => "mode == busy".to_string(),
            Cond::Flag => "flag".to_string(),
            Cond::Verdict => match &self.manual {
                Some(m) => Verdict::of(m).test(m, false),
                None => "not flag".to_string(),
            },
            Cond::Item(i) => match vars.last() {
                Some((var, list)) => {
                    format!("{var} == \"{}\"", list[usize::from(*i) % list.len()])
                }
                None => "flag".to_string(),
            },
            Cond::Not(c) => format!("not ({})", self.cond(c, vars)),
            Cond::And(a, b) => format!("({} and {})", self.cond(a, vars), self.cond(b, vars)),
            Cond::Or(a, b) => format!("({} or {})", self.cond(a, vars), self.cond(b, vars)),
        }
    }

    /// A stage's own `finally` block. Its conditions read no manual step
    /// (`Cond::Verdict` reads as `not flag`): each instance of the stage
    /// has its own clean-up, with nodes of the same names.
    pub(crate) fn cleanup(&mut self, t: &mut String, stage: usize, items: &[Item]) {
        t.push_str("    finally {\n");
        for item in items {
            self.manual = None;
            self.item(t, "      ", stage, item, &[]);
        }
        self.manual = None;
        t.push_str("    }\n");
    }

    /// A node's own `when` line, if it has one.
    pub(crate) fn when(
        &self,
        t: &mut String,
        pad: &str,
        when: &Option<Cond>,
        vars: &[(String, &'static [&'static str])],
    ) {
        if let Some(c) = when {
            let _ = writeln!(t, "{pad}  when {}", self.cond(c, vars));
        }
    }

    /// How many at once: `N`, or `width * N` when the runbook has the
    /// input `width`.
    pub(crate) fn width(&self, n: u8) -> String {
        match self.spec.width {
            Some(_) if n == 1 => "width".to_string(),
            Some(_) => format!("width * {n}"),
            None => n.to_string(),
        }
    }

    /// A block's own ` when COND`, written before its brace, or nothing.
    pub(crate) fn guard(
        &self,
        when: &Option<Cond>,
        vars: &[(String, &'static [&'static str])],
    ) -> String {
        when.as_ref()
            .map_or(String::new(), |c| format!(" when {}", self.cond(c, vars)))
    }

    /// Renders one item; `vars` are the loop variables around it with
    /// their lists, innermost last.
    pub(crate) fn item(
        &mut self,
        t: &mut String,
        pad: &str,
        stage: usize,
        item: &Item,
        vars: &[(String, &'static [&'static str])],
    ) {
        match item {
            Item::Step {
                fail,
                idempotent,
                failure,
                when,
            } => self.step(t, pad, stage, (*fail, *idempotent, *failure), when, vars),
            Item::Manual { failure, when } => self.manual(t, pad, stage, *failure, when, vars),
            Item::Gate {
                attest,
                cond,
                failure,
                when,
            } => {
                let name = self.name("g");
                let _ = writeln!(t, "{pad}gate {name} \"Gate {name}\" {{");
                self.when(t, pad, when, vars);
                if *attest {
                    let _ = writeln!(t, "{pad}  attest op \"It holds.\"");
                    self.out.people.push((name.clone(), Person::Gate));
                } else {
                    let _ = writeln!(t, "{pad}  require {}", self.cond(cond, vars));
                }
                self.routes(t, &format!("{pad}  "), stage, *failure, None);
                let _ = writeln!(t, "{pad}}}");
            }
            Item::Signoff { failure, when } => {
                let name = self.name("o");
                let _ = writeln!(
                    t,
                    "{pad}signoff {name} \"Sign-off {name}\" {{\n{pad}  by op"
                );
                self.when(t, pad, when, vars);
                self.routes(t, &format!("{pad}  "), stage, *failure, None);
                let _ = writeln!(t, "{pad}}}");
                self.out.people.push((name, Person::Signoff));
            }
            Item::Choose { options, when } => self.choose(t, pad, stage, options, when, vars),
            Item::Decide { whens, otherwise } => {
                self.decide(t, pad, stage, whens, *otherwise, vars);
            }
            Item::Foreach {
                zones,
                parallel,
                tolerate,
                when,
                body,
            } => {
                let (list, items): (&str, &'static [&'static str]) = if *zones {
                    ("zones", &ZONES[..self.spec.zones])
                } else {
                    ("hosts", &HOSTS[..self.spec.hosts])
                };
                let limit =
                    parallel.map_or(String::new(), |n| format!(" parallel {}", self.width(n)));
                let limit = limit + &tolerance(*tolerate) + &self.guard(when, vars);
                let var = format!("v{}", vars.len() + 1);
                let _ = writeln!(t, "{pad}foreach {var} in {list}{limit} {{");
                let mut inner = vars.to_vec();
                inner.push((var, items));
                self.block(t, pad, stage, body, &inner);
            }
            Item::Checklist { fail_fast, body } => {
                let name = self.name("k");
                let mode = if *fail_fast { " fail-fast" } else { "" };
                let _ = writeln!(t, "{pad}checklist {name} \"Checklist {name}\"{mode} {{");
                self.block(t, pad, stage, body, vars);
            }
            Item::Parallel {
                at_once,
                tolerate,
                when,
                branches,
            } => {
                let limit = at_once.map_or(String::new(), |n| format!(" {}", self.width(n)));
                let limit = limit + &tolerance(*tolerate) + &self.guard(when, vars);
                let _ = writeln!(t, "{pad}parallel{limit} {{");
                self.block(t, pad, stage, branches, vars);
            }
            Item::Repeat { at_most, body } => self.repeat(t, pad, stage, *at_most, body, vars),
            Item::Every {
                interval,
                at_most,
                body,
                beside,
            } => {
                // Whether its iterations run depends on time: what comes
                // after reads no manual step of it.
                let before = self.manual.clone();
                let interval = INTERVALS[usize::from(*interval) % INTERVALS.len()];
                let _ = writeln!(t, "{pad}every {interval} at most {at_most} {{");
                self.block(t, pad, stage, body, vars);
                self.manual = before;
                for item in beside {
                    self.item(t, pad, stage, item, vars);
                }
            }
            Item::Call {
                fail,
                failure,
                when,
            } => {
                let stage_called = if *fail { "p_bad" } else { "p_ok" };
                let arg = match vars.last() {
                    Some((var, _)) => var.clone(),
                    None => "\"a\"".to_string(),
                };
                let guard = self.guard(when, vars);
                let head = format!("call {stage_called}(host = {arg}){guard}");
                self.routed(t, pad, stage, &head, *failure);
            }
            Item::Child {
                fail,
                failure,
                when,
            } => {
                let name = self.name("c");
                let runbook = if *fail { "child_bad" } else { "child_ok" };
                self.out.steps.insert(name.clone(), fail.then_some(None));
                let _ = writeln!(
                    t,
                    "{pad}child {name} \"Child {name}\" {{\n{pad}  runbook \"{runbook}.runbook\""
                );
                self.when(t, pad, when, vars);
                self.routes(t, &format!("{pad}  "), stage, *failure, None);
                let _ = writeln!(t, "{pad}}}");
            }
            Item::Again {
                back,
                failure,
                when,
            } => {
                // With no stage that far back, a plain step stands in: a
                // block must never be left empty.
                let Some(to) = stage.checked_sub(usize::from(*back)) else {
                    let plain = (Fail::Never, true, *failure);
                    return self.step(t, pad, stage, plain, &None, vars);
                };
                let head = format!("again s{to}{}", self.guard(when, vars));
                self.routed(t, pad, stage, &head, *failure);
            }
        }
    }

    /// The items of a block whose head line is written, one level in, and
    /// its closing brace.
    fn block(
        &mut self,
        t: &mut String,
        pad: &str,
        stage: usize,
        body: &[Item],
        vars: &[(String, &'static [&'static str])],
    ) {
        for item in body {
            self.item(t, &format!("{pad}  "), stage, item, vars);
        }
        let _ = writeln!(t, "{pad}}}");
    }

    /// A one-line statement (`call`, `again`), with a block holding its
    /// failure route when it has one.
    fn routed(&self, t: &mut String, pad: &str, stage: usize, head: &str, failure: Option<Target>) {
        match failure {
            Some(f) => {
                let f = self.target(stage, f);
                let _ = writeln!(t, "{pad}{head} {{\n{pad}  on failure -> {f}\n{pad}}}");
            }
            None => {
                let _ = writeln!(t, "{pad}{head}");
            }
        }
    }

    /// A step; `(fail, idempotent, failure)` as `Item::Step` has them.
    fn step(
        &mut self,
        t: &mut String,
        pad: &str,
        stage: usize,
        (fail, idempotent, failure): (Fail, bool, Option<Target>),
        when: &Option<Cond>,
        vars: &[(String, &'static [&'static str])],
    ) {
        let name = self.name("x");
        let (run, how) = match (fail, vars.last()) {
            (Fail::Never, _) | (Fail::OnItem(_), None) => ("exit 0".to_string(), None),
            (Fail::Always, _) => ("exit 1".to_string(), Some(None)),
            (Fail::OnItem(i), Some((var, list))) => {
                let item = list[usize::from(i) % list.len()];
                (
                    format!("case {{{{ {var} }}}} in {item}) exit 1;; esac"),
                    Some(Some((var.clone(), item.to_string()))),
                )
            }
        };
        self.out.steps.insert(name.clone(), how);
        let _ = writeln!(
            t,
            "{pad}step {name} \"Step {name}\" {{\n{pad}  run \"{run}\""
        );
        self.when(t, pad, when, vars);
        if idempotent {
            let _ = writeln!(t, "{pad}  idempotent");
        }
        self.routes(t, &format!("{pad}  "), stage, failure, None);
        let _ = writeln!(t, "{pad}}}");
    }

    /// A manual step asking for a verdict (and maybe a proof), which later
    /// conditions may read.
    fn manual(
        &mut self,
        t: &mut String,
        pad: &str,
        stage: usize,
        failure: Option<Target>,
        when: &Option<Cond>,
        vars: &[(String, &'static [&'static str])],
    ) {
        let name = self.name("m");
        let _ = writeln!(
            t,
            "{pad}manual {name} \"Check {name}\" {{\n{pad}  owner op\n{pad}  evidence verdict \"Verdict\": {}",
            Verdict::of(&name).ty()
        );
        if let Some(line) = Proof::of(&name).line() {
            let _ = writeln!(t, "{pad}  {line}");
        }
        self.when(t, pad, when, vars);
        self.routes(t, &format!("{pad}  "), stage, failure, None);
        let _ = writeln!(t, "{pad}}}");
        self.out.people.push((name.clone(), Person::manual(&name)));
        self.manual = Some(name);
    }

    fn choose(
        &mut self,
        t: &mut String,
        pad: &str,
        stage: usize,
        options: &[Target],
        when: &Option<Cond>,
        vars: &[(String, &'static [&'static str])],
    ) {
        let name = self.name("c");
        let _ = writeln!(
            t,
            "{pad}choose {name} \"Choice {name}\" {{\n{pad}  owner op"
        );
        self.when(t, pad, when, vars);
        let mut names = Vec::new();
        for (i, target) in options.iter().enumerate() {
            let option = ["yes", "no", "maybe"][i % 3].to_string();
            let _ = writeln!(
                t,
                "{pad}  option {option} \"{option}\" -> {}",
                self.target(stage, *target)
            );
            names.push(option);
        }
        let _ = writeln!(t, "{pad}}}");
        self.out.people.push((name, Person::Choose(names)));
    }

    fn decide(
        &mut self,
        t: &mut String,
        pad: &str,
        stage: usize,
        whens: &[(Cond, Target)],
        otherwise: Target,
        vars: &[(String, &'static [&'static str])],
    ) {
        let name = self.name("d");
        let _ = writeln!(t, "{pad}decide {name} \"Decision {name}\" {{");
        for (cond, target) in whens {
            let _ = writeln!(
                t,
                "{pad}  when {} -> {}",
                self.cond(cond, vars),
                self.target(stage, *target)
            );
        }
        let _ = writeln!(
            t,
            "{pad}  otherwise -> {}\n{pad}}}",
            self.target(stage, otherwise)
        );
    }

    /// A `repeat` whose `until` reads the verdict of a manual step last in
    /// its body.
    fn repeat(
        &mut self,
        t: &mut String,
        pad: &str,
        stage: usize,
        at_most: u8,
        body: &[Item],
        vars: &[(String, &'static [&'static str])],
    ) {
        // The body first, so that the manual step the condition reads has
        // its name.
        let mut inner = String::new();
        let pad_in = format!("{pad}  ");
        for item in body {
            self.item(&mut inner, &pad_in, stage, item, vars);
        }
        self.manual(&mut inner, &pad_in, stage, None, &None, vars);
        let judged = self.manual.clone().unwrap_or_default();
        let until = Verdict::of(&judged).test(&judged, true);
        let _ = writeln!(t, "{pad}repeat at most {at_most} until {until} {{");
        t.push_str(&inner);
        let _ = writeln!(t, "{pad}}}");
    }
}

pub(crate) fn person_of(views: &[rbx_model::NodeView], id: &str) -> Person {
    match views
        .iter()
        .find(|v| v.id == id)
        .map(|v| (v.kind, v.options.clone()))
    {
        Some((Kind::Person(BlockKind::Gate), _)) => Person::Gate,
        Some((Kind::Person(BlockKind::Signoff), _)) => Person::Signoff,
        Some((Kind::Person(BlockKind::Choose), options)) => Person::Choose(options),
        _ => Person::manual(id),
    }
}

/// A generated case made concrete: its text, inputs, failing step
/// instances and answers file.
pub(crate) fn concrete(case: &Case) -> Concrete {
    let rendered = render(&case.spec);
    let mut answers = BTreeMap::new();
    for ((name, person), pick) in rendered.people.iter().zip(case.answers.iter().cycle()) {
        if let Some(pick) = pick {
            answers.insert(name.clone(), person.answer(*pick));
        }
    }
    let mut fails = BTreeSet::new();
    let report = rbx_model::check_text(&rendered.text);
    if let Some(graph) = report.graph.as_ref() {
        if let Ok(model) = Model::new(graph, rendered.inputs.clone()) {
            for view in model.nodes().iter().filter(|v| v.kind == Kind::Step) {
                let fails_here = match rendered.steps.get(&view.name) {
                    Some(Some(None)) => true,
                    // `{{ var }}` is the innermost loop's item of that
                    // name: an `again` inside a loop may run a loop over
                    // the same variable inside it.
                    Some(Some(Some((var, item)))) => {
                        view.items
                            .iter()
                            .rev()
                            .find(|(v, _)| v == var)
                            .map(|(_, i)| i)
                            == Some(item)
                    }
                    _ => false,
                };
                if fails_here {
                    fails.insert(view.id.clone());
                }
            }
        }
    }
    // A checkpoint every one to three events, so that crashes, resumes
    // and confirms meet checkpoints everywhere in the journal.
    let checkpoint_every = Some(1 + u32::try_from(rendered.text.len() % 3).unwrap_or(0));
    Concrete {
        text: rendered.text,
        inputs: rendered.inputs,
        fails,
        answers,
        checkpoint_every,
        downtimes: case
            .downtimes
            .iter()
            .map(|&d| DOWNTIMES[usize::from(d) % DOWNTIMES.len()])
            .collect(),
    }
}

/// ` tolerate N` or ` tolerate N%`, or nothing.
fn tolerance(tolerate: Option<Tolerate>) -> String {
    match tolerate {
        None => String::new(),
        Some(Tolerate::Count(n)) => format!(" tolerate {n}"),
        Some(Tolerate::Percent(n)) => format!(" tolerate {n}%"),
    }
}
