//! SIP registrar / PBX decoy (udp/5060 + tcp/5060, Asterisk chan_sip-like): OPTIONS
//! answered with the persona's Server header, REGISTER and INVITE challenged
//! with Digest (MD5) and the client's Authorization captured (user, realm,
//! nonce, uri, response; hashcat mode 11400 line), wrong digests refused
//! with 403; every request is an event, INVITEs are `command`s (toll-fraud
//! dialling attempts).

use std::net::SocketAddr;
use std::sync::Arc;

use decnet_core::{EventKind, Fields};
use futures::future::BoxFuture;
use rand::Rng;
use tokio::io::AsyncWriteExt;

use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::session::Session;
use crate::udp::{DatagramHandler, UdpPort};
use crate::wire::{self, WResult, WireError};
use crate::{fields, Conn, Handler, Service, ServiceError};

const SERVICE: &str = "sip";
/// Largest SIP message (headers + body).
pub const MAX_MESSAGE: usize = 8192;
const MAX_HEADERS: usize = 64;

/// A parsed SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Request-URI.
    pub uri: String,
    /// Headers (name lower-cased, compact forms expanded), in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Request {
    /// First header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn expand(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    match n.as_str() {
        "v" => "via".into(),
        "f" => "from".into(),
        "t" => "to".into(),
        "i" => "call-id".into(),
        "m" => "contact".into(),
        "l" => "content-length".into(),
        "c" => "content-type".into(),
        _ => n,
    }
}

/// Parses a SIP request (start line, headers, body per Content-Length).
pub fn parse(msg: &[u8]) -> WResult<Request> {
    if msg.len() > MAX_MESSAGE {
        return Err(WireError::new("message too large"));
    }
    let end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            msg.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .ok_or_else(|| WireError::new("no end of headers"))?;
    let head =
        std::str::from_utf8(&msg[..end.0]).map_err(|_| WireError::new("headers are not UTF-8"))?;
    let mut lines = head.lines();
    let start = lines.next().unwrap_or("");
    let mut parts = start.split_whitespace();
    let (Some(method), Some(uri), Some(ver)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(WireError::new("bad request line"));
    };
    if !ver.eq_ignore_ascii_case("SIP/2.0") {
        return Err(WireError::new(format!(
            "not SIP/2.0: {}",
            wire::excerpt(ver.as_bytes(), 32)
        )));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(WireError::new("header without colon"));
        };
        if headers.len() >= MAX_HEADERS {
            return Err(WireError::new("too many headers"));
        }
        headers.push((expand(k), v.trim().to_owned()));
    }
    let clen = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let body_avail = &msg[end.1..];
    let body = body_avail[..clen.min(body_avail.len())].to_vec();
    Ok(Request {
        method: method.to_ascii_uppercase(),
        uri: uri.to_owned(),
        headers,
        body,
    })
}

/// `key="value"` / `key=value` parameters of a Digest header.
pub fn digest_params(v: &str) -> Vec<(String, String)> {
    let v = v.trim();
    let Some(rest) = v
        .strip_prefix("Digest")
        .or_else(|| v.strip_prefix("digest"))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() && out.len() < 32 {
        let Some(eq) = s.find('=') else { break };
        let key = s[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        s = &s[eq + 1..];
        let val;
        if let Some(r) = s.strip_prefix('"') {
            let close = r.find('"').unwrap_or(r.len());
            val = r[..close].to_owned();
            s = r.get(close + 1..).unwrap_or("");
        } else {
            let close = s.find(',').unwrap_or(s.len());
            val = s[..close].trim().to_owned();
            s = &s[close..];
        }
        s = s.trim_start_matches([',', ' ']);
        out.push((key, val));
    }
    out
}

/// The `sip` service.
pub struct Sip;

/// Per-decky PBX state.
pub struct SipHandler {
    server: String,
    realm: String,
    login: Option<(String, String)>,
}

impl Service for Sip {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        Ok(Arc::new(SipHandler {
            server: decky
                .config(SERVICE, "server")
                .unwrap_or("Asterisk PBX 18.20.0")
                .to_owned(),
            realm: decky
                .config(SERVICE, "realm")
                .unwrap_or("asterisk")
                .to_owned(),
            login: crate::creds::configured_login(&decky.spec, SERVICE, "1000"),
        }))
    }
}

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(s.as_bytes()))
}

