// Highlighting for the book's ```runbook code blocks: the runbook language
// registered with the highlight.js that mdBook bundles, then every runbook
// block highlighted again with it (mdBook highlights before this script
// runs, when the language was still unknown). The keyword list is checked
// against grammar/runbook.pest by a test in crates/rbx-lsp, as the editor
// grammar in editors/vscode is.
(function () {
  "use strict";

  const KEYWORDS = [
    "runbook", "version", "scope", "policy", "include", "input", "role", "link",
    "outcome", "hook", "stage", "finally", "checklist", "fail-fast", "within", "deadline", "for", "max", "jitter", "then", "end", "step", "child", "manual", "gate",
    "signoff", "decide", "choose", "wait", "anchor", "foreach", "in", "parallel",
    "tolerate", "again", "call", "repeat", "most", "owner", "require", "on", "run", "timeout", "retry",
    "backoff", "expect", "exit", "capture", "json", "lines", "keep", "idempotent",
    "verify",
    "irreversible", "instructions", "evidence", "acknowledge", "assign", "optional", "attest", "by",
    "approvers", "no", "self-approval", "when", "otherwise", "option", "every",
    "until", "continue", "person", "contact", "backup", "identity", "and", "or", "not",
    // Scenarios of `rbx test` (NAME.rbxtest).
    "scenario", "set", "operator", "start", "default", "given", "attempt",
    "attempts", "takes", "at", "answer", "rationale", "confirm", "reject",
    "earlier", "failed", "ran", "overrun", "cancel", "go",
  ];
  const TYPES = [
    "string", "int", "bool", "duration", "timestamp", "secret", "host",
    "command", "enum", "list", "choice", "choices", "text", "url", "file",
  ];
  const BUILT_INS = [
    "stdout", "stderr", "success", "failure", "cancel", "pause", "overrun", "finish",
    "fixed", "exponential",
  ];

  function runbook(hljs) {
    const interpolation = { className: "subst", begin: /\{\{/, end: /\}\}/ };
    return {
      name: "Runbook",
      keywords: {
        $pattern: /[A-Za-z_][A-Za-z0-9_-]*/,
        keyword: KEYWORDS.join(" "),
        type: TYPES.join(" "),
        built_in: BUILT_INS.join(" "),
        literal: "true false",
      },
      contains: [
        hljs.HASH_COMMENT_MODE,
        { className: "string", begin: /"""/, end: /"""/, contains: [interpolation] },
        {
          className: "string",
          begin: /"/,
          end: /"/,
          illegal: /\n/,
          contains: [hljs.BACKSLASH_ESCAPE, interpolation],
        },
        // Outside strings, a slash only ever starts a regex (after ~ or !~).
        { className: "regexp", begin: /\//, end: /\/[imsx]*/, contains: [hljs.BACKSLASH_ESCAPE] },
        { className: "number", begin: /\b(?:\d+(?:ms|s|m|h|d))+\b/ },
        { className: "number", begin: /-?\b\d+\b/ },
        { className: "operator", begin: /->|==|!=|<=|>=|!~|~/ },
      ],
    };
  }

  if (typeof hljs === "undefined") {
    return;
  }
  hljs.registerLanguage("runbook", runbook);
  document.querySelectorAll("code.language-runbook").forEach(function (block) {
    delete block.dataset.highlighted;
    if (hljs.highlightElement) {
      hljs.highlightElement(block);
    } else {
      hljs.highlightBlock(block);
    }
  });
})();
