use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::mask::{self, Token, WILD_HASH, line_level, tokenize};
use super::*;
use crate::logs::{LogEntry, Metadata, StreamLabels};
use crate::sinks::alertmanager::{AlertmanagerConfig, Links};
use crate::transforms::detect::AlertBook;

fn toks(line: &str) -> Vec<Token> {
    let mut v = Vec::new();
    tokenize(line, 128, &mut v);
    v
}

fn rendered(line: &str) -> Vec<String> {
    toks(line)
        .iter()
        .map(|t| {
            let mut s = String::new();
            t.render(line, &mut s);
            s
        })
        .collect()
}

fn cfg() -> LogPatternsConfig {
    LogPatternsConfig {
        enabled: true,
        ..Default::default()
    }
}

/// Mines `lines` in one group; returns each line's template id.
fn mine(m: &mut Miner, lines: &[&str]) -> Vec<u64> {
    let g = m.group_slot("g", Vec::new, 0);
    lines.iter().map(|l| m.observe(g, l, None, 0).id).collect()
}

#[test]
fn masks_numbers_ids_addresses_paths_durations_and_quoted_values() {
    // The storage node's request line (JSON), Prometheus' logfmt, a klog line, a Java line.
    // A JSON line with a message: its message only, whatever fields it has (the level is the
    // template's level, not a token).
    let json = r#"{"timestamp":"2026-12-05T23:46:26.123456Z","level":"INFO","fields":{"message":"request","op":"PutObject","status":200,"latency_ms":1.25,"request_id":"3f1c2a9e-5b7d-4c1e-9a2b-0d8e7f6a5b4c"},"target":"storage_node::http"}"#;
    assert_eq!(rendered(json), vec!["request"]);
    assert_eq!(line_level(json, &toks(json)), Some("info"));
    let json2 = r#"{"timestamp":"2026-12-05T23:46:27.1Z","level":"WARN","message":"scrub found 3 damaged objects in /data/b1","error_code":"X"}"#;
    assert_eq!(
        rendered(json2),
        vec!["scrub", "found", "<*>", "damaged", "objects", "in", "<*>"]
    );
    // A JSON line without one: every field, values judged.
    let json = json.replace(r#""message""#, r#""event""#);
    assert_eq!(
        rendered(&json),
        vec![
            r#""timestamp":<*>"#,
            r#""level":"INFO""#,
            r#""fields":"#,
            r#""event":"request""#,
            r#""op":"PutObject""#,
            r#""status":<*>"#,
            r#""latency_ms":<*>"#,
            r#""request_id":<*>"#,
            r#""target":"storage_node::http""#,
        ]
    );
    let logfmt = r#"ts=2026-12-05T23:46:26.123Z caller=main.go:585 level=info msg="Starting Prometheus Server" mode=server version="(version=2.42.0, branch=HEAD, revision=225c61122d88b01d1f0eaaee0e05b6f3e0567ac0)""#;
    assert_eq!(
        rendered(logfmt),
        vec![
            "ts=<*>",
            "caller=main.go:585",
            "level=info",
            "msg=\"Starting",
            "Prometheus",
            "Server\"",
            "mode=server",
            "version=<*>",
            "branch=HEAD",
            "revision=<*>",
        ]
    );
    let klog = "E1205 23:46:26.123456   12345 reflector.go:138] failed to list *v1.Pod from 10.0.0.12:6443 after 1.5s: dial tcp [fe80::1]:443: i/o timeout";
    let r = rendered(klog);
    assert_eq!(r[0], "<*>");
    assert!(r.contains(&"failed".to_string()));
    assert!(r.contains(&"reflector.go:138".to_string()));
    assert!(r.contains(&"<*>".to_string()));
    assert!(
        !r.iter()
            .any(|t| t.contains("10.0.0.12") || t.contains("1.5s"))
    );
    // Stack frames: `at <*>`, whatever the method and source (tab or two spaces before `at`).
    for frame in [
        "\tat org.apache.hadoop.ipc.Client.call(Client.java:1475)",
        "\tat com.sun.proxy.$Proxy9.getFileInfo(Unknown Source)",
        "2020-08-19T21:06:24.337Z stderr F \tat sun.reflect.GeneratedMethodAccessor2.invoke(Unknown Source)",
        "    at Object.<anonymous> (/app/index.js:10:5)",
    ] {
        let r = rendered(frame);
        assert_eq!(r[r.len() - 2..], ["at", "<*>"], "{frame}");
    }
    // Not a frame: `at` in a sentence.
    assert_eq!(
        rendered("connection lost at startup (retrying)"),
        vec!["connection", "lost", "at", "startup", "(retrying)"]
    );
    let java = "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster for application appattempt_1445144423722_0020_000001";
    let r = rendered(java);
    assert!(r.contains(&"INFO".to_string()));
    assert!(r.contains(&"main".to_string()));
    assert_eq!(r.last().map(String::as_str), Some("<*>"));
    // A UUID, a hex id, an IPv4 and a path alone.
    for v in [
        "3f1c2a9e-5b7d-4c1e-9a2b-0d8e7f6a5b4c",
        "deadbeefcafebabe",
        "192.168.1.1",
        "/var/log/pods/x",
        "250ms",
    ] {
        let t = toks(v);
        assert_eq!(t.len(), 1, "{v}");
        assert!(t[0].masked && t[0].hash == WILD_HASH, "{v}");
    }
}

#[test]
fn levels_come_from_the_line() {
    for (l, want) in [
        ("level=error msg=x", Some("error")),
        (r#"{"level":"WARN","msg":"x"}"#, Some("warn")),
        ("2024-01-01 12:00:00 ERROR [main] boom", Some("error")),
        ("W0102 12:00:00.000 1 x.go:1] slow", Some("warn")),
        ("E0102 12:00:00.000 1 x.go:1] failed", Some("error")),
        ("level=info msg=ok", Some("info")),
        ("hello world", None),
    ] {
        assert_eq!(line_level(l, &toks(l)), want, "{l}");
    }
}

#[test]
fn similar_lines_join_one_template_and_differing_tokens_become_wildcards() {
    let mut m = Miner::new(cfg());
    let ids = mine(
        &mut m,
        &[
            "Receiving block blk_123 src: /10.0.0.1:50010 dest: /10.0.0.2:50010",
            "Receiving block blk_456 src: /10.0.0.3:50010 dest: /10.0.0.4:50010",
            "PacketResponder 1 for block blk_123 terminating",
            "PacketResponder 2 for block blk_456 terminating",
            "user alice logged in",
            "user bob logged in",
            "user carol logged out",
        ],
    );
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[2], ids[3]);
    assert_ne!(ids[0], ids[2]);
    assert_eq!(ids[4], ids[5]);
    // "logged out" differs in 2 of 4 tokens: 0.5 similarity joins at the default threshold.
    assert_eq!(ids[6], ids[4]);
    let t = m
        .slab
        .iter()
        .flatten()
        .find(|t| t.id == ids[4])
        .map(|t| t.render());
    assert_eq!(t.as_deref(), Some("user <*> logged <*>"));
    let mut strict = Miner::new(LogPatternsConfig {
        similarity: 0.8,
        ..cfg()
    });
    let ids = mine(
        &mut strict,
        &["user alice logged in", "user bob logged out"],
    );
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn hostile_lines_are_bounded_and_never_panic() {
    let mut m = Miner::new(LogPatternsConfig {
        max_tokens: 64,
        ..cfg()
    });
    let g = m.group_slot("g", Vec::new, 0);
    // One token, empty, only separators.
    for l in [
        "x",
        "",
        "   ",
        ",,,{}[]",
        "\"",
        "'",
        "a=\"unterminated",
        "=:=:",
    ] {
        m.observe(g, l, None, 0);
    }
    // Very long line: one 1 MiB token, and thousands of tokens.
    let long = "a".repeat(1 << 20);
    m.observe(g, &long, None, 0);
    let many: String = (0..5000).map(|i| format!("w{} ", i % 7)).collect();
    let s1 = m.observe(g, &many, None, 0);
    let s2 = m.observe(g, &many, None, 0);
    assert_eq!(s1.id, s2.id);
    assert_eq!(m.stats.truncated, 2);
    let t = m.template(s1.idx).map(|t| t.hashes.len());
    assert_eq!(t, Some(64));
    // Binary garbage and invalid UTF-8 (replaced as the tailer does).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200 {
        let bytes: Vec<u8> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let s = String::from_utf8_lossy(&bytes);
        let seen = m.observe(g, &s, None, 0);
        assert_ne!(seen.idx, u32::MAX);
    }
    // Examples are cut at a character boundary.
    let wide = "é".repeat(1000);
    let seen = m.observe(g, &wide, None, 0);
    let ex = &m
        .template(seen.idx)
        .map(|t| t.examples[0].to_string())
        .unwrap_or_default();
    assert!(ex.len() <= 256 + 3, "{}", ex.len());
}

#[test]
fn template_count_groups_and_memory_are_bounded() {
    let mut m = Miner::new(LogPatternsConfig {
        max_templates: 500,
        max_templates_per_group: 300,
        max_groups: 4,
        ..cfg()
    });
    let distinct = |i: usize| -> String {
        // Distinct words (no digits, which would be masked).
        let w: String = format!("{i:x}")
            .chars()
            .map(|c| (b'g' + c.to_digit(16).unwrap_or(0) as u8) as char)
            .collect();
        format!("{w} {w}x {w}y")
    };
    for gi in 0..6 {
        let g = m.group_slot(&format!("g{gi}"), Vec::new, 0);
        for i in 0..400 {
            m.observe(g, &distinct(i), None, 0);
        }
        let gr = m.group(g).map(|g| g.templates).unwrap_or(0);
        assert!(gr <= 300, "{gr}");
    }
    assert!(m.live() <= 500, "{}", m.live());
    assert!(m.groups().count() <= 4);
    assert!(m.stats.evicted > 0);
    assert!(m.stats.groups_evicted >= 2);
    // The most recently seen template survives eviction.
    let g = m.group_slot("g5", Vec::new, 0);
    let s = m.observe(g, &distinct(399), None, 0);
    assert!(!s.new);

    let mut small = Miner::new(LogPatternsConfig {
        max_memory_bytes: 1 << 20,
        ..cfg()
    });
    let g = small.group_slot("g", Vec::new, 0);
    for i in 0..20_000 {
        small.observe(
            g,
            &format!("{} {}", distinct(i), "pad ".repeat(20)),
            None,
            0,
        );
    }
    assert!(small.memory_bytes() <= 1 << 20, "{}", small.memory_bytes());
}

#[test]
fn ten_thousand_templates_fit_in_16_mib() {
    let mut m = Miner::new(LogPatternsConfig {
        max_templates_per_group: 10_000,
        ..cfg()
    });
    let g = m.group_slot("g", Vec::new, 0);
    let word = |i: usize, k: usize| -> String {
        format!("{:x}", i * 31 + k)
            .chars()
            .map(|c| (b'g' + c.to_digit(16).unwrap_or(0) as u8) as char)
            .collect()
    };
    for i in 0..10_000 {
        // Ten distinct words, a level, numbers: a realistic 100-150 byte line.
        let l = format!(
            "2024-01-01T00:00:{:02}Z {} {} level=info msg=\"{} {} {}\" took={}ms id={}",
            i % 60,
            word(i, 0),
            word(i, 1),
            word(i, 2),
            word(i, 3),
            word(i, 4),
            i,
            i * 7
        );
        let s = m.observe(g, &l, None, 0);
        m.observe(g, &l, None, 0);
        assert!(s.new, "{l}");
    }
    assert_eq!(m.live(), 10_000);
    let mem = m.memory_bytes();
    eprintln!("10000 templates: {mem} bytes accounted");
    assert!(mem <= 16 << 20, "{mem}");
}

#[test]
fn templates_round_trip_through_the_file_and_match_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = persist::path(dir.path());
    let mut m = Miner::new(cfg());
    let g = m.group_slot("ns/app", || vec![("namespace".into(), "ns".into())], 1000);
    let a = m.observe(g, "connect to 10.0.0.1 failed: timeout", None, 1000);
    let b = m.observe(g, "user alice logged in", None, 1000);
    m.observe(g, "user bob logged in", None, 1001);
    persist::write(&path, &persist::encode(&m)).expect("write");
    let mut back = Miner::new(cfg());
    assert_eq!(persist::load(&path, &mut back).expect("load"), 2);
    let g2 = back.group_slot("ns/app", Vec::new, 5000);
    assert_eq!(back.group(g2).map(|g| g.first_seen), Some(1000));
    let a2 = back.observe(g2, "connect to 10.0.0.9 failed: timeout", None, 5000);
    let b2 = back.observe(g2, "user carol logged in", None, 5000);
    assert!(!a2.new && !b2.new);
    assert_eq!((a2.id, b2.id), (a.id, b.id));
    // A damaged file is an error, never a panic.
    std::fs::write(&path, b"{\"version\":1,\"groups\":[{").expect("write");
    assert!(persist::load(&path, &mut Miner::new(cfg())).is_err());
    std::fs::write(&path, [0xff, 0xfe, 0]).expect("write");
    assert!(persist::load(&path, &mut Miner::new(cfg())).is_err());
}

