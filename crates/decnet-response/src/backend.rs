//! Enforcement backends. Shell-outs use `tokio::process::Command` with
//! explicit arguments (never a shell), a null stdin unless a script is
//! piped, `kill_on_drop`, and a timeout.

use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use ipnet::IpNet;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::policy::{BackendKind, Policy};

/// One ban to enforce: value and seconds left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enforce {
    /// Address or range.
    pub value: IpNet,
    /// Seconds until it should lapse.
    pub ttl_secs: u64,
}

/// Why a backend could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The program could not be started or waited for.
    #[error("{program}: {source}")]
    Io {
        /// The executable.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Its script could not be written to its stdin.
    #[error("{program}: stdin: {source}")]
    Stdin {
        /// The executable.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// It did not finish in time (and was killed).
    #[error("{program}: timed out after {after:?}")]
    TimedOut {
        /// The executable.
        program: String,
        /// The limit.
        after: Duration,
    },
    /// It ran and refused: its command line and the first line it printed.
    #[error("{command}: {detail}")]
    Rejected {
        /// What was run (`nft`, `fail2ban-client set decnet banip`).
        command: String,
        /// Its first line of output.
        detail: String,
    },
    /// The backend is not reachable (drivers without a program to run).
    #[error("{0}")]
    Unavailable(String),
}

/// A ban backend.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Name (`nftables`…).
    fn name(&self) -> &'static str;
    /// (Re)creates what the backend needs (table, set); called on
    /// activation and when a probe finds it missing.
    async fn activate(&self) -> Result<(), BackendError>;
    /// Health probe: online?, detail.
    async fn probe(&self) -> (bool, String);
    /// Enforces bans (idempotent).
    async fn ban(&self, bans: &[Enforce]) -> Result<(), BackendError>;
    /// Lifts bans (lifting a missing one is not an error).
    async fn unban(&self, values: &[IpNet]) -> Result<(), BackendError>;
}

/// Output of a finished command.
#[derive(Debug)]
pub struct CmdOutput {
    /// Exit success.
    pub ok: bool,
    /// Stdout (bounded).
    pub stdout: String,
    /// Stderr (bounded).
    pub stderr: String,
}

const MAX_OUTPUT: usize = 64 * 1024;

fn clip(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(MAX_OUTPUT)]).into_owned()
}

