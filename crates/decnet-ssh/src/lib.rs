//! decnet-ssh: the SSH decoy.
//!
//! A russh server per decky that introduces itself with the persona's
//! OpenSSH identification string and an OpenSSH-like algorithm order,
//! persists its host keys (ed25519, ecdsa, rsa) in the decky's data dir,
//! offers `publickey,password` as Debian's sshd_config does (plus
//! `keyboard-interactive` with `[decky.ssh] keyboard_interactive = yes`),
//! answers a bad identification line as sshd does (see [`ident`]), records every attempt
//! (`auth_attempt` with `client_version` and `hassh`), accepts the decky's
//! configured logins and hands PTY shells and `exec` requests to the fake
//! shell. scp (`scp -t`) and the sftp subsystem capture uploads as
//! artifacts and drop them into the decky's virtual filesystem; sessions
//! are recorded as asciicast v2 transcripts.
//!
//! OpenSSH-like limits: 6 failed authentications per connection, then
//! "Too many authentication failures"; login grace time; idle timeout; a
//! failed password is answered after `Limits::auth_fail_delay` (a timer in
//! russh's session task — no thread held, no CPU burnt).

pub mod conn;
pub mod hello;
pub mod ident;
pub mod keys;
pub mod scp;
pub mod sftp;
pub mod uploads;

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use decnet_services::creds::Credentials;
use decnet_services::{Conn, DeckyCtx, Handler, Service, ServiceError, Session};
use decnet_shell::Vfs;
use futures::future::BoxFuture;
use parking_lot::RwLock;
use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PrivateKey};
use russh::{cipher, kex, mac, MethodKind, MethodSet, Preferred, SshId};

use crate::hello::{HelloSlot, Tee};
use crate::keys::HostKeyKind;

/// OpenSSH's default LoginGraceTime.
pub const LOGIN_GRACE: Duration = Duration::from_secs(120);

/// The `ssh` service.
pub struct Ssh;

/// Per-decky state shared by its connections.
pub struct Shared {
    pub(crate) creds: Credentials,
    /// Our identification line (`SSH-2.0-…`, no line ending).
    pub(crate) banner: String,
    /// Authentication methods offered.
    pub(crate) methods: MethodSet,
    /// The decky's filesystem, generated when a session first reads it.
    vfs: decnet_services::LazyVfs,
    config: RwLock<Arc<russh::server::Config>>,
    grace: Duration,
}

impl Shared {
    /// The decky's filesystem (generated now if no session read it yet).
    pub(crate) fn vfs(&self) -> Arc<Vfs> {
        self.vfs.get()
    }
}

/// Per-decky handler.
pub struct SshHandler {
    shared: Arc<Shared>,
}

/// `parent("/a/b") == "/a"`.
pub(crate) fn parent_of(p: &str) -> &str {
    decnet_shell::vfs::parent(p)
}

/// Last path component.
pub(crate) fn base_of(p: &str) -> &str {
    decnet_shell::vfs::basename(p)
}

/// Resolves `p` against `home` and normalises `.`/`..` (never escapes `/`).
pub(crate) fn absolute(home: &str, p: &str) -> String {
    match p.strip_prefix('~') {
        Some("") => decnet_shell::vfs::resolve(home, "."),
        Some(rest) if rest.starts_with('/') => decnet_shell::vfs::resolve(home, &rest[1..]),
        _ => decnet_shell::vfs::resolve(home, p),
    }
}

/// OpenSSH version number from an identification string
/// (`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3` → (9, 2)).
fn openssh_version(banner: &str) -> (u32, u32) {
    let v = banner
        .split("OpenSSH_")
        .nth(1)
        .unwrap_or("9.2")
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()
        .unwrap_or("9.2");
    let mut it = v.split('.').map(|x| x.parse().unwrap_or(0));
    (it.next().unwrap_or(9), it.next().unwrap_or(2))
}

/// Debian 12's OpenSSH 9.2 learnt the suffix-less
/// `sntrup761x25519-sha512` name in `1:9.2p1-2+deb12u4` (upstream in 9.9).
fn debian_backports_sntrup_name(banner: &str) -> bool {
    banner
        .split("Debian-2+deb12u")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n >= 4)
}

