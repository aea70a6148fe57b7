//! Apache's `/server-status` (mod_status with `ExtendedStatus On`, as
//! Debian enables it: `Require local`, so only a client on the host itself
//! sees it). The page describes the persona's Apache: event MPM with two
//! children of 25 threads (Debian's `mpm_event.conf`, six process slots),
//! started a few seconds after the persona's boot and gracefully reloaded
//! by logrotate every night since; its counters and per-thread rows are
//! the requests this decky really served, so what a local visitor reads
//! agrees with what they and others did.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rand::Rng;

use super::http1::flavour::html_escape;

/// Threads per child (`ThreadsPerChild 25`).
const THREADS: usize = 25;
/// Children running (`StartServers 2`).
const CHILDREN: usize = 2;
/// Process slots on the scoreboard (`MaxRequestWorkers 150` / 25).
const SLOTS: usize = 6;
/// mod_status wraps the scoreboard every 64 characters.
const SCOREBOARD_LINE: usize = 64;

/// One thread's record: its last request and its totals.
#[derive(Clone, Debug, Default)]
struct Worker {
    accesses: u64,
    bytes: u64,
    duration_ms: u64,
    last_ms: u64,
    last_at: Option<Instant>,
    /// Its last request's client, vhost (address and port) and request
    /// line; rendered as text only when the page is asked for.
    client: Option<IpAddr>,
    vhost: Option<(IpAddr, u16)>,
    /// Kept and rewritten in place: recording runs on every request.
    request: String,
}

/// The server's scoreboard (what mod_status reads).
pub struct Scoreboard {
    restart: DateTime<Utc>,
    reloads: u32,
    pids: [u32; CHILDREN],
    state: Mutex<Board>,
}

#[derive(Default)]
struct Board {
    workers: Vec<Worker>,
    next: usize,
}

impl Board {
    /// The board with its thread records, made at the first request: an
    /// Apache decky nobody has visited holds none (a fleet binds many).
    fn threads(&mut self) -> &mut Board {
        if self.workers.is_empty() {
            self.workers = vec![Worker::default(); CHILDREN * THREADS];
        }
        self
    }
}

/// What the page needs of the request asking for it.
pub struct Asker<'a> {
    /// Host name the request named (or the server's), no port.
    pub host: &'a str,
    /// Port for the address line.
    pub port: u16,
    /// The connection's two ends.
    pub peer: SocketAddr,
    /// The decky's end.
    pub local: SocketAddr,
    /// The VHost column: the server's address and its own port.
    pub vhost: &'a str,
    /// `GET /server-status HTTP/1.1`.
    pub request_line: &'a str,
    /// Query string (`auto`, `refresh`, `notable`).
    pub query: &'a str,
}

/// `Require local`: loopback, or the server's own address.
pub fn is_local(peer: IpAddr, local: IpAddr) -> bool {
    let (peer, local) = (peer.to_canonical(), local.to_canonical());
    peer.is_loopback() || peer == local
}

impl Scoreboard {
    /// The scoreboard of the persona's Apache.
    pub fn new(boot: DateTime<Utc>, seed: &decnet_core::DeckySeed) -> Scoreboard {
        let mut rng = seed.rng("apache-status");
        let restart = boot + chrono::Duration::seconds(rng.gen_range(4..15));
        // logrotate's nightly reload, one per midnight since the start.
        let reloads = (Utc::now().date_naive() - restart.date_naive())
            .num_days()
            .max(0) as u32;
        let first: u32 = rng.gen_range(20_000..900_000);
        Scoreboard {
            restart,
            reloads,
            pids: [first, first + rng.gen_range(1..40)],
            state: Mutex::new(Board::default()),
        }
    }

    /// Records a finished request on the next thread (mod_status keeps the
    /// request line's first 64 characters).
    pub fn record(
        &self,
        client: IpAddr,
        vhost: (IpAddr, u16),
        request: impl std::fmt::Display,
        bytes: u64,
    ) {
        use std::fmt::Write;
        let mut b = self.state.lock();
        let b = b.threads();
        let i = b.next;
        b.next = (i + 1) % (CHILDREN * THREADS);
        let w = &mut b.workers[i];
        w.accesses += 1;
        w.bytes += bytes;
        w.last_ms = 0;
        w.last_at = Some(Instant::now());
        w.client = Some(client);
        w.vhost = Some(vhost);
        w.request.clear();
        // Writing to a String cannot fail.
        let _ = write!(w.request, "{request}");
        if let Some((end, _)) = w.request.char_indices().nth(64) {
            w.request.truncate(end);
        }
    }

