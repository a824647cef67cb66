//! The language's keywords: what each means (the text a hover shows) and
//! where each starts a statement (what completion offers there).
//!
//! A unit test holds this table to `grammar/runbook.pest`, so a keyword
//! added to the grammar cannot be left without its hover.

/// The kind of block a cursor is in, which decides the statements that
/// can start there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// The top level of a fragment, or inside `runbook ID "…" { }`.
    Top,
    /// A role's body: `person`, `contact`, `backup`.
    Role,
    /// A stage, `foreach` or `parallel` body.
    Stage,
    Step,
    Manual,
    Gate,
    Signoff,
    Decide,
    Choose,
    Wait,
    /// The routes after `again STAGE` or `call STAGE(…)`.
    Again,
}

impl Context {
    /// The context a block opened by a line starting with `keyword` sets.
    pub fn opened_by(keyword: &str) -> Option<Context> {
        Some(match keyword {
            "runbook" => Context::Top,
            "role" => Context::Role,
            "stage" | "foreach" | "parallel" | "checklist" | "repeat" | "every" => Context::Stage,
            "step" => Context::Step,
            "manual" => Context::Manual,
            "gate" => Context::Gate,
            "signoff" => Context::Signoff,
            "decide" => Context::Decide,
            "choose" => Context::Choose,
            "wait" => Context::Wait,
            "again" | "call" => Context::Again,
            _ => return None,
        })
    }
}

use Context::*;

/// One keyword: how it is written, what it means, and the contexts in
/// which it starts a statement (none for a keyword inside a statement).
#[derive(Debug)]
pub struct Keyword {
    pub word: &'static str,
    pub syntax: &'static str,
    pub meaning: &'static str,
    pub starts: &'static [Context],
}

const NODE_COMMON: &[Context] = &[Step, Manual, Gate, Choose, Wait];