/// The persona release's KexAlgorithms default, in its order (OpenSSH's
/// `myproposal.h`): sntrup761 after the ECDH methods in 8.5–8.9, first from
/// 9.0, behind ML-KEM from 10.0.
fn kex_for(banner: &str, (major, minor): (u32, u32)) -> Vec<kex::Name> {
    let version = (major, minor);
    let mut sntrup = Vec::new();
    if version >= (9, 9) || debian_backports_sntrup_name(banner) {
        sntrup.push(kex::SNTRUP761X25519_SHA512);
    }
    if version >= (8, 5) {
        sntrup.push(kex::SNTRUP761X25519_SHA512_OPENSSH);
    }
    let ecdh = [
        kex::CURVE25519,
        kex::CURVE25519_PRE_RFC_8731,
        kex::ECDH_SHA2_NISTP256,
        kex::ECDH_SHA2_NISTP384,
        kex::ECDH_SHA2_NISTP521,
    ];
    let mut list: Vec<kex::Name> = Vec::new();
    if version >= (10, 0) {
        list.push(kex::MLKEM768X25519_SHA256);
        list.extend(sntrup);
    } else if version >= (9, 9) {
        list.extend(sntrup);
        list.push(kex::MLKEM768X25519_SHA256);
    } else if version >= (9, 0) {
        list.extend(sntrup);
    } else {
        list.extend(ecdh);
        list.extend(sntrup);
    }
    if version >= (9, 0) {
        list.extend(ecdh);
    }
    list.extend([
        kex::DH_GEX_SHA256,
        kex::DH_G16_SHA512,
        kex::DH_G18_SHA512,
        kex::DH_G14_SHA256,
    ]);
    // sshd announces ext-info-s itself from 9.6 on; before, it only
    // answers a client's ext-info-c (russh does that either way).
    if version >= (9, 6) {
        list.push(kex::EXTENSION_SUPPORT_AS_SERVER);
    }
    list.push(kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER);
    list
}

/// Algorithm lists in the order the persona's OpenSSH release offers them.
pub fn preferred_for(banner: &str) -> Preferred {
    let kex_list = kex_for(banner, openssh_version(banner));
    // OpenSSH's MAC default since 7.x: UMAC and encrypt-then-MAC first.
    let macs = vec![
        mac::UMAC_64_ETM,
        mac::UMAC_128_ETM,
        mac::HMAC_SHA256_ETM,
        mac::HMAC_SHA512_ETM,
        mac::HMAC_SHA1_ETM,
        mac::UMAC_64,
        mac::UMAC_128,
        mac::HMAC_SHA256,
        mac::HMAC_SHA512,
        mac::HMAC_SHA1,
    ];
    Preferred {
        kex: Cow::Owned(kex_list),
        // sshd's HostKeyAlgorithms order for its default host keys; no
        // SHA-1 `ssh-rsa` signatures since 8.8.
        key: Cow::Owned(vec![
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha512),
            },
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha256),
            },
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            },
            Algorithm::Ed25519,
        ]),
        host_key_certificates: Cow::Borrowed(&[]),
        cipher: Cow::Owned(vec![
            cipher::CHACHA20_POLY1305,
            cipher::AES_128_CTR,
            cipher::AES_192_CTR,
            cipher::AES_256_CTR,
            cipher::AES_128_GCM,
            cipher::AES_256_GCM,
        ]),
        mac: Cow::Owned(macs),
        compression: Cow::Owned(vec![
            russh::compression::NONE,
            russh::compression::ZLIB_LEGACY,
        ]),
    }
}

/// What OpenSSH's sshd lists in `server-sig-algs`: every signature
/// algorithm it verifies (`sshkey_alg_list`), not only its host keys'.
const SERVER_SIG_ALGS: &str = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,\
ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,\
webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,ssh-rsa,rsa-sha2-256,rsa-sha2-512";

