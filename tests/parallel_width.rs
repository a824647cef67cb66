//! `parallel EXPR` through the real `rbx` binary: how many items of a
//! `foreach` or branches of a `parallel` block run at once comes from an
//! input, is never exceeded, is reached (steps that wait for each other
//! through files, never through time), and a value that is not a number
//! of places refuses the run before anything is recorded.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use support::Output;

/// `rbx` in `dir`, its store there whatever the environment says.
fn rbx(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_rbx"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("RBX_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("rbx runs");
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A command that marks itself running, records how many are running,
/// waits until `barrier` have started (or 20 s, which fails it), and
/// unmarks itself.
fn command(name: &str, barrier: usize) -> String {
    format!(
        r#""""
          mkdir -p running started
          touch running/{name} started/{name}
          ls running | wc -l >> counts.log
          n=0
          while [ "$(ls started | wc -l)" -lt {barrier} ]; do
            n=$((n + 1)); [ $n -gt 200 ] && exit 1
            sleep 0.1
          done
          rm running/{name}
          """"#
    )
}

/// A loop over `items` hosts (or a block of `items` branches) with
/// `parallel width * 1`, its steps waiting until `barrier` have started.
fn runbook(block: bool, items: usize, barrier: usize) -> String {
    let hosts: Vec<String> = (0..items).map(|i| format!("\"h{i}\"")).collect();
    let body = if block {
        let branches: Vec<String> = (0..items)
            .map(|i| {
                format!(
                    "      step b{i} \"B{i}\" {{\n        run {}\n        timeout 1m\n      }}",
                    command(&format!("b{i}"), barrier)
                )
            })
            .collect();
        format!("    parallel width * 1 {{\n{}\n    }}", branches.join("\n"))
    } else {
        format!(
            "    foreach h in hosts parallel width * 1 {{\n      step each \"Each {{{{ h }}}}\" {{\n        run {}\n        timeout 1m\n      }}\n    }}",
            command("{{ h }}", barrier)
        )
    };
    format!(
        "runbook w \"Width\" {{\n  input hosts: list(string) = [{}]\n  input width: int = 1\n  stage s \"S\" {{\n{body}\n    end done\n  }}\n}}\n",
        hosts.join(", ")
    )
}

/// The most that were running at once, as the steps counted.
fn most(dir: &Path) -> usize {
    fs::read_to_string(dir.join("counts.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

/// R4 with `parallel EXPR`: `width` at once — the steps wait for each
/// other until that many have started, which fewer places would never let
/// happen — and never more, as each step counts the ones running when it
/// starts; for every width up to the number of items, in a loop and in a
/// block.
#[test]
fn the_width_an_input_gives_is_reached_and_never_exceeded() {
    let items = 3;
    for block in [false, true] {
        for width in 1..=items {
            let shape = format!("block {block}, width {width}");
            // Every item waits until `width` have started: reachable only
            // if `width` run at once.
            let dir = tempfile::tempdir().expect("a temporary directory");
            let text = runbook(block, items, width);
            fs::write(dir.path().join("w.runbook"), &text).expect("write");
            let lint = support::rbx(dir.path(), &["lint", "w.runbook"]);
            assert_eq!(lint.status, 0, "{shape}\n{}\n{text}", lint.transcript());
            let set = format!("width={width}");
            let run = rbx(dir.path(), &["run", "w.runbook", "--set", &set]);
            // Each step waited until `width` had started: the run got
            // there only with `width` running at once.
            assert_eq!(run.status, 0, "{shape}\n{}\n{text}", run.transcript());
            let most = most(dir.path());
            assert!((1..=width).contains(&most), "{shape}: {most} at once");
        }
    }
}

/// A width that is not a number of places refuses the run, saying which
/// and why, and records no run at all.
#[test]
fn a_width_below_one_refuses_the_run_before_anything_runs() {
    for block in [false, true] {
        for width in ["0", "-2"] {
            let dir = tempfile::tempdir().expect("a temporary directory");
            fs::write(dir.path().join("w.runbook"), runbook(block, 2, 1)).expect("write");
            let set = format!("width={width}");
            let run = rbx(dir.path(), &["run", "w.runbook", "--set", &set]);
            assert_eq!(run.status, 2, "{}", run.transcript());
            assert!(
                run.stderr.contains(&format!(
                    "`parallel width * 1` is {width}: it needs 1 or more places"
                )),
                "{}",
                run.transcript()
            );
            assert!(!dir.path().join("counts.log").exists(), "a step ran");
            let runs = rbx(dir.path(), &["runs"]);
            assert!(
                !runs.stdout.contains(" w"),
                "a run was recorded: {}",
                runs.stdout
            );
        }
    }
}
