use super::*;

#[test]
fn parses_types_help_labels_and_histograms() {
    let text = r#"# HELP a_total A counter.
# TYPE a_total counter
a_total{x="1",y="q\"uote"} 3
a_total{x="2"} 4 1700000000000
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="+Inf"} 2
h_sum 0.3
h_count 2
# TYPE s summary
s{quantile="0.5"} 1
s_sum 2
s_count 3
untyped_thing NaN
"#;
    let f = parse(text, &ParseLimits::default()).expect("parse");
    assert_eq!(f.len(), 4);
    assert_eq!(f[0].kind, MetricKind::Counter);
    assert_eq!(f[0].help, "A counter.");
    assert_eq!(f[0].metrics[0].labels.get("y"), Some("q\"uote"));
    match &f[1].metrics[0].value {
        Value::Histogram(h) => {
            assert_eq!(h.buckets, vec![(0.1, 1.0), (f64::INFINITY, 2.0)]);
            assert_eq!(h.count, 2.0);
        }
        v => panic!("{v:?}"),
    }
    assert!(matches!(f[2].metrics[0].value, Value::Summary(_)));
    assert_eq!(f[3].kind, MetricKind::Untyped);
}

#[test]
fn rejects_bad_input_with_line_numbers() {
    let cases = [
        ("ok 1\nbad{x=\"1\" 2\n", 2),
        ("a{x=1} 2\n", 1),
        ("a 1\na notanumber\n", 2),
        ("# TYPE h histogram\nh_bucket{x=\"1\"} 1\n", 2),
        ("1abc 2\n", 1),
        ("a{x=\"1\",x=\"2\"} 1\n", 1),
    ];
    for (text, line) in cases {
        match parse(text, &ParseLimits::default()) {
            Err(ParseError::Line { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn limits_are_enforced() {
    let limits = ParseLimits {
        max_bytes: 100,
        max_samples: 2,
        max_labels: 2,
        max_label_value_bytes: 4,
    };
    assert!(matches!(
        parse(&"a 1\n".repeat(30), &limits),
        Err(ParseError::TooLarge { .. })
    ));
    assert!(matches!(
        parse("a 1\nb 2\nc 3\n", &limits),
        Err(ParseError::TooManySamples { .. })
    ));
    assert!(parse("a{x=\"12345\"} 1\n", &limits).is_err());
    assert!(parse("a{x=\"1\",y=\"2\",z=\"3\"} 1\n", &limits).is_err());
}