fn entry(stream: &Arc<StreamLabels>, line: &str) -> LogEntry {
    LogEntry {
        ts_ns: 0,
        line: line.into(),
        stream: Arc::clone(stream),
        metadata: Metadata::new(),
    }
}

fn transform(
    c: LogPatternsConfig,
    dir: Option<&std::path::Path>,
) -> (Arc<LogPatterns>, Arc<AlertBook>) {
    let book = Arc::new(AlertBook::new());
    let lp = LogPatterns::open(
        c,
        dir,
        Links::new(&AlertmanagerConfig::default()),
        "node-1".into(),
        Arc::clone(&book),
    );
    (lp, book)
}

#[test]
fn the_hook_adds_the_pattern_metadata_and_leaves_the_line_alone() {
    let (lp, _) = transform(cfg(), None);
    let s = Arc::new(StreamLabels::new(vec![
        ("namespace".into(), "shop".into()),
        ("container".into(), "api".into()),
        ("pod".into(), "api-1".into()),
    ]));
    let mut es = vec![
        entry(&s, "GET /cart 200 12ms"),
        entry(&s, "GET /items 200 3ms"),
    ];
    es[1].metadata.push(("trace_id".into(), "abc".into()));
    let before: usize = es.iter().map(LogEntry::size).sum();
    let added = lp.process(&mut es);
    // What the hook says it added is what the entries' sizes grew by (the tailer's chunk size).
    assert_eq!(before + added, es.iter().map(LogEntry::size).sum::<usize>());
    assert_eq!(added, 2 * ("pattern".len() + 16));
    assert_eq!(es[0].line, "GET /cart 200 12ms");
    assert_eq!(es[0].metadata.len(), 1);
    assert_eq!(es[0].metadata[0].0, "pattern");
    assert_eq!(es[0].metadata[0].1.len(), 16);
    assert_eq!(es[1].metadata[1], es[0].metadata[0]);
    let g = lp.lock();
    assert_eq!(
        g.miner
            .groups()
            .next()
            .map(|(_, g)| g.key.to_string())
            .as_deref(),
        Some("shop/api")
    );
}

