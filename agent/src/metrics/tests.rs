use std::time::Duration;

use super::*;

#[test]
fn unregistered_names_fold_into_other() {
    let m = AgentMetrics::new();
    m.register("host");
    m.observe_collect("host", true, Duration::from_millis(5));
    for i in 0..100 {
        m.observe_collect(&format!("bogus{i}"), false, Duration::from_millis(1));
    }
    let fams = m.families();
    let success = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_collector_success")
        .expect("family");
    let names: Vec<_> = success
        .metrics
        .iter()
        .filter_map(|m| m.labels.get("collector").map(str::to_string))
        .collect();
    assert_eq!(names, vec!["host".to_string(), "other".to_string()]);
    let errors = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_collector_errors_total")
        .expect("family");
    let other = errors
        .metrics
        .iter()
        .find(|m| m.labels.get("collector") == Some("other"))
        .and_then(|m| m.value.as_scalar());
    assert_eq!(other, Some(100.0));
}

#[test]
fn process_metrics_are_present() {
    let fams = AgentMetrics::new().families();
    for name in ["process_cpu_seconds_total", "process_resident_memory_bytes"] {
        assert!(fams.iter().any(|f| f.name == name), "{name} missing");
    }
}