/// The extensions sshd announces after the key exchange (RFC 8308):
/// `server-sig-algs` and, from 8.9 on, `publickey-hostbound@openssh.com`
/// (version 0), whose auth method the vendored russh accepts.
fn ext_info_for(version: (u32, u32)) -> Vec<(String, String)> {
    let mut extensions = vec![("server-sig-algs".to_owned(), SERVER_SIG_ALGS.to_owned())];
    if version >= (8, 9) {
        extensions.push(("publickey-hostbound@openssh.com".to_owned(), "0".to_owned()));
    }
    extensions
}

/// `[decky.ssh]` keys besides the logins.
pub mod config_keys {
    /// Software version after `SSH-2.0-` (`OpenSSH_9.2p1 Debian-2+deb12u10`);
    /// default: the persona's distro release.
    pub const VERSION: &str = "version";
    /// `yes` to offer keyboard-interactive too (Debian's sshd does not).
    pub const KEYBOARD_INTERACTIVE: &str = "keyboard_interactive";
}

/// The identification line: `[decky.ssh] version` or the persona's.
pub fn banner_for(decky: &DeckyCtx) -> String {
    match decky.config("ssh", config_keys::VERSION) {
        Some(v) => format!("SSH-2.0-{}", v.trim().trim_start_matches("SSH-2.0-")),
        None => decky.persona.ssh_banner.clone(),
    }
}

fn methods_for(decky: &DeckyCtx) -> MethodSet {
    let mut kinds = vec![MethodKind::PublicKey, MethodKind::Password];
    if decky
        .config("ssh", config_keys::KEYBOARD_INTERACTIVE)
        .and_then(yes_no)
        .unwrap_or(false)
    {
        kinds.push(MethodKind::KeyboardInteractive);
    }
    MethodSet::from(&kinds[..])
}

fn yes_no(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn build_config(decky: &DeckyCtx, keys: Vec<PrivateKey>) -> russh::server::Config {
    let limits = &decky.limits;
    let banner = banner_for(decky);
    russh::server::Config {
        server_id: SshId::Standard(Cow::Owned(banner.clone())),
        methods: methods_for(decky),
        auth_rejection_time: limits.auth_fail_delay,
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys,
        // Our own counter enforces MaxAuthTries (publickey included, like OpenSSH).
        max_auth_attempts: 0,
        inactivity_timeout: Some(limits.idle_timeout),
        keepalive_interval: None,
        nodelay: true,
        window_size: 256 * 1024,
        channel_buffer_size: 16,
        event_buffer_size: 8,
        preferred: preferred_for(&banner),
        ext_info: Some(ext_info_for(openssh_version(&banner))),
        ..Default::default()
    }
}

impl Service for Ssh {
    fn name(&self) -> &'static str {
        "ssh"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), decnet_services::config::ConfigError> {
        use decnet_services::config::ConfigError;
        if let Some(v) = cfg.get(config_keys::VERSION) {
            let bare = v.trim().trim_start_matches("SSH-2.0-");
            if bare.is_empty()
                || bare.len() > 200
                || !bare.bytes().all(|b| (0x20..0x7f).contains(&b))
            {
                return Err(ConfigError::Unsupported {
                    key: config_keys::VERSION,
                    value: v.clone(),
                    expected:
                        "1-200 printable ASCII characters (like OpenSSH_9.2p1 Debian-2+deb12u10)",
                });
            }
        }
        if let Some(v) = cfg.get(config_keys::KEYBOARD_INTERACTIVE) {
            if yes_no(v).is_none() {
                return Err(ConfigError::Unsupported {
                    key: config_keys::KEYBOARD_INTERACTIVE,
                    value: v.clone(),
                    expected: "yes or no",
                });
            }
        }
        Ok(())
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let setup = |message: String| ServiceError::Setup {
            service: "ssh",
            message,
        };
        let dir = decky.data_dir.clone();
        let mut keys = Vec::new();
        for kind in [HostKeyKind::Ecdsa, HostKeyKind::Ed25519] {
            keys.push(keys::load_or_generate(&dir, kind).map_err(setup)?);
        }
        let rsa = keys::load(&dir, HostKeyKind::Rsa);
        let have_rsa = rsa.is_some();
        keys.extend(rsa);
        let shared = Arc::new(Shared {
            creds: Credentials::for_service(&decky.spec, "ssh", &[]),
            banner: banner_for(decky),
            methods: methods_for(decky),
            vfs: decnet_services::LazyVfs::Decky(decky.clone()),
            config: RwLock::new(Arc::new(build_config(decky, keys.clone()))),
            grace: LOGIN_GRACE.min(decky.limits.idle_timeout),
        });
        if !have_rsa {
            // RSA generation takes CPU-seconds: do it off the runtime and
            // start offering the key when it is ready.
            let weak = Arc::downgrade(&shared);
            let d = decky.clone();
            let gen = move || {
                let key = keys::generate(HostKeyKind::Rsa)?;
                keys::save(&d.data_dir, HostKeyKind::Rsa, &key)?;
                if let Some(s) = weak.upgrade() {
                    let mut all = keys.clone();
                    all.push(key);
                    *s.config.write() = Arc::new(build_config(&d, all));
                }
                Ok::<(), String>(())
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn_blocking(move || {
                        if let Err(e) = gen() {
                            tracing::warn!("ssh: {e}");
                        }
                    });
                }
                Err(_) => gen().map_err(setup)?,
            }
        }
        Ok(Arc::new(SshHandler { shared }))
    }
}

