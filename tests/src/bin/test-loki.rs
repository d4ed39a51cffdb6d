//! `test-loki`: a Loki push endpoint for tests, on 127.0.0.1 (see `e2e::loki`).
//!
//! Flags: `--port-file FILE` (the bound port is written there and printed), `--port N`
//! (default 0: ephemeral), `--record FILE`, `--reject-out-of-order`, `--max-line-bytes N`,
//! `--max-batch-bytes N`, `--max-label-names N`, `--keep-max N`,
//! `--reject-old-samples-max-age-secs N` (Loki's `reject_old_samples_max_age`),
//! `--creation-grace-period-secs N` (Loki's `creation_grace_period`).

use std::sync::Arc;

use e2e::loki::{Limits, Receiver, serve};

fn main() -> anyhow::Result<()> {
    let mut limits = Limits::default();
    let mut port_file = None;
    let mut record = None;
    let mut port: u16 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--port-file" => port_file = Some(val()?),
            "--port" => port = val()?.parse()?,
            "--record" => record = Some(val()?),
            "--reject-out-of-order" => limits.reject_out_of_order = true,
            "--max-line-bytes" => limits.max_line_bytes = val()?.parse()?,
            "--max-batch-bytes" => limits.max_batch_bytes = val()?.parse()?,
            "--max-label-names" => limits.labels.max_names = val()?.parse()?,
            "--keep-max" => limits.keep_max = val()?.parse()?,
            "--reject-old-samples-max-age-secs" => {
                limits.reject_old_samples_max_age =
                    Some(std::time::Duration::from_secs(val()?.parse()?))
            }
            "--creation-grace-period-secs" => {
                limits.creation_grace_period = Some(std::time::Duration::from_secs(val()?.parse()?))
            }
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let record = match record {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        if let Some(f) = port_file {
            let tmp = format!("{f}.tmp");
            std::fs::write(&tmp, port.to_string())?;
            std::fs::rename(&tmp, &f)?;
        }
        println!("test-loki listening on 127.0.0.1:{port}");
        serve(listener, Arc::new(Receiver::new(limits, record))).await;
        Ok(())
    })
}
