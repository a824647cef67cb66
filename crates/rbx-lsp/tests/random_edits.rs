//! The server never panics and always answers, whatever an editor sends:
//! random edits (at positions inside and outside the text, splitting
//! characters, unbalancing braces and quotes) to the seed and one of its
//! fragments, each followed by every kind of request at random places.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use proptest::prelude::*;
use rbx_check::{LoadError, Loader};
use serde_json::{Value, json};

/// The seed, served from memory under `/seed`.
struct Memory(HashMap<PathBuf, Vec<u8>>);

impl Loader for Memory {
    fn load(&self, path: &Path, _: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        self.0.get(path).cloned().ok_or(LoadError::NotFound)
    }
}

fn seed() -> Memory {
    let runbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runbooks");
    let mut files = HashMap::new();
    for name in [
        "post-cutover.runbook",
        "post-cutover/smoke.runbook",
        "post-cutover/roles.runbook",
        "post-cutover/links.runbook",
        "post-cutover/triage.runbook",
        "post-cutover/playbooks.runbook",
        "post-cutover/severity.runbook",
        "post-cutover/rollback.runbook",
        "post-cutover/roll-forward.runbook",
    ] {
        let bytes = std::fs::read(runbooks.join(name)).expect("a seed file");
        files.insert(Path::new("/seed").join(name), bytes);
    }
    Memory(files)
}

const ENTRY: &str = "file:///seed/post-cutover.runbook";
const SMOKE: &str = "file:///seed/post-cutover/smoke.runbook";

struct Client {
    connection: Connection,
    next: i32,
}

impl Client {
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = RequestId::from(self.next);
        let request = Request::new(id.clone(), method.to_string(), params);
        self.connection
            .sender
            .send(Message::Request(request))
            .expect("the server is alive");
        loop {
            match self
                .connection
                .receiver
                .recv_timeout(Duration::from_secs(60))
            {
                Ok(Message::Response(response)) if response.id == id => {
                    return serde_json::to_value(response).expect("a response");
                }
                Ok(_) => {}
                Err(error) => panic!("no answer to `{method}`: the server died ({error})"),
            }
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        let notification = Notification::new(method.to_string(), params);
        self.connection
            .sender
            .send(Message::Notification(notification))
            .expect("the server is alive");
    }
}

/// Text an author might type, or paste by mistake.
fn snippet() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("\"".to_string()),
        Just("\"\"\"".to_string()),
        Just("{{ forge".to_string()),
        Just("forge_version.".to_string()),
        Just("\n    step x \"X\" {\n".to_string()),
        Just("on failure -> ".to_string()),
        Just("🚀Ü\u{200d}".to_string()),
        Just("# comment\n".to_string()),
        "[a-z_ .{}\"\n]{0,12}",
    ]
}

fn position() -> impl Strategy<Value = (u32, u32)> {
    (0u32..200, 0u32..90)
}

#[derive(Debug, Clone)]
struct Edit {
    smoke: bool,
    start: (u32, u32),
    end: (u32, u32),
    text: String,
    at: (u32, u32),
}

fn edit() -> impl Strategy<Value = Edit> {
    (any::<bool>(), position(), position(), snippet(), position()).prop_map(
        |(smoke, start, end, text, at)| Edit {
            smoke,
            start,
            end,
            text,
            at,
        },
    )
}

fn pos((line, character): (u32, u32)) -> Value {
    json!({"line": line, "character": character})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_edits_never_stop_the_server(edits in proptest::collection::vec(edit(), 1..12)) {
        let (server, client) = Connection::memory();
        let thread = std::thread::spawn(move || rbx_lsp::serve(&server, seed()).map_err(|e| e.to_string()));
        let mut client = Client { connection: client, next: 0 };
        let init = client.request("initialize", json!({"capabilities": {}, "rootUri": "file:///seed"}));
        prop_assert!(init.get("result").is_some(), "{}", init);
        client.notify("initialized", json!({}));
        let memory = seed();
        for (uri, path) in [(ENTRY, "/seed/post-cutover.runbook"), (SMOKE, "/seed/post-cutover/smoke.runbook")] {
            let text = String::from_utf8(memory.0[Path::new(path)].clone()).expect("UTF-8");
            client.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": "runbook", "version": 1, "text": text}}));
        }
        for edit in edits {
            let uri = if edit.smoke { SMOKE } else { ENTRY };
            client.notify("textDocument/didChange", json!({
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [{"range": {"start": pos(edit.start), "end": pos(edit.end)}, "text": edit.text}],
            }));
            let document = json!({"uri": uri});
            let at = json!({"textDocument": document, "position": pos(edit.at)});
            let mut with_context = at.clone();
            with_context["context"] = json!({"includeDeclaration": true});
            let mut rename = at.clone();
            rename["newName"] = json!("renamed");
            let requests = [
                ("textDocument/hover", at.clone()),
                ("textDocument/definition", at.clone()),
                ("textDocument/references", with_context),
                ("textDocument/completion", at.clone()),
                ("textDocument/prepareRename", at.clone()),
                ("textDocument/rename", rename),
                ("textDocument/documentSymbol", json!({"textDocument": document})),
                ("textDocument/formatting", json!({"textDocument": document, "options": {"tabSize": 2, "insertSpaces": true}})),
                ("textDocument/codeAction", json!({"textDocument": document, "range": {"start": pos(edit.start), "end": pos(edit.at)}, "context": {"diagnostics": []}})),
            ];
            for (method, params) in requests {
                let response = client.request(method, params);
                // An answer, or a refusal that says why (RequestFailed);
                // never a malformed request or an internal error.
                let refused = response.get("error").map(|e| e["code"].clone());
                prop_assert!(refused.is_none() || refused == Some(json!(-32803)), "{method}: {response}");
            }
        }
        let shutdown = client.request("shutdown", Value::Null);
        prop_assert!(shutdown.get("error").is_none());
        client.notify("exit", Value::Null);
        drop(client);
        prop_assert_eq!(thread.join().expect("the server thread ends without panicking"), Ok(()));
    }
}
