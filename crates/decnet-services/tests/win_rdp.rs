//! RDP driven by a raw X.224 + TLS (tokio-rustls) + CredSSP client built
//! from MS-RDPBCGR / MS-CSSP: the NTLMv2 response of a known password is
//! computed here and the captured hashcat line must verify.
#![allow(clippy::unwrap_used)]

mod win_common;

use std::sync::Arc;

use decnet_core::EventKind;
use decnet_services::wire::der;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use win_common::*;

#[derive(Debug)]
struct AnyCert;

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn ts_request(token: &[u8]) -> Vec<u8> {
    let mut body = der::tlv(0xa0, &der::int(6));
    let item = der::tlv(0x30, &der::tlv(0xa0, &der::tlv(0x04, token)));
    body.extend_from_slice(&der::tlv(0xa1, &der::tlv(0x30, &item)));
    body.extend_from_slice(&der::tlv(0xa5, &der::tlv(0x04, &[0x11; 32])));
    der::tlv(0x30, &body)
}

async fn read_der<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.unwrap();
    let mut out = h.to_vec();
    let len = if h[1] < 0x80 {
        h[1] as usize
    } else {
        let n = (h[1] & 0x7f) as usize;
        let mut l = vec![0; n];
        s.read_exact(&mut l).await.unwrap();
        out.extend_from_slice(&l);
        l.iter().fold(0, |a, &b| (a << 8) | b as usize)
    };
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.unwrap();
    out.extend_from_slice(&body);
    out
}

async fn x224(addr: &str, cr_tail: &[u8]) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut p = vec![0, 0xe0, 0, 0, 0, 0, 0];
    p.extend_from_slice(cr_tail);
    p[0] = (p.len() - 1) as u8;
    let mut f = vec![3, 0, 0, 0];
    f.extend_from_slice(&p);
    let n = f.len() as u16;
    f[2..4].copy_from_slice(&n.to_be_bytes());
    s.write_all(&f).await.unwrap();
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await.unwrap();
    let mut cc = vec![0; u16::from_be_bytes([h[2], h[3]]) as usize - 4];
    s.read_exact(&mut cc).await.unwrap();
    (s, cc)
}

const PASSWORD: &str = "P@ssw0rd-rdp";

#[tokio::test]
async fn credssp_ntlmv2_capture_verifies() {
    let mut env = deploy("127.0.72.20", "services = rdp\ndistro = windows2022\n").await;
    let (s, cc) = x224(
        &env.addr(3389),
        b"Cookie: mstshash=alice\r\n\x01\0\x08\0\x0b\0\0\0",
    )
    .await;
    assert_eq!(cc[1], 0xd0, "connection confirm");
    assert_eq!(&cc[7..9], &[2, 0x1f], "RDP_NEG_RSP");
    assert_eq!(cc[11], 2, "HYBRID selected");
    let e = env
        .next_with(EventKind::Request, "request", "x224_connection_request")
        .await;
    assert_eq!(e.fields["username"], "alice");

    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyCert))
    .with_no_client_auth();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("rdp").unwrap(), s)
        .await
        .expect("tls with the decky");

    tls.write_all(&ts_request(&ntlm_negotiate())).await.unwrap();
    let resp = read_der(&mut tls).await;
    let (ch, info, ver) = parse_challenge(&resp);
    assert_eq!(&ver[..4], &[10, 0, 0x7c, 0x4f], "10.0.20348");
    let nb_domain = av_pairs(&info)
        .into_iter()
        .find(|(id, _)| *id == 2)
        .unwrap()
        .1;
    let blob = ntlmv2_blob(&[1, 3, 3, 7, 1, 3, 3, 7], &info);
    let nt = ntlmv2_response(PASSWORD, "Administrator", &nb_domain, &ch, &blob);
    let auth = ntlm_authenticate(&[0; 24], &nt, &nb_domain, "Administrator", "KALI");
    tls.write_all(&ts_request(&auth)).await.unwrap();
    let resp = read_der(&mut tls).await;
    let (seq, _) = der::read_tlv(&resp).unwrap();
    let code = der::field(seq.value, 4).expect("errorCode");
    let (t, _) = der::read_tlv(code).unwrap();
    assert_eq!(der::integer(&t), Some(0xC000_006D));

    let e = env.next(EventKind::AuthAttempt).await;
    assert_eq!(e.fields["secret_kind"], "netntlmv2");
    assert!(e.fields.contains_key("ja3"), "TLS fingerprint tagged");
    let line = e.fields["hash"].as_str().unwrap();
    assert!(line.starts_with("Administrator::"));
    assert!(verify_5600(line, PASSWORD), "{line}");
    assert!(!verify_5600(line, "password"));
}

#[tokio::test]
async fn standard_security_is_refused_and_bare_cr_confirmed() {
    let mut env = deploy("127.0.72.21", "services = rdp\ndistro = windows10\n").await;
    let (_s, cc) = x224(&env.addr(3389), b"\x01\0\x08\0\0\0\0\0").await;
    assert_eq!(cc[7], 3, "RDP_NEG_FAILURE");
    assert_eq!(cc[11], 5, "HYBRID_REQUIRED_BY_SERVER");
    let (_s, cc) = x224(&env.addr(3389), b"").await;
    assert_eq!(cc.len(), 7);
    assert_eq!(&cc[5..7], &[0x34, 0]);
    // Garbage: an error event, no crash.
    let mut s = TcpStream::connect(env.addr(3389)).await.unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut b = [0u8; 8];
    assert_eq!(s.read(&mut b).await.unwrap_or(0), 0);
    env.next(EventKind::Error).await;
}
