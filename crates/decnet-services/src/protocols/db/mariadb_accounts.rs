//! The accounts of a fresh Debian MariaDB data directory, and which of them
//! a failed login is answered as.
//!
//! `mariadb-install-db --auth-root-authentication-method=socket` (what the
//! package runs) creates `root` and `mysql` (native password "invalid" OR
//! `unix_socket`) and the locked `mariadb.sys`, all `@localhost`. For a
//! user that does not exist MariaDB does not answer "no such user": it
//! picks a stand-in account from the user name's hash, so the refusal looks
//! like one of the real accounts' (1698 for a `unix_socket` one, 1045 for a
//! password one), always the same for the same name.

/// How an account authenticates, as far as a failed login over TCP shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAuth {
    /// `unix_socket` (after a native password nobody knows): 1698.
    UnixSocket,
    /// A native password: 1045 "(using password: …)".
    Password,
    /// A locked account (`mariadb.sys`): 4151 without a password, else 1045.
    Locked,
}

/// The account a login is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// How it authenticates.
    pub auth: AccountAuth,
    /// False when the user does not exist and this is the stand-in.
    pub exists: bool,
}

/// Debian's accounts, sorted by user name as MariaDB's ACL cache holds them.
const DEBIAN_ACCOUNTS: [(&str, AccountAuth); 3] = [
    ("mariadb.sys", AccountAuth::Locked),
    ("mysql", AccountAuth::UnixSocket),
    ("root", AccountAuth::UnixSocket),
];

/// The account `user` logs in as: Debian's accounts plus `extra` (a
/// password account the operator configured), or a stand-in for an
/// unknown user.
pub fn account_for(user: &[u8], extra: Option<&str>) -> Account {
    let mut accounts: Vec<(&str, AccountAuth)> = DEBIAN_ACCOUNTS.to_vec();
    if let Some(name) = extra.filter(|n| !accounts.iter().any(|(a, _)| a == n)) {
        accounts.push((name, AccountAuth::Password));
        accounts.sort_by(|a, b| a.0.cmp(b.0));
    }
    if let Some((_, auth)) = accounts.iter().find(|(a, _)| a.as_bytes() == user) {
        return Account {
            auth: *auth,
            exists: true,
        };
    }
    let index = (stand_in_hash(user) % accounts.len() as u64) as usize;
    Account {
        auth: accounts[index].1,
        exists: false,
    }
}

/// The hash MariaDB sorts the user name with (`latin1_swedish_ci`'s
/// `hash_sort` over the name's bytes, trailing spaces ignored, seeds 1
/// and 4) to pick the stand-in.
fn stand_in_hash(user: &[u8]) -> u64 {
    let end = user.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    let (mut nr1, mut nr2) = (1u64, 4u64);
    for &b in &user[..end] {
        let weight = LATIN1_SWEDISH_CI_WEIGHTS[b as usize] as u64;
        nr1 ^= ((nr1 & 63).wrapping_add(nr2))
            .wrapping_mul(weight)
            .wrapping_add(nr1 << 8);
        nr2 += 3;
    }
    nr1
}

/// Byte weights of the `latin1_swedish_ci` collation (read from a MariaDB
/// server with `WEIGHT_STRING`): letters fold to upper case, accented ones
/// to their base letter, and Å Ä Æ Ö Ü sort as the Swedish alphabet has them.
const LATIN1_SWEDISH_CI_WEIGHTS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    let mut c = b'a';
    while c <= b'z' {
        t[c as usize] = c - 32;
        c += 1;
    }
    // (first byte, last byte, weight) of the Latin-1 letters that fold.
    let folds: [(u8, u8, u8); 26] = [
        (0xc0, 0xc3, b'A'),
        (0xc4, 0xc4, b'\\'),
        (0xc5, 0xc5, b'['),
        (0xc6, 0xc6, b'\\'),
        (0xc7, 0xc7, b'C'),
        (0xc8, 0xcb, b'E'),
        (0xcc, 0xcf, b'I'),
        (0xd0, 0xd0, b'D'),
        (0xd1, 0xd1, b'N'),
        (0xd2, 0xd5, b'O'),
        (0xd6, 0xd6, b']'),
        (0xd9, 0xdb, b'U'),
        (0xdc, 0xdd, b'Y'),
        (0xe0, 0xe3, b'A'),
        (0xe4, 0xe4, b'\\'),
        (0xe5, 0xe5, b'['),
        (0xe6, 0xe6, b'\\'),
        (0xe7, 0xe7, b'C'),
        (0xe8, 0xeb, b'E'),
        (0xec, 0xef, b'I'),
        (0xf0, 0xf0, b'D'),
        (0xf1, 0xf1, b'N'),
        (0xf2, 0xf5, b'O'),
        (0xf6, 0xf6, b']'),
        (0xf8, 0xf8, 0xd8),
        (0xf9, 0xfb, b'U'),
    ];
    let mut f = 0;
    while f < folds.len() {
        let (first, last, weight) = folds[f];
        let mut b = first as usize;
        while b <= last as usize {
            t[b] = weight;
            b += 1;
        }
        f += 1;
    }
    t[0xfc] = b'Y';
    t[0xfd] = b'Y';
    t[0xfe] = 0xde;
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Refusals a Debian 12 MariaDB 10.11 gave these names over TCP.
    #[test]
    fn stand_ins_match_what_mariadb_answered() {
        let socket = [
            "a", "b", "c", "f", "g", "h", "admin", "test", "uuu", "a ", "é",
        ];
        let password = ["nosuchuser", "d", "e", "user1", "uu", "Ä", "ö"];
        for name in socket {
            assert_eq!(
                account_for(name.as_bytes(), None),
                Account {
                    auth: AccountAuth::UnixSocket,
                    exists: false
                },
                "{name}"
            );
        }
        for name in password {
            assert_eq!(
                account_for(name.as_bytes(), None).auth,
                AccountAuth::Locked,
                "{name}"
            );
        }
        assert_eq!(
            account_for("u".repeat(100).as_bytes(), None).auth,
            AccountAuth::UnixSocket
        );
    }

    /// With two more accounts (`abc`, `zed`) the same server answered
    /// these: the stand-in is taken from the sorted account list.
    #[test]
    fn added_accounts_join_the_sorted_list() {
        assert_eq!(
            account_for(b"mysql", None),
            Account {
                auth: AccountAuth::UnixSocket,
                exists: true
            }
        );
        assert_eq!(
            account_for(b"zed", Some("zed")),
            Account {
                auth: AccountAuth::Password,
                exists: true
            }
        );
        // Sorted: abc, mariadb.sys, mysql, root, zed; with only one extra
        // account the list has four entries, so check the hash directly.
        let order = ["abc", "mariadb.sys", "mysql", "root", "zed"];
        let picks = [
            ("nosuchuser", "mysql"),
            ("a", "abc"),
            ("uu", "zed"),
            ("uuu", "mariadb.sys"),
            ("q1", "root"),
            ("q4", "zed"),
        ];
        for (name, expect) in picks {
            assert_eq!(
                order[(stand_in_hash(name.as_bytes()) % 5) as usize],
                expect,
                "{name}"
            );
        }
    }
}
