//! Unauthenticated Docker Engine API decoy (tcp/2375): `/_ping`, `/version`,
//! `/info`, `/containers/json`, `/images/json` with the persona's kernel,
//! and the takeover moves scanners and botnets make (container create with
//! host mounts, start, exec, image pulls) recorded as `command` events.

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use rand::Rng;
use serde_json::json;

use super::restjson::{self, Reply, Req, RestApi};
use crate::ctx::DeckyCtx;
use crate::session::Session;
use crate::{fields, Conn, Handler, Service, ServiceError};

const API: &str = "1.43";

/// The `docker_api` service.
pub struct DockerApi;

/// Per-decky Docker state.
pub struct DockerHandler {
    version: String,
    kernel: String,
    host: String,
    os: String,
    cpus: u32,
    mem: u64,
    containers: Vec<(String, String, String, String)>,
    id_seed: [u8; 8],
}

impl Service for DockerApi {
    fn name(&self) -> &'static str {
        "docker_api"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let p = &decky.persona;
        let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("docker");
        let mut containers = Vec::new();
        for (name, image, cmd) in [
            (
                "web",
                "nginx:1.25",
                "/docker-entrypoint.sh nginx -g 'daemon off;'",
            ),
            ("db", "postgres:15", "docker-entrypoint.sh postgres"),
            ("cache", "redis:7", "docker-entrypoint.sh redis-server"),
        ] {
            let id: [u8; 32] = rng.gen();
            containers.push((
                hex::encode(id),
                name.to_owned(),
                image.to_owned(),
                cmd.to_owned(),
            ));
        }
        Ok(Arc::new(DockerHandler {
            version: decky
                .config("docker_api", "version")
                .unwrap_or("24.0.7")
                .to_owned(),
            kernel: p.kernel.clone(),
            host: p.hostname.split('.').next().unwrap_or("docker").to_owned(),
            os: p.distro.display_name.to_owned(),
            cpus: p.cpus,
            mem: p.mem_kib * 1024,
            containers,
            id_seed: rng.gen(),
        }))
    }
}

impl Handler for DockerHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(restjson::serve(
            conn.stream,
            session,
            self,
            Default::default(),
        ))
    }
}

fn new_id() -> String {
    let id: [u8; 32] = rand::thread_rng().gen();
    hex::encode(id)
}

impl DockerHandler {
    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Api-Version", API.to_owned()),
            ("Docker-Experimental", "false".to_owned()),
            ("Ostype", "linux".to_owned()),
            ("Server", format!("Docker/{} (linux)", self.version)),
        ]
    }

    fn json(&self, status: u16, v: serde_json::Value) -> Reply {
        let mut r = Reply::json(status, &v, "application/json");
        // Go sorts header names: Api-Version, Content-Type, Docker-Experimental, Ostype, Server.
        let mut h = self.headers();
        h.insert(1, ("Content-Type", "application/json".to_owned()));
        r.headers = h;
        r
    }

    fn version_doc(&self) -> serde_json::Value {
        json!({
            "Platform": {"Name": "Docker Engine - Community"},
            "Components": [
                {"Name": "Engine", "Version": self.version, "Details": {"ApiVersion": API, "Arch": "amd64", "BuildTime": "2023-10-26T09:07:41.000000000+00:00", "Experimental": "false", "GitCommit": "311b9ff", "GoVersion": "go1.20.10", "KernelVersion": self.kernel, "MinAPIVersion": "1.12", "Os": "linux"}},
                {"Name": "containerd", "Version": "1.6.25", "Details": {"GitCommit": "d8f198a4ed8892c764191ef7b3b06d8a2eeb5c7f"}},
                {"Name": "runc", "Version": "1.1.10", "Details": {"GitCommit": "v1.1.10-0-g18a0cb0"}}
            ],
            "Version": self.version,
            "ApiVersion": API,
            "MinAPIVersion": "1.12",
            "GitCommit": "311b9ff",
            "GoVersion": "go1.20.10",
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": self.kernel,
            "BuildTime": "2023-10-26T09:07:41.000000000+00:00"
        })
    }

    fn command(&self, session: &Session, action: &str, detail: String, extra: decnet_core::Fields) {
        let mut f = fields! {"command" => format!("{action} {detail}").trim().to_owned(), "action" => action};
        for (k, v) in extra {
            f.insert(k, v);
        }
        session.emit(EventKind::Command, f);
    }
}

