use super::*;
use bytes::Bytes;
use md5::{Digest, Md5};

const BODY: &[u8] = b"the quick brown fox jumps over the lazy dog";

fn blob() -> StreamingBlob {
    StreamingBlob::from(s3s::Body::from(Bytes::from_static(BODY)))
}

fn digest() -> BodyDigest {
    BodyDigest {
        md5: Md5::digest(BODY).into(),
        size: BODY.len() as u64,
    }
}

/// Streams the body through `verify_body` and runs its hook: what the store would see.
async fn run(declared: Declared) -> (Vec<u8>, Result<BTreeMap<String, String>, StoreError>) {
    let (mut stream, finish) = verify_body(declared, blob(), None);
    let mut got = Vec::new();
    while let Some(chunk) = stream.try_next().await.expect("body chunk") {
        got.extend_from_slice(&chunk);
    }
    (got, finish(&digest()))
}

fn md5_b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

#[tokio::test]
async fn nothing_declared_passes_the_body_through_and_computes_nothing() {
    let (got, out) = run(Declared::default()).await;
    assert_eq!(got, BODY);
    assert_eq!(out.expect("no digest to check"), BTreeMap::new());
}

#[tokio::test]
async fn content_md5_is_checked() {
    let good = Declared {
        content_md5: Some(md5_b64(BODY)),
        ..Default::default()
    };
    let (got, out) = run(good).await;
    assert_eq!(got, BODY);
    assert!(out.is_ok(), "{out:?}");
    let bad = Declared {
        content_md5: Some(md5_b64(b"something else")),
        ..Default::default()
    };
    assert!(matches!(run(bad).await.1, Err(StoreError::BadDigest(_))));
}

#[tokio::test]
async fn a_declared_checksum_is_computed_and_compared() {
    let mut h = hasher_for(&["crc32c"]);
    h.update(BODY);
    let want = computed_values(h.finalize())
        .remove("crc32c")
        .expect("a crc32c value");
    let mut good = Declared::default();
    good.values.insert("crc32c", want.clone());
    let (_, out) = run(good).await;
    assert_eq!(out.expect("matching checksum").get("crc32c"), Some(&want));
    let mut bad = Declared::default();
    bad.values.insert("crc32c", "AAAAAA==".to_owned());
    assert!(matches!(run(bad).await.1, Err(StoreError::BadDigest(_))));
    // Named without a value (a trailer to come that never came): computed and returned.
    let named = Declared {
        algorithms: vec!["crc32c"],
        ..Default::default()
    };
    assert_eq!(
        run(named).await.1.expect("computed").get("crc32c"),
        Some(&want)
    );
}
