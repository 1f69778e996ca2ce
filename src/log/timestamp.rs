//! Common Log Format timestamps: `dd/Mon/yyyy:HH:MM:SS +0000`.
//!
//! Times are always printed in UTC with a `+0000` zone (see [`crate::clock`] for why).
//! Formatting runs for every request, so the text is cached per thread for the current
//! second by the same mechanism as the `Date` header's: most calls are a comparison and
//! a copy.

use crate::clock::{civil_from_secs, month_name, put2, time_of_day, PerSecond};
use std::time::SystemTime;

pub use crate::clock::{unix_millis, unix_secs};

/// Length of a formatted timestamp, `dd/Mon/yyyy:HH:MM:SS +0000`.
pub const CLF_TIME_LEN: usize = 26;

thread_local! {
    static CACHE: PerSecond<CLF_TIME_LEN> = const { PerSecond::new() };
}

/// Appends `time` as `dd/Mon/yyyy:HH:MM:SS +0000` (UTC) to `out`.
pub fn push_clf_time(out: &mut Vec<u8>, time: SystemTime) {
    CACHE.with(|cache| cache.push(out, time, format_secs));
}

/// Formats seconds since the epoch (at most [`crate::clock::MAX_SECS`]).
fn format_secs(secs: u64) -> [u8; CLF_TIME_LEN] {
    let (year, month, day) = civil_from_secs(secs);
    let (hour, minute, second) = time_of_day(secs);
    let mut buf = *b"00/Jan/0000:00:00:00 +0000";
    put2(&mut buf[0..2], day);
    buf[3..6].copy_from_slice(month_name(month));
    put2(&mut buf[7..9], year / 100);
    put2(&mut buf[9..11], year % 100);
    put2(&mut buf[12..14], hour);
    put2(&mut buf[15..17], minute);
    put2(&mut buf[18..20], second);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MAX_SECS;
    use std::time::{Duration, UNIX_EPOCH};

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
