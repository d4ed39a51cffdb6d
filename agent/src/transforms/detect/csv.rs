//! `node-agent detect`: CSV `timestamp,value` on stdin, one score per data line on stdout, through
//! the same [`SeriesDetector::update`] the live agent calls. Buffered both ways, one reused line
//! buffer, no allocation per line; output is flushed whenever no more input is buffered, so it
//! streams through a pipe and still writes in large blocks over a file.

use std::io::{BufRead, BufReader, Read, Write};

use super::detector::SeriesDetector;

/// What went wrong reading or writing.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// Reading stdin failed.
    #[error("read input: {0}")]
    Read(std::io::Error),
    /// Writing stdout failed.
    #[error("write output: {0}")]
    Write(std::io::Error),
}

/// What one run saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DetectStats {
    /// Data lines scored (one output line each).
    pub rows: u64,
    /// A header line was skipped.
    pub header: bool,
    /// Lines whose value did not parse (scored 0, state unchanged).
    pub bad_values: u64,
    /// Lines whose timestamp did not parse (the previous timestamp was used).
    pub bad_timestamps: u64,
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses `YYYY-MM-DD HH:MM:SS[.frac]`, RFC 3339 (`T`, fraction, `Z` or `±HH:MM`), or unix
/// seconds (milliseconds when above 1e11). Returns whole unix seconds.
pub fn parse_timestamp(s: &[u8]) -> Option<i64> {
    let s = s.trim_ascii();
    if s.len() >= 19 && s[4] == b'-' && s[7] == b'-' && s[13] == b':' && s[16] == b':' {
        if !(s[10] == b' ' || s[10] == b'T' || s[10] == b't') {
            return None;
        }
        let y = digits(&s[0..4])?;
        let mo = digits(&s[5..7])?;
        let d = digits(&s[8..10])?;
        let h = digits(&s[11..13])?;
        let mi = digits(&s[14..16])?;
        let se = digits(&s[17..19])?;
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let mut rest = &s[19..];
        if rest.first() == Some(&b'.') {
            let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            rest = &rest[1 + n..];
        }
        let offset = match rest {
            [] | [b'Z'] | [b'z'] => 0,
            [sign @ (b'+' | b'-'), hh1, hh2, b':', mm1, mm2] => {
                let oh = digits(&[*hh1, *hh2])?;
                let om = digits(&[*mm1, *mm2])?;
                let o = i64::from(oh * 3600 + om * 60);
                if *sign == b'+' { o } else { -o }
            }
            _ => return None,
        };
        let days = crate::civil::days_from_civil(i64::from(y), i64::from(mo), i64::from(d));
        return Some(days * 86_400 + i64::from(h * 3600 + mi * 60 + se) - offset);
    }
    let txt = std::str::from_utf8(s).ok()?;
    let v: f64 = txt.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    Some(if v.abs() > 1e11 {
        (v / 1000.0) as i64
    } else {
        v as i64
    })
}

fn parse_value(s: &[u8]) -> Option<f64> {
    let s = s.trim_ascii();
    let s = s
        .strip_prefix(b"\"")
        .and_then(|x| x.strip_suffix(b"\""))
        .unwrap_or(s);
    std::str::from_utf8(s).ok()?.parse::<f64>().ok()
}

/// Writes a score in [0, 1] with six decimals, without going through `fmt`.
fn write_score(out: &mut Vec<u8>, score: f64) {
    let v = (score.clamp(0.0, 1.0) * 1e6).round() as u32;
    if v >= 1_000_000 {
        out.extend_from_slice(b"1.000000\n");
        return;
    }
    let mut buf = *b"0.000000\n";
    let mut x = v;
    for i in (2..8).rev() {
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    out.extend_from_slice(&buf);
}

/// A score at or above this opens a refractory period in the command's output.
pub const REFRACTORY_SCORE: f64 = 0.6;
/// How long (seconds of series time) after such a score the command writes 0: one anomaly is
/// one alarm, as the live alert policy's hysteresis makes it one page. The live path (the
/// engine and its [`super::AlertState`]) sees the raw calibrated score.
pub const REFRACTORY_SECS: i64 = 6 * 3600;

/// The command's output filter: after a score >= [`REFRACTORY_SCORE`], the scores of the next
/// [`REFRACTORY_SECS`] are written as 0 (a timestamp that goes backwards stays inside the period).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Refractory {
    since: Option<i64>,
}

impl Refractory {
    pub(super) fn filter(&mut self, ts: i64, score: f64) -> f64 {
        if let Some(t) = self.since {
            if ts.saturating_sub(t) < REFRACTORY_SECS {
                return 0.0;
            }
            self.since = None;
        }
        if score >= REFRACTORY_SCORE {
            self.since = Some(ts);
        }
        score
    }
}

/// Scores every data line of `input` into `output` (through the refractory filter, see
/// [`REFRACTORY_SECS`]).
pub fn run_detect<R: Read, W: Write>(
    input: R,
    mut output: W,
    detector: &mut SeriesDetector,
) -> Result<DetectStats, DetectError> {
    let mut input = BufReader::with_capacity(256 * 1024, input);
    let mut stats = DetectStats::default();
    let mut line = Vec::with_capacity(256);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut last_ts = 0i64;
    let mut first = true;
    let mut refractory = Refractory::default();
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(DetectError::Read)?;
        if n == 0 {
            break;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let (ts_part, val_part) = match text.iter().rposition(|c| *c == b',') {
            Some(i) => (&text[..i], &text[i + 1..]),
            None => (&text[..0], text),
        };
        let value = parse_value(val_part);
        if first {
            first = false;
            if value.is_none() && parse_timestamp(ts_part).is_none() {
                stats.header = true;
                continue;
            }
        }
        let ts = match parse_timestamp(ts_part) {
            Some(t) => t,
            None => {
                stats.bad_timestamps += 1;
                last_ts
            }
        };
        last_ts = ts;
        let score = match value {
            Some(v) => detector.update(ts, v).score,
            None => {
                stats.bad_values += 1;
                0.0
            }
        };
        let score = refractory.filter(ts, score);
        stats.rows += 1;
        write_score(&mut out, score);
        if out.len() >= 60 * 1024 || input.buffer().is_empty() {
            output.write_all(&out).map_err(DetectError::Write)?;
            output.flush().map_err(DetectError::Write)?;
            out.clear();
        }
    }
    output.write_all(&out).map_err(DetectError::Write)?;
    output.flush().map_err(DetectError::Write)?;
    Ok(stats)
}
