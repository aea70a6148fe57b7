//! Planting on a sensor's deckies. A sensor has no store, so it cannot make
//! tokens: it asks the servers (which hold the tokens) for its decky's
//! files, sending the decky's profile and the sensor's own targets so that
//! credential tokens point at deckies on the same sensor. The servers'
//! watcher sees the sensor's events (they are consumed there), and their
//! receivers answer the call-home URLs, so nothing else runs on a sensor.

use serde::{Deserialize, Serialize};

use crate::kinds::Targets;
use crate::plant::{DeckyProfile, PlantFile};
use crate::store::CanaryService;

/// A sensor asks on `sensor.<name>.canary.plant` (its own subject space).
pub const TOPIC: &str = "canary.plant";
/// What the servers subscribe to (one answers each request: a queue group).
pub const SERVER_PATTERN: &str = "sensor.*.canary.plant";
/// The servers' queue group.
pub const QUEUE_GROUP: &str = "decnet-canary-plant";
/// Largest request a server reads: a profile and targets are small, and a
/// sensor's credentials must not buy a server a big parse.
pub const REQUEST_MAX: usize = 64 * 1024;

/// One decky's plant request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantRequest {
    /// The decky.
    pub profile: DeckyProfile,
    /// The sensor's deckies credential tokens should point at.
    pub targets: Targets,
    /// Make the tokens its archetype should have (the sensor's `[canary] plant`).
    pub auto: bool,
}

/// The answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantReply {
    /// Files to drop into the decky.
    pub files: Vec<PlantFile>,
    /// Why there are none, when planting failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CanaryService {
    /// Answers a sensor's request: tokens made (with `auto`) and rendered
    /// against this server's receivers and the sensor's targets.
    pub async fn answer_plant(&self, raw: &[u8], created_by: &str) -> PlantReply {
        if raw.len() > REQUEST_MAX {
            return PlantReply {
                files: Vec::new(),
                error: Some(format!("request over {REQUEST_MAX} bytes")),
            };
        }
        let req: PlantRequest = match serde_json::from_slice(raw) {
            Ok(r) => r,
            Err(e) => {
                return PlantReply {
                    files: Vec::new(),
                    error: Some(format!("bad plant request: {e}")),
                }
            }
        };
        if let Err(e) = check_targets(&req.targets) {
            return PlantReply {
                files: Vec::new(),
                error: Some(e),
            };
        }
        let mut ctx = (*self.ctx()).clone();
        ctx.targets = req.targets;
        let planned = if req.auto {
            self.plant_decky_in(&req.profile, created_by, &ctx, true)
                .await
        } else {
            self.plan_decky(&req.profile, created_by, false, &ctx).await
        };
        match planned {
            Ok(files) => PlantReply { files, error: None },
            Err(e) => PlantReply {
                files: Vec::new(),
                error: Some(e.to_string()),
            },
        }
    }
}

