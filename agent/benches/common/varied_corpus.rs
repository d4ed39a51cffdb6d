//! The varied corpus of the mining benchmarks (`logs_throughput` part 2, `log_patterns_mining`):
//! every line of the `log_patterns` accuracy corpora, drawn at random, with every number (a
//! digit run not glued to a word, nor a code location's line such as `main.go:585`, which names
//! the log statement and does not vary) re-drawn, so values vary as in real logs.

use std::path::{Path, PathBuf};

/// The lines of every accuracy corpus under `agent/tests/data/log_patterns`.
pub fn pool(manifest_dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let data = manifest_dir.join("tests/data/log_patterns");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&data)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    names.sort();
    let mut pool = Vec::new();
    for p in &names {
        for l in std::fs::read(p)?.split(|&b| b == b'\n') {
            if !l.is_empty() {
                pool.push(l.to_vec());
            }
        }
    }
    if pool.is_empty() {
        return Err(std::io::Error::other(format!(
            "no corpus lines under {}",
            data.display()
        )));
    }
    Ok(pool)
}

/// Draws lines from `pool` (non-empty), numbers re-drawn; deterministic.
pub struct Lines<'a> {
    pool: &'a [Vec<u8>],
    x: u64,
}

impl<'a> Lines<'a> {
    /// The same sequence on every run.
    pub fn new(pool: &'a [Vec<u8>]) -> Self {
        Lines {
            pool,
            x: 0x2545_F491_4F6C_DD1D,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        self.x
    }

    /// The next line (without its newline) into `buf` (cleared first).
    pub fn next_into(&mut self, buf: &mut Vec<u8>) {
        let pool = self.pool;
        let src = &pool[(self.next_u64() % pool.len() as u64) as usize];
        buf.clear();
        // A digit run glued to a word (`sda1`, `s3`, `sha256`) is part of a name and stays.
        let mut keep = false;
        let mut prev = b' ';
        for (at, &b) in src.iter().enumerate() {
            if b.is_ascii_digit() {
                if !prev.is_ascii_digit() {
                    keep = prev.is_ascii_alphabetic() || prev == b'_' || code_line(&src[..at]);
                }
                buf.push(if keep {
                    b
                } else {
                    b'0' + (self.next_u64() % 10) as u8
                });
            } else {
                buf.push(b);
            }
            prev = b;
        }
    }
}

/// Whether `before` ends with a source file name and `:` (`main.go:`, `Client.java:`): the
/// digits that follow are a code location's line.
fn code_line(before: &[u8]) -> bool {
    [
        &b".go:"[..],
        b".rs:",
        b".java:",
        b".py:",
        b".c:",
        b".cc:",
        b".js:",
    ]
    .iter()
    .any(|e| before.ends_with(e))
}
