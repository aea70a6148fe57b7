//! Redis commands: the verb an argument vector names (with the arity
//! Redis itself checks before running it) and the classic abuse it stands
//! for. Pure, so it is tested on its own.

/// What a command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// AUTH [user] password.
    Auth,
    /// HELLO [proto [AUTH user pass] [SETNAME name]].
    Hello,
    /// QUIT.
    Quit,
    /// PING [message].
    Ping,
    /// ECHO message.
    Echo,
    /// SELECT db.
    Select,
    /// INFO [section].
    Info,
    /// CONFIG GET/SET/….
    Config,
    /// DBSIZE.
    DbSize,
    /// KEYS pattern.
    Keys,
    /// SCAN cursor ….
    Scan,
    /// GET key.
    Get,
    /// SET key value ….
    Set,
    /// DEL / UNLINK key….
    Del,
    /// EXISTS key….
    Exists,
    /// TYPE key.
    Type,
    /// TTL / PTTL key.
    Ttl,
    /// FLUSHALL / FLUSHDB (pretended).
    Flush,
    /// SAVE.
    Save,
    /// BGSAVE.
    BgSave,
    /// LASTSAVE.
    LastSave,
    /// SLAVEOF / REPLICAOF host port.
    ReplicaOf,
    /// MODULE LIST/LOAD.
    Module,
    /// EVAL / EVALSHA.
    Eval,
    /// CLIENT ….
    Client,
    /// COMMAND.
    Command,
    /// TIME.
    Time,
    /// ROLE.
    Role,
    /// SHUTDOWN (refused).
    Shutdown,
    /// A known command with the wrong number of arguments.
    WrongArity,
    /// A command Redis does not have.
    Unknown,
    /// `POST` or `Host:`: an HTTP request, which Redis drops unanswered
    /// (its cross-protocol scripting guard).
    HttpGuard,
}

impl Verb {
    /// The verb of an uppercased command name called with `argc` words.
    pub fn parse(name: &str, argc: usize) -> Verb {
        // (verb, arity as Redis declares it: n exactly, -n at least n).
        let (verb, arity): (Verb, i32) = match name {
            "AUTH" => (Verb::Auth, -2),
            "HELLO" => (Verb::Hello, -1),
            "QUIT" => (Verb::Quit, -1),
            "PING" => (Verb::Ping, -1),
            "ECHO" => (Verb::Echo, 2),
            "SELECT" => (Verb::Select, 2),
            "INFO" => (Verb::Info, -1),
            "CONFIG" => (Verb::Config, -2),
            "DBSIZE" => (Verb::DbSize, 1),
            "KEYS" => (Verb::Keys, 2),
            "SCAN" => (Verb::Scan, -2),
            "GET" => (Verb::Get, 2),
            "SET" => (Verb::Set, -3),
            "DEL" | "UNLINK" => (Verb::Del, -2),
            "EXISTS" => (Verb::Exists, -2),
            "TYPE" => (Verb::Type, 2),
            "TTL" | "PTTL" => (Verb::Ttl, 2),
            "FLUSHALL" | "FLUSHDB" => (Verb::Flush, -1),
            "SAVE" => (Verb::Save, 1),
            "BGSAVE" => (Verb::BgSave, -1),
            "LASTSAVE" => (Verb::LastSave, 1),
            "SLAVEOF" | "REPLICAOF" => (Verb::ReplicaOf, 3),
            "MODULE" => (Verb::Module, -2),
            "EVAL" | "EVALSHA" => (Verb::Eval, -3),
            "CLIENT" => (Verb::Client, -2),
            "COMMAND" => (Verb::Command, -1),
            "TIME" => (Verb::Time, 1),
            "ROLE" => (Verb::Role, 1),
            "SHUTDOWN" => (Verb::Shutdown, -1),
            "POST" | "HOST:" => return Verb::HttpGuard,
            _ => return Verb::Unknown,
        };
        let fits = if arity >= 0 {
            argc == arity as usize
        } else {
            argc >= arity.unsigned_abs() as usize
        };
        if fits {
            verb
        } else {
            Verb::WrongArity
        }
    }
}

/// Uppercased (lossy) text of an argument.
pub fn upper(a: &[u8]) -> String {
    String::from_utf8_lossy(a).to_ascii_uppercase()
}

/// Classic abuse a command stands for, if any.
pub fn exploit_tag(cmd: &str, args: &[Vec<u8>]) -> Option<&'static str> {
    let sub = args.get(1).map(|a| upper(a)).unwrap_or_default();
    let key = args.get(2).map(|a| upper(a)).unwrap_or_default();
    match (cmd, sub.as_str()) {
        ("CONFIG", "SET") if key == "DIR" => Some("config_set_dir"),
        ("CONFIG", "SET") if key == "DBFILENAME" => Some("config_set_dbfilename"),
        ("CONFIG", "SET") => Some("config_set"),
        ("SLAVEOF" | "REPLICAOF", _) => Some("rogue_replication"),
        ("MODULE", "LOAD") => Some("module_load"),
        ("EVAL" | "EVALSHA" | "SCRIPT" | "FUNCTION", _) => Some("lua_eval"),
        ("FLUSHALL" | "FLUSHDB", _) => Some("data_wipe"),
        ("SAVE" | "BGSAVE", _) => Some("save_to_disk"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn arity_decides_like_redis() {
        assert_eq!(Verb::parse("GET", 2), Verb::Get);
        assert_eq!(Verb::parse("GET", 3), Verb::WrongArity);
        assert_eq!(Verb::parse("GET", 1), Verb::WrongArity);
        assert_eq!(Verb::parse("SET", 2), Verb::WrongArity);
        assert_eq!(Verb::parse("SET", 5), Verb::Set);
        assert_eq!(Verb::parse("REPLICAOF", 3), Verb::ReplicaOf);
        assert_eq!(Verb::parse("FOO", 1), Verb::Unknown);
        assert_eq!(Verb::parse("POST", 3), Verb::HttpGuard);
        assert_eq!(Verb::parse("HOST:", 2), Verb::HttpGuard);
    }

    #[test]
    fn exploitation_is_tagged() {
        let a = argv(&["CONFIG", "set", "dir", "/var/spool/cron"]);
        assert_eq!(exploit_tag("CONFIG", &a), Some("config_set_dir"));
        let a = argv(&["MODULE", "load", "/tmp/exp.so"]);
        assert_eq!(exploit_tag("MODULE", &a), Some("module_load"));
        assert_eq!(exploit_tag("GET", &argv(&["GET", "k"])), None);
    }
}
