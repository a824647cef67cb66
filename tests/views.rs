//! `rbx runs`, `status` and `log` as a program reads them: versioned JSON,
//! the latest run by default, steps named by their short ids, and an
//! unknown step refused with the ids it may have meant.

mod support;

use serde_json::Value;
use support::rbx;

const RUNBOOK: &str = r#"runbook v "Views" {
  input hosts "Hosts": list(string) = ["a", "b"]
  outcome done "all done" success
  stage s "S" {
    step hello "Hello" {
      run "echo hello"
    }
    foreach h in hosts {
      step each "Each {{ h }}" {
        run "echo {{ h }}"
      }
    }
    end done
  }
}
"#;

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn runs_status_and_log_speak_versioned_json() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("v.runbook"), RUNBOOK).expect("write the runbook");
    let run = rbx(dir.path(), &["run", "v.runbook"]);
    assert_eq!(run.status, 0, "{}", run.transcript());

    let runs = json(&rbx(dir.path(), &["runs", "--format", "json"]).stdout);
    assert_eq!(runs["version"], 1);
    let first = &runs["runs"][0];
    assert_eq!(first["status"], "ended");
    assert_eq!(first["outcome"], "done");
    let id = first["id"].as_str().expect("a run id").to_string();

    let status = json(&rbx(dir.path(), &["status", "--format", "json"]).stdout);
    assert_eq!(status["version"], 1);
    assert_eq!(status["run"], id.as_str());
    let standing = |node: &str| {
        status["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["id"] == node)
            .map(|n| n["standing"].clone())
    };
    assert_eq!(standing("s.hello"), Some(Value::from("done")));
    assert_eq!(standing("s.each[b]"), Some(Value::from("done")));

    // The latest run by default, and a step by its short id.
    let log = json(&rbx(dir.path(), &["log", "hello", "--format", "json"]).stdout);
    assert_eq!(log["version"], 1);
    assert_eq!(log["node"], "s.hello");
    assert!(
        log["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["node"] == "s.hello")
    );
    assert_eq!(log["outputs"][0]["head"], "hello\n");

    let unknown = rbx(dir.path(), &["log", &id, "helo"]);
    assert_eq!(unknown.status, 2, "{}", unknown.transcript());
    assert!(
        unknown.stderr.contains("did you mean s.hello"),
        "{}",
        unknown.stderr
    );
}
