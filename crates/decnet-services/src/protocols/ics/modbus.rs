//! Modbus/TCP (502) with a conpot-like PLC persona: holding/input
//! registers and coils seeded per decky (writes change them and are
//! recorded as `command` events), Read Device Identification and Report
//! Server ID naming the persona's PLC ([`PlcPersona`]).

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use rand::Rng;
use tokio::io::AsyncWriteExt;

use super::PlcPersona;
use crate::ctx::DeckyCtx;
use crate::io::read_exact_idle;
use crate::session::Session;
use crate::wire::modbus::{self as w, Request};
use crate::{fields, Conn, Handler, Service, ServiceError};

/// Registers/coils per table.
pub const TABLE: usize = 1024;

/// The data tables of one PLC (shared by all its sessions).
pub struct Tables {
    holding: Vec<u16>,
    input: Vec<u16>,
    coils: Vec<bool>,
    discrete: Vec<bool>,
}

impl Tables {
    /// Plausible process values (temperatures, pressures, counters, setpoints).
    pub fn seeded(decky: &DeckyCtx) -> Self {
        let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("plc-data");
        let mut reg = |i: usize| -> u16 {
            match i % 8 {
                0 => rng.gen_range(180..260),   // 18.0–26.0 °C ×10
                1 => rng.gen_range(950..1100),  // pressure mbar
                2 => rng.gen_range(0..5000),    // counter
                3 => rng.gen_range(1400..1500), // rpm
                _ => rng.gen_range(0..100),
            }
        };
        let holding = (0..TABLE).map(&mut reg).collect();
        let input = (0..TABLE).map(&mut reg).collect();
        let coils = (0..TABLE).map(|i| i % 3 == 0).collect();
        let discrete = (0..TABLE).map(|i| i % 5 == 0).collect();
        Tables {
            holding,
            input,
            coils,
            discrete,
        }
    }
}

/// The `modbus` service.
pub struct Modbus;

/// A Modbus PLC bound to a decky.
pub struct ModbusHandler {
    /// The persona.
    pub plc: PlcPersona,
    tables: Mutex<Tables>,
}

impl ModbusHandler {
    /// Builds the handler (also used by conpot).
    pub fn new(decky: &DeckyCtx, service: &str) -> Self {
        ModbusHandler {
            plc: PlcPersona::for_decky(decky, service),
            tables: Mutex::new(Tables::seeded(decky)),
        }
    }
}

impl Service for Modbus {
    fn name(&self) -> &'static str {
        "modbus"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        Ok(Arc::new(ModbusHandler::new(decky, "modbus")))
    }
}

fn in_range(addr: u16, qty: usize) -> bool {
    addr as usize + qty <= TABLE
}

/// Address and values of a write request, for its event.
fn describe_write(req: &Request) -> (u16, String) {
    match req {
        Request::WriteCoil(addr, on) => (*addr, on.to_string()),
        Request::WriteRegister(addr, v) => (*addr, v.to_string()),
        Request::WriteCoils(addr, qty, bits) => {
            let vals: Vec<bool> = (0..*qty as usize)
                .map(|i| bits[i / 8] & (1 << (i % 8)) != 0)
                .collect();
            (*addr, format!("{vals:?}"))
        }
        Request::WriteRegisters(addr, vals) => (*addr, format!("{vals:?}")),
        _ => (0, String::new()),
    }
}

