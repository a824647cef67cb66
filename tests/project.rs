//! A project's `rbx.toml`, `.gitignore`-aware walks, suppressions in a
//! run and its resume, standard input for `lint` and `fmt`, and `-q`/`-v`.

mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use support::rbx;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    let parent = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(parent).expect("the temporary directory is writable");
    std::fs::write(path, text).expect("the temporary directory is writable");
}

/// A runbook whose manual step has no evidence: an error that a project
/// may make a warning.
const LOOSE: &str = r#"runbook loose "Loose" {
  outcome done "done" success

  stage s "S" {
    step a "A" {
      run "echo a > a.txt"
    }

    manual look "Look at it" {
      instructions "look"
    }

    step b "B" {
      run "echo b > b.txt"
    }

    end done
  }
}
"#;

const BROKEN: &str = "runbook broken \"Broken\" {\n  stage s \"S\" {\n    stepp x\n  }\n}\n";

/// Runs `rbx` in `dir` with `input` on standard input.
fn rbx_stdin(dir: &Path, args: &[&str], input: &str) -> support::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbx"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rbx starts");
    child
        .stdin
        .take()
        .expect("standard input is piped")
        .write_all(input.as_bytes())
        .expect("rbx reads its input");
    let output = child.wait_with_output().expect("rbx ends");
    support::Output {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn walks_skip_what_gitignore_and_the_project_exclude_from_any_subdirectory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "rbx.toml",
        "exclude = [\"fixtures/\", \"*.draft.runbook\"]\n",
    );
    write(root, ".gitignore", "generated/\n");
    write(
        root,
        "ok.runbook",
        &LOOSE.replace("instructions \"look\"", "evidence seen \"Seen\": text"),
    );
    for bad in [
        "fixtures/bad.runbook",
        "nested/fixtures/bad.runbook",
        "generated/bad.runbook",
        "nested/x.draft.runbook",
        ".hidden/bad.runbook",
    ] {
        write(root, bad, BROKEN);
    }
    let out = rbx(root, &["lint", "."]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let out = rbx(&root.join("nested"), &["-v", "lint", "."]);
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert!(
        out.stderr
            .contains("a directory with no `.runbook` file under it, or only ignored ones"),
        "{}",
        out.transcript()
    );
    // A file named on the command line is read whatever the patterns say.
    let out = rbx(root, &["lint", "fixtures/bad.runbook"]);
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert!(out.stderr.contains("stepp"), "{}", out.transcript());
}

