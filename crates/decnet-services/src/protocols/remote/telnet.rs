//! Telnet (RFC 854): option negotiation, `login:`/`Password:` prompts, and a
//! the decky's fake shell (shared with ssh) after a configured login succeeds.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::creds::Credentials;
use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::session::Session;
use crate::transcript::Transcript;
use crate::{fields, Conn, Handler, Service, ServiceError};
use decnet_core::probe_text::is_probe_text;
use decnet_shell::{Shell, ShellOptions};

/// Interpret As Command.
pub const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const OPT_ECHO: u8 = 1;
const OPT_SGA: u8 = 3;
const OPT_TTYPE: u8 = 24;
const OPT_NAWS: u8 = 31;
/// Longest subnegotiation kept; longer ones are truncated.
const MAX_SB: usize = 256;
/// Failed logins before the connection is closed, as util-linux login.
pub const MAX_LOGIN_TRIES: usize = 3;
/// Input kept while a failed-login delay runs.
const MAX_PENDING: usize = 4096;

/// A telnet command seen in the input stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TelnetCmd {
    /// WILL/WONT/DO/DONT option.
    Negotiate(u8, u8),
    /// Window size from NAWS.
    WindowSize(u16, u16),
    /// Terminal type from TTYPE IS.
    TerminalType(String),
    /// Any other subnegotiation (option, bytes).
    Sub(u8, Vec<u8>),
    /// Single-byte commands (NOP, AYT, IP…).
    Other(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Data,
    Iac,
    Opt(u8),
    Sb,
    SbIac,
}

/// Incremental telnet stream parser: separates data from commands. Never
/// panics, keeps at most [`MAX_SB`] bytes of a subnegotiation.
#[derive(Debug)]
pub struct TelnetParser {
    state: State,
    sb: Vec<u8>,
}

impl Default for TelnetParser {
    fn default() -> Self {
        TelnetParser {
            state: State::Data,
            sb: Vec::new(),
        }
    }
}

impl TelnetParser {
    /// Feeds bytes; appends data bytes to `data` and commands to `cmds`.
    pub fn feed(&mut self, input: &[u8], data: &mut Vec<u8>, cmds: &mut Vec<TelnetCmd>) {
        for &b in input {
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, b) => {
                    data.push(b);
                    State::Data
                }
                (State::Iac, IAC) => {
                    data.push(IAC);
                    State::Data
                }
                (State::Iac, WILL | WONT | DO | DONT) => State::Opt(b),
                (State::Iac, SB) => {
                    self.sb.clear();
                    State::Sb
                }
                (State::Iac, b) => {
                    cmds.push(TelnetCmd::Other(b));
                    State::Data
                }
                (State::Opt(verb), opt) => {
                    cmds.push(TelnetCmd::Negotiate(verb, opt));
                    State::Data
                }
                (State::Sb, IAC) => State::SbIac,
                (State::Sb, b) => {
                    if self.sb.len() < MAX_SB {
                        self.sb.push(b);
                    }
                    State::Sb
                }
                (State::SbIac, SE) => {
                    cmds.push(Self::decode_sb(&self.sb));
                    self.sb.clear();
                    State::Data
                }
                (State::SbIac, IAC) => {
                    if self.sb.len() < MAX_SB {
                        self.sb.push(IAC);
                    }
                    State::Sb
                }
                // Malformed: IAC followed by something else inside SB; end it.
                (State::SbIac, _) => {
                    cmds.push(Self::decode_sb(&self.sb));
                    self.sb.clear();
                    State::Data
                }
            };
        }
    }

    fn decode_sb(sb: &[u8]) -> TelnetCmd {
        match sb {
            [OPT_NAWS, w1, w2, h1, h2, ..] => TelnetCmd::WindowSize(
                u16::from_be_bytes([*w1, *w2]),
                u16::from_be_bytes([*h1, *h2]),
            ),
            [OPT_TTYPE, 0, rest @ ..] => {
                TelnetCmd::TerminalType(String::from_utf8_lossy(rest).into_owned())
            }
            [opt, rest @ ..] => TelnetCmd::Sub(*opt, rest.to_vec()),
            [] => TelnetCmd::Sub(0, Vec::new()),
        }
    }
}

/// Appends `text` for the wire: `\n` becomes `\r\n`, IAC is doubled.
pub fn encode_text(text: &str, out: &mut Vec<u8>) {
    for &b in text.as_bytes() {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            IAC => out.extend_from_slice(&[IAC, IAC]),
            b => out.push(b),
        }
    }
}

