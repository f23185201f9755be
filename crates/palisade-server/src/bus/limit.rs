//! Bounds on what one tenant's agents can make the bus runtime do: a
//! message budget per cluster (a token bucket), so that a compromised or
//! broken agent flooding its subjects costs a bounded number of database
//! writes, and a gate on the log lines of refused messages, so that a flood
//! of bad messages does not become a flood of log lines.

use std::collections::HashMap;

use palisade_core::Uid;

/// Messages per second a cluster's budget regains.
pub const RATE_PER_S: f64 = 20.0;
/// Messages a cluster may send at once (an agent sending its spooled
/// results after a reconnect, say).
pub const BURST: f64 = 200.0;
/// Clusters tracked before idle (full) budgets are forgotten.
const MAX_TRACKED: usize = 10_000;

/// One cluster's budget.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// The message budgets of one tenant's clusters.
#[derive(Debug)]
pub struct ClusterBudget {
    rate_per_ms: f64,
    burst: f64,
    buckets: HashMap<Uid, Bucket>,
}

impl Default for ClusterBudget {
    fn default() -> Self {
        Self::new(RATE_PER_S, BURST)
    }
}

impl ClusterBudget {
    /// Budgets that regain `rate_per_s` messages a second, up to `burst`.
    pub fn new(rate_per_s: f64, burst: f64) -> Self {
        ClusterBudget {
            rate_per_ms: rate_per_s / 1000.0,
            burst: burst.max(1.0),
            buckets: HashMap::new(),
        }
    }

    fn refilled(&self, b: Bucket, now_ms: i64) -> Bucket {
        let elapsed = now_ms.saturating_sub(b.at_ms).max(0) as f64;
        Bucket {
            tokens: (b.tokens + elapsed * self.rate_per_ms).min(self.burst),
            at_ms: now_ms.max(b.at_ms),
        }
    }

    /// Spends one message of `cluster`'s budget at `now_ms`; `false` when
    /// the budget is spent (the message is to be refused).
    pub fn take(&mut self, cluster: Uid, now_ms: i64) -> bool {
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&cluster) {
            // A full budget carries no state: forget those.
            let burst = self.burst;
            let mut kept = std::mem::take(&mut self.buckets);
            kept.retain(|_, b| self.refilled(*b, now_ms).tokens < burst);
            self.buckets = kept;
        }
        let fresh = Bucket {
            tokens: self.burst,
            at_ms: now_ms,
        };
        let current = self.buckets.get(&cluster).copied().unwrap_or(fresh);
        let mut b = self.refilled(current, now_ms);
        let allowed = b.tokens >= 1.0;
        if allowed {
            b.tokens -= 1.0;
        }
        self.buckets.insert(cluster, b);
        allowed
    }

    /// How many clusters have a budget that is not full.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// Lets one log line through per interval and counts the rest.
#[derive(Debug)]
pub struct LogGate {
    every_ms: i64,
    last_ms: Option<i64>,
    suppressed: u64,
}

impl LogGate {
    /// At most one line every `every_ms`.
    pub fn new(every_ms: i64) -> Self {
        LogGate {
            every_ms,
            last_ms: None,
            suppressed: 0,
        }
    }

    /// `Some(lines suppressed since the last one)` when a line may be
    /// written at `now_ms`; `None` when it is to be suppressed (counted).
    pub fn admit(&mut self, now_ms: i64) -> Option<u64> {
        match self.last_ms {
            Some(last) if now_ms.saturating_sub(last) < self.every_ms => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_ms = Some(now_ms);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_allows_its_burst_then_its_rate() {
        let mut b = ClusterBudget::new(20.0, 200.0);
        let c = Uid::from_u64(1);
        let allowed = (0..1000).filter(|_| b.take(c, 1_000)).count();
        assert_eq!(allowed, 200, "the burst, at one instant");
        // One second later: 20 more.
        let allowed = (0..1000).filter(|_| b.take(c, 2_000)).count();
        assert_eq!(allowed, 20);
        // 50 ms regain one message.
        assert!(!b.take(c, 2_049));
        assert!(b.take(c, 2_050));
        // Another cluster has its own budget.
        assert!(b.take(Uid::from_u64(2), 2_050));
        // A clock that steps back regains nothing and loses nothing.
        assert!(!b.take(c, 1_000));
        // A long silence refills to the burst, not beyond.
        let allowed = (0..1000).filter(|_| b.take(c, 1_000_000)).count();
        assert_eq!(allowed, 200);
    }

    #[test]
    fn idle_budgets_are_forgotten_when_many_are_tracked() {
        let mut b = ClusterBudget::new(20.0, 200.0);
        for i in 0..MAX_TRACKED as u64 {
            assert!(b.take(Uid::from_u64(i), 0));
        }
        assert_eq!(b.tracked(), MAX_TRACKED);
        // One busy cluster keeps its state; the idle ones refill and go.
        let busy = Uid::from_u64(7);
        for _ in 0..199 {
            assert!(b.take(busy, 0));
        }
        assert!(!b.take(busy, 0));
        // A second later the idle ones are full again; the busy one has
        // regained 20 messages only.
        assert!(b.take(Uid::from_u64(u64::from(u32::MAX)), 1_000));
        assert_eq!(b.tracked(), 2, "the new cluster and the spent one");
        let allowed = (0..100).filter(|_| b.take(busy, 1_000)).count();
        assert_eq!(allowed, 20, "the spent budget was kept, not reset");
    }

    #[test]
    fn the_gate_lets_one_line_per_interval_and_counts_the_rest() {
        let mut g = LogGate::new(1_000);
        assert_eq!(g.admit(0), Some(0));
        assert_eq!(g.admit(10), None);
        assert_eq!(g.admit(999), None);
        assert_eq!(g.admit(1_000), Some(2));
        assert_eq!(g.admit(1_001), None);
        assert_eq!(g.admit(5_000), Some(1));
    }
}
