//! Templates on disk: `<data_dir>/log_patterns/templates.json`, one JSON document (format below),
//! replaced atomically (write a temporary file, fsync, rename, fsync the directory).
//!
//! ```text
//! {"version":1,"groups":[{"key":"ns/container","labels":[["namespace","ns"],...],
//!   "first_seen":1733400000,"lines":123,"created":4,
//!   "templates":[{"id":123,"hashes":[...],"text":["GET","<*>"],"count":7,"first_seen":..,
//!                 "last_seen":..,"examples":["..."],"level":"error"}]}]}
//! ```
//!
//! The file is written before the lines that created a new template leave the transform, so a
//! line whose position was saved always has its template on disk: after a kill -9 the re-read
//! lines match and nothing counts as new twice. A damaged file is moved aside (`.corrupt`) and
//! mining starts empty; it never stops the agent.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::mask::WILD_HASH;
use super::store::{Miner, Template};

const VERSION: u32 = 1;
/// The largest file read back (a bigger one is treated as damaged).
const MAX_FILE_BYTES: u64 = 256 << 20;

/// What failed while saving or loading templates.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// An I/O call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was done.
        op: &'static str,
        /// On which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a templates file.
    #[error("parse {path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct FileRec {
    version: u32,
    groups: Vec<GroupRec>,
}

#[derive(Debug, Serialize, Deserialize)]
struct GroupRec {
    key: String,
    labels: Vec<(String, String)>,
    first_seen: i64,
    lines: u64,
    created: u64,
    templates: Vec<TemplateRec>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TemplateRec {
    id: u64,
    hashes: Vec<u64>,
    text: Vec<String>,
    count: u64,
    first_seen: i64,
    last_seen: i64,
    examples: Vec<String>,
    level: Option<String>,
}

/// The file's path under a data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("log_patterns").join("templates.json")
}

/// Serialises every group and template (call with the miner locked; it is quick).
pub fn encode(m: &Miner) -> Vec<u8> {
    let mut groups: Vec<GroupRec> = m
        .groups()
        .map(|(_, g)| GroupRec {
            key: g.key.to_string(),
            labels: g.labels.clone(),
            first_seen: g.first_seen,
            lines: g.lines,
            created: g.created,
            templates: Vec::new(),
        })
        .collect();
    let slot_of: std::collections::HashMap<u32, usize> = m
        .groups()
        .enumerate()
        .map(|(i, (slot, _))| (slot, i))
        .collect();
    for t in m.slab.iter().flatten() {
        if let Some(&i) = slot_of.get(&t.group) {
            groups[i].templates.push(TemplateRec {
                id: t.id,
                hashes: t.hashes.clone(),
                text: t.text.iter().map(|s| s.to_string()).collect(),
                count: t.count,
                first_seen: t.first_seen,
                last_seen: t.last_seen,
                examples: t.examples.iter().map(|s| s.to_string()).collect(),
                level: t.level.map(String::from),
            });
        }
    }
    serde_json::to_vec(&FileRec {
        version: VERSION,
        groups,
    })
    .unwrap_or_default()
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let io = |op: &'static str, p: &Path| {
        let path = p.to_path_buf();
        move |source| PersistError::Io { op, path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
    f.write_all(bytes).map_err(io("write", &tmp))?;
    f.sync_all().map_err(io("fsync", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io("rename", &tmp))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", dir))?;
    Ok(())
}

fn level(s: &str) -> Option<&'static str> {
    Some(crate::transforms::parse_json::normalize_level(s))
}

/// Loads the templates at `path` into an empty miner; returns how many. A missing file is 0.
pub fn load(path: &Path, m: &mut Miner) -> Result<usize, PersistError> {
    let bytes = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(PersistError::Io {
                op: "stat",
                path: path.to_path_buf(),
                source,
            });
        }
        Ok(md) if md.len() > MAX_FILE_BYTES => {
            return Err(PersistError::Format {
                path: path.to_path_buf(),
                reason: format!("{} bytes is over the {MAX_FILE_BYTES} bound", md.len()),
            });
        }
        Ok(_) => std::fs::read(path).map_err(|source| PersistError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        })?,
    };
    let f: FileRec = serde_json::from_slice(&bytes).map_err(|e| PersistError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if f.version != VERSION {
        return Err(PersistError::Format {
            path: path.to_path_buf(),
            reason: format!("version {} is not {VERSION}", f.version),
        });
    }
    let max_tokens = m.config().max_tokens;
    let ex_max = m.config().example_max_bytes;
    let mut n = 0;
    for g in f.groups {
        let labels = g.labels;
        let slot = m.group_slot(&g.key, || labels, g.first_seen);
        m.set_group_first_seen(slot, g.first_seen, g.lines, g.created);
        for t in g.templates {
            if t.hashes.len() != t.text.len() || t.hashes.len() > max_tokens {
                continue;
            }
            let leaf = m.leaf_for(slot, &t.hashes);
            let tmpl = Template {
                id: t.id,
                id_hex: super::store::hex_id(t.id),
                group: slot,
                text: t
                    .text
                    .iter()
                    .zip(&t.hashes)
                    .map(|(s, &h)| {
                        if h == WILD_HASH {
                            "<*>".into()
                        } else {
                            s.as_str().into()
                        }
                    })
                    .collect(),
                hashes: t.hashes,
                leaf,
                count: t.count,
                first_seen: t.first_seen,
                last_seen: t.last_seen,
                touched: 0,
                examples: t
                    .examples
                    .into_iter()
                    .take(2)
                    .map(|e| {
                        let mut e = e;
                        if e.len() > ex_max + 3 {
                            let mut end = ex_max;
                            while !e.is_char_boundary(end) {
                                end -= 1;
                            }
                            e.truncate(end);
                        }
                        e.into_boxed_str()
                    })
                    .collect(),
                level: t.level.as_deref().and_then(level),
                interval_lines: 0,
                rate: None,
            };
            m.insert(tmpl);
            n += 1;
        }
    }
    Ok(n)
}
