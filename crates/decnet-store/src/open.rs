//! Opening a store: parsing the URL, creating the SQLite file private to
//! this user, one probe connection that tells "wrong" from "not yet", and
//! the bounded retry around it.
//!
//! sqlx's pool retries a refused connection and any failure of its
//! connect hook until its acquire timeout (60–120 s here) and then reports
//! only "timed out"; a corrupt SQLite file looked exactly like an
//! unreachable server. So a store is first reached with one plain
//! connection whose error is classified ([`OpenError::transient`]): only a
//! server that is starting up, refusing or timing out is retried, for a
//! bounded time; everything else fails at once with the database's own
//! words.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::sql::SqlStore;
use crate::Store;

/// Why a store could not be opened: one line naming the database (never
/// its password), the cause as the database or the OS said it, and
/// whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("database {location}: {cause}")]
pub struct OpenError {
    /// `sqlite:///path/decnet.db`, `postgres://host:5432/db`.
    pub location: String,
    /// What went wrong.
    pub cause: String,
    /// A server starting up, refusing or not answering (yet).
    pub transient: bool,
}

/// Longest a probe connection may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed database URL.
pub(crate) enum Target {
    Sqlite {
        /// The database file (`None` for `:memory:`).
        file: Option<PathBuf>,
        /// The URL sqlx gets.
        full: String,
        location: String,
    },
    Postgres {
        url: String,
        location: String,
    },
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Target, OpenError> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let (path, _) = rest.split_once('?').unwrap_or((rest, ""));
            let location = format!("sqlite://{path}");
            let fail = |cause: String| OpenError {
                location: location.clone(),
                cause,
                transient: false,
            };
            if path.is_empty() {
                return Err(fail("the URL has no file path (sqlite://PATH)".into()));
            }
            if path == ":memory:" {
                return Ok(Target::Sqlite {
                    file: None,
                    full: "sqlite://:memory:?mode=rwc".into(),
                    location,
                });
            }
            // Absolute, so the URL round-trip through `url::Url` cannot
            // mistake (and lowercase) a first path segment for a host.
            let p = Path::new(path);
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir()
                    .map_err(|e| fail(format!("current directory: {e}")))?
                    .join(p)
            };
            let escaped = abs
                .to_string_lossy()
                .replace('%', "%25")
                .replace('?', "%3F")
                .replace('#', "%23");
            Ok(Target::Sqlite {
                full: format!("sqlite://{escaped}?mode=rwc"),
                location: format!("sqlite://{}", abs.display()),
                file: Some(abs),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Target::Postgres {
                url: url.to_owned(),
                location: redact(url),
            })
        } else {
            let scheme = url.split_once("://").map_or(url, |(s, _)| s);
            Err(OpenError {
                location: redact(url),
                cause: format!(
                    "unsupported database type '{scheme}' (use sqlite://PATH or postgres://USER@HOST:PORT/DB)"
                ),
                transient: false,
            })
        }
    }

    fn location(&self) -> &str {
        match self {
            Target::Sqlite { location, .. } | Target::Postgres { location, .. } => location,
        }
    }

    pub(crate) fn failed(&self, cause: String, transient: bool) -> OpenError {
        OpenError {
            location: self.location().to_owned(),
            cause,
            transient,
        }
    }

    /// Classifies a sqlx error: retry only what a server that is starting
    /// up, overloaded or briefly unreachable would explain.
    pub(crate) fn error(&self, e: sqlx::Error) -> OpenError {
        use std::io::ErrorKind as K;
        let (cause, transient) = match &e {
            sqlx::Error::Io(io) => (
                io.to_string(),
                matches!(
                    io.kind(),
                    K::ConnectionRefused
                        | K::ConnectionReset
                        | K::ConnectionAborted
                        | K::TimedOut
                        | K::NotConnected
                ),
            ),
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                match self {
                    // 5/6: busy/locked by another process.
                    Target::Sqlite { .. } => (
                        format!("{} (SQLite error {code})", db.message()),
                        matches!(code.as_str(), "5" | "6"),
                    ),
                    // 57P03: starting up; 53300: too many connections;
                    // class 08: connection exceptions.
                    Target::Postgres { .. } => (
                        format!("{} (SQLSTATE {code})", db.message()),
                        code == "57P03" || code == "53300" || code.starts_with("08"),
                    ),
                }
            }
            sqlx::Error::PoolTimedOut => ("no connection within the timeout".into(), true),
            other => (other.to_string(), false),
        };
        self.failed(cause, transient)
    }

    /// Creates the SQLite file (and its directory) private to this user
    /// before SQLite does: SQLite creates files with the umask's mode
    /// (0644), and its `-wal`/`-shm` files copy the database's. An older
    /// world-readable database is made private too.
    pub(crate) fn prepare_sqlite_file(&self) -> Result<(), OpenError> {
        let Target::Sqlite {
            file: Some(file), ..
        } = self
        else {
            return Ok(());
        };
        let fail = |what: &str, path: &Path, e: std::io::Error| {
            self.failed(format!("cannot {what} {}: {e}", path.display()), false)
        };
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::journal::create_private_dir(dir).map_err(|e| fail("create", dir, e))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            opts.mode(0o600);
            opts.open(file).map_err(|e| fail("create", file, e))?;
            for suffix in ["", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{suffix}", file.display()));
                if let Ok(m) = std::fs::metadata(&p) {
                    if m.permissions().mode() & 0o077 != 0 {
                        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                            .map_err(|e| fail("restrict the mode of", &p, e))?;
                    }
                }
            }
        }
        #[cfg(not(unix))]
        opts.open(file).map_err(|e| fail("create", file, e))?;
        Ok(())
    }

    /// One plain connection: reaches the server (or opens the file), and
    /// for SQLite reads the schema, which is where a file that is not a
    /// database says so.
    pub(crate) async fn probe(&self) -> Result<(), OpenError> {
        let attempt = async {
            match self {
                Target::Sqlite { full, .. } => {
                    let mut c = sqlx::AnyConnection::connect(full).await?;
                    crate::sql::sqlite_setup_conn(&mut c).await?;
                    sqlx::query("SELECT count(*) FROM sqlite_master")
                        .execute(&mut c)
                        .await?;
                    c.close().await
                }
                Target::Postgres { url, .. } => {
                    let mut c = sqlx::AnyConnection::connect(url).await?;
                    sqlx::query("SELECT 1").execute(&mut c).await?;
                    c.close().await
                }
            }
        };
        match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.error(e)),
            Err(_) => Err(self.failed(
                format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
                true,
            )),
        }
    }
}

