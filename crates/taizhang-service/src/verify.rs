//! `taizhang verify`: checks both chains (case events and audit) page by page, and every case row against a
//! replay of its own events.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Map;
use taizhang_domain::DomainResult;
use taizhang_domain::attachment::AttachmentRef;
use taizhang_domain::ledger::{ChainBreak, ChainWalker, sm3_hex};
use taizhang_domain::workflow::{CaseState, EventPayload, apply_event};
use taizhang_store::{CaseRow, TallyKey};

use crate::cases::{intake_facts, parties_digest, project};
use crate::{Service, se};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub events: i64,
    pub events_head: String,
    pub audit_records: i64,
    pub audit_head: String,
    pub cases: i64,
    /// Human-readable findings: the first break of each chain and each case whose row disagrees with its
    /// history (up to 100).
    pub problems: Vec<String>,
}

const PAGE: i64 = 5_000;
const MAX_PROBLEMS: usize = 100;

impl Service {
    pub async fn verify(&self) -> DomainResult<VerifyReport> {
        let mut problems = vec![];

        // 1. The event chain, in seq order, remembering which cases the history mentions.
        let mut walker = ChainWalker::default();
        let mut broken = None;
        let mut cases_in_history = BTreeSet::new();
        let mut after = 0;
        'events: loop {
            let page = self.store.events_page(after, PAGE).await.map_err(se)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in &page {
                cases_in_history.insert(e.case_id);
                if let Err(b) = walker.feed(e.seq, Some(e.case_id), &e.prev_hash, &e.hash, &e.compute_hash()) {
                    broken = Some(b);
                    break 'events;
                }
            }
        }
        let recorded = self.store.chain_head("events").await.map_err(se)?;
        let (events, events_head) = chain_result("案件事件链", &walker, broken, recorded, &mut problems);

