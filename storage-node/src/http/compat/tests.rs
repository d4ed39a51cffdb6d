use super::*;

fn req(uri: &str, auth: Option<&str>) -> Request<()> {
    let mut b = Request::builder().uri(uri);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(()).expect("request")
}

#[test]
fn sig_v2_bucket_paths_get_their_slash() {
    let mut r = req("/bucket?encoding-type=url", Some("AWS AK:sig"));
    prepare(&mut r).expect("accepted");
    assert_eq!(r.uri().to_string(), "/bucket/?encoding-type=url");
    let mut r = req("/bucket/key", Some("AWS AK:sig"));
    prepare(&mut r).expect("accepted");
    assert_eq!(r.uri().path(), "/bucket/key");
    let mut r = req("/bucket", Some("AWS4-HMAC-SHA256 Credential=x"));
    prepare(&mut r).expect("accepted");
    assert_eq!(r.uri().path(), "/bucket");
}

#[test]
fn presigned_urls_over_a_week_are_refused() {
    let mut ok = req("/b/k?X-Amz-Expires=604800&X-Amz-Signature=x", None);
    assert!(prepare(&mut ok).is_ok());
    let mut long = req("/b/k?X-Amz-Expires=604801&X-Amz-Signature=x", None);
    let e = prepare(&mut long).expect_err("refused");
    assert_eq!(*e.code(), S3ErrorCode::AuthorizationQueryParametersError);
    assert_eq!(e.status_code(), Some(StatusCode::BAD_REQUEST));
    let mut junk = req("/b/k?X-Amz-Expires=soon", None);
    assert!(prepare(&mut junk).is_err());
}

#[test]
fn only_chunked_bodies_without_a_length_are_read_first() {
    let h = |pairs: &[(&'static str, &'static str)]| {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    };
    let chunked = h(&[("transfer-encoding", "chunked")]);
    assert!(unsized_body(&Method::PUT, &chunked));
    assert!(!unsized_body(&Method::GET, &chunked));
    assert!(!unsized_body(
        &Method::PUT,
        &h(&[("transfer-encoding", "chunked"), ("content-length", "5")])
    ));
    assert!(!unsized_body(
        &Method::PUT,
        &h(&[
            ("transfer-encoding", "chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        ])
    ));
}
