//! Database-service load: one login attempt per connection (MySQL
//! `mysql_native_password`, Redis `AUTH`) and N held authenticated
//! connections.
//!
//! The clients are minimal on purpose: the load generator shares the two
//! cores with the server, and the full client crates add per-connection
//! work (mysql_async's settings queries, redis' `CLIENT SETINFO`) that
//! would both slow the generator and add events the figure is not about.
//! Every reply is checked against the exact packet a real server sends
//! (MySQL ERR 1045 or 1698 / OK, Redis `-WRONGPASS` / `+OK`), so a wrong reply is
//! an error, not a login.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use sha1::{Digest as _, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::measure::{run_attempts, AuthResult, Bounds, IdleResult};

/// Which database protocol to speak.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Proto {
    Mysql,
    Redis,
}

/// What the attempt's reply must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Expect {
    /// Access denied (a brute-force guess).
    Denied,
    /// Logged in.
    Ok,
}

/// Who logs in, and where.
#[derive(Clone)]
pub struct Target {
    pub proto: Proto,
    pub addr: SocketAddr,
    /// MySQL user; for Redis, `Some` sends `AUTH user pass`, `None` `AUTH pass`.
    pub user: Option<String>,
    pub password: String,
}

impl Target {
    /// Connects, handshakes and sends one password; returns the connection
    /// and whether the server let it in.
    async fn login(&self) -> anyhow::Result<(TcpStream, bool)> {
        let mut s = TcpStream::connect(self.addr).await?;
        s.set_nodelay(true)?;
        let ok = match self.proto {
            Proto::Mysql => {
                let user = self.user.as_deref().unwrap_or("root");
                mysql_login(&mut s, user, &self.password).await?
            }
            Proto::Redis => redis_auth(&mut s, self.user.as_deref(), &self.password).await?,
        };
        Ok((s, ok))
    }

    /// Says goodbye the way the protocol's clients do.
    async fn quit(&self, s: &mut TcpStream) {
        let bye: &[u8] = match self.proto {
            Proto::Mysql => &[1, 0, 0, 0, 0x01], // COM_QUIT
            Proto::Redis => b"*1\r\n$4\r\nQUIT\r\n",
        };
        let _ = s.write_all(bye).await;
    }

    /// Proves a held connection is still served (COM_PING / PING).
    async fn ping(&self, s: &mut TcpStream) -> anyhow::Result<()> {
        match self.proto {
            Proto::Mysql => {
                s.write_all(&[1, 0, 0, 0, 0x0e]).await?;
                let (_, p) = read_packet(s).await?;
                if p.first() != Some(&0) {
                    bail!("COM_PING answered with {p:02x?}");
                }
            }
            Proto::Redis => {
                s.write_all(b"*1\r\n$4\r\nPING\r\n").await?;
                let line = read_line(s).await?;
                if line != b"+PONG" {
                    bail!("PING answered {:?}", String::from_utf8_lossy(&line));
                }
            }
        }
        Ok(())
    }
}

/// Login attempts per connection, `bounds.concurrency` in flight; a reply
/// other than `expect` is an error.
pub async fn db_auth(
    target: Target,
    expect: Expect,
    bounds: Bounds,
    server_pid: Option<u32>,
) -> anyhow::Result<AuthResult> {
    let target = Arc::new(target);
    run_attempts(bounds, server_pid, move || {
        let target = target.clone();
        async move {
            let (mut s, ok) = target.login().await?;
            if ok != (expect == Expect::Ok) {
                bail!(
                    "login {} but {expect:?} expected",
                    if ok { "accepted" } else { "denied" }
                );
            }
            if ok {
                target.quit(&mut s).await;
            }
            Ok(ok)
        }
    })
    .await
}