        // 2. The audit chain.
        let mut walker = ChainWalker::default();
        let mut broken = None;
        let mut after = 0;
        'audit: loop {
            let page = self.store.audit_page(after, PAGE).await.map_err(se)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for a in &page {
                if let Err(b) = walker.feed(a.seq, None, &a.prev_hash, &a.hash, &a.compute_hash()) {
                    broken = Some(b);
                    break 'audit;
                }
            }
        }
        let recorded = self.store.chain_head("audit").await.map_err(se)?;
        let (audit_records, audit_head) = chain_result("审计日志链", &walker, broken, recorded, &mut problems);

        // 3. Every case row, rebuilt from its own events; and no history without its case row.
        let mut cases = 0;
        let mut tallies = BTreeMap::new();
        let mut after = 0;
        loop {
            let ids = self.store.case_ids_page(after, PAGE).await.map_err(se)?;
            let Some(last) = ids.last() else { break };
            after = *last;
            for id in ids {
                cases += 1;
                cases_in_history.remove(&id);
                if let Some(p) = self.verify_case(id, &mut tallies).await?
                    && problems.len() < MAX_PROBLEMS
                {
                    problems.push(p);
                }
            }
        }
        for id in cases_in_history.iter().take(MAX_PROBLEMS.saturating_sub(problems.len())) {
            problems.push(format!("案件 id {id} 有事件记录，但案件本身被删除"));
        }
        // The dashboard's tallies must be exactly the counts of the case rows.
        let mut stored: BTreeMap<TallyKey, i64> =
            self.store.all_tallies().await.map_err(se)?.into_iter().map(|t| (t.key, t.n)).collect();
        for (key, n) in &tallies {
            let found = stored.remove(key).unwrap_or(0);
            if found != *n && problems.len() < MAX_PROBLEMS {
                problems.push(format!(
                    "统计表 {} {} 单位 {} {} {}：存储 {found} 件，案件记录为 {n} 件",
                    key.name.as_str(),
                    key.bucket,
                    key.unit_id,
                    key.kind,
                    key.tag
                ));
            }
        }
        for (key, n) in stored.into_iter().take(MAX_PROBLEMS.saturating_sub(problems.len())) {
            problems.push(format!(
                "统计表 {} {} 单位 {} {} {}：存储 {n} 件，案件记录为 0 件",
                key.name.as_str(),
                key.bucket,
                key.unit_id,
                key.kind,
                key.tag
            ));
        }
        Ok(VerifyReport { ok: problems.is_empty(), events, events_head, audit_records, audit_head, cases, problems })
    }

    /// Checks one case against its history and adds what it counts in the tallies to `tallies`.
    async fn verify_case(&self, id: i64, tallies: &mut BTreeMap<TallyKey, i64>) -> DomainResult<Option<String>> {
        let Some(row) = self.store.case(id).await.map_err(se)? else { return Ok(None) };
        for k in row.tally_facts().keys() {
            *tallies.entry(k).or_default() += 1;
        }
        let name = format!("案件 {}（id {id}）", row.code);
        let events = self.store.case_events(id).await.map_err(se)?;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(Some(format!("{name}没有任何事件（历史被删除）")));
        };
        let Some(intake) = intake_facts(first) else {
            return Ok(Some(format!("{name}的第一条事件不是登记事件（历史被删除或改动）")));
        };
        // The rules the case opened under, as its intake event recorded them.
        let def = match self.workflows.get_version(&row.kind, intake.workflow_version) {
            Ok(d) => d.clone(),
            Err(e) => return Ok(Some(format!("{name}：{}", e.message))),
        };
        let mut state: Option<CaseState> = None;
        let mut state_since = first.at;
        let mut recorded_files = vec![];
        for (i, e) in events.iter().enumerate() {
            let at = format!("{name}第 {} 条事件（seq {}）", e.case_seq, e.seq);
            if e.case_seq != i as i64 + 1 {
                return Ok(Some(format!("{at}：案内序号不连续，应为 {}", i + 1)));
            }
            let payload: EventPayload = match serde_json::from_str(&e.payload) {
                Ok(p) => p,
                Err(err) => return Ok(Some(format!("{at}：内容无法解析（{err}）"))),
            };
            if e.from_state != state.as_ref().map(|s| s.state.clone()) {
                return Ok(Some(format!("{at}：起始状态与前一事件不符")));
            }
            let next =
                match apply_event(&def, state.take(), &payload.facts(e.seq, &e.action, e.at, e.actor_id, e.actor_unit))
                {
                    Ok(s) => s,
                    Err(err) => {
                        return Ok(Some(format!("{at}：{}（按第 {} 版流程重放）", err.message, def.version)));
                    }
                };
            if next.state != e.to_state {
                return Ok(Some(format!("{at}：记录的结果状态 {} 与重放结果 {} 不符", e.to_state, next.state)));
            }
            // `from_state` was checked against the state before this event above.
            if e.from_state.as_deref() != Some(next.state.as_str()) {
                state_since = e.at;
            }
            if i == 0 {
                let parties: Vec<_> = self.store.parties(id).await.map_err(se)?.into_iter().map(|p| p.party).collect();
                let digest = (!parties.is_empty()).then(|| parties_digest(&parties));
                if digest != payload.parties_digest {
                    return Ok(Some(format!("{at}：当事人信息与登记时的记录不符（被修改、删除或添加）")));
                }
            }
            recorded_files.extend(payload.attachments.into_iter().map(|a| (e.seq, a)));
            state = Some(next);
        }
        if let Some(problem) = self.verify_attachments(id, recorded_files).await? {
            return Ok(Some(format!("{name}：{problem}")));
        }
        let state = state.expect("at least one event was applied");
        let paths = match self
            .unit_paths(&def, [Some(intake.registered_unit), state.handling_unit, state.accused_unit], &Map::new())
            .await
        {
            Ok(p) => p,
            Err(e) => return Ok(Some(format!("{name}：{}", e.message))),
        };
        let expected = project(self, &def, &state, id, &intake, &paths, first.at, last.at, state_since)?;
        let diffs = differences(&row, &expected);
        Ok((!diffs.is_empty()).then(|| format!("{name}的记录与事件历史不符：{}", diffs.join("；"))))
    }
}

impl Service {
    /// The stored files of a case are exactly those its events recorded, each with the recorded digest.
    async fn verify_attachments(&self, id: i64, recorded: Vec<(i64, AttachmentRef)>) -> DomainResult<Option<String>> {
        let stored = self.store.attachments(id).await.map_err(se)?;
        let as_stored: Vec<(i64, AttachmentRef)> = stored
            .iter()
            .map(|a| {
                let r = AttachmentRef {
                    name: a.name.clone(),
                    mime: a.mime.clone(),
                    size: a.size as u64,
                    sm3: a.sm3.clone(),
                };
                (a.event_seq, r)
            })
            .collect();
        if as_stored != recorded {
            return Ok(Some(format!(
                "附件记录与事件历史不符（历史记载 {} 个，存储 {} 个，或名称、大小、摘要被改动）",
                recorded.len(),
                stored.len()
            )));
        }
        for a in stored {
            let Some((_, sealed)) = self.store.attachment_content(id, a.id).await.map_err(se)? else { continue };
            let intact = self.keys.open_bytes(&sealed).map(|b| sm3_hex(&b) == a.sm3).unwrap_or(false);
            if !intact {
                return Ok(Some(format!("附件“{}”（id {}）的内容被改动，与登记时的摘要不符", a.name, a.id)));
            }
        }
        Ok(None)
    }
}

