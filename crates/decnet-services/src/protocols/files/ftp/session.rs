//! One FTP connection: each verb is a method over the session's state
//! (login, chroot, working directory, pending data connection).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use decnet_core::EventKind;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::command::{parse_eprt, parse_port, Command, Verb};
use super::{FtpHandler, ANON_ROOT};
use crate::artifacts::{ArtifactError, Capture, DEFAULT_MAX_ARTIFACT};
use crate::fields;
use crate::line_conn::{LineConn, Next};
use crate::listener::{bind_tcp_listener, bound_tcp_socket};
use crate::protocols::files::{node_bytes, resolve};

/// How long to wait for the client to open a data connection.
const DATA_TIMEOUT: Duration = Duration::from_secs(30);
/// Failed logins before the server hangs up, like vsftpd.
const MAX_LOGIN_FAILURES: u32 = 3;

const HELP: &str = "214-The following commands are recognized.\r\n ABOR ACCT ALLO APPE CDUP CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MKD\r\n MODE NLST NOOP OPTS PASS PASV PORT PWD  QUIT REIN REST RETR RMD  RNFR\r\n RNTO SITE SIZE SMNT STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD\r\n XPWD XRMD\r\n214 Help OK.\r\n";
const FEATURES: &str = "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n";
/// vsftpd 3.0's FEAT (UTF8 only with `utf8_filesystem`, off by default).
const VSFTPD_FEATURES: &str = "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n";

pub(super) enum DataMode {
    None,
    Passive(TcpListener),
    Active(SocketAddr),
}

/// Where the user is: login, chroot and working directory.
pub(super) struct State {
    pub(super) user: Option<String>,
    pub(super) logged_in: Option<String>,
    pub(super) anonymous: bool,
    /// Prefix of the user's root in the VFS ("" for the whole tree).
    pub(super) root: String,
    pub(super) cwd: String,
    pub(super) data: DataMode,
    pub(super) rest: u64,
}

impl State {
    fn new() -> State {
        State {
            user: None,
            logged_in: None,
            anonymous: false,
            root: String::new(),
            cwd: "/".into(),
            data: DataMode::None,
            rest: 0,
        }
    }

    /// The VFS path of a virtual path (inside the user's root).
    pub(super) fn vpath(&self, virt: &str) -> String {
        if self.root.is_empty() {
            virt.to_owned()
        } else if virt == "/" {
            self.root.clone()
        } else {
            format!("{}{virt}", self.root)
        }
    }
}

fn reply(s: &str) -> Next {
    Next::Reply(s.to_owned())
}

/// The state of one FTP connection.
pub(super) struct FtpSession<'h> {
    h: &'h FtpHandler,
    c: LineConn,
    st: State,
    failures: u32,
    local_ip: IpAddr,
}

impl<'h> FtpSession<'h> {
    pub(super) fn new(h: &'h FtpHandler, c: LineConn, local_ip: IpAddr) -> Self {
        FtpSession {
            h,
            c,
            st: State::new(),
            failures: 0,
            local_ip,
        }
    }

    /// Greets, then serves commands until the client leaves.
    pub(super) async fn run(mut self) {
        if !self.c.send(&format!("220 {}\r\n", self.h.banner)).await {
            return;
        }
        loop {
            let Some(line) = self.c.read_line("421 Timeout.\r\n").await else {
                return;
            };
            let cmd = Command::parse(&line);
            if cmd.verb != "PASS" {
                self.c.command(&line);
            }
            // vsftpd ignores empty lines (some NAT devices send them).
            if !self.h.windows && line.trim_ascii().is_empty() {
                continue;
            }
            let next = self.apply(&cmd).await;
            if !self.c.reply(next).await {
                return;
            }
        }
    }

