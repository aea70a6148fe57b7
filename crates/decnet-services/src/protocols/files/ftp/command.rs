//! FTP command syntax: a verb, its argument and the PORT/EPRT address
//! forms. Pure, so it is proptested on its own.

use std::net::{IpAddr, SocketAddr};

/// What a command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// USER name.
    User,
    /// PASS password.
    Pass,
    /// QUIT.
    Quit,
    /// SYST.
    Syst,
    /// FEAT.
    Feat,
    /// OPTS option.
    Opts,
    /// NOOP.
    Noop,
    /// AUTH / PBSZ / PROT / CCC (FTPS, not offered).
    Security,
    /// PWD / XPWD.
    Pwd,
    /// CWD / XCWD dir, CDUP / XCUP.
    Cwd,
    /// TYPE A|I.
    Type,
    /// MODE.
    Mode,
    /// STRU.
    Stru,
    /// REST offset.
    Rest,
    /// PASV / EPSV.
    Passive,
    /// PORT / EPRT address.
    Active,
    /// LIST / NLST / MLSD [path].
    List,
    /// SIZE / MDTM path.
    Stat,
    /// RETR path.
    Retr,
    /// STOR / APPE / STOU path.
    Stor,
    /// DELE, RMD, RNFR, RNTO, SITE, … (refused).
    Modify,
    /// MKD / XMKD.
    Mkd,
    /// ABOR.
    Abor,
    /// STAT (server status).
    Status,
    /// HELP.
    Help,
    /// Anything else.
    Unknown,
}

/// One parsed FTP command line.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    /// Verb, uppercased (at most 8 characters kept).
    pub verb: String,
    /// Everything after the first space, untrimmed.
    pub arg: String,
}

impl Command {
    /// Splits `VERB arg`. Never fails: garbage yields a garbage verb.
    pub fn parse(line: &[u8]) -> Command {
        let text = String::from_utf8_lossy(line);
        let (verb, arg) = match text.trim_start().split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.to_owned()),
            None => (text.trim().to_ascii_uppercase(), String::new()),
        };
        Command {
            verb: verb.chars().take(8).collect(),
            arg,
        }
    }

    /// The verb this command names.
    pub fn kind(&self) -> Verb {
        match self.verb.as_str() {
            "USER" => Verb::User,
            "PASS" => Verb::Pass,
            "QUIT" => Verb::Quit,
            "SYST" => Verb::Syst,
            "FEAT" => Verb::Feat,
            "OPTS" => Verb::Opts,
            "NOOP" => Verb::Noop,
            "AUTH" | "PBSZ" | "PROT" | "CCC" => Verb::Security,
            "PWD" | "XPWD" => Verb::Pwd,
            "CWD" | "XCWD" | "CDUP" | "XCUP" => Verb::Cwd,
            "TYPE" => Verb::Type,
            "MODE" => Verb::Mode,
            "STRU" => Verb::Stru,
            "REST" => Verb::Rest,
            "PASV" | "EPSV" => Verb::Passive,
            "PORT" | "EPRT" => Verb::Active,
            "LIST" | "NLST" | "MLSD" => Verb::List,
            "SIZE" | "MDTM" => Verb::Stat,
            "RETR" => Verb::Retr,
            "STOR" | "APPE" | "STOU" => Verb::Stor,
            "DELE" | "RMD" | "XRMD" | "RNFR" | "RNTO" | "SITE" | "CHMOD" => Verb::Modify,
            "MKD" | "XMKD" => Verb::Mkd,
            "ABOR" => Verb::Abor,
            "STAT" => Verb::Status,
            "HELP" => Verb::Help,
            _ => Verb::Unknown,
        }
    }
}

/// Parses `h1,h2,h3,h4,p1,p2` (PORT).
pub fn parse_port(arg: &str) -> Option<SocketAddr> {
    let n: Vec<u8> = arg
        .trim()
        .split(',')
        .map(|x| x.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .ok()?;
    if n.len() != 6 {
        return None;
    }
    let ip = IpAddr::from([n[0], n[1], n[2], n[3]]);
    Some(SocketAddr::new(ip, u16::from(n[4]) << 8 | u16::from(n[5])))
}

/// Parses `|1|1.2.3.4|port|` (EPRT).
pub fn parse_eprt(arg: &str) -> Option<SocketAddr> {
    let arg = arg.trim();
    let d = arg.chars().next()?;
    let parts: Vec<&str> = arg.split(d).collect();
    if parts.len() != 5 {
        return None;
    }
    let ip: IpAddr = parts[2].parse().ok()?;
    let port: u16 = parts[3].parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands_and_addresses() {
        let c = Command::parse(b"retr  /etc/passwd");
        assert_eq!((c.verb.as_str(), c.arg.as_str()), ("RETR", " /etc/passwd"));
        assert_eq!(c.kind(), Verb::Retr);
        assert_eq!(Command::parse(b"  cdup ").kind(), Verb::Cwd);
        assert_eq!(Command::parse(b"VERYLONGVERB x").verb, "VERYLONG");
        assert_eq!(
            parse_port("127,0,0,1,4,1"),
            Some("127.0.0.1:1025".parse().unwrap())
        );
        assert_eq!(parse_port("1,2,3"), None);
        assert_eq!(
            parse_eprt("|1|127.0.0.1|2000|"),
            Some("127.0.0.1:2000".parse().unwrap())
        );
        assert_eq!(parse_eprt("|1|x|2000|"), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(a in "\\PC{0,200}") {
            let c = Command::parse(a.as_bytes());
            prop_assert!(c.verb.chars().count() <= 8);
            let _ = parse_port(&a);
            let _ = parse_eprt(&a);
        }
    }
}
