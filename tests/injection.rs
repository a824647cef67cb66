//! Values and secrets end to end, through the real `rbx` binary, the real
//! shell and, for `ssh`, a real `sshd` on localhost that the test starts
//! itself (with the `system-tests` feature: `.ci/run` installs sshd).
//!
//! Secrets reach only the commands that use them and never show: not on
//! the terminal (even printed in two pieces, or base64-encoded), not in the
//! store, `rbx log` or any report. And no interpolated value ever runs as
//! code: a generated matrix of places in a command × hostile values, each
//! value proven live by splicing it naively into the same commands, where
//! it does run.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::Output;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

/// A test's working directory, where `rbx` keeps its store in `.rbx`.
struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        fs::write(self.file(name), text).expect("write a file");
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.file(name)).unwrap_or_default()
    }

    /// `rbx` with `args` and `env`, none of the caller's rbx variables.
    fn rbx(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(RBX);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("RBX_") {
                command.env_remove(name);
            }
        }
        let output = command
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("RBX_OPERATOR", "tester")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("rbx runs");
        Output {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Writes a runbook that `rbx lint` accepts without a finding.
    fn runbook(&self, name: &str, text: &str) {
        self.write(name, text);
        let lint = support::rbx(self.path(), &["lint", "--deny", "warnings", name]);
        assert_eq!(lint.status, 0, "{name} must lint:\n{}", lint.transcript());
    }

    /// Every byte of the store, file by file.
    fn store_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let Ok(entries) = fs::read_dir(self.file(".rbx")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .map(|p| {
                let bytes = fs::read(&p).unwrap_or_default();
                (p, bytes)
            })
            .collect()
    }
}

fn started_run(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.split_whitespace().next())
        .expect("rbx says which run it started")
        .to_string()
}

