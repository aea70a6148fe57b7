//! Pure wire-format decoders/encoders of the database and infrastructure
//! protocols, kept free of I/O and of any service state so every one of
//! them can be property-tested and fuzzed in isolation.
//!
//! Every decoder takes a byte slice and returns `Result<_, WireError>`;
//! none of them indexes without a bounds check and none allocates a size
//! read from the wire before checking it against the bytes present.

pub mod ber;
pub mod bson;
pub mod der;
pub mod dns;
pub mod ipp;
pub mod ldap;
pub mod modbus;
pub mod mqtt;
pub mod mysql;
pub mod nbns;
pub mod pg;
pub mod rdp;
pub mod resp;
pub mod rfb;
pub mod s7;
pub mod smb2;
pub mod tds;

/// A malformed message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

impl WireError {
    /// Shorthand constructor.
    pub fn new(msg: impl Into<String>) -> Self {
        WireError(msg.into())
    }
}

/// Result of a decoder.
pub type WResult<T> = Result<T, WireError>;

/// A bounds-checked cursor over a byte slice.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }
    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// Current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// The unread rest.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize) -> WResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(WireError::new(format!(
                "truncated: need {n} bytes, {} left",
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// One byte.
    pub fn u8(&mut self) -> WResult<u8> {
        Ok(self.take(1)?[0])
    }
    /// Little-endian u16.
    pub fn u16le(&mut self) -> WResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    /// Big-endian u16.
    pub fn u16be(&mut self) -> WResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    /// Little-endian u32.
    pub fn u32le(&mut self) -> WResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Big-endian u32.
    pub fn u32be(&mut self) -> WResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Little-endian i32.
    pub fn i32le(&mut self) -> WResult<i32> {
        Ok(self.u32le()? as i32)
    }
    /// Bytes up to (not including) a NUL, which is consumed.
    pub fn cstr(&mut self) -> WResult<&'a [u8]> {
        let rest = self.rest();
        match rest.iter().position(|&b| b == 0) {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(WireError::new("unterminated string")),
        }
    }
    /// Bytes up to a NUL, or the rest when there is none.
    pub fn cstr_or_rest(&mut self) -> &'a [u8] {
        let rest = self.rest();
        match rest.iter().position(|&b| b == 0) {
            Some(i) => {
                self.pos += i + 1;
                &rest[..i]
            }
            None => {
                self.pos = self.buf.len();
                rest
            }
        }
    }
}

/// Printable rendering of attacker bytes, truncated to `max` bytes.
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    decnet_core::event::printable(&bytes[..bytes.len().min(max)])
}
