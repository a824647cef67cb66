//! Stages with parameters and `call` (execution rules A1–A3), through the
//! real `rbx` binary: a call in every place a node can stand — a stage, a
//! `foreach` passing its item, a `parallel` branch, an `again` instance,
//! an included fragment — each instance with its own ids, record and
//! arguments; two instances side by side each reading its own nodes;
//! `kill -9` after every event; hostile argument values passed as data.

mod support;

use std::fs;

use support::bench::Bench;

/// The stage every shape calls: a step that captures, and one that reads
/// the capture of its own instance.
const DRAIN: &str = r#"
  stage drain(host: host, phase: enum(pre, post)) "Drain {{ host }}" {
    step cordon "Cordon {{ host }}" {
      run "echo out-{{ host }}-{{ phase }}"
      capture out = stdout ~ /out-(\S+)/
      idempotent
    }
    step note "Note {{ host }}" {
      run "echo {{ cordon.out }} >> ran.log"
      idempotent
    }
  }
"#;

#[derive(Debug, Clone, Copy)]
enum Place {
    Stage,
    Loop,
    Parallel,
    Again,
    Fragment,
}

/// A runbook with calls of `drain` at `place`, the fragment it includes
/// (if any), the lines its run must append, and the instances it makes
/// with each one's arguments as recorded.
struct Shape {
    main: String,
    fragment: Option<String>,
    lines: Vec<&'static str>,
    instances: Vec<(&'static str, &'static str, &'static str)>,
}

fn shape(place: Place) -> Shape {
    let head = "runbook c \"Calls\" {\n  input hosts: list(host) = [\"a\", \"b\"]\n";
    let (body, extra, fragment) = match place {
        Place::Stage => (
            "call drain(host = \"a\", phase = pre)\n    call drain(host = \"b\", phase = post)",
            String::new(),
            None,
        ),
        Place::Loop => (
            "foreach h in hosts {\n      call drain(host = h, phase = post)\n    }",
            String::new(),
            None,
        ),
        Place::Parallel => (
            "parallel {\n      call drain(host = \"a\", phase = pre)\n      call drain(host = \"b\", phase = post)\n    }",
            String::new(),
            None,
        ),
        Place::Again => (
            "again twice\n    again twice",
            "  stage twice \"Twice\" {\n    call drain(host = \"a\", phase = pre)\n    end twice_done\n  }\n"
                .to_string(),
            None,
        ),
        Place::Fragment => (
            "call drain(host = \"a\", phase = pre)\n    call drain(host = \"b\", phase = post)",
            String::new(),
            Some(DRAIN.to_string()),
        ),
    };
    let (include, drain) = match fragment {
        Some(_) => ("  include \"part.runbook\"\n", ""),
        None => ("", DRAIN),
    };
    let main = format!(
        "{head}{include}  stage s \"S\" {{\n    {body}\n    end done\n  }}\n{extra}{drain}}}\n"
    );
    let (lines, instances) = match place {
        Place::Stage | Place::Parallel | Place::Fragment => (
            vec!["a-pre", "b-post"],
            vec![("drain#1", "a", "pre"), ("drain#2", "b", "post")],
        ),
        Place::Loop => (
            vec!["a-post", "b-post"],
            vec![("drain#1[a]", "a", "post"), ("drain#1[b]", "b", "post")],
        ),
        // The primary `twice` is never reached; each `again` instance
        // holds a call instance of its own.
        Place::Again => (
            vec!["a-pre", "a-pre"],
            vec![("drain#1", "a", "pre"), ("drain#2", "a", "pre")],
        ),
    };
    Shape {
        main,
        fragment,
        lines,
        instances,
    }
}

/// A1, A2: each call is an instance of its own, with its own ids and
/// record; its nodes read the arguments it gave and the nodes of their
/// own instance — in every place a node stands.
#[test]
fn a_call_runs_its_stage_with_its_arguments_everywhere() {
    for place in [
        Place::Stage,
        Place::Loop,
        Place::Parallel,
        Place::Again,
        Place::Fragment,
    ] {
        let bench = Bench::new();
        let shape = shape(place);
        if let Some(fragment) = &shape.fragment {
            bench.write("part.runbook", fragment);
        }
        bench.write("main.runbook", &shape.main);
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        assert_eq!(
            run.status,
            0,
            "{place:?}\n{}\n{}",
            run.transcript(),
            shape.main
        );
        assert_eq!(bench.ran_sorted(), shape.lines, "{place:?}");
        let (_, events) = bench.journal();
        for (instance, host, phase) in &shape.instances {
            let started = events
                .iter()
                .find(|(k, n, _)| k == "node_finished" && n == instance)
                .unwrap_or_else(|| panic!("{place:?}: no start of {instance}: {events:?}"));
            assert_eq!(started.2["arguments"]["host"], *host, "{place:?}");
            assert_eq!(started.2["arguments"]["phase"], *phase, "{place:?}");
            let (stage, item) = match instance.split_once('[') {
                Some((stage, item)) => (stage.to_string(), format!("[{item}")),
                None => (instance.to_string(), String::new()),
            };
            for step in ["cordon", "note"] {
                let id = format!("{stage}.{step}{item}");
                let finished = events
                    .iter()
                    .filter(|(k, n, p)| {
                        k == "node_finished" && *n == id && p["status"] == "succeeded"
                    })
                    .count();
                assert_eq!(finished, 1, "{place:?}: {id} finished {finished} times");
            }
        }
    }
}

/// A2: two instances side by side each read their own instance's nodes,
/// even when the other instance's node of that name finished later.
#[test]
fn instances_side_by_side_read_their_own_nodes() {
    let text = r#"runbook c "Side by side" {
  stage s "S" {
    step start "Start" {
      run "touch started"
    }
    parallel {
      call drain(host = "a", after = "mark-b", hold = "started")
      call drain(host = "b", after = "started", hold = "mark-a")
    }
    end done
  }

  stage drain(host: host, after: string, hold: string) "Drain {{ host }}" {
    step cordon "Cordon" {
      run "until [ -e {{ after }} ]; do sleep 0.02; done; echo out-{{ host }}"
      capture out = stdout ~ /out-(\S+)/
      timeout 30s
    }
    step mark "Mark" {
      run "touch mark-{{ host }}"
    }
    step hold "Hold" {
      run "until [ -e {{ hold }} ]; do sleep 0.02; done"
      timeout 30s
    }
    step check "Check" {
      run "echo {{ host }}-read-{{ cordon.out }} >> ran.log"
    }
  }
}
"#;
    let bench = Bench::new();
    bench.write("main.runbook", text);
    let run = bench.rbx(&["run", "main.runbook", "--jobs", "4"], &[]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    // `b`'s check starts after `a`'s cordon finished, the later of the
    // two: it still reads its own.
    assert_eq!(bench.ran_sorted(), ["a-read-a", "b-read-b"]);
}

/// A3 with S1, S2: `kill -9` after every event of a run with calls in a
/// loop and nested calls, then `rbx resume` until it ends: every command
/// ran once, in its instance, with its arguments.
#[test]
fn kill_nine_at_every_event_neither_loses_nor_repeats_a_call() {
    let text = r#"runbook c "Calls after a crash" {
  input hosts: list(host) = ["a", "b"]
  stage s "S" {
    foreach h in hosts {
      call drain(host = h, phase = post)
    }
    call drain(host = "c", phase = pre)
    end done
  }

  stage drain(host: host, phase: enum(pre, post)) "Drain {{ host }}" {
    step cordon "Cordon {{ host }}" {
      run "echo cordon-{{ host }}-{{ phase }} >> ran.log"
    }
    call undrain(target = host)
  }

  stage undrain(target: host) "Undrain {{ target }}" {
    step uncordon "Uncordon" {
      run "echo uncordon-{{ target }} >> ran.log"
    }
  }
}
"#;
    let expected = [
        "cordon-a-post",
        "cordon-b-post",
        "cordon-c-pre",
        "uncordon-a",
        "uncordon-b",
        "uncordon-c",
    ];
    let whole = {
        let bench = Bench::new();
        bench.write("main.runbook", text);
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        assert_eq!(run.status, 0, "{}", run.transcript());
        assert_eq!(bench.ran_sorted(), expected, "the run without a crash");
        bench.journal().1.len()
    };
    for crash in 1..whole {
        let bench = Bench::new();
        bench.write("main.runbook", text);
        let events = bench.crash_then_resume(crash, &["--in-doubt", "skip"]);
        assert!(
            events
                .iter()
                .any(|(k, _, p)| k == "run_ended" && p["outcome"] == "done"),
            "crash after {crash}: {events:?}"
        );
        // A step in doubt is taken as done (`--in-doubt skip`), never run
        // again: no command ran twice, and each line missing is the
        // command of a step the journal says was in doubt.
        let ran = bench.ran_sorted();
        let mut unique = ran.clone();
        unique.dedup();
        assert_eq!(unique, ran, "crash after {crash}: a command ran twice");
        let in_doubt: Vec<String> = events
            .iter()
            .filter(|(k, _, p)| k == "in_doubt" && p["decision"] == "done")
            .filter_map(|(_, node, _)| {
                events
                    .iter()
                    .find(|(k, n, _)| k == "node_started" && n == node)
                    .and_then(|(_, _, p)| p["command"].as_str())
                    .map(|c| {
                        c.trim_start_matches("echo ")
                            .trim_end_matches(" >> ran.log")
                            .to_string()
                    })
            })
            .collect();
        for line in expected {
            let present = ran.iter().any(|l| l == line);
            let doubted = in_doubt.iter().any(|l| l == line);
            assert!(
                present || doubted,
                "crash after {crash}: {line} lost: {ran:?}\n{events:?}"
            );
        }
    }
}

