//! Web protocols: the persona's HTTP site (plain and behind TLS) and the
//! REST decoys (Elasticsearch, Docker Engine API, Kubernetes API) built on
//! the shared [`restjson`] server.

pub mod docker_api;
pub mod elasticsearch;
pub mod http;
pub mod http1;
pub mod https;
pub mod k8s;
pub mod restjson;
pub mod server_status;
pub mod web_root;
