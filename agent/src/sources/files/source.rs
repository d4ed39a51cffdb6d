//! Discovery by glob.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::FilesConfig;
use crate::event::is_valid_label_name;
use crate::logs::StreamLabels;
use crate::sources::tail::{Discover, FileSpec};

/// A bad `[sources.files]` setting.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// A pattern does not parse.
    #[error("sources.files.include {pattern:?}: {source}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// The glob error.
        source: glob::PatternError,
    },
    /// A static label name is not a valid Loki label name.
    #[error("sources.files.labels: {0:?} is not a valid label name")]
    Label(String),
}

/// Finds the files of the `files` source.
#[derive(Debug)]
pub struct FilesDiscover {
    patterns: Vec<String>,
    labels: BTreeMap<String, String>,
    cache: BTreeMap<std::path::PathBuf, Arc<StreamLabels>>,
}

impl FilesDiscover {
    /// Checks the patterns and labels.
    pub fn new(c: &FilesConfig) -> Result<Self, FilesError> {
        for p in &c.include {
            glob::Pattern::new(p).map_err(|source| FilesError::Pattern {
                pattern: p.clone(),
                source,
            })?;
        }
        for k in c.labels.keys() {
            if !is_valid_label_name(k) || k.starts_with("__") {
                return Err(FilesError::Label(k.clone()));
            }
        }
        Ok(FilesDiscover {
            patterns: c.include.clone(),
            labels: c.labels.clone(),
            cache: BTreeMap::new(),
        })
    }
}

impl Discover for FilesDiscover {
    fn discover(&mut self) -> Vec<FileSpec> {
        let mut out = Vec::new();
        let mut paths = std::collections::BTreeSet::new();
        for p in &self.patterns {
            let Ok(entries) = glob::glob(p) else { continue };
            for path in entries.flatten() {
                paths.insert(path);
            }
        }
        self.cache.retain(|p, _| paths.contains(p));
        for path in paths {
            let labels = self
                .cache
                .entry(path.clone())
                .or_insert_with(|| {
                    let mut pairs: Vec<(String, String)> = self
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    pairs.push(("job".into(), "files".into()));
                    pairs.push(("filename".into(), path.display().to_string()));
                    Arc::new(StreamLabels::new(pairs))
                })
                .clone();
            out.push(FileSpec { path, labels });
        }
        out
    }
}
