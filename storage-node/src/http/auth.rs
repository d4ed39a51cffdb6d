//! SigV4 credentials: one access key and its secret. An unknown access key gets S3's
//! `InvalidAccessKeyId` (403), as AWS answers, rather than `s3s`'s default.

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

/// The node's single credential pair.
#[derive(Debug)]
pub struct SingleKeyAuth {
    access_key: String,
    secret_key: SecretKey,
}

impl SingleKeyAuth {
    pub fn new(access_key: String, secret_key: String) -> Self {
        SingleKeyAuth {
            access_key,
            secret_key: SecretKey::from(secret_key),
        }
    }
}

#[async_trait::async_trait]
impl S3Auth for SingleKeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.access_key {
            Ok(self.secret_key.clone())
        } else {
            Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            ))
        }
    }
}
