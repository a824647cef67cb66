//! A bench for the tests that drive `rbx` in a directory of their own:
//! runbooks written and linted there, runs with an environment, the
//! journal of the latest run and the lines its steps appended to `ran.log`.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use rbx_store::{SqliteStore, Store};

use super::Output;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

/// A temporary directory to run `rbx` in, and what its runs left there.
pub struct Bench {
    pub dir: tempfile::TempDir,
}

impl Bench {
    pub fn new() -> Bench {
        Bench {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file; a runbook must pass `rbx lint`.
    pub fn write(&self, name: &str, text: &str) {
        fs::write(self.path().join(name), text).expect("write a file");
        if name == "main.runbook" {
            let lint = super::rbx(self.path(), &["lint", name]);
            assert_eq!(lint.status, 0, "{}\n{text}", lint.transcript());
        }
    }

    pub fn rbx(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = Command::new(RBX)
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("RBX_OPERATOR", "tester")
            .env_remove("RBX_STATE_DIR")
            .env("RBX_CACHE_DIR", self.path().join("cache"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("rbx runs");
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The latest run's id and journal: (kind, node, payload).
    pub fn journal(&self) -> (String, Vec<(String, String, serde_json::Value)>) {
        let store = SqliteStore::open(&self.path().join(".rbx")).expect("the store opens");
        let run = store.runs().expect("runs").pop().expect("a run");
        let events = store
            .events(&run.id)
            .expect("the journal reads")
            .into_iter()
            .map(|e| {
                let node = e.payload["node"].as_str().unwrap_or("").to_string();
                (e.kind, node, e.payload)
            })
            .collect();
        (run.id.to_string(), events)
    }

    /// Runs `text` as `main.runbook` in a bench of its own, never killed:
    /// it must end well, its steps appending `expected` to `ran.log`.
    /// How many events it journals: the moments a crash can follow.
    pub fn whole_run(text: &str, expected: &[&str]) -> usize {
        let bench = Bench::new();
        bench.write("main.runbook", text);
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        assert_eq!(run.status, 0, "{}", run.transcript());
        assert_eq!(bench.ran(), expected, "the run without a crash");
        bench.journal().1.len()
    }

    /// `rbx run main.runbook --non-interactive`, killed (as by `kill -9`)
    /// right after it commits its `crash`-th event when one is given.
    pub fn start(&self, crash: Option<usize>) -> Output {
        let after = crash.map(|n| n.to_string());
        let env: Vec<(&str, &str)> = after
            .iter()
            .map(|n| ("RBX_CRASH_AFTER_EVENTS", n.as_str()))
            .collect();
        self.rbx(&["run", "main.runbook", "--non-interactive"], &env)
    }

    /// `rbx run main.runbook` killed (as by `kill -9`) right after it
    /// commits its `crash`-th event, then `rbx resume RUN RESUME_ARGS…`
    /// until one exits 0, three times at most: the journal left.
    pub fn crash_then_resume(
        &self,
        crash: usize,
        resume_args: &[&str],
    ) -> Vec<(String, String, serde_json::Value)> {
        let after = crash.to_string();
        let crashed = self.rbx(
            &["run", "main.runbook"],
            &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
        );
        assert_ne!(
            crashed.status, 0,
            "crash after {crash}: it should have died"
        );
        for _ in 0..3 {
            let (run, _) = self.journal();
            let mut args = vec!["resume", run.as_str()];
            args.extend_from_slice(resume_args);
            if self.rbx(&args, &[]).status == 0 {
                break;
            }
        }
        self.journal().1
    }

    /// The lines the steps appended to `ran.log`: one per command run.
    pub fn ran(&self) -> Vec<String> {
        fs::read_to_string(self.path().join("ran.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The lines of `ran.log`, sorted: for steps that run side by side.
    pub fn ran_sorted(&self) -> Vec<String> {
        let mut lines = self.ran();
        lines.sort();
        lines
    }

    /// Every run in the store, a child run's included: (id, status),
    /// sorted by id.
    pub fn runs(&self) -> Vec<(String, String)> {
        let store = SqliteStore::open(&self.path().join(".rbx")).expect("the store opens");
        let mut runs: Vec<(String, String)> = store
            .runs()
            .expect("runs")
            .into_iter()
            .map(|r| (r.id.to_string(), r.status))
            .collect();
        runs.sort();
        runs
    }

    /// The top run: the one whose id names no parent (a child run's is
    /// `{parent}/{node}`).
    pub fn parent_run(&self) -> String {
        self.runs()
            .into_iter()
            .map(|(id, _)| id)
            .find(|id| !id.contains('/'))
            .expect("a parent run")
    }

    /// The latest run's status as the store records it (`ended:done`,
    /// `failed`, …).
    pub fn status(&self) -> String {
        let store = SqliteStore::open(&self.path().join(".rbx")).expect("the store opens");
        store.runs().expect("runs").pop().expect("a run").status
    }
}

/// A run's journal as [`Bench::journal`] reads it: (kind, node, payload).
pub type Journal = Vec<(String, String, serde_json::Value)>;

/// What a run's record says of each node at its end: the status of its
/// last finish, or `skipped`.
pub fn settled(events: &Journal) -> std::collections::BTreeMap<String, String> {
    let mut last = std::collections::BTreeMap::new();
    for (kind, node, payload) in events {
        let said = match kind.as_str() {
            "node_finished" => payload["status"].as_str().unwrap_or_default().to_string(),
            "node_skipped" => "skipped".to_string(),
            _ => continue,
        };
        last.insert(node.clone(), said);
    }
    last
}
