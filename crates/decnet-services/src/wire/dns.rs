//! DNS messages (RFC 1035): header, questions with compressed names
//! (pointer loops and lengths bounded), and answer encoding.

use super::{Cursor, WResult, WireError};

/// Largest message over TCP we accept.
pub const MAX_TCP: usize = 16 * 1024;

/// A decoded query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Transaction id.
    pub id: u16,
    /// Flags word.
    pub flags: u16,
    /// Question name, lower-cased, without the trailing dot.
    pub name: String,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// Raw question section (echoed in the answer).
    pub question: Vec<u8>,
    /// The query's EDNS OPT record, if it had one.
    pub edns: Option<Edns>,
}

/// What a query's OPT pseudo-record (RFC 6891) asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edns {
    /// Advertised UDP payload size.
    pub udp_size: u16,
    /// EDNS version.
    pub version: u8,
    /// The DO (DNSSEC OK) flag.
    pub dnssec_ok: bool,
    /// The client part of a DNS COOKIE option (RFC 7873), 8 bytes.
    pub client_cookie: Option<Vec<u8>>,
}

/// RR type of the OPT pseudo-record.
pub const OPT: u16 = 41;

/// Finds the OPT record among the additional records that follow the
/// question (`ar` of them), for a query without answer/authority records.
fn parse_edns(msg: &[u8], mut pos: usize, ar: u16) -> Option<Edns> {
    for _ in 0..ar.min(8) {
        let (_, after) = read_name(msg, pos).ok()?;
        let mut c = Cursor::new(msg.get(after..)?);
        let (rtype, class, ttl, rdlen) = (
            c.u16be().ok()?,
            c.u16be().ok()?,
            c.u32be().ok()?,
            c.u16be().ok()?,
        );
        let rdata = c.take(rdlen as usize).ok()?;
        pos = after + 10 + rdlen as usize;
        if rtype != OPT {
            continue;
        }
        let mut opts = Cursor::new(rdata);
        let mut client_cookie = None;
        while let (Ok(code), Ok(len)) = (opts.u16be(), opts.u16be()) {
            let Ok(data) = opts.take(len as usize) else {
                break;
            };
            if code == 10 && data.len() >= 8 {
                client_cookie = Some(data[..8].to_vec());
            }
        }
        return Some(Edns {
            udp_size: class,
            version: (ttl >> 16) as u8,
            dnssec_ok: ttl & 0x8000 != 0,
            client_cookie,
        });
    }
    None
}

/// Appends an OPT record (`rdata` its options) to an encoded response and
/// counts it in ARCOUNT; `ext_rcode` is the upper 8 bits of the rcode.
pub fn append_opt(resp: &mut Vec<u8>, udp_size: u16, ext_rcode: u8, dnssec_ok: bool, rdata: &[u8]) {
    if resp.len() < 12 {
        return;
    }
    resp.push(0);
    resp.extend_from_slice(&OPT.to_be_bytes());
    resp.extend_from_slice(&udp_size.to_be_bytes());
    let ttl = (ext_rcode as u32) << 24 | if dnssec_ok { 0x8000 } else { 0 };
    resp.extend_from_slice(&ttl.to_be_bytes());
    resp.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    resp.extend_from_slice(rdata);
    let ar = u16::from_be_bytes([resp[10], resp[11]]).saturating_add(1);
    resp[10..12].copy_from_slice(&ar.to_be_bytes());
}

/// Reads a (possibly compressed) name starting at `pos` of `msg`; returns
/// the name and the offset just after it in the original position.
pub fn read_name(msg: &[u8], mut pos: usize) -> WResult<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg
            .get(pos)
            .ok_or_else(|| WireError::new("name past end"))? as usize;
        match len {
            0 => {
                pos += 1;
                break;
            }
            l if l & 0xc0 == 0xc0 => {
                let lo = *msg
                    .get(pos + 1)
                    .ok_or_else(|| WireError::new("pointer past end"))?
                    as usize;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                jumps += 1;
                if jumps > 32 {
                    return Err(WireError::new("compression loop"));
                }
                pos = ((l & 0x3f) << 8) | lo;
            }
            l if l & 0xc0 != 0 => return Err(WireError::new("bad label type")),
            l => {
                let label = msg
                    .get(pos + 1..pos + 1 + l)
                    .ok_or_else(|| WireError::new("label past end"))?;
                if !name.is_empty() {
                    name.push('.');
                }
                for &b in label {
                    if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                        name.push(b.to_ascii_lowercase() as char);
                    } else {
                        name.push_str(&format!("\\{b:03}"));
                    }
                }
                if name.len() > 1024 {
                    return Err(WireError::new("name too long"));
                }
                pos += 1 + l;
            }
        }
    }
    Ok((name, end.unwrap_or(pos)))
}

