use super::*;

fn frozen() -> u64 {
    1_000
}

#[test]
fn ticks_are_strictly_increasing_on_a_frozen_clock() {
    let c = Hlc::with_clock("a", frozen);
    let mut prev = c.tick();
    assert_eq!(prev.millis(), 1_000);
    for _ in 0..1000 {
        let v = c.tick();
        assert!(v > prev, "{v} after {prev}");
        prev = v;
    }
}

#[test]
fn observe_moves_past_a_remote_version_from_the_future() {
    let c = Hlc::with_clock("a", frozen);
    let remote = Version {
        hlc: 5_000 << 16,
        node: node_tag("b"),
    };
    c.observe(remote);
    let v = c.tick();
    assert!(v > remote);
    assert_eq!(v.hlc, (5_000 << 16) + 1);
    // An older remote version does not move the clock back.
    c.observe(Version { hlc: 1, node: 0 });
    assert!(c.tick() > v);
}

#[test]
fn versions_order_by_hlc_then_node_and_default_is_oldest() {
    let a = Version { hlc: 10, node: 1 };
    let b = Version { hlc: 10, node: 2 };
    let c = Version { hlc: 11, node: 0 };
    assert!(a < b && b < c);
    assert!(Version::default() < a);
    let mut v = vec![c, a, b];
    v.sort();
    assert_eq!(v, vec![a, b, c]);
}

#[test]
fn node_tags_differ_for_different_ids() {
    assert_ne!(node_tag("node-a"), node_tag("node-b"));
    assert_eq!(node_tag("x"), node_tag("x"));
}
