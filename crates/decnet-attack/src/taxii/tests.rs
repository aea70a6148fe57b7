use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;

const TOKEN: &str = "read-only-token-1";

fn record(i: usize, version_hour: u32) -> StixRecord {
    let added = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::seconds(i as i64);
    let modified = format!("2026-03-01T{version_hour:02}:00:00.000Z");
    StixRecord::new(
        json!({
            "type": if i % 2 == 0 { "indicator" } else { "attack-pattern" },
            "spec_version": "2.1",
            "id": format!("{}--00000000-0000-4000-8000-{:012}", if i % 2 == 0 { "indicator" } else { "attack-pattern" }, i),
            "created": "2026-03-01T00:00:00.000Z",
            "modified": modified,
        }),
        added,
    )
    .unwrap()
}

async fn serve() -> String {
    let source = MemorySource::new();
    let mut records: Vec<StixRecord> = (0..25).map(|i| record(i, 1)).collect();
    // A second version of object 0, added last.
    let mut v2 = record(0, 2);
    v2.date_added = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    records.push(v2);
    source.set_collection(
        CollectionInfo {
            id: "11111111-1111-4111-8111-111111111111".into(),
            title: "All indicators".into(),
            description: None,
            alias: Some("indicators".into()),
        },
        records,
    );
    let auth = StaticTokens(vec![(TOKEN.into(), "reader".into())]);
    let app = router(TaxiiConfig::default(), Arc::new(source), Arc::new(auth));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = reqwest::Client::new()
        .get(url)
        .bearer_auth(TOKEN)
        .header("Accept", TAXII_MEDIA_TYPE)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

const COLL: &str = "/taxii2/api/collections/11111111-1111-4111-8111-111111111111";

#[tokio::test]
async fn discovery_root_and_collections() {
    let base = serve().await;
    let (s, h, body) = get(&format!("{base}/taxii2/")).await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], TAXII_MEDIA_TYPE);
    assert_eq!(body["api_roots"], json!(["/taxii2/api/"]));
    let (s, _, body) = get(&format!("{base}/taxii2/api/")).await;
    assert_eq!(s, 200);
    assert_eq!(body["versions"], json!([TAXII_MEDIA_TYPE]));
    let (_, _, body) = get(&format!("{base}/taxii2/api/collections/")).await;
    let c = &body["collections"][0];
    assert_eq!(
        (c["can_read"].as_bool(), c["can_write"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(c["media_types"], json!([STIX_MEDIA_TYPE]));
    let (s, _, body) = get(&format!("{base}/taxii2/api/collections/indicators/")).await;
    assert_eq!((s, body["title"].as_str()), (200, Some("All indicators")));
    let (s, h, body) = get(&format!("{base}/taxii2/api/collections/nope/")).await;
    assert_eq!((s, body["http_status"].as_str()), (404, Some("404")));
    assert_eq!(h["content-type"], TAXII_MEDIA_TYPE);
    let (s, _, _) = get(&format!("{base}/taxii2/other/")).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn auth_accept_and_writes_are_enforced() {
    let base = serve().await;
    let c = reqwest::Client::new();
    let r = c.get(format!("{base}/taxii2/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("Basic"));
    let r = c
        .get(format!("{base}/taxii2/"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Basic with the token as password, as taxii2-client's user/password sends it.
    let r = c
        .get(format!("{base}/taxii2/"))
        .basic_auth("anyone", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for accept in ["application/json", "application/taxii+json;version=2.0"] {
        let r = c
            .get(format!("{base}/taxii2/"))
            .bearer_auth(TOKEN)
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 406, "{accept}");
    }
    let r = c
        .post(format!("{base}{COLL}/objects/"))
        .bearer_auth(TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["http_status"], "403");
}

#[tokio::test]
async fn objects_page_with_limit_and_next_then_resume_with_added_after() {
    let base = serve().await;
    let mut seen = Vec::new();
    let mut url = format!("{base}{COLL}/objects/?limit=10");
    let mut pages = 0;
    let last_added = loop {
        let (s, h, body) = get(&url).await;
        assert_eq!(s, 200, "{body}");
        pages += 1;
        let objs = body["objects"].as_array().cloned().unwrap_or_default();
        assert!(h.contains_key("x-taxii-date-added-first"));
        let last_added = h["x-taxii-date-added-last"].to_str().unwrap().to_owned();
        seen.extend(objs.iter().map(|o| o["id"].as_str().unwrap().to_owned()));
        if body["more"] == true {
            assert_eq!(objs.len(), 10);
            url = format!(
                "{base}{COLL}/objects/?limit=10&next={}",
                body["next"].as_str().unwrap()
            );
        } else {
            assert!(body.get("next").is_none());
            break last_added;
        }
    };
    assert_eq!(pages, 3);
    // 25 objects, object 0 once (its last version).
    assert_eq!(seen.len(), 25);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 25);
    assert_eq!(last_added, "2026-03-02T00:00:00.000000Z");

    // Resuming after the first page's last date_added gives exactly the rest.
    let (_, h, _) = get(&format!("{base}{COLL}/objects/?limit=10")).await;
    let after = h["x-taxii-date-added-last"].to_str().unwrap().to_owned();
    let (_, _, body) = get(&format!(
        "{base}{COLL}/objects/?added_after={after}&limit=100"
    ))
    .await;
    assert_eq!(body["objects"].as_array().unwrap().len(), 15);
    let (_, h, body) = get(&format!(
        "{base}{COLL}/objects/?added_after=2026-03-02T00:00:00.000000Z"
    ))
    .await;
    assert_eq!(body, json!({"more": false}));
    assert!(!h.contains_key("x-taxii-date-added-first"));
}

#[tokio::test]
async fn match_filters_versions_and_manifest() {
    let base = serve().await;
    let (_, _, body) = get(&format!(
        "{base}{COLL}/objects/?match[type]=attack-pattern&limit=100"
    ))
    .await;
    assert_eq!(body["objects"].as_array().unwrap().len(), 12);
    let id0 = "indicator--00000000-0000-4000-8000-000000000000";
    let (_, _, body) = get(&format!("{base}{COLL}/objects/{id0}/")).await;
    assert_eq!(body["objects"][0]["modified"], "2026-03-01T02:00:00.000Z");
    assert_eq!(body["objects"].as_array().unwrap().len(), 1);
    let (_, _, body) = get(&format!("{base}{COLL}/objects/{id0}/?match[version]=all")).await;
    assert_eq!(body["objects"].as_array().unwrap().len(), 2);
    let (_, _, body) = get(&format!("{base}{COLL}/objects/{id0}/?match[version]=first")).await;
    assert_eq!(body["objects"][0]["modified"], "2026-03-01T01:00:00.000Z");
    let (_, _, body) = get(&format!("{base}{COLL}/objects/{id0}/versions/")).await;
    assert_eq!(
        body["versions"],
        json!(["2026-03-01T01:00:00.000Z", "2026-03-01T02:00:00.000Z"])
    );
    let (s, _, _) = get(&format!("{base}{COLL}/objects/indicator--nope/")).await;
    assert_eq!(s, 404);
    let (_, _, body) = get(&format!("{base}{COLL}/manifest/?limit=2")).await;
    assert_eq!(body["more"], true);
    assert_eq!(body["objects"][0]["media_type"], STIX_MEDIA_TYPE);
    assert_eq!(
        body["objects"][0]["date_added"],
        "2026-03-01T00:00:01.000000Z"
    );
}

#[tokio::test]
async fn bad_parameters_are_400() {
    let base = serve().await;
    for q in [
        "limit=0",
        "limit=x",
        "added_after=yesterday",
        "next=%%%",
        "next=bm90LWEtY3Vyc29y",
    ] {
        let (s, _, body) = get(&format!("{base}{COLL}/objects/?{q}")).await;
        assert_eq!(s, 400, "{q}: {body}");
        assert_eq!(body["http_status"], "400");
    }
}

#[test]
fn added_after_from_a_header_never_repeats_a_record_stored_with_nanoseconds() {
    let added =
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::nanoseconds(1_234_567);
    let r = StixRecord::new(
        json!({"type": "indicator", "id": "indicator--x", "modified": "2026-03-01T00:00:00.000Z"}),
        added,
    )
    .unwrap();
    // What X-TAXII-Date-Added-Last says for it.
    let header = taxii_time(r.date_added);
    assert_eq!(header, "2026-03-01T00:00:00.001234Z");
    let q = ObjectQuery {
        added_after: Some(
            DateTime::parse_from_rfc3339(&header)
                .unwrap()
                .with_timezone(&Utc),
        ),
        limit: 10,
        ..ObjectQuery::default()
    };
    assert!(paginate(&[r], &q).unwrap().records.is_empty());
}
