//! Elasticsearch REST decoy: `/` (the "You Know, for Search" banner with the
//! persona's version), `_cat/indices`, `_search`, `_nodes`, `_cluster/health`
//! over a small fake index set; every request is an event, writes and
//! deletes are `command` events.

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use rand::Rng;
use serde_json::json;

use super::restjson::{self, Reply, Req, RestApi};
use crate::ctx::DeckyCtx;
use crate::session::Session;
use crate::{fields, Conn, Handler, Service, ServiceError};

const CT: &str = "application/json; charset=UTF-8";

/// The `elasticsearch` service.
pub struct Elasticsearch;

/// Per-decky Elasticsearch state.
pub struct EsHandler {
    version: String,
    lucene: &'static str,
    name: String,
    cluster: String,
    cluster_uuid: String,
    node_id: String,
    build_hash: String,
    kernel: String,
    indices: Vec<(String, String, u64, String)>,
}

/// (version, lucene) for a persona or `[decky.elasticsearch] version`.
pub fn persona_version(decky: &DeckyCtx) -> (String, &'static str) {
    let v = decky
        .config("elasticsearch", "version")
        .unwrap_or("7.10.2")
        .to_owned();
    let lucene = if v.starts_with("8.") {
        "9.8.0"
    } else if v.starts_with("6.") {
        "7.7.3"
    } else if v
        .strip_prefix("7.")
        .and_then(|r| r.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m >= 16)
    {
        "8.11.1"
    } else {
        "8.7.0"
    };
    (v, lucene)
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Service for Elasticsearch {
    fn name(&self) -> &'static str {
        "elasticsearch"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let (version, lucene) = persona_version(decky);
        let mut rng =
            decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("elasticsearch");
        let cu: [u8; 16] = rng.gen();
        let nid: [u8; 16] = rng.gen();
        let bh: [u8; 20] = rng.gen();
        let host = decky
            .persona
            .hostname
            .split('.')
            .next()
            .unwrap_or("es01")
            .to_owned();
        let mut indices = Vec::new();
        for name in ["customers", "orders", "logs-2026.11", "users", ".kibana_1"] {
            let uuid: [u8; 16] = rng.gen();
            let docs = rng.gen_range(100..250_000u64);
            let size = format!("{:.1}mb", docs as f64 * 0.00071 + 0.2);
            indices.push((name.to_owned(), b64url(&uuid)[..22].to_owned(), docs, size));
        }
        Ok(Arc::new(EsHandler {
            version,
            lucene,
            name: host,
            cluster: decky
                .config("elasticsearch", "cluster_name")
                .unwrap_or("elasticsearch")
                .to_owned(),
            cluster_uuid: b64url(&cu)[..22].to_owned(),
            node_id: b64url(&nid)[..22].to_owned(),
            build_hash: hex::encode(bh),
            kernel: decky.persona.kernel.clone(),
            indices,
        }))
    }
}

impl Handler for EsHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(restjson::serve(
            conn.stream,
            session,
            self,
            Default::default(),
        ))
    }
}

impl EsHandler {
    fn not_found_index(&self, index: &str) -> Reply {
        let e = json!({
            "type": "index_not_found_exception",
            "reason": format!("no such index [{index}]"),
            "resource.type": "index_or_alias",
            "resource.id": index,
            "index_uuid": "_na_",
            "index": index,
        });
        Reply::json(
            404,
            &json!({"error": {"root_cause": [e.clone()], "type": "index_not_found_exception", "reason": e["reason"], "resource.type": "index_or_alias", "resource.id": index, "index_uuid": "_na_", "index": index}, "status": 404}),
            CT,
        )
    }

