//! Network printer: IPP on 631 (HTTP POST of `application/ipp`:
//! Get-Printer-Attributes / CUPS-Get-Printers describe the persona's
//! printer, Print-Job documents are captured) and raw JetDirect on 9100
//! (PJL `@PJL INFO ID/STATUS/CONFIG/FILESYS` answered, file-system PJL
//! recorded as commands, everything else captured as the print job).
//! Jobs are streamed to disk as they arrive ([`artifacts::Capture`]), so
//! a connection holds at most a capture buffer of a job in memory, never
//! the job: `jetdirect` and `ipp` hold the two front-ends.

use std::sync::Arc;

use futures::future::BoxFuture;
use rand::seq::SliceRandom;

#[cfg(doc)]
use crate::artifacts;
use crate::ctx::DeckyCtx;
use crate::session::Session;
use crate::{Conn, Handler, Service, ServiceError};

mod ipp;
mod jetdirect;

/// Largest print job kept (bytes beyond are counted, not stored).
pub const MAX_JOB: usize = 8 * 1024 * 1024;

/// The `printer` service.
pub struct Printer;

/// Per-decky printer persona.
pub struct PrinterHandler {
    model: String,
    name: String,
    location: String,
    serial: String,
    boot: chrono::DateTime<chrono::Utc>,
    uri_host: String,
}

const MODELS: &[&str] = &[
    "HP LaserJet Pro M404dn",
    "HP LaserJet Enterprise M507",
    "HP Color LaserJet MFP M479fdw",
    "HP OfficeJet Pro 9025",
];

impl Service for Printer {
    fn name(&self) -> &'static str {
        "printer"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        use rand::Rng;
        let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("printer");
        let model = *MODELS.choose(&mut rng).unwrap_or(&MODELS[0]);
        let model = decky.config("printer", "model").unwrap_or(model).to_owned();
        Ok(Arc::new(PrinterHandler {
            model,
            name: decky.persona.hostname.clone(),
            location: decky
                .config("printer", "location")
                .unwrap_or(
                    ["2nd floor copy room", "Finance", "Reception", "HR office"]
                        [rng.gen_range(0..4)],
                )
                .to_owned(),
            serial: format!(
                "VNB{}{:06}",
                ["3R", "4K", "8W"][rng.gen_range(0..3)],
                rng.gen_range(0..1_000_000u32)
            ),
            boot: decky.persona.boot_time,
            uri_host: match decky.ip() {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            },
        }))
    }
}

impl Handler for PrinterHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        match conn.nominal_port {
            9100 => Box::pin(self.jetdirect(conn, session)),
            _ => Box::pin(self.ipp(conn, session)),
        }
    }
}
