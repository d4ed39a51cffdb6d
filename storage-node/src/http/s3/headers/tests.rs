use super::*;

#[test]
fn tagging_header_is_form_decoded() {
    let t = parse_tagging_header("a=1&b%20c=d+e&empty=").expect("test value");
    assert_eq!(t.get("a").map(String::as_str), Some("1"));
    assert_eq!(t.get("b c").map(String::as_str), Some("d e"));
    assert_eq!(t.get("empty").map(String::as_str), Some(""));
    assert!(parse_tagging_header("a=1&a=2").is_err());
    assert!(parse_tagging_header("a=%zz").is_err());
    let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
    assert!(parse_tagging_header(&eleven.join("&")).is_err());
}

#[test]
fn aws_chunked_is_not_a_content_encoding() {
    let std = Standard {
        content_encoding: Some("aws-chunked".to_owned()),
        ..Default::default()
    };
    assert_eq!(
        attrs(std, None, None).expect("test value").content_encoding,
        None
    );
    let std = Standard {
        content_encoding: Some("gzip,aws-chunked".to_owned()),
        ..Default::default()
    };
    assert_eq!(
        attrs(std, None, None)
            .expect("test value")
            .content_encoding
            .as_deref(),
        Some("gzip")
    );
}