/// A telnet connection with line editing on top of the parser.
///
/// Echo and negotiation answers are queued and sent with the next write or
/// before the next blocking read, so a line typed in one segment is echoed
/// in one segment (as telnetd does) instead of one send per byte: on
/// loopback every send costs a full trip through the TCP stack.
pub struct TelnetIo {
    stream: TcpStream,
    parser: TelnetParser,
    pending: std::collections::VecDeque<u8>,
    /// Bytes queued for the client (echo, negotiation answers).
    out: Vec<u8>,
    cmds: Vec<TelnetCmd>,
    /// Terminal type the client announced.
    pub term: Option<String>,
    /// Window size the client announced.
    pub window: Option<(u16, u16)>,
    last_cr: bool,
    /// 0 = no escape sequence, 1 = after ESC, 2 = inside CSI/SS3.
    esc: u8,
}

impl TelnetIo {
    /// Wraps a stream.
    pub fn new(stream: TcpStream) -> Self {
        TelnetIo {
            stream,
            parser: TelnetParser::default(),
            pending: std::collections::VecDeque::new(),
            out: Vec::new(),
            cmds: Vec::new(),
            term: None,
            window: None,
            last_cr: false,
            esc: 0,
        }
    }

    /// Writes bytes as is (after anything queued).
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.extend_from_slice(bytes);
        self.flush().await
    }

    /// Writes text, turning `\n` into `\r\n` and escaping IAC.
    pub async fn write_text(&mut self, text: &str) -> std::io::Result<()> {
        encode_text(text, &mut self.out);
        self.flush().await
    }

    /// Sends whatever is queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.stream.write_all(&self.out).await;
        self.out.clear();
        r
    }

    fn answer_cmds(&mut self) {
        for c in std::mem::take(&mut self.cmds) {
            match c {
                TelnetCmd::Negotiate(WILL, OPT_TTYPE) => self
                    .out
                    .extend_from_slice(&[IAC, SB, OPT_TTYPE, 1, IAC, SE]),
                TelnetCmd::Negotiate(WILL, OPT_NAWS) => {}
                TelnetCmd::Negotiate(DO, OPT_ECHO | OPT_SGA) => {}
                TelnetCmd::Negotiate(DO, opt) => self.out.extend_from_slice(&[IAC, WONT, opt]),
                TelnetCmd::Negotiate(WILL, opt) => self.out.extend_from_slice(&[IAC, DONT, opt]),
                TelnetCmd::WindowSize(w, h) => self.window = Some((w, h)),
                TelnetCmd::TerminalType(t) => self.term = Some(t.chars().take(64).collect()),
                _ => {}
            }
        }
    }

    /// The failed-login delay, ended early when the client goes away
    /// (false); what it types meanwhile is kept for the next prompt.
    pub async fn sleep_unless_closed(&mut self, delay: Duration) -> bool {
        let TelnetIo {
            stream,
            parser,
            pending,
            cmds,
            ..
        } = self;
        crate::io::sleep_unless_closed(stream, delay, |raw| {
            let mut data = Vec::new();
            parser.feed(raw, &mut data, cmds);
            pending.extend(data);
            pending.len() < MAX_PENDING
        })
        .await
    }

    /// Reads one line with server-side echo (or none, for passwords),
    /// handling backspace and CR NUL / CR LF endings.
    pub async fn read_line(
        &mut self,
        echo: bool,
        max: usize,
        idle: Duration,
    ) -> Result<Vec<u8>, ReadError> {
        let mut line = Vec::new();
        let mut raw = [0u8; 1024];
        loop {
            while let Some(b) = self.pending.pop_front() {
                // Terminal escape sequences (arrow keys…) are swallowed.
                match (self.esc, b) {
                    (0, 0x1b) => {
                        self.esc = 1;
                        continue;
                    }
                    (1, b'[' | b'O') => {
                        self.esc = 2;
                        continue;
                    }
                    (1, _) => {
                        self.esc = 0;
                        continue;
                    }
                    (2, 0x40..=0x7e) => {
                        self.esc = 0;
                        continue;
                    }
                    (2, _) => continue,
                    _ => {}
                }
                let was_cr = std::mem::replace(&mut self.last_cr, false);
                match b {
                    b'\r' => {
                        self.last_cr = true;
                        if echo {
                            self.out.extend_from_slice(b"\r\n");
                        }
                        return Ok(line);
                    }
                    b'\n' | 0 if was_cr => {}
                    b'\n' => {
                        if echo {
                            self.out.extend_from_slice(b"\r\n");
                        }
                        return Ok(line);
                    }
                    0x7f | 0x08 => {
                        if line.pop().is_some() && echo {
                            self.out.extend_from_slice(b"\x08 \x08");
                        }
                    }
                    0x03 | 0x04 if line.is_empty() => return Err(ReadError::Eof),
                    b => {
                        if line.len() >= max {
                            return Err(ReadError::TooLong(max));
                        }
                        line.push(b);
                        if echo && (0x20..0x7f).contains(&b) {
                            self.out.push(b);
                        }
                    }
                }
            }
            // Echo and negotiation answers go out before waiting; a write
            // error shows up as the read's error or end of stream.
            let _ = self.flush().await;
            let n = match tokio::time::timeout(idle, self.stream.read(&mut raw)).await {
                Err(_) => return Err(ReadError::Timeout),
                Ok(Ok(0)) => return Err(ReadError::Eof),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(ReadError::Io(e.to_string())),
            };
            let mut data = Vec::new();
            self.parser.feed(&raw[..n], &mut data, &mut self.cmds);
            self.pending.extend(data);
            self.answer_cmds();
        }
    }
}

