//! The leader dashboard: one kind's cases received and closed per month (with year-on-year and month-on-month
//! change), clock status by unit, the categories rising this month, cards raised this week, the latest published
//! ranking, and backlog clearance. Every figure comes from the running tallies (`tallies`, kept by the store in
//! the same transaction as each case row) or from the cards and circulars tables, so its cost grows with the
//! number of units, months and deadline days, not with the number of cases; every figure carries the list query
//! that shows the cases behind it.
//!
//! Cases count under the unit holding them (handling it, else the unit that registered it and has not handed it
//! on) — the list filter `held` / `held_within` uses the same rule, so a followed figure shows the same cases.
//! Cases accusing the viewer or a unit he belongs to (信访工作条例 Art. 30) are left out of every count, as the
//! list leaves them out: their tally keys are taken away from the sums, so no figure betrays that they exist.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;
use taizhang_domain::deadline::TZ;
use taizhang_domain::figures::{add_months, day_key, month_key, month_start, percent_change};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{CaseRow, Tally, TallyGroup, TallyKey, TallyName};

use crate::campaigns::BACKLOG_KIND;
use crate::cases::UnitRef;
use crate::{Principal, Service, se};

/// One month's flow.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MonthFlow {
    /// `2026-11`.
    pub month: String,
    /// The current month, counted so far (its change against full months says little yet).
    pub partial: bool,
    pub received: i64,
    pub closed: i64,
    /// Change against the same month a year before, in percent (None when that month had none, and for the
    /// current month: part of a month against whole ones says nothing).
    pub received_yoy: Option<f64>,
    pub received_mom: Option<f64>,
    pub closed_yoy: Option<f64>,
    pub closed_mom: Option<f64>,
    /// List queries (for `/cases?…` and `GET /api/v1/cases?…`) showing the cases behind each figure.
    pub received_query: String,
    pub closed_query: String,
}

/// Open cases of one unit by the state of their nearest deadline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnitClocks {
    pub unit: UnitRef,
    pub open: i64,
    pub due_soon: i64,
    pub overdue: i64,
    pub open_query: String,
    pub due_soon_query: String,
    pub overdue_query: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HotCategory {
    pub category: String,
    pub this_month: i64,
    pub last_month: i64,
    pub query: String,
    pub last_month_query: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnitCardCount {
    pub unit: UnitRef,
    pub yellow: i64,
    pub red: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RankRow {
    /// The peer group (the units ranked together: those under this parent).
    pub group: String,
    pub unit: UnitRef,
    pub rank: Option<u32>,
    pub total: Option<f64>,
    pub vetoed: bool,
}

/// The latest assessment result published where the viewer may read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublishedRanking {
    pub circular_id: i64,
    pub title: String,
    pub period: String,
    pub scheme_version: u32,
    pub rows: Vec<RankRow>,
}

/// Backlog clearance of one unit: backlog cases held, how many are closed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Clearance {
    pub unit: UnitRef,
    pub total: i64,
    pub closed: i64,
    /// closed / total in percent.
    pub rate: f64,
    pub total_query: String,
    pub closed_query: String,
    pub open_query: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    pub unit: UnitRef,
    pub kind: String,
    pub kind_name: String,
    /// The kinds a dashboard can be shown for: (id, name).
    pub kinds: Vec<(String, String)>,
    pub at: DateTime<Utc>,
    /// The last twelve months, oldest first; the last one is the current month so far.
    pub months: Vec<MonthFlow>,
    /// Units of the viewer's subtree holding open cases, most overdue first.
    pub clocks: Vec<UnitClocks>,
    /// Categories received this month, most first (at most ten), with last month's count.
    pub hot: Vec<HotCategory>,
    /// Since Monday 00:00.
    pub week_from: DateTime<Utc>,
    pub cards: Vec<UnitCardCount>,
    pub ranking: Option<PublishedRanking>,
    /// The backlog kind's name, when the locality has one (`backlog`).
    pub backlog_name: Option<String>,
    pub backlog: Vec<Clearance>,
}

/// Local midnight starting `day`, as an instant.
fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_local_timezone(TZ).single().expect("fixed offset").to_utc()
}

