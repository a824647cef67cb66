//! Running one command: `sh -c` in a process group of its own, output
//! masked and streamed live, kept bounded (and whole, for the streams a step
//! judges), the whole group ended on timeout or cancellation.

use std::borrow::Cow;
use std::ops::Range;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::watch;

use crate::mask::{Held, Secrets};
use crate::whole::{Keeper, Whole};

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

/// The most a read from a pipe takes at once (a Linux pipe's capacity).
const READ: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One stream's output, its secrets masked: its first and last [`KEEP`]
/// bytes and its size, and the whole of it when the step judges it. Memory
/// stays flat however much a command prints.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub head: Vec<u8>,
    /// The last bytes, in order (a ring buffer straightened on read).
    tail: Vec<u8>,
    /// Where the oldest byte of `tail` is once it has wrapped.
    tail_start: usize,
    pub total: u64,
    /// Every byte, for the step's expectations and captures; `None` for a
    /// stream that no expectation or capture reads.
    pub whole: Option<Whole>,
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

    /// Whether the bytes in `span` are all in the kept head or tail, so
    /// that the stored output shows them.
    pub fn kept(&self, span: &Range<u64>) -> bool {
        let tail_from = self.total - self.tail.len() as u64;
        self.total <= (self.head.len() + self.tail.len()) as u64
            || span.end <= self.head.len() as u64
            || span.start >= tail_from
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
    /// Shell text, run as `bash -e -o pipefail -c TEXT`.
    pub command: String,
    /// Variables added to the command's environment: the values and
    /// secrets its text refers to.
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// Every secret of the run, replaced by the mask in the output before
    /// anything sees it: what is shown live, kept, stored, written to a
    /// temporary file, matched and captured.
    pub secrets: Arc<Secrets>,
    /// The streams kept whole for the step's expectations and captures.
    pub whole: Vec<Stream>,
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

/// Replaces every form of every secret of the run in a stream as it
/// passes (`mask.rs`), also when one is split across two reads: bytes at
/// the end of a read that could begin a secret are held back until the
/// next read says whether they do.
#[derive(Debug)]
struct Masker {
    secrets: Arc<Secrets>,
    held: Held,
}

impl Masker {
    fn new(secrets: &Arc<Secrets>) -> Masker {
        Masker {
            secrets: Arc::clone(secrets),
            held: Held::default(),
        }
    }

    /// `bytes` masked, less what is held back.
    fn feed<'a>(&mut self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if self.secrets.is_empty() {
            return Cow::Borrowed(bytes);
        }
        Cow::Owned(self.held.push(&self.secrets, bytes))
    }

    /// What is held back, once the stream has ended.
    fn finish(&mut self) -> Vec<u8> {
        self.held.finish(&self.secrets)
    }
}

/// Where live output goes, chunk by chunk, as it arrives.
pub type Live = Arc<dyn Fn(Stream, &[u8]) + Send + Sync>;

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
    let (stop, stopped) = watch::channel(false);
    let reader = |stream| Reader {
        stream,
        masker: Masker::new(&spec.secrets),
        keeper: spec.whole.contains(&stream).then(Keeper::new),
        live: live.clone(),
        stop: stopped.clone(),
        captured: Captured::default(),
    };
    let out_reader = tokio::spawn(reader(Stream::Stdout).read_all(child.stdout.take()));
    let err_reader = tokio::spawn(reader(Stream::Stderr).read_all(child.stderr.take()));

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
    let drained = tokio::time::Instant::now() + DRAIN;
    let stdout = drain(out_reader, drained, &stop).await;
    let stderr = drain(err_reader, drained, &stop).await;
    Ok(Finished {
        exit: status.and_then(|s| s.code()),
        timed_out,
        cancelled,
        stdout,
        stderr,
        duration: started.elapsed(),
    })
}

/// A command's result given rather than observed (a simulated executor):
/// its streams pass through the same reader as a real process's pipes.
pub(crate) async fn from_output(
    spec: &Spec,
    exit: i32,
    stdout: &[u8],
    stderr: &[u8],
    duration: Duration,
    live: Live,
) -> Finished {
    let (_stop, stopped) = watch::channel(false);
    let reader = |stream| Reader {
        stream,
        masker: Masker::new(&spec.secrets),
        keeper: spec.whole.contains(&stream).then(Keeper::new),
        live: live.clone(),
        stop: stopped.clone(),
        captured: Captured::default(),
    };
    Finished {
        exit: Some(exit),
        timed_out: false,
        cancelled: false,
        stdout: reader(Stream::Stdout).read_all(Some(stdout)).await,
        stderr: reader(Stream::Stderr).read_all(Some(stderr)).await,
        duration,
    }
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

/// What reads one stream: it masks each read, passes it on live, and keeps
/// it bounded and, when asked, whole.
struct Reader {
    stream: Stream,
    masker: Masker,
    keeper: Option<Keeper>,
    live: Live,
    /// Turns true when the reader is to stop, even with its pipe open.
    stop: watch::Receiver<bool>,
    captured: Captured,
}

impl Reader {
    async fn read_all<R: AsyncRead + Unpin>(mut self, pipe: Option<R>) -> Captured {
        if let Some(mut pipe) = pipe {
            let mut buffer = vec![0u8; READ];
            loop {
                // Stopping is checked only between reads, so that what was
                // read is always kept whole.
                let read = tokio::select! {
                    read = pipe.read(&mut buffer) => read,
                    _ = self.stop.wait_for(|stop| *stop) => break,
                };
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let masked = self.masker.feed(&buffer[..n]);
                        self.keep(&masked).await;
                    }
                }
            }
        }
        let held = self.masker.finish();
        self.keep(&held).await;
        if let Some(keeper) = self.keeper {
            self.captured.whole = Some(keeper.finish().await);
        }
        self.captured
    }

    async fn keep(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        (self.live)(self.stream, bytes);
        self.captured.push(bytes);
        if let Some(keeper) = &mut self.keeper {
            keeper.push(bytes).await;
        }
    }
}

