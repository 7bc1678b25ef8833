//! Dates as YARN prints them (`org.apache.hadoop.yarn.util.Times`), from epoch milliseconds, in
//! UTC. Pure arithmetic, shared by the NodeManager's localizer, the REST adapters and the CLIs.

/// Days since 1970-01-01 -> (year, month 1-12, day 1-31), proleptic Gregorian (Howard
/// Hinnant's days-to-civil algorithm).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `Times.formatISO8601` (`yyyy-MM-dd'T'HH:mm:ss.SSSZ`) of epoch milliseconds, in UTC.
pub fn format_iso8601(ms: i64) -> String {
    let (y, m, d) = civil(ms.div_euclid(86_400_000));
    let rem = ms.rem_euclid(86_400_000);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}+0000")
}

#[cfg(test)]
mod tests {
    use super::format_iso8601;

    /// Against dates Java prints for the same instants (`Times.formatISO8601` in UTC).
    #[test]
    fn iso8601_as_java_prints_it() {
        assert_eq!(format_iso8601(0), "1970-01-01T00:00:00.000+0000");
        assert_eq!(format_iso8601(1_700_000_000_123), "2023-11-14T22:13:20.123+0000");
        assert_eq!(format_iso8601(951_782_400_000), "2000-02-29T00:00:00.000+0000");
        assert_eq!(format_iso8601(-1), "1969-12-31T23:59:59.999+0000");
        assert_eq!(format_iso8601(4_102_444_799_999), "2099-12-31T23:59:59.999+0000");
    }
}
