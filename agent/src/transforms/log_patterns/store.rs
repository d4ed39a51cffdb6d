//! The miner: stream groups, their trees and every template, with the bounds (templates per
//! group and in all, groups, memory) enforced by evicting the least recently seen.

use std::collections::HashMap;

use super::config::LogPatternsConfig;
use super::detect::RateState;
use super::mask::{self, Token, WILD_HASH, WILDCARD};
use super::tree::{Tree, similarity};
use crate::logs::MetaStr;

/// One template.
#[derive(Debug)]
pub struct Template {
    /// Stable id (hash of the group and the first line's masked tokens).
    pub id: u64,
    /// `id` as Loki sees it (16 hex digits), made once; held inline, so the `pattern` metadata
    /// of a line is a copy, not an allocation.
    pub id_hex: MetaStr,
    /// The group's slot.
    pub group: u32,
    /// Token hashes; `WILD_HASH` where the template has `<*>`.
    pub hashes: Vec<u64>,
    /// Token texts.
    pub text: Vec<Box<str>>,
    /// The tree leaf it hangs in.
    pub leaf: u64,
    /// Lines matched.
    pub count: u64,
    /// Unix seconds of the first and last line.
    pub first_seen: i64,
    /// See `first_seen`.
    pub last_seen: i64,
    /// The miner's clock when last matched (least recently seen goes first).
    pub touched: u64,
    /// Up to two example lines (cut to `example_max_bytes`).
    pub examples: Vec<Box<str>>,
    /// The level of its first line.
    pub level: Option<&'static str>,
    /// Lines in the current rate interval.
    pub interval_lines: u32,
    /// Rate scoring, for the busier templates.
    pub rate: Option<Box<RateState>>,
}

impl Template {
    /// The template as text, tokens joined by spaces.
    pub fn render(&self) -> String {
        self.text.join(" ")
    }

    /// The id as Loki sees it (16 hex digits).
    pub fn id_hex(&self) -> String {
        self.id_hex.to_string()
    }

    /// Bytes held, its own size included.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.hashes.capacity() * 8
            + self.text.capacity() * 16
            + self.text.iter().map(|t| t.len()).sum::<usize>()
            + if self.id_hex.is_heap_allocated() {
                self.id_hex.len()
            } else {
                0
            }
            + self.examples.capacity() * 16
            + self.examples.iter().map(|t| t.len()).sum::<usize>()
            + self.rate.as_ref().map_or(0, |r| r.bytes())
    }
}

/// One stream group.
#[derive(Debug)]
pub struct Group {
    /// The key (group-by label values joined by `/`).
    pub key: Box<str>,
    /// The group-by labels it was made from.
    pub labels: Vec<(String, String)>,
    /// Its parse tree.
    pub tree: Tree,
    /// Live templates.
    pub templates: usize,
    /// Unix seconds of its first line (the learning period starts there).
    pub first_seen: i64,
    /// Lines seen.
    pub lines: u64,
    /// Templates created.
    pub created: u64,
    /// The miner's clock when last seen.
    pub touched: u64,
    /// Bumped whenever its templates or tree change (a template created, generalised or
    /// removed): a cached match is valid only while this is unchanged.
    pub generation: u64,
}

/// Slots in the match cache (a power of two).
const CACHE_SLOTS: usize = 8192;

/// One remembered match: the line's masked token sequence (`key`) in `group` matched
/// template `idx` while the group was at `generation`.
#[derive(Debug, Default, Clone, Copy)]
struct CacheSlot {
    key: u64,
    generation: u64,
    group: u32,
    idx: u32,
}

