//! The last word on stopping: whatever a dependency is doing, a process
//! told to stop exits within [`DEADLINE`] (systemd's and Kubernetes'
//! stop timeouts then never need to SIGKILL it).

use std::time::Duration;

/// From the stop signal to exit, at most.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Starts the countdown: if the orderly shutdown is still running one
/// second before [`DEADLINE`], the process says so and exits with status 1.
/// Each component bounds its own wait well within it (the NATS publisher
/// spools what is unacknowledged, pumps leave unacked batches to
/// redelivery), so this fires only on a component that does not.
pub fn arm_watchdog() {
    let budget = DEADLINE - Duration::from_secs(1);
    let _ = std::thread::Builder::new()
        .name("shutdown-watchdog".into())
        .spawn(move || {
            std::thread::sleep(budget);
            eprintln!(
                "error: shutdown still running after {} s; exiting without waiting further",
                budget.as_secs()
            );
            std::process::exit(1);
        });
}

/// Drops a runtime without waiting on blocking tasks that may never end
/// (a `spawn_blocking` stuck on a dead peer would otherwise hold the exit).
pub fn drop_runtime(rt: tokio::runtime::Runtime) {
    rt.shutdown_timeout(Duration::from_millis(500));
}
