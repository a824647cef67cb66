//! What the operator sees while a run goes on: a line per step as it starts
//! and ends, and on a terminal a spinner with the elapsed time while a long
//! step runs. Colour only on a terminal, and never when `NO_COLOR` is set.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Whether standard error is a terminal that gets colour and a spinner.
pub fn fancy() -> bool {
    static FANCY: OnceLock<bool> = OnceLock::new();
    *FANCY.get_or_init(|| {
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    })
}

#[derive(Debug, Clone, Copy)]
pub enum Tone {
    Start,
    Good,
    Bad,
    Note,
}

/// One line of progress on standard error.
pub fn line(tone: Tone, text: &str) {
    clear();
    if fancy() {
        let colour = match tone {
            Tone::Start => "36",
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Note => "33",
        };
        eprintln!("\x1b[{colour}m{text}\x1b[0m");
    } else {
        eprintln!("{text}");
    }
}

/// Whether the spinner's line is on the screen, so output can clear it.
static SHOWN: AtomicBool = AtomicBool::new(false);

/// Clears the spinner's line, if it is shown, before other output.
pub fn clear() {
    if SHOWN.swap(false, Ordering::SeqCst) {
        eprint!("\r\x1b[K");
        let _ = std::io::stderr().flush();
    }
}

/// A spinner for one running step; it stops when dropped.
#[derive(Debug)]
pub struct Spinner {
    running: Arc<AtomicBool>,
}

impl Spinner {
    /// Starts a spinner for `label` after the step has run two seconds; on
    /// anything but a terminal it does nothing.
    pub fn start(label: String) -> Spinner {
        let running = Arc::new(AtomicBool::new(true));
        if fancy() {
            let alive = Arc::clone(&running);
            tokio::spawn(async move {
                const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
                let started = Instant::now();
                tokio::time::sleep(Duration::from_secs(2)).await;
                let mut frame = 0;
                while alive.load(Ordering::SeqCst) {
                    let secs = started.elapsed().as_secs();
                    eprint!("\r\x1b[K{} {label} {secs}s", FRAMES[frame % FRAMES.len()]);
                    let _ = std::io::stderr().flush();
                    SHOWN.store(true, Ordering::SeqCst);
                    frame += 1;
                    tokio::time::sleep(Duration::from_millis(120)).await;
                }
            });
        }
        Spinner { running }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        clear();
    }
}
