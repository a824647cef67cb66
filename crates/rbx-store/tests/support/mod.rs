//! What every test of the store starts from.

use rbx_store::NewRun;
use serde_json::json;

/// A run of a two-file procedure with a couple of inputs.
pub fn new_run() -> NewRun {
    NewRun {
        runbook_id: "post_cutover".to_owned(),
        title: "Post-cutover checks".to_owned(),
        entry: "cutover.runbook".to_owned(),
        sources: vec![
            (
                "cutover.runbook".to_owned(),
                "runbook post_cutover \"Post-cutover checks\" {\n  include \"smoke.runbook\"\n}\n"
                    .to_owned(),
            ),
            (
                "smoke.runbook".to_owned(),
                "stage smoke \"Smoke\" {\n}\n".to_owned(),
            ),
        ],
        inputs: json!({ "forge": "forge", "nodes": ["a", "b"] }),
        started_by: "alice".to_owned(),
        host: "laptop".to_owned(),
    }
}
