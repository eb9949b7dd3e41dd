//! Pool status counts, exact in `u128`, and their int64 form for status
//! fields.

/// How a pool is used. `used` counts every allocation recorded against the
/// pool, `out_of_range` those among them the pool would no longer hand out
/// (after a shrink, or unparsable), and `free` the allocatable addresses
/// nobody uses: `total − (used − out_of_range)`. The in-cluster provider
/// computes `total − used`, which under-counts after a shrink; this does not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Allocatable addresses.
    pub total: u128,
    /// Allocations recorded, in range or not.
    pub used: u128,
    /// Allocatable addresses not in use (pre-allocated ones not yet taken
    /// included).
    pub free: u128,
    /// Allocations outside the allocatable set.
    pub out_of_range: u128,
}

/// [`Counts`] cut to the int64 range of Kubernetes status fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// `total`, at most `i64::MAX`.
    pub total: i64,
    /// `used`, at most `i64::MAX`.
    pub used: i64,
    /// `free`, at most `i64::MAX`.
    pub free: i64,
    /// `outOfRange`, at most `i64::MAX`.
    pub out_of_range: i64,
}

impl Counts {
    /// Each count, or `i64::MAX` where it does not fit: an IPv6 /64 has
    /// 2^64 addresses, more than a status field holds.
    pub fn saturated(&self) -> StatusCounts {
        let cut = |value: u128| i64::try_from(value).unwrap_or(i64::MAX);
        StatusCounts {
            total: cut(self.total),
            used: cut(self.used),
            free: cut(self.free),
            out_of_range: cut(self.out_of_range),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_only_what_does_not_fit() {
        let counts = Counts {
            total: 1 << 64,
            used: 3,
            free: (1 << 64) - 2,
            out_of_range: 1,
        };
        assert_eq!(
            counts.saturated(),
            StatusCounts {
                total: i64::MAX,
                used: 3,
                free: i64::MAX,
                out_of_range: 1
            }
        );
        let max = Counts {
            total: i64::MAX as u128,
            ..Counts::default()
        };
        assert_eq!(max.saturated().total, i64::MAX);
    }
}
