//! The resident portal's submission challenge (the question and token are `taizhang_domain::challenge`): the
//! process's key, and the nonces already answered, so that each question is accepted once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use taizhang_domain::challenge::{self, Challenge};
use taizhang_domain::{DomainError, ErrorCode};

pub struct Challenges {
    /// Lives only in this process: questions issued before a restart must be answered again.
    key: [u8; 32],
    /// Answered nonces until their token would have expired anyway.
    used: Mutex<HashMap<String, u64>>,
}

impl Default for Challenges {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::fill(&mut key[..]);
        Challenges { key, used: Mutex::default() }
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Challenges {
    pub fn issue(&self) -> Challenge {
        let mut r = [0u8; 18];
        rand::fill(&mut r[..]);
        challenge::issue(&self.key, r, now_secs())
    }

    /// Accepts a correct, unexpired answer once.
    pub fn check(&self, token: &str, answer: &str) -> Result<(), DomainError> {
        let now = now_secs();
        let ok = challenge::check(&self.key, token, answer, now)?;
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.retain(|_, exp| *exp >= now);
        if used.insert(ok.nonce, ok.expiry).is_some() {
            return Err(DomainError::new(ErrorCode::InvalidInput, "这道验证题已经用过，请回答新的验证题"));
        }
        Ok(())
    }
}
