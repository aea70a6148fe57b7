//! SIEM outputs: bus messages exported as ECS or OCSF JSON lines, decnet's
//! RFC 5424 lines, or raw JSON envelopes, to a rotating file, TCP/TLS, an
//! HTTP endpoint (NDJSON) or Splunk HEC. Each `[siem.<name>]` output is one
//! task with its own bounded bus subscription (a SIEM that is down makes
//! that output drop its oldest records, counted, never slows the bus), which
//! batches records and retries a failed batch with backoff.
//!
//! Field mapping: see the table in this crate's README.

pub mod common;
pub mod ecs;
pub mod hec;
pub mod ocsf;
pub mod sink;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_bus::consumer::{BatchLoop, Step};
use decnet_bus::{Bus, Delivery as BusDelivery, Envelope, Payload};
use parking_lot::Mutex;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::alert::Alert;
use crate::channels::http::Poster;
use crate::config::{SiemConfig, SiemFormat, SinkSpec};
use crate::signal::{Family, Signal};
use sink::{Sink, SinkError};

/// A formatted record's body.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// A JSON document.
    Json(Value),
    /// A text line.
    Line(String),
}

/// One formatted record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Event time.
    pub ts: DateTime<Utc>,
    /// Host it is about (the decky, or the node).
    pub host: String,
    /// A few fields for indexing (HEC `fields`).
    pub fields: Vec<(&'static str, String)>,
    /// The record.
    pub body: Body,
}

impl Record {
    /// Appends the record as one line.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        match &self.body {
            Body::Json(v) => serde_json::to_writer(&mut *out, v).expect("values serialise"),
            Body::Line(l) => out.extend_from_slice(l.replace(['\n', '\r'], " ").as_bytes()),
        }
        out.push(b'\n');
    }
}

/// The alert inside an `alert.*` envelope.
pub fn alert_of(env: &Envelope) -> Option<Alert> {
    if !env.topic.starts_with("alert.") {
        return None;
    }
    match &env.payload {
        Payload::Json(v) => serde_json::from_value(v.clone()).ok(),
        Payload::Event(_) => None,
    }
}

/// Formats one bus message; `None` when the format has nothing for it
/// (OCSF and RFC 5424 export decky events and alerts only).
pub fn format(fmt: SiemFormat, env: &Envelope, node: &str) -> Option<Record> {
    let s = Signal::new(env);
    if let Some(e) = s.event() {
        let body = match fmt {
            SiemFormat::Ecs => Body::Json(ecs::event(e, s.kind())),
            SiemFormat::Ocsf => Body::Json(ocsf::event(e, s.kind())),
            SiemFormat::Rfc5424 => Body::Line(decnet_core::syslog::format_event(e)),
            SiemFormat::Json => Body::Json(serde_json::to_value(env).ok()?),
        };
        return Some(Record {
            ts: e.ts,
            host: e.decky.clone(),
            fields: vec![
                ("decky", e.decky.clone()),
                ("service", e.service.clone()),
                ("kind", s.kind().to_owned()),
            ],
            body,
        });
    }
    if let Some(a) = alert_of(env) {
        let body = match fmt {
            SiemFormat::Ecs => Body::Json(ecs::alert(&a)),
            SiemFormat::Ocsf => Body::Json(ocsf::alert(&a)),
            SiemFormat::Rfc5424 => Body::Line(crate::channels::syslog::line(
                &crate::channels::syslog::default_spec(),
                &a,
                node,
            )),
            SiemFormat::Json => Body::Json(serde_json::to_value(env).ok()?),
        };
        return Some(Record {
            ts: a.ts,
            host: a.decky.clone().unwrap_or_else(|| node.to_owned()),
            fields: vec![
                ("rule", a.rule.clone()),
                ("severity", a.severity.to_string()),
            ],
            body,
        });
    }
    let family = match s.family() {
        Family::Identity => "identity",
        Family::Campaign => "campaign",
        Family::Response => "response",
        Family::System => "system",
        Family::Canary => "canary",
        Family::Attack => "attack",
        Family::Event | Family::Other => "other",
    };
    let body = match fmt {
        SiemFormat::Ecs => Body::Json(ecs::message(env, family)),
        SiemFormat::Json => Body::Json(serde_json::to_value(env).ok()?),
        SiemFormat::Ocsf | SiemFormat::Rfc5424 => return None,
    };
    Some(Record {
        ts: env.ts,
        host: node.to_owned(),
        fields: vec![("topic", env.topic.clone())],
        body,
    })
}

