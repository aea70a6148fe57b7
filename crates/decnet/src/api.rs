//! Wiring of the REST API into `serve`/`demo`, and `decnet user …`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use decnet_api::{AdminBootstrap, ApiConfig, ApiHandle, Backends};
use decnet_store::{Role, Store};
use tokio::sync::oneshot;

/// `sqlite://DATA_DIR/decnet.db` unless `--db` says otherwise.
pub fn db_url(db: Option<&str>, data_dir: &Path) -> String {
    db.map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("decnet.db").display()))
}

/// How long a database that is starting up (refusing connections) is
/// waited for; anything retrying cannot fix fails at once.
const DB_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the store: one line naming the database and the real cause when
/// it cannot be (after at most [`DB_WAIT`] of retries for a server that is
/// not up yet).
pub async fn open_store(db: Option<&str>, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    Ok(decnet_store::open_with_retry(&db_url(db, data_dir), DB_WAIT).await?)
}

async fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("--api {addr}: not ADDR:PORT"))?
        .next()
        .with_context(|| format!("--api {addr}: resolves to nothing"))
}

/// A running API and the way to stop it.
pub struct RunningApi {
    handle: ApiHandle,
    stop: oneshot::Sender<()>,
}

impl RunningApi {
    /// Graceful stop: streams end, workers stop, in-flight requests drain.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.handle.wait().await {
            tracing::warn!(error = %format!("{e:#}"), "API stopped with an error");
        }
    }
}

/// Starts the API on `addr` over `backends`, prints where it is and how to
/// log in.
pub async fn start(addr: &str, data_dir: &Path, backends: Backends) -> anyhow::Result<RunningApi> {
    let bind = resolve(addr).await?;
    let (stop, rx) = oneshot::channel::<()>();
    let config = ApiConfig::from_env(bind, data_dir);
    let handle = decnet_api::serve(config, backends, async move {
        let _ = rx.await;
    })
    .await?;
    let url = format!("http://{}", handle.local_addr);
    println!("API + dashboard: {url}/   (OpenAPI: {url}/api/v1/openapi.json)");
    match &handle.admin {
        AdminBootstrap::Generated {
            username,
            password,
            file,
        } => println!(
            "Admin user '{username}' created with password: {password}\n  (also in {}; you must change it at first login)",
            file.display()
        ),
        AdminBootstrap::FromEnv { username } => {
            println!("Admin user '{username}' created with DECNET_ADMIN_PASSWORD")
        }
        AdminBootstrap::Existing { username } => {
            let file = data_dir.join("admin-password");
            if file.exists() {
                println!(
                    "Admin user '{username}'; its generated password is in {}",
                    file.display()
                )
            } else {
                println!("Admin user '{username}' (existing)")
            }
        }
    }
    Ok(RunningApi { handle, stop })
}

/// `decnet user …`.
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a user.
    Add {
        /// Login name.
        username: String,
        /// admin or viewer.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Password (else DECNET_USER_PASSWORD, else a random one is printed and must be changed at first login).
        #[arg(long, env = "DECNET_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set a user's password (ends their sessions).
    Passwd {
        /// Login name.
        username: String,
        /// New password (else DECNET_USER_PASSWORD, else a random one is printed and must be changed at first login).
        #[arg(long, env = "DECNET_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List users.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Where the store is.
#[derive(clap::Args, Debug)]
pub struct DbArgs {
    /// Data directory.
    #[arg(long, default_value = "decnet-data", env = "DECNET_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Database URL; default sqlite://DATA_DIR/decnet.db.
    #[arg(long, env = "DECNET_DB")]
    pub db: Option<String>,
}

fn check_password(pw: &str) -> anyhow::Result<()> {
    let n = pw.chars().count();
    anyhow::ensure!((8..=128).contains(&n), "password must be 8-128 characters");
    Ok(())
}

fn password_or_random(given: Option<String>) -> anyhow::Result<(String, bool)> {
    match given {
        Some(p) => {
            check_password(&p)?;
            Ok((p, false))
        }
        None => Ok((decnet_api::auth::random_password(), true)),
    }
}

async fn user_cmd(cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add {
            username,
            role,
            password,
            db,
        } => {
            anyhow::ensure!(
                decnet_api::routes::config::username_ok(&username),
                "username must be 1-64 characters: letters, digits, ._@-"
            );
            let role = Role::parse(&role).context("--role must be admin or viewer")?;
            let (pw, generated) = password_or_random(password)?;
            let store = open_store(db.db.as_deref(), &db.data_dir).await?;
            let user = decnet_api::auth::new_user(username.clone(), &pw, role, generated)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            store
                .create_user(&user)
                .await
                .with_context(|| format!("cannot create user '{username}'"))?;
            println!("created {} user '{username}'", role.as_str());
            if generated {
                println!("password: {pw}   (must be changed at first login)");
            }
        }
        UserCmd::Passwd {
            username,
            password,
            db,
        } => {
            let (pw, generated) = password_or_random(password)?;
            let store = open_store(db.db.as_deref(), &db.data_dir).await?;
            let mut user = store
                .user_by_name(&username)
                .await?
                .with_context(|| format!("no user '{username}'"))?;
            user.password_hash = decnet_api::auth::hash_password(&pw)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            user.must_change_password = generated;
            user.password_changed_at = Utc::now();
            store.update_user(&user).await?;
            println!("password of '{username}' changed; their sessions are ended");
            if generated {
                println!("password: {pw}   (must be changed at first login)");
            }
        }
        UserCmd::List { db } => {
            let store = open_store(db.db.as_deref(), &db.data_dir).await?;
            println!(
                "{:<24} {:<7} {:<12} CREATED",
                "USERNAME", "ROLE", "MUST_CHANGE"
            );
            for u in store.list_users().await? {
                println!(
                    "{:<24} {:<7} {:<12} {}",
                    u.username,
                    u.role.as_str(),
                    if u.must_change_password { "yes" } else { "no" },
                    u.created_at.format("%Y-%m-%d %H:%M:%S")
                );
            }
        }
    }
    Ok(())
}

/// Entry point of `decnet user …`.
pub fn user(cmd: UserCmd) -> ExitCode {
    let rt = match crate::runtime::build(crate::runtime::Flavor::CurrentThread) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(user_cmd(cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
