//! SMB driven by a raw SMB2 client built from MS-SMB2 / MS-NLMP: the
//! NTLMv2 response of a known password is computed here, and the hashcat
//! line the decky captured must verify against that password.
#![allow(clippy::unwrap_used)]

mod win_common;

use decnet_core::EventKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use win_common::*;

const PASSWORD: &str = "Summer2024!";

struct Client {
    s: TcpStream,
    mid: u64,
    sid: u64,
    tid: u32,
}

/// One SMB2 response: (status, command, session id, tree id, whole message).
struct Resp {
    status: u32,
    sid: u64,
    tid: u32,
    msg: Vec<u8>,
}

impl Resp {
    fn body(&self) -> &[u8] {
        &self.msg[64..]
    }
}

impl Client {
    async fn connect(addr: &str) -> Client {
        Client {
            s: TcpStream::connect(addr).await.unwrap(),
            mid: 0,
            sid: 0,
            tid: 0,
        }
    }

    async fn raw(&mut self, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = vec![0, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        f.extend_from_slice(payload);
        self.s.write_all(&f).await.unwrap();
        let mut h = [0u8; 4];
        self.s.read_exact(&mut h).await.unwrap();
        let n = ((h[1] as usize) << 16) | ((h[2] as usize) << 8) | h[3] as usize;
        let mut m = vec![0; n];
        self.s.read_exact(&mut m).await.unwrap();
        m
    }

    async fn call(&mut self, command: u16, body: &[u8]) -> Resp {
        let mut m = b"\xfeSMB".to_vec();
        m.extend_from_slice(&64u16.to_le_bytes());
        m.extend_from_slice(&1u16.to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes());
        m.extend_from_slice(&command.to_le_bytes());
        m.extend_from_slice(&31u16.to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes());
        m.extend_from_slice(&self.mid.to_le_bytes());
        m.extend_from_slice(&0xfeffu32.to_le_bytes());
        m.extend_from_slice(&self.tid.to_le_bytes());
        m.extend_from_slice(&self.sid.to_le_bytes());
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(body);
        self.mid += 1;
        let r = self.raw(&m).await;
        assert_eq!(&r[..4], b"\xfeSMB");
        assert_eq!(u16::from_le_bytes([r[12], r[13]]), command);
        assert_eq!(
            u64::from_le_bytes(r[24..32].try_into().unwrap()),
            self.mid - 1
        );
        Resp {
            status: u32::from_le_bytes(r[8..12].try_into().unwrap()),
            sid: u64::from_le_bytes(r[40..48].try_into().unwrap()),
            tid: u32::from_le_bytes(r[36..40].try_into().unwrap()),
            msg: r,
        }
    }

    async fn negotiate(&mut self) -> Resp {
        let dialects = [0x0202u16, 0x0210, 0x0300];
        let mut b = Vec::new();
        b.extend_from_slice(&36u16.to_le_bytes());
        b.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&0x7fu32.to_le_bytes());
        b.extend_from_slice(&[0x42; 16]);
        b.extend_from_slice(&[0; 8]);
        for d in dialects {
            b.extend_from_slice(&d.to_le_bytes());
        }
        self.call(0, &b).await
    }

    async fn session_setup(&mut self, token: &[u8]) -> Resp {
        let mut b = Vec::new();
        b.extend_from_slice(&25u16.to_le_bytes());
        b.push(0);
        b.push(1);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(64u16 + 24).to_le_bytes());
        b.extend_from_slice(&(token.len() as u16).to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(token);
        let r = self.call(1, &b).await;
        self.sid = r.sid;
        r
    }

    async fn tree_connect(&mut self, path: &str) -> Resp {
        let p = utf16(path);
        let mut b = Vec::new();
        b.extend_from_slice(&9u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&72u16.to_le_bytes());
        b.extend_from_slice(&(p.len() as u16).to_le_bytes());
        b.extend_from_slice(&p);
        let r = self.call(3, &b).await;
        if r.status == 0 {
            self.tid = r.tid;
        }
        r
    }
}

