//! An answer given with `rbx confirm` to a run no process drives (rule
//! P2): checked as the run's own prompt checks it, then journalled as the
//! run would journal it.

use rbx_store::{Event, RunSummary, Store};
use rbx_syntax::ast::Block;
use serde_json::json;

use super::{Answering, Response, Settlement, Signoff};
use crate::state::{Status, kind};
use crate::{Procedure, RunState};

/// One node of a paused run, and the run as its journal tells it.
#[derive(Debug)]
pub struct Answer<'a> {
    pub procedure: &'a Procedure,
    pub summary: &'a RunSummary,
    pub state: &'a RunState,
    /// The node's id in the run (`approve`, `smoke#2.tui[eu]`).
    pub step: &'a str,
    pub block: &'a Block,
    /// Sign-offs recorded earlier for the node that did not settle it.
    pub earlier: Vec<Signoff>,
}

/// What `rbx confirm` recorded.
#[derive(Debug, PartialEq, Eq)]
pub enum Confirmed {
    /// The node settled; the run goes on when resumed.
    Settled,
    /// A sign-off that needs more approvers: this operator's part is
    /// recorded, and the node still waits for these.
    Waiting(Vec<String>),
}

/// Who records the answer: the operator's name and the OS account.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub operator: &'a str,
    pub account: &'a str,
}

impl<'a> Answer<'a> {
    pub fn new(
        procedure: &'a Procedure,
        summary: &'a RunSummary,
        events: &[Event],
        state: &'a RunState,
        step: &'a str,
        block: &'a Block,
    ) -> Answer<'a> {
        Answer {
            procedure,
            summary,
            state,
            step,
            block,
            earlier: super::recorded_signoffs(events, step),
        }
    }

    /// Checks `response` as the run's prompt would: an `Err` lists what is
    /// missing or wrong.
    pub fn settle(&self, response: &Response, who: Who<'_>) -> Result<Settlement, Vec<String>> {
        let roles = crate::roles::Roles::of(self.procedure, self.state);
        let answering = Answering {
            started_by: &self.summary.started_by,
            operator: who.operator,
            account: who.account,
            earlier: &self.earlier,
            identities: roles.identities(),
        };
        super::settle(self.block, response, &answering)
    }

    /// An earlier sign-off for the node that the same OS account recorded
    /// under another name: rbx cannot tell whether these are different
    /// people, and says so.
    pub fn same_account(&self, response: &Response, who: Who<'_>) -> Option<&Signoff> {
        if response.signoffs.is_empty() {
            return None;
        }
        let me = super::normalise(who.operator);
        self.earlier
            .iter()
            .find(|s| s.account.as_deref() == Some(who.account) && super::normalise(&s.by) != me)
    }

    /// Journals the answer: a sign-off's part while it waits for more
    /// approvers, or the node's finish (its files kept with the run) and
    /// the flow its route leaves (rule L2). The store is checkpointed after,
    /// as when a drive stops.
    pub fn record(
        &self,
        store: &mut dyn Store,
        mut response: Response,
        settlement: Settlement,
        who: Who<'_>,
    ) -> Result<Confirmed, String> {
        let run = &self.summary.id;
        if settlement.status == Status::Pending {
            if response.signoffs.is_empty() {
                return Err(format!(
                    "`{}` is not settled by this: {}",
                    self.step,
                    settlement.waiting.join("; ")
                ));
            }
            for signoff in &response.signoffs {
                let mut payload =
                    super::recorded_json(self.step, signoff, who.operator, "rbx confirm");
                super::with_account(&mut payload, who.account);
                store
                    .append(run, kind::SIGNOFF_RECORDED, &payload)
                    .map_err(|e| e.to_string())?;
            }
            store.checkpoint().map_err(|e| e.to_string())?;
            return Ok(Confirmed::Waiting(settlement.waiting));
        }
        response.signoffs.clone_from(&settlement.signoffs);
        self.keep_files(store, &mut response)?;
        let payload = self.finish_json(&response, settlement, who);
        store
            .append(run, kind::NODE_FINISHED, &payload)
            .map_err(|e| e.to_string())?;
        let answered = crate::replay(&store.events(run).map_err(|e| e.to_string())?);
        if let Some(flow) =
            crate::flow_it_leaves(self.procedure, &self.summary.inputs, &answered, self.step)
        {
            let left = json!({ "flow": flow, "node": self.step });
            store
                .append(run, kind::FLOW_LEFT, &left)
                .map_err(|e| e.to_string())?;
        }
        store.checkpoint().map_err(|e| e.to_string())?;
        Ok(Confirmed::Settled)
    }

    /// The files the answer names, read and kept with the run.
    fn keep_files(&self, store: &mut dyn Store, response: &mut Response) -> Result<(), String> {
        for (name, path) in super::files(self.block, response) {
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("cannot read `{path}`: {}", e.to_string().to_lowercase()))?;
            let hash = store
                .put_attachment(&self.summary.id, self.step, &name, &path, &bytes)
                .map_err(|e| e.to_string())?;
            super::kept(response, &name, &path, &hash, bytes.len());
        }
        Ok(())
    }

    fn finish_json(
        &self,
        response: &Response,
        settlement: Settlement,
        who: Who<'_>,
    ) -> serde_json::Value {
        let mut payload = response.to_json();
        payload["node"] = json!(self.step);
        payload["attempt"] = json!(1);
        payload["status"] = json!(settlement.status.as_str());
        payload["captures"] = crate::state::captures_json(&super::values(self.block, response));
        payload["operator"] = json!(who.operator);
        payload["account"] = json!(who.account);
        payload["via"] = json!("rbx confirm");
        if let Some(branch) = settlement.branch {
            payload["branch"] = json!(branch);
        }
        if let Some(reason) = settlement.reason {
            payload["reason"] = json!(reason);
        }
        payload
    }
}
