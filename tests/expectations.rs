//! Expectations and captures judge a command's whole output, through the
//! real `rbx` binary: never the head and tail rbx keeps, never its
//! `[… N bytes not kept …]` marker.
//!
//! The long outputs here are [`BIG`] bytes: far more than rbx keeps (64 KiB
//! at each end) and than it holds in memory to judge (1 MiB), so every one
//! is judged from its temporary file, yet small enough for a debug build.
//! The benchmark (`cargo bench -p rbx-cli --bench engine`) runs the same
//! cases on 1 GiB.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

/// The size of a long output.
const BIG: u64 = 64 << 20;

/// Shell text printing `n` bytes of `x`.
fn xs(n: u64) -> String {
    format!("head -c {n} /dev/zero | tr '\\\\0' x")
}

/// A runbook of one stage: `steps`, then `end done`.
fn runbook(steps: &str) -> String {
    with_inputs("", steps)
}

/// A runbook with `inputs` and one stage: `steps`, then `end done`.
fn with_inputs(inputs: &str, steps: &str) -> String {
    format!(
        "runbook demo \"Whole output\" {{\n{inputs}  stage s \"S\" {{\n{steps}\n    end done\n  }}\n}}\n"
    )
}

/// A test's directory, where `rbx` keeps its store in `.rbx`.
struct Dir(tempfile::TempDir);

/// How a run ended: its status, its standard error and its id.
struct Ran {
    status: i32,
    stderr: String,
    run: String,
}

