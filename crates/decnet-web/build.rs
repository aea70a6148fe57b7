//! Rebuild the crate whenever anything under web/ changes, so the embedded
//! dashboard is never stale (cargo scans a watched directory recursively).
fn main() {
    println!("cargo:rerun-if-changed=../../web");
    println!("cargo:rerun-if-changed=build.rs");
}
