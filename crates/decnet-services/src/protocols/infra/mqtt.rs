//! MQTT broker decoy (tcp/1883, mosquitto-like): CONNECT credentials
//! captured (anonymous brokers accept everything unless
//! `[decky.mqtt] password = …` is set), SUBSCRIBE and PUBLISH recorded as
//! `command` events, wildcard subscriptions fed a few retained persona
//! topics ($SYS broker version, sensor readings), QoS 1/2 acknowledged.
//!
//! Like mosquitto 2.0, the broker reads the first byte alone and hangs up
//! at once when it is not a CONNECT (the rest of the bytes unread, so the
//! close is a reset), drops a CONNECT naming an unknown protocol without a
//! CONNACK, and refuses a bad password as "not authorised".

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::session::Session;
use crate::wire;
use crate::wire::mqtt::{self as w};
use crate::{fields, Conn, Handler, Service, ServiceError};

/// The `mqtt` service.
pub struct Mqtt;

/// Per-decky broker state.
pub struct MqttHandler {
    login: Option<(String, String)>,
    retained: Vec<(String, String)>,
}

impl Service for Mqtt {
    fn name(&self) -> &'static str {
        "mqtt"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let version = decky
            .config("mqtt", "version")
            .unwrap_or("2.0.11")
            .to_owned();
        let host = decky
            .persona
            .hostname
            .split('.')
            .next()
            .unwrap_or("gw")
            .to_owned();
        let uptime = (chrono::Utc::now() - decky.persona.boot_time)
            .num_seconds()
            .max(0);
        let retained = vec![
            (
                "$SYS/broker/version".to_owned(),
                format!("mosquitto version {version}"),
            ),
            ("$SYS/broker/uptime".to_owned(), format!("{uptime} seconds")),
            ("$SYS/broker/clients/connected".to_owned(), "4".to_owned()),
            (format!("{host}/sensors/temperature"), "21.7".to_owned()),
            (format!("{host}/sensors/humidity"), "43".to_owned()),
            (format!("{host}/relay/1/state"), "ON".to_owned()),
            (
                "plant/line1/plc/status".to_owned(),
                "{\"mode\":\"RUN\",\"faults\":0}".to_owned(),
            ),
        ];
        Ok(Arc::new(MqttHandler {
            login: crate::creds::configured_login(&decky.spec, "mqtt", "admin"),
            retained,
        }))
    }
}

impl Handler for MqttHandler {
    fn serve_tcp(self: Arc<Self>, mut conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let idle = session.limits().idle_timeout;
            let mut connected: Option<(String, bool)> = None;
            let (first, body) = match read_connect(&mut conn.stream, idle).await {
                Ok(packet) => packet,
                Err(ReadError::Eof) => return,
                Err(e) => {
                    session.emit_error(format!("mqtt: {e}"));
                    return;
                }
            };
            if !self
                .reply(&mut conn, first, &body, &mut connected, &session)
                .await
            {
                return;
            }
            let mut buf: Vec<u8> = Vec::with_capacity(512);
            let mut chunk = [0u8; 4096];
            loop {
                loop {
                    let (first, body, used) = match w::frame(&buf) {
                        Ok(Some((f, b, u))) => (f, b.to_vec(), u),
                        Ok(None) => break,
                        Err(e) => {
                            session.emit_error(format!("mqtt: {e}"));
                            return;
                        }
                    };
                    buf.drain(..used);
                    if !self
                        .reply(&mut conn, first, &body, &mut connected, &session)
                        .await
                    {
                        return;
                    }
                }
                match crate::io::read_some_idle(&mut conn.stream, &mut chunk, idle).await {
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(ReadError::Eof) => return,
                    Err(e) => {
                        session.emit_error(format!("mqtt: {e}"));
                        return;
                    }
                }
            }
        })
    }
}

