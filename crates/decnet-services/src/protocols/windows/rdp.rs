//! RDP (3389): X.224 Connection Request/Confirm with the persona's
//! protocol selection (NLA required, as a hardened Windows host), TLS with
//! the decky's certificate (shared `tls` helpers), then CredSSP: the
//! client's NTLM NEGOTIATE gets a CHALLENGE naming the persona (what
//! `nmap --script rdp-ntlm-info` prints) and the AUTHENTICATE is captured
//! as a hashcat line, then refused with STATUS_LOGON_FAILURE.

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWriteExt};

use super::ntlm::{self, Exchange, Message, ServerIdentity};
use crate::ctx::DeckyCtx;
use crate::io::{read_exact_idle, read_some_idle};
use crate::session::Session;
use crate::tls::{self, Tagged, TlsIdentity};
use crate::wire::rdp::{self as w, PROTOCOL_HYBRID, PROTOCOL_SSL};
use crate::{fields, Conn, Handler, Service, ServiceError};

/// STATUS_LOGON_FAILURE, sent as the TSRequest errorCode.
const LOGON_FAILURE: u32 = 0xC000_006D;

/// The `rdp` service.
pub struct Rdp;

/// Per-decky RDP state.
pub struct RdpHandler {
    id: Arc<ServerIdentity>,
    tls: TlsIdentity,
}

impl Service for Rdp {
    fn name(&self) -> &'static str {
        "rdp"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        Ok(Arc::new(RdpHandler {
            id: Arc::new(ServerIdentity::for_decky(decky)),
            tls: TlsIdentity::for_decky(decky, "rdp", &[])?,
        }))
    }
}

/// The X.224 Connection Confirm for a request (`None`: no RDP_NEG_REQ).
pub fn connection_confirm(requested: Option<u32>) -> (Vec<u8>, Option<u32>) {
    let mut cc = vec![3, 0, 0, 0, 0, 0xd0, 0, 0, 0x12, 0x34, 0];
    let selected = match requested {
        None => None,
        Some(r) if r & PROTOCOL_HYBRID != 0 => Some(PROTOCOL_HYBRID),
        Some(r) if r & PROTOCOL_SSL != 0 => Some(PROTOCOL_SSL),
        Some(_) => None,
    };
    match (requested, selected) {
        (None, _) => {}
        (Some(_), Some(p)) => {
            cc.extend_from_slice(&[2, 0x1f, 8, 0]);
            cc.extend_from_slice(&p.to_le_bytes());
        }
        (Some(_), None) => {
            // RDP_NEG_FAILURE: HYBRID_REQUIRED_BY_SERVER.
            cc.extend_from_slice(&[3, 0, 8, 0, 5, 0, 0, 0]);
        }
    }
    let len = cc.len();
    cc[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    cc[4] = (len - 5) as u8;
    (cc, selected)
}

async fn read_der<R: AsyncRead + Unpin>(r: &mut R, idle: std::time::Duration) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    loop {
        if let Ok(Some(total)) = w::der_total_len(&buf) {
            if total > w::MAX_TSREQUEST {
                return None;
            }
            if buf.len() >= total {
                buf.truncate(total);
                return Some(buf);
            }
        } else if w::der_total_len(&buf).is_err() {
            return None;
        }
        let n = read_some_idle(r, &mut chunk, idle).await.ok()?;
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > w::MAX_TSREQUEST + 8 {
            return None;
        }
    }
}

impl RdpHandler {
    async fn serve(self: Arc<Self>, conn: Conn, session: Session) {
        let idle = session.limits().idle_timeout;
        let mut tagged = Tagged::new(session);
        let mut stream = conn.stream;
        let mut h = [0u8; 4];
        if read_exact_idle(&mut stream, &mut h, idle).await.is_err() {
            return;
        }
        let len = match w::tpkt_len(h) {
            Ok(l) if l <= w::MAX_TPKT => l,
            _ => {
                tagged.emit_error("rdp: not a TPKT");
                return;
            }
        };
        let mut p = vec![0u8; len - 4];
        if read_exact_idle(&mut stream, &mut p, idle).await.is_err() {
            return;
        }
        let cr = match w::connection_request(&p) {
            Ok(cr) => cr,
            Err(e) => {
                tagged.emit_error(format!("rdp: {e}"));
                return;
            }
        };
        let (cc, selected) = connection_confirm(cr.requested);
        let mut f = fields! {
            "request" => "x224_connection_request",
            "requested_protocols" => cr.requested.map(|r| r as u64),
            "selected_protocol" => selected.map(|r| r as u64),
        };
        if let Some(c) = &cr.cookie {
            f.insert("username".into(), c.clone().into());
        }
        if let Some(t) = &cr.token {
            f.insert("routing_token".into(), t.clone().into());
        }
        tagged.emit(EventKind::Request, f);
        if stream.write_all(&cc).await.is_err() {
            return;
        }
        let Some(sel) = selected else {
            // Without TLS nothing more is offered; wait for the peer to give up.
            let mut sink = [0u8; 512];
            while read_some_idle(&mut stream, &mut sink, idle).await.is_ok() {}
            return;
        };
        let ready = match self.tls.ready().await {
            Ok(r) => r,
            Err(e) => return tagged.emit_error(format!("rdp: {e}")),
        };
        let (hello, res) = tls::accept(&ready.acceptor, stream, idle).await;
        if let Some(hello) = &hello {
            tagged.record_hello(hello, false);
        }
        let mut tls = match res {
            Ok(s) => s,
            Err(e) => {
                tagged.emit_error(format!("rdp: {e}"));
                return;
            }
        };
        if sel != PROTOCOL_HYBRID {
            let mut sink = [0u8; 512];
            while read_some_idle(&mut tls, &mut sink, idle).await.is_ok() {}
            return;
        }
        let exchange = Exchange::new(self.id.clone());
        for _ in 0..4 {
            let Some(der) = read_der(&mut tls, idle).await else {
                return;
            };
            let req = match w::ts_request(&der) {
                Ok(r) => r,
                Err(e) => {
                    tagged.emit_error(format!("rdp: credssp: {e}"));
                    return;
                }
            };
            let version = req.version.clamp(2, 6);
            let reply = match req.nego_token.map(ntlm::find) {
                Some(Ok(Message::Negotiate { flags })) => {
                    w::encode_ts_request(version, Some(&exchange.challenge_for(flags)), None)
                }
                Some(Ok(Message::Authenticate(a))) => {
                    ntlm::emit_auth(&tagged, &a, &exchange.server_challenge, false);
                    let reply = w::encode_ts_request(version, None, Some(LOGON_FAILURE));
                    let _ = tls.write_all(&reply).await;
                    let _ = tls.shutdown().await;
                    return;
                }
                _ => {
                    tagged.emit_error("rdp: credssp without NTLM");
                    return;
                }
            };
            if tls.write_all(&reply).await.is_err() || tls.flush().await.is_err() {
                return;
            }
        }
    }
}

impl Handler for RdpHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(self.serve(conn, session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_shapes() {
        let (cc, sel) = connection_confirm(Some(3));
        assert_eq!(sel, Some(PROTOCOL_HYBRID));
        assert_eq!(cc.len(), 19);
        assert_eq!(&cc[..4], &[3, 0, 0, 19]);
        assert_eq!(cc[4], 14);
        let (cc, sel) = connection_confirm(None);
        assert_eq!((cc.len(), sel), (11, None));
        let (cc, sel) = connection_confirm(Some(0));
        assert_eq!((cc[11], cc[15], sel), (3, 5, None));
    }
}
