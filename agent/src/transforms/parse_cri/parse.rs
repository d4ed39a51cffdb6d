//! One container log line to (time, stream, partial flag, message).

use serde::Deserialize;

use super::ContainerFormat;
use crate::logs::timestamp::parse_rfc3339_nanos;

/// The output stream of a container line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// stdout.
    Stdout,
    /// stderr.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn parse(s: &str) -> Option<Stream> {
        match s {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// Why a line is not a valid container log line. `reason()` is the metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer than four space-separated fields.
    #[error("cri line has too few fields")]
    CriFields,
    /// The first field is not an RFC 3339 timestamp.
    #[error("cri line has a bad timestamp")]
    CriTimestamp,
    /// The stream is neither stdout nor stderr.
    #[error("cri line has a bad stream")]
    CriStream,
    /// The tag is neither P nor F.
    #[error("cri line has a bad tag")]
    CriTag,
    /// Not a docker json-file object.
    #[error("docker json line does not parse: {0}")]
    DockerJson(String),
    /// The docker `time` is not RFC 3339.
    #[error("docker json line has a bad time")]
    DockerTimestamp,
}

impl ParseError {
    /// A bounded label value.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::CriFields => "cri_fields",
            ParseError::CriTimestamp => "cri_timestamp",
            ParseError::CriStream => "cri_stream",
            ParseError::CriTag => "cri_tag",
            ParseError::DockerJson(_) => "docker_json",
            ParseError::DockerTimestamp => "docker_timestamp",
        }
    }
}

/// A parsed container log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLine<'a> {
    /// Nanoseconds since the epoch, from the runtime.
    pub ts_ns: i64,
    /// stdout or stderr.
    pub stream: Stream,
    /// True for a fragment that the next line of the same stream continues.
    pub partial: bool,
    /// The message (without docker's final newline).
    pub msg: std::borrow::Cow<'a, str>,
}

/// Parses a CRI line: `<RFC3339Nano> <stream> <P|F> <message>`.
pub fn parse_cri(line: &str) -> Result<ContainerLine<'_>, ParseError> {
    let mut it = line.splitn(4, ' ');
    let ts = it.next().ok_or(ParseError::CriFields)?;
    let stream = it.next().ok_or(ParseError::CriFields)?;
    let tag = it.next().ok_or(ParseError::CriFields)?;
    // An empty message may come without its separating space.
    let msg = it.next().unwrap_or("");
    let ts_ns = parse_rfc3339_nanos(ts).ok_or(ParseError::CriTimestamp)?;
    let stream = Stream::parse(stream).ok_or(ParseError::CriStream)?;
    // Tags may carry more flags after ':' in future runtimes; the first is P or F.
    let partial = match tag.split(':').next() {
        Some("P") => true,
        Some("F") => false,
        _ => return Err(ParseError::CriTag),
    };
    Ok(ContainerLine {
        ts_ns,
        stream,
        partial,
        msg: std::borrow::Cow::Borrowed(msg),
    })
}

#[derive(Deserialize)]
struct DockerLine<'a> {
    #[serde(borrow)]
    log: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    stream: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    time: std::borrow::Cow<'a, str>,
}

/// Parses a docker json-file line. A `log` without its final newline is a partial fragment
/// (docker splits lines at 16 KiB).
pub fn parse_docker(line: &str) -> Result<ContainerLine<'_>, ParseError> {
    let d: DockerLine<'_> =
        serde_json::from_str(line).map_err(|e| ParseError::DockerJson(e.to_string()))?;
    let ts_ns = parse_rfc3339_nanos(&d.time).ok_or(ParseError::DockerTimestamp)?;
    let stream = Stream::parse(&d.stream).ok_or(ParseError::DockerJson("bad stream".into()))?;
    let (msg, partial) = match d.log {
        std::borrow::Cow::Borrowed(s) => match s.strip_suffix('\n') {
            Some(m) => (std::borrow::Cow::Borrowed(m), false),
            None => (std::borrow::Cow::Borrowed(s), true),
        },
        std::borrow::Cow::Owned(mut s) => {
            let partial = !s.ends_with('\n');
            if !partial {
                s.pop();
            }
            (std::borrow::Cow::Owned(s), partial)
        }
    };
    Ok(ContainerLine {
        ts_ns,
        stream,
        partial,
        msg,
    })
}

/// Parses a line in `format`.
pub fn parse_container_line(
    format: ContainerFormat,
    line: &str,
) -> Result<ContainerLine<'_>, ParseError> {
    match format {
        ContainerFormat::Cri => parse_cri(line),
        ContainerFormat::Docker => parse_docker(line),
        ContainerFormat::Auto if line.starts_with('{') => parse_docker(line),
        ContainerFormat::Auto => parse_cri(line),
    }
}
