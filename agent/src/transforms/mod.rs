//! Log transforms, each named after its verb: [`parse_cri`] (CRI and docker json-file container
//! logs, partial-line joining), [`multiline`] (stack traces into one entry) and [`parse_json`]
//! (JSON and logfmt lines: `level` label, structured metadata, line timestamps).

pub mod multiline;
pub mod parse_cri;
pub mod parse_json;
