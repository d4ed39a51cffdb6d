use super::*;

#[test]
fn version_ids_round_trip_and_sort_newest_first() {
    let old = Version {
        hlc: 5 << 16,
        node: 7,
    };
    let new = Version {
        hlc: 6 << 16,
        node: 1,
    };
    let (a, b) = (version_id(old), version_id(new));
    assert_eq!(a.len(), 24);
    assert!(b < a, "newer ids sort first: {b} {a}");
    assert_eq!(parse_version_id(&a), Some(old));
    assert_eq!(parse_version_id(&b), Some(new));
    assert_eq!(parse_version_id("null"), None);
    assert_eq!(parse_version_id(&a.to_uppercase()), None);
    assert_eq!(parse_version_id(&a[1..]), None);
}

#[test]
fn replica_ops_keep_their_json_shape() {
    let op = ReplicaOp::SetVersioning {
        status: VersioningStatus::Suspended,
        version: Version { hlc: 1, node: 2 },
    };
    let json = serde_json::to_string(&op).expect("encode");
    assert_eq!(
        json,
        r#"{"op":"set_versioning","status":"Suspended","version":{"hlc":1,"node":2}}"#
    );
    assert_eq!(
        serde_json::from_str::<ReplicaOp>(&json).expect("decode"),
        op
    );
}
