//! The one integration-test binary: the real server, the real databases, the real CLI.

mod assessment;
mod browser;
mod calendar_oracle;
mod classify_oracle;
mod daily_ops;
mod dashboard;
mod deployment;
mod dispute_api;
mod grid_api;
mod hazard_api;
mod helpers;
mod incident_api;
mod ledger;
mod oversight;
mod petition_api;
mod portal_pages;
mod store_conformance;
mod workspace_pages;
