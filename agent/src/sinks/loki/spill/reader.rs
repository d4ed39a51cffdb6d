//! The thread that hands spilled records to the sink, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::SpillQueue;
use crate::logs::Chunk;

/// A running reader thread.
#[derive(Debug)]
pub struct SpillReader {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SpillReader {
    /// Starts reading `q` into `tx`; `buffered` counts the bytes in the channel.
    pub fn spawn(
        q: Arc<SpillQueue>,
        tx: mpsc::Sender<Chunk>,
        buffered: Arc<AtomicU64>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("spill-reader".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let Some((entries, cur)) = q.next(Duration::from_millis(200)) else {
                        continue;
                    };
                    let mut chunk = Chunk {
                        spill: Some((cur.segment, cur.offset)),
                        ..Chunk::default()
                    };
                    for e in entries {
                        chunk.push(e);
                    }
                    buffered.fetch_add(chunk.bytes as u64, Ordering::Relaxed);
                    if tx.blocking_send(chunk).is_err() {
                        return;
                    }
                }
            })?;
        Ok(SpillReader {
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the thread to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the thread.
    pub fn join(mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
