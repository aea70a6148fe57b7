//! Services by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Service;

/// The set of implemented services.
#[derive(Clone, Default)]
pub struct Registry {
    services: BTreeMap<&'static str, Arc<dyn Service>>,
}

impl Registry {
    /// Empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// The services implemented in this crate.
    pub fn builtin() -> Self {
        Registry::new()
            .with(Arc::new(crate::http::Http))
            .with(Arc::new(crate::https::Https))
            .with(Arc::new(crate::smtp::Smtp))
            .with(Arc::new(crate::smtp::SmtpRelay))
            .with(Arc::new(crate::pop3::Pop3))
            .with(Arc::new(crate::imap::Imap))
            .with(Arc::new(crate::ftp::Ftp))
            .with(Arc::new(crate::tftp::Tftp))
            .with(Arc::new(crate::telnet::Telnet))
            .with(Arc::new(crate::mysql::Mysql))
            .with(Arc::new(crate::redis::Redis))
            .with(Arc::new(crate::postgres::Postgres))
            .with(Arc::new(crate::smb::Smb))
            .with(Arc::new(crate::rdp::Rdp))
            .with(Arc::new(crate::vnc::Vnc))
            .with(Arc::new(crate::llmnr::Llmnr))
            .with(Arc::new(crate::modbus::Modbus))
            .with(Arc::new(crate::s7::S7))
            .with(Arc::new(crate::conpot::Conpot))
            .with(Arc::new(crate::printer::Printer))
            .with(Arc::new(crate::mssql::Mssql))
            .with(Arc::new(crate::ldap::Ldap))
            .with(Arc::new(crate::mongodb::Mongodb))
            .with(Arc::new(crate::elasticsearch::Elasticsearch))
            .with(Arc::new(crate::docker_api::DockerApi))
            .with(Arc::new(crate::k8s::K8s))
            .with(Arc::new(crate::snmp::Snmp))
            .with(Arc::new(crate::mqtt::Mqtt))
            .with(Arc::new(crate::dns::Dns))
            .with(Arc::new(crate::sip::Sip))
    }

    /// Adds (or replaces) a service.
    pub fn with(mut self, service: Arc<dyn Service>) -> Self {
        self.services.insert(service.name(), service);
        self
    }

    /// Looks a service up.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.services.get(name)
    }

    /// Names of implemented services.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.services.keys().copied()
    }
}
