//! `[sources.files]`.

use std::collections::BTreeMap;

use serde::Deserialize;


use crate::component::{BuildContext, ComponentError};
use crate::sources::tail::{Discover, LogSource, LogTelemetry, ProcessorConfig};

use crate::sources::tail::TailConfig;
use crate::transforms::multiline::MultilineConfig;
use crate::transforms::parse_json::ParseConfig;

/// Files matched by glob patterns.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Glob patterns (`/var/log/app/*.log`); the source is off while the list is empty.
    #[serde(default)]
    pub include: Vec<String>,
    /// Labels added to every entry.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Multiline joining.
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// Structured parsing (JSON or logfmt).
    #[serde(default)]
    pub parse: ParseConfig,
    /// How files are watched and read.
    #[serde(default)]
    pub tail: TailConfig,
}

impl crate::component::Component for FilesConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        super::FilesDiscover::new(self).map_err(|e| match e {
            super::FilesError::Pattern { pattern, source } => {
                ComponentError::new("include", format!("{pattern:?}: {source}"))
            }
            super::FilesError::Label(k) => {
                ComponentError::new("labels", format!("{k:?} is not a valid label name"))
            }
        })?;
        if let Some(m) = &self.multiline {
            m.validate()
                .map_err(|e| ComponentError::new("multiline", e.to_string()))?;
        }
        Ok(())
    }

    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        if self.include.is_empty() {
            return Ok(());
        }
        let cfg = self.clone();
        let processor = ProcessorConfig {
            source: "files",
            container: None,
            multiline: self.multiline.clone(),
            parse: self.parse.clone(),
            telemetry: LogTelemetry::default(),
        };
        LogSource::register(
            ctx,
            self.tail.clone(),
            processor,
            false,
            Box::new(move || {
                super::FilesDiscover::new(&cfg)
                    .map(|d| Box::new(d) as Box<dyn Discover>)
                    .map_err(|e| e.to_string())
            }),
        );
        Ok(())
    }
}