/// What BIND does with a datagram before treating it as a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screening {
    /// A well-formed standard query with one question: answer it.
    Query,
    /// Too short to be a message, or a response: dropped silently.
    Drop {
        /// Why, for the error event.
        reason: String,
    },
    /// Answered at once with `message` (FORMERR, NOTIMP, a NOTIFY
    /// acknowledgement).
    Reply {
        /// The encoded answer.
        message: Vec<u8>,
        /// Why the message was not answered from the zone.
        reason: String,
    },
}

const FORMERR: u16 = 1;
const NOTIMP: u16 = 4;
const OPCODE_NOTIFY: u16 = 4;

/// Screens a message the way BIND's parser does: every counted section
/// must parse and nothing may trail it (else FORMERR), only QUERY with one
/// question is answered from the zone, NOTIFY is acknowledged and other
/// opcodes are NOTIMP. Replies echo RD and CD only for opcodes BIND knows,
/// and the question only when the question section parsed.
pub fn screen(msg: &[u8]) -> Screening {
    if msg.len() < 12 {
        return Screening::Drop {
            reason: format!("{} bytes, shorter than a header", msg.len()),
        };
    }
    let word = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let (flags, qd) = (word(2), word(4));
    if flags & 0x8000 != 0 {
        return Screening::Drop {
            reason: "a response, not a query".into(),
        };
    }
    let records = word(6) as u32 + word(8) as u32 + word(10) as u32;
    let opcode = (flags >> 11) & 0x0f;
    // QUERY, STATUS, NOTIFY and UPDATE are the opcodes BIND parses far
    // enough to copy RD and CD back.
    let echo = if matches!(opcode, 0 | 2 | 4 | 5) {
        flags & 0x0110
    } else {
        0
    };
    let mut pos = 12;
    let mut question_error = None;
    for _ in 0..qd {
        match read_name(msg, pos) {
            Ok((_, after)) if after + 4 <= msg.len() => pos = after + 4,
            Ok(_) => {
                question_error = Some("question past end".to_owned());
                break;
            }
            Err(e) => {
                question_error = Some(e.to_string());
                break;
            }
        }
    }
    let questions_ok = question_error.is_none();
    let question_end = pos;
    let reply = |rcode: u16, aa: u16, reason: String| {
        let mut message = msg[..2].to_vec();
        message.extend_from_slice(&(0x8000 | (opcode << 11) | aa | echo | rcode).to_be_bytes());
        let (qd, questions) = if questions_ok {
            (qd, &msg[12..question_end])
        } else {
            (0, &[][..])
        };
        for n in [qd, 0, 0, 0] {
            message.extend_from_slice(&n.to_be_bytes());
        }
        message.extend_from_slice(questions);
        Screening::Reply { message, reason }
    };
    if let Some(e) = question_error {
        return reply(FORMERR, 0, e);
    }
    for _ in 0..records {
        let record_end = match read_name(msg, pos) {
            Ok((_, after)) if after + 10 <= msg.len() => {
                after + 10 + u16::from_be_bytes([msg[after + 8], msg[after + 9]]) as usize
            }
            _ => msg.len() + 1,
        };
        if record_end > msg.len() {
            return reply(FORMERR, 0, "record past end".into());
        }
        pos = record_end;
    }
    if pos != msg.len() {
        return reply(FORMERR, 0, format!("{} trailing bytes", msg.len() - pos));
    }
    match opcode {
        0 if qd == 1 => Screening::Query,
        0 => reply(FORMERR, 0, format!("{qd} questions")),
        OPCODE_NOTIFY => reply(0, 0x0400, "NOTIFY".into()),
        _ => reply(NOTIMP, 0, format!("opcode {opcode}")),
    }
}

/// Decodes a query's header and first question.
pub fn parse_query(msg: &[u8]) -> WResult<Query> {
    let mut c = Cursor::new(msg);
    let id = c.u16be()?;
    let flags = c.u16be()?;
    let qd = c.u16be()?;
    let (an, ns, ar) = (c.u16be()?, c.u16be()?, c.u16be()?);
    if flags & 0x8000 != 0 {
        return Err(WireError::new("not a query"));
    }
    if qd == 0 {
        return Err(WireError::new("no question"));
    }
    let (name, after) = read_name(msg, 12)?;
    let mut c = Cursor::new(msg.get(after..).unwrap_or(&[]));
    let qtype = c.u16be()?;
    let qclass = c.u16be()?;
    let edns = if qd == 1 && an == 0 && ns == 0 {
        parse_edns(msg, after + 4, ar)
    } else {
        None
    };
    Ok(Query {
        id,
        flags,
        name,
        qtype,
        qclass,
        question: msg[12..after + 4].to_vec(),
        edns,
    })
}

/// Encodes a name (no compression).
pub fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let l = &label.as_bytes()[..label.len().min(63)];
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
    out
}