/// Arguments are values, passed to the shell as data like inputs: a
/// hostile string reaches the command unchanged and runs nothing, through
/// one shell and through a second one with `| shell`.
#[test]
fn hostile_arguments_are_passed_as_data() {
    let hostile = [
        "$(touch pwned)",
        "`touch pwned`",
        "a; touch pwned",
        "' \" \\ $HOME",
        "-rf --no-preserve-root",
        "line\nbreak",
        "{{ label }}",
    ];
    let text = r#"runbook c "Hostile" {
  input value: string
  stage s "S" {
    call show(label = value, again_label = "fixed {{ value }}")
    end done
  }

  stage show(label: string, again_label: string) "Show" {
    step one "One shell" {
      run "printf '%s|' {{ label }} >> ran.log"
    }
    step two "A second shell" {
      run "sh -c {{ again_label | shell }} > /dev/null; printf '%s|' {{ again_label }} >> ran.log"
    }
  }
}
"#;
    for value in hostile {
        let bench = Bench::new();
        bench.write("main.runbook", text);
        let set = format!("value={value}");
        let run = bench.rbx(&["run", "main.runbook", "--set", &set], &[]);
        let log = fs::read_to_string(bench.path().join("ran.log")).unwrap_or_default();
        assert!(
            !bench.path().join("pwned").exists(),
            "{value:?} ran as code\n{}",
            run.transcript()
        );
        if run.status != 0 {
            // `sh -c` of the text itself may fail; what matters is that
            // it ran nothing and the first shell got the value whole.
            assert!(log.starts_with(&format!("{value}|")), "{value:?}: {log:?}");
            continue;
        }
        assert_eq!(log, format!("{value}|fixed {value}|"), "{value:?}");
    }
}

