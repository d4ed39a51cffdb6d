use super::*;

fn op(method: Method, uri: &str) -> Op {
    classify(&method, &uri.parse::<Uri>().expect("uri"))
}

#[test]
fn ops_are_named_from_method_path_and_query() {
    assert_eq!(op(Method::GET, "/"), Op::List);
    assert_eq!(op(Method::GET, "/b?list-type=2"), Op::List);
    assert_eq!(op(Method::GET, "/b/k"), Op::Get);
    assert_eq!(op(Method::PUT, "/b/k"), Op::Put);
    assert_eq!(op(Method::HEAD, "/b/k"), Op::Head);
    assert_eq!(op(Method::DELETE, "/b/k"), Op::Delete);
    assert_eq!(op(Method::POST, "/b?delete"), Op::Delete);
    assert_eq!(op(Method::POST, "/b/k?uploads"), Op::Multipart);
    assert_eq!(
        op(Method::PUT, "/b/k?partNumber=1&uploadId=abc"),
        Op::Multipart
    );
    assert_eq!(op(Method::GET, "/b/k?uploadId=abc"), Op::Multipart);
}

#[test]
fn error_codes_are_bounded() {
    let xml = |c: &str| format!("<?xml version=\"1.0\"?><Error><Code>{c}</Code></Error>");
    assert_eq!(error_code_label(xml("NoSuchKey").as_bytes()), "NoSuchKey");
    assert_eq!(
        error_code_label(xml("SignatureDoesNotMatch").as_bytes()),
        "SignatureDoesNotMatch"
    );
    assert_eq!(
        error_code_label(xml("XMinioStorageFull").as_bytes()),
        "XMinioStorageFull"
    );
    assert_eq!(
        error_code_label(xml("made-up-by-someone").as_bytes()),
        "Other"
    );
    assert_eq!(error_code_label(b"not xml"), "Unknown");
    assert_eq!(error_code_label(b"<Code>unterminated"), "Unknown");
}

#[test]
fn query_names_match_whole_and_bucket_labels_are_bounded() {
    // A name is matched whole: `uploadsx` is not `uploads`.
    assert_eq!(op(Method::GET, "/b?uploadsx=1"), Op::List);
    assert_eq!(op(Method::POST, "/b/k?x=1&uploads="), Op::Multipart);
    let uri = |s: &str| s.parse::<Uri>().expect("uri");
    assert_eq!(bucket_of(&uri("/bucket/key")), "bucket");
    assert_eq!(bucket_of(&uri("/")), "");
    let long = "a".repeat(70);
    assert_eq!(bucket_of(&uri(&format!("/{long}/k"))), "a".repeat(63));
}
