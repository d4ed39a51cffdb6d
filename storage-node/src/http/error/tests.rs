use super::*;

#[test]
fn full_disk_is_507_with_a_known_code() {
    let e = to_s3(StoreError::InsufficientStorage);
    assert_eq!(e.status_code(), Some(StatusCode::INSUFFICIENT_STORAGE));
    assert_eq!(e.code().as_str(), STORAGE_FULL_CODE);
}

#[test]
fn store_errors_map_to_s3_codes() {
    assert_eq!(
        to_s3(StoreError::KeyTooLong { len: 2000 }).code().as_str(),
        "KeyTooLongError"
    );
    assert_eq!(
        to_s3(StoreError::BucketNotEmpty("b".into()))
            .code()
            .as_str(),
        "BucketNotEmpty"
    );
    assert_eq!(
        to_s3(StoreError::BadDigest("x".into())).code().as_str(),
        "BadDigest"
    );
    let corrupt = StoreError::Corrupt {
        bucket: "b".into(),
        key_hash: "h".into(),
        detail: "d".into(),
    };
    let e = to_s3(corrupt);
    assert_eq!(e.code().as_str(), "InternalError");
    assert!(
        !e.message().unwrap_or("").contains('/'),
        "no path leaks to the client"
    );
}

#[test]
fn a_missed_write_quorum_is_a_503_with_its_reason() {
    let e = to_s3(StoreError::Unavailable(
        "write quorum of 3 copies not reached within 5000 ms".into(),
    ));
    assert_eq!(e.status_code(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(e.code().as_str(), "ServiceUnavailable");
    assert!(e.message().unwrap_or("").contains("quorum"));
}
