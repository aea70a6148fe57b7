//! BSON documents (decode/encode) and MongoDB wire messages (OP_MSG,
//! OP_QUERY requests; OP_MSG / OP_REPLY replies). Depth and sizes bounded.

use super::{Cursor, WResult, WireError};

/// Largest MongoDB message accepted.
pub const MAX_MESSAGE: usize = 256 * 1024;
const MAX_DEPTH: usize = 32;

/// A BSON value (the types a server decoy needs; the rest kept opaque).
#[derive(Debug, Clone, PartialEq)]
pub enum Bson {
    /// 0x01.
    Double(f64),
    /// 0x02.
    Str(String),
    /// 0x03.
    Doc(Doc),
    /// 0x04.
    Array(Vec<Bson>),
    /// 0x05 (subtype, bytes).
    Binary(u8, Vec<u8>),
    /// 0x07.
    ObjectId([u8; 12]),
    /// 0x08.
    Bool(bool),
    /// 0x09 (ms since epoch).
    DateTime(i64),
    /// 0x0A.
    Null,
    /// 0x10.
    I32(i32),
    /// 0x12.
    I64(i64),
    /// Any other type, kept as its type byte.
    Other(u8),
}

/// A document: ordered key/value pairs.
pub type Doc = Vec<(String, Bson)>;

impl Bson {
    /// Truthiness as MongoDB reads command flags.
    pub fn truthy(&self) -> bool {
        match self {
            Bson::Bool(b) => *b,
            Bson::I32(n) => *n != 0,
            Bson::I64(n) => *n != 0,
            Bson::Double(d) => *d != 0.0,
            Bson::Null => false,
            _ => true,
        }
    }
    /// String value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Bson::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Short JSON-ish rendering for events (bounded).
    pub fn render(&self, out: &mut String) {
        if out.len() > 2048 {
            return;
        }
        match self {
            Bson::Double(d) => out.push_str(&d.to_string()),
            Bson::Str(s) => out.push_str(&format!("{:?}", s.chars().take(256).collect::<String>())),
            Bson::Doc(d) => render_doc(d, out),
            Bson::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.render(out);
                }
                out.push(']');
            }
            Bson::Binary(_, b) => out.push_str(&format!("BinData({} bytes)", b.len())),
            Bson::ObjectId(o) => out.push_str(&format!("ObjectId(\"{}\")", hex::encode(o))),
            Bson::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Bson::DateTime(ms) => out.push_str(&format!("Date({ms})")),
            Bson::Null => out.push_str("null"),
            Bson::I32(n) => out.push_str(&n.to_string()),
            Bson::I64(n) => out.push_str(&n.to_string()),
            Bson::Other(t) => out.push_str(&format!("<type 0x{t:02x}>")),
        }
    }
}

/// Renders a document.
pub fn render_doc(d: &Doc, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in d.iter().enumerate() {
        if out.len() > 2048 {
            out.push('…');
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push_str(": ");
        v.render(out);
    }
    out.push('}');
}

/// Value of `key` in a document.
pub fn get<'a>(d: &'a Doc, key: &str) -> Option<&'a Bson> {
    d.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn cstring(c: &mut Cursor<'_>) -> WResult<String> {
    Ok(String::from_utf8_lossy(c.cstr()?).into_owned())
}