/// SPNEGO NegTokenInit carrying an NTLM NEGOTIATE, as Windows/Samba send.
fn spnego_init(token: &[u8]) -> Vec<u8> {
    fn tlv(tag: u8, v: &[u8]) -> Vec<u8> {
        let mut o = vec![tag];
        if v.len() < 128 {
            o.push(v.len() as u8);
        } else {
            o.extend_from_slice(&[0x82, (v.len() >> 8) as u8, v.len() as u8]);
        }
        o.extend_from_slice(v);
        o
    }
    let oid = tlv(0x06, &[0x2b, 6, 1, 4, 1, 0x82, 0x37, 2, 2, 10]);
    let mut seq = tlv(0xa0, &tlv(0x30, &oid));
    seq.extend_from_slice(&tlv(0xa2, &tlv(0x04, token)));
    let mut app = tlv(0x06, &[0x2b, 6, 1, 5, 5, 2]);
    app.extend_from_slice(&tlv(0xa0, &tlv(0x30, &seq)));
    tlv(0x60, &app)
}

fn spnego_resp(token: &[u8]) -> Vec<u8> {
    fn tlv(tag: u8, v: &[u8]) -> Vec<u8> {
        let mut o = vec![tag, 0x82, (v.len() >> 8) as u8, v.len() as u8];
        o.extend_from_slice(v);
        o
    }
    tlv(0xa1, &tlv(0x30, &tlv(0xa2, &tlv(0x04, token))))
}

const DISTRO: &str = "services = smb\ndistro = windows2019\n";

#[tokio::test]
async fn ntlmv2_capture_verifies_against_the_password() {
    let mut env = deploy("127.0.72.10", DISTRO).await;
    let mut c = Client::connect(&env.addr(445)).await;
    let r = c.negotiate().await;
    assert_eq!(r.status, 0);
    assert_eq!(u16::from_le_bytes([r.body()[4], r.body()[5]]), 0x0300);
    // Security buffer: SPNEGO offering NTLMSSP.
    let off = u16::from_le_bytes([r.body()[56], r.body()[57]]) as usize;
    assert_eq!(r.msg[off], 0x60);

    let r = c.session_setup(&spnego_init(&ntlm_negotiate())).await;
    assert_eq!(r.status, 0xC000_0016, "MORE_PROCESSING_REQUIRED");
    assert_ne!(r.sid, 0);
    let (server_ch, info, ver) = parse_challenge(&r.msg);
    // Version field and names come from the persona (Windows Server 2019).
    assert_eq!(&ver[..4], &[10, 0, 0x63, 0x45]);
    let avs = av_pairs(&info);
    let dns_computer = avs.iter().find(|(id, _)| *id == 3).unwrap().1.clone();
    let nb_domain = avs.iter().find(|(id, _)| *id == 2).unwrap().1.clone();
    let dns_domain = avs.iter().find(|(id, _)| *id == 4).unwrap().1.clone();
    assert!(dns_computer.ends_with(&dns_domain), "{dns_computer}");
    assert_eq!(
        nb_domain,
        dns_domain.split('.').next().unwrap().to_uppercase()
    );

    let blob = ntlmv2_blob(&[9, 8, 7, 6, 5, 4, 3, 2], &info);
    let nt = ntlmv2_response(PASSWORD, "alice", &nb_domain, &server_ch, &blob);
    let auth = ntlm_authenticate(&[0; 24], &nt, &nb_domain, "alice", "KALI");
    let r = c.session_setup(&spnego_resp(&auth)).await;
    assert_eq!(r.status, 0xC000_006D, "LOGON_FAILURE");

    let e = env.next(EventKind::AuthAttempt).await;
    assert_eq!(e.fields["secret_kind"], "netntlmv2");
    assert_eq!(e.fields["hashcat_mode"], 5600);
    assert_eq!(e.fields["success"], false);
    let line = e.fields["hash"].as_str().unwrap().to_owned();
    assert_eq!(e.fields["secret_printable"], line.as_str());
    assert!(line.starts_with(&format!("alice::{nb_domain}:{}:", hex::encode(server_ch))));
    assert!(
        verify_5600(&line, PASSWORD),
        "captured line verifies: {line}"
    );
    assert!(
        !verify_5600(&line, "Winter2024!"),
        "wrong password must not verify"
    );
}

