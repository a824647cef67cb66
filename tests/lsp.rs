//! `rbx lsp` driven over JSON-RPC like an editor drives it: the seed
//! procedure and its included fragments opened, edited, navigated,
//! completed, formatted, renamed and fixed, with the answers checked
//! against what `rbx lint` and `rbx fmt` say of the same files.

#[path = "lsp/client.rs"]
mod client;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;

use client::{Client, apply, position, range_of, uri};
use serde_json::{Value, json};
use support::{rbx, repo};

/// A copy of `runbooks/` (the seed and its fragments) to edit freely.
fn seed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    copy(&repo().join("runbooks"), &dir.path().join("runbooks"));
    dir
}

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("a directory");
    for entry in fs::read_dir(from).expect("a readable directory") {
        let path = entry.expect("an entry").path();
        let target = to.join(path.file_name().expect("a name"));
        if path.is_dir() {
            copy(&path, &target);
        } else {
            fs::copy(&path, &target).expect("a copy");
        }
    }
}

/// (file relative to `base`, code, line, column from 0, severity) of
/// every diagnostic published.
type Seen = BTreeSet<(String, String, u64, u64, String)>;

fn seen(base: &Path, published: &HashMap<String, Vec<Value>>) -> Seen {
    let prefix = format!("{}/", uri(base));
    let mut out = Seen::new();
    for (file, diagnostics) in published {
        let file = file.strip_prefix(&prefix).unwrap_or(file).to_string();
        for d in diagnostics {
            let severity = match d["severity"].as_u64() {
                Some(1) => "error",
                Some(2) => "warning",
                other => panic!("unexpected severity {other:?}"),
            };
            out.insert((
                file.clone(),
                d["code"].as_str().expect("a code").to_string(),
                d["range"]["start"]["line"].as_u64().expect("a line"),
                d["range"]["start"]["character"]
                    .as_u64()
                    .expect("a character"),
                severity.to_string(),
            ));
        }
    }
    out
}

/// What `rbx lint --format json` reports for `entry`, run in `base`.
fn lint(base: &Path, entry: &str) -> Seen {
    let out = rbx(base, &["lint", "--format", "json", entry]);
    let report: Value = serde_json::from_str(&out.stdout).expect("lint's JSON");
    report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["file"].as_str().expect("a file").to_string(),
                d["code"].as_str().expect("a code").to_string(),
                d["line"].as_u64().expect("a line") - 1,
                d["column"].as_u64().expect("a column") - 1,
                d["severity"].as_str().expect("a severity").to_string(),
            )
        })
        .collect()
}

fn codes(diagnostics: &[Value]) -> Vec<&str> {
    diagnostics
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect()
}

fn at(path: &Path, text: &str, anchor: &str, needle: &str) -> Value {
    let range = range_of(text, anchor, needle);
    json!({"textDocument": {"uri": uri(path)}, "position": range["start"]})
}

#[test]
fn the_seed_gets_lints_diagnostics_and_they_follow_every_edit() {
    let dir = seed();
    let base = dir.path();
    let entry = base.join("runbooks/post-cutover.runbook");
    let text = fs::read_to_string(&entry).expect("the seed");
    let mut client = Client::start(&base.join("runbooks"));

    // Opening the entry publishes every file of the procedure, each with
    // exactly what `rbx lint` reports for it.
    let published = client.open(&entry, &text);
    assert_eq!(published.len(), 9, "the entry and its eight fragments");
    let expected = lint(base, "runbooks/post-cutover.runbook");
    assert!(
        expected.len() >= 18,
        "the seed's placeholders: {expected:?}"
    );
    assert_eq!(seen(base, &published), expected);

    // A misspelt route target, typed into the open buffer.
    let typo = range_of(&text, "otherwise -> smoke", "smoke");
    let published = client.edit(&entry, typo.clone(), "smok");
    let diagnostics = &published[&uri(&entry)];
    let unknown = diagnostics
        .iter()
        .find(|d| d["code"] == "rbx::lint::unknown_reference")
        .unwrap_or_else(|| panic!("no unknown_reference in {diagnostics:?}"));
    assert_eq!(unknown["range"]["start"], typo["start"]);
    assert!(
        unknown["message"].as_str().is_some_and(
            |m| m.contains("no stage named `smok`") && m.contains("did you mean `smoke`?")
        ),
        "{unknown}"
    );

    // Its quick fix restores the name.
    let edited = text.replacen("otherwise -> smoke", "otherwise -> smok", 1);
    let actions = client.result(
        "textDocument/codeAction",
        json!({
            "textDocument": {"uri": uri(&entry)},
            "range": typo,
            "context": {"diagnostics": []},
        }),
    );
    let fix = actions
        .as_array()
        .and_then(|a| a.iter().find(|a| a["title"] == "Change `smok` to `smoke`"))
        .unwrap_or_else(|| panic!("no quick fix in {actions}"));
    assert_eq!(fix["kind"], "quickfix");
    let edits = fix["edit"]["changes"][uri(&entry)]
        .as_array()
        .expect("edits");
    assert_eq!(apply(&edited, edits), text);

    // The whole text sent again (full sync) clears the error.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri(&entry), "version": 3},
            "contentChanges": [{"text": text}],
        }),
    );
    let published = client.settle();
    assert_eq!(seen(base, &published), expected);
    client.stop();
}

