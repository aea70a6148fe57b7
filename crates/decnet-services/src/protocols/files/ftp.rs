//! FTP (RFC 959/2428/3659) as the persona's daemon (vsftpd, Microsoft FTP,
//! or a configured banner): USER/PASS captured, optional anonymous login
//! chrooted to `/srv/ftp` of the decky's virtual filesystem, logged-in users
//! see the whole filesystem from their home. PASV/EPSV/PORT/EPRT data
//! connections; LIST/NLST/RETR/STOR/SIZE/MDTM/CWD/PWD/SYST/FEAT. STOR
//! uploads become artifacts (`file_upload`) and appear in the filesystem.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use decnet_core::{EventKind, OsFamily};
use decnet_shell::{Kind, Node, Vfs};
use futures::future::BoxFuture;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{node_bytes, resolve};
use crate::config::parse_bool;
use crate::creds::Credentials;
use crate::ctx::DeckyCtx;
use crate::line_conn::LineConn;
use crate::session::Session;
use crate::{fields, Conn, Handler, Service, ServiceError};

/// Where anonymous users are chrooted in the virtual filesystem.
pub const ANON_ROOT: &str = "/srv/ftp";
/// How long to wait for the client to open a data connection.
const DATA_TIMEOUT: Duration = Duration::from_secs(30);

/// The `ftp` service.
pub struct Ftp;

/// Per-decky FTP state.
pub struct FtpHandler {
    banner: String,
    windows: bool,
    anonymous: bool,
    creds: Credentials,
    vfs: Arc<Vfs>,
}

impl Service for Ftp {
    fn name(&self) -> &'static str {
        "ftp"
    }

    fn validate(&self, cfg: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
        if let Some(v) = cfg.get("anonymous") {
            parse_bool(v).ok_or_else(|| format!("anonymous '{v}' is not true/false"))?;
        }
        Ok(())
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let p = &decky.persona;
        let banner = decky
            .config("ftp", "banner")
            .map(str::to_owned)
            .unwrap_or_else(|| p.distro.ftp_banner.to_owned());
        let vfs = decky.vfs();
        seed_anon_tree(decky, &vfs);
        Ok(Arc::new(FtpHandler {
            banner,
            windows: (p.distro.family == OsFamily::Windows || p.family() == OsFamily::Windows),
            anonymous: decky
                .config("ftp", "anonymous")
                .and_then(parse_bool)
                .unwrap_or(true),
            creds: Credentials::for_service(&decky.spec, "ftp", &["ssh"]),
            vfs,
        }))
    }
}

/// Puts a small, plausible public tree under [`ANON_ROOT`] (once per decky).
fn seed_anon_tree(decky: &DeckyCtx, vfs: &Vfs) {
    if vfs.get(&format!("{ANON_ROOT}/pub")).is_some() {
        return;
    }
    let p = &decky.persona;
    let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("ftp-tree");
    let t = |rng: &mut rand_chacha::ChaCha20Rng| {
        p.boot_time - chrono::Duration::days(rng.gen_range(3..300))
    };
    let readme = format!(
        "{} public FTP\r\n\r\nDrivers, firmware and shared documents are in /pub.\r\nUploads go to /pub/incoming and are reviewed daily.\r\nContact: it-support@{}\r\n",
        p.domain.split('.').next().unwrap_or("corp").to_uppercase(),
        p.domain
    );
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("{ANON_ROOT}/welcome.msg"), b"Welcome to the FTP service.\r\n".to_vec()),
        (format!("{ANON_ROOT}/pub/README.txt"), readme.into_bytes()),
        (
            format!("{ANON_ROOT}/pub/docs/network-diagram-v3.txt"),
            format!("core-sw01 10.0.0.2\r\nfw01 10.0.0.1\r\nfiles01 10.0.10.15\r\nbackup01 10.0.10.20\r\nmail.{} 10.0.20.5\r\n", p.domain).into_bytes(),
        ),
        (
            format!("{ANON_ROOT}/pub/firmware/SHA256SUMS"),
            format!("{:064x}  fw-{}.bin\n", rng.gen::<u128>(), rng.gen_range(100..400)).into_bytes(),
        ),
        (format!("{ANON_ROOT}/pub/incoming/.keep"), Vec::new()),
    ];
    for (path, bytes) in files {
        let when = t(&mut rng);
        let _ = vfs.add_file(&path, &bytes, 0o644, when, None);
    }
}

