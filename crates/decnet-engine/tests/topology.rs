//! Topologies end to end in-process: lifecycle, optimistic concurrency,
//! the mutation queue (including failure → degraded and resume after a
//! crash), live services with bus events carrying the topology id.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_engine::topology::*;
use decnet_engine::{EngineConfig, Fleet};
use decnet_services::{Limits, Registry};
use serde_json::json;
use tokio::net::TcpStream;

const OFFSET: u16 = 46000;

async fn setup(
    dir: &std::path::Path,
) -> (
    Arc<Topologies>,
    Arc<Fleet>,
    Arc<dyn Bus>,
    Arc<dyn decnet_store::Store>,
) {
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let fleet = Fleet::new(
        EngineConfig {
            data_dir: dir.join("data"),
            port_offset: OFFSET,
            limits: Limits::default(),
        },
        Registry::builtin(),
        bus.clone(),
    );
    let store = decnet_store::open(&format!("sqlite://{}/t.db", dir.display()))
        .await
        .unwrap();
    (
        Topologies::new(store.clone(), fleet.clone(), bus.clone()),
        fleet,
        bus,
        store,
    )
}

fn spec(net: u8) -> TopologySpec {
    TopologySpec {
        name: "dmz".into(),
        lans: vec![Lan {
            name: "lan1".into(),
            cidr: format!("127.0.{net}.0/24"),
            cidr6: None,
            tarpit: Default::default(),
        }],
        deckies: vec![
            TopologyDecky {
                name: format!("tw{net}"),
                services: vec!["http".into()],
                ..Default::default()
            },
            TopologyDecky {
                name: format!("tt{net}"),
                services: vec!["telnet".into()],
                ip: Some(format!("127.0.{net}.50")),
                ..Default::default()
            },
        ],
        edges: vec![Edge {
            decky: format!("tw{net}"),
            lan: "lan1".into(),
        }],
        tarpit: Default::default(),
    }
}

