//! IPv6 deckies in loopback mode (`::1`, ports shifted): real clients
//! (reqwest, redis, a hickory-built DNS query) reach v6-only and
//! dual-stack deckies, and events carry canonical IPv6 addresses.
#![allow(clippy::unwrap_used)]

mod webmail_util;

use std::net::{IpAddr, Ipv6Addr};

use decnet_core::EventKind;
use decnet_services::Limits;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use webmail_util::{s, Env};

const V6_ONLY: &str = "[six]\nip = ::1\nservices = http, redis, dns\ndistro = debian\n\n[six.dns]\nzone = corp.example\n";

#[tokio::test]
async fn v6_only_decky_serves_tcp_and_udp_with_v6_events() {
    let mut env = Env::start(V6_ONLY, 21400, Limits::default()).await;
    let http = env.addr("::1", 80);
    assert_eq!(http.to_string(), "[::1]:21480");

    let r = reqwest::get(format!("http://{http}/")).await.unwrap();
    assert_eq!(r.status(), 200);
    let ev = env
        .wait_kind("http", EventKind::Request, |e| s(e, "path") == "/")
        .await;
    assert_eq!(ev.src_ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(ev.dst_ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(ev.dst_port, 21480);
    // The wire form (store, API, decnet.log) is the canonical text.
    let json = serde_json::to_value(&*ev).unwrap();
    assert_eq!(json["src_ip"], "::1");
    assert_eq!(json["dst_ip"], "::1");

    let redis_addr = env.addr("::1", 6379);
    let client = redis::Client::open(format!("redis://{redis_addr}/")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
    let ev = env
        .wait_for("redis command", |e| {
            e.service == "redis" && e.kind == EventKind::Command
        })
        .await;
    assert_eq!(ev.src_ip.to_string(), "::1");

    // UDP: the decky's DNS names it with AAAA records (it has no IPv4).
    let sock = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    sock.connect(env.addr("::1", 53)).await.unwrap();
    let mut q = Message::query();
    q.metadata.id = 0x6006;
    q.add_query(Query::query(
        Name::from_ascii("www.corp.example.").unwrap(),
        RecordType::AAAA,
    ));
    sock.send(&q.to_vec().unwrap()).await.unwrap();
    let mut buf = [0u8; 1500];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), sock.recv(&mut buf))
        .await
        .expect("a DNS answer")
        .unwrap();
    let answer = Message::from_vec(&buf[..n]).unwrap();
    let addrs: Vec<&RData> = answer.answers.iter().map(|r| &r.data).collect();
    assert_eq!(addrs.len(), 1, "{answer:?}");
    assert!(
        matches!(addrs[0], RData::AAAA(a) if a.0 == Ipv6Addr::LOCALHOST),
        "{addrs:?}"
    );
    let ev = env
        .wait_for("dns query", |e| {
            e.service == "dns" && s(e, "query").starts_with("www.corp.example")
        })
        .await;
    assert_eq!(ev.dst_ip.to_string(), "::1");
    assert_eq!(ev.dst_port, 53 + 21400);
    assert_eq!(s(&ev, "transport"), "udp");
    env.stop().await;
}

#[tokio::test]
async fn dual_stack_decky_answers_on_both_families() {
    let ini = "[both]\nip = 127.0.64.10\nip6 = ::1\nservices = http\ndistro = debian\n";
    let mut env = Env::start(ini, 21500, Limits::default()).await;
    for (ip, path) in [("127.0.64.10", "/from-v4"), ("::1", "/from-v6")] {
        let addr = env.addr(ip, 80);
        let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        assert!(r.status().is_client_error() || r.status().is_success());
        let ev = env
            .wait_kind("http", EventKind::Request, |e| s(e, "path") == path)
            .await;
        assert_eq!(ev.decky, "both");
        assert_eq!(ev.dst_ip.to_string(), ip);
        assert_eq!(ev.dst_port, 21580);
    }
    env.stop().await;
}
