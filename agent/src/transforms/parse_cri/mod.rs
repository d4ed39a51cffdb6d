//! `parse_cri`: container runtime log lines. The CRI format (`<RFC3339Nano> <stream> <P|F>
//! <message>`, what containerd and CRI-O write under `/var/log/pods`) and docker's json-file
//! format (`{"log":"...\n","stream":"stdout","time":"..."}`), with partial fragments (CRI `P`, a
//! docker `log` without its final newline) joined into one line up to a size bound.

mod config;
mod join;
mod parse;

pub use config::{ContainerFormat, ParseCriConfig};
pub use join::{Joined, Joiner};
pub use parse::{ContainerLine, ParseError, Stream, parse_container_line, parse_cri, parse_docker};

#[cfg(test)]
mod tests;
