//! Inspection checklists per sector (安全隐患排查检查表), as data: `data/checklists.toml` by default, replaced
//! by a deployment's `<data>/checklists.toml`. A site (a school, a market, a building site) belongs to one
//! sector; an inspection of it answers every item of that sector's list. A field of type `checklist` holds
//! the answers as `{item id: {"result": "ok" | "hazard" | "na", "note": "…"}}`; a hazard found needs a note
//! saying what was found.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{DomainError, DomainResult, ErrorCode};

/// The checklists shipped with Taizhang.
pub const DEFAULT_CHECKLISTS: &str = include_str!("../data/checklists.toml");

/// The longest note on one finding, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Checklists {
    pub sectors: Vec<Sector>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sector {
    pub id: String,
    pub name: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    pub name: String,
    /// What the inspector looks at.
    #[serde(default)]
    pub points: String,
}

/// The answer to one item.
pub const RESULTS: [(&str, &str); 3] = [("ok", "合格"), ("hazard", "存在隐患"), ("na", "不适用")];

pub fn result_label(result: &str) -> &'static str {
    RESULTS.iter().find(|(r, _)| *r == result).map(|(_, l)| *l).unwrap_or("未填")
}

/// One answered item, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub item: String,
    pub item_name: String,
    pub result: String,
    pub note: String,
}

impl Checklists {
    /// Parses and checks a checklist file: at least one sector, each with items, ids unique and plain.
    pub fn parse(text: &str, source: &str) -> DomainResult<Checklists> {
        let bad = |m: String| DomainError::new(ErrorCode::InvalidInput, format!("{source} 有误：{m}"));
        let c: Checklists = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if c.sectors.is_empty() {
            return Err(bad("没有行业领域".into()));
        }
        let plain = |s: &str| !s.is_empty() && s.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        for (i, s) in c.sectors.iter().enumerate() {
            if !plain(&s.id) || s.name.trim().is_empty() {
                return Err(bad(format!("行业领域 “{}” 的编号应为字母、数字或下划线，且须有名称", s.id)));
            }
            if c.sectors[..i].iter().any(|o| o.id == s.id) {
                return Err(bad(format!("行业领域 {} 重复定义", s.id)));
            }
            if s.items.is_empty() {
                return Err(bad(format!("行业领域 {} 没有检查项目", s.id)));
            }
            for (j, it) in s.items.iter().enumerate() {
                if !plain(&it.id) || it.name.trim().is_empty() {
                    return Err(bad(format!("{} 的检查项目 “{}” 编号或名称有误", s.name, it.id)));
                }
                if s.items[..j].iter().any(|o| o.id == it.id) {
                    return Err(bad(format!("{} 的检查项目 {} 重复", s.name, it.id)));
                }
            }
        }
        Ok(c)
    }

    pub fn default_lists() -> Checklists {
        Self::parse(DEFAULT_CHECKLISTS, "checklists.toml").expect("the shipped checklists are valid")
    }

    pub fn sector(&self, id: &str) -> Option<&Sector> {
        self.sectors.iter().find(|s| s.id == id)
    }

    /// The sector or a clear error naming the ones there are.
    pub fn sector_or_err(&self, id: &str) -> DomainResult<&Sector> {
        self.sector(id).ok_or_else(|| {
            let names: Vec<String> = self.sectors.iter().map(|s| format!("{}（{}）", s.id, s.name)).collect();
            DomainError::new(ErrorCode::InvalidInput, format!("行业领域 {id} 不存在，可选：{}", names.join("、")))
        })
    }
}

/// Checks the shape of a checklist value (any sector): an object of item → {result, note}.
pub fn check_shape(v: &Value) -> Result<(), String> {
    let Some(items) = v.as_object() else { return Err("应为检查项目及其结果".into()) };
    if items.len() > 100 {
        return Err("检查项目过多（最多 100 项）".into());
    }
    for (item, answer) in items {
        let Some(a) = answer.as_object() else { return Err(format!("检查项目 {item} 的结果格式有误")) };
        if a.keys().any(|k| k != "result" && k != "note") {
            return Err(format!("检查项目 {item} 只能填写结果（result）和说明（note）"));
        }
        let result = a.get("result").and_then(Value::as_str).unwrap_or_default();
        if !RESULTS.iter().any(|(r, _)| *r == result) {
            return Err(format!("检查项目 {item} 的结果应为 ok（合格）、hazard（存在隐患）或 na（不适用）"));
        }
        let note = match a.get("note") {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(format!("检查项目 {item} 的说明应为文字")),
        };
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(format!("检查项目 {item} 的说明过长（最多 {MAX_NOTE_CHARS} 字）"));
        }
        if note.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
            return Err(format!("检查项目 {item} 的说明含有不可见的控制字符"));
        }
    }
    Ok(())
}

