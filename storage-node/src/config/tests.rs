use super::*;

fn cli() -> CliConfig {
    CliConfig {
        secret_key: Some("s3cr3t".to_owned()),
        ..Default::default()
    }
}

#[test]
fn unknown_key_is_refused_by_name() {
    let e = parse_file(Path::new("x.toml"), "node_id = \"a\"\nbogus_key = 1\n")
        .expect_err("unknown key");
    assert!(e.to_string().contains("bogus_key"), "{e}");
}

#[test]
fn bad_address_names_the_option() {
    let file = FileConfig {
        s3_listen: Some("localhost:notaport".to_owned()),
        ..Default::default()
    };
    let e = Config::merge(cli(), file).expect_err("bad address");
    assert!(e.to_string().contains("s3_listen"), "{e}");
}

#[test]
fn flags_override_file_over_defaults() {
    let file = FileConfig {
        node_id: Some("from-file".to_owned()),
        admin_listen: Some("127.0.0.1:1".to_owned()),
        ..Default::default()
    };
    let mut c = cli();
    c.node_id = Some("from-flag".to_owned());
    let cfg = Config::merge(c, file).expect("valid");
    assert_eq!(cfg.node_id, "from-flag");
    assert_eq!(cfg.admin_listen.port(), 1);
    assert_eq!(cfg.s3_listen.to_string(), "127.0.0.1:9000");
    assert!(cfg.instrumentation);
}

#[test]
fn secret_comes_from_a_file_without_its_newline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secret");
    std::fs::write(&path, "abc\n").expect("write");
    let c = CliConfig {
        secret_key_file: Some(path),
        ..Default::default()
    };
    assert_eq!(
        Config::merge(c, FileConfig::default())
            .expect("valid")
            .secret_key,
        "abc"
    );
    assert!(
        Config::merge(CliConfig::default(), FileConfig::default()).is_err(),
        "a secret is required"
    );
}

#[test]
fn unwritable_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let e = check_data_dir(&file.join("sub")).expect_err("not a directory");
    assert!(e.to_string().contains("plain-file"), "{e}");
}

#[test]
fn check_config_does_not_create_the_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("a").join("b");
    probe_data_dir(&missing).expect("creatable");
    assert!(
        !missing.exists(),
        "check-config must not create {missing:?}"
    );
    assert!(!dir.path().join("a").exists());
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let e = probe_data_dir(&file.join("sub")).expect_err("under a file");
    assert!(e.to_string().contains("not a directory"), "{e}");
    let e = probe_data_dir(&file).expect_err("a file");
    assert!(e.to_string().contains("not a directory"), "{e}");
    probe_data_dir(dir.path()).expect("an existing writable directory");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        1,
        "no probe file is left behind"
    );
}

#[test]
fn peers_come_from_flags_or_from_a_toml_list_or_table() {
    let mut c = cli();
    c.node_id = Some("a".to_owned());
    c.peers = vec![
        "b=http://127.0.0.1:9001".to_owned(),
        "c=http://127.0.0.1:9002".to_owned(),
    ];
    c.write_quorum = Some(3);
    let cfg = Config::merge(c, FileConfig::default()).expect("valid");
    assert_eq!(
        cfg.replication
            .peers
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["b", "c"]
    );
    assert_eq!(cfg.replication.peers[0].authority, "127.0.0.1:9001");
    assert_eq!(cfg.replication.write_quorum, 3);

    let list = parse_file(
        Path::new("x.toml"),
        "node_id = \"a\"\npeers = [\"b=http://10.0.0.2:9000\"]\nwrite_quorum = 2\n",
    )
    .expect("list");
    let cfg = Config::merge(cli(), list).expect("valid");
    assert_eq!(cfg.replication.peers[0].id, "b");
    assert_eq!(cfg.replication.write_quorum, 2);

    let table = parse_file(
        Path::new("x.toml"),
        "node_id = \"a\"\nquorum_timeout_ms = 250\nreplication_backlog_max_bytes = 4096\n[peers]\nb = \"http://10.0.0.2:9000\"\nc = \"http://10.0.0.3:9000\"\n",
    )
    .expect("table");
    let cfg = Config::merge(cli(), table).expect("valid");
    assert_eq!(cfg.replication.peers.len(), 2);
    assert_eq!(
        (
            cfg.replication.quorum_timeout_ms,
            cfg.replication.backlog_max_bytes
        ),
        (250, 4096)
    );
    // Without peers, nothing replicates and the quorum is this node alone.
    let cfg = Config::merge(cli(), FileConfig::default()).expect("valid");
    assert!(cfg.replication.peers.is_empty());
    assert_eq!(cfg.replication.write_quorum, 1);
}

#[test]
fn bad_peers_and_quorums_are_refused_with_the_option_named() {
    let with = |peers: &[&str], quorum: Option<usize>| {
        let mut c = cli();
        c.node_id = Some("a".to_owned());
        c.peers = peers.iter().map(|s| (*s).to_owned()).collect();
        c.write_quorum = quorum;
        Config::merge(c, FileConfig::default())
    };
    for (peers, quorum, needle) in [
        (&["b"][..], None, "ID=URL"),
        (&["b=https://h:1"][..], None, "peer_ca_file"),
        (&["b=ftp://h:1"][..], None, "https://"),
        (&["b=http://h"][..], None, "port"),
        (&["a=http://h:1"][..], None, "own id"),
        (&["b=http://h:1", "b=http://h:2"][..], None, "twice"),
        (&["b/../x=http://h:1"][..], None, "peer id"),
        (&["b=http://h:1"][..], Some(3), "write_quorum"),
        (&[][..], Some(0), "write_quorum"),
    ] {
        let e = with(peers, quorum).expect_err("refused");
        assert!(e.to_string().contains(needle), "{peers:?} {quorum:?}: {e}");
    }
}

#[test]
fn https_peers_are_reached_with_the_peer_ca_file() {
    let mut c = cli();
    c.node_id = Some("a".to_owned());
    c.peers = vec![
        "b=https://10.0.0.2:9000".to_owned(),
        "c=http://10.0.0.3:9000".to_owned(),
    ];
    c.peer_ca_file = Some("/etc/nodewatch/ca.pem".into());
    let cfg = Config::merge(c, FileConfig::default()).expect("https peers with a CA file");
    assert_eq!(
        cfg.replication
            .peers
            .iter()
            .map(|p| p.scheme)
            .collect::<Vec<_>>(),
        ["https", "http"]
    );
    assert_eq!(
        cfg.replication.peer_ca_file.as_deref(),
        Some(Path::new("/etc/nodewatch/ca.pem"))
    );
}
