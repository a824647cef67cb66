//! The executor: one dispatcher that walks the run's graph, launching each
//! node once every predecessor has settled, journal first.
//!
//! Every node's start is durable before its command is spawned and its end
//! before any successor starts: the tasks that run nodes write both events
//! themselves, and the dispatcher only looks at successors once a task has
//! returned. A branch not taken settles as skipped, and skipping propagates,
//! so joins after alternative branches work.

mod budgets;
mod call;
mod child;
mod condition;
mod decide;
mod dispatch;
mod env;
pub(crate) mod finally;
mod hooks;
mod node;
mod person;
mod record;
mod repeat;
mod retry;
mod step;
mod tally;
mod wait;

use std::collections::HashMap;
use std::sync::Arc;

use rbx_check::graph::Graph;
use rbx_store::RunId;
use rbx_syntax::ast::{HookEvent, Text};
use tokio::sync::{Mutex, watch};

use crate::Options;
use crate::journal::Journal;
use crate::state::NodeState;
use crate::value::Value;

pub use child::CHILD_PAUSE;
pub(crate) use condition::{Judged, Stored, judge};
pub use dispatch::drive;
pub use env::base_name;
pub(crate) use finally::failures as cleanup_failures;
pub use record::now_ms;

/// Everything a node task needs, shared.
pub(crate) struct Shared {
    journal: Journal,
    run: RunId,
    graph: Arc<Graph>,
    options: Options,
    inputs: HashMap<String, Value>,
    /// Who fills each role, and who may sign for it, as the run stands:
    /// a manual step's `assign` changes it while the run is driven.
    roles: std::sync::RwLock<crate::roles::Roles>,
    links_set: HashMap<String, bool>,
    cancel: watch::Receiver<bool>,
    /// Stops the run as a signal does: a person interrupted a prompt.
    interrupt: Arc<watch::Sender<bool>>,
    /// Only one prompt to a person at a time.
    person: Mutex<()>,
    /// Past runs of the same runbook for `count()`.
    history: Vec<crate::Past>,
    hooks: Vec<(HookEvent, Text)>,
    budgets: Vec<rbx_syntax::ast::Budget>,
    runbook_id: String,
    /// Who started the run, for `no self-approval`.
    started_by: String,
    /// Steps left in doubt whose verify probe decides whether they run.
    verify_first: std::collections::HashSet<String>,
    /// When each stage instance started, for "elapsed / budget".
    stage_started: std::sync::Mutex<HashMap<String, i64>>,
    /// When each wait the run stopped for is due (`RunState::dues`).
    dues: HashMap<String, i64>,
    /// How many instances each node of the runbook has in this run
    /// (`again`, `foreach`), by its id in the runbook.
    instances: std::sync::Mutex<HashMap<String, usize>>,
    /// The procedure each `child` node runs, by its id in the runbook.
    children: HashMap<String, Arc<crate::Procedure>>,
}

/// What a node task reports back to the dispatcher.
pub(crate) enum Done {
    Settled(NodeState),
    /// A person is needed and there is no terminal: the run pauses. The
    /// text says how to give what is needed (`rbx confirm` flags).
    Paused(String),
    /// The node was interrupted; it stays in doubt.
    Interrupted,
    /// The node waits for a time too far off to sit through: the run stops
    /// and is due again then (milliseconds since the epoch).
    Waiting(i64),
    /// The journal could not be written: stop at once.
    Broken(String),
}
