//! A bucket's sub-resource documents (tagging, CORS): one small file per document in the bucket's
//! directory, `.config-<name>`, written temp-fsync-rename-fsync like everything else. The start-up
//! scan only reads the fan-out directories, so these files are never taken for objects.

use super::fsutil::sync_dir;
use super::store::{DiskStore, blocking, io_err};
use crate::store::StoreError;

/// Document names are ours (`tagging`, `cors`), never a client's string.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && name.bytes().all(|b| b.is_ascii_lowercase())
}

impl DiskStore {
    pub(super) async fn get_bucket_config_impl(
        &self,
        bucket: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if !valid_name(name) {
            return Err(StoreError::InvalidArgument(format!(
                "bucket document {name:?}"
            )));
        }
        if !self.inner.index.has_bucket(bucket) {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let path = self
            .inner
            .layout
            .bucket(bucket)
            .join(format!(".config-{name}"));
        blocking(move || match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("read bucket document", e)),
        })
        .await
    }

    pub(super) async fn put_bucket_config_impl(
        &self,
        bucket: &str,
        name: &str,
        doc: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        if !valid_name(name) {
            return Err(StoreError::InvalidArgument(format!(
                "bucket document {name:?}"
            )));
        }
        if !self.inner.index.has_bucket(bucket) {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let dir = self.inner.layout.bucket(bucket);
        let path = dir.join(format!(".config-{name}"));
        let tmp = self.inner.layout.temp_file();
        blocking(move || {
            match doc {
                Some(doc) => {
                    std::fs::write(&tmp, doc).map_err(io_err("write bucket document"))?;
                    std::fs::File::open(&tmp)
                        .and_then(|f| f.sync_all())
                        .map_err(io_err("fsync bucket document"))?;
                    if let Err(e) = std::fs::rename(&tmp, &path) {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(StoreError::io("rename bucket document", e));
                    }
                }
                None => match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(StoreError::io("remove bucket document", e)),
                },
            }
            sync_dir(&dir).map_err(io_err("fsync bucket directory"))
        })
        .await
    }
}
