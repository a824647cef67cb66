//! A run's report: its evidence record, as Markdown, JSON or HTML.
//!
//! The record is built once (`Record::build`) from what the store holds —
//! the run's summary, its source snapshot, the kept output of its steps
//! and the check of its hash chain — and from the engine's one replay of
//! the journal, which says how every node stands and who did what (the
//! reset rules of retry and `--from` are the engine's, applied there).
//! Then it is rendered. Every format says the same things: a summary a
//! reviewer reads first (the outcome and its class, who, when, how long,
//! what failed, the decisions, sign-offs, irreversible confirmations and a
//! cancel), the roles, links and inputs, every step of every stage
//! instance in graph order with its result and evidence, the timeline of
//! the journal, and whether the journal's chain is intact. Skipped and
//! unreached steps, stages and journal events are collapsed to one line
//! each run of them in Markdown and HTML; the JSON has every one.
//!
//! Nothing here reads the runbook files on disk: the steps come from the
//! run's own snapshot, checked again. Secrets are never stored, so a secret
//! input shows as a mask; recorded commands were masked by the engine.
//!
//! The JSON structure is versioned (`"version": 1`) and documented field by
//! field in the book (`reference/report.md`); a change that removes or
//! renames a field bumps the version.

mod build;
mod html;
mod markdown;
mod steps;
mod summary;
mod timeline;
mod words;

use serde::Serialize;
use serde::ser::SerializeMap as _;
use serde_json::{Map, Value as Json};

/// The version of the JSON structure.
const VERSION: u32 = 1;

/// How many lines of a kept stream the report shows.
const EXCERPT_LINES: usize = 20;

impl Record {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        markdown::write(self)
    }

    /// The report as one self-contained HTML page.
    pub fn html(&self) -> String {
        html::write(self)
    }

    /// The report as versioned JSON.
    pub fn json(&self) -> Result<String, String> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| format!("cannot write the report as JSON: {e}"))?;
        text.push('\n');
        Ok(text)
    }
}

/// Everything the report says, in the order it says it. Serialized as is
/// for `--format json`.
#[derive(Debug, Serialize)]
pub struct Record {
    version: u32,
    run: RunInfo,
    summary: Summary,
    roles: Vec<RoleInfo>,
    links: Vec<LinkInfo>,
    inputs: Inputs,
    stages: Vec<StageInfo>,
    timeline: Vec<TimelineEntry>,
    outcome: Outcome,
    chain: Chain,
}

#[derive(Debug, Serialize)]
struct RunInfo {
    id: String,
    runbook_id: String,
    title: String,
    /// The `version` the snapshot's entry file declares.
    runbook_version: Option<String>,
    entry: String,
    source_hash: String,
    started_at: String,
    started_by: String,
    host: String,
    /// The status the store keeps for listings (`ended:resolved`, `paused`…).
    status: String,
    /// The time of the journal's last event.
    last_event_at: Option<String>,
    /// For a child run: the run and node that started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<ParentInfo>,
}

/// The run and node that started a child run.
#[derive(Debug, Serialize)]
struct ParentInfo {
    run: String,
    node: String,
}

/// What a reviewer reads first.
#[derive(Debug, Serialize)]
struct Summary {
    /// `success` or `failure` for a run that ended (by its outcome's
    /// class) or failed; `null` for one that has not ended.
    class: Option<&'static str>,
    /// The outcome in words, as every format shows it.
    outcome: String,
    started_at: String,
    started_by: String,
    /// When the journal's last event was recorded.
    last_event_at: Option<String>,
    /// From the first event to the last.
    duration_ms: Option<u64>,
    /// Everyone recorded as acting in the run, in the order they first did.
    people: Vec<String>,
    /// How many steps stand where: `{"done": 12, "skipped": 40, …}`.
    counts: std::collections::BTreeMap<&'static str, usize>,
    /// The steps that failed (their last attempt) or were cancelled.
    failed: Vec<Mention>,
    decisions: Vec<Mention>,
    signoffs: Vec<Mention>,
    /// Irreversible steps confirmed before they ran, with who confirmed.
    confirmations: Vec<Mention>,
    cancelled: Option<Cancelled>,
}

/// A step named in the summary, with what the summary says of it.
#[derive(Debug, Serialize)]
struct Mention {
    node: String,
    title: String,
    /// `failed: exit status 1`, `→ ship by ops-bob: all green`, …
    text: String,
    by: Option<String>,
    at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Cancelled {
    by: Option<String>,
    reason: Option<String>,
    at: String,
}

#[derive(Debug, Serialize)]
struct LinkInfo {
    id: String,
    title: String,
    target: Option<String>,
    /// Whether a target is set (not empty, not `_TBD_`).
    set: bool,
    /// `runbook`, or `fill file` when the run's fill file set it.
    source: &'static str,
}

#[derive(Debug, Serialize)]
struct RoleInfo {
    id: String,
    title: String,
    person: Option<String>,
    contact: Option<String>,
    backup: Option<String>,
    filled: bool,
    /// `runbook`, `fill file` when the run's fill file filled it, or
    /// `run` when a step assigned it during the run.
    source: &'static str,
    /// The step instance that assigned the role during the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    assigned_by: Option<String>,
}

/// The inputs in the order the runbook declares them; a JSON object.
#[derive(Debug)]
struct Inputs(Vec<(String, InputInfo)>);

impl Serialize for Inputs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, info) in &self.0 {
            map.serialize_entry(name, info)?;
        }
        map.end()
    }
}

