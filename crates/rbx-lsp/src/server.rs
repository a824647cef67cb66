//! The transport: JSON-RPC over a `lsp-server` connection, each request
//! answered in turn from the [`Workspace`].

use std::error::Error;
use std::path::PathBuf;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Exit, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest,
    PrepareRenameRequest, References, Rename, Request as _,
};
use lsp_types::*;
use rbx_check::Loader;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::navigate::{self, Cursor};
use crate::workspace::{Publish, Workspace};
use crate::{actions, complete, hover, outline, uri};

/// What the server can do, said in `initialize`.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "{".into(), " ".into(), ">".into()]),
            ..CompletionOptions::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        })),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        ..ServerCapabilities::default()
    }
}

/// Serves one editor over `connection` until it says `shutdown` and
/// `exit`, reading files that are not open through `disk`.
pub fn serve<L: Loader>(
    connection: &Connection,
    disk: L,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let (id, params) = connection.initialize_start()?;
    let params: InitializeParams = serde_json::from_value(params)?;
    let result = InitializeResult {
        capabilities: capabilities(),
        server_info: Some(ServerInfo {
            name: "rbx".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    connection.initialize_finish(id, serde_json::to_value(result)?)?;
    let mut server = Server {
        workspace: Workspace::new(disk, roots(&params)),
        connection,
    };
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request)? {
                    return Ok(());
                }
                let response = server.request(request);
                connection.sender.send(Message::Response(response))?;
            }
            // The protocol asks for a failing status when `exit` comes
            // without `shutdown` before it (`handle_shutdown` takes the
            // `exit` that follows a `shutdown`).
            Message::Notification(notification) if notification.method == Exit::METHOD => {
                return Err("the editor said `exit` without `shutdown` first".into());
            }
            Message::Notification(notification) => server.notification(notification)?,
            Message::Response(_) => {}
        }
    }
    Ok(())
}

/// The workspace folders, which bound the search for the entry runbook
/// that includes a fragment.
#[expect(
    deprecated,
    reason = "editors that send no workspace folders still send the root URI"
)]
fn roots(params: &InitializeParams) -> Vec<PathBuf> {
    let folders = params.workspace_folders.iter().flatten().map(|f| &f.uri);
    folders
        .chain(params.root_uri.as_ref())
        .filter_map(uri::to_path)
        .collect()
}

struct Server<'c, L> {
    workspace: Workspace<L>,
    connection: &'c Connection,
}

