//! Operator-side credentials for a NATS cluster of decnet processes.
//!
//! One directory (the "PKI dir", kept on the operator's machine or the
//! NATS host) holds everything the NATS server needs, created on first use:
//!
//! * `ca.pem` / `ca-key.pem`: a private CA (ECDSA P-256, 10 years);
//! * `nats-server.pem` / `nats-server-key.pem`: the NATS server's TLS
//!   certificate for the names and addresses it is reached at;
//! * `decnet-serve.nk`: the NKEY seed the `serve` processes use (full
//!   permissions: they own the stream, consumers and control subjects);
//! * `users/<sensor>.pub`: each enrolled sensor's NKEY public key;
//! * `authorization.conf`: the nats-server `authorization` block listing
//!   the servers' key and every sensor's with its scoped permissions
//!   ([`crate::scope`]), rewritten at every enrolment;
//! * `nats-server.conf`: a starting server config (TLS + JetStream +
//!   `include authorization.conf`).
//!
//! A sensor's bundle (copied to the sensor host) holds its seed, the CA and
//! an environment file for `decnet sensor`. NKEYs rather than passwords:
//! the server's config holds only public keys, so reading it gives nothing
//! that logs in; and no JWT operator/account tooling (`nsc`) is needed.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::scope::{Permissions, SensorName};

