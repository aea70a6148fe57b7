//! Which product family a decky's persona would run, so database and
//! infrastructure banners name versions that fit the operating system.

use crate::ctx::DeckyCtx;

/// Which family of product a decky's persona would run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsKind {
    /// Debian, Ubuntu, Kali: distro packages.
    Debian,
    /// Ubuntu specifically.
    Ubuntu,
    /// RHEL family.
    RedHat,
    /// Alpine, Arch, anything else Linux.
    OtherLinux,
    /// Windows.
    Windows,
    /// Embedded devices.
    Embedded,
}

/// Classifies the persona's distro for product-version choices.
pub fn os_kind(decky: &DeckyCtx) -> OsKind {
    use decnet_core::persona::OsFamily;
    let p = &decky.persona;
    match p.family() {
        OsFamily::Windows => return OsKind::Windows,
        OsFamily::Embedded => return OsKind::Embedded,
        _ => {}
    }
    match p.distro.os_id {
        "ubuntu" => OsKind::Ubuntu,
        "debian" | "kali" => OsKind::Debian,
        "rocky" | "centos" | "fedora" | "rhel" => OsKind::RedHat,
        _ => OsKind::OtherLinux,
    }
}
