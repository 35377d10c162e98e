//! Closed-loop indicators (数字城管 practice, DOMAIN.md §5), computed from each case's own history (its state
//! folded from events, and its clocks): 立案数, 作废数, 应结案数, 结案数, 按期结案数, 返工数 and the rates
//! built from them. Which action registers, which state closes, which clock is the handling limit: all named
//! by the kind's definition (`[closed_loop]`), so any kind that declares a loop gets the same figures.
//!
//! - 立案数: cases that took the register action;
//! - 作废数: of those, cases voided afterwards;
//! - 应结案数 = 立案数 − 作废数 − cases still inside their handling limit (running, not yet overdue, or not yet
//!   dispatched) − suspended cases (缓办/挂账 are excluded from "due", as many cities do);
//! - 按期结案数: closed cases none of whose handling runs (a rework starts a new one) ended overdue;
//! - 结案率 = 结案数 / 应结案数; 按期结案率 = 按期结案数 / 应结案数; 返工率 = 返工数 / 立案数;
//!   准确立案率 = (立案数 − 作废数) / 立案数.

use serde::{Deserialize, Serialize};

use crate::deadline::ClockStatus;
use crate::workflow::{CaseState, ClockView};

/// What the definition names for its loop.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClosedLoop {
    /// The action that registers (立案) a case.
    pub register: String,
    /// The clock that holds the handling time limit.
    pub handling_clock: String,
    pub closed_state: String,
    pub void_state: String,
    #[serde(default)]
    pub suspended_state: Option<String>,
    /// The action that sends a case back for rework (返工).
    #[serde(default)]
    pub rework: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoopCounts {
    pub registered: i64,
    pub voided: i64,
    pub inside_limit: i64,
    pub suspended: i64,
    pub due: i64,
    pub closed: i64,
    pub closed_on_time: i64,
    pub reworked: i64,
}

fn rate(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| 100.0 * n as f64 / d as f64)
}

