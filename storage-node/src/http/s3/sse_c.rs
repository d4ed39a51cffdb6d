//! SSE-C: objects encrypted with a key the client sends with every request. The bytes are
//! encrypted with AES-256 in CTR mode (a seekable stream cipher, so a ranged GET decrypts from any
//! offset) before they reach the store; the store keeps only a salted HMAC-SHA256 of the key to
//! recognise it, and the random initial counter block. The key itself is never stored or logged.
//! The store's CRC32C blocks protect the ciphertext's integrity at rest.

use std::sync::{Arc, Mutex};

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use ctr::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use sha2::Sha256;

use crate::store::{BodyDigest, ByteStream, FinishHook, SseCInfo};

type Cipher = ctr::Ctr128BE<Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// The one algorithm S3 accepts for SSE-C.
pub(super) const ALGORITHM: &str = "AES256";

/// A customer key from the request headers, checked against its MD5.
pub(super) struct CustomerKey {
    key: [u8; 32],
    md5_b64: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey").finish_non_exhaustive()
    }
}

fn invalid(msg: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg)
}

/// The three `x-amz-server-side-encryption-customer-*` headers (or their copy-source forms).
pub(super) fn parse(
    algorithm: Option<&str>,
    key: Option<&str>,
    key_md5: Option<&str>,
) -> S3Result<Option<CustomerKey>> {
    let (algorithm, key) = match (algorithm, key, key_md5) {
        (None, None, None) => return Ok(None),
        (None, _, _) => {
            return Err(invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            ));
        }
        (Some(_), None, _) => {
            return Err(invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
            ));
        }
        (Some(a), Some(k), _) => (a, k),
    };
    if algorithm != ALGORITHM {
        return Err(s3_error!(
            InvalidEncryptionAlgorithmError,
            "The Encryption request you specified is not valid. Supported value: AES256."
        ));
    }
    let raw = STANDARD
        .decode(key.trim())
        .map_err(|_| invalid("The secret key was invalid for the specified algorithm."))?;
    let key: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| invalid("The secret key was invalid for the specified algorithm."))?;
    let md5_b64 = STANDARD.encode(Md5::digest(key));
    match key_md5 {
        None => Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
        )),
        Some(m) if m.trim() != md5_b64 => Err(invalid(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        )),
        Some(_) => Ok(Some(CustomerKey { key, md5_b64 })),
    }
}

fn key_hmac(salt: &[u8], key: &[u8; 32]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(salt).expect("hmac takes any key length");
    mac.update(key);
    mac
}

impl CustomerKey {
    /// The key's MD5, base64, as the responses echo it.
    pub fn md5(&self) -> String {
        self.md5_b64.clone()
    }

    /// Fresh parameters for a new object under this key.
    pub fn new_info(&self) -> SseCInfo {
        let salt: [u8; 16] = rand::random();
        let iv: [u8; 16] = rand::random();
        SseCInfo {
            algorithm: ALGORITHM.to_owned(),
            key_hmac: hex::encode(key_hmac(&salt, &self.key).finalize().into_bytes()),
            salt: hex::encode(salt),
            iv: hex::encode(iv),
        }
    }

    fn matches(&self, info: &SseCInfo) -> bool {
        let (Ok(salt), Ok(want)) = (hex::decode(&info.salt), hex::decode(&info.key_hmac)) else {
            return false;
        };
        key_hmac(&salt, &self.key).verify_slice(&want).is_ok()
    }

    fn cipher(&self, info: &SseCInfo, offset: u64) -> S3Result<Cipher> {
        let iv: [u8; 16] = hex::decode(&info.iv)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| s3_error!(InternalError, "stored SSE-C parameters are damaged"))?;
        let mut c = Cipher::new(&self.key.into(), &iv.into());
        c.try_seek(offset)
            .map_err(|_| s3_error!(InternalError, "SSE-C offset out of range"))?;
        Ok(c)
    }

    /// Encrypts a request body on its way to the store. The finish hook sees the plaintext's MD5
    /// (Content-MD5 is the client's digest of what it sent), the store the ciphertext.
    pub fn encrypt(
        &self,
        info: &SseCInfo,
        body: ByteStream,
        finish: FinishHook,
    ) -> S3Result<(ByteStream, FinishHook)> {
        let cipher = Arc::new(Mutex::new(self.cipher(info, 0)?));
        let plain_md5 = Arc::new(Mutex::new(Md5::new()));
        let hasher = plain_md5.clone();
        let stream = body.map(move |chunk| {
            let chunk = chunk?;
            hasher
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .update(&chunk);
            let mut buf = chunk.to_vec();
            cipher
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .apply_keystream(&mut buf);
            Ok(Bytes::from(buf))
        });
        let hook: FinishHook = Box::new(move |digest: &BodyDigest| {
            let md5 = std::mem::take(&mut *plain_md5.lock().unwrap_or_else(|e| e.into_inner()));
            finish(&BodyDigest {
                md5: md5.finalize().into(),
                size: digest.size,
            })
        });
        Ok((Box::pin(stream), hook))
    }

    /// Decrypts the stored bytes from `offset` on.
    pub fn decrypt(&self, info: &SseCInfo, body: ByteStream, offset: u64) -> S3Result<ByteStream> {
        let mut cipher = self.cipher(info, offset)?;
        Ok(Box::pin(body.map(move |chunk| {
            let mut buf = chunk?.to_vec();
            cipher.apply_keystream(&mut buf);
            Ok(Bytes::from(buf))
        })))
    }
}

/// A read of an object: the key must be given exactly when the object is encrypted, and match.
pub(super) fn check_read(key: Option<&CustomerKey>, stored: Option<&SseCInfo>) -> S3Result<()> {
    match (key, stored) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(s3_error!(
            InvalidRequest,
            "The encryption parameters are not applicable to this object."
        )),
        (None, Some(_)) => Err(s3_error!(
            InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
        )),
        (Some(k), Some(info)) if k.matches(info) => Ok(()),
        (Some(_), Some(_)) => Err(s3_error!(AccessDenied, "Access Denied")),
    }
}

#[cfg(test)]
mod tests;
