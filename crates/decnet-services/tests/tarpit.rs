//! Tarpits with plain socket clients: the endless SSH banner, the trickled
//! HTTP response, the never-read TCP hold; enter/exit events with the time
//! held and bytes sent; the process cap, which leaves the decky's own
//! connection slots alone.
#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Bus, Delivery, MemoryBus, Subscription};
use decnet_core::tarpit::{TarpitKind, TarpitSpec};
use decnet_core::{Event, EventKind, FleetSpec};
use decnet_services::tarpit::{start_tarpit, TarpitSlots};
use decnet_services::{DeckyCtx, Limits, RunningService};
use tokio_util::sync::CancellationToken;

struct Pit {
    ctx: Arc<DeckyCtx>,
    running: RunningService,
    events: Subscription,
    _dir: tempfile::TempDir,
}

impl Pit {
    fn addr(&self) -> SocketAddr {
        self.running.addrs[0].1
    }

    async fn event(&mut self) -> Arc<Event> {
        let env = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("an event")
            .unwrap();
        env.as_event().unwrap().clone()
    }
}

async fn pit(ip: &str, kind: TarpitKind, slots: Arc<TarpitSlots>) -> Pit {
    let bus = MemoryBus::new();
    let events = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let text = format!("[pit]\nip = {ip}\nservices = telnet\ntarpit_interval = 1\n");
    let (fleet, _): (FleetSpec, _) = decnet_core::fleet::parse_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_conns_per_decky: 4,
        tarpit_slots: slots,
        ..Limits::default()
    };
    let ctx = Arc::new(DeckyCtx::new(
        fleet.deckies[0].clone(),
        0,
        dir.path().to_owned(),
        bus as Arc<dyn Bus>,
        limits,
        0,
    ));
    let spec = TarpitSpec { kind, port: 0 };
    let running = start_tarpit(ctx.clone(), spec, &CancellationToken::new())
        .await
        .unwrap();
    Pit {
        ctx,
        running,
        events,
        _dir: dir,
    }
}

fn field<'a>(e: &'a Event, k: &str) -> &'a serde_json::Value {
    e.fields.get(k).unwrap_or(&serde_json::Value::Null)
}

/// The next event of `kind`, skipping others.
async fn next_of(pit: &mut Pit, kind: EventKind) -> Arc<Event> {
    loop {
        let e = pit.event().await;
        if e.kind == kind {
            return e;
        }
    }
}

