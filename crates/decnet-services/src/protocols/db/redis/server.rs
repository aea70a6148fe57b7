//! Server introspection and configuration: CONFIG GET/SET (the classic
//! `dir`/`dbfilename` abuse lands here) and INFO.

use sha2::Digest as _;

use super::command::upper;
use super::RedisHandler;
use crate::wire;
use crate::wire::resp::{glob, Out};

impl RedisHandler {
    pub(super) fn config_cmd(&self, args: &[Vec<u8>], out: &mut Out) {
        let sub = args.get(1).map(|a| upper(a)).unwrap_or_default();
        match sub.as_str() {
            "GET" if args.len() >= 3 => {
                let cfg = self.config.lock();
                let hits: Vec<(&String, &String)> = cfg
                    .iter()
                    .filter(|(k, _)| {
                        args[2..]
                            .iter()
                            .any(|p| glob(&p.to_ascii_lowercase(), k.as_bytes()))
                    })
                    .collect();
                out.map(hits.len());
                for (k, v) in hits {
                    out.bulk(k.as_bytes());
                    out.bulk(v.as_bytes());
                }
            }
            "SET" if args.len() >= 4 && args.len() % 2 == 0 => {
                // Redis 7 refuses the configs that write files
                // (enable-protected-configs is off by default): the
                // classic dir/dbfilename persistence trick fails there.
                let protected = args[2..].chunks(2).find(|pair| {
                    let k = pair[0].to_ascii_lowercase();
                    k == b"dir" || k == b"dbfilename"
                });
                if let Some(pair) = protected.filter(|_| self.version.starts_with('7')) {
                    return out.error(&format!(
                        "ERR CONFIG SET failed (possibly related to argument '{}') - can't set protected config",
                        wire::excerpt(&pair[0], 128)
                    ));
                }
                let mut cfg = self.config.lock();
                for pair in args[2..].chunks(2) {
                    let k = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
                    if k == "requirepass" {
                        continue; // never let an attacker lock the decoy
                    }
                    if cfg.len() < 256 || cfg.contains_key(&k) {
                        cfg.insert(k, wire::excerpt(&pair[1], 1024));
                    }
                }
                out.simple("OK")
            }
            "RESETSTAT" | "REWRITE" => out.simple("OK"),
            _ => out.error(&format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
                wire::excerpt(args.get(1).map(|a| a.as_slice()).unwrap_or(b""), 64)
            )),
        }
    }

    pub(super) fn info(&self, section: &str) -> String {
        if self.version.starts_with("7.0.") {
            return self.info_7_0(section);
        }
        let now = chrono::Utc::now();
        let up = (now - self.boot).num_seconds().max(0);
        let keys = self.keys.lock().map.len();
        let all = section.is_empty()
            || section == "all"
            || section == "everything"
            || section == "default";
        let mut s = String::new();
        let want = |name: &str| all || section == name;
        if want("server") {
            s.push_str(&format!(
                "# Server\r\nredis_version:{v}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:{bid}\r\nredis_mode:standalone\r\nos:{os}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:12.2.0\r\nprocess_id:{pid}\r\nprocess_supervised:systemd\r\nrun_id:{rid}\r\ntcp_port:6379\r\nserver_time_usec:{usec}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{days}\r\nhz:10\r\nconfigured_hz:10\r\nexecutable:/usr/bin/redis-server\r\nconfig_file:/etc/redis/redis.conf\r\n\r\n",
                v = self.version,
                bid = self.build_id(),
                os = self.os,
                pid = self.pid(),
                rid = self.run_id,
                usec = now.timestamp_micros(),
                days = up / 86_400,
            ));
        }
        if want("clients") {
            s.push_str("# Clients\r\nconnected_clients:1\r\ncluster_connections:0\r\nmaxclients:10000\r\nblocked_clients:0\r\n\r\n");
        }
        if want("memory") {
            s.push_str("# Memory\r\nused_memory:1183424\r\nused_memory_human:1.13M\r\nused_memory_rss:9142272\r\nused_memory_peak:1205936\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\nmem_allocator:jemalloc-5.3.0\r\n\r\n");
        }
        if want("persistence") {
            s.push_str("# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\n\r\n");
        }
        if want("replication") {
            s.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n\r\n");
        }
        if want("keyspace") {
            s.push_str(&format!(
                "# Keyspace\r\ndb0:keys={keys},expires=0,avg_ttl=0\r\n"
            ));
        }
        s
    }

    /// INFO as Redis 7.0 writes it: every field of its default sections,
    /// from the reply of Debian's 7.0.15 with this decky's values in.
    fn info_7_0(&self, section: &str) -> String {
        let now = chrono::Utc::now();
        let up = (now - self.boot).num_seconds().max(0);
        let keys = self.keys.lock().map.len();
        let replid = hex::encode(&sha2::Sha256::digest(self.run_id.as_bytes())[..20]);
        let text = INFO_7_0
            .replace("{version}", &self.version)
            .replace("{build_id}", &self.build_id())
            .replace("{os}", &self.os)
            .replace("{pid}", &self.pid().to_string())
            .replace("{run_id}", &self.run_id)
            .replace("{usec}", &now.timestamp_micros().to_string())
            .replace("{up}", &up.to_string())
            .replace("{days}", &(up / 86_400).to_string())
            .replace("{lru}", &(now.timestamp() & 0xff_ffff).to_string())
            .replace("{mem}", "8336945152")
            .replace("{mem_human}", "7.76G")
            .replace("{last_save}", &(now.timestamp() - up.min(3600)).to_string())
            .replace("{conns}", &(40 + up / 600).to_string())
            .replace("{cmds}", &(300 + up / 60).to_string())
            .replace("{replid}", &replid);
        let all = matches!(section, "" | "all" | "default" | "everything");
        let mut parts: Vec<String> = text
            .split("\n\n")
            .filter(|block| {
                let name = block.lines().next().unwrap_or("").trim_start_matches("# ");
                all || name.eq_ignore_ascii_case(section)
            })
            .map(|block| {
                let mut b = block.trim_end().replace('\n', "\r\n");
                b.push_str("\r\n");
                b
            })
            .collect();
        if let Some(last) = parts
            .last_mut()
            .filter(|p| p.starts_with("# Keyspace") && keys > 0)
        {
            last.push_str(&format!("db0:keys={keys},expires=0,avg_ttl=0\r\n"));
        }
        parts.join("\r\n")
    }

    /// The build id of the persona's package (Debian 12's 7.0.15 is known),
    /// else one derived from the decky.
    fn build_id(&self) -> String {
        match self.version.as_str() {
            "7.0.15" => "ae4d7c971a948f0".to_owned(),
            _ => self.run_id[..16].to_owned(),
        }
    }

    fn pid(&self) -> u32 {
        700 + (self.run_id.as_bytes()[0] as u32) * 3
    }
}

/// Redis 7.0's INFO sections, `{…}` filled per decky.
const INFO_7_0: &str = include_str!("info_7_0.txt");
