//! Replacing an object's attributes (its tags) without changing its bytes: the bytes are copied
//! into a new file with the new footer, committed like any write (new version, replicated), while
//! the ETag, checksums, part count and Last-Modified stay those of the object.

use std::collections::BTreeMap;

use super::store::DiskStore;
use crate::store::{FinishHook, ObjectAttrs, ObjectMeta, ObjectStore, StoreError, WriteCondition};

impl DiskStore {
    pub(super) async fn replace_attrs_impl(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
    ) -> Result<ObjectMeta, StoreError> {
        let src = self.get_object(bucket, key, None).await?;
        let old = src.meta.clone();
        let etag = old.etag.clone();
        let hlc = self.inner.hlc.clone();
        let finish: FinishHook = Box::new(|_| Ok(BTreeMap::new()));
        let staged = self
            .stage_for(Some(bucket), src.stream, finish, move |_, _| ObjectMeta {
                attrs,
                version: hlc.tick(),
                ..old
            })
            .await?;
        // Only if the object was not replaced meanwhile: tags belong to the object they were set on.
        self.commit_if(bucket, key, staged, WriteCondition::IfEtag(etag))
            .await
            .map_err(|e| match e {
                StoreError::PreconditionFailed => StoreError::NoSuchKey {
                    bucket: bucket.to_owned(),
                },
                e => e,
            })
    }
}
