//! Syslog with CEF: each alert is one RFC 5424 message whose MSG is an
//! ArcSight Common Event Format record, sent over UDP (one datagram), TCP
//! or TLS (octet-counted frames, RFC 6587 / RFC 5425). TCP/TLS keep one
//! connection and reconnect after an error.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;

use super::{BuildError, Channel, ChannelContext, SendError, Sent};
use crate::alert::{Alert, AlertKind, Severity};
use crate::config::channel::{SyslogProtocol, SyslogSpec};
use crate::config::ChannelConfig;
use crate::render::escape_with;

/// Largest UDP message sent (bigger ones are cut).
pub const UDP_MAX: usize = 8192;

/// CEF severity (0–10).
pub fn cef_severity(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 8,
        Severity::Critical => 10,
    }
}

/// Syslog severity (RFC 5424 numbering).
pub fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    }
}

/// Escapes a CEF header field: `\\` and `|`; line breaks become spaces.
pub fn cef_header(s: &str) -> String {
    escape_with(s, |c| match c {
        '\\' => Some("\\\\"),
        '|' => Some("\\|"),
        c if c.is_control() => Some(" "),
        _ => None,
    })
}

/// Escapes a CEF extension value: `\\`, `=`, and line breaks as `\\n`/`\\r`.
pub fn cef_value(s: &str) -> String {
    escape_with(s, |c| match c {
        '\\' => Some("\\\\"),
        '=' => Some("\\="),
        '\n' => Some("\\n"),
        '\r' => Some("\\r"),
        c if c.is_control() => Some(" "),
        _ => None,
    })
}

/// The CEF record of an alert.
pub fn cef(a: &Alert, node: &str) -> String {
    let mut ext: Vec<(&str, String)> = vec![
        ("rt", a.ts.timestamp_millis().to_string()),
        ("externalId", a.id.to_string()),
        ("cat", a.rule.clone()),
        ("act", a.kind.name().to_owned()),
        ("dvchost", node.to_owned()),
        ("msg", a.summary.clone()),
        ("cs1Label", "dedupKey".into()),
        ("cs1", a.dedup_key.clone()),
    ];
    if let Some(ip) = a.source_ip {
        ext.push(("src", ip.to_string()));
    }
    if let Some(d) = &a.decky {
        ext.push(("dhost", d.clone()));
    }
    if let Some(s) = &a.service {
        ext.push(("app", s.clone()));
    }
    if let Some(s) = a.stage {
        ext.push(("cs2Label", "stage".into()));
        ext.push(("cs2", s.as_str().into()));
    }
    if let Some(id) = a.identity {
        ext.push(("cs3Label", "identity".into()));
        ext.push(("cs3", id.to_string()));
    }
    if !a.techniques.is_empty() {
        ext.push(("cs4Label", "techniques".into()));
        ext.push(("cs4", a.techniques.join(",")));
    }
    if !a.facts.is_empty() {
        let facts: Vec<String> = a
            .facts
            .iter()
            .map(|f| format!("{}: {}", f.name, f.value))
            .collect();
        ext.push(("cs5Label", "facts".into()));
        ext.push(("cs5", facts.join("; ")));
    }
    if let Some(u) = a.facts.iter().find(|f| f.name == "username") {
        ext.push(("suser", u.value.clone()));
    }
    if let AlertKind::Digest { suppressed, .. } = a.kind {
        ext.push(("cn1Label", "suppressed".into()));
        ext.push(("cn1", suppressed.to_string()));
    }
    let ext: Vec<String> = ext
        .into_iter()
        .map(|(k, v)| format!("{k}={}", cef_value(&v)))
        .collect();
    format!(
        "CEF:0|decnet|decnet|{}|{}|{}|{}|{}",
        cef_header(env!("CARGO_PKG_VERSION")),
        cef_header(&a.rule),
        cef_header(&a.title),
        cef_severity(a.severity),
        ext.join(" ")
    )
}

fn header_token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if t.is_empty() {
        "-".into()
    } else {
        t
    }
}

/// Header settings for CEF lines written elsewhere (SIEM files):
/// facility local0, app `decnet`, host = the node.
pub fn default_spec() -> SyslogSpec {
    SyslogSpec {
        address: String::new(),
        protocol: SyslogProtocol::Udp,
        hostname: None,
        app_name: "decnet".into(),
        facility: 16,
        server_name: None,
    }
}

/// The RFC 5424 message carrying the CEF record.
pub fn line(spec: &SyslogSpec, a: &Alert, node: &str) -> String {
    let pri = spec.facility as u16 * 8 + syslog_severity(a.severity) as u16;
    format!(
        "<{pri}>1 {} {} {} - alert - {}",
        a.ts.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
        header_token(spec.hostname.as_deref().unwrap_or(node), 255),
        header_token(&spec.app_name, 48),
        cef(a, node)
    )
}

