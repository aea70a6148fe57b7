//! Memory amplification through the printer, reproduced: many connections
//! from one address each sending a large print job (JetDirect) or IPP
//! document and keeping the connection open. Jobs must go to disk as they
//! arrive; the process must not hold them. Alone in its file so the RSS it
//! measures is this test's.
#![allow(clippy::unwrap_used)]

mod webmail_util;

use std::time::Duration;

use decnet_core::EventKind;
use decnet_services::artifacts::{memory_in_use, MEMORY_BUDGET};
use decnet_services::wire::ipp::attr;
use decnet_services::Limits;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use webmail_util::Env;

const JOB: usize = 1024 * 1024;
const JOBS: usize = 64;
const DOCS: usize = 16;
const DOC: usize = 2 * 1024 * 1024;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// Bytes in captures still being written (temporary files).
fn in_flight(env: &Env) -> u64 {
    std::fs::read_dir(env.dir.path().join("artifacts"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(".capture"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Waits until at least `bytes` are in temporary capture files.
async fn wait_on_disk(env: &Env, bytes: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while in_flight(env) < bytes {
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs reach the disk while they arrive ({} of {bytes} bytes)",
            in_flight(env)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ipp_print_job(doc_len: usize) -> Vec<u8> {
    let mut b = vec![2, 0, 0, 2, 0, 0, 0, 1, 1];
    attr(&mut b, 0x47, "attributes-charset", b"utf-8");
    attr(&mut b, 0x48, "attributes-natural-language", b"en");
    attr(&mut b, 0x45, "printer-uri", b"ipp://127.0.63.40/ipp/print");
    b.push(3);
    let mut req = format!(
        "POST /ipp/print HTTP/1.1\r\nHost: x\r\nContent-Type: application/ipp\r\nContent-Length: {}\r\n\r\n",
        b.len() + doc_len
    )
    .into_bytes();
    req.extend_from_slice(&b);
    req
}

#[tokio::test]
async fn print_jobs_from_many_connections_are_streamed_not_held() {
    let ini = "[general]\nnet = 127.0.63.0/24\n\n[prn]\nip = 127.0.63.40\nservices = printer\n";
    let limits = Limits {
        max_conns_per_source: 128,
        ..Limits::default()
    };
    let mut env = Env::start(ini, 20950, limits).await;
    let before = rss_bytes();

    // JetDirect: 64 connections, 1 MiB each, all left open.
    let mut job = vec![b'x'; JOB];
    let mut held = Vec::new();
    for i in 0..JOBS {
        let mut s = TcpStream::connect(env.addr("127.0.63.40", 9100))
            .await
            .unwrap();
        job[..8].copy_from_slice(&(i as u64).to_be_bytes());
        s.write_all(&job).await.unwrap();
        held.push(s);
    }
    // IPP: 16 Print-Jobs of 2 MiB whose last byte never comes.
    let doc = vec![b'%'; DOC];
    for _ in 0..DOCS {
        let mut s = TcpStream::connect(env.addr("127.0.63.40", 631))
            .await
            .unwrap();
        s.write_all(&ipp_print_job(DOC + 1)).await.unwrap();
        s.write_all(&doc).await.unwrap();
        held.push(s);
    }
    let total = (JOBS * JOB + DOCS * DOC) as u64;
    wait_on_disk(&env, total - total / 8).await;
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        memory_in_use() <= MEMORY_BUDGET,
        "captures hold {} bytes",
        memory_in_use()
    );
    // Holding the jobs would be ≥ 96 MiB; streaming keeps buffers only.
    assert!(
        grown < 48 * 1024 * 1024,
        "RSS grew by {} MiB for {} MiB of jobs in flight",
        grown / (1024 * 1024),
        total / (1024 * 1024)
    );

    // Closed, the JetDirect jobs are stored whole.
    drop(held);
    let mut stored = 0;
    while stored < JOBS {
        let e = env
            .wait_kind("printer", EventKind::FileUpload, |_| true)
            .await;
        assert_eq!(e.fields["size"], JOB as u64);
        stored += 1;
    }
    env.stop().await;
}