#[test]
fn a_new_error_pattern_after_learning_alerts_once_with_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = cfg();
    c.alerts.learning_secs = 0;
    let (lp, book) = transform(c.clone(), Some(dir.path()));
    let s = Arc::new(StreamLabels::new(vec![(
        "filename".into(),
        "/var/log/app.log".into(),
    )]));
    lp.process(&mut [entry(&s, "level=info msg=\"request served\" took=3ms")]);
    assert_eq!(book.active_count(), 0, "info lines do not page");
    lp.process(&mut [entry(&s, "level=error msg=\"disk full\" dev=/dev/sda1")]);
    assert_eq!(book.active_count(), 1);
    lp.process(&mut [entry(&s, "level=error msg=\"disk full\" dev=/dev/sdb1")]);
    lp.interval(SystemTime::now());
    let a = book.active();
    assert_eq!(a.len(), 1);
    let an = &a[0].annotations;
    assert_eq!(a[0].labels["alertname"], "LogPatternNew");
    assert_eq!(a[0].labels["filename"], "/var/log/app.log");
    assert_eq!(
        an["example_1"],
        "level=error msg=\"disk full\" dev=/dev/sda1"
    );
    assert_eq!(
        an["example_2"],
        "level=error msg=\"disk full\" dev=/dev/sdb1"
    );
    assert_eq!(an["template"], "level=error msg=\"disk full\" dev=<*>");
    assert_eq!(
        an["logql"],
        format!(
            "{{filename=\"/var/log/app.log\"}} | label_format pattern_id=\"{{{{.pattern}}}}\" | pattern_id=\"{}\"",
            a[0].labels["pattern"]
        )
    );
    assert!(an["grafana_url"].contains("explore"));
    assert!(an["runbook_url"].ends_with("LogPatternNew.md"));
    // The template is on disk: a restarted transform does not see it as new again.
    drop(lp);
    let (lp2, book2) = transform(c, Some(dir.path()));
    lp2.process(&mut [entry(&s, "level=error msg=\"disk full\" dev=/dev/sdc1")]);
    assert_eq!(book2.active_count(), 0);
}