impl Dir {
    /// Writes `text` as `demo.runbook`, which `rbx lint` must accept.
    fn new(text: &str) -> Dir {
        let dir = Dir(tempfile::tempdir().expect("a temporary directory"));
        fs::write(dir.path().join("demo.runbook"), text).expect("write the runbook");
        let lint = support::rbx(dir.path(), &["lint", "demo.runbook"]);
        assert_eq!(
            lint.status,
            0,
            "the runbook must lint:\n{}",
            lint.transcript()
        );
        dir
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// `rbx run demo.runbook`, its output (which is long) thrown away.
    fn run(&self, env: &[(&str, &str)]) -> Ran {
        let out = Command::new(RBX)
            .args(["run", "demo.runbook"])
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("RBX_OPERATOR", "tester")
            .env_remove("RBX_STATE_DIR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()
            .expect("rbx runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let run = stderr
            .lines()
            .find_map(|l| Some(l.strip_prefix("run ")?.split_once(' ')?.0.to_string()))
            .unwrap_or_else(|| panic!("no run id in:\n{stderr}"));
        Ran {
            status: out.status.code().unwrap_or(-1),
            stderr,
            run,
        }
    }

    /// The payload of the last event of `kind` for `node`, from `rbx log`.
    fn event(&self, run: &str, node: &str, kind: &str) -> serde_json::Value {
        let log = support::rbx(self.path(), &["log", run, node]);
        assert_eq!(log.status, 0, "{}", log.transcript());
        log.stdout
            .lines()
            .rev()
            .filter(|l| l.split_whitespace().nth(2) == Some(kind))
            .find_map(|l| serde_json::from_str(&l[l.find('{')?..]).ok())
            .unwrap_or_else(|| panic!("no {kind} for {node} in:\n{}", log.stdout))
    }

    fn log(&self, run: &str, node: &str) -> String {
        support::rbx(self.path(), &["log", run, node]).stdout
    }
}

#[test]
fn an_expectation_fails_on_a_long_output_without_its_pattern() {
    // The marker rbx puts in the middle of what it keeps says "bytes": a
    // judge that read the kept text would find /y/ in it.
    let dir = Dir::new(&runbook(&format!(
        "    step big \"Prints x only\" {{\n      run \"{}\"\n      expect stdout ~ /y/\n    }}",
        xs(BIG)
    )));
    let ran = dir.run(&[]);
    assert_eq!(ran.status, 1, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("s.big attempt 1: stdout ~ /y/ did not hold"),
        "{}",
        ran.stderr
    );
    let log = dir.log(&ran.run, "s.big");
    assert!(
        log.contains("bytes not kept"),
        "the marker is kept: {log:.2000}"
    );
}

#[test]
fn the_marker_is_never_judged() {
    let dir = Dir::new(&runbook(&format!(
        "    step big \"Prints x only\" {{\n      run \"{}\"\n      expect stdout !~ /not kept/\n    }}",
        xs(BIG)
    )));
    let ran = dir.run(&[]);
    assert_eq!(ran.status, 0, "{}", ran.stderr);
}

#[test]
fn an_expectation_holds_with_its_pattern_only_in_the_middle() {
    let half = BIG / 2;
    let dir = Dir::new(&runbook(&format!(
        "    step big \"Needle in the middle\" {{\n      run \"{}; printf needle; {}\"\n      expect stdout ~ /needle/\n    }}",
        xs(half),
        xs(half)
    )));
    let ran = dir.run(&[]);
    assert_eq!(ran.status, 0, "{}", ran.stderr);
    // The stored head and tail do not show the match: the record does.
    let finished = dir.event(&ran.run, "s.big", "node_finished");
    assert_eq!(
        finished["matches"],
        serde_json::json!([{
            "statement": "expect stdout ~ /needle/",
            "offset": half,
            "length": 6,
            "excerpt": "needle",
        }]),
        "{finished}"
    );
}

#[test]
fn a_capture_is_taken_from_the_middle_and_used_later() {
    let half = BIG / 2;
    let dir = Dir::new(&runbook(&format!(
        "    step big \"Version in the middle\" {{\n      run \"{}; printf '\\\\nversion=1.2.3\\\\n'; {}\"\n      capture version = stdout ~ /version=(\\S+)/\n    }}\n    step use \"Use it\" {{\n      run \"echo {{{{ big.version }}}} > got\"\n    }}",
        xs(half),
        xs(half)
    )));
    let ran = dir.run(&[]);
    assert_eq!(ran.status, 0, "{}", ran.stderr);
    let got = fs::read_to_string(dir.path().join("got")).expect("the later step ran");
    assert_eq!(got.trim(), "1.2.3");
    let finished = dir.event(&ran.run, "s.big", "node_finished");
    assert_eq!(
        finished["captures"]["version"],
        serde_json::json!({ "text": "1.2.3" }),
        "{finished}"
    );
    let matched = &finished["matches"][0];
    assert_eq!(matched["offset"], half + 1, "{finished}");
    assert_eq!(matched["excerpt"], "version=1.2.3", "{finished}");
}

#[test]
fn a_forbidden_pattern_only_in_the_middle_fails_the_step() {
    let half = BIG / 2;
    let dir = Dir::new(&runbook(&format!(
        "    step big \"Panics in the middle\" {{\n      run \"{} >&2; echo 'panic: boom' >&2; {} >&2\"\n      expect stderr !~ /panic: \\w+/\n    }}",
        xs(half),
        xs(half)
    )));
    let ran = dir.run(&[]);
    assert_eq!(ran.status, 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("stderr !~ /panic: \\w+/ did not hold"),
        "{}",
        ran.stderr
    );
    let finished = dir.event(&ran.run, "s.big", "node_finished");
    assert_eq!(
        finished["matches"],
        serde_json::json!([{
            "statement": "expect stderr !~ /panic: \\w+/",
            "offset": half,
            "length": 11,
            "excerpt": "panic: boom",
        }]),
        "{finished}"
    );
}

#[test]
fn a_json_capture_reads_a_document_longer_than_rbx_keeps() {
    let dir = Dir::new(&runbook(&format!(
        "    step big \"A long document\" {{\n      run \"printf '{{\\\"pad\\\": \\\"'; {}; printf '\\\", \\\"migrations\\\": {{\\\"pending\\\": 3}}}}'\"\n      capture pending: int = stdout json \"migrations.pending\"\n    }}",
        xs(BIG)
    )));
    let ran = dir.run(&[]);
    assert_eq!(ran.status, 0, "{}", ran.stderr);
    let finished = dir.event(&ran.run, "s.big", "node_finished");
    assert_eq!(
        finished["captures"]["pending"],
        serde_json::json!({ "int": 3 }),
        "{finished}"
    );
}

#[test]
fn a_pattern_across_lines_is_judged_over_the_whole_output() {
    let dir = Dir::new(&runbook(&format!(
        "    step big \"Begins and ends\" {{\n      run \"echo begin; {}; echo; echo end\"\n      expect stdout ~ /\\Abegin\\n.*\\nend\\z/s\n      expect stdout !~ /^x+$/\n    }}",
        xs(BIG)
    )));
    let ran = dir.run(&[]);
    assert_eq!(ran.status, 0, "{}", ran.stderr);
    let finished = dir.event(&ran.run, "s.big", "node_finished");
    let matched = &finished["matches"][0];
    assert_eq!(matched["offset"], 0, "{finished}");
    // The final line ending is not judged: the match ends at `end`.
    assert_eq!(matched["length"], BIG + 10, "{finished}");
    assert!(
        matched["excerpt"]
            .as_str()
            .is_some_and(|e| e.starts_with("begin\nxxx") && e.len() == 256),
        "{finished}"
    );
}

#[test]
fn a_secret_in_the_middle_is_masked_before_it_is_judged_or_captured() {
    const SECRET: &str = "hunter2-Zq8";
    let half = BIG / 2;
    let dir = Dir::new(&with_inputs(
        "  input token: secret\n",
        &format!(
            "    step big \"Prints its token\" {{\n      run \"{}; echo token={{{{ token }}}}; {}\"\n      capture seen = stdout ~ /token=(\\S+)/\n      expect stdout !~ /hunter2/\n    }}",
            xs(half),
            xs(half)
        ),
    ));
    let ran = dir.run(&[("RBX_SECRET_TOKEN", SECRET)]);
    assert_eq!(ran.status, 0, "{}", ran.stderr);
    let finished = dir.event(&ran.run, "s.big", "node_finished");
    assert_eq!(
        finished["captures"]["seen"],
        serde_json::json!({ "text": "••••••" }),
        "{finished}"
    );
    assert_eq!(
        finished["matches"][0]["excerpt"], "token=••••••",
        "{finished}"
    );
    let log = support::rbx(dir.path(), &["log", &ran.run]);
    assert!(!log.stdout.contains(SECRET), "{}", log.stdout);
}

#[test]
fn a_unicode_word_boundary_next_to_text_that_is_not_ascii_is_refused() {
    let dir = Dir::new(&runbook(&format!(
        "    step big \"Not ASCII\" {{\n      run \"{}; echo ' éok'\"\n      expect stdout ~ /\\bok\\b/\n    }}",
        xs(2 << 20)
    )));
    let ran = dir.run(&[]);
    assert_eq!(ran.status, 1, "{}", ran.stderr);
    // `é` is two bytes, 0xc3 0xa9, just before `ok`.
    let at = (2 << 20) + 2;
    assert!(
        ran.stderr.contains(&format!(
            "stdout ~ /\\bok\\b/ could not be judged: byte {at} (0xa9) is not ASCII"
        )),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("(?-u:\\b)"), "{}", ran.stderr);
}
