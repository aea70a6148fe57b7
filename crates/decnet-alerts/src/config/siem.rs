//! `[siem.<name>]`: one SIEM output (a format and a sink).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::keys::{ms, secs, Keys};
use crate::secret::Secret;

/// Record format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SiemFormat {
    /// Elastic Common Schema JSON, one object per line.
    Ecs,
    /// OCSF JSON, one object per line.
    Ocsf,
    /// decnet's RFC 5424 line (DECNET-compatible).
    Rfc5424,
    /// The bus envelope as JSON.
    Json,
}

impl SiemFormat {
    /// Name.
    pub fn as_str(self) -> &'static str {
        match self {
            SiemFormat::Ecs => "ecs",
            SiemFormat::Ocsf => "ocsf",
            SiemFormat::Rfc5424 => "rfc5424",
            SiemFormat::Json => "json",
        }
    }
}

/// TLS client settings of a sink.
#[derive(Clone, Debug, Default)]
pub struct TlsSpec {
    /// Extra trusted CA (PEM).
    pub ca_file: Option<PathBuf>,
    /// Name to verify (default: the host of the address).
    pub server_name: Option<String>,
}

/// Where records go.
#[derive(Clone, Debug)]
pub enum SinkSpec {
    /// A local file, rotated by size.
    File {
        /// Path.
        path: PathBuf,
        /// Rotate past this many bytes.
        max_bytes: u64,
        /// Rotated files kept (`path.1` … `path.N`).
        keep: u32,
    },
    /// Newline-delimited over TCP, optionally TLS.
    Tcp {
        /// `host:port`.
        address: String,
        /// TLS, for `sink = tls`.
        tls: Option<TlsSpec>,
    },
    /// NDJSON batches POSTed to a URL.
    Http {
        /// Endpoint (may carry a token).
        url: Secret,
        /// Extra trusted CA.
        ca_file: Option<PathBuf>,
    },
    /// Splunk HTTP Event Collector.
    SplunkHec {
        /// `https://splunk:8088/services/collector/event`.
        url: Secret,
        /// HEC token (`Authorization: Splunk <token>`).
        token: Secret,
        /// Index.
        index: Option<String>,
        /// Sourcetype (default `decnet:<format>`).
        sourcetype: Option<String>,
        /// Source.
        source: String,
        /// Extra trusted CA.
        ca_file: Option<PathBuf>,
    },
}

impl SinkSpec {
    /// Sink name.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkSpec::File { .. } => "file",
            SinkSpec::Tcp { tls: None, .. } => "tcp",
            SinkSpec::Tcp { tls: Some(_), .. } => "tls",
            SinkSpec::Http { .. } => "http",
            SinkSpec::SplunkHec { .. } => "splunk_hec",
        }
    }
}

/// One output.
#[derive(Clone, Debug)]
pub struct SiemConfig {
    /// Section suffix.
    pub name: String,
    /// Running?
    pub enabled: bool,
    /// Record format.
    pub format: SiemFormat,
    /// Destination.
    pub sink: SinkSpec,
    /// Bus subjects exported (default `events.>`).
    pub subjects: Vec<String>,
    /// Records per write/POST at most.
    pub batch_size: usize,
    /// Longest a record waits for its batch.
    pub flush_interval: Duration,
    /// Records buffered while the sink is down (oldest dropped, counted).
    pub queue: usize,
    /// Longest wait between reconnect/retry attempts.
    pub retry_max: Duration,
}

/// Parses `[siem.<name>]`.
pub fn parse(name: &str, k: &mut Keys<'_>) -> Option<SiemConfig> {
    let enabled = k.bool("enabled", true);
    let format = match k.required("format").as_deref() {
        Some("ecs") => Some(SiemFormat::Ecs),
        Some("ocsf") => Some(SiemFormat::Ocsf),
        Some("rfc5424") => Some(SiemFormat::Rfc5424),
        Some("json") => Some(SiemFormat::Json),
        Some(other) => {
            k.err(
                "format",
                format!("unknown format {other:?} (ecs, ocsf, rfc5424, json)"),
            );
            None
        }
        None => None,
    };
    let mut subjects = k.subjects("subjects");
    if subjects.is_empty() {
        subjects.push("events.>".into());
    }
    let batch_size = k.u64_in("batch_size", 500, 1, 10_000) as usize;
    let flush_interval = k.duration("flush_interval", secs(1), ms(1), secs(60));
    let queue = k.u64_in("queue", 65_536, 16, 10_000_000) as usize;
    let retry_max = k.duration("retry_max", secs(30), ms(10), secs(3600));
    let ca_file = k.file("ca_file");
    let sink = match k.required("sink").as_deref() {
        Some("file") => {
            let path = k.required("path").map(PathBuf::from);
            let max_bytes = k.u64_in("max_bytes", 100 << 20, 1024, 1 << 40);
            let keep = k.u64_in("keep", 5, 0, 1000) as u32;
            Some(SinkSpec::File {
                path: path?,
                max_bytes,
                keep,
            })
        }
        Some(kind @ ("tcp" | "tls")) => {
            let address = k.address("address");
            let tls = (kind == "tls").then(|| TlsSpec {
                ca_file: ca_file.clone(),
                server_name: k.opt_string("server_name"),
            });
            Some(SinkSpec::Tcp {
                address: address?,
                tls,
            })
        }
        Some("http") => Some(SinkSpec::Http {
            url: k.url_secret("url", true)?,
            ca_file: ca_file.clone(),
        }),
        Some("splunk_hec") => {
            let url = k.url_secret("url", true);
            let token = k.required_secret("token");
            Some(SinkSpec::SplunkHec {
                url: url?,
                token: token?,
                index: k.opt_string("index"),
                sourcetype: k.opt_string("sourcetype"),
                source: k.string("source", "decnet"),
                ca_file: ca_file.clone(),
            })
        }
        Some(other) => {
            k.err(
                "sink",
                format!("unknown sink {other:?} (file, tcp, tls, http, splunk_hec)"),
            );
            None
        }
        None => None,
    };
    Some(SiemConfig {
        name: name.to_owned(),
        enabled,
        format: format?,
        sink: sink?,
        subjects,
        batch_size,
        flush_interval,
        queue,
        retry_max,
    })
}
