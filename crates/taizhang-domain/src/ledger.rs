//! The tamper-evident history: case events and audit records, each chained to the one before it with SM3.
//!
//! A record's hash covers the previous record's hash and a canonical text of every stored column, so editing,
//! deleting or reordering any row breaks the chain from that row on. The canonical text is fixed here, in one
//! place, and never depends on how a database returns JSON or timestamps.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sm3::{Digest, Sm3};

/// The hash before the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub fn sm3_hex(bytes: &[u8]) -> String {
    hex::encode(Sm3::digest(bytes))
}

/// Timestamps enter hashes and databases at microsecond precision, in UTC.
pub fn canonical_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Truncates a timestamp to what the databases keep, so a stored and a fresh value compare equal.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

fn link(prev: &str, parts: &[&str]) -> String {
    let mut h = Sm3::new();
    h.update(prev.as_bytes());
    for p in parts {
        // Length-prefix every part so that no two different records share a canonical text.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// One event in a case's history: who did what, when, with which payload, and the state it led to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEvent {
    /// Position in the global event chain (1, 2, 3… with no gaps).
    pub seq: i64,
    pub case_id: i64,
    /// Position within the case (1 for the intake).
    pub case_seq: i64,
    pub at: DateTime<Utc>,
    /// None for the resident acting through the portal.
    pub actor_id: Option<i64>,
    pub actor_unit: Option<i64>,
    pub actor_role: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    /// The payload exactly as stored (JSON text).
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

impl CaseEvent {
    pub fn compute_hash(&self) -> String {
        let opt = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
        link(
            &self.prev_hash,
            &[
                "case_event/1",
                &self.seq.to_string(),
                &self.case_id.to_string(),
                &self.case_seq.to_string(),
                &canonical_time(self.at),
                &opt(self.actor_id),
                &opt(self.actor_unit),
                &self.actor_role,
                &self.action,
                self.from_state.as_deref().unwrap_or(""),
                &self.to_state,
                &self.payload,
            ],
        )
    }
}

/// One audit record: logins, failed logins, permission changes, exports, reads of personal data or accusation
/// material, refusals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub role: Option<String>,
    pub unit_id: Option<i64>,
    pub source: Option<String>,
    /// e.g. `login`, `login_failed`, `pii_reveal`, `accused_access_denied`.
    pub event: String,
    /// e.g. `case:12`, `user:3`.
    pub object: Option<String>,
    /// `ok` or `denied` or `failed`.
    pub result: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    pub fn compute_hash(&self) -> String {
        let opt = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
        link(
            &self.prev_hash,
            &[
                "audit/1",
                &self.seq.to_string(),
                &canonical_time(self.at),
                &opt(self.user_id),
                self.username.as_deref().unwrap_or(""),
                self.role.as_deref().unwrap_or(""),
                &opt(self.unit_id),
                self.source.as_deref().unwrap_or(""),
                &self.event,
                self.object.as_deref().unwrap_or(""),
                &self.result,
                &self.detail,
            ],
        )
    }
}

/// Where a chain first breaks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainBreak {
    /// The seq expected at this position.
    pub expected_seq: i64,
    /// The row found there (None: the chain ends early).
    pub found_seq: Option<i64>,
    pub case_id: Option<i64>,
    pub reason: String,
}

/// Walks a chain in seq order, one record at a time (so a million records need not be in memory), and stops
/// at the first break: a gap or reordering in seq, a prev_hash that is not the previous record's hash, or a
/// hash that does not match the record's content.
#[derive(Debug, Clone)]
pub struct ChainWalker {
    prev: String,
    expected: i64,
}

impl Default for ChainWalker {
    fn default() -> Self {
        ChainWalker { prev: GENESIS.to_string(), expected: 1 }
    }
}

impl ChainWalker {
    pub fn feed(
        &mut self,
        seq: i64,
        case_id: Option<i64>,
        prev_hash: &str,
        hash: &str,
        computed: &str,
    ) -> Result<(), ChainBreak> {
        let brk = |reason: String| ChainBreak { expected_seq: self.expected, found_seq: Some(seq), case_id, reason };
        if seq != self.expected {
            return Err(brk(format!("序号不连续：应为 {}，实为 {seq}（记录被删除或调换）", self.expected)));
        }
        if prev_hash != self.prev {
            return Err(brk("前一条记录的哈希不符（记录被删除、插入或调换）".into()));
        }
        if computed != hash {
            return Err(brk("记录内容与其哈希不符（记录被修改）".into()));
        }
        self.prev = hash.to_string();
        self.expected += 1;
        Ok(())
    }

    /// Records accepted so far and the last hash.
    pub fn head(&self) -> (i64, String) {
        (self.expected - 1, self.prev.clone())
    }
}

/// Verifies a whole chain held in memory (see `ChainWalker` for paged use).
pub fn verify_chain<'a, T: 'a>(
    records: impl IntoIterator<Item = &'a T>,
    parts: impl Fn(&T) -> (i64, Option<i64>, &str, &str, String),
) -> Result<(i64, String), ChainBreak> {
    let mut w = ChainWalker::default();
    for r in records {
        let (seq, case_id, prev_hash, hash, computed) = parts(r);
        w.feed(seq, case_id, prev_hash, hash, &computed)?;
    }
    Ok(w.head())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, prev: &str) -> CaseEvent {
        let mut e = CaseEvent {
            seq,
            case_id: 1,
            case_seq: seq,
            at: DateTime::from_timestamp(1_700_000_000 + seq, 0).unwrap(),
            actor_id: Some(3),
            actor_unit: Some(2),
            actor_role: "petition_office".into(),
            action: "assign".into(),
            from_state: Some("registered".into()),
            to_state: "assigned".into(),
            payload: r#"{"target_unit":5}"#.into(),
            prev_hash: prev.into(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    fn chain(n: i64) -> Vec<CaseEvent> {
        let mut v: Vec<CaseEvent> = vec![];
        for i in 1..=n {
            let prev = v.last().map(|e| e.hash.clone()).unwrap_or_else(|| GENESIS.into());
            v.push(event(i, &prev));
        }
        v
    }

    fn check(v: &[CaseEvent]) -> Result<(i64, String), ChainBreak> {
        verify_chain(v, |e| (e.seq, Some(e.case_id), e.prev_hash.as_str(), e.hash.as_str(), e.compute_hash()))
    }

    #[test]
    fn sm3_matches_the_standard_vector() {
        // GB/T 32905-2016 example 1: "abc".
        assert_eq!(sm3_hex(b"abc"), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(check(&chain(5)).unwrap().0, 5);
    }

    #[test]
    fn edited_deleted_and_swapped_rows_are_caught() {
        let mut edited = chain(5);
        edited[2].payload = r#"{"target_unit":6}"#.into();
        assert_eq!(check(&edited).unwrap_err().found_seq, Some(3));

        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(check(&deleted).unwrap_err().expected_seq, 2);

        let mut swapped = chain(5);
        swapped.swap(1, 2);
        assert_eq!(check(&swapped).unwrap_err().expected_seq, 2);

        // Renumbering after a deletion does not help: the links no longer match.
        let mut renumbered = chain(5);
        renumbered.remove(1);
        for (i, e) in renumbered.iter_mut().enumerate() {
            e.seq = i as i64 + 1;
        }
        assert!(check(&renumbered).is_err());
    }
}
