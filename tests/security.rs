//! What rbx promises when its inputs are hostile or its record is copied,
//! edited or shared, through the real binary: includes stay inside the
//! project and never show a refused file's content, placeholders in fills
//! are caught, a sign-off is bound to the operator who gives it, and the
//! store is private and self-contained, with its outputs covered by the
//! hash chain.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of `rbx` did.
#[derive(Debug)]
struct Output {
    status: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    /// Status, stdout and stderr together, for a failing assertion.
    fn transcript(&self) -> String {
        format!(
            "status: {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Longer than any of these commands takes, short enough that a hang (on a
/// FIFO, on `/dev/zero`) fails the test instead of stalling the suite.
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs `rbx` in `dir` with stdin closed, killing it and failing the test if
/// it has not finished within [`PATIENCE`].
fn rbx(dir: &Path, args: &[&str]) -> Output {
    rbx_env(dir, args, &[])
}

fn rbx_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbx"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("RBX_OPERATOR")
        .env_remove("RBX_STATE_DIR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rbx binary runs");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    // Read both pipes on threads, so a chatty rbx cannot block on a full
    // pipe while the test waits for it to exit.
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("rbx can be waited for") {
            break status;
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`rbx {}` did not finish within {PATIENCE:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    Output {
        status: status.code().unwrap_or(-1),
        stdout: text(out.join().expect("stdout is read")),
        stderr: text(err.join().expect("stderr is read")),
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("the directory is created");
    }
    fs::write(path, text).expect("the temporary directory is writable");
}

/// An entry runbook that includes `path`.
fn including(path: &str) -> String {
    format!(
        "runbook demo \"Demo\" {{\n  include \"{path}\"\n\n  stage only \"Only stage\" {{\n    end done\n  }}\n}}\n"
    )
}

/// What a file outside the project holds: it must never be printed.
const SECRET_LINE: &str = "stage leaked \"TOP-SECRET-CONTENT\" { end ok }\n";

/// Asserts `out` failed with `code` and shows nothing of a refused file.
fn refused(out: &Output, code: &str) {
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert!(
        out.stderr.contains(code),
        "expected {code}:\n{}",
        out.transcript()
    );
    for leaked in ["TOP-SECRET-CONTENT", "root:", "PATH="] {
        assert!(
            !out.stdout.contains(leaked) && !out.stderr.contains(leaked),
            "`{leaked}` was printed:\n{}",
            out.transcript()
        );
    }
}

/// A project directory inside a temporary directory, with a file beside it
/// (outside the project) that holds [`SECRET_LINE`].
fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().join("project");
    fs::create_dir(&root).expect("the project directory is created");
    write(tmp.path(), "outside.runbook", SECRET_LINE);
    (tmp, root)
}

#[test]
fn an_absolute_include_is_refused_at_its_line_and_nothing_is_read() {
    let (_tmp, root) = project();
    for path in ["/etc/passwd", "/proc/self/environ", "/dev/zero"] {
        write(&root, "demo.runbook", &including(path));
        let out = rbx(&root, &["lint", "demo.runbook"]);
        refused(&out, "rbx::load::absolute_include");
        assert!(out.stderr.contains("demo.runbook:2:11"), "{}", out.stderr);
    }
}

#[test]
fn an_include_climbing_out_of_the_project_is_refused() {
    let (_tmp, root) = project();
    write(&root, "demo.runbook", &including("../outside.runbook"));
    refused(
        &rbx(&root, &["lint", "demo.runbook"]),
        "rbx::load::outside_root",
    );
    // From a fragment in a subdirectory, `..` back into the project is
    // fine, one more is not.
    write(&root, "demo.runbook", &including("stages/smoke.runbook"));
    write(
        &root,
        "stages/smoke.runbook",
        "include \"../../outside.runbook\"\n",
    );
    refused(
        &rbx(&root, &["lint", "demo.runbook"]),
        "rbx::load::outside_root",
    );
    // Named from the directory above, the entry's directory is still the
    // project, not the current directory.
    let parent = root.parent().expect("the project has a parent");
    refused(
        &rbx(parent, &["lint", "project/demo.runbook"]),
        "rbx::load::outside_root",
    );
}

#[test]
fn a_symbolic_link_leading_out_of_the_project_is_refused() {
    let (tmp, root) = project();
    std::os::unix::fs::symlink(
        tmp.path().join("outside.runbook"),
        root.join("link.runbook"),
    )
    .expect("a symbolic link");
    write(&root, "demo.runbook", &including("link.runbook"));
    refused(
        &rbx(&root, &["lint", "demo.runbook"]),
        "rbx::load::outside_root",
    );
    // A directory linked from outside is no way round it either.
    std::os::unix::fs::symlink(tmp.path(), root.join("up")).expect("a symbolic link");
    write(&root, "demo.runbook", &including("up/outside.runbook"));
    refused(
        &rbx(&root, &["lint", "demo.runbook"]),
        "rbx::load::outside_root",
    );
}

#[test]
fn includes_inside_the_project_still_work_through_dots_and_links() {
    let (_tmp, root) = project();
    write(
        &root,
        "shared/smoke.runbook",
        "stage smoke \"Smoke\" {\n  end ok\n}\n",
    );
    write(
        &root,
        "stages/x.runbook",
        "include \"../shared/smoke.runbook\"\n",
    );
    std::os::unix::fs::symlink("shared", root.join("linked")).expect("a symbolic link");
    for path in ["stages/x.runbook", "linked/smoke.runbook"] {
        write(&root, "demo.runbook", &including(path));
        let out = rbx(&root, &["lint", "demo.runbook"]);
        assert!(
            !out.stderr.contains("rbx::load"),
            "{path}: {}",
            out.transcript()
        );
    }
}

#[test]
fn dev_zero_is_refused_as_an_argument_without_being_read() {
    let (_tmp, root) = project();
    for args in [
        &["lint", "/dev/zero"][..],
        &["fmt", "--check", "/dev/zero"],
        &["run", "/dev/zero"],
        &["plan", "/dev/zero"],
        &["graph", "/dev/zero"],
    ] {
        let out = rbx(&root, args);
        refused(&out, "rbx::load::not_a_file");
        assert!(out.stderr.contains("character device"), "{}", out.stderr);
    }
    write(&root, "demo.runbook", &including("stages/s.runbook"));
    let out = rbx(&root, &["run", "demo.runbook", "--fill", "/dev/zero"]);
    refused(&out, "rbx::load::not_a_file");
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let (_tmp, root) = project();
    let made = Command::new("mkfifo")
        .arg(root.join("pipe.runbook"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    write(&root, "demo.runbook", &including("pipe.runbook"));
    let out = rbx(&root, &["lint", "demo.runbook"]);
    refused(&out, "rbx::load::not_a_file");
    assert!(out.stderr.contains("FIFO"), "{}", out.stderr);
    for args in [
        &["lint", "pipe.runbook"][..],
        &["fmt", "pipe.runbook"],
        &["run", "pipe.runbook"],
    ] {
        refused(&rbx(&root, args), "rbx::load::not_a_file");
    }
}

#[test]
fn a_directory_is_refused_as_an_include() {
    let (_tmp, root) = project();
    fs::create_dir(root.join("stages.runbook")).expect("a directory");
    write(&root, "demo.runbook", &including("stages.runbook"));
    let out = rbx(&root, &["lint", "demo.runbook"]);
    refused(&out, "rbx::load::not_a_file");
    assert!(out.stderr.contains("a directory"), "{}", out.stderr);
}

#[test]
fn an_oversized_file_is_refused_whole() {
    let (_tmp, root) = project();
    // One byte over the limit: a broken first line, which a parse would
    // quote, then comments.
    let limit = 4 * 1024 * 1024;
    let mut big = "stage leaked \"TOP-SECRET-CONTENT\" { bogus }\n".to_string();
    while big.len() <= limit {
        big.push_str("# padding to make the file large enough to be refused\n");
    }
    big.truncate(limit + 1);
    write(&root, "big.runbook", &big);
    write(&root, "demo.runbook", &including("big.runbook"));
    refused(
        &rbx(&root, &["lint", "demo.runbook"]),
        "rbx::load::too_large",
    );
    refused(
        &rbx(&root, &["lint", "big.runbook"]),
        "rbx::load::too_large",
    );
    refused(
        &rbx(&root, &["fmt", "--check", "big.runbook"]),
        "rbx::load::too_large",
    );
    // At the limit, the file is read (and its broken line reported).
    big.truncate(limit);
    write(&root, "big.runbook", &big);
    let out = rbx(&root, &["lint", "big.runbook"]);
    assert!(
        out.stderr.contains("rbx::syntax::unknown_statement"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_new_store_is_private() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    write(
        tmp.path(),
        "demo.runbook",
        "runbook demo \"Demo\" {\n  stage only \"Only\" {\n    step hello \"Hello\" {\n      run \"echo hello\"\n    }\n\n    end done\n  }\n}\n",
    );
    let out = rbx(tmp.path(), &["run", "demo.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let mode = |name: &str| {
        fs::metadata(tmp.path().join(name))
            .expect("the store's file exists")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(".rbx"), 0o700);
    assert_eq!(mode(".rbx/rbx.db"), 0o600);
}

const OWNED: &str = r#"runbook owned "Owned" {
  role owner "Owner" {
    person "_TBD_"
  }

  link ci "CI run" = "_TBD_"
  require role owner

  stage only "Only stage" {
    step hello "Hello" {
      run "echo hello"
    }

    end done
  }
}
"#;

/// Asserts that nothing was recorded: no store, or one with no run.
fn nothing_recorded(dir: &Path) {
    if dir.join(".rbx").exists() {
        let runs = rbx(dir, &["runs"]);
        assert!(runs.stdout.starts_with("no runs"), "{}", runs.transcript());
    }
}

#[test]
fn a_placeholder_in_a_fill_file_is_reported_by_lint_and_refused_by_run() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path();
    write(dir, "owned.runbook", OWNED);
    write(
        dir,
        "fill.toml",
        "[roles.owner]\nperson = \"_TBD_\"\ncontact = \"\"\n\n[links]\nci = \"https://ci.example.com/1\"\n",
    );
    let lint = rbx(dir, &["lint", "owned.runbook", "--fill", "fill.toml"]);
    assert_eq!(lint.status, 2, "{}", lint.transcript());
    for expected in [
        "rbx::lint::placeholder",
        "`roles.owner.person` in the fill file `fill.toml` is still the placeholder `_TBD_`",
        "`roles.owner.contact` in the fill file `fill.toml` is empty",
        "fill.toml:2:10",
    ] {
        assert!(
            lint.stderr.contains(expected),
            "{expected}:\n{}",
            lint.transcript()
        );
    }
    let run = rbx(dir, &["run", "owned.runbook", "--fill", "fill.toml"]);
    assert_eq!(run.status, 2, "{}", run.transcript());
    assert!(
        run.stderr.contains("rbx::lint::placeholder"),
        "{}",
        run.transcript()
    );
    nothing_recorded(dir);

    // Filled for real, the same runbook lints clean and runs.
    write(
        dir,
        "fill.toml",
        "[roles.owner]\nperson = \"Ada\"\n\n[links]\nci = \"https://ci.example.com/1\"\n",
    );
    let lint = rbx(dir, &["lint", "owned.runbook", "--fill", "fill.toml"]);
    assert_eq!(lint.status, 0, "{}", lint.transcript());
    let run = rbx(dir, &["run", "owned.runbook", "--fill", "fill.toml"]);
    assert_eq!(run.status, 0, "{}", run.transcript());
}

#[test]
fn a_placeholder_role_flag_is_refused_by_run() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path();
    write(dir, "owned.runbook", OWNED);
    write(
        dir,
        "fill.toml",
        "[links]\nci = \"https://ci.example.com/1\"\n",
    );
    for flag in ["owner=_TBD_", "owner=Ada:_TBD_"] {
        let run = rbx(
            dir,
            &[
                "run",
                "owned.runbook",
                "--fill",
                "fill.toml",
                "--role",
                flag,
            ],
        );
        assert_eq!(run.status, 2, "{}", run.transcript());
        assert!(
            run.stderr.contains("rbx::lint::placeholder"),
            "{}",
            run.transcript()
        );
        assert!(
            run.stderr.contains(&format!("in `--role {flag}`")),
            "{}",
            run.transcript()
        );
        nothing_recorded(dir);
    }
}

const SAYS_HELLO: &str = "runbook demo \"Demo\" {\n  stage only \"Only\" {\n    step hello \"Hello\" {\n      run \"echo hello from the step\"\n    }\n\n    step after \"After\" {\n      run \"echo after\"\n    }\n\n    end done\n  }\n}\n";

/// A finished run of [`SAYS_HELLO`]: its directory and run id.
fn finished_run() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    write(tmp.path(), "demo.runbook", SAYS_HELLO);
    let out = rbx(tmp.path(), &["run", "demo.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let run = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.split_whitespace().next())
        .expect("rbx run names the run")
        .to_string();
    (tmp, run)
}

#[test]
fn rbx_db_alone_holds_a_finished_run() {
    let (tmp, run) = finished_run();
    let copy = tmp.path().join("copy");
    fs::create_dir(&copy).expect("a directory for the copy");
    fs::copy(tmp.path().join(".rbx/rbx.db"), copy.join("rbx.db")).expect("rbx.db copies");
    let original = rbx(tmp.path(), &["verify", &run]);
    let copied = rbx(tmp.path(), &["verify", &run, "--state-dir", "copy"]);
    assert_eq!(copied.status, 0, "{}", copied.transcript());
    assert_eq!(copied.stdout, original.stdout);
}

#[test]
fn an_edited_output_is_a_broken_record() {
    let (tmp, run) = finished_run();
    let intact = rbx(tmp.path(), &["verify", &run]);
    assert_eq!(intact.status, 0, "{}", intact.transcript());
    let conn = rusqlite::Connection::open(tmp.path().join(".rbx/rbx.db")).expect("the store opens");
    let edited = conn
        .execute(
            "UPDATE outputs SET head = CAST('hello from someone else' AS BLOB)
             WHERE node = 'only.hello' AND stream = 'stdout'",
            [],
        )
        .expect("the output row is edited");
    assert_eq!(edited, 1);
    drop(conn);
    let verify = rbx(tmp.path(), &["verify", &run]);
    assert_eq!(verify.status, 1, "{}", verify.transcript());
    assert!(
        verify
            .stderr
            .contains("the stdout of `only.hello` (attempt 1)"),
        "{}",
        verify.transcript()
    );
    let report = rbx(tmp.path(), &["report", &run]);
    assert!(
        report.stdout.contains("BROKEN at event"),
        "{}",
        report.transcript()
    );
    assert!(
        report.stdout.contains("only.hello"),
        "{}",
        report.transcript()
    );
}

#[test]
fn a_journal_cut_short_is_said_so_by_verify_and_resume() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    write(
        tmp.path(),
        "demo.runbook",
        &SAYS_HELLO.replace(
            "    end done",
            "    manual look \"Look\" {\n      evidence seen \"What you saw\": text\n    }\n\n    end done",
        ),
    );
    let paused = rbx(tmp.path(), &["run", "demo.runbook", "--non-interactive"]);
    assert_eq!(paused.status, 3, "{}", paused.transcript());
    let run = paused
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.split_whitespace().next())
        .expect("rbx run names the run")
        .to_string();
    // The last events go, as when the end of the write-ahead log is lost
    // and the run's row is not.
    let conn = rusqlite::Connection::open(tmp.path().join(".rbx/rbx.db")).expect("the store opens");
    conn.execute_batch(
        "DROP TRIGGER events_no_delete;
         DELETE FROM events WHERE seq > (SELECT max(seq) - 2 FROM events);",
    )
    .expect("the journal is cut");
    drop(conn);
    let verify = rbx(tmp.path(), &["verify", &run]);
    assert_eq!(verify.status, 1, "{}", verify.transcript());
    assert!(
        verify.stderr.contains("cut short"),
        "{}",
        verify.transcript()
    );
    let resume = rbx(tmp.path(), &["resume", &run, "--non-interactive"]);
    assert_eq!(resume.status, 2, "{}", resume.transcript());
    assert!(
        resume.stderr.contains("cut short"),
        "{}",
        resume.transcript()
    );
}

/// The name of the OS account the tests run as, as `id -un` prints it.
fn os_account() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8(out.stdout)
        .expect("a user name")
        .trim()
        .to_string()
}

const RELEASE: &str = r#"runbook release "Release" {
  role owner "Owner" {
    person "Ada"
  }

  stage s "S" {
    signoff go "GO / NO-GO" {
      by owner
      no self-approval
    }

    end shipped
  }
}
"#;

#[test]
fn an_answers_file_signs_only_for_the_operator() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path();
    // Without `no self-approval`, so that the operator may sign at all.
    write(
        dir,
        "release.runbook",
        &RELEASE.replace("      no self-approval\n", ""),
    );
    write(
        dir,
        "answers.toml",
        "[go]\nsignoffs = [{ role = \"owner\", by = \"ada\", decision = \"GO\" }]\n",
    );
    // Bob cannot rehearse Ada's GO: the file speaks for its operator.
    let bob = rbx(
        dir,
        &[
            "run",
            "release.runbook",
            "--non-interactive",
            "--operator",
            "bob",
            "--answers",
            "answers.toml",
        ],
    );
    assert_eq!(bob.status, 3, "{}", bob.transcript());
    assert!(
        bob.stderr.contains("given by the operator who records it"),
        "{}",
        bob.transcript()
    );
    // Carol can give her own, however she spells her name, and the OS
    // account is recorded beside it.
    write(
        dir,
        "answers.toml",
        "[go]\nsignoffs = [{ role = \"owner\", by = \"Carol\", decision = \"GO\" }]\n",
    );
    let carol = rbx_env(
        dir,
        &[
            "run",
            "release.runbook",
            "--non-interactive",
            "--answers",
            "answers.toml",
        ],
        &[("RBX_OPERATOR", "carol")],
    );
    assert_eq!(carol.status, 0, "{}", carol.transcript());
    let run = carol
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.split_whitespace().next())
        .expect("rbx run names the run")
        .to_string();
    let log = rbx(dir, &["log", &run]);
    let account = os_account();
    for line in log.stdout.lines().filter(|l| l.contains(r#""operator":"#)) {
        assert!(
            line.contains(&format!(r#""account":"{account}""#)),
            "an event with an operator has no account: {line}"
        );
    }
    assert!(
        log.stdout.contains(r#""operator":"carol""#),
        "{}",
        log.transcript()
    );
}

#[test]
fn without_operator_the_os_account_is_the_operator() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path();
    write(dir, "release.runbook", RELEASE);
    let paused = rbx(dir, &["run", "release.runbook", "--non-interactive"]);
    assert_eq!(paused.status, 3, "{}", paused.transcript());
    let runs = rbx(dir, &["runs"]);
    let account = os_account();
    assert!(runs.stdout.contains(&account), "{}", runs.transcript());
}
