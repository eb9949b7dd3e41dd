//! A set of addresses kept as sorted, disjoint, non-touching inclusive
//! intervals over `u128`. Every operation costs O(log n) in the number of
//! intervals, so memory and time follow fragmentation, never the number of
//! addresses: a /48 costs what a /29 costs.
//!
//! Written here rather than taken from `rangemap` because the engine needs
//! intervals that end at `u128::MAX` (the top of the IPv6 space) and a
//! "first member at or above x" query, both of which are simplest to get
//! exactly right with the ends under our own control.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Unbounded};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IntervalSet {
    /// first → last, both inclusive.
    runs: BTreeMap<u128, u128>,
}

impl IntervalSet {
    pub(crate) fn new() -> IntervalSet {
        IntervalSet::default()
    }

    /// Adds `first..=last`, merging with every run it overlaps or touches.
    pub(crate) fn insert(&mut self, first: u128, last: u128) {
        debug_assert!(first <= last);
        let mut first = first;
        let mut last = last;
        if let Some((&start, &end)) = self.runs.range(..=first).next_back()
            && end.checked_add(1).is_none_or(|next| next >= first)
        {
            first = start;
            last = last.max(end);
            self.runs.remove(&start);
        }
        loop {
            let touching = match last.checked_add(1) {
                Some(next) => self.runs.range(first..=next).next(),
                None => self.runs.range(first..).next(),
            };
            let Some((&start, &end)) = touching else {
                break;
            };
            last = last.max(end);
            self.runs.remove(&start);
        }
        self.runs.insert(first, last);
    }

    /// Removes `first..=last`, splitting runs that stick out on either side.
    pub(crate) fn remove(&mut self, first: u128, last: u128) {
        debug_assert!(first <= last);
        if let Some((&start, &end)) = self.runs.range(..first).next_back()
            && end >= first
        {
            self.runs.insert(start, first - 1);
            if end > last {
                self.runs.insert(last + 1, end);
                return;
            }
        }
        while let Some((&start, &end)) = self.runs.range(first..=last).next() {
            self.runs.remove(&start);
            if end > last {
                self.runs.insert(last + 1, end);
                break;
            }
        }
    }

    pub(crate) fn contains(&self, value: u128) -> bool {
        self.runs
            .range(..=value)
            .next_back()
            .is_some_and(|(_, &end)| end >= value)
    }

    /// The lowest member within `low..=high`.
    pub(crate) fn first_within(&self, low: u128, high: u128) -> Option<u128> {
        if self.contains(low) {
            return Some(low);
        }
        self.runs
            .range((Excluded(low), Unbounded))
            .next()
            .map(|(&start, _)| start)
            .filter(|&start| start <= high)
    }

    pub(crate) fn first(&self) -> Option<u128> {
        self.runs.first_key_value().map(|(&start, _)| start)
    }