pub const KEYWORDS: &[Keyword] = &[
    kw(
        "runbook",
        "runbook ID \"Title\" { … }",
        "The header of an entry file: the runbook's id, its title and its items. A file without it is a fragment that another file includes.",
        &[],
    ),
    kw(
        "version",
        "version \"1.0.0\"",
        "The runbook's version, shown in plans and reports.",
        &[Top],
    ),
    kw(
        "scope",
        "scope TEXT",
        "What the procedure covers and what it does not.",
        &[Top],
    ),
    kw(
        "policy",
        "policy TEXT",
        "A policy the procedure follows, such as an ADR.",
        &[Top],
    ),
    kw(
        "include",
        "include \"path.runbook\"",
        "Splices in a fragment. The path is relative to this file and stays inside the entry runbook's directory.",
        &[Top],
    ),
    kw(
        "input",
        "input NAME \"description\": TYPE = DEFAULT",
        "A typed value set for a run with `--set NAME=VALUE`: string, int, bool, duration, timestamp, secret, host, command, enum(…) or list(…).",
        &[Top],
    ),
    kw(
        "role",
        "role ID \"Title\" { person … contact … backup … }",
        "A named role filled with a person; `owner`, `attest`, `by` and `require role` name it.",
        &[Top],
    ),
    kw(
        "link",
        "link ID \"Title\" = \"target\"",
        "A named reference (a document, dashboard or CI run); `require link` says it must be set.",
        &[Top],
    ),
    kw(
        "outcome",
        "outcome NAME \"description\" success|failure",
        "Declares whether a run that ends with this outcome succeeded.",
        &[Top],
    ),
    kw(
        "hook",
        "hook pause|overrun|failure|end TEXT",
        "A command rbx runs when the run pauses for a person, overruns a budget, fails or ends; the event is in its environment.",
        &[Top],
    ),
    kw(
        "stage",
        "stage ID \"Title\" within DURATION { … }",
        "A named group of nodes with an optional time budget. Stages are what routes, `then` and `again` name.",
        &[Top],
    ),
    kw(
        "assign",
        "assign ROLE = EVIDENCE",
        "The person this manual step's answer names (its `text` evidence) fills the role for \
         the rest of the run: the incident commander names a deputy.",
        &[Manual],
    ),
    kw(
        "acknowledge",
        "acknowledge",
        "A manual step that needs only a person's word that it was done (yes, or no to record \
         that it was not).",
        &[Manual],
    ),
    kw(
        "checklist",
        "checklist ID \"Title\" fail-fast? { … }",
        "Items that all run, each whatever the one before did; the checklist fails after the last \
         if any failed, naming each (`ID.failed` lists them). With `fail-fast`, it stops at the \
         first failure.",
        &[Stage],
    ),
    kw(
        "fail-fast",
        "checklist ID \"Title\" fail-fast { … }",
        "A checklist that stops at its first failing item and fails.",
        &[],
    ),
    kw(
        "finally",
        "finally { … }",
        "Clean-up: at the top level, once whenever the run ends (with an outcome, failed or \
         cancelled); in a stage, once each time the stage is left, before what comes after it. \
         Every node of it runs in order; a failure in it fails a run that would have succeeded.",
        &[Top, Stage],
    ),
    kw(
        "within",
        "within DURATION [for STAGE, …]",
        "A time budget: after a stage's title, the stage's (lint compares it with the stage's worst-case time); at the top level, the whole run's, or with `for`, the listed stages' together. A run that overruns it fires `hook overrun`.",
        &[Top],
    ),
    kw(
        "deadline",
        "deadline TIME [for STAGE, …]",
        "A time by which the run, or with `for` the listed stages, should be done, such as `deadline release + 2h`; a run past it fires `hook overrun`.",
        &[Top],
    ),
    kw(
        "for",
        "for STAGE, …",
        "The stages a top-level `within` or `deadline` covers together.",
        &[],
    ),
    kw(
        "then",
        "then STAGE",
        "After the stage's last node, go on with another stage.",
        &[Stage],
    ),
    kw(
        "end",
        "end OUTCOME",
        "Stop the run with a terminal outcome; also a route target, `-> end OUTCOME`.",
        &[Stage],
    ),
    kw(
        "step",
        "step ID \"Title\" { run … }",
        "An automated step: a command with timeout, retries, expectations, captures and the evidence to keep.",
        &[Stage],
    ),
    kw(
        "manual",
        "manual ID \"Title\" { instructions … evidence … }",
        "An instruction for a person, with the evidence they must supply before the run goes on.",
        &[Stage],
    ),
    kw(
        "gate",
        "gate ID \"Title\" { require … attest … }",
        "A precondition: requirements rbx checks and attestations people give. A gate that does not pass fails.",
        &[Stage],
    ),
    kw(
        "signoff",
        "signoff ID \"Title\" { by ROLE approvers N }",
        "Named roles record GO or NO-GO; it passes only when every required sign-off is GO.",
        &[Stage],
    ),
    kw(
        "decide",
        "decide ID \"Title\" { when EXPR -> TARGET otherwise -> TARGET }",
        "A branch chosen by conditions, tried in order; `otherwise` covers the rest.",
        &[Stage],
    ),
    kw(
        "choose",
        "choose ID \"Title\" { option NAME \"…\" -> TARGET }",
        "A branch a person chooses from a closed list of options, with their rationale recorded.",
        &[Stage],
    ),
    kw(
        "wait",
        "wait ID \"Title\" { run … every 10s timeout 5m }",
        "Polls a command or condition until it holds or the timeout passes.",
        &[Stage],
    ),
    kw(
        "anchor",
        "anchor ID \"Title\" [at TIME]",
        "A durable time anchor: records when it is reached, or the time `at` gives (a release time), for checkpoints such as T+15m or T-30m.",
        &[Stage],
    ),
    kw(
        "foreach",
        "foreach VAR in LIST parallel N tolerate T { … }",
        "The same nodes for each item of a list input, at most N items unfinished at once (one without `parallel`).",
        &[Stage],
    ),
    kw(
        "in",
        "foreach VAR in LIST",
        "Names the list input a `foreach` goes through.",
        &[],
    ),
    kw(
        "parallel",
        "parallel N tolerate T { … }",
        "Branches that run at the same time, at most N at once (all without N); after `foreach … in LIST`, how many items run at once.",
        &[Stage],
    ),
    kw(
        "tolerate",
        "foreach VAR in LIST tolerate 2 { … }  ·  parallel tolerate 10% { … }",
        "How many items (or what share of them) may fail: within it the loop succeeds, naming each failed item; beyond it no further item starts and the loop fails.",
        &[],
    ),
    kw(
        "repeat",
        "repeat at most N until EXPR { … }",
        "Runs its items again, one iteration at a time, until the condition holds after an \
         iteration (read on that iteration's values); the loop fails when the last of its `N` \
         iterations leaves it false. Each iteration has ids of its own (`investigate[2]`).",
        &[Stage],
    ),
    kw(
        "most",
        "repeat at most N until EXPR { … }",
        "The bound of a `repeat`: how many iterations at most.",
        &[],
    ),
    kw(
        "again",
        "again STAGE { on failure -> TARGET }",
        "Runs a stage again as a fresh instance, then comes back to the next item.",
        &[Stage],
    ),
    kw(
        "call",
        "call STAGE(NAME = EXPR, …) { on failure -> TARGET }",
        "Runs a stage with parameters as a fresh instance with these arguments, then comes back to the next item.",
        &[Stage],
    ),
    kw(
        "child",
        "child ID \"Title\" { runbook \"PATH\" input NAME = EXPR }",
        "Runs another runbook as a child run with these inputs (its path relative to this file). \
         The node's outcome is the child's; later nodes read `ID.outcome` and the child's captures \
         as `ID.NAME`. The child run's id is this run's and this node's.",
        &[Stage],
    ),
    kw(
        "owner",
        "owner ROLE",
        "The role responsible for this node.",
        NODE_COMMON,
    ),
    kw(
        "require",
        "require role ROLE | require link LINK | require EXPR",
        "A condition checked before the runbook, stage or node starts; one that does not hold is a failure that routes decide.",
        &[Top, Stage, Step, Manual, Gate, Signoff, Choose, Wait],
    ),
    kw(
        "on",
        "on failure|cancel -> TARGET",
        "A route: where control goes when something fails or is cancelled. The innermost route wins.",
        &[Top, Stage, Step, Manual, Gate, Signoff, Wait, Again],
    ),
    kw(
        "run",
        "run TEXT",
        "The command to run, as a shell command. Interpolated values reach it as data, in environment variables.",
        &[Step, Wait],
    ),
    kw(
        "timeout",
        "timeout DURATION",
        "How long an attempt may run, a duration or an expression computed when the node starts (`budget * 2`); then rbx ends the command's whole process group and the attempt fails.",
        &[Step, Wait],
    ),
    kw(
        "retry",
        "retry N [backoff DURATION fixed|exponential [max DURATION] [jitter]] [on exit N, …]",
        "When an attempt fails, try again up to N more times, waiting between attempts; with `on exit`, only when the attempt exited with one of those statuses.",
        &[Step],
    ),
    kw(
        "backoff",
        "backoff DURATION fixed|exponential",
        "The wait before a retry: the same every time (`fixed`) or doubling (`exponential`, the default).",
        &[],
    ),
    kw(
        "max",
        "max DURATION",
        "After `backoff`: no wait before a retry is longer than this.",
        &[],
    ),
    kw(
        "jitter",
        "jitter",
        "After `backoff`: each wait is drawn between half of it and all of it, so that many runs retrying together spread out. Under `rbx test` the draw is the same every time.",
        &[],
    ),
    kw(
        "expect",
        "expect exit N | expect stdout ~ /RE/",
        "What an attempt must show to succeed: an exit status, or a match (`~`) or no match (`!~`) in the whole output.",
        &[Step, Wait],
    ),
    kw(
        "exit",
        "expect exit N, N",
        "The exit statuses that count as success; without it, 0.",
        &[],
    ),
    kw(
        "capture",
        "capture NAME: TYPE = stdout ~ /RE/ | stdout json \"a.b\" | stdout lines",
        "Saves part of the output as an output later nodes read as `step.NAME`.",
        &[Step],
    ),
    kw(
        "json",
        "capture NAME = stdout json \"a.b.c\"",
        "Parses the whole stream as JSON and takes the field at the dotted path.",
        &[],
    ),
    kw(
        "lines",
        "capture NAME: list = stdout lines",
        "Takes every non-empty line of the stream, trimmed, as a list capture.",
        &[],
    ),
    kw(
        "keep",
        "keep stdout|stderr",
        "Keeps the stream as evidence in the run's record, head and tail.",
        &[Step],
    ),
    kw(
        "idempotent",
        "idempotent",
        "Resume policy: the step is safe to run again when a crash left it in doubt.",
        &[Step],
    ),
    kw(
        "verify",
        "verify TEXT",
        "Resume policy: a probe command whose exit status 0 means the step's effect already happened.",
        &[Step],
    ),
    kw(
        "irreversible",
        "irreversible \"why\"",
        "A point of no return: rbx asks for confirmation before it runs, and lint wants a verification before it.",
        &[Step, Manual],
    ),
    kw(
        "instructions",
        "instructions TEXT",
        "What the person is to do.",
        &[Manual, Choose],
    ),
    kw(
        "evidence",
        "evidence NAME \"prompt\": text|url|file|choice(…) optional",
        "Evidence the person must supply; later nodes read it as `manual.NAME`.",
        &[Manual],
    ),
    kw(
        "optional",
        "evidence NAME \"prompt\": TYPE optional",
        "The evidence may be left empty.",
        &[],
    ),
    kw(
        "attest",
        "attest ROLE \"statement\"",
        "A person in the role attests that the statement holds.",
        &[Gate],
    ),
    kw(
        "by",
        "by ROLE, ROLE",
        "The roles whose sign-off is required.",
        &[Signoff],
    ),
    kw(
        "approvers",
        "approvers N",
        "How many people must sign off.",
        &[Signoff],
    ),
    kw(
        "no",
        "no self-approval",
        "The person who started the run cannot approve.",
        &[Signoff],
    ),
    kw(
        "self-approval",
        "no self-approval",
        "The person who started the run cannot approve.",
        &[],
    ),
    kw(
        "when",
        "when EXPR -> TARGET  (in a decide) · when EXPR  (in any other node)",
        "In a decision, a branch taken when the condition holds (tried in order). \
         In any other node, the node's own condition: when it does not hold, the node \
         is skipped (recorded with the condition) and its flow goes on.",
        &[Decide, Step, Manual, Gate, Signoff, Choose, Wait],
    ),
    kw(
        "otherwise",
        "otherwise -> TARGET",
        "A decision's branch when no condition holds; lint wants one.",
        &[Decide],
    ),
    kw(
        "option",
        "option NAME \"description\" -> TARGET",
        "One choice a person can make, and where it leads.",
        &[Choose],
    ),
    kw(
        "every",
        "every DURATION  ·  every DURATION at most N { … }",
        "In a wait, how often it polls. In a stage, a recurring block: its items run once per \
         interval, beside the items written after it, until those have settled; an iteration \
         whose interval passed without it starting is recorded as missed (`post[2]`).",
        &[Wait, Stage],
    ),
    kw(
        "until",
        "until EXPR",
        "The condition a wait waits for.",
        &[Wait],
    ),
    kw(
        "continue",
        "-> continue",
        "A decision's target: go on with the stage's next item.",
        &[],
    ),
    kw(
        "enum",
        "enum(a, b, c)",
        "An input type: one of the listed values, which expressions name bare.",
        &[],
    ),
    kw(
        "list",
        "list(TYPE)",
        "An input type: a list of scalar values, for `foreach`.",
        &[],
    ),
    kw(
        "choice",
        "choice(a, b)",
        "An evidence type: one of the listed values.",
        &[],
    ),
    kw(
        "choices",
        "choices(a, b)",
        "An evidence type: any of the listed values, a list.",
        &[],
    ),
    kw("and", "EXPR and EXPR", "True when both are.", &[]),
    kw("or", "EXPR or EXPR", "True when either is.", &[]),
    kw("not", "not EXPR", "True when the expression is false.", &[]),
    kw("person", "person \"name\"", "Who fills the role.", &[Role]),
    kw(
        "contact",
        "contact \"how to reach them\"",
        "How to reach the person in the role.",
        &[Role],
    ),
    kw(
        "backup",
        "backup \"name\"",
        "Who stands in for the person in the role.",
        &[Role],
    ),
    kw(
        "identity",
        "identity \"operator\"",
        "An operator who may sign for the role (on PostgreSQL, a database role). When a role has any, no one else may sign for it.",
        &[Role],
    ),
    kw(
        "scenario",
        "scenario ID \"What it proves\" { … }",
        "A scenario of `rbx test`, in a NAME.rbxtest file beside NAME.runbook: inputs, simulated step results, people's answers and what the run must do.",
        &[],
    ),
    kw(
        "set",
        "set INPUT = VALUE",
        "In a scenario: the value an input has for the simulated run.",
        &[],
    ),
    kw(
        "operator",
        "operator \"NAME\"",
        "In a scenario: who runs the simulated run (its sign-offs and self-approval are judged against this name).",
        &[],
    ),
    kw(
        "start",
        "start TIMESTAMP",
        "In a scenario: the simulated time the run starts at.",
        &[],
    ),
    kw(
        "default",
        "default { exit N … }",
        "In a scenario: the simulated result of every step not given one.",
        &[],
    ),
    kw(
        "given",
        "given NODE (attempt N)? { exit, stdout, stderr, takes, at }",
        "In a scenario: the simulated result of a step (by id, name or pattern), for every attempt or one.",
        &[],
    ),
    kw(
        "attempt",
        "attempt N",
        "In a scenario: the attempt of a retried step a result is for.",
        &[],
    ),
    kw(
        "attempts",
        "expect attempts NODE == N",
        "In a scenario: how many attempts a retried step must have made.",
        &[],
    ),
    kw(
        "takes",
        "takes DURATION",
        "In a scenario: how long a step or a person's answer takes in simulated time.",
        &[],
    ),
    kw(
        "at",
        "at TIMESTAMP",
        "The time an anchor stands for (`anchor release \"Release\" at release_at`); in a scenario, the simulated time a step finishes at.",
        &[],
    ),
    kw(
        "answer",
        "answer NODE { choice, rationale, evidence, attest, signoff, confirm, reject }",
        "In a scenario: a person's answer to a manual step, a choice, a gate or a sign-off.",
        &[],
    ),
    kw(
        "rationale",
        "rationale \"why\"",
        "In a scenario's answer: why the choice was made.",
        &[],
    ),
    kw(
        "confirm",
        "confirm",
        "In a scenario's answer: the irreversible step is confirmed.",
        &[],
    ),
    kw(
        "reject",
        "reject",
        "In a scenario's answer: the person says it was not done, so the node fails.",
        &[],
    ),
    kw(
        "earlier",
        "earlier DURATION { … }",
        "In a scenario: a run that ended that long before this one, for `count()` rules.",
        &[],
    ),
    kw(
        "failed",
        "expect failed NODE",
        "In a scenario: a node that must have failed.",
        &[],
    ),
    kw(
        "ran",
        "expect ran NODE / expect not ran NODE",
        "In a scenario: a node that must (or must not) have run.",
        &[],
    ),
    kw(
        "overrun",
        "expect overrun STAGE",
        "In a scenario: a stage expected to exceed its `within` budget.",
        &[],
    ),
    kw(
        "cancel",
        "cancel at NODE",
        "In a scenario: the run is cancelled there, as `rbx cancel` does, and its compensation runs.",
        &[],
    ),
];

