//! Unit tests: glob discovery, labels, bad settings.

use super::*;
use crate::sources::tail::Discover;

#[test]
fn globs_find_files_with_job_filename_and_static_labels() {
    let d = tempfile::tempdir().expect("ok");
    std::fs::write(d.path().join("a.log"), "").expect("ok");
    std::fs::write(d.path().join("b.txt"), "").expect("ok");
    let c = FilesConfig {
        include: vec![d.path().join("*.log").display().to_string()],
        labels: [("env".to_string(), "prod".to_string())].into(),
        ..FilesConfig::default()
    };
    let specs = FilesDiscover::new(&c).expect("ok").discover();
    assert_eq!(specs.len(), 1);
    let want = format!(
        r#"{{env="prod", filename="{}", job="files"}}"#,
        d.path().join("a.log").display()
    );
    assert_eq!(specs[0].labels.rendered, want);
}

#[test]
fn bad_patterns_and_label_names_are_refused() {
    let c = FilesConfig {
        include: vec!["/a/[".into()],
        ..FilesConfig::default()
    };
    assert!(matches!(
        FilesDiscover::new(&c),
        Err(FilesError::Pattern { .. })
    ));
    for bad in ["__reserved", "1abc", "with-dash"] {
        let c = FilesConfig {
            labels: [(bad.to_string(), "v".to_string())].into(),
            ..FilesConfig::default()
        };
        assert!(
            matches!(FilesDiscover::new(&c), Err(FilesError::Label(_))),
            "{bad}"
        );
    }
}
