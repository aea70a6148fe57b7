//! MongoDB: OP_MSG and legacy OP_QUERY commands (hello/isMaster, buildInfo,
//! serverStatus, listDatabases, ping…) with the persona's server version,
//! SCRAM-SHA-1/SHA-256 `saslStart`/`saslContinue` captured (user, salt,
//! nonces, proof) and refused with `AuthenticationFailed`, every other
//! command logged. Without `[decky.mongodb] password` the instance is open
//! (like the exposed servers scanners look for); with it, commands other
//! than the handshake need authentication, answered `Unauthorized`.

use std::sync::Arc;

use base64::Engine;
use decnet_core::EventKind;
use futures::future::BoxFuture;
use rand::Rng;
use tokio::io::AsyncWriteExt;

use crate::bson_doc;
use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::product::OsKind;
use crate::session::Session;
use crate::wire::bson::{self, get, Bson, Doc};
use crate::wire::pg;
use crate::{fields, Conn, Handler, Service, ServiceError};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The `mongodb` service.
pub struct Mongodb;

/// Per-decky MongoDB state.
pub struct MongoHandler {
    version: String,
    max_wire: i32,
    host: String,
    login: Option<(String, String)>,
    salt: [u8; 16],
    boot_ms: i64,
    databases: Vec<String>,
}

/// MongoDB version a persona would run.
pub fn persona_version(decky: &DeckyCtx) -> String {
    if let Some(v) = decky.config("mongodb", "version") {
        return v.to_owned();
    }
    match crate::product::os_kind(decky) {
        OsKind::Ubuntu => "6.0.14",
        OsKind::RedHat => "5.0.26",
        OsKind::Windows => "7.0.8",
        _ => "7.0.8",
    }
    .to_owned()
}

impl Service for Mongodb {
    fn name(&self) -> &'static str {
        "mongodb"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let version = persona_version(decky);
        let max_wire = match version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
        {
            Some(4) => 9,
            Some(5) => 13,
            Some(6) => 17,
            Some(7) => 21,
            _ => 21,
        };
        let salt: [u8; 16] = decnet_core::DeckySeed::new(decky.name(), decky.generation)
            .rng("mongodb-scram")
            .gen();
        let databases = decky
            .config("mongodb", "databases")
            .map(|s| {
                s.split(',')
                    .map(|d| d.trim().to_owned())
                    .filter(|d| !d.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| vec!["app".to_owned(), "users".to_owned()]);
        Ok(Arc::new(MongoHandler {
            version,
            max_wire,
            host: format!(
                "{}:27017",
                decky.persona.hostname.split('.').next().unwrap_or("mongo")
            ),
            login: crate::creds::configured_login(&decky.spec, "mongodb", "admin"),
            salt,
            boot_ms: decky.persona.boot_time.timestamp_millis(),
            databases,
        }))
    }
}

struct Conv {
    mechanism: String,
    user: String,
    db: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    iterations: u32,
}

struct State {
    authed: bool,
    conv: Option<Conv>,
    conn_id: i32,
    next_id: i32,
}

fn ok(mut d: Doc) -> Doc {
    d.push(("ok".into(), Bson::Double(1.0)));
    d
}

fn fail(code: i32, name: &str, msg: &str) -> Doc {
    bson_doc! {
        "ok" => Bson::Double(0.0),
        "errmsg" => Bson::Str(msg.into()),
        "code" => Bson::I32(code),
        "codeName" => Bson::Str(name.into()),
    }
}

impl Handler for MongoHandler {
    fn serve_tcp(self: Arc<Self>, mut conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let idle = session.limits().idle_timeout;
            let mut st = State {
                authed: self.login.is_none(),
                conv: None,
                conn_id: rand::thread_rng().gen_range(10..5000),
                next_id: 1,
            };
            loop {
                let mut h = [0u8; 16];
                match crate::io::read_exact_idle(&mut conn.stream, &mut h, idle).await {
                    Ok(()) => {}
                    Err(ReadError::Eof) => return,
                    Err(e) => {
                        session.emit_error(format!("mongodb: {e}"));
                        return;
                    }
                }
                let hd = match bson::header(h) {
                    Ok(hd) => hd,
                    Err(e) => {
                        session.emit_error(format!("mongodb: {e}"));
                        return;
                    }
                };
                let mut body = vec![0u8; hd.length - 16];
                if let Err(e) = crate::io::read_exact_idle(&mut conn.stream, &mut body, idle).await
                {
                    if e != ReadError::Eof {
                        session.emit_error(format!("mongodb: {e}"));
                    }
                    return;
                }
                let cmd = match bson::decode_command(hd.op, &body) {
                    Ok(c) => c,
                    Err(e) => {
                        session.emit_error(format!("mongodb: {e}"));
                        return;
                    }
                };
                let reply = self.dispatch(&cmd, &mut st, &session).await;
                st.next_id += 1;
                let bytes = if cmd.legacy {
                    bson::op_reply(st.next_id, hd.request_id, &reply)
                } else {
                    bson::op_msg_reply(st.next_id, hd.request_id, &reply)
                };
                if conn.stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        })
    }
}