impl SshHandler {
    /// The current server configuration (host keys may be added later).
    pub fn config(&self) -> Arc<russh::server::Config> {
        self.shared.config.read().clone()
    }
}

/// Sends a disconnect to the session if the connection task is dropped
/// (shutdown, session time limit) so russh's own task ends too.
struct DisconnectOnDrop(Arc<OnceLock<russh::server::Handle>>);

impl Drop for DisconnectOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.get().cloned() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = h
                        .disconnect(
                            russh::Disconnect::ByApplication,
                            String::new(),
                            String::new(),
                        )
                        .await;
                });
            }
        }
    }
}

impl Handler for SshHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let config = self.config();
            let hello: HelloSlot = Default::default();
            let handle_slot: Arc<OnceLock<russh::server::Handle>> = Default::default();
            let authed = Arc::new(AtomicBool::new(false));
            let _guard = DisconnectOnDrop(handle_slot.clone());
            let handler = conn::Conn::new(
                self.shared.clone(),
                session.clone(),
                hello.clone(),
                handle_slot.clone(),
                authed.clone(),
            );
            let grace = self.shared.grace;
            let mut stream = conn.stream;
            let banner = &self.shared.banner;
            let client_line =
                match tokio::time::timeout(grace, ident::exchange(&mut stream, banner)).await {
                    Ok(Ok(Ok(line))) => line,
                    // Refused (the reason was sent), timed out or gone: close
                    // without reading what else the client sent, as sshd exits.
                    _ => return,
                };
            let stream =
                Tee::new(stream, hello).after_identification(client_line, banner.len() + 2);
            let started =
                tokio::time::timeout(grace, russh::server::run_stream(config, stream, handler))
                    .await;
            let mut running = match started {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::debug!("ssh handshake: {e}");
                    return;
                }
                Err(_) => return,
            };
            let _ = handle_slot.set(running.handle());
            let grace_timer = async {
                tokio::time::sleep(grace).await;
                if authed.load(Ordering::Relaxed) {
                    futures::future::pending::<()>().await;
                }
            };
            tokio::select! {
                r = &mut running => {
                    if let Err(e) = r {
                        tracing::debug!("ssh session ended: {e}");
                    }
                }
                _ = grace_timer => {
                    if let Some(h) = handle_slot.get() {
                        let _ = h.disconnect(
                            russh::Disconnect::ByApplication,
                            format!("Timeout before authentication for {} port {}", session.peer.ip(), session.peer.port()),
                            String::new(),
                        ).await;
                    }
                    let _ = tokio::time::timeout(Duration::from_secs(2), running).await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_paths() {
        assert_eq!(
            openssh_version("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"),
            (9, 2)
        );
        assert_eq!(
            openssh_version("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"),
            (8, 9)
        );
        assert_eq!(openssh_version("SSH-2.0-OpenSSH_9.9"), (9, 9));
        assert_eq!(absolute("/root", "x"), "/root/x");
        assert_eq!(absolute("/root", "../../../etc/x"), "/etc/x");
        assert_eq!(absolute("/home/u", "~/a/./b"), "/home/u/a/b");
        assert_eq!(absolute("/root", "/"), "/");
    }

    /// The persona's kex list without the ECDH/DH methods in between that
    /// every release shares (the ordering questions are about the rest).
    fn kex_names(banner: &str) -> Vec<String> {
        const SHARED: &[&str] = &[
            "curve25519-sha256@libssh.org",
            "ecdh-sha2-nistp256",
            "ecdh-sha2-nistp384",
            "diffie-hellman-group16-sha512",
            "diffie-hellman-group18-sha512",
            "diffie-hellman-group14-sha256",
            "ext-info-s",
            "kex-strict-s-v00@openssh.com",
        ];
        kex_for(banner, openssh_version(banner))
            .iter()
            .map(|n| AsRef::<str>::as_ref(n).to_owned())
            .filter(|n| !SHARED.contains(&n.as_str()))
            .collect()
    }

    #[test]
    fn kex_lists_follow_the_persona_release() {
        let sntrup = "sntrup761x25519-sha512";
        let sntrup_openssh = "sntrup761x25519-sha512@openssh.com";
        let cases: [(&str, &[&str]); 6] = [
            // Debian 12 from deb12u4: both sntrup761 names first, as its sshd.
            (
                "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10",
                &[sntrup, sntrup_openssh, "curve25519-sha256"],
            ),
            // Before the backport: only the @openssh.com name.
            (
                "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
                &[sntrup_openssh, "curve25519-sha256"],
            ),
            // 8.5–8.9: after the ECDH methods, before the DH groups.
            (
                "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
                &[
                    "curve25519-sha256",
                    "ecdh-sha2-nistp521",
                    sntrup_openssh,
                    "diffie-hellman-group-exchange-sha256",
                ],
            ),
            (
                "SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3",
                &[
                    "curve25519-sha256",
                    "ecdh-sha2-nistp521",
                    "diffie-hellman-group-exchange-sha256",
                ],
            ),
            (
                "SSH-2.0-OpenSSH_9.9p1",
                &[sntrup, sntrup_openssh, "mlkem768x25519-sha256"],
            ),
            (
                "SSH-2.0-OpenSSH_10.0p2",
                &["mlkem768x25519-sha256", sntrup, sntrup_openssh],
            ),
        ];
        for (banner, head) in cases {
            let names = kex_names(banner);
            assert_eq!(names[..head.len()], *head, "{banner}");
        }
        // The full lists of the releases without sntrup761 in front end there.
        assert_eq!(kex_names("SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3").len(), 3);
        assert_eq!(
            kex_names("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10").len(),
            4
        );
    }

    #[test]
    fn ext_info_names_what_sshd_verifies_and_hostbound_from_8_9() {
        let debian = ext_info_for((9, 2));
        assert_eq!(debian[0].0, "server-sig-algs");
        assert!(debian[0]
            .1
            .starts_with("ssh-ed25519,sk-ssh-ed25519@openssh.com,"));
        assert!(debian[0]
            .1
            .ends_with(",ssh-dss,ssh-rsa,rsa-sha2-256,rsa-sha2-512"));
        assert_eq!(
            debian[1],
            ("publickey-hostbound@openssh.com".to_owned(), "0".to_owned())
        );
        assert_eq!(ext_info_for((8, 4)).len(), 1);
    }

    #[test]
    fn every_offered_algorithm_is_implemented() {
        let p = preferred_for("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10");
        let markers = [
            kex::EXTENSION_SUPPORT_AS_SERVER,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
        ];
        for k in p.kex.iter().filter(|k| !markers.contains(k)) {
            assert!(russh::kex::ALL_KEX_ALGORITHMS.contains(&k), "{k:?}");
        }
        for m in p.mac.iter() {
            assert!(russh::mac::ALL_MAC_ALGORITHMS.contains(&m), "{m:?}");
        }
        assert_eq!(p.mac[0], mac::UMAC_64_ETM);
    }
}
