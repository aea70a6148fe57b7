//! VNC driven by a raw RFB client (RFC 6143): the DES response of a known
//! password is computed here with the `des` crate, and the captured
//! `$vnc$*challenge*response` must verify against it.
#![allow(clippy::unwrap_used)]

mod win_common;

use decnet_core::EventKind;
use des::cipher::{BlockEncrypt, KeyInit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use win_common::*;

fn des_response(password: &str, challenge: &[u8]) -> Vec<u8> {
    let mut key = [0u8; 8];
    for (i, b) in password.bytes().take(8).enumerate() {
        key[i] = b.reverse_bits();
    }
    let c = des::Des::new_from_slice(&key).unwrap();
    let mut out = challenge.to_vec();
    for block in out.chunks_exact_mut(8) {
        c.encrypt_block(block.into());
    }
    out
}

async fn handshake(addr: &str, client_version: &[u8; 12]) -> (TcpStream, [u8; 12]) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut v = [0u8; 12];
    s.read_exact(&mut v).await.unwrap();
    s.write_all(client_version).await.unwrap();
    (s, v)
}

#[tokio::test]
async fn des_challenge_response_captured_and_verifiable() {
    let mut env = deploy("127.0.72.30", "services = vnc\ndistro = windows10\n").await;
    let (mut s, v) = handshake(&env.addr(5900), b"RFB 003.008\n").await;
    assert_eq!(&v, b"RFB 003.008\n");
    let mut types = [0u8; 2];
    s.read_exact(&mut types).await.unwrap();
    assert_eq!(types, [1, 2], "one type: VNC authentication");
    s.write_all(&[2]).await.unwrap();
    let mut ch = [0u8; 16];
    s.read_exact(&mut ch).await.unwrap();
    s.write_all(&des_response("letmein", &ch)).await.unwrap();
    let mut res = [0u8; 4];
    s.read_exact(&mut res).await.unwrap();
    assert_eq!(u32::from_be_bytes(res), 1, "failed");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.unwrap();
    let mut why = vec![0; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut why).await.unwrap();
    assert_eq!(why, b"Authentication failed");

    let e = env.next(EventKind::AuthAttempt).await;
    assert_eq!(e.fields["secret_kind"], "vnc_des");
    assert_eq!(e.fields["success"], false);
    let line = e.fields["hash"].as_str().unwrap();
    let parts: Vec<&str> = line.split('*').collect();
    assert_eq!(parts[0], "$vnc$");
    let cap_ch = hex::decode(parts[1]).unwrap();
    let cap_resp = hex::decode(parts[2]).unwrap();
    assert_eq!(cap_ch, ch);
    assert_eq!(cap_resp, des_response("letmein", &cap_ch), "verifies");
    assert_ne!(cap_resp, des_response("letmein2", &cap_ch));
}

#[tokio::test]
async fn configured_password_logs_in_rfb33() {
    let mut env = deploy(
        "127.0.72.31",
        "services = vnc\ndistro = windows10\n[t.vnc]\npassword = s3cret\n",
    )
    .await;
    let (mut s, _) = handshake(&env.addr(5900), b"RFB 003.003\n").await;
    let mut ty = [0u8; 4];
    s.read_exact(&mut ty).await.unwrap();
    assert_eq!(u32::from_be_bytes(ty), 2, "3.3: server picks VNC auth");
    let mut ch = [0u8; 16];
    s.read_exact(&mut ch).await.unwrap();
    s.write_all(&des_response("s3cret", &ch)).await.unwrap();
    let mut res = [0u8; 4];
    s.read_exact(&mut res).await.unwrap();
    assert_eq!(u32::from_be_bytes(res), 0, "ok");
    s.write_all(&[1]).await.unwrap();
    let mut init = [0u8; 24];
    s.read_exact(&mut init).await.unwrap();
    assert_eq!(u16::from_be_bytes([init[0], init[1]]), 1280);
    let mut name = vec![0; u32::from_be_bytes(init[20..24].try_into().unwrap()) as usize];
    s.read_exact(&mut name).await.unwrap();
    assert!(!name.is_empty());
    let e = env.next(EventKind::AuthAttempt).await;
    assert_eq!(e.fields["success"], true);
    // A bad version line is an error event, not a crash.
    let (mut s, _) = handshake(&env.addr(5900), b"HELLO WORLD\n").await;
    let mut b = [0u8; 4];
    assert_eq!(s.read(&mut b).await.unwrap_or(0), 0);
    env.next(EventKind::Error).await;
}
