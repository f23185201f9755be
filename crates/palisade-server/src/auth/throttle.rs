//! Brute-force defences that an attacker cannot turn against the real user.
//!
//! - Per (account, client address) counters in the database (shared by
//!   replicas): after `free_attempts` failures each further failure doubles
//!   a waiting period (1 s, 2 s, 4 s … up to the maximum) during which that
//!   pair is answered 429 without checking the password. Another client —
//!   the real user elsewhere — is not affected.
//! - Per user MFA counters, separate from the password counters.
//! - A per-client-IP request rate limit on the `/v1/auth/*` endpoints.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::ApiError;

/// Keyed hash naming an account (tenant name and email) for the counters:
/// the table never holds an email in clear.
pub fn account_key(salt: &palisade_crypto::Key32, tenant: &str, email: &str) -> String {
    palisade_crypto::blind::keyed_hash(
        salt,
        &[
            b"login-account",
            tenant.as_bytes(),
            palisade_core::model::normalize_email(email).as_bytes(),
        ],
    )
}

/// Keyed hash naming a user's MFA counter.
pub fn mfa_key(salt: &palisade_crypto::Key32, user: palisade_core::Uid) -> String {
    palisade_crypto::blind::keyed_hash(salt, &[b"mfa", user.to_string().as_bytes()])
}

/// The waiting period after `failures` failures, in ms (0 while free).
pub fn delay_ms(failures: i64, free_attempts: i64, max_delay_s: i64) -> i64 {
    let over = failures - free_attempts;
    if over <= 0 {
        return 0;
    }
    let exp = u32::try_from(over - 1).unwrap_or(u32::MAX).min(30);
    (1000i64.saturating_mul(1i64 << exp)).min(max_delay_s.saturating_mul(1000))
}

/// A 429 answer with `Retry-After` in whole seconds (at least 1).
pub fn too_many(code: &'static str, message: &str, wait_ms: i64) -> ApiError {
    let secs = ((wait_ms + 999) / 1000).max(1);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message).with_retry_after(secs)
}

/// Per-IP rate limiter.
pub struct IpLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    calls: AtomicU64,
}

impl IpLimiter {
    /// `per_minute` requests per minute per address (0 disables).
    pub fn new(per_minute: u32) -> Self {
        IpLimiter {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            calls: AtomicU64::new(0),
        }
    }

    /// `Ok` or the wait in ms before the next request is allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), i64> {
        let Some(l) = &self.limiter else {
            return Ok(());
        };
        // Forget idle addresses now and then so memory stays bounded.
        if self
            .calls
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(4096)
        {
            l.retain_recent();
        }
        l.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_escalate_and_cap() {
        assert_eq!(delay_ms(5, 5, 900), 0);
        assert_eq!(delay_ms(6, 5, 900), 1000);
        assert_eq!(delay_ms(7, 5, 900), 2000);
        assert_eq!(delay_ms(10, 5, 900), 16_000);
        assert_eq!(delay_ms(100, 5, 900), 900_000);
        assert_eq!(delay_ms(i64::MAX, 5, 900), 900_000);
    }

    #[test]
    fn limiter_limits_per_address() {
        let l = IpLimiter::new(3);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        assert!(l.check(a).unwrap_err() > 0);
        assert!(l.check(b).is_ok(), "another address is unaffected");
        assert!(IpLimiter::new(0).check(a).is_ok());
    }
}
