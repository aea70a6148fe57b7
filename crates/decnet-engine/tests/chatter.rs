//! The fleet's own traffic: real HTTP, SMTP, SSH (version check and password login), DNS and SMB dialogs between
//! running deckies complete, and none of them reaches the bus as an
//! attacker's event, while an ordinary client from the same address does.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_engine::{chatter, EngineConfig, Fleet};
use decnet_services::chatter::Flow;
use decnet_services::{Limits, Registry};
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OFFSET: u16 = 45100;

#[tokio::test]
async fn deckies_talk_to_each_other_and_none_of_it_is_an_attack() {
    let dir = tempfile::tempdir().unwrap();
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let fleet = Fleet::new(
        EngineConfig {
            data_dir: dir.path().to_owned(),
            port_offset: OFFSET,
            limits: Limits::default(),
        },
        Registry::builtin().with(Arc::new(decnet_ssh::Ssh)),
        bus.clone(),
    );
    let text = "[general]\nnet = 127.0.131.0/24\n[ws01]\nip = 127.0.131.10\nservices = ssh\n[intranet]\nip = 127.0.131.11\nservices = http, smb\n[mail01]\nip = 127.0.131.12\nservices = smtp, dns\n";
    let (spec, _) = decnet_core::fleet::parse_str(text).unwrap();
    for d in spec.deckies {
        fleet.deploy(d).await.unwrap();
    }
    let mut sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut seen = HashSet::new();
    for _ in 0..60 {
        let (flow, result) = chatter::once(&fleet, &mut rng).await.unwrap();
        result.unwrap_or_else(|e| panic!("{flow:?}: {e}"));
        seen.insert(flow);
    }
    assert_eq!(seen, Flow::ALL.into_iter().collect::<HashSet<_>>());

    // An ordinary client bound to a decky's address is still an attacker.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.131.10:0".parse().unwrap()).unwrap();
    let mut s = socket
        .connect(format!("127.0.131.11:{}", 80 + OFFSET).parse().unwrap())
        .await
        .unwrap();
    let plain = s.local_addr().unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: intranet\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    // Events arrive in order: any from the 60 flows would come first.
    let first = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .unwrap()
        .unwrap();
    let first = first.as_event().unwrap();
    assert_eq!(
        (first.src_ip, first.src_port, first.service.as_str()),
        (plain.ip(), plain.port(), "http"),
        "an event of the fleet's own traffic was published: {first:?}"
    );

    // The rate-driven runner: about one flow a second at its highest rate,
    // none at 0; both stop with the fleet.
    use std::sync::atomic::Ordering::Relaxed;
    let busy = chatter::start(fleet.clone(), decnet_core::content::MAX_CHATTER);
    let idle = chatter::start(fleet.clone(), 0);
    let t = std::time::Instant::now();
    while busy.completed.load(Relaxed) < 2 && t.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(busy.completed.load(Relaxed) >= 2, "{busy:?}");
    assert_eq!(busy.failed.load(Relaxed), 0, "{busy:?}");
    fleet.shutdown().await;
    assert_eq!(idle.completed.load(Relaxed) + idle.failed.load(Relaxed), 0);
}
