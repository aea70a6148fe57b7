//! OS family guesses from SYN signatures.
//!
//! Two sources: p0f's own database, read at run time from
//! [`P0F_DB`] when it is installed (Debian's `p0f` package; never shipped
//! here), and, failing a match there, a small built-in table of the stacks
//! and scanners a honeypot sees most. Both answer with a label and a family.

use std::path::Path;

use crate::syn::SynSignature;

/// Where Debian's `p0f` package installs its database.
pub const P0F_DB: &str = "/etc/p0f/p0f.fp";

/// Largest p0f database read (the real one is ~40 KB).
const MAX_DB_BYTES: u64 = 1 << 20;

/// Longest distance (hops) a database signature's TTL may be from the
/// observed one, as p0f allows.
const MAX_DISTANCE: u8 = 35;

/// An OS (or tool) guess.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsGuess {
    /// `Linux 3.11 and newer`, `nmap SYN scan`.
    pub label: String,
    /// `linux`, `windows`, `macos`, `bsd`, `scanner` (tools such as nmap),
    /// `unix` (other p0f unix labels) or `other`.
    pub family: String,
    /// `builtin` or `p0f` (which table answered).
    pub source: &'static str,
    /// The matching signature was a generic one (p0f's `g:` labels).
    pub generic: bool,
}

/// A window pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Window {
    Any,
    Exact(u16),
    MssTimes(u32),
    MtuTimes(u32),
    Modulo(u32),
}

impl Window {
    fn parse(s: &str) -> Option<Window> {
        Some(match s {
            "*" => Window::Any,
            _ if s.starts_with("mss*") => Window::MssTimes(s[4..].parse().ok()?),
            _ if s.starts_with("mtu*") => Window::MtuTimes(s[4..].parse().ok()?),
            _ if s.starts_with('%') => Window::Modulo(s[1..].parse().ok()?),
            _ => Window::Exact(s.parse().ok()?),
        })
    }

    fn matches(&self, sig: &SynSignature) -> bool {
        let w = u32::from(sig.window);
        let mss = sig.mss.map(u32::from).unwrap_or(0);
        match *self {
            Window::Any => true,
            Window::Exact(n) => sig.window == n,
            Window::MssTimes(n) => mss > 0 && w == mss * n,
            Window::MtuTimes(n) => {
                let mtu = mss + if sig.version == 4 { 40 } else { 60 };
                mss > 0 && w == mtu * n
            }
            Window::Modulo(n) => n > 0 && w % n == 0,
        }
    }
}

/// One signature of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    label: String,
    family: String,
    generic: bool,
    version: Option<u8>,
    ittl: u8,
    ip_options_len: u8,
    mss: Option<u16>,
    window: Window,
    wscale: Option<u8>,
    layout: String,
    quirks: Vec<String>,
    payload: Option<bool>,
}

impl Rule {
    fn matches(&self, sig: &SynSignature) -> bool {
        let ttl_ok = self.ittl >= sig.ttl && self.ittl - sig.ttl <= MAX_DISTANCE;
        ttl_ok
            && self.version.is_none_or(|v| v == sig.version)
            && self.ip_options_len == sig.ip_options_len
            && self.mss.is_none_or(|m| sig.mss == Some(m))
            && self.window.matches(sig)
            && self.wscale.is_none_or(|s| sig.wscale.unwrap_or(0) == s)
            && self.layout == sig.layout_text()
            && self.quirks.len() == sig.quirks.len()
            && self.quirks.iter().all(|q| sig.quirks.contains(&q.as_str()))
            && self.payload.is_none_or(|p| p == sig.payload)
    }

    /// Parses p0f's `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`.
    fn from_p0f(sig: &str, label: &str, family: &str, generic: bool) -> Option<Rule> {
        let f: Vec<&str> = sig.split(':').collect();
        let [ver, ittl, olen, mss, win, layout, quirks, pclass] = f.as_slice() else {
            return None;
        };
        let (wsize, scale) = win.split_once(',')?;
        let star = |s: &str| s != "*";
        Some(Rule {
            label: label.to_owned(),
            family: family.to_owned(),
            generic,
            version: star(ver).then(|| ver.parse().ok()).flatten(),
            ittl: ittl.trim_end_matches('-').parse().ok()?,
            ip_options_len: olen.parse().ok()?,
            mss: if star(mss) {
                Some(mss.parse().ok()?)
            } else {
                None
            },
            window: Window::parse(wsize)?,
            wscale: if star(scale) {
                Some(scale.parse().ok()?)
            } else {
                None
            },
            layout: (*layout).to_owned(),
            quirks: quirks
                .split(',')
                .filter(|q| !q.is_empty())
                .map(str::to_owned)
                .collect(),
            payload: match *pclass {
                "0" => Some(false),
                "+" => Some(true),
                _ => None,
            },
        })
    }
}