    /// The page (`?auto`: the machine-readable form).
    pub fn page(&self, server: &str, load: (f64, f64, f64), asker: &Asker<'_>) -> String {
        let mut b = self.state.lock();
        let b = b.threads();
        let busy_at = b.next;
        let now = Utc::now();
        let up = (now - self.restart).num_seconds().max(1) as u64;
        let totals = Totals::of(&b.workers);
        let mut out = String::with_capacity(8192);
        if asker.query.contains("auto") {
            return self.auto(server, load, &totals, busy_at, asker, now);
        }
        out.push_str("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n<title>Apache Status</title>\n</head><body>\n");
        out.push_str(&format!(
            "<h1>Apache Server Status for {} (via {})</h1>\n\n",
            html_escape(asker.host),
            asker.local.ip()
        ));
        self.summary(&mut out, server, load, &totals, up, now);
        self.process_table(&mut out);
        out.push_str(&scoreboard_pre(busy_at));
        out.push_str(KEY);
        if !asker.query.contains("notable") {
            worker_rows(
                &mut out,
                &b.workers,
                busy_at,
                &self.pids,
                self.reloads,
                asker,
            );
        }
        out.push_str(LEGEND);
        out.push_str(&format!(
            "<address>{} Server at {} Port {}</address>\n</body></html>\n",
            server,
            html_escape(asker.host),
            asker.port
        ));
        out
    }

    fn summary(
        &self,
        out: &mut String,
        server: &str,
        load: (f64, f64, f64),
        t: &Totals,
        up: u64,
        now: DateTime<Utc>,
    ) {
        out.push_str(&format!(
            "<dl><dt>Server Version: {server}</dt>\n<dt>Server MPM: event</dt>\n<dt>Server Built: {BUILT}\n</dt></dl><hr /><dl>\n"
        ));
        out.push_str(&format!(
            "<dt>Current Time: {}</dt>\n<dt>Restart Time: {}</dt>\n",
            long_time(now),
            long_time(self.restart)
        ));
        out.push_str(&format!(
            "<dt>Parent Server Config. Generation: {}</dt>\n<dt>Parent Server MPM Generation: {}</dt>\n",
            self.reloads + 1,
            self.reloads
        ));
        out.push_str(&format!(
            "<dt>Server uptime: {}</dt>\n<dt>Server load: {:.2} {:.2} {:.2}</dt>\n",
            uptime_words(up),
            load.0,
            load.1,
            load.2
        ));
        out.push_str(&format!(
            "<dt>Total accesses: {} - Total Traffic: {} - Total Duration: {}</dt>\n",
            t.accesses,
            kbytes(t.kbytes),
            t.duration_ms
        ));
        let cpu = t.cpu_centis as f64 / 100.0;
        out.push_str(&format!(
            "<dt>CPU Usage: u{} s{} cu0 cs0",
            apr_g(cpu * 0.4, 6),
            apr_g(cpu * 0.6, 6)
        ));
        if t.cpu_centis > 0 {
            out.push_str(&format!(
                " - {}% CPU load</dt>\n",
                apr_g(cpu / up as f64 * 100.0, 3)
            ));
        }
        let per_sec = t.accesses as f64 / up as f64;
        out.push_str(&format!(
            "<dt>{} requests/sec - {}/second",
            apr_g(per_sec, 3),
            bytes(1024 * t.kbytes / up)
        ));
        if let Some(per_request) = (1024 * t.kbytes).checked_div(t.accesses) {
            out.push_str(&format!(
                " - {}/request - {} ms/request",
                bytes(per_request),
                apr_g(t.duration_ms as f64 / t.accesses as f64, 6)
            ));
        }
        out.push_str(&format!(
            "</dt>\n<dt>1 requests currently being processed, 0 workers gracefully restarting, {} idle workers</dt>\n</dl>\n",
            CHILDREN * THREADS - 1
        ));
    }

    fn process_table(&self, out: &mut String) {
        out.push_str(PROCESS_HEAD);
        for (slot, pid) in self.pids.iter().enumerate() {
            // The asking request is on the first child's threads or the second's.
            out.push_str(&format!(
                "<tr><td>{slot}</td><td>{pid}</td><td>no</td><td>0</td><td>yes</td><td>{}</td><td>0</td><td>{}</td><td>0</td><td>0</td><td>0</td><td>0</td></tr>\n",
                usize::from(slot == 0),
                THREADS - usize::from(slot == 0)
            ));
        }
        out.push_str(&format!(
            "<tr><td>Sum</td><td>{CHILDREN}</td><td>0</td><td>0</td><td>&nbsp;</td><td>1</td><td>0</td><td>{}</td><td>0</td><td>0</td><td>0</td><td>0</td></tr>\n</table>\n",
            CHILDREN * THREADS - 1
        ));
    }

