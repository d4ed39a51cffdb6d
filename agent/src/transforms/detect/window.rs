//! A fixed-size sliding window with its median and MAD in O(W) time (a memmove) and O(W) memory,
//! allocated once: a ring of the last W values and the same values kept sorted.

/// The last `cap` values, in arrival order and sorted.
#[derive(Debug, Clone)]
pub struct RollingMedian {
    ring: Box<[f64]>,
    sorted: Vec<f64>,
    head: usize,
}

impl RollingMedian {
    /// An empty window of `cap` values (at least 3).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(3);
        RollingMedian {
            ring: vec![0.0; cap].into_boxed_slice(),
            sorted: Vec::with_capacity(cap),
            head: 0,
        }
    }

    /// How many values the window holds now.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Bytes on the heap.
    pub fn heap_bytes(&self) -> usize {
        (self.ring.len() + self.sorted.capacity()) * std::mem::size_of::<f64>()
    }

    /// Adds a (finite) value, evicting the oldest when full.
    pub fn push(&mut self, x: f64) {
        let cap = self.ring.len();
        if self.sorted.len() == cap {
            let old = self.ring[self.head];
            let i = self.sorted.partition_point(|v| *v < old);
            // `old` is in the window, so it is at i (or a bit later among equals).
            if i < self.sorted.len() {
                self.sorted.remove(i);
            }
        }
        self.ring[self.head] = x;
        self.head = (self.head + 1) % cap;
        let j = self.sorted.partition_point(|v| *v < x);
        self.sorted.insert(j, x);
    }

    /// The median (0 when empty).
    pub fn median(&self) -> f64 {
        let n = self.sorted.len();
        if n == 0 {
            return 0.0;
        }
        if n % 2 == 1 {
            self.sorted[n / 2]
        } else {
            0.5 * (self.sorted[n / 2 - 1] + self.sorted[n / 2])
        }
    }

    /// The median absolute deviation from `med`: the k-th smallest (k = n/2) of the distances,
    /// which are two sorted runs (leftwards and rightwards of `med`); found by binary search over
    /// how many come from the left run, in O(log W).
    pub fn mad(&self, med: f64) -> f64 {
        let s = &self.sorted;
        let n = s.len();
        if n < 2 {
            return 0.0;
        }
        let split = s.partition_point(|v| *v < med);
        let (la, lb) = (split, n - split);
        // a(i): i-th smallest distance on the left; b(j): on the right.
        let a = |i: usize| med - s[split - 1 - i];
        let b = |j: usize| s[split + j] - med;
        let take = n / 2 + 1; // how many smallest distances, the last of which is the answer
        let (mut lo, mut hi) = (take.saturating_sub(lb), take.min(la));
        while lo < hi {
            let i = (lo + hi) / 2; // i from the left, take - i from the right
            let j = take - i;
            // Too few from the left if the next left one is smaller than the last right one.
            if j > 0 && i < la && a(i) < b(j - 1) {
                lo = i + 1;
            } else {
                hi = i;
            }
        }
        let i = lo;
        let j = take - i;
        let last_a = if i > 0 { a(i - 1) } else { f64::NEG_INFINITY };
        let last_b = if j > 0 { b(j - 1) } else { f64::NEG_INFINITY };
        last_a.max(last_b)
    }
}