impl Service {
    /// The dashboard of one kind (default: petitions) for the viewer's unit and everything under it.
    pub async fn dashboard(&self, p: &Principal, kind: Option<&str>) -> DomainResult<Dashboard> {
        self.require_case_worker(p)?;
        let kind = kind.filter(|k| !k.is_empty()).unwrap_or("petition");
        let def = self.workflows.get(kind)?;
        let now = self.now();
        let path = p.unit.path.as_str();
        let all_units = self.store.units().await.map_err(se)?;
        let units: BTreeMap<i64, String> = all_units.iter().map(|u| (u.id, u.name.clone())).collect();
        let unit = |id: i64| UnitRef { id, name: units.get(&id).cloned().unwrap_or_default() };
        // The cases accusing the viewer: their cards wherever they were raised, and — for those held in the
        // subtree — the tally keys they count under.
        let within: BTreeSet<i64> = all_units.iter().filter(|u| u.path.starts_with(path)).map(|u| u.id).collect();
        let accusing = self.store.cases_accusing(p.user.id, path).await.map_err(se)?;
        let accusing_ids: BTreeSet<i64> = accusing.iter().map(|r| r.id).collect();
        let hidden: Vec<CaseRow> = accusing.into_iter().filter(|r| within.contains(&r.tally_facts().unit_id)).collect();
        let hidden_keys: Vec<TallyKey> = hidden.iter().flat_map(|r| r.tally_facts().keys()).collect();
        let terminal: BTreeSet<(String, String)> = self.terminal_states().into_iter().collect();
        let is_closed = |kind: &str, state: &str| terminal.contains(&(kind.to_string(), state.to_string()));
        let q = |extra: String| format!("kind={kind}&held_within={}&{extra}", p.unit.id);

        // Received and closed per month: this month, the eleven before, and the year before those for YoY.
        let this_month = month_key(now);
        let first = add_months(this_month, -23);
        let mut received: BTreeMap<i64, i64> = BTreeMap::new();
        let mut received_rows = self
            .store
            .tally_sums(TallyName::Received, (first, this_month), path, TallyGroup::Bucket)
            .await
            .map_err(se)?;
        take_away(&mut received_rows, &hidden_keys, TallyName::Received, (first, this_month), TallyGroup::Bucket);
        for t in received_rows.iter().filter(|t| t.key.kind == kind) {
            *received.entry(t.key.bucket).or_default() += t.n;
        }
        let mut closed: BTreeMap<i64, i64> = BTreeMap::new();
        let mut by_month =
            self.store.tally_sums(TallyName::State, (first, this_month), path, TallyGroup::Bucket).await.map_err(se)?;
        take_away(&mut by_month, &hidden_keys, TallyName::State, (first, this_month), TallyGroup::Bucket);
        for t in by_month.iter().filter(|t| t.key.kind == kind && is_closed(&t.key.kind, &t.key.tag)) {
            *closed.entry(t.key.bucket).or_default() += t.n;
        }
        // Open cases per unit, whenever they entered their state; backlog cases per unit, open and closed.
        let mut by_unit =
            self.store.tally_sums(TallyName::State, (0, this_month), path, TallyGroup::Unit).await.map_err(se)?;
        take_away(&mut by_unit, &hidden_keys, TallyName::State, (0, this_month), TallyGroup::Unit);
        let mut open: BTreeMap<i64, i64> = BTreeMap::new();
        let mut backlog: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for t in &by_unit {
            let done = is_closed(&t.key.kind, &t.key.tag);
            if t.key.kind == kind && !done {
                *open.entry(t.key.unit_id).or_default() += t.n;
            }
            if t.key.kind == BACKLOG_KIND {
                let e = backlog.entry(t.key.unit_id).or_default();
                e.0 += t.n;
                e.1 += if done { t.n } else { 0 };
            }
        }
        let months = (0..12)
            .map(|i| {
                let m = add_months(this_month, i - 11);
                let get = |map: &BTreeMap<i64, i64>, b: i64| map.get(&b).copied().unwrap_or(0);
                let (r, c) = (get(&received, m), get(&closed, m));
                // The month so far against whole months would mislead: no change for it.
                let change = |now: i64, then: i64| if m == this_month { None } else { percent_change(now, then) };
                let from = month_start(m).unwrap_or_default();
                let to = month_start(add_months(m, 1)).unwrap_or_default() - Duration::days(1);
                MonthFlow {
                    month: format!("{}-{:02}", m / 100, m % 100),
                    partial: m == this_month,
                    received: r,
                    closed: c,
                    received_yoy: change(r, get(&received, add_months(m, -12))),
                    received_mom: change(r, get(&received, add_months(m, -1))),
                    closed_yoy: change(c, get(&closed, add_months(m, -12))),
                    closed_mom: change(c, get(&closed, add_months(m, -1))),
                    received_query: q(format!("from={from}&to={to}")),
                    closed_query: q(format!("closed_from={from}&closed_to={to}")),
                }
            })
            .collect();

        // Clock status: overdue = nearest deadline at or before now; warned = its warning period begun. The days
        // before today come from the tallies, today's part from the cases themselves (one day of deadlines).
        let today = now.with_timezone(&TZ).date_naive();
        let today_start = midnight(today);
        let until = now + Duration::microseconds(1);
        let mut overdue = self.reached(TallyName::Due, kind, path, today_start, until).await?;
        let mut warned = self.reached(TallyName::Warn, kind, path, today_start, until).await?;
        for r in hidden.iter().filter(|r| r.kind == kind) {
            let u = r.tally_facts().unit_id;
            for (reached, at) in [(&mut overdue, r.next_due_at), (&mut warned, r.next_warn_at)] {
                if at.is_some_and(|t| t < until) {
                    *reached.entry(u).or_default() -= 1;
                }
            }
        }
        let mut clocks: Vec<UnitClocks> = open
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(&u, &n)| {
                let over = overdue.get(&u).copied().unwrap_or(0);
                let held = |extra: &str| format!("kind={kind}&held={u}{extra}");
                UnitClocks {
                    unit: unit(u),
                    open: n,
                    due_soon: warned.get(&u).copied().unwrap_or(0) - over,
                    overdue: over,
                    open_query: held("&closed=false"),
                    due_soon_query: held("&clock_status=due_soon"),
                    overdue_query: held("&clock_status=overdue"),
                }
            })
            .collect();
        clocks.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(b.due_soon.cmp(&a.due_soon)).then(b.open.cmp(&a.open)));

        // Hot categories: this month against last month.
        let last_month = add_months(this_month, -1);
        let mut per_category: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for t in received_rows.into_iter().filter(|t| t.key.bucket >= last_month) {
            if t.key.kind == kind && !t.key.tag.is_empty() {
                let e = per_category.entry(t.key.tag).or_default();
                if t.key.bucket == this_month { e.0 += t.n } else { e.1 += t.n }
            }
        }
        let from = month_start(this_month).unwrap_or_default();
        let (last_from, last_to) = (month_start(last_month).unwrap_or_default(), from - Duration::days(1));
        let mut hot: Vec<HotCategory> = per_category
            .into_iter()
            .filter(|(_, (this, _))| *this > 0)
            .map(|(c, (this, last))| HotCategory {
                query: q(format!("category={}&from={from}", urlencode(&c))),
                last_month_query: q(format!("category={}&from={last_from}&to={last_to}", urlencode(&c))),
                category: c,
                this_month: this,
                last_month: last,
            })
            .collect();
        hot.sort_by(|a, b| {
            b.this_month.cmp(&a.this_month).then((b.this_month - b.last_month).cmp(&(a.this_month - a.last_month)))
        });
        hot.truncate(10);

        // Cards since Monday.
        let week_from = midnight(today - Duration::days(i64::from(today.weekday().num_days_from_monday())));
        let mut cards: Vec<UnitCardCount> = self
            .store
            .card_counts(path, week_from, until)
            .await
            .map_err(se)?
            .into_iter()
            .map(|(u, yellow, red)| UnitCardCount { unit: unit(u), yellow, red })
            .collect();
        if !accusing_ids.is_empty() {
            let cards_then = self.store.cards(path, week_from, until).await.map_err(se)?;
            for k in cards_then.iter().filter(|k| accusing_ids.contains(&k.case_id)) {
                if let Some(c) = cards.iter_mut().find(|c| c.unit.id == k.unit_id) {
                    if k.colour == "red" { c.red -= 1 } else { c.yellow -= 1 }
                }
            }
            cards.retain(|c| c.yellow + c.red > 0);
        }
        cards.sort_by(|a, b| b.red.cmp(&a.red).then(b.yellow.cmp(&a.yellow)).then(a.unit.id.cmp(&b.unit.id)));

        let ranking = self.latest_ranking(p).await?;
        let backlog_name = self.workflows.get(BACKLOG_KIND).ok().map(|d| d.name.clone());
        let mut backlog: Vec<Clearance> = backlog
            .into_iter()
            .filter(|(_, (total, _))| *total > 0)
            .map(|(u, (total, done))| Clearance {
                unit: unit(u),
                total,
                closed: done,
                rate: (done as f64 * 1000.0 / total as f64).round() / 10.0,
                total_query: format!("kind={BACKLOG_KIND}&held={u}"),
                closed_query: format!("kind={BACKLOG_KIND}&held={u}&closed=true"),
                open_query: format!("kind={BACKLOG_KIND}&held={u}&closed=false"),
            })
            .collect();
        backlog.sort_by(|a, b| a.rate.total_cmp(&b.rate).then(b.total.cmp(&a.total)));

        let kinds = self.workflows.all().map(|d| (d.kind.clone(), d.name.clone())).collect();
        Ok(Dashboard {
            unit: UnitRef { id: p.unit.id, name: p.unit.name.clone() },
            kind: kind.to_string(),
            kind_name: def.name.clone(),
            kinds,
            at: now,
            months,
            clocks,
            hot,
            week_from,
            cards,
            ranking,
            backlog_name,
            backlog,
        })
    }

    /// Per unit, the open cases of `kind` whose nearest deadline (`Due`) or its warning start (`Warn`) lies
    /// before `until`: whole days before `today_start` from the tally, the rest from the cases.
    async fn reached(
        &self,
        name: TallyName,
        kind: &str,
        path: &str,
        today_start: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> DomainResult<BTreeMap<i64, i64>> {
        let mut per: BTreeMap<i64, i64> = BTreeMap::new();
        let days = (0, day_key(today_start) - 1);
        for t in self.store.tally_sums(name, days, path, TallyGroup::Unit).await.map_err(se)? {
            if t.key.kind == kind {
                *per.entry(t.key.unit_id).or_default() += t.n;
            }
        }
        for (u, k) in self.store.deadlines_between(name, today_start, until, path).await.map_err(se)? {
            if k == kind {
                *per.entry(u).or_default() += 1;
            }
        }
        Ok(per)
    }

    /// The ranking of the most recently published assessment the viewer may read.
    async fn latest_ranking(&self, p: &Principal) -> DomainResult<Option<PublishedRanking>> {
        let all = self.store.circulars().await.map_err(se)?;
        let Some(c) = all.into_iter().filter(|c| Self::may_read_circular(p, c)).max_by_key(|c| c.published_at) else {
            return Ok(None);
        };
        let report: crate::assessment::AssessmentReport = serde_json::from_str(&c.report_json)
            .map_err(|e| DomainError::new(ErrorCode::Internal, format!("通报 {} 的考核结果无法读取：{e}", c.id)))?;
        // Group by group, each in rank order (the report keeps its groups in order and each ranked).
        let rows: Vec<RankRow> = report
            .groups
            .iter()
            .flat_map(|g| g.units.iter().map(move |u| (g, u)))
            .map(|(g, u)| RankRow {
                group: format!("{}所属单位", g.parent.name),
                unit: UnitRef { id: u.unit.id, name: u.unit.name.clone() },
                rank: u.rank,
                total: u.score.total,
                vetoed: !u.score.vetoed.is_empty(),
            })
            .collect();
        Ok(Some(PublishedRanking {
            circular_id: c.id,
            title: c.title,
            period: report.period_label,
            scheme_version: report.scheme_version,
            rows,
        }))
    }
}

/// Takes the hidden cases' keys of one tally (buckets in the range asked for) away from its sums, grouped as
/// `tally_sums` groups them: rows of -1 that the callers add up with the rest (the sums are only ever added
/// up, never looked up row by row).
fn take_away(rows: &mut Vec<Tally>, hidden: &[TallyKey], name: TallyName, (lo, hi): (i64, i64), by: TallyGroup) {
    for k in hidden.iter().filter(|k| k.name == name && lo <= k.bucket && k.bucket <= hi) {
        let mut key = k.clone();
        match by {
            TallyGroup::Bucket => key.unit_id = 0,
            TallyGroup::Unit => key.bucket = 0,
        }
        rows.push(Tally { key, n: -1 });
    }
}

/// Percent-encodes a query value (categories are Chinese words).
fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