    fn auto(
        &self,
        server: &str,
        load: (f64, f64, f64),
        t: &Totals,
        busy_at: usize,
        asker: &Asker<'_>,
        now: DateTime<Utc>,
    ) -> String {
        let up = (now - self.restart).num_seconds().max(1) as u64;
        let mut s = format!(
            "{}\nServerVersion: {server}\nServerMPM: event\nServer Built: {BUILT}\nCurrentTime: {}\nRestartTime: {}\nParentServerConfigGeneration: {}\nParentServerMPMGeneration: {}\nServerUptimeSeconds: {up}\nServerUptime: {}\nLoad1: {:.2}\nLoad5: {:.2}\nLoad15: {:.2}\n",
            asker.local.ip(),
            long_time(now),
            long_time(self.restart),
            self.reloads + 1,
            self.reloads,
            uptime_words(up).trim_start(),
            load.0,
            load.1,
            load.2
        );
        s.push_str(&format!(
            "Total Accesses: {}\nTotal kBytes: {}\nTotal Duration: {}\nUptime: {up}\nReqPerSec: {}\nBusyWorkers: 1\nGracefulWorkers: 0\nIdleWorkers: {}\nProcesses: {CHILDREN}\nStopping: 0\nConnsTotal: 0\nConnsAsyncWaitIO: 0\nConnsAsyncWriting: 0\nConnsAsyncKeepAlive: 0\nConnsAsyncClosing: 0\nScoreboard: {}\n",
            t.accesses,
            t.kbytes,
            t.duration_ms,
            apr_g(t.accesses as f64 / up as f64, 6),
            CHILDREN * THREADS - 1,
            scoreboard(busy_at)
        ));
        s
    }
}

/// Sums over the threads, as mod_status adds them up.
struct Totals {
    accesses: u64,
    kbytes: u64,
    duration_ms: u64,
    cpu_centis: u64,
}

impl Totals {
    fn of(workers: &[Worker]) -> Totals {
        let accesses: u64 = workers.iter().map(|w| w.accesses).sum();
        let bytes: u64 = workers.iter().map(|w| w.bytes).sum();
        Totals {
            accesses,
            kbytes: bytes / 1024,
            duration_ms: workers.iter().map(|w| w.duration_ms).sum(),
            // One clock tick per few dozen requests: what a light static
            // site costs the children.
            cpu_centis: 1 + accesses / 40,
        }
    }
}

/// Debian's apache2 2.4.x build stamp (`apache2 -V`'s "Server built").
const BUILT: &str = "2026-11-12T08:58:41";

const PROCESS_HEAD: &str = "\n<table rules=\"all\" cellpadding=\"1%\">\n<tr><th rowspan=\"2\">Slot</th><th rowspan=\"2\">PID</th><th rowspan=\"2\">Stopping</th><th colspan=\"2\">Connections</th>\n<th colspan=\"3\">Threads</th><th colspan=\"4\">Async connections</th></tr>\n<tr><th>total</th><th>accepting</th><th>busy</th><th>graceful</th><th>idle</th><th>wait-io</th><th>writing</th><th>keep-alive</th><th>closing</th></tr>\n";

const KEY: &str = "<p>Scoreboard Key:<br />\n\"<b><code>_</code></b>\" Waiting for Connection, \n\"<b><code>S</code></b>\" Starting up, \n\"<b><code>R</code></b>\" Reading Request,<br />\n\"<b><code>W</code></b>\" Sending Reply, \n\"<b><code>K</code></b>\" Keepalive (read), \n\"<b><code>D</code></b>\" DNS Lookup,<br />\n\"<b><code>C</code></b>\" Closing connection, \n\"<b><code>L</code></b>\" Logging, \n\"<b><code>G</code></b>\" Gracefully finishing,<br /> \n\"<b><code>I</code></b>\" Idle cleanup of worker, \n\"<b><code>.</code></b>\" Open slot with no current process<br />\n</p>\n";

const ROWS_HEAD: &str = "\n\n<table border=\"0\"><tr><th>Srv</th><th>PID</th><th>Acc</th><th>M</th><th>CPU\n</th><th>SS</th><th>Req</th><th>Dur</th><th>Conn</th><th>Child</th><th>Slot</th><th>Client</th><th>Protocol</th><th>VHost</th><th>Request</th></tr>\n\n";