#[derive(Debug, Serialize)]
struct InputInfo {
    /// As the runbook writes it: `string`, `enum(a, b)`, `list(string)`…;
    /// `unknown` for a stored input the snapshot does not declare.
    #[serde(rename = "type")]
    ty: String,
    secret: bool,
    /// The value the run was started with; `"••••••"` for a secret; `null`
    /// when the run has none.
    value: Json,
}

#[derive(Debug, Serialize)]
struct StageInfo {
    /// The stage's id in the runbook.
    id: String,
    title: String,
    /// The stage instance: the id for the primary instance, `smoke#2` for
    /// one made by `again`.
    instance: String,
    /// For an `again` instance, the stage instance that holds the `again`.
    again_in: Option<String>,
    /// The stage's own start: its requirements held (`done`), failed, or it
    /// was not on the run's path (`skipped`) or not reached (`pending`).
    result: &'static str,
    reason: Option<String>,
    /// The stage's `require`s, checked at its start.
    conditions: Vec<String>,
    steps: Vec<StepInfo>,
}

#[derive(Debug, Serialize)]
struct StepInfo {
    /// The node's id in the run: `smoke.version`, `smoke#2.version`,
    /// `restart.drain[web-1]`.
    id: String,
    /// The block's id in the runbook (`version`).
    name: String,
    /// `step`, `manual`, `gate`, `signoff`, `decide`, `choose`, `wait`,
    /// `anchor`, or `again` (a row standing for a whole `again` instance).
    kind: &'static str,
    title: String,
    /// The `foreach` items of this instance, outermost first.
    items: Vec<String>,
    /// For `kind: again`, the stage instance it ran.
    instance: Option<String>,
    /// The role the runbook makes the node's owner.
    owner: Option<String>,
    /// Whether the step is a point of no return.
    irreversible: bool,
    /// Who confirmed the irreversible step before it ran.
    confirmed: Option<Confirmed>,
    /// What the node checks before it runs, in the runbook's words:
    /// `require …` and `attest ROLE: statement`. A gate passes when all hold.
    conditions: Vec<String>,
    result: &'static str,
    reason: Option<String>,
    /// The last attempt started (0 for nodes that run no command).
    attempts: u32,
    operator: Option<String>,
    host: Option<String>,
    /// How a person's answer arrived: `rbx confirm`, `answers file`, or
    /// `null` when asked on the terminal.
    via: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    /// As recorded: how long the last attempt's command ran.
    duration_ms: Option<u64>,
    exit: Option<i64>,
    /// The command of the last attempt, as recorded (secrets masked).
    command: Option<String>,
    /// For a `child` node: the id of the child run it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    child: Option<String>,
    captures: Map<String, Json>,
    answers: Map<String, Json>,
    /// The branch a decision or choice took.
    branch: Option<String>,
    rationale: Option<String>,
    signoff: Option<Signoff>,
    output: Vec<Excerpt>,
    earlier_attempts: Vec<EarlierAttempt>,
    /// For a polling `wait`: how often it probed and what it last found.
    probes: Option<Probes>,
}

#[derive(Debug, Serialize)]
struct Probes {
    /// Every probe, over every attempt and resume.
    count: u32,
    last: LastProbe,
}

#[derive(Debug, Serialize)]
struct LastProbe {
    poll: u32,
    at: String,
    exit: Option<i64>,
    /// Whether the wait's expectations held.
    held: bool,
    reason: Option<String>,
    /// The end of its output (at most 512 bytes of each stream).
    stdout: String,
    stderr: String,
}

#[derive(Debug, Serialize)]
struct Signoff {
    /// `GO` or `NO-GO`.
    verdict: String,
    /// The roles the runbook asks to sign (`by`).
    roles: Vec<String>,
    /// Who signed, as recorded.
    signers: Vec<Signer>,
}

#[derive(Debug, Clone, Serialize)]
struct Signer {
    role: String,
    by: String,
    /// `GO` or `NO-GO`.
    decision: String,
    comment: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Confirmed {
    by: Option<String>,
    /// `terminal`, `answers file`, …
    via: Option<String>,
    at: String,
}

#[derive(Debug, Serialize)]
struct Excerpt {
    stream: String,
    attempt: u32,
    /// The first lines of what was kept, control characters removed.
    lines: Vec<String>,
    /// Kept lines not shown here (see `rbx log RUN STEP`).
    more_lines: usize,
    total_bytes: u64,
    /// Whether the store dropped bytes between the head and the tail.
    truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
struct EarlierAttempt {
    attempt: u32,
    time: String,
    result: &'static str,
    reason: Option<String>,
    exit: Option<i64>,
    /// After how long and why the next attempt came, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    retried: Option<String>,
    /// For a `child` node: the child run this attempt started.
    #[serde(skip_serializing_if = "Option::is_none")]
    child: Option<String>,
}

#[derive(Debug, Serialize)]
struct TimelineEntry {
    seq: u64,
    time: String,
    kind: String,
    node: Option<String>,
    summary: String,
    payload: Json,
}

#[derive(Debug, Serialize)]
struct Outcome {
    /// `ended`, `failed`, `paused`, `waiting`, `interrupted`, `in_doubt`,
    /// `broken`, `running` or `created`.
    status: String,
    /// For `ended`: the terminal outcome.
    outcome: Option<String>,
    /// For `ended`: whether the outcome is a success (as recorded with it;
    /// a run recorded before outcomes had classes counts as one).
    success: Option<bool>,
    /// The node the run failed or paused at.
    node: Option<String>,
    reason: Option<String>,
    /// When the event that says so was recorded.
    at: Option<String>,
}

#[derive(Debug, Serialize)]
struct Chain {
    intact: bool,
    events: u64,
    /// The first event that does not check (0: the run's own record).
    broken_at: Option<u64>,
    reason: Option<String>,
    summary: String,
}
