//! `rbx lint` and `rbx fmt` driven through the real binary: exit statuses,
//! output, and inputs no parser should choke on.

mod support;

use std::fs;

use support::rbx;

const VALID: &str = r#"runbook demo "Demo" {
  stage only "Only stage" {
    step hello "Say hello" {
      run "echo hello"
      expect exit 0
    }

    end done
  }
}
"#;

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

#[test]
fn lint_of_a_valid_runbook_is_silent_and_succeeds() {
    let dir = temp();
    fs::write(dir.path().join("demo.runbook"), VALID).unwrap();
    let out = rbx(dir.path(), &["lint", "demo.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(out.stderr, "");
}

#[test]
fn lint_reports_every_syntax_error_and_exits_2() {
    let dir = temp();
    let broken = VALID
        .replace("expect exit 0", "expect exit 0\n      tiemout 5m")
        .replace("end done", "end done\n    step x \"X\" { timeout 30 }");
    fs::write(dir.path().join("broken.runbook"), broken).unwrap();
    let out = rbx(dir.path(), &["lint", "broken.runbook"]);
    assert_eq!(out.status, 2);
    insta::assert_snapshot!(out.transcript());
}

#[test]
fn lint_of_a_directory_checks_every_runbook_under_it() {
    let dir = temp();
    fs::create_dir_all(dir.path().join("a/b")).unwrap();
    fs::write(dir.path().join("a/ok.runbook"), VALID).unwrap();
    fs::write(dir.path().join("a/b/bad.runbook"), "stage s \"S\" { stpe }").unwrap();
    fs::write(dir.path().join("a/notes.txt"), "not a runbook {").unwrap();
    let out = rbx(dir.path(), &["lint", "a"]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("a/b/bad.runbook"), "{}", out.stderr);
    assert!(!out.stderr.contains("notes.txt"), "{}", out.stderr);
    assert!(
        out.stderr.contains("2 file(s) checked: 1 error(s)"),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_files_and_empty_directories_are_clear_errors() {
    let dir = temp();
    fs::create_dir(dir.path().join("empty.runbook")).unwrap();
    let out = rbx(dir.path(), &["lint", "missing.runbook", "empty.runbook"]);
    assert_eq!(out.status, 2);
    insta::assert_snapshot!(out.transcript());
}

#[test]
fn bytes_that_are_not_utf8_get_a_diagnostic() {
    let dir = temp();
    fs::write(
        dir.path().join("latin1.runbook"),
        b"stage s \"caf\xe9\" {}\n",
    )
    .unwrap();
    let out = rbx(dir.path(), &["lint", "latin1.runbook"]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("rbx::syntax::not_utf8"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("byte 12"), "{}", out.stderr);
}

#[test]
fn an_empty_file_is_clean() {
    let dir = temp();
    fs::write(dir.path().join("empty.runbook"), "").unwrap();
    let out = rbx(dir.path(), &["lint", "empty.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
}

#[test]
fn a_line_as_long_as_the_size_limit_is_parsed_not_choked_on() {
    let dir = temp();
    // A runbook file may be 4 MiB; this one line takes almost all of it.
    let long = "x".repeat(4 * 1024 * 1024 - 100);
    let source =
        format!("stage s \"S\" {{\n  step a \"{long}\" {{ run \"true\" }}\n  end done\n}}\n");
    fs::write(dir.path().join("long.runbook"), source).unwrap();
    let out = rbx(dir.path(), &["lint", "long.runbook"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
}

#[test]
fn nesting_ten_thousand_deep_is_refused_with_a_diagnostic() {
    let dir = temp();
    let depth = 10_000;
    let expr = format!("{}x{}", "(".repeat(depth), ")".repeat(depth));
    let braces = format!("stage s \"S\" {}{}", "{".repeat(depth), "}".repeat(depth));
    fs::write(
        dir.path().join("parens.runbook"),
        format!("stage s \"S\" {{\n  require {expr}\n  end done\n}}\n"),
    )
    .unwrap();
    fs::write(dir.path().join("braces.runbook"), braces).unwrap();
    for file in ["parens.runbook", "braces.runbook"] {
        let out = rbx(dir.path(), &["lint", file]);
        assert_eq!(out.status, 2, "{file}: {}", out.transcript());
        assert!(
            out.stderr.contains("rbx::syntax::too_deep"),
            "{file}: {}",
            out.stderr
        );
    }
}

#[test]
fn fmt_rewrites_files_and_check_prints_a_diff() {
    let dir = temp();
    let messy = "runbook demo \"Demo\" {\nstage only \"Only stage\" {\n step hello \"Say hello\" { run \"echo hello\"   expect exit 0 }\n end done }\n}\n";
    fs::write(dir.path().join("demo.runbook"), messy).unwrap();

    let check = rbx(dir.path(), &["fmt", "--check", "demo.runbook"]);
    assert_eq!(check.status, 1);
    insta::assert_snapshot!(check.transcript());
    assert_eq!(
        fs::read_to_string(dir.path().join("demo.runbook")).unwrap(),
        messy
    );

    let write = rbx(dir.path(), &["fmt", "demo.runbook"]);
    assert_eq!(write.status, 0, "{}", write.transcript());
    assert_eq!(
        fs::read_to_string(dir.path().join("demo.runbook")).unwrap(),
        VALID
    );

    let again = rbx(dir.path(), &["fmt", "--check", "demo.runbook"]);
    assert_eq!(again.status, 0, "{}", again.transcript());
    assert_eq!(again.stdout, "");
}

#[test]
fn fmt_refuses_a_file_that_does_not_parse_and_leaves_it_alone() {
    let dir = temp();
    let broken = "stage s \"S\" { stpe }\n";
    fs::write(dir.path().join("broken.runbook"), broken).unwrap();
    let out = rbx(dir.path(), &["fmt", "broken.runbook"]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("was not formatted"), "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(dir.path().join("broken.runbook")).unwrap(),
        broken
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = temp();
    assert_eq!(rbx(dir.path(), &["lint"]).status, 2);
    assert_eq!(rbx(dir.path(), &["frobnicate"]).status, 2);
}

#[test]
fn lint_checks_an_entry_file_with_its_includes_once() {
    let dir = temp();
    fs::create_dir(dir.path().join("stages")).unwrap();
    fs::write(
        dir.path().join("main.runbook"),
        "runbook m \"Main\" {\n  include \"stages/smoke.runbook\"\n}\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("stages/smoke.runbook"),
        "stage smoke \"Smoke\" {\n  on failure -> triag\n  end ok\n}\n",
    )
    .unwrap();
    // The fragment is named too (as `rbx lint .` would), yet reported once.
    let out = rbx(dir.path(), &["lint", "main.runbook", "stages"]);
    assert_eq!(out.status, 2);
    insta::assert_snapshot!(out.transcript());
}

#[test]
fn lint_format_human_is_the_default() {
    let dir = temp();
    fs::write(
        dir.path().join("broken.runbook"),
        "stage s \"S\" { stpe }\n",
    )
    .unwrap();
    let default = rbx(dir.path(), &["lint", "broken.runbook"]);
    let human = rbx(dir.path(), &["lint", "--format", "human", "broken.runbook"]);
    assert_eq!(default.status, 2);
    assert_eq!(human.status, 2);
    assert_eq!(human.stdout, "");
    assert_eq!(human.stderr, default.stderr);
    assert!(human.stderr.contains("rbx::syntax::"), "{}", human.stderr);
}

/// Completions and manual pages, as Rust command-line tools offer them.
#[test]
fn completions_and_manual_pages_cover_every_command() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = rbx(dir.path(), &["completions", shell]);
        assert_eq!(out.status, 0, "{shell}: {}", out.transcript());
        for command in ["resume", "confirm", "report", "lint"] {
            assert!(out.stdout.contains(command), "{shell} lacks {command}");
        }
    }
    let out = rbx(dir.path(), &["man", "pages"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    for page in ["rbx.1", "rbx-run.1", "rbx-resume.1", "rbx-status.1"] {
        let text = std::fs::read_to_string(dir.path().join("pages").join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page} is roff"
        );
    }
}

/// `--color` wins; with `auto`, `NO_COLOR` turns colour off and
/// `CLICOLOR_FORCE` on, even when standard error is not a terminal.
#[test]
fn colour_follows_the_flag_and_the_conventions() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("bad.runbook"),
        "runbook r \"R\" {\n  stage s \"S\" {\n    then nowhere\n  }\n}\n",
    )
    .expect("write");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rbx"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .envs(env.iter().copied())
            .output()
            .expect("rbx runs");
        String::from_utf8_lossy(&out.stderr).contains('\u{1b}')
    };
    assert!(
        !run(&["lint", "bad.runbook"], &[]),
        "no colour off a terminal"
    );
    assert!(run(&["lint", "bad.runbook", "--color", "always"], &[]));
    assert!(!run(
        &["lint", "bad.runbook", "--color", "never"],
        &[("CLICOLOR_FORCE", "1")]
    ));
    assert!(run(&["lint", "bad.runbook"], &[("CLICOLOR_FORCE", "1")]));
    assert!(!run(
        &["lint", "bad.runbook"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    ));
}

/// The names of `rbx`'s commands and subcommands, as `--help` lists them.
fn commands(prefix: &[&str]) -> Vec<Vec<String>> {
    let dir = temp();
    let mut args: Vec<&str> = prefix.to_vec();
    args.push("--help");
    let help = rbx(dir.path(), &args).stdout;
    let Some((_, listed)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    listed
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .flat_map(|name| {
            let mut path: Vec<String> = prefix.iter().map(|p| p.to_string()).collect();
            path.push(name.to_string());
            let nested: Vec<&str> = path.iter().map(String::as_str).collect();
            let mut all = commands(&nested);
            all.insert(0, path);
            all
        })
        .collect()
}

/// Every command's usage line is one a person can read and type: each
/// `<ARG>` and `[ARG]` closes before the next opens, as `rbx confirm`'s
/// `<RUN] [STEP>` once did not.
#[test]
fn every_usage_line_is_well_formed() {
    let dir = temp();
    let all = commands(&[]);
    assert!(all.len() > 15, "the commands were not listed: {all:?}");
    for path in all {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = rbx(dir.path(), &args);
        assert_eq!(out.status, 0, "{}", out.transcript());
        let usage = out
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix("Usage: "))
            .unwrap_or_else(|| panic!("`rbx {}` has no usage line", path.join(" ")));
        let mut open: Option<char> = None;
        for c in usage.chars() {
            match (c, open) {
                ('<' | '[', None) => open = Some(c),
                ('>', Some('<')) | (']', Some('[')) => open = None,
                ('<' | '[' | '>' | ']', _) => {
                    panic!("`rbx {}`: a malformed usage line: {usage}", path.join(" "))
                }
                _ => {}
            }
        }
        assert_eq!(open, None, "`rbx {}`: {usage}", path.join(" "));
    }
}

#[test]
fn confirm_names_the_step_and_the_run_it_may_be_of() {
    let dir = temp();
    let help = rbx(dir.path(), &["confirm", "--help"]);
    assert!(
        help.stdout
            .contains("Usage: rbx confirm [OPTIONS] [RUN] <STEP>"),
        "{}",
        help.stdout
    );
    let bare = rbx(dir.path(), &["confirm"]);
    assert_eq!(bare.status, 2);
    assert!(
        bare.stderr.contains("rbx confirm [RUN] STEP"),
        "{}",
        bare.transcript()
    );
    assert!(!dir.path().join(".rbx").exists(), "no store is made");
}
