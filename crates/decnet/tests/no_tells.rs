//! "No tells" sweep (loopback part): a fleet of 20 deckies must
//! not share what a real fleet would vary (hostnames, MACs, host keys,
//! certificates, boot times), and must never name itself ("decnet") or the
//! decky in banners, pages, certificates or errors.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, MemoryBus};
use decnet_engine::{EngineConfig, Fleet};
use decnet_services::{Limits, Registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OFF: u16 = 39000;
const N: usize = 20;

async fn read_for(s: &mut TcpStream, ms: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_deckies_do_not_give_themselves_away() {
    let dir = tempfile::tempdir().unwrap();
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let fleet = Fleet::new(
        EngineConfig {
            data_dir: dir.path().to_owned(),
            port_offset: OFF,
            limits: Limits::default(),
        },
        Registry::builtin().with(Arc::new(decnet_ssh::Ssh)),
        bus,
    );
    let mut ini = String::from("[general]\nnet = 127.0.98.0/24\n");
    for i in 0..N {
        ini.push_str(&format!(
            "[tellcheck{i:02}]\nip = 127.0.98.{}\nservices = ssh, telnet, http, https, ftp\n",
            10 + i
        ));
    }
    let (spec, _) = decnet_core::fleet::parse_str(&ini).unwrap();
    for d in spec.deckies {
        fleet.deploy(d).await.unwrap();
    }

    let mut hostnames = HashSet::new();
    let mut macs = HashSet::new();
    let mut boots = HashSet::new();
    let mut host_keys = HashSet::new();
    let mut certs = HashSet::new();
    for i in 0..N {
        let name = format!("tellcheck{i:02}");
        let ip = format!("127.0.98.{}", 10 + i);
        let ctx = fleet.decky(&name).await.unwrap();
        hostnames.insert(ctx.persona.hostname.clone());
        macs.insert(ctx.persona.mac);
        boots.insert(ctx.persona.boot_time);

        // What an attacker sees first, per protocol.
        let mut seen = Vec::new();
        let mut ssh = TcpStream::connect((ip.as_str(), 22 + OFF)).await.unwrap();
        seen.extend(read_for(&mut ssh, 150).await);
        let mut telnet = TcpStream::connect((ip.as_str(), 23 + OFF)).await.unwrap();
        seen.extend(read_for(&mut telnet, 150).await);
        let mut ftp = TcpStream::connect((ip.as_str(), 21 + OFF)).await.unwrap();
        seen.extend(read_for(&mut ftp, 300).await);
        ftp.write_all(b"USER anonymous\r\nSYST\r\nHELP\r\nBOGUS\r\n")
            .await
            .unwrap();
        seen.extend(read_for(&mut ftp, 300).await);
        for path in [
            "/",
            "/.env",
            "/admin",
            "/nonexistent-page",
            "/server-status",
        ] {
            let mut http = TcpStream::connect((ip.as_str(), 80 + OFF)).await.unwrap();
            http.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            seen.extend(read_for(&mut http, 1000).await);
        }
        let text = String::from_utf8_lossy(&seen).to_lowercase();
        assert!(!text.contains("decnet"), "{name} names decnet:\n{text}");
        assert!(
            !text.contains("tellcheck"),
            "{name} leaks its decky name:\n{text}"
        );
        assert!(
            !text.contains(&format!("{OFF}")),
            "{name} leaks its port offset"
        );

        // Persisted identity material differs per decky.
        let data = dir.path().join("deckies").join(&name);
        let key = std::fs::read(data.join("ssh_host_ed25519_key"))
            .or_else(|_| std::fs::read(data.join("ssh").join("ssh_host_ed25519_key")));
        let key =
            key.unwrap_or_else(|_| panic!("{name}: no ssh host key under {}", data.display()));
        host_keys.insert(key);
        // The certificate https presents (a Debian-family persona's RSA
        // snakeoil is made at the first handshake; this makes it now).
        let tls = decnet_services::tls::TlsIdentity::for_decky(&ctx, "https", &[]).unwrap();
        let cert = tls.ready().await.unwrap().cert_der.to_vec();
        assert!(!cert.is_empty());
        certs.insert(cert);
    }
    assert_eq!(hostnames.len(), N, "hostnames repeat: {hostnames:?}");
    assert_eq!(macs.len(), N, "MACs repeat");
    assert_eq!(boots.len(), N, "boot times (uptime) repeat");
    assert_eq!(host_keys.len(), N, "SSH host keys repeat");
    assert_eq!(certs.len(), N, "TLS certificates repeat");
    fleet.shutdown().await;
}
