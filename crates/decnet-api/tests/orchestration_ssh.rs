//! Orchestration over SSH: add a service to a decky while an SSH session on it
//! stays open, and `cat` a file dropped through the API from that session.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use decnet_api::engine::{Engine, Sensors};
use decnet_api::ApiConfig;
use decnet_bus::{Bus, MemoryBus};
use decnet_engine::topology::Topologies;
use decnet_engine::{EngineConfig, Fleet};
use decnet_services::{Limits, Registry};
use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh::ChannelMsg;
use serde_json::{json, Value};
use tokio::net::TcpStream;

const OFF: u16 = 48500;
const PW: &str = "orchestration-ssh-admin";

struct Client;
impl client::Handler for Client {
    type Error = russh::Error;
    async fn check_server_key(&mut self, _k: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

async fn exec(h: &client::Handle<Client>, cmd: &str) -> String {
    let mut ch = h.channel_open_session().await.unwrap();
    ch.exec(true, cmd).await.unwrap();
    let mut out = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), ch.wait()).await {
        match msg {
            ChannelMsg::Data { data } => out.extend_from_slice(&data),
            ChannelMsg::Close | ChannelMsg::Eof => break,
            _ => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_add_keeps_ssh_session_and_dropped_file_is_readable_over_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let store = decnet_store::open(&format!("sqlite://{}/d.db", dir.path().display()))
        .await
        .unwrap();
    let limits = Limits {
        auth_fail_delay: Duration::from_millis(10),
        ..Limits::default()
    };
    let fleet = Fleet::new(
        EngineConfig {
            data_dir: dir.path().join("data"),
            port_offset: OFF,
            limits,
        },
        Registry::builtin().with(Arc::new(decnet_ssh::Ssh)),
        bus.clone(),
    );
    let topologies = Topologies::new(store.clone(), fleet.clone(), bus.clone());
    let mut cfg = ApiConfig::new("127.0.0.1:0".parse().unwrap(), dir.path());
    cfg.admin_password = Some(PW.into());
    cfg.jwt_secret = Some("0123456789abcdef0123456789abcdef-orch-ssh".into());
    let engine = Some(Engine {
        fleet: fleet.clone(),
        topologies,
        sensors: Sensors::watch(&bus),
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = decnet_api::serve(
        cfg,
        decnet_api::Backends {
            engine,
            ..decnet_api::Backends::new(store, bus)
        },
        async move {
            let _ = rx.await;
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}/api/v1", handle.local_addr);
    let http = reqwest::Client::new();
    let token = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "admin", "password": PW}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let ini = "[general]\nnet = 127.0.99.0/24\n[sshbox]\nip = 127.0.99.10\nservices = ssh\n[sshbox.ssh]\npassword = r00tpw\n";
    let r = http
        .post(format!("{base}/deckies/deploy"))
        .bearer_auth(&token)
        .json(&json!({"ini_content": ini}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut up = false;
    for _ in 0..200 {
        if TcpStream::connect(("127.0.99.10", 22 + OFF)).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(up);

    // An attacker is logged in over SSH.
    let mut ssh = client::connect(
        Arc::new(client::Config::default()),
        ("127.0.99.10", 22 + OFF),
        Client,
    )
    .await
    .unwrap();
    assert!(ssh
        .authenticate_password("root", "r00tpw")
        .await
        .unwrap()
        .success());
    assert!(exec(&ssh, "hostname").await.trim().len() > 2);

    // Add http live: 201 with the new list, port answers.
    let r = http
        .post(format!("{base}/deckies/sshbox/services"))
        .bearer_auth(&token)
        .json(&json!({"name": "http"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap()["services"],
        json!(["ssh", "http"])
    );
    assert!(TcpStream::connect(("127.0.99.10", 80 + OFF)).await.is_ok());

    // Drop a file; the still-open SSH session reads it.
    use base64::Engine as _;
    let body = json!({"decky_name": "sshbox", "path": "/opt/app/config.yml", "content_b64": base64::engine::general_purpose::STANDARD.encode("db_pass: hunter2\n"), "mode": 0o640, "mtime_offset": -3600});
    let r = http
        .post(format!("{base}/deckies/files"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        exec(&ssh, "cat /opt/app/config.yml").await,
        "db_pass: hunter2\n"
    );
    let ls = exec(&ssh, "ls -l /opt/app").await;
    assert!(
        ls.contains("-rw-r----- 1 root root") && ls.contains("config.yml"),
        "{ls}"
    );

    let _ = ssh
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    let _ = tx.send(());
    handle.wait().await.unwrap();
    fleet.shutdown().await;
}
