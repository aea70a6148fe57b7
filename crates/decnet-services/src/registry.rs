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
            .with(Arc::new(crate::protocols::web::http::Http))
            .with(Arc::new(crate::protocols::web::https::Https))
            .with(Arc::new(crate::protocols::mail::smtp::Smtp::MTA))
            .with(Arc::new(crate::protocols::mail::smtp::Smtp::RELAY))
            .with(Arc::new(crate::protocols::mail::pop3::Pop3))
            .with(Arc::new(crate::protocols::mail::imap::Imap))
            .with(Arc::new(crate::protocols::files::ftp::Ftp))
            .with(Arc::new(crate::protocols::files::tftp::Tftp))
            .with(Arc::new(crate::protocols::remote::telnet::Telnet))
            .with(Arc::new(crate::protocols::db::mysql::Mysql))
            .with(Arc::new(crate::protocols::db::redis::Redis))
            .with(Arc::new(crate::protocols::db::postgres::Postgres))
            .with(Arc::new(crate::protocols::windows::smb::Smb))
            .with(Arc::new(crate::protocols::windows::rdp::Rdp))
            .with(Arc::new(crate::protocols::remote::vnc::Vnc))
            .with(Arc::new(crate::protocols::windows::llmnr::Llmnr))
            .with(Arc::new(crate::protocols::ics::modbus::Modbus))
            .with(Arc::new(crate::protocols::ics::s7::S7))
            .with(Arc::new(crate::protocols::ics::conpot::Conpot))
            .with(Arc::new(crate::protocols::files::printer::Printer))
            .with(Arc::new(crate::protocols::db::mssql::Mssql))
            .with(Arc::new(crate::protocols::infra::ldap::Ldap))
            .with(Arc::new(crate::protocols::db::mongodb::Mongodb))
            .with(Arc::new(
                crate::protocols::web::elasticsearch::Elasticsearch,
            ))
            .with(Arc::new(crate::protocols::web::docker_api::DockerApi))
            .with(Arc::new(crate::protocols::web::k8s::K8s))
            .with(Arc::new(crate::protocols::infra::snmp::Snmp))
            .with(Arc::new(crate::protocols::infra::mqtt::Mqtt))
            .with(Arc::new(crate::protocols::infra::dns::Dns))
            .with(Arc::new(crate::protocols::infra::sip::Sip))
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
