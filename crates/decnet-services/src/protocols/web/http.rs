//! HTTP: a persona site (nginx/Apache/IIS default pages, a router admin
//! login, Tomcat, phpMyAdmin, a corporate login) behind the HTTP/1.x
//! connection of the server the persona names ([`super::http1`]). Every
//! request is a `request` event; Basic auth headers and POSTed login forms
//! are `auth_attempt` events. A bare nginx or Apache persona is the
//! distribution's default install: its default page and nothing else, so
//! the bait files (`/.env`, `/.git/config`, `robots.txt`) come with the
//! sites an archetype asks for (or `bait_files = true`). The same handler
//! serves https over a TLS stream (see `https.rs`).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use decnet_core::{EventKind, OsFamily};
use futures::future::BoxFuture;
use hyper::header::HeaderValue;
use rand::Rng;

use super::http1::flavour::html_escape;
use super::http1::{self, FileMeta, Flavour, MethodAnswer, Reply, Request};
use crate::config::{check, check_bool, parse_bool, ConfigError};
use crate::ctx::DeckyCtx;
use crate::protocols::web::server_status::{self, Asker, Scoreboard};
use crate::protocols::web::web_root::{self, Found, WebRoot};
use crate::session::Session;
use crate::tls::{Io, Tagged};
use crate::{fields, Conn, Handler, Service, ServiceError};

/// Longest body excerpt copied into an event.
const BODY_EXCERPT: usize = 2048;
/// Most headers copied into an event.
const MAX_EVENT_HEADERS: usize = 32;

/// The `http` service.
pub struct Http;

/// Which site a decky's web server shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// "Welcome to nginx!"
    Nginx,
    /// Apache2 default page.
    Apache,
    /// IIS start page.
    Iis,
    /// A SOHO router / device admin login.
    Router,
    /// Apache Tomcat default page + manager.
    Tomcat,
    /// phpMyAdmin login.
    PhpMyAdmin,
    /// A company sign-in portal (WordPress behind it).
    Corporate,
}

impl Site {
    /// Parses the `site` config value.
    pub fn parse(s: &str) -> Option<Site> {
        Some(match s.to_ascii_lowercase().as_str() {
            "nginx" => Site::Nginx,
            "apache" => Site::Apache,
            "iis" => Site::Iis,
            "router" => Site::Router,
            "tomcat" => Site::Tomcat,
            "phpmyadmin" => Site::PhpMyAdmin,
            "corporate" | "login" => Site::Corporate,
            _ => return None,
        })
    }

    /// The site a decky shows when not configured: by archetype, OS family
    /// and the persona's server header.
    pub fn for_decky(decky: &DeckyCtx, server: &str) -> Site {
        if decky.persona.family() == OsFamily::Embedded {
            return Site::Router;
        }
        if server.starts_with("Microsoft-IIS") {
            return Site::Iis;
        }
        match decky.spec.archetype.as_deref() {
            Some("web-server") => return Site::Corporate,
            Some("database-server") => return Site::PhpMyAdmin,
            Some("devops-host") => return Site::Tomcat,
            Some("iot-device") | Some("printer") => return Site::Router,
            _ => {}
        }
        match Flavour::of(server) {
            Flavour::Apache => Site::Apache,
            Flavour::Nginx => Site::Nginx,
            Flavour::Generic => Site::Corporate,
        }
    }
}

/// Per-decky HTTP state: the persona's server header and pages.
pub struct HttpHandler {
    server_name: String,
    flavour: Flavour,
    /// Port named in Apache's address line (80, or 443 behind TLS).
    port: u16,
    /// `/.env`, `/.git/config`, `robots.txt` served.
    bait_files: bool,
    /// The default page's file validators.
    file_meta: FileMeta,
    site: Site,
    title: String,
    realm: String,
    fqdn: String,
    org: String,
    env_file: String,
    git_config: String,
    /// The `/` page, built once: it is what most scanners ask for.
    home_page: Bytes,
    /// DECNET's `response_code`: the status of every page answered.
    response_code: Option<u16>,
    /// The decky's `/var/www/html`: `/` once edited, and every file there.
    web_root: WebRoot,
    /// Apache's scoreboard, behind `/server-status` for local clients.
    scoreboard: Option<Scoreboard>,
}

impl Service for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        validate_cfg(cfg)
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        Ok(Arc::new(HttpHandler::new(decky, "http")?))
    }
}

/// Checks the keys http and https share (`server_header`, `site`,
/// `response_code`).
pub fn validate_cfg(cfg: &std::collections::BTreeMap<String, String>) -> Result<(), ConfigError> {
    check(cfg, "server_header", SERVER_HEADER_EXPECTED, |h| {
        HeaderValue::from_str(h).is_ok()
    })?;
    check(cfg, "site", SITE_EXPECTED, |s| Site::parse(s).is_some())?;
    check_bool(cfg, "bait_files")?;
    check(
        cfg,
        "response_code",
        "an HTTP status from 200 to 599",
        |c| {
            c.trim()
                .parse::<u16>()
                .is_ok_and(|c| (200..=599).contains(&c))
        },
    )
}

