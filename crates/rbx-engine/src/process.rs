//! Running one command: `sh -c` in a process group of its own, output
//! streamed live and kept bounded, the whole group ended on timeout or
//! cancellation.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::watch;

/// The environment variable that marks every process a step starts with
/// the run and node it belongs to.
pub const MARKER: &str = "RBX_RUN_STEP";

/// The marker's value for one node of one run.
pub fn marker(run: &str, node: &str) -> String {
    format!("{run}:{node}")
}

/// The processes on this machine that carry `value` as their marker: a
/// step's command, or anything it started, still running. Each is its pid
/// and command line. Processes whose environment cannot be read (another
/// user's) are not seen.
pub fn marked(value: &str) -> Vec<(u32, String)> {
    let wanted = format!("{MARKER}={value}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes())
        {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, shown.trim().to_string()));
        }
    }
    found
}

/// The shell every command runs in, with `-e -o pipefail`.
pub const SHELL: &str = "bash";

/// How much of the start and of the end of each stream is kept.
pub const KEEP: usize = 64 * 1024;

/// How long a group gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(3);

/// After the command exits, how long to wait for pipes a leftover
/// background process may still hold open.
const DRAIN: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One stream's output: its first and last [`KEEP`] bytes and its size.
/// Memory stays flat however much a command prints.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub head: Vec<u8>,
    /// The last bytes, in order (a ring buffer straightened on read).
    tail: Vec<u8>,
    /// Where the oldest byte of `tail` is once it has wrapped.
    tail_start: usize,
    pub total: u64,
}

impl Captured {
    fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.head.len() < KEEP {
            let take = (KEEP - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        // The tail is a ring of KEEP bytes, filled slice by slice.
        if bytes.len() >= KEEP {
            self.tail.clear();
            self.tail.extend_from_slice(&bytes[bytes.len() - KEEP..]);
            self.tail_start = 0;
            return;
        }
        let room = KEEP - self.tail.len();
        let (fill, rest) = bytes.split_at(room.min(bytes.len()));
        self.tail.extend_from_slice(fill);
        let mut rest = rest;
        while !rest.is_empty() {
            let run = (KEEP - self.tail_start).min(rest.len());
            self.tail[self.tail_start..self.tail_start + run].copy_from_slice(&rest[..run]);
            self.tail_start = (self.tail_start + run) % KEEP;
            rest = &rest[run..];
        }
    }

    /// Replaces `secret` with `mask` in what is kept. When bytes were
    /// dropped between head and tail, a secret may be cut there: the part
    /// of it at the end of the head, or at the start of the tail, is masked
    /// too (at the price of masking a few innocent bytes now and then).
    pub fn mask(&mut self, secret: &[u8], mask: &[u8]) {
        let mut tail = self.tail();
        let cut = self.total > (self.head.len() + tail.len()) as u64;
        let mut head = replace(&self.head, secret, mask);
        tail = replace(&tail, secret, mask);
        if cut {
            if let Some(k) = (1..secret.len())
                .rev()
                .find(|&k| head.ends_with(&secret[..k]))
            {
                head.truncate(head.len() - k);
                head.extend_from_slice(mask);
            }
            if let Some(k) = (1..secret.len())
                .rev()
                .find(|&k| tail.starts_with(&secret[secret.len() - k..]))
            {
                let mut masked = mask.to_vec();
                masked.extend_from_slice(&tail[k..]);
                tail = masked;
            }
        }
        self.head = head;
        self.tail = tail;
        self.tail_start = 0;
    }

    /// The kept tail, oldest byte first.
    pub fn tail(&self) -> Vec<u8> {
        let mut out = self.tail[self.tail_start..].to_vec();
        out.extend_from_slice(&self.tail[..self.tail_start]);
        out
    }

    /// Everything kept, as text, with a marker where bytes were dropped.
    pub fn text(&self) -> String {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        if self.total > kept {
            out.push_str(&format!("\n[… {} bytes not kept …]\n", self.total - kept));
        }
        out.push_str(&String::from_utf8_lossy(&self.tail()));
        out
    }
}

/// How a command ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The exit status, when it exited rather than being killed.
    pub exit: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    pub stdout: Captured,
    pub stderr: Captured,
    pub duration: Duration,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Shell text, run as `sh -c TEXT`.
    pub command: String,
    /// Variables added to the command's environment: the values and
    /// secrets its text refers to.
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
}

/// Prefixes of the variables rbx passes values in. Every inherited variable
/// with one of them is removed from a command's environment, so a command
/// sees only the secrets and values its own text refers to (which `Spec`
/// adds back), never every secret the operator exported for the run.
pub const PRIVATE_PREFIXES: [&str; 2] = ["RBX_SECRET_", "RBX_V_"];

