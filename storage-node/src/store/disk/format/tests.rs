use std::collections::BTreeMap;

use super::*;
use crate::store::{ObjectAttrs, ObjectMeta};

fn meta(key: &str) -> ObjectMeta {
    ObjectMeta {
        key: key.to_owned(),
        size: 0,
        etag: String::new(),
        last_modified_ms: 1,
        attrs: ObjectAttrs::default(),
        checksums: BTreeMap::new(),
        parts: 0,
        version: Default::default(),
        deleted: false,
        versioned: false,
        delete_marker: false,
    }
}

fn write(dir: &Path, data: &[u8]) -> PathBuf {
    let mut w = ObjectWriter::create(dir.join("obj")).expect("create");
    for chunk in data.chunks(10_000) {
        w.write(chunk).expect("write");
    }
    let (file, path) = w.finish(meta("k")).expect("finish");
    file.sync_all().expect("sync");
    path
}

#[test]
fn round_trip_and_ranges_cross_block_boundaries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..(3 * BLOCK_SIZE + 123))
        .map(|i| (i % 251) as u8)
        .collect();
    let path = write(dir.path(), &data);
    let r = ObjectReader::open(&path).expect("open").expect("exists");
    assert_eq!(r.footer.meta.size, data.len() as u64);
    assert_eq!(r.footer.block_crcs.len(), 4);
    assert_eq!(r.read_range(0, data.len() as u64).expect("all"), data);
    let (a, b) = (BLOCK_SIZE as u64 - 5, 2 * BLOCK_SIZE as u64 + 7);
    assert_eq!(
        r.read_range(a, b).expect("range"),
        &data[a as usize..b as usize]
    );
    assert!(r.read_range(0, data.len() as u64 + 1).is_err());
}

#[test]
fn empty_object_has_no_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), b"");
    let r = ObjectReader::open(&path).expect("open").expect("exists");
    assert_eq!(r.footer.meta.size, 0);
    assert!(r.footer.block_crcs.is_empty());
    assert_eq!(r.read_range(0, 0).expect("empty"), Vec::<u8>::new());
}

#[test]
fn flipped_data_byte_fails_only_its_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = vec![7u8; 2 * BLOCK_SIZE];
    let path = write(dir.path(), &data);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[BLOCK_SIZE + 10] ^= 1;
    std::fs::write(&path, &bytes).expect("write");
    let r = ObjectReader::open(&path).expect("open").expect("exists");
    assert!(r.read_range(0, 100).is_ok(), "the first block is intact");
    assert!(matches!(
        r.read_range(0, data.len() as u64),
        Err(FormatError::Corrupt(_))
    ));
    assert!(matches!(
        r.verify_all(1 << 20, |_| {}),
        Err(FormatError::Corrupt(_))
    ));
}

#[test]
fn damaged_footer_or_truncation_is_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), b"hello world");
    let good = std::fs::read(&path).expect("read");
    let cases: Vec<Vec<u8>> = vec![
        good[..good.len() - 1].to_vec(),
        good[..5].to_vec(),
        Vec::new(),
        {
            let mut b = good.clone();
            let n = b.len();
            b[n - 20] ^= 0xff; // inside the footer JSON
            b
        },
        {
            let mut b = good.clone();
            let n = b.len();
            b[n - 16..n - 12].copy_from_slice(&u32::MAX.to_le_bytes()); // absurd footer length
            b
        },
    ];
    for (i, bytes) in cases.into_iter().enumerate() {
        std::fs::write(&path, &bytes).expect("write");
        match ObjectReader::open(&path) {
            Err(FormatError::Corrupt(_)) => {}
            other => panic!("case {i}: expected corrupt, got {other:?}"),
        }
    }
}

#[test]
fn unfinished_writer_removes_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tmp");
    {
        let mut w = ObjectWriter::create(path.clone()).expect("create");
        w.write(b"partial").expect("write");
    }
    assert!(!path.exists());
}

#[test]
fn footers_written_before_versions_existed_still_read() {
    let old = r#"{"meta":{"key":"k","size":0,"etag":"","last_modified_ms":1,"attrs":{"content_type":null,"user_metadata":{}},"checksums":{},"parts":0},"block_size":65536,"block_crcs":[]}"#;
    let f: Footer = serde_json::from_str(old).expect("old footer parses");
    assert_eq!(f.meta.version, crate::replication::hlc::Version::default());
    assert!(!f.meta.deleted);
}

#[test]
fn a_tombstone_round_trips_with_its_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = ObjectWriter::create(dir.path().join("t")).expect("create");
    let mut m = meta("gone");
    m.deleted = true;
    m.version = crate::replication::hlc::Version { hlc: 42, node: 7 };
    let (file, path) = w.finish(m.clone()).expect("finish");
    file.sync_all().expect("sync");
    let r = ObjectReader::open(&path).expect("open").expect("exists");
    assert_eq!(r.footer.meta, m);
    // A live object's footer does not carry the flag at all.
    assert!(
        !serde_json::to_string(&meta("x"))
            .expect("json")
            .contains("deleted")
    );
}
