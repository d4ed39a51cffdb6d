//! Request-body digests the client asks us to verify: Content-MD5 and the flexible checksums
//! (`x-amz-checksum-*` headers, or trailers of aws-chunked bodies, as current AWS SDKs send them).
//! The body is hashed as it streams to the store; the store's finish hook compares before commit.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use s3s::TrailingHeaders;
use s3s::checksum::ChecksumHasher;
use s3s::dto::{Checksum, ChecksumAlgorithm, StreamingBlob};

use crate::store::{BodyDigest, ByteStream, FinishHook, StoreError};

/// The algorithms S3 defines, by their header suffix.
const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "sha1", "sha256", "crc64nvme"];

/// What the client declared for one body.
#[derive(Debug, Default, Clone)]
pub struct Declared {
    /// Content-MD5, base64.
    pub content_md5: Option<String>,
    /// Values sent in headers, by algorithm.
    pub values: BTreeMap<&'static str, String>,
    /// Algorithms named without a value (`x-amz-sdk-checksum-algorithm`, or a trailer to come).
    pub algorithms: Vec<&'static str>,
}

impl Declared {
    pub fn new(
        content_md5: Option<String>,
        checksum: Checksum,
        algorithm: Option<&ChecksumAlgorithm>,
    ) -> Result<Self, StoreError> {
        let mut d = Declared {
            content_md5,
            ..Default::default()
        };
        let Checksum {
            checksum_crc32,
            checksum_crc32c,
            checksum_sha1,
            checksum_sha256,
            checksum_crc64nvme,
            ..
        } = checksum;
        for (name, v) in ALGORITHMS.iter().zip([
            checksum_crc32,
            checksum_crc32c,
            checksum_sha1,
            checksum_sha256,
            checksum_crc64nvme,
        ]) {
            if let Some(v) = v {
                d.values.insert(name, v);
            }
        }
        if let Some(alg) = algorithm {
            let lower = alg.as_str().to_ascii_lowercase();
            let name = ALGORITHMS.iter().find(|a| **a == lower).ok_or_else(|| {
                StoreError::InvalidArgument(format!(
                    "unsupported checksum algorithm {:?}",
                    alg.as_str()
                ))
            })?;
            d.algorithms.push(name);
        }
        Ok(d)
    }
}

fn hasher_for(names: &[&str]) -> ChecksumHasher {
    let mut h = ChecksumHasher::default();
    for n in names {
        match *n {
            "crc32" => h.crc32 = Some(Default::default()),
            "crc32c" => h.crc32c = Some(Default::default()),
            "sha1" => h.sha1 = Some(Default::default()),
            "sha256" => h.sha256 = Some(Default::default()),
            "crc64nvme" => h.crc64nvme = Some(Default::default()),
            _ => {}
        }
    }
    h
}

fn computed_values(c: Checksum) -> BTreeMap<&'static str, String> {
    let Checksum {
        checksum_crc32,
        checksum_crc32c,
        checksum_sha1,
        checksum_sha256,
        checksum_crc64nvme,
        ..
    } = c;
    ALGORITHMS
        .iter()
        .zip([
            checksum_crc32,
            checksum_crc32c,
            checksum_sha1,
            checksum_sha256,
            checksum_crc64nvme,
        ])
        .filter_map(|(n, v)| v.map(|v| (*n, v)))
        .collect()
}

/// Wraps a request body so it is hashed on the way to the store, and builds the hook that checks
/// the digests (trailers included) before the object is committed.
pub fn verify_body(
    declared: Declared,
    body: StreamingBlob,
    trailers: Option<TrailingHeaders>,
) -> (ByteStream, FinishHook) {
    let mut names: Vec<&'static str> = declared.values.keys().copied().collect();
    names.extend(declared.algorithms.iter().copied());
    names.sort_unstable();
    names.dedup();
    let hasher = Arc::new(Mutex::new(hasher_for(&names)));
    let h = hasher.clone();
    let stream: ByteStream = Box::pin(
        body.inspect_ok(move |bytes| h.lock().unwrap_or_else(|e| e.into_inner()).update(bytes))
            .map_err(|e| std::io::Error::other(e.to_string())),
    );
    let finish: FinishHook = Box::new(move |digest: &BodyDigest| {
        if let Some(md5) = &declared.content_md5 {
            let want = base64_decode(md5).ok_or_else(|| {
                StoreError::InvalidArgument("Content-MD5 is not base64".to_owned())
            })?;
            if want != digest.md5 {
                return Err(StoreError::BadDigest(
                    "the Content-MD5 you specified did not match what we received".to_owned(),
                ));
            }
        }
        let mut expected = declared.values;
        if let Some(map) = trailers.and_then(|t| t.take()) {
            for name in ALGORITHMS {
                if let Some(v) = map.get(format!("x-amz-checksum-{name}").as_str()) {
                    let v = v.to_str().map_err(|_| {
                        StoreError::InvalidArgument("trailer checksum is not text".to_owned())
                    })?;
                    expected.insert(name, v.to_owned());
                }
            }
        }
        let hasher = std::mem::take(&mut *hasher.lock().unwrap_or_else(|e| e.into_inner()));
        let computed = computed_values(hasher.finalize());
        for (name, want) in &expected {
            match computed.get(name) {
                Some(got) if got == want => {}
                Some(_) => {
                    return Err(StoreError::BadDigest(format!(
                        "the x-amz-checksum-{name} you specified did not match the body"
                    )));
                }
                None => {
                    return Err(StoreError::InvalidArgument(format!(
                        "x-amz-checksum-{name} was not declared before the body"
                    )));
                }
            }
        }
        Ok(computed
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect())
    });
    (stream, finish)
}

/// Fills the flexible-checksum fields of a response from stored values.
pub fn to_checksum(stored: &BTreeMap<String, String>) -> Checksum {
    let get = |n: &str| stored.get(n).cloned();
    Checksum {
        checksum_crc32: get("crc32"),
        checksum_crc32c: get("crc32c"),
        checksum_sha1: get("sha1"),
        checksum_sha256: get("sha256"),
        checksum_crc64nvme: get("crc64nvme"),
        ..Default::default()
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

/// A multipart object's composite checksum, as S3 computes it: the named algorithm over the
/// concatenated raw checksums of the parts, base64, with `-<parts>`. `None` when a part lacks it.
pub fn composite(name: &str, parts: &[&BTreeMap<String, String>]) -> Option<String> {
    let alg = ALGORITHMS.iter().find(|a| **a == name)?;
    let mut raw = Vec::new();
    for p in parts {
        raw.extend(base64_decode(p.get(*alg)?)?);
    }
    let mut h = hasher_for(&[alg]);
    h.update(&raw);
    let value = computed_values(h.finalize()).remove(alg)?;
    Some(format!("{value}-{}", parts.len()))
}

#[cfg(test)]
mod tests;
