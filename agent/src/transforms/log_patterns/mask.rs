//! Tokenising and masking: one pass over the line's bytes, no allocation per token.
//!
//! Tokens are separated by whitespace and by the JSON structure bytes `{ } [ ] ,`. A token of
//! the form `key=value`, `key:value` or `"key":value` keeps its key and has its value judged;
//! any other token is judged whole. A value is variable, and becomes `<*>`, when it holds a
//! digit (numbers, hex ids, UUIDs, IPs, durations, times, versions), a `/` (paths, URLs), or is
//! all hex of at least 8 characters; but a code location (`caller=main.go:585`, klog's
//! `reflector.go:138]`) stays a word, as it names the log statement. A quoted value (`"..."` or `'...'`, after `=`/`:` or at the
//! start of a token) of one word is one token up to its closing quote, masked whole when it is
//! variable by the same rule (`"2024-01-01T00:00:00Z"`, `"/var/log/x"`); a quoted value of several
//! words is split into its words like the rest of the line (a `msg="..."` or docker's `"log":"..."`
//! keeps its words, which are what tell events apart, and its variable words are masked).
//!
//! Each token is reduced to a 64-bit FNV-1a hash (of its key and, unless masked, its value) that
//! the parse tree compares; the text is kept as byte ranges into the line for rendering.

/// How a masked token is written in templates.
pub const WILDCARD: &str = "<*>";

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The FNV-1a hash of `bytes`, continuing from `h`.
#[inline]
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The hash a masked token with an empty key gets: the tree's and templates' wildcard.
pub const WILD_HASH: u64 = 0x5a5a_5a5a_5a5a_5a5a;

/// One token: its hash and where its text is in the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// The hash of the key and (unless masked) the value.
    pub hash: u64,
    /// Byte range of the token (key part only when masked) in the line.
    pub start: u32,
    /// End of the range.
    pub end: u32,
    /// Whether the value was masked.
    pub masked: bool,
}

impl Token {
    /// The token as template text: its bytes, plus `<*>` when masked.
    pub fn render(&self, line: &str, out: &mut String) {
        out.push_str(
            line.get(self.start as usize..self.end as usize)
                .unwrap_or(""),
        );
        if self.masked {
            out.push_str(WILDCARD);
        }
    }
}

#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[inline]
fn is_sep(b: u8) -> bool {
    SEP[b as usize]
}

/// Byte classes of the tokeniser's table: a separator (whitespace, JSON structure), a key
/// character (letters, `_ - . " @`), a hex digit, a digit or `/`, a `:`.
const C_SEP: u8 = 1;
const C_KEY: u8 = 2;
const C_HEX: u8 = 4;
const C_DIGIT_SLASH: u8 = 8;
const C_COLON: u8 = 16;

/// The class of every byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let mut f = 0;
        if SEP[c] {
            f |= C_SEP;
        }
        if b.is_ascii_alphabetic() || matches!(b, b'_' | b'-' | b'.' | b'"' | b'@') {
            f |= C_KEY;
        }
        if b.is_ascii_hexdigit() {
            f |= C_HEX;
        }
        if b.is_ascii_digit() || b == b'/' {
            f |= C_DIGIT_SLASH;
        }
        if b == b':' {
            f |= C_COLON;
        }
        t[c] = f;
        c += 1;
    }
    t
};