/// A SIEM output failure at start.
#[derive(Debug, thiserror::Error)]
pub enum SiemError {
    /// TLS settings.
    #[error("[siem.{0}] {1}")]
    Tls(String, crate::tls::TlsError),
    /// HTTP client.
    #[error("[siem.{0}] {1}")]
    Http(String, crate::channels::BuildError),
    /// Subscription.
    #[error("[siem.{0}] {1}")]
    Bus(String, decnet_bus::BusError),
}

/// One output's state, as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct SiemState {
    /// Name.
    pub name: String,
    /// Format.
    pub format: SiemFormat,
    /// Sink type.
    pub sink: &'static str,
    /// Records written.
    pub written: u64,
    /// Batches written.
    pub batches: u64,
    /// Records lost because the bus queue overflowed while the sink was
    /// slow or down (oldest first).
    pub dropped_overflow: u64,
    /// Records in batches the sink refused for good.
    pub dropped_refused: u64,
    /// Failed write attempts (retried).
    pub errors: u64,
    /// Messages with nothing to export in this format.
    pub skipped: u64,
    /// Last error (never a secret).
    pub last_error: Option<String>,
    /// Last successful write.
    pub last_write_at: Option<DateTime<Utc>>,
    /// Did the last write succeed?
    pub healthy: bool,
}

fn build_sink(cfg: &SiemConfig) -> Result<Box<dyn Sink>, SiemError> {
    let timeout = Duration::from_secs(10);
    Ok(match &cfg.sink {
        SinkSpec::File {
            path,
            max_bytes,
            keep,
        } => Box::new(sink::file::FileSink::new(path.clone(), *max_bytes, *keep)),
        SinkSpec::Tcp { address, tls } => {
            let tls = match tls {
                None => None,
                Some(t) => {
                    let c = crate::tls::client_config(t.ca_file.as_deref())
                        .map_err(|e| SiemError::Tls(cfg.name.clone(), e))?;
                    let host = t
                        .server_name
                        .clone()
                        .unwrap_or_else(|| crate::tls::host_of(address).to_owned());
                    Some((c, host))
                }
            };
            Box::new(sink::tcp::TcpSink::new(address.clone(), tls, timeout))
        }
        SinkSpec::Http { url, ca_file } => {
            let p = Poster::new(timeout, ca_file.as_deref())
                .map_err(|e| SiemError::Http(cfg.name.clone(), e))?;
            Box::new(sink::http::HttpSink::new(
                p,
                url.clone(),
                sink::http::Protocol::Ndjson,
            ))
        }
        SinkSpec::SplunkHec {
            url,
            token,
            index,
            sourcetype,
            source,
            ca_file,
        } => {
            let p = Poster::new(timeout, ca_file.as_deref())
                .map_err(|e| SiemError::Http(cfg.name.clone(), e))?;
            let meta = hec::HecMeta {
                index: index.clone(),
                sourcetype: sourcetype
                    .clone()
                    .unwrap_or_else(|| format!("decnet:{}", cfg.format.as_str())),
                source: source.clone(),
            };
            Box::new(sink::http::HttpSink::new(
                p,
                url.clone(),
                sink::http::Protocol::Hec {
                    token: token.clone(),
                    meta,
                },
            ))
        }
    })
}

struct Output {
    cfg: SiemConfig,
    node: String,
    sink: Box<dyn Sink>,
    state: Arc<Mutex<SiemState>>,
}

