//! The one zip writer (Office documents and breadcrumb bundles).

use std::io::Write;

use chrono::{DateTime, Datelike, Timelike, Utc};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::error::CanaryResult;

/// One member.
pub(crate) struct Member<'a> {
    /// Path inside the archive.
    pub name: &'a str,
    /// Content.
    pub bytes: &'a [u8],
    /// Unix mode.
    pub mode: u32,
}

/// A deflated zip of `members`, every entry stamped `when`, so the same
/// token renders to the same bytes.
pub(crate) fn write(members: &[Member<'_>], when: DateTime<Utc>) -> CanaryResult<Vec<u8>> {
    let stamp = zip::DateTime::from_date_and_time(
        when.year().clamp(1980, 2107) as u16,
        when.month() as u8,
        when.day() as u8,
        when.hour() as u8,
        when.minute() as u8,
        when.second() as u8,
    )
    .unwrap_or_default();
    let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for m in members {
        let opts = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(stamp)
            .unix_permissions(m.mode);
        w.start_file(m.name, opts)?;
        w.write_all(m.bytes)?;
    }
    Ok(w.finish()?.into_inner())
}

#[cfg(test)]
pub(crate) mod read {
    //! Test helper: the members of a zip as name → bytes.

    use std::collections::BTreeMap;
    use std::io::Read;

    pub fn members(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("valid zip");
        let mut out = BTreeMap::new();
        for i in 0..z.len() {
            let mut f = z.by_index(i).unwrap();
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            out.insert(f.name().unwrap().into_owned(), v);
        }
        out
    }
}
