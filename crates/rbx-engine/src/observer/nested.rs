//! The observer a child run reports to: its parent's, with each line and
//! label prefixed by the parent's node, so that `s.push` of a child is not
//! read as the parent's `s.push`.

use std::sync::Arc;

use super::{Observer, Stream, Tone};

#[derive(Debug)]
pub(crate) struct Nested {
    inner: Arc<dyn Observer>,
    /// `[rollout.deploy_eu] `: the parent's node, as the run names it.
    prefix: String,
}

impl Nested {
    pub(crate) fn new(inner: Arc<dyn Observer>, node: &str) -> Nested {
        Nested {
            inner,
            prefix: format!("[{node}] "),
        }
    }
}

impl Observer for Nested {
    fn line(&self, tone: Tone, text: &str) {
        self.inner.line(tone, &format!("{}{text}", self.prefix));
    }
    fn output(&self, stream: Stream, bytes: &[u8]) {
        self.inner.output(stream, bytes);
    }
    fn running(&self, label: &str) {
        self.inner.running(&format!("{}{label}", self.prefix));
    }
    fn progress(&self, label: &str) {
        self.inner.progress(&format!("{}{label}", self.prefix));
    }
    fn stopped(&self) {
        self.inner.stopped();
    }
    fn can_ask(&self) -> bool {
        self.inner.can_ask()
    }
    fn ask(&self, prompt: &str) -> Option<String> {
        self.inner.ask(&format!("{}{prompt}", self.prefix))
    }
    fn long_text(&self) -> Option<String> {
        self.inner.long_text()
    }
    fn interrupted(&self) -> bool {
        self.inner.interrupted()
    }
}
