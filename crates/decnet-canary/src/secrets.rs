//! Per-token secrets that look like what people and tools really use.
//!
//! Everything here is random (never derived from the slug), so one leaked
//! token says nothing about another; uniqueness across tokens is checked
//! against the index when a token is minted.

use base64::Engine;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::{CanaryError, CanaryResult};
use crate::token::Credential;

const LOWER_DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// AWS key ids use the base32 alphabet after the `AKIA` prefix.
const BASE32_UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const SURNAMES: &[&str] = &[
    "anderson",
    "baker",
    "carter",
    "dubois",
    "evans",
    "fischer",
    "garcia",
    "hughes",
    "ivanova",
    "jensen",
    "kowalski",
    "larsen",
    "morgan",
    "nakamura",
    "oconnor",
    "patel",
    "quinn",
    "rossi",
    "schmidt",
    "tanaka",
    "urban",
    "vasquez",
    "walsh",
    "young",
    "zimmer",
    "novak",
    "moreau",
    "keller",
    "becker",
    "silva",
    "lindqvist",
    "horvat",
    "murphy",
    "chen",
    "okafor",
    "haddad",
];
const SERVICES: &[&str] = &[
    "svc_backup",
    "svc_reporting",
    "etl_loader",
    "app_billing",
    "ro_analytics",
    "svc_deploy",
    "jenkins",
    "airflow",
    "grafana_ro",
    "svc_crm",
    "batch_export",
    "svc_payroll",
    "metabase",
    "svc_ci",
    "app_portal",
    "sync_ldap",
];
const WORDS: &[&str] = &[
    "Harbor", "Copper", "Falcon", "Maple", "Granite", "Winter", "Orchid", "Saturn", "Cobalt",
    "Meadow", "Lantern", "Summit", "Willow", "Thunder", "Velvet", "Anchor", "Bramble", "Canyon",
    "Delta", "Ember", "Fjord", "Glacier", "Hazel", "Indigo", "Juniper", "Kestrel", "Lotus",
    "Marble", "Nimbus", "Onyx", "Pepper", "Quartz", "Raven", "Sierra", "Tundra", "Umber", "Violet",
    "Walnut", "Zephyr", "Autumn", "Biscuit", "Crimson", "Dolphin", "Elm", "Phoenix",
];
// Only characters that need no quoting in a URL's userinfo, an INI/.env
// value or `.pgpass` (no `#`, `$`, `@`, `:`, `%`, quotes or spaces).
const SEPARATORS: &[&str] = &["", ".", "-", "_"];
const SYMBOLS: &[&str] = &["", "!", "*", "+"];
const TEAMS: &[&str] = &[
    "platform", "infra", "ops", "data", "payments", "web", "mobile", "sre",
];
const PROJECTS: &[&str] = &[
    "deploy-scripts",
    "terraform-prod",
    "ansible-playbooks",
    "helm-charts",
    "billing-api",
    "customer-portal",
    "etl-jobs",
    "backup-tools",
    "k8s-manifests",
    "monitoring",
];

fn pick<'a, R: Rng + ?Sized>(rng: &mut R, from: &[&'a str]) -> &'a str {
    from.choose(rng).copied().unwrap_or_default()
}

fn chars<R: Rng + ?Sized>(rng: &mut R, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// The call-home identifier: 16 lowercase letters and digits (~82 bits),
/// a valid DNS label and URL path segment.
pub fn slug<R: Rng + ?Sized>(rng: &mut R) -> String {
    // A leading letter keeps it a hostname label by every old rule too.
    let first = (b'a' + rng.gen_range(0..26u8)) as char;
    format!("{first}{}", chars(rng, LOWER_DIGITS, 15))
}

/// `AKIA` + 16 base32 characters and a 40-character secret, as IAM issues them.
pub fn aws_key<R: Rng + ?Sized>(rng: &mut R) -> Credential {
    Credential::AwsKey {
        access_key_id: format!("AKIA{}", chars(rng, BASE32_UPPER, 16)),
        secret_access_key: chars(rng, BASE64, 40),
    }
}

/// A login that looks made by a person: a service account or a person's
/// name, and a words-and-digits password.
pub fn login<R: Rng + ?Sized>(rng: &mut R) -> Credential {
    let username = if rng.gen_bool(0.5) {
        format!("{}{}", pick(rng, SERVICES), rng.gen_range(1..100))
    } else {
        let initial = (b'a' + rng.gen_range(0..26u8)) as char;
        format!("{initial}{}{}", pick(rng, SURNAMES), rng.gen_range(1..100))
    };
    Credential::Login {
        username,
        password: password(rng),
    }
}

/// `Word` + separator + `Word` + 2–4 digits + maybe a symbol.
pub fn password<R: Rng + ?Sized>(rng: &mut R) -> String {
    let digits = rng.gen_range(2..=4u32);
    format!(
        "{}{}{}{:0width$}{}",
        pick(rng, WORDS),
        pick(rng, SEPARATORS),
        pick(rng, WORDS),
        rng.gen_range(0..10u32.pow(digits)),
        pick(rng, SYMBOLS),
        width = digits as usize
    )
}

/// A fresh ed25519 key pair in OpenSSH format for `user`, with the
/// `user@host` comment ssh-keygen writes.
pub fn ssh_key<R: Rng + ?Sized>(rng: &mut R, user: &str, host: &str) -> CanaryResult<Credential> {
    use ssh_key::{HashAlg, LineEnding, PrivateKey};
    let mut seed = [0u8; 32];
    rng.fill(&mut seed);
    let mut key = PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&seed));
    key.set_comment(format!("{user}@{host}"));
    let private_key = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| CanaryError::Render(format!("ssh key: {e}")))?
        .to_string();
    let public_key = key
        .public_key()
        .to_openssh()
        .map_err(|e| CanaryError::Render(format!("ssh key: {e}")))?;
    Ok(Credential::SshKey {
        user: user.to_owned(),
        private_key,
        public_key,
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    })
}

