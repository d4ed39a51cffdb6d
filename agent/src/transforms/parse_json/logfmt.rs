//! A small logfmt scanner: `key=value`, `key="quoted \" value"`, bare `key`.

/// Calls `f(key, value)` for each pair; returns false if the line is not logfmt.
pub fn for_each_pair(line: &str, mut f: impl FnMut(&str, std::borrow::Cow<'_, str>)) -> bool {
    let b = line.as_bytes();
    let mut i = 0;
    let mut pairs = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            if b[i] == b'"' {
                return false;
            }
            i += 1;
        }
        let key = &line[ks..i];
        if i >= b.len() || b[i] == b' ' {
            f(key, std::borrow::Cow::Borrowed(""));
            pairs += 1;
            continue;
        }
        i += 1; // '='
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            let mut seg = i;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        v.push_str(&line[seg..i]);
                        let c = b[i + 1];
                        v.push(match c {
                            b'n' => '\n',
                            b't' => '\t',
                            b'r' => '\r',
                            _ => c as char,
                        });
                        i += 2;
                        seg = i;
                    }
                    b'"' => {
                        v.push_str(&line[seg..i]);
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => i += 1,
                }
            }
            if !closed {
                return false;
            }
            f(key, std::borrow::Cow::Owned(v));
        } else {
            let vs = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            f(key, std::borrow::Cow::Borrowed(&line[vs..i]));
        }
        pairs += 1;
    }
    pairs > 0
}