/// Opens `n` logged-in connections (64 handshakes in flight), checks each
/// still answers a ping after `hold` seconds, and reports the server's RSS
/// growth per connection.
pub async fn db_idle(
    target: Target,
    n: u64,
    server_pid: u32,
    hold: u64,
) -> anyhow::Result<IdleResult> {
    let before = crate::rss_kib(server_pid)?;
    let target = Arc::new(target);
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let r = tokio::time::timeout(Duration::from_secs(10), target.login()).await;
            drop(permit);
            match r {
                Ok(Ok((s, true))) => Ok(s),
                Ok(Ok((_, false))) => bail!("login refused"),
                Ok(Err(e)) => Err(e),
                Err(_) => bail!("login timed out"),
            }
        }));
    }
    let mut held = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await? {
            Ok(s) => held.push(s),
            Err(_) => failed += 1,
        }
    }
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let after = crate::rss_kib(server_pid)?;
    // Count only connections the server still serves.
    let mut alive = 0u64;
    for s in &mut held {
        match tokio::time::timeout(Duration::from_secs(5), target.ping(s)).await {
            Ok(Ok(())) => alive += 1,
            _ => failed += 1,
        }
    }
    drop(held);
    Ok(IdleResult::new(alive, failed, before, after))
}

// ---------------------------------------------------------------- mysql

/// Reads one MySQL packet: (sequence id, payload).
async fn read_packet(s: &mut TcpStream) -> anyhow::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await.context("packet header")?;
    let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
    if len > 1 << 20 {
        bail!("packet of {len} bytes");
    }
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).await.context("packet body")?;
    Ok((h[3], p))
}

async fn send_packet(s: &mut TcpStream, seq: u8, payload: &[u8]) -> anyhow::Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes()[..3]);
    out.push(seq);
    out.extend_from_slice(payload);
    s.write_all(&out).await?;
    Ok(())
}

/// `mysql_native_password`: SHA1(pw) XOR SHA1(salt ‖ SHA1(SHA1(pw))).
fn native_scramble(password: &[u8], salt: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha1::digest(password);
    let h2 = Sha1::digest(h1);
    let h3 = Sha1::new().chain_update(salt).chain_update(h2).finalize();
    h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect()
}

/// The 20-byte scramble of a protocol-v10 initial handshake.
fn handshake_salt(p: &[u8]) -> anyhow::Result<Vec<u8>> {
    match p.first() {
        Some(10) => {}
        Some(0xff) => bail!("server refused: {}", String::from_utf8_lossy(&p[3..])),
        other => bail!("not a v10 handshake ({other:?})"),
    }
    let v_end = 1 + p[1..].iter().position(|&b| b == 0).context("version")?;
    let mut at = v_end + 1 + 4; // version NUL, connection id
    let mut salt = p.get(at..at + 8).context("salt part 1")?.to_vec();
    // filler, caps lo, charset, status, caps hi, auth data length, reserved
    at += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
    salt.extend_from_slice(p.get(at..at + 12).context("salt part 2")?);
    Ok(salt)
}

/// Handshake, HandshakeResponse41 with a native scramble, then the reply
/// (following one auth switch): OK → true, ERR 1045/1698 → false.
async fn mysql_login(s: &mut TcpStream, user: &str, password: &str) -> anyhow::Result<bool> {
    const NATIVE: &[u8] = b"mysql_native_password";
    let (_, hs) = read_packet(s).await?;
    let salt = handshake_salt(&hs)?;
    // LONG_PASSWORD | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION | PLUGIN_AUTH
    let caps: u32 = 0x1 | 0x200 | 0x2000 | 0x8000 | 0x8_0000;
    let auth = native_scramble(password.as_bytes(), &salt);
    let mut r = Vec::with_capacity(96);
    r.extend_from_slice(&caps.to_le_bytes());
    r.extend_from_slice(&(16u32 << 20).to_le_bytes());
    r.push(0x21); // utf8_general_ci
    r.extend_from_slice(&[0; 23]);
    r.extend_from_slice(user.as_bytes());
    r.push(0);
    r.push(auth.len() as u8);
    r.extend_from_slice(&auth);
    r.extend_from_slice(NATIVE);
    r.push(0);
    send_packet(s, 1, &r).await?;
    let (mut seq, mut reply) = read_packet(s).await?;
    if reply.first() == Some(&0xfe) {
        // AuthSwitchRequest: plugin NUL salt NUL.
        let rest = &reply[1..];
        let end = rest.iter().position(|&b| b == 0).context("switch plugin")?;
        if &rest[..end] != NATIVE {
            bail!(
                "server switched to {}",
                String::from_utf8_lossy(&rest[..end])
            );
        }
        let salt = rest[end + 1..]
            .strip_suffix(&[0])
            .unwrap_or(&rest[end + 1..]);
        send_packet(
            s,
            seq.wrapping_add(1),
            &native_scramble(password.as_bytes(), salt),
        )
        .await?;
        (seq, reply) = read_packet(s).await?;
    }
    let _ = seq;
    match reply.first() {
        Some(0x00) => Ok(true),
        Some(0xff) if reply.len() >= 9 => {
            let code = u16::from_le_bytes([reply[1], reply[2]]);
            let msg = String::from_utf8_lossy(&reply[9..]);
            // 1698 is MariaDB's refusal for a unix_socket account (Debian's
            // root from loopback), 1045 everyone else's.
            if matches!(code, 1045 | 1698)
                && &reply[3..9] == b"#28000"
                && msg.starts_with("Access denied for user")
            {
                Ok(false)
            } else {
                bail!("unexpected ERR {code}: {msg}")
            }
        }
        _ => bail!("unexpected reply {reply:02x?}"),
    }
}