#[test]
fn a_fragment_opened_alone_is_checked_as_part_of_its_procedure() {
    let dir = seed();
    let base = dir.path();
    let smoke = base.join("runbooks/post-cutover/smoke.runbook");
    let text = fs::read_to_string(&smoke).expect("the smoke fragment");
    let mut client = Client::start(&base.join("runbooks"));

    // The entry that includes it is found on disk; the fragment's names
    // resolve against the whole procedure.
    let published = client.open(&smoke, &text);
    assert!(published.contains_key(&uri(&base.join("runbooks/post-cutover.runbook"))));
    assert_eq!(
        seen(base, &published),
        lint(base, "runbooks/post-cutover.runbook")
    );

    let target = range_of(&text, "on failure -> triage", "triage");
    let published = client.edit(&smoke, target.clone(), "triag");
    let diagnostics = &published[&uri(&smoke)];
    assert_eq!(codes(diagnostics), ["rbx::lint::unknown_reference"]);
    assert_eq!(diagnostics[0]["range"]["start"], target["start"]);
    assert!(
        diagnostics[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("did you mean `triage`?")),
        "{diagnostics:?}"
    );
    let mut end = target["start"].clone();
    end["character"] = json!(end["character"].as_u64().expect("a column") + 5);
    let published = client.edit(
        &smoke,
        json!({"start": target["start"], "end": end}),
        "triage",
    );
    assert_eq!(published[&uri(&smoke)], Vec::<Value>::new());
    client.stop();
}