/// Parses `h1,h2,h3,h4,p1,p2` (PORT).
pub fn parse_port(arg: &str) -> Option<SocketAddr> {
    let n: Vec<u8> = arg
        .trim()
        .split(',')
        .map(|x| x.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .ok()?;
    if n.len() != 6 {
        return None;
    }
    let ip = IpAddr::from([n[0], n[1], n[2], n[3]]);
    Some(SocketAddr::new(ip, u16::from(n[4]) << 8 | u16::from(n[5])))
}

/// Parses `|1|1.2.3.4|port|` (EPRT).
pub fn parse_eprt(arg: &str) -> Option<SocketAddr> {
    let arg = arg.trim();
    let d = arg.chars().next()?;
    let parts: Vec<&str> = arg.split(d).collect();
    if parts.len() != 5 {
        return None;
    }
    let ip: IpAddr = parts[2].parse().ok()?;
    let port: u16 = parts[3].parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

enum DataMode {
    None,
    Passive(TcpListener),
    Active(SocketAddr),
}

struct State {
    user: Option<String>,
    logged_in: Option<String>,
    anonymous: bool,
    /// Prefix of the user's root in the VFS ("" for the whole tree).
    root: String,
    cwd: String,
    data: DataMode,
    rest: u64,
}

impl State {
    fn vpath(&self, virt: &str) -> String {
        if self.root.is_empty() {
            virt.to_owned()
        } else if virt == "/" {
            self.root.clone()
        } else {
            format!("{}{virt}", self.root)
        }
    }
}

fn ls_time(mtime: i64, now: DateTime<Utc>) -> String {
    let t = Utc.timestamp_opt(mtime, 0).single().unwrap_or(now);
    if (now - t).num_days().abs() > 180 {
        t.format("%b %d  %Y").to_string()
    } else {
        t.format("%b %d %H:%M").to_string()
    }
}

impl Handler for FtpHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.run(conn, session).await })
    }
}

