//! A small tmpfs for disk-full tests, shared by the store, engine and
//! binary tests (`#[path]`-included). Mounting needs root: without it
//! [`SmallDisk::mount`] prints a loud SKIPPED banner and returns `None`
//! (`scripts/interop/durability.sh` runs the same checks as root in CI).
#![allow(unsafe_code)] // syscalls (signals, mounts, rusage); each block says why it is sound

use std::path::{Path, PathBuf};

/// A tmpfs mounted on a fresh directory; unmounted on drop.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`3m`); `None` when this process may not.
    pub fn mount(size: &str, test: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = unsafe { libc::geteuid() } == 0
            && std::process::Command::new("mount")
                .args([
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={size},mode=0755"),
                    "tmpfs",
                ])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "\n==============================================================\n\
                 SKIPPED {test}: needs root to mount a small tmpfs\n\
                 (scripts/interop/durability.sh runs the disk-full checks as root)\n\
                 ==============================================================\n"
            );
            return None;
        }
        Some(SmallDisk { dir })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system completely; returns the filler to remove.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let p = self.path().join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        let block = vec![0u8; 16 * 1024];
        while f.write_all(&block).is_ok() {}
        // Whatever is left is smaller than a block: take it too.
        while f.write_all(&[0u8; 512]).is_ok() {}
        p
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
