//! S7comm (102, ISO-on-TCP): COTP connection confirm, job setup
//! (PDU size negotiation), SZL reads answering module identification
//! (0x0011) and component identification (0x001C) from the decky's
//! [`PlcPersona`] as `nmap --script s7-info` and PLC scanners expect;
//! variable writes and PLC control (start/stop) recorded as commands.

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use super::PlcPersona;
use crate::ctx::DeckyCtx;
use crate::io::read_exact_idle;
use crate::session::Session;
use crate::wire::s7::{self as w, Cotp};
use crate::{fields, Conn, Handler, Service, ServiceError};

/// Largest TPKT accepted.
const MAX_TPKT: usize = 4096;

/// The `s7` service.
pub struct S7;

/// An S7 PLC bound to a decky.
pub struct S7Handler {
    /// The persona.
    pub plc: PlcPersona,
}

impl S7Handler {
    /// Builds the handler (also used by conpot).
    pub fn new(decky: &DeckyCtx, service: &str) -> Self {
        S7Handler {
            plc: PlcPersona::for_decky(decky, service),
        }
    }
}

impl Service for S7 {
    fn name(&self) -> &'static str {
        "s7"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        Ok(Arc::new(S7Handler::new(decky, "s7")))
    }
}

fn padded(s: &str, n: usize, pad: u8) -> Vec<u8> {
    let mut v: Vec<u8> = s.bytes().take(n).collect();
    v.resize(n, pad);
    v
}

fn tpkt_dt(s7: &[u8]) -> Vec<u8> {
    let len = (s7.len() + 7) as u16;
    let mut out = vec![3, 0];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[2, 0xf0, 0x80]);
    out.extend_from_slice(s7);
    out
}

