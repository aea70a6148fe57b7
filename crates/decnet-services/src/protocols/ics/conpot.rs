//! conpot-style ICS decky: Modbus/TCP on 502 and S7comm on 102 in one
//! service with one PLC persona, dispatching on the connection's nominal
//! port to the modbus and s7 handlers.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::modbus::ModbusHandler;
use super::s7::S7Handler;
use crate::ctx::DeckyCtx;
use crate::session::Session;
use crate::{Conn, Handler, Service, ServiceError};

/// The `conpot` service.
pub struct Conpot;

/// Both PLC front-ends of one decky.
pub struct ConpotHandler {
    modbus: Arc<ModbusHandler>,
    s7: Arc<S7Handler>,
}

impl Service for Conpot {
    fn name(&self) -> &'static str {
        "conpot"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        Ok(Arc::new(ConpotHandler {
            modbus: Arc::new(ModbusHandler::new(decky, "conpot")),
            s7: Arc::new(S7Handler::new(decky, "conpot")),
        }))
    }
}

impl Handler for ConpotHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        match conn.nominal_port {
            102 => Box::pin(self.s7.clone().serve(conn, session)),
            _ => Box::pin(self.modbus.clone().serve(conn, session)),
        }
    }
}
