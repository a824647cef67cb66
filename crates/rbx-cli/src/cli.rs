//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A declarative runbook engine: procedures as code, checked in CI, run step
/// by step with evidence.
#[derive(Debug, Parser)]
#[command(name = "rbx", version, max_term_width = 100)]
pub struct Cli {
    /// When to use colour: `auto` follows `NO_COLOR`, `CLICOLOR`,
    /// `CLICOLOR_FORCE` and whether standard error is a terminal.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Say less: no progress lines, no step output, no summaries; errors,
    /// questions and the result stay.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: each file checked and a summary even when all is well
    /// (`lint`), each file left unchanged (`fmt`).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Where to write the pages: `rbx.1` and one per command.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct LspArgs {
    /// Talk over standard input and output. This is the only transport and
    /// the default; the flag is accepted because editors pass it.
    #[arg(long)]
    pub stdio: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check runbooks and report every problem found.
    Lint(LintArgs),
    /// Rewrite runbooks in the canonical layout.
    Fmt(FmtArgs),
    /// Draw an entry runbook as Graphviz DOT or Mermaid: its stages and the
    /// routes between them, or with `--detail` every node.
    Graph(GraphArgs),
    /// Show what a run would do: inputs, stages, commands and outcomes.
    Plan(PlanArgs),
    /// Start a run of an entry runbook and drive it.
    Run(RunArgs),
    /// Go on with an unfinished run: interrupted, paused, failed or in doubt.
    Resume(ResumeArgs),
    /// Supply what a paused run waits for from a person.
    #[command(override_usage = "rbx confirm [OPTIONS] [RUN] <STEP>")]
    Confirm(ConfirmArgs),
    /// Abort a run that is not being driven and run its compensation (the
    /// `on cancel` routes where it stopped).
    Cancel(CancelArgs),
    /// List the runs in the store.
    Runs(RunsArgs),
    /// Show every node of a run: done, failed, skipped, pending, not reached…
    Status(StatusArgs),
    /// Show a run's journal, or one step's record and output.
    Log(LogArgs),
    /// Check that a run's record was not altered: its hash chain, event by
    /// event, and its snapshot.
    Verify(StatusArgs),
    /// Run the scenarios beside runbooks with a simulated executor and
    /// clock: outcomes, paths, coverage and rehearsal timing.
    Test(crate::test_cmd::TestArgs),
    /// Write a run's evidence record: every step's result and evidence, the
    /// decisions, sign-offs and timeline, as Markdown, JSON or HTML.
    Report(ReportArgs),
    /// Manage run stores: copy runs from one to another (SQLite to a
    /// team's PostgreSQL and back), verified at the destination.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Print a shell completion script: `rbx completions bash > …`.
    Completions(CompletionsArgs),
    /// Write manual pages (roff) for rbx and each command into a directory.
    Man(ManArgs),
    /// Serve editors over the Language Server Protocol on standard input
    /// and output: lint as you type, go to definition, hover, completion,
    /// formatting, rename and quick fixes.
    Lsp(LspArgs),
}

impl Command {
    /// Whether the command opens the run store, whose default location the
    /// project's `rbx.toml` may set.
    pub fn uses_store(&self) -> bool {
        matches!(
            self,
            Command::Run(_)
                | Command::Resume(_)
                | Command::Confirm(_)
                | Command::Cancel(_)
                | Command::Runs(_)
                | Command::Status(_)
                | Command::Log(_)
                | Command::Verify(_)
                | Command::Report(_)
                | Command::Store(_)
        )
    }

    /// Whether the command checks runbooks, and so reads the project's
    /// `rbx.toml`.
    pub fn reads_runbooks(&self) -> bool {
        matches!(
            self,
            Command::Lint(_)
                | Command::Fmt(_)
                | Command::Graph(_)
                | Command::Plan(_)
                | Command::Run(_)
        )
    }
}

/// Where runs are recorded.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The directory of the run store. Default: `.rbx` in the current
    /// directory, or `$RBX_STATE_DIR`.
    #[arg(
        long,
        value_name = "DIR",
        env = "RBX_STATE_DIR",
        default_value = ".rbx"
    )]
    pub state_dir: PathBuf,
    /// The store to record runs in: a directory (SQLite), or a PostgreSQL
    /// database a team shares (`postgres://USER@HOST/DB`; the password in
    /// `PGPASSWORD` or `~/.pgpass`). Default: `$RBX_STORE`, else `store`
    /// in `rbx.toml`, else `--state-dir`.
    #[arg(long, value_name = "DIR|URL", env = "RBX_STORE")]
    pub store: Option<String>,
}

