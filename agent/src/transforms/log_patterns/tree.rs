//! One stream group's fixed-depth parse tree (Drain, He et al., ICWS 2017).
//!
//! Under the root, the first level is the token count, the next `depth - 3` levels the leading
//! tokens (any token once a node has `max_children` children goes down the `<*>` branch), and a
//! leaf holds the templates to compare the line with. Unlike Drain, masked tokens (a timestamp
//! at the start of most lines) are skipped for the path rather than taken as `<*>`: the first
//! literal tokens (level, logger, verb) then spread templates over leaves. The tree is stored flat: each node is the
//! hash of its path, so a descent is `depth - 1` hash-set probes and no pointer chasing.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::mask::{Token, WILD_HASH};

/// A hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Hash maps keyed by hashes.
pub type IdBuild = BuildHasherDefault<IdHasher>;

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    // splitmix64 of the combination: children of one node spread over the table.
    let mut z = a.rotate_left(5) ^ b.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The tree of one group.
#[derive(Debug, Default)]
pub struct Tree {
    nodes: HashSet<u64, IdBuild>,
    children: HashMap<u64, u32, IdBuild>,
    leaves: HashMap<u64, Vec<u32>, IdBuild>,
}

impl Tree {
    /// The leaf a line belongs to. With `create`, unseen nodes are added (up to `max_children`
    /// per node); without, an unseen token follows the `<*>` branch.
    pub fn leaf(
        &mut self,
        tokens: &[Token],
        depth: usize,
        max_children: usize,
        create: bool,
    ) -> u64 {
        let mut h = mix(0x1234_5678, tokens.len() as u64);
        for t in tokens
            .iter()
            .filter(|t| !t.masked)
            .take(depth.saturating_sub(3))
        {
            let tok = t.hash;
            let child = mix(h, tok);
            if self.nodes.contains(&child) {
                h = child;
                continue;
            }
            let wild = mix(h, WILD_HASH);
            if create {
                let n = self.children.entry(h).or_insert(0);
                if tok != WILD_HASH && (*n as usize) < max_children {
                    *n += 1;
                    self.nodes.insert(child);
                    h = child;
                } else {
                    if self.nodes.insert(wild) {
                        *n += 1;
                    }
                    h = wild;
                }
            } else {
                h = wild;
            }
        }
        h
    }

    /// The templates (slab indices) in a leaf.
    pub fn templates(&self, leaf: u64) -> &[u32] {
        self.leaves.get(&leaf).map_or(&[], Vec::as_slice)
    }

    /// Adds a template to a leaf.
    pub fn add(&mut self, leaf: u64, idx: u32) {
        self.leaves.entry(leaf).or_default().push(idx);
    }

    /// Removes a template from its leaf (nodes stay: they are few and shared).
    pub fn remove(&mut self, leaf: u64, idx: u32) {
        if let Some(v) = self.leaves.get_mut(&leaf) {
            v.retain(|&i| i != idx);
            if v.is_empty() {
                self.leaves.remove(&leaf);
            }
        }
    }

    /// Approximate heap bytes (hash tables at 16-24 bytes a slot).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * 9
            + self.children.capacity() * 13
            + self.leaves.capacity() * 33
            + self
                .leaves
                .values()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
    }
}

/// Drain's similarity of a line to a template: the share of equal tokens, counted over the
/// positions that carry words. A position where the line has a masked token and the template
/// agrees (`<*>`, or the same `key=<*>`) says nothing about the event and is left out; a `<*>`
/// the template took by generalising, against a word, counts as a difference, as in Drain. So a
/// short logfmt line's `msg` words are not outvoted by its masked fields. Also returns the
/// template's wildcard count (ties prefer more).
#[inline]
pub fn similarity(template: &[u64], tokens: &[Token]) -> (f64, usize) {
    if template.len() != tokens.len() {
        return (0.0, 0);
    }
    let mut equal = 0usize;
    let mut counted = 0usize;
    let mut wild = 0usize;
    for (a, t) in template.iter().zip(tokens) {
        if *a == WILD_HASH {
            wild += 1;
        }
        if t.masked && *a == t.hash {
            continue;
        }
        counted += 1;
        if *a == t.hash {
            equal += 1;
        }
    }
    if counted == 0 {
        return (1.0, wild);
    }
    (equal as f64 / counted as f64, wild)
}
