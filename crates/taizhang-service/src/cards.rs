//! Warning cards from the clocks (黄牌/红牌预警): when a duty clock of a case turns due soon, a yellow card; when
//! it runs out, a red card. Each card is recorded once per clock run, deadline and colour, charged to the unit
//! holding the case at that moment (the handling unit, or the registering unit before one is assigned), and
//! sent to that unit's directly responsible person — on red also to its first-responsible person — by the
//! responsibility roster (its leaders when the roster names nobody). Cards are counted per unit and listed.
//!
//! The sweep looks only at cases whose earliest deadline (the projection's `next_warn_us` / `next_due_us`) has
//! no card of the colour it deserves yet, and cards every running duty clock of such a case. A second clock of
//! a case whose earliest clock already holds its red card is carded when that earliest clock stops.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use taizhang_domain::DomainResult;
use taizhang_domain::deadline::china_tz;
use taizhang_domain::region::Region;
use taizhang_domain::workflow::{self, ClockKind, NotifyWho};
use taizhang_store::{Card, CaseRow, Notification};

use crate::cases::deadline_columns;
use crate::{Principal, Service, se};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CardView {
    pub id: i64,
    pub case_id: i64,
    pub case_code: String,
    pub case_title: String,
    pub clock: String,
    pub clock_name: String,
    /// yellow | red
    pub colour: String,
    pub due_at: DateTime<Utc>,
    pub unit_id: i64,
    pub unit_name: String,
    pub issued_at: DateTime<Utc>,
    /// A red card recorded more than a day after its deadline (补记: the sweeper was not running then).
    pub recorded_late: bool,
}

/// Cards raised in a window, with their count per unit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CardList {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub cards: Vec<CardView>,
    /// Per unit: (unit id, unit name, yellow, red), most red first.
    pub per_unit: Vec<UnitCards>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnitCards {
    pub unit_id: i64,
    pub unit_name: String,
    pub yellow: usize,
    pub red: usize,
}

/// A red card raised more than a day after its deadline (补记): the sweeper, which runs every minute, was not
/// running when the deadline passed (a new deployment, downtime), or an earlier deadline of the same case held
/// the card back until it stopped.
pub fn recorded_late(k: &Card) -> bool {
    k.colour == "red" && k.issued_at - k.due_at > Duration::days(1)
}

pub fn colour_name(colour: &str) -> &'static str {
    if colour == "red" { "红牌" } else { "黄牌" }
}