/// How a run is driven.
#[derive(Debug, Clone, Args)]
pub struct DriveArgs {
    /// At most how many nodes run at once. Default: as many as the
    /// runbook's `parallel` blocks and `foreach … parallel N` start.
    #[arg(long, value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,
    /// Never ask on the terminal: pause for a person instead.
    #[arg(long)]
    pub non_interactive: bool,
    /// What to do with a step that was in flight when rbx stopped and has
    /// neither `idempotent` nor `verify`.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub in_doubt: Option<InDoubtPolicy>,
    /// Who is running this: recorded with every step, next to the OS
    /// account that ran rbx. Default: `$RBX_OPERATOR`, else the OS account.
    #[arg(long, value_name = "NAME", env = "RBX_OPERATOR")]
    pub operator: Option<String>,
    /// Answers for people's steps, given ahead of time (TOML, a table per
    /// step id): for rehearsals and tests. Recorded as answers from a file.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// When the run pauses for a person, wait for the answer (`rbx confirm`
    /// from any machine) and go on, instead of exiting. PostgreSQL tells
    /// the driver the moment the answer is committed; SQLite is looked at
    /// four times a second.
    #[arg(long)]
    pub wait_for_people: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InDoubtPolicy {
    /// Run it again.
    Rerun,
    /// Treat it as done: you checked that its effect happened.
    Skip,
    /// Stop the run as failed.
    Abort,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The entry runbook (the file with the `runbook` header).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Give an input a value; repeatable. A list is a JSON array. Secrets
    /// are better given as `RBX_SECRET_NAME` in the environment.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Show the plan with every command resolved, secrets masked; run and
    /// record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Roles and links for this environment (TOML: `[roles.ID]` with
    /// `person`, `contact`, `backup`; `[links]` with `ID = "target"`).
    #[arg(long, value_name = "FILE")]
    pub fill: Option<PathBuf>,
    /// Fill a role for this run: `ID=PERSON` or `ID=PERSON:CONTACT`;
    /// repeatable, and over what `--fill` says.
    #[arg(long, value_name = "ID=PERSON")]
    pub role: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub drive: DriveArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to resume. Default: the latest unfinished run.
    #[arg(value_name = "RUN", conflicts_with = "due")]
    pub run: Option<String>,
    /// Resume every waiting run whose next step is due (for cron or a
    /// systemd timer).
    #[arg(long)]
    pub due: bool,
    /// Re-run from this step and everything after it.
    #[arg(long, value_name = "STEP", requires = "reason")]
    pub from: Option<String>,
    /// Why (recorded), with `--from`.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Go on although the runbook file changed, if no finished step did.
    #[arg(long)]
    pub allow_changed: bool,
    /// Give inputs the run has no value for (secrets are asked for again
    /// or read from `RBX_SECRET_NAME`); a value the run started with cannot
    /// be changed.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub drive: DriveArgs,
}

#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// The run, in full or by a unique start of its id; given alone, the
    /// step waiting for a person in the latest unfinished run.
    #[arg(value_name = "RUN")]
    pub first: Option<String>,
    /// The step waiting for a person.
    #[arg(value_name = "STEP")]
    pub step: Option<String>,
    /// Evidence as KEY=VALUE; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub evidence: Vec<String>,
    /// For a choice: the option chosen.
    #[arg(long, value_name = "OPTION")]
    pub choice: Option<String>,
    /// Why, recorded with the choice.
    #[arg(long, value_name = "TEXT")]
    pub rationale: Option<String>,
    /// Record that it was NOT done (the step fails and its route applies).
    #[arg(long)]
    pub reject: bool,
    /// For a gate: the attestations were made.
    #[arg(long)]
    pub attest: bool,
    /// For a sign-off: `ROLE=NAME:GO` or `ROLE=NAME:NO-GO[:comment]`, one
    /// per role you sign. NAME must be the operator's own: each approver
    /// gives their own sign-off.
    #[arg(long, value_name = "ROLE=NAME:DECISION")]
    pub signoff: Vec<String>,
    /// Who is giving this answer: recorded next to the OS account that ran
    /// rbx. Default: `$RBX_OPERATOR`, else the OS account.
    #[arg(long, value_name = "NAME", env = "RBX_OPERATOR")]
    pub operator: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The run to cancel. Default: the latest unfinished run.
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
    /// Why (recorded).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub drive: DriveArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run. Default: the latest.
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
    /// `text` for a person, `json` for a program (versioned; see the book).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ViewFormat::Text)]
    pub format: ViewFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// `text` for a person, `json` for a program (versioned; see the book).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ViewFormat::Text)]
    pub format: ViewFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// How `rbx runs`, `status` and `log` write what they show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run. Default: the latest.
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
    /// What to write on standard output.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Markdown, with the runbook's `Item | Result | Evidence` tables.
    Md,
    /// A versioned JSON structure for programs (see the book).
    Json,
    /// One self-contained HTML page, readable offline.
    Html,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// The run. Default: the latest. A single argument that names no run
    /// but a step of the latest run is read as that step.
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
    /// Only this step, with its output.
    #[arg(value_name = "STEP")]
    pub step: Option<String>,
    /// `text` for a person, `json` for a program (versioned; see the book).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ViewFormat::Text)]
    pub format: ViewFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Files to check; a directory means every `.runbook` file under it
    /// that `.gitignore` and the project's `exclude` leave in; `-` is
    /// standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The path standard input stands for: named in diagnostics, and its
    /// includes are found beside it (for editors).
    #[arg(long, value_name = "PATH")]
    pub stdin_filename: Option<PathBuf>,
    /// How to report: `human` renders diagnostics on standard error; `json`,
    /// `sarif` and `github` write them to standard output for programs.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value_t = crate::report_formats::Format::Human
    )]
    pub format: crate::report_formats::Format,
    /// Make diagnostics of this level fail the check as errors do: with
    /// `--deny warnings`, any warning makes the exit status 2.
    #[arg(long, value_enum, value_name = "LINT_LEVEL")]
    pub deny: Vec<crate::lint::LintLevel>,
    /// Roles and links filled for one environment, as `rbx run --fill`
    /// takes them: filled roles and links are not reported as unfilled.
    /// Default: the project's `fill` in `rbx.toml`.
    #[arg(long, value_name = "FILE")]
    pub fill: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Files to format; a directory means every `.runbook` file under it
    /// that `.gitignore` and the project's `exclude` leave in; `-` formats
    /// standard input to standard output.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Change nothing; print a diff of what would change and exit with 1 if
    /// anything would.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The entry runbook (the file with the `runbook` header).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The language to draw in.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Draw every node, each in its stage, instead of one box per stage
    /// with the routes between stages.
    #[arg(long)]
    pub detail: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz: `rbx graph FILE | dot -Tsvg > graph.svg`.
    Dot,
    /// Mermaid, for Markdown that renders it (GitHub, mdBook plugins).
    Mermaid,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The entry runbook (the file with the `runbook` header).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Give an input a value for the plan, as `rbx run` will; repeatable.
    /// A list is a JSON array: `--set hosts='["web-01","web-02"]'`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Roles and links for this environment, as `rbx run --fill` takes
    /// them: the plan is checked as the run will be. Default: the
    /// project's `fill` in `rbx.toml`.
    #[arg(long, value_name = "FILE")]
    pub fill: Option<PathBuf>,
}

/// `rbx store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy runs, with their journals, snapshots, outputs and files, from
    /// one store to another; each copy's hash chain is checked again at
    /// the destination. Runs the destination already holds are left as
    /// they are.
    Copy(StoreCopyArgs),
}

#[derive(Debug, Args)]
pub struct StoreCopyArgs {
    /// The store to copy from: a directory or a `postgres://` URL.
    #[arg(value_name = "FROM")]
    pub from: String,
    /// The store to copy to: a directory or a `postgres://` URL.
    #[arg(value_name = "TO")]
    pub to: String,
    /// Copy only these runs (full ids); default: every run.
    #[arg(long, value_name = "RUN")]
    pub run: Vec<String>,
}
