//! Reference servers the figures are compared with: a bare hyper
//! hello-world and a bare russh server that accepts one password.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use russh::server::{Auth, Msg, Server as _, Session};
use russh::{Channel, ChannelId};
use tokio::net::TcpListener;

/// Bare hyper HTTP/1.1 hello-world (keep-alive), for `wrk`.
pub async fn hyper_server(addr: SocketAddr, seconds: u64) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let deadline = tokio::time::sleep(Duration::from_secs(seconds));
    tokio::pin!(deadline);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut deadline => return Ok(()),
            r = listener.accept() => r?,
        };
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello\n"))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[derive(Clone)]
struct BareSsh;

impl russh::server::Server for BareSsh {
    type Handler = BareSsh;
    fn new_client(&mut self, _: Option<SocketAddr>) -> BareSsh {
        BareSsh
    }
}

impl russh::server::Handler for BareSsh {
    type Error = russh::Error;

    async fn auth_password(&mut self, _user: &str, password: &str) -> Result<Auth, Self::Error> {
        if password == "bench" {
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        _c: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _s: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cw: u32,
        _rh: u32,
        _pw: u32,
        _ph: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        session.data(channel, Bytes::from_static(b"$ "))?;
        Ok(())
    }
}

/// Bare russh server accepting password `bench` (ed25519 host key).
pub async fn russh_server(addr: SocketAddr, seconds: u64) -> anyhow::Result<()> {
    let key =
        russh::keys::PrivateKey::random(&mut rand_010::rng(), russh::keys::Algorithm::Ed25519)?;
    let config = Arc::new(russh::server::Config {
        keys: vec![key],
        auth_rejection_time: Duration::from_millis(0),
        auth_rejection_time_initial: Some(Duration::from_millis(0)),
        // As decnet's SSH decoy: without it Nagle holds handshake replies
        // for the peer's delayed ACK (~40 ms per round trip on loopback).
        nodelay: true,
        ..Default::default()
    });
    let mut server = BareSsh;
    let listener = TcpListener::bind(addr).await?;
    tokio::select! {
        r = server.run_on_socket(config, &listener) => r.map_err(Into::into),
        _ = tokio::time::sleep(Duration::from_secs(seconds)) => Ok(()),
    }
}
