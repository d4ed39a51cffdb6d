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

    /// The median absolute deviation from `med`: the k-th smallest of the distances, found by
    /// walking outwards from the median in both sorted halves at once (k = n/2 steps).
    pub fn mad(&self, med: f64) -> f64 {
        let s = &self.sorted;
        let n = s.len();
        if n < 2 {
            return 0.0;
        }
        let k = n / 2; // 0-based rank of the (upper) median distance
        let mut right = s.partition_point(|v| *v < med);
        let mut left = right as isize - 1;
        let mut last = 0.0;
        for _ in 0..=k {
            let dl = if left >= 0 { med - s[left as usize] } else { f64::INFINITY };
            let dr = if right < n { s[right] - med } else { f64::INFINITY };
            if dl <= dr {
                last = dl;
                left -= 1;
            } else {
                last = dr;
                right += 1;
            }
        }
        last
    }
}
