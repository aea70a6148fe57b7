//! The receivers driven by real clients over loopback sockets: reqwest for
//! HTTP, DNS messages over UDP and TCP; every trigger read back from the bus.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus, Subscription};
use decnet_canary::receivers::dns::{DnsConfig, DnsReceiver};
use decnet_canary::receivers::http::HttpReceiver;
use decnet_canary::receivers::Shared;
use decnet_canary::{CanaryService, Ctx, NewToken};
use decnet_core::{Event, EventKind};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Rig {
    svc: CanaryService,
    sub: Subscription,
    http: SocketAddr,
    dns: SocketAddr,
    _dir: tempfile::TempDir,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        decnet_store::SqlStore::connect(&format!("sqlite://{}", dir.path().join("c.db").display()))
            .await
            .unwrap(),
    );
    let http_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = http_l.local_addr().unwrap();
    let mut ctx = Ctx::new(&format!("http://{http}"));
    ctx.dns_zone = Some("canary.test".into());
    let svc = CanaryService::open(store, ctx).await.unwrap();
    let bus = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let shared = Shared::new(svc.index(), bus);
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dns = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(dns).await.unwrap();
    let cfg = DnsConfig {
        zone: "canary.test".into(),
        address: Ipv4Addr::new(192, 0, 2, 1),
        ttl: 5,
    };
    let dns_rx = DnsReceiver::new(shared.clone(), cfg).unwrap();
    let tasks = vec![
        tokio::spawn(HttpReceiver::new(shared).serve(http_l)),
        tokio::spawn(dns_rx.clone().serve_udp(udp)),
        tokio::spawn(dns_rx.serve_tcp(tcp)),
    ];
    Rig {
        svc,
        sub,
        http,
        dns,
        _dir: dir,
        _tasks: tasks,
    }
}

fn req(kind: &str) -> NewToken {
    NewToken {
        kind: kind.into(),
        created_by: "admin".into(),
        ..Default::default()
    }
}

async fn next_trigger(sub: &mut Subscription) -> Event {
    let env = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("a trigger within 5 s")
        .unwrap();
    let e = env.as_event().unwrap().as_ref().clone();
    assert_eq!(e.kind, EventKind::CanaryTrigger);
    e
}

async fn nothing_more(sub: &mut Subscription) {
    assert!(tokio::time::timeout(Duration::from_millis(200), sub.recv())
        .await
        .is_err());
}

#[tokio::test]
async fn http_fetch_triggers_and_looks_like_nginx() {
    let mut r = rig().await;
    let t = r.svc.create(&req("docx")).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://{}/static/{}/logo.png", r.http, t.slug);
    let resp = client
        .get(&url)
        .header("user-agent", "LibreOffice")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["server"], "nginx/1.22.1");
    assert_eq!(resp.headers()["content-type"], "image/gif");
    assert!(resp.bytes().await.unwrap().starts_with(b"GIF89a"));
    let e = next_trigger(&mut r.sub).await;
    assert_eq!(e.subject(), "events.canary.canary-http.canary_trigger");
    assert_eq!(e.field_str("token_id"), Some(t.id.to_string().as_str()));
    assert_eq!(e.field_str("token_kind"), Some("docx"));
    assert_eq!(e.field_str("user_agent"), Some("LibreOffice"));
    assert_eq!(
        e.field_str("path"),
        Some(format!("/static/{}/logo.png", t.slug).as_str())
    );
    assert_eq!(e.src_ip, "127.0.0.1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(e.dst_port, r.http.port());

    // A second fetch is counted.
    client.get(&url).send().await.unwrap();
    assert_eq!(next_trigger(&mut r.sub).await.fields["count"], 2);

    // Unknown slugs and paths: nginx's 404, no trigger.
    let resp = client
        .get(format!("http://{}/c/aaaaaaaaaaaaaaaa", r.http))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<center>nginx/1.22.1</center>"));
    assert_eq!(body.len(), 153, "nginx's 404 page is 153 bytes");
    let resp = client
        .get(format!("http://{}/", r.http))
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("Welcome to nginx!"));
    nothing_more(&mut r.sub).await;

    // Revoked: no trigger, and the answer is the unknown-path one.
    r.svc.revoke(t.id).await.unwrap();
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    nothing_more(&mut r.sub).await;
}