#[test]
fn names_lead_to_their_definitions_and_uses_across_files() {
    let dir = seed();
    let base = dir.path();
    let runbooks = base.join("runbooks");
    let smoke = runbooks.join("post-cutover/smoke.runbook");
    let roles = runbooks.join("post-cutover/roles.runbook");
    let triage = runbooks.join("post-cutover/triage.runbook");
    let entry = runbooks.join("post-cutover.runbook");
    let text = fs::read_to_string(&smoke).expect("the smoke fragment");
    let entry_text = fs::read_to_string(&entry).expect("the seed");
    let triage_text = fs::read_to_string(&triage).expect("the triage fragment");
    let roles_text = fs::read_to_string(&roles).expect("the roles fragment");
    let mut client = Client::start(&runbooks);
    client.open(&smoke, &text);

    // A route's stage, defined in another fragment.
    let found = client.result(
        "textDocument/definition",
        at(&smoke, &text, "on failure -> triage", "triage"),
    );
    assert_eq!(
        found,
        json!([{"uri": uri(&triage), "range": range_of(&triage_text, "stage triage", "triage")}])
    );
    // An input, defined in the entry, used inside `{{ }}`.
    let found = client.result(
        "textDocument/definition",
        at(&smoke, &text, "run \"{{ forge }}", "forge"),
    );
    assert_eq!(
        found,
        json!([{"uri": uri(&entry), "range": range_of(&entry_text, "input forge ", "forge")}])
    );
    // A capture, read as `step.capture` in a condition.
    let found = client.result(
        "textDocument/definition",
        at(&smoke, &text, ".version ==", "version"),
    );
    assert_eq!(
        found,
        json!([{"uri": uri(&smoke), "range": range_of(&text, "capture version", "version")}])
    );
    // An include leads to its file.
    let found = client.result(
        "textDocument/definition",
        at(&entry, &entry_text, "include \"post-cutover/roles", "roles"),
    );
    assert_eq!(found[0]["uri"], uri(&roles));

    // Every use of a role, in every file, and its definition.
    let references = |client: &mut Client, declaration: bool| -> BTreeSet<(String, String)> {
        let mut params = at(&smoke, &text, "owner ops_oncall", "ops_oncall");
        params["context"] = json!({"includeDeclaration": declaration});
        let found = client.result("textDocument/references", params);
        found
            .as_array()
            .expect("locations")
            .iter()
            .map(|l| {
                (
                    l["uri"].as_str().expect("a URI").to_string(),
                    l["range"].to_string(),
                )
            })
            .collect()
    };
    let all = references(&mut client, true);
    let mut expected = BTreeSet::new();
    for path in [
        "post-cutover.runbook",
        "post-cutover/roles.runbook",
        "post-cutover/smoke.runbook",
        "post-cutover/triage.runbook",
        "post-cutover/roll-forward.runbook",
    ] {
        let file_text = fs::read_to_string(runbooks.join(path)).expect("a file");
        for (offset, _) in file_text.match_indices("ops_oncall") {
            let range = json!({"start": position(&file_text, offset), "end": position(&file_text, offset + 10)});
            expected.insert((uri(&runbooks.join(path)), range.to_string()));
        }
    }
    assert_eq!(all, expected);
    let uses = references(&mut client, false);
    let definition = (
        uri(&roles),
        range_of(&roles_text, "role ops_oncall", "ops_oncall").to_string(),
    );
    assert!(!uses.contains(&definition));
    assert_eq!(uses.len() + 1, all.len());
    client.stop();
}

#[test]
fn rename_changes_every_file_and_the_result_lints_as_before() {
    let dir = seed();
    let base = dir.path();
    let runbooks = base.join("runbooks");
    let smoke = runbooks.join("post-cutover/smoke.runbook");
    let text = fs::read_to_string(&smoke).expect("the smoke fragment");
    let before = lint(base, "runbooks/post-cutover.runbook");
    let mut client = Client::start(&runbooks);
    client.open(&smoke, &text);

    let mut params = at(&smoke, &text, "on failure -> triage", "triage");
    let range = client.result("textDocument/prepareRename", params.clone());
    assert_eq!(range, range_of(&text, "on failure -> triage", "triage"));
    params["newName"] = json!("and");
    let refused = client.request("textDocument/rename", params.clone());
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("is not an id")),
        "{refused}"
    );
    params["newName"] = json!("smoke");
    let refused = client.request("textDocument/rename", params.clone());
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already a stage named `smoke`")),
        "{refused}"
    );

    params["newName"] = json!("incident_triage");
    let edit = client.result("textDocument/rename", params);
    let changes = edit["changes"].as_object().expect("changes by URI");
    assert!(
        changes.len() >= 3,
        "the stage is named in several files: {edit}"
    );
    let prefix = format!("{}/", uri(&runbooks));
    for (file, edits) in changes {
        let path = runbooks.join(file.strip_prefix(&prefix).expect("a file of the procedure"));
        let old = fs::read_to_string(&path).expect("a file");
        let new = apply(&old, edits.as_array().expect("edits"));
        assert_eq!(
            new.matches("incident_triage").count(),
            edits.as_array().map_or(0, Vec::len),
        );
        fs::write(&path, new).expect("written");
    }
    assert_eq!(lint(base, "runbooks/post-cutover.runbook"), before);
    let all = fs::read_to_string(runbooks.join("post-cutover/triage.runbook")).expect("a file");
    assert!(all.contains("stage incident_triage \""));
    client.stop();
}