impl Output {
    /// Writes a batch, retrying retryable failures with backoff until it
    /// goes through, is refused for good, or a stop is asked for.
    async fn write(
        &mut self,
        records: &[Record],
        stop: &mut watch::Receiver<bool>,
        dropped_overflow: u64,
    ) {
        if records.is_empty() {
            return;
        }
        let mut rng = rand::rngs::StdRng::from_entropy();
        let mut attempt = 0u32;
        loop {
            match self.sink.write(records).await {
                Ok(()) => {
                    let mut s = self.state.lock();
                    s.written += records.len() as u64;
                    s.batches += 1;
                    s.last_write_at = Some(Utc::now());
                    s.healthy = true;
                    return;
                }
                Err(SinkError { retryable, message }) => {
                    let mut s = self.state.lock();
                    s.dropped_overflow = dropped_overflow;
                    s.errors += 1;
                    s.last_error = Some(message);
                    s.healthy = false;
                    if !retryable || *stop.borrow() {
                        s.dropped_refused += records.len() as u64;
                        return;
                    }
                }
            }
            attempt += 1;
            let d = crate::delivery::backoff::delay(
                attempt,
                Duration::from_millis(100),
                self.cfg.retry_max,
                &mut rng,
            );
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = stop.changed() => {}
            }
        }
    }

    fn format(&self, envs: &[Arc<Envelope>]) -> Vec<Record> {
        let wanted = |t: &str| {
            self.cfg
                .subjects
                .iter()
                .any(|p| decnet_core::subject::matches(p, t))
        };
        let mut out = Vec::with_capacity(envs.len());
        let mut skipped = 0;
        for env in envs.iter().filter(|e| wanted(&e.topic)) {
            match format(self.cfg.format, env, &self.node) {
                Some(r) => out.push(r),
                None => skipped += 1,
            }
        }
        self.state.lock().skipped += skipped;
        out
    }

    /// Formats and writes batches until a stop; then what is still queued
    /// (bounded by the lossy queue) is written with one attempt each.
    async fn run(mut self, sub: decnet_bus::Subscription, mut stop: watch::Receiver<bool>) {
        let mut batches = BatchLoop::new(
            sub,
            stop.clone(),
            self.cfg.batch_size,
            self.cfg.flush_interval,
        );
        while let Step::Batch(envs) = batches.next().await {
            let records = self.format(&envs);
            for chunk in records.chunks(self.cfg.batch_size) {
                self.write(chunk, &mut stop, batches.dropped()).await;
            }
            self.state.lock().dropped_overflow = batches.dropped();
        }
    }
}

struct Running {
    state: Arc<Mutex<SiemState>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The running outputs.
#[derive(Default)]
pub struct Outputs {
    running: Vec<Running>,
}

impl Outputs {
    /// Starts every enabled output.
    pub fn start(
        bus: &Arc<dyn Bus>,
        configs: &[SiemConfig],
        node: &str,
    ) -> Result<Outputs, SiemError> {
        let mut running = Vec::new();
        for cfg in configs.iter().filter(|c| c.enabled) {
            let sink = build_sink(cfg)?;
            let pattern = if cfg.subjects.len() == 1 {
                cfg.subjects[0].clone()
            } else {
                ">".to_owned()
            };
            let sub = bus
                .subscribe(
                    &pattern,
                    BusDelivery::Lossy {
                        capacity: cfg.queue,
                    },
                )
                .map_err(|e| SiemError::Bus(cfg.name.clone(), e))?;
            let state = Arc::new(Mutex::new(SiemState {
                name: cfg.name.clone(),
                format: cfg.format,
                sink: cfg.sink.kind(),
                written: 0,
                batches: 0,
                dropped_overflow: 0,
                dropped_refused: 0,
                errors: 0,
                skipped: 0,
                last_error: None,
                last_write_at: None,
                healthy: true,
            }));
            let (stop, stop_rx) = watch::channel(false);
            let out = Output {
                cfg: cfg.clone(),
                node: node.to_owned(),
                sink,
                state: state.clone(),
            };
            let task = tokio::spawn(out.run(sub, stop_rx));
            running.push(Running { state, stop, task });
        }
        Ok(Outputs { running })
    }

    /// Every output's state.
    pub fn states(&self) -> Vec<SiemState> {
        self.running
            .iter()
            .map(|r| r.state.lock().clone())
            .collect()
    }

    /// Flushes what each output holds (one attempt) and stops them.
    pub async fn stop(self) {
        for r in &self.running {
            let _ = r.stop.send(true);
        }
        for r in self.running {
            let _ = r.task.await;
        }
    }
}