impl MongoHandler {
    fn hello(&self, st: &State, legacy_name: bool, doc: &Doc) -> Doc {
        let mut d: Doc = Vec::new();
        if legacy_name {
            d.push(("ismaster".into(), Bson::Bool(true)));
        } else {
            d.push(("isWritablePrimary".into(), Bson::Bool(true)));
        }
        d.extend(bson_doc! {
            "topologyVersion" => Bson::Doc(bson_doc!{"processId" => Bson::ObjectId(self.salt[..12].try_into().unwrap_or([0;12])), "counter" => Bson::I64(0)}),
            "maxBsonObjectSize" => Bson::I32(16_777_216),
            "maxMessageSizeBytes" => Bson::I32(48_000_000),
            "maxWriteBatchSize" => Bson::I32(100_000),
            "localTime" => Bson::DateTime(chrono::Utc::now().timestamp_millis()),
            "logicalSessionTimeoutMinutes" => Bson::I32(30),
            "connectionId" => Bson::I32(st.conn_id),
            "minWireVersion" => Bson::I32(0),
            "maxWireVersion" => Bson::I32(self.max_wire),
            "readOnly" => Bson::Bool(false),
        });
        if get(doc, "saslSupportedMechs").is_some() {
            d.push((
                "saslSupportedMechs".into(),
                Bson::Array(vec![
                    Bson::Str("SCRAM-SHA-1".into()),
                    Bson::Str("SCRAM-SHA-256".into()),
                ]),
            ));
        }
        ok(d)
    }

    fn build_info(&self) -> Doc {
        let parts: Vec<Bson> = self
            .version
            .split('.')
            .map(|p| Bson::I32(p.parse().unwrap_or(0)))
            .chain(std::iter::once(Bson::I32(0)))
            .take(4)
            .collect();
        ok(bson_doc! {
            "version" => Bson::Str(self.version.clone()),
            "gitVersion" => Bson::Str(hex::encode(&self.salt[..10]) + &hex::encode(&self.salt[..10])),
            "modules" => Bson::Array(vec![]),
            "allocator" => Bson::Str("tcmalloc".into()),
            "javascriptEngine" => Bson::Str("mozjs".into()),
            "sysInfo" => Bson::Str("deprecated".into()),
            "versionArray" => Bson::Array(parts),
            "openssl" => Bson::Doc(bson_doc!{"running" => Bson::Str("OpenSSL 3.0.2 15 Mar 2022".into()), "compiled" => Bson::Str("OpenSSL 3.0.2 15 Mar 2022".into())}),
            "buildEnvironment" => Bson::Doc(bson_doc!{"distmod" => Bson::Str("ubuntu2204".into()), "distarch" => Bson::Str("x86_64".into()), "target_arch" => Bson::Str("x86_64".into()), "target_os" => Bson::Str("linux".into())}),
            "bits" => Bson::I32(64),
            "debug" => Bson::Bool(false),
            "maxBsonObjectSize" => Bson::I32(16_777_216),
            "storageEngines" => Bson::Array(vec![Bson::Str("devnull".into()), Bson::Str("wiredTiger".into())]),
        })
    }

    fn server_status(&self, st: &State) -> Doc {
        let now = chrono::Utc::now().timestamp_millis();
        let up = ((now - self.boot_ms) / 1000).max(0);
        ok(bson_doc! {
            "host" => Bson::Str(self.host.clone()),
            "version" => Bson::Str(self.version.clone()),
            "process" => Bson::Str("mongod".into()),
            "pid" => Bson::I64(900 + self.salt[0] as i64),
            "uptime" => Bson::Double(up as f64),
            "uptimeMillis" => Bson::I64(up * 1000),
            "localTime" => Bson::DateTime(now),
            "connections" => Bson::Doc(bson_doc!{"current" => Bson::I32(3), "available" => Bson::I32(51197), "totalCreated" => Bson::I32(st.conn_id)}),
        })
    }

