//! Traffic between the fleet's own deckies, so that a sniffer or an
//! attacker on the segment sees hosts that talk to each other: a
//! workstation opening the intranet page, a host checking the mail
//! server, a monitoring host checking an sshd. Each flow is a real client
//! dialog from one decky's address to another decky's service.
//!
//! A flow's client socket is registered here by its exact local address
//! before it connects, and a [`crate::Session`] accepted from a registered
//! address publishes no events: the fleet's own chatter never becomes an
//! attacker, while anything else from the same address (an attacker who
//! took over that IP) still does. Nobody outside this process can put an
//! address in the registry.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::time::Duration;

use decnet_shell::lived::note::Note;
use parking_lot::Mutex;

mod smb;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest one flow may take, connect to close.
pub const FLOW_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes a flow reads from its server.
const MAX_READ: u64 = 64 * 1024;

static FLOWS: LazyLock<Mutex<HashSet<SocketAddr>>> = LazyLock::new(Default::default);
/// How many flows are registered: every accepted connection and every
/// datagram asks [`is_chatter`], so with no flow in progress (always, with
/// `chatter = 0`) it answers without taking the lock.
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// True when `peer` is the client end of one of the fleet's own flows.
pub fn is_chatter(peer: SocketAddr) -> bool {
    LIVE.load(std::sync::atomic::Ordering::Acquire) != 0
        && FLOWS
            .lock()
            .contains(&SocketAddr::new(peer.ip().to_canonical(), peer.port()))
}

/// Keeps a flow's address registered while it lives.
struct Registered(SocketAddr);

impl Drop for Registered {
    fn drop(&mut self) {
        let mut flows = FLOWS.lock();
        if flows.remove(&self.0) {
            LIVE.fetch_sub(1, std::sync::atomic::Ordering::Release);
        }
    }
}

/// What one flow does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// A browser fetching the intranet page (`http`).
    Web,
    /// A workstation sending a colleague's message through the mail
    /// server: EHLO, MAIL, RCPT, DATA, QUIT (`smtp`); the server delivers
    /// it to the recipient's Maildir. Without a message: EHLO, QUIT.
    Mail,
    /// A monitoring host checking an sshd: version exchange (`ssh`).
    SshCheck,
    /// A host resolving the intranet's name (`dns`, over UDP).
    Lookup,
    /// A share browse's session: SMB2 NEGOTIATE, an anonymous NTLMSSP
    /// session setup, a tree connect to `IPC$`, the share list read over
    /// `srvsvc` (NetrShareEnum), logoff (`smb`).
    ShareBrowse,
    /// An admin logging in from another host: key exchange and password
    /// authentication with the target's own account, then goodbye (`ssh`).
    AdminLogin,
}

impl Flow {
    /// Every flow.
    pub const ALL: [Flow; 6] = [
        Flow::Web,
        Flow::Mail,
        Flow::SshCheck,
        Flow::Lookup,
        Flow::ShareBrowse,
        Flow::AdminLogin,
    ];

    /// The service a flow talks to.
    pub fn service(self) -> &'static str {
        match self {
            Flow::Web => "http",
            Flow::Mail => "smtp",
            Flow::SshCheck => "ssh",
            Flow::Lookup => "dns",
            Flow::ShareBrowse => "smb",
            Flow::AdminLogin => "ssh",
        }
    }

    /// The service's well-known port.
    pub fn port(self) -> u16 {
        match self {
            Flow::Web => 80,
            Flow::Mail => 25,
            Flow::SshCheck => 22,
            Flow::Lookup => 53,
            Flow::ShareBrowse => 445,
            Flow::AdminLogin => 22,
        }
    }
}

/// Why a flow did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ChatterError {
    /// Socket trouble (the source address is not ours to bind, refused…).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The flow took longer than [`FLOW_TIMEOUT`].
    #[error("flow timed out")]
    Timeout,
    /// The server answered something the client did not expect.
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