impl LoopCounts {
    /// 结案率 (%).
    pub fn closure_rate(&self) -> Option<f64> {
        rate(self.closed, self.due)
    }
    /// 按期结案率 (%).
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(self.closed_on_time, self.due)
    }
    /// 返工率 (%).
    pub fn rework_rate(&self) -> Option<f64> {
        rate(self.reworked, self.registered)
    }
    /// 准确立案率 (%).
    pub fn accurate_registration_rate(&self) -> Option<f64> {
        rate(self.registered - self.voided, self.registered)
    }

    /// Counts one case, given its clocks at the time of reporting.
    pub fn add(&mut self, lp: &ClosedLoop, case: &CaseState, clocks: &[ClockView]) {
        if !case.actions_taken.contains(&lp.register) {
            return;
        }
        self.registered += 1;
        if lp.rework.as_ref().is_some_and(|r| case.actions_taken.contains(r)) {
            self.reworked += 1;
        }
        let handling: Vec<&ClockView> = clocks.iter().filter(|c| c.clock == lp.handling_clock).collect();
        let any_overdue = handling.iter().any(|c| c.status == ClockStatus::Overdue);
        if case.state == lp.void_state {
            self.voided += 1;
        } else if case.state == lp.closed_state {
            self.due += 1;
            self.closed += 1;
            self.closed_on_time += i64::from(!any_overdue);
        } else if lp.suspended_state.as_deref() == Some(case.state.as_str()) {
            self.suspended += 1;
        } else if any_overdue {
            self.due += 1;
        } else {
            self.inside_limit += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};

    use super::*;
    use crate::calendar::HolidayCalendar;
    use crate::deadline::parse_start;
    use crate::testing::play;
    use crate::workflow::{Registry, WorkflowDef, clock_views};

    fn at(s: &str) -> DateTime<Utc> {
        parse_start(s).unwrap()
    }

    fn count(def: &WorkflowDef, cases: &[CaseState], now: DateTime<Utc>) -> LoopCounts {
        let lp = def.closed_loop.as_ref().unwrap();
        let mut c = LoopCounts::default();
        for case in cases {
            c.add(lp, case, &clock_views(def, case, HolidayCalendar::embedded(), None, now).unwrap());
        }
        c
    }

    /// A published city report (立案 996, 应结案 972, 按期结案 737 → 按期结案率 75.82 %), rebuilt from
    /// 1,006 reports played through the grid event definition.
    #[test]
    fn a_published_monthly_report_is_reproduced_from_the_log() {
        let reg = Registry::embedded();
        let def = reg.get("grid_event").unwrap();
        let report = json!({"source": "grid_worker", "subclass": "other", "location": "人民路 8 号",
            "title": "人行道上堆放建筑垃圾", "description": "约 2 立方米，影响通行", "grid_code": "330106001001003"});
        let day = |d: u32, hm: &str| at(&format!("2026-11-{d:02}T{hm}"));
        let opened = |d: u32| {
            vec![
                ("report", report.clone(), day(d, "09:00")),
                ("register_event", json!({}), day(d, "09:10")),
                ("dispatch", json!({"target_unit": 7}), day(d, "09:20")),
            ]
        };
        let with = |mut steps: Vec<(&'static str, Value, DateTime<Utc>)>,
                    more: &[(&'static str, Value, DateTime<Utc>)]| {
            steps.extend_from_slice(more);
            steps
        };
        let mut cases = vec![];
        for i in 0..706 {
            // Handled the next morning (6 h 40 of the 8 working hours), verified and closed.
            let d = 2 + (i % 3) as u32;
            cases.push(play(
                def,
                &with(
                    opened(d),
                    &[
                        ("feedback", json!({"feedback": "已清运"}), day(d + 1, "09:00")),
                        ("verify_pass", json!({}), day(d + 1, "10:00")),
                    ],
                ),
            ));
        }
        for _ in 0..31 {
            // Sent back once, redone within the new limit: on time, and counted as reworked.
            cases.push(play(
                def,
                &with(
                    opened(2),
                    &[
                        ("feedback", json!({"feedback": "已清运"}), day(2, "15:00")),
                        ("rework", json!({"reason": "仍有残留"}), day(2, "16:00")),
                        ("feedback", json!({"feedback": "已清理干净"}), day(3, "10:00")),
                        ("verify_pass", json!({}), day(3, "11:00")),
                    ],
                ),
            ));
        }
        for _ in 0..150 {
            // Closed, but the feedback came three working days late.
            cases.push(play(
                def,
                &with(
                    opened(2),
                    &[
                        ("feedback", json!({"feedback": "已清运"}), day(5, "16:00")),
                        ("verify_pass", json!({}), day(6, "09:00")),
                    ],
                ),
            ));
        }
        for _ in 0..85 {
            cases.push(play(def, &opened(9))); // still open, long overdue
        }
        for _ in 0..20 {
            cases.push(play(def, &with(opened(20), &[]))); // dispatched this morning, inside the limit
        }
        for _ in 0..4 {
            cases.push(play(
                def,
                &with(opened(10), &[("suspend", json!({"reason": "待产权单位确认"}), day(10, "10:00"))]),
            ));
        }
        for _ in 0..10 {
            // Reports not registered (duplicates of a registered one): not part of 立案.
            cases.push(play(
                def,
                &[
                    ("report", report.clone(), day(4, "09:00")),
                    ("not_register", json!({"reason": "重复上报"}), day(4, "09:30")),
                ],
            ));
        }
        let c = count(def, &cases, day(20, "11:00"));
        assert_eq!(
            (c.registered, c.due, c.closed, c.closed_on_time, c.reworked, c.inside_limit, c.suspended, c.voided),
            (996, 972, 887, 737, 31, 20, 4, 0)
        );
        assert_eq!(format!("{:.2}", c.on_time_rate().unwrap()), "75.82");
        assert_eq!(format!("{:.2}", c.closure_rate().unwrap()), "91.26");
        assert_eq!(format!("{:.2}", c.rework_rate().unwrap()), "3.11");
        assert_eq!(c.accurate_registration_rate(), Some(100.0));
    }

    #[test]
    fn subclass_limits_extensions_suspension_and_voiding_count_as_defined() {
        let reg = Registry::embedded();
        let def = reg.get("grid_event").unwrap();
        let report = |subclass: &str| {
            json!({"source": "patrol", "subclass": subclass, "location": "解放路口",
            "title": "问题", "description": "描述"})
        };
        let t = |hm: &str| at(&format!("2026-11-23T{hm}"));
        let start = |subclass: &str| {
            vec![
                ("report", report(subclass), t("09:00")),
                ("register_event", json!({}), t("09:05")),
                ("dispatch", json!({"target_unit": 7}), t("09:10")),
            ]
        };
        // A missing manhole cover has 2 clock hours, day or night: fed back at 11:30 it is late.
        let manhole = play(
            def,
            &[
                start("manhole_missing"),
                vec![("feedback", json!({"feedback": "已补盖"}), t("11:30")), ("verify_pass", json!({}), t("12:00"))],
            ]
            .concat(),
        );
        // Exposed garbage has 2 working hours: 9:10–11:10, so 11:00 is on time.
        let garbage = play(
            def,
            &[
                start("exposed_garbage"),
                vec![("feedback", json!({"feedback": "已清运"}), t("11:00")), ("verify_pass", json!({}), t("11:30"))],
            ]
            .concat(),
        );
        // Extended by 4 working hours before the limit: fed back after the original limit, still on time.
        let extended = play(
            def,
            &[
                start("exposed_garbage"),
                vec![
                    ("request_extension", json!({"extension_hours": 4, "reason": "需调用大型车辆"}), t("10:00")),
                    ("approve_extension", json!({"extension_hours": 4}), t("10:30")),
                    ("feedback", json!({"feedback": "已清运"}), t("15:00")),
                    ("verify_pass", json!({}), t("15:30")),
                ],
            ]
            .concat(),
        );
        // Voided after registration (found not to be a problem): registered, not due, lowers 准确立案率.
        let voided =
            play(def, &[start("illegal_ads"), vec![("void", json!({"reason": "系合法公示"}), t("09:30"))]].concat());
        // Suspended before its limit and never resumed: excluded from due even when the limit has long passed.
        let suspended = play(
            def,
            &[start("exposed_garbage"), vec![("suspend", json!({"reason": "需拆迁后处理"}), t("10:00"))]].concat(),
        );
        let c = count(def, &[manhole, garbage, extended, voided, suspended], at("2026-11-30T10:00"));
        assert_eq!((c.registered, c.voided, c.suspended, c.due, c.closed, c.closed_on_time), (5, 1, 1, 3, 3, 2));
        assert_eq!(c.accurate_registration_rate(), Some(80.0));
        assert_eq!(LoopCounts::default().on_time_rate(), None, "no case due: no rate, not 0 % or 100 %");
    }
}
