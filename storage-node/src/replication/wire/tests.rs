use super::*;

#[test]
fn signatures_verify_and_any_change_breaks_them() {
    let s = sign(b"secret", "POST", "/p", "a", 1000, "h");
    assert!(verify(b"secret", "POST", "/p", "a", 1000, "h", &s));
    assert!(!verify(b"other", "POST", "/p", "a", 1000, "h", &s));
    assert!(!verify(b"secret", "POST", "/p", "a", 1001, "h", &s));
    assert!(!verify(b"secret", "POST", "/q", "a", 1000, "h", &s));
    assert!(!verify(b"secret", "POST", "/p", "a", 1000, "h2", &s));
    assert!(!verify(b"secret", "POST", "/p", "a", 1000, "h", "zz"));
}

#[test]
fn frame_macs_cover_header_and_data() {
    let mut a = frame_mac(b"k", 5, b"hdr");
    a.update(b"data");
    let a = a.finalize().into_bytes();
    let mut b = frame_mac(b"k", 5, b"hdr");
    b.update(b"datb");
    assert_ne!(a, b.finalize().into_bytes());
    let mut c = frame_mac(b"k", 6, b"hdr");
    c.update(b"data");
    assert_ne!(a, c.finalize().into_bytes());
}