// ---------------------------------------------------------------- redis

/// Reads one CRLF-terminated line (without the CRLF).
async fn read_line(s: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut line = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            bail!("closed mid-reply");
        }
        line.extend_from_slice(&buf[..n]);
        if line.ends_with(b"\r\n") {
            line.truncate(line.len() - 2);
            return Ok(line);
        }
        if line.len() > 4096 {
            bail!("reply line too long");
        }
    }
}

fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `AUTH [user] pass`: `+OK` → true, `-WRONGPASS …` (Redis ≥ 6) or
/// `-ERR invalid password` (older) → false.
async fn redis_auth(s: &mut TcpStream, user: Option<&str>, password: &str) -> anyhow::Result<bool> {
    let cmd = match user {
        Some(u) => resp_command(&[b"AUTH", u.as_bytes(), password.as_bytes()]),
        None => resp_command(&[b"AUTH", password.as_bytes()]),
    };
    s.write_all(&cmd).await?;
    let line = read_line(s).await?;
    if line == b"+OK" {
        Ok(true)
    } else if line.starts_with(b"-WRONGPASS ") || line == b"-ERR invalid password" {
        Ok(false)
    } else {
        bail!("AUTH answered {:?}", String::from_utf8_lossy(&line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_scramble_matches_the_documented_formula() {
        // Known vector: MySQL's PASSWORD('password') stage-2 hash is
        // SHA1(SHA1("password")) = 2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19,
        // so unscrambling with the salt must give back SHA1("password").
        let salt = b"abcdefghijklmnopqrst";
        let s = native_scramble(b"password", salt);
        let h1 = Sha1::digest(b"password");
        let h2 = Sha1::digest(h1);
        assert_eq!(hex_upper(&h2), "2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19");
        let h3 = Sha1::new().chain_update(salt).chain_update(h2).finalize();
        let back: Vec<u8> = s.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect();
        assert_eq!(back, h1.to_vec());
        assert!(native_scramble(b"", salt).is_empty());
    }

    #[test]
    fn salt_is_read_from_both_halves_of_a_v10_handshake() {
        let mut p = vec![10];
        p.extend_from_slice(b"5.7.44\0");
        p.extend_from_slice(&7u32.to_le_bytes());
        p.extend_from_slice(b"ABCDEFGH");
        p.push(0);
        p.extend_from_slice(&[0xff, 0xf7, 0x21, 2, 0, 0xff, 0x81, 21]);
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(b"IJKLMNOPQRST\0mysql_native_password\0");
        assert_eq!(handshake_salt(&p).unwrap(), b"ABCDEFGHIJKLMNOPQRST");
        assert!(handshake_salt(&[0xff, 0x10, 0x04, b'x']).is_err());
    }

    fn hex_upper(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02X}")).collect()
    }
}
