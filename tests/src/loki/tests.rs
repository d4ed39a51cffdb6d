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
