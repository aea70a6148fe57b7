//! Kubernetes API server decoy (tcp/6443, TLS with the persona certificate;
//! plain HTTP gets Go's "Client sent an HTTP request to an HTTPS server.").
//! `/version`, `/healthz`, `/api`, `/apis`, `/api/v1/{namespaces,pods,
//! secrets,nodes}` answer as an anonymously readable (misconfigured) cluster
//! unless `[decky.k8s] anonymous = false`; pod creation and exec attempts are
//! `command` events; bearer tokens are captured.

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use rand::Rng;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::restjson::{self, Reply, Req, RestApi};
use crate::config::ConfigError;
use crate::ctx::DeckyCtx;
use crate::session::Session;
use crate::tls::{self, TlsIdentity};
use crate::{fields, Conn, Handler, Service, ServiceError};

const CT: &str = "application/json";

/// The `k8s` service.
pub struct K8s;

/// Per-decky Kubernetes state.
pub struct K8sHandler {
    tls: TlsIdentity,
    git_version: String,
    minor: String,
    anonymous: bool,
    node: String,
    pods: Vec<(String, String, String)>,
    uid_seed: [u8; 16],
}

impl Service for K8s {
    fn name(&self) -> &'static str {
        "k8s"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        // Read as exactly "false" (anything else is anonymous), so only
        // the two words are accepted.
        crate::config::check(cfg, "anonymous", "true or false", |v| {
            v == "true" || v == "false"
        })
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let tls = TlsIdentity::for_decky(decky, "k8s", &[b"http/1.1"])?;
        let git_version = decky
            .config("k8s", "version")
            .unwrap_or("v1.28.4")
            .to_owned();
        let minor = git_version.split('.').nth(1).unwrap_or("28").to_owned();
        let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("k8s");
        let sfx = |rng: &mut rand_chacha_like::Rng| -> String {
            (0..5)
                .map(|_| (b'a' + rng.gen_range(0..26u8)) as char)
                .collect()
        };
        let mut r = rand_chacha_like::Rng(rng.gen());
        let pods = vec![
            (
                format!("api-{}-{}", sfx(&mut r), sfx(&mut r)),
                "default".to_owned(),
                "registry.internal/api:2.4.1".to_owned(),
            ),
            (
                format!("worker-{}", sfx(&mut r)),
                "default".to_owned(),
                "registry.internal/worker:2.4.1".to_owned(),
            ),
            (
                format!("coredns-5dd5756b68-{}", sfx(&mut r)),
                "kube-system".to_owned(),
                "registry.k8s.io/coredns/coredns:v1.10.1".to_owned(),
            ),
            (
                format!("etcd-{}", decky.persona.hostname),
                "kube-system".to_owned(),
                "registry.k8s.io/etcd:3.5.9-0".to_owned(),
            ),
        ];
        Ok(Arc::new(K8sHandler {
            tls,
            git_version,
            minor,
            anonymous: decky.config("k8s", "anonymous") != Some("false"),
            node: decky.persona.hostname.clone(),
            pods,
            uid_seed: rng.gen(),
        }))
    }
}

/// A tiny xorshift so pod-name suffixes stay seeded without another RNG type.
mod rand_chacha_like {
    pub struct Rng(pub u64);
    impl Rng {
        pub fn gen_range(&mut self, r: std::ops::Range<u8>) -> u8 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            r.start + (self.0 % (r.end - r.start) as u64) as u8
        }
    }
}

impl Handler for K8sHandler {
    fn serve_tcp(self: Arc<Self>, mut conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let idle = session.limits().idle_timeout;
            let mut first = [0u8; 1];
            let n = match tokio::time::timeout(idle, conn.stream.peek(&mut first)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            if n == 0 {
                return;
            }
            if first[0] != 0x16 {
                // Go's TLS server answering plain HTTP.
                session.emit(
                    EventKind::Request,
                    fields! {"request" => "plain HTTP on TLS port"},
                );
                let _ = conn
                    .stream
                    .write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                    .await;
                return;
            }
            let ready = match self.tls.ready().await {
                Ok(r) => r,
                Err(e) => return session.emit_error(format!("k8s: {e}")),
            };
            let (hello, res) = tls::accept(&ready.acceptor, conn.stream, idle).await;
            let extra = hello.map(|h| h.fields()).unwrap_or_default();
            match res {
                Ok(stream) => restjson::serve(stream, session, self, extra).await,
                Err(e) => session.emit_error(format!("k8s: {e}")),
            }
        })
    }
}

