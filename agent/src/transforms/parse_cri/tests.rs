//! Unit tests: CRI and docker lines, partial joining, the size bound.

use super::*;

const CRI: &str = include_str!("../../../tests/data/logs/cri-java-stacktrace-hdfs.derived.log");
const DOCKER: &str =
    include_str!("../../../tests/data/logs/docker-json-file-packetbeat-build-corrupted-line7.log");

#[test]
fn cri_fixture_parses_every_line() {
    let lines: Vec<_> = CRI.lines().map(|l| parse_cri(l).expect("ok")).collect();
    assert_eq!(lines.len(), 19);
    assert!(
        lines
            .iter()
            .all(|l| l.stream == Stream::Stderr && !l.partial)
    );
    assert_eq!(lines[0].ts_ns, 1_597_871_184_337_499_838);
    assert_eq!(
        lines[0].msg,
        "hdfsExists: invokeMethod((Lorg/apache/hadoop/fs/Path;)Z) error:"
    );
    assert_eq!(
        lines[2].msg,
        "\tat org.apache.hadoop.ipc.Client.call(Client.java:1475)"
    );
}

#[test]
fn cri_errors_name_the_field() {
    assert_eq!(
        parse_cri("2020-08-19T21:06:24Z stdout").expect_err("must fail"),
        ParseError::CriFields
    );
    assert_eq!(
        parse_cri("yesterday stdout F hi").expect_err("must fail"),
        ParseError::CriTimestamp
    );
    assert_eq!(
        parse_cri("2020-08-19T21:06:24Z stdin F hi").expect_err("must fail"),
        ParseError::CriStream
    );
    assert_eq!(
        parse_cri("2020-08-19T21:06:24Z stdout X hi").expect_err("must fail"),
        ParseError::CriTag
    );
    assert_eq!(
        parse_cri("2020-08-19T21:06:24Z stdout F").expect("ok").msg,
        ""
    );
    assert_eq!(
        parse_cri("2020-08-19T21:06:24Z stdout F  two  spaces ")
            .expect("ok")
            .msg,
        " two  spaces "
    );
}

#[test]
fn docker_fixture_parses_except_the_corrupted_line() {
    let results: Vec<_> = DOCKER.lines().map(parse_docker).collect();
    let bad: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_err())
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(bad, vec![7]);
    assert_eq!(
        results[6].as_ref().expect_err("must fail").reason(),
        "docker_json"
    );
    let first = results[0].as_ref().expect("ok");
    assert_eq!(
        first.msg,
        "Fetching main repository github.com/elastic/beats..."
    );
    assert_eq!(first.stream, Stream::Stdout);
    assert!(!first.partial);
    assert_eq!(first.ts_ns, 1_456_959_531_338_462_311);
    // Auto-detection: `{` is docker, anything else CRI (so the corrupted line fails as CRI).
    assert!(
        parse_container_line(ContainerFormat::Auto, DOCKER.lines().next().expect("ok")).is_ok()
    );
    assert_eq!(
        parse_container_line(ContainerFormat::Auto, DOCKER.lines().nth(6).expect("ok"))
            .expect_err("must fail")
            .reason(),
        "cri_timestamp"
    );
}

#[test]
fn docker_partial_is_a_log_without_newline() {
    let l = parse_docker(r#"{"log":"part one ","stream":"stderr","time":"2016-03-02T22:58:51Z"}"#)
        .expect("ok");
    assert!(l.partial);
    let l =
        parse_docker(r#"{"log":"esc \"q\"\n","stream":"stderr","time":"2016-03-02T22:58:51Z"}"#)
            .expect("ok");
    assert!(!l.partial);
    assert_eq!(l.msg, "esc \"q\"");
}

fn line(stream: Stream, partial: bool, msg: &str, ts: i64) -> ContainerLine<'_> {
    ContainerLine {
        ts_ns: ts,
        stream,
        partial,
        msg: std::borrow::Cow::Borrowed(msg),
    }
}

#[test]
fn partials_join_per_stream_and_hold_back_the_offset() {
    let mut j = Joiner::new(1024);
    let mut out = Vec::new();
    j.push(line(Stream::Stdout, true, "hello ", 1), 0, &mut out);
    j.push(line(Stream::Stderr, false, "err", 2), 10, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].msg, "err");
    assert_eq!(
        j.pending_start(),
        Some(0),
        "the stdout fragment at 0 is not delivered yet"
    );
    j.push(line(Stream::Stdout, true, "big ", 3), 20, &mut out);
    j.push(line(Stream::Stdout, false, "world", 4), 30, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[1],
        Joined {
            ts_ns: 1,
            stream: Stream::Stdout,
            msg: "hello big world".into(),
            cut: false,
            start: 0
        }
    );
    assert_eq!(j.pending_start(), None);
}