    /// Runs one command; everything past the login verbs needs a login.
    async fn apply(&mut self, cmd: &Command) -> Next {
        let logged = self.st.logged_in.is_some();
        match cmd.kind() {
            Verb::User => self.user(cmd),
            Verb::Pass => self.pass(cmd).await,
            Verb::Quit => Next::CloseWith("221 Goodbye.\r\n".into()),
            Verb::Feat if self.h.windows => reply(FEATURES),
            Verb::Feat => reply(VSFTPD_FEATURES),
            Verb::Opts if cmd.arg.to_ascii_uppercase().starts_with("UTF8") => {
                reply("200 Always in UTF8 mode.\r\n")
            }
            Verb::Opts => reply("501 Option not understood.\r\n"),
            // vsftpd's pre-login loop knows only USER, PASS, QUIT, FEAT, OPTS.
            _ if !logged && !self.h.windows => reply("530 Please login with USER and PASS.\r\n"),
            Verb::Syst if self.h.windows => reply("215 Windows_NT\r\n"),
            Verb::Syst => reply("215 UNIX Type: L8\r\n"),
            Verb::Noop => reply("200 NOOP ok.\r\n"),
            _ if !logged => reply("530 Please login with USER and PASS.\r\n"),
            Verb::Security => reply("530 Please login with USER and PASS.\r\n"),
            Verb::Pwd => Next::Reply(format!(
                "257 \"{}\" is the current directory\r\n",
                self.st.cwd.replace('"', "\"\"")
            )),
            Verb::Cwd => self.cwd(cmd),
            Verb::Type => match cmd.arg.trim().to_ascii_uppercase().chars().next() {
                Some('A') => reply("200 Switching to ASCII mode.\r\n"),
                Some('I') | Some('L') => reply("200 Switching to Binary mode.\r\n"),
                _ => reply("500 Unrecognised TYPE command.\r\n"),
            },
            Verb::Mode => reply("200 Mode set to S.\r\n"),
            Verb::Stru => reply("200 Structure set to F.\r\n"),
            Verb::Rest => self.rest(cmd),
            Verb::Passive => self.passive(cmd).await,
            Verb::Active => self.active(cmd),
            Verb::List => self.list(cmd).await,
            Verb::Stat => self.size_or_mtime(cmd),
            Verb::Retr => self.retr(cmd).await,
            Verb::Stor => self.stor(cmd).await,
            Verb::Modify => reply("550 Permission denied.\r\n"),
            Verb::Mkd => reply("550 Create directory operation failed.\r\n"),
            Verb::Abor => {
                self.st.data = DataMode::None;
                reply("225 No transfer to ABOR.\r\n")
            }
            Verb::Status => Next::Reply(format!(
                "211-FTP server status:\r\n     Connected to {}\r\n     Logged in as {}\r\n     TYPE: BINARY\r\n211 End of status\r\n",
                self.c.session().peer.ip(),
                self.st.logged_in.clone().unwrap_or_default()
            )),
            Verb::Help => reply(HELP),
            Verb::Unknown => self.unknown(),
        }
    }

    fn user(&mut self, cmd: &Command) -> Next {
        if self.st.logged_in.is_some() {
            return reply("530 Can't change to another user.\r\n");
        }
        self.st.user = Some(cmd.arg.chars().take(256).collect());
        reply("331 Please specify the password.\r\n")
    }

    async fn pass(&mut self, cmd: &Command) -> Next {
        if self.st.logged_in.is_some() {
            return reply("230 Already logged in.\r\n");
        }
        let Some(u) = self.st.user.take() else {
            return reply("503 Login with USER first.\r\n");
        };
        let anon = u.eq_ignore_ascii_case("anonymous") || u.eq_ignore_ascii_case("ftp");
        let ok = if anon {
            self.h.anonymous
        } else {
            self.h.creds.check(&u, cmd.arg.as_bytes())
        };
        self.c.tagged.emit_auth(
            &u,
            "password",
            cmd.arg.as_bytes(),
            ok,
            fields! {"anonymous" => anon},
        );
        if ok {
            self.log_in(u, anon);
            return reply("230 Login successful.\r\n");
        }
        self.failures += 1;
        if !self.c.auth_fail_delay().await {
            return Next::Close;
        }
        if self.failures >= MAX_LOGIN_FAILURES {
            return Next::CloseWith("530 Login incorrect.\r\n".into());
        }
        reply("530 Login incorrect.\r\n")
    }

    /// Anonymous users are chrooted to [`ANON_ROOT`]; others start in their home.
    fn log_in(&mut self, user: String, anonymous: bool) {
        let st = &mut self.st;
        st.anonymous = anonymous;
        if anonymous {
            st.root = ANON_ROOT.into();
            st.cwd = "/".into();
        } else {
            st.root = String::new();
            let home = self
                .h
                .vfs()
                .host()
                .account(&user)
                .map(|a| a.home.clone())
                .unwrap_or_else(|| "/".into());
            st.cwd = if self.h.vfs().get(&home).is_some() {
                home
            } else {
                "/".into()
            };
        }
        st.logged_in = Some(user);
    }

