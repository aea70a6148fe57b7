//! One SSH connection: authentication policy and channels (PTY shell,
//! exec, scp sink, sftp) on top of russh.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use decnet_services::transcript::Transcript;
use decnet_services::{fields, Session as DSession};
use decnet_shell::shell::BRACKETED_PASTE_OFF;
use decnet_shell::{Shell, ShellOptions};
use russh::keys::HashAlg;
use russh::server::{Auth, ChannelOpenHandle, Handle, Msg, PublicKeyOffer, Response, Session};
use russh::{Channel, ChannelId, Disconnect, Pty};

use crate::hello::HelloSlot;
use crate::scp::{Action, ScpSink};
use crate::uploads::Uploads;
use crate::Shared;

/// Failed authentications before the connection is dropped (OpenSSH MaxAuthTries).
pub const MAX_AUTH_TRIES: u32 = 6;
/// Channels per connection.
const MAX_CHANNELS: usize = 8;
/// From sshd's greeting to the login shell's first prompt (bash reading
/// its startup files).
const SHELL_START: std::time::Duration = std::time::Duration::from_millis(50);

/// A first prompt not yet sent: the timer of [`Conn::start_login_shell`]
/// and input arriving first race for it, and whichever takes it sends it.
#[derive(Default)]
struct Greeting(Option<Arc<parking_lot::Mutex<Option<Vec<u8>>>>>);

impl Greeting {
    fn hold(&mut self, bytes: Vec<u8>) -> Arc<parking_lot::Mutex<Option<Vec<u8>>>> {
        let slot = Arc::new(parking_lot::Mutex::new(Some(bytes)));
        self.0 = Some(slot.clone());
        slot
    }

    /// The prompt if it is still unsent (now owned by the caller).
    fn take_pending(&mut self) -> Option<Vec<u8>> {
        self.0.take().and_then(|slot| slot.lock().take())
    }
}

/// `\n` as a terminal with ONLCR shows it.
fn crlf(text: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(text.len() + 16);
    for b in text.bytes() {
        if b == b'\n' {
            v.extend_from_slice(b"\r\n");
        } else {
            v.push(b);
        }
    }
    v
}

/// What a terminal in canonical mode echoes of typed bytes (ECHO, ICRNL,
/// ONLCR, ECHOCTL): printable bytes as they are, a line end as `\r\n`,
/// other control bytes as `^X`.
fn tty_echo(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 16);
    for &b in data {
        match b {
            b'\r' | b'\n' => v.extend_from_slice(b"\r\n"),
            b'\t' => v.push(b),
            0..=0x1f => v.extend_from_slice(&[b'^', b + 0x40]),
            0x7f => v.extend_from_slice(b"^?"),
            _ => v.push(b),
        }
    }
    v
}

#[derive(Default)]
struct Esc {
    /// 0 = none, 1 = after ESC, 2 = inside CSI/SS3.
    state: u8,
}

struct ShellChan {
    shell: Shell,
    /// The PTY's terminal type (empty without a PTY): what bash's prompt
    /// and readline's bracketed paste depend on.
    term: String,
    /// The first prompt while the login shell is still "starting".
    greeting: Greeting,
    line: Vec<u8>,
    pty: bool,
    awaiting_password: bool,
    esc: Esc,
    /// Position while browsing history with the arrow keys (0 = new line).
    hist: usize,
}

impl ShellChan {
    /// Readline's handling of an escape sequence's byte (arrows browse the
    /// history); false when `b` is not part of one.
    fn escape_byte(&mut self, b: u8, echo: &mut Vec<u8>) -> bool {
        match self.esc.state {
            1 => {
                self.esc.state = if b == b'[' || b == b'O' { 2 } else { 0 };
                true
            }
            2 => {
                if (0x40..=0x7e).contains(&b) {
                    self.esc.state = 0;
                    self.arrow(b, echo);
                }
                true
            }
            _ => false,
        }
    }

