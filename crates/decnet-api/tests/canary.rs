//! `/canary/*` against a real server, a real SQLite store and real
//! receivers: tokens made through the API, fetched with a real HTTP client
//! and resolved with real DNS queries, found again in `/logs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use decnet_bus::Delivery;
use decnet_canary::receivers::dns::{DnsConfig, DnsReceiver};
use decnet_canary::receivers::http::HttpReceiver;
use decnet_canary::receivers::Shared;
use decnet_canary::{CanaryService, Credential, Ctx};
use reqwest::Method;
use serde_json::{json, Value};

const ZONE: &str = "t.example.test";

/// A server with canaries: the service over the server's store, the HTTP
/// and DNS receivers on free loopback ports publishing on its bus, and the
/// store ingester, as `decnet serve` wires them.
struct Canary {
    server: Server,
    svc: Arc<CanaryService>,
    dns: std::net::SocketAddr,
    fleet: Option<Arc<decnet_engine::Fleet>>,
}

async fn start_canary() -> Canary {
    start_canary_with(None).await
}

/// Decky ports are shifted by this in the planting test.
const OFFSET: u16 = 47000;

/// A fleet deployed from `ini` on loopback, as the server's engine.
async fn deploy(
    ini: &str,
    dir: &std::path::Path,
    b: &mut decnet_api::Backends,
) -> Arc<decnet_engine::Fleet> {
    let fleet = decnet_engine::Fleet::new(
        decnet_engine::EngineConfig {
            data_dir: dir.join("data"),
            port_offset: OFFSET,
            limits: Default::default(),
        },
        decnet_services::Registry::builtin().with(Arc::new(decnet_ssh::Ssh)),
        b.bus.clone(),
    );
    let (spec, _) = decnet_core::fleet::parse_str(ini).unwrap();
    for d in spec.deckies {
        fleet.deploy(d).await.unwrap();
    }
    b.engine = Some(decnet_api::engine::Engine {
        fleet: fleet.clone(),
        topologies: decnet_engine::topology::Topologies::new(
            b.store.clone(),
            fleet.clone(),
            b.bus.clone(),
        ),
        sensors: decnet_api::engine::Sensors::watch(&b.bus),
    });
    fleet
}

async fn start_canary_with(fleet_ini: Option<&'static str>) -> Canary {
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dns = udp.local_addr().unwrap();
    let slot = Arc::new(std::sync::Mutex::new(None));
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let filled = slot.clone();
    let fleet_slot = Arc::new(std::sync::Mutex::new(None));
    let fleet_filled = fleet_slot.clone();
    let data = dir.path().to_owned();
    let server = start_attached(
        dir,
        |_| {},
        async move |b: &mut decnet_api::Backends| {
            let mut ctx = Ctx::new(&format!("http://{http_addr}"));
            ctx.dns_zone = Some(ZONE.into());
            let docs: Arc<dyn decnet_store::DocStore> = b.store.clone();
            let svc = Arc::new(CanaryService::open(docs, ctx).await.unwrap());
            let shared = Shared::new(svc.index(), b.bus.clone());
            tokio::spawn(HttpReceiver::new(shared.clone()).serve(http));
            let receiver = DnsReceiver::new(
                shared,
                DnsConfig {
                    zone: ZONE.into(),
                    address: std::net::Ipv4Addr::LOCALHOST,
                    ttl: 60,
                },
            )
            .unwrap();
            tokio::spawn(receiver.serve_udp(udp));
            let sub = b.bus.subscribe("events.>", Delivery::Lossless).unwrap();
            std::mem::forget(decnet_store::ingest::Ingester::start(
                b.store.clone(),
                sub,
                Default::default(),
            ));
            if let Some(ini) = fleet_ini {
                let fleet = deploy(ini, &data, b).await;
                let mut ctx = svc.ctx().as_ref().clone();
                ctx.targets = decnet_api::canary::targets(&fleet).await;
                svc.set_ctx(ctx);
                *fleet_filled.lock().unwrap() = Some(fleet);
            }
            b.canary = Some(svc.clone());
            *filled.lock().unwrap() = Some(svc);
        },
    )
    .await;
    let svc = slot.lock().unwrap().take().unwrap();
    let fleet = fleet_slot.lock().unwrap().take();
    Canary {
        server,
        svc,
        dns,
        fleet,
    }
}