/// A secret passed as an argument reaches the command that names it and
/// nothing else: the record of the instance's start, the journal, the
/// store's files, the output kept and the report all mask it.
#[test]
fn a_secret_argument_reaches_the_command_and_nothing_else() {
    const SECRET: &str = "s3cr3t-argument-value";
    let text = r#"runbook c "Secret" {
  input token: secret
  stage s "S" {
    call use_token(token = token, label = "first")
    end done
  }

  stage use_token(token: secret, label: string) "Use the token ({{ label }})" {
    step one "One" {
      run "printf '%s' {{ token }} > seen.txt; echo token={{ token }}"
      keep stdout
    }
  }
}
"#;
    let bench = Bench::new();
    bench.write("main.runbook", text);
    let run = bench.rbx(&["run", "main.runbook"], &[("RBX_SECRET_TOKEN", SECRET)]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    assert_eq!(
        fs::read_to_string(bench.path().join("seen.txt")).expect("the command ran"),
        SECRET
    );
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    let (id, events) = bench.journal();
    let start = events
        .iter()
        .find(|(k, n, _)| k == "node_finished" && n == "use_token#1")
        .expect("the instance started");
    assert_eq!(start.2["arguments"]["label"], "first");
    assert!(start.2["arguments"]["token"].is_string());
    for entry in fs::read_dir(bench.path().join(".rbx")).expect("the store") {
        let path = entry.expect("a file").path();
        let bytes = fs::read(&path).expect("a store file");
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret is in {}",
            path.display()
        );
    }
    for args in [
        vec!["log", id.as_str()],
        vec!["status", id.as_str()],
        vec!["report", id.as_str(), "--format", "json"],
    ] {
        let out = bench.rbx(&args, &[]);
        assert!(!out.stdout.contains(SECRET), "{args:?}: {}", out.stdout);
    }
}