    /// Up/down arrows browse the history like readline.
    fn arrow(&mut self, b: u8, echo: &mut Vec<u8>) {
        let target = match b {
            b'A' if !self.awaiting_password => Some(self.hist + 1),
            b'B' if !self.awaiting_password && self.hist > 0 => Some(self.hist - 1),
            _ => None,
        };
        let Some(t) = target else {
            return;
        };
        let entry = if t == 0 {
            Some(String::new())
        } else {
            self.shell.history_back(t).map(str::to_owned)
        };
        if let Some(e) = entry {
            self.hist = t;
            let width = String::from_utf8_lossy(&self.line).chars().count();
            echo.extend(std::iter::repeat_n(0x08u8, width));
            echo.extend_from_slice(b"\x1b[K");
            echo.extend_from_slice(e.as_bytes());
            self.line = e.into_bytes();
        } else {
            echo.push(0x07);
        }
    }

    /// One typed byte outside an escape sequence: editing keys, or a
    /// character of the line; returns the line when it is complete.
    // One arm per key reads like readline's key table; folding the
    // backspace arm's condition into the match pattern would hide it.
    #[allow(clippy::collapsible_match)]
    fn key(&mut self, b: u8, max: usize, echo: &mut Vec<u8>) -> Option<Vec<u8>> {
        match b {
            0x1b => self.esc.state = 1,
            b'\r' | b'\n' => {
                self.hist = 0;
                echo.extend_from_slice(b"\r\n");
                if !self.awaiting_password && self.shell.bracketed_paste(&self.term) {
                    echo.extend_from_slice(BRACKETED_PASTE_OFF.as_bytes());
                }
                return Some(std::mem::take(&mut self.line));
            }
            0x7f | 0x08 => {
                if self.line.pop().is_some() {
                    while self.line.last().is_some_and(|c| (c & 0xc0) == 0x80) {
                        self.line.pop();
                    }
                    if !self.awaiting_password {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                }
            }
            0x03 => {
                self.line.clear();
                self.awaiting_password = false;
                echo.extend_from_slice(b"^C\r\n");
                echo.extend_from_slice(self.shell.terminal_prompt(&self.term).as_bytes());
            }
            0x04 if self.line.is_empty() && !self.awaiting_password => {
                return Some(b"exit".to_vec());
            }
            0x15 => {
                for _ in 0..self.line.len() {
                    echo.extend_from_slice(b"\x08 \x08");
                }
                self.line.clear();
            }
            0x0c => {
                echo.extend_from_slice(b"\x1b[H\x1b[2J");
                echo.extend_from_slice(self.shell.terminal_prompt(&self.term).as_bytes());
                echo.extend_from_slice(&self.line);
            }
            b'\t' => echo.push(0x07),
            b if b >= 0x20 => {
                if self.line.len() < max {
                    self.line.push(b);
                    if !self.awaiting_password {
                        echo.push(b);
                    }
                } else {
                    echo.push(0x07);
                }
            }
            _ => {}
        }
        None
    }
}

enum Chan {
    Shell(Box<ShellChan>),
    Scp(Box<ScpSink>),
    /// `scp -f`: (header, body) still to send, each after a NUL from the client.
    ScpSource(Option<Vec<u8>>, Option<Vec<u8>>),
    Sftp,
    Closed,
}

#[derive(Clone)]
struct PtyInfo {
    term: String,
    cols: u32,
    rows: u32,
}

/// russh handler of one connection.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    pub(crate) session: DSession,
    pub(crate) hello: HelloSlot,
    pub(crate) handle: Arc<OnceLock<Handle>>,
    pub(crate) authed: Arc<AtomicBool>,
    failures: u32,
    user: Option<String>,
    opened: HashMap<ChannelId, Channel<Msg>>,
    chans: HashMap<ChannelId, Chan>,
    ptys: HashMap<ChannelId, PtyInfo>,
    transcript: Option<Transcript>,
    uploads: Option<Uploads>,
    /// The fleet's own admin login (chatter), in the decky's story while
    /// it lasts.
    visit: Option<decnet_shell::lived::visit::Visit>,
}

impl Conn {
    pub(crate) fn new(
        shared: Arc<Shared>,
        session: DSession,
        hello: HelloSlot,
        handle: Arc<OnceLock<Handle>>,
        authed: Arc<AtomicBool>,
    ) -> Conn {
        Conn {
            shared,
            session,
            hello,
            handle,
            authed,
            failures: 0,
            user: None,
            opened: HashMap::new(),
            chans: HashMap::new(),
            ptys: HashMap::new(),
            transcript: None,
            uploads: None,
            visit: None,
        }
    }

