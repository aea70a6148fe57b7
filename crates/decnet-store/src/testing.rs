//! Test support: a throw-away PostgreSQL cluster.
//!
//! [`PgCluster::start`] finds `initdb`/`pg_ctl` (on `PATH` or under
//! `/usr/lib/postgresql/*/bin`), creates a cluster in a temporary directory,
//! starts it on a free loopback port and removes everything on drop. As
//! root it runs the server as the `postgres` user (or `nobody`), since
//! initdb refuses root. Without binaries it returns `None` after printing a
//! loud SKIPPED line, unless `DECNET_REQUIRE_PG=1`, which makes that a panic.
#![allow(unsafe_code)] // raw syscalls; each block has its SAFETY comment
#![allow(clippy::unwrap_used)] // test support: a failed setup should stop the test

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throw-away PostgreSQL server.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
    port: u16,
    next_db: AtomicU32,
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for d in std::env::split_paths(&path) {
            if d.join("initdb").is_file() && d.join("pg_ctl").is_file() {
                return Some(d);
            }
        }
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .collect();
    candidates.sort();
    candidates.pop()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn user_exists(name: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// True when the run must fail instead of skipping.
pub fn pg_required() -> bool {
    std::env::var("DECNET_REQUIRE_PG").is_ok_and(|v| v == "1" || v == "true")
}

/// The PostgreSQL binaries, or None after a loud SKIPPED message (a
/// panic instead under `DECNET_REQUIRE_PG=1`).
fn bin_dir_or_skip() -> Option<PathBuf> {
    if let Some(bin) = find_bin_dir() {
        return Some(bin);
    }
    if pg_required() {
        panic!("DECNET_REQUIRE_PG=1 but PostgreSQL binaries (initdb, pg_ctl) were not found");
    }
    eprintln!("\n**************************************************************");
    eprintln!("SKIPPED: PostgreSQL binaries not found (initdb/pg_ctl); the");
    eprintln!("PostgreSQL store tests did NOT run. scripts/interop/postgres.sh");
    eprintln!("installs postgresql and runs them with DECNET_REQUIRE_PG=1.");
    eprintln!("**************************************************************\n");
    None
}

impl PgCluster {
    /// Starts a cluster, or returns `None` (after a loud message) when no
    /// PostgreSQL binaries are installed.
    pub fn start() -> Option<PgCluster> {
        let bin = bin_dir_or_skip()?;
        let run_as = is_root().then(|| {
            if user_exists("postgres") {
                "postgres"
            } else {
                "nobody"
            }
            .to_owned()
        });
        let base = std::env::temp_dir().join(format!(
            "decnet-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&base).expect("create pg temp dir");
        if let Some(user) = &run_as {
            let st = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&base)
                .status()
                .expect("chown");
            assert!(st.success(), "chown {} to {user} failed", base.display());
        }
        let mut cluster = PgCluster {
            dir: base,
            bin,
            run_as,
            port: free_port(),
            next_db: AtomicU32::new(0),
        };
        let data = cluster.dir.join("data");
        cluster.initdb(&data);
        cluster.pg_ctl_start(&data);
        eprintln!(
            "PostgreSQL test cluster on 127.0.0.1:{} ({})",
            cluster.port,
            cluster.dir.display()
        );
        Some(cluster)
    }

    /// Creates the cluster's data directory (trust auth, no fsync).
    fn initdb(&self, data: &Path) {
        let initdb = self.bin.join("initdb");
        let out = self
            .command(
                &initdb,
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ],
            )
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server on loopback and waits until it accepts connections.
    fn pg_ctl_start(&mut self, data: &Path) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -F -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        let pg_ctl = self.bin.join("pg_ctl");
        let out = self
            .command(
                &pg_ctl,
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-o",
                    &opts,
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            )
            .output()
            .expect("run pg_ctl");
        if !out.status.success() {
            let logtext = std::fs::read_to_string(&log).unwrap_or_default();
            // Keep the struct from trying to stop a server that never ran.
            self.port = 0;
            panic!(
                "pg_ctl start failed: {}{}\n{logtext}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn command(&self, prog: &Path, args: &[&str]) -> Command {
        let mut c = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(prog);
                c
            }
            None => Command::new(prog),
        };
        c.args(args).stdin(Stdio::null()).current_dir(&self.dir);
        c
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of the `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates a fresh empty database and returns its URL.
    pub async fn fresh_database(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{n}");
        sqlx::any::install_default_drivers();
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&self.admin_url())
            .await
            .expect("connect to test cluster");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let _ = conn.close().await;
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let pg_ctl = self.bin.join("pg_ctl");
            let data = self.dir.join("data");
            let _ = self
                .command(
                    &pg_ctl,
                    &[
                        "-D",
                        data.to_str().unwrap_or(""),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// The `i`-th event of a deterministic synthetic attack mix (connect, SSH
/// auth attempt with credential fields, command, disconnect over five
/// deckies; one source address per 8 events), shared by the store/intel
/// benchmarks and the API load harness's store fill.
pub fn synthetic_event(i: usize) -> decnet_core::Event {
    use decnet_core::{Event, EventKind};
    const KINDS: [EventKind; 4] = [
        EventKind::Connect,
        EventKind::AuthAttempt,
        EventKind::Command,
        EventKind::Disconnect,
    ];
    const DECKIES: [&str; 5] = ["web01", "db01", "mail01", "files01", "iot01"];
    let kind = KINDS[i % KINDS.len()];
    let mut e = Event::new(
        DECKIES[i % 5],
        if i % 3 == 0 { "http" } else { "ssh" },
        kind,
    );
    e.src_ip = std::net::IpAddr::V4(std::net::Ipv4Addr::new(
        10,
        ((i / 65536) % 256) as u8,
        ((i / 256) % 256) as u8,
        (i % 256 / 8 * 8 + 1) as u8,
    ));
    e.src_port = (40000 + i % 20000) as u16;
    e.dst_ip = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 64, 10));
    e.dst_port = 22;
    e.session_id = Some(uuid::Uuid::now_v7());
    match kind {
        EventKind::AuthAttempt => {
            let pw = format!("pw{}", i % 1000);
            e = e.with("username", "root").with("password", pw.clone());
            decnet_core::event::credential_fields(&mut e.fields, "root", "password", pw.as_bytes());
        }
        EventKind::Command => e = e.with("command", "uname -a; cat /proc/cpuinfo | grep name"),
        _ => {}
    }
    e
}
