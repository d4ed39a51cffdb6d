//! Snappy's raw block format written as the body is encoded, 64 KiB at a time.
//!
//! Snappy compresses its input in independent blocks of 64 KiB (a copy never reaches back past
//! the start of its block): the whole body's compressed form is its length as a varint followed
//! by each block's elements in turn. [`SnappyWriter`] takes the body in pieces into a 64 KiB
//! staging block and compresses each block as soon as it is full, with `snap`'s encoder, so the
//! body is never held whole: the encoder reads a block that the protobuf encoder has just
//! written (still in the CPU's cache) instead of a megabyte written long before, and the
//! uncompressed megabyte is never written at all. The output is byte for byte what
//! `snap::raw::Encoder::compress` makes of the whole body (`tests.rs` checks it).

/// Snappy's block size: the encoder compresses each 64 KiB of its input on its own.
const BLOCK: usize = 1 << 16;

/// A snappy raw-format writer fed in pieces; see the module docs.
pub struct SnappyWriter {
    /// `snap`'s encoder (its hash tables).
    enc: snap::raw::Encoder,
    /// The uncompressed bytes of the block being filled (at most [`BLOCK`]).
    block: Vec<u8>,
    /// One block's compressed form (its worst case, zeroed once).
    packed: Vec<u8>,
    /// The compressed output so far: the total length's varint, then the elements.
    out: Vec<u8>,
    /// The uncompressed length announced by [`Self::begin`].
    total: usize,
    /// Uncompressed bytes taken so far.
    taken: usize,
}

impl std::fmt::Debug for SnappyWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnappyWriter")
            .field("block", &self.block.capacity())
            .field("packed", &self.packed.len())
            .field("out", &self.out.capacity())
            .finish_non_exhaustive()
    }
}

impl Default for SnappyWriter {
    fn default() -> Self {
        SnappyWriter {
            enc: snap::raw::Encoder::new(),
            block: Vec::new(),
            packed: Vec::new(),
            out: Vec::new(),
            total: 0,
            taken: 0,
        }
    }
}

/// What went wrong with a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnappyError {
    /// The pieces did not add up to the announced length (an encoder bug, never sent).
    #[error("snappy body of {announced} bytes announced, {taken} written")]
    Length {
        /// The length given to `begin`.
        announced: usize,
        /// The bytes written.
        taken: usize,
    },
    /// Larger than snappy's limit (4 GiB).
    #[error("snappy body of {0} bytes is too large")]
    TooBig(usize),
}

impl SnappyWriter {
    /// Starts a body of exactly `total` uncompressed bytes (the output kept from the last body
    /// is reused).
    pub fn begin(&mut self, total: usize) -> Result<(), SnappyError> {
        let need = snap::raw::max_compress_len(total);
        if need == 0 && total > 0 {
            return Err(SnappyError::TooBig(total));
        }
        self.out.clear();
        self.out.reserve(need.max(16));
        let mut v = total as u64;
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
        self.block.clear();
        self.block.reserve_exact(BLOCK.min(total.max(1)));
        self.total = total;
        self.taken = 0;
        Ok(())
    }

    /// Appends uncompressed bytes; every block filled is compressed at once.
    #[inline]
    pub fn put(&mut self, mut bytes: &[u8]) {
        loop {
            let room = BLOCK - self.block.len();
            if bytes.len() < room {
                self.block.extend_from_slice(bytes);
                return;
            }
            let (now, rest) = bytes.split_at(room);
            self.block.extend_from_slice(now);
            self.compress_block();
            bytes = rest;
        }
    }

    /// Compresses the staged block onto the output and empties it.
    fn compress_block(&mut self) {
        let n = self.block.len();
        if n == 0 {
            return;
        }
        self.taken += n;
        if self.taken > self.total {
            // More than announced: `finish` refuses the body; stop compressing.
            self.block.clear();
            return;
        }
        if self.packed.is_empty() {
            self.packed = vec![0; snap::raw::max_compress_len(BLOCK)];
        }
        // `compress` writes the block's own length as a varint, then its elements: the
        // elements go on the output (a copy of at most 76 KiB, still in the cache).
        match self.enc.compress(&self.block, &mut self.packed) {
            Ok(written) => {
                let head = varint_len(n as u64).min(written);
                self.out.extend_from_slice(&self.packed[head..written]);
            }
            // Cannot happen (`packed` holds the worst case); the length check refuses it.
            Err(_) => self.taken = usize::MAX,
        }
        self.block.clear();
    }

    /// Compresses the last block and hands out the body; the writer keeps its tables and its
    /// block buffer for the next body.
    pub fn finish(&mut self) -> Result<Vec<u8>, SnappyError> {
        self.compress_block();
        if self.taken != self.total {
            let e = SnappyError::Length {
                announced: self.total,
                taken: self.taken,
            };
            self.out.clear();
            return Err(e);
        }
        Ok(std::mem::take(&mut self.out))
    }

    /// Takes back a body's buffer once it has been sent, so the next body is written into
    /// memory already mapped (a fresh megabyte costs a page fault per page).
    pub fn give_back(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() > self.out.capacity() {
            buf.clear();
            self.out = buf;
        }
    }

    /// Bytes of memory it holds.
    pub fn held(&self) -> usize {
        self.block.capacity() + self.packed.capacity() + self.out.capacity()
    }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}