/// Built-in signatures, each `(label, family, p0f-notation signature)`.
/// Written for the stacks and scanners a honeypot meets most; the
/// window/scale of desktop stacks vary, so they are left open.
const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "Linux 3.x+",
        "linux",
        "*:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0",
    ),
    ("Linux 3.x+", "linux", "*:64:0:*:*,*:mss,sok,ts,nop,ws:df:0"),
    (
        "Linux (no timestamps)",
        "linux",
        "*:64:0:*:*,*:mss,nop,nop,sok,nop,ws:df,id+:0",
    ),
    (
        "Windows 7 or newer",
        "windows",
        "*:128:0:*:*,*:mss,nop,ws,nop,nop,sok:df,id+:0",
    ),
    (
        "Windows XP",
        "windows",
        "*:128:0:*:*,*:mss,nop,nop,sok:df,id+:0",
    ),
    (
        "macOS / iOS",
        "macos",
        "*:64:0:*:65535,*:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0",
    ),
    (
        "FreeBSD",
        "bsd",
        "*:64:0:*:65535,*:mss,nop,ws,sok,ts:df,id+:0",
    ),
    (
        "OpenBSD",
        "bsd",
        "*:64:0:*:16384,*:mss,nop,nop,sok,nop,ws,nop,nop,ts:df,id+:0",
    ),
    // nmap -sS: a raw SYN with only an MSS, 1024..4096 window, no DF.
    ("nmap SYN scan", "scanner", "*:64:0:1460:%1024,0:mss::0"),
    // masscan / ZMap-style raw SYNs carry no options at all.
    (
        "raw-socket scanner (masscan/zmap)",
        "scanner",
        "*:255:0:*:*,0:::0",
    ),
    (
        "raw-socket scanner (masscan/zmap)",
        "scanner",
        "*:64:0:*:*,0:::0",
    ),
];

/// The family of a p0f label (`s:unix:Linux:…` → `linux`), in the
/// built-in table's words so both sources answer alike.
fn p0f_family(class: &str, name: &str) -> &'static str {
    let name = name.to_ascii_lowercase();
    match class {
        "win" => "windows",
        "!" => "scanner",
        _ if name.starts_with("linux") || name == "android" => "linux",
        _ if name.contains("mac os") || name == "ios" => "macos",
        _ if name.contains("bsd") => "bsd",
        "unix" => "unix",
        _ => "other",
    }
}

/// An OS guesser: p0f's database when loaded, then the built-in table.
#[derive(Clone, Debug)]
pub struct OsTable {
    p0f: Vec<Rule>,
    builtin: Vec<Rule>,
}

impl Default for OsTable {
    fn default() -> Self {
        OsTable::builtin()
    }
}

impl OsTable {
    /// The built-in table alone.
    pub fn builtin() -> OsTable {
        OsTable {
            p0f: Vec::new(),
            builtin: BUILTIN
                .iter()
                .filter_map(|(label, family, sig)| Rule::from_p0f(sig, label, family, false))
                .collect(),
        }
    }