    fn cwd(&mut self, cmd: &Command) -> Next {
        let target = if cmd.verb.contains("UP") {
            resolve(&self.st.cwd, "..")
        } else {
            resolve(&self.st.cwd, &cmd.arg)
        };
        match self.h.vfs().get(&self.st.vpath(&target)) {
            Some(n) if n.is_dir() => {
                self.st.cwd = target;
                reply("250 Directory successfully changed.\r\n")
            }
            _ => reply("550 Failed to change directory.\r\n"),
        }
    }

    fn rest(&mut self, cmd: &Command) -> Next {
        match cmd.arg.trim().parse::<u64>() {
            Ok(n) => {
                self.st.rest = n;
                Next::Reply(format!("350 Restart position accepted ({n}).\r\n"))
            }
            Err(_) => reply("501 REST: invalid parameter.\r\n"),
        }
    }

    async fn passive(&mut self, cmd: &Command) -> Next {
        // In the decky's namespace in netns mode: its address exists only there.
        let decky = &self.c.session().decky;
        let bound = bind_tcp_listener(decky, SocketAddr::new(self.local_ip, 0)).await;
        let Ok(l) = bound else {
            return reply("425 Could not open passive connection.\r\n");
        };
        let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
        self.st.data = DataMode::Passive(l);
        if cmd.verb == "EPSV" {
            return Next::Reply(format!(
                "229 Entering Extended Passive Mode (|||{port}|)\r\n"
            ));
        }
        let ip = match self.local_ip {
            IpAddr::V4(v4) => v4.octets(),
            IpAddr::V6(_) => [127, 0, 0, 1],
        };
        Next::Reply(format!(
            "227 Entering Passive Mode ({},{},{},{},{},{}).\r\n",
            ip[0],
            ip[1],
            ip[2],
            ip[3],
            port >> 8,
            port & 0xff
        ))
    }

    fn active(&mut self, cmd: &Command) -> Next {
        let verb = &cmd.verb;
        let addr = if verb == "PORT" {
            parse_port(&cmd.arg)
        } else {
            parse_eprt(&cmd.arg)
        };
        match addr {
            // Never connect anywhere but back to the client (no FTP bounce).
            Some(a) if a.ip() == self.c.session().peer.ip() && a.port() >= 1024 => {
                self.st.data = DataMode::Active(a);
                Next::Reply(format!(
                    "200 {verb} command successful. Consider using PASV.\r\n"
                ))
            }
            Some(a) => {
                self.c.tagged.emit(
                    EventKind::Request,
                    fields! {"request" => "ftp_bounce", "target" => a.to_string()},
                );
                Next::Reply(format!("500 Illegal {verb} command.\r\n"))
            }
            None => Next::Reply(format!("500 Illegal {verb} command.\r\n")),
        }
    }

    async fn list(&mut self, cmd: &Command) -> Next {
        let listing = self.h.listing(&self.st, &cmd.arg, cmd.verb == "NLST");
        if listing.is_none() {
            // vsftpd sends an empty listing for a missing path.
            self.st.data = DataMode::None;
        }
        let Some(mut d) = self.open_data().await else {
            return Next::Quiet;
        };
        let sent = self
            .c
            .send("150 Here comes the directory listing.\r\n")
            .await;
        if let Some(listing) = listing {
            if !sent {
                return Next::Close;
            }
            let _ = tokio::time::timeout(DATA_TIMEOUT, d.write_all(listing.as_bytes())).await;
        }
        let _ = d.shutdown().await;
        reply("226 Directory send OK.\r\n")
    }

    fn size_or_mtime(&self, cmd: &Command) -> Next {
        let size = cmd.verb == "SIZE";
        let vp = self.st.vpath(&resolve(&self.st.cwd, cmd.arg.trim()));
        match self.h.vfs().get(&vp) {
            Some(n) if !n.is_dir() && size => Next::Reply(format!("213 {}\r\n", n.size)),
            Some(n) if !n.is_dir() => {
                let t = Utc
                    .timestamp_opt(n.mtime, 0)
                    .single()
                    .unwrap_or_else(Utc::now);
                Next::Reply(format!("213 {}\r\n", t.format("%Y%m%d%H%M%S")))
            }
            _ => Next::Reply(format!(
                "550 Could not get file {}.\r\n",
                if size { "size" } else { "modification time" }
            )),
        }
    }

