//! Unit tests of the test Loki's own checks: it must refuse what Loki refuses.

use super::labels::{LabelLimits, parse, valid_name, validate};

#[test]
fn selector_parsing() {
    assert_eq!(
        parse(r#"{job="files", filename="/a \"b\".log"}"#).expect("parses"),
        vec![
            ("job".to_string(), "files".to_string()),
            ("filename".to_string(), "/a \"b\".log".to_string())
        ]
    );
    for bad in ["job=\"x\"", "{job}", "{job=x}", "{job=\"x}"] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn validation_like_loki() {
    let l = LabelLimits::default();
    let ok = vec![("job".to_string(), "x".to_string())];
    assert!(validate(&ok, &l).is_ok());
    assert!(validate(&[], &l).is_err(), "no labels");
    let pair = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    assert!(validate(&pair("__name__", "x"), &l).is_err(), "reserved");
    assert!(validate(&pair("a-b", "x"), &l).is_err(), "syntax");
    assert!(validate(&pair("job", ""), &l).is_err(), "empty value");
    assert!(
        validate(&pair("job", &"v".repeat(2049)), &l).is_err(),
        "value length"
    );
    let dup = vec![
        ("a".to_string(), "1".to_string()),
        ("a".to_string(), "2".to_string()),
    ];
    assert!(validate(&dup, &l).is_err(), "duplicate");
    let many: Vec<_> = (0..16)
        .map(|i| (format!("l{i}"), "v".to_string()))
        .collect();
    assert!(validate(&many, &l).is_err(), "too many names");
    assert!(valid_name("_x1") && !valid_name("1x") && !valid_name(""));
}

#[test]
fn refusal_bodies_are_lokis() {
    use super::answer::{go_time, grouped, ingester_refused, labels_string, rfc3339, too_old};
    let stream = labels_string(&[
        ("job".into(), "files".into()),
        ("app".into(), "a\"b".into()),
    ]);
    assert_eq!(stream, r#"{app="a\"b", job="files"}"#);
    assert_eq!(rfc3339(1_577_836_800_000_000_000), "2020-01-01T00:00:00Z");
    assert_eq!(
        go_time(1_577_836_800_500_000_000),
        "2020-01-01 00:00:00.5 +0000 UTC"
    );
    assert_eq!(
        go_time(1_577_836_800_000_000_000),
        "2020-01-01 00:00:00 +0000 UTC"
    );
    let m = too_old(
        "{a=\"b\"}",
        1_577_836_800_000_000_000,
        1_577_923_200_000_000_000,
    );
    assert_eq!(
        m,
        "entry for stream '{a=\"b\"}' has timestamp too old: 2020-01-01T00:00:00Z, \
         oldest acceptable timestamp is: 2020-01-02T00:00:00Z"
    );
    // GroupedErrors: one error alone; otherwise "N errors like: " per distinct text.
    assert_eq!(grouped(std::slice::from_ref(&m)), m);
    assert_eq!(
        grouped(&[m.clone(), m.clone(), "x".into()]),
        format!("2 errors like: {m}; 1 errors like: x")
    );
    assert_eq!(
        grouped(&[m.clone(), m.clone()]),
        format!("2 errors like: {m}")
    );
    assert_eq!(
        ingester_refused("", "{a=\"b\"}", &[(0, "entry out of order".into())], 3),
        "entry with timestamp 1970-01-01 00:00:00 +0000 UTC ignored, reason: 'entry out of order',\n\
         user 'fake', total ignored: 1 out of 3 for stream: {a=\"b\"}"
    );
}