    /// Adds p0f's `[tcp:request]` signatures from the text of a `p0f.fp`;
    /// returns how many were read (lines that do not parse are skipped).
    pub fn add_p0f(&mut self, text: &str) -> usize {
        let before = self.p0f.len();
        let mut in_syn = false;
        let mut label: Option<(String, String, bool)> = None;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_syn = line == "[tcp:request]";
                label = None;
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            if !in_syn {
                continue;
            }
            if key == "label" {
                // s:unix:Linux:3.11 and newer
                let parts: Vec<&str> = value.splitn(4, ':').collect();
                label = match parts.as_slice() {
                    [kind, class, name, flavor] => Some((
                        format!("{name} {flavor}").trim().to_owned(),
                        p0f_family(class, name).to_owned(),
                        *kind == "g",
                    )),
                    _ => None,
                };
            } else if key == "sig" {
                if let Some((l, family, generic)) = &label {
                    if let Some(r) = Rule::from_p0f(value, l, family, *generic) {
                        self.p0f.push(r);
                    }
                }
            }
        }
        self.p0f.len() - before
    }

    /// The built-in table plus p0f's database at `path` when it exists
    /// and is readable (size-capped); the count of p0f signatures read.
    pub fn with_p0f_file(path: &Path) -> (OsTable, usize) {
        let mut t = OsTable::builtin();
        let text = std::fs::metadata(path)
            .ok()
            .filter(|m| m.len() <= MAX_DB_BYTES)
            .and_then(|_| std::fs::read_to_string(path).ok());
        let n = text.map_or(0, |text| t.add_p0f(&text));
        (t, n)
    }

    /// The best guess for a signature: a specific p0f match, else a
    /// generic p0f match, else the built-in table.
    pub fn guess(&self, sig: &SynSignature) -> Option<OsGuess> {
        let hit = |r: &Rule, source| OsGuess {
            label: r.label.clone(),
            family: r.family.clone(),
            source,
            generic: r.generic,
        };
        let mut p0f = self.p0f.iter().filter(|r| r.matches(sig));
        let first = p0f.next();
        if let Some(specific) = first
            .filter(|r| !r.generic)
            .or_else(|| p0f.find(|r| !r.generic))
        {
            return Some(hit(specific, "p0f"));
        }
        if let Some(generic) = first {
            return Some(hit(generic, "p0f"));
        }
        self.builtin
            .iter()
            .find(|r| r.matches(sig))
            .map(|r| hit(r, "builtin"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(
        ttl: u8,
        window: u16,
        mss: Option<u16>,
        layout: &str,
        quirks: &[&'static str],
    ) -> SynSignature {
        SynSignature {
            version: 4,
            ttl,
            initial_ttl: crate::syn::initial_ttl(ttl),
            ip_options_len: 0,
            mss,
            window,
            wscale: Some(7),
            layout: layout
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            quirks: quirks.to_vec(),
            payload: false,
        }
    }

    #[test]
    fn builtin_table_tells_the_common_stacks_apart() {
        let t = OsTable::builtin();
        let linux = sig(61, 64240, Some(1460), "mss,sok,ts,nop,ws", &["df", "id+"]);
        assert_eq!(t.guess(&linux).expect("linux").family, "linux");
        let win = sig(
            126,
            64240,
            Some(1460),
            "mss,nop,ws,nop,nop,sok",
            &["df", "id+"],
        );
        assert_eq!(t.guess(&win).expect("windows").family, "windows");
        let mut nmap = sig(44, 1024, Some(1460), "mss", &[]);
        nmap.wscale = None;
        assert_eq!(t.guess(&nmap).expect("nmap").label, "nmap SYN scan");
        let odd = sig(64, 1000, Some(1460), "mss,nop", &[]);
        assert_eq!(t.guess(&odd), None);
    }

    #[test]
    fn p0f_database_text_is_read_and_preferred() {
        // Two entries in p0f.fp's notation, written for this test.
        let db = "\
[tcp:response]
label = s:unix:Other:x
sig   = *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0

[tcp:request]
label = g:unix:Linux:2.x-5.x
sig   = *:64:0:*:mss*44,*:mss,sok,ts,nop,ws:df,id+:0
label = s:unix:Linux:4.x tuned
sig   = *:64:0:*:mss*44,7:mss,sok,ts,nop,ws:df,id+:0
sig   = broken
";
        let mut t = OsTable::builtin();
        assert_eq!(t.add_p0f(db), 2);
        assert_eq!(p0f_family("!", "NMap"), "scanner");
        assert_eq!(p0f_family("win", "Windows"), "windows");
        assert_eq!(p0f_family("unix", "Mac OS X"), "macos");
        let s = sig(
            64,
            44 * 1460,
            Some(1460),
            "mss,sok,ts,nop,ws",
            &["df", "id+"],
        );
        let g = t.guess(&s).expect("match");
        assert_eq!(
            (g.label.as_str(), g.source, g.generic),
            ("Linux 4.x tuned", "p0f", false)
        );
        assert_eq!(g.family, "linux");
        let mut s8 = s.clone();
        s8.wscale = Some(8);
        let g = t.guess(&s8).expect("generic match");
        assert_eq!((g.label.as_str(), g.generic), ("Linux 2.x-5.x", true));
        // Too far from the database's initial TTL: no p0f match, builtin answers.
        let far = sig(
            20,
            44 * 1460,
            Some(1460),
            "mss,sok,ts,nop,ws",
            &["df", "id+"],
        );
        assert_eq!(t.guess(&far).map(|g| g.source), None);
    }

    #[test]
    fn window_patterns() {
        let s = sig(64, 2920, Some(1460), "mss", &[]);
        assert!(Window::parse("mss*2").expect("p").matches(&s));
        assert!(!Window::parse("mss*3").expect("p").matches(&s));
        assert!(Window::parse("%1460").expect("p").matches(&s));
        let m = sig(64, 3000, Some(1460), "mss", &[]);
        assert!(Window::parse("mtu*2").expect("p").matches(&m));
        assert_eq!(Window::parse("mss*x"), None);
    }
}
