use super::*;

#[test]
fn ranges_resolve_like_s3() {
    let r = |first, last| ByteRange::Int { first, last };
    assert_eq!(r(0, Some(9)).resolve(100).expect("ok"), (0, 10));
    assert_eq!(r(90, Some(500)).resolve(100).expect("ok"), (90, 100));
    assert_eq!(r(10, None).resolve(100).expect("ok"), (10, 100));
    assert_eq!(
        ByteRange::Suffix { length: 5 }.resolve(100).expect("ok"),
        (95, 100)
    );
    assert_eq!(
        ByteRange::Suffix { length: 500 }.resolve(100).expect("ok"),
        (0, 100)
    );
    assert!(r(100, None).resolve(100).is_err());
    assert!(r(5, Some(4)).resolve(100).is_err());
    assert!(ByteRange::Suffix { length: 0 }.resolve(100).is_err());
}

#[test]
fn keys_and_buckets_are_validated() {
    assert!(
        validate_key("../../etc/passwd").is_ok(),
        "hash-encoded on disk, so allowed"
    );
    assert!(matches!(
        validate_key(&"k".repeat(1025)),
        Err(StoreError::KeyTooLong { len: 1025 })
    ));
    assert!(validate_key(&"k".repeat(1024)).is_ok());
    assert!(validate_key("a\0b").is_err());
    assert!(validate_key("").is_err());
    for ok in ["abc", "my-bucket.1", "a1b"] {
        assert!(validate_bucket(ok).is_ok(), "{ok}");
    }
    for bad in [
        "ab",
        "..",
        "../x",
        "UPPER",
        "a..b",
        "-ab",
        "ab-",
        "a/b",
        &"a".repeat(64),
    ] {
        assert!(validate_bucket(bad).is_err(), "{bad}");
    }
}