#[test]
fn hover_shows_a_nodes_resolved_facts_and_a_keywords_meaning() {
    let dir = seed();
    let runbooks = dir.path().join("runbooks");
    let smoke = runbooks.join("post-cutover/smoke.runbook");
    let text = fs::read_to_string(&smoke).expect("the smoke fragment");
    let mut client = Client::start(&runbooks);
    client.open(&smoke, &text);
    let mut hover = |anchor: &str, needle: &str| -> String {
        let result = client.result("textDocument/hover", at(&smoke, &text, anchor, needle));
        assert_eq!(result["contents"]["kind"], "markdown");
        result["contents"]["value"]
            .as_str()
            .expect("Markdown")
            .to_string()
    };

    let step = hover("step forge_version", "forge_version");
    for fact in [
        "**step** `forge_version`",
        "{{ forge }} --version",
        "timeout 30s",
        "on failure → `stage triage`",
        "worst case: 30s",
    ] {
        assert!(step.contains(fact), "{fact:?} missing from {step}");
    }
    // The same facts from a use of the node, in a condition.
    assert_eq!(hover("forge_version.version ==", "forge_version"), step);
    let stage = hover("stage smoke", "smoke");
    assert!(
        stage.contains("within 30m") && stage.contains("worst case:"),
        "{stage}"
    );
    let input = hover("{{ forge }}", "forge");
    assert!(
        input.contains("**input** `forge`: `string` = `\"forge\"`"),
        "{input}"
    );
    let keyword = hover("    timeout 30s", "timeout");
    assert!(keyword.contains("process group"), "{keyword}");
    // A keyword's word inside a command is not the keyword.
    let inside = client.result(
        "textDocument/hover",
        at(&smoke, &text, "migrate status\"", "status"),
    );
    assert_eq!(inside, Value::Null);
    client.stop();
}

#[test]
fn completion_offers_what_fits_where_the_cursor_is() {
    let dir = seed();
    let runbooks = dir.path().join("runbooks");
    let smoke = runbooks.join("post-cutover/smoke.runbook");
    let text = fs::read_to_string(&smoke).expect("the smoke fragment");
    let mut client = Client::start(&runbooks);
    client.open(&smoke, &text);
    let mut labels = |typed: &str| -> Vec<String> {
        // Typed on a new line after `keep stdout` in the first step.
        let anchor =
            text.find("    keep stdout\n").expect("a keep line") + "    keep stdout\n".len();
        let point = position(&text, anchor);
        client.edit(
            &smoke,
            json!({"start": point, "end": point}),
            &format!("{typed}\n"),
        );
        let mut cursor = point.clone();
        cursor["character"] = json!(typed.encode_utf16().count());
        let result = client.result(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri(&smoke)}, "position": cursor}),
        );
        let mut end = point.clone();
        end["line"] = json!(point["line"].as_u64().expect("a line") + 1);
        end["character"] = json!(0);
        client.edit(&smoke, json!({"start": point, "end": end}), "");
        result
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["label"].as_str().expect("a label").to_string())
            .collect()
    };
    let has = |labels: &[String], wanted: &[&str], unwanted: &[&str]| {
        for w in wanted {
            assert!(labels.iter().any(|l| l == w), "{w} missing from {labels:?}");
        }
        for u in unwanted {
            assert!(!labels.iter().any(|l| l == u), "{u} offered in {labels:?}");
        }
    };
    // The statements of a step, and only those.
    has(
        &labels("    "),
        &["timeout", "capture", "retry", "verify", "on", "when"],
        &["stage", "step", "evidence", "otherwise"],
    );
    has(&labels("    ti"), &["timeout"], &["stage"]);
    // Names inside `{{ }}`: inputs and nodes.
    has(
        &labels("    run \"{{ "),
        &["forge", "fmail", "forge_version"],
        &["smoke", "timeout"],
    );
    // A node's fields after its id and a dot.
    has(
        &labels("    run \"{{ forge_version."),
        &["version", "status"],
        &["forge"],
    );
    has(
        &labels("    require forge_version."),
        &["version", "status"],
        &[],
    );
    // Route targets, and roles where a role goes.
    has(
        &labels("    on failure -> "),
        &["triage", "smoke", "end"],
        &["ops_oncall"],
    );
    has(
        &labels("    owner "),
        &["ops_oncall", "release_owner"],
        &["triage"],
    );
    has(
        &labels("    on failure -> end "),
        &["rolled_back", "escalated"],
        &["triage"],
    );
    client.stop();
}