/// The URL without a password (`postgres://user@host:5432/db`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}{path}")
        }
        None => format!("{scheme}://{authority}{path}"),
    }
}

/// Opens a store, retrying only transient failures (a PostgreSQL server
/// starting up or refusing connections, a locked SQLite file) for up to
/// `wait`; anything else fails at once. The error names the database,
/// the real cause and, when it retried, for how long.
pub async fn open_with_retry(url: &str, wait: Duration) -> Result<Arc<dyn Store>, OpenError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    let mut warned = false;
    loop {
        match SqlStore::open(url).await {
            Ok(s) => return Ok(Arc::new(s)),
            Err(e) if e.transient && started.elapsed() + delay <= wait => {
                if !warned {
                    tracing::warn!("{e}; retrying for up to {} s", wait.as_secs_f32().round());
                    warned = true;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(mut e) => {
                if warned {
                    e.cause = format!(
                        "{} (still failing after {:.0} s of retries)",
                        e.cause,
                        started.elapsed().as_secs_f32()
                    );
                }
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_drops_passwords_and_query() {
        assert_eq!(
            redact("postgres://u:secret@db.example:5432/decnet?sslmode=require"),
            "postgres://u@db.example:5432/decnet"
        );
        assert_eq!(redact("postgres://db:5432/x"), "postgres://db:5432/x");
        assert_eq!(redact("mysql://root:pw@h/db"), "mysql://root@h/db");
    }

    #[test]
    fn unsupported_scheme_is_not_transient() {
        let Err(e) = Target::parse("mysql://root:pw@127.0.0.1/db") else {
            panic!("mysql accepted")
        };
        assert!(!e.transient);
        assert!(
            e.to_string().contains("unsupported database type 'mysql'"),
            "{e}"
        );
        assert!(!e.to_string().contains("pw"), "{e}");
    }
}