    fn list_databases(&self) -> Doc {
        let mut dbs = vec![
            Bson::Doc(
                bson_doc! {"name" => Bson::Str("admin".into()), "sizeOnDisk" => Bson::I64(102_400), "empty" => Bson::Bool(false)},
            ),
            Bson::Doc(
                bson_doc! {"name" => Bson::Str("config".into()), "sizeOnDisk" => Bson::I64(110_592), "empty" => Bson::Bool(false)},
            ),
            Bson::Doc(
                bson_doc! {"name" => Bson::Str("local".into()), "sizeOnDisk" => Bson::I64(81_920), "empty" => Bson::Bool(false)},
            ),
        ];
        let mut total = 294_912i64;
        for (i, d) in self.databases.iter().enumerate() {
            let size = 4_194_304 * (i as i64 + 3) + (self.salt[i % 16] as i64) * 4096;
            total += size;
            dbs.push(Bson::Doc(bson_doc! {"name" => Bson::Str(d.clone()), "sizeOnDisk" => Bson::I64(size), "empty" => Bson::Bool(false)}));
        }
        ok(bson_doc! {
            "databases" => Bson::Array(dbs),
            "totalSize" => Bson::I64(total),
            "totalSizeMb" => Bson::I64(total / 1_048_576),
        })
    }

    async fn dispatch(&self, cmd: &bson::Command, st: &mut State, session: &Session) -> Doc {
        let Some((name, _)) = cmd.doc.first() else {
            return fail(59, "CommandNotFound", "no command");
        };
        let name = name.clone();
        let lname = name.to_ascii_lowercase();
        // Every command is logged, the handshake ones (hello, isMaster)
        // and authentication steps included: DECNET logs each OP_MSG.
        let mut rendered = String::new();
        bson::render_doc(&cmd.doc, &mut rendered);
        session.emit(
            EventKind::Command,
            fields! {"command" => name.clone(), "database" => cmd.db.clone(), "document" => rendered, "authenticated" => st.authed},
        );
        match lname.as_str() {
            "ismaster" | "hello" => return self.hello(st, lname == "ismaster", &cmd.doc),
            "saslstart" => return self.sasl_start(cmd, st),
            "saslcontinue" => return self.sasl_continue(cmd, st, session).await,
            "authenticate" => {
                let user = get(&cmd.doc, "user")
                    .and_then(Bson::as_str)
                    .unwrap_or("")
                    .to_owned();
                session.emit_auth(
                    &user,
                    "mongodb_x509_or_cr",
                    b"",
                    false,
                    fields! {"database" => cmd.db.clone()},
                );
                return fail(18, "AuthenticationFailed", "auth failed");
            }
            _ => {}
        }
        let open = matches!(
            lname.as_str(),
            "buildinfo"
                | "ping"
                | "getnonce"
                | "endsessions"
                | "whatsmyuri"
                | "getlog"
                | "connectionstatus"
        );
        if !st.authed && !open {
            return fail(
                13,
                "Unauthorized",
                &format!("Command {name} requires authentication"),
            );
        }
        match lname.as_str() {
            "buildinfo" => self.build_info(),
            "serverstatus" => self.server_status(st),
            "ping" | "endsessions" | "logout" => ok(vec![]),
            "whatsmyuri" => ok(bson_doc! {"you" => Bson::Str(session.peer.to_string())}),
            "getlog" => {
                ok(bson_doc! {"totalLinesWritten" => Bson::I32(0), "log" => Bson::Array(vec![])})
            }
            "connectionstatus" => ok(
                bson_doc! {"authInfo" => Bson::Doc(bson_doc!{"authenticatedUsers" => Bson::Array(vec![]), "authenticatedUserRoles" => Bson::Array(vec![])})},
            ),
            "listdatabases" => self.list_databases(),
            "listcollections" => ok(bson_doc! {"cursor" => Bson::Doc(bson_doc!{
                "id" => Bson::I64(0),
                "ns" => Bson::Str(format!("{}.$cmd.listCollections", cmd.db)),
                "firstBatch" => Bson::Array(vec![
                    Bson::Doc(bson_doc!{"name" => Bson::Str("users".into()), "type" => Bson::Str("collection".into())}),
                    Bson::Doc(bson_doc!{"name" => Bson::Str("orders".into()), "type" => Bson::Str("collection".into())}),
                ]),
            })}),
            "find" | "aggregate" => {
                let coll = get(&cmd.doc, &name)
                    .and_then(Bson::as_str)
                    .unwrap_or("")
                    .to_owned();
                ok(
                    bson_doc! {"cursor" => Bson::Doc(bson_doc!{"id" => Bson::I64(0), "ns" => Bson::Str(format!("{}.{coll}", cmd.db)), "firstBatch" => Bson::Array(vec![])})},
                )
            }
            "insert" | "update" | "delete" => ok(bson_doc! {"n" => Bson::I32(1)}),
            "drop" | "dropdatabase" | "create" | "createindexes" | "killcursors" | "getmore" => {
                ok(vec![])
            }
            _ => fail(59, "CommandNotFound", &format!("no such command: '{name}'")),
        }
    }

