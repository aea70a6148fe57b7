//! Modbus/TCP (Modbus Application Protocol v1.1b3): the MBAP header and
//! the request PDUs a PLC answers. Quantities are checked against the
//! specification limits before anything is sized from them.

use super::{Cursor, WResult, WireError};

/// MBAP header: (transaction id, protocol id, length, unit id).
pub fn mbap(h: [u8; 7]) -> WResult<(u16, u16, usize, u8)> {
    let tid = u16::from_be_bytes([h[0], h[1]]);
    let pid = u16::from_be_bytes([h[2], h[3]]);
    let len = u16::from_be_bytes([h[4], h[5]]) as usize;
    if pid != 0 {
        return Err(WireError::new("modbus: protocol id is not 0"));
    }
    if !(2..=254).contains(&len) {
        return Err(WireError::new("modbus: bad length"));
    }
    Ok((tid, pid, len - 1, h[6]))
}

/// A decoded request PDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// FC 1/2/3/4: read (function, address, quantity).
    Read(u8, u16, u16),
    /// FC 5: write single coil (address, on).
    WriteCoil(u16, bool),
    /// FC 6: write single register.
    WriteRegister(u16, u16),
    /// FC 15: write multiple coils (address, quantity, packed bits).
    WriteCoils(u16, u16, Vec<u8>),
    /// FC 16: write multiple registers.
    WriteRegisters(u16, Vec<u16>),
    /// FC 43 / MEI 14: read device identification (code, object id).
    DeviceId(u8, u8),
    /// FC 17: report server id.
    ReportServerId,
    /// Anything else, with a reason code to answer (1 illegal function,
    /// 3 illegal data value).
    Invalid(u8, u8),
}

/// Decodes a request PDU (function code first).
pub fn request(pdu: &[u8]) -> Request {
    let Some(&fc) = pdu.first() else {
        return Request::Invalid(0, 1);
    };
    let mut c = Cursor::new(&pdu[1..]);
    let r: WResult<Request> = (|| {
        Ok(match fc {
            1..=4 => {
                let addr = c.u16be()?;
                let qty = c.u16be()?;
                let max = if fc <= 2 { 2000 } else { 125 };
                if qty == 0 || qty > max {
                    return Ok(Request::Invalid(fc, 3));
                }
                Request::Read(fc, addr, qty)
            }
            5 => {
                let addr = c.u16be()?;
                match c.u16be()? {
                    0xff00 => Request::WriteCoil(addr, true),
                    0x0000 => Request::WriteCoil(addr, false),
                    _ => Request::Invalid(fc, 3),
                }
            }
            6 => Request::WriteRegister(c.u16be()?, c.u16be()?),
            15 => {
                let addr = c.u16be()?;
                let qty = c.u16be()?;
                let n = c.u8()? as usize;
                if qty == 0 || qty > 1968 || n != (qty as usize).div_ceil(8) {
                    return Ok(Request::Invalid(fc, 3));
                }
                Request::WriteCoils(addr, qty, c.take(n)?.to_vec())
            }
            16 => {
                let addr = c.u16be()?;
                let qty = c.u16be()? as usize;
                let n = c.u8()? as usize;
                if qty == 0 || qty > 123 || n != qty * 2 {
                    return Ok(Request::Invalid(fc, 3));
                }
                let mut v = Vec::with_capacity(qty);
                for _ in 0..qty {
                    v.push(c.u16be()?);
                }
                Request::WriteRegisters(addr, v)
            }
            17 => Request::ReportServerId,
            43 => {
                if c.u8()? != 14 {
                    return Ok(Request::Invalid(fc, 1));
                }
                Request::DeviceId(c.u8()?, c.u8()?)
            }
            _ => Request::Invalid(fc, 1),
        })
    })();
    r.unwrap_or(Request::Invalid(fc, 3))
}

/// Function name for events.
pub fn function_name(fc: u8) -> &'static str {
    match fc {
        1 => "read_coils",
        2 => "read_discrete_inputs",
        3 => "read_holding_registers",
        4 => "read_input_registers",
        5 => "write_single_coil",
        6 => "write_single_register",
        15 => "write_multiple_coils",
        16 => "write_multiple_registers",
        17 => "report_server_id",
        43 => "read_device_identification",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes() {
        assert_eq!(request(&[3, 0, 0, 0, 4]), Request::Read(3, 0, 4));
        assert_eq!(request(&[3, 0, 0, 0, 200]), Request::Invalid(3, 3));
        assert_eq!(
            request(&[16, 0, 1, 0, 2, 4, 0, 7, 0, 8]),
            Request::WriteRegisters(1, vec![7, 8])
        );
        assert_eq!(request(&[0x5a]), Request::Invalid(0x5a, 1));
        assert!(mbap([0, 1, 0, 0, 0, 6, 1]).is_ok());
        assert!(mbap([0, 1, 0, 0, 0xff, 0xff, 1]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..300), h in proptest::array::uniform7(any::<u8>())) {
            let _ = request(&b);
            if let Ok((_, _, len, _)) = mbap(h) { prop_assert!(len <= 253); }
        }
    }
}