fn header(rosctr: u8, pdu_ref: u16, param: &[u8], data: &[u8], err: Option<u16>) -> Vec<u8> {
    let mut out = vec![0x32, rosctr, 0, 0];
    out.extend_from_slice(&pdu_ref.to_be_bytes());
    out.extend_from_slice(&(param.len() as u16).to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    if let Some(e) = err {
        out.extend_from_slice(&e.to_be_bytes());
    }
    out.extend_from_slice(param);
    out.extend_from_slice(data);
    out
}

impl S7Handler {
    /// The SZL list `id` (None: not provided).
    pub fn szl(&self, id: u16, index: u16) -> Option<Vec<u8>> {
        let p = &self.plc;
        let mut d = Vec::new();
        d.extend_from_slice(&id.to_be_bytes());
        d.extend_from_slice(&index.to_be_bytes());
        match id {
            0x0011 => {
                d.extend_from_slice(&28u16.to_be_bytes());
                d.extend_from_slice(&3u16.to_be_bytes());
                for (i, mlfb) in [(1u16, p.mlfb), (6, p.mlfb)] {
                    d.extend_from_slice(&i.to_be_bytes());
                    d.extend_from_slice(&padded(mlfb, 20, b' '));
                    d.extend_from_slice(&[0, 0, 0, 4, 0, 1]);
                }
                let (a, b, c) = p.firmware;
                d.extend_from_slice(&7u16.to_be_bytes());
                d.extend_from_slice(&padded("", 20, b' '));
                d.extend_from_slice(&[0, 0, b'V', a, b, c]);
            }
            0x001c => {
                let items: [(u16, &str); 6] = [
                    (1, &p.system_name),
                    (2, p.module_type),
                    (3, &p.plant),
                    (4, "Original Siemens Equipment"),
                    (5, &p.serial),
                    (7, p.module_type),
                ];
                d.extend_from_slice(&34u16.to_be_bytes());
                d.extend_from_slice(&(items.len() as u16).to_be_bytes());
                for (i, s) in items {
                    d.extend_from_slice(&i.to_be_bytes());
                    d.extend_from_slice(&padded(s, 32, 0));
                }
            }
            _ => return None,
        }
        Some(d)
    }

    fn job(&self, pdu: &w::S7<'_>, session: &Session) -> Vec<u8> {
        let func = pdu.param.first().copied().unwrap_or(0);
        let items = pdu.param.get(1).copied().unwrap_or(0).min(20);
        match func {
            0xf0 => {
                session.emit(
                    EventKind::Request,
                    fields! {"request" => "setup_communication"},
                );
                header(
                    3,
                    pdu.pdu_ref,
                    &[0xf0, 0, 0, 1, 0, 1, 0x01, 0xe0],
                    &[],
                    Some(0),
                )
            }
            0x04 => {
                session.emit(
                    EventKind::Request,
                    fields! {"request" => "read_var", "items" => items as u64},
                );
                // Every item: "object does not exist".
                let data: Vec<u8> = (0..items).flat_map(|_| [0x0a, 0, 0, 0]).collect();
                header(3, pdu.pdu_ref, &[0x04, items], &data, Some(0))
            }
            0x05 | 0x28 | 0x29 | 0x1a | 0x1b | 0x1c | 0x1d | 0x1e | 0x1f => {
                let name = match func {
                    0x05 => "write_var",
                    0x28 => "pi_service",
                    0x29 => "plc_stop",
                    _ => "download",
                };
                session.emit(
                    EventKind::Command,
                    fields! {
                        "command" => name,
                        "function" => name,
                        "param_hex" => hex::encode(&pdu.param[..pdu.param.len().min(64)]),
                        "data_hex" => hex::encode(&pdu.data[..pdu.data.len().min(256)]),
                    },
                );
                if func == 0x05 {
                    let data: Vec<u8> = (0..items).map(|_| 0xff).collect();
                    header(3, pdu.pdu_ref, &[0x05, items], &data, Some(0))
                } else {
                    header(3, pdu.pdu_ref, &[func], &[], Some(0))
                }
            }
            _ => {
                session.emit(
                    EventKind::Request,
                    fields! {"request" => "job", "function_code" => func as u64},
                );
                // Error class 0x81 (application relationship), code 0x04 (not supported).
                header(3, pdu.pdu_ref, &[func], &[], Some(0x8104))
            }
        }
    }

    fn userdata(&self, pdu: &w::S7<'_>, session: &Session) -> Vec<u8> {
        let seq = pdu.param.get(7).copied().unwrap_or(0);
        let group = pdu.param.get(5).copied().unwrap_or(0) & 0x0f;
        let sub = pdu.param.get(6).copied().unwrap_or(0);
        let (data, ok) = match w::szl_read(pdu) {
            Some((id, index)) => {
                session.emit(
                    EventKind::Request,
                    fields! {"request" => "szl_read", "szl_id" => format!("{id:#06x}"), "szl_index" => format!("{index:#06x}")},
                );
                match self.szl(id, index) {
                    Some(szl) => {
                        let mut d = vec![0xff, 0x09];
                        d.extend_from_slice(&(szl.len() as u16).to_be_bytes());
                        d.extend_from_slice(&szl);
                        (d, true)
                    }
                    None => (vec![0x0a, 0, 0, 0], false),
                }
            }
            None => {
                session.emit(
                    EventKind::Request,
                    fields! {"request" => "userdata", "group" => group as u64, "subfunction" => sub as u64},
                );
                (vec![0x0a, 0, 0, 0], false)
            }
        };
        let err: [u8; 2] = if ok { [0, 0] } else { [0xd4, 0x01] };
        let param = [
            0,
            1,
            0x12,
            8,
            0x12,
            0x80 | group,
            sub,
            seq.max(1),
            0,
            0,
            err[0],
            err[1],
        ];
        header(7, pdu.pdu_ref, &param, &data, None)
    }

    /// Runs one ISO-on-TCP connection.
    pub async fn serve(self: Arc<Self>, conn: Conn, session: Session) {
        let idle = session.limits().idle_timeout;
        let mut s = conn.stream;
        let mut connected = false;
        loop {
            let mut h = [0u8; 4];
            if read_exact_idle(&mut s, &mut h, idle).await.is_err() {
                return;
            }
            let len = match crate::wire::rdp::tpkt_len(h) {
                Ok(l) if l <= MAX_TPKT => l,
                _ => {
                    session.emit_error("s7: bad TPKT");
                    return;
                }
            };
            let mut p = vec![0u8; len - 4];
            if read_exact_idle(&mut s, &mut p, idle).await.is_err() {
                return;
            }
            let out = match w::cotp(&p) {
                Ok(Cotp::ConnectionRequest(src, params)) => {
                    connected = true;
                    session.emit(
                        EventKind::Request,
                        fields! {"request" => "cotp_connect", "params_hex" => hex::encode(&params[..params.len().min(64)])},
                    );
                    let mut cc = vec![0, 0xd0];
                    cc.extend_from_slice(&src.to_be_bytes());
                    cc.extend_from_slice(&[0, 1, 0]);
                    cc.extend_from_slice(&params[..params.len().min(64)]);
                    cc[0] = (cc.len() - 1) as u8;
                    let mut out = vec![3, 0];
                    out.extend_from_slice(&((cc.len() + 4) as u16).to_be_bytes());
                    out.extend_from_slice(&cc);
                    out
                }
                Ok(Cotp::Data(d)) if connected => match w::s7(d) {
                    Ok(pdu) if pdu.rosctr == 1 => tpkt_dt(&self.job(&pdu, &session)),
                    Ok(pdu) if pdu.rosctr == 7 => tpkt_dt(&self.userdata(&pdu, &session)),
                    Ok(_) => continue,
                    Err(e) => {
                        session.emit_error(format!("s7: {e}"));
                        return;
                    }
                },
                Ok(_) => return,
                Err(e) => {
                    session.emit_error(format!("s7: {e}"));
                    return;
                }
            };
            if s.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

impl Handler for S7Handler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(self.serve(conn, session))
    }
}