/// A login name for the ssh key (`deploy`, `ci-runner`… plus digits so it is unique).
pub fn ssh_user<R: Rng + ?Sized>(rng: &mut R) -> String {
    const USERS: &[&str] = &[
        "deploy",
        "ci-runner",
        "ansible",
        "backup",
        "gitlab-runner",
        "ops",
    ];
    format!("{}{}", pick(rng, USERS), rng.gen_range(1..1000))
}

/// A Kubernetes service-account token: a JWT (RS256 header, the claims
/// the API server puts in, a random 256-byte signature).
pub fn k8s_token<R: Rng + ?Sized>(rng: &mut R) -> Credential {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut kid = [0u8; 32];
    rng.fill(&mut kid);
    let header = serde_json::json!({"alg": "RS256", "kid": b64.encode(kid)});
    let sa = format!(
        "{}-{}",
        pick(rng, &["deployer", "ci", "argocd", "monitoring"]),
        chars(rng, LOWER_DIGITS, 5)
    );
    let uid = uuid::Uuid::from_bytes(rng.gen()).to_string();
    let iat = chrono::Utc::now().timestamp() - rng.gen_range(86_400..86_400 * 200);
    let claims = serde_json::json!({
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "kube-system",
        "kubernetes.io/serviceaccount/secret.name": format!("{sa}-token"),
        "kubernetes.io/serviceaccount/service-account.name": sa,
        "kubernetes.io/serviceaccount/service-account.uid": uid,
        "sub": format!("system:serviceaccount:kube-system:{sa}"),
        "iat": iat,
    });
    let mut sig = [0u8; 256];
    rng.fill(&mut sig[..]);
    let token = format!(
        "{}.{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string()),
        b64.encode(sig)
    );
    Credential::Bearer { token }
}

/// `/team/project-xxxx.git`: the short suffix makes the path unique per token.
pub fn repo_path<R: Rng + ?Sized>(rng: &mut R) -> Credential {
    Credential::RepoPath {
        path: format!(
            "/{}/{}-{}.git",
            pick(rng, TEAMS),
            pick(rng, PROJECTS),
            chars(rng, LOWER_DIGITS, 4)
        ),
    }
}

/// The `known_hosts` key of an OpenSSH private key file (`ssh-ed25519
/// AAAA…`, no comment); `None` for anything unreadable.
pub fn public_key_line(private_openssh: &str) -> Option<String> {
    let key = ssh_key::PrivateKey::from_openssh(private_openssh).ok()?;
    let line = key.public_key().to_openssh().ok()?;
    let mut parts = line.split_whitespace();
    Some(format!("{} {}", parts.next()?, parts.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shapes_match_the_real_things() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let s = slug(&mut rng);
        assert_eq!(s.len(), 16);
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        let Credential::AwsKey {
            access_key_id,
            secret_access_key,
        } = aws_key(&mut rng)
        else {
            unreachable!()
        };
        assert!(access_key_id.starts_with("AKIA") && access_key_id.len() == 20);
        assert!(access_key_id[4..]
            .bytes()
            .all(|b| BASE32_UPPER.contains(&b)));
        assert_eq!(secret_access_key.len(), 40);
        let Credential::Bearer { token } = k8s_token(&mut rng) else {
            unreachable!()
        };
        assert_eq!(token.split('.').count(), 3);
        assert!(token.starts_with("eyJ"), "a JWT header starts with {{\"");
        for _ in 0..50 {
            let p = password(&mut rng);
            assert!(p.len() >= 8 && p.chars().any(|c| c.is_ascii_digit()), "{p}");
        }
    }

    #[test]
    fn ssh_key_parses_back_and_fingerprint_matches() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let Credential::SshKey {
            private_key,
            public_key,
            fingerprint,
            ..
        } = ssh_key(&mut rng, "deploy7", "ws-12").unwrap()
        else {
            unreachable!()
        };
        let k = ssh_key::PrivateKey::from_openssh(&private_key).unwrap();
        assert_eq!(
            k.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
            fingerprint
        );
        assert!(fingerprint.starts_with("SHA256:"));
        let p = ssh_key::PublicKey::from_openssh(&public_key).unwrap();
        assert_eq!(p.comment().as_str_lossy(), "deploy7@ws-12");
    }

    #[test]
    fn known_hosts_key_of_a_private_key_file() {
        let mut rng = rand::thread_rng();
        let Credential::SshKey {
            private_key,
            public_key,
            ..
        } = ssh_key(&mut rng, "ops", "ws-1").unwrap()
        else {
            unreachable!()
        };
        let line = public_key_line(&private_key).unwrap();
        assert!(line.starts_with("ssh-ed25519 AAAA"), "{line}");
        assert!(public_key.starts_with(&line), "comment dropped: {line}");
        assert_eq!(line.split(' ').count(), 2);
        assert_eq!(public_key_line("not a key"), None);
    }
}
