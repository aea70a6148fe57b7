//! Network infrastructure services: DNS, SNMP, LDAP, SIP and MQTT — what
//! a scanner finds on servers, switches, phones and IoT brokers.

pub mod dns;
pub mod ldap;
pub mod mqtt;
pub mod sip;
pub mod snmp;