    async fn retr(&mut self, cmd: &Command) -> Next {
        let virt = resolve(&self.st.cwd, cmd.arg.trim());
        let vp = self.st.vpath(&virt);
        let boot = self.c.session().decky.persona.boot_time;
        let vfs = &self.h.vfs();
        let Some(bytes) = vfs.get(&vp).and_then(|n| node_bytes(vfs, &vp, &n, boot)) else {
            self.st.data = DataMode::None;
            return reply("550 Failed to open file.\r\n");
        };
        let Some(mut d) = self.open_data().await else {
            return Next::Quiet;
        };
        let start = (self.st.rest as usize).min(bytes.len());
        self.st.rest = 0;
        self.c.tagged.emit(
            EventKind::Request,
            fields! {"request" => "retr", "path" => virt.clone(), "size" => bytes.len() as u64},
        );
        let opening = format!(
            "150 Opening BINARY mode data connection for {} ({} bytes).\r\n",
            decnet_shell::vfs::basename(&virt),
            bytes.len()
        );
        if !self.c.send(&opening).await {
            return Next::Close;
        }
        let _ = tokio::time::timeout(DATA_TIMEOUT * 4, d.write_all(&bytes[start..])).await;
        let _ = d.shutdown().await;
        reply("226 Transfer complete.\r\n")
    }

    async fn stor(&mut self, cmd: &Command) -> Next {
        let name = if cmd.arg.trim().is_empty() {
            format!("upload.{}", rand::thread_rng().gen::<u32>())
        } else {
            cmd.arg.trim().to_owned()
        };
        let virt = resolve(&self.st.cwd, &name);
        let Some(mut d) = self.open_data().await else {
            return Next::Quiet;
        };
        if !self.c.send("150 Ok to send data.\r\n").await {
            return Next::Close;
        }
        let idle = self
            .c
            .session()
            .limits()
            .idle_timeout
            .min(Duration::from_secs(60));
        // The copy shown in the decky's filesystem comes out of the
        // process-wide capture memory budget, like the buffers.
        let mut capture = Capture::new(self.c.session()).retaining(DEFAULT_MAX_ARTIFACT);
        receive(&mut d, &mut capture, idle).await;
        drop(d);
        let extra = fields! {"path" => virt.clone(), "anonymous" => self.st.anonymous};
        let bytes = capture.retained().map(<[u8]>::to_vec);
        match capture.finish(self.c.session(), &name, extra).await {
            Err(ArtifactError::QuotaFull { .. }) => {
                return reply("452 Transfer aborted. No space left on device.\r\n");
            }
            Err(e) => self
                .c
                .tagged
                .emit_error(format!("ftp: storing upload failed: {e}")),
            Ok(_) => {}
        }
        if let Some(bytes) = bytes {
            let vfs = self.h.vfs();
            let owner = self
                .st
                .logged_in
                .as_deref()
                .and_then(|u| vfs.host().account(u))
                .map(|a| (a.uid, a.gid));
            let _ = vfs.add_file(&self.st.vpath(&virt), &bytes, 0o644, Utc::now(), owner);
        }
        reply("226 Transfer complete.\r\n")
    }

    /// Opens the data connection announced by PASV/PORT, answering the
    /// error itself when there is none.
    async fn open_data(&mut self) -> Option<TcpStream> {
        let c = &mut self.c;
        match std::mem::replace(&mut self.st.data, DataMode::None) {
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
                let decky = &c.session().decky;
                let connect = async {
                    let s = bound_tcp_socket(decky, local).await?;
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

    fn unknown(&mut self) -> Next {
        if !self.c.count_error() {
            return Next::CloseWith("421 Too many errors.\r\n".into());
        }
        reply("500 Unknown command.\r\n")
    }
}

/// Streams an upload into `capture` until the client closes the data
/// connection, stalls, or the artifact quota refuses it (then the data
/// connection is closed at once, as a server with a full disk does).
async fn receive(d: &mut TcpStream, capture: &mut Capture, idle: Duration) {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(idle, d.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => {
                if capture.write(&chunk[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_users_never_leave_their_root() {
        let st = State {
            anonymous: true,
            root: ANON_ROOT.into(),
            ..State::new()
        };
        assert_eq!(
            st.vpath(&resolve("/", "../../../etc/shadow")),
            "/srv/ftp/etc/shadow"
        );
    }
}
