//! Reaching the PostgreSQL server: the connection string as an operator
//! writes it for `psql`, the environment variables libpq reads for what it
//! leaves out, and TLS through rustls.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};
use rustls::RootCertStore;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// How long connecting may take, unless `connect_timeout` says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long data sent may go unacknowledged before the connection is
/// dropped, unless `tcp_user_timeout` says otherwise.
const UNACKNOWLEDGED_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the store is, parsed once; every connection of a store (the
/// driver's, its lease's heartbeat, a listener) is made from it.
#[derive(Clone)]
pub(crate) struct Target {
    config: Config,
    /// A certificate file (PEM) of the authorities to trust besides the
    /// system's: `sslrootcert=` in the string, else `PGSSLROOTCERT`.
    root_cert: Option<String>,
    /// The connection string without its password, for messages.
    pub(crate) shown: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Target {
    /// Parses a `postgres://` URL or a `key=value` connection string.
    ///
    /// `sslmode` takes libpq's values: `disable`, `prefer` (the default),
    /// `require`, `verify-ca` and `verify-full`. Whenever TLS is used the
    /// server's certificate and name are verified, so the last three mean
    /// the same: libpq's `verify-full`. A user and password missing from the
    /// string are read from `PGUSER` (else the OS account) and `PGPASSWORD`,
    /// so that no password need be written in `rbx.toml`.
    pub(crate) fn parse(text: &str) -> Result<Target, StoreError> {
        let shown = redact(text);
        let (rewritten, root_cert) = take_tls_options(text);
        let mut config = Config::from_str(&rewritten).map_err(|error| StoreError::BadAddress {
            store: shown.clone(),
            detail: error.to_string(),
        })?;
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER")
                .ok()
                .filter(|u| !u.is_empty())
                .or_else(os_account)
                .ok_or_else(|| StoreError::BadAddress {
                    store: shown.clone(),
                    detail: "it names no user, and neither does PGUSER".to_owned(),
                })?;
            config.user(&user);
        }
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_hosts().is_empty() {
            config.host(
                std::env::var("PGHOST")
                    .ok()
                    .filter(|h| !h.is_empty())
                    .as_deref()
                    .unwrap_or("/var/run/postgresql"),
            );
        }
        if config.get_application_name().is_none() {
            config.application_name("rbx");
        }
        // A server that vanished (its machine, or the network to it) is
        // given up on in seconds rather than at the system's TCP timeouts
        // (minutes): a driver stops with an error it can be resumed from.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(UNACKNOWLEDGED_TIMEOUT);
        }
        let root_cert = root_cert.or_else(|| {
            std::env::var("PGSSLROOTCERT")
                .ok()
                .filter(|p| !p.is_empty())
        });
        Ok(Target {
            config,
            root_cert,
            shown,
        })
    }

    /// A new connection.
    pub(crate) fn connect(&self) -> Result<Client, StoreError> {
        let connected = match self.config.get_ssl_mode() {
            SslMode::Disable => self.config.connect(NoTls),
            _ => self.config.connect(self.tls()?),
        };
        connected.map_err(|error| StoreError::Unreachable {
            store: self.shown.clone(),
            detail: super::error_detail(&error),
        })
    }

    /// rustls with the system's roots and the operator's own, verifying the
    /// server's name.
    fn tls(&self) -> Result<MakeRustlsConnect, StoreError> {
        let bad = |detail: String| StoreError::BadAddress {
            store: self.shown.clone(),
            detail,
        };
        let mut roots = RootCertStore::empty();
        // A system certificate that cannot be parsed is skipped, as libpq
        // and browsers do; the rest still count.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &self.root_cert {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject as _;
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|error| bad(format!("cannot read the certificate `{path}`: {error}")))?;
            for cert in certs {
                let cert =
                    cert.map_err(|error| bad(format!("the certificate `{path}`: {error}")))?;
                roots
                    .add(cert)
                    .map_err(|error| bad(format!("the certificate `{path}`: {error}")))?;
            }
        }
        #[expect(
            deprecated,
            reason = "ring has no post-quantum key exchange yet, but builds without cmake or \
                      OpenSSL; X25519 and the P curves are what PostgreSQL servers offer today"
        )]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| bad(error.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

/// The OS account's name, the user libpq uses when none is given.
fn os_account() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|user| user.name)
}

/// The string with the TLS options rbx handles itself taken out of a URL's
/// query (`sslrootcert`, and `sslmode=verify-ca|verify-full`, which become
/// `require`), and the root certificate's path if one was given.
fn take_tls_options(text: &str) -> (String, Option<String>) {
    let Some((base, query)) = text.split_once('?') else {
        return (text.to_owned(), None);
    };
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslrootcert", path)) => root_cert = Some(path.to_owned()),
            Some(("sslmode", "verify-ca" | "verify-full")) => kept.push("sslmode=require"),
            _ => kept.push(pair),
        }
    }
    let rewritten = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rewritten, root_cert)
}

/// The connection string with any password replaced by `***`.
pub(crate) fn redact(text: &str) -> String {
    if let Some((scheme, rest)) = text.split_once("://") {
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let authority = match authority.rsplit_once('@') {
            Some((user, host)) => match user.split_once(':') {
                Some((name, _)) => format!("{name}:***@{host}"),
                None => format!("{user}@{host}"),
            },
            None => authority.to_owned(),
        };
        let path = path
            .split('&')
            .map(|pair| {
                if pair.starts_with("password=") || pair.contains("?password=") {
                    let (head, _) = pair.split_once("password=").unwrap_or((pair, ""));
                    format!("{head}password=***")
                } else {
                    pair.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        return format!("{scheme}://{authority}{path}");
    }
    text.split_whitespace()
        .map(|pair| {
            if pair.starts_with("password=") {
                "password=***".to_owned()
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::{redact, take_tls_options};

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://alice:s3cret@db.example:5432/rbx?sslmode=require"),
            "postgres://alice:***@db.example:5432/rbx?sslmode=require"
        );
        assert_eq!(
            redact("postgres://db/rbx?user=bob&password=s3cret"),
            "postgres://db/rbx?user=bob&password=***"
        );
        assert_eq!(
            redact("postgres://db/rbx?password=s3cret&user=bob"),
            "postgres://db/rbx?password=***&user=bob"
        );
        assert_eq!(
            redact("host=db user=bob password=s3cret"),
            "host=db user=bob password=***"
        );
        assert_eq!(redact("postgres://bob@db/rbx"), "postgres://bob@db/rbx");
    }

    #[test]
    fn tls_options_are_taken_out() {
        assert_eq!(
            take_tls_options("postgres://db/rbx?sslmode=verify-full&sslrootcert=/ca.pem"),
            (
                "postgres://db/rbx?sslmode=require".to_owned(),
                Some("/ca.pem".to_owned())
            )
        );
        assert_eq!(
            take_tls_options("postgres://db/rbx"),
            ("postgres://db/rbx".to_owned(), None)
        );
    }
}