const SERVER_HEADER_EXPECTED: &str = "a valid header value";
const SITE_EXPECTED: &str = "one of nginx, apache, iis, router, tomcat, phpmyadmin, corporate";

impl Handler for HttpHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(self.serve_io(conn.stream, Tagged::new(session)))
    }
}

/// `HTTP/1.1` etc., as the request line named it.
/// A request's first line as the client sent it (method, target,
/// version), what Apache's scoreboard shows.
struct RequestLine<'a>(&'a http1::Head);

impl std::fmt::Display for RequestLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = self.0;
        write!(f, "{} {} {}", h.method, h.target, version_name(h.version))
    }
}

fn version_name(v: http1::Version) -> String {
    match v {
        http1::Version::Http09 => "HTTP/0.9".to_owned(),
        http1::Version::Http(ma, mi) => format!("HTTP/{ma}.{mi}"),
    }
}

fn form_value(body: &[u8], keys: &[&str]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| keys.contains(&k.as_ref()))
        .map(|(_, v)| v.into_owned())
}

const USER_KEYS: &[&str] = &[
    "username",
    "user",
    "login",
    "email",
    "log",
    "pma_username",
    "j_username",
    "uname",
];
const PASS_KEYS: &[&str] = &[
    "password",
    "pass",
    "passwd",
    "pwd",
    "pma_password",
    "j_password",
    "psw",
];

/// Splits a decoded Basic credential at the first colon.
pub fn split_basic(raw: &[u8]) -> (&[u8], &[u8]) {
    match raw.iter().position(|&b| b == b':') {
        Some(i) => (&raw[..i], &raw[i + 1..]),
        None => (raw, &b""[..]),
    }
}

/// Decodes an `Authorization: Basic …` value into (user, password).
pub fn parse_basic(header: &str) -> Option<(String, Vec<u8>)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let (u, p) = split_basic(&raw);
    Some((decnet_core::event::printable(u), p.to_vec()))
}

/// `n` random letters and digits.
fn alnum(rng: &mut impl Rng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| A[rng.gen_range(0..A.len())] as char)
        .collect()
}

/// The bait `/.env` of a Laravel app named `app` on the persona's host.
fn bait_env_file(rng: &mut impl Rng, app: &str, p: &decnet_core::Persona) -> String {
    format!(
        "APP_NAME={app}\nAPP_ENV=production\nAPP_KEY=base64:{key}=\nAPP_DEBUG=false\nAPP_URL=https://{fqdn}\n\nDB_CONNECTION=mysql\nDB_HOST=10.{a}.{b}.{c}\nDB_PORT=3306\nDB_DATABASE={app}\nDB_USERNAME={app}_app\nDB_PASSWORD={dbpw}\n\nMAIL_MAILER=smtp\nMAIL_HOST=mail.{domain}\nMAIL_PORT=587\nMAIL_USERNAME=noreply@{domain}\nMAIL_PASSWORD={mailpw}\n\nAWS_ACCESS_KEY_ID=AKIA{ak}\nAWS_SECRET_ACCESS_KEY={sk}\nAWS_DEFAULT_REGION=eu-west-1\n",
        key = alnum(rng, 43),
        fqdn = p.fqdn(),
        a = rng.gen_range(0..255u8),
        b = rng.gen_range(0..255u8),
        c = rng.gen_range(2..254u8),
        dbpw = alnum(rng, 16),
        domain = p.domain,
        mailpw = alnum(rng, 14),
        ak = alnum(rng, 16).to_uppercase(),
        sk = alnum(rng, 40),
    )
}

