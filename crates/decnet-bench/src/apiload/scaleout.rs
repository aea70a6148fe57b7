//! Scale-out figure: two `decnet serve --bus nats://… --db postgres://…`
//! processes sharing the durable consumer, one `decnet sensor`; events go
//! into the sensor's decky socket and are timed to SSE frames on both
//! servers' APIs. Starts a real `nats-server -js` and a throw-away
//! PostgreSQL cluster, and stops everything it started.
#![allow(unsafe_code)] // raw syscalls; each block has its SAFETY comment

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::client::Api;
use super::inject::Plan;
use super::streams::{self, RunReport};

const ADMIN_PW: &str = "bench-admin-password";

/// Outcome: the stream run plus how the two pumps shared the work.
#[derive(serde::Serialize)]
pub struct ScaleoutReport {
    #[serde(flatten)]
    pub run: RunReport,
    /// Injected events each server's pump committed (lines in its event log).
    pub ingested_by_server: Vec<u64>,
}

fn nats_binary() -> anyhow::Result<PathBuf> {
    [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .context("nats-server not installed (apt-get install nats-server)")
}

/// Waits for a stdout line containing `needle`, then drains the rest.
async fn wait_line(child: &mut Child, needle: &str) -> anyhow::Result<()> {
    let out = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(out).lines();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(l) = lines.next_line().await? {
            if l.contains(needle) {
                return Ok::<bool, std::io::Error>(true);
            }
        }
        Ok(false)
    })
    .await??;
    if !found {
        bail!("process exited before printing {needle:?}");
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(())
}

async fn stop(mut c: Child) {
    if let Some(pid) = c.id() {
        // SAFETY: signalling a child we spawned and still own.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    if tokio::time::timeout(Duration::from_secs(20), c.wait())
        .await
        .is_err()
    {
        let _ = c.kill().await;
    }
}

fn decnet(bin: &Path, args: &[&str], dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("DECNET_ADMIN_PASSWORD", ADMIN_PW)
        .env(
            "DECNET_JWT_SECRET",
            "bench-jwt-secret-bench-jwt-secret-0123",
        )
        .env("DECNET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    c
}

fn marker_lines(log: &Path, marker: &str) -> u64 {
    std::fs::read_to_string(log)
        .map(|t| t.lines().filter(|l| l.contains(marker)).count() as u64)
        .unwrap_or(0)
}

/// A JetStream nats-server on a free loopback port, ready; and its URL.
async fn start_nats(nats_bin: &Path, tmp: &Path) -> anyhow::Result<(Child, String)> {
    let nport = decnet_store::testing::free_port();
    let nats = Command::new(nats_bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &nport.to_string(), "-sd"])
        .arg(tmp.join("js"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", nport))
        .await
        .is_err()
    {
        if std::time::Instant::now() > until {
            bail!("nats-server did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((nats, format!("nats://127.0.0.1:{nport}")))
}

/// Two `decnet serve` on the bus and the shared database, each with a
/// telnet decky, and an admin session on each API.
async fn start_servers(
    bin: &Path,
    tmp: &Path,
    url: &str,
    db: &str,
    off: &str,
) -> anyhow::Result<(Vec<Child>, Vec<Api>)> {
    let mut servers = Vec::new();
    let mut apis = Vec::new();
    // One after the other: the first one migrates the shared database.
    for (i, net) in ["127.0.98", "127.0.99"].iter().enumerate() {
        let ini = tmp.join(format!("server{i}.ini"));
        std::fs::write(
            &ini,
            format!("[general]\nnet = {net}.0/24\n[core{i}]\nip = {net}.10\nservices = telnet\n"),
        )?;
        let port = decnet_store::testing::free_port();
        let api = format!("127.0.0.1:{port}");
        let mut c = decnet(
            bin,
            &[
                "serve",
                "--config",
                ini.to_str().context("path")?,
                "--bus",
                url,
                "--db",
                db,
                "--api",
                &api,
                "--port-offset",
                off,
            ],
            &tmp.join(format!("server{i}")),
        )
        .spawn()?;
        wait_line(&mut c, "Ctrl-C to stop").await?;
        servers.push(c);
        apis.push(Api::login(&format!("http://{api}"), "admin", ADMIN_PW).await?);
    }
    Ok((servers, apis))
}

/// A `decnet sensor` named `site1` with the HTTP decky `edge`, ready for
/// deploy requests.
async fn start_sensor(bin: &Path, tmp: &Path, url: &str, off: &str) -> anyhow::Result<Child> {
    let ini = tmp.join("sensor.ini");
    std::fs::write(
        &ini,
        "[general]\nnet = 127.0.100.0/24\n[edge]\nip = 127.0.100.10\nservices = http\n",
    )?;
    let mut sensor = decnet(
        bin,
        &[
            "sensor",
            "--name",
            "site1",
            "--config",
            ini.to_str().context("path")?,
            "--bus",
            url,
            "--port-offset",
            off,
        ],
        &tmp.join("sensor"),
    )
    .spawn()?;
    wait_line(&mut sensor, "control.site1.deploy").await?;
    Ok(sensor)
}

/// Runs the scenario; `per_api` subscribers on each server.
pub async fn run(
    bin: &Path,
    offset: u16,
    rate: u64,
    seconds: f64,
    per_api: usize,
) -> anyhow::Result<ScaleoutReport> {
    let nats_bin = nats_binary()?;
    let pg = decnet_store::testing::PgCluster::start()
        .context("PostgreSQL binaries not installed (apt-get install postgresql)")?;
    let db = pg.fresh_database().await;
    let tmp = std::env::temp_dir().join(format!("decnet-bench-scaleout-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let (nats, url) = start_nats(&nats_bin, &tmp).await?;
    let off = offset.to_string();
    let (servers, apis) = start_servers(bin, &tmp, &url, &db, &off).await?;
    let sensor = start_sensor(bin, &tmp, &url, &off).await?;
    let plan = Plan {
        target: format!("127.0.100.10:{}", 80 + offset).parse()?,
        rate,
        seconds,
        conns: 8,
        run: format!("s{}", std::process::id()),
    };
    let result = streams::run(&apis, per_api, &plan, "edge", Duration::from_secs(10)).await;
    stop(sensor).await;
    for s in servers {
        stop(s).await;
    }
    drop(nats);
    let marker = format!("/b/{}/", plan.run);
    let ingested_by_server = (0..2)
        .map(|i| marker_lines(&tmp.join(format!("server{i}/decnet.log")), &marker))
        .collect();
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(ScaleoutReport {
        run: result?,
        ingested_by_server,
    })
}