    fn reject(&self) -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(self.shared.methods.clone()),
            partial_success: false,
        }
    }

    fn hello_fields(&self) -> decnet_core::Fields {
        let h = self.hello.lock().clone().unwrap_or_default();
        fields! {"client_version" => h.version, "hassh" => h.hassh, "hassh_algorithms" => h.hassh_algorithms}
    }

    /// Counts a failure; after the last allowed one, schedules the same
    /// disconnect OpenSSH sends ("Too many authentication failures").
    async fn failed(&mut self) {
        self.failures += 1;
        if self.failures >= MAX_AUTH_TRIES {
            if let Some(h) = self.handle.get() {
                let _ = h
                    .disconnect(
                        Disconnect::ProtocolError,
                        "Too many authentication failures".into(),
                        String::new(),
                    )
                    .await;
            }
        }
    }

    async fn password_attempt(&mut self, user: &str, password: &[u8], method: &str) -> Auth {
        let ok = self.shared.creds.check(user, password);
        let mut extra = self.hello_fields();
        extra.insert("method".into(), method.into());
        extra.insert("attempt".into(), (self.failures + 1).into());
        self.session
            .emit_auth(user, "password", password, ok, extra);
        if ok {
            self.user = Some(user.to_owned());
            self.authed.store(true, Ordering::Relaxed);
            // An attacker's login stays out of the story; the fleet's own
            // admins log in as the host's people would.
            if self.session.internal && self.visit.is_none() {
                self.visit = Some(decnet_shell::lived::visit::Visit::begin(
                    &self.shared.vfs(),
                    user,
                    self.session.peer,
                ));
            }
            Auth::Accept
        } else {
            self.failed().await;
            self.reject()
        }
    }

    fn shell_options(&self, interactive: bool) -> ShellOptions {
        ShellOptions {
            remote: self.session.peer.ip().to_string(),
            interactive,
            ..ShellOptions::default()
        }
    }

    fn new_shell(&self, interactive: bool) -> Shell {
        Shell::new(
            self.shared.vfs(),
            self.user.as_deref().unwrap_or("root"),
            self.shell_options(interactive),
        )
    }

    fn transcript(&mut self, channel: ChannelId) -> &mut Transcript {
        let pty = self.ptys.get(&channel).cloned();
        let session = &self.session;
        self.transcript.get_or_insert_with(|| {
            let (w, h, term) =
                pty.map(|p| (p.cols, p.rows, p.term))
                    .unwrap_or((80, 24, "dumb".into()));
            Transcript::new(session, w, h, &term)
        })
    }

    /// Emits a `command` event for a non-shell request (scp, sftp) by the
    /// logged-in user (`root` before authentication). Returns that user.
    fn log_command(&mut self, command: &str) -> String {
        let user = self.user.clone().unwrap_or_else(|| "root".into());
        self.session.emit(
            decnet_core::EventKind::Command,
            fields! {"command" => command, "user" => user.as_str()},
        );
        user
    }

    /// `user`'s home directory in the decoy filesystem (`/root` for an
    /// account it does not know).
    fn home_of(&self, user: &str) -> String {
        self.shared
            .vfs()
            .host()
            .account(user)
            .map(|a| a.home.clone())
            .unwrap_or_else(|| "/root".into())
    }

    /// Logs an `scp -f`/`-t` exec as a command and resolves its path operand
    /// (the last word that is not an option, `.` when none) against the
    /// user's home. Returns the operand as written and the absolute path.
    fn scp_request<'w>(&mut self, command: &str, words: &[&'w str]) -> (&'w str, String) {
        let user = self.log_command(command);
        let target = words
            .iter()
            .skip(1)
            .rfind(|w| !w.starts_with('-'))
            .copied()
            .unwrap_or(".");
        let home = self.home_of(&user);
        (target, crate::absolute(&home, target))
    }

    fn uploads(&mut self) -> Uploads {
        let vfs = self.shared.vfs();
        let (uid, gid) = self
            .user
            .as_deref()
            .and_then(|u| vfs.host().account(u))
            .map(|a| (a.uid, a.gid))
            .unwrap_or((0, 0));
        self.uploads
            .get_or_insert_with(|| {
                Uploads::new(self.session.clone(), self.shared.vfs(), (uid, gid))
            })
            .clone()
    }

    /// Sends sshd's greeting (MOTD, last login) at once and the login
    /// shell's first prompt once bash has "started", [`SHELL_START`]
    /// later: what the client typed ahead meanwhile is echoed by the
    /// terminal before that prompt (see `data`), as on a real host.
    fn start_login_shell(
        &mut self,
        session: &mut Session,
        channel: ChannelId,
        greeting: Vec<u8>,
        prompt: Vec<u8>,
    ) {
        let _ = session.data(channel, greeting);
        let Some(Chan::Shell(sc)) = self.chans.get_mut(&channel) else {
            return;
        };
        let Some(handle) = self.handle.get().cloned() else {
            let _ = session.data(channel, prompt);
            return;
        };
        let pending = sc.greeting.hold(prompt);
        tokio::spawn(async move {
            tokio::time::sleep(SHELL_START).await;
            let ready = pending.lock().take();
            if let Some(g) = ready {
                let _ = handle.data(channel, g).await;
            }
        });
    }

    fn send(&mut self, session: &mut Session, channel: ChannelId, text: &str, pty: bool) {
        if text.is_empty() {
            return;
        }
        let bytes: Vec<u8> = if pty {
            crlf(text)
        } else {
            text.as_bytes().to_vec()
        };
        self.transcript(channel).output(&bytes);
        let _ = session.data(channel, bytes);
    }

    fn finish(&mut self, session: &mut Session, channel: ChannelId, code: u32) {
        let _ = session.exit_status_request(channel, code);
        let _ = session.eof(channel);
        let _ = session.close(channel);
        self.chans.insert(channel, Chan::Closed);
    }

    async fn flush_transcript(&mut self) {
        if let Some(t) = self.transcript.as_mut() {
            t.flush().await;
        }
    }

    /// Runs one line in a channel's shell; returns true when the shell exited.
    fn run_line(&mut self, session: &mut Session, channel: ChannelId, line: &[u8]) -> bool {
        let Some(Chan::Shell(sc)) = self.chans.get_mut(&channel) else {
            return true;
        };
        let pty = sc.pty;
        let text = String::from_utf8_lossy(line).into_owned();
        let (out, user) = if sc.awaiting_password {
            sc.awaiting_password = false;
            let u = sc.shell.user().to_owned();
            (sc.shell.password(&text), u)
        } else {
            let u = sc.shell.user().to_owned();
            (sc.shell.execute(&text), u)
        };
        self.session.emit_shell_events(&user, &out.events);
        let mut shown = out.stdout.clone();
        let exit = out.exit_requested;
        if let Some(p) = &out.password_prompt {
            shown.push_str(p);
        }
        let mut prompt_next = false;
        if let Some(Chan::Shell(sc)) = self.chans.get_mut(&channel) {
            if out.password_prompt.is_some() {
                sc.awaiting_password = true;
            } else if pty && !exit {
                prompt_next = true;
            }
            if prompt_next {
                shown.push_str(&sc.shell.terminal_prompt(&sc.term));
            }
        }
        self.send(session, channel, &shown, pty);
        if exit {
            let code = out.exit_code.max(0) as u32;
            self.finish(session, channel, code);
        }
        exit
    }

    /// Line editing of a PTY shell (readline's part): echo, backspace,
    /// ^C, ^D, ^U; escape sequences (arrows…) are swallowed. Reads up to
    /// the end of the first complete line and returns how many bytes it
    /// used and that line: readline echoes the next typed-ahead line only
    /// once the command before it has run and the prompt is back.
    fn pty_input(
        &mut self,
        session: &mut Session,
        channel: ChannelId,
        data: &[u8],
    ) -> (usize, Option<Vec<u8>>) {
        let max = self.session.limits().max_line;
        let mut line = None;
        let mut used = data.len();
        let mut echo: Vec<u8> = Vec::new();
        let Some(Chan::Shell(sc)) = self.chans.get_mut(&channel) else {
            return (used, None);
        };
        for (i, &b) in data.iter().enumerate() {
            if line.is_some() {
                used = i;
                break;
            }
            if !sc.escape_byte(b, &mut echo) {
                line = sc.key(b, max, &mut echo);
            }
        }
        if !echo.is_empty() {
            self.transcript(channel).output(&echo);
            let _ = session.data(channel, echo);
        }
        (used, line)
    }

    /// `scp -f` (a download): each NUL from the client releases the next part.
    fn scp_source_data(&mut self, session: &mut Session, channel: ChannelId, data: &[u8]) {
        let Some(Chan::ScpSource(header, body)) = self.chans.get_mut(&channel) else {
            return;
        };
        let mut done = false;
        for &b in data {
            if b != 0 {
                done = true;
                break;
            }
            if let Some(h) = header.take() {
                let _ = session.data(channel, h);
            } else if let Some(d) = body.take() {
                let _ = session.data(channel, d);
            } else {
                done = true;
                break;
            }
        }
        if done {
            self.finish(session, channel, 0);
        }
    }

    /// `scp -t` (an upload): the sink's records, files kept as uploads.
    async fn scp_sink_data(&mut self, session: &mut Session, channel: ChannelId, data: &[u8]) {
        let Some(Chan::Scp(sink)) = self.chans.get_mut(&channel) else {
            return;
        };
        let actions = sink.feed(data);
        // The acknowledgement of a file that was not kept becomes
        // scp's error line, as when the sink's write fails (ENOSPC).
        let mut failed: Option<String> = None;
        for a in actions {
            match a {
                Action::Send(b) => {
                    let b = match failed.take() {
                        Some(path) if b == [0] => {
                            format!("\x01scp: {path}: No space left on device\n").into_bytes()
                        }
                        _ => b,
                    };
                    let _ = session.data(channel, b);
                }
                Action::File {
                    path,
                    data,
                    truncated,
                    mode,
                    ..
                } => {
                    let up = self.uploads();
                    if !up.save(&path, &data, truncated, mode, "scp").await {
                        if let Some(Chan::Scp(sink)) = self.chans.get_mut(&channel) {
                            sink.failed = true;
                        }
                        failed = Some(path);
                    }
                }
                Action::Fail(msg) => {
                    let mut m = vec![1u8];
                    m.extend_from_slice(msg.as_bytes());
                    m.push(b'\n');
                    let _ = session.data(channel, m);
                    self.finish(session, channel, 1);
                    break;
                }
            }
        }
    }

    /// Typing into a shell: line editing on a PTY, lines run in turn.
    async fn shell_data(&mut self, session: &mut Session, channel: ChannelId, data: &[u8]) {
        let Some(Chan::Shell(sc)) = self.chans.get_mut(&channel) else {
            return;
        };
        let pty = sc.pty;
        let early = sc.greeting.take_pending();
        self.transcript(channel).input(data);
        if let Some(prompt) = early {
            // Typed before the login shell started: the terminal
            // echoed it (canonical mode) before bash's prompt;
            // readline reads it afterwards, echoing it again.
            let mut out = tty_echo(data);
            self.transcript(channel).output(&out);
            out.extend_from_slice(&prompt);
            let _ = session.data(channel, out);
        }
        let mut ran = false;
        if pty {
            let mut rest = data;
            while !rest.is_empty() {
                let (used, line) = self.pty_input(session, channel, rest);
                rest = &rest[used..];
                let Some(l) = line else { break };
                ran = true;
                if self.run_line(session, channel, &l) {
                    break;
                }
            }
        } else {
            for l in self.plain_input(channel, data) {
                ran = true;
                if self.run_line(session, channel, &l) {
                    break;
                }
            }
        }
        // One append per command line (or per 16 KiB of typing): an
        // idle session keeps no transcript buffer.
        if ran || self.transcript.as_ref().is_some_and(|t| t.should_flush()) {
            self.flush_transcript().await;
        }
    }

    fn plain_input(&mut self, channel: ChannelId, data: &[u8]) -> Vec<Vec<u8>> {
        let max = self.session.limits().max_line;
        let mut lines = Vec::new();
        let Some(Chan::Shell(sc)) = self.chans.get_mut(&channel) else {
            return lines;
        };
        for &b in data {
            if b == b'\n' {
                let mut l = std::mem::take(&mut sc.line);
                if l.last() == Some(&b'\r') {
                    l.pop();
                }
                lines.push(l);
            } else if sc.line.len() < max {
                sc.line.push(b);
            }
        }
        lines
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(self.reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(self
            .password_attempt(user, password.as_bytes(), "password")
            .await)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        match response {
            None => {
                let host = self.shared.vfs().host().hostname.clone();
                Ok(Auth::Partial {
                    name: Cow::Borrowed(""),
                    instructions: Cow::Borrowed(""),
                    prompts: Cow::Owned(vec![(
                        Cow::Owned(format!("({user}@{host}) Password: ")),
                        false,
                    )]),
                })
            }
            Some(mut r) => {
                let answer = r.next().map(|b| b.to_vec()).unwrap_or_default();
                Ok(self
                    .password_attempt(user, &answer, "keyboard-interactive")
                    .await)
            }
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let fp = offer.public_key.fingerprint(HashAlg::Sha256).to_string();
        let mut extra = self.hello_fields();
        extra.insert("method".into(), "publickey".into());
        extra.insert(
            "key_type".into(),
            offer.public_key.algorithm().as_str().to_owned().into(),
        );
        extra.insert("fingerprint".into(), fp.clone().into());
        extra.insert("attempt".into(), (self.failures + 1).into());
        self.session
            .emit_auth(user, "publickey", fp.as_bytes(), false, extra);
        self.failed().await;
        Ok(self.reject())
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        _key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.reject())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.opened.len() + self.chans.len() >= MAX_CHANNELS {
            drop(reply);
            return Ok(());
        }
        self.opened.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Only channels we accepted and that have not started a program.
        if !self.opened.contains_key(&channel) {
            return Ok(());
        }
        self.ptys.insert(
            channel,
            PtyInfo {
                term: term.chars().take(64).collect(),
                // `ssh -tt` without a terminal sends 0x0.
                cols: if col_width == 0 {
                    80
                } else {
                    col_width.min(1000)
                },
                rows: if row_height == 0 {
                    24
                } else {
                    row_height.min(1000)
                },
            },
        );
        session.channel_success(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.opened.contains_key(&channel) {
            session.channel_success(channel)?;
        }
        Ok(())
    }

    async fn window_change_request(
        &mut self,
        _channel: ChannelId,
        _c: u32,
        _r: u32,
        _pw: u32,
        _ph: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.opened.remove(&channel).is_none() {
            return Ok(());
        }
        let pty = self.ptys.contains_key(&channel);
        let term = self
            .ptys
            .get(&channel)
            .map(|p| p.term.clone())
            .unwrap_or_default();
        let shell = self.new_shell(pty);
        session.channel_success(channel)?;
        let greeting = if pty {
            // "Last login" from an address of the decky's own subnet, stable per decky.
            let vfs = self.shared.vfs();
            let h = vfs.host();
            // A v6-only decky's admin logs in over IPv6, so the address
            // comes from whichever family the decky has.
            let from = h
                .addrs
                .on_lan((20 + h.salt % 200) as u8)
                .map(|a| a.to_string());
            shell.motd(from.as_deref())
        } else {
            String::new()
        };
        let greeting = crlf(&greeting);
        let prompt = if pty {
            crlf(&shell.terminal_prompt(&term))
        } else {
            Vec::new()
        };
        self.chans.insert(
            channel,
            Chan::Shell(Box::new(ShellChan {
                shell,
                term,
                greeting: Greeting::default(),
                line: Vec::new(),
                pty,
                awaiting_password: false,
                esc: Esc::default(),
                hist: 0,
            })),
        );
        self.transcript(channel).output(&greeting);
        self.transcript(channel).output(&prompt);
        if pty {
            self.start_login_shell(session, channel, greeting, prompt);
        }
        self.flush_transcript().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.opened.remove(&channel).is_none() {
            return Ok(());
        }
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(&data[..data.len().min(64 * 1024)]).into_owned();
        self.transcript(channel).input(command.as_bytes());
        let words: Vec<&str> = command.split_whitespace().collect();
        if words.first() == Some(&"scp") && words.contains(&"-f") {
            // Legacy scp download: serve the file from the VFS.
            let (target, abs) = self.scp_request(&command, &words);
            match self.shared.vfs().get(&abs) {
                Some(decnet_shell::Node {
                    kind: decnet_shell::Kind::File(decnet_shell::Content::Bytes(b)),
                    mode,
                    ..
                }) => {
                    let header = format!(
                        "C{:04o} {} {}\n",
                        mode & 0o7777,
                        b.len(),
                        crate::base_of(&abs)
                    );
                    let mut body = b.to_vec();
                    body.push(0);
                    self.chans.insert(
                        channel,
                        Chan::ScpSource(Some(header.into_bytes()), Some(body)),
                    );
                }
                other => {
                    let why = match other {
                        Some(n) if n.is_dir() => "not a regular file",
                        Some(_) => "Permission denied",
                        None => "No such file or directory",
                    };
                    let _ =
                        session.data(channel, format!("\x01scp: {target}: {why}\n").into_bytes());
                    self.finish(session, channel, 1);
                }
            }
            return Ok(());
        }
        if words.first() == Some(&"scp") && words.contains(&"-t") {
            let (target, abs) = self.scp_request(&command, &words);
            let is_dir = words.contains(&"-d")
                || words.contains(&"-r")
                || target.ends_with('/')
                || self
                    .shared
                    .vfs()
                    .get(&abs)
                    .map(|n| n.is_dir())
                    .unwrap_or(false);
            let uploads = self.uploads();
            let sink = ScpSink::new(&abs, is_dir, uploads.max_file());
            self.chans.insert(channel, Chan::Scp(Box::new(sink)));
            if let Action::Send(b) = ScpSink::start() {
                let _ = session.data(channel, b);
            }
            return Ok(());
        }
        let pty = self.ptys.contains_key(&channel);
        let mut shell = self.new_shell(pty);
        let user = shell.user().to_owned();
        let out = shell.execute(&command);
        self.session.emit_shell_events(&user, &out.events);
        let mut text = out.stdout;
        if out.password_prompt.is_some() {
            text.push_str("sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\n");
        }
        self.send(session, channel, &text, pty);
        self.finish(session, channel, out.exit_code.max(0) as u32);
        self.flush_transcript().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(ch) = self.opened.remove(&channel) else {
            return Ok(());
        };
        if name != "sftp" {
            session.channel_failure(channel)?;
            return Ok(());
        }
        let user = self.log_command("subsystem sftp");
        session.channel_success(channel)?;
        let home = self.home_of(&user);
        let sftp = crate::sftp::Sftp::new(self.shared.vfs(), home, self.uploads());
        self.chans.insert(channel, Chan::Sftp);
        russh_sftp::server::run(ch.into_stream(), sftp).await;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self.chans.get(&channel) {
            Some(Chan::ScpSource(..)) => self.scp_source_data(session, channel, data),
            Some(Chan::Scp(_)) => self.scp_sink_data(session, channel, data).await,
            Some(Chan::Shell(_)) => self.shell_data(session, channel, data).await,
            _ => {}
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self.chans.get(&channel) {
            // Like sftp-server: the client's EOF ends the subsystem with status 0.
            // scp's sink exits 1 when a file could not be written.
            Some(Chan::Scp(sink)) if sink.failed => self.finish(session, channel, 1),
            Some(Chan::Scp(_)) | Some(Chan::ScpSource(..)) | Some(Chan::Sftp) => {
                self.finish(session, channel, 0)
            }
            Some(Chan::Shell(sc)) if !sc.pty => {
                // `echo cmds | ssh host`: run what is left, then end like bash at EOF.
                let rest = match self.chans.get_mut(&channel) {
                    Some(Chan::Shell(sc)) => std::mem::take(&mut sc.line),
                    _ => Vec::new(),
                };
                if !rest.is_empty() {
                    self.run_line(session, channel, &rest);
                }
                if !matches!(self.chans.get(&channel), Some(Chan::Closed)) {
                    self.finish(session, channel, 0);
                }
            }
            _ => {}
        }
        self.flush_transcript().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.chans.remove(&channel);
        self.opened.remove(&channel);
        self.ptys.remove(&channel);
        self.flush_transcript().await;
        Ok(())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(visit) = self.visit.take() {
            visit.end(&self.shared.vfs());
        }
        // Flush what is left of the transcript without blocking the runtime.
        if let Some(mut t) = self.transcript.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { t.flush().await });
            }
        }
    }
}