/// Every column of the case row: what history determines, and the deadline cache recomputed from the rules.
fn differences(row: &CaseRow, expected: &CaseRow) -> Vec<String> {
    let mut diffs = vec![];
    let mut cmp = |name: &str, a: String, b: String| {
        if a != b {
            diffs.push(format!("{name}（存储 {a}，应为 {b}）"));
        }
    };
    cmp("编号", row.code.clone(), expected.code.clone());
    cmp("类型", row.kind.clone(), expected.kind.clone());
    cmp("状态", row.state.clone(), expected.state.clone());
    cmp("版本", row.version.to_string(), expected.version.to_string());
    cmp("地区", format!("{:?}", row.region), format!("{:?}", expected.region));
    cmp("登记单位", row.registered_unit.to_string(), expected.registered_unit.to_string());
    cmp("登记单位路径", row.registered_unit_path.clone(), expected.registered_unit_path.clone());
    cmp("承办单位", format!("{:?}", row.handling_unit), format!("{:?}", expected.handling_unit));
    cmp("承办单位路径", format!("{:?}", row.handling_unit_path), format!("{:?}", expected.handling_unit_path));
    cmp("协办单位", format!("{:?}", row.cohandling), format!("{:?}", expected.cohandling));
    cmp("被控告单位", format!("{:?}", row.accused_unit_path), format!("{:?}", expected.accused_unit_path));
    cmp("被控告人员", format!("{:?}", row.accused_users), format!("{:?}", expected.accused_users));
    cmp("事项类型", format!("{:?}", row.matter_type), format!("{:?}", expected.matter_type));
    cmp("分类", format!("{:?}", row.category), format!("{:?}", expected.category));
    cmp("渠道", format!("{:?}", row.channel), format!("{:?}", expected.channel));
    cmp("事由", row.title.clone(), expected.title.clone());
    cmp("查询密码", format!("{:?}", row.query_secret_hash), format!("{:?}", expected.query_secret_hash));
    cmp("请求编号", format!("{:?}", row.client_request_id), format!("{:?}", expected.client_request_id));
    cmp("登记时间", row.created_at.to_rfc3339(), expected.created_at.to_rfc3339());
    cmp("更新时间", row.updated_at.to_rfc3339(), expected.updated_at.to_rfc3339());
    cmp("来源案件", format!("{:?}", row.parent_id), format!("{:?}", expected.parent_id));
    cmp("场所", format!("{:?}", row.site_code), format!("{:?}", expected.site_code));
    cmp("进入当前状态时间", row.state_since.to_rfc3339(), expected.state_since.to_rfc3339());
    if row.state_json != expected.state_json {
        diffs.push("完整状态数据与事件重放结果不符".into());
    }
    if (row.next_due_at, row.next_warn_at, row.next_timer_at)
        != (expected.next_due_at, expected.next_warn_at, expected.next_timer_at)
    {
        diffs.push(format!(
            "期限缓存（存储 {:?}，按时限规则应为 {:?}；若刚补充了节假日年份或修改了规则，请运行 taizhang reindex）",
            row.next_due_at, expected.next_due_at
        ));
    }
    diffs
}

fn chain_result(
    name: &str,
    walker: &ChainWalker,
    broken: Option<ChainBreak>,
    recorded_head: (i64, String),
    problems: &mut Vec<String>,
) -> (i64, String) {
    let (n, head) = walker.head();
    match broken {
        Some(b) => {
            // The case named is the found record's: after a deletion, the missing record's case is named by the
            // per-case check that follows.
            let found = match (b.found_seq, b.case_id) {
                (Some(s), Some(c)) => format!("，实为第 {s} 条（属案件 id {c}）"),
                (Some(s), None) => format!("，实为第 {s} 条"),
                _ => String::new(),
            };
            problems.push(format!("{name}：第 {} 条处断裂{found}：{}", b.expected_seq, b.reason));
        }
        None if recorded_head != (n, head.clone()) => problems.push(format!(
            "{name}：记录的链头为第 {} 条，实际链尾为第 {n} 条（末尾记录被删除，或链头被改动）",
            recorded_head.0
        )),
        None => {}
    }
    (n, head)
}