/// Who the source is to the target.
pub struct Peer<'a> {
    /// The source host's name as it introduces itself (its domain is the
    /// one looked up).
    pub helo: &'a str,
    /// An account of the target (user, password) an admin logs in with.
    pub login: Option<(&'a str, &'a str)>,
    /// A message to send (recipient address, message) for [`Flow::Mail`].
    pub mail: Option<(&'a str, &'a Note)>,
}

/// Where a flow starts: a decky's address, and its network namespace in
/// netns mode (the address exists only there, so the flow's socket is made
/// there; `None` in loopback and alias modes).
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The decky's address the flow comes from.
    pub ip: IpAddr,
    /// The decky's namespace handle (`/var/run/netns/…`) in netns mode.
    pub netns: Option<&'a std::path::Path>,
}

/// Runs `flow` from `src` (a decky) to `dst`.
pub async fn run(
    flow: Flow,
    src: Source<'_>,
    dst: SocketAddr,
    peer: &Peer<'_>,
) -> Result<(), ChatterError> {
    let helo = peer.helo;
    tokio::time::timeout(FLOW_TIMEOUT, async {
        // Each TCP flow holds its registration until its dialog ends.
        match flow {
            Flow::Web => {
                let (stream, _registered) = connect_from(src, dst).await?;
                web(stream, dst).await
            }
            Flow::Mail => {
                let (stream, _registered) = connect_from(src, dst).await?;
                mail(stream, helo, peer.mail).await
            }
            Flow::SshCheck => {
                let (stream, _registered) = connect_from(src, dst).await?;
                ssh_check(stream).await
            }
            Flow::ShareBrowse => {
                let (stream, _registered) = connect_from(src, dst).await?;
                smb::browse(stream, dst).await
            }
            Flow::AdminLogin => {
                let (stream, _registered) = connect_from(src, dst).await?;
                admin_login(stream, peer.login).await
            }
            Flow::Lookup => {
                let domain = helo.split_once('.').map_or(helo, |(_, d)| d);
                lookup(src, dst, &format!("intranet.{domain}")).await
            }
        }
    })
    .await
    .map_err(|_| ChatterError::Timeout)?
}

async fn connect_from(
    src: Source<'_>,
    dst: SocketAddr,
) -> Result<(TcpStream, Registered), ChatterError> {
    let local = SocketAddr::new(src.ip, 0);
    let socket = crate::listener::tcp_socket_in(src.netns, local).await?;
    let registered = register(socket.local_addr()?);
    Ok((socket.connect(dst).await?, registered))
}

