use super::*;
use std::time::{Duration, UNIX_EPOCH};

fn at(secs: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_secs(secs))
}

fn etag(s: &str) -> ETagCondition {
    ETagCondition::ETag(s3s::dto::ETag::Strong(s.to_owned()))
}

#[test]
fn if_match_wins_over_unmodified_since() {
    let p = Preconditions {
        if_match: Some(etag("abc")),
        if_unmodified_since: Some(at(10)),
        ..Default::default()
    };
    assert_eq!(p.evaluate("abc", 20_000), Verdict::Proceed);
    assert_eq!(p.evaluate("xyz", 5_000), Verdict::Failed);
}

#[test]
fn if_none_match_wins_over_modified_since() {
    let p = Preconditions {
        if_none_match: Some(etag("abc")),
        if_modified_since: Some(at(10)),
        ..Default::default()
    };
    assert_eq!(p.evaluate("abc", 20_000), Verdict::NotModified);
    assert_eq!(p.evaluate("xyz", 5_000), Verdict::Proceed);
}

#[test]
fn dates_compare_in_whole_seconds() {
    let p = Preconditions {
        if_modified_since: Some(at(10)),
        ..Default::default()
    };
    assert_eq!(p.evaluate("e", 10_999), Verdict::NotModified);
    assert_eq!(p.evaluate("e", 11_000), Verdict::Proceed);
    let p = Preconditions {
        if_unmodified_since: Some(at(10)),
        ..Default::default()
    };
    assert_eq!(p.evaluate("e", 10_999), Verdict::Proceed);
    assert_eq!(p.evaluate("e", 11_000), Verdict::Failed);
}