/// A sensor's targets end up inside config files an operator may download
/// and use (`~/.ssh/config`, `.git/config`): only plain host names or
/// addresses, share names and `<type> <base64>` host keys are taken, so a
/// stolen sensor cannot slip a `ProxyCommand` line into them.
fn check_targets(t: &Targets) -> Result<(), String> {
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.len() <= 253
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    };
    let endpoints = [&t.ssh, &t.k8s, &t.git, &t.mysql, &t.postgres, &t.smb, &t.s3];
    for e in endpoints.into_iter().flatten() {
        if !host_ok(&e.host) {
            return Err(format!("bad target host {:?}", e.host));
        }
    }
    if let Some(share) = &t.smb_share {
        let ok = !share.is_empty()
            && share.len() <= 80
            && share
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$'));
        if !ok {
            return Err(format!("bad share name {share:?}"));
        }
    }
    if let Some(key) = &t.ssh_host_key {
        let mut parts = key.split(' ');
        let ok = matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(alg), Some(b64), None)
                if !alg.is_empty()
                    && alg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'@' | b'.'))
                    && !b64.is_empty()
                    && b64.len() <= 2048
                    && b64.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        );
        if !ok {
            return Err("bad ssh host key".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Endpoint;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_sensor_decky_gets_tokens_pointing_at_the_sensor() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            decnet_store::SqlStore::connect(&format!(
                "sqlite://{}",
                dir.path().join("c.db").display()
            ))
            .await
            .unwrap(),
        );
        // The server's own fleet has no ssh decky; the sensor has one.
        let svc = CanaryService::open(store, crate::Ctx::new("http://192.0.2.1:8081"))
            .await
            .unwrap();
        let req = PlantRequest {
            profile: DeckyProfile {
                name: "edge".into(),
                archetype: None,
                home: "/home/ops".into(),
                user: "ops".into(),
                ..Default::default()
            },
            targets: Targets {
                ssh: Some(Endpoint {
                    host: "10.9.0.5".into(),
                    port: 22,
                }),
                ..Default::default()
            },
            auto: true,
        };
        let raw = serde_json::to_vec(&req).unwrap();
        let reply = svc.answer_plant(&raw, "decnet").await;
        assert_eq!(reply.error, None);
        let config = reply
            .files
            .iter()
            .find(|f| f.path == "/home/ops/.ssh/config")
            .expect("ssh key planted: the sensor has an ssh decky");
        assert!(String::from_utf8_lossy(&config.bytes).contains("HostName 10.9.0.5\n"));
        let aws = reply
            .files
            .iter()
            .find(|f| f.path == "/home/ops/.aws/config")
            .unwrap();
        assert!(
            String::from_utf8_lossy(&aws.bytes).contains("endpoint_url = http://192.0.2.1:8081")
        );
        // Recorded in the store as planted on the sensor's decky; asking
        // again makes nothing new.
        let tokens = svc.list().await.unwrap();
        assert!(tokens
            .iter()
            .all(|t| t.planted_in.iter().any(|p| p.decky == "edge")));
        let again = svc.answer_plant(&raw, "decnet").await;
        assert_eq!(again.files, reply.files);
        // A download renders what was planted: the sensor's ssh decky, not
        // this server's (which has none).
        let key = tokens.iter().find(|t| t.kind == "ssh_key").unwrap();
        let zip = svc.download(key.id).await.unwrap();
        let members = crate::zipfile::read::members(&zip.bytes);
        assert!(String::from_utf8_lossy(&members[".ssh/config"]).contains("HostName 10.9.0.5\n"));
        assert_eq!(svc.list().await.unwrap().len(), tokens.len());

        // Hostile or broken requests get an error, never a panic.
        let bad = svc.answer_plant(b"{\"profile\":1}", "decnet").await;
        assert!(bad.error.unwrap().starts_with("bad plant request"));
        let huge = svc
            .answer_plant(&vec![b' '; REQUEST_MAX + 1], "decnet")
            .await;
        assert!(huge.error.is_some());
        let mut injected = req.clone();
        if let Some(ssh) = injected.targets.ssh.as_mut() {
            ssh.host = "10.9.0.5\n    ProxyCommand sh -c id".into();
        }
        let r = svc
            .answer_plant(&serde_json::to_vec(&injected).unwrap(), "decnet")
            .await;
        assert!(r.files.is_empty() && r.error.unwrap().contains("bad target host"));
        let mut key = req.clone();
        key.targets.ssh_host_key = Some("ssh-ed25519 AAAA\nHost *".into());
        let r = svc
            .answer_plant(&serde_json::to_vec(&key).unwrap(), "decnet")
            .await;
        assert!(r.files.is_empty() && r.error.is_some());
        let mut traversal = req.clone();
        traversal.profile.name = "../etc".into();
        let r = svc
            .answer_plant(&serde_json::to_vec(&traversal).unwrap(), "decnet")
            .await;
        assert!(r.files.is_empty() && r.error.is_some());
    }
}
