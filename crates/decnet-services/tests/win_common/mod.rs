//! Shared harness of the Windows/ICS service tests: one decky
//! deployed in-process through the engine on 127.0.72.0/24, every port
//! shifted by 35000, plus the NTLMv2 / VNC DES maths a real client does.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus, Subscription};
use decnet_core::{Event, EventKind};
use decnet_engine::fleet::{EngineConfig, Fleet};
use decnet_services::{Limits, Registry};
use hmac::{Hmac, Mac};
use md4::{Digest, Md4};

/// Port shift of every test decky.
pub const OFFSET: u16 = 35000;

/// A running one-decky fleet and a subscription to its events.
pub struct Env {
    pub fleet: Arc<Fleet>,
    pub sub: Subscription,
    pub ip: String,
    pub dir: tempfile::TempDir,
}

/// Deploys `[t]` at `ip` with `body` (services, distro, `[t.x]` sections).
pub async fn deploy(ip: &str, body: &str) -> Env {
    let text = format!("[t]\nip = {ip}\n{body}\n");
    let (fleet, _) = decnet_core::fleet::parse_str(&text).expect("valid fleet");
    let bus = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = Fleet::new(
        EngineConfig {
            data_dir: dir.path().to_path_buf(),
            port_offset: OFFSET,
            limits: Limits {
                idle_timeout: Duration::from_secs(5),
                auth_fail_delay: Duration::from_millis(10),
                ..Limits::default()
            },
        },
        Registry::builtin(),
        bus as Arc<dyn Bus>,
    );
    f.deploy(fleet.deckies[0].clone()).await.expect("deploy");
    Env {
        fleet: f,
        sub,
        ip: ip.to_owned(),
        dir,
    }
}

impl Env {
    /// `ip:port+OFFSET`.
    pub fn addr(&self, port: u16) -> String {
        format!("{}:{}", self.ip, port + OFFSET)
    }

    /// Next event of `kind` (others skipped), within 10 s.
    pub async fn next(&mut self, kind: EventKind) -> Arc<Event> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let env = tokio::time::timeout_at(deadline, self.sub.recv())
                .await
                .unwrap_or_else(|_| panic!("no {kind:?} event in time"))
                .expect("bus open");
            let e = env.as_event().expect("event").clone();
            if e.kind == kind {
                return e;
            }
        }
    }

    /// Next event of `kind` whose `field` equals `value`.
    pub async fn next_with(&mut self, kind: EventKind, field: &str, value: &str) -> Arc<Event> {
        loop {
            let e = self.next(kind).await;
            if e.fields.get(field).and_then(|v| v.as_str()) == Some(value) {
                return e;
            }
        }
    }
}

pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut m = <Hmac<md5::Md5> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// NT hash: MD4(UTF-16LE(password)).
pub fn nt_hash(password: &str) -> [u8; 16] {
    Md4::digest(utf16(password)).into()
}

/// NTLMv2 response (NTProofStr || blob) per MS-NLMP 3.3.2.
pub fn ntlmv2_response(
    password: &str,
    user: &str,
    domain: &str,
    server_challenge: &[u8],
    blob: &[u8],
) -> Vec<u8> {
    let key = hmac_md5(
        &nt_hash(password),
        &[&utf16(&format!("{}{}", user.to_uppercase(), domain))],
    );
    let proof = hmac_md5(&key, &[server_challenge, blob]);
    let mut out = proof.to_vec();
    out.extend_from_slice(blob);
    out
}

/// The NTLMv2 client blob (temp) around a target info.
pub fn ntlmv2_blob(client_challenge: &[u8; 8], target_info: &[u8]) -> Vec<u8> {
    let mut b = vec![1, 1, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&0x01d9_0000_0000_0000u64.to_le_bytes());
    b.extend_from_slice(client_challenge);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(target_info);
    b.extend_from_slice(&[0; 4]);
    b
}

/// Checks a hashcat 5600 line against a password: recomputes NTProofStr.
pub fn verify_5600(line: &str, password: &str) -> bool {
    let parts: Vec<&str> = line.split(':').collect();
    if parts.len() != 6 {
        return false;
    }
    let (user, domain) = (parts[0], parts[2]);
    let ch = hex::decode(parts[3]).unwrap();
    let proof = hex::decode(parts[4]).unwrap();
    let blob = hex::decode(parts[5]).unwrap();
    let resp = ntlmv2_response(password, user, domain, &ch, &blob);
    resp[..16] == proof[..]
}

/// Builds an NTLM AUTHENTICATE (unicode) with the given responses.
pub fn ntlm_authenticate(lm: &[u8], nt: &[u8], domain: &str, user: &str, ws: &str) -> Vec<u8> {
    let fields: Vec<Vec<u8>> = vec![
        lm.to_vec(),
        nt.to_vec(),
        utf16(domain),
        utf16(user),
        utf16(ws),
        Vec::new(),
    ];
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend_from_slice(&3u32.to_le_bytes());
    let mut off = 64 + 8 + 16;
    let mut payload = Vec::new();
    for f in &fields {
        m.extend_from_slice(&(f.len() as u16).to_le_bytes());
        m.extend_from_slice(&(f.len() as u16).to_le_bytes());
        m.extend_from_slice(&(off as u32).to_le_bytes());
        off += f.len();
        payload.extend_from_slice(f);
    }
    m.extend_from_slice(&0xe288_8215u32.to_le_bytes());
    m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 0x0f]);
    m.extend_from_slice(&[0; 16]);
    m.extend_from_slice(&payload);
    m
}

/// NTLM NEGOTIATE (unicode, NTLM, ESS, target info wanted).
pub fn ntlm_negotiate() -> Vec<u8> {
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&0xe208_8297u32.to_le_bytes());
    m.extend_from_slice(&[0; 16]);
    m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 0x0f]);
    m
}

/// From a blob holding an NTLM CHALLENGE: (server challenge, target info, version bytes).
pub fn parse_challenge(blob: &[u8]) -> ([u8; 8], Vec<u8>, [u8; 8]) {
    let at = blob
        .windows(8)
        .position(|w| w == b"NTLMSSP\0")
        .expect("challenge present");
    let c = &blob[at..];
    assert_eq!(u32::from_le_bytes(c[8..12].try_into().unwrap()), 2);
    let mut ch = [0u8; 8];
    ch.copy_from_slice(&c[24..32]);
    let len = u16::from_le_bytes([c[40], c[41]]) as usize;
    let off = u32::from_le_bytes(c[44..48].try_into().unwrap()) as usize;
    let mut ver = [0u8; 8];
    ver.copy_from_slice(&c[48..56]);
    (ch, c[off..off + len].to_vec(), ver)
}

/// AV pairs of a target info as (id, UTF-16 decoded value).
pub fn av_pairs(info: &[u8]) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= info.len() {
        let id = u16::from_le_bytes([info[i], info[i + 1]]);
        let len = u16::from_le_bytes([info[i + 2], info[i + 3]]) as usize;
        if id == 0 {
            break;
        }
        let v = &info[i + 4..i + 4 + len];
        let s = String::from_utf16_lossy(
            &v.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        );
        out.push((id, s));
        i += 4 + len;
    }
    out
}