const LEGEND: &str = " <hr /> <table>\n <tr><th>Srv</th><td>Child Server number - generation</td></tr>\n <tr><th>PID</th><td>OS process ID</td></tr>\n <tr><th>Acc</th><td>Number of accesses this connection / this child / this slot</td></tr>\n <tr><th>M</th><td>Mode of operation</td></tr>\n<tr><th>CPU</th><td>CPU usage, number of seconds</td></tr>\n<tr><th>SS</th><td>Seconds since beginning of most recent request</td></tr>\n <tr><th>Req</th><td>Milliseconds required to process most recent request</td></tr>\n <tr><th>Dur</th><td>Sum of milliseconds required to process all requests</td></tr>\n <tr><th>Conn</th><td>Kilobytes transferred this connection</td></tr>\n <tr><th>Child</th><td>Megabytes transferred this child</td></tr>\n <tr><th>Slot</th><td>Total megabytes transferred this slot</td></tr>\n </table>\n<hr />\n";

/// The scoreboard string: `_` idle, `W` the asking request, `.` slots
/// with no process.
fn scoreboard(busy_at: usize) -> String {
    (0..SLOTS * THREADS)
        .map(|i| match i {
            i if i == busy_at => 'W',
            i if i < CHILDREN * THREADS => '_',
            _ => '.',
        })
        .collect()
}

fn scoreboard_pre(busy_at: usize) -> String {
    let board = scoreboard(busy_at);
    let lines: Vec<&str> = board
        .as_bytes()
        .chunks(SCOREBOARD_LINE)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    format!("<pre>{}</pre>\n", lines.join("\n"))
}

fn worker_rows(
    out: &mut String,
    workers: &[Worker],
    busy_at: usize,
    pids: &[u32; CHILDREN],
    generation: u32,
    asker: &Asker<'_>,
) {
    out.push_str(ROWS_HEAD);
    for (i, w) in workers.iter().enumerate() {
        let child = i / THREADS;
        let busy = i == busy_at;
        if w.accesses == 0 && !busy {
            continue;
        }
        let (acc, mode, ss, client, vhost, request) = if busy {
            (
                "1/0/0".to_owned(),
                "<b>W</b>".to_owned(),
                0,
                asker.peer.ip().to_string(),
                asker.vhost.to_owned(),
                asker.request_line.to_owned(),
            )
        } else {
            (
                format!("0/{}/{}", w.accesses, w.accesses),
                "_".to_owned(),
                w.last_at.map_or(0, |t| t.elapsed().as_secs()),
                w.client.map(|c| c.to_string()).unwrap_or_default(),
                w.vhost
                    .map(|(ip, port)| format!("{ip}:{port}"))
                    .unwrap_or_default(),
                w.request.clone(),
            )
        };
        let mb = |b: u64| format!("{:.2}", b as f64 / 1_048_576.0);
        out.push_str(&format!(
            "<tr><td><b>{child}-{generation}</b></td><td>{}</td><td>{acc}</td><td>{mode}\n</td><td>0.00</td><td>{ss}</td><td>{}</td><td>{}</td><td>0.0</td><td>{}</td><td>{}\n</td><td>{}</td><td>http/1.1</td><td nowrap>{}</td><td nowrap>{}</td></tr>\n\n",
            pids[child],
            w.last_ms,
            w.duration_ms,
            mb(w.bytes),
            mb(w.bytes),
            html_escape(&client),
            html_escape(&vhost),
            html_escape(&request),
        ));
    }
    out.push_str("</table>\n");
}

/// `Monday, 07-Dec-2026 16:56:51 UTC` (Apache's DEFAULT_TIME_FORMAT).
fn long_time(t: DateTime<Utc>) -> String {
    t.format("%A, %d-%b-%Y %H:%M:%S UTC").to_string()
}

