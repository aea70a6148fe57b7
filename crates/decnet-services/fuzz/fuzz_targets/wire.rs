//! Every binary decoder of `decnet_services::wire` (and SNMP's) on
//! attacker bytes: the first byte picks the decoder, the rest is its input.
//! None may panic, loop, or allocate a size read from the wire.
#![no_main]

use decnet_services::protocols::infra::snmp;
use decnet_services::wire::{
    ber, bson, der, dns, ipp, ldap, modbus, mqtt, mysql, nbns, pg, rdp, resp, s7, smb2, tds, Cursor,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, b)) = data.split_first() else {
        return;
    };
    match which % 24 {
        0 => drop(ber::read(b)),
        1 => drop(ber::frame_len(b, 64 * 1024)),
        2 => drop(der::read_tlv(b)),
        3 => drop(dns::parse_query(b)),
        4 => drop(ipp::request(b)),
        5 => drop(ipp::pjl_command(b)),
        6 => drop(ldap::decode_message(b)),
        7 => drop(modbus::request(b)),
        8 => drop(mqtt::frame(b)),
        9 => drop(mqtt::parse_connect(b)),
        10 => drop(mqtt::parse_subscribe(b, b.len() % 2 == 0)),
        11 => drop(mysql::parse_handshake_response(b)),
        12 => drop(nbns::query(b)),
        13 => drop(pg::parse_startup(b)),
        14 => drop(pg::scram_client_first(b)),
        15 => drop(rdp::connection_request(b)),
        16 => drop(rdp::ts_request(b)),
        17 => {
            let lim = resp::RespLimits {
                max_line: 1024,
                max_bulk: 64 * 1024,
            };
            drop(resp::parse_command(b, lim));
        }
        18 => {
            drop(s7::cotp(b));
            drop(s7::s7(b));
        }
        19 => {
            drop(smb2::header(b));
            drop(smb2::negotiate_dialects(b));
            drop(smb2::smb1_dialects(b));
            drop(smb2::ioctl_req(b));
        }
        20 => {
            drop(smb2::rpc_pdu(b));
            drop(smb2::bind_contexts(b));
            drop(smb2::rpc_request(b));
        }
        21 => {
            drop(tds::parse_prelogin(b));
            drop(tds::parse_login7(b));
        }
        22 => {
            drop(bson::decode_doc(&mut Cursor::new(b), 0));
            drop(bson::decode_command(2013, b));
        }
        _ => drop(snmp::decode(b)),
    }
});
