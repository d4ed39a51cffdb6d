//! Helpers shared by the agent's unit tests.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on `text`; returns its exit code and everything it printed.
pub fn promtool_check(text: &str) -> (Option<i32>, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (CI installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), report)
}

/// Renders `families` as the text format and asserts that `promtool check metrics` accepts it:
/// no parse error (exit 1), and every lint finding (exit 3) one that `allowed` names — the
/// exporter names we keep on purpose for compatibility. Returns the rendered text.
pub fn assert_promtool_accepts<'a>(
    families: impl IntoIterator<Item = &'a crate::event::Family>,
    allowed: impl Fn(&str) -> bool,
) -> String {
    let mut text = String::new();
    crate::sinks::prometheus_exporter::render(
        families,
        crate::sinks::prometheus_exporter::Format::Text,
        &mut text,
    );
    let (code, report) = promtool_check(&text);
    assert!(
        code == Some(0) || code == Some(3),
        "promtool exit {code:?}:\n{report}"
    );
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !allowed(l))
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool findings:\n{}\n---\n{text}",
        unexpected.join("\n")
    );
    text
}

/// A [`crate::component::BuildContext`] of its own over `data_dir`, for building one component
/// in a test; keep the sender alive while the component runs (dropping it is not a shutdown,
/// sending `true` is).
pub fn build_context(
    data_dir: &std::path::Path,
) -> (
    crate::component::BuildContext,
    tokio::sync::watch::Sender<bool>,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    (crate::component::BuildContext::standalone(data_dir, rx), tx)
}
