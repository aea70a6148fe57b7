//! HTTPS: the http persona site behind rustls with the decky's self-signed
//! persona certificate. The ClientHello fingerprint (JA3/JA4) is published
//! once per handshake and stamped on every later event of the connection.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use super::http::HttpHandler;
use crate::config::ConfigError;
use crate::ctx::DeckyCtx;
use crate::session::Session;
use crate::tls::{self, HelloError, Tagged, TlsIdentity};
use crate::{Conn, Handler, Service, ServiceError};

/// The `https` service.
pub struct Https;

/// Per-decky https state.
pub struct HttpsHandler {
    http: Arc<HttpHandler>,
    tls: TlsIdentity,
}

impl Service for Https {
    fn name(&self) -> &'static str {
        "https"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        super::http::validate_cfg(cfg)
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        Ok(Arc::new(HttpsHandler {
            http: Arc::new(HttpHandler::new(decky, "https")?),
            tls: TlsIdentity::for_decky(decky, "https", &[b"http/1.1"])?,
        }))
    }
}

const PLAIN_ON_TLS: &str = "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n</body>\r\n</html>\r\n";

impl Handler for HttpsHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut tagged = Tagged::new(session);
            let idle = tagged.session.limits().idle_timeout;
            let mut stream = conn.stream;
            let (bytes, hello) = tls::read_client_hello(&mut stream, idle).await;
            match hello {
                Ok(h) => {
                    tagged.record_hello(&h, false);
                    let ready = match self.tls.ready().await {
                        Ok(r) => r,
                        Err(e) => return tagged.emit_error(format!("https: {e}")),
                    };
                    match tls::handshake(&ready.acceptor, bytes, stream, idle).await {
                        Ok(s) => self.http.clone().serve_io(s, tagged).await,
                        Err(e) => tagged.emit_error(format!("https: {e}")),
                    }
                }
                Err(HelloError::NotTls) => {
                    tagged.emit_error("https: plain HTTP request sent to the TLS port");
                    // What nginx answers.
                    let resp = format!(
                        "HTTP/1.1 400 Bad Request\r\nServer: {}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PLAIN_ON_TLS}",
                        self.http.server_name(),
                        PLAIN_ON_TLS.len()
                    );
                    let _ = stream.write_all(resp.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
                Err(HelloError::Incomplete) if bytes.is_empty() => {}
                Err(e) => tagged.emit_error(format!("https: {e}")),
            }
        })
    }
}
