use super::*;

fn cli() -> CliConfig {
    CliConfig { secret_key: Some("s3cr3t".to_owned()), ..Default::default() }
}

#[test]
fn unknown_key_is_refused_by_name() {
    let e = parse_file(Path::new("x.toml"), "node_id = \"a\"\nbogus_key = 1\n").expect_err("unknown key");
    assert!(e.to_string().contains("bogus_key"), "{e}");
}

#[test]
fn bad_address_names_the_option() {
    let file = FileConfig { s3_listen: Some("localhost:notaport".to_owned()), ..Default::default() };
    let e = Config::merge(cli(), file).expect_err("bad address");
    assert!(e.to_string().contains("s3_listen"), "{e}");
}

#[test]
fn flags_override_file_over_defaults() {
    let file = FileConfig { node_id: Some("from-file".to_owned()), admin_listen: Some("127.0.0.1:1".to_owned()), ..Default::default() };
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
    let c = CliConfig { secret_key_file: Some(path), ..Default::default() };
    assert_eq!(Config::merge(c, FileConfig::default()).expect("valid").secret_key, "abc");
    assert!(Config::merge(CliConfig::default(), FileConfig::default()).is_err(), "a secret is required");
}

#[test]
fn unwritable_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let e = check_data_dir(&file.join("sub")).expect_err("not a directory");
    assert!(e.to_string().contains("plain-file"), "{e}");
}
