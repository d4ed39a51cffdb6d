//! Which answers are retried, and how long to wait.

use std::time::Duration;

/// What to do with a push's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 2xx: delivered.
    Delivered,
    /// 429 or 5xx: send again later.
    Retry,
    /// Any other status: Loki will never take it; count it as rejected.
    Reject,
}

/// Classifies an HTTP status.
pub fn classify(status: u16) -> Class {
    match status {
        200..=299 => Class::Delivered,
        429 | 500..=599 => Class::Retry,
        _ => Class::Reject,
    }
}

/// `Retry-After` in delta-seconds (the form Loki and proxies use); an HTTP-date or garbage is
/// ignored and the backoff applies.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

/// The longest Retry-After honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

impl Backoff {
    /// Starts at `min`, doubles up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min: min.max(Duration::from_millis(1)),
            max: max.max(min),
            attempt: 0,
            rng: (crate::logs::timestamp::now_nanos() as u64) | 1,
        }
    }

    fn random_unit(&mut self) -> f64 {
        // xorshift64*: jitter needs spread, not secrecy.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let v = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next delay: `d = min * 2^attempt` capped at `max`, jittered into `[d/2, d]`, and at
    /// least `retry_after` (capped at 5 minutes).
    pub fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let exp = self.min.saturating_mul(1u32 << self.attempt.min(20));
        let d = exp.min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        let jitter = half.mul_f64(self.random_unit());
        let delay = half + jitter;
        match retry_after {
            Some(ra) => delay.max(ra.min(MAX_RETRY_AFTER)),
            None => delay,
        }
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}
