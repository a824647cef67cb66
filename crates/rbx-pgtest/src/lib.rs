//! A real PostgreSQL server for rbx's tests and benchmarks: a throwaway
//! cluster made with Debian's `initdb` and `pg_ctl` in a temporary
//! directory, listening on a free port of 127.0.0.1 and on a socket in that
//! directory, started once per test binary, with a fresh database for each
//! test.
//!
//! PostgreSQL is not optional for rbx's suite: when it is not installed the
//! first test that asks for it fails, saying what to install (`.ci/run`
//! installs it). `initdb` refuses to run as root, so as root the cluster is
//! made and run as the `postgres` account the Debian package creates.
//!
//! A watchdog process stops the cluster and removes its directory when the
//! test binary exits, however it exits.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use postgres::{Client, NoTls};

/// Where Debian puts each version's programs: `/usr/lib/postgresql/15/bin`
/// is preferred, else the newest there; `RBX_PG_BIN` names another
/// directory.
const DEBIAN_VERSIONS: &str = "/usr/lib/postgresql";

/// The account that runs the cluster when the tests run as root.
const SERVER_ACCOUNT: &str = "postgres";

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    /// The temporary directory: the data, the socket, the log, the TLS files.
    root: PathBuf,
    port: u16,
    bin: PathBuf,
    next: AtomicU32,
    /// The server's command-line options, to start it again.
    options: String,
    as_root: bool,
}

/// A fresh database of a cluster.
#[derive(Debug, Clone)]
pub struct Database {
    /// Its name.
    pub name: String,
    port: u16,
    root: PathBuf,
}

impl Database {
    /// The URL rbx is given to reach it over TCP as `user`, without TLS.
    pub fn url_as(&self, user: &str) -> String {
        format!(
            "postgres://{user}@127.0.0.1:{}/{}?sslmode=disable",
            self.port, self.name
        )
    }

    /// The URL of the superuser `postgres`, which owns the database.
    pub fn url(&self) -> String {
        self.url_as(SERVER_ACCOUNT)
    }

    /// The URL that reaches it over TLS (`sslmode=verify-full`) with the
    /// cluster's own authority as root; the server's certificate names
    /// `localhost`.
    pub fn tls_url(&self) -> String {
        format!(
            "postgres://{SERVER_ACCOUNT}@localhost:{}/{}?sslmode=verify-full&sslrootcert={}",
            self.port,
            self.name,
            self.root.join("ca.crt").display()
        )
    }

    /// A connection as the superuser, for what a test does behind rbx's
    /// back.
    pub fn admin(&self) -> Client {
        let params = format!(
            "host=127.0.0.1 port={} user={SERVER_ACCOUNT} dbname={}",
            self.port, self.name
        );
        Client::connect(&params, NoTls).unwrap_or_else(|e| panic!("connecting to {params}: {e}"))
    }

    /// A login role that is a member of `rbx_operator`, the role whose
    /// grants rbx's schema sets.
    pub fn operator(&self, name: &str) -> String {
        let mut admin = self.admin();
        admin
            .batch_execute(&format!(
                "DO $$ BEGIN CREATE ROLE \"{name}\" LOGIN IN ROLE rbx_operator;
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;"
            ))
            .unwrap_or_else(|e| panic!("creating the role {name}: {e}"));
        self.url_as(name)
    }
}

