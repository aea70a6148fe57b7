//! glibc allocator settings for a long-running daemon (issue 13: idle RSS).
//!
//! Measured on the idle demo (release): the main heap held 8.1 MB of which
//! 2.4 MB was in use. Hashing the admin password (argon2id, 19 MiB) is one
//! `mmap`ed allocation; freeing it makes glibc raise its mmap threshold to
//! that size and its trim threshold to twice it, so from then on nothing
//! freed on the heap was given back. Everything here is a no-op off glibc.

/// Allocations at or above this go to `mmap` (glibc default: 128 KiB, raised
/// dynamically up to 32 MiB); fixed so one large transient cannot raise it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

/// Fixes glibc's mmap threshold (which also turns off the dynamic trim
/// threshold); call before the runtime starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called once at start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
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
}
