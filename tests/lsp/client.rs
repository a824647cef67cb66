//! A small language client: it starts the real `rbx lsp`, frames JSON-RPC
//! messages with `Content-Length` headers, and keeps what the server
//! publishes between requests.

use std::collections::HashMap;
use std::io::{BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

/// How long the client waits for any message before deciding the server
/// hangs: a guard against a stuck test, not a measure of speed.
const SILENCE: Duration = Duration::from_secs(60);

pub struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
    /// The diagnostics last published for each URI.
    pub published: HashMap<String, Vec<Value>>,
}

impl Client {
    /// Starts `rbx lsp --stdio` and initializes it with `root` as the
    /// workspace folder.
    pub fn start(root: &Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rbx"))
            .args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rbx lsp starts");
        let stdin = child.stdin.take().expect("a piped stdin");
        let stdout = child.stdout.take().expect("a piped stdout");
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        let mut client = Client {
            child,
            stdin,
            messages,
            next_id: 0,
            published: HashMap::new(),
        };
        let root_uri = uri(root);
        let result = client.result(
            "initialize",
            json!({
                "processId": null,
                "rootUri": root_uri,
                "capabilities": {},
                "workspaceFolders": [{"uri": root_uri, "name": "runbooks"}],
            }),
        );
        assert_eq!(result["serverInfo"]["name"], "rbx");
        assert_eq!(
            result["capabilities"]["textDocumentSync"], 2,
            "incremental sync"
        );
        client.notify("initialized", json!({}));
        client
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len())
            .and_then(|()| self.stdin.flush())
            .expect("the server reads its input");
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns the whole response, keeping every
    /// notification that arrives before it.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self
                .messages
                .recv_timeout(SILENCE)
                .unwrap_or_else(|_| panic!("no answer to `{method}`"));
            if message["id"] == id {
                return message;
            }
            if message["method"] == "textDocument/publishDiagnostics" {
                let params = &message["params"];
                let uri = params["uri"].as_str().expect("a URI").to_string();
                let diagnostics = params["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                self.published.insert(uri, diagnostics);
            }
        }
    }

    /// The result of a request that must succeed.
    pub fn result(&mut self, method: &str, params: Value) -> Value {
        let response = self.request(method, params);
        assert!(
            response.get("error").is_none(),
            "`{method}` failed: {response}"
        );
        response["result"].clone()
    }

    /// Everything published since the last call: the server handles
    /// messages in order, so a request answered after a notification
    /// comes after every diagnostic that notification caused.
    pub fn settle(&mut self) -> HashMap<String, Vec<Value>> {
        self.published.clear();
        let response = self.request("rbx/settle", json!(null));
        assert_eq!(
            response["error"]["code"], -32601,
            "an unknown method is refused"
        );
        std::mem::take(&mut self.published)
    }

    pub fn open(&mut self, path: &Path, text: &str) -> HashMap<String, Vec<Value>> {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {
                "uri": uri(path), "languageId": "runbook", "version": 1, "text": text
            }}),
        );
        self.settle()
    }

    /// Replaces `range` (LSP positions) with `text`.
    pub fn edit(&mut self, path: &Path, range: Value, text: &str) -> HashMap<String, Vec<Value>> {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": {"uri": uri(path), "version": 2},
                "contentChanges": [{"range": range, "text": text}],
            }),
        );
        self.settle()
    }

    /// `shutdown`, then `exit`: the server must end with status 0.
    pub fn stop(mut self) {
        let result = self.result("shutdown", json!(null));
        assert_eq!(result, Value::Null);
        self.notify("exit", json!(null));
        let status = self.child.wait().expect("the server ends");
        assert!(status.success(), "rbx lsp ended with {status}");
    }
}

impl Client {
    /// `exit` without `shutdown`: the status the server ends with, and
    /// what it wrote on standard error.
    pub fn exit_at_once(mut self) -> (std::process::ExitStatus, String) {
        use std::io::Read as _;
        self.notify("exit", json!(null));
        let status = self.child.wait().expect("the server ends");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr)
                .expect("standard error is text");
        }
        (status, stderr)
    }
}

fn read_message(reader: &mut impl std::io::BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length: ") {
            length = value.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// The `file:` URI of an absolute path, as an editor writes it.
pub fn uri(path: &Path) -> String {
    let mut out = String::from("file://");
    for byte in path.to_str().expect("a UTF-8 path").bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The LSP position (line, UTF-16 unit) of byte `offset` of `text`.
pub fn position(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    json!({"line": line, "character": before[start..].encode_utf16().count()})
}

/// The range of the first `needle` after the first `anchor` in `text`.
pub fn range_of(text: &str, anchor: &str, needle: &str) -> Value {
    let from = text.find(anchor).unwrap_or_else(|| panic!("no {anchor:?}"));
    let start = from
        + text[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle:?}"));
    json!({"start": position(text, start), "end": position(text, start + needle.len())})
}

/// `text` with the LSP `edits` applied.
pub fn apply(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| -> usize {
        let line = p["line"].as_u64().expect("a line") as usize;
        let character = p["character"].as_u64().expect("a character") as usize;
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        let mut units = 0;
        for (at, c) in text[start..].char_indices() {
            if units >= character || c == '\n' {
                return start + at;
            }
            units += c.len_utf16();
        }
        text.len()
    };
    let mut edits: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().expect("new text"),
            )
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (start, end, new) in edits {
        out.replace_range(start..end, new);
    }
    out
}
