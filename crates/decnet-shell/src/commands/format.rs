//! Number and column formatting shared by several commands.

use std::fmt::Write as _;

/// `ls -h`/`df -h` sizes: `4.0K`, `12M`, `1.1G` (rounded up, as coreutils).
pub(crate) fn human(bytes: u64) -> String {
    let units = ["", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}")
    } else if v < 10.0 {
        format!("{:.1}{}", (v * 10.0).ceil() / 10.0, units[u])
    } else {
        format!("{:.0}{}", v.ceil(), units[u])
    }
}

/// [`human`] of a KiB count (`df -h`), `0` for nothing.
pub(crate) fn human_k(k: u64) -> String {
    let b = k * 1024;
    if b == 0 {
        return "0".into();
    }
    human(b)
}

/// `ls` column layout for an 80-column terminal.
#[allow(clippy::needless_range_loop)]
pub(crate) fn columns(names: Vec<&str>, width: usize) -> String {
    if names.is_empty() {
        return String::new();
    }
    let n = names.len();
    for rows in 1..=n {
        let cols = n.div_ceil(rows);
        let mut widths = Vec::with_capacity(cols);
        for c in 0..cols {
            let w = (0..rows)
                .filter_map(|r| names.get(c * rows + r))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0);
            widths.push(w);
        }
        let total: usize = widths.iter().sum::<usize>() + 2 * (cols.saturating_sub(1));
        if total <= width || rows == n {
            let mut out = String::new();
            for r in 0..rows {
                let mut line = String::new();
                for c in 0..cols {
                    if let Some(s) = names.get(c * rows + r) {
                        if c + 1 < cols && names.get((c + 1) * rows + r).is_some() {
                            let _ = write!(line, "{:<w$}  ", s, w = widths[c]);
                        } else {
                            line.push_str(s);
                        }
                    }
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
            return out;
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_round_up_like_coreutils() {
        assert_eq!(human(0), "0");
        assert_eq!(human(1023), "1023");
        assert_eq!(human(1024), "1.0K");
        assert_eq!(human(1025), "1.1K");
        assert_eq!(human(20 * 1024 * 1024 + 1), "21M");
        assert_eq!(human_k(0), "0");
        assert_eq!(human_k(2048), "2.0M");
    }

    #[test]
    fn columns_fill_down_then_across() {
        assert_eq!(columns(vec![], 80), "");
        assert_eq!(columns(vec!["a", "bb", "c"], 80), "a  bb  c\n");
        assert_eq!(
            columns(vec!["aaaa", "bbbb", "cccc"], 10),
            "aaaa  cccc\nbbbb\n"
        );
    }
}
