//! The wall clock as text, formatted once per second per thread.
//!
//! Every response carries a `Date` header and every access-log line a timestamp; both
//! change once a second, so each is formatted when the second changes and copied
//! otherwise ([`PerSecond`]). The calendar arithmetic is here too, shared by both
//! formats: the HTTP date ([`push_http_date`]) and the log's Common Log Format
//! (`log::timestamp`). Times are UTC: converting to local time needs `localtime(3)`,
//! which is not thread safe.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Latest second that still has a four digit year (9999-12-31 23:59:59 UTC); later
/// times are formatted as this one, so that a text always has its fixed length.
pub const MAX_SECS: u64 = 253_402_300_799;

/// Length of an HTTP date, `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 IMF-fixdate).
pub const HTTP_DATE_LEN: usize = 29;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

const WEEKDAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];

/// A per-second cache of one text of `N` bytes, for a `thread_local!` (no lock, no
/// sharing between threads: each formats the new second once).
pub struct PerSecond<const N: usize> {
    /// (second since the epoch, its text); `u64::MAX` means empty.
    cached: Cell<(u64, [u8; N])>,
}

impl<const N: usize> PerSecond<N> {
    pub const fn new() -> Self {
        PerSecond {
            cached: Cell::new((u64::MAX, [0; N])),
        }
    }

    /// Appends the text of `time`'s second (clamped to [`MAX_SECS`]) to `out`:
    /// `format(secs)` if the second is not the cached one.
    pub fn push(&self, out: &mut Vec<u8>, time: SystemTime, format: fn(u64) -> [u8; N]) {
        self.push_secs(out, unix_secs(time), format);
    }

    /// [`PerSecond::push`] for a time in seconds since the epoch.
    pub fn push_secs(&self, out: &mut Vec<u8>, secs: u64, format: fn(u64) -> [u8; N]) {
        out.extend_from_slice(&self.text(secs.min(MAX_SECS), format));
    }

    fn text(&self, secs: u64, format: fn(u64) -> [u8; N]) -> [u8; N] {
        let (cached_secs, cached_text) = self.cached.get();
        if cached_secs == secs {
            return cached_text;
        }
        let text = format(secs);
        self.cached.set((secs, text));
        text
    }
}

impl<const N: usize> Default for PerSecond<N> {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    static HTTP_DATE: PerSecond<HTTP_DATE_LEN> = const { PerSecond::new() };
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

/// Appends `secs` (since the epoch) as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`)
/// to `out`.
pub fn push_http_date(out: &mut Vec<u8>, secs: u64) {
    HTTP_DATE.with(|cache| cache.push_secs(out, secs, format_http_date));
}

/// Seconds since the epoch now, from the coarse clock: what a `Date` field needs (see
/// [`coarse`]). The kernel stamps files from the same clock, finer only for a file
/// changed within the current tick, so a `Last-Modified` later than the `Date` needs a
/// change in the last few milliseconds before a second turns.
pub fn coarse_unix_secs() -> u64 {
    coarse(libc::CLOCK_REALTIME_COARSE).as_secs()
}

/// Time on the monotonic clock (from an arbitrary start), coarse: for deadlines of
/// seconds, such as the keep-alive time, taken on every request.
pub fn coarse_monotonic() -> Duration {
    coarse(libc::CLOCK_MONOTONIC_COARSE)
}

/// A coarse clock's time: the kernel's value at its last tick (a few milliseconds old at
/// most), read from the vDSO's data page without the time stamp counter, which on this
/// kind of virtual machine is what makes a precise clock read cost (`SystemTime::now`
/// and `Instant::now` were 2.4 reads a request, about 4% of a small request's user
/// time). Zero if the clock cannot be read, which Linux does not do for these clocks.
fn coarse(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos.min(999_999_999))
}

/// Formats seconds since the epoch (at most [`MAX_SECS`]) as an HTTP date.
fn format_http_date(secs: u64) -> [u8; HTTP_DATE_LEN] {
    let days = secs / 86_400;
    let (year, month, day) = civil_from_secs(secs);
    let (hour, minute, second) = time_of_day(secs);
    let mut buf = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    // 1970-01-01 was a Thursday.
    buf[0..3].copy_from_slice(WEEKDAYS[((days + 4) % 7) as usize]);
    put2(&mut buf[5..7], day);
    buf[8..11].copy_from_slice(month_name(month));
    put2(&mut buf[12..14], year / 100);
    put2(&mut buf[14..16], year % 100);
    put2(&mut buf[17..19], hour);
    put2(&mut buf[20..22], minute);
    put2(&mut buf[23..25], second);
    buf
}

/// (hour, minute, second) of a time given in seconds since the epoch.
pub fn time_of_day(secs: u64) -> (u64, u64, u64) {
    let rem = secs % 86_400;
    (rem / 3600, rem / 60 % 60, rem % 60)
}

/// The abbreviated English name of month 1..=12.
pub fn month_name(month: u64) -> &'static [u8; 3] {
    MONTHS
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or(b"Jan")
}

/// Writes a number below 100 as two ASCII digits.
pub fn put2(dst: &mut [u8], value: u64) {
    dst[0] = b'0' + (value / 10 % 10) as u8;
    dst[1] = b'0' + (value % 10) as u8;
}

/// Converts days since 1970-01-01 (negative before it) into a proleptic Gregorian
/// (year, month, day).
///
/// Works on 400-year eras counted from 0000-03-01, so that the leap day is the
/// last day of each shifted year (Howard Hinnant's well-known method).
pub fn civil_from_days(days: i64) -> (i64, u64, u64) {
    // Days from 0000-03-01 to 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
                                                     // Both in small positive ranges: the casts cannot truncate.
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u64;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u64;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// [`civil_from_days`] for a time after 1970 given in seconds.
pub fn civil_from_secs(secs: u64) -> (u64, u64, u64) {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    (year.unsigned_abs(), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn http(secs: u64) -> String {
        let mut out = Vec::new();
        push_http_date(&mut out, secs);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn http_dates_match_httpdate_for_many_days() {
        let mut secs = 0u64;
        while secs < 4_000_000_000 {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(http(secs), httpdate::fmt_http_date(t));
            secs += 86_400 * 5 + 3_607;
        }
        assert_eq!(http(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http(u64::MAX / 2), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn the_cache_switches_seconds() {
        let cache = PerSecond::<2>::new();
        let format = |s: u64| [b'0' + (s % 10) as u8, b'!'];
        assert_eq!(&cache.text(7, format), b"7!");
        assert_eq!(&cache.text(7, |_| *b"??"), b"7!", "cached");
        assert_eq!(&cache.text(8, format), b"8!");
    }
}