#[test]
fn the_outline_lists_stages_and_their_nodes() {
    let dir = seed();
    let runbooks = dir.path().join("runbooks");
    let smoke = runbooks.join("post-cutover/smoke.runbook");
    let text = fs::read_to_string(&smoke).expect("the smoke fragment");
    let mut client = Client::start(&runbooks);
    client.open(&smoke, &text);
    let symbols = client.result(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri(&smoke)}}),
    );
    assert_eq!(symbols.as_array().map(Vec::len), Some(1), "{symbols}");
    assert_eq!(symbols[0]["name"], "smoke");
    assert_eq!(
        symbols[0]["selectionRange"],
        range_of(&text, "stage smoke", "smoke")
    );
    let children: Vec<&str> = symbols[0]["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let written: Vec<&str> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            matches!(
                words.next(),
                Some(
                    "step"
                        | "gate"
                        | "manual"
                        | "wait"
                        | "decide"
                        | "choose"
                        | "signoff"
                        | "anchor"
                )
            )
            .then(|| words.next())
            .flatten()
        })
        .collect();
    assert!(written.len() >= 7, "{written:?}");
    assert_eq!(children, written);
    client.stop();
}

#[test]
fn formatting_gives_what_rbx_fmt_writes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("messy.runbook");
    let messy = "runbook messy \"Messy\" {\nstage s   \"S\"{\n  # why\nstep a \"A\" { run \"echo 🚀\"\n   timeout 5s }\n      end ok }\n}\n";
    fs::write(&path, messy).expect("written");
    let mut client = Client::start(dir.path());
    client.open(&path, messy);
    let edits = client.result(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri(&path)}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let formatted = apply(messy, edits.as_array().expect("edits"));
    let out = rbx(dir.path(), &["fmt", "messy.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(
        formatted,
        fs::read_to_string(&path).expect("formatted by rbx fmt")
    );
    assert_ne!(formatted, messy);

    // A file that does not parse cannot be formatted, and says why.
    client.edit(
        &path,
        json!({"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 7}}),
        "runbok",
    );
    let refused = client.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri(&path)}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("syntax error")),
        "{refused}"
    );
    client.stop();
}

#[test]
fn positions_count_utf16_code_units() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("wide.runbook");
    // Four bytes and two UTF-16 units for the rocket; two bytes and one
    // unit for each umlaut: byte columns, char columns and UTF-16
    // columns all differ after them.
    let text = "runbook wide \"Wide\" {\n  stage s \"🚀 Überprüfung\" { then nowhere }\n  stage nowhere_else \"Ö\" { end ok }\n}\n";
    fs::write(&path, text).expect("written");
    let mut client = Client::start(dir.path());
    let published = client.open(&path, text);
    let diagnostics = &published[&uri(&path)];
    let unknown = diagnostics
        .iter()
        .find(|d| d["code"] == "rbx::lint::unknown_reference")
        .unwrap_or_else(|| panic!("{diagnostics:?}"));
    let expected = range_of(text, "then nowhere", "nowhere");
    assert_eq!(
        expected["start"]["character"], 34,
        "UTF-16 units: 33 chars, 38 bytes"
    );
    assert_eq!(unknown["range"], expected);

    // An edit placed in UTF-16 units lands on the name.
    let published = client.edit(&path, expected, "nowhere_else");
    assert!(
        !codes(&published[&uri(&path)]).contains(&"rbx::lint::unknown_reference"),
        "{published:?}"
    );
    let edited = text.replacen("then nowhere ", "then nowhere_else ", 1);
    let found = client.result(
        "textDocument/definition",
        at(&path, &edited, "then nowhere_else", "nowhere_else"),
    );
    assert_eq!(
        found[0]["range"],
        range_of(&edited, "stage nowhere_else", "nowhere_else")
    );
    client.stop();
}

#[test]
fn exit_without_shutdown_is_a_failure_as_the_protocol_says() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let client = Client::start(dir.path());
    let (status, stderr) = client.exit_at_once();
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        stderr,
        "error: the language server stopped: the editor said `exit` without `shutdown` first\n"
    );
}