/// Token separators: whitespace and the JSON structure bytes, as a table.
static SEP: [bool; 256] = {
    let mut t = [false; 256];
    let seps = *b" \t\n\r\x0b\x0c{}[],";
    let mut i = 0;
    while i < seps.len() {
        t[seps[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether a value is variable (see the module docs).
#[inline]
pub fn is_variable(v: &[u8]) -> bool {
    let mut all_hex = v.len() >= 8;
    for &b in v {
        if b.is_ascii_digit() || b == b'/' {
            return true;
        }
        if !b.is_ascii_hexdigit() {
            all_hex = false;
        }
    }
    all_hex
}

/// Whether `v` is a code location (`main.go:585`, `reflector.go:138]`): it names the log
/// statement, so it is kept like a word, never masked.
#[inline]
pub fn is_code_location(v: &[u8]) -> bool {
    let v = v.strip_suffix(b"]").unwrap_or(v);
    let Some(colon) = v.iter().rposition(|&c| c == b':') else {
        return false;
    };
    let (file, line) = (&v[..colon], &v[colon + 1..]);
    // Every extension below ends with a letter: times (`12:34:56`) and addresses
    // (`10.0.0.1:80`) stop here.
    if !file.last().is_some_and(u8::is_ascii_alphabetic)
        || line.is_empty()
        || !line.iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let ext_ok = [
        &b".go"[..],
        b".rs",
        b".py",
        b".java",
        b".c",
        b".cc",
        b".cpp",
        b".js",
        b".ts",
        b".rb",
    ]
    .iter()
    .any(|e| file.ends_with(e));
    ext_ok
        && file
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-'))
}

/// Where a key ends in a token: after the first `=` or `:` that follows a non-empty key of
/// letters, `_`, `-`, `.`, `@`, `"`. Returns the value's start (0: no key).
#[inline]
fn key_end(t: &[u8]) -> usize {
    for (i, &b) in t.iter().enumerate() {
        match b {
            b'=' if i > 0 => return i + 1,
            b':' if i > 0 => return i + 1,
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'-' | b'.' | b'"' | b'@' => {}
            // A digit makes it a value (an address, a time), not a key.
            _ => return 0,
        }
    }
    0
}

/// Tokenises and masks the part of `line` that names its log statement into `out` (cleared
/// first), keeping at most `max_tokens` tokens. Returns whether the line had more (the rest is
/// dropped from matching).
///
/// That part is the whole line, except for a JSON object with a `message` or `msg` string
/// (tracing, zap, slog, logrus; also under `fields`): its message, whatever other fields it has
/// ([`super::view`]); its level is the template's level ([`line_level`]), not a token (a short
/// message would otherwise share half its tokens with every other message of its level).
pub fn tokenize(line: &str, max_tokens: usize, out: &mut Vec<Token>) -> bool {
    out.clear();
    if let Some((from, to)) = super::view::message_range(line) {
        return tokenize_span(line, from, to, max_tokens, out);
    }
    tokenize_span(line, 0, line.len(), max_tokens, out)
}

/// Whether the bytes before `at` (at `i`) indent it like a stack frame: a tab, or two spaces.
#[inline]
fn frame_indent(b: &[u8], i: usize) -> bool {
    i >= 1 && (b[i - 1] == b'\t' || (i >= 2 && b[i - 1] == b' ' && b[i - 2] == b' '))
}

/// Where a stack frame's location ends, if `b[from..to]` is one: `pkg.Class.method(File.java:12)`,
/// `x.y(Unknown Source)`, `Object.<anonymous> (/app/x.js:1:2)`: it ends with `)` and holds a `(`.
#[inline]
fn frame_rest(b: &[u8], from: usize, to: usize) -> Option<usize> {
    let mut end = to;
    while end > from && is_space(b[end - 1]) {
        end -= 1;
    }
    let r = &b[from..end];
    (r.len() > 2 && r[r.len() - 1] == b')' && r.contains(&b'(')).then_some(end)
}

/// Tokenises and masks `line[from..to]`, appending to `out` up to `max_tokens` tokens in all
/// (see the module docs). A stack frame (`\tat LOCATION`, indented by a tab or two spaces,
/// LOCATION ending with `)`) becomes `at <*>`: every frame is one event, whatever its method
/// and whether its source is known.
pub fn tokenize_span(
    line: &str,
    from: usize,
    to: usize,
    max_tokens: usize,
    out: &mut Vec<Token>,
) -> bool {
    let b = line.as_bytes();
    let n = to.min(b.len());
    let mut i = from.min(n);
    while i < n {
        while i < n && is_sep(b[i]) {
            i += 1;
        }
        if i >= n {
            break;
        }
        if out.len() >= max_tokens {
            return true;
        }
        let start = i;
        // The raw token, up to a separator, in one pass over its bytes with one table look-up
        // each: where its key ends (as `key_end` says: after the first `=`/`:` that follows key
        // characters; 0 for none), the FNV hash of the bytes up to there (a word, which is all
        // key characters, is hashed whole on the way), and the classes of the value's bytes
        // (whether one is a digit or `/`, whether all are hex).
        let mut j = i;
        let mut hk = FNV_OFFSET;
        let mut k = 0usize;
        // The OR and the AND of the value's byte classes.
        let (mut any, mut all) = (0u8, u8::MAX);
        while j < n {
            let c = b[j];
            let f = CLASS[c as usize];
            if f & C_SEP != 0 {
                break;
            }
            hk = (hk ^ u64::from(c)).wrapping_mul(FNV_PRIME);
            j += 1;
            if f & C_KEY == 0 {
                if (c == b'=' || c == b':') && j - 1 > start {
                    // The key ends: its bytes are no part of the value.
                    k = j - start;
                    (any, all) = (0, u8::MAX);
                } else {
                    // A digit or another byte a key cannot hold: all of it is a value.
                    any |= f;
                    all &= f;
                }
                break;
            }
            any |= f;
            all &= f;
        }
        // Bytes up to `hashed` are in `hk`.
        let hashed = j;
        while j < n {
            let f = CLASS[b[j] as usize];
            if f & C_SEP != 0 {
                break;
            }
            any |= f;
            all &= f;
            j += 1;
        }
        let tok = &b[start..j];
        if tok == b"at"
            && frame_indent(b, start)
            && let Some(end) = frame_rest(b, j, n)
            && j < end
        {
            out.push(token(fnv(FNV_OFFSET, tok), start, j, false));
            if out.len() < max_tokens {
                let rs = j + b[j..end].iter().take_while(|&&c| is_space(c)).count();
                out.push(token(WILD_HASH, rs, rs, true));
            }
            return false;
        }
        let vstart = start + k;
        // A quoted value: at the token start or right after its key.
        if vstart < n && (b[vstart] == b'"' || b[vstart] == b'\'') && (k > 0 || vstart == start) {
            let q = b[vstart];
            let mut e = vstart + 1;
            let mut words = 1usize;
            let mut variable = false;
            let mut prev_space = false;
            // Once it holds two words the value is split like the rest: no need to look further.
            while e < n && b[e] != q && words == 1 {
                let c = b[e];
                if c == b'\\' {
                    e += 1;
                } else if is_space(c) {
                    if !prev_space {
                        words += 1;
                    }
                } else if c.is_ascii_digit() || c == b'/' {
                    variable = true;
                }
                prev_space = is_space(c);
                e += 1;
            }
            if e < n && variable && words == 1 {
                // Mask the whole quoted value: key kept, value `<*>`.
                let h = fnv(fnv(FNV_OFFSET, &b[start..vstart]), b"\x00*");
                out.push(token(h, start, vstart, true));
                i = e + 1;
                continue;
            }
        }
        // `is_variable` of the value, from the pass above (a key holds no digit or `/`).
        let variable =
            any & C_DIGIT_SLASH != 0 || (all & C_HEX != 0 && tok.len() - k >= 8);
        debug_assert_eq!(variable, is_variable(&b[vstart..j]));
        debug_assert_eq!(k, key_end(tok));
        // A code location holds a `:` (in the value, or ending the key: `main.go:585`); most
        // variable values hold none, and skip the look.
        let colon = any & C_COLON != 0 || (k > 0 && b[vstart - 1] == b':');
        debug_assert_eq!(colon, tok.contains(&b':'));
        // With a key that ends with `=`, the token itself is no code location (a file name
        // holds no `=`): only its value is looked at.
        if variable
            && !(colon
                && ((k > 0 && is_code_location(&b[vstart..j]))
                    || ((k == 0 || b[vstart - 1] != b'=') && is_code_location(tok))))
        {
            let h = if k == 0 { WILD_HASH } else { fnv(hk, b"\x00*") };
            out.push(token(h, start, vstart, true));
        } else {
            // A word (or a code location): hashed whole, continuing from the key's hash.
            out.push(token(fnv(hk, &b[hashed..j]), start, j, false));
        }
        i = j;
    }
    false
}

#[inline]
fn token(hash: u64, start: usize, end: usize, masked: bool) -> Token {
    // Lines are bounded far below 4 GiB by the tailers; clamp all the same.
    let c = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    Token {
        hash,
        start: c(start),
        end: c(end),
        masked,
    }
}

/// The level a line states, from its first tokens: `level=error`, `"level":"WARN"`, `ERROR`,
/// `[warn]`, `<E>`, or a klog header (`E0102 ...`). `None` when it states none.
pub fn line_level(line: &str, tokens: &[Token]) -> Option<&'static str> {
    if let Some((s, e)) = super::view::json_message(line).and_then(|v| v.level) {
        let v = line.get(s..e).unwrap_or("");
        let v = v
            .rsplit(':')
            .next()
            .unwrap_or("")
            .trim_matches(|c: char| c == '"' || c == ' ');
        let l = crate::transforms::parse_json::normalize_level(v);
        if l != "unknown" {
            return Some(l);
        }
    }
    let b = line.as_bytes();
    if b.len() >= 5 && matches!(b[0], b'E' | b'W' | b'F') && b[1..5].iter().all(u8::is_ascii_digit)
    {
        return Some(if b[0] == b'W' { "warn" } else { "error" });
    }
    for t in tokens.iter().take(10) {
        let s = line.get(t.start as usize..t.end as usize).unwrap_or("");
        if t.masked {
            continue;
        }
        let v = match s.rfind(['=', ':']) {
            Some(p) => &s[p + 1..],
            None => s,
        };
        let v = v.trim_matches(|c: char| !c.is_ascii_alphabetic());
        if v.len() > 8 || v.is_empty() {
            continue;
        }
        let l = crate::transforms::parse_json::normalize_level(v);
        match l {
            "error" | "fatal" | "warn" if v.len() > 1 => return Some(l),
            "info" | "debug" | "trace" if v.len() > 1 => return Some(l),
            _ => {}
        }
    }
    None
}