impl Sector {
    /// Checks answers against this sector's list: every item answered, no item of another list, and each
    /// hazard found described. Returns the findings in the list's order.
    pub fn check(&self, v: &Value) -> Result<Vec<Finding>, String> {
        check_shape(v)?;
        let answers = v.as_object().cloned().unwrap_or_default();
        if let Some(unknown) = answers.keys().find(|k| !self.items.iter().any(|i| &i.id == *k)) {
            return Err(format!("检查项目 {unknown} 不在{}检查表中", self.name));
        }
        let missing: Vec<&str> =
            self.items.iter().filter(|i| !answers.contains_key(&i.id)).map(|i| i.name.as_str()).collect();
        if !missing.is_empty() {
            return Err(format!("以下检查项目未填写结果：{}", missing.join("、")));
        }
        let findings = self.findings(&answers);
        if let Some(f) = findings.iter().find(|f| f.result == "hazard" && f.note.trim().is_empty()) {
            return Err(format!("“{}”存在隐患，请写明发现的问题", f.item_name));
        }
        Ok(findings)
    }

    /// The answers in the list's order (items not answered are left out).
    pub fn findings(&self, answers: &Map<String, Value>) -> Vec<Finding> {
        self.items
            .iter()
            .filter_map(|i| {
                let a = answers.get(&i.id)?;
                Some(Finding {
                    item: i.id.clone(),
                    item_name: i.name.clone(),
                    result: a.get("result").and_then(Value::as_str).unwrap_or_default().to_string(),
                    note: a.get("note").and_then(Value::as_str).unwrap_or_default().trim().to_string(),
                })
            })
            .collect()
    }
}

/// One line per finding, e.g. "食堂：存在隐患（燃气报警器失效）", for documents and plain displays.
pub fn findings_text(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            let label = result_label(&f.result);
            if f.note.is_empty() {
                format!("{}：{label}", f.item_name)
            } else {
                format!("{}：{label}（{}）", f.item_name, f.note)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn school() -> Sector {
        Checklists::default_lists().sector("school").unwrap().clone()
    }

    fn all_ok(s: &Sector) -> Map<String, Value> {
        s.items.iter().map(|i| (i.id.clone(), json!({"result": "ok"}))).collect()
    }

    #[test]
    fn shipped_lists_cover_the_school_points() {
        let c = Checklists::default_lists();
        let names: Vec<&str> = c.sector("school").unwrap().items.iter().map(|i| i.name.as_str()).collect();
        for want in ["教学楼", "宿舍", "食堂", "开水房", "电气线路", "消防设施", "食品供应"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(c.sector_or_err("nuclear").unwrap_err().message.contains("school（学校）"));
    }

    #[test]
    fn a_complete_list_passes_in_list_order() {
        let s = school();
        let mut a = all_ok(&s);
        a.insert("canteen".into(), json!({"result": "hazard", "note": " 燃气报警器失效 "}));
        a.insert("gate".into(), json!({"result": "na"}));
        let f = s.check(&Value::Object(a)).unwrap();
        assert_eq!(f.len(), s.items.len());
        assert_eq!(f[0].item, "teaching_building");
        let canteen = f.iter().find(|x| x.item == "canteen").unwrap();
        assert_eq!((canteen.result.as_str(), canteen.note.as_str()), ("hazard", "燃气报警器失效"));
        assert!(findings_text(&f).contains("食堂：存在隐患（燃气报警器失效）"));
        assert!(findings_text(&f).contains("校门安保：不适用"));
    }

    #[test]
    fn incomplete_foreign_or_undescribed_answers_are_refused() {
        let s = school();
        let mut a = all_ok(&s);
        a.remove("dormitory");
        a.remove("canteen");
        assert_eq!(s.check(&Value::Object(a)).unwrap_err(), "以下检查项目未填写结果：宿舍、食堂");

        let mut a = all_ok(&s);
        a.insert("scaffolding".into(), json!({"result": "ok"}));
        assert!(s.check(&Value::Object(a)).unwrap_err().contains("scaffolding 不在学校检查表中"));

        let mut a = all_ok(&s);
        a.insert("wiring".into(), json!({"result": "hazard", "note": "  "}));
        assert_eq!(s.check(&Value::Object(a)).unwrap_err(), "“电气线路”存在隐患，请写明发现的问题");

        for bad in [
            json!([]),
            json!({"wiring": "ok"}),
            json!({"wiring": {"result": "bad"}}),
            json!({"wiring": {"result": "ok", "x": 1}}),
            json!({"wiring": {"result": "ok", "note": 3}}),
        ] {
            assert!(check_shape(&bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_bad_file_is_named_with_its_problem() {
        let dup = "[[sectors]]\nid='a'\nname='甲'\nitems=[{id='x',name='一'},{id='x',name='二'}]\n";
        assert!(Checklists::parse(dup, "c.toml").unwrap_err().message.contains("检查项目 x 重复"));
        let empty = "[[sectors]]\nid='a'\nname='甲'\nitems=[]\n";
        assert!(Checklists::parse(empty, "c.toml").unwrap_err().message.contains("没有检查项目"));
        assert!(Checklists::parse("sectors=[]", "c.toml").unwrap_err().message.starts_with("c.toml 有误"));
    }
}