/// The key of a masked token sequence: its length, every token's hash and whether it was
/// masked (the tree path depends on both). Never 0 (0 marks an empty slot).
#[inline]
fn sequence_key(toks: &[Token]) -> u64 {
    let mut h = (toks.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for t in toks {
        h = (h.rotate_left(23) ^ t.hash ^ u64::from(t.masked)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    h | 1
}

/// The 16 hex digits of a template id (its `pattern` metadata value).
pub fn hex_id(id: u64) -> MetaStr {
    compact_str::format_compact!("{id:016x}")
}

/// What one line matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The template's slab index.
    pub idx: u32,
    /// Its id.
    pub id: u64,
    /// Whether the line created it.
    pub new: bool,
}

impl Seen {
    const NONE: Seen = Seen {
        idx: u32::MAX,
        id: 0,
        new: false,
    };
}

/// Counters the metrics read.
#[derive(Debug, Default, Clone, Copy)]
pub struct MinerStats {
    /// Templates evicted (by any bound).
    pub evicted: u64,
    /// Groups forgotten.
    pub groups_evicted: u64,
    /// Lines with more tokens than `max_tokens`.
    pub truncated: u64,
    /// Lines seen.
    pub lines: u64,
}

/// All groups and templates.
#[derive(Debug)]
pub struct Miner {
    cfg: LogPatternsConfig,
    groups: Vec<Option<Group>>,
    group_index: HashMap<Box<str>, u32>,
    /// The templates by slot.
    pub slab: Vec<Option<Template>>,
    free: Vec<u32>,
    free_groups: Vec<u32>,
    live: usize,
    mem: usize,
    tick: u64,
    /// Counters.
    pub stats: MinerStats,
    scratch: Vec<Token>,
    cache: Vec<CacheSlot>,
    /// The last group generation handed out (miner-wide, so a reused group slot never
    /// revives another group's cached matches).
    epoch: u64,
}

fn cut(s: &str, max: usize) -> Box<str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end]).into()
}