#[tokio::test]
async fn smb1_negotiate_switches_to_smb2_on_139() {
    let mut env = deploy("127.0.72.11", DISTRO).await;
    let mut s = TcpStream::connect(env.addr(139)).await.unwrap();
    // NetBIOS session request (names are opaque to the server).
    let mut req = vec![0x81, 0, 0, 68];
    req.extend_from_slice(&[0x20; 68]);
    s.write_all(&req).await.unwrap();
    let mut ok = [0u8; 4];
    s.read_exact(&mut ok).await.unwrap();
    assert_eq!(ok, [0x82, 0, 0, 0]);
    let mut m = vec![0xff, b'S', b'M', b'B', 0x72];
    m.extend_from_slice(&[0; 27]);
    m.push(0);
    let d = b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0";
    m.extend_from_slice(&(d.len() as u16).to_le_bytes());
    m.extend_from_slice(d);
    let mut f = vec![0, 0, 0, m.len() as u8];
    f.extend_from_slice(&m);
    s.write_all(&f).await.unwrap();
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await.unwrap();
    let mut r = vec![0; u16::from_be_bytes([h[2], h[3]]) as usize];
    s.read_exact(&mut r).await.unwrap();
    assert_eq!(&r[..4], b"\xfeSMB");
    assert_eq!(
        u16::from_le_bytes([r[68], r[69]]),
        0x02ff,
        "wildcard dialect"
    );
    let e = env
        .next_with(EventKind::Request, "request", "smb1_negotiate")
        .await;
    assert!(e.fields["dialects"].as_str().unwrap().contains("SMB 2.???"));
}

fn rpc(ptype: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut b = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
    b.extend_from_slice(&((16 + body.len()) as u16).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&call_id.to_le_bytes());
    b.extend_from_slice(body);
    b
}

/// UTF-16 strings in an NDR buffer that look like share names.
fn ndr_strings(b: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 12 <= b.len() {
        let max = u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        let off = u32::from_le_bytes(b[i + 4..i + 8].try_into().unwrap());
        let act = u32::from_le_bytes(b[i + 8..i + 12].try_into().unwrap()) as usize;
        if max > 0 && max < 64 && off == 0 && act == max && i + 12 + act * 2 <= b.len() {
            let units: Vec<u16> = b[i + 12..i + 12 + act * 2]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            if units.last() == Some(&0) {
                out.push(String::from_utf16_lossy(&units[..units.len() - 1]));
                i += 12 + act * 2;
                i = (i + 3) & !3;
                continue;
            }
        }
        i += 4;
    }
    out
}

