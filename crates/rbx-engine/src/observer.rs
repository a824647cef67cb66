//! How a run talks to the person driving it. The engine never prints or
//! reads a terminal itself: it reports to an [`Observer`], which the CLI
//! implements for a terminal (colour, a spinner, prompts) and tests and
//! other front ends implement as they need.

/// How a line of progress reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A step starting.
    Start,
    /// Something done or answered.
    Good,
    /// A failure.
    Bad,
    /// A warning or a pause.
    Note,
    /// Prose for the person: instructions, options.
    Plain,
}

mod nested;

/// Which stream a chunk of a step's output came from.
pub use crate::process::Stream;
pub(crate) use nested::Nested;

pub trait Observer: Send + Sync + std::fmt::Debug {
    /// A line about the run: a step starting or failing, a warning.
    fn line(&self, tone: Tone, text: &str);
    /// A chunk of a step's output as it arrives, secrets already masked.
    fn output(&self, stream: Stream, bytes: &[u8]);
    /// A step started running (for a spinner) …
    fn running(&self, label: &str);
    /// … says more of what it is doing (a wait's last probe) …
    fn progress(&self, label: &str) {
        self.running(label);
    }
    /// … and stopped.
    fn stopped(&self);
    /// Whether a person can be asked now.
    fn can_ask(&self) -> bool;
    /// Asks a person; the answer without its line ending, or `None` when
    /// no answer can come (the input ended).
    fn ask(&self, prompt: &str) -> Option<String>;
    /// Long text written in the person's editor, if they have one.
    fn long_text(&self) -> Option<String>;
    /// Whether the person interrupted a question (Ctrl-C) rather than
    /// answering it: the run stops as on a signal.
    fn interrupted(&self) -> bool {
        false
    }
}

/// Reports nothing and can ask no one: for hooks' probes and for tests.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn line(&self, _: Tone, _: &str) {}
    fn output(&self, _: Stream, _: &[u8]) {}
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
