//! A small in-process rate limiter for the unauthenticated endpoints (login, the resident portal): a fixed
//! number of attempts per client address and window. No external service; state is lost on restart, which
//! only resets the windows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use taizhang_domain::{DomainError, ErrorCode};

#[derive(Clone, Copy)]
pub struct Rule {
    pub max: u32,
    pub window: Duration,
}

/// Per address and user name: guessing one account's password (the account also locks after 5 failures).
pub const LOGIN: Rule = Rule { max: 30, window: Duration::from_secs(300) };
/// Per address: a whole office behind one NAT address signs in through it, so the ceiling is generous.
pub const LOGIN_PER_ADDRESS: Rule = Rule { max: 600, window: Duration::from_secs(300) };
pub const PORTAL_QUERY: Rule = Rule { max: 60, window: Duration::from_secs(300) };
/// Wrong query passwords for one case code from one address. Per address as well as per code: keyed by the
/// code alone, anyone could lock a resident out of their own case by guessing wrong on purpose.
pub const PORTAL_WRONG_PASSWORD: Rule = Rule { max: 10, window: Duration::from_secs(900) };
pub const PORTAL_SUBMIT: Rule = Rule { max: 60, window: Duration::from_secs(3600) };

/// (bucket, client address) → (window start, attempts in the window).
type Hits = HashMap<(&'static str, String), (Instant, u32)>;

#[derive(Default)]
pub struct Limiter {
    hits: Mutex<Hits>,
}

impl Limiter {
    /// Minutes until `who` may try `bucket` again, when the window's allowance is used up — without counting
    /// an attempt (for counting failures only: ask first, `hit` after a failure).
    pub fn blocked_for(&self, bucket: &'static str, rule: Rule, who: &str) -> Option<u64> {
        let hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        match hits.get(&(bucket, who.to_string())) {
            Some((start, n)) if *n >= rule.max && start.elapsed() < rule.window => {
                Some(rule.window.saturating_sub(start.elapsed()).as_secs() / 60 + 1)
            }
            _ => None,
        }
    }

    /// Counts one attempt of `bucket` from `who`; refuses once the window's allowance is used up.
    pub fn hit(&self, bucket: &'static str, rule: Rule, who: Option<&str>) -> Result<(), DomainError> {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() > 100_000 {
            // Windows are at most an hour: anything older is over, whatever its bucket.
            hits.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(3600));
        }
        let entry = hits.entry((bucket, who.unwrap_or("-").to_string())).or_insert((now, 0));
        if now.duration_since(entry.0) >= rule.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > rule.max {
            let wait = rule.window.saturating_sub(now.duration_since(entry.0)).as_secs() / 60 + 1;
            return Err(DomainError::new(ErrorCode::RateLimited, format!("操作过于频繁，请约 {wait} 分钟后再试")));
        }
        Ok(())
    }
}
