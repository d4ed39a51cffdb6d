use super::*;

fn e(hlc: u64, versioned: bool, marker: bool) -> Entry {
    Entry {
        version: Version { hlc, node: 1 },
        versioned,
        marker,
        ..Default::default()
    }
}

#[test]
fn unversioned_writes_replace_and_lose_by_version() {
    let cur = e(5, false, false);
    assert_eq!(
        place(Some((cur, false)), &[], &e(6, false, false), false),
        Placement::Current {
            archive: None,
            drop_null: None
        }
    );
    assert_eq!(
        place(Some((cur, false)), &[], &e(4, false, false), false),
        Placement::Stale
    );
    assert_eq!(
        place(Some((cur, false)), &[], &e(5, false, false), false),
        Placement::Stale
    );
    // A tombstone replaces without keeping anything; an older tombstone loses.
    assert_eq!(
        place(Some((cur, false)), &[], &e(6, false, false), true),
        Placement::Current {
            archive: None,
            drop_null: None
        }
    );
    assert_eq!(
        place(Some((cur, false)), &[], &e(4, false, false), true),
        Placement::Stale
    );
}

#[test]
fn versioned_writes_keep_what_they_replace_in_any_order() {
    let null = e(5, false, false);
    let v6 = e(6, true, false);
    // Enabling versioning keeps the null version under the first versioned write.
    assert_eq!(
        place(Some((null, false)), &[], &v6, false),
        Placement::Current {
            archive: Some(null),
            drop_null: None
        }
    );
    // An older versioned write arriving late is kept as noncurrent.
    assert_eq!(
        place(
            Some((e(9, true, false), false)),
            &[v6],
            &e(7, true, false),
            false
        ),
        Placement::Noncurrent { replaces: None }
    );
    // A delete marker becomes current and keeps the object.
    let marker = e(10, true, true);
    assert_eq!(
        place(Some((v6, false)), &[null], &marker, true),
        Placement::Current {
            archive: Some(v6),
            drop_null: None
        }
    );
}

#[test]
fn a_suspended_bucket_keeps_one_null_version() {
    let v6 = e(6, true, false);
    let old_null = e(5, false, false);
    // A null write over a versioned current keeps it and drops the older null.
    assert_eq!(
        place(Some((v6, false)), &[old_null], &e(7, false, false), false),
        Placement::Current {
            archive: Some(v6),
            drop_null: Some(old_null)
        }
    );
    // A null write over a null current replaces it.
    assert_eq!(
        place(
            Some((e(7, false, false), false)),
            &[v6],
            &e(8, false, true),
            true
        ),
        Placement::Current {
            archive: None,
            drop_null: None
        }
    );
    // A late null older than the noncurrent null loses; a newer one replaces it.
    let cur = e(9, true, false);
    assert_eq!(
        place(
            Some((cur, false)),
            &[e(6, false, false)],
            &e(5, false, false),
            false
        ),
        Placement::Stale
    );
    assert_eq!(
        place(
            Some((cur, false)),
            &[e(6, false, false)],
            &e(7, false, false),
            false
        ),
        Placement::Noncurrent {
            replaces: Some(e(6, false, false))
        }
    );
}