/// Reads the first packet the way mosquitto does, byte by byte up to its
/// end and no further: the type (anything but CONNECT ends the
/// connection), the remaining length (refused at a fifth byte), the body.
/// What a non-MQTT client sent beyond that stays unread, so the hang-up
/// that follows is a reset like the broker's.
async fn read_connect(
    stream: &mut tokio::net::TcpStream,
    idle: std::time::Duration,
) -> Result<(u8, Vec<u8>), ReadError> {
    let mut byte = [0u8; 1];
    crate::io::read_exact_idle(stream, &mut byte, idle).await?;
    let first = byte[0];
    if first >> 4 != 1 {
        return Err(ReadError::Io(format!(
            "packet type {} before CONNECT",
            first >> 4
        )));
    }
    let mut len = 0usize;
    for shift in (0..).step_by(7) {
        crate::io::read_exact_idle(stream, &mut byte, idle).await?;
        if shift > 21 {
            return Err(ReadError::Io("malformed remaining length".into()));
        }
        len |= ((byte[0] & 0x7f) as usize) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    if len > w::MAX_PACKET {
        return Err(ReadError::Io(format!("packet of {len} bytes over limit")));
    }
    let mut body = vec![0u8; len];
    crate::io::read_exact_idle(stream, &mut body, idle).await?;
    if first & 0x0f != 0 {
        return Err(ReadError::Io("CONNECT with reserved flags set".into()));
    }
    Ok((first, body))
}

impl MqttHandler {
    /// Handles one packet and sends its answer; false when the connection
    /// ends here.
    async fn reply(
        &self,
        conn: &mut Conn,
        first: u8,
        body: &[u8],
        connected: &mut Option<(String, bool)>,
        session: &Session,
    ) -> bool {
        match self.packet(first, body, connected, session) {
            Ok((out, close)) => {
                let sent = out.is_empty() || conn.stream.write_all(&out).await.is_ok();
                sent && !close
            }
            Err(e) => {
                session.emit_error(format!("mqtt: {e}"));
                false
            }
        }
    }

    /// Handles one packet: (bytes to send, close afterwards).
    fn packet(
        &self,
        first: u8,
        body: &[u8],
        connected: &mut Option<(String, bool)>,
        session: &Session,
    ) -> Result<(Vec<u8>, bool), wire::WireError> {
        let kind = first >> 4;
        let Some((client, v5)) = connected.clone() else {
            if kind != 1 {
                return Err(wire::WireError::new(format!(
                    "packet type {kind} before CONNECT"
                )));
            }
            return self.connect(body, connected, session);
        };
        let mut out = Vec::new();
        match kind {
            3 => {
                let (topic, id, payload) = w::parse_publish(first & 0x0f, body, v5)?;
                session.emit(
                    EventKind::Command,
                    fields! {"command" => format!("publish {topic}"), "topic" => topic, "payload" => wire::excerpt(&payload, 2048), "payload_len" => payload.len() as u64, "client_id" => client},
                );
                let qos = (first >> 1) & 0x03;
                if let Some(id) = id {
                    let ack = if qos == 1 { 0x40 } else { 0x50 };
                    out.extend_from_slice(&w::packet(ack, &id.to_be_bytes()));
                }
            }
            6 => {
                // PUBREL → PUBCOMP.
                let id = body.get(..2).unwrap_or(&[0, 0]);
                out.extend_from_slice(&w::packet(0x70, id));
            }
            8 => self.subscribe(body, v5, &client, session, &mut out)?,
            10 => {
                let id = body.get(..2).unwrap_or(&[0, 0]).to_vec();
                let mut b = id;
                if v5 {
                    b.extend_from_slice(&[0, 0]);
                }
                out.extend_from_slice(&w::packet(0xb0, &b));
            }
            12 => out.extend_from_slice(&[0xd0, 0x00]),
            14 => return Ok((Vec::new(), true)),
            4 | 5 | 7 => {}
            k => return Err(wire::WireError::new(format!("unexpected packet type {k}"))),
        }
        Ok((out, false))
    }

    /// CONNECT: a login, accepted or refused like mosquitto; on success
    /// the client's id and protocol version go into `connected`.
    fn connect(
        &self,
        body: &[u8],
        connected: &mut Option<(String, bool)>,
        session: &Session,
    ) -> Result<(Vec<u8>, bool), wire::WireError> {
        let c = w::parse_connect(body)?;
        if c.protocol != "MQTT" && c.protocol != "MQIsdp" {
            return Err(wire::WireError::new(format!(
                "invalid protocol {:?} in CONNECT",
                c.protocol
            )));
        }
        let v5 = c.level == 5;
        if !(3..=5).contains(&c.level) {
            return Ok((w::packet(0x20, &[0, 1]), true));
        }
        let ok = match &self.login {
            None => true,
            Some((u, p)) => {
                c.username.as_deref() == Some(u) && c.password.as_deref() == Some(p.as_bytes())
            }
        };
        // Every CONNECT is a login: an anonymous one has an empty user
        // and no secret, accepted or not like any other.
        let anonymous = c.username.is_none() && c.password.is_none();
        session.emit_auth(
            c.username.as_deref().unwrap_or(""),
            if anonymous { "none" } else { "password" },
            c.password.as_deref().unwrap_or(b""),
            ok,
            fields! {"client_id" => c.client_id.clone(), "protocol_level" => c.level as u64, "will_topic" => c.will_topic.clone().unwrap_or_default(), "anonymous" => anonymous},
        );
        let (body, close) = match (ok, v5) {
            (true, false) => (vec![0, 0], false),
            (true, true) => (vec![0, 0, 0], false),
            // mosquitto answers every refused login "not authorised".
            (false, false) => (vec![0, 5], true),
            (false, true) => (vec![0, 0x87, 0], true),
        };
        if ok {
            *connected = Some((c.client_id, v5));
        }
        Ok((w::packet(0x20, &body), close))
    }

    /// SUBSCRIBE: granted (QoS at most 1), then the retained messages the
    /// filters match.
    fn subscribe(
        &self,
        body: &[u8],
        v5: bool,
        client: &str,
        session: &Session,
        out: &mut Vec<u8>,
    ) -> Result<(), wire::WireError> {
        let (id, filters) = w::parse_subscribe(body, v5)?;
        let mut ack = id.to_be_bytes().to_vec();
        if v5 {
            ack.push(0);
        }
        for (f, qos) in &filters {
            session.emit(EventKind::Command, fields! {"command" => format!("subscribe {f}"), "topic" => f.clone(), "qos" => *qos as u64, "client_id" => client.to_owned()});
            ack.push((*qos).min(1));
        }
        out.extend_from_slice(&w::packet(0x90, &ack));
        for (topic, value) in &self.retained {
            if filters.iter().any(|(f, _)| topic_matches(f, topic)) {
                out.extend_from_slice(&w::publish(topic, value.as_bytes(), true, v5));
            }
        }
        Ok(())
    }
}

/// MQTT topic filter matching (`+` one level, `#` the rest; `$` topics only
/// by explicit filters).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && !filter.starts_with('$') {
        return false;
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    for (i, part) in f.iter().enumerate() {
        match *part {
            "#" => return true,
            "+" => {
                if i >= t.len() {
                    return false;
                }
            }
            p => {
                if t.get(i) != Some(&p) {
                    return false;
                }
            }
        }
    }
    f.len() == t.len()
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn topic_filters() {
        assert!(topic_matches("#", "a/b"));
        assert!(!topic_matches("#", "$SYS/broker/version"));
        assert!(topic_matches("$SYS/#", "$SYS/broker/version"));
        assert!(topic_matches("a/+/c", "a/b/c"));
        assert!(!topic_matches("a/+", "a/b/c"));
    }
}
