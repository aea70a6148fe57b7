//! What Debian's net-snmp shows the `public` community beyond sysDescr …
//! sysServices: its `systemonly` view adds net-snmp's sysORTable and the
//! HOST-RESOURCES hrSystem group, and stops there (no interfaces).

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::Value;
use crate::ctx::DeckyCtx;

/// hrSystemDate.0: the host's clock, read at each request.
pub(super) const HR_SYSTEM_DATE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 1, 2, 0];
/// hrSystemUptime: the host's uptime, where sysUpTime is the agent's.
pub(super) const HR_SYSTEM_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 1, 1, 0];

/// The MIB modules net-snmp 5.9 registers in sysORTable, in its order.
const SYS_OR: &[(&[u32], &str)] = &[
    (
        &[1, 3, 6, 1, 6, 3, 10, 3, 1, 1],
        "The SNMP Management Architecture MIB.",
    ),
    (
        &[1, 3, 6, 1, 6, 3, 11, 3, 1, 1],
        "The MIB for Message Processing and Dispatching.",
    ),
    (
        &[1, 3, 6, 1, 6, 3, 15, 2, 1, 1],
        "The management information definitions for the SNMP User-based Security Model.",
    ),
    (&[1, 3, 6, 1, 6, 3, 1], "The MIB module for SNMPv2 entities"),
    (
        &[1, 3, 6, 1, 6, 3, 16, 2, 2, 1],
        "View-based Access Control Model for SNMP.",
    ),
    (
        &[1, 3, 6, 1, 2, 1, 49],
        "The MIB module for managing TCP implementations",
    ),
    (
        &[1, 3, 6, 1, 2, 1, 50],
        "The MIB module for managing UDP implementations",
    ),
    (
        &[1, 3, 6, 1, 2, 1, 4],
        "The MIB module for managing IP and ICMP implementations",
    ),
    (
        &[1, 3, 6, 1, 6, 3, 13, 3, 1, 3],
        "The MIB modules for managing SNMP Notification, plus filtering.",
    ),
    (
        &[1, 3, 6, 1, 2, 1, 92],
        "The MIB module for logging SNMP Notifications.",
    ),
];

/// A TimeTicks of 0 that, unlike `Value::Ticks`, is not the uptime.
fn zero_ticks() -> Value {
    Value::Raw(0x43, vec![0])
}

fn system(rest: &[u32]) -> Vec<u32> {
    let mut o = vec![1, 3, 6, 1, 2, 1, 1];
    o.extend_from_slice(rest);
    o
}

fn hr(n: u32) -> Vec<u32> {
    vec![1, 3, 6, 1, 2, 1, 25, 1, n, 0]
}

/// sysORLastChange, sysORTable and hrSystem (unsorted).
pub(super) fn entries(decky: &DeckyCtx) -> Vec<(Vec<u32>, Value)> {
    let p = &decky.persona;
    let mut out = vec![(system(&[8, 0]), zero_ticks())];
    for (i, (oid, descr)) in SYS_OR.iter().enumerate() {
        let idx = i as u32 + 1;
        out.push((system(&[9, 1, 2, idx]), Value::Oid(oid.to_vec())));
        out.push((
            system(&[9, 1, 3, idx]),
            Value::Str(descr.as_bytes().to_vec()),
        ));
        out.push((system(&[9, 1, 4, idx]), zero_ticks()));
    }
    // The root file system's UUID on the kernel command line, stable per
    // decky (the machine id is).
    let id = &p.machine_id;
    let uuid = if id.len() >= 32 {
        format!(
            "{}-{}-{}-{}-{}",
            &id[..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..32]
        )
    } else {
        id.clone()
    };
    let cmdline = format!(
        "BOOT_IMAGE=/boot/vmlinuz-{} root=UUID={uuid} ro quiet",
        p.kernel
    );
    let processes = 90 + (p.mac[5] as u64 % 60);
    out.extend([
        (hr(1), Value::Ticks(0)),
        (hr(2), Value::Str(Vec::new())),
        (hr(3), Value::Int(393_216)),
        (hr(4), Value::Str(cmdline.into_bytes())),
        (hr(5), Value::Gauge(0)),
        (hr(6), Value::Gauge(processes)),
        (hr(7), Value::Int(0)),
    ]);
    out
}

/// SNMPv2-TC DateAndTime of `now` in UTC: year, month, day, hour,
/// minute, second, deci-second, then `+0:00`.
pub(super) fn date_and_time(now: DateTime<Utc>) -> Vec<u8> {
    let mut b = (now.year().clamp(0, 65535) as u16).to_be_bytes().to_vec();
    b.extend_from_slice(&[
        now.month() as u8,
        now.day() as u8,
        now.hour() as u8,
        now.minute() as u8,
        now.second().min(60) as u8,
        (now.timestamp_subsec_millis() / 100).min(9) as u8,
        b'+',
        0,
        0,
    ]);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn date_is_eleven_bytes_as_net_snmp_sends() {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 13, 2, 1).unwrap();
        assert_eq!(
            date_and_time(t),
            [0x07, 0xea, 12, 7, 13, 2, 1, 0, b'+', 0, 0]
        );
    }

    #[test]
    fn sys_or_table_has_net_snmps_ten_modules() {
        assert_eq!(SYS_OR.len(), 10);
        assert_eq!(zero_ticks().encode(), [0x43, 1, 0]);
    }
}