/// Waits for a reader until `deadline`, then tells it to stop: a background
/// process the command started may hold its pipe open after it exited.
/// What was read is kept either way.
async fn drain(
    mut reader: tokio::task::JoinHandle<Captured>,
    deadline: tokio::time::Instant,
    stop: &watch::Sender<bool>,
) -> Captured {
    if let Ok(done) = tokio::time::timeout_at(deadline, &mut reader).await {
        return done.unwrap_or_default();
    }
    let _ = stop.send(true);
    reader.await.unwrap_or_default()
}

/// Resolves once `cancel` turns true. The watch guard is dropped inside, so
/// the future can be held across an `.await` in a task that moves threads.
pub async fn cancelled_signal(cancel: &mut watch::Receiver<bool>) {
    let _ = cancel.wait_for(|c| *c).await.map(|_| ());
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use std::sync::Arc;

    use super::{Captured, KEEP, Masker, Secrets};

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

    /// The stream masked as one piece, the plain way: every byte that an
    /// occurrence of a secret covers is covered, and each run of covered
    /// bytes becomes one mask.
    fn masked_whole(data: &[u8], secrets: &[String]) -> Vec<u8> {
        let mut covered = vec![false; data.len()];
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            let secret = secret.as_bytes();
            for at in 0..data.len() {
                if data[at..].starts_with(secret) {
                    covered[at..at + secret.len()].fill(true);
                }
            }
        }
        let mut out = Vec::new();
        for (at, byte) in data.iter().enumerate() {
            if !covered[at] {
                out.push(*byte);
            } else if at == 0 || !covered[at - 1] {
                out.extend_from_slice(crate::value::MASK.as_bytes());
            }
        }
        out
    }

    /// The stream masked read by read, cut at `cuts`.
    fn masked_in_reads(data: &[u8], secrets: &[String], cuts: &[usize]) -> Vec<u8> {
        let secrets = Arc::new(Secrets::new(secrets.iter().cloned()));
        let mut masker = Masker::new(&secrets);
        let mut out = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain([data.len()].iter()) {
            let cut = cut.clamp(from, data.len());
            out.extend_from_slice(&masker.feed(&data[from..cut]));
            from = cut;
        }
        out.extend(masker.finish());
        out
    }

    #[test]
    fn a_secret_split_across_reads_is_masked() {
        let secrets = vec!["s3cr3t-Zq8".to_string()];
        let data = b"token=s3cr3t-Zq8; again s3cr3t-Zq8 and s3cr3t at the end: s3cr";
        for cut in 0..=data.len() {
            assert_eq!(
                String::from_utf8_lossy(&masked_in_reads(data, &secrets, &[cut])),
                format!(
                    "token={MASK}; again {MASK} and s3cr3t at the end: s3cr",
                    MASK = crate::value::MASK
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_secret_containing_another_is_masked_whole() {
        let secrets = vec!["abc".to_string(), "abcdef".to_string(), String::new()];
        let masked = masked_whole(b"xabcdefx abcx", &secrets);
        let mask = crate::value::MASK;
        assert_eq!(
            String::from_utf8_lossy(&masked),
            format!("x{mask}x {mask}x")
        );
    }

    /// `text` with each run of masks written as one.
    fn one_mask_a_run(text: &[u8]) -> String {
        let mask = crate::value::MASK;
        let mut text = String::from_utf8_lossy(text).into_owned();
        let twice = format!("{mask}{mask}");
        while text.contains(&twice) {
            text = text.replace(&twice, mask);
        }
        text
    }

    proptest! {
        #[test]
        fn masking_read_by_read_is_masking_the_whole(
            data in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 0..80),
            secrets in proptest::collection::vec("[abc]{1,4}", 0..3),
            cuts in proptest::collection::vec(0usize..80, 0..6),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            // Where two masked runs touch, one mask or two say the same:
            // no byte of a secret shows either way.
            prop_assert_eq!(
                one_mask_a_run(&masked_in_reads(&data, &secrets, &cuts)),
                one_mask_a_run(&masked_whole(&data, &secrets))
            );
        }
    }

    #[test]
    fn kept_says_whether_a_span_is_in_the_head_or_the_tail() {
        let mut captured = Captured::default();
        captured.push(&vec![b'x'; 3 * KEEP]);
        let (head, tail_from) = (KEEP as u64, 2 * KEEP as u64);
        assert!(captured.kept(&(0..head)));
        assert!(!captured.kept(&(head - 1..head + 1)));
        assert!(!captured.kept(&(head + 10..head + 20)));
        assert!(captured.kept(&(tail_from..tail_from + 5)));
        let mut short = Captured::default();
        short.push(b"all of it");
        assert!(short.kept(&(0..9)));
    }
}
