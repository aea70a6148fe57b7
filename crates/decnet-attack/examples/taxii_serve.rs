//! Serves the TAXII router on loopback with an in-memory source holding the
//! STIX bundles written by `export_sample`, for the taxii2-client check in
//! `scripts/interop/attack.sh`.
//!
//! `cargo run -p decnet-attack --example taxii_serve -- ADDR TOKEN BUNDLE.json...`
//!
//! Collection `indicators` holds every indicator of every bundle; one
//! collection per bundle (`campaign-<file stem>`) holds all its objects.
//! Objects are added one millisecond apart so `added_after` has something
//! to resume on.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use decnet_attack::taxii::{
    self, CollectionInfo, MemorySource, StaticTokens, StixRecord, TaxiiConfig,
};
use uuid::Uuid;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().expect("ADDR");
    let token = args.next().expect("TOKEN");
    let source = MemorySource::new();
    let mut indicators = Vec::new();
    let mut added = Utc::now() - Duration::hours(1);
    for path in args {
        let bundle: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let stem = std::path::Path::new(&path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('.', "-");
        let mut records = Vec::new();
        for o in bundle["objects"].as_array().unwrap() {
            added += Duration::milliseconds(1);
            let r = StixRecord::new(o.clone(), added).unwrap();
            if r.stix_type() == "indicator" && !indicators.iter().any(|x: &StixRecord| x.id == r.id)
            {
                indicators.push(r.clone());
            }
            records.push(r);
        }
        source.set_collection(
            CollectionInfo {
                id: Uuid::new_v5(&Uuid::NAMESPACE_URL, stem.as_bytes()).to_string(),
                title: format!("Objects of {stem}"),
                description: Some("Every object of one exported bundle".into()),
                alias: Some(format!("campaign-{stem}")),
            },
            records,
        );
    }
    source.set_collection(
        CollectionInfo {
            id: Uuid::new_v5(&Uuid::NAMESPACE_URL, b"indicators").to_string(),
            title: "All indicators".into(),
            description: Some("Every indicator decnet has exported".into()),
            alias: Some("indicators".into()),
        },
        indicators,
    );
    let app = taxii::router(
        TaxiiConfig::default(),
        Arc::new(source),
        Arc::new(StaticTokens(vec![(token, "interop".into())])),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("listening on {addr}");
    axum::serve(listener, app).await.unwrap();
}
