//! glibc allocator settings for a long-running daemon: idle RSS stays low.
//!
//! Measured on the idle demo (release): the main heap held 8.1 MB of which
//! 2.4 MB was in use. Hashing the admin password (argon2id, 19 MiB) is one
//! `mmap`ed allocation; freeing it makes glibc raise its mmap threshold to
//! that size and its trim threshold to twice it, so from then on nothing
//! freed on the heap was given back. After a burst of 10,000 SSH sessions
//! closed, the process still held 553 MB; `malloc_trim` brought it to 64 MB,
//! because glibc only returns the top of the heap by itself. Everything here
//! is a no-op off glibc.
#![allow(unsafe_code)] // raw syscalls; each block has its SAFETY comment

use std::time::{Duration, Instant};

/// mimalloc (feature `mimalloc`, default): per-thread free lists, so the
/// dozen small allocations each event costs (its fields, the envelope,
/// every consumer's rendering) and their frees on other threads stay off
/// glibc's arena locks. Measured in BENCH.md §"Event pipeline and hot
/// path" with its RSS cost; C libraries (SQLite) keep glibc's malloc, which
/// the settings below still tune.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "mimalloc")]
extern "C" {
    /// mimalloc's own (`mimalloc.h`; the `mimalloc` crate links it but does
    /// not export its bindings): frees what the calling thread's heap
    /// caches and, forced, decommits every arena's freed pages now instead
    /// of at the next allocation after the purge delay, which an idle
    /// process never makes.
    fn mi_collect(force: bool);
}

use tokio_util::sync::CancellationToken;

/// How often freed heap pages are handed back while running.
const TRIM_EVERY: Duration = Duration::from_secs(60);

/// Allocations at or above this go to `mmap` (glibc default: 128 KiB, raised
/// dynamically up to 32 MiB); fixed so one large transient cannot raise it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

/// Free memory a heap keeps at its top before glibc returns it by itself.
/// Fixing the mmap threshold also pins this one at its 128 KiB default, and
/// under load (one event per HTTP request) the heaps were then trimmed and
/// regrown all the time (`sysmalloc` + page faults: ~3 % of the server's
/// CPU). Idle memory still goes back through the explicit trims below.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 8 * 1024 * 1024;

/// Fixes glibc's mmap and trim thresholds (fixing the first turns off the
/// dynamic adjustment of both); call before the runtime starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called once at start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
    // mimalloc asks for transparent huge pages on its arenas: with THP in
    // `madvise` mode (Debian's default) every arena it touched was backed by
    // 2 MiB pages, and the idle demo held 94–101 MiB against glibc's 44 MiB
    // (60 MiB of it `AnonHugePages`). Turned off for this process only,
    // before the runtime has allocated much: idle demo 52 MiB, CPU per HTTP
    // request 25.3–26.9 µs against 24.4–25.7 with huge pages and 29.8–32.3
    // with glibc (BENCH.md §Memory).
    #[cfg(all(feature = "mimalloc", target_os = "linux"))]
    // SAFETY: prctl(PR_SET_THP_DISABLE) only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Returns whole free pages of every malloc arena to the kernel: what
/// startup freed (host keys, certificates, migrations, the admin password
/// hash) would otherwise stay resident for the life of the process.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe (it takes each arena's lock).
    unsafe {
        libc::malloc_trim(0);
    }
    #[cfg(feature = "mimalloc")]
    // SAFETY: mi_collect is thread-safe and takes no pointers.
    unsafe {
        mi_collect(true);
    }
}

/// Runs [`release_free_heap`] at once (startup's transients are freed by
/// the time the fleet is up) and then every minute, on the blocking pool
/// (it takes each arena's lock while it walks the free lists), until `stop`.
pub fn spawn_trimmer(stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TRIM_EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    let took = tokio::task::spawn_blocking(|| {
                        let t = Instant::now();
                        release_free_heap();
                        t.elapsed()
                    })
                    .await;
                    if let Ok(took) = took {
                        tracing::debug!(?took, "malloc_trim");
                    }
                }
            }
        }
    })
}
