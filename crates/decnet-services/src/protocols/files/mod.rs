//! File-transfer protocols (ftp, tftp) and print capture (printer): the
//! services through which attackers move files onto or off the decky.
//! What ftp and tftp share is reading the decky's virtual filesystem.

pub mod ftp;
pub mod printer;
pub mod tftp;

use chrono::{DateTime, Utc};
use decnet_shell::{Content, Kind, Node, Vfs};
use rand::{Rng, SeedableRng};

/// Largest file served by RETR (larger pretend binaries are cut).
pub const MAX_RETR: usize = 8 * 1024 * 1024;
/// Resolves `arg` against the virtual cwd (both inside the user's root) and
/// returns the new virtual path; `..` never climbs above `/`.
pub fn resolve(cwd: &str, arg: &str) -> String {
    let base = if arg.starts_with('/') { "" } else { cwd };
    let mut parts: Vec<&str> = Vec::new();
    for p in base.split('/').chain(arg.split('/')) {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => {
                if parts.len() < 64 {
                    parts.push(p)
                }
            }
        }
    }
    format!("/{}", parts.join("/"))
}

/// Bytes of a file node (`None` for directories).
pub fn node_bytes(vfs: &Vfs, path: &str, node: &Node, boot: DateTime<Utc>) -> Option<Vec<u8>> {
    match &node.kind {
        Kind::Dir => None,
        Kind::File(Content::Bytes(b)) => Some(b[..b.len().min(MAX_RETR)].to_vec()),
        Kind::File(Content::Binary) => {
            let mut seed = [0u8; 32];
            for (i, b) in path.bytes().enumerate() {
                seed[i % 32] ^= b;
            }
            let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
            let n = (node.size as usize).min(MAX_RETR);
            let mut v = vec![0u8; n];
            rng.fill(&mut v[..]);
            if n >= 4 {
                v[..4].copy_from_slice(b"\x7fELF");
            }
            Some(v)
        }
        Kind::File(Content::Uptime) => {
            // The decky's clock, as the shell's `uptime` reads it.
            let up = (vfs.now() - boot).num_seconds().max(0);
            Some(format!("{up}.42 {}.17\n", up * 3).into_bytes())
        }
        Kind::File(Content::LoadAvg) => Some(b"0.08 0.03 0.01 1/213 4242\n".to_vec()),
        Kind::Link(target) => {
            let t = if target.starts_with('/') {
                target.clone()
            } else {
                resolve(decnet_shell::vfs::parent(path), target)
            };
            let n = vfs.get(&t)?;
            if matches!(n.kind, Kind::Link(_)) {
                return None;
            }
            node_bytes(vfs, &t, &n, boot)
        }
    }
}
