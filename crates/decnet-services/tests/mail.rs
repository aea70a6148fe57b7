//! smtp / smtp_relay / pop3 / imap driven by lettre and by raw protocol
//! clients (with rustls for STARTTLS): credentials, relay policy, stored
//! messages, mailbox listing, TLS fingerprints, oversize input.
#![allow(clippy::unwrap_used)]

mod webmail_util;

use std::time::Duration;

use base64::Engine;
use decnet_core::EventKind;
use decnet_services::Limits;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::net::TcpStream;
use webmail_util::{insecure_tls, s, Client, Env};

/// mail1 is a stock Debian Dovecot (no passwords before TLS) beside a
/// Postfix with SASL turned on; mail2 is a stock Postfix (no SASL) beside
/// a Dovecot that takes passwords in clear (`disable_plaintext_auth = no`).
const INI: &str = "[general]\nnet = 127.0.62.0/24\n\n[mail1]\nip = 127.0.62.20\nservices = smtp, pop3, imap\ndistro = debian\n[mail1.smtp]\nauth = true\n\n[relay1]\nip = 127.0.62.21\nservices = smtp_relay\ndistro = ubuntu22\n\n[mail2]\nip = 127.0.62.22\nservices = smtp, pop3, imap\ndistro = rocky9\n[mail2.pop3]\nplaintext_auth = true\n[mail2.imap]\nplaintext_auth = true\n";