const FIXABLE: &str = r#"runbook qf "Quick fixes" {
  input service: string = "api"
  input unused: int = 3
  input hosts: list(host) = ["a", "b"]

  stage restart "Restart" {
    foreach host in hosts {
      step bounce "Bounce {{ host }}" {
        run "ssh {{ host }} systemctl restart {{ service }}"
        timeout 1m
        idempotent
      }
    }
    end done
  }
}
"#;

#[test]
fn quick_fixes_remove_what_lint_reports() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("main.runbook");
    fs::write(&path, FIXABLE).expect("written");
    let mut client = Client::start(dir.path());
    let published = client.open(&path, FIXABLE);
    let mut found = codes(&published[&uri(&path)]);
    found.sort_unstable();
    assert_eq!(
        found,
        [
            "rbx::lint::reparsed_interpolation",
            "rbx::lint::unused_input"
        ]
    );

    // One request over the whole file offers a fix for each finding.
    let whole = json!({"start": position(FIXABLE, 0), "end": position(FIXABLE, FIXABLE.len())});
    let actions = client.result(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri(&path)}, "range": whole, "context": {"diagnostics": []}}),
    );
    let actions = actions.as_array().expect("actions");
    let titles: Vec<&str> = actions.iter().filter_map(|a| a["title"].as_str()).collect();
    assert_eq!(
        titles,
        [
            "Remove the unused input `unused`",
            "Quote for the shell: `{{ service | shell }}`"
        ]
    );
    // Each fix is an edit of the text the actions were asked for.
    let mut edits = Vec::new();
    for action in actions {
        assert_eq!(action["diagnostics"].as_array().map(Vec::len), Some(1));
        edits.extend(
            action["edit"]["changes"][uri(&path)]
                .as_array()
                .expect("edits")
                .clone(),
        );
    }
    let fixed = apply(FIXABLE, &edits);
    assert!(!fixed.contains("unused"));
    assert!(fixed.contains("restart {{ service | shell }}\""));
    fs::write(&path, &fixed).expect("written");
    let out = rbx(dir.path(), &["lint", "main.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());

    // A loop variable leads to its `foreach`, and only its own uses.
    let found = client.result(
        "textDocument/references",
        json!({
            "textDocument": {"uri": uri(&path)},
            "position": range_of(FIXABLE, "ssh {{ host", "host")["start"],
            "context": {"includeDeclaration": true},
        }),
    );
    let expected: Vec<Value> = FIXABLE
        .match_indices("host")
        .filter(|(at, _)| {
            !FIXABLE[*at..].starts_with("hosts") && !FIXABLE[..*at].ends_with("list(")
        })
        .map(|(at, _)| json!({"start": position(FIXABLE, at), "end": position(FIXABLE, at + 4)}))
        .collect();
    let ranges: Vec<Value> = found
        .as_array()
        .expect("locations")
        .iter()
        .map(|l| l["range"].clone())
        .collect();
    assert_eq!(ranges, expected);
    client.stop();
}

/// The project's `rbx.toml` levels and a suppression in the file hold in
/// the editor as they hold for `rbx lint`.
#[test]
fn the_projects_lint_levels_and_suppressions_hold_in_the_editor() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let base = dir.path();
    fs::write(
        base.join("rbx.toml"),
        "[lint]\nmanual_without_evidence = \"warn\"\n",
    )
    .expect("a file");
    let text = "runbook r \"R\" {\n  input unused \"U\": string = \"x\"\n  outcome done \"d\" success\n\n  \
                stage s \"S\" {\n    manual look \"Look\" {\n      instructions \"look\"\n    }\n\n    \
                step a \"A\" {\n      run \"true\"\n      capture v = stdout ~ /(.*)/ # rbx: allow(unused_capture) kept for the reader\n    }\n\n    \
                end done\n  }\n}\n";
    let path = base.join("r.runbook");
    fs::write(&path, text).expect("a file");
    let mut client = Client::start(base);
    let published = client.open(&path, text);
    let editor = seen(base, &published);
    let lint = lint(base, "r.runbook");
    assert_eq!(editor, lint);
    let codes: Vec<(&str, &str)> = editor
        .iter()
        .map(|(_, code, _, _, severity)| (code.as_str(), severity.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("rbx::lint::manual_without_evidence", "warning"),
            ("rbx::lint::unused_input", "warning")
        ]
    );
    client.stop();
}