/// Decodes one document from the front of `c`.
pub fn decode_doc(c: &mut Cursor<'_>, depth: usize) -> WResult<Doc> {
    if depth > MAX_DEPTH {
        return Err(WireError::new("BSON nested too deeply"));
    }
    let len = c.i32le()?;
    if len < 5 || len as usize - 4 > c.remaining() {
        return Err(WireError::new("bad BSON document length"));
    }
    let body = c.take(len as usize - 4)?;
    let mut d = Cursor::new(body);
    let mut out = Vec::new();
    loop {
        let t = d.u8()?;
        if t == 0 {
            break;
        }
        let key = cstring(&mut d)?;
        let v = match t {
            0x01 => Bson::Double(f64::from_le_bytes(d.take(8)?.try_into().unwrap_or([0; 8]))),
            0x02 | 0x0d | 0x0e => {
                let n = d.i32le()?;
                if n < 1 || n as usize > d.remaining() {
                    return Err(WireError::new("bad BSON string length"));
                }
                let s = d.take(n as usize)?;
                Bson::Str(String::from_utf8_lossy(&s[..s.len() - 1]).into_owned())
            }
            0x03 => Bson::Doc(decode_doc(&mut d, depth + 1)?),
            0x04 => Bson::Array(
                decode_doc(&mut d, depth + 1)?
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect(),
            ),
            0x05 => {
                let n = d.i32le()?;
                if n < 0 || n as usize + 1 > d.remaining() {
                    return Err(WireError::new("bad BSON binary length"));
                }
                let sub = d.u8()?;
                Bson::Binary(sub, d.take(n as usize)?.to_vec())
            }
            0x07 => Bson::ObjectId(d.take(12)?.try_into().unwrap_or([0; 12])),
            0x08 => Bson::Bool(d.u8()? != 0),
            0x09 => Bson::DateTime(i64::from_le_bytes(d.take(8)?.try_into().unwrap_or([0; 8]))),
            0x0a | 0x06 | 0x7f | 0xff => Bson::Null,
            0x10 => Bson::I32(d.i32le()?),
            0x11 => {
                d.take(8)?;
                Bson::Other(t)
            }
            0x12 => Bson::I64(i64::from_le_bytes(d.take(8)?.try_into().unwrap_or([0; 8]))),
            0x13 => {
                d.take(16)?;
                Bson::Other(t)
            }
            0x0b => {
                d.cstr()?;
                d.cstr()?;
                Bson::Other(t)
            }
            0x0c => {
                let n = d.i32le()?;
                if n < 1 || n as usize > d.remaining() {
                    return Err(WireError::new("bad BSON string length"));
                }
                d.take(n as usize + 12)?;
                Bson::Other(t)
            }
            0x0f => {
                let n = d.i32le()?;
                if n < 4 || n as usize - 4 > d.remaining() {
                    return Err(WireError::new("bad BSON code length"));
                }
                d.take(n as usize - 4)?;
                Bson::Other(t)
            }
            other => return Err(WireError::new(format!("unknown BSON type 0x{other:02x}"))),
        };
        if out.len() < 1024 {
            out.push((key, v));
        }
    }
    Ok(out)
}

fn put_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().filter(|&b| b != 0));
    out.push(0);
}

/// Encodes a document.
pub fn encode_doc(d: &Doc) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in d {
        encode_elem(&mut body, k, v);
    }
    let mut out = ((body.len() + 5) as i32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out.push(0);
    out
}

fn encode_elem(out: &mut Vec<u8>, k: &str, v: &Bson) {
    let (t, bytes): (u8, Vec<u8>) = match v {
        Bson::Double(d) => (0x01, d.to_le_bytes().to_vec()),
        Bson::Str(s) => {
            let mut b = ((s.len() + 1) as i32).to_le_bytes().to_vec();
            b.extend_from_slice(s.as_bytes());
            b.push(0);
            (0x02, b)
        }
        Bson::Doc(d) => (0x03, encode_doc(d)),
        Bson::Array(a) => (
            0x04,
            encode_doc(
                &a.iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), v.clone()))
                    .collect(),
            ),
        ),
        Bson::Binary(sub, b) => {
            let mut x = (b.len() as i32).to_le_bytes().to_vec();
            x.push(*sub);
            x.extend_from_slice(b);
            (0x05, x)
        }
        Bson::ObjectId(o) => (0x07, o.to_vec()),
        Bson::Bool(b) => (0x08, vec![*b as u8]),
        Bson::DateTime(ms) => (0x09, ms.to_le_bytes().to_vec()),
        Bson::Null | Bson::Other(_) => (0x0a, Vec::new()),
        Bson::I32(n) => (0x10, n.to_le_bytes().to_vec()),
        Bson::I64(n) => (0x12, n.to_le_bytes().to_vec()),
    };
    out.push(t);
    put_cstr(out, k);
    out.extend_from_slice(&bytes);
}

/// Builds a document from pairs.
#[macro_export]
#[doc(hidden)]
macro_rules! bson_doc {
    ($($k:expr => $v:expr),* $(,)?) => {
        vec![$((($k).to_string(), $v)),*]
    };
}

/// Standard message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgHeader {
    /// Total length including the header.
    pub length: usize,
    /// Request id.
    pub request_id: i32,
    /// Opcode.
    pub op: i32,
}

/// Validates a 16-byte header.
pub fn header(h: [u8; 16]) -> WResult<MsgHeader> {
    let mut c = Cursor::new(&h);
    let len = c.i32le()?;
    let request_id = c.i32le()?;
    c.i32le()?;
    let op = c.i32le()?;
    if len < 16 || len as usize > MAX_MESSAGE {
        return Err(WireError::new(format!("invalid message length {len}")));
    }
    Ok(MsgHeader {
        length: len as usize,
        request_id,
        op,
    })
}