fn limits() -> Limits {
    Limits {
        auth_fail_delay: Duration::from_millis(10),
        max_line: 2048,
        ..Limits::default()
    }
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn smtp_auth_relay_policy_and_stored_mail() {
    let mut env = Env::start(INI, 20300, limits()).await;
    let addr = env.addr("127.0.62.20", 25);

    // lettre: AUTH PLAIN with the decky's login, then a message to a foreign domain.
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.62.20")
        .port(addr.port())
        .credentials(Credentials::new("root".into(), "admin".into()))
        .authentication(vec![Mechanism::Plain])
        .build();
    let msg = Message::builder()
        .from("Root <root@example.org>".parse::<Mailbox>().unwrap())
        .to("Victim <victim@faraway.example>"
            .parse::<Mailbox>()
            .unwrap())
        .subject("invoice 4471")
        .body(String::from("please pay\n.leading dot line\n"))
        .unwrap();
    let resp = mailer.send(msg).await.expect("lettre send");
    assert!(resp.is_positive());
    let auth = env
        .wait_kind("smtp", EventKind::AuthAttempt, |e| {
            s(e, "username") == "root"
        })
        .await;
    assert_eq!(s(&auth, "password"), "admin");
    assert_eq!(auth.fields["success"], true);
    assert_eq!(s(&auth, "method"), "plain");
    let up = env.wait_kind("smtp", EventKind::FileUpload, |_| true).await;
    assert_eq!(s(&up, "mail_from"), "root@example.org");
    assert_eq!(up.fields["rcpt_to"][0], "victim@faraway.example");
    let stored = std::fs::read(env.dir.path().join("artifacts").join(s(&up, "sha256"))).unwrap();
    let text = String::from_utf8_lossy(&stored);
    assert!(text.contains("Subject: invoice 4471"), "{text}");
    assert!(
        text.contains("\r\n.leading dot line\r\n"),
        "dot-unstuffed: {text}"
    );

    // Raw: relay without auth (this client is loopback, which Debian's
    // `mynetworks` trusts; the decision for remote clients is
    // `in_mynetworks`' unit test), failed AUTH LOGIN captured, oversize line.
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    let banner = c.line().await;
    assert!(
        banner.starts_with("220 ") && banner.contains("ESMTP Postfix"),
        "{banner}"
    );
    assert!(!banner.to_lowercase().contains("decnet") && !banner.contains("mail1"));
    c.send("EHLO attacker.example\r\n").await;
    let ehlo = c.until("250 ").await.concat();
    assert!(
        ehlo.contains("250-STARTTLS") && ehlo.contains("AUTH PLAIN LOGIN"),
        "{ehlo}"
    );
    assert!(c.cmd("MAIL FROM:<spam@x.example>").await.starts_with("250"));
    let r = c.cmd("RCPT TO:<someone@gmail.example>").await;
    assert!(r.starts_with("250 2.1.5"), "loopback relays: {r}");
    // The relay attempt is reported all the same.
    let relay = env
        .wait_kind("smtp", EventKind::Request, |e| {
            s(e, "request") == "relay_trusted"
        })
        .await;
    assert_eq!(s(&relay, "rcpt_to"), "someone@gmail.example");
    assert!(c.cmd("RSET").await.starts_with("250"));
    assert!(c.cmd("AUTH LOGIN").await.starts_with("334 VXNlcm5hbWU6"));
    assert!(c.cmd(&b64(b"admin")).await.starts_with("334 UGFzc3dvcmQ6"));
    assert!(c.cmd(&b64(b"letmein")).await.starts_with("535 5.7.8"));
    let bad = env
        .wait_kind("smtp", EventKind::AuthAttempt, |e| {
            s(e, "username") == "admin"
        })
        .await;
    assert_eq!(s(&bad, "password"), "letmein");
    assert_eq!(bad.fields["success"], false);
    let r = c.cmd(&"A".repeat(5000)).await;
    assert!(r.starts_with("500 5.5.2"), "{r}");
    env.wait_kind("smtp", EventKind::Error, |e| {
        s(e, "error").contains("longer than")
    })
    .await;
    assert!(c.cmd("QUIT").await.starts_with("221"));

    // STARTTLS: handshake, fingerprint, and AUTH inside TLS.
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.line().await;
    c.send("EHLO tls.example\r\n").await;
    c.until("250 ").await;
    assert!(c.cmd("STARTTLS").await.starts_with("220 2.0.0"));
    let tls = insecure_tls()
        .connect("mail.example".try_into().unwrap(), c.into_inner())
        .await
        .expect("tls handshake");
    let mut c = Client::new(tls);
    c.send("EHLO tls.example\r\n").await;
    let ehlo = c.until("250 ").await.concat();
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    let r = c
        .cmd(&format!("AUTH PLAIN {}", b64(b"\0ubuntu\0admin")))
        .await;
    assert!(r.starts_with("235"), "{r}");
    let ev = env
        .wait_kind("smtp", EventKind::AuthAttempt, |e| {
            s(e, "username") == "ubuntu"
        })
        .await;
    assert_eq!(s(&ev, "ja3").len(), 32, "{ev:?}");
    assert!(s(&ev, "ja4").starts_with("t13d"), "{ev:?}");
    env.stop().await;
}

/// A stock Postfix: no SASL (the login sent anyway is recorded), its own
/// error wording, no HELO needed, and HTTP clients and junk shown the door.
#[tokio::test]
async fn stock_postfix_refuses_auth_and_drops_http_clients() {
    let mut env = Env::start(INI, 20350, limits()).await;
    let addr = env.addr("127.0.62.22", 25);
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    assert!(c.line().await.ends_with(" ESMTP Postfix\r\n"));
    assert_eq!(c.cmd("MAIL FROM:<a@b.example>").await, "250 2.1.0 Ok\r\n");
    assert_eq!(
        c.cmd("DATA").await,
        "554 5.5.1 Error: no valid recipients\r\n"
    );
    c.send("EHLO x.example\r\n").await;
    let ehlo = c.until("250 ").await.concat();
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert!(ehlo.contains("250-SIZE 10240000\r\n"), "{ehlo}");
    assert!(
        ehlo.ends_with("250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
        "{ehlo}"
    );
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", b64(b"\0henry\0sesame")))
            .await,
        "503 5.5.1 Error: authentication not enabled\r\n"
    );
    let ev = env
        .wait_kind("smtp", EventKind::AuthAttempt, |e| {
            s(e, "username") == "henry"
        })
        .await;
    assert_eq!(s(&ev, "password"), "sesame");
    assert_eq!(
        c.cmd("FOO bar").await,
        "500 5.5.2 Error: command not recognized\r\n"
    );
    assert_eq!(c.cmd("").await, "500 5.5.2 Error: bad syntax\r\n");
    assert_eq!(
        c.cmd("MAIL FROM:garbage<<").await,
        "501 5.1.7 Bad sender address syntax\r\n"
    );
    assert_eq!(
        c.cmd("GET / HTTP/1.0").await,
        "221 2.7.0 Error: I can break rules, too. Goodbye.\r\n"
    );
    assert_eq!(c.line().await, "", "closed");
    // A header line (a SIP or pasted mail header) is dropped the same way.
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.line().await;
    let r = c.cmd("Via: SIP/2.0/TCP nm;branch=foo").await;
    assert!(r.starts_with("221 2.7.0 Error: I can break rules"), "{r}");
    assert!(c.closed_soon().await);
    env.stop().await;
}

#[tokio::test]
async fn smtp_relay_accepts_foreign_recipients() {
    let mut env = Env::start(INI, 20400, limits()).await;
    let addr = env.addr("127.0.62.21", 25);
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    assert!(c.line().await.contains("ESMTP Postfix (Ubuntu)"));
    assert!(c.cmd("HELO spammer").await.starts_with("250 "));
    assert!(c.cmd("MAIL FROM:<a@b.example>").await.starts_with("250"));
    assert!(c
        .cmd("RCPT TO:<x@one.example>")
        .await
        .starts_with("250 2.1.5"));
    assert!(c
        .cmd("RCPT TO:<y@two.example>")
        .await
        .starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    let r = c.cmd("Subject: hi\r\n\r\nbody\r\n.").await;
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    let up = env
        .wait_kind("smtp_relay", EventKind::FileUpload, |_| true)
        .await;
    assert_eq!(up.fields["relay"], true);
    assert_eq!(up.fields["rcpt_to"].as_array().unwrap().len(), 2);
    // Binary garbage: an error event and Postfix's UTF-8 refusal, no crash.
    c.send_bytes(b"\x00\x01\x02\xff\xfe\r\n").await;
    assert_eq!(c.line().await, "500 5.5.2 Error: bad UTF-8 syntax\r\n");
    env.wait_kind("smtp_relay", EventKind::Error, |e| {
        s(e, "error").contains("binary")
    })
    .await;
    assert!(c.cmd("QUIT").await.starts_with("221"));
    env.stop().await;
}

#[tokio::test]
async fn pop3_logins_mailbox_and_stls() {
    let mut env = Env::start(INI, 20500, limits()).await;
    let addr = env.addr("127.0.62.22", 110);
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    assert_eq!(c.line().await, "+OK Dovecot ready.\r\n");
    c.send("CAPA\r\n").await;
    let capa = c.until(".\r\n").await.concat();
    assert!(
        capa.contains("STLS") && capa.contains("SASL PLAIN LOGIN"),
        "{capa}"
    );
    assert!(c.cmd("USER admin").await.starts_with("+OK"));
    assert!(c.cmd("PASS wrong pass").await.starts_with("-ERR [AUTH]"));
    let ev = env
        .wait_kind("pop3", EventKind::AuthAttempt, |e| {
            s(e, "username") == "admin"
        })
        .await;
    assert_eq!(s(&ev, "password"), "wrong pass");
    assert!(c.cmd("STAT").await.starts_with("-ERR"));
    assert!(c.cmd("USER root").await.starts_with("+OK"));
    assert_eq!(c.cmd("PASS admin").await, "+OK Logged in.\r\n");
    let stat = c.cmd("STAT").await;
    let n: usize = stat.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(n >= 2, "{stat}");
    c.send("LIST\r\n").await;
    assert_eq!(c.until(".\r\n").await.len(), n + 2);
    c.send("RETR 1\r\n").await;
    let msg = c.until(".\r\n").await.concat();
    assert!(msg.contains("Subject: ") && msg.contains("From: "), "{msg}");
    assert!(c.cmd("QUIT").await.starts_with("+OK Logging out"));

    // STLS, then AUTH PLAIN inside TLS.
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.line().await;
    assert!(c.cmd("STLS").await.starts_with("+OK Begin TLS"));
    let tls = insecure_tls()
        .connect("pop.example".try_into().unwrap(), c.into_inner())
        .await
        .expect("tls");
    let mut c = Client::new(tls);
    assert!(c
        .cmd(&format!("AUTH PLAIN {}", b64(b"\0carol\0pw1")))
        .await
        .starts_with("-ERR [AUTH]"));
    let ev = env
        .wait_kind("pop3", EventKind::AuthAttempt, |e| {
            s(e, "username") == "carol"
        })
        .await;
    assert_eq!(s(&ev, "password"), "pw1");
    assert_eq!(s(&ev, "ja3").len(), 32);
    env.stop().await;
}

#[tokio::test]
async fn imap_login_literals_folders_and_starttls() {
    let mut env = Env::start(INI, 20600, limits()).await;
    let addr = env.addr("127.0.62.22", 143);
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    let greet = c.line().await;
    assert!(
        greet.starts_with("* OK [CAPABILITY IMAP4rev1")
            && greet.contains("STARTTLS AUTH=PLAIN AUTH=LOGIN"),
        "{greet}"
    );
    assert!(greet.ends_with("] Dovecot ready.\r\n"));
    let r = c.cmd("a1 LOGIN \"dave\" \"pa ss\"").await;
    assert!(r.starts_with("a1 NO [AUTHENTICATIONFAILED]"), "{r}");
    let ev = env
        .wait_kind("imap", EventKind::AuthAttempt, |e| {
            s(e, "username") == "dave"
        })
        .await;
    assert_eq!(s(&ev, "password"), "pa ss");
    // Synchronising literal for the username.
    assert!(c.cmd("a2 LOGIN {4}").await.starts_with("+ "));
    let r = c.cmd("root \"admin\"").await;
    assert!(r.starts_with("a2 OK"), "{r}");
    c.send("a3 LIST \"\" \"*\"\r\n").await;
    let list = c.until("a3 ").await.concat();
    assert!(list.contains("INBOX") && list.contains("\\Sent"), "{list}");
    c.send("a4 SELECT INBOX\r\n").await;
    let sel = c.until("a4 ").await.concat();
    assert!(
        sel.contains(" EXISTS") && sel.contains("a4 OK [READ-WRITE]"),
        "{sel}"
    );
    c.send("a5 FETCH 1 (FLAGS BODY.PEEK[])\r\n").await;
    let f = c.until("a5 ").await.concat();
    assert!(f.contains("* 1 FETCH") && f.contains("Subject: "), "{f}");
    c.send("a7 LOGOUT\r\n").await;
    assert!(c.until("a7 ").await.concat().contains("a7 OK"));

    // STARTTLS then AUTHENTICATE PLAIN with an initial response.
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.line().await;
    assert!(c.cmd("t1 STARTTLS").await.starts_with("t1 OK"));
    let tls = insecure_tls()
        .connect("imap.example".try_into().unwrap(), c.into_inner())
        .await
        .expect("tls");
    let mut c = Client::new(tls);
    let r = c
        .cmd(&format!(
            "t2 AUTHENTICATE PLAIN {}",
            b64(b"\0erin\0secret9")
        ))
        .await;
    assert!(r.starts_with("t2 NO"), "{r}");
    let ev = env
        .wait_kind("imap", EventKind::AuthAttempt, |e| {
            s(e, "username") == "erin"
        })
        .await;
    assert_eq!(s(&ev, "password"), "secret9");
    assert!(s(&ev, "ja4").starts_with("t13"), "{ev:?}");
    env.stop().await;
}

/// A stock Debian Dovecot: `(Debian)` greetings, no passwords before TLS
/// (the ones sent anyway are recorded), three bad commands before the
/// login process hangs up, and an overlong line ends the connection.
#[tokio::test]
async fn debian_dovecot_refuses_plaintext_but_records_it() {
    let mut env = Env::start(INI, 20550, limits()).await;
    let imap = env.addr("127.0.62.20", 143);
    let mut c = Client::new(TcpStream::connect(imap).await.unwrap());
    let greet = c.line().await;
    assert!(
        greet.ends_with("STARTTLS LOGINDISABLED] Dovecot (Debian) ready.\r\n"),
        "{greet}"
    );
    c.send("a1 LOGIN frank hunter2\r\n").await;
    assert!(c.line().await.starts_with("* BAD [ALERT] Plaintext"));
    assert!(c.line().await.starts_with("a1 NO [PRIVACYREQUIRED]"));
    let ev = env
        .wait_kind("imap", EventKind::AuthAttempt, |e| {
            s(e, "username") == "frank"
        })
        .await;
    assert_eq!(s(&ev, "password"), "hunter2");
    assert_eq!(
        c.cmd("a2 SELECT INBOX").await,
        "a2 BAD Error in IMAP command received by server.\r\n"
    );
    assert_eq!(
        c.cmd("\u{1}\u{2} FROB").await,
        "* BAD Error in IMAP command received by server.\r\n"
    );
    assert_eq!(
        c.cmd("a3 FROB").await,
        "* BYE Too many invalid IMAP commands.\r\n"
    );
    assert_eq!(c.line().await, "", "closed after the third bad command");

    let mut c = Client::new(TcpStream::connect(imap).await.unwrap());
    c.line().await;
    assert_eq!(
        c.cmd(&format!("a6 {}", "X".repeat(4000))).await,
        "* BYE Input buffer full, aborting\r\n"
    );
    assert!(c.closed_soon().await, "closed after the overlong line");
    env.wait_kind("imap", EventKind::Error, |e| {
        s(e, "error").contains("longer than")
    })
    .await;

    let pop = env.addr("127.0.62.20", 110);
    let mut c = Client::new(TcpStream::connect(pop).await.unwrap());
    assert_eq!(c.line().await, "+OK Dovecot (Debian) ready.\r\n");
    c.send("CAPA\r\n").await;
    let capa = c.until(".\r\n").await.concat();
    assert!(capa.ends_with("STLS\r\nSASL\r\n.\r\n"), "{capa}");
    let refused =
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n";
    assert_eq!(c.cmd("USER grace").await, refused);
    assert_eq!(c.cmd("PASS letmein").await, refused);
    let ev = env
        .wait_kind("pop3", EventKind::AuthAttempt, |e| {
            s(e, "username") == "grace"
        })
        .await;
    assert_eq!(s(&ev, "password"), "letmein");
    assert_eq!(c.cmd("APOP grace 0123").await, "-ERR APOP not enabled.\r\n");
    assert_eq!(c.cmd("FROB").await, "-ERR Unknown command.\r\n");
    assert_eq!(c.cmd("QUIT").await, "+OK Logging out\r\n");

    let mut c = Client::new(TcpStream::connect(pop).await.unwrap());
    c.line().await;
    for _ in 0..2 {
        assert_eq!(c.cmd("FROB").await, "-ERR Unknown command.\r\n");
    }
    assert_eq!(c.cmd("FROB").await, "-ERR Unknown command.\r\n");
    assert_eq!(c.line().await, "-ERR Too many invalid bad commands.\r\n");
    assert_eq!(c.line().await, "", "closed after the third bad command");
    env.stop().await;
}

/// imap-login judges the tag and command name as they arrive: a binary
/// probe with no newline is answered at once and the rest of its line is
/// skipped; parser errors are named and not counted; a login process's
/// full input buffer (about 1 KiB) ends the connection without a newline.
#[tokio::test]
async fn dovecot_login_judges_lines_before_their_end() {
    let env = Env::start(INI, 20450, limits()).await;
    let imap = env.addr("127.0.62.20", 143);
    let mut c = Client::new(TcpStream::connect(imap).await.unwrap());
    c.line().await;
    c.send_bytes(b"JRMI\x00\x02K").await;
    assert_eq!(
        c.line().await,
        "* BAD Error in IMAP command received by server.\r\n"
    );
    // The rest of that line is skipped; the next one is read as usual.
    c.send("junk\r\na1 LOGIN \"open\r\n").await;
    assert_eq!(c.line().await, "a1 BAD Missing '\"'\r\n");
    c.send_bytes(b"a2 NO\x01").await;
    assert_eq!(
        c.line().await,
        "a2 BAD Error in IMAP command received by server.\r\n"
    );
    c.send("\r\n\r\n").await;
    assert_eq!(c.line().await, "* BYE Too many invalid IMAP commands.\r\n");
    assert_eq!(c.line().await, "", "closed after the third bad command");

    let pop = env.addr("127.0.62.20", 110);
    let mut c = Client::new(TcpStream::connect(pop).await.unwrap());
    c.line().await;
    c.send(&format!("USER {}", "x".repeat(1100))).await;
    assert_eq!(c.line().await, "-ERR Input buffer full, aborting\r\n");
    assert!(c.closed_soon().await, "closed without a newline");
    env.stop().await;
}

#[tokio::test]
async fn idle_mail_sessions_get_the_protocol_timeout_reply() {
    let l = Limits {
        idle_timeout: Duration::from_millis(500),
        ..limits()
    };
    let mut env = Env::start(INI, 20650, l).await;
    let mut c = Client::new(
        TcpStream::connect(env.addr("127.0.62.20", 25))
            .await
            .unwrap(),
    );
    c.line().await;
    let r = c.line().await;
    assert!(
        r.starts_with("421 4.4.2") && r.contains("timeout exceeded"),
        "{r}"
    );
    env.wait_kind("smtp", EventKind::Error, |e| {
        s(e, "error") == "idle timeout"
    })
    .await;
    let mut c = Client::new(
        TcpStream::connect(env.addr("127.0.62.20", 143))
            .await
            .unwrap(),
    );
    c.line().await;
    c.send("a1 NOOP\r\n").await;
    assert!(c.line().await.starts_with("a1 OK"));
    assert!(c
        .line()
        .await
        .starts_with("* BYE Disconnected for inactivity"));
    env.stop().await;
}

/// The mailbox is the decky's Maildir, which fills as its clock runs: an
/// IMAP client that selects INBOX again an office hour later finds the
/// new message, and POP3 and the Maildir on disk agree with it.
#[tokio::test]
async fn imap_finds_new_mail_an_hour_of_simulated_time_later() {
    use chrono::TimeZone;
    // A Monday, 13:00: the office is at its busiest for the next hour.
    let start = chrono::Utc.with_ymd_and_hms(2030, 1, 7, 13, 0, 0).unwrap();
    let clock = std::sync::Arc::new(decnet_core::clock::ManualClock::new(start));
    let env = Env::start_with(INI, 20900, limits(), |fleet| {
        fleet.set_content(decnet_services::ContentCtx {
            clock: clock.clone(),
            lived: true,
            llm: None,
        })
    })
    .await;
    // mail2 takes passwords in clear (Debian's Dovecot, mail1, does not).
    let addr = env.addr("127.0.62.22", 143);
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.line().await;
    assert!(c.cmd("a1 LOGIN root admin").await.starts_with("a1 OK"));
    let exists = |sel: &str| -> usize {
        let line = sel.lines().find(|l| l.ends_with(" EXISTS")).unwrap();
        line.split(' ').nth(1).unwrap().parse().unwrap()
    };
    c.send("a2 SELECT INBOX\r\n").await;
    let before = exists(&c.until("a2 ").await.concat());
    assert!(before > 0, "a week of mail before the start");
    clock.advance(Duration::from_secs(3600));
    c.send("a3 SELECT INBOX\r\n").await;
    let after = exists(&c.until("a3 ").await.concat());
    assert!(after > before, "{before} -> {after}");
    c.send(&format!("a4 FETCH {after} (BODY.PEEK[])\r\n")).await;
    let newest = c.until("a4 ").await.concat();
    let date = newest.lines().find(|l| l.starts_with("Date: ")).unwrap();
    let when = chrono::DateTime::parse_from_rfc2822(date[6..].trim()).unwrap();
    assert!(
        when >= start && when <= start + chrono::Duration::hours(1),
        "{date}"
    );
    // POP3 serves the same mailbox.
    let mut p = Client::new(
        TcpStream::connect(env.addr("127.0.62.22", 110))
            .await
            .unwrap(),
    );
    p.line().await;
    p.cmd("USER root").await;
    assert!(p.cmd("PASS admin").await.starts_with("+OK"));
    let stat = p.cmd("STAT").await;
    assert!(stat.starts_with(&format!("+OK {after} ")), "{stat}");
    env.stop().await;
}
