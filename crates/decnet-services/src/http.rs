//! HTTP: hyper serving a persona site. Every request is a `request` event;
//! Basic auth headers and POSTed login forms are `auth_attempt` events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use decnet_core::EventKind;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::ctx::{DeckyCtx, Session};
use crate::{fields, Conn, Handler, Service, ServiceError};

/// Longest body excerpt copied into an event.
const BODY_EXCERPT: usize = 2048;
/// Most headers copied into an event.
const MAX_EVENT_HEADERS: usize = 32;

/// The `http` service.
pub struct Http;

/// Per-decky HTTP state: the persona's server header and pages.
pub struct HttpHandler {
    server: HeaderValue,
    title: String,
    realm: String,
}

impl Service for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn validate(&self, cfg: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
        if let Some(h) = cfg.get("server_header") {
            HeaderValue::from_str(h)
                .map_err(|_| format!("server_header '{h}' is not a valid header value"))?;
        }
        Ok(())
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let server = decky
            .config("http", "server_header")
            .map(str::to_owned)
            .unwrap_or_else(|| decky.persona.http_server.clone());
        let server = HeaderValue::from_str(&server).map_err(|_| ServiceError::Config {
            service: "http",
            message: format!("bad server_header '{server}'"),
        })?;
        let title = decky
            .config("http", "title")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{} - Sign in", decky.persona.hostname));
        Ok(Arc::new(HttpHandler {
            server,
            title,
            realm: decky.persona.fqdn(),
        }))
    }
}

impl Handler for HttpHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let idle = session.limits().idle_timeout.min(Duration::from_secs(30));
            let max_buf = session.limits().max_line.max(8192) * 4;
            let svc_session = session.clone();
            let me = self.clone();
            let svc = hyper::service::service_fn(move |req| {
                let me = me.clone();
                let session = svc_session.clone();
                async move { Ok::<_, Infallible>(me.handle(req, &session).await) }
            });
            let result = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(idle)
                .max_buf_size(max_buf)
                .serve_connection(TokioIo::new(conn.stream), svc)
                .await;
            if let Err(e) = result {
                if !e.is_incomplete_message() {
                    session.emit_error(format!("http: {e}"));
                }
            }
        })
    }
}

fn form_value(body: &[u8], keys: &[&str]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| keys.contains(&k.as_ref()))
        .map(|(_, v)| v.into_owned())
}

impl HttpHandler {
    async fn handle(&self, req: Request<Incoming>, session: &Session) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let limit = session.limits().max_body;
        let body = match Limited::new(body, limit).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                session.emit_error(format!("http: request body over {limit} bytes"));
                return self.page(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "<h1>413 Request Entity Too Large</h1>",
                );
            }
        };
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or("").to_owned();
        let ua = parts
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let headers: serde_json::Map<String, serde_json::Value> = parts
            .headers
            .iter()
            .take(MAX_EVENT_HEADERS)
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
                )
            })
            .collect();
        let excerpt = decnet_core::event::printable(&body[..body.len().min(BODY_EXCERPT)]);
        session.emit(
            EventKind::Request,
            fields! {
                "method" => parts.method.as_str(),
                "path" => path.clone(),
                "query" => query,
                "user_agent" => ua,
                "headers" => serde_json::Value::Object(headers),
                "body" => excerpt,
                "body_len" => body.len() as u64,
                "version" => format!("{:?}", parts.version),
            },
        );

        if let Some(auth) = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            if let Some(b64) = auth
                .strip_prefix("Basic ")
                .or_else(|| auth.strip_prefix("basic "))
            {
                if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
                    let (user, pass) = match raw.iter().position(|&b| b == b':') {
                        Some(i) => (&raw[..i], &raw[i + 1..]),
                        None => (&raw[..], &b""[..]),
                    };
                    let user = decnet_core::event::printable(user);
                    session.emit_auth(
                        &user,
                        "password",
                        pass,
                        false,
                        fields! {"method" => "basic", "path" => path.clone()},
                    );
                    return self.basic_challenge();
                }
            }
        }

        if parts.method == hyper::Method::POST {
            let user = form_value(
                &body,
                &[
                    "username",
                    "user",
                    "login",
                    "email",
                    "log",
                    "pma_username",
                    "j_username",
                ],
            );
            let pass = form_value(
                &body,
                &[
                    "password",
                    "pass",
                    "passwd",
                    "pwd",
                    "pma_password",
                    "j_password",
                ],
            );
            if user.is_some() || pass.is_some() {
                let user = user.unwrap_or_default();
                let pass = pass.unwrap_or_default();
                session.emit_auth(
                    &user,
                    "password",
                    pass.as_bytes(),
                    false,
                    fields! {"method" => "form", "path" => path.clone()},
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
                return self.login_page(Some("Invalid username or password."), StatusCode::OK);
            }
        }

        match path.as_str() {
            "/" | "/index.html" | "/login" | "/login.html" => self.login_page(None, StatusCode::OK),
            "/admin" | "/manager/html" => self.basic_challenge(),
            "/robots.txt" => self.text("User-agent: *\nDisallow: /admin/\n"),
            _ => self.page(
                StatusCode::NOT_FOUND,
                "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n</body>\r\n</html>\r\n",
            ),
        }
    }

    fn response(
        &self,
        status: StatusCode,
        ctype: &'static str,
        body: String,
    ) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut().insert(SERVER, self.server.clone());
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
        r
    }

    fn page(&self, status: StatusCode, body: &str) -> Response<Full<Bytes>> {
        self.response(status, "text/html; charset=utf-8", body.to_owned())
    }

    fn text(&self, body: &str) -> Response<Full<Bytes>> {
        self.response(StatusCode::OK, "text/plain", body.to_owned())
    }

    fn basic_challenge(&self) -> Response<Full<Bytes>> {
        let mut r = self.page(
            StatusCode::UNAUTHORIZED,
            "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n</body>\r\n</html>\r\n",
        );
        if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", self.realm)) {
            r.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        r
    }

    fn login_page(&self, error: Option<&str>, status: StatusCode) -> Response<Full<Bytes>> {
        let err = error
            .map(|e| format!("<p class=\"err\">{e}</p>"))
            .unwrap_or_default();
        let body = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>body{{font-family:Arial,sans-serif;background:#f2f4f7}}form{{width:320px;margin:120px auto;background:#fff;padding:24px;border-radius:6px;box-shadow:0 1px 4px #0002}}input{{width:100%;margin:6px 0 14px;padding:8px;box-sizing:border-box}}.err{{color:#b00}}</style>\n</head>\n<body>\n<form method=\"post\" action=\"/login\">\n<h2>{title}</h2>\n{err}\n<label>Username<input name=\"username\" autocomplete=\"username\"></label>\n<label>Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\n<button type=\"submit\">Sign in</button>\n</form>\n</body>\n</html>\n",
            title = html_escape(&self.title)
        );
        self.response(status, "text/html; charset=utf-8", body)
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
