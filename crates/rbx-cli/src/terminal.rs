//! The terminal as the engine's observer: a line per step as it starts and
//! ends, step output as it arrives, on a terminal a spinner with the
//! elapsed time while a long step runs, and prompts for people. Colour only
//! on a terminal, and never when `NO_COLOR` is set.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rbx_engine::observer::Stream;
use rbx_engine::{Observer, Tone};

use crate::conventions::Verbosity;

#[derive(Debug)]
pub struct Terminal {
    /// Whether people may be asked here (`--non-interactive` says no).
    interactive: bool,
    /// Colour and a spinner: standard error is a terminal and `NO_COLOR`
    /// is not set.
    fancy: bool,
    /// The step the spinner shows, and since when; `None` when none runs.
    spinning: std::sync::Arc<Mutex<Option<(String, Instant)>>>,
    /// Whether the spinner's line is on the screen, so output clears it.
    shown: std::sync::Arc<AtomicBool>,
    /// Whether the person pressed Ctrl-C at a prompt.
    interrupted: AtomicBool,
}

impl Terminal {
    pub fn new(interactive: bool) -> Terminal {
        let fancy = crate::conventions::colour();
        let terminal = Terminal {
            interactive,
            fancy,
            spinning: std::sync::Arc::default(),
            shown: std::sync::Arc::default(),
            interrupted: AtomicBool::new(false),
        };
        if fancy {
            terminal.spin();
        }
        terminal
    }

    /// Draws the spinner of the running step, once it has run two seconds,
    /// from a thread of its own for the life of the process.
    fn spin(&self) {
        let spinning = std::sync::Arc::clone(&self.spinning);
        let shown = std::sync::Arc::clone(&self.shown);
        std::thread::spawn(move || {
            const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
            let mut frame = 0;
            loop {
                std::thread::sleep(Duration::from_millis(120));
                let Ok(current) = spinning.lock() else { return };
                if let Some((label, since)) = current.as_ref() {
                    let secs = since.elapsed().as_secs();
                    if secs >= 2 {
                        err!("\r\x1b[K{} {label} {secs}s", FRAMES[frame % FRAMES.len()]);
                        let _ = std::io::stderr().flush();
                        shown.store(true, Ordering::SeqCst);
                        frame += 1;
                    }
                }
            }
        });
    }

    fn clear(&self) {
        if self.shown.swap(false, Ordering::SeqCst) {
            err!("\r\x1b[K");
            let _ = std::io::stderr().flush();
        }
    }
}

impl Observer for Terminal {
    fn line(&self, tone: Tone, text: &str) {
        // `-q` keeps failures, pauses and what a person is asked.
        if crate::conventions::verbosity() == Verbosity::Quiet
            && matches!(tone, Tone::Start | Tone::Good)
        {
            return;
        }
        // The spinner draws under the same lock, so a line never lands in
        // the middle of it.
        let _held = self.spinning.lock();
        self.clear();
        let colour = match tone {
            Tone::Start => "36",
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Note => "33",
            Tone::Plain => "",
        };
        if self.fancy && !colour.is_empty() {
            errln!("\x1b[{colour}m{text}\x1b[0m");
        } else {
            errln!("{text}");
        }
    }

    fn output(&self, stream: Stream, bytes: &[u8]) {
        if crate::conventions::verbosity() == Verbosity::Quiet {
            return;
        }
        let _held = self.spinning.lock();
        self.clear();
        let _ = match stream {
            Stream::Stdout => std::io::stdout().lock().write_all(bytes),
            Stream::Stderr => std::io::stderr().lock().write_all(bytes),
        };
    }

    fn running(&self, label: &str) {
        if let Ok(mut spinning) = self.spinning.lock() {
            *spinning = Some((label.to_string(), Instant::now()));
        }
    }

    /// A new label for what already runs keeps the time it started.
    fn progress(&self, label: &str) {
        if let Ok(mut spinning) = self.spinning.lock() {
            let since = spinning
                .as_ref()
                .map_or_else(Instant::now, |(_, since)| *since);
            *spinning = Some((label.to_string(), since));
        }
    }

    fn stopped(&self) {
        if let Ok(mut spinning) = self.spinning.lock() {
            *spinning = None;
        }
        self.clear();
    }

    fn can_ask(&self) -> bool {
        self.interactive && std::io::stdin().is_terminal()
    }

    /// A line edited on the terminal (rustyline, on the controlling
    /// terminal even when standard output is redirected). Ctrl-C is an
    /// interruption, not an answer; end of input (Ctrl-D, a closed
    /// terminal) or a read error means no answer will come, and none is
    /// made up.
    fn ask(&self, prompt: &str) -> Option<String> {
        use rustyline::error::ReadlineError;
        let config = rustyline::Config::builder()
            .behavior(rustyline::config::Behavior::PreferTerm)
            .auto_add_history(false)
            .build();
        let mut editor = rustyline::DefaultEditor::with_config(config).ok()?;
        match editor.readline(&format!("{prompt}: ")) {
            Ok(line) => Some(line.trim().to_string()),
            Err(ReadlineError::Interrupted) => {
                self.interrupted.store(true, Ordering::SeqCst);
                errln!("^C");
                None
            }
            Err(_) => None,
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Opens `$VISUAL` or `$EDITOR` on an empty file and returns what was
    /// written, trimmed.
    fn long_text(&self) -> Option<String> {
        let editor = std::env::var("VISUAL")
            .or_else(|_| std::env::var("EDITOR"))
            .ok()?;
        let file = tempfile::Builder::new()
            .prefix("rbx-evidence-")
            .suffix(".txt")
            .tempfile()
            .ok()?;
        let mut command = std::process::Command::new("sh");
        // The editor, like every command rbx starts, gets no secret the
        // operator exported for the run.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("RBX_SECRET_") {
                command.env_remove(name);
            }
        }
        let status = command
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("rbx-editor")
            .arg(file.path())
            .status()
            .ok()?;
        let text = std::fs::read_to_string(file.path()).ok()?;
        status.success().then(|| text.trim().to_string())
    }
}

/// Asks for a secret on the terminal without echoing it; `None` when
/// standard input is not a terminal.
pub fn ask_secret(prompt: &str) -> Option<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    let saved = tcgetattr(&stdin).ok()?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
    err!("{prompt}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    errln!();
    read.ok()?;
    Some(line.trim_end_matches(['\n', '\r']).to_string())
}

/// For every secret `procedure` declares that neither `sets` nor the
/// environment (`RBX_SECRET_NAME`) gives, asks on the terminal (without
/// echo) and adds the answer to `sets`. Secrets are never stored, so a
/// resumed run asks again.
pub fn ask_missing_secrets(procedure: &rbx_engine::Procedure, sets: &mut Vec<(String, String)>) {
    use rbx_syntax::ast::{InputTypeKind, ScalarType};
    for input in &procedure.inputs {
        let secret = input.ty == InputTypeKind::Scalar(ScalarType::Secret);
        let var = format!("RBX_SECRET_{}", input.name.to_uppercase());
        if !secret || sets.iter().any(|(k, _)| *k == input.name) || std::env::var_os(&var).is_some()
        {
            continue;
        }
        match ask_secret(&format!("secret `{}` (not shown, not stored)", input.name)) {
            Some(value) if !value.is_empty() => sets.push((input.name.clone(), value)),
            _ => return,
        }
    }
}