impl<L: Loader> Server<'_, L> {
    fn notification(
        &mut self,
        notification: Notification,
    ) -> Result<(), Box<dyn Error + Send + Sync>> {
        let publishes = match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let params: DidOpenTextDocumentParams =
                    serde_json::from_value(notification.params)?;
                match uri::to_path(&params.text_document.uri) {
                    Some(path) => self.workspace.open(path, params.text_document.text),
                    None => Vec::new(),
                }
            }
            DidChangeTextDocument::METHOD => {
                let params: DidChangeTextDocumentParams =
                    serde_json::from_value(notification.params)?;
                match uri::to_path(&params.text_document.uri) {
                    Some(path) => self.workspace.change(&path, params.content_changes),
                    None => Vec::new(),
                }
            }
            DidCloseTextDocument::METHOD => {
                let params: DidCloseTextDocumentParams =
                    serde_json::from_value(notification.params)?;
                match uri::to_path(&params.text_document.uri) {
                    Some(path) => self.workspace.close(&path),
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        for publish in publishes {
            self.publish(publish)?;
        }
        Ok(())
    }

    fn publish(&self, publish: Publish) -> Result<(), Box<dyn Error + Send + Sync>> {
        let Some(uri) = uri::from_path(&publish.path) else {
            return Ok(());
        };
        let params = PublishDiagnosticsParams::new(uri, publish.diagnostics, None);
        let notification = Notification::new(PublishDiagnostics::METHOD.into(), params);
        self.connection
            .sender
            .send(Message::Notification(notification))?;
        Ok(())
    }

    fn request(&mut self, request: Request) -> Response {
        let ws = &self.workspace;
        let id = request.id.clone();
        match request.method.as_str() {
            GotoDefinition::METHOD => answer::<GotoDefinition>(request, |p| {
                let at = p.text_document_position_params;
                let locations = cursor(ws, &at.text_document.uri, at.position)
                    .map(|c| navigate::definition(&c))
                    .unwrap_or_default();
                Ok((!locations.is_empty()).then_some(GotoDefinitionResponse::Array(locations)))
            }),
            References::METHOD => answer::<References>(request, |p| {
                let at = p.text_document_position;
                Ok(cursor(ws, &at.text_document.uri, at.position)
                    .map(|c| navigate::references(&c, p.context.include_declaration)))
            }),
            HoverRequest::METHOD => answer::<HoverRequest>(request, |p| {
                let at = p.text_document_position_params;
                let text =
                    cursor(ws, &at.text_document.uri, at.position).and_then(|c| hover::hover(&c));
                Ok(text.map(|value| Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value,
                    }),
                    range: None,
                }))
            }),
            Completion::METHOD => answer::<Completion>(request, |p| {
                let at = p.text_document_position;
                Ok(cursor(ws, &at.text_document.uri, at.position)
                    .map(|c| CompletionResponse::Array(complete::complete(&c))))
            }),
            DocumentSymbolRequest::METHOD => answer::<DocumentSymbolRequest>(request, |p| {
                Ok(
                    cursor(ws, &p.text_document.uri, Position::default()).and_then(|c| {
                        let file = c.analysis.source(c.source)?.file.as_ref()?;
                        Some(DocumentSymbolResponse::Nested(outline::outline(
                            c.text, file,
                        )))
                    }),
                )
            }),
            Formatting::METHOD => answer::<Formatting>(request, |p| {
                let text = uri::to_path(&p.text_document.uri)
                    .and_then(|path| ws.text(&path))
                    .ok_or("the document is not open")?;
                crate::format::format(&text).map(Some)
            }),
            PrepareRenameRequest::METHOD => answer::<PrepareRenameRequest>(request, |p| {
                let c = cursor(ws, &p.text_document.uri, p.position).ok_or(NOT_OPEN)?;
                navigate::prepare_rename(&c).map(|r| Some(PrepareRenameResponse::Range(r)))
            }),
            Rename::METHOD => answer::<Rename>(request, |p| {
                let at = p.text_document_position;
                let c = cursor(ws, &at.text_document.uri, at.position).ok_or(NOT_OPEN)?;
                navigate::rename(&c, &p.new_name).map(Some)
            }),
            CodeActionRequest::METHOD => answer::<CodeActionRequest>(request, |p| {
                let actions = cursor(ws, &p.text_document.uri, Position::default())
                    .map(|c| actions::actions(&c, p.range))
                    .unwrap_or_default();
                Ok(Some(
                    actions
                        .into_iter()
                        .map(CodeActionOrCommand::CodeAction)
                        .collect(),
                ))
            }),
            _ => Response::new_err(
                id,
                ErrorCode::MethodNotFound as i32,
                format!("rbx does not answer `{}`", request.method),
            ),
        }
    }
}

const NOT_OPEN: &str = "the document is not part of a procedure rbx has checked";

fn cursor<'w, L: Loader>(
    ws: &'w Workspace<L>,
    uri: &Uri,
    position: Position,
) -> Option<Cursor<'w>> {
    let path = uri::to_path(uri)?;
    Cursor::new(ws.analysis_for(&path), position)
}

/// Answers `request` with what `handle` makes of its parameters: a
/// result, or an error saying why the request cannot be met.
fn answer<R>(
    request: Request,
    handle: impl FnOnce(R::Params) -> Result<R::Result, String>,
) -> Response
where
    R: lsp_types::request::Request,
    R::Params: DeserializeOwned,
    R::Result: Serialize,
{
    let id: RequestId = request.id;
    let params = match serde_json::from_value::<R::Params>(request.params) {
        Ok(params) => params,
        Err(error) => {
            return Response::new_err(
                id,
                ErrorCode::InvalidParams as i32,
                format!("invalid parameters for `{}`: {error}", R::METHOD),
            );
        }
    };
    match handle(params) {
        Ok(result) => Response::new_ok(id, result),
        Err(message) => Response::new_err(id, ErrorCode::RequestFailed as i32, message),
    }
}
