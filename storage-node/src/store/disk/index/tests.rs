use super::*;

fn entry() -> Entry {
    Entry {
        size: 1,
        last_modified_ms: 0,
        etag: EtagBuf::new("d41d8cd98f00b204e9800998ecf8427e"),
        version: Version::default(),
        ..Default::default()
    }
}

fn index(keys: &[&str]) -> Index {
    let ix = Index::default();
    assert!(ix.add_bucket("b", 0));
    for k in keys {
        ix.upsert("b", k, entry()).expect("upsert");
    }
    ix
}

fn q(prefix: &str, delimiter: Option<&str>, max: usize, token: Option<String>) -> ListQuery {
    ListQuery {
        prefix: prefix.to_owned(),
        delimiter: delimiter.map(str::to_owned),
        start_after: None,
        continuation: token,
        max_keys: max,
    }
}

#[test]
fn delimiter_groups_common_prefixes() {
    let ix = index(&["a/1", "a/2", "b", "c/x/1", "c/y", "d"]);
    let page = ix.list("b", &q("", Some("/"), 1000, None)).expect("list");
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["b", "d"]);
    assert_eq!(page.common_prefixes, ["a/", "c/"]);
    assert!(page.next_continuation.is_none());
    let page = ix.list("b", &q("c/", Some("/"), 1000, None)).expect("list");
    assert_eq!(page.common_prefixes, ["c/x/"]);
    assert_eq!(
        page.objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["c/y"]
    );
}

#[test]
fn pagination_returns_every_entry_once_in_order() {
    let keys: Vec<String> = (0..57).map(|i| format!("p{}/k{i:03}", i % 3)).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let ix = index(&refs);
    for max in [1, 2, 7, 1000] {
        let mut seen = Vec::new();
        let mut token = None;
        for _ in 0..200 {
            let page = ix.list("b", &q("", None, max, token.take())).expect("list");
            assert!(page.objects.len() <= max);
            seen.extend(page.objects.into_iter().map(|o| o.key));
            match page.next_continuation {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let mut want = keys.clone();
        want.sort();
        assert_eq!(seen, want, "max_keys {max}");
    }
    // With a delimiter, prefixes count toward max_keys and are not repeated across pages.
    let mut prefixes = Vec::new();
    let mut token = None;
    for _ in 0..10 {
        let page = ix
            .list("b", &q("", Some("/"), 1, token.take()))
            .expect("list");
        prefixes.extend(page.common_prefixes);
        match page.next_continuation {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(prefixes, ["p0/", "p1/", "p2/"]);
}

#[test]
fn bad_token_is_an_error() {
    let ix = index(&["a"]);
    for t in ["", "zz", "k+not-hex", "q00"] {
        assert!(matches!(
            ix.list("b", &q("", None, 10, Some(t.to_owned()))),
            Err(StoreError::InvalidArgument(_))
        ));
    }
}

#[test]
fn stats_follow_upserts_and_removals() {
    let ix = index(&["a", "b"]);
    ix.upsert(
        "b",
        "a",
        Entry {
            size: 10,
            ..entry()
        },
    )
    .expect("upsert");
    assert_eq!((ix.stats().objects, ix.stats().stored_bytes), (2, 11));
    ix.put_tombstone("b", "a", Entry::default())
        .expect("tombstone");
    assert_eq!((ix.stats().objects, ix.stats().stored_bytes), (1, 1));
    assert!(matches!(
        ix.remove_bucket_if_empty("b"),
        Err(StoreError::BucketNotEmpty(_))
    ));
    ix.put_tombstone("b", "b", Entry::default())
        .expect("tombstone");
    ix.remove_bucket_if_empty("b")
        .expect("empty bucket removed");
    assert!(!ix.has_bucket("b"));
}

#[test]
fn tombstones_replace_objects_and_merge_into_version_pages() {
    let ix = Index::default();
    ix.add_bucket("b", 0);
    let v = |h| Version { hlc: h, node: 1 };
    for k in ["a", "c", "e"] {
        ix.upsert(
            "b",
            k,
            Entry {
                version: v(1),
                ..entry()
            },
        )
        .expect("upsert");
    }
    let tomb = |h| Entry {
        version: v(h),
        ..Default::default()
    };
    ix.put_tombstone("b", "c", tomb(2)).expect("tombstone");
    ix.put_tombstone("b", "d", tomb(3)).expect("tombstone");
    assert_eq!(ix.stats().objects, 2);
    assert_eq!(ix.version_of("b", "c"), Some((v(2), true)));
    assert_eq!(ix.version_of("b", "a"), Some((v(1), false)));
    let page = ix.versions_page("b", None, 10);
    let keys: Vec<_> = page.iter().map(|e| (e.key.as_str(), e.deleted)).collect();
    assert_eq!(
        keys,
        vec![("a", false), ("c", true), ("d", true), ("e", false)]
    );
    let page = ix.versions_page("b", Some("c"), 1);
    assert_eq!(page[0].key, "d");
    // Listing never shows tombstones.
    let listed = ix
        .list(
            "b",
            &ListQuery {
                max_keys: 100,
                ..Default::default()
            },
        )
        .expect("list");
    assert_eq!(listed.objects.len(), 2);
    // A newer write of a deleted key brings it back.
    ix.upsert(
        "b",
        "d",
        Entry {
            version: v(4),
            ..entry()
        },
    )
    .expect("upsert");
    assert_eq!(ix.version_of("b", "d"), Some((v(4), false)));
    assert!(!ix.remove_tombstone("b", "c", v(9)));
    assert!(ix.remove_tombstone("b", "c", v(2)));
    assert_eq!(ix.version_of("b", "c"), None);
}