    pub(crate) fn last(&self) -> Option<u128> {
        self.runs.last_key_value().map(|(_, &end)| end)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The number of members, saturating at `u128::MAX` for the one set
    /// whose size does not fit: the whole IPv6 space.
    pub(crate) fn size(&self) -> u128 {
        self.runs.iter().fold(0u128, |sum, (&start, &end)| {
            sum.saturating_add((end - start).saturating_add(1))
        })
    }

    pub(crate) fn runs(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.runs.iter().map(|(&start, &end)| (start, end))
    }

    pub(crate) fn run_count(&self) -> usize {
        self.runs.len()
    }

    /// The members of both sets, walking the two in step: O(n + m).
    pub(crate) fn intersection(&self, other: &IntervalSet) -> IntervalSet {
        let mut out = IntervalSet::new();
        let mut left = self.runs().peekable();
        let mut right = other.runs().peekable();
        while let (Some(&(a_first, a_last)), Some(&(b_first, b_last))) = (left.peek(), right.peek())
        {
            let first = a_first.max(b_first);
            let last = a_last.min(b_last);
            if first <= last {
                out.runs.insert(first, last);
            }
            if a_last < b_last {
                left.next();
            } else {
                right.next();
            }
        }
        out
    }

    /// The members of `self` that are not in `other`.
    pub(crate) fn difference(&self, other: &IntervalSet) -> IntervalSet {
        let mut out = self.clone();
        for (first, last) in other.runs() {
            out.remove(first, last);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::IntervalSet;

    fn runs(set: &IntervalSet) -> Vec<(u128, u128)> {
        set.runs().collect()
    }

    #[test]
    fn merges_touching_runs_and_splits_on_removal() {
        let mut set = IntervalSet::new();
        set.insert(10, 12);
        set.insert(14, 15);
        set.insert(13, 13);
        assert_eq!(runs(&set), [(10, 15)]);
        set.remove(12, 12);
        assert_eq!(runs(&set), [(10, 11), (13, 15)]);
        assert_eq!(set.first_within(12, 20), Some(13));
        assert_eq!(set.first_within(16, 20), None);
        assert_eq!(set.size(), 5);
    }

    #[test]
    fn handles_both_ends_of_the_number_space() {
        let mut set = IntervalSet::new();
        set.insert(0, u128::MAX);
        assert_eq!(set.size(), u128::MAX);
        set.remove(u128::MAX, u128::MAX);
        set.remove(0, 0);
        assert_eq!(runs(&set), [(1, u128::MAX - 1)]);
        assert_eq!(set.size(), u128::MAX - 1);
        set.insert(u128::MAX, u128::MAX);
        set.insert(0, 0);
        assert_eq!(runs(&set), [(0, u128::MAX)]);
        assert!(set.contains(u128::MAX));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u128, u128),
        Remove(u128, u128),
    }

    fn op() -> impl Strategy<Value = Op> {
        (any::<bool>(), 0u128..64, 0u128..8).prop_map(|(insert, first, len)| {
            if insert {
                Op::Insert(first, first + len)
            } else {
                Op::Remove(first, first + len)
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn behaves_like_a_plain_set(ops in proptest::collection::vec(op(), 0..40), low in 0u128..72, span in 0u128..16) {
            let mut set = IntervalSet::new();
            let mut model = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(first, last) => { set.insert(first, last); model.extend(first..=last); }
                    Op::Remove(first, last) => { set.remove(first, last); for v in first..=last { model.remove(&v); } }
                }
            }
            let flattened: BTreeSet<u128> = set.runs().flat_map(|(a, b)| a..=b).collect();
            prop_assert_eq!(&flattened, &model);
            let mut previous: Option<u128> = None;
            for (first, last) in set.runs() {
                prop_assert!(first <= last);
                if let Some(end) = previous { prop_assert!(first > end + 1, "runs must neither overlap nor touch"); }
                previous = Some(last);
            }
            let high = low + span;
            prop_assert_eq!(set.first_within(low, high), model.range(low..=high).next().copied());
            prop_assert_eq!(set.size(), model.len() as u128);
            prop_assert_eq!(set.contains(low), model.contains(&low));
        }

        #[test]
        fn intersection_and_difference_match_the_model(a in proptest::collection::vec(op(), 0..20), b in proptest::collection::vec(op(), 0..20)) {
            let build = |ops: &[Op]| {
                let mut set = IntervalSet::new();
                let mut model = BTreeSet::new();
                for op in ops {
                    if let Op::Insert(first, last) = *op { set.insert(first, last); model.extend(first..=last); }
                }
                (set, model)
            };
            let (a, a_model) = build(&a);
            let (b, b_model) = build(&b);
            let both: BTreeSet<u128> = a.intersection(&b).runs().flat_map(|(x, y)| x..=y).collect();
            prop_assert_eq!(both, a_model.intersection(&b_model).copied().collect::<BTreeSet<_>>());
            let only: BTreeSet<u128> = a.difference(&b).runs().flat_map(|(x, y)| x..=y).collect();
            prop_assert_eq!(only, a_model.difference(&b_model).copied().collect::<BTreeSet<_>>());
        }
    }
}
