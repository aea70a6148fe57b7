//! The firewall rules of a shaped namespace: which outgoing packets go
//! through the queue, and the resets the kernel would not send by itself.
//!
//! nftables first (its `queue` statement needs `nft_queue`); when the
//! kernel lacks it, the same rules through iptables (its NFQUEUE target,
//! through nft_compat or legacy xtables). Both are `bypass`: with no
//! reader on the queue the packets go out as the kernel made them.

use std::io::Write;
use std::process::{Command, Stdio};

use super::PersonalityError;

/// The queue number (queues are per namespace, so every decky uses 0).
pub(crate) const QUEUE: u16 = 0;

/// Which tool loaded the rules (reported in logs and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `nft -f -`.
    Nftables,
    /// `iptables-restore`.
    Iptables,
}

/// Only packets nmap reads are queued — SYNs (the SYN/ACKs), RSTs and
/// ICMP — so bulk data never leaves the kernel. Inbound, segments with no
/// flags (nmap T2) or SYN+FIN (T3) are answered with a reset as Windows
/// does (Linux ignores both); the reset goes out through the queue too.
pub(crate) fn nft_ruleset() -> String {
    format!(
        "table ip decnet_persona {{\n\
         \tchain output {{ type filter hook output priority mangle; policy accept;\n\
         \t\toifname \"eth0\" tcp flags & (syn|rst) != 0 queue num {QUEUE} bypass\n\
         \t\toifname \"eth0\" ip protocol icmp queue num {QUEUE} bypass\n\
         \t}}\n\
         \tchain input {{ type filter hook input priority filter; policy accept;\n\
         \t\tiifname \"eth0\" tcp flags & (fin|syn|rst|psh|ack|urg) == 0x0 reject with tcp reset\n\
         \t\tiifname \"eth0\" tcp flags & (syn|fin) == syn|fin reject with tcp reset\n\
         \t}}\n\
         }}\n"
    )
}

/// The same rules for `iptables-restore`.
pub(crate) fn iptables_rules() -> String {
    let queue = format!("-j NFQUEUE --queue-num {QUEUE} --queue-bypass");
    format!(
        "*mangle\n\
         -A OUTPUT -o eth0 -p tcp --tcp-flags SYN SYN {queue}\n\
         -A OUTPUT -o eth0 -p tcp --tcp-flags RST RST {queue}\n\
         -A OUTPUT -o eth0 -p icmp {queue}\n\
         COMMIT\n\
         *filter\n\
         -A INPUT -i eth0 -p tcp --tcp-flags ALL NONE -j REJECT --reject-with tcp-reset\n\
         -A INPUT -i eth0 -p tcp --tcp-flags SYN,FIN SYN,FIN -j REJECT --reject-with tcp-reset\n\
         COMMIT\n"
    )
}

/// Loads the rules into namespace `ns` (a name under /var/run/netns).
pub(crate) fn install(ns: &str) -> Result<Backend, PersonalityError> {
    let nft = run_with_input(
        &["ip", "netns", "exec", ns, "nft", "-f", "-"],
        &nft_ruleset(),
    );
    let Err(nft_error) = nft else {
        return Ok(Backend::Nftables);
    };
    let iptables = run_with_input(
        &["ip", "netns", "exec", ns, "iptables-restore"],
        &iptables_rules(),
    );
    match iptables {
        Ok(()) => Ok(Backend::Iptables),
        Err(iptables) => Err(PersonalityError::Rules {
            nft: nft_error,
            iptables,
        }),
    }
}

/// Runs `argv` with `input` on stdin; `Err` is the command and its stderr.
fn run_with_input(argv: &[&str], input: &str) -> Result<(), String> {
    let command = argv.join(" ");
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.map_err(|e| format!("`{command}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("`{command}`: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{command}`: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    // nft repeats each failing rule with carets; the first lines say why.
    let reason: Vec<&str> = stderr.lines().take(2).collect();
    Err(format!("`{command}`: {}", reason.join(" / ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_rule_sets_queue_fail_open_and_reset_the_same_probes() {
        let nft = nft_ruleset();
        assert_eq!(nft.matches("bypass").count(), 2);
        assert_eq!(nft.matches("reject with tcp reset").count(), 2);
        assert!(nft.contains("tcp flags & (syn|rst) != 0"));
        let ipt = iptables_rules();
        assert_eq!(ipt.matches("--queue-bypass").count(), 3);
        assert_eq!(ipt.matches("--reject-with tcp-reset").count(), 2);
        assert!(
            ipt.contains("--tcp-flags ALL NONE") && ipt.contains("--tcp-flags SYN,FIN SYN,FIN")
        );
        // Only the decky's own interface: loopback traffic stays the kernel's.
        assert!(ipt
            .lines()
            .filter(|l| l.starts_with("-A"))
            .all(|l| l.contains(" eth0 ")));
    }

    #[test]
    fn a_missing_tool_is_an_error_naming_the_command() {
        let err = run_with_input(&["/nonexistent/decnet-osfp-tool", "-f"], "").unwrap_err();
        assert!(err.contains("/nonexistent/decnet-osfp-tool -f"), "{err}");
    }
}
