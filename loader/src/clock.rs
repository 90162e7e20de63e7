//! Calendar time to UNIX time, for the Date at Boot response (the firmware clock gives a date).

/// A calendar date and time as the firmware reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Full year, e.g. 2026.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// Offset from UTC in minutes (local = UTC - offset, as UEFI defines it), if known.
    pub utc_offset_minutes: Option<i16>,
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the UNIX epoch, or `None` for an impossible date.
pub fn unix_seconds(t: &DateTime) -> Option<i64> {
    if !(1..=12).contains(&t.month)
        || !(1..=31).contains(&t.day)
        || t.hour > 23
        || t.minute > 59
        || t.second > 60
    {
        return None;
    }
    let days = days_from_civil(i64::from(t.year), u32::from(t.month), u32::from(t.day));
    let local =
        days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
    // UEFI: TimeZone is the offset in minutes such that UTC = local + TimeZone.
    Some(local + t.utc_offset_minutes.map_or(0, |m| i64::from(m) * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> DateTime {
        DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            utc_offset_minutes: None,
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(unix_seconds(&dt(1970, 1, 1, 0, 0, 0)), Some(0));
        assert_eq!(unix_seconds(&dt(2000, 3, 1, 0, 0, 0)), Some(951_868_800));
        assert_eq!(
            unix_seconds(&dt(2026, 11, 24, 17, 2, 56)),
            Some(1_795_539_776)
        );
        assert_eq!(unix_seconds(&dt(1969, 12, 31, 23, 59, 59)), Some(-1));
        let mut t = dt(2026, 1, 1, 1, 0, 0);
        t.utc_offset_minutes = Some(-60);
        assert_eq!(unix_seconds(&t), unix_seconds(&dt(2026, 1, 1, 0, 0, 0)));
    }

    #[test]
    fn impossible_dates() {
        assert_eq!(unix_seconds(&dt(2026, 13, 1, 0, 0, 0)), None);
        assert_eq!(unix_seconds(&dt(2026, 1, 0, 0, 0, 0)), None);
        assert_eq!(unix_seconds(&dt(2026, 1, 1, 24, 0, 0)), None);
    }
}
