//! Common Log Format timestamps: `dd/Mon/yyyy:HH:MM:SS +0000`.
//!
//! Times are always printed in UTC with a `+0000` zone. Converting to local
//! time would need `localtime(3)`, which is not thread safe (and
//! `localtime_r` still reads the time-zone state, which other threads may be
//! changing), so Baton does not do it.
//!
//! Formatting runs for every request, so the formatted text is cached per
//! thread for the current second: most calls are a comparison and a copy.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of a formatted timestamp, `dd/Mon/yyyy:HH:MM:SS +0000`.
pub const CLF_TIME_LEN: usize = 26;

/// Latest second that still has a four digit year (9999-12-31 23:59:59 UTC).
const MAX_SECS: u64 = 253_402_300_799;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

thread_local! {
    /// (second since the epoch, its formatted text); `u64::MAX` means empty.
    static CACHE: Cell<(u64, [u8; CLF_TIME_LEN])> =
        const { Cell::new((u64::MAX, [0; CLF_TIME_LEN])) };
}

/// Seconds since the Unix epoch; times before the epoch count as the epoch.
pub fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch; times before the epoch count as 0.
pub fn unix_millis(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Appends `time` as `dd/Mon/yyyy:HH:MM:SS +0000` (UTC) to `out`.
pub fn push_clf_time(out: &mut Vec<u8>, time: SystemTime) {
    let secs = unix_secs(time).min(MAX_SECS);
    let text = CACHE.with(|cache| {
        let (cached_secs, cached_text) = cache.get();
        if cached_secs == secs {
            cached_text
        } else {
            let text = format_secs(secs);
            cache.set((secs, text));
            text
        }
    });
    out.extend_from_slice(&text);
}

/// Formats seconds since the epoch (at most [`MAX_SECS`]) without any cache.
fn format_secs(secs: u64) -> [u8; CLF_TIME_LEN] {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (rem / 3600, rem / 60 % 60, rem % 60);

    let mut buf = *b"00/Jan/0000:00:00:00 +0000";
    put2(&mut buf[0..2], day);
    let month_name = MONTHS
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or(b"Jan");
    buf[3..6].copy_from_slice(month_name);
    put2(&mut buf[7..9], year / 100);
    put2(&mut buf[9..11], year % 100);
    put2(&mut buf[12..14], hour);
    put2(&mut buf[15..17], minute);
    put2(&mut buf[18..20], second);
    buf
}

/// Writes a number below 100 as two ASCII digits.
fn put2(dst: &mut [u8], value: u64) {
    dst[0] = b'0' + (value / 10 % 10) as u8;
    dst[1] = b'0' + (value % 10) as u8;
}

/// Converts days since 1970-01-01 into a proleptic Gregorian (year, month, day).
///
/// Works on 400-year eras counted from 0000-03-01, so that the leap day is the
/// last day of each shifted year (Howard Hinnant's well-known method).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Days from 0000-03-01 to 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fmt(secs: u64) -> String {
        let mut out = Vec::new();
        push_clf_time(&mut out, UNIX_EPOCH + Duration::from_secs(secs));
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn known_dates() {
        assert_eq!(fmt(0), "01/Jan/1970:00:00:00 +0000");
        // Example from the Cherokee documentation.
        assert_eq!(fmt(1_218_471_478), "11/Aug/2008:16:17:58 +0000");
        // Leap day and the turn of a century that is a leap year.
        assert_eq!(fmt(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(fmt(946_684_799), "31/Dec/1999:23:59:59 +0000");
        assert_eq!(fmt(MAX_SECS), "31/Dec/9999:23:59:59 +0000");
        assert_eq!(fmt(u64::MAX / 2), "31/Dec/9999:23:59:59 +0000");
    }

    #[test]
    fn cache_switches_seconds() {
        assert_eq!(fmt(1_000_000_000), "09/Sep/2001:01:46:40 +0000");
        assert_eq!(fmt(1_000_000_000), "09/Sep/2001:01:46:40 +0000");
        assert_eq!(fmt(1_000_000_001), "09/Sep/2001:01:46:41 +0000");
    }

    #[test]
    fn matches_httpdate_for_many_days() {
        // httpdate formats IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
        let mut secs = 0u64;
        while secs < 4_000_000_000 {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let http = httpdate::fmt_http_date(t);
            let parts: Vec<&str> = http.split(' ').collect();
            let expected = format!("{}/{}/{}:{} +0000", parts[1], parts[2], parts[3], parts[4]);
            assert_eq!(fmt(secs), expected);
            secs += 86_400 * 7 + 3_607;
        }
    }
}