impl K8sHandler {
    fn status(&self, code: u16, reason: &str, msg: String) -> Reply {
        Reply::json(
            code,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": msg, "reason": reason, "code": code}),
            CT,
        )
    }

    fn forbidden(&self, verb: &str, resource: &str, ns: Option<&str>) -> Reply {
        let scope = match ns {
            Some(n) => format!("in the namespace \"{n}\""),
            None => "at the cluster scope".to_owned(),
        };
        self.status(403, "Forbidden", format!("{resource} is forbidden: User \"system:anonymous\" cannot {verb} resource \"{resource}\" in API group \"\" {scope}"))
    }

    fn uid(&self, i: usize) -> String {
        let mut b = self.uid_seed;
        b[0] ^= i as u8;
        let h = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    fn pod_list(&self, ns: Option<&str>) -> serde_json::Value {
        let items: Vec<_> = self
            .pods
            .iter()
            .enumerate()
            .filter(|(_, p)| ns.is_none_or(|n| n == p.1))
            .map(|(i, (name, pns, image))| json!({
                "metadata": {"name": name, "namespace": pns, "uid": self.uid(i), "resourceVersion": format!("{}", 48_000 + i * 37), "creationTimestamp": "2026-09-14T08:21:07Z", "labels": {"app": name.split('-').next().unwrap_or(name)}},
                "spec": {"containers": [{"name": name.split('-').next().unwrap_or(name), "image": image}], "nodeName": self.node, "serviceAccountName": "default"},
                "status": {"phase": "Running", "podIP": format!("10.244.0.{}", 10 + i), "hostIP": "10.0.0.11", "startTime": "2026-09-14T08:21:07Z"}
            }))
            .collect();
        json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "51234"}, "items": items})
    }
}

impl RestApi for K8sHandler {
    fn service(&self) -> &'static str {
        "k8s"
    }

    fn title_case(&self) -> bool {
        true
    }

    fn handle(&self, req: &Req, session: &Session) -> Reply {
        let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
        let m = req.method.as_str();
        let audit = [
            ("Audit-Id", self.uid(req.path.len() + 7)),
            ("Cache-Control", "no-cache, private".to_owned()),
        ];
        let r = match (m, segs.as_slice()) {
            ("GET", ["version"]) => Reply::json(
                200,
                &json!({"major": "1", "minor": self.minor, "gitVersion": self.git_version, "gitCommit": "bae2c62678db2b5053817bc97181fcc2e8388103", "gitTreeState": "clean", "buildDate": "2023-11-15T16:48:54Z", "goVersion": "go1.20.11", "compiler": "gc", "platform": "linux/amd64"}),
                CT,
            ),
            ("GET", ["healthz" | "livez" | "readyz"]) => {
                Reply::text(200, "ok", "text/plain; charset=utf-8")
            }
            ("POST", ["api", "v1", "namespaces", ns, "pods"]) => self.create_pod(req, ns, session),
            (_, ["api", "v1", "namespaces", ns, "pods", pod, "exec" | "attach"]) => {
                self.pod_exec(req, ns, pod, session)
            }
            ("GET", ["api"]) => Reply::json(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.11:6443"}]}),
                CT,
            ),
            ("GET", ["apis"]) => Reply::json(
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}], "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}),
                CT,
            ),
            ("GET", _) if !self.anonymous && segs.first() == Some(&"api") => {
                self.forbidden_list(&segs)
            }
            ("GET", ["api", "v1", "pods"]) => Reply::json(200, &self.pod_list(None), CT),
            ("GET", ["api", "v1", "namespaces", ns, "pods"]) => {
                Reply::json(200, &self.pod_list(Some(ns)), CT)
            }
            ("GET", ["api", "v1", "namespaces"]) => {
                let items: Vec<_> = ["default", "kube-system", "kube-public", "kube-node-lease", "production"].iter().map(|n| json!({"metadata": {"name": n, "creationTimestamp": "2026-03-02T10:11:12Z"}, "status": {"phase": "Active"}})).collect();
                Reply::json(
                    200,
                    &json!({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "51234"}, "items": items}),
                    CT,
                )
            }
            ("GET", ["api", "v1", "nodes"]) => Reply::json(
                200,
                &json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [{"metadata": {"name": self.node, "labels": {"node-role.kubernetes.io/control-plane": ""}}, "status": {"nodeInfo": {"kubeletVersion": self.git_version, "osImage": "Ubuntu 22.04.4 LTS", "containerRuntimeVersion": "containerd://1.7.2", "architecture": "amd64"}}}]}),
                CT,
            ),
            ("GET", ["api", "v1", "secrets"])
            | ("GET", ["api", "v1", "namespaces", _, "secrets"]) => self.secrets(req, session),
            ("GET", _) if segs.is_empty() => self.root(),
            _ => {
                if m != "GET" {
                    session.emit(
                        EventKind::Command,
                        fields! {"command" => format!("{m} {}", req.path), "action" => "api_call"},
                    );
                }
                self.status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource".to_owned(),
                )
            }
        };
        r.with_first(&audit)
    }
}

