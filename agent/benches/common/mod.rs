//! What the process benches share: finding the release binaries, a free loopback port, and a
//! child process that is killed and reaped when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A release binary of the workspace (`cargo build --release` first).
pub fn release(name: &str) -> PathBuf {
    let t = std::env::var_os("CARGO_TARGET_DIR").map_or(repo().join("target"), PathBuf::from);
    let p = t.join("release").join(name);
    assert!(
        p.is_file(),
        "{} not built: cargo build --release -p agent -p storage-node",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A child process, killed and reaped on drop.
pub struct Proc(pub Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