#[tokio::test]
async fn anonymous_session_lists_shares_over_srvsvc() {
    let mut env = deploy(
        "127.0.72.12",
        &format!("{DISTRO}[t.smb]\nshare = Payroll\n"),
    )
    .await;
    let mut c = Client::connect(&env.addr(445)).await;
    c.negotiate().await;
    let r = c.session_setup(&spnego_init(&ntlm_negotiate())).await;
    assert_eq!(r.status, 0xC000_0016);
    let auth = ntlm_authenticate(&[0], &[], "", "", "");
    let r = c.session_setup(&spnego_resp(&auth)).await;
    assert_eq!(r.status, 0);
    assert_eq!(
        u16::from_le_bytes([r.body()[2], r.body()[3]]) & 2,
        2,
        "null session"
    );
    let e = env.next(EventKind::AuthAttempt).await;
    assert_eq!(e.fields["secret_kind"], "anonymous");

    // Disk shares refuse the null session; IPC$ accepts it.
    let r = c.tree_connect("\\\\127.0.72.12\\C$").await;
    assert_eq!(r.status, 0xC000_0022);
    let r = c.tree_connect("\\\\127.0.72.12\\NOPE").await;
    assert_eq!(r.status, 0xC000_00CC);
    let r = c.tree_connect("\\\\127.0.72.12\\IPC$").await;
    assert_eq!(r.status, 0);
    assert_eq!(r.body()[2], 2, "pipe share");

    // CREATE srvsvc.
    let name = utf16("srvsvc");
    let mut b = Vec::new();
    b.extend_from_slice(&57u16.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(&0x0012_019fu32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&7u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&120u16.to_le_bytes());
    b.extend_from_slice(&(name.len() as u16).to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&name);
    let r = c.call(5, &b).await;
    assert_eq!(r.status, 0);
    let fid: [u8; 16] = r.body()[64..80].try_into().unwrap();

    // WRITE a DCE/RPC bind, READ the bind_ack.
    let mut bind = Vec::new();
    bind.extend_from_slice(&4280u16.to_le_bytes());
    bind.extend_from_slice(&4280u16.to_le_bytes());
    bind.extend_from_slice(&0u32.to_le_bytes());
    bind.extend_from_slice(&[1, 0, 0, 0]);
    bind.extend_from_slice(&0u16.to_le_bytes());
    bind.extend_from_slice(&[1, 0]);
    bind.extend_from_slice(&[
        0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1,
        0x88,
    ]);
    bind.extend_from_slice(&3u32.to_le_bytes());
    bind.extend_from_slice(&[
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60,
    ]);
    bind.extend_from_slice(&2u32.to_le_bytes());
    let pdu = rpc(11, 1, &bind);
    let mut w = Vec::new();
    w.extend_from_slice(&49u16.to_le_bytes());
    w.extend_from_slice(&112u16.to_le_bytes());
    w.extend_from_slice(&(pdu.len() as u32).to_le_bytes());
    w.extend_from_slice(&0u64.to_le_bytes());
    w.extend_from_slice(&fid);
    w.extend_from_slice(&[0; 16]);
    w.extend_from_slice(&pdu);
    let r = c.call(9, &w).await;
    assert_eq!(r.status, 0);
    let mut rd = Vec::new();
    rd.extend_from_slice(&49u16.to_le_bytes());
    rd.extend_from_slice(&[0, 0]);
    rd.extend_from_slice(&4280u32.to_le_bytes());
    rd.extend_from_slice(&0u64.to_le_bytes());
    rd.extend_from_slice(&fid);
    rd.extend_from_slice(&[0; 17]);
    let r = c.call(8, &rd).await;
    assert_eq!(r.status, 0);
    let ack = &r.body()[16..];
    assert_eq!(ack[2], 12, "bind_ack");
    // Context 0 accepted with NDR.
    let n = ack.len();
    assert_eq!(&ack[n - 24..n - 20], &[0, 0, 0, 0]);

    // NetrShareEnum level 1 through FSCTL_PIPE_TRANSCEIVE.
    let mut stub = Vec::new();
    stub.extend_from_slice(&0x0002_0000u32.to_le_bytes());
    let server = utf16("\\\\127.0.72.12\0");
    let chars = (server.len() / 2) as u32;
    stub.extend_from_slice(&chars.to_le_bytes());
    stub.extend_from_slice(&0u32.to_le_bytes());
    stub.extend_from_slice(&chars.to_le_bytes());
    stub.extend_from_slice(&server);
    while stub.len() % 4 != 0 {
        stub.push(0);
    }
    for v in [1u32, 1, 0x0002_0004, 0, 0, 0xffff_ffff, 0x0002_0008, 0] {
        stub.extend_from_slice(&v.to_le_bytes());
    }
    let mut req = Vec::new();
    req.extend_from_slice(&(stub.len() as u32).to_le_bytes());
    req.extend_from_slice(&0u16.to_le_bytes());
    req.extend_from_slice(&15u16.to_le_bytes());
    req.extend_from_slice(&stub);
    let pdu = rpc(0, 2, &req);
    let mut io = Vec::new();
    io.extend_from_slice(&57u16.to_le_bytes());
    io.extend_from_slice(&0u16.to_le_bytes());
    io.extend_from_slice(&0x0011_C017u32.to_le_bytes());
    io.extend_from_slice(&fid);
    io.extend_from_slice(&120u32.to_le_bytes());
    io.extend_from_slice(&(pdu.len() as u32).to_le_bytes());
    io.extend_from_slice(&0u32.to_le_bytes());
    io.extend_from_slice(&0u32.to_le_bytes());
    io.extend_from_slice(&0u32.to_le_bytes());
    io.extend_from_slice(&4280u32.to_le_bytes());
    io.extend_from_slice(&1u32.to_le_bytes());
    io.extend_from_slice(&0u32.to_le_bytes());
    io.extend_from_slice(&pdu);
    let r = c.call(11, &io).await;
    assert_eq!(r.status, 0);
    let out = &r.body()[48..];
    assert_eq!(out[2], 2, "rpc response");
    let names = ndr_strings(&out[24..]);
    for want in ["ADMIN$", "C$", "IPC$", "Payroll", "Remote IPC"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let e = env
        .next_with(EventKind::Command, "command", "srvsvc:opnum15")
        .await;
    assert_eq!(e.fields["pipe"], "srvsvc");
}

#[tokio::test]
async fn garbage_and_oversized_frames_close_cleanly() {
    let mut env = deploy("127.0.72.13", DISTRO).await;
    let mut s = TcpStream::connect(env.addr(445)).await.unwrap();
    s.write_all(&[0, 0xff, 0xff, 0xff]).await.unwrap();
    let mut b = [0u8; 16];
    assert_eq!(s.read(&mut b).await.unwrap_or(0), 0);
    let e = env.next(EventKind::Error).await;
    assert!(e.fields["error"].as_str().unwrap().contains("refused"));
    // A truncated SMB2 header is answered by closing, and the decky still serves.
    let mut s = TcpStream::connect(env.addr(445)).await.unwrap();
    s.write_all(&[0, 0, 0, 8, 0xfe, b'S', b'M', b'B', 1, 2, 3, 4])
        .await
        .unwrap();
    assert_eq!(s.read(&mut b).await.unwrap_or(0), 0);
    let mut c = Client::connect(&env.addr(445)).await;
    assert_eq!(c.negotiate().await.status, 0);
}

impl Client {
    async fn create(&mut self, name: &str, disposition: u32, options: u32) -> Resp {
        let n = utf16(name);
        let mut b = Vec::new();
        b.extend_from_slice(&57u16.to_le_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&0x0012_019fu32.to_le_bytes());
        b.extend_from_slice(&0x80u32.to_le_bytes());
        b.extend_from_slice(&7u32.to_le_bytes());
        b.extend_from_slice(&disposition.to_le_bytes());
        b.extend_from_slice(&options.to_le_bytes());
        b.extend_from_slice(&120u16.to_le_bytes());
        b.extend_from_slice(&(n.len() as u16).to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&n);
        if n.is_empty() {
            b.push(0);
        }
        self.call(5, &b).await
    }

    async fn close(&mut self, fid: &[u8; 16]) -> Resp {
        let mut b = Vec::new();
        b.extend_from_slice(&24u16.to_le_bytes());
        b.extend_from_slice(&[0; 6]);
        b.extend_from_slice(fid);
        self.call(6, &b).await
    }
}

#[tokio::test]
async fn null_session_lure_share_reads_vfs_and_captures_writes() {
    let mut env = deploy(
        "127.0.72.14",
        &format!("{DISTRO}[t.smb]\nshare = Finance\n"),
    )
    .await;
    let mut c = Client::connect(&env.addr(445)).await;
    c.negotiate().await;
    c.session_setup(&spnego_init(&ntlm_negotiate())).await;
    let r = c
        .session_setup(&spnego_resp(&ntlm_authenticate(&[0], &[], "", "", "")))
        .await;
    assert_eq!(r.status, 0);
    let r = c.tree_connect("\\\\127.0.72.14\\Finance").await;
    assert_eq!(r.status, 0);
    assert_eq!(r.body()[2], 1, "disk share");

    // Directory listing (FileIdBothDirectoryInformation) shows the lure files.
    let r = c.create("", 1, 1).await;
    assert_eq!(r.status, 0);
    let dir: [u8; 16] = r.body()[64..80].try_into().unwrap();
    let pat = utf16("*");
    let mut q = Vec::new();
    q.extend_from_slice(&33u16.to_le_bytes());
    q.push(37);
    q.push(1);
    q.extend_from_slice(&0u32.to_le_bytes());
    q.extend_from_slice(&dir);
    q.extend_from_slice(&96u16.to_le_bytes());
    q.extend_from_slice(&(pat.len() as u16).to_le_bytes());
    q.extend_from_slice(&65536u32.to_le_bytes());
    q.extend_from_slice(&pat);
    let r = c.call(14, &q).await;
    assert_eq!(r.status, 0);
    let listing = String::from_utf16_lossy(
        &r.body()[8..]
            .chunks_exact(2)
            .map(|x| u16::from_le_bytes([x[0], x[1]]))
            .collect::<Vec<_>>(),
    );
    assert!(listing.contains("README.txt"), "{listing}");
    assert!(listing.contains("Q3_salaries.csv"));
    let r = c
        .call(
            14,
            &q[..]
                .iter()
                .enumerate()
                .map(|(i, b)| if i == 3 { 0 } else { *b })
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(r.status, 0x8000_0006, "NO_MORE_FILES");
    c.close(&dir).await;

    // READ a seeded file: the bytes are the VFS file's.
    let r = c.create("README.txt", 1, 0x40).await;
    assert_eq!(r.status, 0);
    let fid: [u8; 16] = r.body()[64..80].try_into().unwrap();
    let size = u64::from_le_bytes(r.body()[48..56].try_into().unwrap());
    let mut rd = Vec::new();
    rd.extend_from_slice(&49u16.to_le_bytes());
    rd.extend_from_slice(&[0, 0]);
    rd.extend_from_slice(&4096u32.to_le_bytes());
    rd.extend_from_slice(&0u64.to_le_bytes());
    rd.extend_from_slice(&fid);
    rd.extend_from_slice(&[0; 17]);
    let r = c.call(8, &rd).await;
    assert_eq!(r.status, 0);
    let data = r.body()[16..].to_vec();
    assert_eq!(data.len() as u64, size);
    let vfs_path = "/srv/smb/Finance/README.txt";
    let node = env
        .fleet
        .decky("t")
        .await
        .unwrap()
        .vfs()
        .get(vfs_path)
        .unwrap();
    assert_eq!(node.size, size, "size of the VFS file");
    assert!(String::from_utf8_lossy(&data).contains("Shared drive"));
    let e = env.next(EventKind::FileDownload).await;
    assert_eq!(e.fields["path"], vfs_path);
    c.close(&fid).await;

    // WRITE a new file: captured as an artifact on CLOSE.
    let r = c.create("drop\\payload.exe", 5, 0x40).await;
    assert_eq!(r.status, 0);
    let fid: [u8; 16] = r.body()[64..80].try_into().unwrap();
    let payload = b"MZ\x90\x00 totally a payload";
    let mut w = Vec::new();
    w.extend_from_slice(&49u16.to_le_bytes());
    w.extend_from_slice(&112u16.to_le_bytes());
    w.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    w.extend_from_slice(&0u64.to_le_bytes());
    w.extend_from_slice(&fid);
    w.extend_from_slice(&[0; 16]);
    w.extend_from_slice(payload);
    assert_eq!(c.call(9, &w).await.status, 0);
    assert_eq!(c.close(&fid).await.status, 0);
    let e = env.next(EventKind::FileUpload).await;
    assert_eq!(e.fields["path"], "/srv/smb/Finance/drop/payload.exe");
    let vfs = env.fleet.decky("t").await.unwrap().vfs();
    assert!(
        vfs.get("/srv/smb/Finance/drop/payload.exe").is_some(),
        "upload visible in the VFS"
    );
    let sha = e.fields["sha256"].as_str().unwrap();
    let stored = std::fs::read(env.dir.path().join("artifacts").join(sha)).unwrap();
    assert_eq!(stored, payload);

    // Traversal out of the share is refused.
    let r = c.create("..\\..\\..\\etc\\passwd", 1, 0x40).await;
    assert_eq!(r.status, 0xC000_0022);
}

const SAMBA: &str = "services = smb\ndistro = debian\n";

#[tokio::test]
async fn samba_persona_answers_smb1_as_smbd_and_maps_bad_users_to_guest() {
    let mut env = deploy("127.0.72.20", SAMBA).await;
    // nmap's SMBProgNeg (SMB1 dialects only) on 139 without a session
    // request: smbd names no dialect and hangs up, byte for byte.
    let mut m =
        b"\xffSMBr\0\0\0\0\x08\x01\x40\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x40\x06\0\0\x01\0\0\x81\0"
            .to_vec();
    m.extend_from_slice(b"\x02PC NETWORK PROGRAM 1.0\0\x02MICROSOFT NETWORKS 1.03\0\x02MICROSOFT NETWORKS 3.0\0\x02LANMAN1.0\0\x02LM1.2X002\0\x02Samba\0\x02NT LANMAN 1.0\0\x02NT LM 0.12\0");
    let mut f = vec![0, 0, 0, m.len() as u8];
    f.extend_from_slice(&m);
    let mut s = TcpStream::connect(env.addr(139)).await.unwrap();
    s.write_all(&f).await.unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(
        got,
        b"\0\0\0\x25\xffSMBr\0\0\0\0\x88\x03@\0\0\0\0\0\0\0\0\0\0\0\0\0\0@\x06\0\0\x01\0\x01\xff\xff\0\0"
    );

    // A named user with a wrong password is Samba's guest (`map to guest =
    // bad user`): the session succeeds flagged IS_GUEST, the hash is kept.
    let mut c = Client::connect(&env.addr(445)).await;
    let r = c.negotiate().await;
    assert_eq!(r.status, 0);
    let r = c.session_setup(&spnego_init(&ntlm_negotiate())).await;
    assert_eq!(r.status, 0xC000_0016, "MORE_PROCESSING_REQUIRED");
    let (server_ch, info, _) = parse_challenge(&r.msg);
    let blob = ntlmv2_blob(&[1, 2, 3, 4, 5, 6, 7, 8], &info);
    let nt = ntlmv2_response(PASSWORD, "alice", "WORKGROUP", &server_ch, &blob);
    let auth = ntlm_authenticate(&[0; 24], &nt, "WORKGROUP", "alice", "KALI");
    let r = c.session_setup(&spnego_resp(&auth)).await;
    assert_eq!(r.status, 0, "guest session");
    assert_eq!(
        u16::from_le_bytes([r.body()[2], r.body()[3]]),
        1,
        "IS_GUEST"
    );
    let e = env.next(EventKind::AuthAttempt).await;
    assert_eq!(e.fields["success"], false);
    assert!(verify_5600(e.fields["hash"].as_str().unwrap(), PASSWORD));
    // Guests reach IPC$ but not the Debian print$ share or unknown ones.
    assert_eq!(c.tree_connect("\\\\h\\print$").await.status, 0xC000_0022);
    assert_eq!(c.tree_connect("\\\\h\\nosuch").await.status, 0xC000_00CC);
    assert_eq!(c.tree_connect("\\\\h\\IPC$").await.status, 0);
}

#[tokio::test]
async fn samba_persona_drops_non_smb_as_smbd_does() {
    let env = deploy("127.0.72.21", SAMBA).await;
    // An empty message: smbd hangs up at once, leaving the rest unread,
    // so the close is a reset.
    let mut s = TcpStream::connect(env.addr(445)).await.unwrap();
    s.write_all(b"\0\x0c\0\0\x10\0\0\0\0\0\0\0\0\0")
        .await
        .unwrap();
    let mut b = [0u8; 16];
    let r = s.read(&mut b).await;
    assert!(
        matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{r:?}"
    );
    // "GET " announces a 17-bit length of 87,072 bytes: smbd waits for it.
    let mut s = TcpStream::connect(env.addr(445)).await.unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let r = tokio::time::timeout(std::time::Duration::from_millis(500), s.read(&mut b)).await;
    assert!(r.is_err(), "still waiting, not closed: {r:?}");
}