#[test]
fn joined_line_is_cut_at_the_bound_without_losing_bytes() {
    let mut j = Joiner::new(8);
    let mut out = Vec::new();
    j.push(line(Stream::Stdout, true, "abcdef", 1), 0, &mut out);
    j.push(line(Stream::Stdout, true, "ghijkl", 1), 7, &mut out);
    j.push(line(Stream::Stdout, false, "mn", 1), 14, &mut out);
    let msgs: Vec<_> = out.iter().map(|o| (o.msg.as_str(), o.cut)).collect();
    assert_eq!(msgs, vec![("abcdefgh", true), ("ijklmn", false)]);
    // Multi-byte characters are never split.
    let mut j = Joiner::new(4);
    let mut out = Vec::new();
    j.push(line(Stream::Stdout, false, "ééé", 1), 0, &mut out);
    assert!(out.iter().all(|o| o.msg.len() <= 4));
    assert_eq!(
        out.iter().map(|o| o.msg.as_str()).collect::<String>(),
        "ééé"
    );
}

#[test]
fn a_wide_char_that_does_not_fit_the_room_left_starts_the_next_piece_and_the_bound_holds() {
    // "ab" is pending; "€€" (3 bytes each) cannot fit in the 2 bytes left.
    let mut j = Joiner::new(4);
    let mut out = Vec::new();
    j.push(line(Stream::Stdout, true, "ab", 1), 0, &mut out);
    j.push(line(Stream::Stdout, false, "€€", 1), 5, &mut out);
    let msgs: Vec<_> = out.iter().map(|o| (o.msg.as_str(), o.cut)).collect();
    assert_eq!(msgs, vec![("ab", true), ("€", true), ("€", false)]);
    assert!(out.iter().all(|o| o.msg.len() <= 4));
    // A bound narrower than one char still ends: each char goes out whole, nothing is lost.
    let mut j = Joiner::new(2);
    let mut out = Vec::new();
    j.push(line(Stream::Stdout, true, "a", 1), 0, &mut out);
    j.push(line(Stream::Stdout, false, "€x€", 1), 5, &mut out);
    assert_eq!(
        out.iter().map(|o| o.msg.as_str()).collect::<String>(),
        "a€x€"
    );
    assert!(out.iter().all(|o| !o.msg.is_empty() && o.msg.len() <= 3));
    assert_eq!(
        out.iter().filter(|o| !o.cut).count(),
        1,
        "one line, ended once"
    );
    // A wide char left pending by a partial fragment is followed by more text.
    let mut j = Joiner::new(2);
    let mut out = Vec::new();
    j.push(line(Stream::Stdout, true, "€", 1), 0, &mut out);
    j.push(line(Stream::Stdout, false, "yz", 1), 4, &mut out);
    let msgs: Vec<_> = out.iter().map(|o| (o.msg.as_str(), o.cut)).collect();
    assert_eq!(msgs, vec![("€", true), ("yz", false)]);
}

#[test]
fn flush_emits_unfinished_fragments() {
    let mut j = Joiner::new(100);
    let mut out = Vec::new();
    j.push(line(Stream::Stderr, true, "dangling", 5), 3, &mut out);
    assert!(out.is_empty());
    j.flush(&mut out);
    assert_eq!(out[0].msg, "dangling");
    assert_eq!(j.pending_start(), None);
}