    fn sasl_start(&self, cmd: &bson::Command, st: &mut State) -> Doc {
        let mech = get(&cmd.doc, "mechanism")
            .and_then(Bson::as_str)
            .unwrap_or("")
            .to_owned();
        let payload = match get(&cmd.doc, "payload") {
            Some(Bson::Binary(_, b)) => b.clone(),
            Some(Bson::Str(s)) => s.as_bytes().to_vec(),
            _ => Vec::new(),
        };
        if mech != "SCRAM-SHA-1" && mech != "SCRAM-SHA-256" {
            return fail(
                2,
                "BadValue",
                &format!(
                    "Unsupported mechanism '{mech}' on authentication database '{}'",
                    cmd.db
                ),
            );
        }
        let Ok((_, bare, cnonce)) = pg::scram_client_first(&payload) else {
            return fail(17, "ProtocolError", "Invalid SCRAM client-first message");
        };
        let user = pg::scram_attr(&bare, 'n')
            .unwrap_or("")
            .replace("=2C", ",")
            .replace("=3D", "=");
        let iterations = if mech == "SCRAM-SHA-1" {
            10_000
        } else {
            15_000
        };
        let snonce: [u8; 24] = rand::thread_rng().gen();
        let nonce = format!("{cnonce}{}", B64.encode(snonce));
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(self.salt));
        st.conv = Some(Conv {
            mechanism: mech,
            user,
            db: cmd.db.clone(),
            client_first_bare: bare,
            server_first: server_first.clone(),
            nonce,
            iterations,
        });
        ok(bson_doc! {
            "conversationId" => Bson::I32(1),
            "done" => Bson::Bool(false),
            "payload" => Bson::Binary(0, server_first.into_bytes()),
        })
    }

    async fn sasl_continue(&self, cmd: &bson::Command, st: &mut State, session: &Session) -> Doc {
        let Some(conv) = st.conv.take() else {
            return fail(17, "ProtocolError", "No SASL session state found");
        };
        let payload = match get(&cmd.doc, "payload") {
            Some(Bson::Binary(_, b)) => b.clone(),
            _ => Vec::new(),
        };
        let Ok((without, fnonce, proof_b64)) = pg::scram_client_final(&payload) else {
            return fail(17, "ProtocolError", "Invalid SCRAM client-final message");
        };
        let auth_message = format!(
            "{},{},{}",
            conv.client_first_bare, conv.server_first, without
        );
        let mut ok_login = false;
        let mut server_final = String::new();
        if let Some((u, p)) = self.login.clone() {
            if u == conv.user && fnonce == conv.nonce && conv.mechanism == "SCRAM-SHA-256" {
                let salt = self.salt;
                let its = conv.iterations;
                let am = auth_message.clone();
                if let Ok((ck, sk, svk)) =
                    tokio::task::spawn_blocking(move || pg::scram_keys(&p, &salt, its)).await
                {
                    let sig = pg::hmac256(&sk, am.as_bytes());
                    let expect: Vec<u8> = ck.iter().zip(sig.iter()).map(|(a, b)| a ^ b).collect();
                    ok_login = B64
                        .decode(proof_b64.as_bytes())
                        .map(|p| p == expect)
                        .unwrap_or(false);
                    server_final = format!("v={}", B64.encode(pg::hmac256(&svk, am.as_bytes())));
                }
            }
        }
        session.emit_auth(
            &conv.user,
            if conv.mechanism == "SCRAM-SHA-1" {
                "mongodb_scram_sha1"
            } else {
                "mongodb_scram_sha256"
            },
            proof_b64.as_bytes(),
            ok_login,
            fields! {
                "database" => conv.db.clone(),
                "mechanism" => conv.mechanism.clone(),
                "salt" => B64.encode(self.salt),
                "iterations" => conv.iterations as u64,
                "nonce" => conv.nonce.clone(),
                "client_first" => conv.client_first_bare.clone(),
                "server_first" => conv.server_first.clone(),
                "client_final" => without.clone(),
                "proof" => proof_b64.clone(),
            },
        );
        if ok_login {
            st.authed = true;
            return ok(bson_doc! {
                "conversationId" => Bson::I32(1),
                "done" => Bson::Bool(true),
                "payload" => Bson::Binary(0, server_final.into_bytes()),
            });
        }
        fail(18, "AuthenticationFailed", "Authentication failed.")
    }
}
