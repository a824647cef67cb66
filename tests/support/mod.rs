//! Driving the real `rbx` binary from tests.

#[allow(dead_code, reason = "not every test binary drives a bench")]
pub mod bench;

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of `rbx` did.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Status, stdout and stderr together, for a snapshot.
    pub fn transcript(&self) -> String {
        format!(
            "status: {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `rbx` with `args` in `dir`, without colour.
pub fn rbx(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_rbx"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the rbx binary runs");
    Output {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The repository's root directory.
#[allow(dead_code, reason = "not every test binary needs it")]
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the CLI crate sits two levels below the root")
        .to_path_buf()
}
