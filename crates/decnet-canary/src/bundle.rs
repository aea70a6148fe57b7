//! Breadcrumb bundles for real workstations: a zip of tokens' files laid
//! out as under a home directory, with `install.sh` (Linux) and
//! `install.ps1` (Windows) that copy them into place.

use crate::error::CanaryResult;
use crate::kinds::{Ctx, Location};
use crate::store::archive_path;
use crate::token::Token;
use crate::zipfile::{self, Member};

/// Files whose existing content must be kept: the scripts append to them.
const APPEND: &[&str] = &[".ssh/config", ".ssh/known_hosts"];

/// A zip with every live token's files under `files/` and the two install scripts.
pub fn bundle(tokens: &[Token], ctx: &Ctx) -> CanaryResult<Vec<u8>> {
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    for t in tokens.iter().filter(|t| !t.revoked) {
        if t.kind().is_none() {
            continue;
        }
        for a in t.render(ctx)? {
            let rel = match &a.location {
                Location::Home(r) => r.clone(),
                // Absolute paths go under the home too: a workstation user
                // cannot write /var, and the point is being found.
                Location::Absolute(p) => archive_path(&Location::Absolute(p.clone())),
            };
            // Two tokens of a kind would collide: number the later ones.
            let mut name = rel.clone();
            let mut n = 2;
            while files.iter().any(|(f, _, _)| *f == name) {
                name = match rel.rsplit_once('.') {
                    Some((stem, ext)) if !stem.ends_with('/') && !stem.is_empty() => {
                        format!("{stem}-{n}.{ext}")
                    }
                    _ => format!("{rel}-{n}"),
                };
                n += 1;
            }
            files.push((name, a.bytes, a.mode));
        }
    }
    let sh = install_sh(&files);
    let ps1 = install_ps1(&files);
    let when = tokens
        .iter()
        .map(|t| t.created_at)
        .max()
        .unwrap_or_else(chrono::Utc::now);
    let names: Vec<String> = files.iter().map(|(n, _, _)| format!("files/{n}")).collect();
    let mut members: Vec<Member<'_>> = vec![
        Member {
            name: "install.sh",
            bytes: sh.as_bytes(),
            mode: 0o755,
        },
        Member {
            name: "install.ps1",
            bytes: ps1.as_bytes(),
            mode: 0o644,
        },
    ];
    for ((_, bytes, mode), name) in files.iter().zip(&names) {
        members.push(Member {
            name,
            bytes,
            mode: *mode,
        });
    }
    zipfile::write(&members, when)
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn install_sh(files: &[(String, Vec<u8>, u32)]) -> String {
    let mut s = String::from(
        "#!/bin/sh\n# Places the files next to this script into the current user's home.\n\
         # Run from the unzipped bundle: sh install.sh\nset -eu\ncd \"$(dirname \"$0\")/files\"\n",
    );
    for (rel, _, mode) in files {
        let q = sh_quote(rel);
        s.push_str(&format!(
            "mkdir -p \"$HOME\"/{}\n",
            sh_quote(rel.rsplit_once('/').map_or(".", |(d, _)| d))
        ));
        if APPEND.contains(&rel.as_str()) {
            s.push_str(&format!("cat {q} >> \"$HOME\"/{q}\n"));
        } else {
            s.push_str(&format!("[ -e \"$HOME\"/{q} ] || cp {q} \"$HOME\"/{q}\n"));
        }
        s.push_str(&format!("chmod {mode:o} \"$HOME\"/{q}\n"));
    }
    s.push_str("echo done\n");
    s
}

fn ps_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn install_ps1(files: &[(String, Vec<u8>, u32)]) -> String {
    let mut s = String::from(
        "# Places the files next to this script into the current user's profile.\r\n\
         # Run from the unzipped bundle: powershell -ExecutionPolicy Bypass -File install.ps1\r\n\
         $ErrorActionPreference = 'Stop'\r\n$src = Join-Path $PSScriptRoot 'files'\r\n",
    );
    for (rel, _, _) in files {
        let win = rel.replace('/', "\\");
        let q = ps_quote(&win);
        s.push_str(&format!(
            "$dst = Join-Path $env:USERPROFILE {q}\r\nNew-Item -ItemType Directory -Force -Path (Split-Path $dst) | Out-Null\r\n"
        ));
        if APPEND.contains(&rel.as_str()) {
            s.push_str(&format!(
                "Get-Content (Join-Path $src {q}) | Add-Content $dst\r\n"
            ));
        } else {
            s.push_str(&format!(
                "if (-not (Test-Path $dst)) {{ Copy-Item (Join-Path $src {q}) $dst }}\r\n"
            ));
        }
        if rel.ends_with("desktop.ini") {
            // Explorer only reads desktop.ini in a system folder, and the file itself is hidden.
            s.push_str("attrib +s (Split-Path $dst); attrib +s +h $dst\r\n");
        }
    }
    s.push_str("Write-Output 'done'\r\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing;

    #[test]
    fn bundle_holds_files_and_scripts_that_place_them() {
        let mut a = testing::token("aws_credentials");
        let mut b = testing::token("aws_credentials");
        b.id = uuid::Uuid::now_v7();
        let ini = testing::token("desktop_ini");
        let mut revoked = testing::token("http_url");
        revoked.revoked = true;
        a.label = "laptop".into();
        let zip = bundle(&[a, b, ini, revoked], &testing::ctx()).unwrap();
        let m = crate::zipfile::read::members(&zip);
        assert!(m.contains_key("files/.aws/credentials"));
        assert!(m.contains_key("files/.aws/credentials-2"), "{:?}", m.keys());
        assert!(
            !m.contains_key("files/Documents/vpn-portal.txt"),
            "revoked tokens are left out"
        );
        let sh = String::from_utf8(m["install.sh"].clone()).unwrap();
        assert!(sh.contains("cp '.aws/credentials' \"$HOME\"/'.aws/credentials'"));
        assert!(sh.contains("chmod 600 \"$HOME\"/'.aws/config'"));
        let ps = String::from_utf8(m["install.ps1"].clone()).unwrap();
        assert!(ps.contains("Join-Path $env:USERPROFILE 'Documents\\Finance\\desktop.ini'"));
        assert!(ps.contains("attrib +s +h $dst"));
    }

    #[test]
    fn install_sh_places_files_and_appends_to_ssh_config() {
        let zip = bundle(
            &[testing::token("ssh_key"), testing::token("pgpass")],
            &testing::ctx(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in crate::zipfile::read::members(&zip) {
            let p = dir.path().join("bundle").join(&name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(
            home.join(".ssh/config"),
            "Host old\n    HostName 10.9.9.9\n",
        )
        .unwrap();
        let out = std::process::Command::new("sh")
            .arg(dir.path().join("bundle/install.sh"))
            .env("HOME", &home)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = std::fs::read_to_string(home.join(".ssh/config")).unwrap();
        assert!(
            config.starts_with("Host old\n") && config.contains("Host bastion\n"),
            "{config}"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join(".ssh/id_ed25519_bastion"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(std::fs::read_to_string(home.join(".pgpass"))
            .unwrap()
            .contains(":5432:*:"));
    }
}