/// The `telnet` service.
pub struct Telnet;

/// Per-decky telnet state.
pub struct TelnetHandler {
    creds: Credentials,
    /// Negotiation, /etc/issue and the first prompt, sent as one segment.
    greeting: Vec<u8>,
    /// `<host> login: ` on the wire.
    login_prompt: Vec<u8>,
    vfs: crate::LazyVfs,
}

impl Service for Telnet {
    fn name(&self) -> &'static str {
        "telnet"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let p = &decky.persona;
        let issue = p
            .distro
            .telnet_issue
            .replace("\\r", &p.kernel)
            .replace("\\m", "x86_64")
            .replace("\\l", "pts/0");
        let host = p.hostname.split('.').next().unwrap_or("localhost");
        let mut login_prompt = Vec::new();
        encode_text(&format!("{host} login: "), &mut login_prompt);
        let mut greeting = vec![
            IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA, IAC, DO, OPT_NAWS, IAC, DO, OPT_TTYPE,
        ];
        if !issue.is_empty() {
            encode_text(&format!("{issue}\n\n"), &mut greeting);
        }
        greeting.extend_from_slice(&login_prompt);
        Ok(Arc::new(TelnetHandler {
            creds: Credentials::for_service(&decky.spec, "telnet", &["ssh"]),
            greeting,
            login_prompt,
            vfs: crate::LazyVfs::Decky(decky.clone()),
        }))
    }
}

impl Handler for TelnetHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut io = TelnetIo::new(conn.stream);
            let result = self.run(&mut io, &session).await;
            let _ = io.flush().await;
            if let Err(e) = result {
                if !matches!(e, ReadError::Eof) {
                    session.emit_error(format!("telnet: {e}"));
                }
            }
        })
    }
}

impl TelnetHandler {
    async fn run(&self, io: &mut TelnetIo, session: &Session) -> Result<(), ReadError> {
        let limits = session.limits().clone();
        // login(1) gives the whole dialogue 60 s, however slowly it types.
        let login = tokio::time::timeout(limits.login_timeout, self.login(io, session)).await;
        match login {
            Ok(Ok(Some(user))) => {
                run_shell(io, session, self.vfs.get(), &user, limits.idle_timeout).await
            }
            Ok(Ok(None)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                session.emit_error("telnet: login timed out");
                let secs = limits.login_timeout.as_secs();
                let _ = io
                    .write_text(&format!("\nLogin timed out after {secs} seconds.\n"))
                    .await;
                Ok(())
            }
        }
    }

    /// The login dialogue: the user name that logged in, or `None` when
    /// the tries ran out or the client left during a failure delay.
    async fn login(
        &self,
        io: &mut TelnetIo,
        session: &Session,
    ) -> Result<Option<String>, ReadError> {
        let io_err = |e: std::io::Error| ReadError::Io(e.to_string());
        let limits = session.limits();
        let login_idle = limits.idle_timeout.min(Duration::from_secs(60));
        let mut probe_seen = false;
        for attempt in 1..=MAX_LOGIN_TRIES {
            let prompt = if attempt == 1 {
                &self.greeting
            } else {
                &self.login_prompt
            };
            io.write(prompt).await.map_err(io_err)?;
            let user = io.read_line(true, 256, login_idle).await?;
            io.write_text("Password: ").await.map_err(io_err)?;
            let pass = io.read_line(false, 256, login_idle).await?;
            io.write_text("\n").await.map_err(io_err)?;
            let user = decnet_core::event::printable(&user);
            // A scanner's probe lines (`GET / HTTP/1.0`, SIP headers…) are
            // not a login: recorded once per connection as the probe they
            // are, and refused like any wrong login.
            let probe = is_probe_text(&user);
            let ok = !probe && self.creds.check(&user, &pass);
            if !probe {
                session.emit_auth(
                    &user,
                    "password",
                    &pass,
                    ok,
                    fields! {"attempt" => attempt as u64, "term" => io.term.clone().unwrap_or_default()},
                );
            } else if !probe_seen {
                probe_seen = true;
                session.emit_probe(&user, "login");
            }
            if ok {
                return Ok(Some(user));
            }
            if !io.sleep_unless_closed(limits.auth_fail_delay).await {
                return Ok(None);
            }
            io.write_text("\nLogin incorrect\n").await.map_err(io_err)?;
        }
        io.write_text(&format!(
            "Maximum number of tries exceeded ({MAX_LOGIN_TRIES})\n"
        ))
        .await
        .map_err(io_err)?;
        Ok(None)
    }
}