impl Service {
    /// Raises the cards the clocks call for at this moment and tells the responsible people. Returns how many
    /// were raised. The server runs it every minute with the timer sweep.
    pub async fn sweep_cards(&self) -> DomainResult<usize> {
        let now = self.now();
        let mut after = (i64::MIN, 0);
        let mut raised = 0;
        loop {
            let batch = self.store.card_candidates(now, after, 200).await.map_err(se)?;
            let Some(last) = batch.last() else { break };
            after = *last;
            let mut cards = vec![];
            // The rows read here also tell the notifications whom each case accuses.
            let mut rows = BTreeMap::new();
            for (_, id) in &batch {
                let row = match self.store.case(*id).await {
                    Ok(Some(row)) => row,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::error!(case = id, error = %se(e), "card check failed");
                        continue;
                    }
                };
                match self.cards_due(&row, now).await {
                    Ok(mut c) => cards.append(&mut c),
                    Err(e) => tracing::error!(case = id, error = %e, "card check failed"),
                }
                rows.insert(*id, row);
            }
            let written = self.store.create_cards(cards).await.map_err(se)?;
            raised += written.len();
            self.notify_cards(&written, &rows).await;
        }
        Ok(raised)
    }

    /// The cards one case's running duty clocks deserve at `now`.
    async fn cards_due(&self, row: &CaseRow, now: DateTime<Utc>) -> DomainResult<Vec<Card>> {
        let id = row.id;
        let (def, state) = self.def_of(row)?;
        let region = row.region.as_deref().and_then(|r| Region::parse(r).ok());
        let (unit_id, unit_path) = match (row.handling_unit, &row.handling_unit_path) {
            (Some(u), Some(p)) => (u, p.clone()),
            _ => (row.registered_unit, row.registered_unit_path.clone()),
        };
        let (views, _) = workflow::clock_views_lenient(&def, &state, &self.calendar, region.as_ref(), now);
        let mut cards = vec![];
        for v in views.iter().filter(|v| v.kind == ClockKind::Obligation && v.stopped_at.is_none() && !v.paused) {
            let clock = def.clock(&v.clock).expect("view of a defined clock");
            let colour = if v.due_at <= now {
                "red"
            } else if v.due_at - workflow::warn_before(clock, v.period) <= now {
                "yellow"
            } else {
                continue;
            };
            cards.push(Card {
                id: 0,
                case_id: id,
                clock: v.clock.clone(),
                due_at: v.due_at,
                colour: colour.into(),
                unit_id,
                unit_path: unit_path.clone(),
                issued_at: now,
                case_code: row.code.clone(),
                case_title: row.title.clone(),
                case_kind: row.kind.clone(),
            });
        }
        // The projection's deadline disagrees with the clocks (a rule changed): correct it, or the case would
        // be looked at every minute.
        if !cards.iter().any(|c| Some(c.due_at) == row.next_due_at) {
            let cols = deadline_columns(&def, &state, self, region.as_ref(), now);
            if (cols.0, cols.1, cols.2) != (row.next_due_at, row.next_warn_at, row.next_timer_at) {
                self.store.set_next_deadline(id, row.version, cols.0, cols.1, cols.2).await.map_err(se)?;
            }
        }
        Ok(cards)
    }

    /// Tells each card's unit's directly responsible person, and on red its first-responsible person too —
    /// never anyone the case accuses. Red cards recorded more than a day after their deadline (`recorded_late`)
    /// are told in one summary per person instead of one message each.
    async fn notify_cards(&self, cards: &[Card], rows: &BTreeMap<i64, CaseRow>) {
        if cards.is_empty() {
            return;
        }
        let result: DomainResult<()> = async {
            let users = self.store.users().await.map_err(se)?;
            let mut notes = vec![];
            let mut backfilled: BTreeMap<i64, Vec<&Card>> = BTreeMap::new();
            let mut accused: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
            for k in cards {
                // The people a case accuses are never told of it (信访工作条例 Art. 30).
                if let std::collections::btree_map::Entry::Vacant(e) = accused.entry(k.case_id) {
                    let by = match rows.get(&k.case_id) {
                        Some(row) => self.accused_among(&users, row).await?,
                        None => BTreeSet::new(),
                    };
                    e.insert(by);
                }
                let accused = &accused[&k.case_id];
                if recorded_late(k) {
                    for w in [NotifyWho::DirectResponsible, NotifyWho::FirstResponsible] {
                        for user_id in self.recipients_except(&users, k.unit_id, w, k.issued_at, accused).await?.0 {
                            let mine = backfilled.entry(user_id).or_default();
                            if !mine.iter().any(|c| std::ptr::eq(*c, k)) {
                                mine.push(k);
                            }
                        }
                    }
                    continue;
                }
                let mut who = vec![NotifyWho::DirectResponsible];
                if k.colour == "red" {
                    who.push(NotifyWho::FirstResponsible);
                }
                let clock_name = self.clock_name(k);
                let due = k.due_at.with_timezone(&china_tz()).format("%Y-%m-%d %H:%M");
                let what =
                    if k.colour == "red" { format!("已于 {due} 超期") } else { format!("将于 {due} 到期") };
                let mut told = vec![];
                for w in who {
                    let (to, note) = self.recipients_except(&users, k.unit_id, w, k.issued_at, accused).await?;
                    for user_id in to {
                        if told.contains(&user_id) {
                            continue;
                        }
                        told.push(user_id);
                        notes.push(Notification {
                            id: 0,
                            user_id,
                            created_at: k.issued_at,
                            title: format!("{} {}", colour_name(&k.colour), k.case_code),
                            body: format!("「{}」的{clock_name}{what}。{note}", k.case_title),
                            case_id: Some(k.case_id),
                            case_code: None,
                            read_at: None,
                        });
                    }
                }
            }
            for (user_id, late) in backfilled {
                let codes: Vec<&str> = late.iter().take(10).map(|k| k.case_code.as_str()).collect();
                let more = if late.len() > codes.len() { "等" } else { "" };
                notes.push(Notification {
                    id: 0,
                    user_id,
                    created_at: late[0].issued_at,
                    title: format!("补记红牌 {} 张", late.len()),
                    body: format!(
                        "以下案件的办理时限超期一天以上才记上红牌，现一并补记：{}{more}。详见“预警”页面。",
                        codes.join("、")
                    ),
                    case_id: None,
                    case_code: None,
                    read_at: None,
                });
            }
            self.store.create_notifications(notes).await.map_err(se)
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "card notifications failed");
        }
    }

    /// The name of a card's clock in its case's current definition.
    fn clock_name(&self, k: &Card) -> String {
        self.workflows
            .get(&k.case_kind)
            .ok()
            .and_then(|d| d.clock(&k.clock).map(|c| c.name.clone()))
            .unwrap_or_else(|| k.clock.clone())
    }

    /// Cards raised in [from, to) on cases held by units in the viewer's subtree, newest first, with counts per
    /// unit. `from`/`to` default to the last 7 days.
    pub async fn cards(
        &self,
        p: &Principal,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        unit: Option<i64>,
    ) -> DomainResult<CardList> {
        self.require_case_worker(p)?;
        let to = to.unwrap_or_else(|| self.now() + Duration::seconds(1));
        let from = from.unwrap_or(to - Duration::days(7));
        let mut cards = self.store.cards(&p.unit.path, from, to).await.map_err(se)?;
        // One unit's only (a dashboard figure followed), within the viewer's subtree as ever; never the cards of
        // a case accusing the viewer (信访工作条例 Art. 30).
        let hidden: BTreeSet<i64> =
            self.store.cases_accusing(p.user.id, &p.unit.path).await.map_err(se)?.iter().map(|r| r.id).collect();
        cards.retain(|k| unit.is_none_or(|u| k.unit_id == u) && !hidden.contains(&k.case_id));
        let units = self.store.units().await.map_err(se)?;
        let unit_name = |id: i64| units.iter().find(|u| u.id == id).map(|u| u.name.clone()).unwrap_or_default();
        let mut per: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
        let mut views = vec![];
        for k in cards {
            let e = per.entry(k.unit_id).or_default();
            if k.colour == "red" {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
            let clock_name = self.clock_name(&k);
            let late = recorded_late(&k);
            views.push(CardView {
                id: k.id,
                case_id: k.case_id,
                case_code: k.case_code,
                // A kind without a title field (an inspection) is named by its kind.
                case_title: match k.case_title.is_empty() {
                    true => self.workflows.get(&k.case_kind).map(|d| d.name.clone()).unwrap_or_default(),
                    false => k.case_title,
                },
                clock_name,
                clock: k.clock,
                colour: k.colour,
                due_at: k.due_at,
                unit_id: k.unit_id,
                unit_name: unit_name(k.unit_id),
                issued_at: k.issued_at,
                recorded_late: late,
            });
        }
        let mut per_unit: Vec<UnitCards> = per
            .into_iter()
            .map(|(unit_id, (yellow, red))| UnitCards { unit_id, unit_name: unit_name(unit_id), yellow, red })
            .collect();
        per_unit.sort_by(|a, b| b.red.cmp(&a.red).then(b.yellow.cmp(&a.yellow)).then(a.unit_id.cmp(&b.unit_id)));
        Ok(CardList { from, to, cards: views, per_unit })
    }
}
