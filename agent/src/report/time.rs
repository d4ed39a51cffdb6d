//! UTC dates without a calendar crate: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` to Unix seconds
//! and back (Howard Hinnant's days-from-civil algorithm).

use super::ReportError;
use crate::civil::{civil_from_days, days_from_civil};

/// Seconds in a day.
pub const DAY: i64 = 86_400;

fn num(s: &str, what: &str, input: &str) -> Result<i64, ReportError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ReportError::Period(format!("{input:?}: bad {what}")));
    }
    s.parse()
        .map_err(|_| ReportError::Period(format!("{input:?}: bad {what}")))
}

/// Parses `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM:SSZ` into Unix seconds.
pub fn parse_time(input: &str) -> Result<i64, ReportError> {
    let (date, clock) = match input.split_once('T') {
        Some((d, c)) => (
            d,
            Some(c.strip_suffix('Z').ok_or_else(|| {
                ReportError::Period(format!("{input:?}: times must be UTC and end in Z"))
            })?),
        ),
        None => (input, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return Err(ReportError::Period(format!(
            "{input:?}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
        )));
    }
    let (y, m, d) = (
        num(parts[0], "year", input)?,
        num(parts[1], "month", input)?,
        num(parts[2], "day", input)?,
    );
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return Err(ReportError::Period(format!("{input:?}: bad month"))),
    };
    if d < 1 || d > days_in_month {
        return Err(ReportError::Period(format!("{input:?}: bad day")));
    }
    let mut t = days_from_civil(y, m, d) * DAY;
    if let Some(c) = clock {
        let hms: Vec<&str> = c.split(':').collect();
        if hms.len() != 3 {
            return Err(ReportError::Period(format!("{input:?}: expected HH:MM:SS")));
        }
        let (h, mi, s) = (
            num(hms[0], "hour", input)?,
            num(hms[1], "minute", input)?,
            num(hms[2], "second", input)?,
        );
        if h > 23 || mi > 59 || s > 59 {
            return Err(ReportError::Period(format!("{input:?}: bad time of day")));
        }
        t += h * 3600 + mi * 60 + s;
    }
    Ok(t)
}

/// `YYYY-MM-DD` of the UTC day holding `ts`.
pub fn format_day(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM:SSZ`.
pub fn format_ts(ts: i64) -> String {
    let s = ts.rem_euclid(DAY);
    format!(
        "{} {:02}:{:02}:{:02}Z",
        format_day(ts),
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}
