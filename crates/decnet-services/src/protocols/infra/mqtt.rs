//! MQTT broker decoy (tcp/1883, mosquitto-like): CONNECT credentials
//! captured (anonymous brokers accept everything unless
//! `[decky.mqtt] password = …` is set), SUBSCRIBE and PUBLISH recorded as
//! `command` events, wildcard subscriptions fed a few retained persona
//! topics ($SYS broker version, sensor readings), QoS 1/2 acknowledged.

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
            let mut buf: Vec<u8> = Vec::with_capacity(512);
            let mut chunk = [0u8; 4096];
            let mut connected: Option<(String, bool)> = None;
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
                    match self.packet(first, &body, &mut connected, &session) {
                        Ok((out, close)) => {
                            if (!out.is_empty() && conn.stream.write_all(&out).await.is_err())
                                || close
                            {
                                return;
                            }
                        }
                        Err(e) => {
                            session.emit_error(format!("mqtt: {e}"));
                            return;
                        }
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

impl MqttHandler {
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
            let c = w::parse_connect(body)?;
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
                (false, false) => (vec![0, if c.username.is_some() { 4 } else { 5 }], true),
                (false, true) => (
                    vec![0, if c.username.is_some() { 0x86 } else { 0x87 }, 0],
                    true,
                ),
            };
            if ok {
                *connected = Some((c.client_id, v5));
            }
            return Ok((w::packet(0x20, &body), close));
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
            8 => {
                let (id, filters) = w::parse_subscribe(body, v5)?;
                let mut ack = id.to_be_bytes().to_vec();
                if v5 {
                    ack.push(0);
                }
                for (f, qos) in &filters {
                    session.emit(EventKind::Command, fields! {"command" => format!("subscribe {f}"), "topic" => f.clone(), "qos" => *qos as u64, "client_id" => client.clone()});
                    ack.push((*qos).min(1));
                }
                out.extend_from_slice(&w::packet(0x90, &ack));
                for (topic, value) in &self.retained {
                    if filters.iter().any(|(f, _)| topic_matches(f, topic)) {
                        out.extend_from_slice(&w::publish(topic, value.as_bytes(), true, v5));
                    }
                }
            }
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
