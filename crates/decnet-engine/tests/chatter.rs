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
    let text = "[general]\nnet = 127.0.131.0/24\n[ws01]\nip = 127.0.131.10\nservices = ssh\n[intranet]\nip = 127.0.131.11\nservices = http, smb\n[mail01]\nip = 127.0.131.12\nservices = smtp, dns\n[fs01]\nip = 127.0.131.13\nservices = smb\ndistro = windows2019\n";
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

    // The share browse lists the shares of a Samba and of a Windows server
    // (it fails unless NetrShareEnum answers with at least one share).
    for target in ["127.0.131.11", "127.0.131.13"] {
        let dst = std::net::SocketAddr::new(target.parse().unwrap(), 445 + OFFSET);
        let peer = decnet_services::chatter::Peer {
            helo: "ws01.corp.local",
            login: None,
            mail: None,
        };
        let src = decnet_services::chatter::Source {
            ip: "127.0.131.10".parse().unwrap(),
            netns: None,
        };
        decnet_services::chatter::run(Flow::ShareBrowse, src, dst, &peer)
            .await
            .unwrap_or_else(|e| panic!("share browse of {target}: {e}"));
    }

    // The mail flows delivered into the mail decky's mailbox (IMAP and
    // POP3 read it), and the admin logins are in the ssh decky's story.
    let all = fleet.contexts().await;
    let ctx = |name: &str| all.iter().find(|c| c.name() == name).unwrap().clone();
    let mailbox = decnet_shell::lived::mail::messages(&ctx("mail01").vfs(), "root");
    let delivered: Vec<_> = mailbox
        .iter()
        .filter(|m| m.text.contains("\r\nDelivered-To: "))
        .collect();
    assert!(!delivered.is_empty(), "no chatter mail in mail01's Maildir");
    let text = &delivered[0].text;
    assert!(text.starts_with("Return-Path: <"), "{text}");
    assert!(text.contains(" (Postfix) id "), "{text}");
    assert!(text.contains("\r\nSubject: "), "{text}");
    let ws = ctx("ws01").vfs();
    let visits: Vec<_> = ws
        .logins()
        .into_iter()
        .filter(|l| ["127.0.131.11", "127.0.131.12"].contains(&l.from.as_str()))
        .collect();
    assert!(
        !visits.is_empty(),
        "no admin login from a peer in ws01's story"
    );
    let auth = ws.get("/var/log/auth.log").unwrap();
    let decnet_shell::Kind::File(decnet_shell::Content::Bytes(auth)) = auth.kind else {
        panic!("auth.log is not text");
    };
    let auth = String::from_utf8_lossy(&auth);
    assert!(
        auth.contains(&format!(
            "Accepted password for {} from {} port ",
            visits[0].user, visits[0].from
        )),
        "{auth}"
    );

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