async fn create(s: &Server, token: &str, body: Value) -> reqwest::Response {
    s.send_json(Method::POST, token, "/canary/tokens", body)
        .await
}

/// The `canary_trigger` events of a token in `/logs`, waiting up to 5 s
/// for `n` of them.
async fn triggers_in_logs(s: &Server, admin: &str, id: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let v: Value = s
            .get(admin, "/logs?kind=canary_trigger&limit=100")
            .await
            .json()
            .await
            .unwrap();
        let mine: Vec<Value> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["fields"]["token_id"] == id)
            .cloned()
            .collect();
        if mine.len() >= n || tokio::time::Instant::now() > deadline {
            return mine;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A planted file's text (panics on anything but a regular file).
fn file_text(node: &decnet_shell::vfs::Node) -> String {
    match &node.kind {
        decnet_shell::vfs::Kind::File(decnet_shell::vfs::Content::Bytes(b)) => {
            String::from_utf8_lossy(b).into_owned()
        }
        other => panic!("not a planted file: {other:?}"),
    }
}

fn detail_loc(v: &Value) -> Vec<String> {
    v["detail"][0]["loc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tokens_are_made_listed_downloaded_and_revoked_with_roles_and_no_secrets() {
    let c = start_canary().await;
    let s = &c.server;
    let admin = s.admin().await;
    let viewer = s.viewer(&admin, "watcher").await;

    let r = create(
        s,
        &admin,
        json!({"kind": "aws_credentials", "label": "finance laptop", "memo": "left in ~/.aws"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["created_by"], "admin");
    assert_eq!(made["credentials"][0]["kind"], "aws_key");

    let stored = c.svc.get(id.parse().unwrap()).await.unwrap();
    let Credential::AwsKey {
        access_key_id,
        secret_access_key,
    } = &stored.credentials[0]
    else {
        panic!("aws token without its key: {stored:?}")
    };

    // Viewers read; the listing names the key id but never the secret.
    let r = s.get(&viewer, "/canary/tokens").await;
    assert_eq!(r.status(), 200);
    let listing = r.text().await.unwrap();
    assert!(listing.contains(access_key_id.as_str()), "{listing}");
    assert!(
        !listing.contains(secret_access_key.as_str()),
        "secret in listing: {listing}"
    );
    let one = s
        .get(&viewer, &format!("/canary/tokens/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(one.contains("finance laptop") && !one.contains(secret_access_key.as_str()));
    assert!(
        !logs_text().contains(secret_access_key.as_str()),
        "secret in the server log"
    );

    // Viewers cannot create, download or revoke.
    assert_eq!(
        create(s, &viewer, json!({"kind": "http_url"}))
            .await
            .status(),
        403
    );
    assert_eq!(
        s.get(&viewer, &format!("/canary/tokens/{id}/download"))
            .await
            .status(),
        403
    );
    let r = s
        .send_json(
            Method::DELETE,
            &viewer,
            &format!("/canary/tokens/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 403);

    // The download is where the secret is: a zip of the two AWS files.
    let r = s
        .get(&admin, &format!("/canary/tokens/{id}/download"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let zip = r.bytes().await.unwrap();
    assert!(zip.starts_with(b"PK"));

    // A one-file kind downloads as the file itself.
    let url: Value = create(s, &admin, json!({"kind": "http_url", "label": "wiki"}))
        .await
        .json()
        .await
        .unwrap();
    let url_id = url["id"].as_str().unwrap();
    let call_home = url["call_home"].as_str().unwrap();
    let text = s
        .get(&admin, &format!("/canary/tokens/{url_id}/download"))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains(call_home), "{text}");

    // Breadcrumb bundle of both, with the install scripts.
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/canary/bundle",
            json!({"token_ids": [id, url_id]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let zip = r.bytes().await.unwrap();
    assert!(zip.starts_with(b"PK"));
    assert!(zip.windows(10).any(|w| w == b"install.sh"));
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/canary/bundle",
            json!({"token_ids": []}),
        )
        .await;
    assert_eq!(r.status(), 422);

    // Revoke: kept, marked, no longer downloadable or bundled.
    let r = s
        .send_json(
            Method::DELETE,
            &admin,
            &format!("/canary/tokens/{url_id}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["revoked"], true);
    assert_eq!(
        s.get(&admin, &format!("/canary/tokens/{url_id}/download"))
            .await
            .status(),
        409
    );
    let list: Value = s.get(&admin, "/canary/tokens").await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);

    // Unknown ids and non-ids.
    let r = s
        .get(&admin, &format!("/canary/tokens/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(s.get(&admin, "/canary/tokens/nope").await.status(), 422);
}

#[tokio::test]
async fn bad_token_requests_get_422_on_the_field() {
    let c = start_canary().await;
    let s = &c.server;
    let admin = s.admin().await;
    let r = create(s, &admin, json!({"kind": "floppy"})).await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(detail_loc(&v), ["body", "kind"]);
    assert!(v["detail"][0]["msg"]
        .as_str()
        .unwrap()
        .contains("unknown token kind 'floppy'"));

    let r = create(
        s,
        &admin,
        json!({"kind": "http_url", "memo": "x".repeat(5000)}),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(detail_loc(&r.json().await.unwrap()), ["body", "memo"]);

    let r = create(
        s,
        &admin,
        json!({"kind": "pdf", "planted_in": [{"decky": "fs01", "path": "/srv/../../etc/passwd"}]}),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        detail_loc(&r.json().await.unwrap()),
        ["body", "planted_in", "path"]
    );

    // Kinds that need a decky the fleet lacks say so.
    let r = create(s, &admin, json!({"kind": "kubeconfig"})).await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("needs a k8s decky"),
        "{v}"
    );

    let r = create(s, &admin, json!({"kind": "http_url", "colour": "red"})).await;
    assert_eq!(r.status(), 422);
    assert!(c.svc.list().await.unwrap().is_empty(), "nothing stored");
}

#[tokio::test]
async fn without_a_canary_section_the_routes_answer_503_and_are_documented() {
    let s = start().await;
    let admin = s.admin().await;
    let r = s.get(&admin, "/canary/tokens").await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(v["detail"].as_str().unwrap().contains("[canary]"));
    let doc: Value = s.get(&admin, "/openapi.json").await.json().await.unwrap();
    for p in [
        "/api/v1/canary/tokens",
        "/api/v1/canary/tokens/{token_id}",
        "/api/v1/canary/tokens/{token_id}/download",
        "/api/v1/canary/tokens/{token_id}/triggers",
        "/api/v1/canary/bundle",
        "/api/v1/canary/kinds",
    ] {
        assert!(
            doc["paths"][p].is_object(),
            "{p} not in the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn fetching_an_http_token_is_a_canary_trigger_in_the_logs_until_revoked() {
    let c = start_canary().await;
    let s = &c.server;
    let admin = s.admin().await;
    let made: Value = create(s, &admin, json!({"kind": "http_url", "label": "vpn note"}))
        .await
        .json()
        .await
        .unwrap();
    let id = made["id"].as_str().unwrap().to_owned();
    let url = made["call_home"].as_str().unwrap().to_owned();

    let client = reqwest::Client::builder()
        .user_agent("curl/7.88.1")
        .build()
        .unwrap();
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["server"], "nginx/1.22.1");

    let found = triggers_in_logs(s, &admin, &id, 1).await;
    assert_eq!(found.len(), 1, "no canary_trigger for {id} in /logs");
    let e = &found[0];
    assert_eq!(e["kind"], "canary_trigger");
    assert_eq!(e["src_ip"], "127.0.0.1");
    assert_eq!(e["fields"]["token_kind"], "http_url");
    assert_eq!(e["fields"]["label"], "vpn note");
    assert_eq!(e["fields"]["user_agent"], "curl/7.88.1");

    // The token's own views count it.
    let t: Value = s
        .get(&admin, &format!("/canary/tokens/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["trigger_count"], 1);
    let page: Value = s
        .get(&admin, &format!("/canary/tokens/{id}/triggers"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["fields"]["token_id"], id.as_str());

    // Revoked: the same URL is an ordinary 404 and fires nothing.
    let r = s
        .send_json(
            Method::DELETE,
            &admin,
            &format!("/canary/tokens/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 404);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(triggers_in_logs(s, &admin, &id, 2).await.len(), 1);
}

#[tokio::test]
async fn resolving_a_dns_token_is_a_canary_trigger_naming_the_resolver() {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};

    let c = start_canary().await;
    let s = &c.server;
    let admin = s.admin().await;
    let made: Value = create(s, &admin, json!({"kind": "dns_name"}))
        .await
        .json()
        .await
        .unwrap();
    let id = made["id"].as_str().unwrap().to_owned();
    let host = made["call_home"].as_str().unwrap().to_owned();
    assert!(host.ends_with(ZONE), "{host}");

    // From 127.0.0.3: the recorded resolver is the address that asked.
    let mut m = Message::query();
    m.metadata.id = 4242;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(
        Name::from_ascii(format!("{host}.")).unwrap(),
        RecordType::A,
    ));
    let sock = tokio::net::UdpSocket::bind("127.0.0.3:0").await.unwrap();
    sock.send_to(&m.to_vec().unwrap(), c.dns).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("DNS answer")
        .unwrap();
    let answer = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(answer.metadata.id, 4242);
    assert_eq!(answer.answers.len(), 1, "{answer:?}");

    let found = triggers_in_logs(s, &admin, &id, 1).await;
    assert_eq!(found.len(), 1, "no canary_trigger for {id} in /logs");
    assert_eq!(found[0]["fields"]["trigger"], "dns");
    assert_eq!(found[0]["fields"]["resolver"], "127.0.0.3");
    assert_eq!(found[0]["src_ip"], "127.0.0.3");
}

#[tokio::test]
async fn tokens_are_planted_where_an_intruder_looks_and_on_demand() {
    const FLEET: &str = "[general]\nnet = 127.0.71.0/24\n\n[dev01]\nip = 127.0.71.10\narchetype = devops-host\n\n[db01]\nip = 127.0.71.11\narchetype = database-server\n";
    let c = start_canary_with(Some(FLEET)).await;
    let fleet = c.fleet.clone().unwrap();
    let mut planted = decnet_api::canary::Planted::new();
    let n = decnet_api::canary::plant_new_deckies(&c.svc, &fleet, true, &mut planted).await;
    assert!(n > 0, "nothing planted");
    assert_eq!(
        decnet_api::canary::plant_new_deckies(&c.svc, &fleet, true, &mut planted).await,
        0,
        "a planted decky is not planted again"
    );
    // Planting did not generate the filesystems (a fleet's start would pay
    // for every decky's tree): the files join each one when it is first read.
    for name in ["dev01", "db01"] {
        let d = fleet.decky(name).await.unwrap();
        assert!(!d.vfs_built(), "planting generated {name}'s filesystem");
    }

    // Every placement is a file in that decky's filesystem, carrying the token.
    let tokens = c.svc.list().await.unwrap();
    let kinds: Vec<&str> = tokens.iter().map(|t| t.kind.as_str()).collect();
    for want in ["aws_credentials", "mysql_dump", "my_cnf", "pgpass"] {
        assert!(kinds.contains(&want), "{want} not planted: {kinds:?}");
    }
    for t in &tokens {
        assert_eq!(t.planted_in.len(), 1, "{t:?}");
        let p = &t.planted_in[0];
        let d = fleet.decky(&p.decky).await.unwrap();
        let node = d
            .vfs()
            .get(&p.path)
            .unwrap_or_else(|| panic!("{} missing on {}", p.path, p.decky));
        let cat = file_text(&node);
        if let Some((key_id, _)) = t.aws_key() {
            assert!(cat.contains(key_id), "{cat}");
        }
    }
    let aws = tokens.iter().find(|t| t.kind == "aws_credentials").unwrap();
    assert_eq!(aws.planted_in[0].decky, "dev01");
    assert!(
        aws.planted_in[0].path.ends_with("/.aws/credentials"),
        "{:?}",
        aws.planted_in
    );
    // Database credentials point at the database decky.
    let cnf = tokens.iter().find(|t| t.kind == "my_cnf").unwrap();
    let files = c.svc.render(cnf).unwrap();
    let text = String::from_utf8_lossy(&files[0].bytes).into_owned();
    assert!(text.contains("127.0.71.11"), "{text}");

    // On demand through the API: the file is at the asked path at once.
    let s = &c.server;
    let admin = s.admin().await;
    let r = create(
        s,
        &admin,
        json!({"kind": "http_url", "label": "ops notes", "planted_in": [{"decky": "dev01", "path": "/opt/notes/portal.txt"}]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    let d = fleet.decky("dev01").await.unwrap();
    let node = d
        .vfs()
        .get("/opt/notes/portal.txt")
        .expect("planted on demand");
    let text = file_text(&node);
    assert!(text.contains(made["call_home"].as_str().unwrap()), "{text}");
    fleet.shutdown().await;
}

/// Windows deckies get Windows profile paths (the C: tree their C$ share
/// serves, documents in the lure share), never `/home`; credential tokens
/// point at the fleet's real ssh decky with its real host key, and git
/// remotes at an http decky.
#[tokio::test]
async fn windows_paths_ssh_host_key_and_git_decky_targets() {
    // aaa01, a stock nginx, answers git with 404 and is passed over; ops01's
    // login site challenges git for the token's login.
    const FLEET: &str = "[general]\nnet = 127.0.72.0/24\n\n[ws01]\nip = 127.0.72.10\narchetype = windows-workstation\n\n[ops01]\nip = 127.0.72.11\nservices = ssh, http\n[ops01.http]\nsite = login\n\n[aaa01]\nip = 127.0.72.12\nservices = http\n[aaa01.http]\nsite = nginx\n";
    let c = start_canary_with(Some(FLEET)).await;
    let fleet = c.fleet.clone().unwrap();

    // The host key the ssh service made for ops01, as known_hosts names it.
    let ops = fleet.decky("ops01").await.unwrap();
    let key = decnet_ssh::keys::load(&ops.data_dir, decnet_ssh::keys::HostKeyKind::Ed25519)
        .expect("ssh decky has its host key");
    let real = key.public_key().to_openssh().unwrap();
    let targets = decnet_api::canary::targets(&fleet).await;
    let line = targets.ssh_host_key.clone().expect("host key target");
    assert!(real.starts_with(&line), "{line} vs {real}");
    let git = targets.git.clone().expect("git target");
    assert_eq!((git.host.as_str(), git.port), ("127.0.72.11", 80 + OFFSET));
    assert!(
        targets.s3.is_none(),
        "no decky speaks S3: keys use the receiver"
    );

    let ssh = c
        .svc
        .create(&decnet_canary::NewToken {
            kind: "ssh_key".into(),
            created_by: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let files = c.svc.render(&ssh).unwrap();
    let known = files
        .iter()
        .find(|a| a.file_name == "known_hosts")
        .expect("known_hosts written beside the key");
    assert_eq!(
        String::from_utf8_lossy(&known.bytes),
        format!("[127.0.72.11]:{} {line}\n", 22 + OFFSET)
    );

    // Windows planting.
    let mut planted = decnet_api::canary::Planted::new();
    decnet_api::canary::plant_new_deckies(&c.svc, &fleet, true, &mut planted).await;
    let ws = fleet.decky("ws01").await.unwrap();
    let profile = decnet_api::canary::profile(&ws);
    assert!(profile.windows);
    assert_eq!(
        profile.home, "/srv/smb/C$/Users/Administrator",
        "no login configured: the Windows administrator's profile"
    );
    let tokens = c.svc.list().await.unwrap();
    let on_ws: Vec<&decnet_canary::Placement> = tokens
        .iter()
        .flat_map(|t| &t.planted_in)
        .filter(|p| p.decky == "ws01")
        .collect();
    assert!(on_ws.len() >= 4, "{on_ws:?}");
    for p in &on_ws {
        assert!(p.path.starts_with("/srv/smb/"), "{p:?}");
        assert!(ws.vfs().get(&p.path).is_some(), "{} missing", p.path);
    }
    let shortcut = tokens
        .iter()
        .find(|t| t.kind == "windows_shortcut")
        .unwrap();
    assert_eq!(
        shortcut.planted_in[0].path,
        format!("{}/Desktop/Payroll Portal.url", profile.home)
    );
    fleet.shutdown().await;
}