impl Cluster {
    /// The cluster of this test binary, started on first use with settings
    /// for speed (no fsync: a crash of the machine is not what the tests
    /// simulate; `kill -9` of rbx is, and the server survives it).
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| Cluster::start(&["-c", "fsync=off", "-c", "synchronous_commit=off"]))
    }

    /// A cluster with PostgreSQL's durable defaults (`fsync`,
    /// `synchronous_commit`), for measurements.
    pub fn durable() -> &'static Cluster {
        static DURABLE: OnceLock<Cluster> = OnceLock::new();
        DURABLE.get_or_init(|| Cluster::start(&[]))
    }

    /// A fresh database, owned by the superuser.
    pub fn database(&self) -> Database {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("rbx_{}_{n}", std::process::id());
        let mut admin = self.connect("postgres");
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {name} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
            ))
            .unwrap_or_else(|e| panic!("creating the database {name}: {e}"));
        Database {
            name,
            port: self.port,
            root: self.root.clone(),
        }
    }

    fn connect(&self, dbname: &str) -> Client {
        let params = format!(
            "host=127.0.0.1 port={} user={SERVER_ACCOUNT} dbname={dbname}",
            self.port
        );
        Client::connect(&params, NoTls).unwrap_or_else(|e| panic!("connecting to {params}: {e}"))
    }

    fn start(settings: &[&str]) -> Cluster {
        let bin = std::env::var_os("RBX_PG_BIN").map_or_else(debian_bin, PathBuf::from);
        assert!(
            bin.join("initdb").is_file() && bin.join("pg_ctl").is_file(),
            "PostgreSQL is not installed: no initdb and pg_ctl in {}. rbx's tests run against a \
             real server; install Debian's `postgresql-15` or `postgresql` (`.ci/run` does), \
             or point RBX_PG_BIN at the directory of its programs",
            bin.display()
        );
        let root = tempfile::Builder::new()
            .prefix("rbx-pg-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let as_root = nix::unistd::getuid().is_root();
        if as_root {
            let account = nix::unistd::User::from_name(SERVER_ACCOUNT)
                .ok()
                .flatten()
                .unwrap_or_else(|| {
                    panic!(
                        "the tests run as root, and initdb refuses root; the `{SERVER_ACCOUNT}` \
                         account (made by Debian's postgresql package) is missing"
                    )
                });
            std::os::unix::fs::chown(
                &root,
                Some(account.uid.as_raw()),
                Some(account.gid.as_raw()),
            )
            .expect("the cluster's directory is given to postgres");
        }
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))
            .expect("the cluster's directory is readable");
        watch(&root, &bin, as_root);
        let data = root.join("data");
        server(
            as_root,
            &bin.join("initdb"),
            &[
                "-D",
                path(&data),
                "-U",
                SERVER_ACCOUNT,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        certificates(&root, as_root);
        let port = free_port();
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 \
             -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            root.display(),
            root.join("server.crt").display(),
            root.join("server.key").display()
        );
        for setting in settings {
            options.push(' ');
            options.push_str(setting);
        }
        let cluster = Cluster {
            root,
            port,
            bin,
            next: AtomicU32::new(0),
            options,
            as_root,
        };
        cluster.start_server();
        cluster
            .connect("postgres")
            .batch_execute("CREATE ROLE rbx_operator NOLOGIN")
            .expect("the operators' group role is created");
        cluster
    }

    /// A cluster of the caller's own, for a test that crashes and starts
    /// the server, with PostgreSQL's durable defaults: a commit that
    /// returned survives the crash. It too is removed when the test binary
    /// exits.
    pub fn private() -> Cluster {
        Cluster::start(&[])
    }

    /// Stops the server at once, as a crash or a failover would: sessions
    /// are cut off mid-statement (`pg_ctl stop -m immediate`).
    pub fn stop(&self) {
        let data = self.root.join("data");
        server(
            self.as_root,
            &self.bin.join("pg_ctl"),
            &["-D", path(&data), "-m", "immediate", "stop"],
        );
    }

    /// Starts the server, on its port, with its data.
    pub fn start_server(&self) {
        let (data, log) = (self.root.join("data"), self.root.join("server.log"));
        server(
            self.as_root,
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                path(&data),
                "-l",
                path(&log),
                "-w",
                "-o",
                &self.options,
                "start",
            ],
        );
    }

    /// The directory of the server's programs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }
}

/// The programs of Debian's PostgreSQL 15, else of its newest version.
fn debian_bin() -> PathBuf {
    let preferred = Path::new(DEBIAN_VERSIONS).join("15/bin");
    if preferred.join("initdb").is_file() {
        return preferred;
    }
    let newest = std::fs::read_dir(DEBIAN_VERSIONS)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .max();
    newest.map_or(preferred, |(_, bin)| bin)
}

fn path(path: &Path) -> &str {
    path.to_str()
        .expect("the temporary directory's path is UTF-8")
}

/// Runs one of the server's programs, as `postgres` when this is root.
fn server(as_root: bool, program: &Path, args: &[&str]) {
    let mut command = if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", SERVER_ACCOUNT, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A certificate authority and a server certificate for `localhost` that
/// it signed, so that TLS is tested with verification, as in production.
fn certificates(root: &Path, as_root: bool) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(root)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("running openssl (install it: apt-get install openssl): {e}")
            });
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=rbx test authority",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        root.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("the certificate's extensions are written");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    let key = root.join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
        .expect("the key is private");
    if as_root {
        let account = nix::unistd::User::from_name(SERVER_ACCOUNT)
            .ok()
            .flatten()
            .expect("the postgres account");
        for file in ["server.key", "server.crt"] {
            std::os::unix::fs::chown(
                root.join(file),
                Some(account.uid.as_raw()),
                Some(account.gid.as_raw()),
            )
            .expect("the server's files are given to postgres");
        }
    }
}

/// A port of 127.0.0.1 that nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Starts a process that outlives nothing: when this test binary has gone
/// (it ended, or was killed), it stops the cluster at once and removes its
/// directory.
#[expect(
    clippy::zombie_processes,
    reason = "the watchdog ends only after this process has: nobody here could wait for it"
)]
fn watch(root: &Path, bin: &Path, as_root: bool) {
    let stop = if as_root {
        format!("runuser -u {SERVER_ACCOUNT} -- {}/pg_ctl", bin.display())
    } else {
        format!("{}/pg_ctl", bin.display())
    };
    let script = format!(
        "while [ -d /proc/$0 ]; do sleep 1; done; \
         {stop} -D \"$1/data\" -m immediate stop >/dev/null 2>&1; rm -rf \"$1\""
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(std::process::id().to_string())
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the cluster's watchdog starts");
}