#[test]
fn learning_period_and_keywords() {
    let mut c = cfg();
    c.alerts.learning_secs = 3600;
    let (lp, book) = transform(c.clone(), None);
    let s = Arc::new(StreamLabels::new(vec![("filename".into(), "/a".into())]));
    lp.process(&mut [entry(&s, "level=error msg=\"boom\"")]);
    assert_eq!(book.active_count(), 0, "still learning");
    c.alerts.learning_secs = 0;
    c.alerts.keywords = vec!["OOMKilled".into()];
    let (lp, book) = transform(c, None);
    lp.process(&mut [entry(&s, "container oomkilled restarting")]);
    assert_eq!(book.active_count(), 1);
}

#[test]
fn a_surge_fires_and_resolves_and_steady_traffic_stays_quiet() {
    let mut c = cfg();
    c.alerts.interval_secs = 10;
    c.alerts.warmup_intervals = 10;
    let (lp, book) = transform(c, None);
    let s = Arc::new(StreamLabels::new(vec![("filename".into(), "/a".into())]));
    let t0 = SystemTime::now();
    let at = |k: u64, n: usize, lp: &LogPatterns| {
        let mut es: Vec<LogEntry> = (0..n)
            .map(|i| entry(&s, &format!("GET /item/{i} 200 {}ms", i % 17)))
            .collect();
        es.push(entry(&s, "heartbeat ok"));
        lp.process(&mut es);
        lp.interval(t0 + Duration::from_secs(10 * k));
    };
    // Steady: 20..=24 lines per 10 s for 60 intervals.
    for k in 0..60 {
        at(k, 20 + (k as usize % 5), &lp);
    }
    assert_eq!(book.active_count(), 0, "steady traffic fires nothing");
    for k in 60..63 {
        at(k, 400, &lp);
    }
    let a = book.active();
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].labels["alertname"], "LogPatternSurge");
    assert!(a[0].annotations["template"].starts_with("GET <*>"));
    for k in 63..70 {
        at(k, 22, &lp);
    }
    assert_eq!(book.active_count(), 0, "resolved");
    assert_eq!(book.take_resolved().len(), 1);
}

