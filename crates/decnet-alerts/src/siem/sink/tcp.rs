//! Newline-delimited records over TCP, optionally TLS; one connection,
//! re-established after an error.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{Sink, SinkError};
use crate::siem::Record;

enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// See the module doc.
pub struct TcpSink {
    address: String,
    tls: Option<(Arc<rustls::ClientConfig>, String)>,
    timeout: Duration,
    conn: Option<Conn>,
}

impl TcpSink {
    /// A sink to `address`; with `tls`, verified against that server name.
    pub fn new(
        address: String,
        tls: Option<(Arc<rustls::ClientConfig>, String)>,
        timeout: Duration,
    ) -> Self {
        TcpSink {
            address,
            tls,
            timeout,
            conn: None,
        }
    }

    async fn connect(&self) -> Result<Conn, SinkError> {
        let tcp = TcpStream::connect(&self.address)
            .await
            .map_err(|e| SinkError::transient(format!("connect {}: {e}", self.address)))?;
        let _ = tcp.set_nodelay(true);
        let Some((cfg, host)) = &self.tls else {
            return Ok(Conn::Plain(tcp));
        };
        let name = crate::tls::server_name(host).map_err(|e| SinkError {
            retryable: false,
            message: e.to_string(),
        })?;
        let s = tokio_rustls::TlsConnector::from(cfg.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| SinkError::transient(format!("tls {}: {e}", self.address)))?;
        Ok(Conn::Tls(Box::new(s)))
    }
}

impl Sink for TcpSink {
    fn write<'a>(&'a mut self, batch: &'a [Record]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut buf = Vec::new();
            for r in batch {
                r.write_line(&mut buf);
            }
            let timeout = self.timeout;
            let address = self.address.clone();
            let work = async {
                if self.conn.is_none() {
                    self.conn = Some(self.connect().await?);
                }
                let r = match self.conn.as_mut().expect("connected above") {
                    Conn::Plain(s) => s.write_all(&buf).await,
                    Conn::Tls(s) => match s.write_all(&buf).await {
                        Ok(()) => s.flush().await,
                        Err(e) => Err(e),
                    },
                };
                r.map_err(|e| SinkError::transient(format!("write {}: {e}", self.address)))
            };
            let r = match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(SinkError::transient(format!("write {address}: timeout"))),
            };
            if r.is_err() {
                self.conn = None;
            }
            r
        })
    }
}
