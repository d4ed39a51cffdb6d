//! The node the agent runs on: its name, as every part that labels by node finds it.

/// The node name: `configured` when given, else `$NODE_NAME` (the Kubernetes node, as a
/// DaemonSet sets it from `spec.nodeName`) when not empty, else the kernel's host name.
pub fn node_name(configured: Option<&str>) -> String {
    if let Some(n) = configured {
        return n.to_string();
    }
    if let Ok(n) = std::env::var("NODE_NAME")
        && !n.is_empty()
    {
        return n;
    }
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
