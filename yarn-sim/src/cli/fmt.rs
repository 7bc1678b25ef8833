//! Hadoop's printed formats: Java printf-style right-aligned columns, `Times.format`,
//! `DecimalFormat("###.##%")`.

/// `%Ns`: right-aligned in `width` (wider values are not cut, as in Java).
pub fn right(s: &str, width: usize) -> String {
    format!("{s:>width$}")
}

/// Joins right-aligned cells with tabs, Hadoop's `"%30s\t%20s..."` patterns.
pub fn row(cells: &[(&str, usize)]) -> String {
    cells.iter().map(|(s, w)| right(s, *w)).collect::<Vec<_>>().join("\t")
}

/// `DecimalFormat("###.##%")` of a 0..=100 percentage: "53.79%", "100%", "0%".
pub fn percent(p: f64) -> String {
    let r = (p * 100.0).round() / 100.0;
    let mut s = format!("{r:.2}");
    while s.contains('.') && (s.ends_with('0') || s.ends_with('.')) {
        s.pop();
    }
    format!("{s}%")
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

pub use crate::times::civil;

/// Hadoop's `Times.format(ms)`: "Wed Jun 12 08:40:17 +0000 2019" (UTC), "N/A" for 0.
pub fn times(ms: i64) -> String {
    if ms <= 0 {
        return "N/A".into();
    }
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} +0000 {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        y
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hadoop_formats() {
        assert_eq!(percent(53.789), "53.79%");
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(12.5), "12.5%");
        assert_eq!(times(1560328817000), "Wed Jun 12 08:40:17 +0000 2019");
        assert_eq!(times(0), "N/A");
        assert_eq!(row(&[("Application-Id", 30), ("x", 3)]), "                Application-Id\t  x");
    }
}
