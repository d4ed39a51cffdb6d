//! A test Loki: the push endpoint (`POST /loki/api/v1/push`, snappy protobuf or JSON, gzip too),
//! Loki's validation (label syntax and limits, reserved `__` names, line size, batch size,
//! out-of-order entries, too old and too new entries when asked, with Loki's own 400 bodies
//! for a push it stores in part: `answer.rs`), failures on demand (429 with Retry-After, 500) and a record
//! of what it accepted. Control endpoints:
//!
//! - `POST /control/fail?status=500&seconds=10&retry_after=1` (or `count=N`): answer pushes
//!   with that status; `POST /control/ok` ends it;
//! - `GET /control/stats`: counts as JSON;
//! - `GET /control/entries`: the accepted entries kept in memory (up to `--keep-max`) as JSON.
//!
//! Every accepted entry is also appended to `--record FILE` as one JSON object per line.

pub mod answer;
pub mod labels;
pub mod proto;
pub mod server;

pub use server::{Limits, Receiver, serve};

#[cfg(test)]
mod tests;