/// Runs `program args…` with an optional stdin script and a timeout.
pub async fn run(
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<CmdOutput, BackendError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let fut = async {
        let io = |source| BackendError::Io {
            program: program.to_owned(),
            source,
        };
        let mut child = cmd.spawn().map_err(io)?;
        if let (Some(script), Some(mut w)) = (stdin, child.stdin.take()) {
            w.write_all(script.as_bytes())
                .await
                .map_err(|source| BackendError::Stdin {
                    program: program.to_owned(),
                    source,
                })?;
            drop(w);
        }
        let out = child.wait_with_output().await.map_err(io)?;
        Ok(CmdOutput {
            ok: out.status.success(),
            stdout: clip(&out.stdout),
            stderr: clip(&out.stderr),
        })
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(BackendError::TimedOut {
            program: program.to_owned(),
            after: timeout,
        }),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

/// nftables: table `inet <table>` with sets `<set>4`/`<set>6` (flags
/// interval, timeout) and, optionally, an input chain dropping them. It never
/// lists, flushes or edits any other table.
#[derive(Clone, Debug)]
pub struct Nftables {
    /// nft executable.
    pub binary: String,
    /// Table name.
    pub table: String,
    /// Set prefix.
    pub set: String,
    /// Create the drop chain.
    pub chain: bool,
    /// Per-command timeout.
    pub timeout: Duration,
}

/// Elements per `nft -f` transaction.
const NFT_CHUNK: usize = 2000;

impl Nftables {
    /// From the policy.
    pub fn from_policy(p: &Policy) -> Self {
        Nftables {
            binary: p.nft_binary.clone(),
            table: p.nft_table.clone(),
            set: p.nft_set.clone(),
            chain: p.nft_chain,
            timeout: p.command_timeout,
        }
    }

    fn set_for(&self, v: &IpNet) -> String {
        match v {
            IpNet::V4(_) => format!("{}4", self.set),
            IpNet::V6(_) => format!("{}6", self.set),
        }
    }

    /// The activation script (idempotent; leaves existing elements alone).
    pub fn setup_script(&self) -> String {
        let t = &self.table;
        let s = &self.set;
        let mut out = format!(
            "add table inet {t}\n\
             add set inet {t} {s}4 {{ type ipv4_addr; flags interval, timeout; }}\n\
             add set inet {t} {s}6 {{ type ipv6_addr; flags interval, timeout; }}\n"
        );
        if self.chain {
            out.push_str(&format!(
                "add chain inet {t} input {{ type filter hook input priority -10; policy accept; }}\n\
                 flush chain inet {t} input\n\
                 add rule inet {t} input ip saddr @{s}4 drop\n\
                 add rule inet {t} input ip6 saddr @{s}6 drop\n"
            ));
        }
        out
    }

    /// `add element` script for bans.
    pub fn ban_script(&self, bans: &[Enforce]) -> String {
        let mut out = String::new();
        for b in bans {
            out.push_str(&format!(
                "add element inet {} {} {{ {} timeout {}s }}\n",
                self.table,
                self.set_for(&b.value),
                fmt_net(&b.value),
                b.ttl_secs.max(1)
            ));
        }
        out
    }

    async fn script(&self, script: &str) -> Result<(), BackendError> {
        let out = run(&self.binary, &["-f", "-"], Some(script), self.timeout).await?;
        if out.ok {
            Ok(())
        } else {
            Err(BackendError::Rejected {
                command: "nft".into(),
                detail: first_line(&out.stderr),
            })
        }
    }
}

/// `1.2.3.4` for hosts, `10.0.0.0/8` for ranges.
pub fn fmt_net(v: &IpNet) -> String {
    if v.prefix_len() == v.max_prefix_len() {
        v.addr().to_string()
    } else {
        v.to_string()
    }
}

#[async_trait]
impl Backend for Nftables {
    fn name(&self) -> &'static str {
        BackendKind::Nftables.as_str()
    }

    async fn activate(&self) -> Result<(), BackendError> {
        self.script(&self.setup_script()).await
    }

    async fn probe(&self) -> (bool, String) {
        let set4 = format!("{}4", self.set);
        match run(
            &self.binary,
            &["-t", "list", "set", "inet", &self.table, &set4],
            None,
            self.timeout,
        )
        .await
        {
            Ok(o) if o.ok => (true, format!("table inet {} present", self.table)),
            Ok(o) => (false, format!("nft: {}", first_line(&o.stderr))),
            Err(e) => (false, e.to_string()),
        }
    }

    async fn ban(&self, bans: &[Enforce]) -> Result<(), BackendError> {
        for chunk in bans.chunks(NFT_CHUNK) {
            if let Err(e) = self.script(&self.ban_script(chunk)).await {
                // With `interval` sets, an overlapping element fails the whole
                // transaction: retry one by one so the others still land.
                if chunk.len() == 1 {
                    return Err(e);
                }
                let mut last = Ok(());
                for b in chunk {
                    if let Err(e) = self.script(&self.ban_script(std::slice::from_ref(b))).await {
                        last = Err(e);
                    }
                }
                last?;
            }
        }
        Ok(())
    }

    async fn unban(&self, values: &[IpNet]) -> Result<(), BackendError> {
        for v in values {
            let set = self.set_for(v);
            let elem = fmt_net(v);
            // Missing element (already timed out) is fine; a hung nft is not.
            run(
                &self.binary,
                &[
                    "delete",
                    "element",
                    "inet",
                    &self.table,
                    &set,
                    "{",
                    &elem,
                    "}",
                ],
                None,
                self.timeout,
            )
            .await?;
        }
        Ok(())
    }
}

/// fail2ban through `fail2ban-client [-s SOCKET] set JAIL banip|unbanip`.
#[derive(Clone, Debug)]
pub struct Fail2ban {
    /// Client executable.
    pub client: String,
    /// Socket, if not the default.
    pub socket: Option<String>,
    /// Jail.
    pub jail: String,
    /// Per-command timeout.
    pub timeout: Duration,
}

/// Addresses per `banip` call.
const F2B_CHUNK: usize = 200;

impl Fail2ban {
    /// From the policy.
    pub fn from_policy(p: &Policy) -> Self {
        Fail2ban {
            client: p.fail2ban_client.clone(),
            socket: p.fail2ban_socket.clone(),
            jail: p.fail2ban_jail.clone(),
            timeout: p.command_timeout,
        }
    }

    async fn client(&self, args: &[&str]) -> Result<CmdOutput, BackendError> {
        let mut all: Vec<&str> = Vec::with_capacity(args.len() + 2);
        if let Some(s) = &self.socket {
            all.push("-s");
            all.push(s);
        }
        all.extend_from_slice(args);
        run(&self.client, &all, None, self.timeout).await
    }

    async fn set(&self, verb: &str, values: &[IpNet]) -> Result<(), BackendError> {
        for chunk in values.chunks(F2B_CHUNK) {
            let ips: Vec<String> = chunk.iter().map(fmt_net).collect();
            let mut args: Vec<&str> = vec!["set", &self.jail, verb];
            args.extend(ips.iter().map(String::as_str));
            let o = self.client(&args).await?;
            if !o.ok {
                return Err(BackendError::Rejected {
                    command: format!("fail2ban-client set {} {verb}", self.jail),
                    detail: format!("{}{}", first_line(&o.stderr), first_line(&o.stdout)),
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Backend for Fail2ban {
    fn name(&self) -> &'static str {
        BackendKind::Fail2ban.as_str()
    }

    async fn activate(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn probe(&self) -> (bool, String) {
        match self.client(&["ping"]).await {
            Ok(o) if o.ok && o.stdout.contains("pong") => {}
            Ok(o) => {
                return (
                    false,
                    format!("ping: {}{}", first_line(&o.stderr), first_line(&o.stdout)),
                )
            }
            Err(e) => return (false, e.to_string()),
        }
        match self.client(&["status", &self.jail]).await {
            Ok(o) if o.ok => (true, format!("server up, jail {} present", self.jail)),
            Ok(o) => (
                false,
                format!("jail {}: {}", self.jail, first_line(&o.stderr)),
            ),
            Err(e) => (false, e.to_string()),
        }
    }

    async fn ban(&self, bans: &[Enforce]) -> Result<(), BackendError> {
        let v: Vec<IpNet> = bans.iter().map(|b| b.value).collect();
        self.set("banip", &v).await
    }

    async fn unban(&self, values: &[IpNet]) -> Result<(), BackendError> {
        // `unbanip` of an address fail2ban does not hold fails; that is fine.
        for v in values {
            let _ = self.set("unbanip", std::slice::from_ref(v)).await;
        }
        Ok(())
    }
}

/// The in-process backends (blocklist feed, CrowdSec decisions): the ban
/// table is their state, so they are always online.
#[derive(Clone, Copy, Debug)]
pub struct InProcess(pub BackendKind);

#[async_trait]
impl Backend for InProcess {
    fn name(&self) -> &'static str {
        self.0.as_str()
    }
    async fn activate(&self) -> Result<(), BackendError> {
        Ok(())
    }
    async fn probe(&self) -> (bool, String) {
        (true, "served from the ban table".into())
    }
    async fn ban(&self, _: &[Enforce]) -> Result<(), BackendError> {
        Ok(())
    }
    async fn unban(&self, _: &[IpNet]) -> Result<(), BackendError> {
        Ok(())
    }
}

/// Addresses of this host's interfaces (never banned by default).
#[allow(unsafe_code)] // getifaddrs
pub fn host_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = vec![
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    ];
    #[cfg(unix)]
    // SAFETY: getifaddrs fills a linked list we only read and then free with
    // freeifaddrs; each ifa_addr is checked for null and its family before
    // being cast to the matching sockaddr type.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) == 0 {
            let mut cur = head;
            while !cur.is_null() {
                let a = (*cur).ifa_addr;
                if !a.is_null() {
                    match (*a).sa_family as i32 {
                        libc::AF_INET => {
                            let sin = &*(a as *const libc::sockaddr_in);
                            out.push(IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(
                                sin.sin_addr.s_addr,
                            ))));
                        }
                        libc::AF_INET6 => {
                            let sin6 = &*(a as *const libc::sockaddr_in6);
                            out.push(IpAddr::V6(std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                        }
                        _ => {}
                    }
                }
                cur = (*cur).ifa_next;
            }
            libc::freeifaddrs(head);
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_scripts_touch_only_our_table() {
        let n = Nftables {
            binary: "nft".into(),
            table: "decnet".into(),
            set: "banned".into(),
            chain: true,
            timeout: Duration::from_secs(1),
        };
        let s = n.setup_script()
            + &n.ban_script(&[
                Enforce {
                    value: "192.0.2.7/32".parse().unwrap(),
                    ttl_secs: 3600,
                },
                Enforce {
                    value: "2001:db8::/32".parse().unwrap(),
                    ttl_secs: 0,
                },
            ]);
        for line in s.lines() {
            assert!(line.contains(" inet decnet"), "{line}");
            assert!(!line.contains("flush table") && !line.contains("ruleset"));
        }
        assert!(s.contains("add element inet decnet banned4 { 192.0.2.7 timeout 3600s }"));
        assert!(s.contains("add element inet decnet banned6 { 2001:db8::/32 timeout 1s }"));
    }

    #[tokio::test]
    async fn run_times_out_and_reports_missing_binaries() {
        let e = run("sleep", &["5"], None, Duration::from_millis(100))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("timed out"), "{e}");
        let e = run("/nonexistent/nft", &[], None, Duration::from_secs(1))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/nft"));
        let o = run("cat", &[], Some("hello"), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(o.ok);
        assert_eq!(o.stdout, "hello");
    }

    #[test]
    fn host_addresses_include_loopback() {
        let a = host_addresses();
        assert!(a.contains(&"127.0.0.1".parse().unwrap()));
    }
}
