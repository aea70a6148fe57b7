//! The diurnal rhythm: how busy the organisation is at a given hour, so
//! logs, logins and mail pile up in office hours and go quiet at night
//! and on weekends, as a sniffer or a log reader would expect.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};

/// Activity between 0 (nobody) and 1 (busiest office hour) at `t`.
pub fn activity(t: DateTime<Utc>) -> f64 {
    let by_hour = match t.hour() {
        0..=5 => 0.03,
        6 | 7 => 0.2,
        8..=11 => 0.9,
        12 => 0.5,
        13..=16 => 1.0,
        17 | 18 => 0.5,
        19..=22 => 0.15,
        _ => 0.05,
    };
    let weekend = matches!(t.weekday(), Weekday::Sat | Weekday::Sun);
    if weekend {
        by_hour * 0.15
    } else {
        by_hour
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn office_hours_are_busier_than_nights_and_weekends() {
        // 2026-12-07 is a Monday.
        let monday_2pm = Utc.with_ymd_and_hms(2026, 12, 7, 14, 0, 0).unwrap();
        let monday_3am = Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap();
        let sunday_2pm = Utc.with_ymd_and_hms(2026, 12, 6, 14, 0, 0).unwrap();
        assert!(activity(monday_2pm) > 10.0 * activity(monday_3am));
        assert!(activity(monday_2pm) > 5.0 * activity(sunday_2pm));
    }
}