impl SipHandler {
    fn reply(&self, req: &Request, code: &str, extra: &[String]) -> Vec<u8> {
        let mut out = format!("SIP/2.0 {code}\r\n");
        for (k, v) in &req.headers {
            match k.as_str() {
                "via" => out.push_str(&format!("Via: {v}\r\n")),
                "from" => out.push_str(&format!("From: {v}\r\n")),
                "call-id" => out.push_str(&format!("Call-ID: {v}\r\n")),
                "cseq" => out.push_str(&format!("CSeq: {v}\r\n")),
                "to" => {
                    if v.contains(";tag=") || code.starts_with("100") {
                        out.push_str(&format!("To: {v}\r\n"));
                    } else {
                        out.push_str(&format!(
                            "To: {v};tag=as{:08x}\r\n",
                            rand::thread_rng().gen::<u32>()
                        ));
                    }
                }
                _ => {}
            }
        }
        out.push_str(&format!("Server: {}\r\n", self.server));
        out.push_str("Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH\r\nSupported: replaces, timer\r\n");
        for e in extra {
            out.push_str(e);
            out.push_str("\r\n");
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        out.into_bytes()
    }

    /// Handles one request; `emit` publishes events. Returns the reply.
    pub fn respond(
        &self,
        req: &Request,
        peer: SocketAddr,
        emit: &dyn Fn(EventKind, Fields),
    ) -> Option<Vec<u8>> {
        let ua = req.header("user-agent").unwrap_or("").to_owned();
        let from = req.header("from").unwrap_or("").to_owned();
        let to = req.header("to").unwrap_or("").to_owned();
        emit(
            EventKind::Request,
            fields! {"method" => req.method.clone(), "uri" => req.uri.clone(), "user_agent" => ua.clone(), "from" => from.clone(), "to" => to.clone()},
        );
        if req.method == "INVITE" {
            emit(
                EventKind::Command,
                fields! {"command" => format!("INVITE {}", req.uri), "uri" => req.uri.clone(), "from" => from.clone(), "user_agent" => ua.clone()},
            );
        }
        match req.method.as_str() {
            "ACK" => None,
            "OPTIONS" => Some(self.reply(req, "200 OK", &["Accept: application/sdp".into()])),
            "REGISTER" | "INVITE" | "SUBSCRIBE" | "MESSAGE" => {
                let auth = req
                    .header("authorization")
                    .or_else(|| req.header("proxy-authorization"));
                let Some(auth) = auth else {
                    let nonce: [u8; 8] = rand::thread_rng().gen();
                    let h = format!(
                        "WWW-Authenticate: Digest algorithm=MD5, realm=\"{}\", nonce=\"{}\"",
                        self.realm,
                        hex::encode(nonce)
                    );
                    return Some(self.reply(req, "401 Unauthorized", &[h]));
                };
                let p = digest_params(auth);
                let get = |k: &str| {
                    p.iter()
                        .find(|(pk, _)| pk == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let (user, realm, nonce, uri, response) = (
                    get("username"),
                    get("realm"),
                    get("nonce"),
                    get("uri"),
                    get("response"),
                );
                let (cnonce, nc, qop) = (get("cnonce"), get("nc"), get("qop"));
                let ok = match &self.login {
                    Some((u, pw)) if *u == user => {
                        let ha1 = md5_hex(&format!("{user}:{realm}:{pw}"));
                        let ha2 = md5_hex(&format!("{}:{uri}", req.method));
                        let expect = if qop.is_empty() {
                            md5_hex(&format!("{ha1}:{nonce}:{ha2}"))
                        } else {
                            md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
                        };
                        expect.eq_ignore_ascii_case(&response)
                    }
                    _ => false,
                };
                // hashcat 11400: $sip$*srv*cli*user*realm*method*prefix*resource*suffix*nonce*cnonce*nc*qop*MD5*response
                let (prefix, rest) = uri.split_once(':').unwrap_or(("sip", uri.as_str()));
                let (resource, suffix) = rest.split_once(';').unwrap_or((rest, ""));
                let hashcat = format!(
                    "$sip$*{}*{}*{user}*{realm}*{}*{prefix}*{resource}*{suffix}*{nonce}*{cnonce}*{nc}*{qop}*MD5*{response}",
                    "", peer.ip(), req.method
                );
                let mut f = fields! {
                    "method" => req.method.clone(), "realm" => realm.clone(), "nonce" => nonce.clone(), "uri" => uri.clone(),
                    "response" => response.clone(), "cnonce" => cnonce, "nc" => nc, "qop" => qop,
                    "user_agent" => ua, "hashcat" => hashcat, "hashcat_mode" => 11400u64,
                };
                decnet_core::event::credential_fields(
                    &mut f,
                    &user,
                    "sip_digest_md5",
                    response.as_bytes(),
                );
                f.insert("username".into(), user.clone().into());
                f.insert("success".into(), ok.into());
                emit(EventKind::AuthAttempt, f);
                if ok {
                    Some(self.reply(req, "200 OK", &["Expires: 3600".into()]))
                } else {
                    Some(self.reply(req, "403 Forbidden", &[]))
                }
            }
            "BYE" | "CANCEL" => Some(self.reply(req, "200 OK", &[])),
            _ => Some(self.reply(req, "501 Not Implemented", &[])),
        }
    }
}

impl DatagramHandler for SipHandler {
    fn max_datagram(&self) -> usize {
        MAX_MESSAGE
    }

    fn handle(self: Arc<Self>, port: &UdpPort, peer: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Vec::new(); // keep-alive CRLFs
        }
        let emit = |k: EventKind, f: Fields| port.emit(peer, k, f);
        match parse(bytes) {
            Ok(req) => self.respond(&req, peer, &emit).into_iter().collect(),
            Err(e) => {
                emit(
                    EventKind::Error,
                    fields! {"error" => format!("sip: {e}"), "bytes" => bytes.len() as u64},
                );
                Vec::new()
            }
        }
    }
}

impl Handler for SipHandler {
    fn datagram(self: Arc<Self>) -> Option<Arc<dyn DatagramHandler>> {
        Some(self)
    }

    fn serve_tcp(self: Arc<Self>, mut conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let idle = session.limits().idle_timeout;
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = [0u8; 2048];
            loop {
                // A complete message: headers end plus Content-Length bytes.
                while let Some(hend) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let clen = std::str::from_utf8(&buf[..hend])
                        .ok()
                        .and_then(|h| {
                            h.lines().find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                matches!(expand(k).as_str(), "content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                        })
                        .unwrap_or(0);
                    let total = hend + 4 + clen;
                    if total > MAX_MESSAGE {
                        session.emit_error("sip: message too large");
                        return;
                    }
                    if buf.len() < total {
                        break;
                    }
                    let msg: Vec<u8> = buf.drain(..total).collect();
                    let emit = |k: EventKind, f: Fields| session.emit(k, f);
                    match parse(&msg) {
                        Ok(req) => {
                            if let Some(r) = self.respond(&req, session.peer, &emit) {
                                if conn.stream.write_all(&r).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) => {
                            session.emit_error(format!("sip: {e}"));
                            return;
                        }
                    }
                }
                if buf.len() > MAX_MESSAGE {
                    session.emit_error("sip: headers too large");
                    return;
                }
                match crate::io::read_some_idle(&mut conn.stream, &mut chunk, idle).await {
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(ReadError::Eof) => return,
                    Err(e) => {
                        session.emit_error(format!("sip: {e}"));
                        return;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_register_with_digest() {
        let m = b"REGISTER sip:10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1\r\nf: <sip:100@10.0.0.1>;tag=1\r\nTo: <sip:100@10.0.0.1>\r\nCall-ID: abc\r\nCSeq: 2 REGISTER\r\nAuthorization: Digest username=\"100\", realm=\"asterisk\", nonce=\"n1\", uri=\"sip:10.0.0.1\", response=\"0123\", algorithm=MD5\r\nContent-Length: 0\r\n\r\n";
        let r = parse(m).unwrap();
        assert_eq!(
            (r.method.as_str(), r.header("from")),
            ("REGISTER", Some("<sip:100@10.0.0.1>;tag=1"))
        );
        let p = digest_params(r.header("authorization").unwrap());
        assert!(p.contains(&("username".into(), "100".into())));
        assert!(p.contains(&("response".into(), "0123".into())));
        assert!(p.contains(&("algorithm".into(), "MD5".into())));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400), s in ".{0,200}") {
            let _ = parse(&data);
            let _ = digest_params(&s);
            let _ = digest_params(&format!("Digest {s}"));
        }
    }
}