#[test]
fn disappearance_is_off_by_default_and_fires_when_on() {
    for on in [false, true] {
        let mut c = cfg();
        c.alerts.interval_secs = 10;
        c.alerts.warmup_intervals = 5;
        c.alerts.disappearance = on;
        c.alerts.disappear_after_secs = 60;
        let (lp, book) = transform(c, None);
        let s = Arc::new(StreamLabels::new(vec![("filename".into(), "/a".into())]));
        let t0 = SystemTime::now();
        for k in 0..20u64 {
            let mut es: Vec<LogEntry> = (0..10).map(|_| entry(&s, "sync done")).collect();
            lp.process(&mut es);
            lp.interval(t0 + Duration::from_secs(10 * k));
        }
        for k in 20..30u64 {
            lp.interval(t0 + Duration::from_secs(10 * k));
        }
        let fired = book
            .active()
            .iter()
            .any(|a| a.labels["alertname"] == "LogPatternDisappeared");
        assert_eq!(fired, on);
    }
}

#[test]
fn offline_command_prints_templates_and_assignments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("a.log");
    let mut bytes =
        b"user alice logged in\nuser bob logged in\n\xff\xfe binary \x00 line\ndisk sda1 full\n"
            .to_vec();
    bytes.extend_from_slice(b"no newline at end");
    std::fs::write(&f, bytes).expect("write");
    let mut out = Vec::new();
    offline::run_patterns(
        &cfg(),
        std::slice::from_ref(&f),
        offline::Output::Templates,
        &mut out,
    )
    .expect("run");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("2\t"), "{text}");
    assert!(text.contains("user <*> logged in"));
    let mut out = Vec::new();
    offline::run_patterns(&cfg(), &[f], offline::Output::Assignments, &mut out).expect("run");
    let ids: Vec<&str> = std::str::from_utf8(&out).unwrap_or("").lines().collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

