//! AUTH (both forms) and HELLO, which may carry credentials: the
//! `requirepass` check and the `auth_attempt` events.

use decnet_core::EventKind;

use super::command::upper;
use super::{RedisHandler, State};
use crate::fields;
use crate::session::Session;
use crate::wire::resp::Out;

impl RedisHandler {
    /// Without `requirepass` the default user is `nopass`: AUTH default
    /// with any password succeeds (Redis 6+ ACLs).
    fn check_password(&self, user: &str, pass: &[u8], named_user: bool) -> bool {
        match &self.password {
            Some(p) => user == "default" && p.as_bytes() == pass,
            None => named_user && user == "default",
        }
    }

    pub(super) fn auth(&self, args: &[Vec<u8>], st: &mut State, out: &mut Out, session: &Session) {
        let (user, pass) = match args.len() {
            2 => ("default".to_owned(), args[1].as_slice()),
            3 => (decnet_core::event::printable(&args[1]), args[2].as_slice()),
            _ => {
                out.error("ERR wrong number of arguments for 'auth' command");
                return;
            }
        };
        let ok = self.check_password(&user, pass, args.len() == 3);
        session.emit_auth(
            &user,
            "password",
            pass,
            ok,
            fields! {"form" => if args.len() == 2 { "AUTH password" } else { "AUTH username password" }},
        );
        if ok {
            st.authed = true;
            st.user = user;
            out.simple("OK");
        } else if self.password.is_none() && args.len() == 2 {
            out.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        } else if self.version.starts_with('5') || self.version.starts_with('4') {
            out.error("ERR invalid password");
        } else {
            out.error("WRONGPASS invalid username-password pair or user is disabled.");
        }
    }

    pub(super) fn hello(&self, args: &[Vec<u8>], st: &mut State, out: &mut Out, session: &Session) {
        let mut i = 1;
        let mut proto = if st.resp3 { 3 } else { 2 };
        if let Some(v) = args.get(1) {
            match std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
            {
                Some(p @ 2..=3) => proto = p,
                _ => {
                    out.error("NOPROTO unsupported protocol version");
                    return;
                }
            }
            i = 2;
        }
        while i < args.len() {
            match upper(&args[i]).as_str() {
                "AUTH" if i + 2 < args.len() => {
                    let mut o = Out::default();
                    self.auth(
                        &[b"AUTH".to_vec(), args[i + 1].clone(), args[i + 2].clone()],
                        st,
                        &mut o,
                        session,
                    );
                    if !st.authed {
                        out.buf.extend_from_slice(&o.buf);
                        return;
                    }
                    i += 3;
                }
                "SETNAME" if i + 1 < args.len() => i += 2,
                _ => {
                    out.error("ERR Syntax error in HELLO option");
                    return;
                }
            }
        }
        session.emit(EventKind::Command, fields! {"command" => format!("HELLO {proto}"), "argc" => args.len() as u64, "authenticated" => st.authed});
        if !st.authed {
            out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
            return;
        }
        st.resp3 = proto == 3;
        out.resp3 = st.resp3;
        out.map(7);
        out.bulk(b"server");
        out.bulk(b"redis");
        out.bulk(b"version");
        out.bulk(self.version.as_bytes());
        out.bulk(b"proto");
        out.int(proto as i64);
        out.bulk(b"id");
        out.int(7);
        out.bulk(b"mode");
        out.bulk(b"standalone");
        out.bulk(b"role");
        out.bulk(b"master");
        out.bulk(b"modules");
        out.array(0);
    }
}
