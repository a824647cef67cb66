use super::{Change, changes, written_as};

/// A runbook with a node in every place one can stand: a stage, a loop, a
/// `parallel` block, a checklist, a called stage, a stage's clean-up and
/// the runbook's own.
const BASE: &str = r#"runbook demo "Changes" {
  input hosts: list(host) = ["a", "b"]
  outcome done success
  outcome bad failure
  stage prep "Prep" {
    step check "Check" { run "echo check" }
    foreach h in hosts {
      step drain "Drain" { run "echo drain {{ h }}" }
    }
    parallel {
      step left "Left" { run "echo left" }
      step right "Right" { run "echo right" }
    }
    checklist items "Items" {
      step one "One" { run "echo one" }
    }
    call undo(host = "x")
    on failure -> end bad
    then roll
  }
  stage roll "Roll" {
    step recheck "Check again" { run "echo recheck" }
    again prep
    end done
    finally {
      step uncordon "Uncordon" { run "echo uncordon" }
    }
  }
  stage undo(host: string) "Undo" {
    step revert "Revert" { run "echo revert {{ host }}" }
  }
  finally {
    step notify "Notify" { run "echo notify" }
  }
}
"#;

/// Each node of `BASE`: its id in the runbook and the text of its command.
const NODES: [(&str, &str); 9] = [
    ("prep.check", "echo check"),
    ("prep.drain", "echo drain"),
    ("prep.left", "echo left"),
    ("prep.right", "echo right"),
    ("prep.one", "echo one"),
    ("roll.recheck", "echo recheck"),
    ("roll.uncordon", "echo uncordon"),
    ("undo.revert", "echo revert"),
    ("finally.notify", "echo notify"),
];

fn between(before: &str, after: &str) -> Vec<Change> {
    let file = |text: &str| vec![("main.runbook".to_string(), text.to_string())];
    changes(&file(before), &file(after))
}

fn named(found: &[Change]) -> Vec<&str> {
    found.iter().map(|c| c.what.as_str()).collect()
}

#[test]
fn moving_reindenting_or_commenting_is_no_change() {
    let lines: Vec<&str> = BASE.lines().collect();
    for at in 1..lines.len() {
        let mut edited = lines.clone();
        edited.insert(at, "  # a note added later");
        edited.insert(at, "");
        let edited = edited.join("\n");
        assert_eq!(
            named(&between(BASE, &edited)),
            Vec::<&str>::new(),
            "{edited}"
        );
    }
    let indented: String = BASE.lines().map(|l| format!("  {l}\n")).collect();
    assert!(between(BASE, &indented).is_empty());
    let spread = BASE
        .replace("{ run", "{\n      run")
        .replace("\" }", "\"\n    }");
    assert!(between(BASE, &spread).is_empty(), "{spread}");
}

#[test]
fn a_changed_node_is_named_alone_wherever_it_stands() {
    for (id, command) in NODES {
        let edited = BASE.replacen(command, &format!("{command} && true"), 1);
        let found = between(BASE, &edited);
        assert_eq!(found.len(), 1, "{id}: {found:?}");
        assert_eq!(found[0].node.as_deref(), Some(id));
        assert_eq!(found[0].what, format!("step {id}"));
        let diff = found[0].diff(12);
        assert!(
            diff.iter()
                .any(|l| l.starts_with('-') && l.contains(command))
                && diff
                    .iter()
                    .any(|l| l.starts_with('+') && l.contains("&& true")),
            "{id}: {diff:?}"
        );
    }
}

#[test]
fn a_stages_own_lines_are_the_stages_change() {
    let edits = [
        ("on failure -> end bad", "on failure -> end done", "prep"),
        ("then roll", "end done", "prep"),
        ("call undo(host = \"x\")", "call undo(host = \"y\")", "prep"),
        (
            "foreach h in hosts {",
            "foreach h in hosts parallel 2 {",
            "prep",
        ),
        ("again prep", "", "roll"),
        (
            "stage undo(host: string) \"Undo\"",
            "stage undo(host: host) \"Undo\"",
            "undo",
        ),
    ];
    for (was, now, stage) in edits {
        let found = between(BASE, &BASE.replacen(was, now, 1));
        assert_eq!(
            named(&found),
            [format!("stage {stage} (apart from its nodes)")],
            "{was} -> {now}"
        );
        assert_eq!(found[0].node, None);
    }
}

#[test]
fn what_stands_outside_the_stages_is_compared_too() {
    for (was, now) in [
        (r#"["a", "b"]"#, r#"["a", "b", "c"]"#),
        (
            "outcome bad failure",
            "outcome bad failure\n  outcome late failure",
        ),
        ("runbook demo \"Changes\"", "runbook demo \"Changed\""),
    ] {
        let found = between(BASE, &BASE.replacen(was, now, 1));
        assert_eq!(named(&found), ["main.runbook outside its stages"], "{was}");
    }
}

#[test]
fn a_node_added_or_removed_is_a_change() {
    let added = BASE.replacen(
        "    then roll",
        "    step extra \"Extra\" { run \"true\" }\n    then roll",
        1,
    );
    let found = between(BASE, &added);
    assert_eq!(
        named(&found),
        ["stage prep (apart from its nodes)", "step prep.extra"]
    );
    assert_eq!(found[1].before, None);
    let removed = between(&added, BASE);
    assert_eq!(removed[1].after, None);
    assert_eq!(removed[1].node.as_deref(), Some("prep.extra"));
}

#[test]
fn files_that_cannot_be_read_or_are_unchanged_compare_as_nothing() {
    let file = vec![("main.runbook".to_string(), BASE.to_string())];
    assert!(changes(&file, &[]).is_empty());
    assert!(changes(&file, &file).is_empty());
    let broken = vec![("main.runbook".to_string(), "runbook {".to_string())];
    let found = changes(&file, &broken);
    assert_eq!(named(&found), ["main.runbook (it does not parse)"]);
    assert_eq!(found[0].after.as_deref(), Some("runbook {"));
}

#[test]
fn an_instance_is_named_by_its_nodes_id() {
    for (instance, node) in [
        ("prep.check", "prep.check"),
        ("prep.drain[a.example.com]", "prep.drain"),
        ("prep#2.drain[b]", "prep.drain"),
        ("undo#1.revert", "undo.revert"),
        ("roll.finally.uncordon", "roll.uncordon"),
        ("finally.notify", "finally.notify"),
    ] {
        assert_eq!(written_as(instance), node, "{instance}");
    }
}

#[test]
fn a_long_change_is_cut_with_a_count() {
    let change = Change {
        what: "step s.x".to_string(),
        node: Some("s.x".to_string()),
        before: Some((0..30).map(|i| format!("line {i}\n")).collect()),
        after: None,
    };
    let diff = change.diff(5);
    assert_eq!(diff.len(), 5);
    assert_eq!(diff[4], "  … 26 more lines");
}