const fn kw(
    word: &'static str,
    syntax: &'static str,
    meaning: &'static str,
    starts: &'static [Context],
) -> Keyword {
    Keyword {
        word,
        syntax,
        meaning,
        starts,
    }
}

pub fn find(word: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| k.word == word)
}

/// The keywords that start a statement in `context`.
pub fn starting(context: Context) -> impl Iterator<Item = &'static Keyword> {
    KEYWORDS.iter().filter(move |k| k.starts.contains(&context))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `kw_x = @{ "x" ~ !ident_char }` rule of the grammar.
    fn grammar_keywords() -> Vec<String> {
        include_str!("../../../grammar/runbook.pest")
            .lines()
            .filter(|line| line.starts_with("kw_"))
            .filter_map(|line| line.split('"').nth(1).map(str::to_string))
            .collect()
    }

    #[test]
    fn every_keyword_of_the_grammar_has_a_meaning() {
        let words = grammar_keywords();
        assert!(
            words.len() > 50,
            "the grammar's keywords were not found: {words:?}"
        );
        for word in words {
            assert!(find(&word).is_some(), "`{word}` has no entry in KEYWORDS");
        }
    }

    /// The statement choices of the grammar, by the context they serve.
    #[test]
    fn statement_keywords_follow_the_grammar() {
        let grammar = include_str!("../../../grammar/runbook.pest");
        // The statements a rule (or several) offers: every `x_stmt` or
        // `x_decl` it names, as the keyword that starts it.
        let rules = |names: &[&str]| -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for name in names {
                let start = grammar
                    .find(&format!("\n{name} "))
                    .unwrap_or_else(|| panic!("no rule {name}"));
                let body = &grammar[start + name.len() + 1..];
                let body = &body[..body.find('}').unwrap_or(body.len())];
                out.extend(
                    body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .filter_map(|w| w.strip_suffix("_stmt").or_else(|| w.strip_suffix("_decl")))
                        .map(|w| match w {
                            "no_self" => "no".to_string(),
                            "condition" => "when".to_string(),
                            "expect_exit" | "expect_stream" => "expect".to_string(),
                            other => other.to_string(),
                        }),
                );
            }
            out.sort();
            out.dedup();
            out
        };
        for (names, context) in [
            (&["top_item"][..], Top),
            (&["stage_item", "node"][..], Stage),
            (&["manual_stmt"][..], Manual),
            (&["gate_stmt"][..], Gate),
            (&["signoff_stmt"][..], Signoff),
            (&["decide_stmt"][..], Decide),
            (&["choose_stmt"][..], Choose),
            (&["wait_stmt"][..], Wait),
            (&["any_step_stmt"][..], Step),
        ] {
            let mut offered: Vec<String> = starting(context).map(|k| k.word.to_string()).collect();
            offered.sort();
            assert_eq!(offered, rules(names), "statements of {names:?}");
        }
    }
}
