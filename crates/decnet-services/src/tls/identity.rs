//! A decky's TLS certificate and the rustls config that presents it.
//!
//! Debian-family personas present what `make-ssl-cert` (package ssl-cert)
//! makes at install time for every daemon's default configuration: an RSA
//! 2048 "snakeoil" certificate, CN and SAN the host's FQDN, basic
//! constraints CA:FALSE, a SHA-1 subject key identifier, valid ten years
//! from the install. Other personas get an ECDSA P-256 certificate with
//! an organisation. RSA key generation takes a CPU for a noticeable time,
//! so a certificate that is not on disk yet is made at the first TLS
//! handshake, on a blocking thread and a few at a time, never at bind:
//! a 1,000-decky fleet starts as fast as before and only deckies someone
//! talks TLS to pay for a key. Made once, it is kept under the decky's
//! data dir and loaded at every later start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Datelike, Utc};
use rand::Rng;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha1::{Digest, Sha1};
use tokio::sync::{OnceCell, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::ctx::DeckyCtx;
use crate::ServiceError;

/// make-ssl-cert's `-days` default.
const SNAKEOIL_DAYS: i64 = 3650;
/// ssl-cert's template `default_bits`.
const SNAKEOIL_BITS: usize = 2048;

/// The handshake side of an identity, built once.
#[derive(Clone)]
pub struct Ready {
    /// Acceptor for handshakes.
    pub acceptor: TlsAcceptor,
    /// The certificate (DER) presented.
    pub cert_der: CertificateDer<'static>,
}

/// A decky's TLS server identity: ready at bind when its certificate is
/// on disk or cheap to make, else made at first use (see the module doc).
#[derive(Clone)]
pub struct TlsIdentity {
    inner: Arc<Inner>,
}

struct Inner {
    service: &'static str,
    path: PathBuf,
    plan: CertPlan,
    alpn: Vec<Vec<u8>>,
    ready: OnceCell<Ready>,
}

/// Everything the certificate is made of, taken from the decky at bind so
/// that making it needs no decky (it runs on a blocking thread).
#[derive(Clone, Debug)]
pub struct CertPlan {
    fqdn: String,
    /// A second SAN entry (the short host name) on non-snakeoil certs.
    short: Option<String>,
    org: Option<String>,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
    serial: Vec<u8>,
    snakeoil: bool,
}

/// Whether the persona's distribution ships Debian's `ssl-cert` snakeoil
/// certificate as every daemon's default (Debian and its derivatives).
fn uses_snakeoil(decky: &DeckyCtx) -> bool {
    matches!(decky.persona.distro.os_id, "debian" | "ubuntu" | "kali")
}

fn offset_time(t: DateTime<Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn day_start(t: DateTime<Utc>) -> time::OffsetDateTime {
    rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8)
}

impl CertPlan {
    /// The certificate `decky`'s persona presents (validity and serial
    /// seeded; the key is always fresh).
    pub fn for_decky(decky: &DeckyCtx) -> CertPlan {
        let p = &decky.persona;
        let fqdn = p.fqdn();
        let short = p.hostname.split('.').next().unwrap_or(&p.hostname);
        let seed = decnet_core::DeckySeed::new(decky.name(), decky.generation);
        let mut rng = seed.rng("tls-cert");
        if uses_snakeoil(decky) {
            // ssl-cert's postinst ran during the install: openssl's
            // `-days 3650` from that second, a random 159-bit serial.
            let made = decnet_shell::gen::install_time(p, &seed)
                + chrono::Duration::seconds(rng.gen_range(60..3_600));
            let mut serial: [u8; 20] = rng.gen();
            serial[0] = serial[0].clamp(1, 0x7f);
            return CertPlan {
                fqdn,
                short: None,
                org: None,
                not_before: offset_time(made),
                not_after: offset_time(made + chrono::Duration::days(SNAKEOIL_DAYS)),
                serial: serial.to_vec(),
                snakeoil: true,
            };
        }
        let start = Utc::now() - chrono::Duration::days(rng.gen_range(30..600));
        let end = start + chrono::Duration::days(if rng.gen_bool(0.5) { 3650 } else { 825 });
        let mut serial: [u8; 16] = rng.gen();
        serial[0] &= 0x7f;
        CertPlan {
            short: (short != fqdn).then(|| short.to_owned()),
            org: Some(p.domain.split('.').next().unwrap_or("corp").to_uppercase()),
            fqdn,
            not_before: day_start(start),
            not_after: day_start(end),
            serial: serial.to_vec(),
            snakeoil: false,
        }
    }

    /// Whether making it is slow (an RSA key).
    pub fn is_slow(&self) -> bool {
        self.snakeoil
    }

    /// Makes the certificate: (certificate PEM, PKCS#8 key PEM). Slow for
    /// snakeoil plans: call from a blocking thread.
    pub fn generate(&self) -> Result<(String, String), String> {
        let key = if self.snakeoil {
            rsa_key()?
        } else {
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .map_err(|e| e.to_string())?
        };
        let mut names = vec![self.fqdn.clone()];
        names.extend(self.short.clone());
        let mut params = if self.snakeoil {
            // Extensions written by hand below, in openssl's order.
            rcgen::CertificateParams::new(Vec::<String>::new())
        } else {
            rcgen::CertificateParams::new(names)
        }
        .map_err(|e| e.to_string())?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, self.fqdn.clone());
        if let Some(org) = &self.org {
            dn.push(rcgen::DnType::OrganizationName, org.clone());
        }
        params.distinguished_name = dn;
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&self.serial));
        if self.snakeoil {
            params.custom_extensions = snakeoil_extensions(&self.fqdn, key.public_key_raw());
        }
        let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// A fresh RSA 2048 key as rcgen signs with it (SHA-256, PKCS#1 v1.5).