impl Miner {
    /// An empty miner.
    pub fn new(cfg: LogPatternsConfig) -> Self {
        Miner {
            cfg,
            groups: Vec::new(),
            group_index: HashMap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            free_groups: Vec::new(),
            live: 0,
            mem: 0,
            tick: 0,
            stats: MinerStats::default(),
            scratch: Vec::new(),
            cache: vec![CacheSlot::default(); CACHE_SLOTS],
            epoch: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &LogPatternsConfig {
        &self.cfg
    }

    /// Live templates.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Bytes held by templates, trees and scorers (estimated from capacities).
    pub fn memory_bytes(&self) -> usize {
        self.mem
            + self.slab.capacity() * std::mem::size_of::<Option<Template>>()
            + self.cache.capacity() * std::mem::size_of::<CacheSlot>()
            + self
                .groups
                .iter()
                .flatten()
                .map(|g| std::mem::size_of::<Group>() + g.key.len() * 2 + g.tree.heap_bytes())
                .sum::<usize>()
    }

    /// The groups (by slot).
    pub fn groups(&self) -> impl Iterator<Item = (u32, &Group)> {
        self.groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.as_ref().map(|g| (i as u32, g)))
    }

    /// A group by slot.
    pub fn group(&self, g: u32) -> Option<&Group> {
        self.groups.get(g as usize).and_then(Option::as_ref)
    }

    /// A template by slot.
    pub fn template(&self, idx: u32) -> Option<&Template> {
        self.slab.get(idx as usize).and_then(Option::as_ref)
    }

    /// A template by slot, to update.
    pub fn template_mut(&mut self, idx: u32) -> Option<&mut Template> {
        self.slab.get_mut(idx as usize).and_then(Option::as_mut)
    }

    /// Adds to the accounted memory (a scorer was attached or dropped).
    pub fn account(&mut self, delta: isize) {
        self.mem = self.mem.saturating_add_signed(delta);
    }

    /// The slot of group `key`, created (and the least recently seen forgotten when at the
    /// bound) if new. `labels` gives its labels when it is created.
    pub fn group_slot(
        &mut self,
        key: &str,
        labels: impl FnOnce() -> Vec<(String, String)>,
        now: i64,
    ) -> u32 {
        self.tick += 1;
        if let Some(&g) = self.group_index.get(key) {
            if let Some(gr) = self.groups[g as usize].as_mut() {
                gr.touched = self.tick;
            }
            return g;
        }
        if self.group_index.len() >= self.cfg.max_groups {
            let oldest = self.groups().min_by_key(|(_, g)| g.touched).map(|(i, _)| i);
            if let Some(o) = oldest {
                self.forget_group(o);
            }
        }
        let group = Group {
            key: key.into(),
            labels: labels(),
            tree: Tree::default(),
            templates: 0,
            first_seen: now,
            lines: 0,
            created: 0,
            touched: self.tick,
            generation: {
                self.epoch += 1;
                self.epoch
            },
        };
        let g = match self.free_groups.pop() {
            Some(g) => {
                self.groups[g as usize] = Some(group);
                g
            }
            None => {
                self.groups.push(Some(group));
                (self.groups.len() - 1) as u32
            }
        };
        self.group_index.insert(key.into(), g);
        g
    }

    /// Sets a group's first-seen time (restored from disk).
    pub fn set_group_first_seen(&mut self, g: u32, first_seen: i64, lines: u64, created: u64) {
        if let Some(gr) = self.groups.get_mut(g as usize).and_then(Option::as_mut) {
            gr.first_seen = first_seen;
            gr.lines = lines;
            gr.created = created;
        }
    }

    fn forget_group(&mut self, g: u32) {
        let idxs: Vec<u32> = self
            .slab
            .iter()
            .enumerate()
            .filter(|(_, t)| t.as_ref().is_some_and(|t| t.group == g))
            .map(|(i, _)| i as u32)
            .collect();
        for i in idxs {
            self.remove(i);
        }
        if let Some(gr) = self.groups[g as usize].take() {
            self.group_index.remove(&gr.key);
            self.free_groups.push(g);
            self.stats.groups_evicted += 1;
        }
    }

    /// Matches `line` in group `g` (learning it), `level` being the level its stream states
    /// (else the line's own is used, for a template it creates).
    ///
    /// A line whose masked token sequence matched a template before, while its group has not
    /// changed since (no template created, generalised or removed: the group's `generation`),
    /// takes that template again from the match cache without walking the tree: the match is a
    /// pure function of the tokens and the group's templates and tree, so the result is the
    /// same as the walk's.
    pub fn observe(&mut self, g: u32, line: &str, level: Option<&'static str>, now: i64) -> Seen {
        self.tick += 1;
        self.stats.lines += 1;
        let mut toks = std::mem::take(&mut self.scratch);
        if mask::tokenize(line, self.cfg.max_tokens, &mut toks) {
            self.stats.truncated += 1;
        }
        let key = sequence_key(&toks);
        let slot =
            (key ^ u64::from(g).wrapping_mul(0x9E37_79B9_7F4A_7C15)) as usize & (CACHE_SLOTS - 1);
        let c = self.cache[slot];
        let generation = self
            .groups
            .get(g as usize)
            .and_then(Option::as_ref)
            .map(|gr| gr.generation);
        let seen = if c.key == key && c.group == g && generation == Some(c.generation) {
            self.hit(g, c.idx, line, now)
        } else {
            let (seen, changed) = self.match_or_create(g, line, &toks, level, now);
            if !seen.new
                && !changed
                && seen.idx != u32::MAX
                && let Some(generation) = generation
            {
                self.cache[slot] = CacheSlot {
                    key,
                    generation,
                    group: g,
                    idx: seen.idx,
                };
            }
            seen
        };
        self.scratch = toks;
        seen
    }

    /// A line matched template `idx` (of group `g`) with nothing to generalise: counts it.
    fn hit(&mut self, g: u32, idx: u32, line: &str, now: i64) -> Seen {
        let tick = self.tick;
        if let Some(gr) = self.groups.get_mut(g as usize).and_then(Option::as_mut) {
            gr.lines += 1;
            gr.touched = tick;
        }
        let ex_max = self.cfg.example_max_bytes;
        let Some(t) = self.slab.get_mut(idx as usize).and_then(Option::as_mut) else {
            return Seen::NONE;
        };
        t.count += 1;
        t.last_seen = now;
        t.touched = tick;
        t.interval_lines = t.interval_lines.saturating_add(1);
        if t.examples.len() < 2 && t.count == 2 {
            let e = cut(line, ex_max);
            self.mem += e.len() + 16;
            t.examples.push(e);
        }
        Seen {
            idx,
            id: t.id,
            new: false,
        }
    }

    /// The tree walk: the best template in the line's leaf, generalised to the line, or a new
    /// one. Also returns whether a template was generalised.
    fn match_or_create(
        &mut self,
        g: u32,
        line: &str,
        toks: &[Token],
        level: Option<&'static str>,
        now: i64,
    ) -> (Seen, bool) {
        let (depth, maxc, st) = (self.cfg.depth, self.cfg.max_children, self.cfg.similarity);
        let Some(group) = self.groups.get_mut(g as usize).and_then(Option::as_mut) else {
            return (Seen::NONE, false);
        };
        group.lines += 1;
        group.touched = self.tick;
        let leaf = group.tree.leaf(toks, depth, maxc, false);
        let mut best: Option<(u32, f64, usize)> = None;
        for &i in group.tree.templates(leaf) {
            if let Some(t) = self.slab.get(i as usize).and_then(Option::as_ref) {
                let (sim, wild) = similarity(&t.hashes, toks);
                let better = match best {
                    None => true,
                    Some((_, bs, bw)) => sim > bs || (sim == bs && wild > bw),
                };
                if better {
                    best = Some((i, sim, wild));
                }
            }
        }
        if let Some((i, sim, _)) = best
            && sim >= st
        {
            let tick = self.tick;
            let ex_max = self.cfg.example_max_bytes;
            let mut grew = 0usize;
            if let Some(t) = self.slab.get_mut(i as usize).and_then(Option::as_mut) {
                let wild0 = t.hashes.iter().filter(|&&h| h == WILD_HASH).count();
                t.count += 1;
                t.last_seen = now;
                t.touched = tick;
                t.interval_lines = t.interval_lines.saturating_add(1);
                for (k, tok) in toks.iter().enumerate() {
                    if t.hashes[k] != tok.hash && t.hashes[k] != WILD_HASH {
                        t.hashes[k] = WILD_HASH;
                        grew += 3;
                        t.text[k] = WILDCARD.into();
                    }
                }
                if t.examples.len() < 2 && t.count == 2 {
                    let e = cut(line, ex_max);
                    grew += e.len() + 16;
                    t.examples.push(e);
                }
                let id = t.id;
                self.mem += grew;
                let generalised = t.hashes.iter().filter(|&&h| h == WILD_HASH).count() != wild0;
                if generalised {
                    self.epoch += 1;
                    group.generation = self.epoch;
                }
                return (
                    Seen {
                        idx: i,
                        id,
                        new: false,
                    },
                    generalised,
                );
            }
        }
        // A new template.
        let level = level.or_else(|| mask::line_level(line, toks));
        self.epoch += 1;
        group.generation = self.epoch;
        let leaf = group.tree.leaf(toks, depth, maxc, true);
        let mut id = mask::fnv(0xcbf2_9ce4_8422_2325, group.key.as_bytes());
        for t in toks {
            id = mask::fnv(id, &t.hash.to_le_bytes());
        }
        let mut text = Vec::with_capacity(toks.len());
        let mut s = String::new();
        for t in toks {
            s.clear();
            t.render(line, &mut s);
            text.push(s.as_str().into());
        }
        let t = Template {
            id,
            id_hex: hex_id(id),
            group: g,
            hashes: toks.iter().map(|t| t.hash).collect(),
            text,
            leaf,
            count: 1,
            first_seen: now,
            last_seen: now,
            touched: self.tick,
            examples: vec![cut(line, self.cfg.example_max_bytes)],
            level,
            interval_lines: 1,
            rate: None,
        };
        let idx = self.insert(t);
        if let Some(gr) = self.groups[g as usize].as_mut() {
            gr.created += 1;
        }
        self.enforce(g, idx);
        (Seen { idx, id, new: true }, false)
    }

    /// Inserts a template (a new one, or one restored from disk) into its group's tree.
    pub fn insert(&mut self, t: Template) -> u32 {
        self.mem += t.bytes();
        self.live += 1;
        let (g, leaf) = (t.group, t.leaf);
        let idx = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(t);
                i
            }
            None => {
                self.slab.push(Some(t));
                (self.slab.len() - 1) as u32
            }
        };
        if let Some(gr) = self.groups.get_mut(g as usize).and_then(Option::as_mut) {
            gr.tree.add(leaf, idx);
            gr.templates += 1;
            self.epoch += 1;
            gr.generation = self.epoch;
        }
        idx
    }

    /// The leaf a restored template belongs to (its tokens' path, created).
    pub fn leaf_for(&mut self, g: u32, hashes: &[u64]) -> u64 {
        let toks: Vec<Token> = hashes
            .iter()
            .map(|&h| Token {
                hash: h,
                start: 0,
                end: 0,
                masked: h == WILD_HASH,
            })
            .collect();
        let (depth, maxc) = (self.cfg.depth, self.cfg.max_children);
        match self.groups.get_mut(g as usize).and_then(Option::as_mut) {
            Some(gr) => {
                self.epoch += 1;
                gr.generation = self.epoch;
                gr.tree.leaf(&toks, depth, maxc, true)
            }
            None => 0,
        }
    }

    fn remove(&mut self, idx: u32) {
        if let Some(t) = self.slab.get_mut(idx as usize).and_then(Option::take) {
            self.mem = self.mem.saturating_sub(t.bytes());
            self.live -= 1;
            self.free.push(idx);
            if let Some(gr) = self
                .groups
                .get_mut(t.group as usize)
                .and_then(Option::as_mut)
            {
                gr.tree.remove(t.leaf, idx);
                gr.templates -= 1;
                self.epoch += 1;
                gr.generation = self.epoch;
            }
        }
    }

    /// Evicts the least recently seen templates while a bound is exceeded (in batches of 1/32,
    /// so a flood of unique lines costs amortised O(1) per line). `keep` is never evicted.
    fn enforce(&mut self, g: u32, keep: u32) {
        let per_group = self.cfg.max_templates_per_group;
        if self.groups[g as usize]
            .as_ref()
            .is_some_and(|gr| gr.templates > per_group)
        {
            self.evict_oldest(Some(g), keep, (per_group / 32).max(1));
        }
        if self.live > self.cfg.max_templates {
            self.evict_oldest(None, keep, (self.cfg.max_templates / 32).max(1));
        }
        let mut rounds = 0;
        while self.memory_bytes() > self.cfg.max_memory_bytes && self.live > 1 && rounds < 64 {
            self.evict_oldest(None, keep, (self.live / 32).max(1));
            rounds += 1;
        }
    }

    fn evict_oldest(&mut self, group: Option<u32>, keep: u32, n: usize) {
        let mut cands: Vec<(u64, u32)> = self
            .slab
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let t = t.as_ref()?;
                (i as u32 != keep && group.is_none_or(|g| t.group == g))
                    .then_some((t.touched, i as u32))
            })
            .collect();
        if cands.is_empty() {
            return;
        }
        let n = n.min(cands.len());
        if n < cands.len() {
            cands.select_nth_unstable(n - 1);
        }
        for &(_, i) in &cands[..n] {
            self.remove(i);
            self.stats.evicted += 1;
        }
    }

    /// Every live template's slot.
    pub fn live_slots(&self) -> Vec<u32> {
        self.slab
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|_| i as u32))
            .collect()
    }
}
