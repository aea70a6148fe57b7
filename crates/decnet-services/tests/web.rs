//! http/https driven by reqwest (rustls): persona pages, scanner paths,
//! Basic and form logins captured, TLS fingerprint and persona certificate.
#![allow(clippy::unwrap_used)]

mod webmail_util;

use decnet_core::EventKind;
use decnet_services::Limits;
use webmail_util::{s, Env};

const INI: &str = "[general]\nnet = 127.0.62.0/24\n\n[webcorp]\nip = 127.0.62.10\nservices = http, https\narchetype = web-server\ndistro = debian\n\n[webnginx]\nip = 127.0.62.11\nservices = http\ndistro = debian\n\n[webnginx.http]\nsite = nginx\nserver_header = nginx/1.22.1\n\n[webapache]\nip = 127.0.62.12\nservices = http\ndistro = debian\n\n[webapache.http]\nsite = apache\nserver_header = Apache/2.4.62 (Debian)\n";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn http_pages_scanner_paths_and_logins() {
    let mut env = Env::start(INI, 20100, Limits::default()).await;
    let c = client();
    let base = format!("http://{}", env.addr("127.0.62.10", 80));

    let r = c
        .get(format!("{base}/"))
        .header("User-Agent", "Mozilla/5.0 test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let server = r.headers()["server"].to_str().unwrap().to_owned();
    assert!(
        server.starts_with("nginx/") || server.starts_with("Apache/"),
        "{server}"
    );
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<form") && body.contains("password"),
        "{body}"
    );
    assert!(!body.to_lowercase().contains("decnet") && !body.contains("webcorp"));
    let ev = env
        .wait_kind("http", EventKind::Request, |e| s(e, "path") == "/")
        .await;
    assert_eq!(s(&ev, "method"), "GET");
    assert_eq!(s(&ev, "user_agent"), "Mozilla/5.0 test");

    // Form login.
    let r = c
        .post(format!("{base}/login"))
        .form(&[("username", "alice"), ("password", "Winter2024!")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Invalid username or password"));
    let ev = env
        .wait_kind("http", EventKind::AuthAttempt, |e| {
            s(e, "username") == "alice"
        })
        .await;
    assert_eq!(s(&ev, "password"), "Winter2024!");
    assert_eq!(s(&ev, "method"), "form");

    // Basic auth.
    let r = c
        .get(format!("{base}/admin/"))
        .basic_auth("root", Some("toor"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));
    let ev = env
        .wait_kind("http", EventKind::AuthAttempt, |e| {
            s(e, "username") == "root"
        })
        .await;
    assert_eq!(s(&ev, "password"), "toor");
    assert_eq!(s(&ev, "method"), "basic");

    // Scanner paths on the corporate site.
    let env_file = c
        .get(format!("{base}/.env"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(env_file.contains("DB_PASSWORD=") && env_file.contains("APP_KEY="));
    let git = c
        .get(format!("{base}/.git/config"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(git.contains("[remote \"origin\"]"));
    let wp = c.get(format!("{base}/wp-login.php")).send().await.unwrap();
    assert_eq!(wp.status(), 200);
    assert!(wp.text().await.unwrap().contains("name=\"pwd\""));
    let r = c
        .post(format!("{base}/wp-login.php"))
        .form(&[("log", "wpadmin"), ("pwd", "hunter2")])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("is incorrect"));
    let ev = env
        .wait_kind("http", EventKind::AuthAttempt, |e| {
            s(e, "username") == "wpadmin"
        })
        .await;
    assert_eq!(s(&ev, "password"), "hunter2");
    let r = c.get(format!("{base}/nope-{}", 7)).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // The nginx persona.
    let nb = format!("http://{}", env.addr("127.0.62.11", 80));
    let r = c.get(format!("{nb}/")).send().await.unwrap();
    assert_eq!(r.headers()["server"], "nginx/1.22.1");
    assert!(r.text().await.unwrap().contains("Welcome to nginx!"));
    let r = c.get(format!("{nb}/server-status")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<center>nginx/1.22.1</center>"));

    // Oversized body: 413 and an error event.
    let r = c
        .post(format!("{nb}/upload"))
        .body(vec![b'x'; 200_000])
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    env.wait_kind("http", EventKind::Error, |e| {
        s(e, "error").contains("body over")
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn https_persona_certificate_and_fingerprint() {
    let mut env = Env::start(INI, 20200, Limits::default()).await;
    let c = client();
    let base = format!("https://{}", env.addr("127.0.62.10", 443));
    let r = c.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let info = r
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("tls info")
        .clone();
    let cert = info.peer_certificate().expect("peer cert").to_vec();
    let decky = env.fleet.decky("webcorp").await.unwrap();
    let fqdn = decky.persona.fqdn();
    assert!(
        cert.windows(fqdn.len()).any(|w| w == fqdn.as_bytes()),
        "certificate names {fqdn}"
    );
    assert!(
        !cert.windows(7).any(|w| w == b"webcorp"),
        "decky name not in cert"
    );
    // Debian's snakeoil: rsaEncryption, a 2048-bit modulus (257-byte
    // INTEGER), signed sha256WithRSAEncryption.
    let rsa_oid = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01";
    let sha256_rsa = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b";
    assert!(cert.windows(11).any(|w| w == rsa_oid), "RSA key");
    assert!(cert.windows(11).any(|w| w == sha256_rsa), "sha256WithRSA");
    assert!(cert.windows(5).any(|w| w == b"\x02\x82\x01\x01\x00"));
    let body = r.text().await.unwrap();
    assert!(body.contains("<form"));

    let hello = env
        .wait_kind("https", EventKind::Scan, |e| {
            s(e, "event_type") == "tls_client_hello"
        })
        .await;
    let ja3 = s(&hello, "ja3").to_owned();
    let ja4 = s(&hello, "ja4").to_owned();
    assert_eq!(ja3.len(), 32, "{hello:?}");
    assert!(ja4.starts_with("t13i") || ja4.starts_with("t12i"), "{ja4}");

    let r = c
        .post(format!("{base}/login"))
        .form(&[("username", "bob"), ("password", "s3cret")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let auth = env
        .wait_kind("https", EventKind::AuthAttempt, |e| {
            s(e, "username") == "bob"
        })
        .await;
    assert_eq!(s(&auth, "password"), "s3cret");
    assert_eq!(s(&auth, "ja3"), ja3, "fingerprint stamped on later events");
    assert_eq!(s(&auth, "ja4"), ja4);

    // Same certificate after a restart (cached under the decky's data dir).
    let cert_path = decky.data_dir.join("tls/snakeoil.pem");
    assert!(cert_path.exists());
    let again = decnet_services::tls::TlsIdentity::for_decky(&decky, "https", &[]).unwrap();
    assert!(again.is_ready(), "loaded at bind");
    assert_eq!(
        again.ready().await.unwrap().cert_der.as_ref(),
        &cert[..],
        "cached certificate reused"
    );

    // Plain HTTP on the TLS port: nginx's 400.
    let plain = format!("http://{}", env.addr("127.0.62.10", 443));
    let r = c.get(format!("{plain}/")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("plain HTTP request was sent to HTTPS port"));
    env.stop().await;
}

/// Sends `req` on a fresh connection and reads until the server closes
/// (or 3 s pass: a server still waiting for more).
async fn exchange(addr: std::net::SocketAddr, req: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(req).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), c.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// Drops the Date line, which changes every second.
fn undated(s: &str) -> String {
    s.split("\r\n")
        .filter(|l| !l.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Bare nginx and Apache personas frame their answers as Debian's nginx
/// 1.22 and Apache 2.4 do: header order, status line, their own error
/// pages, junk refused the way each server refuses it.
#[tokio::test]
async fn bare_nginx_and_apache_personas_answer_as_the_real_servers() {
    let env = Env::start(INI, 21100, Limits::default()).await;
    let nginx = env.addr("127.0.62.11", 80);
    let r = exchange(nginx, b"GET / HTTP/1.0\r\n\r\n").await;
    let head = undated(r.split("\r\n\r\n").next().unwrap());
    let etag_and_more = head.split("Connection: close\r\n").nth(1).unwrap_or("");
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\nContent-Length: 615\r\nLast-Modified: "),
        "{head}"
    );
    assert!(
        etag_and_more.starts_with("ETag: \"")
            && etag_and_more.ends_with("-267\"\r\nAccept-Ranges: bytes"),
        "{head}"
    );
    // Binary with no newline: nginx refuses at the first byte.
    let r = exchange(nginx, b"\x16\x03\x01\x00").await;
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    assert!(
        r.ends_with("<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"),
        "{r}"
    );
    let r = exchange(
        nginx,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=b",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 405 Not Allowed\r\n"), "{r}");
    // A default install has no bait files.
    let r = exchange(nginx, b"GET /.env HTTP/1.1\r\nHost: x\r\n\r\nGET /index.nginx-debian.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
    assert!(
        r.contains("Connection: keep-alive\r\n") && r.contains("</html>\r\nHTTP/1.1 200 OK\r\n"),
        "{r}"
    );

    let apache = env.addr("127.0.62.12", 80);
    let r = exchange(
        apache,
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\nDate: ")
            && head.contains("\r\nServer: Apache/2.4.62 (Debian)\r\nLast-Modified: "),
        "{head}"
    );
    assert!(
        head.ends_with("Accept-Ranges: bytes\r\nContent-Length: 10701\r\nVary: Accept-Encoding\r\nConnection: close\r\nContent-Type: text/html"),
        "{head}"
    );
    assert_eq!(body.len(), 10701);
    assert!(body.contains("Apache2 Debian Default Page"));
    // Debian's `Require local` lets this loopback client read mod_status:
    // the page lists the request above, from this client, on its thread.
    let r = exchange(
        apache,
        b"GET /server-status HTTP/1.1\r\nHost: web.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nVary: Accept-Encoding\r\n")
            && head.ends_with("Content-Type: text/html; charset=ISO-8859-1"),
        "{head}"
    );
    assert!(body.contains("<h1>Apache Server Status for web.example (via 127.0.62.12)</h1>"));
    assert!(body.contains("<dt>Server Version: Apache/2.4.62 (Debian)</dt>"));
    assert!(body.contains("<td>127.0.0.1</td><td>http/1.1</td><td nowrap>127.0.62.12:80</td><td nowrap>GET / HTTP/1.1</td>"), "{body}");
    assert!(body.contains("<td nowrap>GET /server-status HTTP/1.1</td>"));
    assert!(body.ends_with("Server at web.example Port 80</address>\n</body></html>\n"));
    // mod_info is not enabled on Debian.
    let r = exchange(apache, b"GET /server-info HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
    let r = exchange(apache, b"HELP\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    assert!(
        r.contains("<address>Apache/2.4.62 (Debian) Server at 127.0.0.1 Port 80</address>"),
        "{r}"
    );
    // Binary with no newline: Apache is still reading the line.
    assert_eq!(exchange(apache, b"\x16\x03\x01\x00").await, "");
    let r = exchange(
        apache,
        b"FOO / HTTP/1.1\r\nHost: 10.1.2.3\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 501 Not Implemented\r\n"), "{r}");
    assert!(
        r.contains("\r\nAllow: GET,POST,OPTIONS,HEAD\r\n")
            && r.contains("<p>FOO not supported for current URL.<br />"),
        "{r}"
    );
    assert!(r.contains("Server at 10.1.2.3 Port 80"), "{r}");
    env.stop().await;
}

#[tokio::test]
async fn slowloris_headers_time_out_with_an_error_event() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits = Limits {
        idle_timeout: std::time::Duration::from_secs(1),
        ..Limits::default()
    };
    let mut env = Env::start(INI, 20250, limits).await;
    let mut c = tokio::net::TcpStream::connect(env.addr("127.0.62.11", 80))
        .await
        .unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = std::time::Instant::now();
    for _ in 0..4 {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        if c.write_all(b"X-a: b\r\n").await.is_err() {
            break;
        }
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut buf))
        .await
        .expect("server closes");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    env.wait_kind("http", EventKind::Error, |e| {
        s(e, "error").contains("timeout")
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn windows_persona_iis_ftp_and_exchange_banners() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let ini = "[general]\nnet = 127.0.62.0/24\n\n[winsrv]\nip = 127.0.62.12\nservices = http, ftp, smtp\ndistro = windows2019\n";
    let env = Env::start(ini, 20260, Limits::default()).await;
    let r = client()
        .get(format!("http://{}/", env.addr("127.0.62.12", 80)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["server"], "Microsoft-IIS/10.0");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<title>IIS Windows Server</title>"));
    let banner = |port: u16| {
        let a = env.addr("127.0.62.12", port);
        async move {
            let c = tokio::net::TcpStream::connect(a).await.unwrap();
            let mut l = String::new();
            BufReader::new(c).read_line(&mut l).await.unwrap();
            l
        }
    };
    assert_eq!(banner(21).await, "220 Microsoft FTP Service\r\n");
    let smtp = banner(25).await;
    assert!(
        smtp.contains("Microsoft ESMTP MAIL Service ready"),
        "{smtp}"
    );
    env.stop().await;
}

/// Status and body of a GET.
async fn fetch(c: &reqwest::Client, url: String) -> (u16, String) {
    let r = c.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_web_root_is_the_deckys_var_www_html() {
    let env = Env::start(INI, 20140, Limits::default()).await;
    let c = client();
    let base = format!("http://{}", env.addr("127.0.62.11", 80));
    let vfs = env.fleet.decky("webnginx").await.unwrap().vfs();
    let (_, home) = fetch(&c, format!("{base}/")).await;
    assert!(home.contains("Welcome to nginx"), "{home}");
    // The shell's view of the page is the page served, under the name
    // Debian's nginx ships it with; /index.html is nginx's 404 until
    // someone writes one.
    assert!(vfs.get("/var/www/html/index.html").is_none());
    assert_eq!(fetch(&c, format!("{base}/index.html")).await.0, 404);
    let index = vfs.get("/var/www/html/index.nginx-debian.html").unwrap();
    let decnet_shell::Kind::File(decnet_shell::Content::Bytes(on_disk)) = index.kind else {
        panic!("index.html is not a file: {index:?}");
    };
    assert_eq!(&on_disk[..], home.as_bytes());

    // A file dropped into the root (as an upload would) is served; its
    // directory, without an index, is forbidden; nothing leaves the root.
    let now = chrono::Utc::now();
    let drop = |path: &str, body: &[u8]| vfs.add_file(path, body, 0o644, now, None).unwrap();
    drop("/var/www/html/backup/db.sql", b"-- dump\n");
    assert_eq!(
        fetch(&c, format!("{base}/backup/db.sql")).await,
        (200, "-- dump\n".to_owned())
    );
    assert_eq!(fetch(&c, format!("{base}/backup/")).await.0, 403);
    // nginx refuses a path that climbs above the root (400), as the real one does.
    let (status, body) = fetch(&c, format!("{base}/..%2f..%2fetc/passwd")).await;
    assert_eq!(status, 400);
    assert!(!body.contains("root:"), "{body}");

    // A defacement in the shell is what `/` shows from then on.
    drop("/var/www/html/index.html", b"<h1>owned</h1>\n");
    assert_eq!(
        fetch(&c, format!("{base}/")).await,
        (200, "<h1>owned</h1>\n".to_owned())
    );
    env.stop().await;
}
