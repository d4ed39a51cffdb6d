use super::*;

fn key(b: u8) -> CustomerKey {
    let raw = [b; 32];
    let k = STANDARD.encode(raw);
    let m = STANDARD.encode(Md5::digest(raw));
    parse(Some("AES256"), Some(&k), Some(&m))
        .expect("test value")
        .expect("test value")
}

async fn collect(s: ByteStream) -> Vec<u8> {
    let parts: Vec<_> = s.collect().await;
    parts
        .into_iter()
        .flat_map(|c| c.expect("test value").to_vec())
        .collect()
}

#[tokio::test]
async fn ranged_decrypt_matches_the_plaintext() {
    let k = key(7);
    let info = k.new_info();
    let plain: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let body: ByteStream = Box::pin(futures::stream::iter(
        plain
            .chunks(777)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    ));
    let finish: FinishHook = Box::new(|_| Ok(Default::default()));
    let (enc, _) = k.encrypt(&info, body, finish).expect("test value");
    let cipher = collect(enc).await;
    assert_ne!(cipher, plain);
    let tail: ByteStream = Box::pin(futures::stream::once(async move {
        Ok(Bytes::copy_from_slice(&cipher[1234..]))
    }));
    assert_eq!(
        collect(k.decrypt(&info, tail, 1234).expect("test value")).await,
        plain[1234..]
    );
}

#[test]
fn only_the_same_key_matches() {
    let info = key(1).new_info();
    assert!(check_read(Some(&key(1)), Some(&info)).is_ok());
    assert_eq!(
        *check_read(Some(&key(2)), Some(&info))
            .expect_err("a wrong key is refused")
            .code(),
        S3ErrorCode::AccessDenied
    );
    assert!(!info.key_hmac.contains(&hex::encode([1u8; 32])));
}

#[test]
fn bad_headers_are_refused() {
    assert!(parse(Some("AES256"), Some("c2hvcnQ="), Some("x")).is_err());
    assert!(parse(Some("aws:kms"), Some("x"), Some("x")).is_err());
    let raw = STANDARD.encode([3u8; 32]);
    assert!(parse(Some("AES256"), Some(&raw), Some("wrong")).is_err());
    assert!(parse(None, None, None).expect("test value").is_none());
}