#[test]
fn config_checks_name_the_bad_value() {
    let bad = [
        LogPatternsConfig { depth: 2, ..cfg() },
        LogPatternsConfig {
            similarity: 0.0,
            ..cfg()
        },
        LogPatternsConfig {
            max_templates: 0,
            ..cfg()
        },
        LogPatternsConfig {
            metadata_key: "pat tern".into(),
            ..cfg()
        },
    ];
    for c in bad {
        assert!(c.check().is_err(), "{c:?}");
    }
    let mut c = cfg();
    c.alerts.levels = vec!["loud".into()];
    assert!(c.check().expect_err("bad level").contains("loud"));
    assert!(cfg().check().is_ok());
}

/// Every token (hash, range, masked) of every corpus line and of lines that take the
/// tokeniser's other branches, folded into one digest. The hashes are persisted (templates'
/// `hashes`, and their ids are made from them): a tokeniser change that moves one fails here,
/// and would make every saved template unmatchable after an upgrade.
#[test]
fn token_hashes_and_ranges_are_those_persisted_templates_were_made_with() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/log_patterns");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpora")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    names.sort();
    let mut lines: Vec<String> = Vec::new();
    for p in &names {
        let text = std::fs::read(p).expect("corpus");
        lines.extend(
            String::from_utf8_lossy(&text)
                .lines()
                .map(str::to_string),
        );
    }
    assert!(lines.len() > 300, "{}", lines.len());
    for l in [
        "",
        "   ",
        "one",
        "a=\"two words\" b='x/y' c=\"3\" \"quoted 4\" 'q' \"unterminated 5",
        "k=\"v\\\"5\" key:\"/p\" \"/alone\" '2024-01-01T00:00:00Z' x='a b' y=\"abc\"",
        "deadbeef DEADBEEFCAFE deadbee abcdefgh0 key=deadbeefcafe k:12:34:56 10.0.0.1:80",
        "caller=main.go:585 reflector.go:138] at x.go:1: main.rs:7 a/b.java:12 c.py: d.cc:x",
        "\tat org.x.Y.z(Y.java:12)\n  at Object.<anonymous> (/app/x.js:1:2)",
        "java.lang.Exception: boom\n\tat a.b(Unknown Source)",
        "@timestamp=1 _x-y.z=2 \"k\":3 a==b :c =d ::e k=: k:=v",
        "{\"log\":\"GET / 200\\n\",\"stream\":\"stdout\",\"time\":\"2024\"}",
        "{\"level\":\"warn\",\"fields\":{\"message\":\"scrape \\\"x\\\" failed 3\"},\"n\":1}",
        "{\"msg\":\"ok\"}  ",
        "[warn] <E> [1,2,3] {a,b} x,y",
        "héllo wörld 日本 ＡＢＣ 42 ｘ=1",
        "\u{fffd}\u{fffd} binary\u{0}garbage \u{7f}",
    ] {
        lines.push(l.to_string());
    }
    lines.push("tok ".repeat(300));
    lines.push(format!("x={} y", "9".repeat(10_000)));
    let mut digest = 0xcbf2_9ce4_8422_2325u64;
    let mut v = Vec::new();
    for l in &lines {
        let cut = tokenize(l, 128, &mut v);
        digest = mask::fnv(digest, &[u8::from(cut)]);
        digest = mask::fnv(digest, &(v.len() as u64).to_le_bytes());
        for t in &v {
            digest = mask::fnv(digest, &t.hash.to_le_bytes());
            digest = mask::fnv(digest, &t.start.to_le_bytes());
            digest = mask::fnv(digest, &t.end.to_le_bytes());
            digest = mask::fnv(digest, &[u8::from(t.masked)]);
        }
    }
    assert_eq!(digest, 0x4ec5_1f9d_3254_932d, "token digest {digest:#018x} over {} lines", lines.len());
}
