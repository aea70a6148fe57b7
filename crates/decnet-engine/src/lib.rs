//! decnet-engine: the only component that starts and stops listeners.

pub mod chatter;
pub mod eventlog;
pub mod fleet;
pub mod topology;

pub use eventlog::{
    EventLog, EventLogConfig, EventLogHealth, EventLogMonitor, EventLogReport, Rotation,
    SyslogTarget,
};
pub use fleet::{
    DeckyState, DeckySummary, EngineConfig, EngineError, Fleet, Lifecycle, ServiceSummary,
};
