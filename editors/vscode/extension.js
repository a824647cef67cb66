// The rbx extension for VS Code: the runbook language (highlighting and
// editing rules come from package.json) and a client that starts
// `rbx lsp` for every .runbook file, so that lint, navigation, hover,
// completion, formatting, rename and quick fixes come from rbx itself.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("rbx").get("path", "rbx");
  const server = { command, args: ["lsp"], transport: TransportKind.stdio };
  client = new LanguageClient(
    "rbx",
    "rbx",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "runbook" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
