//! [`Text`]: the immutable, shared UTF-8 text of a log entry's line.
//!
//! A line is usually a slice of the block the tailer read from its file (one allocation per read
//! of up to 128 KiB, not one per line): cloning and slicing are reference counts, never copies.
//! A slice keeps its whole block alive until the last entry of it is dropped, which happens
//! when the sink has delivered the batch (the blocks in flight are what the bounded channel
//! holds, read in order). Text built from a `String` takes it over without a copy.

use bytes::Bytes;
use bytestring::ByteString;

/// Immutable shared UTF-8 text (a [`ByteString`]: cheap to clone, derefs to `str`).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(ByteString);

impl Text {
    /// Empty text.
    pub const fn new() -> Self {
        Text(ByteString::new())
    }

    /// Text of a `'static` string, without allocating.
    pub const fn from_static(s: &'static str) -> Self {
        Text(ByteString::from_static(s))
    }

    /// A block of bytes, when it is valid UTF-8; the block back otherwise.
    pub fn from_block(b: Bytes) -> Result<Self, Bytes> {
        // The clone is a reference count; it gives the block back when the check fails.
        ByteString::try_from(b.clone()).map(Text).map_err(|_| b)
    }

    /// The text of `sub`, which must lie inside this text's bytes on character boundaries: a
    /// reference to the same storage, no copy. `None` when it does not (the caller copies).
    pub fn slice_of(&self, sub: &[u8]) -> Option<Self> {
        let base = self.0.as_bytes().as_ptr() as usize;
        let at = (sub.as_ptr() as usize).checked_sub(base)?;
        let end = at.checked_add(sub.len())?;
        let s: &str = &self.0;
        if end > s.len() || !s.is_char_boundary(at) || !s.is_char_boundary(end) {
            return None;
        }
        Some(Text(self.0.slice_ref(&s[at..end])))
    }

    /// The text as a `str`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(ByteString::from(s))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(ByteString::from(s))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text(ByteString::from(s.as_str()))
    }
}

impl From<std::borrow::Cow<'_, str>> for Text {
    fn from(s: std::borrow::Cow<'_, str>) -> Self {
        match s {
            std::borrow::Cow::Borrowed(b) => Text::from(b),
            std::borrow::Cow::Owned(o) => Text::from(o),
        }
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        String::from(t.0)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