impl RestApi for DockerHandler {
    fn service(&self) -> &'static str {
        "docker_api"
    }

    fn title_case(&self) -> bool {
        true
    }

    fn handle(&self, req: &Req, session: &Session) -> Reply {
        // Strip an optional /v1.xx prefix.
        let mut path = req.path.as_str();
        if let Some(rest) = path.strip_prefix("/v1.") {
            path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
        }
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let m = req.method.as_str();
        match (m, segs.as_slice()) {
            ("GET" | "HEAD", ["_ping"]) => {
                let mut r = Reply::text(200, "OK", "text/plain; charset=utf-8");
                let mut h = self.headers();
                h.insert(0, ("Cache-Control", "no-cache, no-store, must-revalidate".to_owned()));
                h.insert(2, ("Content-Type", "text/plain; charset=utf-8".to_owned()));
                h.insert(5, ("Pragma", "no-cache".to_owned()));
                r.headers = h;
                r
            }
            ("GET", ["version"]) => self.json(200, self.version_doc()),
            ("GET", ["info"]) => self.json(200, json!({
                "ID": format!("{}", hex::encode(self.id_seed).to_uppercase()),
                "Containers": self.containers.len(), "ContainersRunning": self.containers.len(), "ContainersPaused": 0, "ContainersStopped": 0,
                "Images": self.containers.len() + 2, "Driver": "overlay2", "DockerRootDir": "/var/lib/docker",
                "KernelVersion": self.kernel, "OperatingSystem": self.os, "OSType": "linux", "Architecture": "x86_64",
                "NCPU": self.cpus, "MemTotal": self.mem, "Name": self.host, "ServerVersion": self.version,
                "SecurityOptions": ["name=apparmor", "name=seccomp,profile=builtin", "name=cgroupns"], "CgroupVersion": "2"
            })),
            ("GET", ["containers", "json"]) => {
                let list: Vec<_> = self.containers.iter().enumerate().map(|(i, (id, name, image, cmd))| json!({
                    "Id": id, "Names": [format!("/{name}")], "Image": image, "ImageID": format!("sha256:{}", &id[..]),
                    "Command": cmd, "Created": 1_729_000_000 + i as i64 * 86_400, "Ports": [], "Labels": {},
                    "State": "running", "Status": format!("Up {} days", 20 + i), "HostConfig": {"NetworkMode": "bridge"},
                    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": format!("172.17.0.{}", i + 2)}}}, "Mounts": []
                })).collect();
                self.json(200, json!(list))
            }
            ("GET", ["images", "json"]) => {
                let list: Vec<_> = self.containers.iter().map(|(id, _, image, _)| json!({
                    "Id": format!("sha256:{id}"), "RepoTags": [image], "RepoDigests": [], "Created": 1_728_000_000, "Size": 187_000_000, "Containers": 1, "Labels": null, "ParentId": "", "SharedSize": -1
                })).collect();
                self.json(200, json!(list))
            }
            ("POST", ["containers", "create"]) => {
                let b = req.json();
                let image = b["Image"].as_str().unwrap_or("").to_owned();
                let cmd = b["Cmd"].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(" ")).or_else(|| b["Cmd"].as_str().map(str::to_owned)).unwrap_or_default();
                let binds = b["HostConfig"]["Binds"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect::<Vec<_>>()).unwrap_or_default();
                let privileged = b["HostConfig"]["Privileged"].as_bool().unwrap_or(false);
                self.command(session, "container_create", format!("{image} {cmd}"), fields! {
                    "image" => image, "cmd" => cmd, "binds" => binds.join(","), "privileged" => privileged,
                    "name" => req.param("name").unwrap_or_default(),
                });
                self.json(201, json!({"Id": new_id(), "Warnings": []}))
            }
            ("POST", ["containers", id, "exec"]) => {
                let b = req.json();
                let cmd = b["Cmd"].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(" ")).unwrap_or_default();
                self.command(session, "container_exec", cmd.clone(), fields! {"container" => *id, "cmd" => cmd});
                self.json(201, json!({"Id": new_id()}))
            }
            ("POST", ["containers", id, action]) => {
                self.command(session, &format!("container_{action}"), (*id).to_owned(), fields! {"container" => *id});
                let mut r = self.json(204, json!(null));
                r.body.clear();
                r.headers.retain(|(k, _)| *k != "Content-Type");
                r
            }
            ("POST", ["exec", id, "start"]) => {
                self.command(session, "exec_start", (*id).to_owned(), fields! {"exec" => *id});
                let mut r = self.json(200, json!(null));
                r.body.clear();
                r.headers[1].1 = "application/vnd.docker.raw-stream".to_owned();
                r
            }
            ("POST", ["images", "create"]) => {
                let image = format!("{}:{}", req.param("fromImage").unwrap_or_default(), req.param("tag").unwrap_or_else(|| "latest".into()));
                self.command(session, "image_pull", image.clone(), fields! {"image" => image.clone()});
                let body = format!("{{\"status\":\"Pulling from library/{image}\"}}\r\n{{\"status\":\"Digest: sha256:{}\"}}\r\n{{\"status\":\"Status: Downloaded newer image for {image}\"}}\r\n", new_id());
                let mut r = self.json(200, json!(null));
                r.body = body.into_bytes();
                r
            }
            ("GET", ["containers", id, "json"]) => match self.containers.iter().find(|c| c.0.starts_with(id) || c.1 == *id) {
                Some((cid, name, image, cmd)) => self.json(200, json!({"Id": cid, "Name": format!("/{name}"), "Config": {"Image": image, "Cmd": cmd.split(' ').collect::<Vec<_>>()}, "State": {"Status": "running", "Running": true}})),
                None => self.json(404, json!({"message": format!("No such container: {id}")})),
            },
            (_, _) if m != "GET" => {
                self.command(session, "api_call", format!("{m} {}", req.path), Default::default());
                self.json(404, json!({"message": "page not found"}))
            }
            _ => self.json(404, json!({"message": "page not found"})),
        }
    }
}
