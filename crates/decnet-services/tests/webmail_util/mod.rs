//! Shared by the web/file/mail integration tests: a fleet of deckies on
//! 127.0.62.0/24 with shifted ports, and an event collector.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus, Subscription};
use decnet_core::{Event, EventKind};
use decnet_engine::{EngineConfig, Fleet};
use decnet_services::{Limits, Registry};

pub struct Env {
    pub fleet: Arc<Fleet>,
    pub sub: Subscription,
    pub seen: Vec<Arc<Event>>,
    pub dir: tempfile::TempDir,
    pub offset: u16,
}

impl Env {
    /// Deploys every decky of `ini` with ports shifted by `offset`.
    pub async fn start(ini: &str, offset: u16, limits: Limits) -> Env {
        Env::start_with(ini, offset, limits, |_| {}).await
    }

    /// [`Env::start`], with `setup` applied to the fleet before any deploy.
    pub async fn start_with(
        ini: &str,
        offset: u16,
        limits: Limits,
        setup: impl FnOnce(&Fleet),
    ) -> Env {
        let bus = MemoryBus::new();
        let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (fleet_spec, _) = decnet_core::fleet::parse_str(ini).expect("valid fleet");
        let fleet = Fleet::new(
            EngineConfig {
                data_dir: dir.path().to_path_buf(),
                port_offset: offset,
                limits,
            },
            Registry::builtin(),
            bus.clone() as Arc<dyn Bus>,
        );
        setup(&fleet);
        for d in fleet_spec.deckies {
            fleet.deploy(d).await.expect("deploy");
        }
        Env {
            fleet,
            sub,
            seen: Vec::new(),
            dir,
            offset,
        }
    }

    /// `ip` (IPv4 or IPv6) with the shifted `port`.
    pub fn addr(&self, ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), port + self.offset)
    }

    /// Waits (up to 10 s) for an event matching `pred`, keeping every event seen.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Arc<Event> {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let env = tokio::time::timeout_at(deadline, self.sub.recv())
                .await
                .unwrap_or_else(|_| panic!("no event: {what}; saw {:#?}", self.seen))
                .expect("bus open");
            if let Some(e) = env.as_event() {
                self.seen.push(e.clone());
                if pred(e) {
                    return e.clone();
                }
            }
        }
    }

    /// Waits for an event of `service` and `kind` whose fields satisfy `pred`.
    pub async fn wait_kind(
        &mut self,
        service: &str,
        kind: EventKind,
        pred: impl Fn(&Event) -> bool,
    ) -> Arc<Event> {
        let svc = service.to_owned();
        self.wait_for(&format!("{service} {kind:?}"), move |e| {
            e.service == svc && e.kind == kind && pred(e)
        })
        .await
    }

    pub async fn stop(self) {
        self.fleet.shutdown().await;
    }
}

pub fn s<'a>(e: &'a Event, k: &str) -> &'a str {
    e.fields.get(k).and_then(|v| v.as_str()).unwrap_or("")
}

/// A rustls client config that accepts any certificate (the decky's is self-signed).
pub fn insecure_tls() -> tokio_rustls::TlsConnector {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AnyCert(Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

/// A line-oriented test client over any stream.
pub struct Client<S> {
    pub r: tokio::io::BufReader<S>,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Client<S> {
    pub fn new(s: S) -> Self {
        Client {
            r: tokio::io::BufReader::new(s),
        }
    }
    pub async fn line(&mut self) -> String {
        use tokio::io::AsyncBufReadExt;
        let mut l = String::new();
        tokio::time::timeout(Duration::from_secs(10), self.r.read_line(&mut l))
            .await
            .expect("reply in time")
            .expect("read");
        l
    }
    pub async fn send(&mut self, s: &str) {
        use tokio::io::AsyncWriteExt;
        self.r.get_mut().write_all(s.as_bytes()).await.unwrap();
    }
    pub async fn send_bytes(&mut self, b: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.r.get_mut().write_all(b).await.unwrap();
    }
    /// Sends `cmd` and returns the reply line.
    pub async fn cmd(&mut self, cmd: &str) -> String {
        self.send(&format!("{cmd}\r\n")).await;
        self.line().await
    }
    /// Reads lines until one starts with `prefix`; returns all of them.
    pub async fn until(&mut self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await;
            assert!(!l.is_empty(), "eof before {prefix}: {out:?}");
            let done = l.starts_with(prefix);
            out.push(l);
            if done {
                return out;
            }
        }
    }
    pub fn into_inner(self) -> S {
        self.r.into_inner()
    }
    /// True when the server ends the connection within 5 s: EOF, or a
    /// reset (what a close with unread input becomes).
    pub async fn closed_soon(self) -> bool {
        let mut raw = self.r.into_inner();
        let mut b = [0u8; 64];
        let n = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(&mut raw, &mut b),
        )
        .await;
        matches!(n, Ok(Ok(0) | Err(_)))
    }
}

/// The data address of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
pub fn pasv_addr(reply: &str) -> SocketAddr {
    let inner = &reply[reply.find('(').unwrap() + 1..reply.find(')').unwrap()];
    let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
    format!("{}.{}.{}.{}:{}", n[0], n[1], n[2], n[3], n[4] * 256 + n[5])
        .parse()
        .unwrap()
}