/// Enrolment failures.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Key or certificate generation failed.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// NKEY generation failed.
    #[error("nkey: {0}")]
    Nkey(String),
    /// The PKI dir is missing or partly there: refuse to guess.
    #[error("{0} is not a complete NATS PKI directory (no {1}); restore it or enroll into an empty directory")]
    Incomplete(PathBuf, &'static str),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EnrollError + '_ {
    move |source| EnrollError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `data` to `path` atomically; `secret` files are created 0600.
pub fn write_file(path: &Path, data: &[u8], secret: bool) -> Result<(), EnrollError> {
    let tmp = path.with_extension("tmp~");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// The operator's PKI dir (see the module docs).
pub struct Pki {
    dir: PathBuf,
}

/// Names of the files in a [`Pki`] dir.
pub mod files {
    /// CA certificate.
    pub const CA: &str = "ca.pem";
    /// CA private key.
    pub const CA_KEY: &str = "ca-key.pem";
    /// NATS server certificate.
    pub const SERVER_CERT: &str = "nats-server.pem";
    /// NATS server private key.
    pub const SERVER_KEY: &str = "nats-server-key.pem";
    /// Seed of the `serve` processes.
    pub const SERVE_SEED: &str = "decnet-serve.nk";
    /// Generated authorization block.
    pub const AUTHORIZATION: &str = "authorization.conf";
    /// Starting nats-server config.
    pub const SERVER_CONF: &str = "nats-server.conf";
    /// Enrolled sensors' public keys.
    pub const USERS: &str = "users";
}

/// What [`Pki::enroll`] made for one sensor.
pub struct SensorCredentials {
    /// The sensor.
    pub name: SensorName,
    /// Its NKEY seed (secret).
    pub seed: crate::Secret,
    /// Its public key (what the server lists).
    pub public_key: String,
}

impl Pki {
    /// Opens `dir`, creating the CA, the NATS server certificate (for
    /// `hosts`: DNS names or IP addresses) and the servers' seed when it
    /// holds none yet. Returns whether it was created now.
    pub fn open_or_init(dir: &Path, hosts: &[String]) -> Result<(Pki, bool), EnrollError> {
        if dir.join(files::CA).exists() {
            return Ok((Pki::open(dir)?, false));
        }
        let pki = Pki {
            dir: dir.to_owned(),
        };
        std::fs::create_dir_all(pki.path(files::USERS)).map_err(io_err(dir))?;
        pki.init(hosts)?;
        Ok((pki, true))
    }

    /// Opens an existing, complete PKI dir.
    pub fn open(dir: &Path) -> Result<Pki, EnrollError> {
        let pki = Pki {
            dir: dir.to_owned(),
        };
        for f in [files::CA, files::SERVER_CERT, files::SERVER_KEY, files::SERVE_SEED] {
            if !pki.path(f).exists() {
                return Err(EnrollError::Incomplete(dir.to_owned(), f));
            }
        }
        std::fs::create_dir_all(pki.path(files::USERS)).map_err(io_err(dir))?;
        Ok(pki)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn init(&self, hosts: &[String]) -> Result<(), EnrollError> {
        let now = chrono::Utc::now();
        let (start, end) = (now - chrono::Duration::days(1), now + chrono::Duration::days(3650));
        let ymd = |t: chrono::DateTime<chrono::Utc>| {
            use chrono::Datelike;
            rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8)
        };
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "decnet NATS CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        ca_params.not_before = ymd(start);
        ca_params.not_after = ymd(end);
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let ca = ca_params.self_signed(&ca_key)?;

        let mut params = rcgen::CertificateParams::new(hosts.to_vec())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "decnet NATS server");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = ymd(start);
        params.not_after = ymd(end);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &ca, &ca_key)?;

        let serve = nkeys::KeyPair::new_user();
        let serve_seed = serve.seed().map_err(|e| EnrollError::Nkey(e.to_string()))?;
        write_file(&self.path(files::CA_KEY), ca_key.serialize_pem().as_bytes(), true)?;
        write_file(&self.path(files::SERVER_KEY), key.serialize_pem().as_bytes(), true)?;
        write_file(
            &self.path(files::SERVE_SEED),
            format!("# NKEY seed of the decnet serve processes\n{serve_seed}\n").as_bytes(),
            true,
        )?;
        write_file(&self.path(files::SERVER_CERT), cert.pem().as_bytes(), false)?;
        write_file(
            &self.path(files::SERVER_CONF),
            server_conf(&self.dir).as_bytes(),
            false,
        )?;
        // The CA last: its presence marks a complete directory.
        write_file(&self.path(files::CA), ca.pem().as_bytes(), false)?;
        self.write_authorization()
    }

    /// The CA certificate (PEM) sensors verify the NATS server with.
    pub fn ca_pem(&self) -> Result<String, EnrollError> {
        let p = self.path(files::CA);
        std::fs::read_to_string(&p).map_err(io_err(&p))
    }

    /// Where the servers' seed is.
    pub fn serve_seed_path(&self) -> PathBuf {
        self.path(files::SERVE_SEED)
    }

    /// Gives `name` a fresh NKEY (a re-enrolment replaces its old key, which
    /// stops working once the NATS server reloads its config) and rewrites
    /// `authorization.conf`.
    pub fn enroll(&self, name: &SensorName) -> Result<SensorCredentials, EnrollError> {
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().map_err(|e| EnrollError::Nkey(e.to_string()))?;
        let public_key = kp.public_key();
        let pub_path = self.path(files::USERS).join(format!("{name}.pub"));
        write_file(&pub_path, format!("{public_key}\n").as_bytes(), false)?;
        self.write_authorization()?;
        Ok(SensorCredentials {
            name: name.clone(),
            seed: crate::Secret::new(seed),
            public_key,
        })
    }

    /// Removes `name` from the authorization config; true if it was there.
    pub fn revoke(&self, name: &SensorName) -> Result<bool, EnrollError> {
        let pub_path = self.path(files::USERS).join(format!("{name}.pub"));
        let existed = pub_path.exists();
        if existed {
            std::fs::remove_file(&pub_path).map_err(io_err(&pub_path))?;
        }
        self.write_authorization()?;
        Ok(existed)
    }

    /// Enrolled sensors and their public keys, by name.
    pub fn sensors(&self) -> Result<Vec<(SensorName, String)>, EnrollError> {
        let dir = self.path(files::USERS);
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = entry.map_err(io_err(&dir))?.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".pub"))
            else {
                continue;
            };
            let Ok(name) = SensorName::new(stem) else {
                continue;
            };
            let key = std::fs::read_to_string(&path).map_err(io_err(&path))?;
            let key = key.trim();
            if nkeys::KeyPair::from_public_key(key).is_ok() {
                out.push((name, key.to_owned()));
            }
        }
        out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        Ok(out)
    }

    fn write_authorization(&self) -> Result<(), EnrollError> {
        let seed_path = self.path(files::SERVE_SEED);
        let seed = std::fs::read_to_string(&seed_path).map_err(io_err(&seed_path))?;
        let serve_pub = seed
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("SU"))
            .and_then(|s| nkeys::KeyPair::from_seed(s).ok())
            .map(|k| k.public_key())
            .ok_or_else(|| EnrollError::Nkey(format!("{} holds no seed", seed_path.display())))?;
        let text = authorization_conf(&serve_pub, &self.sensors()?);
        write_file(&self.path(files::AUTHORIZATION), text.as_bytes(), false)
    }
}

/// One user entry of a nats-server `authorization.users` list.
pub fn user_entry(comment: &str, nkey: &str, p: &Permissions) -> String {
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut perms = format!(
        "publish: {{ allow: [{}] }}, subscribe: {{ allow: [{}] }}",
        list(&p.publish),
        list(&p.subscribe)
    );
    if p.allow_responses {
        perms.push_str(", allow_responses: true");
    }
    format!("    # {comment}\n    {{ nkey: \"{nkey}\", permissions: {{ {perms} }} }}\n")
}

/// The `authorization` block: the servers' key with every permission,
/// then each sensor with its own scope.
pub fn authorization_conf(serve_pub: &str, sensors: &[(SensorName, String)]) -> String {
    let mut out = String::from(
        "# Written by `decnet sensor enroll`; rewritten at each enrolment.\n\
         # Reload nats-server (SIGHUP or `nats-server --signal reload`) after a change.\n\
         authorization {\n  users = [\n",
    );
    out.push_str(&user_entry(
        "decnet serve processes",
        serve_pub,
        &Permissions::all(),
    ));
    for (name, key) in sensors {
        out.push_str(&user_entry(
            &format!("sensor {name}"),
            key,
            &name.permissions(),
        ));
    }
    out.push_str("  ]\n}\n");
    out
}

