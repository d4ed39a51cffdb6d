use super::*;

fn rule() -> Rule {
    Rule {
        allowed_origins: vec!["https://*.example.com".to_owned()],
        allowed_methods: vec!["GET".to_owned(), "PUT".to_owned()],
        allowed_headers: vec!["x-amz-*".to_owned(), "content-type".to_owned()],
        max_age_seconds: Some(600),
        ..Default::default()
    }
}

#[test]
fn preflight_matches_origin_method_and_headers() {
    let rules = [rule()];
    let ok = preflight(
        &rules,
        "https://app.example.com",
        "PUT",
        &["X-Amz-Date".to_owned()],
    );
    assert_eq!(
        ok.as_ref().map(|a| a.origin.as_str()),
        Some("https://app.example.com")
    );
    assert_eq!(ok.and_then(|a| a.max_age), Some(600));
    assert!(preflight(&rules, "https://evil.com", "PUT", &[]).is_none());
    assert!(preflight(&rules, "https://app.example.com", "DELETE", &[]).is_none());
    assert!(
        preflight(
            &rules,
            "https://app.example.com",
            "GET",
            &["authorization".to_owned()]
        )
        .is_none()
    );
}
