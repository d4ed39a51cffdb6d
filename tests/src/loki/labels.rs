//! Loki's stream selector syntax and label validation.

/// Loki's default limits that apply to labels.
#[derive(Debug, Clone, Copy)]
pub struct LabelLimits {
    /// `max_label_names_per_series` (15).
    pub max_names: usize,
    /// `max_label_name_length` (1024).
    pub max_name_len: usize,
    /// `max_label_value_length` (2048).
    pub max_value_len: usize,
}

impl Default for LabelLimits {
    fn default() -> Self {
        LabelLimits {
            max_names: 15,
            max_name_len: 1024,
            max_value_len: 2048,
        }
    }
}

/// Whether `n` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Parses `{a="b", c="d"}` into pairs (values unescaped).
pub fn parse(s: &str) -> Result<Vec<(String, String)>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .ok_or_else(|| format!("error parsing labels {s:?}: not a selector"))?;
    let b = inner.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ns = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        let name = &inner[ns..i];
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            return Err(format!("error parsing labels {s:?}: expected '='"));
        }
        i += 1;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'"' {
            return Err(format!(
                "error parsing labels {s:?}: expected a quoted value"
            ));
        }
        i += 1;
        let mut v = String::new();
        let mut closed = false;
        let mut seg = i;
        while i < b.len() {
            match b[i] {
                b'\\' if i + 1 < b.len() => {
                    v.push_str(&inner[seg..i]);
                    v.push(match b[i + 1] {
                        b'n' => '\n',
                        b't' => '\t',
                        c => c as char,
                    });
                    i += 2;
                    seg = i;
                }
                b'"' => {
                    v.push_str(&inner[seg..i]);
                    i += 1;
                    closed = true;
                    break;
                }
                _ => i += 1,
            }
        }
        if !closed {
            return Err(format!("error parsing labels {s:?}: unterminated value"));
        }
        out.push((name.to_string(), v));
    }
    Ok(out)
}

/// Loki's checks of one stream's labels.
pub fn validate(pairs: &[(String, String)], limits: &LabelLimits) -> Result<(), String> {
    if pairs.is_empty() {
        return Err("error at least one label pair is required per stream".into());
    }
    if pairs.len() > limits.max_names {
        return Err(format!(
            "stream has {} label names; limit {}",
            pairs.len(),
            limits.max_names
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (n, v) in pairs {
        if !valid_name(n) {
            return Err(format!("invalid label name {n:?}"));
        }
        if n.starts_with("__") {
            return Err(format!("label name {n:?} is reserved (starts with __)"));
        }
        if n.len() > limits.max_name_len {
            return Err(format!(
                "label name {n:?} longer than {}",
                limits.max_name_len
            ));
        }
        if v.len() > limits.max_value_len {
            return Err(format!(
                "label {n} value longer than {}",
                limits.max_value_len
            ));
        }
        if v.is_empty() {
            return Err(format!("label {n} has an empty value"));
        }
        if !seen.insert(n.as_str()) {
            return Err(format!("duplicate label name {n:?}"));
        }
    }
    Ok(())
}
