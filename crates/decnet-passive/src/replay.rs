//! Capture files through the analyzer: `decnet passive-read`, the tests
//! on recorded captures, and the throughput benchmark.

use std::io::Read;
use std::time::Instant;

use decnet_core::Event;
use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;

use crate::analyzer::Analyzer;
use crate::fleet_view::FleetView;
use crate::PassiveError;

/// Every Ethernet frame of a pcap stream, in order.
pub fn frames(input: impl Read) -> Result<Vec<Vec<u8>>, PassiveError> {
    let mut r = PcapReader::new(input).map_err(|e| PassiveError::Pcap(e.to_string()))?;
    if r.header().datalink != DataLink::ETHERNET {
        return Err(PassiveError::Pcap(format!(
            "link type {:?} is not Ethernet",
            r.header().datalink
        )));
    }
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.map_err(|e| PassiveError::Pcap(e.to_string()))?;
        out.push(p.data.into_owned());
    }
    Ok(out)
}

/// Runs frames through `analyzer` as if they had just arrived.
pub fn replay(analyzer: &mut Analyzer, frames: &[Vec<u8>], fleet: &FleetView) -> Vec<Event> {
    let mut out = Vec::new();
    let now = Instant::now();
    for f in frames {
        analyzer.frame(now, f, fleet, &mut out);
    }
    out
}