/// A command extracted from OP_MSG or OP_QUERY.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Database (`$db` or the `db.$cmd` namespace).
    pub db: String,
    /// Command document.
    pub doc: Doc,
    /// Came as legacy OP_QUERY (reply with OP_REPLY).
    pub legacy: bool,
}

/// Decodes the body (after the header) of an OP_MSG (2013) or OP_QUERY (2004).
pub fn decode_command(op: i32, body: &[u8]) -> WResult<Command> {
    let mut c = Cursor::new(body);
    match op {
        2013 => {
            let _flags = c.u32le()?;
            while c.remaining() > 0 {
                let kind = c.u8()?;
                match kind {
                    0 => {
                        let doc = decode_doc(&mut c, 0)?;
                        let db = get(&doc, "$db")
                            .and_then(|v| v.as_str())
                            .unwrap_or("admin")
                            .to_owned();
                        return Ok(Command {
                            db,
                            doc,
                            legacy: false,
                        });
                    }
                    1 => {
                        let n = c.i32le()?;
                        if n < 4 || n as usize - 4 > c.remaining() {
                            return Err(WireError::new("bad OP_MSG section length"));
                        }
                        c.take(n as usize - 4)?;
                    }
                    k => return Err(WireError::new(format!("unknown OP_MSG section kind {k}"))),
                }
            }
            Err(WireError::new("OP_MSG without a body section"))
        }
        2004 => {
            c.u32le()?;
            let ns = cstring(&mut c)?;
            c.i32le()?;
            c.i32le()?;
            let doc = decode_doc(&mut c, 0)?;
            // Commands may be wrapped as {$query: {...}}.
            let doc = match get(&doc, "$query").or_else(|| get(&doc, "query")) {
                Some(Bson::Doc(d)) => d.clone(),
                _ => doc,
            };
            let db = ns.split('.').next().unwrap_or("admin").to_owned();
            Ok(Command {
                db,
                doc,
                legacy: true,
            })
        }
        other => Err(WireError::new(format!("unsupported opcode {other}"))),
    }
}

/// OP_MSG reply.
pub fn op_msg_reply(request_id: i32, response_to: i32, doc: &Doc) -> Vec<u8> {
    let d = encode_doc(doc);
    let len = 16 + 4 + 1 + d.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as i32).to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&2013i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&d);
    out
}

/// OP_REPLY (legacy) with one document.
pub fn op_reply(request_id: i32, response_to: i32, doc: &Doc) -> Vec<u8> {
    let d = encode_doc(doc);
    let len = 16 + 20 + d.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as i32).to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&1i32.to_le_bytes());
    out.extend_from_slice(&8i32.to_le_bytes()); // AwaitCapable
    out.extend_from_slice(&0i64.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&1i32.to_le_bytes());
    out.extend_from_slice(&d);
    out
}

/// OP_MSG request (tests, harness).
pub fn op_msg_request(request_id: i32, doc: &Doc) -> Vec<u8> {
    op_msg_reply(request_id, 0, doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_and_commands() {
        let d: Doc = crate::bson_doc! {
            "saslStart" => Bson::I32(1),
            "mechanism" => Bson::Str("SCRAM-SHA-256".into()),
            "payload" => Bson::Binary(0, b"n,,n=root,r=abc".to_vec()),
            "nested" => Bson::Doc(crate::bson_doc!{"a" => Bson::Array(vec![Bson::I64(7), Bson::Bool(true)])}),
            "$db" => Bson::Str("admin".into()),
        };
        let msg = op_msg_request(7, &d);
        let h = header(msg[..16].try_into().unwrap()).unwrap();
        assert_eq!((h.length, h.op), (msg.len(), 2013));
        let c = decode_command(h.op, &msg[16..]).unwrap();
        assert_eq!(c.doc, d);
        assert_eq!(c.db, "admin");
    }

    proptest! {
        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_command(2013, &data);
            let _ = decode_command(2004, &data);
            let _ = decode_doc(&mut Cursor::new(&data), 0);
        }

        #[test]
        fn deep_nesting_refused(depth in 1usize..80) {
            let mut d: Doc = vec![];
            for _ in 0..depth { d = vec![("x".into(), Bson::Doc(d))]; }
            let enc = encode_doc(&d);
            let r = decode_doc(&mut Cursor::new(&enc), 0);
            prop_assert_eq!(r.is_ok(), depth <= MAX_DEPTH);
        }
    }
}
