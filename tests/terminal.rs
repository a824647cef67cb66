//! People's steps at a real terminal: rbx runs inside tmux, and the test
//! reads the screen with `capture-pane` and answers with `send-keys`, as an
//! operator would type.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNBOOK: &str = r#"runbook desk "Questions at the terminal" {
  role owner "Owner" {
    person "Ada"
  }

  stage s "S" {
    manual look "Look at the dashboard" {
      owner owner
      instructions "Open the dashboard and read the error rate."
      evidence dash "Dashboard link": url
      evidence verdict "Verdict": choice(calm, noisy)
    }

    choose route "What now?" {
      option ship "Ship it" -> end shipped
      option hold "Hold" -> end held
    }
  }
}
"#;

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(dir: &Path, command: &str) -> Tmux {
        // One session per test, so tests running at once never share one.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let session = format!("rbx-test-{}-{n}", std::process::id());
        // Tests start at once, and the first `new-session` starts the tmux
        // server: another one racing it can be refused while it comes up.
        // Trying again a few times is what a person would do.
        let mut started = false;
        for _ in 0..10 {
            let status = Command::new("tmux")
                .args([
                    "new-session",
                    "-d",
                    "-s",
                    &session,
                    "-x",
                    "160",
                    "-y",
                    "50",
                    "-c",
                ])
                .arg(dir)
                .arg(command)
                .status()
                .expect("tmux runs");
            if status.success() {
                started = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(started, "tmux could not start a session");
        Tmux { session }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux capture-pane runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`, failing with the screen if it
    /// never does.
    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {text:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `prompt` is the last thing on the screen: the question
    /// is being asked now, not an earlier one still in view.
    fn wait_for_prompt(&self, prompt: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            let last = screen.lines().rev().find(|l| !l.trim().is_empty());
            if last.is_some_and(|l| l.trim_end().ends_with(prompt)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never asked {prompt:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `prompt` is asked for the `nth` time (from 1) and is the
    /// last thing on the screen: the same question asked again, in a loop,
    /// is told apart from the one just answered.
    fn wait_for_nth_prompt(&self, prompt: &str, nth: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            let asked = screen.lines().filter(|l| l.contains(prompt)).count();
            let last = screen.lines().rev().find(|l| !l.trim().is_empty());
            if asked == nth && last.is_some_and(|l| l.trim_end().ends_with(prompt)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never asked {prompt:?} a {nth}th time; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ends the input, as Ctrl-D at the start of a line does.
    fn end_input(&self) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "C-d"])
            .status()
            .expect("tmux send-keys runs");
        assert!(status.success());
    }

    /// Types `text` without ending the line.
    fn type_text(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .expect("tmux send-keys runs");
        assert!(status.success());
    }

    /// Presses Ctrl-C.
    fn interrupt(&self) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "C-c"])
            .status()
            .expect("tmux send-keys runs");
        assert!(status.success());
    }

    fn type_line(&self, line: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", line])
            .status()
            .expect("tmux send-keys runs");
        assert!(status.success());
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "Enter"])
            .status()
            .expect("tmux send-keys runs");
        assert!(status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[test]
fn a_person_answers_at_the_terminal_and_bad_evidence_is_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("desk.runbook"), RUNBOOK).unwrap();
    let command = format!(
        "{} run desk.runbook --operator grace; echo rbx-exit=$?; sleep 30",
        env!("CARGO_BIN_EXE_rbx")
    );
    let tmux = Tmux::start(dir.path(), &command);
    tmux.wait_for("Open the dashboard and read the error rate.");
    tmux.wait_for("Dashboard link (URL):");
    tmux.type_line("grafana");
    tmux.wait_for("is not a URL");
    tmux.type_line("https://grafana.example.com/d/api");
    tmux.wait_for("Verdict [calm/noisy]:");
    tmux.type_line("calm");
    tmux.wait_for("your choice [ship/hold]:");
    // A mistyped option is asked again, not the end of the session.
    tmux.type_line("shpi");
    tmux.wait_for("`shpi` is not one of ship, hold");
    tmux.type_line("ship");
    tmux.wait_for("why (recorded with the choice):");
    tmux.type_line("error rate flat for an hour");
    tmux.wait_for("rbx-exit=0");

    let out = support::rbx(dir.path(), &["runs"]);
    let run = out
        .stdout
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let log = support::rbx(dir.path(), &["log", &run]);
    assert!(
        log.stdout
            .contains(r#""dash":"https://grafana.example.com/d/api""#),
        "{}",
        log.transcript()
    );
    assert!(
        log.stdout.contains(r#""via":"terminal""#),
        "{}",
        log.transcript()
    );
    assert!(
        log.stdout.contains(r#""operator":"grace""#),
        "{}",
        log.transcript()
    );
    assert!(
        log.stdout
            .contains(r#""rationale":"error rate flat for an hour""#),
        "{}",
        log.transcript()
    );
    assert!(
        log.stdout.contains(r#""outcome":"shipped""#),
        "{}",
        log.transcript()
    );
}

#[test]
fn a_secret_is_asked_for_without_echo_and_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("secret.runbook"),
        r#"runbook secretive "A secret at the terminal" {
  input token: secret

  stage s "S" {
    step use "Use the token" {
      run "printf %s {{ token }} > got"
    }

    end done
  }
}
"#,
    )
    .unwrap();
    let command = format!(
        "env -u RBX_SECRET_TOKEN {} run secret.runbook; echo rbx-exit=$?; sleep 30",
        env!("CARGO_BIN_EXE_rbx")
    );
    let tmux = Tmux::start(dir.path(), &command);
    tmux.wait_for("secret `token` (not shown, not stored):");
    tmux.type_line("hunter2-xyz");
    tmux.wait_for("rbx-exit=0");
    assert!(
        !tmux.screen().contains("hunter2-xyz"),
        "the secret was echoed:\n{}",
        tmux.screen()
    );
    let got = std::fs::read_to_string(dir.path().join("got")).unwrap();
    assert_eq!(got, "hunter2-xyz", "the command got the secret");
    for entry in std::fs::read_dir(dir.path().join(".rbx")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(11).any(|w| w == b"hunter2-xyz"),
            "the secret is in the store"
        );
    }
}

const SIGNOFF: &str = r#"runbook gate "A sign-off at the terminal" {
  role owner "Owner" {
    person "Ada"
  }

  stage s "S" {
    signoff go "GO / NO-GO" {
      by owner
      approvers 2
    }

    end shipped
  }
}
"#;

#[test]
fn at_the_terminal_the_operator_signs_for_themselves_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gate.runbook"), SIGNOFF).unwrap();
    let command = format!(
        "{} run gate.runbook --operator grace; echo rbx-exit=$?; sleep 30",
        env!("CARGO_BIN_EXE_rbx")
    );
    let tmux = Tmux::start(dir.path(), &command);
    // rbx asks for grace's own decision, never for a name.
    tmux.wait_for("owner: your decision as grace: GO, NO-GO, or empty to leave it to others:");
    tmux.type_line("GO");
    tmux.wait_for("comment (optional):");
    tmux.type_line("");
    tmux.wait_for("s.go waits for more sign-offs");
    tmux.wait_for("rbx-exit=3");
    assert!(!tmux.screen().contains("your name"), "{}", tmux.screen());

    let run = support::rbx(dir.path(), &["runs"])
        .stdout
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap();
    let ada = support::rbx(
        dir.path(),
        &[
            "confirm",
            &run,
            "s.go",
            "--signoff",
            "owner=Ada:GO",
            "--operator",
            "Ada",
        ],
    );
    assert_eq!(ada.status, 0, "{}", ada.transcript());
    let done = support::rbx(dir.path(), &["resume", &run, "--non-interactive"]);
    assert_eq!(done.status, 0, "{}", done.transcript());
    let log = support::rbx(dir.path(), &["log", &run, "s.go"]);
    assert!(
        log.stdout.contains("signoff_recorded"),
        "{}",
        log.transcript()
    );
    assert!(
        log.stdout.contains(r#""by":"grace""#),
        "{}",
        log.transcript()
    );
    assert!(log.stdout.contains(r#""by":"Ada""#), "{}", log.transcript());
}

/// An attestation takes `y`, `yes`, `n`, `no` in any case, asks again for
/// anything else, and a sign-off asks for GO or NO-GO until it gets one;
/// when the input ends at a prompt, nothing half-given is recorded and the
/// run pauses.
#[test]
fn yes_no_and_go_no_go_are_read_as_meant_and_the_end_of_input_pauses() {
    const GATED: &str = r#"runbook gated "Gates at the terminal" {
  role owner "Owner" {
    person "Ada"
  }

  outcome shipped "shipped" success
  outcome held "held" failure

  stage s "S" {
    on failure -> end held

    gate ready "Ready?" {
      attest owner "the change window is open"
    }

    signoff go "GO for the release" {
      by owner
    }

    manual last "Last look" {
      evidence note "Note": text
    }

    end shipped
  }
}
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gated.runbook"), GATED).unwrap();
    let command = format!(
        "{} run gated.runbook --operator grace; echo rbx-exit=$?; sleep 30",
        env!("CARGO_BIN_EXE_rbx")
    );
    let tmux = Tmux::start(dir.path(), &command);
    tmux.wait_for("confirms: the change window is open [yes/no]:");
    tmux.type_line("yep");
    tmux.wait_for("`yep`: answer yes or no");
    tmux.type_line("Y");
    tmux.wait_for("GO, NO-GO, or empty to leave it to others:");
    tmux.type_line("maybe");
    tmux.wait_for("`maybe`: answer GO or NO-GO");
    tmux.type_line("go");
    tmux.wait_for("comment (optional):");
    tmux.type_line("");
    tmux.wait_for("Note (empty line: open $EDITOR):");
    tmux.end_input();
    tmux.wait_for("rbx-exit=3");
    let log = support::rbx(dir.path(), &["log", "--format", "json"]);
    let log: serde_json::Value = serde_json::from_str(log.stdout.trim()).expect("JSON");
    let finished = |node: &str| {
        log["events"]
            .as_array()
            .expect("events")
            .iter()
            .find(|e| e["kind"] == "node_finished" && e["node"] == node)
            .cloned()
    };
    let ready = finished("s.ready").expect("the gate settled");
    assert_eq!(ready["payload"]["attest"], true, "`Y` is yes");
    let go = finished("s.go").expect("the sign-off settled");
    assert_eq!(go["payload"]["signoffs"][0]["decision"], "GO", "`go` is GO");
    assert_eq!(finished("s.last"), None, "nothing was made up for the note");
    let status = support::rbx(dir.path(), &["status", "--format", "json"]);
    assert!(
        status.stdout.contains(r#""waiting_for":["s.last"]"#),
        "{}",
        status.stdout
    );
}

/// Every kind of question, the first two inside a loop: Ctrl-C at any of
/// them, with an answer half typed, stops the run as an interruption (exit
/// status 130) and records nothing of that answer: the run is left
/// interrupted, for `rbx resume`.
const EVERY_QUESTION: &str = r#"runbook asks "Every kind of question" {
  input hosts "Hosts": list(string) = ["web-1", "web-2"]
  role owner "Owner" {
    person "Ada"
  }

  outcome shipped "shipped" success
  outcome held "held" failure

  stage s "S" {
    foreach host in hosts {
      manual look "Look at {{ host }}" {
        evidence dash "Dashboard link": url
      }
    }

    gate ready "Ready?" {
      attest owner "the change window is open"
    }

    choose route "What now?" {
      option ship "Ship it" -> s2
      option hold "Hold" -> end held
    }
  }

  stage s2 "S2" {
    signoff go "GO for the release" {
      by owner
    }

    step drop "Drop the old table" {
      irreversible "the data is gone"
      run "touch dropped"
    }

    end shipped
  }
}
"#;

#[test]
fn ctrl_c_at_any_question_interrupts_the_run_and_records_nothing_of_it() {
    // Each question's prompt, and the answer that gets past it.
    let questions: [(&str, &str, &str); 6] = [
        (
            "Dashboard link (URL):",
            "https://grafana.example.com/a",
            "s.look",
        ),
        (
            "Dashboard link (URL):",
            "https://grafana.example.com/b",
            "s.look",
        ),
        ("[yes/no]:", "yes", "s.ready"),
        ("your choice [ship/hold]:", "ship", "s.route"),
        ("GO, NO-GO, or empty to leave it to others:", "GO", "s2.go"),
        ("type `drop` to go on:", "drop", "s2.drop"),
    ];
    for stop_at in 0..questions.len() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("asks.runbook"), EVERY_QUESTION).unwrap();
        let command = format!(
            "{} run asks.runbook --operator grace; echo rbx-exit=$?; sleep 30",
            env!("CARGO_BIN_EXE_rbx")
        );
        let tmux = Tmux::start(dir.path(), &command);
        // How often each question was asked so far.
        let nth = |at: usize| {
            1 + questions[..at]
                .iter()
                .filter(|(p, _, _)| *p == questions[at].0)
                .count()
        };
        for (at, (prompt, answer, _)) in questions[..stop_at].iter().enumerate() {
            tmux.wait_for_nth_prompt(prompt, nth(at));
            tmux.type_line(answer);
            if *prompt == "your choice [ship/hold]:" {
                tmux.wait_for_prompt("why (recorded with the choice):");
                tmux.type_line("all green");
            }
            if prompt.starts_with("GO, NO-GO") {
                tmux.wait_for_prompt("comment (optional):");
                tmux.type_line("");
            }
        }
        let (prompt, half, node) = questions[stop_at];
        tmux.wait_for_nth_prompt(prompt, nth(stop_at));
        tmux.type_text(&half[..half.len() / 2 + 1]);
        tmux.interrupt();
        tmux.wait_for("rbx-exit=130");
        assert!(!dir.path().join("dropped").exists(), "{}", tmux.screen());
        let log = support::rbx(dir.path(), &["log", "--format", "json"]);
        let log: serde_json::Value = serde_json::from_str(log.stdout.trim()).expect("JSON");
        let events = log["events"].as_array().expect("events");
        let settled: Vec<&str> = events
            .iter()
            .filter(|e| {
                ["node_finished", "signoff_recorded", "confirmed"]
                    .contains(&e["kind"].as_str().unwrap_or(""))
            })
            .filter_map(|e| e["node"].as_str())
            .collect();
        let answered = settled.iter().filter(|n| n.starts_with(node)).count();
        let expected = questions[..stop_at]
            .iter()
            .filter(|(_, _, n)| *n == node)
            .count();
        assert_eq!(answered, expected, "question {stop_at}: {settled:?}");
        assert_eq!(
            events.last().map(|e| e["kind"].clone()),
            Some(serde_json::json!("run_interrupted")),
            "question {stop_at}"
        );
        let status = support::rbx(dir.path(), &["status", "--format", "json"]);
        assert!(
            status.stdout.contains(r#""status":"interrupted""#),
            "{}",
            status.stdout
        );
    }
}