/// The plan and both levels of the graph name every call instance with
/// the arguments its call wrote, nested calls included; a value the plan
/// can know (a literal, an input) is shown in the commands.
#[test]
fn plan_and_graph_name_each_instance_with_its_arguments() {
    let text = r#"runbook c "Views" {
  input hosts: list(host) = ["a", "b"]
  input zone: string = "eu-1"
  stage s "S" {
    foreach h in hosts {
      call drain(host = h, zone = zone)
    }
    call drain(host = "c", zone = "us-2")
    end done
  }

  stage drain(host: host, zone: string) "Drain {{ host }}" {
    step cordon "Cordon {{ host }}" {
      run "cordon --zone {{ zone }} {{ host }}"
    }
    call undrain(target = host)
  }

  stage undrain(target: host) "Undrain {{ target }}" {
    step uncordon "Uncordon" {
      run "uncordon {{ target }}"
    }
  }
}
"#;
    let bench = Bench::new();
    bench.write("main.runbook", text);
    let plan = bench.rbx(&["plan", "main.runbook"], &[]);
    assert_eq!(plan.status, 0, "{}", plan.transcript());
    for line in [
        "call     drain(host = h, zone = zone), as instance drain#1",
        "call     drain(host = \"c\", zone = \"us-2\"), as instance drain#2",
        "call     undrain(target = host), as instance undrain#1",
        "call     undrain(target = host), as instance undrain#2",
        "run       cordon --zone eu-1 <host>",
        "run       cordon --zone us-2 c",
    ] {
        assert!(plan.stdout.contains(line), "{line}\n{}", plan.stdout);
    }
    let stages = bench.rbx(&["graph", "main.runbook"], &[]);
    assert!(
        stages
            .stdout
            .contains(r#"call: drain(host = \"c\", zone = \"us-2\")"#),
        "{}",
        stages.stdout
    );
    let nodes = bench.rbx(&["graph", "main.runbook", "--detail"], &[]);
    for id in [
        "drain#1.cordon",
        "drain#2.cordon",
        "undrain#1.uncordon",
        "undrain#2.uncordon",
    ] {
        assert!(nodes.stdout.contains(id), "{id}\n{}", nodes.stdout);
    }
    assert!(
        nodes.stdout.contains("(call drain#2: host = \\\"c\\\""),
        "{}",
        nodes.stdout
    );
}

/// A1: an argument that reads what a node did not record (it was skipped)
/// fails the instance's start, saying which argument and why, and nothing
/// of the instance runs; with a default (`??`) the default is passed.
#[test]
fn an_argument_without_a_value_fails_the_instance_unless_defaulted() {
    for (argument, expect_ok) in [("pick.first", false), ("pick.first ?? \"none\"", true)] {
        let text = format!(
            r#"runbook c "Unset" {{
  input flag: bool = false
  stage s "S" {{
    step pick "Pick" {{
      when flag
      run "echo chosen"
      capture first = stdout ~ /(\S+)/
    }}
    call show(label = {argument})
    end done
  }}

  stage show(label: string) "Show" {{
    step one "One" {{
      run "echo {{{{ label }}}} >> ran.log"
    }}
  }}
}}
"#
        );
        let bench = Bench::new();
        bench.write("main.runbook", &text);
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        if expect_ok {
            assert_eq!(run.status, 0, "{}", run.transcript());
            assert_eq!(bench.ran_sorted(), ["none"]);
            continue;
        }
        assert_eq!(run.status, 1, "{}", run.transcript());
        assert!(bench.ran_sorted().is_empty(), "{:?}", bench.ran_sorted());
        let (_, events) = bench.journal();
        let failed = events
            .iter()
            .find(|(k, n, _)| k == "node_finished" && n == "show#1")
            .expect("the instance's start settled");
        assert_eq!(failed.2["status"], "failed");
        let reason = failed.2["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("`label`") && reason.contains("`pick.first` has no value"),
            "{reason}"
        );
    }
}

