use http::{HeaderMap, HeaderValue, Method};

use super::*;

fn headers(traceparent: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "traceparent",
        HeaderValue::from_str(traceparent).expect("header"),
    );
    h
}

#[test]
fn traceparent_is_parsed() {
    let sc = remote_parent(&headers(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ))
    .expect("valid");
    assert_eq!(
        sc.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
    assert!(sc.is_sampled());
    assert!(sc.is_remote());
    let unsampled = remote_parent(&headers(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    ))
    .expect("valid");
    assert!(!unsampled.is_sampled());
}

#[test]
fn malformed_traceparent_is_ignored() {
    for bad in [
        "",
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // all-zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    ] {
        assert!(remote_parent(&headers(bad)).is_none(), "{bad:?} accepted");
    }
}

#[test]
fn future_versions_may_append_fields() {
    assert!(
        remote_parent(&headers(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more"
        ))
        .is_some()
    );
}

#[test]
fn disabled_tracer_still_gives_ids_and_joins_the_callers_trace() {
    let t = Traces::disabled();
    let fresh = t.start("GetObject", &Method::GET, &HeaderMap::new());
    assert_eq!(fresh.trace_id().len(), 32);
    assert_eq!(fresh.span_id().len(), 16);
    assert_ne!(fresh.trace_id(), "0".repeat(32));
    let other = t.start("GetObject", &Method::GET, &HeaderMap::new());
    assert_ne!(
        fresh.trace_id(),
        other.trace_id(),
        "each request starts its own trace"
    );

    let joined = t.start(
        "PutObject",
        &Method::PUT,
        &headers("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    assert_eq!(joined.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(
        joined.span_id(),
        "00f067aa0ba902b7",
        "the request has its own span id"
    );
}