/// A POSIX single-quoted word, as rbx quoted values before values were
/// passed as data: for the test's controls.
fn old_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn base64(text: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("printf %s \"$1\" | base64 -w0")
        .arg("sh")
        .arg(text)
        .output()
        .expect("base64 runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

// --------------------------------------------------------------- secrets --

const SECRET: &str = "s3cr3t-Zq8-hunter2";
const OTHER: &str = "0ther-S3cret-value";
const UNRELATED: &str = "unrelated-Secret-77";

const LEAKY: &str = r#"runbook leaky "Secrets" {
  input token: secret
  input other: secret

  hook failure "env > hook-env; echo hook saw {{ token }} >&2; exit 3"

  stage s "S" {
    step dump "A step that uses no secret dumps its environment" {
      run "env > dump-env; env"
      keep stdout
    }
    step use "A step that uses the token" {
      run "env > use-env; test -n {{ token }}"
    }
    step pieces "A secret printed in two writes" {
      run "printf 'before s3cr3t-'; sleep 0.5; printf 'Zq8-hunter2 after\n'"
      keep stdout
    }
    step encoded "A secret printed base64-encoded" {
      run "printf 'user:%s' {{ token }} | base64; printf '%s' {{ token }} | base64"
      keep stdout
    }
    step other_one "The other secret" {
      run "test -n {{ other }}"
    }
    step boom "Fail, so the failure hook runs" {
      run "exit 1"
    }

    end done
  }
}
"#;

/// Every place a secret could show: the run's own output, the store, the
/// log of the run and of each step, and all three report formats.
fn assert_never_shown(bench: &Bench, run: &str, out: &Output, secret: &str) {
    let mut forms = vec![secret.to_string()];
    // An encoded secret counts as shown when any 8 characters of its
    // encoding survive; the mask leaves at most the few characters that mix
    // the secret with its neighbours.
    for encoded in [base64(secret), base64(&format!("user:{secret}"))] {
        let chars: Vec<char> = encoded.trim_end_matches('=').chars().collect();
        forms.extend(chars.windows(8).map(|w| w.iter().collect()));
    }
    let mut places = vec![
        ("rbx run's stdout".to_string(), out.stdout.clone()),
        ("rbx run's stderr".to_string(), out.stderr.clone()),
    ];
    for args in [
        vec!["log", run],
        vec!["log", run, "s.dump"],
        vec!["log", run, "s.pieces"],
        vec!["log", run, "s.encoded"],
        vec!["status", run],
        vec!["report", run, "--format", "md"],
        vec!["report", run, "--format", "json"],
        vec!["report", run, "--format", "html"],
    ] {
        let shown = bench.rbx(&args, &[]);
        places.push((format!("{args:?}"), shown.stdout + &shown.stderr));
    }
    for (path, bytes) in bench.store_bytes() {
        places.push((
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    for (place, text) in &places {
        for form in &forms {
            assert!(
                !text.contains(form.as_str()),
                "{form:?} is in {place}:\n{text}"
            );
        }
    }
}

#[test]
fn a_command_gets_only_the_secrets_it_uses_and_no_output_ever_shows_one() {
    let bench = Bench::new();
    bench.runbook("leaky.runbook", LEAKY);
    let env = [
        ("RBX_SECRET_TOKEN", SECRET),
        ("RBX_SECRET_OTHER", OTHER),
        ("RBX_SECRET_UNRELATED", UNRELATED),
    ];
    let out = bench.rbx(&["run", "leaky.runbook"], &env);
    assert_eq!(
        out.status,
        1,
        "the run fails at `boom`:\n{}",
        out.transcript()
    );
    let run = started_run(&out.stderr);

    // The environment each command got.
    let dump = bench.read("dump-env");
    assert!(dump.contains("PATH="), "{dump}");
    assert!(!dump.contains("RBX_SECRET_"), "{dump}");
    let used = bench.read("use-env");
    assert!(
        used.contains(&format!("RBX_SECRET_TOKEN={SECRET}")),
        "{used}"
    );
    assert!(!used.contains("RBX_SECRET_OTHER"), "{used}");
    assert!(!used.contains("RBX_SECRET_UNRELATED"), "{used}");
    let hook = bench.read("hook-env");
    assert!(
        hook.contains(&format!("RBX_SECRET_TOKEN={SECRET}")),
        "{hook}"
    );
    assert!(!hook.contains("RBX_SECRET_OTHER"), "{hook}");

    // Masked where it was printed: live, in pieces, and by the hook.
    assert!(out.stdout.contains("before •••••• after"), "{}", out.stdout);
    let log = bench.rbx(&["log", &run], &[]);
    assert!(
        log.stdout.contains("hook saw ••••••"),
        "the failed hook's detail is recorded, masked:\n{}",
        log.stdout
    );
    for secret in [SECRET, OTHER, UNRELATED] {
        assert_never_shown(&bench, &run, &out, secret);
    }
}

// ------------------------------------------------------- values as data --

/// Values no command may ever run: each tries to run `touch X`, or to
/// become more than its own text.
const PAYLOADS: [&str; 16] = [
    "; touch X",
    "$(touch X)",
    "`touch X`",
    "' ; touch X ; '",
    "\" ; touch X ; \"",
    "a\ntouch X",
    "x & touch X &",
    "| touch X",
    "EOF\ntouch X\nEOF",
    "$(touch X)'\"`touch X`\"'",
    "\\\"; touch X; \\\"",
    "*",
    "-oProxyCommand=touch X",
    "$HOME",
    "\\",
    "two  spaces\tand a tab",
];

/// A place in a command: the `run` text (with `{{ x }}`, `{{ xs }}`), and
/// what the file `got` must then hold for a value `v`.
struct Context {
    name: &'static str,
    command: &'static str,
    expected: fn(&str) -> String,
}

fn same(v: &str) -> String {
    v.to_string()
}

const CONTEXTS: [Context; 16] = [
    Context {
        name: "a word of its own",
        command: "printf '%s' {{ x }} > got",
        expected: same,
    },
    Context {
        name: "part of a word",
        command: "printf '%s' pre{{ x }}post > got",
        expected: |v| format!("pre{v}post"),
    },
    Context {
        name: "inside double quotes",
        command: "printf '%s' \"[{{ x }}]\" > got",
        expected: |v| format!("[{v}]"),
    },
    Context {
        name: "in a here-document",
        command: "cat > got <<EOF\n[{{ x }}]\nEOF",
        expected: |v| format!("[{v}]\n"),
    },
    Context {
        name: "in a here-document with <<-",
        command: "cat > got <<-EOF\n\t[{{ x }}]\n\tEOF",
        expected: |v| format!("[{v}]\n"),
    },
    Context {
        name: "in $( ) inside double quotes",
        command: "printf '%s' \"$(printf '%s' {{ x }})\" > got",
        expected: same,
    },
    Context {
        name: "in ${ } inside double quotes",
        command: "printf '%s' \"${unset_var:-{{ x }}}\" > got",
        expected: same,
    },
    Context {
        name: "an argument of sh -c",
        command: "sh -c 'printf %s \"$1\"' sh {{ x }} > got",
        expected: same,
    },
    Context {
        name: "sh -c in single quotes, | shell",
        command: "sh -c 'printf %s {{ x | shell }}' > got",
        expected: same,
    },
    Context {
        name: "sh -c in double quotes, | shell",
        command: "sh -c \"printf %s {{ x | shell }}\" > got",
        expected: same,
    },
    Context {
        name: "eval, | shell",
        command: "eval printf %s {{ x | shell }} > got",
        expected: same,
    },
    Context {
        name: "a script piped into sh, | shell",
        command: "printf '%s\\n' \"printf %s {{ x | shell }}\" | sh > got",
        expected: same,
    },
    Context {
        name: "a here-document fed to sh, | shell",
        command: "sh > got <<EOF\nprintf %s {{ x | shell }}\nEOF",
        expected: same,
    },
    Context {
        name: "parsed again twice, | shell | shell",
        command: "eval eval printf %s {{ x | shell | shell }} > got",
        expected: same,
    },
    Context {
        name: "a list, one word per item",
        command: "for v in {{ xs }}; do printf '[%s]' \"$v\"; done > got",
        expected: |v| format!("[{v}][{v}]"),
    },
    Context {
        name: "a list inside double quotes",
        command: "printf '%s' \"{{ xs }}\" > got",
        expected: |v| format!("{v} {v}"),
    },
];

/// The matrix's runbook: one step per context, each in a directory of its
/// own (`c0`, `c1`, …) so a `touch X` says which context ran it, a poll of
/// a `wait` and a hook as well.
fn matrix_runbook() -> String {
    let mut text = String::from(
        "runbook matrix \"Values as data\" {\n  input x: string\n  input xs: list(string)\n\n  \
         hook end \"cd hook && printf '%s' {{ x }} > got\"\n\n  stage s \"S\" {\n",
    );
    for (n, context) in CONTEXTS.iter().enumerate() {
        let command = format!("cd c{n} && {}", context.command);
        text.push_str(&format!(
            "    step c{n} \"{}\" {{\n      run \"\"\"\n{}\n      \"\"\"\n    }}\n",
            context.name.replace('"', "'"),
            command
                .lines()
                .map(|l| format!("        {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    text.push_str(
        "    wait polled \"A poll\" {\n      run \"cd poll && printf '%s' {{ x }} > got\"\n      \
         expect exit 0\n      every 1s\n      timeout 30s\n    }\n\n    end done\n  }\n}\n",
    );
    text
}

fn dirs(bench: &Bench) -> Vec<(String, String)> {
    let mut dirs: Vec<(String, String)> = CONTEXTS
        .iter()
        .enumerate()
        .map(|(n, c)| (format!("c{n}"), c.name.to_string()))
        .collect();
    dirs.push(("hook".to_string(), "the end hook".to_string()));
    dirs.push(("poll".to_string(), "a wait's poll".to_string()));
    for (dir, _) in &dirs {
        fs::create_dir_all(bench.file(dir)).expect("a directory per context");
    }
    dirs
}

#[test]
fn no_value_runs_as_code_wherever_it_is_interpolated() {
    let runbook = matrix_runbook();
    for payload in PAYLOADS {
        let bench = Bench::new();
        bench.runbook("matrix.runbook", &runbook);
        let dirs = dirs(&bench);
        let list = serde_json::to_string(&[payload, payload]).expect("a JSON list");
        let out = bench.rbx(
            &[
                "run",
                "matrix.runbook",
                "--set",
                &format!("x={payload}"),
                "--set",
                &format!("xs={list}"),
            ],
            &[],
        );
        assert_eq!(out.status, 0, "{payload:?}:\n{}", out.transcript());
        assert!(
            !bench.file("X").exists(),
            "{payload:?} ran in the run's directory"
        );
        for (n, (dir, name)) in dirs.iter().enumerate() {
            assert!(
                !bench.file(dir).join("X").exists(),
                "{payload:?} ran as code in {name}"
            );
            let expected = match CONTEXTS.get(n) {
                Some(context) => (context.expected)(payload),
                None => payload.to_string(),
            };
            assert_eq!(
                fs::read_to_string(bench.file(dir).join("got")).unwrap_or_default(),
                expected,
                "{payload:?} in {name} did not arrive as it was"
            );
        }
    }
}

/// The controls: the same commands with each value pasted into their text
/// (as a naive template engine would) run it, in some context for every
/// payload that tries; and rbx's old quoting runs it through `eval`. So
/// the matrix above would see an injection if there were one.
#[test]
fn the_matrix_detects_an_injection_when_there_is_one() {
    // `-oProxyCommand=…` is a payload for `ssh` alone: its control is in
    // the ssh test.
    let live = PAYLOADS
        .iter()
        .filter(|p| p.contains("touch X") && !p.starts_with('-'));
    for payload in live {
        let bench = Bench::new();
        let dirs = dirs(&bench);
        let mut ran_in = Vec::new();
        for (n, context) in CONTEXTS.iter().enumerate() {
            let pasted = context
                .command
                .replace("{{ x | shell | shell }}", payload)
                .replace("{{ x | shell }}", payload)
                .replace("{{ x }}", payload)
                .replace("{{ xs }}", payload);
            let _ = Command::new("sh")
                .arg("-c")
                .arg(&pasted)
                .current_dir(bench.file(&dirs[n].0))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if bench.file(&dirs[n].0).join("X").exists() {
                ran_in.push(context.name);
            }
        }
        assert!(
            !ran_in.is_empty(),
            "{payload:?} never ran: not a live payload"
        );
    }
    // Before values were data, rbx quoted each one into the command's
    // text: safe for `sh`, but `eval` parses the quoted text again.
    let bench = Bench::new();
    let old = format!("eval printf %s {}", old_quote("; touch X"));
    let status = Command::new("sh")
        .arg("-c")
        .arg(&old)
        .current_dir(bench.path())
        .stdout(Stdio::null())
        .status()
        .expect("sh runs");
    assert!(status.success());
    assert!(
        bench.file("X").exists(),
        "the old quoting is not caught by eval"
    );
}

/// Where a value cannot be passed as data, or where another shell or
/// `ssh`'s options would read it, lint refuses the runbook with a code,
/// and `rbx run` refuses to start it.
#[test]
fn lint_refuses_what_rbx_cannot_pass_as_data() {
    let cases = [
        ("eval echo {{ x }}", "rbx::lint::reparsed_interpolation"),
        (
            "sh -c \\\"echo {{ x }}\\\"",
            "rbx::lint::reparsed_interpolation",
        ),
        (
            "ssh -- host echo {{ x }}",
            "rbx::lint::reparsed_interpolation",
        ),
        ("echo {{ x }} | sh", "rbx::lint::reparsed_interpolation"),
        (
            "sudo -u nobody bash -c {{ x }}",
            "rbx::lint::reparsed_interpolation",
        ),
        (
            "ssh -- host \\\"echo '{{ x | shell }}'\\\"",
            "rbx::lint::reparsed_interpolation",
        ),
        ("sh -c 'echo {{ x }}'", "rbx::lint::quoted_interpolation"),
        ("echo '{{ x }}'", "rbx::lint::quoted_interpolation"),
        ("echo \\\\{{ x }}", "rbx::lint::quoted_interpolation"),
        ("ssh {{ x }} uptime", "rbx::lint::interpolated_option"),
        ("ssh -p 22 {{ x }} uptime", "rbx::lint::interpolated_option"),
    ];
    for (command, code) in cases {
        let bench = Bench::new();
        bench.write(
            "refused.runbook",
            &format!(
                "runbook refused \"Refused\" {{\n  input x: string\n  stage s \"S\" {{\n    \
                 step a \"A\" {{\n      run \"{command}\"\n    }}\n    end done\n  }}\n}}\n"
            ),
        );
        let lint = bench.rbx(&["lint", "refused.runbook"], &[]);
        assert_eq!(lint.status, 2, "{command}:\n{}", lint.transcript());
        assert!(lint.stderr.contains(code), "{command}:\n{}", lint.stderr);
        let run = bench.rbx(&["run", "refused.runbook", "--set", "x=; touch X"], &[]);
        assert_eq!(run.status, 2, "{command}:\n{}", run.transcript());
        assert!(!bench.file("X").exists(), "{command} ran");
    }
    // The quoted here-document needs a text block.
    let bench = Bench::new();
    bench.write(
        "refused.runbook",
        "runbook refused \"Refused\" {\n  input x: string\n  stage s \"S\" {\n    \
         step a \"A\" {\n      run \"\"\"\n        cat <<'EOF'\n        {{ x }}\n        EOF\n      \
         \"\"\"\n    }\n    end done\n  }\n}\n",
    );
    let lint = bench.rbx(&["lint", "refused.runbook"], &[]);
    assert!(
        lint.stderr.contains("rbx::lint::quoted_interpolation"),
        "{}",
        lint.stderr
    );
}

#[test]
fn a_host_is_checked_when_it_is_set() {
    let bench = Bench::new();
    bench.runbook(
        "host.runbook",
        "runbook host \"Host\" {\n  input target: host\n  stage s \"S\" {\n    \
         step a \"A\" {\n      run \"echo {{ target }} > got\"\n    }\n    end done\n  }\n}\n",
    );
    for bad in ["-oProxyCommand=touch X", "a;b", "a b", "$(touch X)", ""] {
        let out = bench.rbx(
            &["run", "host.runbook", "--set", &format!("target={bad}")],
            &[],
        );
        assert_eq!(out.status, 2, "{bad:?}:\n{}", out.transcript());
        assert!(!bench.file("got").exists(), "{bad:?} was accepted");
    }
    let out = bench.rbx(
        &[
            "run",
            "host.runbook",
            "--set",
            "target=deploy@web-1.example.com",
        ],
        &[],
    );
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(bench.read("got"), "deploy@web-1.example.com\n");
}

// ------------------------------------------------------------------- ssh --

/// Through a real `sshd`, which `.ci/run` installs: the system tests.
#[cfg(feature = "system-tests")]
mod ssh {
    use std::net::{TcpListener, TcpStream};
    use std::process::Child;
    use std::time::{Duration, Instant};

    use super::*;

    /// An `sshd` of the test's own on a free port of localhost, with its host
    /// key, the user's key and its configuration in a temporary directory.
    /// Ended (by its process id) when dropped.
    struct Sshd {
        dir: tempfile::TempDir,
        port: u16,
        child: Child,
    }

    impl Sshd {
        /// `None` when openssh-server is not installed (CI installs it).
        fn start() -> Option<Sshd> {
            let sshd = Path::new("/usr/sbin/sshd");
            let dir = tempfile::tempdir().expect("a directory for sshd");
            for key in ["host_key", "user_key"] {
                let status = Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(dir.path().join(key))
                    .status()
                    .expect("ssh-keygen runs");
                assert!(status.success(), "ssh-keygen made no {key}");
            }
            fs::copy(
                dir.path().join("user_key.pub"),
                dir.path().join("authorized_keys"),
            )
            .expect("authorize the user's key");
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let root = nix::unistd::geteuid().is_root();
            if root {
                // sshd run by root wants its privilege separation directory,
                // which the system's service would create.
                fs::create_dir_all("/run/sshd").expect("create /run/sshd");
            }
            let d = dir.path().display();
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin {}\nPidFile {d}/sshd.pid\nLogLevel ERROR\n",
                if root { "prohibit-password" } else { "no" }
            );
            fs::write(dir.path().join("sshd_config"), config).expect("write sshd_config");
            let log = fs::File::create(dir.path().join("sshd.log")).expect("sshd's log");
            let child = Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(dir.path().join("sshd_config"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("sshd starts");
            let server = Sshd { dir, port, child };
            let deadline = Instant::now() + Duration::from_secs(20);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "sshd did not listen: {}",
                    fs::read_to_string(server.dir.path().join("sshd.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Some(server)
        }

        /// `ssh` with every option the runbooks need, up to the destination.
        fn ssh(&self) -> String {
            format!(
                "ssh -p {} -i {}/user_key -F /dev/null -o StrictHostKeyChecking=no \
                 -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes \
                 -o LogLevel=ERROR -o ConnectTimeout=10 -o KexAlgorithms=curve25519-sha256",
                self.port,
                self.dir.path().display()
            )
        }
    }

    impl Drop for Sshd {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Places in an `ssh` command: `{ssh}` is the client with its options,
    /// `{dir}` the directory the remote command writes `got` to.
    const SSH_CONTEXTS: [(&str, &str); 5] = [
        (
            "remote words",
            "{ssh} localhost cd {dir} '&&' printf %s {{ x | shell }} '>' got",
        ),
        (
            "remote command in double quotes",
            "{ssh} localhost \"cd {dir} && printf %s {{ x | shell }} > got\"",
        ),
        (
            "remote command in single quotes",
            "{ssh} localhost 'cd {dir} && printf %s {{ x | shell }} > got'",
        ),
        (
            "a script on ssh's standard input",
            "{ssh} localhost sh <<EOF\ncd {dir} && printf %s {{ x | shell }} > got\nEOF",
        ),
        (
            "a host input as the destination",
            "{ssh} {{ host }} \"cd {dir} && printf %s {{ x | shell }} > got\"",
        ),
    ];

    #[test]
    fn no_value_runs_as_code_through_ssh() {
        let sshd = Sshd::start().expect("openssh-server is installed (.ci/run installs it)");
        let ssh = sshd.ssh();
        for payload in PAYLOADS {
            let bench = Bench::new();
            let mut text = String::from(
                "runbook remote \"Values through ssh\" {\n  input x: string\n  input host: host\n  \
                 input target: string\n\n  stage s \"S\" {\n",
            );
            for (n, (name, command)) in SSH_CONTEXTS.iter().enumerate() {
                let dir = bench.file(&format!("r{n}"));
                fs::create_dir_all(&dir).expect("a directory per context");
                let command = command
                    .replace("{ssh}", &ssh)
                    .replace("{dir}", &dir.display().to_string());
                text.push_str(&format!(
                    "    step r{n} \"{name}\" {{\n      run \"\"\"\n        {}\n      \"\"\"\n    }}\n",
                    command.replace('\n', "\n        ")
                ));
            }
            // `--` ends ssh's options: a destination `-oProxyCommand=…` is a
            // (bad) host name, and the connection fails without running it.
            text.push_str(&format!(
                "    step ended \"-- before a text destination\" {{\n      \
                 run \"{ssh} -- {{{{ target }}}} true || echo refused > ended\"\n    }}\n\n    \
                 end done\n  }}\n}}\n"
            ));
            bench.runbook("remote.runbook", &text);
            let out = bench.rbx(
                &[
                    "run",
                    "remote.runbook",
                    "--set",
                    &format!("x={payload}"),
                    "--set",
                    "host=localhost",
                    "--set",
                    &format!("target={payload}"),
                ],
                &[],
            );
            assert_eq!(out.status, 0, "{payload:?}:\n{}", out.transcript());
            assert!(!bench.file("X").exists(), "{payload:?} ran here");
            assert_eq!(
                bench.read("ended"),
                "refused\n",
                "{payload:?} reached a host"
            );
            for (n, (name, _)) in SSH_CONTEXTS.iter().enumerate() {
                let dir = bench.file(&format!("r{n}"));
                assert!(!dir.join("X").exists(), "{payload:?} ran as code in {name}");
                assert_eq!(
                    fs::read_to_string(dir.join("got")).unwrap_or_default(),
                    payload,
                    "{payload:?} in {name} did not arrive as it was"
                );
            }
        }
        // The control: rbx's old quoting, through the same sshd, runs the
        // value on the host; and lint refuses the command written that way.
        let bench = Bench::new();
        let old = format!(
            "{ssh} localhost cd {} '&&' printf %s {}",
            bench.path().display(),
            old_quote("; touch X")
        );
        let status = Command::new("sh")
            .arg("-c")
            .arg(&old)
            .stdout(Stdio::null())
            .status()
            .expect("sh runs");
        assert!(status.success());
        assert!(bench.file("X").exists(), "the remote shell did not run it");
        // And a destination starting with `-` is an option: ssh runs the
        // ProxyCommand here, before connecting anywhere.
        let bench = Bench::new();
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{ssh} {} true",
                old_quote("-oProxyCommand=touch X")
            ))
            .current_dir(bench.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(bench.file("X").exists(), "ssh did not run the ProxyCommand");
        bench.write(
            "old.runbook",
            &format!(
                "runbook old \"Old\" {{\n  input x: string\n  stage s \"S\" {{\n    step a \"A\" {{\n      \
                 run \"{ssh} localhost printf %s {{{{ x }}}}\"\n    }}\n    end done\n  }}\n}}\n"
            ),
        );
        let lint = bench.rbx(&["lint", "old.runbook"], &[]);
        assert!(
            lint.stderr.contains("rbx::lint::reparsed_interpolation"),
            "{}",
            lint.transcript()
        );
    }
}
