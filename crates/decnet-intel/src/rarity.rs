//! How much a shared value says about two addresses being one actor.
//!
//! A value held by few addresses is that actor's; a value held by many
//! is a stock client's or a wordlist's. The weight is an IDF over the
//! addresses intel has seen holding the value, normalised so that a value
//! one actor could hold by itself weighs 1.0 and a value held by more
//! addresses than `max_fanout` weighs 0 (the floor):
//!
//! ```text
//! weight(n) = 1                                   n ≤ ACTOR_SPREAD
//!           = ln(F / n) / ln(F / ACTOR_SPREAD)    ACTOR_SPREAD < n ≤ F
//!           = 0                                   n > F
//! ```
//!
//! The counts only grow, so a weight only falls; the linker re-scores the
//! links a value made whenever one more address holds it.
//!
//! A small sensor has not seen enough to know that `SSH-2.0-OpenSSH_9.2p1`
//! is on millions of machines: three analysts' laptops are three holders,
//! exactly like one actor's three relays. So values that are common by
//! construction — stock client banners (and the HASSH two stock clients
//! share), the passwords at the top of every wordlist — weigh nothing from
//! the start ([`is_stock_banner`], [`is_common_secret`]).

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::profile::sha256_hex;

/// Addresses one actor commonly uses at once (relays, a small botnet
/// shard, a cloud account's instances): up to this many holders a value
/// is fully distinctive.
pub const ACTOR_SPREAD: usize = 5;

/// IDF weight of a value held by `holders` addresses (see the module docs).
pub fn weight(holders: usize, max_fanout: usize) -> f64 {
    let spread = ACTOR_SPREAD.min(max_fanout);
    if holders <= spread {
        1.0
    } else if holders > max_fanout {
        0.0
    } else {
        let f = max_fanout as f64;
        ((f / holders as f64).ln() / (f / spread as f64).ln()).clamp(0.0, 1.0)
    }
}

/// SSH client software whose version string millions of machines send:
/// the OpenSSH, PuTTY, libssh/libssh2, Go x/crypto, paramiko, JSch,
/// AsyncSSH, Dropbear, russh, SSH.NET and Twisted clients, the tools built
/// on them (hydra, medusa and ncrack use libssh / libssh2) and the
/// internet-wide scanners' (ZGrab, Nmap).
const STOCK_SSH_CLIENTS: &[&str] = &[
    "OpenSSH_",
    "PuTTY",
    "libssh",
    "Go",
    "paramiko_",
    "JSCH-",
    "AsyncSSH_",
    "dropbear",
    "russh",
    "Renci.SshNet",
    "Twisted",
    "WinSCP_",
    "ZGrab",
    "Nmap-SSH",
];

/// True for the version string of a stock SSH client (`SSH-2.0-OpenSSH_9.2p1
/// Debian-2+deb12u3`, `SSH-2.0-libssh_0.10.6`, `SSH-2.0-Go`…).
pub fn is_stock_banner(banner: &str) -> bool {
    let Some(software) = banner
        .strip_prefix("SSH-2.0-")
        .or_else(|| banner.strip_prefix("SSH-1.99-"))
    else {
        return false;
    };
    STOCK_SSH_CLIENTS.iter().any(|p| software.starts_with(p))
}

/// Passwords at the top of every public wordlist and botnet credential
/// list (rockyou's head, Mirai's defaults, vendor defaults): shared by
/// unrelated brute forcers, never evidence of one actor.
pub const COMMON_SECRETS: &[&str] = &[
    "",
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "12345",
    "1234",
    "123",
    "111111",
    "000000",
    "654321",
    "666666",
    "888888",
    "password",
    "password1",
    "Password",
    "passw0rd",
    "P@ssw0rd",
    "qwerty",
    "qwerty123",
    "abc123",
    "iloveyou",
    "letmein",
    "welcome",
    "monkey",
    "dragon",
    "master",
    "admin",
    "admin123",
    "administrator",
    "root",
    "toor",
    "guest",
    "test",
    "test123",
    "user",
    "default",
    "changeme",
    "support",
    "ubnt",
    "raspberry",
    "pi",
    "oracle",
    "postgres",
    "mysql",
    "ubuntu",
    "alpine",
    "vagrant",
    "system",
    "service",
    "1q2w3e4r",
    "1qaz2wsx",
    "zaq12wsx",
    "xc3511",
    "vizxv",
    "juantech",
    "7ujMko0admin",
    "klv123",
    "Zte521",
    "hi3518",
    "jvbzd",
    "anko",
    "realtek",
    "00000000",
    "smcadmin",
    "meinsm",
    "supervisor",
    "tech",
    "1111",
    "22222",
    "5up",
    "admin1234",
    "password123",
    "123qwe",
    "qwe123",
];

static COMMON_SECRET_HASHES: LazyLock<HashSet<String>> = LazyLock::new(|| {
    COMMON_SECRETS
        .iter()
        .map(|s| sha256_hex(s.as_bytes()))
        .collect()
});

/// True when a credential signal (`principal` NUL sha256-of-secret) is a
/// common password, whoever the user: a stock secret is nobody's.
pub fn is_common_secret(credential: &str) -> bool {
    let hash = credential.rsplit('\0').next().unwrap_or(credential);
    COMMON_SECRET_HASHES.contains(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_is_full_for_one_actors_spread_and_nothing_past_the_floor() {
        assert_eq!(weight(1, 16), 1.0);
        assert_eq!(weight(ACTOR_SPREAD, 16), 1.0);
        let w8 = weight(8, 16);
        assert!(w8 > 0.3 && w8 < 0.8, "{w8}");
        assert!(weight(12, 16) < w8);
        assert!(weight(16, 16) < 0.01);
        assert_eq!(weight(17, 16), 0.0);
        // A floor below the spread: full weight up to the floor, then none.
        assert_eq!(weight(4, 4), 1.0);
        assert_eq!(weight(5, 4), 0.0);
    }

    #[test]
    fn stock_banners_are_recognised_custom_ones_are_not() {
        for b in [
            "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
            "SSH-2.0-OpenSSH_for_Windows_8.1",
            "SSH-2.0-libssh_0.10.6",
            "SSH-2.0-libssh2_1.11.0",
            "SSH-2.0-Go",
            "SSH-2.0-paramiko_3.4.0",
            "SSH-2.0-PuTTY_Release_0.80",
        ] {
            assert!(is_stock_banner(b), "{b}");
        }
        for b in [
            "SSH-2.0-Tool7_3",
            "SSH-2.0-Rare_1.0",
            "SSH-2.0-",
            "OpenSSH_9.2",
        ] {
            assert!(!is_stock_banner(b), "{b}");
        }
    }

    #[test]
    fn common_passwords_are_common_whoever_the_user() {
        let cred = |u: &str, p: &str| format!("{u}\0{}", sha256_hex(p.as_bytes()));
        assert!(is_common_secret(&cred("root", "123456")));
        assert!(is_common_secret(&cred("pi", "raspberry")));
        assert!(!is_common_secret(&cred("root", "Xk9!mallory-7")));
    }
}
