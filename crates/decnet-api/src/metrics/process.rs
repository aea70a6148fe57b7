//! The standard `process_*` figures (the names every Prometheus client
//! library exports), read from `/proc/self` at scrape time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::readers::encode_value;

/// Linux's `USER_HZ`: `/proc` reports CPU time in these ticks, and it is
/// 100 on every architecture Linux runs on (`sysconf(_SC_CLK_TCK)`).
const TICKS_PER_SECOND: f64 = 100.0;

/// What `/proc/self` says now.
#[derive(Debug, Default, PartialEq)]
pub(super) struct ProcessFigures {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub open_fds: f64,
    pub max_fds: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub threads: f64,
}

/// `utime`, `stime`, `num_threads`, `starttime`, `vsize` of
/// `/proc/self/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<(u64, u64, u64, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so field N is f[N - 3].
    let num = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    Some((num(14)?, num(15)?, num(20)?, num(22)?, num(23)?))
}

/// Boot time (`btime` of `/proc/stat`), seconds since the epoch.
fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft `Max open files` limit of `/proc/self/limits`.
fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn read() -> Option<ProcessFigures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (utime, stime, threads, start, vsize) = parse_stat(&stat)?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    Some(ProcessFigures {
        cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND,
        resident_bytes: resident_bytes()?,
        virtual_bytes: vsize as f64,
        open_fds,
        max_fds: max_fds(),
        start_time_seconds: boot_time().map(|b| b + start as f64 / TICKS_PER_SECOND),
        threads: threads as f64,
    })
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_bytes() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kb: f64 = kb.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024.0)
}

/// Encodes [`ProcessFigures`] on every scrape.
#[derive(Debug)]
pub(super) struct ProcessCollector;

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> std::fmt::Result {
    encode_value(
        MetricType::Gauge,
        v,
        enc.encode_descriptor(name, help, None, MetricType::Gauge)?,
    )
}

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = read() else { return Ok(()) };
        encode_value(
            MetricType::Counter,
            p.cpu_seconds,
            enc.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                MetricType::Counter,
            )?,
        )?;
        gauge(
            &mut enc,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            p.resident_bytes,
        )?;
        gauge(
            &mut enc,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            p.virtual_bytes,
        )?;
        gauge(
            &mut enc,
            "process_open_fds",
            "Number of open file descriptors",
            p.open_fds,
        )?;
        if let Some(max) = p.max_fds {
            gauge(
                &mut enc,
                "process_max_fds",
                "Maximum number of open file descriptors",
                max,
            )?;
        }
        if let Some(start) = p.start_time_seconds {
            gauge(
                &mut enc,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                start,
            )?;
        }
        gauge(
            &mut enc,
            "process_threads",
            "Number of OS threads",
            p.threads,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_a_command_name_with_spaces_and_parens() {
        let stat = "42 (tokio (rt) w) S 1 42 42 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 7 0 1234 98765 321 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((250, 50, 7, 1234, 98765)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_reports_its_own_memory_fds_and_cpu() {
        let p = read().expect("/proc/self is readable on Linux");
        assert!(p.resident_bytes > 1e6, "{p:?}");
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let with_file = read().unwrap();
        assert!(with_file.open_fds >= p.open_fds, "an open file is counted");
        drop(file);
        assert!(p.threads >= 1.0 && p.start_time_seconds.unwrap() > 1.6e9);
    }
}
