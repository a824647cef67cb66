//! The observer of a simulated run: it shows nothing, and keeps what the
//! engine refused (a person's answer that breaks a rule), so that a
//! scenario stopped by it says why.

use std::sync::Mutex;

/// What the engine said it refused (a person's answer that breaks a rule),
/// so that a scenario stopped by it says why.
#[derive(Debug, Default)]
pub struct Refusals(Mutex<Vec<String>>);

impl Refusals {
    /// The last refusal about `node`.
    pub fn of(&self, node: &str) -> Option<String> {
        let lines = self.0.lock().ok()?;
        let prefix = format!("✗ {node}: ");
        lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
    }
}

impl rbx_engine::Observer for Refusals {
    fn line(&self, tone: rbx_engine::Tone, text: &str) {
        if tone == rbx_engine::Tone::Bad {
            if let Ok(mut lines) = self.0.lock() {
                lines.push(text.to_string());
            }
        }
    }
    fn output(&self, _: rbx_engine::observer::Stream, _: &[u8]) {}
    fn running(&self, _: &str) {}
    fn stopped(&self) {}
    fn can_ask(&self) -> bool {
        false
    }
    fn ask(&self, _: &str) -> Option<String> {
        None
    }
    fn long_text(&self) -> Option<String> {
        None
    }
}
