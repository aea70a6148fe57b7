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
    /// Unknown, or a known name with the wrong arity.
    Unknown,
}

impl Verb {
    /// The verb of an uppercased command name called with `argc` words.
    pub fn parse(name: &str, argc: usize) -> Verb {
        match name {
            "AUTH" => Verb::Auth,
            "HELLO" => Verb::Hello,
            "QUIT" => Verb::Quit,
            "PING" => Verb::Ping,
            "ECHO" if argc == 2 => Verb::Echo,
            "SELECT" => Verb::Select,
            "INFO" => Verb::Info,
            "CONFIG" => Verb::Config,
            "DBSIZE" => Verb::DbSize,
            "KEYS" if argc == 2 => Verb::Keys,
            "SCAN" => Verb::Scan,
            "GET" if argc == 2 => Verb::Get,
            "SET" if argc >= 3 => Verb::Set,
            "DEL" | "UNLINK" if argc >= 2 => Verb::Del,
            "EXISTS" if argc >= 2 => Verb::Exists,
            "TYPE" if argc == 2 => Verb::Type,
            "TTL" | "PTTL" if argc == 2 => Verb::Ttl,
            "FLUSHALL" | "FLUSHDB" => Verb::Flush,
            "SAVE" => Verb::Save,
            "BGSAVE" => Verb::BgSave,
            "LASTSAVE" => Verb::LastSave,
            "SLAVEOF" | "REPLICAOF" if argc == 3 => Verb::ReplicaOf,
            "MODULE" => Verb::Module,
            "EVAL" | "EVALSHA" => Verb::Eval,
            "CLIENT" => Verb::Client,
            "COMMAND" => Verb::Command,
            "TIME" => Verb::Time,
            "ROLE" => Verb::Role,
            "SHUTDOWN" => Verb::Shutdown,
            _ => Verb::Unknown,
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
        assert_eq!(Verb::parse("GET", 3), Verb::Unknown);
        assert_eq!(Verb::parse("SET", 2), Verb::Unknown);
        assert_eq!(Verb::parse("REPLICAOF", 3), Verb::ReplicaOf);
        assert_eq!(Verb::parse("FOO", 1), Verb::Unknown);
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
