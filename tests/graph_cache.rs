//! The cache of checked procedures (`rbx_engine::graph_cache`) makes a
//! resume faster, never different: whatever the cache holds — the entry
//! the run's start kept, nothing, a damaged or cut-short entry, another
//! snapshot's entry put in its place, entries under a key that changed —
//! the resumed run runs the same commands, ends the same way and leaves a
//! journal that verifies, as a resume with no cache at all does.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::bench::Bench;

/// Three steps; the second fails until `go` exists. `second` is what it
/// runs, so a procedure believed from the wrong entry would show.
fn runbook(second: &str) -> String {
    let step = |id: &str, run: &str| {
        format!("    step {id} \"{id}\" {{\n      run \"{run}\"\n      idempotent\n    }}\n\n")
    };
    format!(
        "runbook demo \"Cache\" {{\n  stage s \"S\" {{\n{}{}{}    end done\n  }}\n}}\n",
        step("one", "echo one >> ran.log"),
        step("two", second),
        step("three", "echo three >> ran.log"),
    )
}

const SECOND: &str = "test -f go && echo two >> ran.log";

/// The entries in a cache directory.
fn entries(cache: &Path) -> Vec<PathBuf> {
    fs::read_dir(cache.join("procedures"))
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// What a resume did: its status, the commands its run ran, in order, the
/// journal's kinds and nodes from the resume on, and whether the record
/// verifies.
#[derive(Debug, PartialEq)]
struct Resumed {
    status: i32,
    ran: Vec<String>,
    journal: Vec<(String, String)>,
    verified: bool,
}

/// A change to the cache: given its directory, the run's entry, and an
/// entry of another snapshot in the same cache.
type Tamper = fn(&Path, &Path, &Path);

/// Runs the runbook until its second step fails, lets `tamper` change
/// the cache, and resumes; `None`: with no cache at all.
fn resume_after(cache: Option<Tamper>) -> Resumed {
    let cache_dir = tempfile::tempdir().expect("a cache directory");
    let dir = cache_dir.path().to_str().expect("a UTF-8 path");
    let env: &[(&str, &str)] = match cache {
        Some(_) => &[("RBX_CACHE_DIR", dir)],
        None => &[("RBX_CACHE_DIR", "")],
    };
    // Another snapshot's entry: the same file, whose second step would
    // succeed and say so.
    let other = Bench::new();
    other.write("main.runbook", &runbook("echo forged >> ran.log"));
    assert_eq!(other.rbx(&["run", "main.runbook"], env).status, 0);
    let theirs = entries(cache_dir.path());

    let bench = Bench::new();
    bench.write("main.runbook", &runbook(SECOND));
    let failed = bench.rbx(&["run", "main.runbook"], env);
    assert_eq!(failed.status, 1, "{}", failed.transcript());
    let (_, before) = bench.journal();
    if let Some(tamper) = cache {
        let ours: Vec<PathBuf> = entries(cache_dir.path())
            .into_iter()
            .filter(|e| !theirs.contains(e))
            .collect();
        assert_eq!(
            (ours.len(), theirs.len()),
            (1, 1),
            "each run kept its entry"
        );
        tamper(cache_dir.path(), &ours[0], &theirs[0]);
    } else {
        assert!(entries(cache_dir.path()).is_empty(), "no cache, no entry");
    }
    fs::write(bench.path().join("go"), "").expect("touch go");
    let resumed = bench.rbx(&["resume"], env);
    let (_, after) = bench.journal();
    let verified = bench.rbx(&["verify"], env).status == 0;
    Resumed {
        status: resumed.status,
        ran: bench.ran(),
        journal: after[before.len()..]
            .iter()
            .map(|(kind, node, _)| (kind.clone(), node.clone()))
            .collect(),
        verified,
    }
}

#[test]
fn a_resume_does_the_same_whatever_the_cache_holds() {
    let expected = resume_after(None);
    assert_eq!(expected.status, 0);
    assert_eq!(expected.ran, ["one", "two", "three"]);
    assert!(expected.verified);
    let cases: [(&str, Tamper); 7] = [
        ("the entry the run kept", |_, _, _| {}),
        ("no entry", |_, ours, _| {
            fs::remove_file(ours).expect("remove")
        }),
        ("a damaged entry", |_, ours, _| {
            let mut bytes = fs::read(ours).expect("read");
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x20;
            fs::write(ours, bytes).expect("damage");
        }),
        ("an entry cut short", |_, ours, _| {
            let bytes = fs::read(ours).expect("read");
            fs::write(ours, &bytes[..bytes.len() / 3]).expect("cut");
        }),
        (
            "another snapshot's entry in its place",
            |_, ours, theirs| {
                fs::copy(theirs, ours).expect("move");
            },
        ),
        ("a new key", |cache, _, _| {
            fs::write(cache.join("key"), [9; 32]).expect("rekey");
        }),
        ("a key that is no key", |cache, _, _| {
            fs::write(cache.join("key"), "").expect("break the key");
        }),
    ];
    for (what, tamper) in cases {
        assert_eq!(resume_after(Some(tamper)), expected, "{what}");
    }
}

/// A child runbook, a fragment in a directory of its own, and a runbook
/// that uses both with a role, a link, a loop, a parallel block and a
/// repeat: its first step fails until `go` exists.
const DEPLOY: &str = r#"runbook deploy "Deploy one region" {
  input region "Where": string

  stage roll "Roll out" {
    step push "Push" {
      run "echo push {{ region }}"
    }

    end done
  }
}
"#;