fn pack_bits(bits: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, &b) in bits.iter().enumerate() {
        if b {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

impl ModbusHandler {
    /// Answers one request PDU; returns the response PDU.
    pub fn respond(&self, pdu: &[u8], unit: u8, session: &Session) -> Vec<u8> {
        let fc = pdu.first().copied().unwrap_or(0);
        let exc = |code: u8| vec![fc | 0x80, code];
        match w::request(pdu) {
            Request::Read(f, addr, qty) => {
                session.emit(
                    EventKind::Request,
                    fields! {
                        "request" => w::function_name(f),
                        "function" => w::function_name(f),
                        "address" => addr as u64,
                        "quantity" => qty as u64,
                        "unit" => unit as u64,
                    },
                );
                self.read(f, addr, qty as usize).unwrap_or_else(|| exc(2))
            }
            Request::DeviceId(code, obj) => {
                session.emit(
                    EventKind::Request,
                    fields! {"request" => "read_device_identification", "function" => "read_device_identification", "code" => code as u64, "object" => obj as u64},
                );
                self.device_id(code, obj).unwrap_or_else(exc)
            }
            Request::ReportServerId => {
                session.emit(
                    EventKind::Request,
                    fields! {"request" => "report_server_id", "function" => "report_server_id"},
                );
                let id = format!("{} {}", self.plc.family, self.plc.module_type);
                let mut out = vec![0x11, (id.len() + 2) as u8, 0x42, 0xff];
                out.extend_from_slice(id.as_bytes());
                out
            }
            Request::Invalid(f, code) => {
                session.emit(
                    EventKind::Request,
                    fields! {"request" => "invalid", "function" => w::function_name(f), "function_code" => f as u64},
                );
                exc(code)
            }
            write => {
                let (addr, values) = describe_write(&write);
                session.emit(
                    EventKind::Command,
                    fields! {
                        "command" => format!("{} {} {}", w::function_name(fc), addr, values),
                        "function" => w::function_name(fc),
                        "address" => addr as u64,
                        "values" => values,
                        "unit" => unit as u64,
                    },
                );
                if self.write(write) {
                    pdu[..5].to_vec()
                } else {
                    exc(2)
                }
            }
        }
    }

    /// Reads `qty` coils/inputs/registers at `addr` (`None`: out of range).
    fn read(&self, f: u8, addr: u16, qty: usize) -> Option<Vec<u8>> {
        if !in_range(addr, qty) {
            return None;
        }
        let t = self.tables.lock();
        let a = addr as usize;
        let mut out = vec![f];
        match f {
            1 | 2 => {
                let src = if f == 1 { &t.coils } else { &t.discrete };
                let bytes = pack_bits(&src[a..a + qty]);
                out.push(bytes.len() as u8);
                out.extend_from_slice(&bytes);
            }
            _ => {
                let src = if f == 3 { &t.holding } else { &t.input };
                out.push((qty * 2) as u8);
                for v in &src[a..a + qty] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
        }
        Some(out)
    }

    /// Applies a write to the tables; false when it is out of range.
    fn write(&self, req: Request) -> bool {
        let mut t = self.tables.lock();
        match req {
            Request::WriteCoil(addr, on) if in_range(addr, 1) => t.coils[addr as usize] = on,
            Request::WriteRegister(addr, v) if in_range(addr, 1) => t.holding[addr as usize] = v,
            Request::WriteCoils(addr, qty, bits) if in_range(addr, qty as usize) => {
                for i in 0..qty as usize {
                    t.coils[addr as usize + i] = bits[i / 8] & (1 << (i % 8)) != 0;
                }
            }
            Request::WriteRegisters(addr, vals) if in_range(addr, vals.len()) => {
                for (i, v) in vals.into_iter().enumerate() {
                    t.holding[addr as usize + i] = v;
                }
            }
            _ => return false,
        }
        true
    }

    /// Read Device Identification objects (`Err`: the exception code).
    fn device_id(&self, code: u8, obj: u8) -> Result<Vec<u8>, u8> {
        let p = &self.plc;
        let fw = p.firmware_string();
        let objects: [(u8, &str); 7] = [
            (0, p.vendor),
            (1, p.mlfb),
            (2, &fw),
            (3, "https://www.siemens.com/automation"),
            (4, p.family),
            (5, p.module_type),
            (6, &p.system_name),
        ];
        let pick: Vec<&(u8, &str)> = match code {
            1 => objects.iter().filter(|(i, _)| *i <= 2).collect(),
            2 => objects.iter().collect(),
            4 => objects.iter().filter(|(i, _)| *i == obj).collect(),
            _ => return Err(3),
        };
        if pick.is_empty() {
            return Err(2);
        }
        let mut out = vec![0x2b, 0x0e, code, 0x82, 0, 0, pick.len() as u8];
        for (id, v) in pick {
            out.push(*id);
            out.push(v.len() as u8);
            out.extend_from_slice(v.as_bytes());
        }
        Ok(out)
    }

    /// Runs one Modbus/TCP connection.
    pub async fn serve(self: Arc<Self>, conn: Conn, session: Session) {
        let idle = session.limits().idle_timeout;
        let mut s = conn.stream;
        let mut pdu = [0u8; 256];
        loop {
            let mut h = [0u8; 7];
            if read_exact_idle(&mut s, &mut h, idle).await.is_err() {
                return;
            }
            let (tid, _, len, unit) = match w::mbap(h) {
                Ok(x) => x,
                Err(e) => {
                    session.emit_error(e.to_string());
                    return;
                }
            };
            if read_exact_idle(&mut s, &mut pdu[..len], idle)
                .await
                .is_err()
            {
                return;
            }
            let resp = self.respond(&pdu[..len], unit, &session);
            let mut out = Vec::with_capacity(resp.len() + 7);
            out.extend_from_slice(&tid.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&((resp.len() + 1) as u16).to_be_bytes());
            out.push(unit);
            out.extend_from_slice(&resp);
            if s.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

impl Handler for ModbusHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(self.serve(conn, session))
    }
}