/// X1, X2 with A1: a call in `finally` runs its instance per host whatever
/// the run did, each node going on to the next even when one fails (the
/// called stage's own routes do not apply there); after `kill -9` at every
/// event, `rbx resume` still runs each clean-up command once.
#[test]
fn a_call_in_finally_cleans_up_every_host_even_after_kill_nine() {
    let text = r#"runbook c "Clean-up per host" {
  input hosts: list(host) = ["a", "b"]
  stage s "S" {
    step work "Work" {
      run "echo work >> ran.log; exit 3"
    }
    end done
  }

  finally {
    foreach h in hosts {
      call undrain(target = h)
    }
  }

  stage undrain(target: host) "Undrain {{ target }}" {
    on failure -> end done
    step uncordon "Uncordon {{ target }}" {
      run "echo uncordon-{{ target }} >> ran.log; test {{ target }} != a"
    }
    step after "After {{ target }}" {
      run "echo after-{{ target }} >> ran.log"
    }
  }
}
"#;
    let expected = ["after-a", "after-b", "uncordon-a", "uncordon-b", "work"];
    let whole = {
        let bench = Bench::new();
        bench.write("main.runbook", text);
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        // The work failed, and so did one clean-up step: the run failed,
        // not ended by the called stage's route.
        assert_eq!(run.status, 1, "{}", run.transcript());
        assert_eq!(bench.ran_sorted(), expected);
        let (_, events) = bench.journal();
        assert!(
            !events.iter().any(|(k, _, _)| k == "run_ended"),
            "{events:?}"
        );
        events.len()
    };
    for crash in 1..whole {
        let bench = Bench::new();
        bench.write("main.runbook", text);
        let after = crash.to_string();
        let crashed = bench.rbx(
            &["run", "main.runbook"],
            &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
        );
        assert_ne!(
            crashed.status, 0,
            "crash after {crash}: it should have died"
        );
        let (run, _) = bench.journal();
        let resumed = bench.rbx(&["resume", &run, "--in-doubt", "skip"], &[]);
        assert!(
            resumed.status == 0 || resumed.status == 1,
            "crash after {crash}: {}",
            resumed.transcript()
        );
        let ran = bench.ran_sorted();
        let mut unique = ran.clone();
        unique.dedup();
        assert_eq!(unique, ran, "crash after {crash}: a command ran twice");
        let (_, events) = bench.journal();
        assert!(
            events.iter().any(|(k, _, _)| k == "finally_started"),
            "crash after {crash}: the clean-up never started"
        );
        for line in ["uncordon-a", "uncordon-b", "after-a", "after-b"] {
            let (step, host) = line.split_once('-').expect("step-host");
            let node = format!("undrain#1.{step}[{host}]");
            let doubted = events
                .iter()
                .any(|(k, n, p)| k == "in_doubt" && *n == node && p["decision"] == "done");
            assert!(
                ran.iter().any(|l| l == line) || doubted,
                "crash after {crash}: {line} lost: {ran:?}\n{events:?}"
            );
        }
    }
}

/// A called stage's own clean-up reads the instance's parameters: `rbx
/// plan` shows its commands with the call's arguments, and the run's
/// clean-up gets them.
#[test]
fn a_called_stages_clean_up_reads_its_arguments() {
    let text = r#"runbook c "Clean-up of a call" {
  stage s "S" {
    call drain(host = "db-1")
    end done
  }
  stage drain(host: host) "Drain {{ host }}" {
    step cordon "Cordon {{ host }}" {
      run "echo cordon-{{ host }} >> ran.log"
    }
    finally {
      step uncordon "Uncordon {{ host }}" {
        run "echo uncordon-{{ host }} >> ran.log"
      }
    }
  }
}
"#;
    let bench = Bench::new();
    bench.write("main.runbook", text);
    let plan = bench.rbx(&["plan", "main.runbook"], &[]);
    assert!(
        plan.stdout
            .contains("drain#1.finally.uncordon — Uncordon db-1")
            && plan.stdout.contains("echo uncordon-db-1 >> ran.log"),
        "{}",
        plan.stdout
    );
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    assert_eq!(bench.ran(), ["cordon-db-1", "uncordon-db-1"]);
}
