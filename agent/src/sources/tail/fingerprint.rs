//! A file's fingerprint: CRC32C of its first bytes.

use std::os::unix::fs::FileExt as _;

/// The most leading bytes a fingerprint covers.
pub const FP_MAX: u32 = 256;

/// A record's fingerprint must cover at least this much before a new file is taken for a copy
/// of it (shorter prefixes, like `{"timestamp":"20`, are shared by unrelated files).
pub const MIN_COPY_FP_LEN: u32 = 64;

/// `(len, crc)` of the first `min(len, FP_MAX)` bytes of `f`; `None` if fewer bytes could be read.
pub fn fingerprint(f: &std::fs::File, len: u64) -> Option<(u32, u32)> {
    let len = len.min(u64::from(FP_MAX)) as usize;
    let mut buf = [0u8; FP_MAX as usize];
    let mut got = 0;
    while got < len {
        match f.read_at(&mut buf[got..len], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    (got == len).then(|| (len as u32, crc32c::crc32c(&buf[..len])))
}

/// Whether `f` starts with the bytes a record's fingerprint covers.
pub fn matches(f: &std::fs::File, fp_len: u32, fp_crc: u32) -> bool {
    fingerprint(f, u64::from(fp_len)) == Some((fp_len, fp_crc))
}
