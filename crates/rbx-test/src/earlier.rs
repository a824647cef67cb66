//! Earlier runs of the same runbook, written into the simulated run's
//! store before it starts, for the rules that count across runs.

use std::sync::Arc;

use rbx_store::{MemoryStore, NewRun, Store};
use serde_json::json;

use crate::Suite;
use crate::setup::{Earlier, Setup};

/// Writes an earlier run into the store, dated `ago` before the scenario
/// starts, as `count()` will read it.
pub fn record_earlier(
    suite: &Suite,
    setup: &Setup,
    store: &MemoryStore,
    earlier: &Earlier,
) -> Result<(), String> {
    let at = setup.start_ms - i64::try_from(earlier.ago).unwrap_or(i64::MAX);
    store.set_clock(Arc::new(move || at));
    let procedure = &suite.procedure;
    let mut writer = store.clone();
    let new = NewRun {
        runbook_id: procedure.runbook_id.clone(),
        title: procedure.title.clone(),
        entry: procedure.entry.clone(),
        sources: procedure.sources.clone(),
        inputs: serde_json::Value::Object(earlier.inputs.clone()),
        started_by: setup.operator.clone(),
        host: "rbx-test".to_string(),
    };
    let write = |writer: &mut MemoryStore| -> Result<(), rbx_store::StoreError> {
        let run = writer.create_run(&new)?;
        writer.append(&run, rbx_engine::state::kind::RUN_STARTED, &json!({}))?;
        for (node, fact) in &earlier.nodes {
            let mut payload = json!({
                "node": node,
                "attempt": 1,
                "status": fact.status,
                "captures": rbx_engine::state::captures_json(&fact.captures),
            });
            if let Some(branch) = &fact.branch {
                payload["branch"] = json!(branch);
            }
            writer.append(&run, rbx_engine::state::kind::NODE_FINISHED, &payload)?;
        }
        writer.append_stopping(
            &run,
            rbx_engine::state::kind::RUN_ENDED,
            &json!({ "outcome": "earlier", "success": true }),
            "ended:earlier",
            None,
        )?;
        Ok(())
    };
    write(&mut writer).map_err(|e| e.to_string())
}