impl K8sHandler {
    /// POST of a pod: recorded with its image, command, host mounts and
    /// privileges; created when the cluster is anonymously writable.
    fn create_pod(&self, req: &Req, ns: &str, session: &Session) -> Reply {
        let b = req.json();
        let c = &b["spec"]["containers"][0];
        let image = c["image"].as_str().unwrap_or("").to_owned();
        let cmd: Vec<String> = c["command"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(c["args"].as_array().into_iter().flatten())
            .filter_map(|x| x.as_str().map(str::to_owned))
            .take(64)
            .collect();
        let host_path = b["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["hostPath"]["path"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
            .join(",");
        let privileged = c["securityContext"]["privileged"]
            .as_bool()
            .unwrap_or(false);
        session.emit(EventKind::Command, fields! {
            "command" => format!("create pod {} {}", image, cmd.join(" ")).trim().to_owned(),
            "action" => "pod_create", "namespace" => ns, "image" => image, "cmd" => cmd.join(" "),
            "host_path" => host_path, "privileged" => privileged,
            "host_network" => b["spec"]["hostNetwork"].as_bool().unwrap_or(false),
        });
        if !self.anonymous {
            self.forbidden("create", "pods", Some(ns))
        } else {
            let mut pod = b.clone();
            if pod.is_object() {
                pod["kind"] = json!("Pod");
                pod["apiVersion"] = json!("v1");
                pod["metadata"]["namespace"] = json!(ns);
                pod["metadata"]["uid"] = json!(self.uid(99));
                pod["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
            }
            Reply::json(201, &pod, CT)
        }
    }

    /// exec/attach into a pod: the command is recorded.
    fn pod_exec(&self, req: &Req, ns: &str, pod: &str, session: &Session) -> Reply {
        let cmd = req.params("command").join(" ");
        session.emit(EventKind::Command, fields! {"command" => cmd.clone(), "action" => "pod_exec", "namespace" => ns, "pod" => pod, "container" => req.param("container").unwrap_or_default()});
        if self.anonymous {
            self.status(400, "BadRequest", "Upgrade request required".to_owned())
        } else {
            self.forbidden("create", "pods/exec", Some(ns))
        }
    }

    /// A read of a resource by an anonymous user of a locked-down cluster.
    fn forbidden_list(&self, segs: &[&str]) -> Reply {
        let resource = segs
            .iter()
            .rev()
            .find(|s| !s.is_empty())
            .copied()
            .unwrap_or("");
        let ns = segs
            .iter()
            .position(|s| *s == "namespaces")
            .and_then(|i| segs.get(i + 1))
            .copied();
        self.forbidden(
            "list",
            resource,
            ns.filter(|n| Some(*n) != segs.last().copied()),
        )
    }

    /// Secrets listing: the bait, and an event of its own.
    fn secrets(&self, req: &Req, session: &Session) -> Reply {
        session.emit(
            EventKind::Command,
            fields! {"command" => format!("list secrets {}", req.path), "action" => "secrets_list"},
        );
        Reply::json(
            200,
            &json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "51234"}, "items": [{"metadata": {"name": "default-token-x7k2p", "namespace": "default"}, "type": "kubernetes.io/service-account-token", "data": {"namespace": "ZGVmYXVsdA=="}}, {"metadata": {"name": "db-credentials", "namespace": "default"}, "type": "Opaque", "data": {"username": "YXBw"}}]}),
            CT,
        )
    }

    fn root(&self) -> Reply {
        if self.anonymous {
            Reply::json(
                200,
                &json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]}),
                CT,
            )
        } else {
            self.status(
                403,
                "Forbidden",
                "forbidden: User \"system:anonymous\" cannot get path \"/\"".to_owned(),
            )
        }
    }
}