#[tokio::test]
async fn lifecycle_versions_and_mutations() {
    let dir = tempfile::tempdir().unwrap();
    let (topos, fleet, bus, _) = setup(dir.path()).await;
    let t = topos.create(spec(81)).await.unwrap();
    assert_eq!((t.status, t.version), (TopologyStatus::Pending, 1));
    let mut sub = bus
        .subscribe(&format!("topology.{}.>", t.id), Delivery::Lossless)
        .unwrap();

    // Two writers with the same version: one wins, one conflicts.
    let a = topos
        .update(&t.id, 1, |t| {
            t.name = "dmz-a".into();
            Ok(())
        })
        .await;
    let b = topos
        .update(&t.id, 1, |t| {
            t.name = "dmz-b".into();
            Ok(())
        })
        .await;
    assert!(a.is_ok());
    assert!(matches!(b, Err(TopologyError::Conflict(_))));
    assert!(matches!(
        topos
            .update(&t.id, 2, |t| {
                t.edges.push(Edge {
                    decky: "ghost".into(),
                    lan: "lan1".into(),
                });
                Ok(())
            })
            .await,
        Err(TopologyError::Invalid(_))
    ));

    // Deploy: deckies listen; the one without ip got an address from its LAN.
    let t = topos.deploy(&t.id).await.unwrap();
    assert_eq!(t.status, TopologyStatus::Active, "{:?}", t.error);
    assert!(TcpStream::connect(("127.0.81.2", 80 + OFFSET))
        .await
        .is_ok());
    assert!(TcpStream::connect(("127.0.81.50", 23 + OFFSET))
        .await
        .is_ok());

    // A mutation that adds a decky applies live; one that removes a missing LAN fails → degraded.
    topos
        .enqueue(
            &t.id,
            MutationOp::AddLan,
            json!({"name": "lan2", "cidr": "127.0.82.0/24"}),
        )
        .await
        .unwrap();
    topos
        .enqueue(
            &t.id,
            MutationOp::AddDecky,
            json!({"name": "tx81", "services": ["http"], "ip": "127.0.82.7"}),
        )
        .await
        .unwrap();
    topos
        .enqueue(&t.id, MutationOp::RemoveLan, json!({"name": "nope"}))
        .await
        .unwrap();
    assert_eq!(topos.drain().await.unwrap(), 3);
    assert!(TcpStream::connect(("127.0.82.7", 80 + OFFSET))
        .await
        .is_ok());
    let ms = topos.mutations(&t.id, None).await.unwrap();
    assert_eq!(
        ms.iter().map(|m| m.status).collect::<Vec<_>>(),
        [
            MutationStatus::Applied,
            MutationStatus::Applied,
            MutationStatus::Failed
        ]
    );
    assert!(ms[2].error.as_deref().unwrap().contains("nope"));
    let t2 = topos.get(&t.id).await.unwrap();
    assert_eq!(t2.status, TopologyStatus::Degraded);
    assert_eq!(t2.lans.len(), 2);
    assert_eq!(t2.deckies.len(), 3);

    // Live service add on a topology decky: decky.* event carries topology_id.
    let mut decky_sub = bus.subscribe("decky.>", Delivery::Lossless).unwrap();
    let list = topos.add_service(&t.id, "tt81", "http").await.unwrap();
    assert_eq!(list, ["telnet", "http"]);
    assert!(matches!(
        topos.add_service(&t.id, "tt81", "http").await,
        Err(TopologyError::Conflict(_))
    ));
    assert!(matches!(
        topos.add_service(&t.id, "nobody", "http").await,
        Err(TopologyError::NotFound(_))
    ));
    assert!(matches!(
        topos.add_service(&t.id, "tt81", "bogus").await,
        Err(TopologyError::Invalid(_))
    ));
    let ev = tokio::time::timeout(Duration::from_secs(2), decky_sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.topic, "decky.tt81.service_added");
    let payload = serde_json::to_value(&ev.payload).unwrap();
    assert_eq!(payload["topology_id"], t.id);
    assert_eq!(
        topos.get(&t.id).await.unwrap().deckies[1].services,
        ["telnet", "http"]
    );

    // Teardown.
    let t3 = topos.teardown(&t.id).await.unwrap();
    assert_eq!(t3.status, TopologyStatus::TornDown);
    assert!(TcpStream::connect(("127.0.81.50", 23 + OFFSET))
        .await
        .is_err());
    assert!(fleet.summary().await.is_empty());

    // The bus saw the whole life, in order.
    let mut kinds = Vec::new();
    while let Some(e) = sub.try_recv() {
        kinds.push(e.kind.clone());
    }
    let statuses: Vec<String> = kinds.iter().filter(|k| *k == "status").cloned().collect();
    assert_eq!(statuses.len(), 5, "{kinds:?}"); // deploying, active, degraded, tearing_down, torn_down
    assert_eq!(
        kinds.iter().filter(|k| *k == "mutation.applied").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "mutation.failed").count(),
        1,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn restart_resumes_in_flight_mutations() {
    let dir = tempfile::tempdir().unwrap();
    let (topos, _fleet, _bus, store) = setup(dir.path()).await;
    let t = topos.create(spec(83)).await.unwrap();
    let m = topos
        .enqueue(
            &t.id,
            MutationOp::AddLan,
            json!({"name": "late", "cidr": "127.0.84.0/24"}),
        )
        .await
        .unwrap();
    // Simulate a worker that claimed it and died.
    let mut claimed = m.clone();
    claimed.status = MutationStatus::Applying;
    store
        .doc_put(
            "topology_mutation",
            &m.id,
            Some(&t.id),
            Some(m.version),
            &serde_json::to_value(&claimed).unwrap(),
        )
        .await
        .unwrap();
    drop(topos);

    // A new process on the same store resumes it.
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let fleet = Fleet::new(
        EngineConfig {
            data_dir: dir.path().join("data2"),
            port_offset: OFFSET,
            limits: Limits::default(),
        },
        Registry::builtin(),
        bus.clone(),
    );
    let store2 = decnet_store::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    let topos2 = Topologies::new(store2, fleet, bus);
    assert_eq!(topos2.resume().await.unwrap(), 1);
    assert_eq!(topos2.drain().await.unwrap(), 1);
    let ms = topos2.mutations(&t.id, None).await.unwrap();
    assert_eq!(ms[0].status, MutationStatus::Applied);
    assert!(topos2
        .get(&t.id)
        .await
        .unwrap()
        .lans
        .iter()
        .any(|l| l.name == "late"));
}

#[test]
fn status_machine() {
    use TopologyStatus::*;
    assert!(Pending.can_become(Deploying));
    assert!(
        Deploying.can_become(Active)
            && Deploying.can_become(Degraded)
            && Deploying.can_become(Failed)
    );
    assert!(Active.can_become(Degraded) && Degraded.can_become(Active));
    assert!(Active.can_become(TearingDown) && TearingDown.can_become(TornDown));
    assert!(!Pending.can_become(Active));
    assert!(!TornDown.can_become(Active));
    assert!(!Active.can_become(Active));
}

#[tokio::test]
async fn blank_topologies_get_their_own_dmz_and_unique_names() {
    let dir = tempfile::tempdir().unwrap();
    let (topos, _fleet, _bus, _) = setup(dir.path()).await;
    // A topology already on the first /24 of the pool pushes blanks past it.
    let mut taken = spec(82);
    taken.name = "taken".into();
    taken.lans[0].cidr = "127.100.0.0/24".into();
    topos.create(taken).await.unwrap();
    let a = topos.create_blank("maze").await.unwrap();
    assert_eq!((a.status, a.version), (TopologyStatus::Pending, 1));
    assert_eq!(a.name, "maze");
    assert_eq!(a.lans.len(), 1);
    assert_eq!(
        (a.lans[0].name.as_str(), a.lans[0].cidr.as_str()),
        ("dmz", "127.100.1.0/24")
    );
    assert_eq!(a.deckies.len(), 1);
    assert_eq!(a.deckies[0].name, "dmz-gateway");
    assert_eq!(a.deckies[0].services, ["ssh"]);
    assert_eq!(
        a.edges,
        [Edge {
            decky: "dmz-gateway".into(),
            lan: "dmz".into()
        }]
    );
    let b = topos.create_blank("maze-2").await.unwrap();
    assert_eq!(b.lans[0].cidr, "127.100.2.0/24");
    // Decky names are fleet-wide: the second gateway gets its own.
    assert_eq!(b.deckies[0].name, "dmz-gateway-2");
    assert_eq!(b.edges[0].decky, "dmz-gateway-2");
    assert!(matches!(
        topos.create_blank("maze").await,
        Err(TopologyError::Conflict(_))
    ));
    assert_eq!(topos.list().await.unwrap().len(), 3);
}
