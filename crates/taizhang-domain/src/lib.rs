//! Taizhang's pure core: case kinds as data, statutory clocks and the holiday calendar, access rules, the
//! tamper-evident ledger format, masking and encryption of personal data. No I/O, no async runtime, no
//! database: every rule here is testable in microseconds.

pub mod access;
pub mod assessment;
pub mod attachment;
pub mod calendar;
pub mod challenge;
pub mod checklist;
pub mod classify;
pub mod crypto;
pub mod deadline;
pub mod error;
pub mod figures;
pub mod indicators;
pub mod ledger;
pub mod mask;
pub mod periodic;
pub mod region;
#[cfg(test)]
mod testing;
pub mod workflow;

pub use error::{DomainError, DomainResult, ErrorCode};