    fn search(&self, index: &str) -> Reply {
        let idx = if index.is_empty() || index == "_all" || index.contains('*') {
            "customers"
        } else {
            index
        };
        if !self.indices.iter().any(|(n, ..)| n == idx) {
            return self.not_found_index(idx);
        }
        let total = self
            .indices
            .iter()
            .find(|(n, ..)| n == idx)
            .map(|i| i.2)
            .unwrap_or(0);
        let hits: Vec<_> = [("Alice", "Martin", "alice.martin@example.com"), ("Bruno", "Keller", "b.keller@example.org"), ("Chen", "Wei", "chen.wei@example.net")]
            .iter()
            .enumerate()
            .map(|(i, (f, l, m))| json!({"_index": idx, "_type": "_doc", "_id": format!("{}", 1000 + i), "_score": 1.0, "_source": {"first_name": f, "last_name": l, "email": m, "created": "2026-10-0".to_owned() + &(i + 1).to_string()}}))
            .collect();
        Reply::json(
            200,
            &json!({"took": 3, "timed_out": false, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}, "hits": {"total": {"value": total.min(10_000), "relation": if total > 10_000 {"gte"} else {"eq"}}, "max_score": 1.0, "hits": hits}}),
            CT,
        )
    }
}

impl RestApi for EsHandler {
    fn service(&self) -> &'static str {
        "elasticsearch"
    }

    fn title_case(&self) -> bool {
        false
    }

    fn handle(&self, req: &Req, session: &Session) -> Reply {
        let product = self.product_headers();
        let path = req.path.trim_end_matches('/');
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let m = req.method.as_str();
        if matches!(m, "PUT" | "POST" | "DELETE")
            && !segs
                .last()
                .is_some_and(|s| *s == "_search" || *s == "_count")
        {
            session.emit(
                EventKind::Command,
                fields! {"command" => format!("{m} {}", req.path), "body" => decnet_core::event::printable(&req.body[..req.body.len().min(2048)])},
            );
        }
        let r = match (m, segs.as_slice()) {
            ("GET" | "HEAD", []) => self.banner(),
            ("GET", ["_cat", "indices", ..]) => self.cat_indices(req),
            ("GET", ["_cat"]) => Reply::text(
                200,
                "=^.^=\n/_cat/indices\n/_cat/nodes\n/_cat/health\n",
                "text/plain; charset=UTF-8",
            ),
            ("GET", ["_cat", ..]) => Reply::text(
                200,
                format!(
                    "{} {} 127.0.0.1 dilmrt * {}\n",
                    chrono::Utc::now().timestamp(),
                    "yellow",
                    self.name
                ),
                "text/plain; charset=UTF-8",
            ),
            ("GET" | "POST", ["_search"]) => self.search(""),
            ("GET" | "POST", [index, "_search"]) => self.search(index),
            ("GET", ["_cluster", "health", ..]) => self.health(),
            ("GET", ["_nodes", ..]) => self.nodes(),
            ("DELETE", [index]) => {
                if self.indices.iter().any(|(n, ..)| n == index) {
                    Reply::json(200, &json!({"acknowledged": true}), CT)
                } else {
                    self.not_found_index(index)
                }
            }
            ("PUT", [index]) => Reply::json(
                200,
                &json!({"acknowledged": true, "shards_acknowledged": true, "index": index}),
                CT,
            ),
            ("PUT" | "POST", [index, "_doc", ..]) => Reply::json(
                201,
                &json!({"_index": index, "_id": "x1", "_version": 1, "result": "created", "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 0, "_primary_term": 1}),
                CT,
            ),
            ("GET", [index]) if !index.starts_with('_') => self.get_index(index),
            _ => Reply::json(
                400,
                &json!({"error": format!("no handler found for uri [{}] and method [{m}]", req.path)}),
                CT,
            ),
        };
        r.with_first(&product)
    }
}

impl EsHandler {
    /// 7.14+ announce themselves with X-elastic-product.
    fn product_headers(&self) -> Vec<(&'static str, String)> {
        let minor: u32 = self
            .version
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let newer =
            self.version.starts_with("8.") || (self.version.starts_with("7.") && minor >= 14);
        if newer {
            vec![("X-elastic-product", "Elasticsearch".to_owned())]
        } else {
            Vec::new()
        }
    }

    /// `GET /`: the banner every scanner asks for.
    fn banner(&self) -> Reply {
        // Written by hand: Elasticsearch's key order (serde_json sorts).
        let body = format!(
            "{{\n  \"name\" : \"{name}\",\n  \"cluster_name\" : \"{cluster}\",\n  \"cluster_uuid\" : \"{uuid}\",\n  \"version\" : {{\n    \"number\" : \"{v}\",\n    \"build_flavor\" : \"default\",\n    \"build_type\" : \"deb\",\n    \"build_hash\" : \"{hash}\",\n    \"build_date\" : \"2021-01-13T00:42:12.435326Z\",\n    \"build_snapshot\" : false,\n    \"lucene_version\" : \"{lucene}\",\n    \"minimum_wire_compatibility_version\" : \"6.8.0\",\n    \"minimum_index_compatibility_version\" : \"6.0.0-beta1\"\n  }},\n  \"tagline\" : \"You Know, for Search\"\n}}\n",
            name = self.name,
            cluster = self.cluster,
            uuid = self.cluster_uuid,
            v = self.version,
            hash = self.build_hash,
            lucene = self.lucene,
        );
        Reply::text(200, body, CT)
    }

    fn cat_indices(&self, req: &Req) -> Reply {
        let mut out = String::new();
        if req.param("v").is_some() {
            out.push_str("health status index        uuid                   pri rep docs.count docs.deleted store.size pri.store.size\n");
        }
        for (n, u, d, s) in &self.indices {
            out.push_str(&format!(
                "yellow open   {n:<12} {u} 1   1   {d:>10}            0 {s:>10} {s:>14}\n"
            ));
        }
        Reply::text(200, out, "text/plain; charset=UTF-8")
    }

    fn health(&self) -> Reply {
        Reply::json(
            200,
            &json!({"cluster_name": self.cluster, "status": "yellow", "timed_out": false, "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": self.indices.len(), "active_shards": self.indices.len(), "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": self.indices.len(), "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 50.0}),
            CT,
        )
    }

    fn nodes(&self) -> Reply {
        let mut nodes = serde_json::Map::new();
        nodes.insert(self.node_id.clone(), json!({
            "name": self.name, "transport_address": "127.0.0.1:9300", "host": "127.0.0.1", "ip": "127.0.0.1",
            "version": self.version, "build_flavor": "default", "build_type": "deb", "build_hash": self.build_hash,
            "roles": ["data", "ingest", "master", "ml", "remote_cluster_client", "transform"],
            "os": {"refresh_interval_in_millis": 1000, "name": "Linux", "pretty_name": "Debian GNU/Linux 12 (bookworm)", "arch": "amd64", "version": self.kernel, "available_processors": 4, "allocated_processors": 4},
            "jvm": {"pid": 812, "version": "21.0.1", "vm_name": "OpenJDK 64-Bit Server VM", "vm_vendor": "Oracle Corporation", "start_time_in_millis": 1_700_000_000_000u64, "mem": {"heap_init_in_bytes": 1_073_741_824u64, "heap_max_in_bytes": 1_073_741_824u64}},
            "http": {"bound_address": ["0.0.0.0:9200"], "publish_address": "127.0.0.1:9200", "max_content_length_in_bytes": 104_857_600u64}
        }));
        Reply::json(
            200,
            &json!({"_nodes": {"total": 1, "successful": 1, "failed": 0}, "cluster_name": self.cluster, "nodes": nodes}),
            CT,
        )
    }

    fn get_index(&self, index: &str) -> Reply {
        if self.indices.iter().any(|(n, ..)| n == index) {
            Reply::json(
                200,
                &json!({*index: {"aliases": {}, "mappings": {"properties": {"email": {"type": "keyword"}, "first_name": {"type": "text"}, "last_name": {"type": "text"}}}, "settings": {"index": {"number_of_shards": "1", "number_of_replicas": "1"}}}}),
                CT,
            )
        } else {
            self.not_found_index(index)
        }
    }
}