/// mod_status' `show_time`: ` 3 days 2 hours 5 minutes 1 second`.
fn uptime_words(secs: u64) -> String {
    let parts = [
        (secs / 86_400, "day"),
        (secs / 3_600 % 24, "hour"),
        (secs / 60 % 60, "minute"),
        (secs % 60, "second"),
    ];
    let mut out = String::new();
    for (n, unit) in parts {
        if n > 0 {
            out.push_str(&format!(" {n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    }
    out
}

/// `format_byte_out`.
fn bytes(b: u64) -> String {
    let b = b as f64;
    if b < 5120.0 {
        format!("{} B", b as u64)
    } else if b < 5.0 * 1_048_576.0 {
        format!("{:.1} kB", b / 1024.0)
    } else if b < 5.0 * 1_073_741_824.0 {
        format!("{:.1} MB", b / 1_048_576.0)
    } else {
        format!("{:.1} GB", b / 1_073_741_824.0)
    }
}

/// `format_kbyte_out`.
fn kbytes(kb: u64) -> String {
    let k = kb as f64;
    if k < 5120.0 {
        format!("{kb} kB")
    } else if k < 5.0 * 1_048_576.0 {
        format!("{:.1} MB", k / 1024.0)
    } else {
        format!("{:.1} GB", k / 1_048_576.0)
    }
}

/// C's `%.<prec>g` as APR's formatter prints it: no leading zero before
/// the point (`.05`), trailing zeros dropped.
fn apr_g(x: f64, prec: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".to_owned();
    }
    let exp = x.abs().log10().floor() as i32;
    let s = if exp < -4 || exp >= prec as i32 {
        let mant = format!("{:.*e}", prec.saturating_sub(1), x);
        let (m, e) = mant.split_once('e').unwrap_or((&mant, "0"));
        let m = trim_zeros(m);
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{x:.decimals$}"))
    };
    match s.strip_prefix("0.") {
        Some(rest) => format!(".{rest}"),
        None => s,
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_apr_does() {
        // Figures read off Debian 12's Apache 2.4 status pages.
        assert_eq!(apr_g(0.01, 6), ".01");
        assert_eq!(apr_g(0.0714285, 3), ".0714");
        assert_eq!(apr_g(1.0, 3), "1");
        assert_eq!(apr_g(1.25, 3), "1.25");
        assert_eq!(apr_g(0.666_666_7, 6), ".666667");
        assert_eq!(apr_g(0.0, 3), "0");
        assert_eq!(bytes(3584), "3584 B");
        assert_eq!(bytes(6348), "6.2 kB");
        assert_eq!(kbytes(140), "140 kB");
        assert_eq!(uptime_words(40), " 40 seconds");
        assert_eq!(
            uptime_words(86_400 + 3_661),
            " 1 day 1 hour 1 minute 1 second"
        );
    }

    #[test]
    fn local_means_loopback_or_the_servers_own_address() {
        let own: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(is_local("127.0.0.1".parse().unwrap(), own));
        assert!(is_local("::1".parse().unwrap(), own));
        assert!(is_local("10.0.0.5".parse().unwrap(), own));
        assert!(is_local("::ffff:10.0.0.5".parse().unwrap(), own));
        assert!(!is_local("10.0.0.6".parse().unwrap(), own));
        assert!(!is_local("192.0.2.1".parse().unwrap(), own));
    }

    #[test]
    fn page_shows_served_requests_and_the_asking_one() {
        let seed = decnet_core::DeckySeed::new("web", 0);
        let boot = Utc::now() - chrono::Duration::days(3) - chrono::Duration::minutes(1);
        let board = Scoreboard::new(boot, &seed);
        board.record(
            "192.0.2.7".parse().unwrap(),
            ("10.0.0.5".parse().unwrap(), 80),
            "GET /<x> HTTP/1.1",
            3000,
        );
        let asker = Asker {
            host: "10.0.0.5",
            port: 80,
            peer: "127.0.0.1:4000".parse().unwrap(),
            local: "10.0.0.5:80".parse().unwrap(),
            vhost: "10.0.0.5:80",
            request_line: "GET /server-status HTTP/1.1",
            query: "",
        };
        let page = board.page("Apache/2.4.62 (Debian)", (0.1, 0.2, 0.3), &asker);
        assert!(page.contains("<h1>Apache Server Status for 10.0.0.5 (via 10.0.0.5)</h1>"));
        assert!(page.contains("<dt>Server uptime:  3 days"), "{page}");
        assert!(page.contains("<dt>Parent Server Config. Generation: 4</dt>"));
        assert!(page.contains("<dt>Total accesses: 1 - Total Traffic: 2 kB"));
        assert!(page.contains("<td>192.0.2.7</td>") && page.contains("GET /&lt;x&gt; HTTP/1.1"));
        assert!(page.contains("<td nowrap>GET /server-status HTTP/1.1</td>"));
        assert!(page.contains("<pre>_W____"), "{page}");
        assert!(page.ends_with("Server at 10.0.0.5 Port 80</address>\n</body></html>\n"));
        let auto = board.page(
            "Apache/2.4.62 (Debian)",
            (0.1, 0.2, 0.3),
            &Asker {
                query: "auto",
                ..asker
            },
        );
        assert!(auto.starts_with("10.0.0.5\nServerVersion: Apache/2.4.62 (Debian)\n"));
        assert!(auto.contains("\nTotal Accesses: 1\n") && auto.contains("\nProcesses: 2\n"));
    }
}