/// A starting nats-server config for files in `dir`.
fn server_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "# nats-server config written by `decnet sensor enroll` (edit freely).\n\
         listen: 0.0.0.0:4222\n\
         jetstream {{ store_dir: \"/var/lib/nats\" }}\n\
         tls {{\n  cert_file: \"{d}/{}\"\n  key_file: \"{d}/{}\"\n  timeout: 2\n}}\n\
         include \"{}\"\n",
        files::SERVER_CERT,
        files::SERVER_KEY,
        files::AUTHORIZATION
    )
}

/// Files of a sensor's bundle, written into `out` (created 0700): its
/// seed (`sensor.nk`, 0600), the CA (`ca.pem`), `sensor.env` for
/// `decnet sensor` (paths as they will be on the sensor: `install_dir`),
/// and `authorization-snippet.conf` (its user entry, for reference).
pub fn write_bundle(
    out: &Path,
    creds: &SensorCredentials,
    ca_pem: &str,
    url: &str,
    install_dir: &Path,
) -> Result<(), EnrollError> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(out))?;
    }
    let name = &creds.name;
    write_file(
        &out.join("sensor.nk"),
        format!("# NKEY seed of decnet sensor {name}: keep secret\n{}\n", creds.seed.expose())
            .as_bytes(),
        true,
    )?;
    write_file(&out.join("ca.pem"), ca_pem.as_bytes(), false)?;
    let i = install_dir.display();
    write_file(
        &out.join("sensor.env"),
        format!(
            "# Environment of `decnet sensor` (systemd EnvironmentFile).\n\
             DECNET_SENSOR_NAME={name}\n\
             DECNET_BUS={url}\n\
             DECNET_NATS_CREDS={i}/sensor.nk\n\
             DECNET_NATS_CA={i}/ca.pem\n"
        )
        .as_bytes(),
        false,
    )?;
    write_file(
        &out.join("authorization-snippet.conf"),
        user_entry(
            &format!("sensor {name}"),
            &creds.public_key,
            &name.permissions(),
        )
        .as_bytes(),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrol_twice_rotates_and_lists_each_sensor_once() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let (pki, created) = Pki::open_or_init(dir.path(), &hosts).unwrap();
        assert!(created);
        let a = SensorName::new("edge-a").unwrap();
        let first = pki.enroll(&a).unwrap();
        let second = pki.enroll(&a).unwrap();
        pki.enroll(&SensorName::new("edge-b").unwrap()).unwrap();
        assert_ne!(first.public_key, second.public_key);
        let conf = std::fs::read_to_string(dir.path().join(files::AUTHORIZATION)).unwrap();
        assert!(!conf.contains(&first.public_key), "old key revoked");
        assert!(conf.contains(&second.public_key));
        assert_eq!(conf.matches("# sensor edge-a").count(), 1);
        assert!(conf.contains("\"sensor.edge-b.>\""));
        assert!(!conf.contains(second.seed.expose()), "no secret in the server config");
        // Reopening keeps the CA.
        let ca = pki.ca_pem().unwrap();
        let (again, created) = Pki::open_or_init(dir.path(), &hosts).unwrap();
        assert!(!created);
        assert_eq!(again.ca_pem().unwrap(), ca);
        assert!(again.revoke(&a).unwrap());
        let conf = std::fs::read_to_string(dir.path().join(files::AUTHORIZATION)).unwrap();
        assert!(!conf.contains("edge-a"));
    }

    #[test]
    fn secrets_are_private_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (pki, _) = Pki::open_or_init(dir.path(), &["localhost".to_owned()]).unwrap();
        let creds = pki.enroll(&SensorName::new("s1").unwrap()).unwrap();
        let out = dir.path().join("bundle");
        write_bundle(&out, &creds, &pki.ca_pem().unwrap(), "tls://nats:4222", Path::new("/etc/decnet/nats")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for secret in [
            out.join("sensor.nk"),
            dir.path().join(files::CA_KEY),
            dir.path().join(files::SERVER_KEY),
            dir.path().join(files::SERVE_SEED),
        ] {
            assert_eq!(mode(&secret), 0o600, "{}", secret.display());
        }
        let env = std::fs::read_to_string(out.join("sensor.env")).unwrap();
        assert!(env.contains("DECNET_SENSOR_NAME=s1\n"));
        assert!(env.contains("DECNET_NATS_CREDS=/etc/decnet/nats/sensor.nk\n"));
        let loaded = crate::Credentials::from_file(&out.join("sensor.nk")).unwrap();
        assert_eq!(loaded.nkey_public().unwrap(), creds.public_key);
    }
}