/// Whether an inherited variable is one of rbx's own, kept from commands.
pub fn is_private(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    PRIVATE_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Where live output goes as it arrives: each chunk of a stream, then
/// `None` once the stream has ended and nothing more will come from it.
pub type Live = Arc<dyn Fn(Stream, Option<&[u8]>) + Send + Sync>;

/// Runs `spec`, passing every chunk of output to `live` as it arrives.
/// Setting `cancel` to true ends the command's group as a timeout would.
pub async fn run(
    spec: &Spec,
    live: Live,
    mut cancel: watch::Receiver<bool>,
) -> std::io::Result<Finished> {
    let started = Instant::now();
    // Bash in strict mode: a command stops at its first failing line, and a
    // pipeline fails when any part of it fails (`cmd | tee log` does not
    // hide `cmd`'s failure). POSIX `sh` (dash) has no `pipefail`.
    let mut command = Command::new(SHELL);
    for (name, _) in std::env::vars_os().filter(|(name, _)| is_private(name)) {
        command.env_remove(name);
    }
    command
        .args(["--noprofile", "--norc", "-e", "-o", "pipefail", "-c"])
        .arg(&spec.command)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let out = Arc::new(Mutex::new(Captured::default()));
    let err = Arc::new(Mutex::new(Captured::default()));
    let out_reader = tokio::spawn(read_all(
        child.stdout.take(),
        Stream::Stdout,
        live.clone(),
        out.clone(),
    ));
    let err_reader = tokio::spawn(read_all(
        child.stderr.take(),
        Stream::Stderr,
        live.clone(),
        err.clone(),
    ));

    let deadline = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut timed_out = false;
    let mut cancelled = *cancel.borrow();
    let status = if cancelled {
        end_group(group, &mut child).await
    } else {
        tokio::select! {
            status = child.wait() => status.ok(),
            () = sleep_until(deadline) => {
                timed_out = true;
                end_group(group, &mut child).await
            }
            _ = cancelled_signal(&mut cancel) => {
                cancelled = true;
                end_group(group, &mut child).await
            }
        }
    };
    // After a drain no more output comes from that stream, read to its end
    // or cut off: whatever the forwarder held back can go out now.
    drain(out_reader).await;
    live(Stream::Stdout, None);
    drain(err_reader).await;
    live(Stream::Stderr, None);
    Ok(Finished {
        exit: status.and_then(|s| s.code()),
        timed_out,
        cancelled,
        stdout: take(&out),
        stderr: take(&err),
        duration: started.elapsed(),
    })
}

fn take(captured: &Mutex<Captured>) -> Captured {
    captured
        .lock()
        .map(|mut c| std::mem::take(&mut *c))
        .unwrap_or_default()
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// SIGTERM to the whole group, then SIGKILL after the grace period.
async fn end_group(
    group: Option<Pid>,
    child: &mut tokio::process::Child,
) -> Option<std::process::ExitStatus> {
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGTERM);
    }
    match tokio::time::timeout(GRACE, child.wait()).await {
        Ok(status) => {
            // The leader is gone; anything it left in the group goes too.
            if let Some(group) = group {
                let _ = killpg(group, Signal::SIGKILL);
            }
            status.ok()
        }
        Err(_) => {
            if let Some(group) = group {
                let _ = killpg(group, Signal::SIGKILL);
            }
            child.wait().await.ok()
        }
    }
}

async fn read_all<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    stream: Stream,
    live: Live,
    captured: Arc<Mutex<Captured>>,
) {
    let Some(mut pipe) = pipe else { return };
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                live(stream, Some(&buffer[..n]));
                if let Ok(mut captured) = captured.lock() {
                    captured.push(&buffer[..n]);
                }
            }
        }
    }
}

/// Waits for a reader, but only briefly: a background process the command
/// started may hold its pipe open after it exited. What was read is kept
/// either way.
async fn drain(reader: tokio::task::JoinHandle<()>) {
    let abort = reader.abort_handle();
    if tokio::time::timeout(DRAIN, reader).await.is_err() {
        abort.abort();
    }
}

/// Resolves once `cancel` turns true. The watch guard is dropped inside, so
/// the future can be held across an `.await` in a task that moves threads.
pub async fn cancelled_signal(cancel: &mut watch::Receiver<bool>) {
    let _ = cancel.wait_for(|c| *c).await.map(|_| ());
}

/// `bytes` with every `from` replaced by `to`.
pub fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if !from.is_empty() && bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Captured, KEEP};

    #[test]
    fn the_tail_keeps_the_last_bytes_in_order() {
        let mut captured = Captured::default();
        let data: Vec<u8> = (0..(3 * KEEP)).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(7000) {
            captured.push(chunk);
        }
        assert_eq!(captured.total, data.len() as u64);
        assert_eq!(captured.head, data[..KEEP]);
        assert_eq!(captured.tail(), data[data.len() - KEEP..]);
    }

    #[test]
    fn a_secret_cut_between_head_and_tail_is_masked_on_both_sides() {
        let secret = b"s3cr3t-Zq8";
        let mut captured = Captured::default();
        let mut data = vec![b'x'; KEEP - 4];
        data.extend_from_slice(secret);
        data.extend_from_slice(&vec![b'y'; KEEP * 2]);
        data.extend_from_slice(secret);
        data.extend_from_slice(b"zz");
        captured.push(&data);
        captured.mask(secret, b"***");
        let kept = [captured.head.clone(), captured.tail()].concat();
        for k in 3..=secret.len() {
            for window in secret.windows(k) {
                assert!(
                    !kept.windows(k).any(|w| w == window)
                        || window.iter().all(|b| *b == b'x' || *b == b'y'),
                    "a piece of the secret is kept"
                );
            }
        }
        assert!(captured.head.ends_with(b"***"));
        assert!(captured.tail().ends_with(b"***zz"));
    }
}