/// Registers `local` as a flow's address until the guard drops.
fn register(local: SocketAddr) -> Registered {
    if FLOWS.lock().insert(local) {
        // Counted before the flow connects, so its session sees it.
        LIVE.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
    Registered(local)
}

/// An A query for `name` over UDP; done when an answer with its id comes.
async fn lookup(src: Source<'_>, dst: SocketAddr, name: &str) -> Result<(), ChatterError> {
    let local = SocketAddr::new(src.ip, 0);
    let socket = match src.netns {
        None => tokio::net::UdpSocket::bind(local).await?,
        Some(ns) => {
            let ns = ns.to_owned();
            let std = tokio::task::spawn_blocking(move || decnet_net::bind_udp_in(&ns, local))
                .await
                .map_err(std::io::Error::other)??;
            tokio::net::UdpSocket::from_std(std)?
        }
    };
    let _registered = register(socket.local_addr()?);
    let id: u16 = rand::random();
    let mut query = Vec::with_capacity(name.len() + 18);
    query.extend_from_slice(&id.to_be_bytes());
    // Recursion desired, one question.
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let label = &label.as_bytes()[..label.len().min(63)];
        query.push(label.len() as u8);
        query.extend_from_slice(label);
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    socket.send_to(&query, dst).await?;
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        // A reply (QR set) from the server to this query's id.
        if from == dst && n >= 12 && buf[..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 {
            return Ok(());
        }
    }
}

async fn web(mut stream: TcpStream, dst: SocketAddr) -> Result<(), ChatterError> {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
        dst.ip()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    (&mut stream)
        .take(MAX_READ)
        .read_to_end(&mut answer)
        .await?;
    if answer.starts_with(b"HTTP/1.") {
        Ok(())
    } else {
        Err(ChatterError::Protocol(decnet_core::event::printable(
            &answer[..answer.len().min(40)],
        )))
    }
}

/// One SMTP reply (multi-line ones whole); its code.
async fn smtp_reply(r: &mut BufReader<TcpStream>) -> Result<u16, ChatterError> {
    loop {
        let mut line = String::new();
        if (&mut *r).take(1024).read_line(&mut line).await? == 0 {
            return Err(ChatterError::Protocol("connection closed".into()));
        }
        let code = line.get(..3).and_then(|c| c.parse().ok());
        match (code, line.as_bytes().get(3)) {
            (Some(_), Some(b'-')) => continue,
            (Some(c), _) => return Ok(c),
            (None, _) => return Err(ChatterError::Protocol(line.trim_end().to_owned())),
        }
    }
}

/// Writes `line` (a command, or a whole dot-terminated message) and checks
/// the reply's code.
async fn smtp_step(
    r: &mut BufReader<TcpStream>,
    line: &[u8],
    want: u16,
) -> Result<(), ChatterError> {
    r.get_mut().write_all(line).await?;
    match smtp_reply(r).await? {
        got if got == want => Ok(()),
        got => Err(ChatterError::Protocol(format!(
            "SMTP {got}, expected {want}"
        ))),
    }
}

async fn mail(
    stream: TcpStream,
    helo: &str,
    message: Option<(&str, &Note)>,
) -> Result<(), ChatterError> {
    let mut r = BufReader::new(stream);
    smtp_step(&mut r, b"", 220).await?;
    smtp_step(&mut r, format!("EHLO {helo}\r\n").as_bytes(), 250).await?;
    if let Some((rcpt, note)) = message {
        let from = format!("MAIL FROM:<{}>\r\n", note.sender);
        smtp_step(&mut r, from.as_bytes(), 250).await?;
        smtp_step(&mut r, format!("RCPT TO:<{rcpt}>\r\n").as_bytes(), 250).await?;
        smtp_step(&mut r, b"DATA\r\n", 354).await?;
        let mut data = String::with_capacity(note.text.len() + 8);
        for line in note.text.split_inclusive("\r\n") {
            // Dot-stuffing (RFC 5321 4.5.2).
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
        }
        data.push_str(".\r\n");
        smtp_step(&mut r, data.as_bytes(), 250).await?;
    }
    smtp_step(&mut r, b"QUIT\r\n", 221).await
}

/// Accepts any host key, as an admin's first login does after a rebuild.
struct TrustingClient;

impl russh::client::Handler for TrustingClient {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

async fn admin_login(stream: TcpStream, login: Option<(&str, &str)>) -> Result<(), ChatterError> {
    let Some((user, password)) = login else {
        return Err(ChatterError::Protocol("no account to log in with".into()));
    };
    let ssh = |e: russh::Error| ChatterError::Protocol(format!("ssh: {e}"));
    let config = std::sync::Arc::new(russh::client::Config::default());
    let mut handle = russh::client::connect_stream(config, stream, TrustingClient)
        .await
        .map_err(ssh)?;
    let auth = handle
        .authenticate_password(user, password)
        .await
        .map_err(ssh)?;
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    if auth.success() {
        Ok(())
    } else {
        Err(ChatterError::Protocol("password refused".into()))
    }
}

async fn ssh_check(stream: TcpStream) -> Result<(), ChatterError> {
    let mut r = BufReader::new(stream);
    let mut banner = String::new();
    (&mut r).take(256).read_line(&mut banner).await?;
    if !banner.starts_with("SSH-2.0-") {
        return Err(ChatterError::Protocol(banner.trim_end().to_owned()));
    }
    r.get_mut()
        .write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
        .await?;
    Ok(())
}
