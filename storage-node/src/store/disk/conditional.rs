//! Conditional writes (`If-None-Match: *`, `If-Match`): the condition is checked under the key's
//! stripe lock, in the same critical section as the rename that makes the write visible, so two
//! racing conditional writes of one key cannot both succeed.

use super::index::Index;
use crate::store::{StoreError, WriteCondition};

/// Whether `cond` holds for the live object of `bucket`/`key` now. The caller holds the key's lock.
pub(super) fn check_condition(
    index: &Index,
    bucket: &str,
    key: &str,
    cond: &WriteCondition,
) -> Result<(), StoreError> {
    match cond {
        WriteCondition::Always => Ok(()),
        WriteCondition::IfAbsent => match index.get(bucket, key)? {
            Some(_) => Err(StoreError::PreconditionFailed),
            None => Ok(()),
        },
        WriteCondition::IfAny => match index.get(bucket, key)? {
            Some(_) => Ok(()),
            None => Err(StoreError::NoSuchKey {
                bucket: bucket.to_owned(),
            }),
        },
        WriteCondition::IfEtag(etag) => match index.get(bucket, key)? {
            Some(e) if e.etag.as_str() == etag.as_str() => Ok(()),
            Some(_) => Err(StoreError::PreconditionFailed),
            None => Err(StoreError::NoSuchKey {
                bucket: bucket.to_owned(),
            }),
        },
    }
}