impl FtpHandler {
    fn owner(&self, uid: u32, anonymous: bool) -> String {
        if anonymous {
            return uid.to_string();
        }
        self.vfs
            .host()
            .accounts
            .iter()
            .find(|a| a.uid == uid)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| uid.to_string())
    }

    fn listing(&self, st: &State, arg: &str, names_only: bool) -> Option<String> {
        let now = Utc::now();
        let target = arg
            .split_whitespace()
            .find(|a| !a.starts_with('-'))
            .map(|a| resolve(&st.cwd, a))
            .unwrap_or_else(|| st.cwd.clone());
        let vp = st.vpath(&target);
        let node = self.vfs.get(&vp)?;
        let entries: Vec<(String, Node)> = if node.is_dir() {
            self.vfs.children(&vp)
        } else {
            vec![(decnet_shell::vfs::basename(&target).to_owned(), node)]
        };
        let mut out = String::new();
        for (name, n) in entries.iter().take(5000) {
            if names_only {
                out.push_str(name);
            } else {
                let owner = self.owner(n.uid, st.anonymous);
                let group = if st.anonymous {
                    n.gid.to_string()
                } else {
                    self.owner(n.gid, false)
                };
                let links = if n.is_dir() { 2 } else { 1 };
                out.push_str(&format!(
                    "{} {:>4} {:<8} {:<8} {:>12} {} {}",
                    n.mode_string(),
                    links,
                    owner,
                    group,
                    n.size,
                    ls_time(n.mtime, now),
                    name
                ));
                if let Kind::Link(t) = &n.kind {
                    out.push_str(" -> ");
                    out.push_str(t);
                }
            }
            out.push_str("\r\n");
        }
        Some(out)
    }

    async fn open_data(&self, st: &mut State, c: &mut LineConn) -> Option<TcpStream> {
        match std::mem::replace(&mut st.data, DataMode::None) {
            DataMode::None => {
                c.send("425 Use PORT or PASV first.\r\n").await;
                None
            }
            DataMode::Passive(l) => match tokio::time::timeout(DATA_TIMEOUT, l.accept()).await {
                Ok(Ok((s, peer))) if peer.ip() == c.session().peer.ip() => Some(s),
                Ok(Ok(_)) => {
                    c.tagged
                        .emit_error("ftp: data connection from a different address refused");
                    c.send("425 Security: Bad IP connecting.\r\n").await;
                    None
                }
                _ => {
                    c.send("425 Failed to establish connection.\r\n").await;
                    None
                }
            },
            DataMode::Active(addr) => {
                let local = SocketAddr::new(c.session().local.ip(), 0);
                let sock = match local {
                    SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                    SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
                };
                let connect = async {
                    let s = sock?;
                    s.bind(local)?;
                    s.connect(addr).await
                };
                match tokio::time::timeout(DATA_TIMEOUT, connect).await {
                    Ok(Ok(s)) => Some(s),
                    _ => {
                        c.send("425 Failed to establish connection.\r\n").await;
                        None
                    }
                }
            }
        }
    }

    async fn run(&self, conn: Conn, session: Session) {
        let decky = session.decky.clone();
        let boot = decky.persona.boot_time;
        let local_ip = conn.local.ip();
        let mut c = LineConn::new(
            Box::new(conn.stream),
            session,
            None,
            "500 Input line too long.\r\n",
        );
        if !c.send(&format!("220 {}\r\n", self.banner)).await {
            return;
        }
        let delay = c.session().limits().auth_fail_delay;
        let mut st = State {
            user: None,
            logged_in: None,
            anonymous: false,
            root: String::new(),
            cwd: "/".into(),
            data: DataMode::None,
            rest: 0,
        };
        let mut failures = 0;
        loop {
            let Some(line) = c.read_line("421 Timeout.\r\n").await else {
                return;
            };
            let text = String::from_utf8_lossy(&line).into_owned();
            let (verb, arg) = match text.trim_start().split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.to_owned()),
                None => (text.trim().to_ascii_uppercase(), String::new()),
            };
            let verb: String = verb.chars().take(8).collect();
            if verb != "PASS" {
                c.command(&line);
            }
            let logged = st.logged_in.is_some();
            let reply: String = match verb.as_str() {
                "USER" => {
                    if logged {
                        "530 Can't change to another user.\r\n".into()
                    } else {
                        st.user = Some(arg.chars().take(256).collect());
                        "331 Please specify the password.\r\n".into()
                    }
                }
                "PASS" => match (logged, st.user.take()) {
                    (true, _) => "230 Already logged in.\r\n".into(),
                    (false, None) => "503 Login with USER first.\r\n".into(),
                    (false, Some(u)) => {
                        let anon = u.eq_ignore_ascii_case("anonymous") || u.eq_ignore_ascii_case("ftp");
                        let ok = if anon { self.anonymous } else { self.creds.check(&u, arg.as_bytes()) };
                        c.tagged.emit_auth(&u, "password", arg.as_bytes(), ok, fields! {"anonymous" => anon});
                        if ok {
                            st.anonymous = anon;
                            if anon {
                                st.root = ANON_ROOT.into();
                                st.cwd = "/".into();
                            } else {
                                st.root = String::new();
                                let home = self
                                    .vfs
                                    .host()
                                    .account(&u)
                                    .map(|a| a.home.clone())
                                    .unwrap_or_else(|| "/".into());
                                st.cwd = if self.vfs.get(&home).is_some() { home } else { "/".into() };
                            }
                            st.logged_in = Some(u);
                            "230 Login successful.\r\n".into()
                        } else {
                            failures += 1;
                            tokio::time::sleep(delay).await;
                            if failures >= 3 {
                                let _ = c.send("530 Login incorrect.\r\n").await;
                                return;
                            }
                            "530 Login incorrect.\r\n".into()
                        }
                    }
                },
                "QUIT" => {
                    let _ = c.send("221 Goodbye.\r\n").await;
                    return;
                }
                "SYST" => {
                    if self.windows {
                        "215 Windows_NT\r\n".into()
                    } else {
                        "215 UNIX Type: L8\r\n".into()
                    }
                }
                "FEAT" => "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n".into(),
                "OPTS" => {
                    if arg.to_ascii_uppercase().starts_with("UTF8") {
                        "200 Always in UTF8 mode.\r\n".into()
                    } else {
                        "501 Option not understood.\r\n".into()
                    }
                }
                "NOOP" => "200 NOOP ok.\r\n".into(),
                "AUTH" | "PBSZ" | "PROT" | "CCC" => "530 Please login with USER and PASS.\r\n".into(),
                _ if !logged => "530 Please login with USER and PASS.\r\n".into(),
                "PWD" | "XPWD" => format!("257 \"{}\" is the current directory\r\n", st.cwd.replace('"', "\"\"")),
                "CWD" | "XCWD" | "CDUP" | "XCUP" => {
                    let target = if verb.contains("UP") { resolve(&st.cwd, "..") } else { resolve(&st.cwd, &arg) };
                    match self.vfs.get(&st.vpath(&target)) {
                        Some(n) if n.is_dir() => {
                            st.cwd = target;
                            "250 Directory successfully changed.\r\n".into()
                        }
                        _ => "550 Failed to change directory.\r\n".into(),
                    }
                }
                "TYPE" => match arg.trim().to_ascii_uppercase().chars().next() {
                    Some('A') => "200 Switching to ASCII mode.\r\n".into(),
                    Some('I') | Some('L') => "200 Switching to Binary mode.\r\n".into(),
                    _ => "500 Unrecognised TYPE command.\r\n".into(),
                },
                "MODE" => "200 Mode set to S.\r\n".into(),
                "STRU" => "200 Structure set to F.\r\n".into(),
                "REST" => match arg.trim().parse::<u64>() {
                    Ok(n) => {
                        st.rest = n;
                        format!("350 Restart position accepted ({n}).\r\n")
                    }
                    Err(_) => "501 REST: invalid parameter.\r\n".into(),
                },
                "PASV" | "EPSV" => {
                    match TcpListener::bind(SocketAddr::new(local_ip, 0)).await {
                        Ok(l) => {
                            let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                            st.data = DataMode::Passive(l);
                            if verb == "EPSV" {
                                format!("229 Entering Extended Passive Mode (|||{port}|)\r\n")
                            } else {
                                let ip = match local_ip {
                                    IpAddr::V4(v4) => v4.octets(),
                                    IpAddr::V6(_) => [127, 0, 0, 1],
                                };
                                format!(
                                    "227 Entering Passive Mode ({},{},{},{},{},{}).\r\n",
                                    ip[0], ip[1], ip[2], ip[3], port >> 8, port & 0xff
                                )
                            }
                        }
                        Err(_) => "425 Could not open passive connection.\r\n".into(),
                    }
                }
                "PORT" | "EPRT" => {
                    let addr = if verb == "PORT" { parse_port(&arg) } else { parse_eprt(&arg) };
                    match addr {
                        // Never connect anywhere but back to the client (no FTP bounce).
                        Some(a) if a.ip() == c.session().peer.ip() && a.port() >= 1024 => {
                            st.data = DataMode::Active(a);
                            format!("200 {verb} command successful. Consider using PASV.\r\n")
                        }
                        Some(a) => {
                            c.tagged.emit(EventKind::Request, fields! {"request" => "ftp_bounce", "target" => a.to_string()});
                            format!("500 Illegal {verb} command.\r\n")
                        }
                        None => format!("500 Illegal {verb} command.\r\n"),
                    }
                }
                "LIST" | "NLST" | "MLSD" => {
                    let Some(listing) = self.listing(&st, &arg, verb == "NLST") else {
                        st.data = DataMode::None;
                        // vsftpd sends an empty listing for a missing path.
                        let Some(mut d) = self.open_data(&mut st, &mut c).await else { continue };
                        c.send("150 Here comes the directory listing.\r\n").await;
                        let _ = d.shutdown().await;
                        if !c.send("226 Directory send OK.\r\n").await { return; }
                        continue;
                    };
                    let Some(mut d) = self.open_data(&mut st, &mut c).await else { continue };
                    if !c.send("150 Here comes the directory listing.\r\n").await {
                        return;
                    }
                    let _ = tokio::time::timeout(DATA_TIMEOUT, d.write_all(listing.as_bytes())).await;
                    let _ = d.shutdown().await;
                    "226 Directory send OK.\r\n".into()
                }
                "SIZE" | "MDTM" => {
                    let vp = st.vpath(&resolve(&st.cwd, arg.trim()));
                    match self.vfs.get(&vp) {
                        Some(n) if !n.is_dir() => {
                            if verb == "SIZE" {
                                format!("213 {}\r\n", n.size)
                            } else {
                                let t = Utc.timestamp_opt(n.mtime, 0).single().unwrap_or_else(Utc::now);
                                format!("213 {}\r\n", t.format("%Y%m%d%H%M%S"))
                            }
                        }
                        _ => format!("550 Could not get file {}.\r\n", if verb == "SIZE" { "size" } else { "modification time" }),
                    }
                }
                "RETR" => {
                    let virt = resolve(&st.cwd, arg.trim());
                    let vp = st.vpath(&virt);
                    let bytes = self.vfs.get(&vp).and_then(|n| node_bytes(&self.vfs, &vp, &n, boot));
                    match bytes {
                        None => {
                            st.data = DataMode::None;
                            "550 Failed to open file.\r\n".into()
                        }
                        Some(bytes) => {
                            let Some(mut d) = self.open_data(&mut st, &mut c).await else { continue };
                            let start = (st.rest as usize).min(bytes.len());
                            st.rest = 0;
                            c.tagged.emit(EventKind::Request, fields! {"request" => "retr", "path" => virt.clone(), "size" => bytes.len() as u64});
                            if !c
                                .send(&format!("150 Opening BINARY mode data connection for {} ({} bytes).\r\n", decnet_shell::vfs::basename(&virt), bytes.len()))
                                .await
                            {
                                return;
                            }
                            let _ = tokio::time::timeout(DATA_TIMEOUT * 4, d.write_all(&bytes[start..])).await;
                            let _ = d.shutdown().await;
                            "226 Transfer complete.\r\n".into()
                        }
                    }
                }
                "STOR" | "APPE" | "STOU" => {
                    let name = if arg.trim().is_empty() { format!("upload.{}", rand::thread_rng().gen::<u32>()) } else { arg.trim().to_owned() };
                    let virt = resolve(&st.cwd, &name);
                    let Some(mut d) = self.open_data(&mut st, &mut c).await else { continue };
                    if !c.send("150 Ok to send data.\r\n").await {
                        return;
                    }
                    let cap = crate::artifacts::DEFAULT_MAX_ARTIFACT;
                    let mut buf = Vec::new();
                    let mut chunk = vec![0u8; 16 * 1024];
                    let mut truncated = false;
                    let idle = c.session().limits().idle_timeout.min(Duration::from_secs(60));
                    loop {
                        match tokio::time::timeout(idle, d.read(&mut chunk)).await {
                            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                            Ok(Ok(n)) => {
                                let room = cap.saturating_sub(buf.len());
                                if n > room {
                                    truncated = true;
                                }
                                buf.extend_from_slice(&chunk[..n.min(room)]);
                            }
                        }
                    }
                    drop(d);
                    let extra = fields! {"path" => virt.clone(), "anonymous" => st.anonymous};
                    if let Err(e) = crate::artifacts::store(c.session(), &name, &buf, truncated, extra).await {
                        c.tagged.emit_error(format!("ftp: storing upload failed: {e}"));
                    }
                    let owner = st
                        .logged_in
                        .as_deref()
                        .and_then(|u| self.vfs.host().account(u))
                        .map(|a| (a.uid, a.gid));
                    let _ = self.vfs.add_file(&st.vpath(&virt), &buf, 0o644, Utc::now(), owner);
                    "226 Transfer complete.\r\n".into()
                }
                "DELE" | "RMD" | "XRMD" | "RNFR" | "RNTO" | "SITE" | "CHMOD" => "550 Permission denied.\r\n".into(),
                "MKD" | "XMKD" => "550 Create directory operation failed.\r\n".into(),
                "ABOR" => {
                    st.data = DataMode::None;
                    "225 No transfer to ABOR.\r\n".into()
                }
                "STAT" => format!("211-FTP server status:\r\n     Connected to {}\r\n     Logged in as {}\r\n     TYPE: BINARY\r\n211 End of status\r\n", c.session().peer.ip(), st.logged_in.clone().unwrap_or_default()),
                "HELP" => "214-The following commands are recognized.\r\n ABOR ACCT ALLO APPE CDUP CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MKD\r\n MODE NLST NOOP OPTS PASS PASV PORT PWD  QUIT REIN REST RETR RMD  RNFR\r\n RNTO SITE SIZE SMNT STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD\r\n XPWD XRMD\r\n214 Help OK.\r\n".into(),
                _ => {
                    if !c.count_error() {
                        let _ = c.send("421 Too many errors.\r\n").await;
                        return;
                    }
                    "500 Unknown command.\r\n".into()
                }
            };
            if !c.send(&reply).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths_and_addresses() {
        assert_eq!(resolve("/pub", "../../etc/passwd"), "/etc/passwd");
        assert_eq!(resolve("/", ".."), "/");
        assert_eq!(resolve("/a", "b/./c"), "/a/b/c");
        assert_eq!(resolve("/a", "/x"), "/x");
        assert_eq!(
            parse_port("127,0,0,1,4,1"),
            Some("127.0.0.1:1025".parse().unwrap())
        );
        assert_eq!(parse_port("1,2,3"), None);
        assert_eq!(
            parse_eprt("|1|127.0.0.1|2000|"),
            Some("127.0.0.1:2000".parse().unwrap())
        );
        assert_eq!(parse_eprt("|1|x|2000|"), None);
        let st = State {
            user: None,
            logged_in: None,
            anonymous: true,
            root: ANON_ROOT.into(),
            cwd: "/".into(),
            data: DataMode::None,
            rest: 0,
        };
        // Anonymous users can never leave their root.
        assert_eq!(
            st.vpath(&resolve("/", "../../../etc/shadow")),
            "/srv/ftp/etc/shadow"
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(a in "\\PC{0,200}", cwd in "(/[a-z.]{0,5}){0,5}") {
            let r = resolve(if cwd.is_empty() { "/" } else { &cwd }, &a);
            prop_assert!(r.starts_with('/'));
            prop_assert!(!r.split('/').any(|p| p == ".."));
            let _ = parse_port(&a);
            let _ = parse_eprt(&a);
        }
    }
}
