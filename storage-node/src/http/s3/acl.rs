//! ACLs: every bucket and object is private to the node's one credential. Reads answer that ACL;
//! writes are accepted only when they ask for exactly it (the canned `private`, or a policy that
//! grants the owner FULL_CONTROL and nothing else); anything else is 501 NotImplemented.

use s3s::S3Result;
use s3s::dto::*;

use super::owner;
use super::unsupported::not_implemented;

/// The one ACL there is: the owner has FULL_CONTROL.
pub(super) fn private_grants() -> Grants {
    let o = owner();
    vec![Grant {
        grantee: Some(Grantee {
            display_name: o.display_name,
            id: o.id,
            type_: Type::from_static(Type::CANONICAL_USER),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }]
}

fn is_private_policy(p: &AccessControlPolicy) -> bool {
    let grants = p.grants.as_deref().unwrap_or_default();
    let owner_id = owner().id;
    grants.len() == 1
        && grants.iter().all(|g| {
            g.permission.as_ref().map(Permission::as_str) == Some(Permission::FULL_CONTROL)
                && g.grantee
                    .as_ref()
                    .is_some_and(|e| e.type_.as_str() == Type::CANONICAL_USER && e.id == owner_id)
        })
}

/// A PutBucketAcl / PutObjectAcl request's canned ACL, grant headers and body.
pub(super) fn check_put(
    canned: Option<&str>,
    grants: bool,
    policy: Option<&AccessControlPolicy>,
) -> S3Result<()> {
    if grants {
        return Err(not_implemented("Access control grants"));
    }
    if let Some(c) = canned
        && c != ObjectCannedACL::PRIVATE
    {
        return Err(not_implemented(&format!(
            "The canned ACL {c:?} (only private is supported)"
        )));
    }
    if let Some(p) = policy
        && !is_private_policy(p)
    {
        return Err(not_implemented(
            "Access control policies other than the owner's FULL_CONTROL",
        ));
    }
    Ok(())
}