fn rsa_key() -> Result<rcgen::KeyPair, String> {
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, SNAKEOIL_BITS)
        .map_err(|e| format!("rsa key: {e}"))?;
    let der = key.to_pkcs8_der().map_err(|e| format!("rsa key: {e}"))?;
    rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(der.as_bytes()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| format!("rsa key: {e}"))
}

/// ssl-cert's `v3_req` section as openssl writes it: basicConstraints
/// CA:FALSE (not critical), subjectAltName DNS:<fqdn>, then the subject
/// key identifier openssl adds (SHA-1 of the public key bits).
fn snakeoil_extensions(fqdn: &str, public_key: &[u8]) -> Vec<rcgen::CustomExtension> {
    use crate::wire::der::tlv;
    let basic = tlv(0x30, &[]);
    let san = tlv(0x30, &tlv(0x82, fqdn.as_bytes()));
    let ski = tlv(0x04, &Sha1::digest(public_key));
    vec![
        rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 19], basic),
        rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 17], san),
        rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 14], ski),
    ]
}

fn setup_err(service: &'static str, m: impl std::fmt::Display) -> ServiceError {
    ServiceError::Setup {
        service,
        message: format!("tls: {m}"),
    }
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", uuid::Uuid::now_v7().simple()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// One lock per certificate file, so the services of one decky that
/// handshake at the same time make one key between them.
static FILE_LOCKS: LazyLock<parking_lot::Mutex<HashMap<PathBuf, Arc<parking_lot::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// At most this many keys are made at once (a scan of every decky's TLS
/// ports must not take every core).
static KEYGEN_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new((cores / 2).max(1))
});

impl Inner {
    /// The file's certificate, made and written first when missing.
    fn load_or_create(&self) -> Result<Ready, String> {
        let lock = FILE_LOCKS
            .lock()
            .entry(self.path.clone())
            .or_default()
            .clone();
        let _held = lock.lock();
        let pem = match std::fs::read(&self.path) {
            Ok(p) => p,
            Err(_) => {
                let (c, k) = self.plan.generate()?;
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                // Key and certificate in one file written atomically, so a
                // key is never paired with another run's certificate.
                let both = format!("{k}{c}");
                write_atomic(&self.path, both.as_bytes()).map_err(|e| e.to_string())?;
                both.into_bytes()
            }
        };
        build(&pem, &self.alpn)
    }
}

fn build(pem: &[u8], alpn: &[Vec<u8>]) -> Result<Ready, String> {
    let cert = CertificateDer::from_pem_slice(pem).map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = alpn.to_vec();
    Ok(Ready {
        acceptor: TlsAcceptor::from(Arc::new(cfg)),
        cert_der: cert,
    })
}

impl TlsIdentity {
    /// The identity of `decky` for `service` (HTTP/1.1 ALPN when `alpn`):
    /// loaded from `data_dir/tls/` when there, made now when cheap, else
    /// at the first handshake.
    pub fn for_decky(
        decky: &DeckyCtx,
        service: &'static str,
        alpn: &[&[u8]],
    ) -> Result<Self, ServiceError> {
        let plan = CertPlan::for_decky(decky);
        // The snakeoil has its own file: a decky that presented the old
        // ECDSA certificate gets the RSA one without a manual step.
        let file = if plan.snakeoil {
            "snakeoil.pem"
        } else {
            "identity.pem"
        };
        let inner = Inner {
            service,
            path: decky.data_dir.join("tls").join(file),
            alpn: alpn.iter().map(|a| a.to_vec()).collect(),
            ready: OnceCell::new(),
            plan,
        };
        if !inner.plan.is_slow() || inner.path.exists() {
            let ready = inner.load_or_create().map_err(|e| setup_err(service, e))?;
            let _ = inner.ready.set(ready);
        }
        Ok(TlsIdentity {
            inner: Arc::new(inner),
        })
    }

    /// The acceptor and certificate, made first (on a blocking thread, a
    /// few keys at a time) when this is the first handshake of a decky
    /// whose certificate does not exist yet.
    pub async fn ready(&self) -> Result<&Ready, ServiceError> {
        let service = self.inner.service;
        self.inner
            .ready
            .get_or_try_init(|| async {
                let _slot = KEYGEN_SLOTS
                    .acquire()
                    .await
                    .map_err(|e| setup_err(service, e))?;
                let inner = self.inner.clone();
                tokio::task::spawn_blocking(move || inner.load_or_create())
                    .await
                    .map_err(|e| setup_err(service, e))?
                    .map_err(|e| setup_err(service, e))
            })
            .await
    }

    /// Whether the certificate exists already (tests, and the start-time
    /// measurement: nothing slow happened at bind).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.initialized()
    }
}