#[tokio::test]
async fn aws_and_git_dialects_trigger_on_their_credentials() {
    let mut r = rig().await;
    let aws = r.svc.create(&req("aws_credentials")).await.unwrap();
    let (key_id, _) = aws.aws_key().unwrap();
    let client = reqwest::Client::new();
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={key_id}/20250101/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0f"
    );
    let resp = client
        .get(format!("http://{}/", r.http))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("<Code>AccessDenied</Code>"));
    let e = next_trigger(&mut r.sub).await;
    assert_eq!(e.field_str("matched"), Some("aws_key_id"));
    assert_eq!(e.field_str("token_id"), Some(aws.id.to_string().as_str()));

    let git = r.svc.create(&req("git_config")).await.unwrap();
    let decnet_canary::Credential::RepoPath { path } = &git.credentials[0] else {
        unreachable!()
    };
    let url = format!("http://{}{path}/info/refs?service=git-upload-pack", r.http);
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Basic realm=\"Git\"");
    assert_eq!(
        next_trigger(&mut r.sub).await.field_str("matched"),
        Some("repo_path")
    );
    let (u, p) = git.login().unwrap();
    client
        .get(&url)
        .basic_auth(u, Some(p))
        .send()
        .await
        .unwrap();
    let e = next_trigger(&mut r.sub).await;
    assert_eq!(e.field_str("matched"), Some("password"));
}

#[tokio::test]
async fn malformed_http_never_hurts_the_receiver() {
    let r = rig().await;
    for junk in [
        &b"\x00\xff\xfe garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc",
        &[b'A'; 70_000][..],
    ] {
        let mut s = tokio::net::TcpStream::connect(r.http).await.unwrap();
        let _ = s.write_all(junk).await;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut buf)).await;
    }
    let resp = reqwest::get(format!("http://{}/", r.http)).await.unwrap();
    assert_eq!(resp.status(), 200, "still serving");
}

fn dns_query(name: &str) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    m.to_vec().unwrap()
}

#[tokio::test]
async fn dns_over_udp_and_tcp_records_the_resolver_and_exfil_data() {
    let mut r = rig().await;
    let t = r.svc.create(&req("dns_name")).await.unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.3:0").await.unwrap();
    sock.send_to(
        &dns_query(&format!("{}.Canary.Test.", t.slug.to_uppercase())),
        r.dns,
    )
    .await
    .unwrap();
    let mut buf = [0u8; 1500];
    let n = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
    let e = next_trigger(&mut r.sub).await;
    assert_eq!(e.subject(), "events.canary.canary-dns.canary_trigger");
    assert_eq!(e.field_str("resolver"), Some("127.0.0.3"));
    assert_eq!(e.field_str("transport"), Some("udp"));
    assert_eq!(e.field_str("qtype"), Some("A"));

    let mut s = tokio::net::TcpStream::connect(r.dns).await.unwrap();
    let q = dns_query(&format!("c2VjcmV0.{}.canary.test.", t.slug));
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    s.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.unwrap();
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut reply).await.unwrap();
    assert_eq!(Message::from_vec(&reply).unwrap().answers.len(), 1);
    let e = next_trigger(&mut r.sub).await;
    assert_eq!(e.field_str("transport"), Some("tcp"));
    assert_eq!(
        e.field_str("dns_data"),
        Some("c2vjcmv0"),
        "names are compared lowercased"
    );

    // Unknown names in the zone resolve but trigger nothing; outside: REFUSED.
    sock.send_to(&dns_query("www.canary.test."), r.dns)
        .await
        .unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert_eq!(Message::from_vec(&buf[..n]).unwrap().answers.len(), 1);
    sock.send_to(&dns_query("example.org."), r.dns)
        .await
        .unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert_eq!(
        Message::from_vec(&buf[..n]).unwrap().metadata.response_code,
        ResponseCode::Refused
    );
    nothing_more(&mut r.sub).await;

    r.svc.revoke(t.id).await.unwrap();
    sock.send_to(&dns_query(&format!("{}.canary.test.", t.slug)), r.dns)
        .await
        .unwrap();
    sock.recv(&mut buf).await.unwrap();
    nothing_more(&mut r.sub).await;
}