/// One resource record to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    /// Owner name.
    pub name: String,
    /// TYPE.
    pub rtype: u16,
    /// CLASS.
    pub class: u16,
    /// TTL.
    pub ttl: u32,
    /// RDATA (already encoded).
    pub rdata: Vec<u8>,
}

fn put_rr(out: &mut Vec<u8>, rr: &Rr, qname: &str) {
    if rr.name.eq_ignore_ascii_case(qname) {
        // Pointer to the question's name, as every real server compresses.
        out.extend_from_slice(&[0xc0, 0x0c]);
    } else {
        out.extend_from_slice(&encode_name(&rr.name));
    }
    out.extend_from_slice(&rr.rtype.to_be_bytes());
    out.extend_from_slice(&rr.class.to_be_bytes());
    out.extend_from_slice(&rr.ttl.to_be_bytes());
    out.extend_from_slice(&(rr.rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rr.rdata);
}

/// Builds a response echoing the question.
pub fn response(
    q: &Query,
    aa: bool,
    rcode: u8,
    answers: &[Rr],
    authority: &[Rr],
    additional: &[Rr],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&q.id.to_be_bytes());
    let flags: u16 = 0x8000
        | (q.flags & 0x7800)
        | if aa { 0x0400 } else { 0 }
        | (q.flags & 0x0110)
        | (rcode as u16 & 0x0f);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&(authority.len() as u16).to_be_bytes());
    out.extend_from_slice(&(additional.len() as u16).to_be_bytes());
    out.extend_from_slice(&q.question);
    for rr in answers.iter().chain(authority).chain(additional) {
        put_rr(&mut out, rr, &q.name);
    }
    out
}

/// TXT RDATA from one string.
pub fn txt(s: &str) -> Vec<u8> {
    let b = &s.as_bytes()[..s.len().min(255)];
    let mut v = vec![b.len() as u8];
    v.extend_from_slice(b);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&encode_name(name));
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m
    }

    #[test]
    fn query_roundtrip_and_loops() {
        let q = parse_query(&query("WWW.Corp.Local", 1)).unwrap();
        assert_eq!(
            (q.id, q.name.as_str(), q.qtype),
            (0x1234, "www.corp.local", 1)
        );
        // A pointer to itself must not loop forever.
        let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
        assert!(parse_query(&m).is_err());
        m[13] = 200;
        assert!(parse_query(&m).is_err());
    }

    fn screened_reply(msg: &[u8]) -> (Vec<u8>, String) {
        match screen(msg) {
            Screening::Reply { message, reason } => (message, reason),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn screen_passes_queries_and_drops_non_queries() {
        assert_eq!(screen(&query("www.corp.local", 1)), Screening::Query);
        assert!(matches!(screen(&[0; 11]), Screening::Drop { .. }));
        let mut response = query("www.corp.local", 1);
        response[2] |= 0x80;
        assert!(matches!(screen(&response), Screening::Drop { .. }));
    }

    #[test]
    fn screen_answers_formerr_like_bind() {
        // A trailing byte: FORMERR echoing id, RD and the question.
        let mut trailing = query("www.corp.local", 1);
        trailing.push(0);
        let (r, reason) = screened_reply(&trailing);
        assert_eq!(&r[..4], &[0x12, 0x34, 0x81, 0x01]);
        assert_eq!(&r[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&r[12..], &trailing[12..trailing.len() - 1]);
        assert_eq!(reason, "1 trailing bytes");
        // An unreadable question: FORMERR without a question section.
        let looped = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
        let (r, reason) = screened_reply(&looped);
        assert_eq!(r, [0, 1, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(reason, "compression loop");
        // An additional record counted but absent.
        let mut missing = query("www.corp.local", 1);
        missing[11] = 1;
        assert_eq!(screened_reply(&missing).1, "record past end");
        // Two questions to QUERY.
        let mut two = query("a.corp.local", 1);
        two[5] = 2;
        two.extend_from_slice(&query("b.corp.local", 1)[12..]);
        assert_eq!(screened_reply(&two).1, "2 questions");
    }

    #[test]
    fn screen_acknowledges_notify_and_refuses_other_opcodes() {
        let mut notify = query("corp.local", 6);
        notify[2] = 0x20 | 0x01; // NOTIFY, RD
        let (r, _) = screened_reply(&notify);
        assert_eq!(&r[2..4], &[0xa5, 0x00], "QR, NOTIFY, AA, RD, NOERROR");
        let mut iquery = query("corp.local", 1);
        iquery[2] = 0x08 | 0x01; // IQUERY, RD
        let (r, reason) = screened_reply(&iquery);
        assert_eq!(&r[2..4], &[0x88, 0x04], "NOTIMP without RD");
        assert_eq!(reason, "opcode 1");
    }

    proptest! {
        #[test]
        fn parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_query(&data);
            let _ = screen(&data);
            for i in 0..data.len().min(20) { let _ = read_name(&data, i); }
        }
    }
}