const FRAGMENT: &str = r#"stage later "Later" {
  repeat at most 3 until probe.status == succeeded {
    step probe "Probe" {
      run "true"
    }
  }

  end done
}
"#;

const SHAPES: &str = r#"runbook shapes "Every shape a start keeps" {
  role owner "Owner"
  link board "Board"
  input hosts: list(string) = ["a", "b"]

  include "parts/later.runbook"

  stage s "S" {
    step first "First" {
      owner owner
      run "test -f go"
    }

    foreach host in hosts parallel 2 {
      step each "Each {{ host }}" {
        run "echo {{ host }}"
      }
    }

    parallel {
      child eu "Deploy" {
        runbook "deploy.runbook"
        input region = "eu"
      }

      step beside "Beside" {
        run "true"
      }
    }

    then later
  }
}
"#;

/// The entry a run's start keeps is the one its snapshot checks to, byte
/// for byte: a resume that finds no entry checks the snapshot and writes
/// what the start would have. The start encodes the procedure it runs,
/// checked from the files, so this is what makes that procedure and the
/// snapshot's the same — with a fill file, roles given on the command
/// line, a project's lint levels, an included fragment in a directory, a
/// child runbook, and the entry named in several ways.
#[test]
fn the_entry_a_start_keeps_is_the_one_its_snapshot_checks_to() {
    let fill =
        "[roles.owner]\nperson = \"Dee\"\n\n[links]\nboard = \"https://example.com/board\"\n";
    let project = "[lint]\nunused_link = \"allow\"\nunused_input = \"deny\"\n";
    let cases: [(&str, &[&str], bool); 5] = [
        ("plain", &["main.runbook", "--role", "owner=Ada"], false),
        (
            "with a fill file",
            &["main.runbook", "--fill", "fill.toml"],
            false,
        ),
        (
            "a fill file and roles on the command line",
            &[
                "./main.runbook",
                "--fill",
                "fill.toml",
                "--role",
                "owner=Ada:@ada",
            ],
            false,
        ),
        (
            "in a project",
            &["main.runbook", "--fill", "fill.toml"],
            true,
        ),
        (
            "named through a directory",
            &["parts/../main.runbook", "--role", "owner=Bo"],
            true,
        ),
    ];
    for (what, args, in_project) in cases {
        let bench = Bench::new();
        fs::create_dir_all(bench.path().join("parts")).expect("a directory");
        bench.write("parts/later.runbook", FRAGMENT);
        bench.write("deploy.runbook", DEPLOY);
        bench.write("fill.toml", fill);
        if in_project {
            bench.write("rbx.toml", project);
        }
        bench.write("main.runbook", SHAPES);
        let kept = bench.path().join("kept");
        let kept_env = [("RBX_CACHE_DIR", kept.to_str().expect("UTF-8"))];
        let run: Vec<&str> = ["run", "--non-interactive"]
            .iter()
            .chain(args)
            .copied()
            .collect();
        let failed = bench.rbx(&run, &kept_env);
        assert_eq!(failed.status, 1, "{what}: {}", failed.transcript());
        let started = entries(&kept);
        assert_eq!(started.len(), 1, "{what}: the start kept its entry");

        // Another cache with the same key and no entry: the resume checks
        // the snapshot and keeps what it checked to.
        let checked = bench.path().join("checked");
        fs::create_dir_all(&checked).expect("a directory");
        fs::copy(kept.join("key"), checked.join("key")).expect("copy the key");
        let checked_env = [("RBX_CACHE_DIR", checked.to_str().expect("UTF-8"))];
        let resumed = bench.rbx(&["resume", "--non-interactive"], &checked_env);
        assert_eq!(resumed.status, 1, "{what}: {}", resumed.transcript());
        let written = entries(&checked);
        assert_eq!(written.len(), 1, "{what}: the resume kept its entry");
        assert_eq!(
            started[0].file_name(),
            written[0].file_name(),
            "{what}: the same name"
        );
        assert!(
            fs::read(&started[0]).expect("read") == fs::read(&written[0]).expect("read"),
            "{what}: the start kept another procedure than its snapshot checks to"
        );
    }
}
