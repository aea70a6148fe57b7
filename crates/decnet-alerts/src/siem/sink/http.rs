//! HTTP push: a batch as NDJSON POSTed to a URL, or as Splunk HEC events
//! with `Authorization: Splunk <token>` (HEC answers `{"text":"Success",
//! "code":0}`; anything else is an error: 400 bad data and 401/403 bad
//! token are not retried, 429/5xx are).

use bytes::Bytes;
use futures::future::BoxFuture;

use super::{Sink, SinkError};
use crate::channels::http::Poster;
use crate::secret::Secret;
use crate::siem::hec::{self, HecMeta};
use crate::siem::Record;

/// Plain NDJSON or HEC.
pub enum Protocol {
    /// `application/x-ndjson`.
    Ndjson,
    /// Splunk HEC.
    Hec {
        /// Token.
        token: Secret,
        /// Envelope metadata.
        meta: HecMeta,
    },
}

/// See the module doc.
pub struct HttpSink {
    poster: Poster,
    url: Secret,
    protocol: Protocol,
}

impl HttpSink {
    /// A sink POSTing to `url`.
    pub fn new(poster: Poster, url: Secret, protocol: Protocol) -> Self {
        HttpSink {
            poster,
            url,
            protocol,
        }
    }
}

impl Sink for HttpSink {
    fn write<'a>(&'a mut self, batch: &'a [Record]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let (ctype, headers, body) = match &self.protocol {
                Protocol::Ndjson => {
                    let mut buf = Vec::new();
                    for r in batch {
                        r.write_line(&mut buf);
                    }
                    ("application/x-ndjson", Vec::new(), buf)
                }
                Protocol::Hec { token, meta } => (
                    "application/json",
                    vec![("authorization", format!("Splunk {}", token.expose()))],
                    hec::body(batch, meta),
                ),
            };
            let (_, resp) = self
                .poster
                .post(&self.url, ctype, &headers, Bytes::from(body))
                .await
                .map_err(|e| SinkError {
                    retryable: e.retryable,
                    message: e.message,
                })?;
            if let Protocol::Hec { .. } = self.protocol {
                let v: serde_json::Value = serde_json::from_slice(&resp).unwrap_or_default();
                if v["code"] != 0 {
                    return Err(SinkError {
                        retryable: false,
                        message: format!("HEC refused the batch: {}", v["text"]),
                    });
                }
            }
            Ok(())
        })
    }
}
