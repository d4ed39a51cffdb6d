use super::*;

#[test]
fn apply_parses_bounds_and_clears() {
    enable();
    assert_eq!(apply(br#"{"disk_delay_ms": 25}"#).expect("valid"), 25);
    assert_eq!(disk_delay(), Some(Duration::from_millis(25)));
    assert!(matches!(
        apply(br#"{"disk_delay_ms": 60001}"#),
        Err(FaultError::TooLarge(60001))
    ));
    assert!(matches!(
        apply(br#"{"delay": 1}"#),
        Err(FaultError::Decode(_))
    ));
    assert!(matches!(apply(b"not json"), Err(FaultError::Decode(_))));
    assert_eq!(
        disk_delay(),
        Some(Duration::from_millis(25)),
        "a refused request changes nothing"
    );
    assert_eq!(apply(br#"{"disk_delay_ms": 0}"#).expect("valid"), 0);
    assert_eq!(disk_delay(), None);
}