impl HttpHandler {
    /// Prepares the site of `decky` for `service` (`http` or `https`).
    pub fn new(decky: &Arc<DeckyCtx>, service: &'static str) -> Result<Self, ServiceError> {
        let cfg = |k: &str| {
            decky
                .config(service, k)
                .or_else(|| decky.config("http", k))
                .map(str::to_owned)
        };
        let server_name = server_name_of(decky, service);
        if HeaderValue::from_str(&server_name).is_err() {
            return Err(ServiceError::Config {
                service,
                source: ConfigError::Unsupported {
                    key: "server_header",
                    value: server_name.clone(),
                    expected: SERVER_HEADER_EXPECTED,
                },
            });
        }
        let site = site_of(decky, service, &server_name)?;
        let p = &decky.persona;
        let org_word = p.domain.split('.').next().unwrap_or("corp");
        let org = match org_word {
            "corp" | "ad" | "office" | "hq" | "int" => "Intranet".to_owned(),
            w => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            }
        };
        let title = cfg("title").unwrap_or_else(|| match site {
            Site::Router => "Router Login".to_owned(),
            Site::PhpMyAdmin => "phpMyAdmin".to_owned(),
            Site::Tomcat => "Apache Tomcat/9.0.85".to_owned(),
            _ => format!("{org} - Sign in"),
        });
        let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("http-bait");
        let app = ["portal", "intranet", "crm", "shop", "billing"][rng.gen_range(0..5)];
        let env_file = bait_env_file(&mut rng, app, p);
        let git_config = format!(
            "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n[remote \"origin\"]\n\turl = git@git.{domain}:web/{app}.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n",
            domain = p.domain,
        );
        // The default page was installed with the packages, some time
        // before the persona's package state.
        let installed = chrono::NaiveDate::parse_from_str(p.distro.packages_date, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp())
            .unwrap_or(1_700_000_000);
        let file_meta = FileMeta {
            mtime: installed - rng.gen_range(3_600..30 * 86_400),
            micros: rng.gen_range(0..1_000_000),
        };
        let bare = matches!(site, Site::Nginx | Site::Apache);
        let mut h = HttpHandler {
            flavour: Flavour::of(&server_name),
            server_name,
            port: if service == "https" { 443 } else { 80 },
            bait_files: cfg("bait_files")
                .and_then(|v| parse_bool(&v))
                .unwrap_or(!bare),
            file_meta,
            site,
            title,
            realm: p.fqdn(),
            fqdn: p.fqdn(),
            org,
            env_file,
            git_config,
            home_page: Bytes::new(),
            response_code: cfg("response_code").and_then(|c| c.trim().parse::<u16>().ok()),
            web_root: WebRoot::new(crate::LazyVfs::Decky(decky.clone())),
            scoreboard: (site == Site::Apache).then(|| {
                Scoreboard::new(
                    p.boot_time,
                    &decnet_core::DeckySeed::new(decky.name(), decky.generation),
                )
            }),
        };
        h.home_page = Bytes::from(h.home_body(p.distro.os_id));
        // Debian's nginx ships its page as index.nginx-debian.html, so
        // /index.html is a 404 there until someone writes one.
        let packaged = match h.site {
            Site::Nginx => "index.nginx-debian.html",
            _ => "index.html",
        };
        let home = h.home_page.clone();
        decky.on_vfs(move |vfs| web_root::claim(vfs, &home, packaged));
        Ok(h)
    }

    /// The `Server:` header value.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// The site shown.
    pub fn site(&self) -> Site {
        self.site
    }

    /// Serves HTTP/1.x on any stream until the client is done.
    pub async fn serve_io<I: Io + 'static>(self: Arc<Self>, io: I, tagged: Tagged) {
        http1::serve(&*self, io, tagged).await
    }

    async fn handle(&self, req: &Request, t: &Tagged) -> Reply {
        let r = self.answer(req, t).await;
        if let Some(board) = &self.scoreboard {
            let head = &req.head;
            board.record(
                t.session.peer.ip(),
                (t.session.local.ip(), self.port),
                RequestLine(head),
                r.body.len() as u64 + 200,
            );
        }
        r
    }

    async fn answer(&self, req: &Request, t: &Tagged) -> Reply {
        let path = req.path.as_str();
        let head = &req.head;
        let ua = head
            .field("user-agent")
            .map(|v| decnet_core::event::printable(v.as_bytes()))
            .unwrap_or_default();
        let headers: serde_json::Map<String, serde_json::Value> = head
            .fields
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .take(MAX_EVENT_HEADERS)
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    String::from_utf8_lossy(v).into_owned().into(),
                )
            })
            .collect();
        let body = &req.body;
        let excerpt = decnet_core::event::printable(&body[..body.len().min(BODY_EXCERPT)]);
        t.emit(
            EventKind::Request,
            fields! {
                "method" => head.method.as_str(),
                "path" => path,
                "query" => req.query.as_str(),
                "user_agent" => ua,
                "headers" => serde_json::Value::Object(headers),
                "body" => excerpt,
                "body_len" => body.len() as u64,
                "version" => version_name(head.version),
            },
        );
        let bare = matches!(self.site, Site::Nginx | Site::Apache);

        if let Some((user, pass)) = head.field("authorization").as_deref().and_then(parse_basic) {
            t.emit_auth(
                &user,
                "password",
                &pass,
                false,
                fields! {"method" => "basic", "path" => path},
            );
            // A stock server protects nothing: it ignores the header.
            if !bare {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if is_git_path(path) {
                    return self.git_challenge();
                }
                return self.basic_challenge(head);
            }
        }
        if is_git_path(path) && !bare {
            return self.git_challenge();
        }

        if head.method == "POST" {
            let user = form_value(body, USER_KEYS);
            let pass = form_value(body, PASS_KEYS);
            if user.is_some() || pass.is_some() {
                let user = user.unwrap_or_default();
                let pass = pass.unwrap_or_default();
                t.emit_auth(
                    &user,
                    "password",
                    pass.as_bytes(),
                    false,
                    fields! {"method" => "form", "path" => path},
                );
                if !bare {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if path.starts_with("/wp-login") {
                        return self.wp_login(Some(&user));
                    }
                    return self.login_page(Some("Invalid username or password."), 200);
                }
            }
        }
        // `OPTIONS *` asks the server itself, not a resource.
        if head.method == "OPTIONS" && head.target == "*" && self.flavour == Flavour::Apache {
            let mut r = Reply::new(200, "", Bytes::new());
            r.content_type = None;
            return r;
        }
        if let Some(page) = self.server_status(req, t) {
            return page;
        }
        let mut r = self.route(path, head);
        r = self.apply_method(r, head);
        if r.file.is_some() {
            r = self.conditional(r, head);
        }
        if let Some(code) = self.response_code {
            r.status = code;
        }
        r
    }

    /// The static handler's method rules, for the page (or the missing
    /// file) a route found.
    fn apply_method(&self, r: Reply, head: &http1::Head) -> Reply {
        let exists = r.file.is_some();
        if !exists && r.status != 404 {
            return r;
        }
        match self.flavour.static_method_gate(&head.method, exists) {
            None => r,
            Some(MethodAnswer::Error(code)) => self.error(code, head),
            Some(MethodAnswer::Options) => {
                let mut o = Reply::new(200, "text/html", Bytes::new())
                    .with("Allow", http1::flavour::APACHE_ALLOW.to_owned());
                if !exists {
                    o.content_type = None;
                }
                o
            }
            Some(MethodAnswer::NotAllowed(allow)) => {
                self.error(405, head).with("Allow", allow.to_owned())
            }
            Some(MethodAnswer::NotImplemented(allow)) => {
                self.error(501, head).with("Allow", allow.to_owned())
            }
        }
    }

    /// Ranges and validators on a static file (nginx and Apache both
    /// answer one `bytes=` range with 206, and an exact `If-None-Match`
    /// or `If-Modified-Since` with 304).
    fn conditional(&self, mut r: Reply, head: &http1::Head) -> Reply {
        if r.status != 200 || !matches!(head.method.as_str(), "GET" | "HEAD") {
            return r;
        }
        let Some(meta) = r.file else {
            return r;
        };
        // Formatted only when asked: most requests carry no validator.
        let unmodified = head
            .field("if-modified-since")
            .is_some_and(|since| since == http1::flavour::http_date(meta.mtime));
        if unmodified {
            r.status = 304;
            r.content_type = None;
            return r;
        }
        let len = r.body.len();
        if let Some((from, to)) = head
            .field("range")
            .as_deref()
            .and_then(|v| byte_range(v, len))
        {
            r.status = 206;
            r.content_range = Some(format!("bytes {from}-{to}/{len}"));
            r.body = r.body.slice(from..=to);
        }
        r
    }

    /// mod_status for a local client (Debian's `Require local`); remote
    /// clients fall through to the route's 403.
    fn server_status(&self, req: &Request, t: &Tagged) -> Option<Reply> {
        let board = self.scoreboard.as_ref()?;
        let head = &req.head;
        let (peer, local) = (t.session.peer, t.session.local);
        if !req.path.eq_ignore_ascii_case("/server-status")
            || !matches!(head.method.as_str(), "GET" | "HEAD")
            || !server_status::is_local(peer.ip(), local.ip())
        {
            return None;
        }
        let (host, port) = http1::request_host(head, self.port);
        let request_line = RequestLine(head).to_string();
        let vhost = format!("{}:{}", local.ip(), self.port);
        let asker = Asker {
            host: &host,
            port,
            peer,
            local,
            vhost: &vhost,
            request_line: &request_line,
            query: &req.query,
        };
        // Read here, not at bind: the host's figures live with the decky's
        // filesystem, which is generated on first use.
        let load = self.web_root.vfs().host().load_average();
        let page = board.page(&self.server_name, load, &asker);
        let ctype = if req.query.contains("auto") {
            "text/plain; charset=ISO-8859-1"
        } else {
            "text/html; charset=ISO-8859-1"
        };
        let mut r = Reply::new(200, ctype, page).with("Vary", "Accept-Encoding".to_owned());
        if req.query.contains("refresh") {
            let secs = req
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("refresh="))
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|v| *v > 0)
                .unwrap_or(1);
            r = r.with("Refresh", secs.to_string());
        }
        Some(r)
    }

    fn route(&self, path: &str, head: &http1::Head) -> Reply {
        let lower = path.to_ascii_lowercase();
        if self.bait_files {
            match (self.site, lower.as_str()) {
                (_, "/robots.txt") => {
                    return self.text(match self.site {
                        Site::Corporate => {
                            "User-agent: *\nDisallow: /wp-admin/\nAllow: /wp-admin/admin-ajax.php\n"
                        }
                        _ => "User-agent: *\nDisallow: /admin/\n",
                    })
                }
                (Site::Nginx | Site::Apache | Site::Corporate | Site::PhpMyAdmin, "/.env") => {
                    return self.text(&self.env_file)
                }
                (Site::Nginx | Site::Apache | Site::Corporate, "/.git/config") => {
                    return self.text(&self.git_config)
                }
                (Site::Nginx | Site::Apache | Site::Corporate, "/.git/head") => {
                    return self.text("ref: refs/heads/main\n")
                }
                _ => {}
            }
        }
        match (self.site, lower.as_str()) {
            // Debian's Apache: mod_status for local clients only (see
            // `server_status`), and the /icons/ alias without directory
            // listings. mod_info is not enabled: /server-info is a 404.
            (Site::Apache, "/server-status" | "/icons/") => return self.error(403, head),
            (Site::Corporate, "/wp-login.php") => return self.wp_login(None),
            (Site::Corporate, "/wp-admin" | "/wp-admin/") => {
                return self.redirect("/wp-login.php?redirect_to=%2Fwp-admin%2F&reauth=1")
            }
            (Site::Tomcat, "/manager/html" | "/manager/status" | "/host-manager/html") => {
                return self.basic_challenge(head)
            }
            (Site::Router, "/admin" | "/cgi-bin/luci" | "/setup.cgi") => {
                return self.basic_challenge(head)
            }
            (Site::PhpMyAdmin, "/phpmyadmin" | "/phpmyadmin/" | "/pma/" | "/index.php") => {
                return self.login_page(None, 200)
            }
            // The default page's own file name in each distribution.
            (Site::Nginx, "/" | "/index.nginx-debian.html") => return self.home(),
            (Site::Apache, "/" | "/index.html") => return self.home(),
            (Site::Nginx | Site::Apache, _) => return self.web_root_file(path, head),
            _ => {}
        }
        match lower.as_str() {
            "/" | "/index.html" | "/index.htm" | "/iisstart.htm" => self.home(),
            "/login" | "/login.html" | "/login.cgi" | "/login.php" | "/signin" => {
                if self.site == Site::Iis {
                    self.error(404, head)
                } else {
                    self.login_page(None, 200)
                }
            }
            "/admin" | "/admin/" if self.site == Site::Corporate => self.basic_challenge(head),
            _ => self.web_root_file(path, head),
        }
    }

    /// A file under the decky's document root (what an attacker uploaded
    /// or wrote there), 403 for a directory without an index (listings
    /// are off, as packaged), else the server's 404.
    fn web_root_file(&self, path: &str, head: &http1::Head) -> Reply {
        match self.web_root.find(path) {
            Found::File(body, ctype) => Reply::new(200, ctype, body),
            Found::Directory => self.error(403, head),
            Found::Nothing => self.error(404, head),
        }
    }

    fn page(&self, status: u16, body: String) -> Reply {
        Reply::new(status, "text/html; charset=utf-8", body)
    }

    fn text(&self, body: &str) -> Reply {
        Reply::new(200, "text/plain", body.to_owned())
    }

    fn redirect(&self, to: &'static str) -> Reply {
        self.page(302, String::new())
            .with("Location", to.to_owned())
    }

    /// The server's own error page.
    fn error(&self, code: u16, head: &http1::Head) -> Reply {
        http1::error_reply(self, code, Some(head))
    }

    fn basic_challenge(&self, head: &http1::Head) -> Reply {
        let realm = match self.site {
            Site::Tomcat => "Tomcat Manager Application".to_owned(),
            Site::Router => self.title.clone(),
            _ => self.realm.clone(),
        };
        self.error(401, head)
            .with("WWW-Authenticate", format!("Basic realm=\"{realm}\""))
    }

    /// What a private repository behind git's smart HTTP answers (Gitea,
    /// GitLab, git-http-backend behind auth_basic): a login challenge, so
    /// git sends the login it holds (from the remote URL, a credential
    /// helper) and the decky records it.
    fn git_challenge(&self) -> Reply {
        Reply::new(401, "text/plain; charset=utf-8", "Unauthorized\n")
            .with("WWW-Authenticate", "Basic realm=\"Git\"".to_owned())
    }

    fn home(&self) -> Reply {
        // The page in the document root: the persona's own unless someone
        // has edited or replaced it since.
        let page = match self.web_root.home() {
            Some(edited) if edited[..] != self.home_page[..] => Bytes::from(edited),
            _ => self.home_page.clone(),
        };
        let mut r = match self.site {
            // The packaged default pages are plain files.
            Site::Nginx | Site::Apache => Reply::new(200, "text/html", page),
            _ => Reply::new(200, "text/html; charset=utf-8", page),
        };
        if matches!(self.site, Site::Nginx | Site::Apache | Site::Iis) {
            r.file = Some(self.file_meta);
        }
        r
    }

    fn home_body(&self, os_id: &str) -> String {
        match self.site {
            Site::Nginx => NGINX_INDEX.to_owned(),
            Site::Apache => match os_id {
                "debian" | "kali" => APACHE_DEBIAN_INDEX.to_owned(),
                "ubuntu" => APACHE_DEBIAN_INDEX.replace("Debian", "Ubuntu"),
                _ => APACHE_INDEX.replace("{host}", &html_escape(&self.fqdn)),
            },
            Site::Iis => IIS_INDEX.to_owned(),
            Site::Tomcat => TOMCAT_INDEX.to_owned(),
            Site::Router | Site::PhpMyAdmin | Site::Corporate => self.login_body(None),
        }
    }

    fn wp_login(&self, failed_user: Option<&str>) -> Reply {
        let err = failed_user
            .map(|u| {
                format!(
                    "<div id=\"login_error\"><strong>Error:</strong> The password you entered for the username <strong>{}</strong> is incorrect.</div>\n",
                    html_escape(u)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<meta charset=\"UTF-8\">\n<title>Log In &lsaquo; {org} &#8212; WordPress</title>\n<meta name=\"robots\" content=\"noindex, nofollow\">\n<link rel=\"stylesheet\" href=\"/wp-admin/css/login.min.css?ver=6.5.3\">\n</head>\n<body class=\"login wp-core-ui\">\n<div id=\"login\">\n<h1><a href=\"https://wordpress.org/\">Powered by WordPress</a></h1>\n{err}<form name=\"loginform\" id=\"loginform\" action=\"/wp-login.php\" method=\"post\">\n<p><label for=\"user_login\">Username or Email Address</label>\n<input type=\"text\" name=\"log\" id=\"user_login\" class=\"input\" size=\"20\"></p>\n<div class=\"user-pass-wrap\"><label for=\"user_pass\">Password</label>\n<input type=\"password\" name=\"pwd\" id=\"user_pass\" class=\"input password-input\" size=\"20\"></div>\n<p class=\"submit\"><input type=\"submit\" name=\"wp-submit\" id=\"wp-submit\" class=\"button button-primary button-large\" value=\"Log In\">\n<input type=\"hidden\" name=\"redirect_to\" value=\"/wp-admin/\"><input type=\"hidden\" name=\"testcookie\" value=\"1\"></p>\n</form>\n<p id=\"nav\"><a href=\"/wp-login.php?action=lostpassword\">Lost your password?</a></p>\n</div>\n</body>\n</html>\n",
            org = html_escape(&self.org)
        );
        self.page(200, body)
    }

    fn login_page(&self, error: Option<&str>, status: u16) -> Reply {
        self.page(status, self.login_body(error))
    }

    fn login_body(&self, error: Option<&str>) -> String {
        let err = error
            .map(|e| format!("<p class=\"err\">{e}</p>"))
            .unwrap_or_default();
        let title = html_escape(&self.title);
        match self.site {
            Site::PhpMyAdmin => format!(
                "<!DOCTYPE HTML>\n<html lang=\"en\" dir=\"ltr\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"robots\" content=\"noindex,nofollow\">\n<title>phpMyAdmin</title>\n<link rel=\"stylesheet\" type=\"text/css\" href=\"./themes/pmahomme/css/theme.css?v=5.2.1\">\n</head>\n<body id=\"loginform\">\n<div class=\"container\">\n<h1>Welcome to <bdo dir=\"ltr\" lang=\"en\">phpMyAdmin</bdo></h1>\n{err}\n<form method=\"post\" id=\"login_form\" action=\"index.php?route=/\" name=\"login_form\" class=\"disableAjax hide js-show\">\n<fieldset class=\"pma-fieldset\"><legend>Log in</legend>\n<div class=\"item\"><label for=\"input_username\">Username:</label><input type=\"text\" name=\"pma_username\" id=\"input_username\" value=\"\" size=\"24\" class=\"textfield\" autocomplete=\"username\"></div>\n<div class=\"item\"><label for=\"input_password\">Password:</label><input type=\"password\" name=\"pma_password\" id=\"input_password\" value=\"\" size=\"24\" class=\"textfield\" autocomplete=\"current-password\"></div>\n<input type=\"hidden\" name=\"server\" value=\"1\">\n</fieldset>\n<fieldset class=\"pma-fieldset tblFooters\"><input class=\"btn btn-primary\" value=\"Go\" type=\"submit\" id=\"input_go\"></fieldset>\n</form>\n</div>\n</body>\n</html>\n"
            ),
            Site::Router => format!(
                "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>body{{background:#e9edf1;font-family:Verdana,sans-serif}}.box{{width:300px;margin:100px auto;background:#fff;border:1px solid #aab;padding:20px}}input{{width:100%;margin:4px 0 12px}}.err{{color:#c00}}</style>\n</head>\n<body>\n<div class=\"box\">\n<h3>{title}</h3>\n{err}\n<form method=\"post\" action=\"/login.cgi\">\nUser Name<input type=\"text\" name=\"username\" maxlength=\"32\">\nPassword<input type=\"password\" name=\"password\" maxlength=\"64\">\n<input type=\"submit\" value=\"Login\">\n</form>\n</div>\n</body>\n</html>\n"
            ),
            _ => format!(
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>body{{font-family:Arial,sans-serif;background:#f2f4f7}}form{{width:320px;margin:120px auto;background:#fff;padding:24px;border-radius:6px;box-shadow:0 1px 4px #0002}}input{{width:100%;margin:6px 0 14px;padding:8px;box-sizing:border-box}}.err{{color:#b00}}</style>\n</head>\n<body>\n<form method=\"post\" action=\"/login\">\n<h2>{title}</h2>\n{err}\n<label>Username<input name=\"username\" autocomplete=\"username\"></label>\n<label>Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\n<button type=\"submit\">Sign in</button>\n</form>\n</body>\n</html>\n"
            ),
        }
    }
}

impl http1::Site for HttpHandler {
    fn server(&self) -> &str {
        &self.server_name
    }

    fn flavour(&self) -> Flavour {
        self.flavour
    }

    fn default_port(&self) -> u16 {
        self.port
    }

    fn respond<'a>(&'a self, req: &'a Request, t: &'a Tagged) -> BoxFuture<'a, Reply> {
        Box::pin(self.handle(req, t))
    }
}

/// One `bytes=` range of a `len`-byte file, as (first, last) offsets.
fn byte_range(spec: &str, len: usize) -> Option<(usize, usize)> {
    let r = spec.trim().strip_prefix("bytes=")?;
    if r.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = r.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (from, to) = if a.is_empty() {
        let n: usize = b.parse().ok()?;
        (len.saturating_sub(n), len - 1)
    } else {
        let from: usize = a.parse().ok()?;
        let to = if b.is_empty() {
            len - 1
        } else {
            b.parse::<usize>().ok()?.min(len - 1)
        };
        (from, to)
    };
    (from <= to && from < len).then_some((from, to))
}

/// The site a decky's web service shows: its `site`, else DECNET's
/// `fake_app` when decnet has that skin (the others are warned about by the
/// fleet validator), else the persona's own.
fn site_of(
    decky: &DeckyCtx,
    service: &'static str,
    server_name: &str,
) -> Result<Site, ServiceError> {
    let cfg = |k: &str| decky.config(service, k).or_else(|| decky.config("http", k));
    match cfg("site").or_else(|| cfg("fake_app").filter(|a| Site::parse(a).is_some())) {
        Some(s) => Site::parse(s).ok_or_else(|| ServiceError::Config {
            service,
            source: ConfigError::Unsupported {
                key: "site",
                value: s.to_owned(),
                expected: SITE_EXPECTED,
            },
        }),
        None => Ok(Site::for_decky(decky, server_name)),
    }
}

/// True when the decky's http service challenges git's smart HTTP for a
/// login (an application site does; a stock nginx or Apache answers 404
/// as the packaged server would), so a git canary token's remote can
/// point at it and git sends the token's login there.
pub fn answers_git(decky: &DeckyCtx) -> bool {
    let server = server_name_of(decky, "http");
    site_of(decky, "http", &server).is_ok_and(|s| !matches!(s, Site::Nginx | Site::Apache))
}

/// The `Server` header the service sends: its `server_header` (or the
/// http section's), else the persona's.
fn server_name_of(decky: &DeckyCtx, service: &str) -> String {
    decky
        .config(service, "server_header")
        .or_else(|| decky.config("http", "server_header"))
        .map_or_else(|| decky.persona.http_server.clone(), str::to_owned)
}

/// A request of git's smart HTTP protocol: ref discovery or a pack
/// exchange of a `*.git` repository.
fn is_git_path(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.contains(".git/")
        && (p.ends_with("/info/refs")
            || p.ends_with("/git-upload-pack")
            || p.ends_with("/git-receive-pack"))
}

const NGINX_INDEX: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n<style>\nhtml { color-scheme: light dark; }\nbody { width: 35em; margin: 0 auto;\nfont-family: Tahoma, Verdana, Arial, sans-serif; }\n</style>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully installed and\nworking. Further configuration is required.</p>\n\n<p>For online documentation and support please refer to\n<a href=\"http://nginx.org/\">nginx.org</a>.<br/>\nCommercial support is available at\n<a href=\"http://nginx.com/\">nginx.com</a>.</p>\n\n<p><em>Thank you for using nginx.</em></p>\n</body>\n</html>\n";

const APACHE_INDEX: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\">\n  <head>\n    <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n    <title>Apache2 Default Page: It works</title>\n  </head>\n  <body>\n    <div class=\"main_page\">\n      <div class=\"page_header floating_element\">\n        <span class=\"floating_element\">Apache2 Default Page</span>\n      </div>\n      <div class=\"content_section floating_element\">\n        <div class=\"section_header section_header_red\">It works!</div>\n        <div class=\"content_section_text\">\n          <p>This is the default welcome page used to test the correct operation of the Apache2 server after installation on {host}. It is based on the equivalent page on Debian, from which the packaging is derived.</p>\n          <p>If you are a normal user of this web site and don't know what this page is about, this probably means that the site is currently unavailable due to maintenance.</p>\n        </div>\n      </div>\n    </div>\n  </body>\n</html>\n";

/// Debian's `/var/www/html/index.html` from the apache2 package, as shipped.
const APACHE_DEBIAN_INDEX: &str = include_str!("../../../assets/apache-debian-index.html");

const IIS_INDEX: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\r\n<html xmlns=\"http://www.w3.org/1999/xhtml\">\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\" />\r\n<title>IIS Windows Server</title>\r\n<style type=\"text/css\">\r\n<!--\r\nbody {\r\n\tcolor:#000000;\r\n\tbackground-color:#0072C6;\r\n\tmargin:0;\r\n}\r\n\r\n#container {\r\n\tmargin-left:auto;\r\n\tmargin-right:auto;\r\n\ttext-align:center;\r\n\t}\r\n\r\na img {\r\n\tborder:none;\r\n}\r\n\r\n-->\r\n</style>\r\n</head>\r\n<body>\r\n<div id=\"container\">\r\n<a href=\"http://go.microsoft.com/fwlink/?linkid=66138&amp;clcid=0x409\"><img src=\"iisstart.png\" alt=\"IIS\" width=\"960\" height=\"600\" /></a>\r\n</div>\r\n</body>\r\n</html>";

const TOMCAT_INDEX: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"UTF-8\" />\n        <title>Apache Tomcat/9.0.85</title>\n        <link href=\"favicon.ico\" rel=\"icon\" type=\"image/x-icon\" />\n        <link href=\"tomcat.css\" rel=\"stylesheet\" type=\"text/css\" />\n    </head>\n    <body>\n        <div id=\"wrapper\">\n            <div id=\"navigation\" class=\"curved container\">\n                <span id=\"nav-home\"><a href=\"https://tomcat.apache.org/\">Home</a></span>\n                <span id=\"nav-hosts\"><a href=\"/docs/\">Documentation</a></span>\n                <span id=\"nav-config\"><a href=\"/docs/config/\">Configuration</a></span>\n            </div>\n            <div id=\"asf-box\">\n                <h1>Apache Tomcat/9.0.85</h1>\n            </div>\n            <div id=\"upper\" class=\"curved container\">\n                <div id=\"congrats\" class=\"curved container\">\n                    <h2>If you're seeing this, you've successfully installed Tomcat. Congratulations!</h2>\n                </div>\n                <div id=\"actions\">\n                    <div class=\"button\"><a class=\"container shadow\" href=\"/manager/status\"><span>Server Status</span></a></div>\n                    <div class=\"button\"><a class=\"container shadow\" href=\"/manager/html\"><span>Manager App</span></a></div>\n                    <div class=\"button\"><a class=\"container shadow\" href=\"/host-manager/html\"><span>Host Manager</span></a></div>\n                </div>\n            </div>\n        </div>\n    </body>\n</html>\n";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn git_smart_http_paths_are_recognised() {
        assert!(is_git_path("/ops/infra-a1b2.git/info/refs"));
        assert!(is_git_path("/ops/Infra.GIT/git-upload-pack"));
        assert!(is_git_path("/x.git/git-receive-pack"));
        assert!(
            !is_git_path("/.git/config"),
            "scanners' /.git/config stays a file"
        );
        assert!(!is_git_path("/info/refs"));
        assert!(!is_git_path("/x.git/HEAD"));
    }

    #[test]
    fn basic_header_decoding() {
        let (u, p) = parse_basic("Basic YWRtaW46czNjcjN0OngK").unwrap();
        assert_eq!(u, "admin");
        assert_eq!(p, b"s3cr3t:x\n");
        assert_eq!(
            parse_basic("basic cm9vdA==").unwrap(),
            ("root".into(), vec![])
        );
        assert!(parse_basic("Bearer abc").is_none());
        assert!(parse_basic("Basic !!!").is_none());
    }

    #[test]
    fn form_fields() {
        let body = b"log=admin&pwd=p%40ss&wp-submit=Log+In";
        assert_eq!(form_value(body, USER_KEYS).as_deref(), Some("admin"));
        assert_eq!(form_value(body, PASS_KEYS).as_deref(), Some("p@ss"));
    }

    #[test]
    fn version_names_as_sent() {
        assert_eq!(version_name(http1::Version::Http09), "HTTP/0.9");
        assert_eq!(version_name(http1::Version::Http(1, 0)), "HTTP/1.0");
        assert_eq!(version_name(http1::Version::Http(2, 0)), "HTTP/2.0");
    }

    #[test]
    fn single_byte_ranges() {
        assert_eq!(byte_range("bytes=0-9", 615), Some((0, 9)));
        assert_eq!(byte_range("bytes=600-", 615), Some((600, 614)));
        assert_eq!(byte_range("bytes=-5", 615), Some((610, 614)));
        assert_eq!(byte_range("bytes=0-9999", 615), Some((0, 614)));
        assert_eq!(byte_range("bytes=700-800", 615), None);
        assert_eq!(byte_range("bytes=0-1,4-5", 615), None);
        assert_eq!(byte_range("items=0-1", 615), None);
    }

    proptest! {
        #[test]
        fn auth_parsers_never_panic(h in ".{0,200}", body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_basic(&h);
            let _ = form_value(&body, USER_KEYS);
            let _ = split_basic(&body);
        }
    }
}
