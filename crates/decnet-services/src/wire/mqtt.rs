//! MQTT 3.1 / 3.1.1 / 5 control packets: fixed header with a bounded
//! remaining length, CONNECT (credentials, will), SUBSCRIBE, PUBLISH.

use super::{Cursor, WResult, WireError};

/// Largest packet accepted.
pub const MAX_PACKET: usize = 64 * 1024;

/// Splits a complete packet off the front of `buf`: (first byte, body, used).
pub fn frame(buf: &[u8]) -> WResult<Option<(u8, &[u8], usize)>> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut len: usize = 0;
    let mut mult = 1usize;
    let mut i = 1;
    loop {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        len += (b & 0x7f) as usize * mult;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        // Like mosquitto, the fifth length byte is read before the
        // length is refused.
        if i > 4 {
            if buf.len() <= i {
                return Ok(None);
            }
            return Err(WireError::new("malformed remaining length"));
        }
        mult *= 128;
    }
    if len > MAX_PACKET {
        return Err(WireError::new(format!("packet of {len} bytes over limit")));
    }
    if buf.len() < i + len {
        return Ok(None);
    }
    Ok(Some((buf[0], &buf[i..i + len], i + len)))
}

/// Variable byte integer (MQTT 5 property lengths).
pub fn varint(c: &mut Cursor<'_>) -> WResult<usize> {
    let mut n = 0usize;
    for shift in 0..4 {
        let b = c.u8()?;
        n |= ((b & 0x7f) as usize) << (7 * shift);
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(WireError::new("malformed variable byte integer"))
}

fn bin<'a>(c: &mut Cursor<'a>) -> WResult<&'a [u8]> {
    let n = c.u16be()? as usize;
    c.take(n)
}

fn skip_props(c: &mut Cursor<'_>) -> WResult<()> {
    let n = varint(c)?;
    c.take(n)?;
    Ok(())
}

/// A decoded CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connect {
    /// "MQTT" or "MQIsdp".
    pub protocol: String,
    /// 3, 4 or 5.
    pub level: u8,
    /// Client identifier.
    pub client_id: String,
    /// Username, if the flag is set.
    pub username: Option<String>,
    /// Password bytes, if the flag is set.
    pub password: Option<Vec<u8>>,
    /// Will topic.
    pub will_topic: Option<String>,
    /// Keep-alive seconds.
    pub keepalive: u16,
}

/// Decodes a CONNECT body.
pub fn parse_connect(body: &[u8]) -> WResult<Connect> {
    let mut c = Cursor::new(body);
    let protocol = super::excerpt(bin(&mut c)?, 16);
    let level = c.u8()?;
    let flags = c.u8()?;
    let keepalive = c.u16be()?;
    if level == 5 {
        skip_props(&mut c)?;
    }
    let client_id = super::excerpt(bin(&mut c)?, 256);
    let mut will_topic = None;
    if flags & 0x04 != 0 {
        if level == 5 {
            skip_props(&mut c)?;
        }
        will_topic = Some(super::excerpt(bin(&mut c)?, 256));
        bin(&mut c)?;
    }
    let username = if flags & 0x80 != 0 {
        Some(super::excerpt(bin(&mut c)?, 256))
    } else {
        None
    };
    let password = if flags & 0x40 != 0 {
        Some(bin(&mut c)?.to_vec())
    } else {
        None
    };
    Ok(Connect {
        protocol,
        level,
        client_id,
        username,
        password,
        will_topic,
        keepalive,
    })
}

/// SUBSCRIBE: (packet id, [(filter, qos)]).
pub fn parse_subscribe(body: &[u8], v5: bool) -> WResult<(u16, Vec<(String, u8)>)> {
    let mut c = Cursor::new(body);
    let id = c.u16be()?;
    if v5 {
        skip_props(&mut c)?;
    }
    let mut out = Vec::new();
    while c.remaining() > 0 && out.len() < 64 {
        let t = super::excerpt(bin(&mut c)?, 512);
        let opts = c.u8()?;
        out.push((t, opts & 0x03));
    }
    if out.is_empty() {
        return Err(WireError::new("SUBSCRIBE without topic filters"));
    }
    Ok((id, out))
}

/// PUBLISH: (topic, packet id, payload).
pub fn parse_publish(flags: u8, body: &[u8], v5: bool) -> WResult<(String, Option<u16>, Vec<u8>)> {
    let mut c = Cursor::new(body);
    let topic = super::excerpt(bin(&mut c)?, 512);
    let qos = (flags >> 1) & 0x03;
    let id = if qos > 0 { Some(c.u16be()?) } else { None };
    if v5 {
        skip_props(&mut c)?;
    }
    Ok((topic, id, c.rest().to_vec()))
}

/// Encodes a packet with a fixed header.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut n = body.len();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// A PUBLISH (QoS 0) packet.
pub fn publish(topic: &str, payload: &[u8], retain: bool, v5: bool) -> Vec<u8> {
    let mut b = (topic.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(topic.as_bytes());
    if v5 {
        b.push(0);
    }
    b.extend_from_slice(payload);
    packet(0x30 | retain as u8, &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn connect_with_credentials() {
        let mut b = vec![0, 4];
        b.extend_from_slice(b"MQTT");
        b.extend_from_slice(&[4, 0xc2, 0, 60, 0, 3]);
        b.extend_from_slice(b"cid");
        b.extend_from_slice(&[0, 5]);
        b.extend_from_slice(b"admin");
        b.extend_from_slice(&[0, 6]);
        b.extend_from_slice(b"pa$$wd");
        let p = packet(0x10, &b);
        let (first, body, used) = frame(&p).unwrap().unwrap();
        assert_eq!((first, used), (0x10, p.len()));
        let c = parse_connect(body).unwrap();
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref()),
            (Some("admin"), Some(&b"pa$$wd"[..]))
        );
        assert!(frame(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert!(frame(&[0x30, 0xff, 0xff, 0xff, 0x7f]).is_err());
    }

    proptest! {
        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), v5 in any::<bool>()) {
            let _ = frame(&data);
            let _ = parse_connect(&data);
            let _ = parse_subscribe(&data, v5);
            let _ = parse_publish(0x02, &data, v5);
        }
    }
}