/// The next tarpit exit event, which must give `reason`.
async fn exit_with(pit: &mut Pit, reason: &str) -> Arc<Event> {
    let exit = next_of(pit, EventKind::Disconnect).await;
    assert_eq!(field(&exit, "event_type"), "tarpit_exit");
    assert_eq!(field(&exit, "reason"), reason, "{:?}", exit.fields);
    exit
}

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads from a blocking client on a blocking thread.
async fn read_for(mut s: TcpStream, wanted: usize) -> (TcpStream, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while got.len() < wanted {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "tarpit closed the connection");
            got.extend_from_slice(&buf[..n]);
        }
        (s, got)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn ssh_tarpit_sends_endless_banner_lines_and_reports_the_time_held() {
    let mut pit = pit("127.0.77.10", TarpitKind::Ssh, TarpitSlots::new(16)).await;
    let s = client(pit.addr());
    let enter = next_of(&mut pit, EventKind::Connect).await;
    assert_eq!(enter.service, "tarpit");
    assert_eq!(field(&enter, "event_type"), "tarpit_enter");
    assert_eq!(field(&enter, "tarpit"), "ssh");
    // What an ssh client does first; the tarpit never answers it.
    (&s).write_all(b"SSH-2.0-OpenSSH_9.2p1\r\n").unwrap();
    // Three lines take at least two intervals; none is a version line.
    let started = Instant::now();
    let (s, got) = read_for(s, 0).await;
    let mut s = s;
    let mut text = got;
    while text.iter().filter(|&&b| b == b'\n').count() < 3 {
        let (back, more) = read_for(s, 1).await;
        s = back;
        text.extend_from_slice(&more);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let text = String::from_utf8(text).unwrap();
    for line in text.split_terminator("\r\n") {
        assert!(!line.starts_with("SSH-"), "{line:?}");
        assert!(!line.is_empty());
    }
    let sent = text.len() as u64;
    drop(s);
    let exit = exit_with(&mut pit, "peer_closed").await;
    assert!(
        field(&exit, "held_secs").as_u64().unwrap() >= 2,
        "{:?}",
        exit.fields
    );
    assert!(field(&exit, "bytes_sent").as_u64().unwrap() >= sent);
    pit.running.stop().await;
}

#[tokio::test]
async fn http_tarpit_trickles_a_response_that_never_ends() {
    let mut pit = pit("127.0.77.11", TarpitKind::Http, TarpitSlots::new(16)).await;
    let s = client(pit.addr());
    (&s).write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    next_of(&mut pit, EventKind::Connect).await;
    let started = Instant::now();
    let (s, got) = read_for(s, 20).await;
    // 8 bytes an interval: 20 bytes need three of them.
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\nSet"), "{got:?}");
    drop(s);
    let exit = exit_with(&mut pit, "peer_closed").await;
    assert_eq!(field(&exit, "tarpit"), "http");
    assert!(field(&exit, "bytes_sent").as_u64().unwrap() >= 20);
    pit.running.stop().await;
}

#[tokio::test]
async fn tcp_hold_never_reads_so_the_peer_window_closes() {
    let mut pit = pit("127.0.77.12", TarpitKind::Tcp, TarpitSlots::new(16)).await;
    let s = client(pit.addr());
    next_of(&mut pit, EventKind::Connect).await;
    s.set_nonblocking(true).unwrap();
    // Write until the kernel refuses: the tarpit's tiny receive buffer and
    // our own send buffer fill, and nothing more moves.
    let written = tokio::task::spawn_blocking(move || {
        let chunk = [0x41u8; 4096];
        let mut total = 0usize;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut stalled_since: Option<Instant> = None;
        while Instant::now() < deadline {
            match (&s).write(&chunk) {
                Ok(n) => {
                    total += n;
                    stalled_since = None;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_millis(500) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("write: {e}"),
            }
        }
        (s, total)
    })
    .await
    .unwrap();
    let (s, total) = written;
    // Stalled well short of the 5 s of writing a fast peer could do.
    assert!(total < 8 * 1024 * 1024, "{total} bytes accepted");
    // A plain close would queue its FIN behind data the closed window
    // never lets through (the peer's kernel keeps trying: that is the
    // point); an abortive close resets at once.
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    let exit = exit_with(&mut pit, "peer_closed").await;
    assert_eq!(field(&exit, "tarpit"), "tcp");
    assert_eq!(field(&exit, "bytes_sent"), 0);
    pit.running.stop().await;
}

#[tokio::test]
async fn tcp_hold_sees_a_plain_close_of_a_quiet_peer() {
    let mut pit = pit("127.0.77.14", TarpitKind::Tcp, TarpitSlots::new(16)).await;
    let s = client(pit.addr());
    (&s).write_all(b"\x00\x00\x00\x85\xffSMBr").unwrap();
    next_of(&mut pit, EventKind::Connect).await;
    drop(s);
    exit_with(&mut pit, "peer_closed").await;
    pit.running.stop().await;
}

#[tokio::test]
async fn the_process_cap_refuses_more_and_decky_slots_stay_free() {
    let slots = TarpitSlots::new(2);
    let mut pit = pit("127.0.77.13", TarpitKind::Ssh, slots.clone()).await;
    let free = pit.ctx.slots.available();
    let a = client(pit.addr());
    let b = client(pit.addr());
    next_of(&mut pit, EventKind::Connect).await;
    next_of(&mut pit, EventKind::Connect).await;
    assert_eq!(slots.held(), 2);
    assert_eq!(
        pit.ctx.slots.available(),
        free,
        "tarpits take no decky slot"
    );
    let c = client(pit.addr());
    let refused = next_of(&mut pit, EventKind::Error).await;
    assert_eq!(field(&refused, "reason"), "tarpit_full");
    let (_, n) = tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 16];
        let n = (&c).read(&mut buf).map(|n| n as i64).unwrap_or(-1);
        (c, n)
    })
    .await
    .unwrap();
    assert!(n <= 0, "the refused connection is closed at once");
    // Stopping ends every held connection with its exit event.
    pit.running.stop().await;
    for _ in 0..2 {
        exit_with(&mut pit, "shutdown").await;
    }
    assert_eq!(slots.held(), 0);
    drop((a, b));
}