#[test]
fn a_broken_configuration_is_reported_where_it_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rbx.toml",
        "[lint]\nunused_captures = \"allow\"\n",
    );
    write(dir.path(), "sub/ok.runbook", LOOSE);
    let out = rbx(&dir.path().join("sub"), &["lint", "ok.runbook"]);
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert!(out.stderr.contains("rbx.toml:2:1"), "{}", out.transcript());
    assert!(
        out.stderr.contains("did you mean `unused_capture`"),
        "{}",
        out.transcript()
    );
    // Commands that only open the store need only its `store` setting,
    // and say the file has a mistake.
    let out = rbx(&dir.path().join("sub"), &["runs"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(out.stderr.contains("has a mistake"), "{}", out.transcript());
    // A file that is not TOML cannot say which store: they stop.
    write(dir.path(), "rbx.toml", "store = \"team\"\n[lint\n");
    let out = rbx(&dir.path().join("sub"), &["runs"]);
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert!(
        out.stderr.contains("the store it names is unknown"),
        "{}",
        out.transcript()
    );
}

/// A level set by the project holds for `lint`, for `run`, and for the
/// resumed run, which is checked from its snapshot with the
/// configuration it started under even after `rbx.toml` is gone.
#[test]
fn a_project_level_holds_for_lint_run_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "loose.runbook", LOOSE);
    let out = rbx(root, &["lint", "loose.runbook"]);
    assert_eq!(out.status, 2, "without the project: {}", out.transcript());
    let out = rbx(root, &["run", "loose.runbook", "--non-interactive"]);
    assert_eq!(out.status, 2, "{}", out.transcript());

    write(
        root,
        "rbx.toml",
        "[lint]\nmanual_without_evidence = \"warn\"\n",
    );
    let out = rbx(root, &["lint", "loose.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(
        out.stderr.contains("0 error(s), 1 warning(s)"),
        "{}",
        out.transcript()
    );
    let out = rbx(root, &["run", "loose.runbook", "--non-interactive"]);
    assert_eq!(out.status, 3, "paused for the person: {}", out.transcript());
    std::fs::remove_file(root.join("rbx.toml")).unwrap();
    let confirmed = rbx(root, &["confirm", "s.look"]);
    assert_eq!(confirmed.status, 0, "{}", confirmed.transcript());
    let out = rbx(root, &["resume", "--non-interactive"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(root.join("b.txt").exists());
}

#[test]
fn a_suppression_in_the_runbook_lets_it_run_and_an_idle_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let allowed = LOOSE.replace(
        "    manual look",
        "    # rbx: allow(manual_without_evidence) the person only looks; nothing to keep\n    manual look",
    );
    write(root, "allowed.runbook", &allowed);
    let out = rbx(root, &["lint", "allowed.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(out.stderr, "", "nothing to say");
    let out = rbx(root, &["run", "allowed.runbook", "--non-interactive"]);
    assert_eq!(out.status, 3, "{}", out.transcript());

    let idle = allowed.replace(
        "    step b",
        "    # rbx: allow(unused_capture) nothing here\n    step b",
    );
    write(root, "idle.runbook", &idle);
    let out = rbx(root, &["lint", "--format", "json", "idle.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let codes: Vec<&str> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["rbx::lint::unused_suppression"], "{}", out.stdout);
}

#[test]
fn lint_and_fmt_read_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "shared/roles.runbook",
        "role owner \"Owner\" {\n  person \"Ada\"\n}\n",
    );
    let entry = "runbook r \"R\" {\n  include \"roles.runbook\"\n  outcome done \"d\" success\n  \
                 stage s \"S\" {\n    step a \"A\" { run \"true\" }\n    end done\n  }\n}\n";
    // Named, its includes are found beside the name.
    let out = rbx_stdin(
        root,
        &["lint", "--stdin-filename", "shared/entry.runbook", "-"],
        entry,
    );
    assert_eq!(out.status, 0, "{}", out.transcript());
    // Unnamed, it is `<stdin>` in the current directory.
    let out = rbx_stdin(root, &["lint", "-"], entry);
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert!(out.stderr.contains("<stdin>"), "{}", out.transcript());
    assert!(out.stderr.contains("roles.runbook"), "{}", out.transcript());

    let out = rbx_stdin(root, &["fmt", "-"], entry);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(
        out.stdout
            .contains("  stage s \"S\" {\n    step a \"A\" {\n"),
        "{}",
        out.stdout
    );
    let again = rbx_stdin(root, &["fmt", "-"], &out.stdout);
    assert_eq!(again.stdout, out.stdout, "formatting is stable");
    let check = rbx_stdin(root, &["fmt", "--check", "-"], entry);
    assert_eq!(check.status, 1, "{}", check.transcript());
    assert!(
        check.stdout.contains("<stdin> (formatted)"),
        "{}",
        check.stdout
    );
    let check = rbx_stdin(root, &["fmt", "--check", "-"], &out.stdout);
    assert_eq!(check.status, 0, "{}", check.transcript());
    let broken = rbx_stdin(root, &["fmt", "-"], BROKEN);
    assert_eq!(broken.status, 2, "{}", broken.transcript());
    assert_eq!(broken.stdout, "", "nothing half-formatted is written");
    let twice = rbx_stdin(root, &["lint", "-", "-"], entry);
    assert_eq!(twice.status, 2, "{}", twice.transcript());
    assert!(twice.stderr.contains("only once"), "{}", twice.transcript());
}

#[test]
fn a_fragment_linted_alone_says_its_references_were_not_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "frag.runbook",
        "stage t \"T\" {\n  step a \"A\" { run \"echo {{ nosuch }}\" }\n  end done\n}\n",
    );
    let out = rbx(root, &["lint", "frag.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(
        out.stderr
            .contains("only its syntax was checked, not its references"),
        "{}",
        out.transcript()
    );
    let out = rbx(root, &["lint", "--deny", "warnings", "frag.runbook"]);
    assert_eq!(out.status, 2, "{}", out.transcript());
}

#[test]
fn quiet_says_only_what_matters_and_verbose_says_more() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ok = LOOSE.replace("instructions \"look\"", "evidence seen \"Seen\": text");
    write(root, "ok.runbook", &ok);
    let out = rbx(root, &["-v", "lint", "ok.runbook"]);
    assert_eq!(out.status, 0);
    assert!(out.stderr.contains("checking ok.runbook"), "{}", out.stderr);
    assert!(
        out.stderr.contains("1 file(s) checked: 0 error(s)"),
        "{}",
        out.stderr
    );
    write(root, "messy.runbook", &ok.replace("  stage s", "stage s"));
    let out = rbx(root, &["fmt", "-q", "messy.runbook"]);
    assert_eq!((out.status, out.stderr.as_str()), (0, ""));
    let out = rbx(root, &["run", "-q", "ok.runbook", "--non-interactive"]);
    assert_eq!(out.status, 3, "{}", out.transcript());
    assert!(
        !out.stderr.contains("▶"),
        "no progress lines: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("s.look needs a person"),
        "{}",
        out.stderr
    );
    assert!(root.join("a.txt").exists());
}

/// `rbx plan --fill` checks the plan as the run will be checked; the
/// project's `fill` is the default.
#[test]
fn plan_takes_the_fill_file_or_the_projects() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "r.runbook",
        "runbook r \"R\" {\n  role owner \"Owner\" {\n    person \"_TBD_\"\n  }\n  require role owner\n  \
         outcome done \"d\" success\n  stage s \"S\" {\n    step a \"A\" { run \"true\" }\n    end done\n  }\n}\n",
    );
    write(root, "fills/prod.toml", "[roles.owner]\nperson = \"Ada\"\n");
    let unfilled = rbx(root, &["plan", "r.runbook"]);
    assert_eq!(unfilled.status, 0, "{}", unfilled.transcript());
    assert!(
        unfilled.stderr.contains("1 thing(s) to fill in"),
        "{}",
        unfilled.transcript()
    );
    let filled = rbx(root, &["plan", "--fill", "fills/prod.toml", "r.runbook"]);
    assert_eq!(
        (filled.status, filled.stderr.as_str()),
        (0, ""),
        "{}",
        filled.transcript()
    );
    write(root, "rbx.toml", "fill = \"fills/prod.toml\"\n");
    let by_default = rbx(root, &["plan", "r.runbook"]);
    assert_eq!(by_default.stderr, "", "{}", by_default.transcript());
    assert_eq!(by_default.stdout, filled.stdout);
}

/// The project's fill file stays inside the project, links followed: a
/// repository's `rbx.toml` cannot make CI read a file elsewhere.
#[test]
fn the_projects_fill_cannot_lead_outside_it() {
    let outside = tempfile::tempdir().unwrap();
    write(
        outside.path(),
        "secret.toml",
        "[roles.owner]\nperson = \"s3cr3t-line\"\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "ok.runbook",
        &LOOSE.replace("instructions \"look\"", "evidence seen \"Seen\": text"),
    );
    std::os::unix::fs::symlink(outside.path().join("secret.toml"), root.join("fill.toml")).unwrap();
    for fill in [
        "fill.toml".to_string(),
        outside.path().join("secret.toml").display().to_string(),
    ] {
        write(root, "rbx.toml", &format!("fill = \"{fill}\"\n"));
        let out = rbx(root, &["lint", "ok.runbook"]);
        assert_eq!(out.status, 2, "{}", out.transcript());
        assert!(
            out.stderr.contains("outside the project"),
            "{}",
            out.transcript()
        );
        assert!(!out.stderr.contains("s3cr3t"), "{}", out.transcript());
    }
}