enum Conn {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The syslog CEF channel.
pub struct SyslogCef {
    name: String,
    spec: SyslogSpec,
    ctx: ChannelContext,
    timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Mutex<Option<Conn>>,
}

fn io_err(what: &str, e: std::io::Error) -> SendError {
    SendError::transient(format!("syslog {what}: {e}"))
}

impl SyslogCef {
    /// A syslog channel.
    pub fn new(
        cfg: &ChannelConfig,
        spec: &SyslogSpec,
        ctx: &ChannelContext,
    ) -> Result<Self, BuildError> {
        let tls = match spec.protocol {
            SyslogProtocol::Tls => Some(crate::tls::client_config(cfg.ca_file.as_deref())?),
            _ => None,
        };
        Ok(SyslogCef {
            name: cfg.name.clone(),
            spec: spec.clone(),
            ctx: ctx.clone(),
            timeout: cfg.timeout,
            tls,
            conn: Mutex::new(None),
        })
    }

    async fn connect(&self) -> Result<Conn, SendError> {
        let tcp = TcpStream::connect(&self.spec.address)
            .await
            .map_err(|e| io_err("connect", e))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Conn::Tcp(tcp)),
            Some(cfg) => {
                let host = self
                    .spec
                    .server_name
                    .clone()
                    .unwrap_or_else(|| crate::tls::host_of(&self.spec.address).to_owned());
                let name = crate::tls::server_name(&host)
                    .map_err(|e| SendError::permanent(e.to_string()))?;
                let s = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| io_err("tls", e))?;
                Ok(Conn::Tls(Box::new(s)))
            }
        }
    }

    async fn send_stream(&self, msg: &str) -> Result<(), SendError> {
        let frame = format!("{} {msg}", msg.len());
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            *guard = Some(self.connect().await?);
        }
        let r = match guard.as_mut().expect("connected above") {
            Conn::Tcp(s) => s.write_all(frame.as_bytes()).await,
            Conn::Tls(s) => match s.write_all(frame.as_bytes()).await {
                Ok(()) => s.flush().await,
                Err(e) => Err(e),
            },
        };
        if let Err(e) = r {
            *guard = None;
            return Err(io_err("write", e));
        }
        Ok(())
    }

    async fn send_udp(&self, msg: &str) -> Result<(), SendError> {
        let target = tokio::net::lookup_host(&self.spec.address)
            .await
            .map_err(|e| io_err("resolve", e))?
            .next()
            .ok_or_else(|| SendError::transient("syslog: address resolves to nothing"))?;
        let bind = if target.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sock = UdpSocket::bind(bind).await.map_err(|e| io_err("bind", e))?;
        let mut bytes = msg.as_bytes();
        if bytes.len() > UDP_MAX {
            let mut cut = UDP_MAX;
            while !msg.is_char_boundary(cut) {
                cut -= 1;
            }
            bytes = &bytes[..cut];
        }
        sock.send_to(bytes, target)
            .await
            .map_err(|e| io_err("send", e))?;
        Ok(())
    }
}

impl Channel for SyslogCef {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "syslog"
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            let msg = line(&self.spec, alert, &self.ctx.node);
            let fut = async {
                match self.spec.protocol {
                    SyslogProtocol::Udp => self.send_udp(&msg).await,
                    _ => self.send_stream(&msg).await,
                }
            };
            match tokio::time::timeout(self.timeout, fut).await {
                Ok(r) => r.map(|()| Sent::default()),
                Err(_) => {
                    *self.conn.lock().await = None;
                    Err(SendError::transient("syslog: timeout"))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Fact;

    #[test]
    fn cef_escapes_header_and_extension() {
        let mut a = Alert::test("siem");
        a.title = "pipe | and \\ back\nslash".into();
        a.summary = "a=b\nc".into();
        a.source_ip = Some("203.0.113.7".parse().unwrap());
        a.facts = vec![Fact::new("username", "ro=ot")];
        let c = cef(&a, "node1");
        assert!(c.starts_with("CEF:0|decnet|decnet|"));
        assert!(c.contains("|channel_test|pipe \\| and \\\\ back slash|1|"));
        assert!(c.contains("msg=a\\=b\\nc"));
        assert!(c.contains("suser=ro\\=ot"));
        assert!(c.contains("src=203.0.113.7"));
        let spec = SyslogSpec {
            address: "127.0.0.1:514".into(),
            protocol: SyslogProtocol::Udp,
            hostname: None,
            app_name: "decnet".into(),
            facility: 16,
            server_name: None,
        };
        let l = line(&spec, &a, "node1");
        assert!(l.starts_with("<134>1 "), "{l}");
        assert!(l.contains(" node1 decnet - alert - CEF:0|"));
        assert!(!l.contains('\n'));
    }
}