/// The shared fake shell over telnet, recorded as an asciicast transcript.
async fn run_shell(
    io: &mut TelnetIo,
    session: &Session,
    vfs: Arc<decnet_shell::Vfs>,
    user: &str,
    idle: Duration,
) -> Result<(), ReadError> {
    let (w, h) = io.window.unwrap_or((80, 24));
    let term = io.term.clone().unwrap_or_else(|| "vt100".into());
    let mut transcript = Transcript::new(session, w.into(), h.into(), &term);
    let result = shell_loop(io, session, vfs, user, idle, &mut transcript).await;
    transcript.flush().await;
    result
}

async fn shell_loop(
    io: &mut TelnetIo,
    session: &Session,
    vfs: Arc<decnet_shell::Vfs>,
    user: &str,
    idle: Duration,
    transcript: &mut Transcript,
) -> Result<(), ReadError> {
    let io_err = |e: std::io::Error| ReadError::Io(e.to_string());
    let mut shell = Shell::new(
        vfs,
        user,
        ShellOptions {
            remote: session.peer.ip().to_string(),
            ..ShellOptions::default()
        },
    );
    let motd = shell.motd(None);
    io.write_text(&motd).await.map_err(io_err)?;
    transcript.output(motd.as_bytes());
    let max = session.limits().max_line;
    loop {
        let prompt = shell.prompt();
        io.write_text(&prompt).await.map_err(io_err)?;
        transcript.output(prompt.as_bytes());
        let line = io.read_line(true, max, idle).await?;
        transcript.input(&line);
        transcript.input(b"\r");
        let who = shell.user().to_owned();
        let mut out = shell.execute(&String::from_utf8_lossy(&line));
        loop {
            session.emit_shell_events(&who, &out.events);
            io.write_text(&out.stdout).await.map_err(io_err)?;
            transcript.output(out.stdout.as_bytes());
            let Some(p) = out.password_prompt.take() else {
                break;
            };
            io.write_text(&p).await.map_err(io_err)?;
            transcript.output(p.as_bytes());
            let pw = io.read_line(false, 256, idle).await?;
            io.write_text("\n").await.map_err(io_err)?;
            out = shell.password(&String::from_utf8_lossy(&pw));
        }
        if out.exit_requested {
            return Ok(());
        }
        transcript.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_negotiation_and_subneg() {
        let mut p = TelnetParser::default();
        let (mut d, mut c) = (Vec::new(), Vec::new());
        p.feed(
            &[
                b'a', IAC, WILL, OPT_TTYPE, IAC, SB, OPT_NAWS, 0, 80, 0, 24, IAC, SE, IAC, IAC,
                b'b',
            ],
            &mut d,
            &mut c,
        );
        p.feed(&[IAC, SB, OPT_TTYPE, 0, b'x', b't', IAC], &mut d, &mut c);
        p.feed(&[SE], &mut d, &mut c);
        assert_eq!(d, vec![b'a', IAC, b'b']);
        assert_eq!(
            c,
            vec![
                TelnetCmd::Negotiate(WILL, OPT_TTYPE),
                TelnetCmd::WindowSize(80, 24),
                TelnetCmd::TerminalType("xt".into())
            ]
        );
    }

    proptest! {
        #[test]
        fn parser_never_panics_and_bounds_subneg(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..8)) {
            let mut p = TelnetParser::default();
            let (mut d, mut c) = (Vec::new(), Vec::new());
            let total: usize = chunks.iter().map(|x| x.len()).sum();
            for ch in &chunks { p.feed(ch, &mut d, &mut c); }
            prop_assert!(d.len() <= total);
            prop_assert!(p.sb.len() <= MAX_SB);
        }
    }
}
